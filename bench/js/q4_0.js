// Plain-JavaScript port of ggml's q4_0 quantizer (quantize_q4_0: quantize_row_q4_0_ref without an
// imatrix, quantize_row_q4_0_impl with one). Benchmark baseline; same bytes as llama.cpp.
// Written once with q5_0 (block32.js, bits = 4).
import { quantize_sym32 } from "./block32.js";

/** x: Float32Array (nrows * n_per_row), imatrix: Float32Array(n_per_row) | null -> Uint8Array. */
export const quantize_q4_0 = (x, nrows, n_per_row, imatrix) => quantize_sym32(x, nrows, n_per_row, imatrix, 4);
