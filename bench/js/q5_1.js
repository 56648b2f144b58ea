// Plain-JS baseline: ggml quantize_q5_1 (quantize_row_q5_1_ref without imatrix, quantize_row_q5_1_impl with).
// Written once with q4_1 (block32.js, bits = 5).
import { quantize_asym32 } from "./block32.js";

/** x: Float32Array (nrows * n_per_row, n_per_row % 32 == 0), imatrix: Float32Array(n_per_row) | null -> q5_1 bytes (24 / 32 values). */
export const quantize_q5_1 = (x, nrows, n_per_row, imatrix = null) => quantize_asym32(x, nrows, n_per_row, imatrix, 5);
