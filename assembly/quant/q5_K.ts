// q5_K: 256 values -> fp16 d, fp16 dmin, 8 x (6-bit scale, 6-bit min) in 12 bytes, 32 bytes of
// fifth bits, 128 bytes of nibbles (176 bytes, 5.5 bits per weight). Bit-identical with ggml
// quantize_row_q5_K_ref (imatrix = 0) and quantize_row_q5_K_impl (imatrix given).
import { fp16_to_fp32 } from "../inline/f16";
import { get_scale_k4, get_min_k4, qk8_ref_superblock, qk8_impl_superblock } from "./common_asym";
import { qk8_ref_superblock_x4, qk8_impl_superblock_x4 } from "./common_asym_simd";

// @ts-ignore: decorator
@inline const QK_K: i32 = 256;
// @ts-ignore: decorator
@inline const BLOCK_Q5_K: usize = 176;

const L_BUF = memory.data(256, 16);
const SCRATCH = memory.data(512, 16);

// @ts-ignore: decorator
@inline function pack_q5_K(y: usize, L: usize): void {
  const qh = y + 16;
  let ql = y + 48;
  memory.fill(qh, 0, 32);
  let m1: u32 = 1, m2: u32 = 2;
  for (let n = 0; n < 256; n += 64) {
    for (let j = 0; j < 32; j++) {
      let l1 = <u32>load<u8>(L + n + j);
      if (l1 > 15) { l1 -= 16; store<u8>(qh + j, <u32>load<u8>(qh + j) | m1); }
      let l2 = <u32>load<u8>(L + n + j + 32);
      if (l2 > 15) { l2 -= 16; store<u8>(qh + j, <u32>load<u8>(qh + j) | m2); }
      store<u8>(ql + j, <u8>(l1 | (l2 << 4)));
    }
    m1 <<= 2; m2 <<= 2;
    ql += 32;
  }
}

/** Scalar reference (ggml quantize_q5_K chunk API, out first). imatrix: 0 or n_per_row f32. Returns bytes written. */
export function quantize_q5_K_ref(dst: usize, src: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  const nb = n_per_row / QK_K;
  let x = src, y = dst;
  for (let r = 0; r < nrows; r++) {
    for (let i = 0; i < nb; i++) {
      if (imatrix) qk8_impl_superblock(y, x, imatrix + (<usize>i << 10), L_BUF, SCRATCH, 31, true);
      else qk8_ref_superblock(y, x, L_BUF, SCRATCH, 31, <f32>-0.5, 15);
      pack_q5_K(y, L_BUF);
      x += QK_K << 2;
      y += BLOCK_Q5_K;
    }
  }
  return <usize>nrows * <usize>nb * BLOCK_Q5_K;
}

/** SIMD kernel: the 8 per-group scale searches run one group per lane (two v128 sets). Bit-identical to quantize_q5_K_ref. */
export function quantize_q5_K(dst: usize, src: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  const nb = n_per_row / QK_K;
  let x = src, y = dst;
  for (let r = 0; r < nrows; r++) {
    for (let i = 0; i < nb; i++) {
      if (imatrix) qk8_impl_superblock_x4(y, x, imatrix + (<usize>i << 10), L_BUF, SCRATCH, 31, true);
      else qk8_ref_superblock_x4(y, x, L_BUF, SCRATCH, 31, <f32>-0.5, 15);
      pack_q5_K(y, L_BUF);
      x += QK_K << 2;
      y += BLOCK_Q5_K;
    }
  }
  return <usize>nrows * <usize>nb * BLOCK_Q5_K;
}

/** Scalar dequantizer (ggml dequantize_row_q5_K): k values (multiple of 256) from k/256 blocks of 176 bytes, x = (d * sc) * q - dmin * m per 32-value group. */
export function dequantize_row_q5_K_ref(dst: usize, src: usize, k: i32): void {
  const nb = k / QK_K;
  let y = dst, x = src;
  for (let i = 0; i < nb; i++) {
    const d = fp16_to_fp32(load<u16>(x));
    const mn = fp16_to_fp32(load<u16>(x, 2));
    const qh = x + 16;
    let u1: u32 = 1, u2: u32 = 2;
    for (let j = 0; j < 4; j++) {
      const is = j << 1;
      const d1: f32 = d * <f32>get_scale_k4(is, x + 4), m1: f32 = mn * <f32>get_min_k4(is, x + 4);
      const d2: f32 = d * <f32>get_scale_k4(is + 1, x + 4), m2: f32 = mn * <f32>get_min_k4(is + 1, x + 4);
      const ql = x + 48 + (<usize>j << 5);
      for (let l = 0; l < 32; l++) {
        const h = (<u32>load<u8>(qh + l) & u1) ? 16 : 0;
        store<f32>(y + (<usize>l << 2), d1 * <f32>((<u32>load<u8>(ql + l) & 0xF) + h) - m1);
      }
      for (let l = 0; l < 32; l++) {
        const h = (<u32>load<u8>(qh + l) & u2) ? 16 : 0;
        store<f32>(y + 128 + (<usize>l << 2), d2 * <f32>((<u32>load<u8>(ql + l) >> 4) + h) - m2);
      }
      u1 <<= 2; u2 <<= 2;
      y += 256;
    }
    x += BLOCK_Q5_K;
  }
}

/** SIMD dequantizer, bit-identical to dequantize_row_q5_K_ref (k values, multiple of 256). */
export function dequantize_row_q5_K(dst: usize, src: usize, k: i32): void {
  const nb = k / QK_K;
  let y = dst, x = src;
  const m4 = i8x16.splat(0xF);
  const sixteen = i8x16.splat(16);
  for (let i = 0; i < nb; i++) {
    const d = fp16_to_fp32(load<u16>(x));
    const mn = fp16_to_fp32(load<u16>(x, 2));
    const qh = x + 16;
    for (let j = 0; j < 4; j++) {
      const is = j << 1;
      const d1 = f32x4.splat(d * <f32>get_scale_k4(is, x + 4)), m1 = f32x4.splat(mn * <f32>get_min_k4(is, x + 4));
      const d2 = f32x4.splat(d * <f32>get_scale_k4(is + 1, x + 4)), m2 = f32x4.splat(mn * <f32>get_min_k4(is + 1, x + 4));
      const ql = x + 48 + (<usize>j << 5);
      const b1: i32 = 1 << (j << 1), b2: i32 = 2 << (j << 1);
      const bit1 = i8x16.splat(<i8>b1), bit2 = i8x16.splat(<i8>b2);
      for (let h: usize = 0; h < 2; h++) {
        const b = v128.load(ql + (h << 4));
        const hb = v128.load(qh + (h << 4));
        const h1 = v128.and(i8x16.ne(v128.and(hb, bit1), i8x16.splat(0)), sixteen);
        const h2 = v128.and(i8x16.ne(v128.and(hb, bit2), i8x16.splat(0)), sixteen);
        const lo = v128.or(v128.and(b, m4), h1), hi = v128.or(i8x16.shr_u(b, 4), h2);
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
    x += BLOCK_Q5_K;
  }
}
