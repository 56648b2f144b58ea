/**
 * Pruning masks over weight matrices, on the `assembly/sparse/` kernels: scores (magnitude |W|, Wanda
 * |W_ij|·‖X_j‖₂), exact-k selection per row, per tensor and globally across tensors, N:M masks along the input
 * dimension, packed bitmasks and the compressed 2:4 layout, application and density.
 *
 * Conventions: a weight is `rows × cols` f32 row-major with rows = outputs and cols = inputs (GGUF ne1 × ne0).
 * A mask is a Uint8Array of rows·cols with 1 = keep, 0 = prune. Selection prunes the k LOWEST scores; among equal
 * scores the lower flat index is pruned first (deterministic in every runtime; `kernel: "ref"` gives the same
 * masks). Bitmask bit order: weight i is bit (i & 7) of byte (i >> 3), least significant bit first (numpy
 * `packbits(bitorder="little")`), 1 = kept.
 */
import { TensorshrinkError } from "../errors";
import type { KernelHost, KernelChoice } from "../quant/general";
import { withScratch, kname } from "../linalg/matrix";

/** Options every mask function takes. */
export interface MaskOptions {
  /** "simd" (default) or "ref" (scalar twins; identical results). */
  kernel?: KernelChoice;
  /** Tensor name for error messages. */
  name?: string;
}

/** Scope of exact-k selection. */
export type MaskScope = "row" | "tensor";

const at = (name?: string) => (name ? ` of ${name}` : "");

/** @internal Validates a sparsity fraction in [0, 1). */
export function checkSparsity(s: number, name?: string): void {
  if (typeof s !== "number" || !(s >= 0 && s < 1)) throw new TensorshrinkError("E_RANGE", `sparsity${at(name)} must be a number in [0, 1), got ${s}`, { tensor: name, sparsity: s });
}

/** @internal Validates N:M (0 <= n < m <= 32, cols % m == 0). */
export function checkNM(n: number, m: number, cols: number, name?: string): void {
  if (!Number.isInteger(n) || !Number.isInteger(m) || n < 0 || m < 1 || m > 32 || n >= m) throw new TensorshrinkError("E_RANGE", `N:M${at(name)} must have integers 0 <= N < M <= 32, got ${n}:${m}`, { tensor: name, n, m });
  if (cols % m !== 0) throw new TensorshrinkError("E_SHAPE", `N:M ${n}:${m}${at(name)}: row length ${cols} is not divisible by M = ${m}`, { tensor: name, cols, m });
}

/** Parses "2:4" into { n: 2, m: 4 } (E_RANGE when malformed). */
export function parseNM(s: string): { n: number; m: number } {
  const r = /^(\d+):(\d+)$/.exec(String(s).trim());
  if (!r) throw new TensorshrinkError("E_RANGE", `N:M must look like 2:4, got ${JSON.stringify(s)}`);
  const n = Number(r[1]), m = Number(r[2]);
  if (n >= m || m > 32 || m < 1) throw new TensorshrinkError("E_RANGE", `N:M must have 0 <= N < M <= 32, got ${n}:${m}`, { n, m });
  return { n, m };
}

/** @internal Validates a weight / score matrix (type, shape, finite). */
export function checkWeights(w: Float32Array, rows: number, cols: number, what: string, name?: string): void {
  if (!(w instanceof Float32Array)) throw new TensorshrinkError("E_ARG_TYPE", `${what}${at(name)} must be a Float32Array`, { tensor: name });
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 1 || cols < 1 || rows * cols !== w.length) throw new TensorshrinkError("E_SHAPE", `${what}${at(name)}: ${rows} x ${cols} does not match length ${w.length}`, { tensor: name, rows, cols, length: w.length });
  for (let i = 0; i < w.length; i++) {
    const v = w[i];
    if (v - v !== 0) throw new TensorshrinkError("E_NONFINITE", `${what}${at(name)}: non-finite value ${v} at row ${Math.floor(i / cols)}, column ${i % cols}`, { tensor: name, row: Math.floor(i / cols), column: i % cols });
  }
}

/** @internal Validates scores (finite, >= 0). */
export function checkScores(s: Float32Array, rows: number, cols: number, name?: string): void {
  checkWeights(s, rows, cols, "scores", name);
  for (let i = 0; i < s.length; i++) if (s[i] < 0) throw new TensorshrinkError("E_RANGE", `scores${at(name)} must be >= 0, got ${s[i]} at row ${Math.floor(i / cols)}, column ${i % cols}`, { tensor: name, row: Math.floor(i / cols), column: i % cols });
}

/**
 * Pruning scores |W_ij| · colWeight_j (`rows × cols`). Without `colNorm`: magnitude |W|. With `colNorm` =
 * ‖X_j‖₂ (cols values, e.g. {@link wandaNorms}): Wanda's score, compared per output row.
 */
export function pruneScores(host: KernelHost, w: Float32Array, rows: number, cols: number, colNorm?: Float32Array | null, opts: MaskOptions = {}): Float32Array {
  checkWeights(w, rows, cols, "weights", opts.name);
  if (colNorm) {
    if (!(colNorm instanceof Float32Array) || colNorm.length !== cols) throw new TensorshrinkError("E_SHAPE", `column norms${at(opts.name)} must be a Float32Array of ${cols} values, got ${colNorm?.length}`, { tensor: opts.name, cols });
    for (let j = 0; j < cols; j++) if (!(colNorm[j] >= 0 && Number.isFinite(colNorm[j]))) throw new TensorshrinkError("E_RANGE", `column norm ${j}${at(opts.name)} must be finite and >= 0, got ${colNorm[j]}`, { tensor: opts.name, column: j });
  }
  return withScratch(host, (s) => {
    const pw = s.putF32(w), po = s.alloc(w.length * 4), pc = colNorm ? s.putF32(colNorm) : 0;
    s.call(kname(host, "prune_score_forward", opts), po, pw, pc, rows, cols);
    return s.f32(po, w.length).slice();
  });
}

/**
 * Wanda's column norms ‖X_j‖₂ = sqrt(Σ_t x_tj²) from per-column sums of squares (`ActInput.sumSq`, or a llama.cpp
 * imatrix entry times its token count: any positive multiple gives the same masks, since Wanda compares within a row).
 */
export function wandaNorms(sumSq: ArrayLike<number>, name?: string): Float32Array {
  const out = new Float32Array(sumSq.length);
  for (let j = 0; j < sumSq.length; j++) {
    const v = sumSq[j];
    if (!(v >= 0 && Number.isFinite(v))) throw new TensorshrinkError("E_IMATRIX", `statistics${at(name)}: sum of squares of column ${j} must be finite and >= 0, got ${v}`, { tensor: name, column: j });
    out[j] = Math.sqrt(v);
  }
  return out;
}

/**
 * Exact-k mask: prunes exactly round-down(sparsity · count) weights with the lowest scores, per row
 * (`scope: "row"`, k = ⌊sparsity·cols⌋ in every row; Wanda's comparison group) or over the whole tensor
 * ("tensor"). Returns a rows·cols Uint8Array (1 keep). Errors: E_RANGE (sparsity outside [0,1), negative score),
 * E_SHAPE, E_NONFINITE.
 */
export function topkMask(host: KernelHost, scores: Float32Array, rows: number, cols: number, sparsity: number, scope: MaskScope = "row", opts: MaskOptions = {}): Uint8Array {
  checkSparsity(sparsity, opts.name);
  checkScores(scores, rows, cols, opts.name);
  if (scope !== "row" && scope !== "tensor") throw new TensorshrinkError("E_RANGE", `scope must be "row" or "tensor", got ${String(scope)}`);
  const r = scope === "row" ? rows : 1, c = scope === "row" ? cols : rows * cols;
  const k = Math.floor(sparsity * c);
  return withScratch(host, (s) => {
    const ps = s.putF32(scores), pm = s.alloc(scores.length);
    s.call(kname(host, "topk_rows_forward", opts), pm, ps, r, c, k);
    return new Uint8Array(host.exports.memory.buffer, pm, scores.length).slice();
  });
}

/** One tensor of a global selection. */
export interface ScoredTensor { name: string; scores: Float32Array; rows: number; cols: number }

/**
 * Global exact-k: prunes ⌊sparsity · Σ sizes⌋ weights with the lowest scores across all tensors together (ties:
 * earlier tensor, then lower index, first). One binary search over the 31-bit score key with a wasm count per
 * tensor per step (31 passes over each tensor). Returns one mask per tensor, in order.
 */
export function globalTopkMasks(host: KernelHost, tensors: ScoredTensor[], sparsity: number, opts: Omit<MaskOptions, "name"> = {}): Uint8Array[] {
  checkSparsity(sparsity);
  let total = 0;
  for (const t of tensors) { checkScores(t.scores, t.rows, t.cols, t.name); total += t.scores.length; }
  const k = Math.floor(sparsity * total);
  const cnt = kname(host, "count_le_forward", opts), thr = kname(host, "threshold_mask_forward", opts);
  return withScratch(host, (s) => {
    const ptrs = tensors.map((t) => s.putF32(t.scores));
    const countLe = (t: number) => { let c = 0; for (let i = 0; i < tensors.length; i++) c += s.call(cnt, ptrs[i], tensors[i].scores.length, t >>> 0); return c; };
    let lo = 0, hi = 0x7fffffff;
    if (k === 0) lo = -1;
    else while (lo < hi) { const mid = lo + Math.floor((hi - lo) / 2); if (countLe(mid) >= k) hi = mid; else lo = mid + 1; }
    let ties = k === 0 ? 0 : k - (lo === 0 ? 0 : countLe(lo - 1));
    const out: Uint8Array[] = [];
    for (let i = 0; i < tensors.length; i++) {
      const n = tensors[i].scores.length, pm = s.alloc(n);
      if (lo < 0) new Uint8Array(host.exports.memory.buffer, pm, n).fill(1);
      else {
        const eq = s.call(cnt, ptrs[i], n, lo >>> 0) - (lo === 0 ? 0 : s.call(cnt, ptrs[i], n, (lo - 1) >>> 0));
        const here = Math.min(ties, eq);
        s.call(thr, pm, ptrs[i], n, lo >>> 0, here);
        ties -= here;
      }
      out.push(new Uint8Array(host.exports.memory.buffer, pm, n).slice());
    }
    return out;
  });
}

/**
 * N:M mask along the input dimension: in each group of m consecutive columns of a row keeps the n highest scores
 * (2:4, 4:8, any 0 <= n < m <= 32). Errors: E_RANGE (n >= m, m > 32), E_SHAPE (cols % m != 0) — before any work.
 */
export function nmMask(host: KernelHost, scores: Float32Array, rows: number, cols: number, n: number, m: number, opts: MaskOptions = {}): Uint8Array {
  checkNM(n, m, cols, opts.name);
  checkScores(scores, rows, cols, opts.name);
  return withScratch(host, (s) => {
    const ps = s.putF32(scores), pm = s.alloc(scores.length);
    s.call(kname(host, "nm_mask_forward", opts), pm, ps, rows, cols, n, m);
    return new Uint8Array(host.exports.memory.buffer, pm, scores.length).slice();
  });
}

/** Index of the first m-group keeping more than n weights, or -1 when the mask is valid N:M. */
export function nmViolation(host: KernelHost, mask: Uint8Array, rows: number, cols: number, n: number, m: number): number {
  checkNM(n, m, cols);
  if (mask.length !== rows * cols) throw new TensorshrinkError("E_SHAPE", `mask length ${mask.length} is not ${rows} x ${cols}`);
  return withScratch(host, (s) => {
    const pm = s.alloc(mask.length);
    new Uint8Array(host.exports.memory.buffer, pm, mask.length).set(mask);
    return s.call("nm_check_forward", pm, rows, cols, n, m);
  });
}

/** Packs a u8 mask (nonzero = keep) into a bitmask of ⌈n/8⌉ bytes (bit order in the file header). */
export function packMask(host: KernelHost, mask: Uint8Array, opts: MaskOptions = {}): Uint8Array {
  const n = mask.length;
  return withScratch(host, (s) => {
    const pm = s.alloc(n), pb = s.alloc((n + 7) >> 3);
    new Uint8Array(host.exports.memory.buffer, pm, n).set(mask);
    s.call(kname(host, "mask_pack_forward", opts), pb, pm, n);
    return new Uint8Array(host.exports.memory.buffer, pb, (n + 7) >> 3).slice();
  });
}

/** Unpacks `n` weights of a bitmask into a u8 mask (0/1). */
export function unpackMask(host: KernelHost, bits: Uint8Array, n: number, opts: MaskOptions = {}): Uint8Array {
  if (bits.length < (n + 7) >> 3) throw new TensorshrinkError("E_SHAPE", `bitmask of ${bits.length} bytes is too short for ${n} weights (needs ${(n + 7) >> 3})`);
  return withScratch(host, (s) => {
    const pb = s.alloc(bits.length), pm = s.alloc(n);
    new Uint8Array(host.exports.memory.buffer, pb, bits.length).set(bits);
    s.call(kname(host, "mask_unpack_forward", opts), pm, pb, n);
    return new Uint8Array(host.exports.memory.buffer, pm, n).slice();
  });
}

/** Zeroes `w` (in place) where the bitmask's bit is 0; returns w. */
export function applyMask(host: KernelHost, w: Float32Array, bits: Uint8Array, opts: MaskOptions = {}): Float32Array {
  if (bits.length < (w.length + 7) >> 3) throw new TensorshrinkError("E_SHAPE", `bitmask of ${bits.length} bytes is too short for ${w.length} weights`, { tensor: opts.name });
  return withScratch(host, (s) => {
    const pw = s.putF32(w), pb = s.alloc(bits.length);
    new Uint8Array(host.exports.memory.buffer, pb, bits.length).set(bits);
    s.call(kname(host, "mask_apply_forward", opts), pw, pb, w.length);
    w.set(s.f32(pw, w.length));
    return w;
  });
}

/** Density statistics of a bitmask of n weights. */
export interface Density { kept: number; total: number; density: number; sparsity: number }

/** Kept weights / total of a bitmask. */
export function maskDensity(host: KernelHost, bits: Uint8Array, n: number, opts: MaskOptions = {}): Density {
  if (bits.length < (n + 7) >> 3) throw new TensorshrinkError("E_SHAPE", `bitmask of ${bits.length} bytes is too short for ${n} weights`);
  const kept = withScratch(host, (s) => {
    const pb = s.alloc(bits.length);
    new Uint8Array(host.exports.memory.buffer, pb, bits.length).set(bits);
    return s.call(kname(host, "mask_count_forward", opts), pb, n);
  });
  return { kept, total: n, density: n ? kept / n : 0, sparsity: n ? 1 - kept / n : 0 };
}

/** Compressed 2:4 storage: n/2 kept values and a 4-bit index pair per group (layout in assembly/sparse/pack.ts). */
export interface Packed24 { values: Float32Array; indices: Uint8Array; length: number }

/** Packs weights under a 2:4-valid mask (E_RANGE naming the first group keeping more than 2; length % 4 == 0). */
export function pack24(host: KernelHost, w: Float32Array, mask: Uint8Array, name?: string): Packed24 {
  const n = w.length;
  if (n % 4 !== 0 || mask.length !== n) throw new TensorshrinkError("E_SHAPE", `2:4 packing${at(name)} needs length % 4 == 0 and a mask of the same length, got ${n} and ${mask.length}`, { tensor: name });
  const groups = n >> 2, ib = (groups + 1) >> 1;
  return withScratch(host, (s) => {
    const pw = s.putF32(w), pm = s.alloc(n), pv = s.alloc(n * 2), pi = s.alloc(ib);
    new Uint8Array(host.exports.memory.buffer, pm, n).set(mask);
    const bad = s.call("pack24_forward", pv, pi, pw, pm, n);
    if (bad >= 0) throw new TensorshrinkError("E_RANGE", `2:4 packing${at(name)}: group ${bad} (weights ${bad * 4}..${bad * 4 + 3}) keeps more than 2`, { tensor: name, group: bad });
    return { values: s.f32(pv, groups * 2).slice(), indices: new Uint8Array(host.exports.memory.buffer, pi, ib).slice(), length: n };
  });
}

/** Dense weights from {@link pack24} output. */
export function unpack24(host: KernelHost, p: Packed24): Float32Array {
  const n = p.length, groups = n >> 2;
  if (n % 4 !== 0 || p.values.length !== groups * 2 || p.indices.length !== (groups + 1) >> 1) throw new TensorshrinkError("E_SHAPE", `2:4 unpacking: ${p.values.length} values / ${p.indices.length} index bytes do not fit ${n} weights`);
  return withScratch(host, (s) => {
    const pw = s.alloc(n * 4), pv = s.putF32(p.values), pi = s.alloc(p.indices.length);
    new Uint8Array(host.exports.memory.buffer, pi, p.indices.length).set(p.indices);
    s.call("unpack24_forward", pw, pv, pi, n);
    return s.f32(pw, n).slice();
  });
}
