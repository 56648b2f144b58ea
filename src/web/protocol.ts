/**
 * Messages between the page (src/web/app.ts, main thread) and its Web Worker (src/web/worker.ts),
 * which owns the engine, the model and the output. Only plain data, Files/Blobs and
 * FileSystemFileHandles cross (all structured-cloneable); tensors never do.
 */

/** Where the model comes from. */
export type ModelChoice =
  /** One local file (GGUF, or a llama2.c checkpoint with `tokenizer`). */
  | { kind: "file"; file: File; tokenizer?: File | null }
  /** A Hugging Face directory chosen with `<input webkitdirectory>` (config.json + *.safetensors + tokenizer files). */
  | { kind: "dir"; files: File[] }
  /** An http(s) URL read with range requests (a URL ending in `/` is a Hugging Face directory). */
  | { kind: "url"; url: string; tokenizer?: File | null };

/** Quantization options chosen in the form. */
export interface JobOptions {
  /** llama-quantize ftype, e.g. "Q4_K_M". */
  ftype: string;
  /** Rule lines `pattern=type` (type may be `skip`), first match wins. */
  rules: string[];
  pure: boolean;
  /** llama.cpp importance matrix (GGUF imatrix or legacy .dat). */
  imatrix?: File | null;
  /**
   * A method of the engine's registry (BUILTIN_METHODS: "rtn", "gptq", ...), as `--method`; null/absent:
   * llama-quantize's plain path (no `quantize.method` key).
   */
  method?: string | null;
  /** Pruning first, as `quantize --prune method:target` (target "0.5" = sparsity, "2:4" = N:M); replaces `method`. */
  prune?: { method: string; target: string } | null;
  /** Calibration text for methods that need activation statistics (as `--calib`). */
  calib?: File | null;
  /** Calibration window in tokens (as `--ctx`; default 512 for methods, 128 for pruning, as the CLI). */
  ctx?: number | null;
}

/** A compression method the engine offers, as the worker reports it. */
export interface MethodInfo {
  /** Registry name ("gptq") or pruning method ("sparsegpt"). */
  name: string;
  /** true when it needs a calibration text (activation statistics: Gram matrix, Σx², Σ|x|). */
  needsCalibration: boolean;
}

/** Page → worker. */
export type ToWorker =
  | { op: "open"; id: number; model: ModelChoice }
  | { op: "plan"; id: number; options: JobOptions }
  /**
   * Runs the job. `output.handle`: a FileSystemFileHandle from showSaveFilePicker (the output streams
   * to disk); `output.memory`: collect it and return a Blob for a download link.
   */
  | { op: "run"; id: number; options: JobOptions; output: { handle: FileSystemFileHandle } | { memory: true }; evalText?: string | null }
  | { op: "cancel" };

/** One row of the plan table. Sizes in bytes. */
export interface PlanRow { name: string; ne: number[]; inType: string; type: string; quantize: boolean; reason: string; bytesBefore: number; bytesAfter: number }

/** What the worker learned on open. */
export interface OpenedInfo { name: string; format: string; tensors: number; params: number; inputBytes: number; arch: string }

/** Per-tensor result (from quantizeModel's report). */
export interface ResultRow { name: string; type: string; inType: string; bytesBefore: number; bytesAfter: number; sqnrDb: number | null; reason: string }

/** Evaluation on the page's text (only when the build has the engine's forward pass). */
export type EvalInfo =
  | { available: false; reason: string }
  | { available: true; tokens: number; pplBase: number; pplOther: number; kldMean: number; top1Agreement: number };

/** Worker → page. */
export type FromWorker =
  /** The engine is up; what it offers: ftypes (llama-quantize's, i-quants included), methods (the registry) and pruning methods. */
  | { op: "ready"; threads: number; simd: true; ftypes: string[]; methods: MethodInfo[]; pruneMethods: MethodInfo[] }
  | { op: "opened"; id: number; info: OpenedInfo }
  | { op: "plan"; id: number; rows: PlanRow[]; fileBytesEstimate: number }
  | { op: "progress"; id: number; tensor: string; tensorIndex: number; tensorCount: number; doneBytes: number; totalBytes: number; elapsedMs: number; outBytes: number }
  | { op: "evalProgress"; id: number; done: number; total: number }
  /** A calibrated method finished transformer block `layer` (0-based) of `layers`, in `seconds`. */
  | { op: "layer"; id: number; method: string; layer: number; layers: number; seconds: number }
  | { op: "done"; id: number; rows: ResultRow[]; methods: { names: string[]; seconds: number; handled: number } | null; fileSize: number; bitsPerWeight: number; seconds: number; mbPerSecond: number; params: number; blob: Blob | null; savedTo: string | null; eval: EvalInfo | null }
  | { op: "error"; id: number; code: string; message: string; stage: "init" | "open" | "plan" | "run" | "eval" };
