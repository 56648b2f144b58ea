/**
 * A Hugging Face llama `config.json`, checked field by field before any of it sizes an allocation or
 * reaches the GGUF header: types (integer, number, boolean, string), signs and {@link LLAMA_LIMITS}.
 * Every failure is `E_FORMAT` naming the key and the value (never a RangeError from `new Array(40.5)`).
 */
import { TensorshrinkError } from "../errors";
import { LLAMA_LIMITS } from "./validate";

/** The fields of config.json the llama conversion uses, validated. */
export interface HfLlamaConfig {
  /** architectures[0], when given. */
  readonly arch?: string;
  readonly hiddenSize: number;
  readonly nHead: number;
  readonly nHeadKv: number;
  readonly nLayers: number;
  /** head_dim, default hidden_size / num_attention_heads. */
  readonly headDim: number;
  /** Whether config.json gives head_dim explicitly (convert_hf_to_gguf.py then writes key_length / value_length). */
  readonly headDimGiven: boolean;
  /** vocab_size, when given (the vocabulary is padded up to it). */
  readonly vocabSize?: number;
  /** intermediate_size, when given (else taken from the tensors). */
  readonly intermediateSize?: number;
  /** max_position_embeddings (default 2048). */
  readonly maxPositions: number;
  /** rope_theta (default 10000). */
  readonly ropeTheta: number;
  /** rms_norm_eps (default 1e-5). */
  readonly rmsEps: number;
  readonly tieWordEmbeddings: boolean;
  /** num_local_experts (0 = dense) and num_experts_per_tok. */
  readonly nExpert: number;
  readonly nExpertUsed: number;
  /** moe_intermediate_size (Qwen3-MoE: each expert's FFN width), when given. */
  readonly moeIntermediateSize?: number;
  /** _name_or_path's last component, when given. */
  readonly name?: string;
  readonly ropeScaling: null | { type: "linear"; factor: number } | { type: "llama3"; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositions: number };
  /** bos_token_id / eos_token_id (the first of a list), when given. */
  readonly bosTokenId?: number;
  readonly eosTokenId?: number;
}

/** HF `architectures[0]` values the conversion accepts (see src/model/archs.ts for the GGUF arch of each). */
export const SUPPORTED_HF_ARCHS: readonly string[] = ["LlamaForCausalLM", "MistralForCausalLM", "MixtralForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM", "Qwen3MoeForCausalLM", "Gemma2ForCausalLM", "Gemma3ForCausalLM", "Phi3ForCausalLM"];
const SUPPORTED = SUPPORTED_HF_ARCHS;

/**
 * Validates a parsed config.json.
 * @throws TensorshrinkError `E_FORMAT` (wrong type, out of range, inconsistent), `E_UNSUPPORTED`
 *   (architecture, rope scaling type).
 */
export function parseHfLlamaConfig(c: unknown, file = "config.json"): HfLlamaConfig {
  if (typeof c !== "object" || c === null || Array.isArray(c)) throw new TensorshrinkError("E_FORMAT", `${file} is not a JSON object`, { file });
  const cfg = c as Record<string, unknown>;
  const bad = (k: string, why: string) => new TensorshrinkError("E_FORMAT", `${file}: ${k} = ${show(cfg[k])} ${why}`, { key: k, file });
  const int = (k: string, lo: number, hi: number, d?: number): number => {
    const v = cfg[k] ?? d;
    if (v === undefined) throw bad(k, "is missing");
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < lo || v > hi) throw bad(k, `is not an integer from ${lo} to ${hi}`);
    return v;
  };
  const optInt = (k: string, lo: number, hi: number) => (cfg[k] === undefined || cfg[k] === null ? undefined : int(k, lo, hi));
  const pos = (k: string, d: number, hi = Number.MAX_VALUE): number => {
    const v = cfg[k] ?? d;
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0 || v > hi) throw bad(k, `is not a positive number${hi < Number.MAX_VALUE ? ` up to ${hi}` : ""}`);
    return v;
  };
  let arch: string | undefined;
  if (cfg.architectures !== undefined) {
    if (!Array.isArray(cfg.architectures) || !cfg.architectures.every((a) => typeof a === "string")) throw bad("architectures", "is not a list of names");
    arch = cfg.architectures[0];
    if (arch === "Gemma3ForConditionalGeneration") {
      throw new TensorshrinkError("E_UNSUPPORTED", `${file} architecture ${arch} (Gemma 3 with its vision tower) is not supported: convert the text-only Gemma3ForCausalLM checkpoint (${SUPPORTED.join(", ")} are supported)`, { arch, file });
    }
    if (arch !== undefined && !SUPPORTED.includes(arch)) {
      throw new TensorshrinkError("E_UNSUPPORTED", `${file} architecture ${arch} is not supported (${SUPPORTED.join(", ")} are)`, { arch, file });
    }
  }
  const hiddenSize = int("hidden_size", 1, LLAMA_LIMITS.embd);
  const nHead = int("num_attention_heads", 1, LLAMA_LIMITS.heads);
  const nHeadKv = int("num_key_value_heads", 1, nHead, nHead);
  if (nHead % nHeadKv !== 0) throw bad("num_key_value_heads", `does not divide num_attention_heads ${nHead}`);
  const nLayers = int("num_hidden_layers", 1, LLAMA_LIMITS.layers);
  let headDim: number;
  if (cfg.head_dim === undefined || cfg.head_dim === null) {
    if (hiddenSize % nHead !== 0) throw bad("hidden_size", `is not a multiple of num_attention_heads ${nHead} (and there is no head_dim)`);
    headDim = hiddenSize / nHead;
  } else headDim = int("head_dim", 2, LLAMA_LIMITS.headDim);
  if (headDim % 2 !== 0) throw new TensorshrinkError("E_FORMAT", `${file}: the head size ${headDim} is odd (rope rotates pairs)`, { key: "head_dim", file });
  const vocabSize = optInt("vocab_size", 1, LLAMA_LIMITS.vocab);
  const intermediateSize = optInt("intermediate_size", 1, LLAMA_LIMITS.ff);
  const maxPositions = int("max_position_embeddings", 1, LLAMA_LIMITS.context, 2048);
  const ropeTheta = pos("rope_theta", 10000);
  const rmsEps = pos("rms_norm_eps", 1e-5, 1);
  const tie = cfg.tie_word_embeddings ?? false;
  if (typeof tie !== "boolean") throw bad("tie_word_embeddings", "is not true or false");
  let nExpert = 0, nExpertUsed = 0;
  // Mixtral: num_local_experts; Qwen3-MoE: num_experts
  const ek = cfg.num_local_experts !== undefined && cfg.num_local_experts !== null ? "num_local_experts" : "num_experts";
  if (cfg[ek] !== undefined && cfg[ek] !== null) {
    nExpert = int(ek, 0, LLAMA_LIMITS.experts);
    if (nExpert === 1) throw bad(ek, "must be 0 (dense) or at least 2");
    if (nExpert > 0) nExpertUsed = int("num_experts_per_tok", 1, nExpert, Math.min(2, nExpert));
  }
  let name: string | undefined;
  if (cfg._name_or_path !== undefined && cfg._name_or_path !== null) {
    if (typeof cfg._name_or_path !== "string") throw bad("_name_or_path", "is not a string");
    name = cfg._name_or_path.split("/").pop() || undefined;
  }
  const tokenId = (k: string): number | undefined => {
    let v = cfg[k];
    if (Array.isArray(v)) v = v[0];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0 || v >= LLAMA_LIMITS.vocab) throw bad(k, "is not a token id");
    return v;
  };
  return {
    arch, hiddenSize, nHead, nHeadKv, nLayers, headDim, headDimGiven: !(cfg.head_dim === undefined || cfg.head_dim === null), vocabSize, intermediateSize, maxPositions, ropeTheta, rmsEps,
    tieWordEmbeddings: tie, nExpert, nExpertUsed, moeIntermediateSize: optInt("moe_intermediate_size", 1, LLAMA_LIMITS.ff), name, ropeScaling: ropeScaling(cfg.rope_scaling, file),
    bosTokenId: tokenId("bos_token_id"), eosTokenId: tokenId("eos_token_id"),
  };
}

function ropeScaling(rs: unknown, file: string): HfLlamaConfig["ropeScaling"] {
  if (rs === undefined || rs === null) return null;
  const bad = (k: string, v: unknown, why: string) => new TensorshrinkError("E_FORMAT", `${file}: rope_scaling.${k} = ${show(v)} ${why}`, { key: `rope_scaling.${k}`, file });
  if (typeof rs !== "object" || Array.isArray(rs)) throw bad("", rs, "is not an object");
  const r = rs as Record<string, unknown>;
  const t = r.rope_type ?? r.type ?? "";
  if (typeof t !== "string") throw bad("rope_type", t, "is not a string");
  const type = t.toLowerCase();
  const num = (k: string, d?: number): number => {
    const v = r[k] ?? d;
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0 || v > 1e6) throw bad(k, r[k], "is not a positive number");
    return v;
  };
  if (type === "default" || type === "") return null;
  if (type === "linear") return { type: "linear", factor: num("factor") };
  if (type === "llama3") {
    const lowFreqFactor = num("low_freq_factor", 1), highFreqFactor = num("high_freq_factor", 4);
    if (highFreqFactor === lowFreqFactor) throw bad("high_freq_factor", highFreqFactor, "equals low_freq_factor (division by zero)");
    return { type: "llama3", factor: num("factor", 8), lowFreqFactor, highFreqFactor, originalMaxPositions: num("original_max_position_embeddings", 8192) };
  }
  if (type === "longrope" || type === "su") throw new TensorshrinkError("E_UNSUPPORTED", `${file} rope_scaling type ${type} (LongRoPE, Phi-3 128k: rope_factors_long/short) is not supported yet (linear and llama3 are; the 4k-context Phi-3 models have no rope_scaling)`, { rope: type, file });
  throw new TensorshrinkError("E_UNSUPPORTED", `${file} rope_scaling type ${type} is not supported (linear and llama3 are)`, { rope: type, file });
}

function show(v: unknown): string {
  try {
    const s = JSON.stringify(v);
    return s === undefined ? String(v) : s.length > 60 ? s.slice(0, 57) + "..." : s;
  } catch {
    return String(v);
  }
}
