// q8_0: 32 values -> fp16 scale d + 32 x int8 (34 bytes). ggml quantize_row_q8_0_ref semantics:
// amax = max |x|, d = amax/127, id = 1/d (0 if d == 0), q = roundf(x * id) (half away from zero).
import { fp32_to_fp16, fp16_to_fp32, fp32x4_to_fp16x4 } from "../inline/f16";
import { hmax_f32x4, hmax4_bits, absmax_bits, roundf_i32x4, roundf } from "../inline/simd";
import { nf_note_bits, nf_note_ref } from "./finite_flag";

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

// @ts-ignore: decorator
@inline function absmax8(x: usize): v128 {
  // |x| maxima as raw bits (see absmax_bits): exact, and cheaper than f32x4.max
  const a = absmax_bits(absmax_bits(v128.and(v128.load(x, 0), i32x4.splat(0x7FFFFFFF)), v128.load(x, 16)), v128.load(x, 32));
  const b = absmax_bits(absmax_bits(v128.and(v128.load(x, 48), i32x4.splat(0x7FFFFFFF)), v128.load(x, 64)), v128.load(x, 80));
  return i32x4.max_s(absmax_bits(a, v128.load(x, 96)), absmax_bits(b, v128.load(x, 112)));
}

// @ts-ignore: decorator
@inline function q8x16(x: usize, vid: v128): v128 {
  const q0 = roundf_i32x4((f32x4.mul(v128.load(x, 0), vid)));
  const q1 = roundf_i32x4((f32x4.mul(v128.load(x, 16), vid)));
  const q2 = roundf_i32x4((f32x4.mul(v128.load(x, 32), vid)));
  const q3 = roundf_i32x4((f32x4.mul(v128.load(x, 48), vid)));
  return i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(q0, q1), i16x8.narrow_i32x4_s(q2, q3));
}

// @ts-ignore: decorator
@inline function store_q8_block(y: usize, x: usize, vid: v128): void {
  v128.store(y + 2, q8x16(x, vid));
  v128.store(y + 18, q8x16(x + 64, vid));
}

/**
 * SIMD: 4 blocks per step — block maxima are reduced together so d, 1/d and the fp16 scale are
 * computed for 4 blocks in one vector; then 8 x f32x4 per block. Bit-identical to the _ref twin
 * (max is order-independent; each lane does ggml's f32 operations).
 */
export function quantize_row_q8_0(y: usize, x: usize, k: i32): void {
  const nb = k / QK8_0;
  let i = 0;
  // fused non-finite check (finite_flag.ts): the running max of the blocks' |x| bits, exact
  let nfm = i32x4.splat(0);
  for (; i + 4 <= nb; i += 4) {
    const amax = hmax4_bits(absmax8(x), absmax8(x + 128), absmax8(x + 256), absmax8(x + 384));
    nfm = i32x4.max_s(nfm, amax);
    const d = f32x4.div(amax, f32x4.splat(127));
    const id = v128.andnot(f32x4.div(f32x4.splat(1), d), f32x4.eq(d, f32x4.splat(0)));
    const h = fp32x4_to_fp16x4(d);
    store<u16>(y, <u16>i32x4.extract_lane(h, 0));
    store<u16>(y + BLOCK_Q8_0, <u16>i32x4.extract_lane(h, 1));
    store<u16>(y + 2 * BLOCK_Q8_0, <u16>i32x4.extract_lane(h, 2));
    store<u16>(y + 3 * BLOCK_Q8_0, <u16>i32x4.extract_lane(h, 3));
    store_q8_block(y, x, v128.shuffle<u32>(id, id, 0, 0, 0, 0));
    store_q8_block(y + BLOCK_Q8_0, x + 128, v128.shuffle<u32>(id, id, 1, 1, 1, 1));
    store_q8_block(y + 2 * BLOCK_Q8_0, x + 256, v128.shuffle<u32>(id, id, 2, 2, 2, 2));
    store_q8_block(y + 3 * BLOCK_Q8_0, x + 384, v128.shuffle<u32>(id, id, 3, 3, 3, 3));
    x += 4 * (QK8_0 << 2);
    y += 4 * BLOCK_Q8_0;
  }
  for (; i < nb; i++) {
    const am8 = absmax8(x);
    nfm = i32x4.max_s(nfm, am8);
    const amax = hmax_f32x4(am8);
    const d: f32 = amax / <f32>127;
    const id: f32 = d != 0 ? <f32>1 / d : 0;
    store<u16>(y, fp32_to_fp16(d));
    store_q8_block(y, x, f32x4.splat(id));
    x += QK8_0 << 2;
    y += BLOCK_Q8_0;
  }
  nf_note_bits(nfm);
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
  for (let r = 0; r < nrows; r++) nf_note_ref(x + ((<usize>r * <usize>n_per_row) << 2), n_per_row);
  quantize_row_q8_0_ref(y, x, nrows * n_per_row);
  return <usize>nrows * (n_per_row / QK8_0) * BLOCK_Q8_0;
}
