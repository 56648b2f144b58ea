// Test helper: synthetic Hugging Face directories of the non-llama architectures (Qwen2, Qwen3) —
// config.json, tokenizer.json (a byte-level BPE learned on a small text, Qwen's special tokens),
// tokenizer_config.json (with a chat template), model.safetensors with random weights in HF naming
// (Qwen2: q/k/v biases; Qwen3: per-head q/k norms; no rope permutation) — plus a float64 reference
// forward pass over the HF tensors (HF semantics: NEOX rope, GQA, SwiGLU) to check what llama.cpp runs,
// and the steps test/64, 69 and 73 share: the typed error of a bad directory, "nothing written" on a
// failed conversion, and converting to F32 + running it in llama.cpp (node-llama-cpp) against a reference.
import { existsSync } from "node:fs";
import * as assert from "uvu/assert";
import type { TensorshrinkError } from "../src/errors";
import { encodeSafetensors } from "../src/formats/safetensors";
import { filesResolver, openFileSink } from "../src/formats/source";
import { convertToGguf, llamaFromHf } from "../src/model/convert";
import { learnBpe } from "./_bpe-synth";
import { rng } from "./_util";

export interface ArchOptions {
  arch: "qwen2" | "qwen3" | "qwen3moe";
  /** qwen3moe: experts, experts per token, each expert's FFN width (moe_intermediate_size). */
  nExpert?: number; nExpertUsed?: number; moeFf?: number;
  nLayer: number; nEmbd: number; nFf: number; nHead: number; nHeadKv: number;
  /** head_dim written to config.json (default nEmbd / nHead, not written for qwen2). */
  headDim?: number;
  tied: boolean;
  seed?: number;
  dtype?: "F32" | "F16" | "BF16";
}
export type StEntry = { name: string; dtype: "F32" | "F16" | "BF16"; shape: number[]; data: Float32Array };

const TEXT = "In the beginning the model was small and the weights were random. The quick brown fox jumps over the lazy dog. " +
  "Quantization keeps the model small; the tokenizer splits the text into pieces, and the pieces into bytes. 0123456789 ".repeat(3);
export const CHAT_TEMPLATE = "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

/** The vocabulary (tokens by id, merges, special ids) of every synthetic directory. */
export function archVocab() {
  const learned = learnBpe(TEXT, 120, "qwen2");
  // two merges can produce the same string ("ab c", "a bc"): a vocabulary holds each token once
  // (learnBpe's own llama-3 special tokens after the merges are dropped: Qwen's come below)
  const tokens = [...new Set(learned.tokens.slice(0, 256 + learned.merges.length))], merges = learned.merges;
  const base = tokens.length;
  const specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
  return { tokens: [...tokens, ...specials], merges, specials: specials.map((s, i) => ({ id: base + i, content: s })) };
}

function gauss(n: number, seed: number, scale: number, offset = 0): Float32Array {
  const r = rng(seed, 3), x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = offset + r.gauss() * scale;
  return x;
}

/** The safetensors entries (HF names, row-major [rows, cols]) of a synthetic model. */
export function archTensors(o: ArchOptions): StEntry[] {
  const V = archVocab().tokens.length, d = o.nEmbd, hd = o.headDim ?? d / o.nHead, q = hd * o.nHead, kv = hd * o.nHeadKv;
  let seed = (o.seed ?? 1) * 1000;
  const st: StEntry[] = [];
  const add = (name: string, shape: number[], scale: number, offset = 0) => st.push({ name, dtype: o.dtype ?? "F32", shape, data: gauss(shape.reduce((a, b) => a * b, 1), ++seed, scale, offset) });
  add("model.embed_tokens.weight", [V, d], 0.5);
  for (let l = 0; l < o.nLayer; l++) {
    const p = `model.layers.${l}.`;
    add(p + "input_layernorm.weight", [d], 0.1, 1);
    add(p + "self_attn.q_proj.weight", [q, d], 0.15);
    add(p + "self_attn.k_proj.weight", [kv, d], 0.15);
    add(p + "self_attn.v_proj.weight", [kv, d], 0.1);
    if (o.arch === "qwen2") {
      add(p + "self_attn.q_proj.bias", [q], 0.3);
      add(p + "self_attn.k_proj.bias", [kv], 0.3);
      add(p + "self_attn.v_proj.bias", [kv], 0.1);
    } else {
      add(p + "self_attn.q_norm.weight", [hd], 0.2, 1);
      add(p + "self_attn.k_norm.weight", [hd], 0.2, 1);
    }
    add(p + "self_attn.o_proj.weight", [d, q], 0.08);
    add(p + "post_attention_layernorm.weight", [d], 0.1, 1);
    if (o.arch === "qwen3moe") {
      const E = o.nExpert ?? 4, mf = o.moeFf ?? o.nFf;
      add(p + "mlp.gate.weight", [E, d], 0.3);
      for (let e = 0; e < E; e++) {
        add(`${p}mlp.experts.${e}.gate_proj.weight`, [mf, d], 0.08);
        add(`${p}mlp.experts.${e}.up_proj.weight`, [mf, d], 0.08);
        add(`${p}mlp.experts.${e}.down_proj.weight`, [d, mf], 0.08);
      }
      continue;
    }
    add(p + "mlp.gate_proj.weight", [o.nFf, d], 0.08);
    add(p + "mlp.up_proj.weight", [o.nFf, d], 0.08);
    add(p + "mlp.down_proj.weight", [d, o.nFf], 0.08);
  }
  add("model.norm.weight", [d], 0.1, 1);
  if (!o.tied) add("lm_head.weight", [V, d], 0.1);
  return st;
}

/** The directory's files (name -> bytes); `mutate` may edit the tensors, `config` the config.json object. */
export function archLayout(o: ArchOptions, mutate?: (st: StEntry[]) => void, config?: (c: Record<string, unknown>) => void): Record<string, Uint8Array> {
  const st = archTensors(o);
  mutate?.(st);
  const { tokens, merges, specials } = archVocab();
  const vocab: Record<string, number> = {};
  tokens.forEach((t, i) => { if (!specials.some((s) => s.id === i)) vocab[t] = i; });
  const tokenizer = {
    version: "1.0", added_tokens: specials.map((s) => ({ ...s, special: true })),
    pre_tokenizer: { type: "Sequence" }, model: { type: "BPE", byte_fallback: false, vocab, merges },
  };
  const eos = specials[2]!.id;
  const cfg: Record<string, unknown> = {
    architectures: [{ qwen2: "Qwen2ForCausalLM", qwen3: "Qwen3ForCausalLM", qwen3moe: "Qwen3MoeForCausalLM" }[o.arch]], model_type: o.arch === "qwen3moe" ? "qwen3_moe" : o.arch,
    ...(o.arch === "qwen3moe" ? { num_experts: o.nExpert ?? 4, num_experts_per_tok: o.nExpertUsed ?? 2, moe_intermediate_size: o.moeFf ?? o.nFf, norm_topk_prob: true, decoder_sparse_step: 1, mlp_only_layers: [] } : {}),
    hidden_size: o.nEmbd, intermediate_size: o.nFf, num_hidden_layers: o.nLayer, num_attention_heads: o.nHead, num_key_value_heads: o.nHeadKv,
    ...(o.headDim !== undefined || o.arch !== "qwen2" ? { head_dim: o.headDim ?? o.nEmbd / o.nHead } : {}),
    max_position_embeddings: 4096, rms_norm_eps: 1e-6, rope_theta: 1000000, vocab_size: tokens.length, tie_word_embeddings: o.tied,
    bos_token_id: specials[0]!.id, eos_token_id: eos, rope_scaling: null, sliding_window: 4096, use_sliding_window: false, _name_or_path: `synthetic/${o.arch}-tiny`,
  };
  config?.(cfg);
  const tokCfg = { add_prefix_space: false, bos_token: null, eos_token: "<|im_end|>", pad_token: "<|endoftext|>", chat_template: CHAT_TEMPLATE, model_max_length: 4096 };
  const enc = (x: unknown) => new TextEncoder().encode(JSON.stringify(x));
  return { "config.json": enc(cfg), "tokenizer.json": enc(tokenizer), "tokenizer_config.json": enc(tokCfg), "model.safetensors": encodeSafetensors(st) };
}

/**
 * Float64 forward pass of a synthetic model over HF tensors, HF semantics (Qwen2/Qwen3 modeling code):
 * RMSNorm, q/k/v (+ bias), Qwen3 per-head q/k RMSNorm, NEOX rope (rotate halves), causal GQA softmax
 * attention, SwiGLU FFN, final norm, lm_head (or the tied embedding). Returns logits [T, V].
 */
export function referenceForward(o: ArchOptions & { arch: "qwen2" | "qwen3" }, st: StEntry[], tokens: number[], eps = 1e-6, theta = 1e6): Float64Array[] {
  const W = new Map(st.map((e) => [e.name, e.data]));
  const g = (n: string) => W.get(n)!;
  const d = o.nEmbd, hd = o.headDim ?? d / o.nHead, nh = o.nHead, nkv = o.nHeadKv, ff = o.nFf, T = tokens.length;
  const V = g("model.embed_tokens.weight").length / d;
  const rms = (x: Float64Array, w: Float32Array, off = 0, n = x.length) => {
    let s = 0; for (let i = 0; i < n; i++) s += x[off + i]! * x[off + i]!;
    const r = 1 / Math.sqrt(s / n + eps);
    for (let i = 0; i < n; i++) x[off + i] = x[off + i]! * r * w[i]!;
  };
  const mv = (w: Float32Array, x: Float64Array, rows: number, b?: Float32Array) => {
    const cols = x.length, y = new Float64Array(rows);
    for (let r = 0; r < rows; r++) { let s = b ? b[r]! : 0; for (let c = 0; c < cols; c++) s += w[r * cols + c]! * x[c]!; y[r] = s; }
    return y;
  };
  const rope = (x: Float64Array, heads: number, pos: number) => {
    for (let h = 0; h < heads; h++) for (let i = 0; i < hd / 2; i++) {
      const f = pos * Math.pow(theta, -(2 * i) / hd), c = Math.cos(f), s = Math.sin(f);
      const a = x[h * hd + i]!, b = x[h * hd + i + hd / 2]!;
      x[h * hd + i] = a * c - b * s; x[h * hd + i + hd / 2] = b * c + a * s;
    }
  };
  const emb = g("model.embed_tokens.weight");
  const hs = tokens.map((t) => Float64Array.from(emb.subarray(t * d, (t + 1) * d)));
  for (let l = 0; l < o.nLayer; l++) {
    const p = `model.layers.${l}.`;
    const K: Float64Array[] = [], Vv: Float64Array[] = [];
    for (let t = 0; t < T; t++) {
      const x = Float64Array.from(hs[t]!); rms(x, g(p + "input_layernorm.weight"));
      const q = mv(g(p + "self_attn.q_proj.weight"), x, nh * hd, W.get(p + "self_attn.q_proj.bias"));
      const k = mv(g(p + "self_attn.k_proj.weight"), x, nkv * hd, W.get(p + "self_attn.k_proj.bias"));
      const v = mv(g(p + "self_attn.v_proj.weight"), x, nkv * hd, W.get(p + "self_attn.v_proj.bias"));
      if (o.arch !== "qwen2") {
        for (let h = 0; h < nh; h++) rms(q, g(p + "self_attn.q_norm.weight"), h * hd, hd);
        for (let h = 0; h < nkv; h++) rms(k, g(p + "self_attn.k_norm.weight"), h * hd, hd);
      }
      rope(q, nh, t); rope(k, nkv, t);
      K.push(k); Vv.push(v);
      const att = new Float64Array(nh * hd);
      for (let h = 0; h < nh; h++) {
        const kh = Math.floor(h / (nh / nkv)), sc = new Float64Array(t + 1);
        let m = -Infinity;
        for (let s = 0; s <= t; s++) { let a = 0; for (let i = 0; i < hd; i++) a += q[h * hd + i]! * K[s]![kh * hd + i]!; sc[s] = a / Math.sqrt(hd); m = Math.max(m, sc[s]!); }
        let z = 0; for (let s = 0; s <= t; s++) { sc[s] = Math.exp(sc[s]! - m); z += sc[s]!; }
        for (let s = 0; s <= t; s++) for (let i = 0; i < hd; i++) att[h * hd + i] += (sc[s]! / z) * Vv[s]![kh * hd + i]!;
      }
      const out = mv(g(p + "self_attn.o_proj.weight"), att, d);
      for (let i = 0; i < d; i++) hs[t]![i] += out[i]!;
    }
    for (let t = 0; t < T; t++) {
      const x = Float64Array.from(hs[t]!); rms(x, g(p + "post_attention_layernorm.weight"));
      const gt = mv(g(p + "mlp.gate_proj.weight"), x, ff), up = mv(g(p + "mlp.up_proj.weight"), x, ff);
      for (let i = 0; i < ff; i++) gt[i] = (gt[i]! / (1 + Math.exp(-gt[i]!))) * up[i]!;
      const y = mv(g(p + "mlp.down_proj.weight"), gt, d);
      for (let i = 0; i < d; i++) hs[t]![i] += y[i]!;
    }
  }
  const head = W.get("lm_head.weight") ?? emb;
  return hs.map((h) => { const x = Float64Array.from(h); rms(x, g("model.norm.weight")); return mv(head, x, V); });
}

/** The error planning a (bad) synthetic directory throws; fails the test when it plans. */
export function hfPlanError(files: Record<string, Uint8Array>): Promise<TensorshrinkError> {
  return llamaFromHf(filesResolver(files)).then(() => assert.unreachable("no error"), (e) => e as TensorshrinkError) as Promise<TensorshrinkError>;
}

/** Converting `files` to `out` fails with `code` and leaves no file behind (the sink is aborted). */
export async function assertConvertFailsCleanly(files: Record<string, Uint8Array>, out: string, code: string): Promise<void> {
  await convertToGguf({ hf: filesResolver(files) }, await openFileSink(out), { ftype: "F32" }).then(() => assert.unreachable(), (e) => assert.is(e.code, code));
  assert.not.ok(existsSync(out));
}

/** node-llama-cpp's CPU llama (prebuilt binary, no download, errors only). */
export async function loadLlamaCpp(): Promise<any> {
  const nlc: any = await import(process.env.TENSORSHRINK_NODE_LLAMA_CPP || "node-llama-cpp");
  return nlc.getLlama({ gpu: false, build: "never", skipDownload: true, logLevel: "error" });
}

/** What {@link checkLlamaCppLogits} compares. */
export interface LogitsCheck {
  /** Label of the log line and the messages. */
  name: string;
  /** The synthetic HF directory (name → bytes). */
  files: Record<string, Uint8Array>;
  /** Where the F32 GGUF is written. */
  file: string;
  /** The token ids to evaluate, given the loaded llama.cpp model (it may tokenize). */
  tokens(model: any): number[];
  /** Reference logits [T][V] of those tokens. */
  reference(tokens: number[]): Float64Array[];
  /** Max |Δlogit| allowed, relative to max(1, largest |reference logit|). */
  tol: number;
  threads: number;
}

/**
 * Converts `files` to an F32 GGUF, evaluates the tokens in llama.cpp (F32 KV cache, no flash attention,
 * 64-token context) and asserts its logits are not trivially small (some |logit| > 1), within `tol` of
 * the reference, and with the same argmax at every position; logs the figures. Returns them, with the
 * tokens, the reference and the vocabulary size llama.cpp reports, for further checks.
 */
export async function checkLlamaCppLogits(llama: any, c: LogitsCheck): Promise<{ tokens: number[]; ref: Float64Array[]; V: number; dmax: number }> {
  await convertToGguf({ hf: filesResolver(c.files) }, await openFileSink(c.file), { ftype: "F32" });
  const model = await llama.loadModel({ modelPath: c.file, gpuLayers: 0 });
  const ctx = await model.createContext({ contextSize: 64, batchSize: 64, threads: c.threads, flashAttention: false, experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32" });
  try {
    const seq = ctx.getSequence();
    const tokens = c.tokens(model);
    const V: number = model.fileInfo.metadata.tokenizer.ggml.tokens.length;
    const res = await seq.controlledEvaluate(tokens.map((t: number) => [t, { generateNext: { logits: true } }]));
    const ref = c.reference(tokens);
    let dmax = 0, agree = 0, scale = 0;
    for (let i = 0; i < tokens.length; i++) {
      const got = new Float64Array(V);
      for (const [k, v] of res[i].next.logits as Map<number, number>) got[k] = v;
      let ag = 0, ar = 0;
      for (let j = 0; j < V; j++) { dmax = Math.max(dmax, Math.abs(got[j]! - ref[i]![j]!)); scale = Math.max(scale, Math.abs(ref[i]![j]!)); if (got[j]! > got[ag]!) ag = j; if (ref[i]![j]! > ref[i]![ar]!) ar = j; }
      if (ag === ar) agree++;
    }
    console.log(`  ${c.name}: ${tokens.length} positions, max |Δlogit| ${dmax.toExponential(2)} (logits up to ${scale.toFixed(2)}), argmax agree ${agree}/${tokens.length}`);
    assert.ok(scale > 1, "logits are not trivially small");
    assert.ok(dmax < c.tol * Math.max(1, scale), `${c.name}: max |Δlogit| ${dmax}`);
    assert.is(agree, tokens.length);
    return { tokens, ref, V, dmax };
  } finally {
    await ctx.dispose();
    await model.dispose();
  }
}
