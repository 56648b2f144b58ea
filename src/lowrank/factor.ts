/**
 * Low-rank factorization of one linear layer W [out, in] (row-major, y = W x) as W ≈ B·A with
 * B [out, r] and A [r, in] — the LoRA/PEFT layout (lora_B · lora_A).
 *
 * All methods share one shape: find the top-r left singular vectors U_r of W·S for a right multiplier S
 * that says which input directions matter, then W′ = U_r U_rᵀ W (the best rank-r approximation of W in
 * the ‖(W − W′)·S‖_F norm, Eckart–Young on W·S):
 * - `svd`: S = I (plain truncated SVD, minimizes ‖W − W′‖_F);
 * - `asvd`: S = diag(mean|x|^α) (ASVD, Yuan et al. 2023; α = 0.5 default);
 * - `svdllm`: S = L, the Cholesky factor of XᵀX (SVD-LLM, Wang et al. 2024: truncation-aware whitening;
 *   ‖(W − W′)L‖_F² = ‖(W − W′)Xᵀ‖_F², so truncating σ_i of W·L loses exactly Σ_{i>r} σ_i² of output energy).
 * The factors are split evenly: B = U_r Σ_r^½, A = Σ_r^-½ U_rᵀ W (= Σ_r^½ V_rᵀ S⁻¹, the papers' form, without
 * inverting S, so a singular S (dead input columns) needs no damping beyond the Cholesky's).
 */
import { TensorshrinkError } from "../errors";
import type { KernelHost } from "../quant/general";
import { svd } from "../linalg/decomp";
import { cholesky } from "../linalg/cholesky";
import { gemm } from "../linalg/gemm";
import { checkMatrix, type Matrix } from "../linalg/matrix";

/** Factorization method. */
export type LowRankMethod = "svd" | "asvd" | "svdllm";

/** How the rank is chosen (exactly one of rank / ratio / relError). */
export interface RankChoice {
  /** A fixed rank, 1 ≤ r ≤ min(out, in). */
  rank?: number;
  /**
   * Target parameter ratio kept, 0 < ratio ≤ 1: the largest r with r·(out + in) ≤ ratio·out·in
   * (0.9 = 10% parameter reduction). At least 1.
   */
  ratio?: number;
  /**
   * Relative error bound in the method's objective, 0 < relError < 1: the smallest r with
   * √(Σ_{i>r} σ_i²) ≤ relError·√(Σ σ_i²) where σ are the singular values of W·S.
   */
  relError?: number;
}

/** Options of {@link lowRankFactor}. */
export interface LowRankOptions extends RankChoice {
  /** Default "svd". */
  method?: LowRankMethod;
  /** ASVD: mean |x| per input column (`in` values, e.g. ActStats.meanAbs). */
  meanAbs?: ArrayLike<number>;
  /** ASVD exponent α (default 0.5). */
  alpha?: number;
  /** SVD-LLM: XᵀX, `in × in` row-major (f64 or f32; e.g. ActInput.gram). */
  gram?: ArrayLike<number>;
  /** SVD-LLM: damping of XᵀX as a fraction of mean(diag) (default 0.01; the Cholesky retries ×10 on failure). */
  damp?: number;
  /** Tensor name for error messages. */
  name?: string;
}

/** W ≈ B·A. */
export interface LowRankFactors {
  /** [out, r] row-major (PEFT lora_B). */
  B: Matrix;
  /** [r, in] row-major (PEFT lora_A). */
  A: Matrix;
  rank: number;
  /** Singular values of W·S (all min(out, in) of them, descending). */
  sigma: Float64Array;
  /** √(Σ_{i>r} σ_i²) / √(Σ σ_i²): the relative error in the method's objective. */
  relError: number;
  method: LowRankMethod;
}

/**
 * Rank from a {@link RankChoice} and the singular values (descending).
 * @throws TensorshrinkError `E_RANGE` (none or several choices, rank > min(out, in), ratio ∉ (0, 1], relError ∉ (0, 1)).
 */
export function chooseRank(choice: RankChoice, sigma: ArrayLike<number>, out: number, inp: number, name?: string): number {
  const n = Math.min(out, inp);
  const given = [choice.rank, choice.ratio, choice.relError].filter((v) => v !== undefined).length;
  const where = name ? ` (${name})` : "";
  if (given !== 1) throw new TensorshrinkError("E_RANGE", `choose exactly one of rank, ratio, relError${where}`, { tensor: name });
  if (choice.rank !== undefined) {
    const r = choice.rank;
    if (!Number.isInteger(r) || r < 1 || r > n) throw new TensorshrinkError("E_RANGE", `rank ${r} must be an integer from 1 to min(rows, cols) = ${n}${where}`, { tensor: name, rank: r, rows: out, cols: inp });
    return r;
  }
  if (choice.ratio !== undefined) {
    const q = choice.ratio;
    if (!(q > 0 && q <= 1)) throw new TensorshrinkError("E_RANGE", `ratio must be in (0, 1], got ${q}${where}`, { tensor: name, ratio: q });
    return Math.max(1, Math.min(n, Math.floor((q * out * inp) / (out + inp))));
  }
  const e = choice.relError!;
  if (!(e > 0 && e < 1)) throw new TensorshrinkError("E_RANGE", `relError must be in (0, 1), got ${e}${where}`, { tensor: name, relError: e });
  let tot = 0;
  for (let i = 0; i < sigma.length; i++) tot += sigma[i]! * sigma[i]!;
  const bound = e * e * tot;
  let tail = tot;
  for (let r = 0; r < sigma.length; r++) {
    if (tail <= bound) return Math.max(1, r);
    tail -= sigma[r]! * sigma[r]!;
  }
  return Math.max(1, Math.min(n, sigma.length));
}

/** The right multiplier S of a method (as a Matrix [in, in]), or null for plain SVD. */
function rightMultiplier(host: KernelHost, inp: number, o: LowRankOptions): Matrix | null {
  const method = o.method ?? "svd";
  if (method === "svd") return null;
  if (method === "asvd") {
    if (!o.meanAbs || o.meanAbs.length !== inp) throw new TensorshrinkError("E_SHAPE", `asvd needs meanAbs with ${inp} values${o.name ? ` for ${o.name}` : ""}, got ${o.meanAbs?.length ?? "none"}`, { tensor: o.name });
    const alpha = o.alpha ?? 0.5;
    if (!Number.isFinite(alpha) || alpha < 0) throw new TensorshrinkError("E_RANGE", `asvd alpha must be finite and ≥ 0, got ${alpha}`, { alpha });
    let mx = 0;
    for (let j = 0; j < inp; j++) { const v = o.meanAbs[j]!; if (!Number.isFinite(v) || v < 0) throw new TensorshrinkError("E_NONFINITE", `meanAbs[${j}] = ${v}${o.name ? ` of ${o.name}` : ""}`, { tensor: o.name, column: j }); mx = Math.max(mx, v); }
    const s: Matrix = { data: new Float32Array(inp * inp), rows: inp, cols: inp };
    const floor = Math.max(mx, 1e-30) * 1e-6; // dead columns keep a small weight (S must stay invertible in the papers' form)
    for (let j = 0; j < inp; j++) s.data[j * inp + j] = Math.max(o.meanAbs[j]!, floor) ** alpha;
    return s;
  }
  if (method === "svdllm") {
    if (!o.gram || o.gram.length !== inp * inp) throw new TensorshrinkError("E_SHAPE", `svdllm needs the ${inp}×${inp} Gram matrix XᵀX${o.name ? ` for ${o.name}` : ""}, got ${o.gram?.length ?? "none"} values`, { tensor: o.name });
    const g: Matrix = { data: Float32Array.from(o.gram), rows: inp, cols: inp };
    return cholesky(host, g, { damp: o.damp ?? 0.01, name: o.name }).factor; // lower: XᵀX + d·I = L Lᵀ
  }
  throw new TensorshrinkError("E_RANGE", `unknown low-rank method "${method}" (svd, asvd, svdllm)`, { method });
}

/** The SVD of W·S, kept so several ranks can be cut from one decomposition (see {@link truncateSpectrum}). */
export interface LowRankSpectrum {
  /** The matrix the factors reproduce (W, or ΔW for EoRA), [out, in]. */
  x: Matrix;
  /** Left singular vectors of W·S, [out, min(out, in)]. */
  U: Matrix;
  /** Singular values of W·S, descending. */
  sigma: Float64Array;
  method: LowRankMethod;
  name?: string;
}

/**
 * The decomposition behind {@link lowRankFactor} (one SVD of W·S); cut ranks from it with {@link truncateSpectrum}.
 * @throws TensorshrinkError `E_SHAPE`, `E_NONFINITE`, `E_RANGE`, `E_NOT_SPD`, `E_OOM`.
 */
export function lowRankSpectrum(host: KernelHost, w: Matrix, opts: Omit<LowRankOptions, keyof RankChoice> = {}): LowRankSpectrum {
  checkMatrix(w, "lowRankFactor W", opts.name);
  const s = rightMultiplier(host, w.cols, opts);
  const ws = s ? gemm(host, w, s) : w;
  const full = svd(host, ws, { name: opts.name });
  return { x: w, U: full.U, sigma: full.S, method: opts.method ?? "svd", name: opts.name };
}

/** Factors of rank chosen by `choice` from a spectrum (B = U_r Σ^½, A = Σ^-½ U_rᵀ x). */
export function truncateSpectrum(host: KernelHost, sp: LowRankSpectrum, choice: RankChoice): LowRankFactors {
  const r = chooseRank(choice, sp.sigma, sp.x.rows, sp.x.cols, sp.name);
  return splitFactors(host, sp.x, sp.U, sp.sigma, r, sp.method);
}

/**
 * Factor W [out, in] as B [out, r] · A [r, in] (see the file comment for the methods).
 * Cost: one SVD of W·S (about 2·out·in² + 9·min³ flops) plus the products.
 * @throws TensorshrinkError `E_SHAPE`, `E_NONFINITE` (W or statistics), `E_RANGE` (rank choice), `E_NOT_SPD`, `E_OOM`.
 */
export function lowRankFactor(host: KernelHost, w: Matrix, opts: LowRankOptions): LowRankFactors {
  chooseRank(opts, [], w.rows, w.cols, opts.name); // validate before the SVD
  return truncateSpectrum(host, lowRankSpectrum(host, w, opts), opts);
}

/** @internal B = U_r Σ^½ and A = Σ^-½ U_rᵀ X (X = W, or ΔW for EoRA). */
export function splitFactors(host: KernelHost, x: Matrix, u: Matrix, sigma: Float64Array, r: number, method: LowRankMethod): LowRankFactors {
  const out = x.rows, k = u.cols;
  const ur: Matrix = { data: new Float32Array(out * r), rows: out, cols: r };
  for (let i = 0; i < out; i++) for (let c = 0; c < r; c++) ur.data[i * r + c] = u.data[i * k + c]!;
  const a = gemm(host, ur, x, { transA: true }); // U_rᵀ X  [r, in]
  const smax = sigma[0] ?? 0;
  for (let c = 0; c < r; c++) {
    const sv = sigma[c]!;
    const ok = sv > smax * 1e-7 && sv > 0;
    const h = ok ? Math.sqrt(sv) : 0;
    for (let i = 0; i < out; i++) ur.data[i * r + c] *= h;
    const inv = ok ? 1 / h : 0;
    for (let j = 0; j < a.cols; j++) a.data[c * a.cols + j] *= inv;
  }
  let tot = 0, tail = 0;
  for (let i = 0; i < sigma.length; i++) { tot += sigma[i]! ** 2; if (i >= r) tail += sigma[i]! ** 2; }
  return { B: ur, A: a, rank: r, sigma, relError: tot > 0 ? Math.sqrt(tail / tot) : 0, method };
}

/** B·A [out, in] (the rebuilt weight). */
export function reconstruct(host: KernelHost, f: { A: Matrix; B: Matrix }): Matrix {
  if (f.B.cols !== f.A.rows) throw new TensorshrinkError("E_SHAPE", `factors do not chain: B is ${f.B.rows}×${f.B.cols}, A is ${f.A.rows}×${f.A.cols}`, {});
  return gemm(host, f.B, f.A);
}

/**
 * Applies factors to activations without rebuilding W: Y = X·Aᵀ·Bᵀ (X [tokens, in] → Y [tokens, out]),
 * 2·tokens·r·(in + out) flops instead of 2·tokens·in·out. With `base` (a weight [out, in]) returns
 * X·baseᵀ + scale·X·Aᵀ·Bᵀ (a LoRA on top of a base, e.g. EoRA on the quantized weight).
 */
export function applyLowRank(host: KernelHost, x: Matrix, f: { A: Matrix; B: Matrix }, opts: { base?: Matrix; scale?: number } = {}): Matrix {
  if (x.cols !== f.A.cols) throw new TensorshrinkError("E_SHAPE", `activations have ${x.cols} columns, A expects ${f.A.cols}`, {});
  const t = gemm(host, x, f.A, { transB: true });
  const y = gemm(host, t, f.B, { transB: true, alpha: opts.scale ?? 1 });
  if (opts.base) return gemm(host, x, opts.base, { transB: true, beta: 1, c: y });
  return y;
}
