// q8_0: 32 values -> fp16 scale d + 32 x int8 (34 bytes). ggml quantize_row_q8_0_ref semantics:
// amax = max |x|, d = amax/127, id = 1/d (0 if d == 0), q = roundf(x * id) (half away from zero).
import { fp32_to_fp16, fp16_to_fp32 } from "../inline/f16";
import { hmax_f32x4, roundf_f32x4, roundf } from "../inline/simd";

// @ts-ignore: decorator
@inline const QK8_0: i32 = 32;
// @ts-ignore: decorator
@inline const BLOCK_Q8_0: usize = 34;

/** Scalar reference: k values (multiple of 32) at x -> k/32 blocks at y. */
export function quantize_row_q8_0_ref(y: usize, x: usize, k: i32): void {
  const nb = k / QK8_0;
  for (let i = 0; i < nb; i++) {
    let amax: f32 = 0;
    for (let j = 0; j < QK8_0; j++) {
      const v = abs<f32>(load<f32>(x + (<usize>j << 2)));
      amax = amax > v ? amax : v;
    }
    const d: f32 = amax / <f32>127;
    const id: f32 = d != 0 ? <f32>1 / d : 0;
    store<u16>(y, fp32_to_fp16(d));
    for (let j = 0; j < QK8_0; j++) {
      store<i8>(y + 2 + j, <i8><i32>roundf(load<f32>(x + (<usize>j << 2)) * id));
    }
    x += QK8_0 << 2;
    y += BLOCK_Q8_0;
  }
}

/** SIMD: one block per iteration, 8 x f32x4. Bit-identical to quantize_row_q8_0_ref. */
export function quantize_row_q8_0(y: usize, x: usize, k: i32): void {
  const nb = k / QK8_0;
  for (let i = 0; i < nb; i++) {
    const v0 = v128.load(x, 0), v1 = v128.load(x, 16), v2 = v128.load(x, 32), v3 = v128.load(x, 48);
    const v4 = v128.load(x, 64), v5 = v128.load(x, 80), v6 = v128.load(x, 96), v7 = v128.load(x, 112);
    const m = f32x4.max(
      f32x4.max(f32x4.max(f32x4.abs(v0), f32x4.abs(v1)), f32x4.max(f32x4.abs(v2), f32x4.abs(v3))),
      f32x4.max(f32x4.max(f32x4.abs(v4), f32x4.abs(v5)), f32x4.max(f32x4.abs(v6), f32x4.abs(v7))));
    const amax = hmax_f32x4(m);
    const d: f32 = amax / <f32>127;
    const id: f32 = d != 0 ? <f32>1 / d : 0;
    store<u16>(y, fp32_to_fp16(d));
    const vid = f32x4.splat(id);
    const q0 = i32x4.trunc_sat_f32x4_s(roundf_f32x4(f32x4.mul(v0, vid)));
    const q1 = i32x4.trunc_sat_f32x4_s(roundf_f32x4(f32x4.mul(v1, vid)));
    const q2 = i32x4.trunc_sat_f32x4_s(roundf_f32x4(f32x4.mul(v2, vid)));
    const q3 = i32x4.trunc_sat_f32x4_s(roundf_f32x4(f32x4.mul(v3, vid)));
    const q4 = i32x4.trunc_sat_f32x4_s(roundf_f32x4(f32x4.mul(v4, vid)));
    const q5 = i32x4.trunc_sat_f32x4_s(roundf_f32x4(f32x4.mul(v5, vid)));
    const q6 = i32x4.trunc_sat_f32x4_s(roundf_f32x4(f32x4.mul(v6, vid)));
    const q7 = i32x4.trunc_sat_f32x4_s(roundf_f32x4(f32x4.mul(v7, vid)));
    v128.store(y + 2, i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(q0, q1), i16x8.narrow_i32x4_s(q2, q3)));
    v128.store(y + 18, i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(q4, q5), i16x8.narrow_i32x4_s(q6, q7)));
    x += QK8_0 << 2;
    y += BLOCK_Q8_0;
  }
}

export function dequantize_row_q8_0_ref(y: usize, x: usize, k: i32): void {
  const nb = k / QK8_0;
  for (let i = 0; i < nb; i++) {
    const d = fp16_to_fp32(load<u16>(x));
    for (let j = 0; j < QK8_0; j++) store<f32>(y + (<usize>j << 2), <f32>load<i8>(x + 2 + j) * d);
    x += BLOCK_Q8_0;
    y += QK8_0 << 2;
  }
}

export function dequantize_row_q8_0(y: usize, x: usize, k: i32): void {
  const nb = k / QK8_0;
  for (let i = 0; i < nb; i++) {
    const vd = f32x4.splat(fp16_to_fp32(load<u16>(x)));
    for (let h: usize = 0; h < 2; h++) {
      const q = v128.load(x + 2 + (h << 4));
      const lo = i16x8.extend_low_i8x16_s(q), hi = i16x8.extend_high_i8x16_s(q);
      const o = y + (h << 6);
      v128.store(o, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(lo)), vd));
      v128.store(o, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(lo)), vd), 16);
      v128.store(o, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(hi)), vd), 32);
      v128.store(o, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(hi)), vd), 48);
    }
    x += BLOCK_Q8_0;
    y += QK8_0 << 2;
  }
}

/** Chunk API (ggml quantize_q8_0): imatrix is accepted and ignored, as in ggml. Returns bytes written. */
export function quantize_q8_0(y: usize, x: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  quantize_row_q8_0(y, x, nrows * n_per_row);
  return <usize>nrows * (n_per_row / QK8_0) * BLOCK_Q8_0;
}
export function quantize_q8_0_ref(y: usize, x: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  quantize_row_q8_0_ref(y, x, nrows * n_per_row);
  return <usize>nrows * (n_per_row / QK8_0) * BLOCK_Q8_0;
}
