/**
 * Cholesky factorization with GPTQ-style damping and retry, SPD inverse, the upper Cholesky factor
 * of H^-1 that GPTQ / SparseGPT use, and triangular solves. Inputs and outputs are f32 matrices;
 * all arithmetic (factorization, inverse, solves) is in f64 (`dpotrf_lower`, `dtrtri_lower`,
 * `dtrsm`, `dgemm_nt` kernels), rounded to f32 once at the end.
 * Symmetric inputs: only the lower triangle (j <= i) is read.
 */
import { TensorshrinkError } from "../errors";
import type { KernelHost } from "../quant/general";
import { checkBudget, checkMatrix, checkSquare, kname, withScratch, type LinalgOptions, type Matrix, type Scratch } from "./matrix";

/** Damping of the diagonal before factorizing (GPTQ: H + damp * mean(diag H) * I). */
export interface DampOptions extends LinalgOptions {
  /** Fraction of mean(diag) added to every diagonal element (GPTQ's percdamp, typically 0.01). Default 0. */
  damp?: number;
  /** On failure (not positive definite) retry with damping multiplied by `dampGrowth` (first retry: 1e-6 when damp is 0) up to `maxDamp`. Default true. */
  retry?: boolean;
  /** Largest fraction tried. Default 1 (the mean diagonal itself). */
  maxDamp?: number;
  /** Growth factor between attempts. Default 10. */
  dampGrowth?: number;
}

/** A factor and the damping that made the factorization succeed. */
export interface CholeskyResult {
  /** The triangular factor (f32; the other triangle is zero). */
  factor: Matrix;
  /** Fraction of mean(diag) that was added (the `damp` asked for, or larger after retries). */
  damp: number;
  /** Absolute value added to each diagonal element: damp * mean(diag). */
  added: number;
  /** Factorizations tried (1 = no retry was needed). */
  attempts: number;
}

function meanDiag(a: Matrix, n: number, name?: string): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += a.data[i * n + i];
  const m = s / Math.max(1, n);
  if (!(m > 0)) throw new TensorshrinkError("E_NOT_SPD", `matrix${name ? ` "${name}"` : ""} is not positive definite: mean of the diagonal is ${m}`, { name, meanDiag: m });
  return m;
}

/**
 * Loads A (reversed when `reverse`: element (i, j) = A[n-1-i][n-1-j]) into f64 with damping and runs
 * dpotrf_lower, retrying with growing damping. Returns the pointer to L (n x n f64) in `s`.
 */
function factorDamped(s: Scratch, a: Matrix, n: number, opts: DampOptions, reverse: boolean): { p: number; damp: number; added: number; attempts: number } {
  let damp = opts.damp ?? 0;
  const maxDamp = opts.maxDamp ?? 1, growth = opts.dampGrowth ?? 10, retry = opts.retry ?? true;
  if (!(damp >= 0 && Number.isFinite(damp))) throw new TensorshrinkError("E_RANGE", `damp must be a finite number >= 0, got ${damp}`);
  if (!(maxDamp >= damp && Number.isFinite(maxDamp))) throw new TensorshrinkError("E_RANGE", `maxDamp must be finite and >= damp (${damp}), got ${maxDamp}`);
  if (!(growth > 1 && Number.isFinite(growth))) throw new TensorshrinkError("E_RANGE", `dampGrowth must be > 1, got ${growth}`);
  const mean = meanDiag(a, n, opts.name);
  const k = kname(s.host, "dpotrf_lower", opts);
  const p = s.alloc(8 * n * n);
  for (let attempts = 1; ; attempts++) {
    const added = damp * mean;
    const w = s.f64(p, n * n), d = a.data;
    if (!reverse) w.set(d);
    else for (let i = 0, q = n * n - 1; i < n * n; i++, q--) w[i] = d[q];
    for (let i = 0; i < n; i++) w[i * n + i] += added;
    const r = s.call(k, p, n, n);
    if (r === 0) return { p, damp, added, attempts };
    const row = reverse ? n - r : r - 1;
    if (!retry || damp >= maxDamp) {
      throw new TensorshrinkError("E_NOT_SPD", `Cholesky of ${n} x ${n} matrix${opts.name ? ` "${opts.name}"` : ""} failed at row ${row} (pivot <= 0) with damping ${damp} x mean(diag) = ${added}${retry ? " (the largest allowed, maxDamp)" : " (retry disabled)"}`, { name: opts.name, row, damp, added, attempts });
    }
    damp = Math.min(maxDamp, damp > 0 ? damp * growth : Math.min(maxDamp, 1e-6));
  }
}

function lowerToF32(w: Float64Array, n: number, upper: boolean, reverse = false): Matrix {
  const out = new Float32Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      const v = w[i * n + j];
      if (reverse) out[(n - 1 - i) * n + (n - 1 - j)] = v;
      else if (upper) out[j * n + i] = v;
      else out[i * n + j] = v;
    }
  }
  return { data: out, rows: n, cols: n };
}

/**
 * Cholesky factorization of a symmetric positive definite matrix (lower triangle read), in f64:
 * A + added I = L L^T (default) or U^T U with U = L^T (`upper`). With damping and retries, see
 * {@link DampOptions}. Wasm memory: 8 n^2 bytes. About n^3 / 3 flops.
 * Errors: E_SHAPE (not square), E_NONFINITE, E_NOT_SPD (failed after the largest damping; the row named).
 */
export function cholesky(host: KernelHost, a: Matrix, opts: DampOptions & { upper?: boolean } = {}): CholeskyResult {
  checkMatrix(a, "cholesky A", opts.name);
  const n = checkSquare(a, "cholesky A", opts.name);
  checkBudget(8 * n * n, opts, "cholesky");
  return withScratch(host, (s) => {
    const r = factorDamped(s, a, n, opts, false);
    return { factor: lowerToF32(s.f64(r.p, n * n), n, !!opts.upper), damp: r.damp, added: r.added, attempts: r.attempts };
  });
}

/**
 * The upper Cholesky factor U of (H + added I)^-1 = U^T U, the matrix GPTQ and SparseGPT walk
 * column by column (torch: cholesky(cholesky_inverse(cholesky(H)), upper=True)). Computed as
 * U = J L'^-1 J with L' L'^T = J H J (J reverses the index order): one f64 Cholesky and one
 * triangular inverse instead of three factorizations. `damp`: number (fraction of mean diag, e.g.
 * 0.01) or {@link DampOptions}. Wasm memory: 8 n^2 + 8 n bytes. About 2 n^3 / 3 flops.
 */
export function choleskyInverseUpper(host: KernelHost, h: Matrix, damp: number | DampOptions = {}): CholeskyResult {
  const opts: DampOptions = typeof damp === "number" ? { damp } : damp;
  checkMatrix(h, "choleskyInverseUpper H", opts.name);
  const n = checkSquare(h, "choleskyInverseUpper H", opts.name);
  checkBudget(8 * n * n + 8 * n, opts, "choleskyInverseUpper");
  return withScratch(host, (s) => {
    // the reversed matrix's lower triangle is H's upper one: mirror H's lower triangle first
    const sym = symmetricFromLower(h, n);
    const r = factorDamped(s, sym, n, opts, true);
    s.call(kname(host, "dtrtri_lower", opts), r.p, n, n, s.alloc(8 * n));
    return { factor: lowerToF32(s.f64(r.p, n * n), n, true, true), damp: r.damp, added: r.added, attempts: r.attempts };
  });
}

function symmetricFromLower(a: Matrix, n: number): Matrix {
  const d = a.data.slice();
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) d[j * n + i] = d[i * n + j];
  return { data: d, rows: n, cols: n };
}

/** Result of {@link spdInverse}. */
export interface SpdInverseResult {
  /** (A + added I)^-1, symmetric (both triangles), f32. */
  inverse: Matrix;
  damp: number;
  added: number;
  attempts: number;
}

/**
 * Inverse of a symmetric positive definite matrix through Cholesky: A^-1 = L^-T L^-1 (f64
 * throughout; lower triangle of A read). Damping and retries as in {@link cholesky}.
 * Wasm memory: 24 n^2 + 8 n bytes. About n^3 flops.
 */
export function spdInverse(host: KernelHost, a: Matrix, opts: DampOptions = {}): SpdInverseResult {
  checkMatrix(a, "spdInverse A", opts.name);
  const n = checkSquare(a, "spdInverse A", opts.name);
  checkBudget(24 * n * n + 8 * n, opts, "spdInverse");
  return withScratch(host, (s) => {
    const r = factorDamped(s, a, n, opts, false);
    s.call(kname(host, "dtrtri_lower", opts), r.p, n, n, s.alloc(8 * n));
    // Y = L^-T (upper), A^-1 = Y Y^T (lower triangle by dgemm_nt, then mirrored)
    const py = s.alloc(8 * n * n), pc = s.alloc(8 * n * n);
    {
      const x = s.f64(r.p, n * n), y = s.f64(py, n * n);
      y.fill(0);
      for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) y[j * n + i] = x[i * n + j];
    }
    s.call(kname(host, "dgemm_nt", opts), pc, py, py, n, n, n, n, n, n, 1);
    const c = s.f64(pc, n * n), out = new Float32Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) { const v = c[i * n + j]; out[i * n + j] = v; out[j * n + i] = v; }
    return { inverse: { data: out, rows: n, cols: n }, damp: r.damp, added: r.added, attempts: r.attempts };
  });
}

/** Options of {@link solveTriangular}. */
export interface TrsmOptions extends LinalgOptions {
  /** "left" (default): solve op(T) X = B. "right": X op(T) = B. */
  side?: "left" | "right";
  /** T is lower triangular (default true); the other triangle is not read. */
  lower?: boolean;
  /** op(T) = T^T. Default false. */
  trans?: boolean;
}

/**
 * Triangular solve with many right-hand sides (TRSM), f64 arithmetic: left, op(T) X = B with
 * T n x n and B n x m; right, X op(T) = B with B m x n. Wasm memory: 8 (n^2 + n m) bytes. n^2 m flops.
 * Errors: E_SHAPE, E_NONFINITE, E_RANGE (a zero on T's diagonal: singular, the row named).
 */
export function solveTriangular(host: KernelHost, t: Matrix, b: Matrix, opts: TrsmOptions = {}): Matrix {
  checkMatrix(t, "solveTriangular T", opts.name);
  checkMatrix(b, "solveTriangular B", opts.name);
  const n = checkSquare(t, "solveTriangular T", opts.name);
  const side = opts.side ?? "left";
  if (side !== "left" && side !== "right") throw new TensorshrinkError("E_RANGE", `side must be "left" or "right", got ${String(side)}`);
  const along = side === "left" ? b.rows : b.cols;
  if (along !== n) throw new TensorshrinkError("E_SHAPE", `solveTriangular: T is ${n} x ${n} but B is ${b.rows} x ${b.cols} (${side === "left" ? "rows" : "cols"} must be ${n})`, { n, rows: b.rows, cols: b.cols });
  for (let i = 0; i < n; i++) if (t.data[i * n + i] === 0) throw new TensorshrinkError("E_RANGE", `solveTriangular: T is singular (zero diagonal at row ${i})`, { row: i });
  checkBudget(8 * (n * n + b.rows * b.cols), opts, "solveTriangular");
  const lower = opts.lower ?? true, trans = !!opts.trans;
  // op(T) as an explicit triangle: transposing swaps lower/upper
  const effLower = trans ? !lower : lower;
  return withScratch(host, (s) => {
    const pt = s.alloc(8 * n * n);
    const w = s.f64(pt, n * n);
    w.fill(0);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        if (lower ? j > i : j < i) continue;
        const v = t.data[i * n + j];
        if (trans) w[j * n + i] = v; else w[i * n + j] = v;
      }
    }
    const pb = s.putF64(b.data);
    const m = side === "left" ? b.cols : b.rows;
    s.call(kname(host, "dtrsm", opts), side === "left" ? 0 : 1, effLower ? 0 : 1, n, m, pt, n, pb, b.cols);
    return { data: new Float32Array(s.f64(pb, b.rows * b.cols)), rows: b.rows, cols: b.cols };
  });
}
