/**
 * EoRA (Liu et al. 2024, "Training-free compensation for compressed LLM with eigenspace low-rank
 * approximation"): for a compressed weight W′ of W [out, in] and the calibration Gram matrix XᵀX [in, in],
 * eigendecompose XᵀX = QΛQᵀ (negative eigenvalues, round-off, clamped to 0), take the SVD of
 * ΔW·QΛ^½ = UΣVᵀ with ΔW = W − W′, truncate to rank r and set
 *   B = U_rΣ_r^½ [out, r],  A = Σ_r^½V_rᵀΛ^-½Qᵀ [r, in]   (computed as A = Σ_r^-½U_rᵀΔW, the same matrix
 *   wherever Λ is invertible and well defined where it is not).
 * W′ + B·A minimizes ‖(W − W′ − BA)Xᵀ‖_F over rank-r BA: the layer-output error on the calibration data.
 */
import { TensorshrinkError } from "../errors";
import type { KernelHost } from "../quant/general";
import { eigh, svd } from "../linalg/decomp";
import { gemm } from "../linalg/gemm";
import { checkMatrix, type Matrix } from "../linalg/matrix";
import { chooseRank, truncateSpectrum, type LowRankFactors, type LowRankSpectrum, type RankChoice } from "./factor";

/** Options of {@link eoraFactor}. */
export interface EoraOptions extends RankChoice {
  /** Tensor name for error messages. */
  name?: string;
}

/**
 * The EoRA decomposition of one layer (eigh of XᵀX, SVD of ΔW·QΛ^½), from which {@link truncateSpectrum}
 * cuts any rank: `x` = ΔW, `U`/`sigma` = the SVD of ΔW·QΛ^½. `gram` is XᵀX [in × in] row-major (f64 or f32).
 * Cost: eigh of in×in (~4 in³ flops), one in×in GEMM, one SVD of out×in.
 * @throws TensorshrinkError `E_SHAPE` (W and W′ differ, Gram size), `E_NONFINITE`.
 */
export function eoraSpectrum(host: KernelHost, w: Matrix, wq: Matrix, gram: ArrayLike<number>, opts: { name?: string } = {}): LowRankSpectrum {
  const where = opts.name ? ` (${opts.name})` : "";
  checkMatrix(w, "eora W", opts.name);
  checkMatrix(wq, "eora W'", opts.name);
  if (w.rows !== wq.rows || w.cols !== wq.cols) throw new TensorshrinkError("E_SHAPE", `eora: W is ${w.rows}×${w.cols} but the compressed W' is ${wq.rows}×${wq.cols}${where}`, { tensor: opts.name });
  const n = w.cols;
  if (gram.length !== n * n) throw new TensorshrinkError("E_SHAPE", `eora: XᵀX must be ${n}×${n} (${n * n} values), got ${gram.length}${where}`, { tensor: opts.name });
  const dw: Matrix = { data: new Float32Array(w.data.length), rows: w.rows, cols: n };
  for (let i = 0; i < dw.data.length; i++) dw.data[i] = w.data[i]! - wq.data[i]!;
  const g: Matrix = { data: Float32Array.from(gram), rows: n, cols: n };
  const { values, vectors: q } = eigh(host, g, { name: opts.name });
  // Q Λ^½ (columns of Q scaled), negative eigenvalues clamped to 0
  const ql: Matrix = { data: new Float32Array(n * n), rows: n, cols: n };
  for (let i = 0; i < n; i++) for (let c = 0; c < n; c++) ql.data[i * n + c] = q.data[i * n + c]! * Math.sqrt(Math.max(0, values[c]!));
  const full = svd(host, gemm(host, dw, ql), { name: opts.name });
  return { x: dw, U: full.U, sigma: full.S, method: "svd", name: opts.name };
}

/** Output-error figures of an EoRA cut: ‖ΔW·Xᵀ‖_F before and ‖(ΔW − BA)Xᵀ‖_F after (= √Σ_{i>r}σ_i²). */
export function eoraErrors(sp: LowRankSpectrum, rank: number): { outputErrorBefore: number; outputErrorAfter: number } {
  let tot = 0, tail = 0;
  for (let i = 0; i < sp.sigma.length; i++) { tot += sp.sigma[i]! ** 2; if (i >= rank) tail += sp.sigma[i]! ** 2; }
  return { outputErrorBefore: Math.sqrt(tot), outputErrorAfter: Math.sqrt(tail) };
}

/**
 * EoRA factors of one layer (see the file comment). `gram` is XᵀX [in × in] row-major (f64 or f32), e.g. `ActInput.gram`.
 * @returns factors with `relError` = √(Σ_{i>r}σ_i²/Σσ_i²) of ΔW·QΛ^½ (the share of output error left), method "svd".
 * @throws TensorshrinkError `E_SHAPE` (W and W′ differ, Gram size), `E_NONFINITE`, `E_RANGE` (rank).
 */
export function eoraFactor(host: KernelHost, w: Matrix, wq: Matrix, gram: ArrayLike<number>, opts: EoraOptions): LowRankFactors & { outputErrorBefore: number; outputErrorAfter: number } {
  chooseRank(opts, [], w.rows, w.cols, opts.name); // validate before the decompositions (rank bounds, one choice)
  const sp = eoraSpectrum(host, w, wq, gram, opts);
  const f = truncateSpectrum(host, sp, opts);
  return { ...f, ...eoraErrors(sp, f.rank) };
}
