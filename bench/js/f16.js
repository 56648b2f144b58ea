// Plain-JS baseline: fp32 -> fp16 row conversion, the same bit algorithm as ggml_compute_fp32_to_fp16.
const f32 = new Float32Array(1), u32 = new Uint32Array(f32.buffer);
const bitsToF = (b) => { u32[0] = b; return f32[0]; };
const fToBits = (f) => { f32[0] = f; return u32[0]; };
const SCALE_INF = bitsToF(0x77800000), SCALE_ZERO = bitsToF(0x08800000);
export function fp32_to_fp16(f) {
  let base = Math.fround(Math.fround(Math.abs(f) * SCALE_INF) * SCALE_ZERO);
  const w = fToBits(f);
  const shl1 = (w * 2) >>> 0;
  const sign = w & 0x80000000;
  let bias = (shl1 & 0xff000000) >>> 0;
  if (bias < 0x71000000) bias = 0x71000000;
  base = Math.fround(bitsToF(((bias >>> 1) + 0x07800000) >>> 0) + base);
  const bits = fToBits(base);
  const nonsign = ((bits >>> 13) & 0x7c00) + (bits & 0x0fff);
  return ((sign >>> 16) | (shl1 > 0xff000000 ? 0x7e00 : nonsign)) & 0xffff;
}
/** x: Float32Array -> Uint8Array of fp16 (2 bytes each). */
export function quantize_f16(x, nrows, n_per_row) {
  const n = nrows * n_per_row, out = new Uint16Array(n);
  for (let i = 0; i < n; i++) out[i] = fp32_to_fp16(x[i]);
  return new Uint8Array(out.buffer);
}
