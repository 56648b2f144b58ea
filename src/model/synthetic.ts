/**
 * A llama-shaped model generated on the fly (no download, no full copy in memory): seeded weights with
 * real-model statistics — per-tensor scale ~ 1/sqrt(fan_in), heavier tails, and a few outlier columns
 * (input channels with 10-30x larger weights, as found in trained LLMs). Rows are produced on demand.
 */
import { TensorshrinkError } from "../errors";
import { ggufKV, ggufArray, type GgufKV } from "../formats/gguf";
import type { ModelSource, ModelTensor } from "./source";

/** Shape of a synthetic model. Defaults: the demo model (~13 M parameters, 52 MB of f32). */
export interface SyntheticOptions {
  nLayer?: number;
  /** Embedding size (multiple of 256 so the k-quants apply). */
  nEmbd?: number;
  nFf?: number;
  nHead?: number;
  nHeadKv?: number;
  nVocab?: number;
  seed?: number;
  /** Separate output.weight (default true; false = tied to token_embd). */
  untiedOutput?: boolean;
  /**
   * Mixture of experts (Mixtral layout, llama architecture): with nExpert > 1 each layer's FFN is
   * ffn_gate_inp [n_embd, n_expert] plus 3D ffn_gate_exps / ffn_up_exps [n_embd, n_ff, n_expert] and
   * ffn_down_exps [n_ff, n_embd, n_expert]. Default 0 (dense).
   */
  nExpert?: number;
  /** Experts used per token (llama.expert_used_count; default 2). */
  nExpertUsed?: number;
}

function mix(a: number, b: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ b;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Creates the synthetic model source. Its parameter count is in `metadata` as general.parameter_count. */
export function syntheticModel(o: SyntheticOptions = {}): ModelSource {
  const nLayer = o.nLayer ?? 4, nEmbd = o.nEmbd ?? 512, nFf = o.nFf ?? 1536, nHead = o.nHead ?? 8, nHeadKv = o.nHeadKv ?? 4;
  const nVocab = o.nVocab ?? 1024, seed = o.seed ?? 1;
  for (const [k, v] of Object.entries({ nLayer, nEmbd, nFf, nHead, nHeadKv, nVocab })) {
    if (!Number.isSafeInteger(v) || v <= 0 || v > 1 << 24) throw new TensorshrinkError("E_RANGE", `syntheticModel: ${k} must be a positive integer, got ${v}`, { [k]: v });
  }
  if (nEmbd % nHead !== 0 || (nEmbd / nHead) % 2 !== 0) throw new TensorshrinkError("E_SHAPE", `syntheticModel: nEmbd ${nEmbd} must split into ${nHead} heads of even size`, { nEmbd, nHead });
  if (nHead % nHeadKv !== 0) throw new TensorshrinkError("E_SHAPE", `syntheticModel: nHead ${nHead} must be a multiple of nHeadKv ${nHeadKv}`, { nHead, nHeadKv });
  const headDim = nEmbd / nHead, kvDim = headDim * nHeadKv;
  const nExpert = o.nExpert ?? 0, nExpertUsed = o.nExpertUsed ?? 2;
  const specs: { name: string; ne: number[]; kind: "norm" | "w" }[] = [];
  specs.push({ name: "token_embd.weight", ne: [nEmbd, nVocab], kind: "w" });
  for (let l = 0; l < nLayer; l++) {
    const p = `blk.${l}.`;
    specs.push({ name: p + "attn_norm.weight", ne: [nEmbd], kind: "norm" });
    specs.push({ name: p + "attn_q.weight", ne: [nEmbd, nEmbd], kind: "w" });
    specs.push({ name: p + "attn_k.weight", ne: [nEmbd, kvDim], kind: "w" });
    specs.push({ name: p + "attn_v.weight", ne: [nEmbd, kvDim], kind: "w" });
    specs.push({ name: p + "attn_output.weight", ne: [nEmbd, nEmbd], kind: "w" });
    specs.push({ name: p + "ffn_norm.weight", ne: [nEmbd], kind: "norm" });
    if (nExpert > 1) {
      specs.push({ name: p + "ffn_gate_inp.weight", ne: [nEmbd, nExpert], kind: "w" });
      specs.push({ name: p + "ffn_gate_exps.weight", ne: [nEmbd, nFf, nExpert], kind: "w" });
      specs.push({ name: p + "ffn_down_exps.weight", ne: [nFf, nEmbd, nExpert], kind: "w" });
      specs.push({ name: p + "ffn_up_exps.weight", ne: [nEmbd, nFf, nExpert], kind: "w" });
    } else {
      specs.push({ name: p + "ffn_gate.weight", ne: [nEmbd, nFf], kind: "w" });
      specs.push({ name: p + "ffn_down.weight", ne: [nFf, nEmbd], kind: "w" });
      specs.push({ name: p + "ffn_up.weight", ne: [nEmbd, nFf], kind: "w" });
    }
  }
  specs.push({ name: "output_norm.weight", ne: [nEmbd], kind: "norm" });
  if (o.untiedOutput !== false) specs.push({ name: "output.weight", ne: [nEmbd, nVocab], kind: "w" });

  let params = 0;
  const tensors: ModelTensor[] = specs.map((s, ti) => {
    const cols = s.ne[0];
    params += s.ne.reduce((a, b) => a * b, 1);
    const tseed = mix(seed, ti + 1);
    // outlier input columns: ~0.5% of columns, fixed per tensor
    const colScale = new Float32Array(cols);
    for (let j = 0; j < cols; j++) { const h = mix(tseed, j); colScale[j] = h % 199 === 0 ? 10 + (h % 21) : 1; }
    const std = s.kind === "norm" ? 0.1 : 1 / Math.sqrt(cols);
    const gen = (start: number, count: number): Float32Array => {
      const out = new Float32Array(count * cols);
      for (let r = 0; r < count; r++) {
        let st = mix(tseed, start + r) || 1;
        for (let j = 0; j < cols; j++) {
          // xorshift32 -> sum of 4 uniforms (approx. normal), occasional heavy tail
          let g = 0;
          for (let k = 0; k < 4; k++) { st ^= st << 13; st >>>= 0; st ^= st >>> 17; st ^= st << 5; st >>>= 0; g += st / 4294967296; }
          g = (g - 2) * 1.7320508;
          if ((st & 1023) === 7) g *= 6;
          out[r * cols + j] = s.kind === "norm" ? 1 + g * std : g * std * colScale[j];
        }
      }
      return out;
    };
    return {
      name: s.name,
      ne: s.ne,
      type: "f32",
      readRows: async (start, count) => gen(start, count),
      readRawRows: async (start, count) => new Uint8Array(gen(start, count).buffer),
    };
  });

  const tokens: string[] = [], scores: number[] = [], ttypes: number[] = [];
  for (let i = 0; i < nVocab; i++) {
    if (i === 0) { tokens.push("<unk>"); ttypes.push(2); }
    else if (i === 1) { tokens.push("<s>"); ttypes.push(3); }
    else if (i === 2) { tokens.push("</s>"); ttypes.push(3); }
    else if (i < 259) { tokens.push(`<0x${(i - 3).toString(16).toUpperCase().padStart(2, "0")}>`); ttypes.push(6); }
    else { tokens.push(`\u2581t${i}`); ttypes.push(1); }
    scores.push(i < 259 ? 0 : -(i - 259));
  }
  const metadata: GgufKV[] = [
    ggufKV("general.architecture", "str", "llama"),
    ggufKV("general.name", "str", `tensorshrink synthetic ${nLayer}x${nEmbd}`),
    ggufKV("general.parameter_count", "u64", BigInt(params)),
    ggufKV("llama.context_length", "u32", 2048),
    ggufKV("llama.embedding_length", "u32", nEmbd),
    ggufKV("llama.block_count", "u32", nLayer),
    ggufKV("llama.feed_forward_length", "u32", nFf),
    ggufKV("llama.rope.dimension_count", "u32", headDim),
    ggufKV("llama.attention.head_count", "u32", nHead),
    ggufKV("llama.attention.head_count_kv", "u32", nHeadKv),
    ggufKV("llama.attention.layer_norm_rms_epsilon", "f32", 1e-5),
    ggufKV("llama.rope.freq_base", "f32", 10000),
    ggufKV("llama.vocab_size", "u32", nVocab),
    ...(nExpert > 1 ? [ggufKV("llama.expert_count", "u32", nExpert), ggufKV("llama.expert_used_count", "u32", nExpertUsed)] : []),
    ggufKV("general.file_type", "u32", 0),
    ggufKV("tokenizer.ggml.model", "str", "llama"),
    ggufKV("tokenizer.ggml.tokens", "arr", ggufArray("str", tokens)),
    ggufKV("tokenizer.ggml.scores", "arr", ggufArray("f32", scores)),
    ggufKV("tokenizer.ggml.token_type", "arr", ggufArray("i32", ttypes)),
    ggufKV("tokenizer.ggml.bos_token_id", "u32", 1),
    ggufKV("tokenizer.ggml.eos_token_id", "u32", 2),
    ggufKV("tokenizer.ggml.unknown_token_id", "u32", 0),
  ];
  return { name: `synthetic-${nLayer}x${nEmbd}`, metadata, tensors, hparams: { nLayer, nHead, nHeadKv, nExpert: nExpert > 1 ? nExpert : 0 } };
}
