// q4_K: 256 values -> fp16 d, fp16 dmin, 8 x (6-bit scale, 6-bit min) in 12 bytes, 128 bytes of
// nibbles (144 bytes, 4.5 bits per weight). Bit-identical with ggml quantize_row_q4_K_ref
// (imatrix = 0) and quantize_row_q4_K_impl (imatrix given).
import { fp16_to_fp32 } from "../inline/f16";
import { get_scale_k4, get_min_k4, qk8_ref_superblock, qk8_impl_superblock } from "./common_asym";
import { qk8_ref_superblock_x4, qk8_impl_superblock_x4 } from "./common_asym_simd";

// @ts-ignore: decorator
@inline const QK_K: i32 = 256;
// @ts-ignore: decorator
@inline const BLOCK_Q4_K: usize = 144;

const L_BUF = memory.data(256, 16);
const SCRATCH = memory.data(512, 16);

// @ts-ignore: decorator
@inline function pack_q4_K(y: usize, L: usize): void {
  for (let j = 0; j < 4; j++) {
    const q = y + 16 + (<usize>j << 5);
    const Lj = L + (<usize>j << 6);
    for (let l = 0; l < 32; l++) store<u8>(q + l, load<u8>(Lj + l) | (load<u8>(Lj + l + 32) << 4));
  }
}

function quantize_rows_q4_K_ref(y: usize, x: usize, nrows: i32, n_per_row: i32, qw: usize): void {
  const nb = n_per_row / QK_K;
  for (let r = 0; r < nrows; r++) {
    for (let i = 0; i < nb; i++) {
      if (qw) qk8_impl_superblock(y, x, qw + (<usize>i << 10), L_BUF, SCRATCH, 15, false);
      else qk8_ref_superblock(y, x, L_BUF, SCRATCH, 15, <f32>-1.0, 20);
      pack_q4_K(y, L_BUF);
      x += QK_K << 2;
      y += BLOCK_Q4_K;
    }
  }
}

/** Scalar reference (ggml quantize_q4_K chunk API, out first). imatrix: 0 or n_per_row f32. Returns bytes written. */
export function quantize_q4_K_ref(dst: usize, src: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  quantize_rows_q4_K_ref(dst, src, nrows, n_per_row, imatrix);
  return <usize>nrows * <usize>(n_per_row / QK_K) * BLOCK_Q4_K;
}

/** SIMD kernel: the 8 per-group scale searches run one group per lane (two v128 sets). Bit-identical to quantize_q4_K_ref. */
export function quantize_q4_K(dst: usize, src: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  const nb = n_per_row / QK_K;
  let x = src, y = dst;
  for (let r = 0; r < nrows; r++) {
    for (let i = 0; i < nb; i++) {
      if (imatrix) qk8_impl_superblock_x4(y, x, imatrix + (<usize>i << 10), L_BUF, SCRATCH, 15, false);
      else qk8_ref_superblock_x4(y, x, L_BUF, SCRATCH, 15, <f32>-1.0, 20);
      pack_q4_K(y, L_BUF);
      x += QK_K << 2;
      y += BLOCK_Q4_K;
    }
  }
  return <usize>nrows * <usize>nb * BLOCK_Q4_K;
}

/** Scalar dequantizer (ggml dequantize_row_q4_K): k values (multiple of 256) from k/256 blocks of 144 bytes, x = (d * sc) * q - dmin * m per 32-value group. */
export function dequantize_row_q4_K_ref(dst: usize, src: usize, k: i32): void {
  const nb = k / QK_K;
  let y = dst, x = src;
  for (let i = 0; i < nb; i++) {
    const d = fp16_to_fp32(load<u16>(x));
    const mn = fp16_to_fp32(load<u16>(x, 2));
    for (let j = 0; j < 4; j++) {
      const is = j << 1;
      const d1: f32 = d * <f32>get_scale_k4(is, x + 4), m1: f32 = mn * <f32>get_min_k4(is, x + 4);
      const d2: f32 = d * <f32>get_scale_k4(is + 1, x + 4), m2: f32 = mn * <f32>get_min_k4(is + 1, x + 4);
      const q = x + 16 + (<usize>j << 5);
      for (let l = 0; l < 32; l++) store<f32>(y + (<usize>l << 2), d1 * <f32>(load<u8>(q + l) & 0xF) - m1);
      for (let l = 0; l < 32; l++) store<f32>(y + 128 + (<usize>l << 2), d2 * <f32>(load<u8>(q + l) >> 4) - m2);
      y += 256;
    }
    x += BLOCK_Q4_K;
  }
}

/** SIMD dequantizer, bit-identical to dequantize_row_q4_K_ref (k values, multiple of 256). */
export function dequantize_row_q4_K(dst: usize, src: usize, k: i32): void {
  const nb = k / QK_K;
  let y = dst, x = src;
  const m4 = i8x16.splat(0xF);
  for (let i = 0; i < nb; i++) {
    const d = fp16_to_fp32(load<u16>(x));
    const mn = fp16_to_fp32(load<u16>(x, 2));
    for (let j = 0; j < 4; j++) {
      const is = j << 1;
      const d1 = f32x4.splat(d * <f32>get_scale_k4(is, x + 4)), m1 = f32x4.splat(mn * <f32>get_min_k4(is, x + 4));
      const d2 = f32x4.splat(d * <f32>get_scale_k4(is + 1, x + 4)), m2 = f32x4.splat(mn * <f32>get_min_k4(is + 1, x + 4));
      const q = x + 16 + (<usize>j << 5);
      for (let h: usize = 0; h < 2; h++) {
        const b = v128.load(q + (h << 4));
        const lo = v128.and(b, m4), hi = i8x16.shr_u(b, 4);
        const lo16a = i16x8.extend_low_i8x16_u(lo), lo16b = i16x8.extend_high_i8x16_u(lo);
        const hi16a = i16x8.extend_low_i8x16_u(hi), hi16b = i16x8.extend_high_i8x16_u(hi);
        const o = y + (h << 6);
        v128.store(o, f32x4.sub(f32x4.mul(d1, f32x4.convert_i32x4_u(i32x4.extend_low_i16x8_u(lo16a))), m1), 0);
        v128.store(o, f32x4.sub(f32x4.mul(d1, f32x4.convert_i32x4_u(i32x4.extend_high_i16x8_u(lo16a))), m1), 16);
        v128.store(o, f32x4.sub(f32x4.mul(d1, f32x4.convert_i32x4_u(i32x4.extend_low_i16x8_u(lo16b))), m1), 32);
        v128.store(o, f32x4.sub(f32x4.mul(d1, f32x4.convert_i32x4_u(i32x4.extend_high_i16x8_u(lo16b))), m1), 48);
        v128.store(o, f32x4.sub(f32x4.mul(d2, f32x4.convert_i32x4_u(i32x4.extend_low_i16x8_u(hi16a))), m2), 128);
        v128.store(o, f32x4.sub(f32x4.mul(d2, f32x4.convert_i32x4_u(i32x4.extend_high_i16x8_u(hi16a))), m2), 144);
        v128.store(o, f32x4.sub(f32x4.mul(d2, f32x4.convert_i32x4_u(i32x4.extend_low_i16x8_u(hi16b))), m2), 160);
        v128.store(o, f32x4.sub(f32x4.mul(d2, f32x4.convert_i32x4_u(i32x4.extend_high_i16x8_u(hi16b))), m2), 176);
      }
      y += 256;
    }
    x += BLOCK_Q4_K;
  }
}
