/**
 * Shape checks of llama-architecture models before anything is written: the tensors llama.cpp's
 * loader creates for LLM_ARCH_LLAMA (llama-model.cpp, `create_tensor` calls) with the extents it
 * derives from the hyperparameters, and the sanity limits every hyperparameter must meet before it
 * sizes an allocation. A file that passes is one llama.cpp's loader accepts shape-wise; one that does
 * not fails here with `E_SHAPE` naming the tensor, instead of after the whole file was written.
 */
import { TensorshrinkError } from "../errors";
import { ggufArrayLength, ggufStringTable, type GgufArray, type GgufKV } from "../formats/gguf";
import { ByteStringIndex } from "../formats/gguf-strings";

/** GGUF architectures whose tensors {@link checkLlamaModel} checks (others pass unchecked). */
export const CHECKED_ARCHS: readonly string[] = ["llama", "qwen2", "qwen3", "qwen3moe", "gemma2", "gemma3", "phi3", "deci"];

/** Upper limits of llama hyperparameters (far above any published model; they bound allocations). */
export const LLAMA_LIMITS = Object.freeze({
  /** n_embd (hidden_size). */
  embd: 1 << 17,
  /** n_layer; llama.cpp's LLAMA_MAX_LAYERS is 512. */
  layers: 512,
  /** n_head, n_head_kv. */
  heads: 1 << 12,
  /** head size (head_dim, key_length). */
  headDim: 1 << 12,
  /** n_ff (intermediate_size). */
  ff: 1 << 20,
  /** n_vocab: 2 Mi tokens (the largest published vocabularies have ~260 k). */
  vocab: 1 << 21,
  /** n_expert; llama.cpp's LLAMA_MAX_EXPERTS is 256 or more depending on the version. */
  experts: 512,
  /** context length (a u32 in GGUF). */
  context: 0xffffffff,
});

/** The hyperparameters the llama tensor shapes follow. Per-layer values may be arrays (GGUF allows it). */
export interface LlamaShapeParams {
  /**
   * GGUF architecture (default "llama"): "qwen2" adds the attn_{q,k,v}.bias vectors
   * ({head_k * n_head}, {head_k * n_head_kv}, {head_v * n_head_kv}), "qwen3" the attn_{q,k}_norm
   * weights ({head_k}), as llama-model.cpp creates them for LLM_ARCH_QWEN2 / LLM_ARCH_QWEN3.
   */
  arch?: string;
  nEmbd: number;
  nLayer: number;
  nHead: number | readonly number[];
  nHeadKv: number | readonly number[];
  /** Head size of q/k (`llama.attention.key_length`, default n_embd / n_head). */
  headDimK: number;
  /** Head size of v (`llama.attention.value_length`, default = headDimK). */
  headDimV: number;
  nFf: number | readonly number[];
  /** Expert FFN width (`<arch>.expert_feed_forward_length`, Qwen3-MoE); default nFf. */
  nFfExp?: number;
  nVocab: number;
  /** 0 for dense models. */
  nExpert: number;
  nExpertUsed: number;
  /** Rotary dimensions (`llama.rope.dimension_count`); llama.cpp requires = headDimK for llama. */
  nRot: number;
}

/** One expected tensor: extents in ggml order, and whether llama.cpp requires it. */
export interface ExpectedTensor { readonly ne: readonly number[]; readonly required: boolean }

const at = (v: number | readonly number[], il: number) => (typeof v === "number" ? v : v[il]!);

/**
 * The tensors llama.cpp's loader looks for in a LLM_ARCH_LLAMA model, by GGUF name, with their ggml
 * extents: token_embd {n_embd, n_vocab}; output_norm {n_embd}; output {n_embd, n_vocab} (optional:
 * tied to token_embd); rope_freqs {n_rot/2} (optional); per layer attn_norm / ffn_norm {n_embd},
 * attn_q {n_embd, head_k * n_head}, attn_k {n_embd, head_k * n_head_kv}, attn_v {n_embd, head_v * n_head_kv},
 * attn_output {head_k * n_head, n_embd}, then ffn_gate / ffn_up {n_embd, n_ff}, ffn_down {n_ff, n_embd}
 * or, with experts, ffn_gate_inp {n_embd, n_expert} and ffn_{gate,up}_exps {n_embd, n_ff, n_expert},
 * ffn_down_exps {n_ff, n_embd, n_expert}.
 */
export function expectedLlamaTensors(h: LlamaShapeParams): Map<string, ExpectedTensor> {
  const m = new Map<string, ExpectedTensor>();
  const req = (name: string, ne: number[]) => m.set(name, { ne, required: true });
  req("token_embd.weight", [h.nEmbd, h.nVocab]);
  req("output_norm.weight", [h.nEmbd]);
  // gemma2's loader always ties the output to token_embd (an output.weight is a tensor it does not use)
  if (h.arch !== "gemma2") m.set("output.weight", { ne: [h.nEmbd, h.nVocab], required: false });
  if (!h.arch || h.arch === "llama" || h.arch === "deci") m.set("rope_freqs.weight", { ne: [h.nRot / 2], required: false });
  if (h.arch === "gemma2" || h.arch === "gemma3" || h.arch === "phi3") return expectGemmaPhi(m, h);
  for (let il = 0; il < h.nLayer; il++) {
    const b = `blk.${il}.`, nh = at(h.nHead, il), nkv = at(h.nHeadKv, il), ff = at(h.nFf, il);
    req(b + "attn_norm.weight", [h.nEmbd]);
    req(b + "attn_q.weight", [h.nEmbd, h.headDimK * nh]);
    req(b + "attn_k.weight", [h.nEmbd, h.headDimK * nkv]);
    req(b + "attn_v.weight", [h.nEmbd, h.headDimV * nkv]);
    req(b + "attn_output.weight", [h.headDimK * nh, h.nEmbd]);
    if (h.arch === "qwen2") {
      req(b + "attn_q.bias", [h.headDimK * nh]);
      req(b + "attn_k.bias", [h.headDimK * nkv]);
      req(b + "attn_v.bias", [h.headDimV * nkv]);
    } else if (h.arch === "qwen3" || h.arch === "qwen3moe") {
      req(b + "attn_q_norm.weight", [h.headDimK]);
      req(b + "attn_k_norm.weight", [h.headDimK]);
    }
    if ((!h.arch || h.arch === "llama" || h.arch === "deci") && !h.nExpert) {
      // optional biases llama.cpp's llama / deci loaders create (wo_b, ffn_down_b): FLAP bias compensation writes them
      m.set(b + "attn_output.bias", { ne: [h.nEmbd], required: false });
      m.set(b + "ffn_down.bias", { ne: [h.nEmbd], required: false });
    }
    req(b + "ffn_norm.weight", [h.nEmbd]);
    if (h.nExpert > 0) {
      const ff = h.nFfExp ?? at(h.nFf, il);
      req(b + "ffn_gate_inp.weight", [h.nEmbd, h.nExpert]);
      req(b + "ffn_gate_exps.weight", [h.nEmbd, ff, h.nExpert]);
      req(b + "ffn_down_exps.weight", [ff, h.nEmbd, h.nExpert]);
      req(b + "ffn_up_exps.weight", [h.nEmbd, ff, h.nExpert]);
    } else {
      req(b + "ffn_gate.weight", [h.nEmbd, ff]);
      req(b + "ffn_down.weight", [ff, h.nEmbd]);
      req(b + "ffn_up.weight", [h.nEmbd, ff]);
    }
  }
  return m;
}

/**
 * gemma2 / gemma3 / phi3 layers (llama-model.cpp create_tensor calls): q/k/v either separate or one
 * attn_qkv {n_embd, q + k + v} (create_tensor_qkv; {@link checkLlamaTensors} requires one of the two);
 * Gemma: attn_q_norm / attn_k_norm {head_k} (gemma3), post_attention_norm and post_ffw_norm {n_embd},
 * ffn_gate / ffn_up {n_embd, n_ff}; Phi-3: attn_output {n_embd, n_embd}, ffn_up {n_embd, 2·n_ff}, no ffn_gate.
 */
function expectGemmaPhi(m: Map<string, ExpectedTensor>, h: LlamaShapeParams): Map<string, ExpectedTensor> {
  const req = (name: string, ne: number[]) => m.set(name, { ne, required: true });
  const opt = (name: string, ne: number[]) => m.set(name, { ne, required: false });
  // Phi-3 128k (LongRoPE): per-pair frequency factors for long and short contexts
  if (h.arch === "phi3") { opt("rope_factors_long.weight", [h.nRot / 2]); opt("rope_factors_short.weight", [h.nRot / 2]); }
  for (let il = 0; il < h.nLayer; il++) {
    const b = `blk.${il}.`, nh = at(h.nHead, il), nkv = at(h.nHeadKv, il), ff = at(h.nFf, il);
    const q = h.arch === "phi3" ? h.nEmbd : h.headDimK * nh, k = h.headDimK * nkv, v = h.headDimV * nkv;
    req(b + "attn_norm.weight", [h.nEmbd]);
    opt(b + "attn_qkv.weight", [h.nEmbd, q + k + v]);
    opt(b + "attn_q.weight", [h.nEmbd, q]); opt(b + "attn_k.weight", [h.nEmbd, k]); opt(b + "attn_v.weight", [h.nEmbd, v]);
    req(b + "attn_output.weight", [q, h.nEmbd]);
    req(b + "ffn_norm.weight", [h.nEmbd]);
    req(b + "ffn_down.weight", [ff, h.nEmbd]);
    if (h.arch === "phi3") { req(b + "ffn_up.weight", [h.nEmbd, 2 * ff]); continue; }
    if (h.arch === "gemma3") { req(b + "attn_q_norm.weight", [h.headDimK]); req(b + "attn_k_norm.weight", [h.headDimK]); }
    req(b + "post_attention_norm.weight", [h.nEmbd]);
    req(b + "ffn_gate.weight", [h.nEmbd, ff]);
    req(b + "ffn_up.weight", [h.nEmbd, ff]);
    req(b + "post_ffw_norm.weight", [h.nEmbd]);
  }
  return m;
}

const shape = (ne: readonly number[]) => `[${ne.join(", ")}]`;

/** ggml compares all GGML_MAX_DIMS extents, missing ones being 1 (so [64, 300, 1] = [64, 300]). */
function sameExtents(a: readonly number[], b: readonly number[]): boolean {
  if (a.length > 4 || b.length > 4) return false;
  for (let i = 0; i < 4; i++) if ((a[i] ?? 1) !== (b[i] ?? 1)) return false;
  return true;
}

/**
 * Checks the hyperparameters against {@link LLAMA_LIMITS} and the relations llama.cpp relies on
 * (head counts divide, n_rot = head size, experts used ≤ experts).
 * @param where what is checked, for messages ("config.json", "model.gguf").
 * @throws TensorshrinkError `E_FORMAT` naming the hyperparameter.
 */
export function checkLlamaParams(h: LlamaShapeParams, where: string): void {
  const bad = (k: string, v: unknown, why: string) => new TensorshrinkError("E_FORMAT", `${where}: ${k} = ${JSON.stringify(v)} ${why}`, { key: k, value: v, file: where });
  const int = (k: string, v: number, lo: number, hi: number) => {
    if (!Number.isSafeInteger(v) || v < lo || v > hi) throw bad(k, v, `is not an integer from ${lo} to ${hi}`);
  };
  const perLayer = (k: string, v: number | readonly number[], lo: number, hi: number) => {
    if (typeof v === "number") return int(k, v, lo, hi);
    if (v.length !== h.nLayer) throw bad(k, `array of ${v.length}`, `needs one value per layer (${h.nLayer})`);
    v.forEach((x, i) => int(`${k}[${i}]`, x, lo, hi));
  };
  int("n_embd", h.nEmbd, 1, LLAMA_LIMITS.embd);
  int("n_layer", h.nLayer, 1, LLAMA_LIMITS.layers);
  perLayer("n_head", h.nHead, 1, LLAMA_LIMITS.heads);
  perLayer("n_head_kv", h.nHeadKv, 1, LLAMA_LIMITS.heads);
  int("head_dim", h.headDimK, 1, LLAMA_LIMITS.headDim);
  int("value head_dim", h.headDimV, 1, LLAMA_LIMITS.headDim);
  perLayer("n_ff", h.nFf, 1, LLAMA_LIMITS.ff);
  int("n_vocab", h.nVocab, 1, LLAMA_LIMITS.vocab);
  int("n_expert", h.nExpert, 0, LLAMA_LIMITS.experts);
  int("n_expert_used", h.nExpertUsed, 0, Math.max(h.nExpert, 0));
  if (h.nExpert > 0 && h.nExpertUsed < 1) throw bad("n_expert_used", h.nExpertUsed, `must be at least 1 with ${h.nExpert} experts`);
  if (h.nExpert === 1) throw bad("n_expert", 1, "must be 0 (dense) or at least 2");
  if (h.arch === "phi3" ? h.nRot > h.headDimK : h.nRot !== h.headDimK) throw bad("n_rot", h.nRot, `must equal the head size ${h.headDimK} for llama (llama.cpp: invalid n_rot)`);
  if (h.nRot % 2 !== 0) throw bad("n_rot", h.nRot, "must be even");
  if (h.arch && h.arch !== "deci") {
    // llama.cpp reads per-layer arrays for every architecture but sizes the tensors of llama / qwen* with layer 0's
    // values: only deci (llama_model_deci) builds each layer with its own head counts and FFN width
    for (const [k, v] of [["head_count", h.nHead], ["head_count_kv", h.nHeadKv], ["feed_forward_length", h.nFf]] as const) {
      if (typeof v !== "number" && v.some((x) => x !== v[0])) throw bad(`${h.arch}.${k}`, v, `differs between layers, which llama.cpp's ${h.arch} architecture does not load (it sizes every layer like layer 0); write general.architecture = deci`);
    }
  }
  for (let il = 0; il < h.nLayer; il++) {
    const nh = at(h.nHead, il), nkv = at(h.nHeadKv, il);
    if (nh % nkv !== 0) throw bad("n_head", nh, `is not a multiple of n_head_kv ${nkv}${typeof h.nHead === "number" ? "" : ` (layer ${il})`}`);
  }
}

/**
 * Checks every tensor against {@link expectedLlamaTensors}: each required one present with exactly
 * the expected extents, optional ones right when present, nothing else (llama.cpp refuses a file with
 * tensors it does not use: "wrong number of tensors").
 * @param where the model, for messages.
 * @throws TensorshrinkError `E_FORMAT` (hyperparameters, see {@link checkLlamaParams}) or `E_SHAPE`
 *   naming the tensor, its extents and the expected ones.
 */
export function checkLlamaTensors(h: LlamaShapeParams, tensors: readonly { readonly name: string; readonly ne: readonly number[] }[], where: string): void {
  checkLlamaParams(h, where);
  const want = expectedLlamaTensors(h);
  const seen = new Set<string>();
  for (const t of tensors) {
    const e = want.get(t.name);
    if (!e) throw new TensorshrinkError("E_SHAPE", `${where}: unexpected tensor ${t.name} ${shape(t.ne)} for a ${h.arch ?? "llama"} model with ${h.nLayer} layers${h.nExpert ? ` and ${h.nExpert} experts` : ""} (llama.cpp refuses tensors it does not use)`, { tensor: t.name, ne: [...t.ne] });
    if (seen.has(t.name)) throw new TensorshrinkError("E_SHAPE", `${where}: tensor ${t.name} appears twice`, { tensor: t.name });
    seen.add(t.name);
    if (!sameExtents(t.ne, e.ne)) {
      throw new TensorshrinkError("E_SHAPE", `${where}: tensor ${t.name} has extents ${shape(t.ne)}, the hyperparameters (n_embd ${h.nEmbd}, n_vocab ${h.nVocab}, head size ${h.headDimK}) give ${shape(e.ne)} (ggml order)`, { tensor: t.name, ne: [...t.ne], expected: [...e.ne] });
    }
  }
  for (const [name, e] of want) {
    if (e.required && !seen.has(name)) throw new TensorshrinkError("E_SHAPE", `${where}: tensor ${name} ${shape(e.ne)} is missing`, { tensor: name, expected: [...e.ne] });
  }
  if (h.arch === "gemma2" || h.arch === "gemma3" || h.arch === "phi3") {
    // create_tensor_qkv: one fused attn_qkv, or all three of attn_q / attn_k / attn_v
    for (let il = 0; il < h.nLayer; il++) {
      const b = `blk.${il}.`, sep = ["attn_q", "attn_k", "attn_v"].filter((r) => seen.has(`${b}${r}.weight`));
      const fused = seen.has(`${b}attn_qkv.weight`);
      if (fused ? sep.length > 0 : sep.length !== 3) {
        const name = fused ? `${b}${sep[0]}.weight` : `${b}${["attn_q", "attn_k", "attn_v"].find((r) => !sep.includes(r))}.weight`;
        throw new TensorshrinkError("E_SHAPE", fused ? `${where}: tensor ${name} beside ${b}attn_qkv.weight (llama.cpp uses one or the other)` : `${where}: tensor ${name} ${shape(want.get(name)!.ne)} is missing (or a fused ${b}attn_qkv.weight)`, { tensor: name });
      }
    }
  }
}

/** A vocabulary as GGUF stores it (`tokenizer.ggml.*`). */
export interface LlamaVocabView {
  /** tokenizer.ggml.model: "llama" (SentencePiece) or "gpt2" (byte-level BPE); others are not checked. */
  readonly model: string;
  readonly tokens: readonly string[];
  readonly tokenTypes?: ArrayLike<unknown>;
  readonly scores?: ArrayLike<unknown>;
  /** general.name: llama.cpp looks up "</s>", "<unk>", "<s>", "<|endoftext|>" in a vocabulary of a model named *phi-3* / *phi3*. */
  readonly name?: string;
}

/** The 256 characters byte-level BPE (GPT-2) uses for the bytes 0..255. */
function byteLevelChars(): string[] {
  const out: string[] = new Array(256);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    out[b] = String.fromCodePoint(printable ? b : 256 + n++);
  }
  return out;
}

/**
 * Checks a vocabulary the way llama.cpp's vocab loader relies on it: token strings are unique (it
 * asserts `id_to_token.size() == token_to_id.size()` and aborts the process otherwise), the token
 * type and score arrays have one entry per token (it indexes them by token id), and the 256 byte
 * tokens are there (`<0x00>`..`<0xFF>` for SentencePiece, the byte characters for byte-level BPE):
 * tokenizing text with a byte the vocabulary lacks falls back to them through `token_to_id.at()`,
 * which throws out of the tokenizer and aborts the process.
 * @throws TensorshrinkError `E_FORMAT` naming the token and ids.
 */
export function checkLlamaVocab(v: LlamaVocabView, where: string): void {
  const ids = new Map<string, number>();
  let dup: [number, number] | null = null;
  for (let i = 0; i < v.tokens.length; i++) {
    const t = v.tokens[i]!;
    const j = ids.get(t);
    if (j !== undefined) { dup = [j, i]; break; }
    ids.set(t, i);
  }
  checkVocab(v, { size: v.tokens.length, firstDuplicate: dup, has: (s) => ids.has(s), text: (i) => v.tokens[i]! }, where);
}

/** The lookups checkVocab needs: a Map of the decoded tokens, or a ByteStringIndex over their raw bytes. */
interface VocabLookup {
  readonly size: number;
  /** The first [earlier id, later id] with the same token string, or null. */
  readonly firstDuplicate: readonly [number, number] | null;
  has(s: string): boolean;
  text(i: number): string;
}

function checkVocab(v: Omit<LlamaVocabView, "tokens">, ids: VocabLookup, where: string): void {
  const bad = (msg: string, extra: Record<string, unknown> = {}) => new TensorshrinkError("E_FORMAT", `${where}: ${msg}`, { file: where, ...extra });
  const n = ids.size;
  if (n === 0) throw bad("the vocabulary is empty");
  if (v.tokenTypes && v.tokenTypes.length !== n) throw bad(`${v.tokenTypes.length} token types for ${n} tokens`);
  if (v.scores && v.scores.length !== n) throw bad(`${v.scores.length} token scores for ${n} tokens`);
  if (ids.firstDuplicate) {
    const [j, i] = ids.firstDuplicate;
    throw bad(`token ${JSON.stringify(ids.text(i)).slice(0, 40)} is both id ${j} and id ${i} (llama.cpp needs unique token strings and aborts otherwise)`, { token: i, other: j });
  }
  const lname = (v.name ?? "").toLowerCase();
  if (lname.includes("phi-3") || lname.includes("phi3")) {
    // llama-vocab.cpp sets token attributes by name for these with token_to_id.at(), aborting the load when one is missing
    const miss = ["</s>", "<unk>", "<s>", "<|endoftext|>"].find((t) => !ids.has(t));
    if (miss) throw bad(`general.name ${JSON.stringify(v.name)} names a Phi-3 model, and llama.cpp then needs the token ${JSON.stringify(miss)} in the vocabulary (it fails to load otherwise): add it or rename the model`, { missing: miss });
  }
  if (v.model === "llama") {
    // SentencePiece: byte_to_token() looks up "<0xNN>", then the byte itself as a string, with .at()
    for (let b = 0; b < 256; b++) {
      const hex = `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`;
      if (!ids.has(hex) && !(b < 0x80 && ids.has(String.fromCharCode(b)))) {
        throw bad(`a SentencePiece vocabulary needs the 256 byte tokens <0x00>..<0xFF>; ${hex} is missing: llama.cpp aborts when it meets that byte`, { missing: hex });
      }
    }
  }
  if (v.model === "gpt2") {
    const missing = byteLevelChars().filter((c) => !ids.has(c));
    if (missing.length) throw bad(`a byte-level BPE vocabulary needs all 256 byte tokens; ${missing.length} are missing (e.g. ${JSON.stringify(missing[0])} for byte 0x${byteLevelChars().indexOf(missing[0]!).toString(16).padStart(2, "0")}): llama.cpp aborts when it meets those bytes`, { missing: missing.length });
  }
}

/**
 * The shape hyperparameters of a GGUF model's metadata, as llama.cpp reads them for
 * `general.architecture` = llama; null for other architectures (not checked).
 * @throws TensorshrinkError `E_FORMAT` when a key is missing or has the wrong type.
 */
export function llamaShapeParamsFromMetadata(metadata: readonly GgufKV[], where: string): LlamaShapeParams | null {
  const kv0 = new Map(metadata.map((e) => [e.key, e.value]));
  const arch = kv0.get("general.architecture");
  if (typeof arch !== "string" || !CHECKED_ARCHS.includes(arch)) return null;
  // read `<arch>.*` keys under the llama names below
  const kv = new Map([...kv0].map(([k, v]) => [k.startsWith(arch + ".") ? "llama" + k.slice(arch.length) : k, v]));
  const bad = (k: string, why: string) => new TensorshrinkError("E_FORMAT", `${where}: ${k} ${why}`, { key: k, file: where });
  const toNum = (k: string, v: unknown): number => {
    if (typeof v === "number") return v;
    if (typeof v === "bigint") return v > BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(v);
    throw bad(k, `has type ${typeof v}, not an integer`);
  };
  const scalar = (k: string, d?: number): number => {
    const v = kv.get(k);
    if (v === undefined) { if (d === undefined) throw bad(k, "is missing"); return d; }
    return toNum(k, v);
  };
  const orArr = (k: string, d?: number): number | number[] => {
    const v = kv.get(k);
    if (v && typeof v === "object" && "items" in v) return v.items.map((x) => toNum(k, x));
    return scalar(k, d);
  };
  const nEmbd = scalar("llama.embedding_length");
  const nLayer = scalar("llama.block_count");
  const nHead = orArr("llama.attention.head_count");
  const nHeadKv = orArr("llama.attention.head_count_kv", typeof nHead === "number" ? nHead : undefined) ?? nHead;
  const h0 = typeof nHead === "number" ? nHead : nHead[0] ?? 1;
  const headDimK = scalar("llama.attention.key_length", h0 > 0 && nEmbd % h0 === 0 ? nEmbd / h0 : NaN);
  const headDimV = scalar("llama.attention.value_length", headDimK);
  const tokens = kv.get("tokenizer.ggml.tokens");
  const nVocab = tokens && typeof tokens === "object" && "items" in tokens ? ggufArrayLength(tokens) : scalar("llama.vocab_size");
  const nExpert = scalar("llama.expert_count", 0);
  return {
    arch, nEmbd, nLayer, nHead, nHeadKv: nHeadKv as number | number[], headDimK, headDimV,
    nFf: orArr("llama.feed_forward_length"), nVocab, nExpert, nExpertUsed: scalar("llama.expert_used_count", 0),
    nRot: scalar("llama.rope.dimension_count", headDimK),
    ...(kv.has("llama.expert_feed_forward_length") ? { nFfExp: scalar("llama.expert_feed_forward_length") } : {}),
  };
}

/**
 * Checks a model (GGUF metadata + tensors) the way llama.cpp's loader would, for the llama
 * architecture; other architectures pass unchecked.
 * @throws TensorshrinkError `E_FORMAT` / `E_SHAPE` (see {@link checkLlamaTensors}).
 */
export function checkLlamaModel(model: { readonly metadata: readonly GgufKV[]; readonly tensors: readonly { readonly name: string; readonly ne: readonly number[] }[] }, where: string): void {
  const h = llamaShapeParamsFromMetadata(model.metadata, where);
  if (!h) return;
  checkLlamaTensors(h, model.tensors, where);
  const kv = new Map(model.metadata.map((e) => [e.key, e.value]));
  const array = (k: string) => { const x = kv.get(k); return x && typeof x === "object" && "items" in x ? x : undefined; };
  // only the counts of the type and score arrays are checked: not decoded for that
  const count = (k: string) => { const x = array(k); return x ? { length: ggufArrayLength(x) } : undefined; };
  const tokArr = array("tokenizer.ggml.tokens");
  const tm = kv.get("tokenizer.ggml.model");
  if (tokArr && typeof tm === "string") {
    const nm = kv.get("general.name");
    const view = { model: tm, tokenTypes: count("tokenizer.ggml.token_type"), scores: count("tokenizer.ggml.scores"), ...(typeof nm === "string" ? { name: nm } : {}) };
    // a vocabulary as read from a file: checked on its raw bytes, its strings stay undecoded
    const table = ggufStringTable(tokArr as GgufArray);
    if (table) return checkVocab(view, new ByteStringIndex(table), where);
    const tokens = tokArr.items;
    if (!tokens.every((t) => typeof t === "string")) throw new TensorshrinkError("E_FORMAT", `${where}: tokenizer.ggml.tokens holds non-strings`, { file: where });
    checkLlamaVocab({ ...view, tokens: tokens as string[] }, where);
  }
}
