/**
 * Whole-model TT embedding compression: decompose one 2-D tensor of a {@link ModelSource} (default
 * token_embd.weight) into a {@link TtEmbedding}, then write the TT file (GGUF, see ./gguf.ts) and a
 * GGUF of the model with that tensor rebuilt from its cores (F32), for llama.cpp to judge the quality.
 * Everything is decomposed and checked before any output is opened: a failure writes nothing.
 */
import { TensorshrinkError } from "../errors";
import type { KernelHost } from "../quant/general";
import type { ModelSource } from "../model/source";
import { tensorRows } from "../model/source";
import { ggufKV, writeGguf, type GgufKV, type GgufTensorSpec } from "../formats/gguf";
import type { ByteSink } from "../formats/source";
import { readMatrix } from "../lowrank/model";
import type { Matrix } from "../linalg/matrix";
import { TtEmbedding, type TtEmbeddingOptions } from "./embedding";
import { writeTtGguf, type TtCodec, type TtCoreType } from "./gguf";

/** Options of {@link ttCompressTensor}. */
export interface TtModelOptions extends TtEmbeddingOptions {
  /** Tensor to decompose (default "token_embd.weight"). */
  tensor?: string;
}

/** Result of {@link ttCompressTensor}. */
export interface TtModelResult {
  tt: TtEmbedding;
  /** The original table as f32. */
  original: Matrix;
  tensor: string;
  /** ‖A − Â‖_F / ‖A‖_F. */
  relError: number;
  /** rows·cols / stored TT values. */
  compression: number;
  /** Stored TT values. */
  params: number;
}

/**
 * Reads the tensor and decomposes it (no output).
 * @throws TensorshrinkError `E_RANGE` (unknown tensor, with the 2-D tensors listed; truncation), `E_SHAPE`, `E_NONFINITE`.
 */
export async function ttCompressTensor(host: KernelHost, source: ModelSource, opts: TtModelOptions): Promise<TtModelResult> {
  const tensor = opts.tensor ?? "token_embd.weight";
  const t = source.tensors.find((x) => x.name === tensor);
  if (!t) {
    const mats = source.tensors.filter((x) => x.ne.length >= 2).map((x) => x.name);
    throw new TensorshrinkError("E_RANGE", `no tensor ${JSON.stringify(tensor)} in the model (2-D tensors: ${mats.slice(0, 8).join(", ")}${mats.length > 8 ? ", …" : ""})`, { tensor });
  }
  const original = await readMatrix(t);
  const tt = TtEmbedding.decompose(host, original, { ...opts, name: tensor });
  const relError = tt.relError(original);
  return { tt, original, tensor, relError, compression: tt.compression, params: tt.params };
}

/**
 * Writes the TT file of a {@link ttCompressTensor} result, with the source's architecture and name recorded;
 * `coreType` "f16" / "q8_0" stores the cores in that type (q8_0 needs `codec`, the engine).
 */
export async function writeTtFile(sink: ByteSink, source: ModelSource, r: TtModelResult, opts: { eps?: number; maxRank?: number; coreType?: TtCoreType; codec?: TtCodec } = {}): Promise<number> {
  const keep = source.metadata.filter((kv) => kv.key === "general.architecture" || kv.key === "general.name");
  return writeTtGguf(sink, r.tt, { tensor: r.tensor, eps: opts.eps, maxRank: opts.maxRank, relError: r.relError, metadata: keep, coreType: opts.coreType, codec: opts.codec });
}

/**
 * Writes `source` as GGUF (same metadata and tensor order) with the decomposed tensor replaced by the table
 * rebuilt from the cores (F32), plus `tensorshrink.tt.*` provenance keys. With `untie` and a model that has no
 * `output.weight` (classifier tied to token_embd), the original table is added as `output.weight` (after the
 * embedding) so only the input lookup uses the TT table, as in TensorGPT.
 * @returns bytes written.
 */
export async function writeRebuiltModel(sink: ByteSink, source: ModelSource, r: TtModelResult, opts: { untie?: boolean } = {}): Promise<number> {
  const rebuilt = r.tt.full().data;
  const tied = !source.tensors.some((t) => t.name === "output.weight");
  const untie = !!opts.untie && tied && r.tensor === "token_embd.weight";
  const extra: GgufKV[] = [
    ggufKV("tensorshrink.tt.tensor", "str", r.tensor),
    ggufKV("tensorshrink.tt.mode", "str", r.tt.mode),
    ggufKV("tensorshrink.tt.compression", "f32", r.compression),
    ggufKV("tensorshrink.tt.rel_error", "f32", r.relError),
  ];
  const md = source.metadata.filter((kv) => !extra.some((e) => e.key === kv.key)).concat(extra);
  const specs: (GgufTensorSpec & { src: number })[] = [];
  source.tensors.forEach((t, i) => {
    specs.push({ name: t.name, ne: t.ne, type: t.name === r.tensor ? "f32" : t.type, src: i });
    if (untie && t.name === r.tensor) specs.push({ name: "output.weight", ne: t.ne, type: "f32", src: -1 });
  });
  const orig = r.original.data;
  const layout = await writeGguf(sink, md, specs, async (s) => {
    const sp = s as GgufTensorSpec & { src: number };
    if (sp.src < 0) return new Uint8Array(orig.buffer, orig.byteOffset, orig.byteLength);
    if (sp.name === r.tensor) return new Uint8Array(rebuilt.buffer, rebuilt.byteOffset, rebuilt.byteLength);
    const t = source.tensors[sp.src]!;
    return t.readRawRows(0, tensorRows(t.ne));
  });
  return layout.fileSize;
}
