// Plain-JS baseline: ggml quantize_q4_1 (quantize_row_q4_1_ref without imatrix, quantize_row_q4_1_impl with).
// Written once with q5_1 (block32.js, bits = 4).
import { quantize_asym32 } from "./block32.js";

/** x: Float32Array (nrows * n_per_row, n_per_row % 32 == 0), imatrix: Float32Array(n_per_row) | null -> q4_1 bytes (20 / 32 values). */
export const quantize_q4_1 = (x, nrows, n_per_row, imatrix = null) => quantize_asym32(x, nrows, n_per_row, imatrix, 4);
