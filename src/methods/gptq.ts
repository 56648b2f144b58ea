/**
 * GPTQ into ggml formats (Frantar et al. 2022, "OPTQ"), the block-boundary variant: the columns are
 * walked left to right in groups of the format's block (32 for q4_0 / q5_x / q8_0 / iq4_nl, 256 for
 * k-quants). At each group boundary the group's columns of every row are quantized with llama.cpp's own
 * quantizer (scales and mins computed from the already error-updated weights, imatrix-weighted when the
 * type uses one), then each column's error is propagated to all later columns through the upper Cholesky
 * factor U of H⁻¹ (H = XᵀX + damp·mean(diag)·I): W[:, k] -= (w_j − q_j) / U_jj · U_jk, in column order —
 * exactly the triangular solve that compensates a group quantized at once. Rows of the output are the
 * concatenated group blocks, so the bytes are ordinary blocks of the type and decode with the normal
 * dequantizers.
 * For the grid types (grid.ts: q4_0 q4_1 q5_0 q5_1 q8_0 iq4_nl q2_K q3_K q4_K q5_K q6_K iq4_xs) the columns
 * inside the block are then rounded one at a time onto the grid of the scales fixed at the boundary (true
 * GPTQ, each column's error pushed to every later column before the next is rounded), and the chosen
 * integers are stored into the blocks. Other types (i-quants with lattices, ...): the block's columns are
 * rounded together by RTN and the compensation crosses block boundaries only.
 * Lazy batches (GPTQ's lazy block updates): the error of a column reaches the rest of its batch of 128
 * columns (256 for k-quants) at once and the columns after the batch in one sgemm per batch. Act-order
 * (optional): columns by diag H descending with "static groups" (block scales from the original weights),
 * the permutation undone when the integers are stored.
 * Damping: 0.01 · mean diag H, raised ×10 (up to 1) when H is not positive definite (reported in info).
 * Cost: rows · cols · batch flops (f64 JS) + rows · cols² (sgemm) + one cols³ factorization (wasm); memory
 * 8 · rows · cols + 8 · cols² bytes (act-order: + 16 · rows · cols).
 */
import { TensorshrinkError } from "../errors";
import type { Engine } from "../engine/engine";
import { choleskyInverseUpper } from "../linalg/cholesky";
import { gemm } from "../linalg/gemm";
import { lookupType } from "../quant/types";
import { bytesOf, rowsOf } from "./rtn";
import { hasGrid, nearestQ, nearestLevel, readGrid, newGrid, setQuant } from "./grid";
import type { TensorMethod, TensorMethodContext, TensorMethodResult } from "./types";

/** Options of {@link gptqMethod}. */
export interface GptqOptions {
  /** Damping fraction of mean(diag H) (default 0.01). */
  damp?: number;
  /**
   * Round value by value on the grid of the scales fixed at each block boundary (default true; for the
   * grid types of grid.ts: q4_0 q4_1 q5_0 q5_1 q8_0 iq4_nl q2_K q3_K q4_K q5_K q6_K iq4_xs); false or
   * other types: whole blocks by RTN.
   */
  perColumn?: boolean;
  /**
   * Lazy batch (GPTQ's "lazy block updates"): columns are processed in batches of this many (rounded up to
   * a multiple of the format block: 128 for 32-blocks, 256 for k-quants); inside a batch each column's error
   * goes to the batch's later columns at once, to the columns after the batch in one sgemm per batch
   * (default 128; 0 = every later column at once, f64, no sgemm).
   */
  lazyBatch?: number;
  /**
   * Act-order (GPTQ's desc_act): columns in order of diag H descending, the permutation applied to W and H
   * and undone when the integers are stored, so the GGUF layout is unchanged. Block scales cannot follow the
   * error updates then (a block's columns are spread over the order), so they are "static groups": every
   * block's scales and mins come from llama.cpp's quantizer on the original weights, before the sweep;
   * grid types only (others: ignored, reported in info). Default false.
   */
  actOrder?: boolean;
}

const DENSE = new Set(["f32", "f16", "bf16"]);

/** Extra output of {@link gptqQuantize}. */
export interface GptqResult { bytes: Uint8Array; recon: Float32Array; damp: number; attempts: number; actOrder: boolean; seconds: number }

/**
 * GPTQ on one matrix: `w` rows × cols f32 (not modified), `h` cols × cols (XᵀX, row-major, f64 or f32),
 * quantized to `type`. Returns the bytes, the f32 reconstruction, the damping used, whether act-order ran
 * and the seconds spent.
 */
export function gptqQuantize(engine: Engine, w: Float32Array, rows: number, cols: number, h: Float64Array | Float32Array, type: string, opts: GptqOptions & { imatrix?: Float32Array | null; name?: string } = {}): GptqResult {
  const t0 = Date.now();
  const t = lookupType(type);
  const B = t.blockSize;
  if (cols % B !== 0) throw new TensorshrinkError("E_BLOCK", `gptq: cols = ${cols} is not a multiple of the ${type} block size ${B}${opts.name ? ` (tensor "${opts.name}")` : ""}`, { name: opts.name });
  if (h.length !== cols * cols) throw new TensorshrinkError("E_SHAPE", `gptq: H has ${h.length} values, needs ${cols}² = ${cols * cols}`, { name: opts.name });
  const lazy = opts.lazyBatch ?? 128;
  if (!(Number.isInteger(lazy) && lazy >= 0)) throw new TensorshrinkError("E_RANGE", `gptq: lazyBatch must be a non-negative integer, got ${lazy}`, { name: opts.name });
  const grid = opts.perColumn !== false && hasGrid(type) ? newGrid(type) : null;
  const actOrder = !!opts.actOrder && !!grid;
  const W = Float64Array.from(w);
  const H0 = new Float32Array(cols * cols);
  for (let i = 0; i < cols * cols; i++) H0[i] = h[i];
  // dead inputs (never non-zero): their weights do not matter; make H invertible and zero them as GPTQ does
  for (let i = 0; i < cols; i++) if (!(H0[i * cols + i] > 0)) { H0[i * cols + i] = 1; for (let r = 0; r < rows; r++) W[r * cols + i] = 0; }
  // act-order: perm[k] = original column at position k (diag H descending, stable)
  const perm = Int32Array.from({ length: cols }, (_v, i) => i);
  if (actOrder) perm.sort((a, b) => H0[b * cols + b] - H0[a * cols + a] || a - b);
  let H = H0;
  if (actOrder) { H = new Float32Array(cols * cols); for (let i = 0; i < cols; i++) for (let j = 0; j < cols; j++) H[i * cols + j] = H0[perm[i] * cols + perm[j]]; }
  const U = choleskyInverseUpper(engine, { data: H, rows: cols, cols }, { damp: opts.damp ?? 0.01, retry: true, maxDamp: 1, name: opts.name });
  const u = U.factor.data;
  for (let i = 0; i < u.length; i++) if (!Number.isFinite(u[i])) throw new TensorshrinkError("E_NOT_SPD", `gptq: the inverse Hessian factor of ${opts.name ?? "the tensor"} is not finite after damping ${U.damp}`, { name: opts.name, damp: U.damp });
  // Wp: the weights in processing order (columns permuted under act-order)
  const Wp = actOrder ? new Float64Array(rows * cols) : W;
  if (actOrder) for (let r = 0; r < rows; r++) for (let k = 0; k < cols; k++) Wp[r * cols + k] = W[r * cols + perm[k]];
  const rb = bytesOf(type, 1, cols), gb = bytesOf(type, 1, B);
  const bytes = new Uint8Array(rows * rb);
  const im = (g0: number) => (opts.imatrix && t.usesImatrix ? opts.imatrix.subarray(g0, g0 + B) : null);
  // batch of columns [b0, b1): errors (already divided by U_jj) kept for the one sgemm update after it
  const LB = lazy === 0 ? cols : Math.max(B, Math.ceil(lazy / B) * B);
  const E = new Float32Array(rows * LB);
  const err = new Float64Array(rows);
  /** Column j's error err[r] to the later columns of the batch (k < b1) and into E for the sgemm. */
  const propagate = (j: number, b0: number, b1: number) => {
    const uj = j * cols, nb = b1 - b0;
    for (let r = 0; r < rows; r++) {
      const e = err[r];
      E[r * nb + (j - b0)] = e;
      if (e === 0) continue;
      const wr = r * cols;
      for (let k = j + 1; k < b1; k++) Wp[wr + k] -= e * u[uj + k];
    }
  };
  /** W[:, b1:] -= E · U[b0:b1, b1:] (one sgemm; f32 product, f64 accumulation in W). */
  const flush = (b0: number, b1: number) => {
    const nb = b1 - b0, rest = cols - b1;
    if (rest <= 0) return;
    const us = new Float32Array(nb * rest);
    for (let i = 0; i < nb; i++) us.set(u.subarray((b0 + i) * cols + b1, (b0 + i + 1) * cols), i * rest);
    const d = gemm(engine, { data: E.subarray(0, rows * nb), rows, cols: nb }, { data: us, rows: nb, cols: rest }, { name: opts.name }).data;
    for (let r = 0; r < rows; r++) for (let k = 0; k < rest; k++) Wp[r * cols + b1 + k] -= d[r * rest + k];
  };
  const L = grid?.levels ?? null;
  const roundOne = (wv: number, a: number, b: number): [number, number] => {
    if (L) { const qi = nearestLevel(wv, a, b, L); return [qi, Math.fround(Math.fround(a * L[qi]) + b)]; }
    const qi = nearestQ(wv, a, b, grid!.qmin, grid!.qmax); return [qi, Math.fround(Math.fround(a * qi) + b)];
  };
  if (actOrder) {
    // static groups: every block's grid from llama.cpp's quantizer on the original weights
    const wf = new Float32Array(rows * cols);
    for (let i = 0; i < wf.length; i++) wf[i] = W[i];
    for (let g0 = 0; g0 < cols; g0 += B) {
      const wg = new Float32Array(rows * B);
      for (let r = 0; r < rows; r++) wg.set(wf.subarray(r * cols + g0, r * cols + g0 + B), r * B);
      const qb = engine.quantize(wg, { type, rows, cols: B, imatrix: im(g0), name: opts.name });
      for (let r = 0; r < rows; r++) bytes.set(qb.subarray(r * gb, (r + 1) * gb), r * rb + (g0 / B) * gb);
    }
    const ga = new Float32Array(rows * cols), gbv = new Float32Array(rows * cols);
    for (let r = 0; r < rows; r++) for (let g0 = 0; g0 < cols; g0 += B) { readGrid(type, bytes, r * rb + (g0 / B) * gb, grid!); ga.set(grid!.a, r * cols + g0); gbv.set(grid!.b, r * cols + g0); }
    for (let b0 = 0; b0 < cols; b0 += LB) {
      const b1 = Math.min(cols, b0 + LB);
      for (let k = b0; k < b1; k++) {
        const j = perm[k], d = u[k * cols + k], blk = Math.floor(j / B), jj = j - blk * B;
        for (let r = 0; r < rows; r++) {
          const wv = Wp[r * cols + k], [qi, v] = roundOne(wv, ga[r * cols + j], gbv[r * cols + j]);
          setQuant(type, bytes, r * rb + blk * gb, jj, qi);
          err[r] = (wv - v) / d;
          Wp[r * cols + k] = v;
        }
        propagate(k, b0, b1);
      }
      flush(b0, b1);
    }
  } else {
    const wg = new Float32Array(rows * B);
    const ga = new Float32Array(grid ? rows * B : 0), gbv = new Float32Array(grid ? rows * B : 0);
    for (let b0 = 0; b0 < cols; b0 += LB) {
      const b1 = Math.min(cols, b0 + LB);
      for (let g0 = b0; g0 < b1; g0 += B) {
        for (let r = 0; r < rows; r++) for (let j = 0; j < B; j++) wg[r * B + j] = W[r * cols + g0 + j];
        const qb = engine.quantize(wg, { type, rows, cols: B, imatrix: im(g0), name: opts.name });
        if (grid) {
          // per-column rounding on the grid of the scales fixed at this boundary (stored into the same blocks)
          for (let r = 0; r < rows; r++) { readGrid(type, qb, r * gb, grid); ga.set(grid.a, r * B); gbv.set(grid.b, r * B); }
          for (let j = g0; j < g0 + B; j++) {
            const d = u[j * cols + j], jj = j - g0;
            for (let r = 0; r < rows; r++) {
              const wv = W[r * cols + j], [qi, v] = roundOne(wv, ga[r * B + jj], gbv[r * B + jj]);
              setQuant(type, qb, r * gb, jj, qi);
              err[r] = (wv - v) / d;
              W[r * cols + j] = v;
            }
            propagate(j, b0, b1);
          }
        } else {
          const q = engine.dequantize(qb, { type, rows, cols: B, name: opts.name } as any);
          for (let j = g0; j < g0 + B; j++) {
            const d = u[j * cols + j];
            for (let r = 0; r < rows; r++) err[r] = (W[r * cols + j] - q[r * B + (j - g0)]) / d;
            propagate(j, b0, b1);
          }
        }
        for (let r = 0; r < rows; r++) bytes.set(qb.subarray(r * gb, (r + 1) * gb), r * rb + (g0 / B) * gb);
      }
      flush(b0, b1);
    }
  }
  const recon = engine.dequantize(bytes, { type, rows, cols, name: opts.name } as any) as Float32Array;
  return { bytes, recon, damp: U.damp, attempts: U.attempts, actOrder, seconds: (Date.now() - t0) / 1000 };
}

/** The GPTQ method (needs the Gram matrix of each block linear input: a calibrated sweep). */
export function gptqMethod(opts: GptqOptions = {}): TensorMethod {
  return {
    kind: "tensor",
    name: "gptq",
    needs: { gram: true, sumSq: true },
    appliesTo(t) {
      if (t.layer < 0) return "not a block linear weight (no calibrated input)";
      if (DENSE.has(t.targetType)) return `target type ${t.targetType} is not quantized`;
      if (t.ne.length > 2 && rowsOf(t.ne) !== t.ne[1]) return "3D (expert) tensors are not supported";
      if (t.ne[0] % lookupType(t.targetType).blockSize !== 0) return `row length ${t.ne[0]} is not a multiple of the ${t.targetType} block`;
      return true;
    },
    async apply(ctx: TensorMethodContext): Promise<TensorMethodResult> {
      const g = ctx.stats?.gram;
      if (!g) throw new TensorshrinkError("E_RANGE", `gptq: no Gram matrix (XᵀX) for the input of tensor ${ctx.name}`, { name: ctx.name });
      const r = gptqQuantize(ctx.engine, ctx.weight, rowsOf(ctx.ne), ctx.ne[0], g, ctx.targetType, { ...opts, imatrix: ctx.imatrix, name: ctx.name });
      return { bytes: r.bytes, info: { damp: r.damp, dampAttempts: r.attempts, gptqSeconds: r.seconds, ...(opts.actOrder ? { actOrder: r.actOrder ? "yes" : `ignored: ${ctx.targetType} has no grid codec` } : {}) } };
    },
  };
}
