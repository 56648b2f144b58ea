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
 * For q4_0 q4_1 q5_0 q5_1 q8_0 q4_K q5_K q6_K (see grid.ts) the columns inside the block are then rounded
 * one at a time onto the grid of the scales fixed at the boundary (true GPTQ, each column's error pushed
 * to every later column before the next is rounded), and the chosen integers are stored into the blocks.
 * Other types (q2_K, q3_K, iq4_nl, ...): the block's columns are rounded together by RTN and the
 * compensation crosses block boundaries only (with 256-column rows that is imatrix RTN).
 * Damping: 0.01 · mean diag H, raised ×10 (up to 1) when H is not positive definite (reported in info).
 * Cost: rows · cols² flops (f64 JS) + one cols³ factorization (wasm); memory 8 · rows · cols + 8 · cols² bytes.
 */
import { TensorshrinkError } from "../errors";
import type { Engine } from "../engine/engine";
import { choleskyInverseUpper } from "../linalg/cholesky";
import { lookupType } from "../quant/types";
import { bytesOf, rowsOf } from "./rtn";
import { hasGrid, nearestQ, nearestLevel, readGrid, newGrid, setQuant } from "./grid";
import type { TensorMethod, TensorMethodContext, TensorMethodResult } from "./types";

/** Options of {@link gptqMethod}. */
export interface GptqOptions {
  /** Damping fraction of mean(diag H) (default 0.01). */
  damp?: number;
  /**
   * Round value by value on the grid of the scales fixed at each block boundary (default true; for
   * q4_0 q4_1 q5_0 q5_1 q8_0 q4_K q5_K q6_K, see grid.ts); false or other types: whole blocks by RTN.
   */
  perColumn?: boolean;
}

const DENSE = new Set(["f32", "f16", "bf16"]);

/**
 * GPTQ on one matrix: `w` rows × cols f32 (not modified), `h` cols × cols (XᵀX, row-major, f64 or f32),
 * quantized to `type`. Returns the bytes, the f32 reconstruction and the damping used.
 */
export function gptqQuantize(engine: Engine, w: Float32Array, rows: number, cols: number, h: Float64Array | Float32Array, type: string, opts: GptqOptions & { imatrix?: Float32Array | null; name?: string } = {}): { bytes: Uint8Array; recon: Float32Array; damp: number; attempts: number } {
  const t = lookupType(type);
  const B = t.blockSize;
  if (cols % B !== 0) throw new TensorshrinkError("E_BLOCK", `gptq: cols = ${cols} is not a multiple of the ${type} block size ${B}${opts.name ? ` (tensor "${opts.name}")` : ""}`, { name: opts.name });
  if (h.length !== cols * cols) throw new TensorshrinkError("E_SHAPE", `gptq: H has ${h.length} values, needs ${cols}² = ${cols * cols}`, { name: opts.name });
  const W = Float64Array.from(w);
  const H = new Float32Array(cols * cols);
  for (let i = 0; i < cols * cols; i++) H[i] = h[i];
  // dead inputs (never non-zero): their weights do not matter; make H invertible and zero them as GPTQ does
  for (let i = 0; i < cols; i++) if (!(H[i * cols + i] > 0)) { H[i * cols + i] = 1; for (let r = 0; r < rows; r++) W[r * cols + i] = 0; }
  const U = choleskyInverseUpper(engine, { data: H, rows: cols, cols }, { damp: opts.damp ?? 0.01, retry: true, maxDamp: 1, name: opts.name });
  const u = U.factor.data;
  for (let i = 0; i < u.length; i++) if (!Number.isFinite(u[i])) throw new TensorshrinkError("E_NOT_SPD", `gptq: the inverse Hessian factor of ${opts.name ?? "the tensor"} is not finite after damping ${U.damp}`, { name: opts.name, damp: U.damp });
  const rb = bytesOf(type, 1, cols), gb = bytesOf(type, 1, B);
  const bytes = new Uint8Array(rows * rb), recon = new Float32Array(rows * cols);
  const wg = new Float32Array(rows * B), err = new Float64Array(rows);
  const grid = opts.perColumn !== false && hasGrid(type) ? newGrid(type) : null;
  const ga = new Float32Array(grid ? rows * B : 0), gbv = new Float32Array(grid ? rows * B : 0);
  const L = grid?.levels ?? null;
  /** W[:, k] -= err · U[j, k] for k > j (every later column). */
  const propagate = (j: number) => {
    const uj = j * cols;
    for (let r = 0; r < rows; r++) {
      const e = err[r];
      if (e === 0) continue;
      const wr = r * cols;
      for (let k = j + 1; k < cols; k++) W[wr + k] -= e * u[uj + k];
    }
  };
  for (let g0 = 0; g0 < cols; g0 += B) {
    for (let r = 0; r < rows; r++) for (let j = 0; j < B; j++) wg[r * B + j] = W[r * cols + g0 + j];
    const im = opts.imatrix && t.usesImatrix ? opts.imatrix.subarray(g0, g0 + B) : null;
    const qb = engine.quantize(wg, { type, rows, cols: B, imatrix: im, name: opts.name });
    const q = grid ? null : engine.dequantize(qb, { type, rows, cols: B, name: opts.name } as any);
    if (!grid) for (let r = 0; r < rows; r++) bytes.set(qb.subarray(r * gb, (r + 1) * gb), r * rb + (g0 / B) * gb);
    if (grid) {
      // per-column rounding on the grid of the scales fixed at this boundary (stored into the same blocks)
      for (let r = 0; r < rows; r++) { readGrid(type, qb, r * gb, grid); ga.set(grid.a, r * B); gbv.set(grid.b, r * B); }
      for (let j = g0; j < g0 + B; j++) {
        const d = u[j * cols + j], jj = j - g0;
        for (let r = 0; r < rows; r++) {
          const a = ga[r * B + jj], b = gbv[r * B + jj], wv = W[r * cols + j];
          let qi: number, v: number;
          if (L) { qi = nearestLevel(wv, a, b, L); v = Math.fround(Math.fround(a * L[qi]) + b); }
          else { qi = nearestQ(wv, a, b, grid.qmin, grid.qmax); v = Math.fround(Math.fround(a * qi) + b); }
          setQuant(type, qb, r * gb, jj, qi);
          err[r] = (wv - v) / d;
          W[r * cols + j] = v;
        }
        propagate(j);
      }
      for (let r = 0; r < rows; r++) bytes.set(qb.subarray(r * gb, (r + 1) * gb), r * rb + (g0 / B) * gb);
    } else {
      for (let j = g0; j < g0 + B; j++) {
        const d = u[j * cols + j];
        for (let r = 0; r < rows; r++) err[r] = (W[r * cols + j] - q![r * B + (j - g0)]) / d;
        propagate(j);
      }
    }
  }
  const dq = engine.dequantize(bytes, { type, rows, cols, name: opts.name } as any);
  recon.set(dq);
  return { bytes, recon, damp: U.damp, attempts: U.attempts };
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
      return { bytes: r.bytes, info: { damp: r.damp, dampAttempts: r.attempts } };
    },
  };
}
