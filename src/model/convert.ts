/**
 * Llama-architecture models → GGUF, streaming.
 *
 * A {@link ModelPlan} is GGUF metadata plus a list of tensors in GGUF naming and ggml `ne` order,
 * each readable lazily by row range, so a quantization pipeline can pull one tensor (or a few rows)
 * at a time through the quantizer and into {@link writeGguf} in bounded memory.
 * Sources: a llama2.c checkpoint + tokenizer.bin (no q/k permutation: llama2.c already rotates
 * adjacent pairs, like llama.cpp's NORM rope), or a Hugging Face directory (config.json,
 * safetensors, tokenizer.json or tokenizer.model) with the q/k row permutation of llama.cpp's
 * convert_hf_to_gguf.py for llama / Mistral / Mixtral, and the qwen2 / qwen3 / qwen3moe layouts
 * (biases, q/k norms, split experts; no permutation) described in ./archs.ts.
 */
import { nodeBuiltin } from "../engine/node-builtin";
import { TensorshrinkError } from "../errors";
import { ggufKV, writeGguf, type GgufKV, type GgufLayout, type GgufTensorSpec } from "../formats/gguf";
import { encodeF16, encodeF32 } from "../formats/half";
import { readLlama2cCheckpoint, readLlama2cTokenizer, type Llama2cTensor } from "../formats/llama2c";
import { isMissing, openSafetensorsModel, type SafetensorsTensor } from "../formats/safetensors";
import { directoryResolver, fileIdentityOf, openSource, type ByteSink, type ByteSource, type FileResolver, type SourceInput } from "../formats/source";
import type { FileRange } from "../engine/pool";
import { vocabFromHfTokenizer, vocabFromLlama2c, vocabMetadata, type GgufVocab } from "./vocab";
import { parseHfLlamaConfig } from "./hf-config";
import { checkLlamaTensors, checkLlamaVocab, LLAMA_LIMITS, type LlamaShapeParams } from "./validate";
import { findDuplicateJsonKey } from "../formats/json-keys";
import { chatTemplateOf, hfArchInfo, type GgufArch } from "./archs";
import { readSentencePieceModel, vocabFromSentencePiece, type SentencePieceModel } from "./sentencepiece";
import { gemmaPhiHparamsMetadata, parseGemmaPhiConfig, type GemmaPhiParams } from "./archs-gemma-phi";
import { gemmaPhiLayerTensors, shiftedTensor, truncatedRows } from "./convert-gemma-phi";

/** A tensor of a model plan, read lazily. */
export interface ModelTensor {
  /** GGUF name, e.g. `blk.3.attn_q.weight`. */
  readonly name: string;
  /** Extents in ggml order: `[cols, rows]` for matrices (`ne[0]` = row length), `[n]` for vectors. */
  readonly ne: readonly number[];
  /** dtype in the source file ("F32", "F16", "BF16"). */
  readonly sourceDtype: string;
  /** ggml type name of the source data ("f32", "f16", "bf16"), what {@link readRawRows} returns. */
  readonly type: string;
  /** Values per row (= ne[0]). */
  readonly rowLength: number;
  /** Rows (= product of ne[1..]). */
  readonly rows: number;
  /** Rows [start, start+count) as float32 (`count * rowLength` values, 4 bytes each). */
  readRows(start: number, count: number): Promise<Float32Array>;
  /** The whole tensor as float32 (allocates `4 * rows * rowLength` bytes). */
  read(): Promise<Float32Array>;
  /** Rows [start, start+count) as stored (in `type`), after any row permutation. */
  readRawRows(start: number, count: number): Promise<Uint8Array>;
  /**
   * @internal Where rows [start, start+count) lie in a local file, stored contiguously (so a pool
   * worker can read and convert them itself); null when they do not (permuted rows, memory sources).
   */
  fileRows?(start: number, count: number): FileRange | null;
}

const ST_TYPES: Record<string, { type: string; bytes: number }> = { F32: { type: "f32", bytes: 4 }, F16: { type: "f16", bytes: 2 }, BF16: { type: "bf16", bytes: 2 } };

/** fileRows of a safetensors tensor: its rows are contiguous at `offset` of its file (F32/F16/BF16). */
function stFileRows(st: SafetensorsTensor, start: number, count: number): FileRange | null {
  const dt = ST_TYPES[st.dtype], id = dt ? fileIdentityOf(st.source) : null;
  if (!dt || !id || !Number.isSafeInteger(start) || !Number.isSafeInteger(count) || start < 0 || count < 0 || start + count > st.rows) return null;
  const rb = st.rowLength * dt.bytes, offset = st.offset + start * rb;
  if (offset + count * rb > id.size) return null; // the regular read reports the truncation
  return { path: id.path, dev: id.dev, ino: id.ino, offset, type: dt.type, rowBytes: rb };
}

/** Llama hyperparameters as GGUF stores them. */
export interface LlamaHParams {
  contextLength: number;
  embeddingLength: number;
  blockCount: number;
  feedForwardLength: number;
  headCount: number;
  headCountKv: number;
  /** Rotary dimensions per head (= head size). */
  ropeDimensionCount: number;
  /**
   * Head size of q/k/v when it is not embeddingLength / headCount (HF `head_dim`, Mistral Nemo):
   * written as `llama.attention.key_length` / `value_length`; absent otherwise.
   */
  keyLength?: number;
  ropeFreqBase: number;
  rmsEps: number;
  vocabSize: number;
  /** Linear rope scaling (`llama.rope.scaling.type` = "linear", `.factor`), from HF `rope_scaling`. */
  ropeScaling?: { type: "linear"; factor: number };
  /** Mixture of experts (Mixtral): experts per layer and experts used per token; absent for dense models. */
  expertCount?: number;
  expertUsedCount?: number;
  /** Qwen3-MoE: each expert's FFN width (`<arch>.expert_feed_forward_length`, HF moe_intermediate_size). */
  expertFeedForwardLength?: number;
  /** Gemma 2 / 3, Phi-3: soft-capping, sliding window, local rope base, original context (see ./archs-gemma-phi.ts). */
  extra?: GemmaPhiParams;
}

/** A whole model, ready to be written as GGUF (after choosing an ftype). */
export interface ModelPlan {
  /** GGUF architecture: "llama" (llama2.c, Llama, Mistral, Mixtral), "qwen2", "qwen3". */
  readonly arch: GgufArch;
  readonly name: string;
  readonly hparams: LlamaHParams;
  readonly vocab: GgufVocab;
  /** Tensors in the order they will be written. */
  readonly tensors: readonly ModelTensor[];
  /** Absolute paths of the local files the plan reads (checkpoint, tokenizer, config.json, shards, index). */
  readonly files: readonly string[];
  /** Close the underlying sources. */
  close(): Promise<void>;
}

/** llama.cpp `llama_ftype` values for `general.file_type`. */
export const LLAMA_FTYPE: Readonly<Record<string, number>> = Object.freeze({
  F32: 0, F16: 1, Q4_0: 2, Q4_1: 3, Q8_0: 7, Q5_0: 8, Q5_1: 9, Q2_K: 10, Q3_K_S: 11, Q3_K_M: 12, Q3_K_L: 13,
  Q4_K_S: 14, Q4_K_M: 15, Q5_K_S: 16, Q5_K_M: 17, Q6_K: 18, IQ2_XXS: 19, IQ2_XS: 20, Q2_K_S: 21, IQ3_XS: 22,
  IQ3_XXS: 23, IQ1_S: 24, IQ4_NL: 25, IQ3_S: 26, IQ3_M: 27, IQ2_S: 28, IQ2_M: 29, IQ4_XS: 30, IQ1_M: 31,
  BF16: 32, TQ1_0: 36, TQ2_0: 37, MXFP4_MOE: 38,
});

/**
 * The GGUF metadata of a plan, in llama.cpp converter order: general.*, llama.* hyperparameters,
 * general.file_type, tokenizer.ggml.*, general.quantization_version (= 2).
 * @param fileType `general.file_type` (see {@link LLAMA_FTYPE}); a name like "Q4_K_M" or the number.
 */
export function llamaMetadata(plan: ModelPlan, fileType: string | number): GgufKV[] {
  const ft = typeof fileType === "number" ? fileType : LLAMA_FTYPE[fileType.toUpperCase()];
  if (ft === undefined) throw new TensorshrinkError("E_UNKNOWN_TYPE", `unknown file type ${fileType}`, { ftype: fileType });
  const h = plan.hparams;
  if (plan.arch === "gemma2" || plan.arch === "gemma3" || plan.arch === "phi3") {
    return [
      ggufKV("general.architecture", "str", plan.arch),
      ggufKV("general.type", "str", "model"),
      ggufKV("general.name", "str", plan.name),
      ...gemmaPhiHparamsMetadata(plan.arch, h, ft),
      ...vocabMetadata(plan.vocab),
      ggufKV("general.quantization_version", "u32", 2),
    ];
  }
  if (plan.arch !== "llama") {
    const a = plan.arch;
    return [
      ggufKV("general.architecture", "str", a),
      ggufKV("general.type", "str", "model"),
      ggufKV("general.name", "str", plan.name),
      ggufKV(`${a}.block_count`, "u32", h.blockCount),
      ggufKV(`${a}.context_length`, "u32", h.contextLength),
      ggufKV(`${a}.embedding_length`, "u32", h.embeddingLength),
      ggufKV(`${a}.feed_forward_length`, "u32", h.feedForwardLength),
      ggufKV(`${a}.attention.head_count`, "u32", h.headCount),
      ggufKV(`${a}.attention.head_count_kv`, "u32", h.headCountKv),
      ggufKV(`${a}.rope.freq_base`, "f32", h.ropeFreqBase),
      ggufKV(`${a}.attention.layer_norm_rms_epsilon`, "f32", h.rmsEps),
      ...(h.expertCount ? [ggufKV(`${a}.expert_count`, "u32", h.expertCount), ggufKV(`${a}.expert_used_count`, "u32", h.expertUsedCount ?? 2)] : []),
      ...(h.keyLength ? [ggufKV(`${a}.attention.key_length`, "u32", h.keyLength), ggufKV(`${a}.attention.value_length`, "u32", h.keyLength)] : []),
      ggufKV("general.file_type", "u32", ft),
      ...(h.expertFeedForwardLength ? [ggufKV(`${a}.expert_feed_forward_length`, "u32", h.expertFeedForwardLength)] : []),
      ...(h.ropeScaling ? [ggufKV(`${a}.rope.scaling.type`, "str", h.ropeScaling.type), ggufKV(`${a}.rope.scaling.factor`, "f32", h.ropeScaling.factor)] : []),
      ...vocabMetadata(plan.vocab),
      ggufKV("general.quantization_version", "u32", 2),
    ];
  }
  return [
    ggufKV("general.architecture", "str", "llama"),
    ggufKV("general.type", "str", "model"),
    ggufKV("general.name", "str", plan.name),
    ggufKV("llama.block_count", "u32", h.blockCount),
    ggufKV("llama.context_length", "u32", h.contextLength),
    ggufKV("llama.embedding_length", "u32", h.embeddingLength),
    ggufKV("llama.feed_forward_length", "u32", h.feedForwardLength),
    ggufKV("llama.attention.head_count", "u32", h.headCount),
    ggufKV("llama.attention.head_count_kv", "u32", h.headCountKv),
    ggufKV("llama.rope.freq_base", "f32", h.ropeFreqBase),
    ggufKV("llama.attention.layer_norm_rms_epsilon", "f32", h.rmsEps),
    ...(h.keyLength ? [ggufKV("llama.attention.key_length", "u32", h.keyLength), ggufKV("llama.attention.value_length", "u32", h.keyLength)] : []),
    ...(h.expertCount ? [ggufKV("llama.expert_count", "u32", h.expertCount), ggufKV("llama.expert_used_count", "u32", h.expertUsedCount ?? 2)] : []),
    ggufKV("general.file_type", "u32", ft),
    ggufKV("llama.vocab_size", "u32", h.vocabSize),
    ggufKV("llama.rope.dimension_count", "u32", h.ropeDimensionCount),
    ...(h.ropeScaling ? [ggufKV("llama.rope.scaling.type", "str", h.ropeScaling.type), ggufKV("llama.rope.scaling.factor", "f32", h.ropeScaling.factor)] : []),
    ...vocabMetadata(plan.vocab),
    ggufKV("general.quantization_version", "u32", 2),
  ];
}

/** The shape hyperparameters of a plan, for {@link checkLlamaTensors}. */
export function planShapeParams(plan: Pick<ModelPlan, "hparams" | "vocab"> & { arch?: GgufArch }): LlamaShapeParams {
  const h = plan.hparams;
  const head = h.keyLength ?? h.embeddingLength / h.headCount;
  return {
    arch: plan.arch ?? "llama",
    nEmbd: h.embeddingLength, nLayer: h.blockCount, nHead: h.headCount, nHeadKv: h.headCountKv, headDimK: head, headDimV: head,
    nFf: h.feedForwardLength, nVocab: plan.vocab.tokens.length, nExpert: h.expertCount ?? 0, nExpertUsed: h.expertCount ? h.expertUsedCount ?? 2 : 0,
    nRot: h.ropeDimensionCount,
    ...(h.expertFeedForwardLength ? { nFfExp: h.expertFeedForwardLength } : {}),
  };
}

function plainTensor(name: string, rows: number, cols: number, vector: boolean, dtype: string, readRows: (s: number, c: number) => Promise<Float32Array>, readRawRows: (s: number, c: number) => Promise<Uint8Array>): ModelTensor {
  // vectors (norm weights) are stored as a single row [1, n] and written 1-D
  if (vector && rows !== 1) throw new TensorshrinkError("E_SHAPE", `${name}: a vector must be one row, got ${rows}`, { tensor: name });
  const t: ModelTensor = {
    name, ne: vector ? [cols] : [cols, rows], sourceDtype: dtype, type: dtype.toLowerCase(), rowLength: cols, rows,
    readRows, readRawRows,
    read: () => readRows(0, rows),
  };
  return t;
}

/** Options of the plan builders. */
export interface PlanOptions {
  /** general.name (default: from the file name / config). */
  name?: string;
}

/**
 * Plan a llama2.c checkpoint + tokenizer.bin as a llama GGUF (no q/k permutation).
 * `output.weight` is included only when the checkpoint has a separate classifier.
 * @throws TensorshrinkError from the readers (E_FORMAT / E_TRUNCATED).
 */
export async function llamaFromLlama2c(checkpoint: SourceInput, tokenizer: SourceInput, opts: PlanOptions = {}): Promise<ModelPlan> {
  const src = await openSource(checkpoint);
  let tsrc: ByteSource;
  try {
    tsrc = await openSource(tokenizer);
  } catch (e) {
    await src.close?.().catch(() => undefined);
    throw e;
  }
  try {
    const ck = await readLlama2cCheckpoint(src);
    const tok = await readLlama2cTokenizer(tsrc, ck.config.vocabSize);
    await tsrc.close?.();
    const c = ck.config;
    const m = (gname: string, t: Llama2cTensor, vector = false) =>
      plainTensor(gname, t.shape[0], t.shape[1], vector, "F32", (s, n) => t.readRows(s, n), (s, n) => src.read(t.offset + s * t.shape[1] * 4, n * t.shape[1] * 4));
    const tensors: ModelTensor[] = [m("token_embd.weight", ck.get("token_embedding_table"))];
    for (let l = 0; l < c.nLayers; l++) {
      tensors.push(
        m(`blk.${l}.attn_norm.weight`, ck.get("rms_att_weight", l), true),
        m(`blk.${l}.attn_q.weight`, ck.get("wq", l)),
        m(`blk.${l}.attn_k.weight`, ck.get("wk", l)),
        m(`blk.${l}.attn_v.weight`, ck.get("wv", l)),
        m(`blk.${l}.attn_output.weight`, ck.get("wo", l)),
        m(`blk.${l}.ffn_norm.weight`, ck.get("rms_ffn_weight", l), true),
        m(`blk.${l}.ffn_gate.weight`, ck.get("w1", l)),
        m(`blk.${l}.ffn_down.weight`, ck.get("w2", l)),
        m(`blk.${l}.ffn_up.weight`, ck.get("w3", l)),
      );
    }
    tensors.push(m("output_norm.weight", ck.get("rms_final_weight"), true));
    if (!c.sharedClassifier) tensors.push(m("output.weight", ck.get("wcls")));
    const base = src.name.split(/[\\/]/).pop()!.replace(/\.bin$/i, "");
    const plan: ModelPlan = {
      arch: "llama",
      name: opts.name ?? base,
      hparams: {
        contextLength: c.seqLen, embeddingLength: c.dim, blockCount: c.nLayers, feedForwardLength: c.hiddenDim,
        headCount: c.nHeads, headCountKv: c.nKvHeads, ropeDimensionCount: c.dim / c.nHeads, ropeFreqBase: 10000,
        rmsEps: 1e-5, vocabSize: c.vocabSize,
      },
      vocab: vocabFromLlama2c(tok),
      tensors,
      files: [src.path, tsrc.path].filter((x): x is string => !!x),
      close: async () => { await src.close?.(); },
    };
    checkLlamaTensors(planShapeParams(plan), plan.tensors, src.name);
    checkLlamaVocab(plan.vocab, tsrc.name);
    return plan;
  } catch (e) {
    await src.close?.();
    await tsrc.close?.();
    throw e;
  }
}

/**
 * Row `r` of the permuted matrix comes from this source row, following convert_hf_to_gguf.py's
 * `permute(w, n_head, n_head_kv)`: `w.reshape(H, 2, D/2, cols).swapaxes(1, 2)` with D = rows / H.
 */
export function hfPermuteSourceRow(r: number, rows: number, heads: number): number {
  const d = rows / heads;
  const half = d / 2;
  const h = Math.floor(r / d);
  const k = r - h * d;
  const i = k >> 1;
  const j = k & 1;
  return h * d + j * half + i;
}

function permutedTensor(name: string, st: SafetensorsTensor, heads: number): ModelTensor {
  const rows = st.rows;
  const cols = st.rowLength;
  if (rows % heads !== 0 || (rows / heads) % 2 !== 0) {
    throw new TensorshrinkError("E_SHAPE", `${st.name}: ${rows} rows cannot be split into ${heads} heads of even size for the rope permutation`, { tensor: st.name });
  }
  const d = rows / heads;
  // Read the whole heads touched by [start, start+count) as stored bytes, then permute rows.
  const readRawRows = async (start: number, count: number) => {
    if (count === 0) return new Uint8Array(0);
    const h0 = Math.floor(start / d);
    const h1 = Math.floor((start + count - 1) / d);
    const src = await st.readBytes(h0 * d, (h1 - h0 + 1) * d);
    const rb = src.byteLength / ((h1 - h0 + 1) * d);
    const out = new Uint8Array(count * rb);
    for (let r = start; r < start + count; r++) {
      const s = hfPermuteSourceRow(r, rows, heads) - h0 * d;
      out.set(src.subarray(s * rb, (s + 1) * rb), (r - start) * rb);
    }
    return out;
  };
  const readRows = async (start: number, count: number) => {
    const out = new Float32Array(count * cols);
    if (count === 0) return out;
    const h0 = Math.floor(start / d);
    const h1 = Math.floor((start + count - 1) / d);
    const src = await st.readRows(h0 * d, (h1 - h0 + 1) * d);
    for (let r = start; r < start + count; r++) {
      const s = hfPermuteSourceRow(r, rows, heads) - h0 * d;
      out.set(src.subarray(s * cols, (s + 1) * cols), (r - start) * cols);
    }
    return out;
  };
  return { name, ne: [cols, rows], sourceDtype: st.dtype, type: st.dtype.toLowerCase(), rowLength: cols, rows, readRows, readRawRows, read: () => readRows(0, rows) };
}

/**
 * Experts stacked into one 3D tensor (Mixtral: experts.E.w1 -> ffn_gate_exps, ne = [cols, rows, E]):
 * row r of the stack is row r % rows of expert floor(r / rows), read from that expert's tensor.
 */
function stackedTensor(name: string, parts: SafetensorsTensor[]): ModelTensor {
  const first = parts[0]!;
  for (const p of parts) {
    if (p.dtype !== first.dtype || p.rows !== first.rows || p.rowLength !== first.rowLength || p.shape.length !== 2) {
      throw new TensorshrinkError("E_SHAPE", `${name}: expert tensors differ (${first.name} is ${first.dtype} [${first.shape}], ${p.name} is ${p.dtype} [${p.shape}])`, { tensor: p.name });
    }
  }
  const per = first.rows, cols = first.rowLength, rows = per * parts.length;
  const gather = async <T extends Uint8Array | Float32Array>(start: number, count: number, read: (t: SafetensorsTensor, s: number, c: number) => Promise<T>, make: (n: number) => T, unit: number): Promise<T> => {
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(count) || start < 0 || count < 0 || start + count > rows) {
      throw new TensorshrinkError("E_RANGE", `tensor ${name}: rows [${start}, ${start + count}) outside [0, ${rows})`, { tensor: name });
    }
    const out = make(count * unit);
    for (let r = start; r < start + count;) {
      const e = Math.floor(r / per), r0 = r - e * per, n = Math.min(per - r0, start + count - r);
      out.set(await read(parts[e]!, r0, n), (r - start) * unit);
      r += n;
    }
    return out;
  };
  const es = first.dtype === "F32" ? 4 : first.dtype === "F64" ? 8 : 2;
  const readRows = (s: number, c: number) => gather(s, c, (t, a, b) => t.readRows(a, b), (n) => new Float32Array(n), cols);
  return {
    name, ne: [cols, per, parts.length], sourceDtype: first.dtype, type: first.dtype.toLowerCase(), rowLength: cols, rows,
    readRows, readRawRows: (s, c) => gather(s, c, (t, a, b) => t.readBytes(a, b), (n) => new Uint8Array(n), cols * es), read: () => readRows(0, rows),
    fileRows: (s, c) => {
      const e = Math.floor(s / per);
      return e >= 0 && e < parts.length && s + c <= (e + 1) * per ? stFileRows(parts[e]!, s - e * per, c) : null;
    },
  };
}

function stTensor(name: string, st: SafetensorsTensor): ModelTensor {
  const vector = st.shape.length <= 1;
  return {
    name, ne: vector ? [st.rowLength] : [st.rowLength, st.rows], sourceDtype: st.dtype, type: st.dtype.toLowerCase(), rowLength: st.rowLength, rows: vector ? 1 : st.rows,
    readRows: (s, c) => st.readRows(s, c), readRawRows: (s, c) => st.readBytes(s, c), read: () => st.read(),
    fileRows: (s, c) => stFileRows(st, s, c),
  };
}

/** tokenizer.model parsed, or undefined when the directory has none. */
async function readSentencePieceFile(resolve: FileResolver): Promise<SentencePieceModel | undefined> {
  let src;
  try {
    src = await resolve("tokenizer.model");
  } catch (e) {
    if (isMissing(e)) return undefined;
    throw e;
  }
  try {
    if (src.size > 256 << 20) throw new TensorshrinkError("E_FORMAT", `tokenizer.model is ${src.size} bytes, too large (at byte offset 0)`, { offset: 0, file: "tokenizer.model" });
    return readSentencePieceModel(await src.read(0, src.size));
  } finally {
    await src.close?.();
  }
}

async function readJson(resolve: FileResolver, name: string, required: boolean): Promise<any> {
  let src;
  try {
    src = await resolve(name);
  } catch (e) {
    if (!required && isMissing(e)) return undefined;
    if ((e as any)?.name === "TensorshrinkError" && !isMissing(e)) throw e; // not a regular file, permissions, ...
    throw new TensorshrinkError("E_IO", `model directory has no ${name}`, { file: name }, { cause: e });
  }
  try {
    if (src.size > 256 << 20) throw new TensorshrinkError("E_FORMAT", `${name} is ${src.size} bytes, too large (at byte offset 0)`, { offset: 0, file: name });
    let json: unknown, text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(await src.read(0, src.size));
      json = JSON.parse(text);
    } catch (e) {
      if ((e as any)?.name === "TensorshrinkError") throw e;
      throw new TensorshrinkError("E_FORMAT", `${name} is not valid JSON: ${(e as Error).message} (at byte offset 0)`, { offset: 0, file: name });
    }
    if (name !== "tokenizer.json") {
      // tokenizer.json legitimately has no duplicates either, but it can be large: checked by the vocabulary's id checks instead
      const dup = findDuplicateJsonKey(text);
      if (dup) throw new TensorshrinkError("E_FORMAT", `${name}: duplicate key ${JSON.stringify(dup.key)} (at byte offset ${dup.byteOffset})`, { offset: dup.byteOffset, key: dup.key, file: name });
    }
    return json;
  } finally {
    await src.close?.();
  }
}

/**
 * Plan a Hugging Face directory (config.json, model.safetensors or sharded with
 * model.safetensors.index.json, tokenizer.json or a SentencePiece tokenizer.model [+ tokenizer_config.json,
 * whose chat_template becomes tokenizer.chat_template]) as a GGUF of the architecture config.json names
 * (Llama / Mistral / Mixtral → llama; Qwen2ForCausalLM → qwen2 with q/k/v biases; Qwen3ForCausalLM →
 * qwen3 with q/k norms; Qwen3MoeForCausalLM → qwen3moe, experts stacked). For llama, applying
 * llama.cpp's q/k row permutation (HF checkpoints rotate halves, llama.cpp rotates adjacent pairs).
 * config.json is validated field by field, then checked against the tensors' shapes (only headers
 * are read) before the vocabulary is built, so no hyperparameter sizes an allocation unchecked; the
 * finished plan passes llama.cpp's shape checks ({@link checkLlamaTensors}).
 * @param dir a directory path (Node/Deno/Bun) or a {@link FileResolver} (browsers: `filesResolver`, URLs: `urlResolver`).
 * @throws TensorshrinkError `E_FORMAT` (config/tokenizer/safetensors), `E_SHAPE` (a tensor that
 *   does not fit the hyperparameters), `E_UNSUPPORTED`, `E_IO`.
 */
export async function llamaFromHf(dir: string | FileResolver, opts: PlanOptions = {}): Promise<ModelPlan> {
  const base = typeof dir === "string" ? directoryResolver(dir) : dir;
  const files: string[] = [];
  const resolve: FileResolver = async (name) => {
    const src = await base(name);
    if (src.path && !files.includes(src.path)) files.push(src.path);
    return src;
  };
  const where = typeof dir === "string" ? dir : "model directory";
  const rawConfig = await readJson(resolve, "config.json", true);
  const cfg = parseHfLlamaConfig(rawConfig);
  const info = hfArchInfo(cfg.arch);
  const { hiddenSize: dim, nHead, nHeadKv: nKv, nLayers, headDim, nExpert, nExpertUsed } = cfg;
  const model = await openSafetensorsModel(resolve);
  try {
    const get = (n: string) => {
      const t = model.tensors.get(n);
      if (!t) throw new TensorshrinkError("E_FORMAT", `safetensors weights have no tensor ${n}`, { tensor: n });
      return t;
    };
    // the embedding bounds the vocabulary: check it before any token id sizes an array
    const emb = get("model.embed_tokens.weight");
    if (emb.shape.length !== 2 || emb.shape[1] !== dim) {
      throw new TensorshrinkError("E_SHAPE", `${where}: model.embed_tokens.weight has shape [${emb.shape.join(", ")}], config.json needs [n_vocab, ${dim}] (hidden_size ${dim})`, { tensor: emb.name, shape: [...emb.shape] });
    }
    const nVocabRows = emb.shape[0]!;
    if (nVocabRows < 1 || nVocabRows > LLAMA_LIMITS.vocab) throw new TensorshrinkError("E_SHAPE", `${where}: model.embed_tokens.weight has ${nVocabRows} rows, not a vocabulary size from 1 to ${LLAMA_LIMITS.vocab}`, { tensor: emb.name });
    const tokJson = await readJson(resolve, "tokenizer.json", false);
    const tokCfg = (await readJson(resolve, "tokenizer_config.json", false)) ?? {};
    let vocab: GgufVocab;
    // Gemma and Phi-3 (convert_hf_to_gguf.py: _set_vocab_sentencepiece) prefer tokenizer.model; Phi-4's
    // GPT2Tokenizer (tokenizer_config.json tokenizer_class) takes tokenizer.json
    const spmFirst = (info.gemma || info.fused) && !(info.fused && (tokCfg as any).tokenizer_class === "GPT2Tokenizer");
    const spmModel = spmFirst ? await readSentencePieceFile(resolve) : undefined;
    if (spmModel) vocab = vocabFromSentencePiece(spmModel, tokCfg, rawConfig, { vocabSize: cfg.vocabSize, maxTokens: nVocabRows, addedTokens: info.fused ? "phi3" : "spm", tokenizerJson: tokJson });
    else if (tokJson !== undefined) vocab = vocabFromHfTokenizer(tokJson, tokCfg, rawConfig, { vocabSize: cfg.vocabSize, maxTokens: nVocabRows, pre: info.pre });
    else {
      // no tokenizer.json: the SentencePiece tokenizer.model, as convert_hf_to_gguf.py's _set_vocab_sentencepiece
      const spm = await readSentencePieceFile(resolve);
      if (!spm) throw new TensorshrinkError("E_IO", `${where} has neither tokenizer.json nor tokenizer.model`, { file: "tokenizer.json" });
      vocab = vocabFromSentencePiece(spm, tokCfg, rawConfig, { vocabSize: cfg.vocabSize, maxTokens: nVocabRows });
    }
    const chatTemplate = chatTemplateOf(tokCfg);
    if (chatTemplate !== undefined) vocab.chatTemplate = chatTemplate;
    // Qwen's tokenizer_config.json has no add_bos_token and bos_token null: llama.cpp's qwen2 vocab adds no BOS
    if (info.arch !== "llama" && !info.gemma && !info.fused && vocab.model === "gpt2" && (tokCfg as any).add_bos_token === undefined) vocab.addBos = false;
    if (info.gemma && vocab.model === "llama") vocab.addSpacePrefix = false;
    const extra = info.gemma || info.fused ? parseGemmaPhiConfig(rawConfig, cfg, info.arch) : undefined;
    // Gemma 3: rows of token_embd beyond the vocabulary are dropped (Gemma3Model.modify_tensors)
    const embT = info.arch === "gemma3" ? truncatedRows(stTensor("token_embd.weight", emb), vocab.tokens.length) : stTensor("token_embd.weight", emb);
    const tensors: ModelTensor[] = [embT];
    for (let l = 0; l < nLayers; l++) {
      const p = `model.layers.${l}.`;
      if (info.gemma || info.fused) { tensors.push(...gemmaPhiLayerTensors(info, l, get, stTensor)); continue; }
      tensors.push(
        stTensor(`blk.${l}.attn_norm.weight`, get(p + "input_layernorm.weight")),
        info.permuteQK ? permutedTensor(`blk.${l}.attn_q.weight`, get(p + "self_attn.q_proj.weight"), nHead) : stTensor(`blk.${l}.attn_q.weight`, get(p + "self_attn.q_proj.weight")),
        info.permuteQK ? permutedTensor(`blk.${l}.attn_k.weight`, get(p + "self_attn.k_proj.weight"), nKv) : stTensor(`blk.${l}.attn_k.weight`, get(p + "self_attn.k_proj.weight")),
        stTensor(`blk.${l}.attn_v.weight`, get(p + "self_attn.v_proj.weight")),
        stTensor(`blk.${l}.attn_output.weight`, get(p + "self_attn.o_proj.weight")),
      );
      if (info.qkvBias) {
        tensors.push(
          stTensor(`blk.${l}.attn_q.bias`, get(p + "self_attn.q_proj.bias")),
          stTensor(`blk.${l}.attn_k.bias`, get(p + "self_attn.k_proj.bias")),
          stTensor(`blk.${l}.attn_v.bias`, get(p + "self_attn.v_proj.bias")),
        );
      }
      if (info.qkNorm) {
        tensors.push(
          stTensor(`blk.${l}.attn_q_norm.weight`, get(p + "self_attn.q_norm.weight")),
          stTensor(`blk.${l}.attn_k_norm.weight`, get(p + "self_attn.k_norm.weight")),
        );
      }
      tensors.push(stTensor(`blk.${l}.ffn_norm.weight`, get(p + "post_attention_layernorm.weight")));
      if (nExpert) {
        // as llama.cpp's converter: router -> ffn_gate_inp, experts w1/w2/w3 stacked -> ffn_{gate,down,up}_exps
        // (Qwen3-MoE: router mlp.gate, experts mlp.experts.E.{gate,down,up}_proj)
        const q = info.moeNames === "qwen";
        const ex = (w: string) => Array.from({ length: nExpert }, (_, e) => get(q ? `${p}mlp.experts.${e}.${w}.weight` : `${p}block_sparse_moe.experts.${e}.${w}.weight`));
        tensors.push(
          stTensor(`blk.${l}.ffn_gate_inp.weight`, get(p + (q ? "mlp.gate.weight" : "block_sparse_moe.gate.weight"))),
          stackedTensor(`blk.${l}.ffn_gate_exps.weight`, ex(q ? "gate_proj" : "w1")),
          stackedTensor(`blk.${l}.ffn_down_exps.weight`, ex(q ? "down_proj" : "w2")),
          stackedTensor(`blk.${l}.ffn_up_exps.weight`, ex(q ? "up_proj" : "w3")),
        );
      } else {
        tensors.push(
          stTensor(`blk.${l}.ffn_gate.weight`, get(p + "mlp.gate_proj.weight")),
          stTensor(`blk.${l}.ffn_down.weight`, get(p + "mlp.down_proj.weight")),
          stTensor(`blk.${l}.ffn_up.weight`, get(p + "mlp.up_proj.weight")),
        );
      }
    }
    tensors.push(info.gemma ? shiftedTensor("output_norm.weight", get("model.norm.weight"), 1) : stTensor("output_norm.weight", get("model.norm.weight")));
    let ropeScaling: LlamaHParams["ropeScaling"];
    const rs = cfg.ropeScaling;
    if (rs?.type === "llama3") {
      const f = llama3RopeFactors(cfg.ropeTheta, headDim, { factor: rs.factor, low_freq_factor: rs.lowFreqFactor, high_freq_factor: rs.highFreqFactor, original_max_position_embeddings: rs.originalMaxPositions });
      // llama.cpp's converter writes rope_freqs.weight first (generate_extra_tensors)
      tensors.unshift({ name: "rope_freqs.weight", ne: [f.length], sourceDtype: "F32", type: "f32", rowLength: f.length, rows: 1,
        readRows: async () => f.slice(), read: async () => f.slice(), readRawRows: async () => new Uint8Array(f.slice().buffer) });
    } else if (rs?.type === "linear") ropeScaling = { type: "linear", factor: rs.factor };
    const lm = model.tensors.get("lm_head.weight");
    if (lm && !cfg.tieWordEmbeddings && !info.dropLmHead) tensors.push(stTensor("output.weight", lm));
    const gate = tensors.find((t) => t.name === "blk.0.ffn_gate.weight" || t.name === "blk.0.ffn_gate_exps.weight" || t.name === "blk.0.ffn_down.weight")!;
    const ffn = cfg.intermediateSize ?? (gate.name.endsWith("ffn_down.weight") ? gate.ne[0]! : gate.ne.length >= 2 ? gate.ne[1]! : 0);
    if (extra?.ropeLinearFactor !== undefined) ropeScaling = { type: "linear", factor: extra.ropeLinearFactor };
    if (!(info.arch === "llama" || (info.arch === "gemma3" && rs?.type === "linear")) && rs) throw new TensorshrinkError("E_UNSUPPORTED", `${where}: rope_scaling ${rs.type} is not supported for ${cfg.arch} yet`, { arch: cfg.arch, rope: rs.type });
    const plan: ModelPlan = {
      arch: info.arch,
      name: opts.name ?? cfg.name ?? info.arch,
      hparams: {
        contextLength: cfg.maxPositions, embeddingLength: dim, blockCount: nLayers, feedForwardLength: ffn,
        headCount: nHead, headCountKv: nKv, ropeDimensionCount: headDim, ropeFreqBase: extra?.ropeTheta ?? cfg.ropeTheta,
        rmsEps: cfg.rmsEps, vocabSize: vocab.tokens.length, ropeScaling,
        ...(headDim * nHead !== dim || (info.headDimKeysWhenGiven && cfg.headDimGiven) ? { keyLength: headDim } : {}),
        ...(nExpert ? { expertCount: nExpert, expertUsedCount: nExpertUsed } : {}),
        ...(nExpert && info.arch === "qwen3moe" ? { expertFeedForwardLength: cfg.moeIntermediateSize ?? (gate.ne[1] ?? 0) } : {}),
        ...(extra ? { extra } : {}),
      },
      vocab,
      tensors,
      files,
      close: () => model.close(),
    };
    checkLlamaTensors(planShapeParams(plan), plan.tensors, where);
    checkLlamaVocab({ ...plan.vocab, name: plan.name }, `${where}: tokenizer.json`);
    return plan;
  } catch (e) {
    await model.close();
    throw e;
  }
}

/**
 * Llama 3 rope frequency factors (`rope_freqs.weight`, head_dim / 2 values), as
 * convert_hf_to_gguf.py computes them from `rope_scaling` {rope_type: "llama3", factor,
 * low_freq_factor, high_freq_factor, original_max_position_embeddings}.
 */
export function llama3RopeFactors(ropeTheta: number, headDim: number, rs: Record<string, any>): Float32Array {
  const factor = rs.factor ?? 8.0;
  const lowF = rs.low_freq_factor ?? 1.0;
  const highF = rs.high_freq_factor ?? 4.0;
  const oldCtx = rs.original_max_position_embeddings ?? 8192;
  const lowWl = oldCtx / lowF;
  const highWl = oldCtx / highF;
  const out = new Float32Array(headDim / 2);
  for (let k = 0; k < out.length; k++) {
    const e = Math.fround(Math.fround(2 * k) / headDim);
    const freq = Math.fround(1 / Math.fround(Math.pow(ropeTheta, e)));
    const wl = (2 * Math.PI) / freq;
    if (wl < highWl) out[k] = 1;
    else if (wl > lowWl) out[k] = factor;
    else {
      const smooth = (oldCtx / wl - lowF) / (highF - lowF);
      out[k] = 1 / ((1 - smooth) / factor + smooth);
    }
  }
  return out;
}

/** Input of {@link openLlamaModel} / {@link convertToGguf}. */
export type LlamaInput =
  | ModelPlan
  | { llama2c: SourceInput; tokenizer: SourceInput; name?: string }
  | { hf: string | FileResolver; name?: string };

/** Build a plan from any supported input (a plan is returned as is). */
export async function openLlamaModel(input: LlamaInput): Promise<ModelPlan> {
  if ("tensors" in input && "hparams" in input) return input;
  if ("llama2c" in input) return llamaFromLlama2c(input.llama2c, input.tokenizer, { name: input.name });
  if ("hf" in input) return llamaFromHf(input.hf, { name: input.name });
  throw new TensorshrinkError("E_ARG_TYPE", "expected a ModelPlan, {llama2c, tokenizer} or {hf}", {});
}

/** Options of {@link convertToGguf}. */
export interface ConvertOptions {
  /** "F32" (every tensor f32) or "F16" (matrices f16, vectors f32, as convert_hf_to_gguf.py --outtype f16). */
  ftype: "F32" | "F16";
  /** Rows per read (default: about 1 MiB of float32 per chunk). */
  chunkValues?: number;
  /** Progress after each tensor: index, count, tensor name, bytes written so far. */
  onTensor?(index: number, count: number, name: string, bytesWritten: number): void;
  signal?: AbortSignal;
}

/** Result of a conversion. */
export interface ConvertResult {
  layout: GgufLayout;
  tensors: { name: string; type: string; ne: readonly number[]; nbytes: number }[];
}

/**
 * Convert a Llama model to an unquantized GGUF (F32 or F16), streaming: each tensor is read in
 * chunks of whole rows (~1 MiB) and written as it arrives, so memory stays ~2 MiB plus the header.
 * The sink is committed on success and aborted on failure (no partial file).
 */
export async function convertToGguf(source: LlamaInput, sink: ByteSink, opts: ConvertOptions): Promise<ConvertResult> {
  const plan = await openLlamaModel(source);
  try {
    if (opts.ftype !== "F32" && opts.ftype !== "F16") throw new TensorshrinkError("E_UNKNOWN_TYPE", `convertToGguf writes F32 or F16, got ${opts.ftype}`, { ftype: opts.ftype });
    const specs: GgufTensorSpec[] = plan.tensors.map((t) => ({ name: t.name, ne: t.ne, type: opts.ftype === "F16" && t.ne.length >= 2 ? "f16" : "f32" }));
    const chunk = opts.chunkValues ?? 1 << 18;
    const layout = await writeGguf(sink, llamaMetadata(plan, opts.ftype), specs, (spec, i) => {
      const t = plan.tensors[i]!;
      const f16 = spec.type === "f16";
      return (async function* () {
        const per = Math.max(1, Math.floor(chunk / Math.max(1, t.rowLength)));
        for (let r = 0; r < t.rows; r += per) {
          const n = Math.min(per, t.rows - r);
          const vals = await t.readRows(r, n);
          yield f16 ? encodeF16(vals) : encodeF32(vals);
        }
      })();
    }, { signal: opts.signal, onTensor: (i, b) => opts.onTensor?.(i, specs.length, specs[i]!.name, b) });
    return { layout, tensors: specs.map((s, i) => ({ name: s.name, type: String(s.type), ne: s.ne, nbytes: layout.nbytes[i]! })) };
  } finally {
    if (plan !== source) await plan.close();
  }
}

/** The shape of a model the quantization pipeline consumes (src/model/source.ts `ModelSource`). */
export interface PlanModelSource {
  readonly name: string;
  /** Full GGUF metadata (general.file_type = 0 here; the quantizer replaces it). */
  readonly metadata: readonly GgufKV[];
  readonly tensors: readonly ModelTensor[];
  readonly hparams: { nLayer: number; nHead: number; nHeadKv: number; nExpert: number };
  /** The plan it came from. */
  readonly plan: ModelPlan;
  /** Absolute paths of the local files it reads (= plan.files): protect them from the output. */
  readonly files: readonly string[];
  close(): Promise<void>;
}

/** View a plan as the quantization pipeline's model source (metadata with `general.file_type` F32). */
export function planAsModelSource(plan: ModelPlan): PlanModelSource {
  return {
    name: plan.name,
    metadata: llamaMetadata(plan, "F32"),
    tensors: plan.tensors,
    hparams: { nLayer: plan.hparams.blockCount, nHead: plan.hparams.headCount, nHeadKv: plan.hparams.headCountKv, nExpert: plan.hparams.expertCount ?? 0 },
    plan,
    files: plan.files,
    close: () => plan.close(),
  };
}

/**
 * Open a llama2.c checkpoint as a model source. Without `tokenizer`, looks beside the checkpoint for
 * `tokenizer.bin`, then a single `tok*.bin` (Node/Deno/Bun).
 * @throws TensorshrinkError `E_IO` when no tokenizer is found.
 */
export async function openLlama2cModel(path: string, tokenizer?: string): Promise<PlanModelSource> {
  let tok = tokenizer;
  if (!tok) {
    const fs = await nodeBuiltin("node:fs/promises");
    const p = await nodeBuiltin("node:path");
    const dir = p.dirname(p.resolve(path));
    let names: string[];
    try { names = await fs.readdir(dir); } catch (e) { throw new TensorshrinkError("E_IO", `cannot list ${dir} to find the tokenizer of ${path}: ${(e as Error).message}`, { file: path }); }
    const cands = names.includes("tokenizer.bin") ? ["tokenizer.bin"] : names.filter((n) => /^tok.*\.bin$/i.test(n) && p.join(dir, n) !== p.resolve(path));
    if (cands.length !== 1) {
      throw new TensorshrinkError("E_IO", `${path}: need the llama2.c tokenizer: found ${cands.length ? cands.join(", ") : "no tokenizer.bin / tok*.bin"} beside it; pass --tokenizer`, { file: path });
    }
    tok = p.join(dir, cands[0]!);
  }
  return planAsModelSource(await llamaFromLlama2c(path, tok!));
}

/** Open a Hugging Face Llama directory (or resolver) as a model source (q/k permuted as llama.cpp does). */
export async function openHfModel(dir: string | FileResolver): Promise<PlanModelSource> {
  return planAsModelSource(await llamaFromHf(dir));
}
