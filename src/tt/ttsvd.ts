/**
 * Tensor-train decomposition (Oseledets 2011, "Tensor-Train Decomposition"): TT-SVD of a d-way
 * tensor with a relative Frobenius error bound ε or a rank cap, TT-rounding, full reconstruction.
 * The SVDs, QRs and products run on the wasm linear-algebra core (src/linalg: f64 Gram SVD,
 * f64 Householder QR, f32 SIMD GEMM); the per-unfolding bookkeeping is small and stays in JS.
 *
 * A {@link TensorTrain} of a tensor with dims [n_0, …, n_{d-1}] (row-major, last index fastest) has
 * cores G_k [r_k, n_k, r_{k+1}] (row-major f32), r_0 = r_d = 1:
 *   A[i_0, …, i_{d-1}] = G_0[:, i_0, :] · G_1[:, i_1, :] ⋯ G_{d-1}[:, i_{d-1}, :].
 */
import { TensorshrinkError } from "../errors";
import type { KernelHost } from "../quant/general";
import { svd, qr } from "../linalg/decomp";
import { gemm } from "../linalg/gemm";
import type { Matrix } from "../linalg/matrix";

/** A tensor train: `cores[k]` is [ranks[k], dims[k], ranks[k+1]] row-major; ranks[0] = ranks[d] = 1. */
export interface TensorTrain {
  dims: number[];
  ranks: number[];
  cores: Float32Array[];
}

/** Truncation of {@link ttSvd} / {@link ttRound}: at least one of eps and maxRank. */
export interface TtTruncation {
  /**
   * Relative Frobenius error bound ε > 0: each of the d − 1 unfoldings is truncated at
   * δ = ε/√(d−1)·‖A‖_F, so ‖A − TT‖_F ≤ ε‖A‖_F (exact arithmetic; f32 cores add ~1e-6 relative).
   */
  eps?: number;
  /** Largest TT rank r_k (integer ≥ 1); with eps, the smaller of the two ranks wins. */
  maxRank?: number;
  /** Name for error messages (e.g. the tensor's). */
  name?: string;
}

const where = (name?: string) => (name ? ` (${name})` : "");

/** @internal Validates eps / maxRank (E_RANGE) and returns them. */
export function checkTruncation(t: TtTruncation, what: string): { eps: number; maxRank: number } {
  const { eps, maxRank } = t;
  if (eps === undefined && maxRank === undefined) throw new TensorshrinkError("E_RANGE", `${what}: give eps (relative error bound) or maxRank${where(t.name)}`, { tensor: t.name });
  if (eps !== undefined && !(typeof eps === "number" && Number.isFinite(eps) && eps > 0)) throw new TensorshrinkError("E_RANGE", `${what}: eps must be a finite number > 0, got ${eps}${where(t.name)}`, { eps, tensor: t.name });
  if (maxRank !== undefined && !(Number.isInteger(maxRank) && maxRank >= 1)) throw new TensorshrinkError("E_RANGE", `${what}: maxRank must be an integer >= 1, got ${maxRank}${where(t.name)}`, { maxRank, tensor: t.name });
  return { eps: eps ?? 0, maxRank: maxRank ?? Infinity };
}

/** @internal Checks dims (positive integers, product = length) and finiteness (E_SHAPE, E_NONFINITE). */
export function checkTensor(data: Float32Array, dims: readonly number[], what: string, name?: string): void {
  if (!(data instanceof Float32Array)) throw new TensorshrinkError("E_ARG_TYPE", `${what}: data must be a Float32Array${where(name)}`);
  if (!Array.isArray(dims) || dims.length < 1 || dims.some((n) => !Number.isInteger(n) || n < 1)) throw new TensorshrinkError("E_SHAPE", `${what}: dims must be positive integers, got [${dims}]${where(name)}`, { dims: [...(dims ?? [])], tensor: name });
  const total = dims.reduce((a, b) => a * b, 1);
  if (total !== data.length) throw new TensorshrinkError("E_SHAPE", `${what}: dims [${dims.join(", ")}] hold ${total} values, data has ${data.length}${where(name)}`, { dims: [...dims], length: data.length, tensor: name });
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v - v !== 0) throw new TensorshrinkError("E_NONFINITE", `${what}: non-finite value ${v} at flat index ${i}${where(name)}`, { index: i, value: v, tensor: name });
  }
}

/** Smallest r (1 ≤ r ≤ min(maxRank, σ.length)) whose tail Σ_{i≥r} σ_i² ≤ δ². */
function cutRank(sig: Float64Array, delta: number, maxRank: number): number {
  let r = sig.length, tail = 0;
  const d2 = delta * delta;
  while (r > 1 && tail + sig[r - 1]! ** 2 <= d2) { tail += sig[r - 1]! ** 2; r--; }
  return Math.max(1, Math.min(r, maxRank));
}

/** First r columns of U (m x k) as an m x r matrix. */
function leadCols(u: Matrix, r: number): Matrix {
  if (r === u.cols) return u;
  const out = new Float32Array(u.rows * r);
  for (let i = 0; i < u.rows; i++) out.set(u.data.subarray(i * u.cols, i * u.cols + r), i * r);
  return { data: out, rows: u.rows, cols: r };
}

/** Truncated SVD of the unfolding c: returns U_r and U_rᵀ c (the remainder, exactly the projection). */
function truncate(host: KernelHost, c: Matrix, delta: number, maxRank: number, name?: string): { u: Matrix; rest: Matrix } {
  const f = svd(host, c, { name });
  const r = cutRank(f.S, delta, maxRank);
  const u = leadCols(f.U, r);
  return { u, rest: gemm(host, u, c, { transA: true, name }) };
}

/** Frobenius norm (f64 sum). */
export function frobenius(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]! * x[i]!;
  return Math.sqrt(s);
}

/**
 * TT-SVD (Oseledets 2011, Algorithm 1) of a d-way tensor `data` (row-major, dims [n_0, …, n_{d-1}]):
 * for k = 0 … d−2 the unfolding C [r_k n_k, rest] is split by a truncated SVD, G_k = U_r and
 * C ← U_rᵀ C. With `eps` each cut drops singular values whose squares sum to ≤ δ²,
 * δ = ε/√(d−1)·‖A‖_F, so ‖A − TT‖_F ≤ ε‖A‖_F; `maxRank` caps every rank (the bound then no longer holds).
 * Cost: one SVD per unfolding (Gram of the smaller side: O(r n · rest · min)); memory ~3 copies of the tensor in f32 plus the SVD's wasm scratch.
 * @throws TensorshrinkError `E_RANGE` (eps ≤ 0, non-finite, maxRank < 1, neither given), `E_SHAPE`, `E_NONFINITE`.
 */
export function ttSvd(host: KernelHost, data: Float32Array, dims: readonly number[], opts: TtTruncation): TensorTrain {
  const { eps, maxRank } = checkTruncation(opts, "ttSvd");
  checkTensor(data, dims, "ttSvd", opts.name);
  const d = dims.length;
  const delta = d > 1 ? (eps / Math.sqrt(d - 1)) * frobenius(data) : 0;
  const ranks = [1], cores: Float32Array[] = [];
  let c: Matrix = { data: data.slice(), rows: 1, cols: data.length };
  for (let k = 0; k < d - 1; k++) {
    const rows = ranks[k]! * dims[k]!;
    c = { data: c.data, rows, cols: c.data.length / rows };
    const { u, rest } = truncate(host, c, delta, maxRank, opts.name);
    cores.push(u.data);
    ranks.push(u.cols);
    c = rest;
  }
  cores.push(c.data);
  ranks.push(1);
  return { dims: [...dims], ranks, cores };
}

/**
 * TT-rounding (Oseledets 2011, Algorithm 2): right-to-left orthogonalization by QR, then left-to-right
 * truncated SVDs with δ = ε/√(d−1)·‖TT‖_F (and/or `maxRank`). Lowers the ranks of any TT (e.g. a sum
 * of TTs or a TT-SVD with loose ranks) with ‖TT − round(TT)‖_F ≤ ε‖TT‖_F. Returns a new train.
 * @throws TensorshrinkError `E_RANGE` (truncation), `E_SHAPE` (inconsistent cores).
 */
export function ttRound(host: KernelHost, tt: TensorTrain, opts: TtTruncation): TensorTrain {
  const { eps, maxRank } = checkTruncation(opts, "ttRound");
  checkTrain(tt, "ttRound", opts.name);
  const d = tt.dims.length, dims = tt.dims, ranks = [...tt.ranks];
  const cores: Float32Array[] = tt.cores.map((c) => c.slice());
  // right to left: G_k [r_k, n_k r_{k+1}] = R^T Q^T  (QR of G_k^T); G_{k-1} ← G_{k-1} R^T
  for (let k = d - 1; k >= 1; k--) {
    const rk = ranks[k]!, w = dims[k]! * ranks[k + 1]!;
    const gt = transposed({ data: cores[k]!, rows: rk, cols: w });
    const { Q, R } = qr(host, gt, { name: opts.name });
    const kk = Q.cols;
    cores[k] = transposed(Q).data;
    const prev: Matrix = { data: cores[k - 1]!, rows: ranks[k - 1]! * dims[k - 1]!, cols: rk };
    cores[k - 1] = gemm(host, prev, R, { transB: true, name: opts.name }).data;
    ranks[k] = kk;
  }
  const delta = d > 1 ? (eps / Math.sqrt(d - 1)) * frobenius(cores[0]!) : 0;
  for (let k = 0; k < d - 1; k++) {
    const g: Matrix = { data: cores[k]!, rows: ranks[k]! * dims[k]!, cols: ranks[k + 1]! };
    const { u, rest } = truncate(host, g, delta, maxRank, opts.name);
    cores[k] = u.data;
    const next: Matrix = { data: cores[k + 1]!, rows: ranks[k + 1]!, cols: dims[k + 1]! * ranks[k + 2]! };
    cores[k + 1] = gemm(host, rest, next, { name: opts.name }).data;
    ranks[k + 1] = u.cols;
  }
  return { dims: [...dims], ranks, cores };
}

function transposed(a: Matrix): Matrix {
  const t = new Float32Array(a.rows * a.cols);
  for (let i = 0; i < a.rows; i++) for (let j = 0; j < a.cols; j++) t[j * a.rows + i] = a.data[i * a.cols + j]!;
  return { data: t, rows: a.cols, cols: a.rows };
}

/** @internal Checks a train's ranks and core sizes (E_SHAPE). */
export function checkTrain(tt: TensorTrain, what: string, name?: string): void {
  const d = tt?.dims?.length;
  if (!d || tt.ranks?.length !== d + 1 || tt.cores?.length !== d || tt.ranks[0] !== 1 || tt.ranks[d] !== 1) throw new TensorshrinkError("E_SHAPE", `${what}: a train needs d dims, d + 1 ranks (first and last 1) and d cores${where(name)}`, { tensor: name });
  for (let k = 0; k < d; k++) {
    const n = tt.ranks[k]! * tt.dims[k]! * tt.ranks[k + 1]!;
    if (!(tt.cores[k] instanceof Float32Array) || tt.cores[k]!.length !== n) throw new TensorshrinkError("E_SHAPE", `${what}: core ${k} must hold ${tt.ranks[k]} x ${tt.dims[k]} x ${tt.ranks[k + 1]} = ${n} f32 values, has ${tt.cores[k]?.length}${where(name)}`, { core: k, tensor: name });
  }
}

/** Number of stored values Σ_k r_k n_k r_{k+1}. */
export function ttParams(tt: Pick<TensorTrain, "cores">): number {
  return tt.cores.reduce((s, c) => s + c.length, 0);
}

/** The full tensor (row-major, Π n_k values) by left-to-right contraction in f64 (for tests and small tensors). */
export function ttFull(tt: TensorTrain): Float32Array {
  checkTrain(tt, "ttFull");
  let t = new Float64Array([1]), n = 1;
  for (let k = 0; k < tt.dims.length; k++) {
    const r0 = tt.ranks[k]!, nk = tt.dims[k]!, r1 = tt.ranks[k + 1]!, g = tt.cores[k]!;
    const next = new Float64Array(n * nk * r1);
    for (let J = 0; J < n; J++) for (let r = 0; r < r0; r++) {
      const a = t[J * r0 + r]!;
      if (a === 0) continue;
      for (let x = 0; x < nk * r1; x++) next[J * nk * r1 + x] += a * g[r * nk * r1 + x]!;
    }
    t = next; n *= nk;
  }
  return Float32Array.from(t);
}
