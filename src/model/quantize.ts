/**
 * The main job: a whole model in, a GGUF out. Tensors stream through in chunks of whole rows (bounded
 * memory however large the model), quantized with llama.cpp's per-tensor type choices for the ftype,
 * spread over the worker pool, and written to a sink that is committed only when complete.
 */
import { TensorshrinkError } from "../errors";
import type { Engine } from "../engine/engine";
import { encodeGgufHeader, ggufKV, SkipBytes, writeGguf, type GgufKV, type GgufTensorSpec } from "../formats/gguf";
import type { FileRange, RunPlacement } from "../engine/pool";
import { FileUnitRunner, localFs } from "../engine/file-units";
import { yieldToEvents } from "../engine/events";
import { estimateKernelSeconds, workersWorthStarting } from "../engine/work-estimate";
import { Imatrix } from "../formats/imatrix";
import type { ByteSink } from "../formats/source";
import { lookupType } from "../quant/types";
import { llamaCppTensorOrder, lookupFtype, planModel, type TensorRule, type TensorPlan } from "./recipes";
import { tensorRows, type ModelSource, type ModelTensor } from "./source";
import { planMethods, checkCalibration, runMethods, type CalibrationInput, type MethodsOutput } from "../methods/pipeline";
import type { MethodSpec } from "../methods/types";
import type { SweepReport } from "../methods/sweep";

/** Options of {@link quantizeModel}. */
export interface QuantizeModelOptions {
  /** llama-quantize ftype: "Q4_K_M", "Q8_0", "F16", ... */
  ftype: string;
  /**
   * Per-tensor importance vectors (tensor name -> one value per column), e.g. from readImatrix(). When
   * non-empty, the output records it as llama-quantize does: quantize.imatrix.file, .dataset (when
   * known), .entries_count and .chunks_count (when known; an {@link Imatrix} carries both).
   */
  imatrix?: ReadonlyMap<string, Float32Array> | null;
  /** The value of quantize.imatrix.file (default: the Imatrix's `file`, the path it was read from). */
  imatrixFile?: string;
  /** User rules, first match wins (see parseRule). */
  rules?: TensorRule[];
  /**
   * Tensor order of the output: "llama.cpp" (default) = llama-quantize's (by layer number, then name;
   * see llamaCppTensorOrder), which also decides the order the recipe counts layers in, so the file is
   * byte-identical to llama-quantize's; "input" keeps the source's order.
   */
  order?: "llama.cpp" | "input";
  /** Every quantizable tensor gets the ftype's base type (llama-quantize --pure). */
  pure?: boolean;
  /** Compute per-tensor SQNR (dequantize + compare; default true). */
  stats?: boolean;
  /**
   * f32 input bytes per work unit (default 4 MiB). Up to 2 x workers + 2 units are in flight (2
   * with one thread; 2 x (threads - 1) + 3 when the calling thread takes a share, see `callingThread`);
   * each holds its input and output (units written in place by a worker or this thread hold neither
   * once done), and a worker also a dequantized copy for the SQNR.
   */
  chunkBytes?: number;
  /**
   * Use the engine's worker pool (default true): units are quantized and measured on the workers and
   * their f32 buffers (fresh arrays from `readRows`) are transferred to them. With a pool of two or
   * more workers, a file sink and tensors in local files (Node), threads - 1 workers and this thread
   * (see `callingThread`) each read and write their own units. With false, no pool or a pool of one
   * (`threads: 1`), a file sink and local files (Node), this thread reads the rows straight into wasm
   * memory and writes each unit at its offset (no worker).
   */
  parallel?: boolean;
  /**
   * Whether the calling thread quantizes units itself next to the pool's workers (default true): with
   * `threads: N` (N >= 2), a file sink and local files on Node, N - 1 workers and this thread each take
   * the next unit when free (one isolate fewer than N workers: less CPU and memory, same bytes). With
   * false, N workers take every unit and this thread only schedules and writes.
   */
  callingThread?: boolean;
  /**
   * With the calling thread taking a share (see `callingThread`): estimated kernel CPU seconds each
   * thread should get before another pool worker is started (default 0.1; 0 = start threads - 1
   * workers whatever the job). The estimate is per-type kernel cost x values (src/engine/work-estimate.ts);
   * a job below 2 x this (Q8_0, F16, BF16, Q4_0 ... without imatrix on ~100M parameters) runs on
   * this thread alone, as a worker's start (~0.025 CPU s, ~10 MiB) would not pay back. Workers already
   * started in the engine's pool are used. `threads` stays the maximum; the bytes are the same.
   */
  minWorkerSeconds?: number;
  /** Progress callback, called after each chunk. */
  onProgress?(p: QuantizeProgress): void;
  signal?: AbortSignal;
  /**
   * Let NaN/Inf through (default false). By default, as llama-quantize does, a NaN or Inf in any
   * tensor (quantized, converted to f16/bf16, or copied unchanged as f32/f16/bf16) is refused with
   * E_NONFINITE naming tensor, row and column. With true, f32/f16/bf16 outputs and copies keep them;
   * block types still refuse them.
   */
  allowNonFinite?: boolean;
  /**
   * llama-quantize --allow-requantize: let tensors stored in a block type (q4_0, q4_K, ...) be
   * dequantized and quantized again. Default false: such a tensor that would change type is refused
   * with E_UNSUPPORTED ("requantizing from type q8_0 is disabled"), as llama-quantize does; tensors
   * already in their target type are copied either way.
   */
  allowRequantize?: boolean;
  /** llama-quantize --leave-output-tensor: output.weight is copied as stored. */
  leaveOutputTensor?: boolean;
  /** llama-quantize --output-tensor-type: ggml type for output.weight (see PlanOptions). */
  outputTensorType?: string;
  /** llama-quantize --token-embedding-type: ggml type for token_embd.weight. */
  tokenEmbeddingType?: string;
  /**
   * llama-quantize COPY: every tensor copied unchanged; general.file_type is the input's (its
   * general.file_type, else guessed from the most common tensor type). `ftype` is then ignored.
   */
  onlyCopy?: boolean;
  /**
   * llama-quantize --override-kv, in order: each key is removed and appended after general.file_type
   * (before the quantize.imatrix.* keys), as gguf_set_val does. llama.cpp stores int overrides as u32
   * (|value|), float as f32; parseKvOverride builds them.
   */
  kvOverrides?: GgufKV[];
  /**
   * llama-quantize --prune-layers: drop these layers (blk.N.*), renumber the rest down (blk.4 ->
   * blk.2 when 1 and 3 go) and set <arch>.block_count, after every other key, as llama.cpp does. The
   * recipe still counts layers as the input has them (llama.cpp's n_layer), imatrix entries are
   * looked up under the original names. Layer numbers must be from 0 to n_layer - 1.
   */
  pruneLayers?: number[];
  /**
   * Compression methods (see src/methods): names ("rtn", "gptq") or TensorMethod / LayerMethod objects,
   * applied in list order. Tensors a method handles are processed whole, before the file is written, and
   * kept in memory as output bytes. Without methods (the default) the streaming RTN path runs unchanged
   * (byte-identical to llama-quantize). Recorded as quantize.method.
   */
  methods?: MethodSpec[];
  /**
   * Calibration for methods that need statistics: the calibration text's tokens (BOS first) with ctx
   * (default 512) and chunks (then a calibrated sweep runs layer by layer on the already-compressed
   * blocks' outputs), or statistics already collected ({ stats }).
   */
  calibration?: CalibrationInput;
  /** Called after each block of the method pass (calibrated sweep or per layer) with its seconds. */
  onLayer?(p: { layer: number; layers: number; seconds: number }): void;
}

/** Progress of a running quantization. */
export interface QuantizeProgress {
  tensor: string;
  tensorIndex: number;
  tensorCount: number;
  /** Input bytes (as f32) processed so far, of `totalBytes`. */
  doneBytes: number;
  totalBytes: number;
  elapsedMs: number;
}

/** Per-tensor line of the report. */
export interface TensorReport {
  name: string;
  ne: number[];
  inType: string;
  type: string;
  /** Bytes as stored in the input, and in the output (without alignment padding). */
  bytesBefore: number;
  bytesAfter: number;
  /** Signal-to-quantization-noise ratio in dB (null when copied unchanged or stats are off). */
  sqnrDb: number | null;
  reason: string;
}

/** What quantizeModel did. */
export interface QuantizeReport {
  ftype: string;
  tensors: TensorReport[];
  /** Output file size in bytes (header + aligned data). */
  fileSize: number;
  /** Parameters in the model. */
  params: number;
  /** Output tensor bits per parameter (tensor data only, no header). */
  bitsPerWeight: number;
  /** Input tensor bytes read, as stored. */
  inputBytes: number;
  seconds: number;
  /** f32-equivalent input MB (1e6 bytes) per second. */
  mbPerSecond: number;
  /** The method pass, when methods were given: seconds, the sweep's report (layers, per-layer seconds, peak bytes). */
  methods?: { names: string[]; seconds: number; sweep: SweepReport | null; handled: number };
}

const rowBytesOf = (type: string, cols: number) => {
  const t = lookupType(type);
  return (cols / t.blockSize) * t.bytesPerBlock;
};

/**
 * Quantizes `source` to GGUF into `sink` with the ftype's per-tensor types. The sink is committed
 * only after the last byte; on any error or abort (including bad options, a wrong-length importance
 * vector or an already-aborted signal, all checked before the sink's file is created) it is aborted:
 * no partial or empty file remains. Returns the report.
 */
export async function quantizeModel(engine: Engine, source: ModelSource, sink: ByteSink, opts: QuantizeModelOptions): Promise<QuantizeReport> {
  try {
    return await quantizeModelInner(engine, source, sink, opts);
  } catch (e) {
    try { await sink.abort(e); } catch { /* the first error is the one to report */ }
    throw e;
  }
}

async function quantizeModelInner(engine: Engine, source: ModelSource, sink: ByteSink, opts: QuantizeModelOptions): Promise<QuantizeReport> {
  const t0 = Date.now();
  if (opts.signal?.aborted) throw new TensorshrinkError("E_ABORTED", "aborted before the first tensor", {});
  const ftype = opts.onlyCopy ? copyFtype(source) : lookupFtype(opts.ftype);
  if (opts.order !== undefined && opts.order !== "llama.cpp" && opts.order !== "input") throw new TensorshrinkError("E_ARG_TYPE", `order must be "llama.cpp" or "input", got ${String(opts.order)}`);
  const splitCount = source.metadata.find((kv) => kv.key === "split.count")?.value;
  if ((typeof splitCount === "number" || typeof splitCount === "bigint") && Number(splitCount) > 1) {
    throw new TensorshrinkError("E_UNSUPPORTED", `${source.name}: a shard of a split GGUF (split.count = ${splitCount}); split models are not read yet: merge the shards first (llama-gguf-split --merge)`, { splitCount: Number(splitCount) });
  }
  const prune = pruneList(opts.pruneLayers, source.hparams.nLayer);
  const kept = prune.length ? pruneTensors(source.tensors, prune) : source.tensors;
  const tensors: readonly ModelTensor[] = opts.order === "input" ? kept : llamaCppTensorOrder(kept);
  const origName = (t: ModelTensor) => (t as { originalName?: string }).originalName ?? t.name;
  const imatrix = opts.imatrix ?? null;
  const plan: TensorPlan[] = planModel(
    tensors.map((t) => ({ name: t.name, shape: [...t.ne], type: t.type })),
    ftype.name, source.hparams, { rules: opts.rules, hasImatrix: !!imatrix && imatrix.size > 0, pure: opts.pure, leaveOutputTensor: opts.leaveOutputTensor, outputTensorType: opts.outputTensorType, tokenEmbeddingType: opts.tokenEmbeddingType, onlyCopy: opts.onlyCopy },
  );
  if (!opts.allowRequantize) {
    tensors.forEach((t, i) => {
      if (plan[i].quantize && t.type !== "f32" && lookupType(t.type).blockSize > 1) {
        throw new TensorshrinkError("E_UNSUPPORTED", `tensor "${t.name}" is already quantized (${t.type}); requantizing from type ${t.type} to ${plan[i].type} is disabled, as in llama-quantize (allowRequantize / --allow-requantize enables it)`, { name: t.name, type: t.type });
      }
    });
  }
  // llama.cpp refuses the very-low-bit types (iq1_*, iq2_*, iq3_xxs; q2_K in Q2_K_S) without an
  // importance matrix (tensor_requires_imatrix), before anything is written; so do we, also when the
  // imatrix lacks the tensor's entry (llama.cpp stops there mid-file, "Missing importance matrix").
  const hasIm = !!imatrix && imatrix.size > 0;
  for (let i = 0; i < tensors.length; i++) {
    const p = plan[i];
    if (!p.requiresImatrix || (hasIm && imatrix!.has(p.name))) continue;
    throw new TensorshrinkError("E_IMATRIX", hasIm
      ? `the importance matrix has no entry for tensor "${p.name}", which ${ftype.name} quantizes to ${p.type}; llama.cpp refuses very-low-bit types without one`
      : `${ftype.name} needs an importance matrix: tensor "${p.name}" would be ${p.type} (compute one with \`tensorshrink imatrix\` or llama-imatrix and pass --imatrix)`,
      { name: p.name, type: p.type, ftype: ftype.name });
  }
  for (const t of tensors) {
    if (!engine.supports(t.type) && t.type !== "f32") {
      throw new TensorshrinkError("E_UNSUPPORTED", `tensor "${t.name}" is stored as ${t.type}, which tensorshrink cannot read`, { name: t.name });
    }
  }
  // Metadata: copy, then (re)set quantization_version and file_type at the end, as llama-quantize does.
  const metadata: GgufKV[] = source.metadata.filter((kv) => kv.key !== "general.quantization_version" && kv.key !== "general.file_type" && !kv.key.startsWith("split."));
  metadata.push(ggufKV("general.quantization_version", "u32", 2));
  metadata.push(ggufKV("general.file_type", "u32", ftype.id));
  for (const kv of opts.kvOverrides ?? []) {
    const at = metadata.findIndex((m) => m.key === kv.key);
    if (at >= 0) metadata.splice(at, 1);
    metadata.push(kv);
  }
  // llama-quantize records the importance matrix it used (after file_type, as KV overrides).
  if (imatrix && imatrix.size > 0) {
    const info = imatrix instanceof Imatrix ? imatrix : null;
    for (const k of ["quantize.imatrix.file", "quantize.imatrix.dataset", "quantize.imatrix.entries_count", "quantize.imatrix.chunks_count"]) {
      const at = metadata.findIndex((kv) => kv.key === k);
      if (at >= 0) metadata.splice(at, 1);
    }
    metadata.push(ggufKV("quantize.imatrix.file", "str", opts.imatrixFile ?? info?.file ?? ""));
    if (info?.datasets.length) metadata.push(ggufKV("quantize.imatrix.dataset", "str", info.datasets[0]));
    metadata.push(ggufKV("quantize.imatrix.entries_count", "u32", imatrix.size));
    if (info && info.chunkCount > 0) metadata.push(ggufKV("quantize.imatrix.chunks_count", "u32", info.chunkCount));
  }
  if (prune.length) {
    const arch = source.metadata.find((kv) => kv.key === "general.architecture")?.value;
    const key = `${typeof arch === "string" ? arch : "llama"}.block_count`;
    const at = metadata.findIndex((kv) => kv.key === key);
    if (at >= 0) metadata.splice(at, 1);
    metadata.push(ggufKV(key, "u32", source.hparams.nLayer - prune.length));
  }
  // The method seam: decided (and every error raised) before the header is encoded or a byte written.
  let mo: MethodsOutput | null = null;
  let methodPlan: ReturnType<typeof planMethods> | null = null;
  if (opts.methods !== undefined) {
    const planned = tensors.map((t, i) => ({ tensor: t, type: plan[i].type, quantize: plan[i].quantize }));
    methodPlan = planMethods(opts.methods, planned);
    checkCalibration(methodPlan, opts.calibration);
    for (const k of ["quantize.method", "quantize.calibration.tokens", "quantize.calibration.ctx", "quantize.calibration.chunks", "quantize.calibration.dataset"]) {
      const at = metadata.findIndex((kv) => kv.key === k);
      if (at >= 0) metadata.splice(at, 1);
    }
    metadata.push(ggufKV("quantize.method", "str", methodPlan.methods.map((m) => m.name).join(",")));
    const cal = opts.calibration;
    if (cal && (methodPlan.needs.gram || methodPlan.needs.sumSq || methodPlan.needs.sumAbs)) {
      if ("tokens" in cal) {
        const ctx = cal.ctx ?? 512, chunks = Math.min(cal.chunks ?? Infinity, Math.floor(cal.tokens.length / ctx));
        metadata.push(ggufKV("quantize.calibration.tokens", "u32", chunks * ctx));
        metadata.push(ggufKV("quantize.calibration.ctx", "u32", ctx));
        metadata.push(ggufKV("quantize.calibration.chunks", "u32", chunks));
        if (cal.dataset) metadata.push(ggufKV("quantize.calibration.dataset", "str", cal.dataset));
      } else {
        metadata.push(ggufKV("quantize.calibration.tokens", "u32", cal.stats.tokens));
        if (cal.stats.datasets.length) metadata.push(ggufKV("quantize.calibration.dataset", "str", cal.stats.datasets[0]));
      }
    }
  }
  // Output entries: each tensor, followed by the extra tensors a method declared for it.
  const entries: ({ i: number } | { extra: { name: string; ne: number[]; type: string }; of: string })[] = [];
  for (let i = 0; i < tensors.length; i++) {
    entries.push({ i });
    for (const e of methodPlan?.extras.get(tensors[i].name) ?? []) entries.push({ extra: e, of: tensors[i].name });
  }
  const specs: GgufTensorSpec[] = entries.map((e) => ("i" in e ? { name: tensors[e.i].name, ne: tensors[e.i].ne, type: plan[e.i].type } : { name: e.extra.name, ne: e.extra.ne, type: e.extra.type }));

  const chunkBytes = opts.chunkBytes ?? 4 << 20;
  if (opts.allowNonFinite !== undefined && typeof opts.allowNonFinite !== "boolean") throw new TensorshrinkError("E_ARG_TYPE", `allowNonFinite must be a boolean, got ${typeof opts.allowNonFinite}`);
  const allowNonFinite = opts.allowNonFinite === true;
  const stats = opts.stats !== false;
  const totalBytes = tensors.reduce((s, t) => s + t.ne.reduce((a, b) => a * b, 1) * 4, 0);
  // Work units: whole rows, about chunkBytes of f32 each, in file order across all tensors. Up to
  // `depth` units are in flight at once, across tensor boundaries, so no thread waits for a tensor's
  // tail or the next tensor's first read; the writer consumes them in order (and sums the error of
  // each tensor's units in that order: the same report however the units were spread).
  // With a file sink on Node ("local"), this thread runs units itself (FileUnitRunner: local files
  // read straight into wasm memory, each unit written from there at its final offset; no JS copy):
  // alone with one thread, or as one of `threads` next to threads - 1 pool workers that read and
  // write their own units. Whoever is free takes the next unit in order. Elsewhere (no file sink,
  // no node:fs, workers that cannot read files) the pool's workers take every unit, or this thread
  // does without a pool.
  const fileSinkReady = !!(sink.target && sink.skip && sink.bytesWritten === 0);
  const pooled = opts.parallel !== false ? await engine.poolSize() : 0;
  const lfs = fileSinkReady ? await localFs() : null;
  const poolFiles = pooled > 0 && (await engine.poolReadsFiles());
  const local = !!lfs && (pooled <= 1 || (poolFiles && opts.callingThread !== false));
  // Importance vectors, checked before anything is written: one value per column, or (3D expert
  // tensors, as llama.cpp's imatrix stores them) one vector per matrix, ne[0] x (ne[2] * ne[3]) values.
  const imFor: (Float32Array | null)[] = tensors.map((t, i) => {
    const im = plan[i].quantize ? imatrix?.get(origName(t)) ?? null : null;
    if (!im) return null;
    const cols = t.ne[0], mats = t.ne.length > 2 ? tensorRows(t.ne) / t.ne[1] : 1;
    if (im.length === cols * mats) return im;
    throw new TensorshrinkError("E_IMATRIX", `imatrix entry for tensor "${t.name}" has ${im.length} values, the tensor needs ${cols}${mats > 1 ? ` x ${mats} matrices = ${cols * mats}` : " (one per column)"}`, { name: t.name });
  });
  // pool workers this run uses (beside this thread when `local`: as many as the kernels' estimated CPU pays for)
  const mws = opts.minWorkerSeconds;
  if (mws !== undefined && !(typeof mws === "number" && mws >= 0 && mws < Infinity)) throw new TensorshrinkError("E_RANGE", `minWorkerSeconds must be a finite number >= 0, got ${String(mws)}`);
  const kernelSeconds = () => estimateKernelSeconds(tensors.flatMap((t, i) => (plan[i].quantize ? [{ type: plan[i].type, values: t.ne.reduce((a, b) => a * b, 1), imatrix: imFor[i] !== null }] : [])));
  const poolSize = local ? workersWorthStarting(pooled > 1 ? kernelSeconds() : 0, Math.max(0, pooled - 1), engine.poolStarted(), mws) : pooled;
  const poolReadsFiles = poolSize > 0 && poolFiles;
  // `hold`: units that keep their bytes until the writer takes them (copies; rows quantized here
  // that are not written in place): one job running and one waiting on each worker, this thread's
  // unit and one more. Units written in place hold nothing once done, so with this thread taking a
  // share more of them may run ahead (`depth`): when a worker falls behind (its core busy with
  // something else) this thread goes on with the next units instead of waiting for it.
  const hold = local ? (poolSize > 0 ? 2 * poolSize + 3 : 2) : poolSize > 0 ? 2 * poolSize + 2 : 2;
  const depth = local && poolSize > 0 ? 4 * (poolSize + 1) + 8 : hold;
  const placement: RunPlacement = { workers: poolSize, ahead: local ? 2 : 1 };
  interface Unit { i: number; r: number; n: number }
  interface Done { bytes: Uint8Array | null; se: number; sa: number }
  // With a file sink and workers or this thread that access files (Node), each unit is written
  // straight into the temporary output file at its final offset (the header fixes the layout), by
  // whoever quantized it, from rows it read itself when they live in a local file.
  if (methodPlan) {
    mo = await runMethods(engine, source, tensors.map((t, i) => ({ tensor: t, type: plan[i].type, quantize: plan[i].quantize })), methodPlan, { imatrix, calibration: opts.calibration, signal: opts.signal, onLayer: opts.onLayer });
    if (opts.signal?.aborted) throw new TensorshrinkError("E_ABORTED", "aborted after the method pass", {});
  }
  const handled = (i: number) => !!mo && mo.bytes.has(tensors[i].name);
  let outFile: { path: string; dev: number; ino: number } | null = null;
  let outOffsets: number[] = [];
  let headerLayout: ReturnType<typeof encodeGgufHeader> | undefined;
  if ((local || poolReadsFiles) && fileSinkReady) {
    const layout = (headerLayout = encodeGgufHeader(metadata, specs));
    outFile = await sink.target!();
    const offs = layout.offsets.map((o) => layout.dataOffset + o);
    outOffsets = entries.map((_e, k) => offs[k]).filter((_o, k) => "i" in entries[k]);
  }
  const runner = local && outFile ? new FileUnitRunner(engine, lfs!) : null;
  const units = (function* (): Generator<Unit> {
    for (let i = 0; i < tensors.length; i++) {
      if (handled(i)) continue; // already in memory from the method pass
      const t = tensors[i];
      const rows = tensorRows(t.ne);
      const rowsPerChunk = Math.max(1, Math.floor(chunkBytes / (t.ne[0] * 4)));
      // A unit never spans two matrices of a 3D (expert) tensor: each has its own importance vector.
      const span = t.ne.length > 2 && t.ne[1] > 0 ? t.ne[1] : rows;
      for (let m0 = 0; m0 < rows; m0 += span) {
        const end = Math.min(rows, m0 + span);
        for (let r = m0; r < end; r += rowsPerChunk) yield { i, r, n: Math.min(rowsPerChunk, end - r) };
      }
    }
  })();
  /** The unit's error with the tensor and its rows (a unit's own errors count rows from its first). */
  const unitError = (u: Unit, e: unknown): unknown => {
    const t = tensors[u.i];
    if (e instanceof TensorshrinkError && (e.code === "E_TRUNCATED" || e.code === "E_IO") && !("name" in e.details && e.details.name)) {
      return new TensorshrinkError(e.code, `tensor "${t.name}" (rows ${u.r} to ${u.r + u.n - 1}): ${e.message}`, { ...e.details, name: t.name }, { cause: e });
    }
    if (e instanceof TensorshrinkError && e.code === "E_NONFINITE") {
      const row = (e.details.row as number) + u.r;
      return new TensorshrinkError("E_NONFINITE", `non-finite value ${e.details.value} in tensor "${t.name}" at row ${row}, column ${e.details.column}`, { ...e.details, row });
    }
    return e;
  };
  /** What a unit needs: its output range (file sinks), the quantize options, local file rows when someone reads them. */
  const unitJob = (u: Unit) => {
    const t = tensors[u.i], p = plan[u.i], cols = t.ne[0];
    const out: FileRange | null = outFile && p.quantize ? { ...outFile, offset: outOffsets[u.i] + u.r * rowBytesOf(p.type, cols) } : null;
    const imAll = imFor[u.i];
    const mat = imAll && imAll.length > cols ? Math.floor(u.r / t.ne[1]) : 0; // units never span two matrices
    const im = imAll ? (imAll.length > cols ? imAll.slice(mat * cols, (mat + 1) * cols) : imAll) : null;
    const q = { type: p.type, rows: u.n, cols, imatrix: im, name: t.name, allowNonFinite: allowNonFinite && !lookupType(p.type).rejectsNonFinite };
    // f32 (or f16/bf16/...) rows in a local file are read by whoever quantizes them (no read or copy here for a worker's unit).
    const fr = poolReadsFiles || runner ? t.fileRows?.(u.r, u.n) ?? null : null;
    return { t, out, q, fr };
  };
  /** Whether the unit's bytes are written in place into the output file by whoever quantizes it (else the writer gets them). */
  const inPlace = (u: Unit) => !!outFile && plan[u.i].quantize && (local || poolReadsFiles);
  /** A tensor copied unchanged: its stored bytes, checked for NaN/Inf. */
  const copyUnit = async (u: Unit): Promise<Done> => {
    const t = tensors[u.i];
    const raw = await t.readRawRows(u.r, u.n);
    if (!allowNonFinite) checkRawFinite(raw, t.type, t.ne[0], u.r, t.name);
    return { bytes: raw, se: 0, sa: 0 };
  };
  /** A unit on a pool worker (or, without a pool, on this thread through the engine). */
  const poolUnit = async (u: Unit): Promise<Done> => {
    const { t, out, q, fr } = unitJob(u);
    // readRows hands over a fresh array (every ModelSource in this package returns one); its buffer may be transferred to a worker.
    try {
      if (fr) return await engine.quantizeFileUnit(fr, q, { stats, out, at: placement });
      return await engine.quantizeUnit(await t.readRows(u.r, u.n), q, { stats, pool: poolSize > 0, out, at: placement });
    } catch (e) {
      throw unitError(u, e);
    }
  };
  /** A unit on this thread with the FileUnitRunner (synchronous for rows in a local file); `job` = unitJob(u). */
  const localUnit = (u: Unit, job: ReturnType<typeof unitJob>): Done | Promise<Done> => {
    const { t, out, q, fr } = job;
    try {
      if (fr) return runner!.run(fr, q, { stats, out });
    } catch (e) {
      throw unitError(u, e);
    }
    return t.readRows(u.r, u.n).then((x) => engine.quantizeUnit(x, q, { stats, pool: false, out })).catch((e) => { throw unitError(u, e); });
  };

  const inflight: { u: Unit; done: Promise<Done>; holds: boolean }[] = [];
  // One unit of lookahead over the generator: the next unit in order, not yet handed out.
  let peeked: IteratorResult<Unit> | null = null;
  const peek = (): Unit | null => ((peeked ??= units.next()).done ? null : peeked.value);
  const take = (): Unit => { const u = peek()!; peeked = null; return u; };
  // Wakes whoever waits for a change (the writer for the next unit, this thread's loop for room).
  let waiters: (() => void)[] = [];
  const changed = () => new Promise<void>((r) => waiters.push(r));
  const notify = () => { const w = waiters; waiters = []; for (const f of w) f(); };
  let stopped = false, poolOut = 0, holding = 0;
  const poolCap = local ? 2 * poolSize : Infinity;
  const push = (u: Unit, done: Promise<Done>, holds: boolean) => {
    done.catch(() => {}); // surfaced when awaited in order
    if (holds) holding++;
    inflight.push({ u, done, holds });
    notify();
  };
  /** Hands the next units in order to the pool (and copies to this thread's reads) while there is room. */
  const dispatch = () => {
    while (!stopped && inflight.length < depth) {
      const u = peek();
      if (!u) return;
      if (!plan[u.i].quantize) {
        if (holding >= hold) return;
        push(take(), copyUnit(u), true);
        continue;
      }
      if (local && poolOut >= poolCap) return;
      take();
      poolOut++;
      const done = poolUnit(u);
      push(u, done, !inPlace(u));
      const settle = () => { poolOut--; dispatch(); notify(); };
      done.then(settle, () => { stopped = true; settle(); });
    }
  };
  /**
   * This thread as one of the threads (local): takes the next unit whenever the pool has no room for
   * it, runs it synchronously, then yields to the event loop so the workers' results are handled
   * (and they get their next units) before it takes another.
   */
  let loop: Promise<void> | null = null;
  const localLoop = async () => {
    // the next unit's job (unitJob: its file rows, output range, importance vector), made once per unit
    let next = null as { u: Unit; job: ReturnType<typeof unitJob> } | null;
    try {
      for (;;) {
        await yieldToEvents();
        if (stopped) return;
        dispatch();
        const u0 = peek();
        if (!u0) return;
        if (next?.u !== u0) next = { u: u0, job: unitJob(u0) };
        const job = next.job, holds = !inPlace(u0) || !job.fr;
        if (inflight.length >= depth || (holds && holding >= hold)) { await changed(); continue; }
        const u = take();
        next = null;
        let done: Promise<Done>;
        try {
          done = Promise.resolve(localUnit(u, job));
        } catch (e) {
          done = Promise.reject(e);
        }
        push(u, done, holds);
        try { await done; } catch { stopped = true; return; }
      }
    } finally {
      notify();
    }
  };
  let loopError: unknown = null;
  const fill = () => {
    dispatch();
    if (local) loop ??= localLoop().catch((e) => { loopError = e; stopped = true; notify(); });
  };

  let doneBytes = 0;
  const reports: TensorReport[] = [];
  async function* tensorData(t: ModelTensor, p: TensorPlan, index: number): AsyncGenerator<Uint8Array | SkipBytes> {
    const cols = t.ne[0];
    const rows = tensorRows(t.ne);
    const rep: TensorReport = { name: t.name, ne: [...t.ne], inType: t.type, type: p.type, bytesBefore: rows * rowBytesOf(t.type, cols), bytesAfter: rows * rowBytesOf(p.type, cols), sqnrDb: null, reason: p.reason };
    reports.push(rep);
    if (handled(index)) {
      rep.reason = `${p.reason}; method ${mo!.by.get(t.name)}`;
      doneBytes += rows * cols * 4;
      opts.onProgress?.({ tensor: t.name, tensorIndex: index, tensorCount: tensors.length, doneBytes, totalBytes, elapsedMs: Date.now() - t0 });
      yield mo!.bytes.get(t.name)!;
      return;
    }
    // Error sums added in unit order: the same report with or without the pool.
    let se = 0, sa = 0;
    for (let left = rows; left > 0;) {
      fill();
      if (!inflight.length) {
        // the next unit is this thread's to take (local): wait until its loop has handed it out
        if (loopError) throw loopError;
        if (!loop || !peek()) throw new TensorshrinkError("E_INTERNAL", `no work unit in flight for tensor "${t.name}" (${left} rows left)`, { name: t.name });
        await changed();
        continue;
      }
      const { u, done, holds } = inflight.shift()!;
      if (holds) holding--;
      if (u.i !== index) throw new TensorshrinkError("E_INTERNAL", `work unit of tensor ${u.i} where tensor "${t.name}" was expected`, { name: t.name });
      notify();
      const d = await done;
      left -= u.n;
      se += d.se;
      sa += d.sa;
      doneBytes += u.n * cols * 4;
      opts.onProgress?.({ tensor: t.name, tensorIndex: index, tensorCount: tensors.length, doneBytes, totalBytes, elapsedMs: Date.now() - t0 });
      yield d.bytes ?? new SkipBytes(u.n * rowBytesOf(p.type, cols));
    }
    if (p.quantize && stats) rep.sqnrDb = se === 0 ? Infinity : 10 * Math.log10(sa / se);
  }

  let layout: Awaited<ReturnType<typeof writeGguf>>;
  try {
    layout = await writeGguf(sink, metadata, specs, (_spec, k) => {
      const e = entries[k];
      if ("i" in e) return tensorData(tensors[e.i], plan[e.i], e.i);
      const d = mo?.extra.get(e.of)?.find((x) => x.spec.name === e.extra.name);
      if (!d) throw new TensorshrinkError("E_FORMAT", `method output lacks the declared extra tensor ${e.extra.name}`, { name: e.extra.name });
      return (async function* () { yield d.data; })();
    }, { signal: opts.signal, layout: headerLayout });
  } finally {
    // On an error or abort, let the units already started settle: no work continues after we return.
    stopped = true;
    notify();
    await loop;
    await Promise.allSettled(inflight.map((f) => f.done));
    runner?.close();
  }
  const seconds = (Date.now() - t0) / 1000;
  const params = tensors.reduce((s, t) => s + t.ne.reduce((a, b) => a * b, 1), 0);
  const outBytes = reports.reduce((s, r) => s + r.bytesAfter, 0);
  return {
    ftype: ftype.name,
    tensors: reports,
    fileSize: layout.fileSize,
    params,
    bitsPerWeight: (8 * outBytes) / params,
    inputBytes: reports.reduce((s, r) => s + r.bytesBefore, 0),
    seconds,
    mbPerSecond: totalBytes / 1e6 / Math.max(seconds, 1e-9),
    ...(mo && methodPlan ? { methods: { names: methodPlan.methods.map((m) => m.name), seconds: mo.seconds, sweep: mo.sweep, handled: mo.bytes.size } } : {}),
  };
}

/** The layers to prune: integers from 0 to nLayer - 1, sorted, duplicates dropped (E_RANGE otherwise; all of them: E_RANGE). */
function pruneList(layers: number[] | undefined, nLayer: number): number[] {
  if (!layers || layers.length === 0) return [];
  for (const l of layers) if (!Number.isInteger(l) || l < 0 || l >= nLayer) throw new TensorshrinkError("E_RANGE", `pruneLayers: layer ${l} is not one of the model's layers 0 to ${nLayer - 1}`, { layer: l });
  const out = [...new Set(layers)].sort((a, b) => a - b);
  if (out.length >= nLayer) throw new TensorshrinkError("E_RANGE", `pruneLayers would remove all ${nLayer} layers`, {});
  return out;
}

/** The tensors without the pruned layers, the others renumbered (blk.N -> blk.(N - pruned below N)); each keeps its `originalName`. */
function pruneTensors(tensors: readonly ModelTensor[], prune: number[]): ModelTensor[] {
  const out: ModelTensor[] = [];
  for (const t of tensors) {
    const m = /^blk\.(\d+)\./.exec(t.name);
    if (!m) { out.push(t); continue; }
    const blk = Number(m[1]);
    if (prune.includes(blk)) continue;
    const name = `blk.${blk - prune.filter((p) => p < blk).length}.${t.name.slice(m[0].length)}`;
    out.push({
      name, originalName: t.name, ne: t.ne, type: t.type,
      readRows: (s, c) => t.readRows(s, c), readRawRows: (s, c) => t.readRawRows(s, c),
      ...(t.fileRows ? { fileRows: (s: number, c: number) => t.fileRows!(s, c) } : {}),
    } as ModelTensor & { originalName: string });
  }
  return out;
}

/** ggml type -> LLAMA_FTYPE for COPY (llama_model_loader's guess from the most common tensor type). */
const TYPE_FTYPE: Record<string, string> = { f32: "F32", f16: "F16", bf16: "BF16", q4_0: "Q4_0", q4_1: "Q4_1", q5_0: "Q5_0", q5_1: "Q5_1", q8_0: "Q8_0", q2_K: "Q2_K", q3_K: "Q3_K_M", q4_K: "Q4_K_M", q5_K: "Q5_K_M", q6_K: "Q6_K", iq4_nl: "IQ4_NL", tq1_0: "TQ1_0", tq2_0: "TQ2_0" };

/**
 * The ftype COPY records: the input's general.file_type when present (as llama.cpp's loader), else
 * the ftype of its most common tensor type (by count; f32 when the model has only f32 tensors).
 */
function copyFtype(source: ModelSource): { name: string; id: number; base: string } {
  const kv = source.metadata.find((m) => m.key === "general.file_type");
  const v = kv && (typeof kv.value === "number" || typeof kv.value === "bigint") ? Number(kv.value) : NaN;
  if (Number.isInteger(v) && v >= 0) {
    try { return lookupFtype(String(v)); } catch { return { name: `ftype ${v}`, id: v, base: "f32" }; }
  }
  const counts = new Map<string, number>();
  for (const t of source.tensors) if (t.type !== "f32") counts.set(t.type, (counts.get(t.type) ?? 0) + 1);
  let best = "f32", n = 0;
  for (const [k, c] of counts) if (c > n) { best = k; n = c; }
  return lookupFtype(TYPE_FTYPE[best] ?? "F32");
}

/**
 * Refuses NaN/Inf in rows copied unchanged (stored f32, f16 or bf16; llama-quantize validates every
 * tensor's data the same way). Other stored types are copied as they are. `r0` is the first row.
 */
function checkRawFinite(raw: Uint8Array, type: string, cols: number, r0: number, name: string): void {
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  let bad = -1, value = NaN;
  if (type === "f32") {
    for (let i = 0, n = raw.byteLength >> 2; i < n; i++) {
      const v = dv.getFloat32(4 * i, true);
      if (v - v !== 0) { bad = i; value = v; break; }
    }
  } else if (type === "f16" || type === "bf16") {
    const exp = type === "f16" ? 0x7c00 : 0x7f80;
    for (let i = 0, n = raw.byteLength >> 1; i < n; i++) {
      const h = dv.getUint16(2 * i, true);
      if ((h & exp) === exp) { bad = i; value = (h & (exp === 0x7c00 ? 0x3ff : 0x7f)) ? NaN : h & 0x8000 ? -Infinity : Infinity; break; }
    }
  } else return;
  if (bad < 0) return;
  const row = r0 + Math.floor(bad / cols), column = bad % cols;
  throw new TensorshrinkError("E_NONFINITE", `non-finite value ${value} in tensor "${name}" at row ${row}, column ${column} (stored ${type}, copied unchanged); NaN/Inf are refused (allowNonFinite lets them through)`, { name, row, column, value });
}
