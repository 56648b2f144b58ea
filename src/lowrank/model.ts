/**
 * Whole-model low-rank operations on a llama {@link ModelSource}: calibration statistics with Gram
 * matrices, low-rank compression of every block linear weight (GGUF with the weights rebuilt from the
 * factors + the factors), and EoRA adapters for a compressed model.
 */
import { TensorshrinkError } from "../errors";
import type { Engine } from "../engine/engine";
import type { ModelSource, ModelTensor } from "../model/source";
import { tensorRows } from "../model/source";
import { LlamaModel } from "../nn/model";
import { Tokenizer } from "../tokenizer/tokenizer";
import { collectStats } from "../calib/collect";
import type { ActStats } from "../calib/stats";
import { writeGguf, ggufKV, type GgufKV, type GgufTensorSpec } from "../formats/gguf";
import type { ByteSink } from "../formats/source";
import type { Matrix } from "../linalg/matrix";
import { lowRankFactor, reconstruct, type LowRankMethod, type RankChoice } from "./factor";
import { eoraFactor } from "./eora";
import type { AdapterLayer } from "./adapter";

/** Block linear weights low-rank methods apply to (attention q/k/v/o, FFN gate/up/down; not experts or embeddings). */
export const LINEAR_RE = /^blk\.\d+\.(attn_q|attn_k|attn_v|attn_output|ffn_gate|ffn_up|ffn_down)\.weight$/;

/** Options of {@link calibrateModel}. */
export interface CalibrateOptions {
  /** Tokens per chunk (default 128). */
  ctx?: number;
  /** At most this many chunks (default 64). */
  chunks?: number;
  /** Collect XᵀX for these weights (default every {@link LINEAR_RE} weight). */
  gram?: readonly string[] | "all";
}

/**
 * Runs the engine's forward pass over `text` (BOS first, chunks of `ctx`) and returns Σx², Σ|x| and XᵀX per linear input.
 * Memory: cols² × 8 bytes per distinct input (kjv3M: 4 layers × (3 × 256² + 768²) × 8 = 24 MiB).
 */
export async function calibrateModel(engine: Engine, source: ModelSource, text: string, opts: CalibrateOptions = {}): Promise<ActStats> {
  const ctx = opts.ctx ?? 128;
  const tokenizer = Tokenizer.fromGguf({ kv: new Map(source.metadata.map((kv) => [kv.key, kv])) });
  const model = await LlamaModel.open(engine, source, { nCtx: ctx });
  try {
    const tokens = tokenizer.encode(text, { addBos: true });
    const gram = opts.gram ?? source.tensors.filter((t) => LINEAR_RE.test(t.name)).map((t) => t.name);
    return await collectStats(engine, model, tokens, { ctx, chunks: opts.chunks ?? 64, gram, blockInfluence: false });
  } finally {
    model.dispose();
  }
}

/** Reads a 2-D tensor as a row-major f32 Matrix [ne1, ne0]. */
export async function readMatrix(t: ModelTensor): Promise<Matrix> {
  if (t.ne.length < 2 || t.ne.slice(2).some((v) => v !== 1)) throw new TensorshrinkError("E_SHAPE", `tensor ${t.name} is not a matrix: ne [${t.ne.join(", ")}]`, { tensor: t.name });
  const rows = tensorRows(t.ne), cols = t.ne[0]!;
  const data = await t.readRows(0, rows);
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i]!)) throw new TensorshrinkError("E_NONFINITE", `tensor ${t.name}: value ${data[i]} at row ${Math.floor(i / cols)}, column ${i % cols}`, { tensor: t.name, row: Math.floor(i / cols), column: i % cols });
  return { data, rows, cols };
}

function gramOf(stats: ActStats | undefined, name: string): Float64Array {
  const g = stats?.get(name)?.gram;
  if (!g) throw new TensorshrinkError("E_RANGE", `no Gram matrix XᵀX for ${name}: calibrate with gram for this tensor`, { tensor: name });
  return g;
}

/** Per-tensor result of {@link compressModelLowRank}. */
export interface LowRankTensorReport { name: string; rows: number; cols: number; rank: number; params: number; relError: number }

/** Options of {@link compressModelLowRank}. */
export interface CompressLowRankOptions extends RankChoice {
  method?: LowRankMethod;
  /** Statistics (ASVD: Σ|x|; SVD-LLM: XᵀX). */
  stats?: ActStats;
  /** ASVD α (default 0.5). */
  alpha?: number;
  /** Which weights (default {@link LINEAR_RE}). */
  include?: RegExp;
  onTensor?(r: LowRankTensorReport): void;
}

/**
 * Factors every selected weight, then writes a GGUF (same metadata and tensor order) whose selected weights are
 * B·A in F32 (other tensors copied as stored), so llama.cpp judges the quality; returns the factors.
 * All factors are computed before the output is opened, so a failure writes nothing.
 */
export async function compressModelLowRank(engine: Engine, source: ModelSource, sink: ByteSink | null, opts: CompressLowRankOptions): Promise<{ layers: AdapterLayer[]; report: LowRankTensorReport[]; paramsBefore: number; paramsAfter: number }> {
  const include = opts.include ?? LINEAR_RE;
  const layers: AdapterLayer[] = [], report: LowRankTensorReport[] = [];
  const rebuilt = new Map<string, Float32Array>();
  let before = 0, after = 0;
  try {
    for (const t of source.tensors) {
      if (!include.test(t.name)) continue;
      const w = await readMatrix(t);
      const method = opts.method ?? "svd";
      const f = lowRankFactor(engine, w, {
        rank: opts.rank, ratio: opts.ratio, relError: opts.relError, method, name: t.name, alpha: opts.alpha,
        meanAbs: method === "asvd" ? needStats(opts.stats, t.name).meanAbs(t.name) : undefined,
        gram: method === "svdllm" ? gramOf(opts.stats, t.name) : undefined,
      });
      layers.push({ name: t.name, A: f.A, B: f.B });
      rebuilt.set(t.name, reconstruct(engine, f).data);
      const rep = { name: t.name, rows: w.rows, cols: w.cols, rank: f.rank, params: f.rank * (w.rows + w.cols), relError: f.relError };
      report.push(rep);
      before += w.rows * w.cols; after += rep.params;
      opts.onTensor?.(rep);
    }
    if (!layers.length) throw new TensorshrinkError("E_RANGE", `no tensor matches ${include}`, {});
  } catch (e) {
    await sink?.abort(e);
    throw e;
  }
  if (sink) await writeReplaced(source, sink, rebuilt, [ggufKV("tensorshrink.lowrank.method", "str", opts.method ?? "svd")]);
  return { layers, report, paramsBefore: before, paramsAfter: after };
}

function needStats(s: ActStats | undefined, name: string): ActStats {
  if (!s?.get(name)) throw new TensorshrinkError("E_RANGE", `no activation statistics for ${name} (asvd needs mean |x|)`, { tensor: name });
  return s;
}

/** Writes `source` as GGUF with some tensors replaced by f32 data (row-major, same shape). */
export async function writeReplaced(source: ModelSource, sink: ByteSink, replaced: ReadonlyMap<string, Float32Array>, extra: GgufKV[] = []): Promise<number> {
  const md = source.metadata.filter((kv) => !extra.some((e) => e.key === kv.key)).concat(extra);
  const specs: GgufTensorSpec[] = source.tensors.map((t) => ({ name: t.name, ne: t.ne, type: replaced.has(t.name) ? "f32" : t.type }));
  const layout = await writeGguf(sink, md, specs, async (s, i) => {
    const r = replaced.get(s.name);
    if (r) return new Uint8Array(r.buffer, r.byteOffset, r.byteLength);
    const t = source.tensors[i]!;
    return t.readRawRows(0, tensorRows(t.ne));
  });
  return layout.fileSize;
}

/** Per-tensor result of {@link eoraModel}. */
export interface EoraTensorReport { name: string; rank: number; outputErrorBefore: number; outputErrorAfter: number }

/**
 * EoRA factors for every selected weight of `compressed` against `base` (same architecture and shapes), with
 * XᵀX from `stats` (calibrated on the base). The base's weights are read as f32, the compressed ones dequantized.
 * @throws TensorshrinkError `E_SHAPE` (a tensor missing or of another shape in `compressed`), `E_RANGE` (no Gram).
 */
export async function eoraModel(engine: Engine, base: ModelSource, compressed: ModelSource, stats: ActStats, opts: RankChoice & { include?: RegExp; onTensor?(r: EoraTensorReport): void }): Promise<{ layers: AdapterLayer[]; report: EoraTensorReport[] }> {
  const include = opts.include ?? LINEAR_RE;
  const q = new Map(compressed.tensors.map((t) => [t.name, t]));
  const layers: AdapterLayer[] = [], report: EoraTensorReport[] = [];
  for (const t of base.tensors) {
    if (!include.test(t.name)) continue;
    const tq = q.get(t.name);
    if (!tq) throw new TensorshrinkError("E_SHAPE", `the compressed model has no tensor ${t.name}`, { tensor: t.name });
    if (tq.ne.join() !== t.ne.join()) throw new TensorshrinkError("E_SHAPE", `tensor ${t.name}: ne [${t.ne.join(", ")}] in the base, [${tq.ne.join(", ")}] in the compressed model`, { tensor: t.name });
    const f = eoraFactor(engine, await readMatrix(t), await readMatrix(tq), gramOf(stats, t.name), { rank: opts.rank, ratio: opts.ratio, relError: opts.relError, name: t.name });
    layers.push({ name: t.name, A: f.A, B: f.B });
    const rep = { name: t.name, rank: f.rank, outputErrorBefore: f.outputErrorBefore, outputErrorAfter: f.outputErrorAfter };
    report.push(rep);
    opts.onTensor?.(rep);
  }
  if (!layers.length) throw new TensorshrinkError("E_RANGE", `no tensor matches ${include}`, {});
  return { layers, report };
}
