// tq2_0 (ternary, 2 bits per trit): 256 values -> 64 bytes of 2-bit codes + fp16 d (66 bytes,
// 2.0625 bits per weight). ggml quantize_row_tq2_0_ref: d = max|x| over the 256-block,
// id = 1/d (0 if d == 0), code = lroundf(x * id) + 1 (round half away from zero; -1,0,1 -> 0,1,2).
// Byte m of 32-byte chunk c holds element 128c + 32n + m in bits 2n, 2n+1 (n = 0..3).
// Non-finite x * id (d = max|x| < 2^-128: 1/d = inf, stored d is fp16 0) gives code 1, as x86 ggml
// (lroundf -> LONG_MIN, + 1, truncated to int). Value = (code - 1) * d. imatrix accepted and ignored, as in ggml.
import { fp32_to_fp16, fp16_to_fp32 } from "../inline/f16";
import { absmax256_ref, absmax256, ternary_code, ternary_codes4 } from "../inline/ternary";

// @ts-ignore: decorator
@inline const QK_K: i32 = 256;
// @ts-ignore: decorator
@inline const BLOCK_TQ2_0: usize = 66;

export function quantize_row_tq2_0_ref(y: usize, x: usize, k: i32): void {
  const nb = k / QK_K;
  for (let i = 0; i < nb; i++) {
    const d = absmax256_ref(x);
    const id: f32 = d != 0 ? <f32>1 / d : 0;
    store<u16>(y + 64, fp32_to_fp16(d));
    for (let j = 0; j < 64; j += 32) {
      for (let m = 0; m < 32; m++) {
        let q: u32 = 0;
        for (let n = 0; n < 4; n++) q += (ternary_code(x + (<usize>(m + n * 32) << 2), id) & 3) << (2 * n);
        store<u8>(y + j + m, <u8>q);
      }
      x += 4 * 32 * 4;
    }
    y += BLOCK_TQ2_0;
  }
}

export function quantize_row_tq2_0(y: usize, x: usize, k: i32): void {
  const nb = k / QK_K;
  for (let i = 0; i < nb; i++) {
    const d = absmax256(x);
    const id: f32 = d != 0 ? <f32>1 / d : 0;
    store<u16>(y + 64, fp32_to_fp16(d));
    const vid = f32x4.splat(id);
    const three = i32x4.splat(3);
    for (let c: usize = 0; c < 2; c++) {
      const xc = x + c * 512;
      for (let g: usize = 0; g < 32; g += 16) {
        // 16 bytes m = g..g+15, as 4 x i32x4
        let r0 = i32x4.splat(0), r1 = r0, r2 = r0, r3 = r0;
        for (let n: u32 = 0; n < 4; n++) {
          const p = xc + ((<usize>n * 32 + g) << 2);
          r0 = v128.or(r0, i32x4.shl(v128.and(ternary_codes4(p, vid), three), 2 * n));
          r1 = v128.or(r1, i32x4.shl(v128.and(ternary_codes4(p + 16, vid), three), 2 * n));
          r2 = v128.or(r2, i32x4.shl(v128.and(ternary_codes4(p + 32, vid), three), 2 * n));
          r3 = v128.or(r3, i32x4.shl(v128.and(ternary_codes4(p + 48, vid), three), 2 * n));
        }
        v128.store(y + c * 32 + g, i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_u(r0, r1), i16x8.narrow_i32x4_u(r2, r3)));
      }
    }
    x += <usize>QK_K << 2;
    y += BLOCK_TQ2_0;
  }
}

export function dequantize_row_tq2_0_ref(y: usize, x: usize, k: i32): void {
  const nb = k / QK_K;
  for (let i = 0; i < nb; i++) {
    const d = fp16_to_fp32(load<u16>(x + 64));
    for (let j = 0; j < 64; j += 32) {
      for (let l = 0; l < 4; l++) {
        for (let m = 0; m < 32; m++) {
          const q = (<i32>(load<u8>(x + j + m) >> (<u8>(l * 2)))) & 3;
          store<f32>(y, <f32>(q - 1) * d);
          y += 4;
        }
      }
    }
    x += BLOCK_TQ2_0;
  }
}

export function dequantize_row_tq2_0(y: usize, x: usize, k: i32): void {
  const nb = k / QK_K;
  for (let i = 0; i < nb; i++) {
    const vd = f32x4.splat(fp16_to_fp32(load<u16>(x + 64)));
    for (let j: usize = 0; j < 64; j += 16) {
      // 16 bytes at x + j: byte m (0..15) of chunk c = j / 32, offset g = j % 32
      const q = v128.load(x + j);
      const c = j >> 5, g = j & 31;
      for (let l: u32 = 0; l < 4; l++) {
        const b = v128.and(i8x16.shr_u(q, 2 * l), i8x16.splat(3));
        const w0 = i16x8.sub(i16x8.extend_low_i8x16_u(b), i16x8.splat(1));
        const w1 = i16x8.sub(i16x8.extend_high_i8x16_u(b), i16x8.splat(1));
        const o = y + ((c * 128 + <usize>l * 32 + g) << 2);
        v128.store(o, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(w0)), vd));
        v128.store(o, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(w0)), vd), 16);
        v128.store(o, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(w1)), vd), 32);
        v128.store(o, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(w1)), vd), 48);
      }
    }
    x += BLOCK_TQ2_0;
    y += <usize>QK_K << 2;
  }
}

/** Chunk API (ggml quantize_tq2_0): imatrix accepted and ignored. Returns bytes written. */
export function quantize_tq2_0(y: usize, x: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  quantize_row_tq2_0(y, x, nrows * n_per_row);
  return <usize>nrows * (n_per_row / QK_K) * BLOCK_TQ2_0;
}
export function quantize_tq2_0_ref(y: usize, x: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  quantize_row_tq2_0_ref(y, x, nrows * n_per_row);
  return <usize>nrows * (n_per_row / QK_K) * BLOCK_TQ2_0;
}
