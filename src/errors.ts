/**
 * Every error tensorshrink throws on purpose is a `TensorshrinkError` with a stable `code`.
 * Messages say what was wrong and where (tensor name, row/column, byte offset).
 */

/** Stable error codes. */
export type ErrorCode =
  | "E_NO_SIMD"          // the runtime lacks WebAssembly SIMD128
  | "E_WASM_LOAD"        // the wasm module could not be found/compiled/instantiated
  | "E_WASM_ABORT"       // a kernel aborted (a bug: inputs are validated before kernels run)
  | "E_DISPOSED"         // the engine or tensor was already disposed
  | "E_ARG_TYPE"         // wrong JS type (e.g. Float64Array where Float32Array is required)
  | "E_SHAPE"            // rows * cols does not match the data, or non-positive dims
  | "E_BLOCK"            // cols not a multiple of the type's block size
  | "E_UNKNOWN_TYPE"     // unknown quantization type name
  | "E_UNSUPPORTED"      // known type, but no kernel for the requested operation
  | "E_NONFINITE"        // NaN or Inf in the input (row and column named)
  | "E_IMATRIX"          // importance matrix of the wrong length, or negative/NaN entries
  | "E_RANGE"            // an option is out of range
  | "E_OOM"              // wasm memory could not grow
  | "E_WORKER"           // a pool worker failed
  | "E_FORMAT"           // malformed model file (byte offset named)
  | "E_TRUNCATED"        // file ends early (byte offset named)
  | "E_IO"               // file system / network error
  | "E_EXISTS"           // refusing to overwrite something the user gave
  | "E_ABORTED"          // the operation was cancelled
  | "E_NOT_SPD"          // Cholesky failed: not positive definite even with the largest damping allowed
  | "E_NO_CONVERGENCE"  // an iterative eigen/SVD solver did not converge
  | "E_ENCODING"         // text is not valid UTF-8 / has a lone surrogate (offset named)
  | "E_INTERNAL";        // an internal invariant failed (a tensorshrink bug, e.g. the work-unit order)

/** The error type of tensorshrink: `err.code` is one of {@link ErrorCode}; `err.details` holds where. */
export class TensorshrinkError extends Error {
  /** Stable machine-readable code. */
  readonly code: ErrorCode;
  /** Optional location info: tensor name, row, column, byte offset, ... */
  readonly details: Record<string, unknown>;
  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(`${code}: ${message}`, options as any);
    this.name = "TensorshrinkError";
    this.code = code;
    this.details = details;
  }
}

/** True when `e` is a TensorshrinkError (works across realms/bundles, checks the name and code). */
export function isTensorshrinkError(e: unknown): e is TensorshrinkError {
  return e instanceof TensorshrinkError || (typeof e === "object" && e !== null && (e as any).name === "TensorshrinkError" && typeof (e as any).code === "string");
}
