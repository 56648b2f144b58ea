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
  | { op: "ready"; threads: number; simd: true }
  | { op: "opened"; id: number; info: OpenedInfo }
  | { op: "plan"; id: number; rows: PlanRow[]; fileBytesEstimate: number }
  | { op: "progress"; id: number; tensor: string; tensorIndex: number; tensorCount: number; doneBytes: number; totalBytes: number; elapsedMs: number; outBytes: number }
  | { op: "evalProgress"; id: number; done: number; total: number }
  | { op: "done"; id: number; rows: ResultRow[]; fileSize: number; bitsPerWeight: number; seconds: number; mbPerSecond: number; params: number; blob: Blob | null; savedTo: string | null; eval: EvalInfo | null }
  | { op: "error"; id: number; code: string; message: string; stage: "init" | "open" | "plan" | "run" | "eval" };
