// q5_K: 256 values -> fp16 d, fp16 dmin, 8 x (6-bit scale, 6-bit min) in 12 bytes, 32 bytes of
// fifth bits, 128 bytes of nibbles (176 bytes, 5.5 bits per weight). Bit-identical with ggml
// quantize_row_q5_K_ref (imatrix = 0) and quantize_row_q5_K_impl (imatrix given).
// The kernels are shared with q4_K (k_asym.ts, bits = 5).
import { quantize_k_asym, dequantize_row_k_asym, dequantize_row_k_asym_ref } from "./k_asym";

/** Scalar reference (ggml quantize_q5_K chunk API, out first). imatrix: 0 or n_per_row f32. Returns bytes written. */
export function quantize_q5_K_ref(dst: usize, src: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  return quantize_k_asym(dst, src, nrows, n_per_row, imatrix, 5, false);
}

/** SIMD kernel: the 8 per-group scale searches run one group per lane (two v128 sets). Bit-identical to quantize_q5_K_ref. */
export function quantize_q5_K(dst: usize, src: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  return quantize_k_asym(dst, src, nrows, n_per_row, imatrix, 5, true);
}

/** Scalar dequantizer (ggml dequantize_row_q5_K): k values (multiple of 256) from k/256 blocks of 176 bytes, x = (d * sc) * q - dmin * m per 32-value group. */
export function dequantize_row_q5_K_ref(dst: usize, src: usize, k: i32): void {
  dequantize_row_k_asym_ref(dst, src, k, 5);
}

/** SIMD dequantizer, bit-identical to dequantize_row_q5_K_ref (k values, multiple of 256). */
export function dequantize_row_q5_K(dst: usize, src: usize, k: i32): void {
  dequantize_row_k_asym(dst, src, k, 5);
}
