// The q4_K / q5_K kernels (256 values -> fp16 d, fp16 dmin, 8 x (6-bit scale, 6-bit min) in 12 bytes,
// then codes; see q4_K.ts and q5_K.ts, which hold the exported kernels), written once for both
// widths: the super-block loops, the code packing and the dequantizers. The scale searches are
// common_asym.ts (scalar) and common_asym_simd.ts (one group per lane).
// q4_K: 128 bytes of nibbles @16 (144 bytes); q5_K: 32 bytes of fifth bits @16, 128 bytes of
// nibbles @48 (176 bytes). Every function is @inline with a compile-time constant `bits` (4 or 5).
import { fp16_to_fp32 } from "../inline/f16";
import { get_scale_k4, get_min_k4, qk8_ref_superblock, qk8_impl_superblock } from "./common_asym";
import { qk8_ref_superblock_x4, qk8_impl_superblock_x4 } from "./common_asym_simd";

// @ts-ignore: decorator
@inline const QK_K: i32 = 256;

const L_BUF = memory.data(256, 16);
const SCRATCH = memory.data(512, 16);

/** Bytes of one super-block: q4_K 144, q5_K 176. */
// @ts-ignore: decorator
@inline export function block_k_bytes(bits: i32): usize {
  return bits == 4 ? 144 : 176;
}

/** Offset of the nibbles (after d, dmin, scales and, for q5_K, the 32 bytes of fifth bits). */
// @ts-ignore: decorator
@inline function qs_k(bits: i32): usize {
  return bits == 4 ? 16 : 48;
}

/** The 256 codes L (u8, 0..nmax) -> nibbles (and fifth bits), as ggml packs them. */
// @ts-ignore: decorator
@inline function pack_k(y: usize, L: usize, bits: i32, simd: bool): void {
  if (simd) {
    if (bits == 4) {
      for (let j: usize = 0; j < 4; j++) {
        const q = y + 16 + (j << 5), Lj = L + (j << 6);
        v128.store(q, v128.or(v128.load(Lj), i8x16.shl(v128.load(Lj, 32), 4)));
        v128.store(q, v128.or(v128.load(Lj, 16), i8x16.shl(v128.load(Lj, 48), 4)), 16);
      }
      return;
    }
    // codes 0..31: bit 4 of the n-th 64-block's first / second half -> qh bits 2n / 2n+1
    const m4 = i8x16.splat(15), one = i8x16.splat(1);
    for (let h: usize = 0; h < 32; h += 16) {
      let qh = i8x16.splat(0);
      for (let n: usize = 0; n < 4; n++) {
        const a = v128.load(L + (n << 6) + h), b = v128.load(L + (n << 6) + h, 32);
        v128.store(y + 48 + (n << 5) + h, v128.or(v128.and(a, m4), i8x16.shl(v128.and(b, m4), 4)));
        qh = v128.or(qh, v128.or(i8x16.shl(v128.and(i8x16.shr_u(a, 4), one), <i32>(2 * n)),
          i8x16.shl(v128.and(i8x16.shr_u(b, 4), one), <i32>(2 * n + 1))));
      }
      v128.store(y + 16 + h, qh);
    }
    return;
  }
  if (bits == 4) {
    for (let j = 0; j < 4; j++) {
      const q = y + 16 + (<usize>j << 5);
      const Lj = L + (<usize>j << 6);
      for (let l = 0; l < 32; l++) store<u8>(q + l, load<u8>(Lj + l) | (load<u8>(Lj + l + 32) << 4));
    }
    return;
  }
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

/**
 * ggml quantize_q4_K / q5_K chunk API, scalar (simd = false: quantize_row_q*_K_ref / _impl) or with
 * the 8 per-group scale searches one group per lane (simd = true, bit-identical). imatrix: 0 or
 * n_per_row f32. Returns bytes written.
 */
// @ts-ignore: decorator
@inline export function quantize_k_asym(dst: usize, src: usize, nrows: i32, n_per_row: i32, imatrix: usize, bits: i32, simd: bool): usize {
  const nb = n_per_row / QK_K;
  // ggml: q4_K nmax 15, rmin -1, nstep 20; q5_K nmax 31, rmin -0.5, nstep 15 and (imatrix) scales clamped to 63
  const nmax = bits == 4 ? 15 : 31, rmin: f32 = bits == 4 ? -1.0 : -0.5, nstep = bits == 4 ? 20 : 15, clamp63 = bits == 5;
  let x = src, y = dst;
  for (let r = 0; r < nrows; r++) {
    for (let i = 0; i < nb; i++) {
      const qw = imatrix + (<usize>i << 10);
      if (simd) {
        if (imatrix) qk8_impl_superblock_x4(y, x, qw, L_BUF, SCRATCH, nmax, clamp63);
        else qk8_ref_superblock_x4(y, x, L_BUF, SCRATCH, nmax, rmin, nstep);
      } else {
        if (imatrix) qk8_impl_superblock(y, x, qw, L_BUF, SCRATCH, nmax, clamp63);
        else qk8_ref_superblock(y, x, L_BUF, SCRATCH, nmax, rmin, nstep);
      }
      pack_k(y, L_BUF, bits, simd);
      x += QK_K << 2;
      y += block_k_bytes(bits);
    }
  }
  return <usize>nrows * <usize>nb * block_k_bytes(bits);
}

/** Scalar dequantizer (ggml dequantize_row_q4_K / q5_K): k values (multiple of 256), x = (d * sc) * q - dmin * m per 32-value group. */
// @ts-ignore: decorator
@inline export function dequantize_row_k_asym_ref(dst: usize, src: usize, k: i32, bits: i32): void {
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
      const q = x + qs_k(bits) + (<usize>j << 5);
      // codes 0..31: the signed i32 -> f32 conversion is exact (and one x86 instruction)
      for (let l = 0; l < 32; l++) {
        let c = <u32>load<u8>(q + l) & 0xF;
        if (bits == 5) c += (<u32>load<u8>(qh + l) & u1) ? 16 : 0;
        store<f32>(y + (<usize>l << 2), d1 * <f32><i32>c - m1);
      }
      for (let l = 0; l < 32; l++) {
        let c = <u32>load<u8>(q + l) >> 4;
        if (bits == 5) c += (<u32>load<u8>(qh + l) & u2) ? 16 : 0;
        store<f32>(y + 128 + (<usize>l << 2), d2 * <f32><i32>c - m2);
      }
      if (bits == 5) { u1 <<= 2; u2 <<= 2; }
      y += 256;
    }
    x += block_k_bytes(bits);
  }
}

/** SIMD dequantizer, bit-identical to dequantize_row_k_asym_ref (k values, multiple of 256). */
// @ts-ignore: decorator
@inline export function dequantize_row_k_asym(dst: usize, src: usize, k: i32, bits: i32): void {
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
      const q = x + qs_k(bits) + (<usize>j << 5);
      const b1: i32 = 1 << (j << 1), b2: i32 = 2 << (j << 1);
      const bit1 = i8x16.splat(<i8>b1), bit2 = i8x16.splat(<i8>b2);
      for (let h: usize = 0; h < 2; h++) {
        const b = v128.load(q + (h << 4));
        let lo = v128.and(b, m4), hi = i8x16.shr_u(b, 4);
        if (bits == 5) {
          const hb = v128.load(qh + (h << 4));
          lo = v128.or(lo, v128.and(i8x16.ne(v128.and(hb, bit1), i8x16.splat(0)), sixteen));
          hi = v128.or(hi, v128.and(i8x16.ne(v128.and(hb, bit2), i8x16.splat(0)), sixteen));
        }
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
    x += block_k_bytes(bits);
  }
}
