// q5_0: 32 values -> fp16 scale d + qh (32 fifth bits, u32 LE) + 16 bytes of low nibbles in
// layout A (22 bytes, 5.5 bpw).
// Reference path (ggml quantize_row_q5_0_ref): d = (value of largest magnitude, first on ties) / -16,
// code = min(31, (int8)(x * (1/d) + 16.5)) (offset and truncate, x86 float->int8 semantics).
// imatrix path (ggml quantize_row_q5_0_impl): weights imatrix * sqrt(sigma2 + x^2), sigma2 = mean
// square of the whole row, make_qx_quants(32, 16) search; codes are the search's codes.
// The algorithm is shared with q4_0 (block32_sym.ts, bits = 5; layout in inline/block32.ts).
import { quantize_row_sym32_ref_b5, quantize_row_sym32_b5, quantize_sym32, quantize_sym32_ref } from "./block32_sym";
import { dequantize_row_block32, dequantize_row_block32_ref } from "../inline/block32";

/** ggml quantize_row_q5_0_ref (scalar): k values (multiple of 32) -> k/32 blocks. */
export function quantize_row_q5_0_ref(y: usize, x: usize, k: i32): void {
  quantize_row_sym32_ref_b5(y, x, k);
}

/** SIMD twin of quantize_row_q5_0_ref. */
export function quantize_row_q5_0(y: usize, x: usize, k: i32): void {
  quantize_row_sym32_b5(y, x, k);
}

/** Chunk API (ggml quantize_q5_0), SIMD. imatrix: n_per_row f32 or 0. Returns bytes written. */
export function quantize_q5_0(y: usize, x: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  return quantize_sym32(y, x, nrows, n_per_row, imatrix, 5);
}

/** Chunk API, scalar twin of quantize_q5_0. */
export function quantize_q5_0_ref(y: usize, x: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  return quantize_sym32_ref(y, x, nrows, n_per_row, imatrix, 5);
}

/** ggml dequantize_row_q5_0, scalar: y = (q - 16) * d. */
export function dequantize_row_q5_0_ref(y: usize, x: usize, k: i32): void {
  dequantize_row_block32_ref(y, x, k, 5, false);
}

/** ggml dequantize_row_q5_0, SIMD. */
export function dequantize_row_q5_0(y: usize, x: usize, k: i32): void {
  dequantize_row_block32(y, x, k, 5, false);
}
