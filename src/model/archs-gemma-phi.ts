/**
 * Gemma 2, Gemma 3 and Phi-3: the config.json fields beyond llama's that llama.cpp's
 * convert_hf_to_gguf.py (Gemma2Model, Gemma3Model, Phi3MiniModel) turns into `gemma2.*` / `gemma3.*` /
 * `phi3.*` keys, checked against what llama.cpp's loader derives on its own (so a config the GGUF
 * cannot express is refused, not silently run differently), and the key order those converters write.
 *
 * llama.cpp facts encoded here (llama.cpp src/models/gemma2.cpp, gemma3.cpp, phi3.cpp):
 * - Gemma 2: sliding-window attention on every other layer (il % 2 == 0), window `attention.sliding_window`
 *   (default 4096); attention logit soft-capping (default 50) and final logit soft-capping (default 30);
 *   q scaled by 1/√head_dim — or 1/√(n_embd / n_head) for the 46-layer 27B — whatever
 *   `query_pre_attn_scalar` says, so a config whose query_pre_attn_scalar differs is refused.
 * - Gemma 3: 5 local : 1 global (il % 6 < 5 is local) when `sliding_window` is written, local rope base
 *   `rope.freq_base_swa` (default 10000) without rope scaling, global `rope.freq_base` with the linear
 *   `rope.scaling.*` of config.json; final soft-capping only when the key exists; per-head q/k RMS norms.
 * - Phi-3: rope dimension count `int(partial_rotary_factor · n_embd) // n_head`,
 *   `rope.scaling.original_context_length`, `attention.sliding_window` written (0 without one) but
 *   ignored by llama.cpp (no SWA for phi3); LongRoPE (rope_scaling longrope: rope_factors_long/short
 *   tensors) is refused.
 */
import { TensorshrinkError } from "../errors";
import { ggufKV, type GgufKV } from "../formats/gguf";
import type { GgufArch } from "./archs";
import type { HfLlamaConfig } from "./hf-config";

/** The Gemma / Phi-3 hyperparameters a plan carries beyond llama's (written as `<arch>.*` keys). */
export interface GemmaPhiParams {
  /** Gemma 2: `attn_logit_softcapping` (attention scores → cap · tanh(score / cap)). */
  readonly attnSoftcap?: number;
  /** `final_logit_softcapping` (Gemma 2 always; Gemma 3 when config.json has a non-zero one). */
  readonly finalSoftcap?: number;
  /** `attention.sliding_window` in tokens (Gemma 2; Gemma 3 unless sliding_window_pattern is 1; Phi-3: 0 = none). */
  readonly slidingWindow?: number;
  /** Gemma 3: `rope.freq_base_swa`, the local layers' rope base (config.json rope_local_base_freq). */
  readonly ropeFreqBaseSwa?: number;
  /** Phi-3: `rope.scaling.original_context_length`. */
  readonly origContext?: number;
  /** Whether `rope.freq_base` is written (Gemma 2's converter writes none: llama.cpp's default 10000). */
  readonly writeFreqBase: boolean;
  /** Gemma 3: the global rope base when config.json gives it in `rope_parameters.full_attention` or not at all (default 1e6). */
  readonly ropeTheta?: number;
  /** Gemma 3: linear rope scaling of the global layers from `rope_parameters.full_attention`. */
  readonly ropeLinearFactor?: number;
}

/** Layers llama.cpp runs with sliding-window attention: Gemma 2 il % 2 == 0, Gemma 3 il % 6 < 5 (set_swa_pattern). */
export function isSwaLayer(arch: string, il: number): boolean {
  if (arch === "gemma2") return il % 2 < 1;
  if (arch === "gemma3") return il % 6 < 5;
  return false;
}

/** llama.cpp's attention scale of Gemma 2 / 3 (f_attention_scale): 1/√(n_embd/n_head) for the 27B layer counts, else 1/√head_dim. */
export function gemmaAttentionScale(arch: string, nLayer: number, nEmbd: number, nHead: number, headDim: number): number {
  const is27B = (arch === "gemma2" && nLayer === 46) || (arch === "gemma3" && nLayer === 62);
  return 1 / Math.sqrt(is27B ? Math.floor(nEmbd / nHead) : headDim);
}

/**
 * Validates the Gemma / Phi-3 fields of a parsed config.json (after {@link parseHfLlamaConfig}).
 * @throws TensorshrinkError `E_FORMAT` (a field of the wrong type), `E_UNSUPPORTED` (a config llama.cpp's
 *   GGUF cannot express: query_pre_attn_scalar, a sliding-window layer pattern or layer_types other
 *   than llama.cpp's, Phi-3 partial rotary other than whole pairs, head_dim ≠ n_embd / n_head for Phi-3).
 */
export function parseGemmaPhiConfig(raw: Record<string, unknown>, cfg: HfLlamaConfig, arch: GgufArch, file = "config.json"): GemmaPhiParams {
  const bad = (k: string, why: string) => new TensorshrinkError("E_FORMAT", `${file}: ${k} = ${JSON.stringify(raw[k])} ${why}`, { key: k, file });
  const unsup = (k: string, why: string) => new TensorshrinkError("E_UNSUPPORTED", `${file}: ${k} = ${JSON.stringify(raw[k])}: ${why}`, { key: k, file, arch });
  const posNum = (k: string, d: number | undefined): number | undefined => {
    const v = raw[k];
    if (v === undefined || v === null) return d;
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0 || v > 1e9) throw bad(k, "is not a positive number");
    return v;
  };
  const int = (k: string, d: number | undefined, lo = 1): number | undefined => {
    const v = raw[k];
    if (v === undefined || v === null) return d;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < lo || v > 0xffffffff) throw bad(k, `is not an integer from ${lo} to ${0xffffffff}`);
    return v;
  };
  const checkLayerTypes = () => {
    const lt = raw.layer_types;
    if (lt === undefined || lt === null) return;
    if (!Array.isArray(lt) || lt.length !== cfg.nLayers || !lt.every((t) => t === "sliding_attention" || t === "full_attention")) throw bad("layer_types", `is not a list of ${cfg.nLayers} "sliding_attention" / "full_attention"`);
    lt.forEach((t, il) => {
      if ((t === "sliding_attention") !== isSwaLayer(arch, il)) throw unsup("layer_types", `layer ${il} is ${t}, but llama.cpp's ${arch} runs it with ${isSwaLayer(arch, il) ? "sliding-window" : "full"} attention (its fixed layer pattern)`);
    });
  };
  const checkQueryScalar = () => {
    const want = 1 / gemmaAttentionScale(arch, cfg.nLayers, cfg.hiddenSize, cfg.nHead, cfg.headDim) ** 2;
    const q = posNum("query_pre_attn_scalar", want)!;
    if (Math.abs(q - want) > 1e-6 * want) throw unsup("query_pre_attn_scalar", `llama.cpp's ${arch} scales queries by 1/√${want} for this shape (${cfg.nLayers} layers, head_dim ${cfg.headDim}) and the GGUF has no key for another scale`);
  };
  if (arch === "gemma2") {
    checkQueryScalar();
    checkLayerTypes();
    const theta = cfg.ropeTheta;
    return {
      attnSoftcap: posNum("attn_logit_softcapping", 50), finalSoftcap: posNum("final_logit_softcapping", 30),
      slidingWindow: int("sliding_window", 4096), writeFreqBase: theta !== 10000,
    };
  }
  if (arch === "gemma3") {
    if (raw.attn_logit_softcapping !== undefined && raw.attn_logit_softcapping !== null) throw unsup("attn_logit_softcapping", "Gemma 3 has no attention soft-capping (llama.cpp's converter asserts it is null)");
    checkQueryScalar();
    const pattern = int("sliding_window_pattern", 6, 0)!;
    if (pattern !== 6 && pattern !== 1) throw unsup("sliding_window_pattern", "llama.cpp's gemma3 uses 6 (5 local : 1 global), or no sliding window when the converter writes none (pattern 1)");
    if (pattern === 6) checkLayerTypes();
    const fs = posNum("final_logit_softcapping", undefined);
    const rp = raw.rope_parameters as any;
    const local = rp && typeof rp === "object" && rp.sliding_attention && typeof rp.sliding_attention.rope_theta === "number" ? rp.sliding_attention.rope_theta : posNum("rope_local_base_freq", undefined);
    const full = rp && typeof rp === "object" && rp.full_attention && typeof rp.full_attention === "object" ? rp.full_attention : undefined;
    const theta = typeof full?.rope_theta === "number" && full.rope_theta > 0 ? full.rope_theta : raw.rope_theta === undefined || raw.rope_theta === null ? 1e6 : undefined;
    const lin = full?.rope_type === "linear" && typeof full.factor === "number" && full.factor > 0 ? full.factor : undefined;
    if (full && full.rope_type !== undefined && full.rope_type !== "default" && full.rope_type !== "linear") throw unsup("rope_parameters", `full_attention rope_type ${JSON.stringify(full.rope_type)} is not supported for gemma3 (default and linear are)`);
    return {
      ...(theta !== undefined ? { ropeTheta: theta } : {}),
      ...(lin !== undefined ? { ropeLinearFactor: lin } : {}),
      ...(fs ? { finalSoftcap: fs } : {}),
      ...(pattern !== 1 ? { slidingWindow: int("sliding_window", 4096) } : {}),
      ...(local !== undefined ? { ropeFreqBaseSwa: local } : {}),
      writeFreqBase: true,
    };
  }
  if (arch === "phi3") {
    if (cfg.headDim * cfg.nHead !== cfg.hiddenSize) throw unsup("head_dim", `llama.cpp's phi3 needs head_dim × num_attention_heads = hidden_size (${cfg.headDim} × ${cfg.nHead} ≠ ${cfg.hiddenSize})`);
    const rot = posNum("partial_rotary_factor", 1)!;
    const nRot = Math.floor(Math.floor(rot * cfg.hiddenSize) / cfg.nHead);
    if (nRot !== cfg.headDim) throw unsup("partial_rotary_factor", `partial rotary embeddings (${nRot} of ${cfg.headDim} dims per head) are not supported yet for phi3`);
    const sw = raw.sliding_window;
    return { origContext: int("original_max_position_embeddings", cfg.maxPositions), slidingWindow: sw === undefined || sw === null ? 0 : int("sliding_window", 0, 0), writeFreqBase: true };
  }
  return { writeFreqBase: true };
}

/** What {@link gemmaPhiHparamsMetadata} reads of a plan's hyperparameters. */
export interface GemmaPhiHparams {
  contextLength: number; embeddingLength: number; blockCount: number; feedForwardLength: number;
  headCount: number; headCountKv: number; ropeDimensionCount: number; keyLength?: number;
  ropeFreqBase: number; rmsEps: number; ropeScaling?: { type: "linear"; factor: number };
  extra?: GemmaPhiParams;
}

/**
 * The `<arch>.*` hyperparameter keys of a gemma2 / gemma3 / phi3 plan with `general.file_type`, in the
 * order convert_hf_to_gguf.py writes them (Gemma2Model / Gemma3Model over TextModel / Phi3MiniModel).
 */
export function gemmaPhiHparamsMetadata(a: "gemma2" | "gemma3" | "phi3", h: GemmaPhiHparams, ft: number): GgufKV[] {
  const x = h.extra ?? { writeFreqBase: true };
  const u = (k: string, v: number) => ggufKV(`${a}.${k}`, "u32", v);
  const f = (k: string, v: number) => ggufKV(`${a}.${k}`, "f32", v);
  const kl = h.keyLength ?? h.embeddingLength / h.headCount;
  if (a === "gemma2") {
    return [
      u("context_length", h.contextLength), u("embedding_length", h.embeddingLength), u("block_count", h.blockCount),
      u("feed_forward_length", h.feedForwardLength), u("attention.head_count", h.headCount), u("attention.head_count_kv", h.headCountKv),
      f("attention.layer_norm_rms_epsilon", h.rmsEps), u("attention.key_length", kl), u("attention.value_length", kl),
      ggufKV("general.file_type", "u32", ft),
      f("attn_logit_softcapping", x.attnSoftcap ?? 50), f("final_logit_softcapping", x.finalSoftcap ?? 30),
      u("attention.sliding_window", x.slidingWindow ?? 4096),
      ...(x.writeFreqBase ? [f("rope.freq_base", h.ropeFreqBase)] : []),
    ];
  }
  if (a === "gemma3") {
    return [
      u("block_count", h.blockCount), u("context_length", h.contextLength), u("embedding_length", h.embeddingLength),
      u("feed_forward_length", h.feedForwardLength), u("attention.head_count", h.headCount), u("attention.head_count_kv", h.headCountKv),
      ...(h.ropeScaling ? [ggufKV(`${a}.rope.scaling.type`, "str", h.ropeScaling.type), f("rope.scaling.factor", h.ropeScaling.factor)] : []),
      f("rope.freq_base", h.ropeFreqBase),
      ...(x.ropeFreqBaseSwa !== undefined ? [f("rope.freq_base_swa", x.ropeFreqBaseSwa)] : []),
      f("attention.layer_norm_rms_epsilon", h.rmsEps), u("attention.key_length", kl), u("attention.value_length", kl),
      ggufKV("general.file_type", "u32", ft),
      ...(x.finalSoftcap ? [f("final_logit_softcapping", x.finalSoftcap)] : []),
      ...(x.slidingWindow !== undefined ? [u("attention.sliding_window", x.slidingWindow)] : []),
    ];
  }
  return [
    u("context_length", h.contextLength), u("rope.scaling.original_context_length", x.origContext ?? h.contextLength),
    u("embedding_length", h.embeddingLength), u("feed_forward_length", h.feedForwardLength), u("block_count", h.blockCount),
    u("attention.head_count", h.headCount), u("attention.head_count_kv", h.headCountKv), f("attention.layer_norm_rms_epsilon", h.rmsEps),
    u("rope.dimension_count", h.ropeDimensionCount), f("rope.freq_base", h.ropeFreqBase),
    ggufKV("general.file_type", "u32", ft),
    u("attention.sliding_window", x.slidingWindow ?? 0),
  ];
}
