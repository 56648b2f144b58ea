/**
 * The model architectures beyond llama that the Hugging Face conversion handles, as llama.cpp's
 * convert_hf_to_gguf.py maps them: HF `architectures[0]` → GGUF `general.architecture`, whether q/k
 * rows are permuted (only llama-style NORM rope; Qwen uses NEOX rope, rows stay as HF stores them),
 * which extra per-layer tensors exist (Qwen2's q/k/v biases, Qwen3's per-head q/k RMS norms, Gemma's
 * post-attention / post-FFN norms, Phi-3's fused qkv and gate_up), and the BPE pre-tokenizer name
 * (`tokenizer.ggml.pre`). The Gemma / Phi-3 hyperparameter keys are in ./archs-gemma-phi.ts.
 */
import { TensorshrinkError } from "../errors";
import { SUPPORTED_HF_ARCHS } from "./hf-config";

/** GGUF architectures a {@link ModelPlan} can have. */
export type GgufArch = "llama" | "qwen2" | "qwen3" | "qwen3moe" | "gemma2" | "gemma3" | "phi3";

/** How one HF architecture converts. */
export interface HfArchInfo {
  /** `general.architecture` and the prefix of the hyperparameter keys. */
  readonly arch: GgufArch;
  /** Apply convert_hf_to_gguf.py's q/k rope permutation (llama, Mistral, Mixtral: NORM rope). */
  readonly permuteQK: boolean;
  /** Per-layer `self_attn.{q,k,v}_proj.bias` → `blk.N.attn_{q,k,v}.bias` (Qwen2). */
  readonly qkvBias: boolean;
  /** Per-layer `self_attn.{q,k}_norm.weight` → `blk.N.attn_{q,k}_norm.weight` (Qwen3). */
  readonly qkNorm: boolean;
  /** `tokenizer.ggml.pre` for byte-level BPE vocabularies (undefined: chosen by size). */
  readonly pre?: string;
  /** Write `<arch>.vocab_size` and `<arch>.rope.dimension_count` (LlamaModel does; Qwen2Model does not). */
  readonly llamaKeys: boolean;
  /** Write key_length / value_length whenever config.json has head_dim (TextModel), not only when it differs. */
  readonly headDimKeysWhenGiven: boolean;
  /** Expert tensor names: "mixtral" (block_sparse_moe.gate, experts.E.w1/w2/w3) or "qwen" (mlp.gate, mlp.experts.E.{gate,down,up}_proj). */
  readonly moeNames: "mixtral" | "qwen";
  /**
   * Gemma 2 / 3: every `*norm.weight` is stored + 1 (Gemma's RMSNorm multiplies by 1 + w), the layer has
   * `post_attention_layernorm` → `post_attention_norm`, `pre_feedforward_layernorm` → `ffn_norm`,
   * `post_feedforward_layernorm` → `post_ffw_norm`, and a SentencePiece tokenizer.model is preferred to
   * tokenizer.json (`tokenizer.ggml.add_space_prefix` false).
   */
  readonly gemma?: boolean;
  /** Gemma 2: lm_head.weight is skipped (the output is always the token embedding). */
  readonly dropLmHead?: boolean;
  /** Phi-3: `self_attn.qkv_proj` → `attn_qkv` and `mlp.gate_up_proj` → `ffn_up` ([n_embd, 2·n_ff]), as stored. */
  readonly fused?: boolean;
}

const LLAMA: HfArchInfo = { arch: "llama", permuteQK: true, qkvBias: false, qkNorm: false, llamaKeys: true, headDimKeysWhenGiven: false, moeNames: "mixtral" };

/** HF architecture name → conversion rules. */
export const HF_ARCHS: Readonly<Record<string, HfArchInfo>> = Object.freeze({
  LlamaForCausalLM: LLAMA,
  MistralForCausalLM: LLAMA,
  MixtralForCausalLM: LLAMA,
  Qwen2ForCausalLM: { arch: "qwen2", permuteQK: false, qkvBias: true, qkNorm: false, pre: "qwen2", llamaKeys: false, headDimKeysWhenGiven: true, moeNames: "qwen" },
  Qwen3ForCausalLM: { arch: "qwen3", permuteQK: false, qkvBias: false, qkNorm: true, pre: "qwen2", llamaKeys: false, headDimKeysWhenGiven: true, moeNames: "qwen" },
  Qwen3MoeForCausalLM: { arch: "qwen3moe", permuteQK: false, qkvBias: false, qkNorm: true, pre: "qwen2", llamaKeys: false, headDimKeysWhenGiven: true, moeNames: "qwen" },
  Gemma2ForCausalLM: { arch: "gemma2", permuteQK: false, qkvBias: false, qkNorm: false, llamaKeys: false, headDimKeysWhenGiven: true, moeNames: "qwen", gemma: true, dropLmHead: true },
  Gemma3ForCausalLM: { arch: "gemma3", permuteQK: false, qkvBias: false, qkNorm: true, llamaKeys: false, headDimKeysWhenGiven: true, moeNames: "qwen", gemma: true },
  Phi3ForCausalLM: { arch: "phi3", permuteQK: false, qkvBias: false, qkNorm: false, llamaKeys: false, headDimKeysWhenGiven: false, moeNames: "qwen", fused: true },
});

/**
 * The conversion rules of an HF architecture (undefined / absent `architectures` = llama).
 * @throws TensorshrinkError `E_UNSUPPORTED` listing the supported architectures.
 */
export function hfArchInfo(hfArch: string | undefined): HfArchInfo {
  if (hfArch === undefined) return LLAMA;
  const info = HF_ARCHS[hfArch];
  if (!info) throw new TensorshrinkError("E_UNSUPPORTED", `config.json architecture ${hfArch} is not supported (${SUPPORTED_HF_ARCHS.join(", ")} are)`, { arch: hfArch, file: "config.json" });
  return info;
}

/**
 * `tokenizer.chat_template` from tokenizer_config.json's `chat_template`: a string, or a list of
 * `{name, template}` of which the one named "default" is taken (as llama.cpp's SpecialVocab does for
 * the main key); undefined when absent.
 * @throws TensorshrinkError `E_FORMAT` when it is neither.
 */
export function chatTemplateOf(tokenizerConfig: any): string | undefined {
  const t = tokenizerConfig?.chat_template;
  if (t === undefined || t === null) return undefined;
  if (typeof t === "string") return t;
  if (Array.isArray(t) && t.every((e) => e && typeof e === "object" && typeof e.name === "string" && typeof e.template === "string")) {
    return (t.find((e) => e.name === "default") ?? t[0])?.template;
  }
  throw new TensorshrinkError("E_FORMAT", "tokenizer_config.json: chat_template is neither a string nor a list of {name, template}", { key: "chat_template", file: "tokenizer_config.json" });
}
