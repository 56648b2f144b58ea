// The public option and result types of the Engine (engine.ts re-exports them).
import type { QuantTypeName } from "../quant/types";
import type { WasmTensor } from "./tensor";

/** Options shared by quantize and dequantize. */
export interface QuantizeOptions {
  /** ggml type name, case-insensitive: "q8_0", "q4_K", "f16", ... */
  type: QuantTypeName;
  /** Number of rows (ggml ne[1] * ne[2] * ...). */
  rows: number;
  /** Values per row (ggml ne[0]); a multiple of the type's block size. */
  cols: number;
  /** Per-column importance (length `cols`, finite, >= 0), used exactly as llama.cpp uses it. */
  imatrix?: Float32Array | null;
  /** "simd" (default) or "ref": the scalar twin kernel (same bytes, slower; for testing). */
  kernel?: "simd" | "ref";
  /** Tensor name, used in error messages. */
  name?: string;
  /**
   * "chunk" (default): ggml_quantize_chunk, what llama-quantize writes. "ref": ggml's
   * quantize_row_<type>_ref row function; it differs only for iq4_nl (no scale search), and ignores imatrix.
   */
  algorithm?: "chunk" | "ref";
  /**
   * Which llama.cpp's iq1_m split search to follow (only iq1_m differs; every other type writes the
   * same bytes in both). "de3ff81" (default): llama.cpp de3ff81, the libllama node-llama-cpp ships,
   * whose `llama_model_quantize` the whole-file comparisons (test/61, 62) match; it scores a split
   * from per-half prefix sums. "d3cf1f14": ggml d99724f2 = llama.cpp d3cf1f14, which re-adds the sums
   * per split (2.8x the CPU time of the default); the bytes of ../shared/vectors/ggml-iq. The two pick a different
   * split on 5 of those 66 iq1_m cases. Anything else: E_RANGE.
   */
  iq1mSearch?: "de3ff81" | "d3cf1f14";
  /**
   * Let NaN/Inf through unchanged (default false). By default every output type refuses non-finite
   * input with E_NONFINITE naming row and column, as llama-quantize does (it validates every tensor's
   * data). Only for "f32", "f16" and "bf16" (which can encode NaN/Inf); E_RANGE for block types.
   */
  allowNonFinite?: boolean;
  /**
   * `quantize` only: where the output goes instead of a fresh array. A Uint8Array of at least
   * rows * cols / blockSize * bytesPerBlock bytes (the blocks are copied into it once, chunk by chunk),
   * or a WasmTensor of at least that many bytes (4 per value; `engine.tensor(Math.ceil(bytes / 4))`):
   * the kernel then writes its blocks straight into wasm memory — with a WasmTensor input too, that
   * is one kernel call and no copy at all. The return value is then a view of the first bytes of `out`
   * (for a WasmTensor: of wasm memory, valid until the memory grows or the tensor is disposed).
   * A Uint8Array that is itself a view of this engine's wasm memory is written in place like a
   * WasmTensor (it must lie in memory you allocated); so is an input Float32Array view of it (`t.f32`).
   * Too small: E_RANGE; not one of those: E_ARG_TYPE; it must not be the input tensor (E_RANGE).
   * On an error (E_NONFINITE...), the contents of `out` are unspecified.
   */
  out?: Uint8Array | WasmTensor;
}
export type DequantizeOptions = Omit<QuantizeOptions, "imatrix" | "out">;

/** Reconstruction error of `b` against reference `a`. */
export interface ErrorStats {
  /** Mean squared error. */
  mse: number;
  /** Signal-to-quantization-noise ratio in dB: 10 log10(sum a^2 / sum (a-b)^2); Infinity when exact. */
  sqnrDb: number;
  /** Largest |a - b|. */
  maxAbs: number;
  /** Cosine similarity of a and b (1 when both are zero). */
  cosine: number;
}

/** @internal Output of one pipeline unit: its bytes (null when a pool worker wrote them into the output file) and the f64 error sums. */
export interface UnitResult { bytes: Uint8Array | null; se: number; sa: number }
