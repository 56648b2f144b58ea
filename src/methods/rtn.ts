/**
 * RTN as a method: llama.cpp's own quantizer (ggml_quantize_chunk), with the importance matrix when one
 * is given. Through the seam it gives the same bytes as quantizeModel's default streaming path (the
 * difference is only that the tensor is processed whole: rows × cols × 4 bytes of f32 in memory).
 */
import type { Engine } from "../engine/engine";
import { lookupType } from "../quant/types";
import type { TensorMethod, TensorMethodContext, TensorMethodResult } from "./types";

/** rows of a tensor with extents ne (ne[1] · ne[2] · ...). */
export const rowsOf = (ne: readonly number[]): number => ne.slice(1).reduce((a, b) => a * b, 1);

/** Bytes of `rows` rows of `cols` values in `type`. */
export const bytesOf = (type: string, rows: number, cols: number): number => {
  const t = lookupType(type);
  return rows * (cols / t.blockSize) * t.bytesPerBlock;
};

/**
 * Quantizes f32 rows × cols with llama.cpp's RTN (per 2D matrix for 3D tensors: `imatrix` may hold one
 * vector per matrix, ne[0] × matrices values, as llama.cpp's imatrix stores experts).
 */
export function rtnBytes(engine: Engine, w: Float32Array, ne: readonly number[], type: string, imatrix: Float32Array | null | undefined, name?: string): Uint8Array {
  const cols = ne[0], rows = rowsOf(ne);
  const im = imatrix ?? null;
  if (!im || im.length === cols || ne.length < 3) return engine.quantize(w, { type, rows, cols, imatrix: im, name });
  const per = ne[1], mats = rows / per, mb = bytesOf(type, per, cols);
  const out = new Uint8Array(bytesOf(type, rows, cols));
  for (let m = 0; m < mats; m++) {
    out.set(engine.quantize(w.subarray(m * per * cols, (m + 1) * per * cols), { type, rows: per, cols, imatrix: im.subarray(m * cols, (m + 1) * cols), name }), m * mb);
  }
  return out;
}

/** The RTN method: applies to every tensor; needs nothing. */
export const rtnMethod: TensorMethod = {
  kind: "tensor",
  name: "rtn",
  appliesTo: () => true,
  async apply(ctx: TensorMethodContext): Promise<TensorMethodResult> {
    return { bytes: rtnBytes(ctx.engine, ctx.weight, ctx.ne, ctx.targetType, ctx.imatrix, ctx.name) };
  },
};
