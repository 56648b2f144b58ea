/**
 * SparseGPT's joint prune + quantize (Frantar & Alistarh 2023, §3.4 "joint sparsification and quantization") into
 * ggml formats: one left-to-right OBS sweep over the columns in which every weight is either pruned or rounded to the
 * target GGUF format, and its error — against the value that will actually be stored — is pushed to every later
 * column through the upper Cholesky factor U of H⁻¹ (H = XᵀX + 0.01 · mean diag H · I):
 *   W[:, k] −= (w_j − v_j) / U_jj · U_jk  for k > j,
 * so the compensation sees the quantization error of the kept weights as well as the pruned ones (prune-then-quantize
 * compensates only the pruning and then rounds the result blindly).
 * - Mask: unstructured, per block of 128 columns: exactly ⌊sparsity · rows · 128⌋ weights with the lowest w² / U_jj² of
 *   the updated weights, ties to the lower flat index; N:M: every group of M columns keeps the N highest of each row.
 *   For 256-value formats (k-quants) the masks of a format block are chosen in the look-ahead below (on the values
 *   the sweep will see, up to the rounding of the block's earlier columns), since the scales need them.
 * - Quantization: at each format block boundary the block's scales (and mins) are computed by llama.cpp's quantizer
 *   (imatrix-weighted where the type uses one) from a look-ahead: the block's weights after its own pruning updates
 *   (the sparse OBS sweep inside the block without rounding), pruned ones 0 — fixing the scales on the values before
 *   those updates lets the large pruning errors pushed into the block's later columns overflow the grid; then,
 *   column by column, kept weights are rounded to the nearest value of that grid and pruned ones stored as the grid
 *   value nearest 0 (exactly 0 in q8_0 / q4_0 / q5_0 / q6_K; the nearest level in formats with a min such as q4_K),
 *   for q4_0 q4_1 q5_0 q5_1 q8_0 q4_K q5_K q6_K (src/methods/grid.ts). Other types (q2_K, q3_K, iq*) round the block
 *   at once by RTN; the error then crosses block boundaries only.
 * Cost: rows · cols² multiply-adds (f64 JS, as src/methods/gptq.ts) + one cols³ factorization in wasm; memory
 * 8 · rows · cols + 4 · cols² bytes.
 */
import { TensorshrinkError } from "../errors";
import type { Engine } from "../engine/engine";
import { choleskyInverseUpper } from "../linalg/cholesky";
import { lookupType } from "../quant/types";
import { bytesOf } from "../methods/rtn";
import { hasGrid, nearestQ, readGrid, newGrid, setQuant } from "../methods/grid";
import { checkNM, checkSparsity, topkMask } from "./masks";

/** Options of {@link sparseGptQuantize}. Give `sparsity` or `nm`. */
export interface JointOptions {
  sparsity?: number;
  nm?: { n: number; m: number };
  /** Damping fraction of mean(diag H) (default 0.01; raised ×10 up to 1 when H is not positive definite). */
  damp?: number;
  /** Per-column importance for types that use one (the sweep's Σx²/count or a user imatrix). */
  imatrix?: Float32Array | null;
  name?: string;
}

/** Result of {@link sparseGptQuantize}. */
export interface JointResult {
  /** rows × row bytes of `type`: ordinary ggml blocks. */
  bytes: Uint8Array;
  /** rows·cols, 1 = kept. */
  mask: Uint8Array;
  damp: number;
}

/**
 * Prunes and quantizes `w` (rows × cols f32, rows = outputs; not modified) to ggml `type` in one SparseGPT sweep
 * against H (cols × cols, e.g. ActInput.gram). Errors before any work: E_RANGE (sparsity / N:M), E_SHAPE (sizes,
 * cols % M, cols not a multiple of the type's block), E_IMATRIX (H missing / non-finite), E_NOT_SPD.
 */
export function sparseGptQuantize(engine: Engine, w: Float32Array, rows: number, cols: number, h: Float64Array | Float32Array | null | undefined, type: string, opts: JointOptions): JointResult {
  const name = opts.name, where = name ? ` of ${name}` : "";
  if (!(w instanceof Float32Array) || !Number.isInteger(rows) || !Number.isInteger(cols) || rows < 1 || cols < 1 || w.length !== rows * cols) throw new TensorshrinkError("E_SHAPE", `joint SparseGPT${where}: weights must be a Float32Array of ${rows} x ${cols}`, { tensor: name });
  if (!h) throw new TensorshrinkError("E_IMATRIX", `joint SparseGPT${where} needs the input Gram matrix XᵀX (calibration)`, { tensor: name });
  if (h.length !== cols * cols) throw new TensorshrinkError("E_IMATRIX", `joint SparseGPT${where}: Gram matrix has ${h.length} values, expected ${cols} x ${cols}`, { tensor: name });
  let n = 0, m = 0;
  if (opts.nm) { n = opts.nm.n; m = opts.nm.m; checkNM(n, m, cols, name); if (opts.sparsity !== undefined) throw new TensorshrinkError("E_RANGE", `joint SparseGPT${where}: give sparsity or nm, not both`, { tensor: name }); }
  else { if (opts.sparsity === undefined) throw new TensorshrinkError("E_RANGE", `joint SparseGPT${where}: give sparsity or nm`, { tensor: name }); checkSparsity(opts.sparsity, name); }
  const t = lookupType(type), B = t.blockSize;
  if (cols % B !== 0) throw new TensorshrinkError("E_SHAPE", `joint SparseGPT${where}: row length ${cols} is not a multiple of the ${type} block (${B})`, { tensor: name, cols, type });
  if (m && B % m !== 0) throw new TensorshrinkError("E_RANGE", `joint SparseGPT${where}: N:M groups of ${m} do not tile ${type} blocks of ${B}`, { tensor: name });
  const MB = 128; // SparseGPT's mask block (columns)
  for (let i = 0; i < w.length; i++) if (w[i] - w[i] !== 0) throw new TensorshrinkError("E_NONFINITE", `joint SparseGPT${where}: non-finite weight at row ${Math.floor(i / cols)}, column ${i % cols}`, { tensor: name });
  const H = new Float32Array(cols * cols);
  for (let i = 0; i < H.length; i++) { const v = h[i]; if (v - v !== 0) throw new TensorshrinkError("E_IMATRIX", `joint SparseGPT${where}: non-finite Gram entry at (${Math.floor(i / cols)}, ${i % cols})`, { tensor: name }); H[i] = v; }
  const W = Float64Array.from(w);
  for (let j = 0; j < cols; j++) if (!(H[j * cols + j] > 0)) { H[j * cols + j] = 1; for (let r = 0; r < rows; r++) W[r * cols + j] = 0; }
  const U = choleskyInverseUpper(engine, { data: H, rows: cols, cols }, { damp: opts.damp ?? 0.01, retry: true, maxDamp: 1, name });
  const u = U.factor.data;
  for (let i = 0; i < u.length; i++) if (!Number.isFinite(u[i])) throw new TensorshrinkError("E_NOT_SPD", `joint SparseGPT${where}: the inverse Hessian factor is not finite after damping ${U.damp}`, { tensor: name, damp: U.damp });
  const rb = bytesOf(type, 1, cols), gb = bytesOf(type, 1, B);
  const bytes = new Uint8Array(rows * rb), mask = new Uint8Array(rows * cols);
  const grid = hasGrid(type) ? newGrid(type) : null;
  const la = new Float64Array(rows * B), ga = new Float32Array(rows * B), gbv = new Float32Array(rows * B), wg = new Float32Array(rows * B), err = new Float64Array(rows);
  const laScore = (r: number, c: number, j: number) => { const x = la[r * B + c], d = u[(j + c) * cols + j + c]; return (x * x) / (d * d); };
  /** Exact-k mask of columns [j + c0, j + c0 + cnt) from the look-ahead values. */
  const selectBlock = (j: number, c0: number, cnt: number) => {
    const sc = new Float32Array(rows * cnt);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cnt; c++) sc[r * cnt + c] = laScore(r, c0 + c, j);
    const bm = topkMask(engine, sc, 1, rows * cnt, opts.sparsity!, "row", { name });
    for (let r = 0; r < rows; r++) mask.set(bm.subarray(r * cnt, (r + 1) * cnt), r * cols + j + c0);
  };
  let rtn: Float32Array | null = null, qb: Uint8Array = new Uint8Array(0);
  for (let j = 0; j < cols; j++) {
    const jj = j % B;
    if (jj === 0) {
      // look-ahead over this format block: the sparse OBS sweep inside the block (no rounding) on a copy, choosing the
      // masks as it goes (unstructured: per 128 columns, or at the 128-column boundary for 32-value formats; N:M: per
      // group) and giving the values the scales must cover (fixing them on the values before the block's own pruning
      // updates lets those errors overflow the grid and clamp)
      for (let r = 0; r < rows; r++) for (let c = 0; c < B; c++) la[r * B + c] = W[r * cols + j + c];
      if (!m && B < MB && j % MB === 0) {
        // 32-value formats: the 128-column mask block starts here, chosen on the current weights (as plain SparseGPT)
        const cnt = Math.min(MB, cols - j), sc = new Float32Array(rows * cnt);
        for (let r = 0; r < rows; r++) for (let c = 0; c < cnt; c++) { const x = W[r * cols + j + c], d = u[(j + c) * cols + j + c]; sc[r * cnt + c] = (x * x) / (d * d); }
        const bm = topkMask(engine, sc, 1, rows * cnt, opts.sparsity!, "row", { name });
        for (let r = 0; r < rows; r++) mask.set(bm.subarray(r * cnt, (r + 1) * cnt), r * cols + j);
      }
      for (let c = 0; c < B; c++) {
        if (!m && B >= MB && c % MB === 0) selectBlock(j, c, Math.min(MB, B - c));
        for (let r = 0; r < rows; r++) {
          if (m && c % m === 0) {
            // N:M: drop the m - n lowest of the group (ties: lower column first)
            for (let a = 0; a < m; a++) {
              const sa = laScore(r, c + a, j);
              let rank = 0;
              for (let b = 0; b < m; b++) { const sb = laScore(r, c + b, j); if (sb < sa || (sb === sa && b < a)) rank++; }
              mask[r * cols + j + c + a] = rank < m - n ? 0 : 1;
            }
          }
          if (mask[r * cols + j + c]) continue;
          const o = r * B, e = la[o + c] / u[(j + c) * cols + j + c], uj = (j + c) * cols + j;
          la[o + c] = 0;
          for (let k = c + 1; k < B; k++) la[o + k] -= e * u[uj + k];
        }
      }
      for (let i = 0; i < rows * B; i++) wg[i] = la[i];
      const im = opts.imatrix && t.usesImatrix ? opts.imatrix.subarray(j, j + B) : null;
      qb = engine.quantize(wg, { type, rows, cols: B, imatrix: im, name });
      if (grid) for (let r = 0; r < rows; r++) { readGrid(type, qb, r * gb, grid); ga.set(grid.a, r * B); gbv.set(grid.b, r * B); }
      else rtn = engine.dequantize(qb, { type, rows, cols: B, name } as any);
      // bytes written after the block's columns are rounded (grid) or now (RTN)
      if (!grid) for (let r = 0; r < rows; r++) bytes.set(qb.subarray(r * gb, (r + 1) * gb), r * rb + (j / B) * gb);
    }
    const d = u[j * cols + j];
    for (let r = 0; r < rows; r++) {
      const wv = W[r * cols + j], keep = mask[r * cols + j] === 1;
      let v: number;
      if (grid) {
        const a = ga[r * B + jj], b = gbv[r * B + jj];
        const qi = nearestQ(keep ? wv : 0, a, b, grid.qmin, grid.qmax);
        setQuant(type, qb, r * gb, jj, qi);
        v = Math.fround(Math.fround(a * qi) + b);
      } else v = rtn![r * B + jj];
      err[r] = (wv - v) / d;
      W[r * cols + j] = v;
    }
    // W[:, k] -= err · U[j, k] for every later column
    const uj = j * cols;
    for (let r = 0; r < rows; r++) {
      const e = err[r];
      if (e === 0) continue;
      const wr = r * cols;
      for (let k = j + 1; k < cols; k++) W[wr + k] -= e * u[uj + k];
    }
    if (grid && jj === B - 1) for (let r = 0; r < rows; r++) bytes.set(qb.subarray(r * gb, (r + 1) * gb), r * rb + ((j - jj) / B) * gb);
  }
  return { bytes, mask, damp: U.damp };
}
