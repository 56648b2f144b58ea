// Plain-JavaScript port of ggml's q5_0 quantizer (quantize_q5_0: quantize_row_q5_0_ref without an
// imatrix, quantize_row_q5_0_impl with one). Benchmark baseline; same bytes as llama.cpp.
// Written once with q4_0 (block32.js, bits = 5).
import { quantize_sym32 } from "./block32.js";

/** x: Float32Array (nrows * n_per_row), imatrix: Float32Array(n_per_row) | null -> Uint8Array. */
export const quantize_q5_0 = (x, nrows, n_per_row, imatrix) => quantize_sym32(x, nrows, n_per_row, imatrix, 5);
