/**
 * SparseGPT (Frantar & Alistarh, 2023) for one weight matrix: H = XᵀX from calibration (ActInput.gram), damping
 * 0.01 · mean(diag H), U = upper Cholesky factor of H⁻¹ (`choleskyInverseUpper`, f64 inside), then blocks of 128
 * columns: the block's mask by w² / U_jj² (unstructured: exactly ⌊sparsity · rows · block⌋ per block, as the
 * reference's per-block threshold; N:M: per row and group, when the sweep reaches it), the OBS update of the block's
 * remaining columns in wasm (`sparsegpt_block_forward`), and the lazy update of all later columns with sgemm.
 * Columns whose H_jj is 0 (never active) are set to H_jj = 1 and their weights to 0 first (as the reference).
 * Memory: 4·(2·rows·cols + cols² + rows·(2·B+1)) + rows·cols bytes of wasm plus sgemm's ~1.2 MiB work.
 */
import { TensorshrinkError } from "../errors";
import type { KernelHost, KernelChoice } from "../quant/general";
import { withScratch, kname } from "../linalg/matrix";
import { choleskyInverseUpper } from "../linalg/cholesky";
import { checkNM, checkSparsity } from "./masks";

/** Options of {@link sparseGPT}. Give `sparsity` or `nm`. */
export interface SparseGPTOptions {
  /** Fraction pruned, in [0, 1) (unstructured). */
  sparsity?: number;
  /** N:M (keep n of every m along the input dimension). */
  nm?: { n: number; m: number };
  /** Columns per block (default 128; N:M needs a multiple of m). */
  blockSize?: number;
  /** Damping fraction of mean(diag H) (default 0.01). */
  damp?: number;
  /** "simd" (default) or "ref" (scalar sweep and sgemm_ref; same masks up to f32 summation order in the lazy update). */
  kernel?: KernelChoice;
  /** Tensor name for error messages. */
  name?: string;
}

/** Result of {@link sparseGPT}. */
export interface SparseGPTResult {
  /** The pruned, OBS-updated weights (rows × cols, exact zeros where pruned). */
  weights: Float32Array;
  /** rows·cols, 1 = kept. */
  mask: Uint8Array;
  /** Damping fraction that made H⁻¹'s Cholesky succeed. */
  damp: number;
}

/**
 * Prunes `w` (rows × cols, rows = outputs) with SparseGPT against H (cols × cols, f64 or f32, symmetric, e.g.
 * `ActInput.gram`; any positive multiple such as XᵀX/T gives the same result up to damping). Errors before any work:
 * E_RANGE (sparsity / N:M / blockSize), E_SHAPE (sizes, cols % m), E_IMATRIX (no statistics / non-finite H).
 */
export function sparseGPT(host: KernelHost, w: Float32Array, rows: number, cols: number, hessian: Float64Array | Float32Array | null | undefined, opts: SparseGPTOptions): SparseGPTResult {
  const name = opts.name;
  const where = name ? ` of ${name}` : "";
  if (!(w instanceof Float32Array) || !Number.isInteger(rows) || !Number.isInteger(cols) || rows < 1 || cols < 1 || w.length !== rows * cols) throw new TensorshrinkError("E_SHAPE", `sparseGPT${where}: weights must be a Float32Array of ${rows} x ${cols}`, { tensor: name });
  if (!hessian) throw new TensorshrinkError("E_IMATRIX", `sparseGPT${where} needs the input Gram matrix XᵀX (collect statistics with gram: true)`, { tensor: name });
  if (hessian.length !== cols * cols) throw new TensorshrinkError("E_IMATRIX", `sparseGPT${where}: Gram matrix has ${hessian.length} values, expected ${cols} x ${cols}`, { tensor: name, cols });
  let n = 0, m = 0;
  if (opts.nm) { n = opts.nm.n; m = opts.nm.m; checkNM(n, m, cols, name); if (opts.sparsity !== undefined) throw new TensorshrinkError("E_RANGE", `sparseGPT${where}: give sparsity or nm, not both`, { tensor: name }); }
  else { if (opts.sparsity === undefined) throw new TensorshrinkError("E_RANGE", `sparseGPT${where}: give sparsity or nm`, { tensor: name }); checkSparsity(opts.sparsity, name); }
  const B = opts.blockSize ?? 128;
  if (!Number.isInteger(B) || B < 1 || (m && B % m !== 0)) throw new TensorshrinkError("E_RANGE", `sparseGPT${where}: blockSize must be a positive integer${m ? ` divisible by M = ${m}` : ""}, got ${B}`, { tensor: name });
  for (let i = 0; i < w.length; i++) if (w[i] - w[i] !== 0) throw new TensorshrinkError("E_NONFINITE", `sparseGPT${where}: non-finite weight at row ${Math.floor(i / cols)}, column ${i % cols}`, { tensor: name });
  const H = new Float32Array(cols * cols);
  for (let i = 0; i < H.length; i++) { const v = hessian[i]; if (v - v !== 0) throw new TensorshrinkError("E_IMATRIX", `sparseGPT${where}: non-finite Gram entry at (${Math.floor(i / cols)}, ${i % cols})`, { tensor: name }); H[i] = v; }
  const W = w.slice();
  for (let j = 0; j < cols; j++) if (H[j * cols + j] === 0) { H[j * cols + j] = 1; for (let r = 0; r < rows; r++) W[r * cols + j] = 0; }
  const chol = choleskyInverseUpper(host, { data: H, rows: cols, cols }, { damp: opts.damp ?? 0.01, name });
  const ref = opts.kernel === "ref";
  const kBlock = kname(host, "sparsegpt_block_forward", opts), kGemm = kname(host, "sgemm", opts);
  return withScratch(host, (s) => {
    const pw = s.putF32(W), pu = s.putF32(chol.factor.data), pm = s.alloc(rows * cols);
    const pe = s.alloc(rows * B * 4), ps = s.alloc(rows * B * 5);
    const work = ref ? 0 : s.alloc(Number(host.exports.sgemm_work_bytes()));
    for (let i1 = 0; i1 < cols; i1 += B) {
      const i2 = Math.min(cols, i1 + B), cnt = i2 - i1;
      const k = m ? 0 : Math.floor(opts.sparsity! * rows * cnt);
      s.call(kBlock, pw, rows, cols, pu, i1, i2, pm, pe, n, m, k, ps);
      if (i2 < cols) {
        const args = [pw + i2 * 4, pe, pu + (i1 * cols + i2) * 4, rows, cols - i2, cnt, cnt, cols, cols, 0, 0, -1, 1];
        if (ref) s.call(kGemm, ...args); else s.call(kGemm, ...args, work);
      }
    }
    return { weights: s.f32(pw, rows * cols).slice(), mask: new Uint8Array(host.exports.memory.buffer, pm, rows * cols).slice(), damp: chol.damp };
  });
}
