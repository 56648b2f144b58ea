// Test helper: synthetic Hugging Face directories of Gemma 2, Gemma 3 and Phi-3 — config.json, a
// SentencePiece tokenizer.model (ModelProto protobuf written here; the vocabulary of syntheticModel:
// <unk> <s> </s>, the 256 byte tokens, pieces), tokenizer_config.json with a chat template, and
// model.safetensors with random weights in HF naming (Gemma: norm weights stored as w with the model
// using 1 + w, post-attention / pre- and post-FFN norms, Gemma 3 q/k norms; Phi-3: fused qkv_proj and
// gate_up_proj) — plus a float64 forward pass with the HF modeling semantics (Gemma: √n_embd embedding
// scale, (1 + w) RMSNorm, query_pre_attn_scalar, attention and final soft-capping, sliding-window layers,
// GELU(tanh) gated FFN; Phi-3: NEOX rope, SiLU gated FFN on the halves of gate_up) to check what llama.cpp runs.
import { syntheticModel } from "../src/index";
import { encodeSafetensors } from "../src/formats/safetensors";
import { f16ToF32, f32ToF16 } from "../src/formats/half";
import { rng } from "./_util";
import type { StEntry } from "./_hf-archs";

export interface GemmaPhiOptions {
  arch: "gemma2" | "gemma3" | "phi3";
  nLayer: number; nEmbd: number; nFf: number; nHead: number; nHeadKv: number;
  /** head_dim (default nEmbd / nHead). */
  headDim?: number;
  /** Phi-3 / Gemma 3: separate lm_head (Gemma 2 never has one). */
  tied: boolean;
  /** Gemma: sliding_window in tokens (default 8, so the tests' sequences cross it). */
  window?: number;
  /** Gemma 2: attention / final logit soft-capping (defaults 50 / 30); Gemma 3: final (default none). */
  attnSoftcap?: number; finalSoftcap?: number;
  /** Gemma 3: rope_local_base_freq (default 10000) and rope_theta (default 1e6). */
  localTheta?: number; theta?: number;
  /** Gemma 3: rope_scaling {rope_type: "linear", factor} of the global layers (Gemma 3 4B and larger: 8). */
  ropeLinear?: number;
  seed?: number;
  dtype?: "F32" | "F16" | "BF16";
  /** Tokens in tokenizer.model (default 320: 3 specials, 256 bytes, 61 pieces). */
  nVocab?: number;
}

export const CHAT_TEMPLATE_G = "{{ bos_token }}{% for m in messages %}<start_of_turn>{{ m['role'] }}\n{{ m['content'] }}<end_of_turn>\n{% endfor %}";

// ---- a protobuf writer for ModelProto (as test/67)
const varint = (v: number): number[] => { const o: number[] = []; while (v >= 128) { o.push((v % 128) | 128); v = Math.floor(v / 128); } o.push(v); return o; };
const key = (f: number, w: number) => varint(f * 8 + w);
const ld = (f: number, body: number[]) => [...key(f, 2), ...varint(body.length), ...body];
const f32b = (v: number) => Array.from(new Uint8Array(Float32Array.of(v).buffer));
/** A SentencePiece ModelProto with these pieces (type 1 normal, 2 unknown, 3 control, 6 byte) and trainer ids unk 0, bos 1, eos 2. */
export function encodeModelProto(pieces: { piece: string; score: number; type: number }[]): Uint8Array {
  const out: number[] = [];
  out.push(...ld(2, [...key(3, 0), ...varint(2), ...key(40, 0), ...varint(0), ...key(41, 0), ...varint(1), ...key(42, 0), ...varint(2)]));
  for (const p of pieces) out.push(...ld(1, [...ld(1, Array.from(new TextEncoder().encode(p.piece))), ...key(2, 5), ...f32b(p.score), ...(p.type === 1 ? [] : [...key(3, 0), ...varint(p.type)])]));
  return Uint8Array.from(out);
}

/** The vocabulary (pieces, scores, types) of every synthetic directory with `n` tokens. */
export function spmVocab(n = 320): { pieces: string[]; scores: number[]; types: number[] } {
  const syn = syntheticModel({ nLayer: 1, nEmbd: 64, nFf: 64, nHead: 2, nHeadKv: 2, nVocab: n, seed: 4 });
  const meta = (k: string) => (syn.metadata.find((e) => e.key === k)!.value as any).items as any[];
  return { pieces: meta("tokenizer.ggml.tokens"), scores: meta("tokenizer.ggml.scores"), types: meta("tokenizer.ggml.token_type") };
}

function gauss(n: number, seed: number, scale: number, offset = 0): Float32Array {
  const r = rng(seed, 5), x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = offset + r.gauss() * scale;
  return x;
}

/** Phi-3's added tokens (tokenizer_config.json added_tokens_decoder) after the pieces, as in the real checkpoints. */
export const PHI3_ADDED = ["<|endoftext|>", "<|assistant|>", "<|end|>", "<|user|>"];
/** config.json vocab_size: the pieces (Phi-3: + 8, its added tokens and padding, like 32000 → 32064). */
export const vocabSizeOf = (o: GemmaPhiOptions) => (o.nVocab ?? 320) + (o.arch === "phi3" ? 8 : 0);

/** The safetensors entries (HF names, row-major [rows, cols]) of a synthetic model. */
export function gemmaPhiTensors(o: GemmaPhiOptions): StEntry[] {
  const V = vocabSizeOf(o), d = o.nEmbd, hd = o.headDim ?? d / o.nHead, q = hd * o.nHead, kv = hd * o.nHeadKv;
  let seed = (o.seed ?? 1) * 1000;
  const st: StEntry[] = [];
  const add = (name: string, shape: number[], scale: number, offset = 0) => st.push({ name, dtype: o.dtype ?? "F32", shape, data: gauss(shape.reduce((a, b) => a * b, 1), ++seed, scale, offset) });
  // Gemma norms are stored as w (the model multiplies by 1 + w): small values around 0
  const norm = (name: string, n: number) => (o.arch === "phi3" ? add(name, [n], 0.1, 1) : add(name, [n], 0.1, 0));
  add("model.embed_tokens.weight", [V, d], o.arch === "phi3" ? 0.5 : 0.1);
  for (let l = 0; l < o.nLayer; l++) {
    const p = `model.layers.${l}.`;
    norm(p + "input_layernorm.weight", d);
    if (o.arch === "phi3") {
      add(p + "self_attn.qkv_proj.weight", [q + 2 * kv, d], 0.15);
      add(p + "self_attn.o_proj.weight", [d, q], 0.08);
      norm(p + "post_attention_layernorm.weight", d);
      add(p + "mlp.gate_up_proj.weight", [2 * o.nFf, d], 0.08);
      add(p + "mlp.down_proj.weight", [d, o.nFf], 0.08);
      continue;
    }
    add(p + "self_attn.q_proj.weight", [q, d], 0.15);
    add(p + "self_attn.k_proj.weight", [kv, d], 0.15);
    add(p + "self_attn.v_proj.weight", [kv, d], 0.1);
    add(p + "self_attn.o_proj.weight", [d, q], 0.08);
    if (o.arch === "gemma3") { norm(p + "self_attn.q_norm.weight", hd); norm(p + "self_attn.k_norm.weight", hd); }
    norm(p + "post_attention_layernorm.weight", d);
    norm(p + "pre_feedforward_layernorm.weight", d);
    add(p + "mlp.gate_proj.weight", [o.nFf, d], 0.08);
    add(p + "mlp.up_proj.weight", [o.nFf, d], 0.08);
    add(p + "mlp.down_proj.weight", [d, o.nFf], 0.08);
    norm(p + "post_feedforward_layernorm.weight", d);
  }
  norm("model.norm.weight", d);
  if (!o.tied && o.arch !== "gemma2") add("lm_head.weight", [V, d], 0.1);
  return st;
}

/** config.json of a synthetic model (HF field names and the values real checkpoints have, shapes from `o`). */
export function gemmaPhiConfig(o: GemmaPhiOptions): Record<string, unknown> {
  const hd = o.headDim ?? o.nEmbd / o.nHead, V = vocabSizeOf(o);
  const common = { hidden_size: o.nEmbd, intermediate_size: o.nFf, num_hidden_layers: o.nLayer, num_attention_heads: o.nHead, num_key_value_heads: o.nHeadKv, vocab_size: V, bos_token_id: 1, eos_token_id: 2, _name_or_path: `synthetic/${o.arch}-tiny` };
  if (o.arch === "gemma2") {
    return { architectures: ["Gemma2ForCausalLM"], model_type: "gemma2", ...common, head_dim: hd, max_position_embeddings: 8192, rms_norm_eps: 1e-6, rope_theta: 10000.0,
      attn_logit_softcapping: o.attnSoftcap ?? 50.0, final_logit_softcapping: o.finalSoftcap ?? 30.0, query_pre_attn_scalar: hd, sliding_window: o.window ?? 8,
      hidden_activation: "gelu_pytorch_tanh", tie_word_embeddings: true, pad_token_id: 0 };
  }
  if (o.arch === "gemma3") {
    return { architectures: ["Gemma3ForCausalLM"], model_type: "gemma3_text", ...common, head_dim: hd, max_position_embeddings: 32768, rms_norm_eps: 1e-6,
      rope_theta: o.theta ?? 1000000.0, rope_local_base_freq: o.localTheta ?? 10000.0, rope_scaling: o.ropeLinear ? { rope_type: "linear", factor: o.ropeLinear } : null, attn_logit_softcapping: null,
      final_logit_softcapping: o.finalSoftcap ?? null, query_pre_attn_scalar: hd, sliding_window: o.window ?? 8, sliding_window_pattern: 6,
      hidden_activation: "gelu_pytorch_tanh", tie_word_embeddings: o.tied };
  }
  return { architectures: ["Phi3ForCausalLM"], model_type: "phi3", ...common, max_position_embeddings: 4096, original_max_position_embeddings: 4096, rms_norm_eps: 1e-5,
    rope_theta: 10000.0, rope_scaling: null, sliding_window: 2047, hidden_act: "silu", tie_word_embeddings: o.tied, pad_token_id: 0 };
}

/** The directory's files (name -> bytes); `mutate` may edit the tensors, `config` the config.json object. */
const tensorCache = new Map<string, StEntry[]>();
/** {@link gemmaPhiTensors}, generated once per options (callers must not modify the data arrays). */
export function gemmaPhiTensorsCached(o: GemmaPhiOptions): StEntry[] {
  const k = JSON.stringify(o);
  if (!tensorCache.has(k)) tensorCache.set(k, gemmaPhiTensors(o));
  return tensorCache.get(k)!;
}

export function gemmaPhiLayout(o: GemmaPhiOptions, mutate?: (st: StEntry[]) => void, config?: (c: Record<string, unknown>) => void): Record<string, Uint8Array> {
  const st = gemmaPhiTensorsCached(o).map((e) => ({ ...e }));
  mutate?.(st);
  const v = spmVocab(o.nVocab ?? 320);
  const cfg = gemmaPhiConfig(o);
  config?.(cfg);
  const n = o.nVocab ?? 320;
  const tokCfg = { add_bos_token: true, add_eos_token: false, bos_token: "<s>", eos_token: o.arch === "phi3" ? "<|endoftext|>" : "</s>", unk_token: "<unk>", chat_template: CHAT_TEMPLATE_G,
    ...(o.arch === "phi3" ? { added_tokens_decoder: Object.fromEntries(PHI3_ADDED.map((c, i) => [String(n + i), { content: c, special: true, lstrip: false, rstrip: i > 0, normalized: false, single_word: false }])) } : {}) };
  const enc = (x: unknown) => new TextEncoder().encode(JSON.stringify(x));
  return {
    "config.json": enc(cfg), "tokenizer_config.json": enc(tokCfg), "model.safetensors": encodeSafetensors(st),
    "tokenizer.model": encodeModelProto(v.pieces.map((piece, i) => ({ piece, score: v.scores[i]!, type: v.types[i]! }))),
  };
}

/** Float64 forward pass with HF semantics (see the file comment). Returns logits [T, V]. */
export function gemmaPhiReference(o: GemmaPhiOptions, st: StEntry[], tokens: number[], opts: { geluF16?: boolean } = {}): Float64Array[] {
  const W = new Map(st.map((e) => [e.name, e.data]));
  const g = (n: string) => W.get(n)!;
  const cfg = gemmaPhiConfig(o) as any;
  const gemma = o.arch !== "phi3", d = o.nEmbd, hd = o.headDim ?? d / o.nHead, nh = o.nHead, nkv = o.nHeadKv, ff = o.nFf, T = tokens.length;
  const eps = cfg.rms_norm_eps as number;
  const V = g("model.embed_tokens.weight").length / d;
  const rms = (x: Float64Array, w: Float32Array, off = 0, n = x.length) => {
    let s = 0; for (let i = 0; i < n; i++) s += x[off + i]! * x[off + i]!;
    const r = 1 / Math.sqrt(s / n + eps);
    for (let i = 0; i < n; i++) x[off + i] = x[off + i]! * r * (gemma ? 1 + w[i]! : w[i]!);
  };
  const mv = (w: Float32Array, x: Float64Array, rows: number, row0 = 0) => {
    const cols = x.length, y = new Float64Array(rows);
    for (let r = 0; r < rows; r++) { let s = 0; const o0 = (row0 + r) * cols; for (let c = 0; c < cols; c++) s += w[o0 + c]! * x[c]!; y[r] = s; }
    return y;
  };
  const rope = (x: Float64Array, heads: number, pos: number, theta: number, scale: number) => {
    for (let h = 0; h < heads; h++) for (let i = 0; i < hd / 2; i++) {
      const f = (pos / scale) * Math.pow(theta, -(2 * i) / hd), c = Math.cos(f), s = Math.sin(f);
      const a = x[h * hd + i]!, b = x[h * hd + i + hd / 2]!;
      x[h * hd + i] = a * c - b * s; x[h * hd + i + hd / 2] = b * c + a * s;
    }
  };
  const gelu0 = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
  // geluF16: llama.cpp's CPU GEGLU (GGML_GELU_FP16): x rounded to f16, looked up in an f16 table of gelu, as f16
  const gelu = opts.geluF16 ? (x: number) => (x <= -10 ? 0 : x >= 10 ? x : f16ToF32(f32ToF16(gelu0(f16ToF32(f32ToF16(x)))))) : gelu0;
  const emb = g("model.embed_tokens.weight");
  const hs = tokens.map((t) => Float64Array.from(emb.subarray(t * d, (t + 1) * d), (v) => (gemma ? v * Math.sqrt(d) : v)));
  const qScale = gemma ? Math.pow(cfg.query_pre_attn_scalar, -0.5) : 1 / Math.sqrt(hd);
  for (let l = 0; l < o.nLayer; l++) {
    const p = `model.layers.${l}.`;
    const sliding = o.arch === "gemma2" ? l % 2 === 0 : o.arch === "gemma3" ? l % 6 < 5 : false;
    const theta = o.arch === "gemma3" ? (sliding ? cfg.rope_local_base_freq : cfg.rope_theta) : cfg.rope_theta;
    const K: Float64Array[] = [], Vv: Float64Array[] = [];
    const attnOut: Float64Array[] = [];
    for (let t = 0; t < T; t++) {
      const x = Float64Array.from(hs[t]!); rms(x, g(p + "input_layernorm.weight"));
      let q: Float64Array, k: Float64Array, v: Float64Array;
      if (o.arch === "phi3") { const w = g(p + "self_attn.qkv_proj.weight"); q = mv(w, x, nh * hd); k = mv(w, x, nkv * hd, nh * hd); v = mv(w, x, nkv * hd, (nh + nkv) * hd); }
      else { q = mv(g(p + "self_attn.q_proj.weight"), x, nh * hd); k = mv(g(p + "self_attn.k_proj.weight"), x, nkv * hd); v = mv(g(p + "self_attn.v_proj.weight"), x, nkv * hd); }
      if (o.arch === "gemma3") {
        for (let h = 0; h < nh; h++) rms(q, g(p + "self_attn.q_norm.weight"), h * hd, hd);
        for (let h = 0; h < nkv; h++) rms(k, g(p + "self_attn.k_norm.weight"), h * hd, hd);
      }
      const rs = o.arch === "gemma3" && !sliding && o.ropeLinear ? o.ropeLinear : 1;
      rope(q, nh, t, theta, rs); rope(k, nkv, t, theta, rs);
      K.push(k); Vv.push(v);
      const att = new Float64Array(nh * hd);
      const s0 = sliding ? Math.max(0, t - (cfg.sliding_window as number) + 1) : 0;
      for (let h = 0; h < nh; h++) {
        const kh = Math.floor(h / (nh / nkv)), sc = new Float64Array(t + 1);
        let m = -Infinity;
        for (let s = s0; s <= t; s++) {
          let a = 0; for (let i = 0; i < hd; i++) a += q[h * hd + i]! * K[s]![kh * hd + i]!;
          a *= qScale;
          if (o.arch === "gemma2") a = cfg.attn_logit_softcapping * Math.tanh(a / cfg.attn_logit_softcapping);
          sc[s] = a; m = Math.max(m, a);
        }
        let z = 0; for (let s = s0; s <= t; s++) { sc[s] = Math.exp(sc[s]! - m); z += sc[s]!; }
        for (let s = s0; s <= t; s++) for (let i = 0; i < hd; i++) att[h * hd + i] += (sc[s]! / z) * Vv[s]![kh * hd + i]!;
      }
      attnOut.push(mv(g(p + "self_attn.o_proj.weight"), att, d));
    }
    for (let t = 0; t < T; t++) {
      const a = attnOut[t]!;
      if (gemma) rms(a, g(p + "post_attention_layernorm.weight"));
      for (let i = 0; i < d; i++) hs[t]![i] += a[i]!;
      const x = Float64Array.from(hs[t]!);
      rms(x, g(p + (gemma ? "pre_feedforward_layernorm.weight" : "post_attention_layernorm.weight")));
      let h: Float64Array;
      if (o.arch === "phi3") {
        const w = g(p + "mlp.gate_up_proj.weight"), gt = mv(w, x, ff), up = mv(w, x, ff, ff);
        for (let i = 0; i < ff; i++) gt[i] = (gt[i]! / (1 + Math.exp(-gt[i]!))) * up[i]!;
        h = gt;
      } else {
        const gt = mv(g(p + "mlp.gate_proj.weight"), x, ff), up = mv(g(p + "mlp.up_proj.weight"), x, ff);
        for (let i = 0; i < ff; i++) gt[i] = gelu(gt[i]!) * up[i]!;
        h = gt;
      }
      const y = mv(g(p + "mlp.down_proj.weight"), h, d);
      if (gemma) rms(y, g(p + "post_feedforward_layernorm.weight"));
      for (let i = 0; i < d; i++) hs[t]![i] += y[i]!;
    }
  }
  const head = W.get("lm_head.weight") ?? emb;
  const cap = o.arch === "gemma2" ? cfg.final_logit_softcapping : o.arch === "gemma3" ? cfg.final_logit_softcapping : null;
  return hs.map((h) => {
    const x = Float64Array.from(h); rms(x, g("model.norm.weight"));
    const lo = mv(head, x, V);
    if (cap) for (let i = 0; i < V; i++) lo[i] = cap * Math.tanh(lo[i]! / cap);
    return lo;
  });
}
