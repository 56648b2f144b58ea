// q4_1: 32 values -> fp16 d, fp16 m (minimum), 16 bytes of nibbles (20 bytes, 5 bits per weight).
// imatrix = 0: ggml quantize_row_q4_1_ref (d = (max - min)/15, q = min(15, trunc((x - min)/d + 0.5))).
// imatrix given: ggml quantize_row_q4_1_impl (make_qkx3_quants, weights from the whole-row sigma2).
// The algorithm is shared with q5_1 (block32_asym.ts, bits = 4; layout in inline/block32.ts).
import { quantize_asym32 } from "./block32_asym";
import { dequantize_row_block32, dequantize_row_block32_ref } from "../inline/block32";

/** Scalar reference (ggml quantize_q4_1 chunk API, out first). imatrix: 0 or n_per_row f32. Returns bytes written. */
export function quantize_q4_1_ref(dst: usize, src: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  return quantize_asym32(dst, src, nrows, n_per_row, imatrix, 4, false);
}

/** SIMD kernel, bit-identical to quantize_q4_1_ref. */
export function quantize_q4_1(dst: usize, src: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  return quantize_asym32(dst, src, nrows, n_per_row, imatrix, 4, true);
}

/** Scalar dequantizer (ggml dequantize_row_q4_1): k values (multiple of 32) from k/32 blocks of 20 bytes, x = q * d + m, q = 4-bit code. */
export function dequantize_row_q4_1_ref(dst: usize, src: usize, k: i32): void {
  dequantize_row_block32_ref(dst, src, k, 4, true);
}

/** SIMD dequantizer, bit-identical to dequantize_row_q4_1_ref (k values, multiple of 32). */
export function dequantize_row_q4_1(dst: usize, src: usize, k: i32): void {
  dequantize_row_block32(dst, src, k, 4, true);
}
