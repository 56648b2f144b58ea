// q5_1: 32 values -> fp16 d, fp16 m (minimum), u32 of fifth bits, 16 bytes of nibbles (24 bytes,
// 6 bits per weight).
// imatrix = 0: ggml quantize_row_q5_1_ref (d = (max - min)/31, q = (u8)trunc((x - min)/d + 0.5)).
// imatrix given: ggml quantize_row_q5_1_impl (make_qkx3_quants, weights from the whole-row sigma2).
// The algorithm is shared with q4_1 (block32_asym.ts, bits = 5; layout in inline/block32.ts).
import { quantize_asym32 } from "./block32_asym";
import { dequantize_row_block32, dequantize_row_block32_ref } from "../inline/block32";

/** Scalar reference (ggml quantize_q5_1 chunk API, out first). imatrix: 0 or n_per_row f32. Returns bytes written. */
export function quantize_q5_1_ref(dst: usize, src: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  return quantize_asym32(dst, src, nrows, n_per_row, imatrix, 5, false);
}

/** SIMD kernel, bit-identical to quantize_q5_1_ref. */
export function quantize_q5_1(dst: usize, src: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  return quantize_asym32(dst, src, nrows, n_per_row, imatrix, 5, true);
}

/** Scalar dequantizer (ggml dequantize_row_q5_1): k values (multiple of 32) from k/32 blocks of 24 bytes, x = q * d + m, q = 5-bit code. */
export function dequantize_row_q5_1_ref(dst: usize, src: usize, k: i32): void {
  dequantize_row_block32_ref(dst, src, k, 5, true);
}

/** SIMD dequantizer, bit-identical to dequantize_row_q5_1_ref (k values, multiple of 32). */
export function dequantize_row_q5_1(dst: usize, src: usize, k: i32): void {
  dequantize_row_block32(dst, src, k, 5, true);
}
