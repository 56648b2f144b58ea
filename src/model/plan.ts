/**
 * The model plan: GGUF metadata plus a list of lazily readable tensors in GGUF naming and ggml `ne`
 * order (what the converters of ./convert-llama2c.ts and ./convert-hf.ts build), the GGUF metadata
 * of a plan in llama.cpp converter order, its shape parameters for llama.cpp's checks, and its view
 * as the quantization pipeline's model source.
 */
import { TensorshrinkError } from "../errors";
import { ggufKV, type GgufKV } from "../formats/gguf";
import type { FileRange } from "../engine/pool";
import { vocabMetadata, type GgufVocab } from "./vocab";
import type { LlamaShapeParams } from "./validate";
import type { GgufArch } from "./archs";
import { gemmaPhiHparamsMetadata, type GemmaPhiParams } from "./archs-gemma-phi";

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

/** Options of the plan builders. */
export interface PlanOptions {
  /** general.name (default: from the file name / config). */
  name?: string;
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
