/**
 * Every hyperparameter the llama forward pass needs, read once from GGUF metadata
 * (`<arch>.context_length`, `embedding_length`, `block_count`, `feed_forward_length`,
 * `attention.head_count(_kv)`, `attention.layer_norm_rms_epsilon`, `rope.dimension_count`,
 * `rope.freq_base`, `rope.scaling.type/factor`, `expert_count`, `expert_used_count`, tokenizer ids), and for
 * gemma2 / gemma3 / phi3 what llama.cpp's load_arch_hparams derives: soft-capping caps, the sliding window
 * and its layer pattern, the local rope base, the query scale, the embedding scale.
 */
import { TensorshrinkError } from "../errors";
import type { GgufFile, GgufKV, GgufValue } from "../formats/gguf";

/** Every hyperparameter the forward pass needs, read once from GGUF metadata. */
export interface LlamaConfig {
  /** general.architecture ("llama"). */
  arch: string;
  nLayer: number;
  /** Residual stream width C. */
  nEmbd: number;
  /** Query heads: the largest over the layers (per layer: {@link LlamaConfig.layerHeads}). */
  nHead: number;
  /** KV heads: the largest over the layers (per layer: {@link LlamaConfig.layerHeadsKv}). */
  nHeadKv: number;
  /**
   * Query heads of each block (nLayer values): `attention.head_count` as a number, or its per-layer array
   * (llama.cpp's get_key_or_arr; pruned `deci` models carry one where layers differ).
   */
  layerHeads: number[];
  /** KV heads of each block (`attention.head_count_kv`, number or per-layer array; default = layerHeads). */
  layerHeadsKv: number[];
  /** FFN width of each block (`feed_forward_length`, number or per-layer array). */
  layerFf: number[];
  /** Values per attention head (attention.key_length, default nEmbd / nHead). */
  headDim: number;
  /** FFN hidden width (per expert for MoE): the largest over the layers (per layer: {@link LlamaConfig.layerFf}). */
  nFf: number;
  nVocab: number;
  /** Trained context in tokens (context_length). */
  nCtxTrain: number;
  /** RMSNorm epsilon. */
  normEps: number;
  /** "norm": rotate adjacent pairs (llama); "neox": rotate halves. */
  ropeType: "norm" | "neox";
  /** RoPE theta base (rope.freq_base, default 10000). */
  ropeFreqBase: number;
  /** Linear RoPE scaling factor (positions are divided by it); 1 = none. */
  ropeScaleLinear: number;
  /** Experts per MoE layer (0 = dense). */
  nExpert: number;
  /** Experts used per token (0 = dense). */
  nExpertUsed: number;
  /** True when the GGUF has no output.weight (the head reuses token_embd.weight). */
  tiedOutput: boolean;
  bos: number;
  eos: number;
  /** tokenizer.ggml.add_bos_token (default true for llama). */
  addBos: boolean;
  /** Rotated dims per head (rope.dimension_count, default headDim). */
  nRot: number;
  /** True when the GGUF has rope_freqs.weight (per-pair frequency divisors, llama 3.1 style). */
  ropeFreqs: boolean;
  /** Qwen2: attn_{q,k,v}.bias added after the projections (present in the file). */
  qkvBias: boolean;
  /** Qwen3: attn_{q,k}_norm.weight, a per-head RMSNorm of q and k before rope (present in the file). */
  qkNorm: boolean;
  /**
   * llama / deci: attn_output.bias and ffn_down.bias ([n_embd] each, llama.cpp's optional wo_b / ffn_down_b, added
   * after the projection), when blk.0 has them (FLAP bias compensation of structured pruning writes them in every block).
   */
  attnOutBias: boolean;
  ffnDownBias: boolean;
  /** Token embeddings are multiplied by this (Gemma: √n_embd in f32; else 1). */
  embedScale: number;
  /** Gemma: post_attention_norm / post_ffw_norm RMSNorms of the attention and FFN outputs before the residual adds. */
  postNorms: boolean;
  /** FFN activation: "silu" (SwiGLU) or "gelu" (Gemma: GELU tanh approximation, gated). */
  ffnAct: "silu" | "gelu";
  /** Query scale before q·k (llama: 1/√headDim; Gemma: 1/√headDim, or 1/√(nEmbd/nHead) for the 27B layer counts). */
  attnScale: number;
  /** Attention logit soft-capping cap (Gemma 2: attn_logit_softcapping, default 50); 0 = none. */
  attnSoftcap: number;
  /** Final logit soft-capping cap (Gemma 2: default 30; Gemma 3 when the key exists); 0 = none. */
  finalSoftcap: number;
  /** Sliding-window length in tokens for the layers with swa[l] (0 = no sliding window). */
  slidingWindow: number;
  /** Per layer: sliding-window attention (Gemma 2: even layers; Gemma 3: il % 6 < 5; else none). */
  swa: boolean[];
  /** Rope base and linear scaling factor of the sliding-window layers (Gemma 2: the global ones; Gemma 3: freq_base_swa, default 10000, no scaling). */
  ropeFreqBaseSwa: number;
  ropeScaleLinearSwa: number;
  /** One fused attn_qkv.weight [nEmbd, q + k + v] instead of attn_q / attn_k / attn_v (Phi-3). */
  fusedQkv: boolean;
  /** ffn_up.weight [nEmbd, 2·nFf] holding gate then up, no ffn_gate (Phi-3). */
  fusedGateUp: boolean;
}

/** Architectures the forward pass implements, with their rope type (llama.cpp's llama_model_rope_type): qwen2 / qwen3 rotate halves (NEOX). */
const ARCHS: Record<string, "norm" | "neox"> = { llama: "norm", deci: "norm", qwen2: "neox", qwen3: "neox", qwen3moe: "neox", gemma2: "neox", gemma3: "neox", phi3: "neox" };

function asNumber(v: GgufValue | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  if (typeof v === "boolean") return v ? 1 : 0;
  if (typeof v === "object" && v && Array.isArray((v as any).items)) {
    const items = (v as any).items as unknown[];
    if (items.length === 0) return undefined;
    const first = Number(items[0]);
    if (items.some((x) => Number(x) !== first)) {
      throw new TensorshrinkError("E_UNSUPPORTED", `per-layer hyperparameter arrays with different values are not supported here (got [${items.slice(0, 8).join(", ")}${items.length > 8 ? ", ..." : ""}])`, {});
    }
    return first;
  }
  return undefined;
}

/**
 * The config from metadata plus the tensor names (for `output.weight` / `rope_freqs.weight` and the
 * vocabulary size from `token_embd.weight`). Accepts a GgufFile or any `{ metadata, tensors }`
 * (e.g. a ModelSource).
 * @throws TensorshrinkError `E_UNSUPPORTED` (architecture / rope scaling not implemented, named),
 *   `E_FORMAT` (a required key is missing or invalid, named).
 */
export function llamaConfigFromMetadata(metadata: readonly GgufKV[] | ReadonlyMap<string, GgufKV>, tensors: readonly { name: string; ne: readonly number[] }[]): LlamaConfig {
  const map = metadata instanceof Map ? (metadata as ReadonlyMap<string, GgufKV>) : new Map((metadata as readonly GgufKV[]).map((e) => [e.key, e]));
  const raw = (k: string) => map.get(k)?.value;
  const arch = String(raw("general.architecture") ?? "");
  if (!arch) throw new TensorshrinkError("E_FORMAT", "GGUF metadata has no general.architecture", { key: "general.architecture" });
  const ropeType = ARCHS[arch];
  if (!ropeType) throw new TensorshrinkError("E_UNSUPPORTED", `architecture "${arch}" is not supported by the forward pass (supported: ${Object.keys(ARCHS).join(", ")})`, { arch });
  const num = (k: string, d?: number): number => {
    const v = asNumber(raw(`${arch}.${k}`));
    if (v === undefined) {
      if (d === undefined) throw new TensorshrinkError("E_FORMAT", `GGUF metadata lacks ${arch}.${k}`, { key: `${arch}.${k}` });
      return d;
    }
    if (!Number.isFinite(v)) throw new TensorshrinkError("E_FORMAT", `GGUF metadata ${arch}.${k} = ${v} is not a finite number`, { key: `${arch}.${k}` });
    return v;
  };
  const int = (k: string, d?: number, min = 1): number => {
    const v = num(k, d);
    if (!Number.isSafeInteger(v) || v < min) throw new TensorshrinkError("E_FORMAT", `GGUF metadata ${arch}.${k} = ${v} must be an integer >= ${min}`, { key: `${arch}.${k}`, value: v });
    return v;
  };
  const names = new Set(tensors.map((t) => t.name));
  const embd = tensors.find((t) => t.name === "token_embd.weight");
  const nEmbd = int("embedding_length");
  const nLayer = int("block_count");
  /** A per-layer hyperparameter: one number for every block, or an array of nLayer integers >= 1 (get_key_or_arr). */
  const perLayer = (k: string, d?: number[]): number[] => {
    const v = raw(`${arch}.${k}`) as any;
    if (v && typeof v === "object" && Array.isArray(v.items)) {
      const items = (v.items as unknown[]).map(Number);
      if (items.length !== nLayer) throw new TensorshrinkError("E_FORMAT", `GGUF metadata ${arch}.${k} is an array of ${items.length} values, block_count is ${nLayer}`, { key: `${arch}.${k}` });
      items.forEach((x, i) => { if (!Number.isSafeInteger(x) || x < 1) throw new TensorshrinkError("E_FORMAT", `GGUF metadata ${arch}.${k}[${i}] = ${x} must be an integer >= 1 (layers without attention / FFN are not supported by the forward pass)`, { key: `${arch}.${k}`, layer: i }); });
      return items;
    }
    if (v === undefined && d) return d.slice();
    return new Array(nLayer).fill(int(k));
  };
  const layerHeads = perLayer("attention.head_count");
  const layerHeadsKv = perLayer("attention.head_count_kv", layerHeads);
  for (let l = 0; l < nLayer; l++) if (layerHeads[l] % layerHeadsKv[l] !== 0) throw new TensorshrinkError("E_FORMAT", `${arch}.attention.head_count ${layerHeads[l]} is not a multiple of head_count_kv ${layerHeadsKv[l]}${nLayer > 1 ? ` (layer ${l})` : ""}`, { nHead: layerHeads[l], nHeadKv: layerHeadsKv[l], layer: l });
  const nHead = Math.max(...layerHeads), nHeadKv = Math.max(...layerHeadsKv);
  // as llama.cpp: the default head size is n_embd / n_head of layer 0
  const headDim = int("attention.key_length", Math.floor(nEmbd / layerHeads[0]));
  const vLen = int("attention.value_length", headDim);
  if (vLen !== headDim) throw new TensorshrinkError("E_UNSUPPORTED", `${arch}.attention.value_length ${vLen} != key_length ${headDim} is not supported`, {});
  const nRot = int("rope.dimension_count", headDim);
  if (nRot > headDim || nRot % 2 !== 0) throw new TensorshrinkError("E_FORMAT", `${arch}.rope.dimension_count ${nRot} must be even and <= head size ${headDim}`, { nRot, headDim });
  const tokens = raw("tokenizer.ggml.tokens") as any;
  const nVocab = int("vocab_size", embd?.ne[1] ?? tokens?.items?.length);
  const scalingType = raw(`${arch}.rope.scaling.type`);
  let scale = 1;
  if (scalingType === undefined || scalingType === "none") {
    scale = num("rope.scale_linear", 1);
  } else if (scalingType === "linear") {
    scale = num("rope.scaling.factor", 1);
  } else {
    throw new TensorshrinkError("E_UNSUPPORTED", `rope scaling type "${String(scalingType)}" is not supported (only none and linear)`, { key: `${arch}.rope.scaling.type`, value: String(scalingType) });
  }
  if (!(scale > 0)) scale = 1;
  if (names.has("rope_factors_long.weight") || names.has("rope_factors_short.weight")) {
    throw new TensorshrinkError("E_UNSUPPORTED", `${arch}: LongRoPE (rope_factors_long / rope_factors_short, Phi-3 128k) is not supported by the forward pass`, { arch, tensor: "rope_factors_long.weight" });
  }
  const nExpert = int("expert_count", 0, 0);
  const nExpertUsed = int("expert_used_count", nExpert > 0 ? 2 : 0, 0);
  if (nExpert > 0 && !(nExpertUsed >= 1 && nExpertUsed <= nExpert)) throw new TensorshrinkError("E_FORMAT", `${arch}.expert_used_count ${nExpertUsed} must be in 1..${nExpert}`, {});
  const layerFf = nExpert > 0 && raw(`${arch}.expert_feed_forward_length`) !== undefined ? new Array(nLayer).fill(int("expert_feed_forward_length")) : perLayer("feed_forward_length");
  const tid = (k: string, d: number) => { const v = asNumber(raw(k)); return v === undefined ? d : v; };
  const addBosRaw = raw("tokenizer.ggml.add_bos_token");
  const gemma = arch === "gemma2" || arch === "gemma3";
  // sliding window as llama.cpp's load_arch_hparams: gemma2 always (default 4096, pattern 2), gemma3 when the
  // key is there and > 0 (pattern 6); <arch>.attention.sliding_window_pattern (a number or per-layer bools) wins
  const winRaw = asNumber(raw(`${arch}.attention.sliding_window`));
  const window = arch === "gemma2" ? winRaw ?? 4096 : arch === "gemma3" ? winRaw ?? 0 : 0;
  const patRaw = raw(`${arch}.attention.sliding_window_pattern`) as any;
  const pattern = arch === "gemma2" ? 2 : 6;
  const swa = Array.from({ length: nLayer }, (_, il) => {
    if (!gemma || window <= 0) return false;
    if (patRaw && typeof patRaw === "object" && Array.isArray(patRaw.items)) return Boolean(patRaw.items[il]);
    const p = asNumber(patRaw) ?? pattern;
    return p === 0 || il % p < p - 1;
  });
  const freqBase = num("rope.freq_base", 10000);
  const is27B = (arch === "gemma2" && nLayer === 46) || (arch === "gemma3" && nLayer === 62);
  return {
    arch, nLayer, nEmbd, nHead, nHeadKv, layerHeads, layerHeadsKv, layerFf, headDim, nFf: Math.max(...layerFf), nVocab,
    nCtxTrain: int("context_length", 2048), normEps: num("attention.layer_norm_rms_epsilon", 1e-5), ropeType,
    ropeFreqBase: freqBase, ropeScaleLinear: scale, nExpert, nExpertUsed,
    tiedOutput: !names.has("output.weight"), bos: tid("tokenizer.ggml.bos_token_id", 1), eos: tid("tokenizer.ggml.eos_token_id", 2),
    addBos: addBosRaw === undefined ? true : Boolean(addBosRaw), nRot, ropeFreqs: names.has("rope_freqs.weight"),
    qkvBias: names.has("blk.0.attn_q.bias"), qkNorm: names.has("blk.0.attn_q_norm.weight"),
    attnOutBias: names.has("blk.0.attn_output.bias"), ffnDownBias: names.has("blk.0.ffn_down.bias"),
    embedScale: gemma ? Math.fround(Math.sqrt(nEmbd)) : 1, postNorms: gemma, ffnAct: gemma ? "gelu" : "silu",
    attnScale: 1 / Math.sqrt(is27B ? Math.floor(nEmbd / nHead) : headDim),
    attnSoftcap: arch === "gemma2" ? num("attn_logit_softcapping", 50) : 0,
    finalSoftcap: arch === "gemma2" ? num("final_logit_softcapping", 30) : arch === "gemma3" ? num("final_logit_softcapping", 0) : 0,
    slidingWindow: window, swa,
    ropeFreqBaseSwa: arch === "gemma2" ? num("rope.freq_base_swa", freqBase) : arch === "gemma3" ? num("rope.freq_base_swa", 10000) : freqBase,
    ropeScaleLinearSwa: arch === "gemma2" ? scale : 1,
    fusedQkv: names.has("blk.0.attn_qkv.weight"), fusedGateUp: arch === "phi3" && !names.has("blk.0.ffn_gate.weight"),
  };
}

/** {@link llamaConfigFromMetadata} of a parsed GGUF file. */
export function llamaConfigFromGguf(gguf: Pick<GgufFile, "metadata" | "tensors">): LlamaConfig {
  return llamaConfigFromMetadata(gguf.metadata, gguf.tensors);
}

/**
 * GGUF tensors a block of this config reads, by role. MoE blocks read ffn_gate_inp and the 3D
 * ffn_{gate,up,down}_exps instead of ffn_{gate,up,down}.
 */
export function blockTensorNames(cfg: LlamaConfig, layer: number): Record<string, string> {
  const p = `blk.${layer}.`;
  const base: Record<string, string> = {
    attn_norm: p + "attn_norm.weight",
    ...(cfg.fusedQkv ? { attn_qkv: p + "attn_qkv.weight" } : { attn_q: p + "attn_q.weight", attn_k: p + "attn_k.weight", attn_v: p + "attn_v.weight" }),
    attn_output: p + "attn_output.weight", ffn_norm: p + "ffn_norm.weight",
    ...(cfg.postNorms ? { attn_post_norm: p + "post_attention_norm.weight", ffn_post_norm: p + "post_ffw_norm.weight" } : {}),
    ...(cfg.qkvBias ? { attn_q_bias: p + "attn_q.bias", attn_k_bias: p + "attn_k.bias", attn_v_bias: p + "attn_v.bias" } : {}),
    ...(cfg.qkNorm ? { attn_q_norm: p + "attn_q_norm.weight", attn_k_norm: p + "attn_k_norm.weight" } : {}),
    ...(cfg.attnOutBias ? { attn_output_bias: p + "attn_output.bias" } : {}),
    ...(cfg.ffnDownBias ? { ffn_down_bias: p + "ffn_down.bias" } : {}),
  };
  if (cfg.nExpert > 0) {
    return { ...base, ffn_gate_inp: p + "ffn_gate_inp.weight", ffn_gate: p + "ffn_gate_exps.weight", ffn_up: p + "ffn_up_exps.weight", ffn_down: p + "ffn_down_exps.weight" };
  }
  if (cfg.fusedGateUp) return { ...base, ffn_up: p + "ffn_up.weight", ffn_down: p + "ffn_down.weight" };
  return { ...base, ffn_gate: p + "ffn_gate.weight", ffn_up: p + "ffn_up.weight", ffn_down: p + "ffn_down.weight" };
}

/** Values (f32) of every weight of the largest block (per-layer sizes: an upper bound): the per-layer weight memory is at most 4 × this bytes. */
export function blockWeightValues(cfg: LlamaConfig): number {
  const C = cfg.nEmbd, kv = cfg.nHeadKv * cfg.headDim, q = cfg.nHead * cfg.headDim; // the largest block
  const ffn = cfg.nExpert > 0 ? cfg.nExpert * 3 * C * cfg.nFf + C * cfg.nExpert : 3 * C * cfg.nFf;
  return 2 * C + C * q + 2 * C * kv + q * C + ffn + (cfg.qkvBias ? q + 2 * kv : 0) + (cfg.attnOutBias ? C : 0) + (cfg.ffnDownBias ? C : 0) + (cfg.qkNorm ? 2 * cfg.headDim : 0) + (cfg.postNorms ? 2 * C : 0);
}
