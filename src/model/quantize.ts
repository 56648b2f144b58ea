/**
 * The main job: a whole model in, a GGUF out. Tensors stream through in chunks of whole rows (bounded
 * memory however large the model), quantized with llama.cpp's per-tensor type choices for the ftype,
 * spread over the worker pool, and written to a sink that is committed only when complete.
 */
import { TensorshrinkError } from "../errors";
import type { Engine } from "../engine/engine";
import { encodeGgufHeader, ggufKV, SkipBytes, writeGguf, type GgufKV, type GgufTensorSpec } from "../formats/gguf";
import type { FileRange } from "../engine/pool";
import { Imatrix } from "../formats/imatrix";
import type { ByteSink } from "../formats/source";
import { lookupType } from "../quant/types";
import { llamaCppTensorOrder, lookupFtype, planModel, type TensorRule, type TensorPlan } from "./recipes";
import { tensorRows, type ModelSource, type ModelTensor } from "./source";

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
   * f32 input bytes per work unit (default 4 MiB). Up to 2 x threads + 2 units are in flight (2
   * without a pool); each holds its input and output, and a worker also a dequantized copy for the SQNR.
   */
  chunkBytes?: number;
  /**
   * Use the engine's worker pool (default true): units are quantized and measured on the workers and
   * their f32 buffers (fresh arrays from `readRows`) are transferred to them.
   */
  parallel?: boolean;
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
  const ftype = lookupFtype(opts.ftype);
  if (opts.order !== undefined && opts.order !== "llama.cpp" && opts.order !== "input") throw new TensorshrinkError("E_ARG_TYPE", `order must be "llama.cpp" or "input", got ${String(opts.order)}`);
  const tensors: readonly ModelTensor[] = opts.order === "input" ? source.tensors : llamaCppTensorOrder(source.tensors);
  const imatrix = opts.imatrix ?? null;
  const plan: TensorPlan[] = planModel(
    tensors.map((t) => ({ name: t.name, shape: [...t.ne], type: t.type })),
    ftype.name, source.hparams, { rules: opts.rules, hasImatrix: !!imatrix && imatrix.size > 0, pure: opts.pure },
  );
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
  const specs: GgufTensorSpec[] = tensors.map((t, i) => ({ name: t.name, ne: t.ne, type: plan[i].type }));

  const chunkBytes = opts.chunkBytes ?? 4 << 20;
  if (opts.allowNonFinite !== undefined && typeof opts.allowNonFinite !== "boolean") throw new TensorshrinkError("E_ARG_TYPE", `allowNonFinite must be a boolean, got ${typeof opts.allowNonFinite}`);
  const allowNonFinite = opts.allowNonFinite === true;
  const stats = opts.stats !== false;
  const totalBytes = tensors.reduce((s, t) => s + t.ne.reduce((a, b) => a * b, 1) * 4, 0);
  // Work units: whole rows, about chunkBytes of f32 each, in file order across all tensors. Up to
  // `depth` units are in flight at once (read, then quantized + measured on a pool worker or, without
  // a pool, on this thread), across tensor boundaries, so the workers never wait for a tensor's tail
  // or the next tensor's first read; the writer consumes them in order. Without a pool, depth 2 keeps
  // one read ahead of the quantization.
  const poolSize = opts.parallel !== false ? await engine.poolSize() : 0;
  const poolReadsFiles = poolSize > 0 && (await engine.poolReadsFiles());
  const depth = poolSize > 0 ? 2 * poolSize + 2 : 2;
  interface Unit { i: number; r: number; n: number }
  interface Done { bytes: Uint8Array | null; se: number; sa: number }
  // Importance vectors, checked before anything is written: one value per column, or (3D expert
  // tensors, as llama.cpp's imatrix stores them) one vector per matrix, ne[0] x (ne[2] * ne[3]) values.
  const imFor: (Float32Array | null)[] = tensors.map((t, i) => {
    const im = plan[i].quantize ? imatrix?.get(t.name) ?? null : null;
    if (!im) return null;
    const cols = t.ne[0], mats = t.ne.length > 2 ? tensorRows(t.ne) / t.ne[1] : 1;
    if (im.length === cols * mats) return im;
    throw new TensorshrinkError("E_IMATRIX", `imatrix entry for tensor "${t.name}" has ${im.length} values, the tensor needs ${cols}${mats > 1 ? ` x ${mats} matrices = ${cols * mats}` : " (one per column)"}`, { name: t.name });
  });
  // With a pool that can access files (Node) and a file sink, workers write their quantized units
  // straight into the temporary output file at their final offsets (the header fixes the layout), and
  // read f32 rows that live in a local file themselves: this thread then only schedules.
  let outFile: { path: string; dev: number; ino: number } | null = null;
  let outOffsets: number[] = [];
  if (poolReadsFiles && sink.target && sink.skip && sink.bytesWritten === 0) {
    const layout = encodeGgufHeader(metadata, specs);
    outFile = await sink.target();
    outOffsets = layout.offsets.map((o) => layout.dataOffset + o);
  }
  const units = (function* (): Generator<Unit> {
    for (let i = 0; i < tensors.length; i++) {
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
  const launch = async (u: Unit): Promise<Done> => {
    const t = tensors[u.i], p = plan[u.i], cols = t.ne[0];
    const out: FileRange | null = outFile && p.quantize ? { ...outFile, offset: outOffsets[u.i] + u.r * rowBytesOf(p.type, cols) } : null;
    if (!p.quantize) {
      const raw = await t.readRawRows(u.r, u.n);
      if (!allowNonFinite) checkRawFinite(raw, t.type, cols, u.r, t.name);
      return { bytes: raw, se: 0, sa: 0 };
    }
    const imAll = imFor[u.i];
    const mat = imAll && imAll.length > cols ? Math.floor(u.r / t.ne[1]) : 0; // units never span two matrices
    const im = imAll ? (imAll.length > cols ? imAll.slice(mat * cols, (mat + 1) * cols) : imAll) : null;
    // f32 rows in a local file go to a worker that reads them itself (no read or copy on this thread).
    const fr = poolReadsFiles ? t.fileRows?.(u.r, u.n) ?? null : null;
    // readRows hands over a fresh array (every ModelSource in this package returns one); its buffer may be transferred to a worker.
    const x = fr ? null : await t.readRows(u.r, u.n);
    try {
      const q = { type: p.type, rows: u.n, cols, imatrix: im, name: t.name, allowNonFinite: allowNonFinite && !lookupType(p.type).rejectsNonFinite };
      return fr ? await engine.quantizeFileUnit(fr, q, { stats, out }) : await engine.quantizeUnit(x!, q, { stats, pool: poolSize > 0, out });
    } catch (e) {
      if (e instanceof TensorshrinkError && e.code === "E_NONFINITE") {
        const row = (e.details.row as number) + u.r;
        throw new TensorshrinkError("E_NONFINITE", `non-finite value ${e.details.value} in tensor "${t.name}" at row ${row}, column ${e.details.column}`, { ...e.details, row });
      }
      throw e;
    }
  };
  const inflight: { u: Unit; done: Promise<Done> }[] = [];
  const fill = () => {
    while (inflight.length < depth) {
      const next = units.next();
      if (next.done) return;
      const done = launch(next.value);
      done.catch(() => {}); // surfaced when awaited in order
      inflight.push({ u: next.value, done });
    }
  };

  let doneBytes = 0;
  const reports: TensorReport[] = [];
  async function* tensorData(t: ModelTensor, p: TensorPlan, index: number): AsyncGenerator<Uint8Array | SkipBytes> {
    const cols = t.ne[0];
    const rows = tensorRows(t.ne);
    const rep: TensorReport = { name: t.name, ne: [...t.ne], inType: t.type, type: p.type, bytesBefore: rows * rowBytesOf(t.type, cols), bytesAfter: rows * rowBytesOf(p.type, cols), sqnrDb: null, reason: p.reason };
    reports.push(rep);
    // Error sums added in unit order: the same report with or without the pool.
    let se = 0, sa = 0;
    fill();
    while (inflight.length && inflight[0].u.i === index) {
      const { u, done } = inflight.shift()!;
      const d = await done;
      fill();
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
    layout = await writeGguf(sink, metadata, specs, (_spec, i) => tensorData(tensors[i], plan[i], i), { signal: opts.signal });
  } finally {
    // On an error or abort, let the units already started settle: no work continues after we return.
    await Promise.allSettled(inflight.map((f) => f.done));
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
  };
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
