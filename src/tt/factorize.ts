/**
 * Mixed-radix digit factorizations for TT-matrices: rows = Π m_k and cols = Π n_k (zero padding up
 * to the product when n itself factors badly, e.g. a prime vocabulary size).
 */
import { TensorshrinkError } from "../errors";

/** Largest padding (product / n) accepted without an error: 1.5. */
export const MAX_PADDING = 1.5;

/** d factors of p, non-increasing, minimizing the largest factor (null when p has no d factors ≤ cap). */
function balanced(p: number, d: number, cap: number): number[] | null {
  if (d === 1) return p <= cap ? [p] : null;
  const lo = Math.ceil(Math.pow(p, 1 / d) - 1e-9);
  for (let f = Math.max(1, lo); f <= Math.min(cap, p); f++) {
    if (p % f) continue;
    const rest = balanced(p / f, d - 1, f);
    if (rest) return [f, ...rest];
  }
  return null;
}

/** Balanced d factors of exactly p, non-increasing (always exists: p·1·…·1 at worst). */
export function balancedFactors(p: number, d: number): number[] {
  return balanced(p, d, p)!;
}

/** A factor list is "good" when its largest factor is at most twice the ideal ⌈p^(1/d)⌉. */
const good = (f: number[], p: number, d: number) => Math.max(...f) <= 2 * Math.ceil(Math.pow(p, 1 / d) - 1e-9);

/**
 * Digits for n in d factors: over products P from n to min(1.5 n, n + 4096), the balanced factorization
 * of P (largest factor at most 2⌈P^(1/d)⌉) minimizing (largest factor) · P — small digits, little padding;
 * returned non-increasing (most significant digit first). Examples (d = 3): 512 → [8, 8, 8];
 * 256 → [8, 8, 4]; 32000 → [32, 32, 32] (padding 1.024); 257 → see test/27.
 * @throws TensorshrinkError `E_RANGE` (n or d not positive integers), `E_SHAPE` when no such P exists (with a proposal).
 */
export function factorDims(n: number, d: number, name?: string): number[] {
  if (!Number.isInteger(n) || n < 1) throw new TensorshrinkError("E_RANGE", `factorDims: n must be a positive integer, got ${n}`, { n });
  if (!Number.isInteger(d) || d < 1 || d > 16) throw new TensorshrinkError("E_RANGE", `factorDims: d must be an integer in 1..16, got ${d}`, { d });
  if (d === 1) return [n];
  let best: number[] | null = null, score = Infinity;
  const top = Math.min(Math.floor(MAX_PADDING * n), n + 4096);
  for (let p = n; p <= top; p++) {
    const f = balancedFactors(p, d);
    const sc = f[0]! * p;
    if (good(f, p, d) && sc < score) { best = f; score = sc; }
  }
  if (best) return best;
  throw new TensorshrinkError("E_SHAPE", `no ${d}-digit factorization of ${n}${name ? ` (${name})` : ""} pads by at most ${MAX_PADDING}x: ${proposal(n, d)}`, { n, d, tensor: name });
}

/** A proposal for an error message: the best factorization with padding ≤ 4x, or a smaller d. */
function proposal(n: number, d: number): string {
  for (let dd = d - 1; dd >= 2; dd--) {
    for (let p = n; p <= Math.floor(MAX_PADDING * n); p++) { const f = balancedFactors(p, dd); if (good(f, p, dd)) return `use ${dd} digits, e.g. [${f.join(", ")}] (padding ${(p / n).toFixed(3)}x)`; }
  }
  return `e.g. [${[n, ...Array(d - 1).fill(1)].join(", ")}] (no padding, one big digit)`;
}

/**
 * Checks user-given digits for n: positive integers with product P ≥ n and P ≤ {@link MAX_PADDING}·n.
 * @throws TensorshrinkError `E_SHAPE` (product too small, or padding absurd: with a proposal from {@link factorDims}).
 */
export function checkDims(dims: readonly number[], n: number, what: string, name?: string): void {
  if (!Array.isArray(dims) || !dims.length || dims.some((x) => !Number.isInteger(x) || x < 1)) throw new TensorshrinkError("E_SHAPE", `${what}: digits must be positive integers, got [${dims}]`, { dims, tensor: name });
  const p = dims.reduce((a, b) => a * b, 1);
  if (p < n) throw new TensorshrinkError("E_SHAPE", `${what}: digits [${dims.join(", ")}] multiply to ${p} < ${n}`, { dims: [...dims], n, tensor: name });
  if (p > MAX_PADDING * n) {
    let alt = "";
    try { alt = `; proposed: [${factorDims(n, dims.length).join(", ")}]`; } catch (e) { alt = `; ${(e as Error).message}`; }
    throw new TensorshrinkError("E_SHAPE", `${what}: digits [${dims.join(", ")}] multiply to ${p}, padding ${n} by ${(p / n).toFixed(2)}x (more than ${MAX_PADDING}x)${alt}`, { dims: [...dims], n, padding: p / n, tensor: name });
  }
}
