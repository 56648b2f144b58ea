/**
 * Tokenizer vocabularies → GGUF `tokenizer.ggml.*` metadata, as llama.cpp's converters write them.
 */
import { TensorshrinkError } from "../errors";
import { ggufArray, ggufKV, type GgufKV } from "../formats/gguf";
import type { Llama2cTokenizer } from "../formats/llama2c";

/** llama.cpp token types (`enum llama_token_type` / gguf TokenType). */
export const TOKEN_TYPE = Object.freeze({ NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const);

/** A vocabulary ready for GGUF. */
export interface GgufVocab {
  /** "llama" (SentencePiece) or "gpt2" (byte-level BPE). */
  model: "llama" | "gpt2";
  /** Pre-tokenizer name for gpt2 vocabularies (`tokenizer.ggml.pre`), e.g. "default", "llama-bpe". */
  pre: string;
  tokens: string[];
  /** Scores (SentencePiece only). */
  scores?: number[];
  tokenTypes: number[];
  /** BPE merges "a b" (gpt2 only). */
  merges?: string[];
  bosId?: number;
  eosId?: number;
  unkId?: number;
  padId?: number;
  addBos: boolean;
  addEos: boolean;
  /** Jinja chat template (`tokenizer.chat_template`, from tokenizer_config.json), when the model has one. */
  chatTemplate?: string;
  /** `tokenizer.ggml.add_space_prefix`, written last when set (Gemma's converters write false). */
  addSpacePrefix?: boolean;
}

const BYTE_RE = /^<0x[0-9A-Fa-f]{2}>$/;
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * The vocabulary of a llama2.c tokenizer.bin as llama.cpp's `llama` (SPM) tokenizer needs it:
 * ASCII spaces turned back into U+2581, `<unk>`/`<s>`/`</s>` at ids 0/1/2, byte tokens `<0xNN>`,
 * token types unk=2, control=3, byte=6, normal=1, scores as stored.
 */
export function vocabFromLlama2c(tok: Llama2cTokenizer): GgufVocab {
  const n = tok.tokens.length;
  const tokens: string[] = new Array(n);
  const types: number[] = new Array(n);
  for (let i = 0; i < n; i++) {
    let s: string;
    try {
      s = utf8.decode(tok.tokens[i]!);
    } catch {
      throw new TensorshrinkError("E_FORMAT", `llama2.c tokenizer: token ${i} is not valid UTF-8`, { token: i });
    }
    if (i === 0) { tokens[i] = "<unk>"; types[i] = TOKEN_TYPE.UNKNOWN; continue; }
    if (i === 1) { tokens[i] = "<s>"; types[i] = TOKEN_TYPE.CONTROL; continue; }
    if (i === 2) { tokens[i] = "</s>"; types[i] = TOKEN_TYPE.CONTROL; continue; }
    if (BYTE_RE.test(s)) { tokens[i] = s; types[i] = TOKEN_TYPE.BYTE; continue; }
    tokens[i] = s.replace(/ /g, "\u2581");
    types[i] = s.length === 0 ? TOKEN_TYPE.CONTROL : TOKEN_TYPE.NORMAL;
  }
  return { model: "llama", pre: "default", tokens, scores: Array.from(tok.scores), tokenTypes: types, bosId: 1, eosId: 2, unkId: 0, addBos: true, addEos: false };
}

function tokenContent(t: unknown): string | undefined {
  if (typeof t === "string") return t;
  if (t && typeof t === "object" && typeof (t as any).content === "string") return (t as any).content;
  return undefined;
}

/**
 * The vocabulary of a Hugging Face `tokenizer.json` (+ optional `tokenizer_config.json`, `config.json`):
 * - BPE with `byte_fallback` / `<0xNN>` tokens (Llama 1/2, Mistral, TinyLlama): `llama` (SPM), tokens in id
 *   order, byte tokens typed 6, added special tokens 3, the unk token 2; scores follow SentencePiece's
 *   BPE convention (score = -(id - first normal id)), which reproduces the merge order.
 * - byte-level BPE without byte fallback (GPT-2 style, Llama 3): `gpt2` with merges; `tokenizer.ggml.pre`
 *   is "llama-bpe" for Llama-3-like vocabularies (≥ 128000 tokens), else "default" (override with `pre`).
 * @param vocabSize pad the vocabulary up to this many tokens (config.json `vocab_size`) with `[PAD<id>]` tokens typed UNUSED.
 * @param maxTokens the most tokens the model can have (the embedding's rows): every id, and the
 *   padded size, must fit, checked before anything is allocated (default 2 Mi).
 * @throws TensorshrinkError `E_FORMAT` naming the bad field (ids out of range, wrong types),
 *   `E_SHAPE` when the vocabulary needs more tokens than `maxTokens`, `E_UNSUPPORTED` (not BPE).
 */
export function vocabFromHfTokenizer(tokenizerJson: any, tokenizerConfig: any = {}, config: any = {}, opts: { vocabSize?: number; pre?: string; maxTokens?: number } = {}): GgufVocab {
  const bad = (msg: string, extra: Record<string, unknown> = {}) => new TensorshrinkError("E_FORMAT", `tokenizer.json: ${msg}`, { file: "tokenizer.json", ...extra });
  if (typeof tokenizerJson !== "object" || tokenizerJson === null || Array.isArray(tokenizerJson)) throw bad("is not a JSON object");
  if (tokenizerConfig === null || tokenizerConfig === undefined) tokenizerConfig = {};
  if (typeof tokenizerConfig !== "object" || Array.isArray(tokenizerConfig)) throw new TensorshrinkError("E_FORMAT", "tokenizer_config.json is not a JSON object", { file: "tokenizer_config.json" });
  if (typeof config !== "object" || config === null) config = {};
  const model = tokenizerJson.model;
  if (!model || typeof model !== "object" || typeof model.vocab !== "object" || model.vocab === null || Array.isArray(model.vocab)) {
    throw new TensorshrinkError("E_FORMAT", "tokenizer.json has no model.vocab", {});
  }
  if (model.type !== undefined && model.type !== "BPE") {
    throw new TensorshrinkError("E_UNSUPPORTED", `tokenizer.json model type ${JSON.stringify(model.type)} is not supported (BPE is)`, {});
  }
  const maxTokens = Math.min(opts.maxTokens ?? 1 << 21, 1 << 21);
  const limit = opts.maxTokens === undefined ? `the limit of ${maxTokens} tokens` : `the ${maxTokens} rows of the token embedding`;
  const checkId = (id: unknown, what: string): number => {
    if (typeof id !== "number" || !Number.isSafeInteger(id) || id < 0) throw bad(`${what} has bad id ${JSON.stringify(id)}`, { id });
    if (id >= maxTokens) throw new TensorshrinkError("E_SHAPE", `tokenizer.json: ${what} has id ${id}, beyond ${limit}`, { id, file: "tokenizer.json" });
    return id;
  };
  const byId = new Map<number, string>();
  for (const [tok, id] of Object.entries(model.vocab as Record<string, unknown>)) byId.set(checkId(id, `token ${JSON.stringify(tok).slice(0, 40)}`), tok);
  const added = new Map<number, { content: string; special: boolean }>();
  const addedList = tokenizerJson.added_tokens ?? [];
  if (!Array.isArray(addedList)) throw bad("added_tokens is not a list");
  for (const a of addedList as unknown[]) {
    if (typeof a !== "object" || a === null || typeof (a as any).content !== "string") throw bad(`added token ${JSON.stringify(a)?.slice(0, 60)} has no content string`);
    const id = checkId((a as any).id, `added token ${JSON.stringify((a as any).content).slice(0, 40)}`);
    added.set(id, { content: (a as any).content, special: (a as any).special === true });
    byId.set(id, (a as any).content);
  }
  let n = 0;
  for (const id of byId.keys()) n = Math.max(n, id + 1);
  if (opts.vocabSize !== undefined) {
    if (!Number.isSafeInteger(opts.vocabSize) || opts.vocabSize < 1) throw new TensorshrinkError("E_FORMAT", `vocab_size ${opts.vocabSize} is not a positive integer`, { key: "vocab_size" });
    if (opts.vocabSize > maxTokens) throw new TensorshrinkError("E_SHAPE", `config.json: vocab_size ${opts.vocabSize} is more than ${limit}`, { key: "vocab_size", file: "config.json" });
    if (opts.vocabSize > n) n = opts.vocabSize;
  }
  if (n === 0) throw bad("the vocabulary is empty");
  const flag = (obj: any, k: string, d: boolean): boolean => {
    const v = obj[k];
    if (v === undefined || v === null) return d;
    if (typeof v !== "boolean") throw new TensorshrinkError("E_FORMAT", `tokenizer_config.json: ${k} = ${JSON.stringify(v)} is not true or false`, { key: k, file: "tokenizer_config.json" });
    return v;
  };
  const inRange = (id: unknown) => (typeof id === "number" && Number.isSafeInteger(id) && id >= 0 && id < n ? id : undefined);
  const idOf = (s: string | undefined) => {
    if (s === undefined) return undefined;
    for (const [id, c] of added) if (c.content === s) return id;
    const v = (model.vocab as Record<string, number>)[s];
    return typeof v === "number" ? v : undefined;
  };
  const spm = model.byte_fallback === true || "<0x00>" in model.vocab;
  const unkId = idOf(tokenContent(model.unk_token) ?? tokenContent(tokenizerConfig.unk_token));
  const bosRaw = Array.isArray(config.bos_token_id) ? config.bos_token_id[0] : config.bos_token_id;
  const bosId = idOf(tokenContent(tokenizerConfig.bos_token)) ?? inRange(bosRaw);
  const eosRaw = Array.isArray(config.eos_token_id) ? config.eos_token_id[0] : config.eos_token_id;
  const eosId = idOf(tokenContent(tokenizerConfig.eos_token)) ?? inRange(eosRaw);
  const padId = idOf(tokenContent(tokenizerConfig.pad_token));
  const tokens: string[] = new Array(n);
  const types: number[] = new Array(n);
  const scores: number[] = new Array(n);
  let firstNormal = -1;
  for (let id = 0; id < n; id++) {
    const t = byId.get(id);
    const a = added.get(id);
    if (t === undefined) { tokens[id] = `[PAD${id}]`; types[id] = TOKEN_TYPE.UNUSED; scores[id] = -1000; continue; }
    tokens[id] = t;
    if (id === unkId) types[id] = TOKEN_TYPE.UNKNOWN;
    else if (a?.special) types[id] = TOKEN_TYPE.CONTROL;
    else if (a) types[id] = TOKEN_TYPE.USER_DEFINED;
    else if (spm && BYTE_RE.test(t)) types[id] = TOKEN_TYPE.BYTE;
    else { types[id] = TOKEN_TYPE.NORMAL; if (firstNormal < 0) firstNormal = id; }
    scores[id] = 0;
  }
  if (spm) {
    for (let id = 0; id < n; id++) if (types[id] === TOKEN_TYPE.NORMAL) scores[id] = -(id - firstNormal);
    return {
      model: "llama", pre: "default", tokens, scores, tokenTypes: types, bosId, eosId, unkId, padId,
      addBos: flag(tokenizerConfig, "add_bos_token", true), addEos: flag(tokenizerConfig, "add_eos_token", false),
    };
  }
  const rawMerges = model.merges ?? [];
  if (!Array.isArray(rawMerges)) throw bad("model.merges is not a list");
  const merges: string[] = rawMerges.map((m, i) => {
    if (typeof m === "string") return m;
    if (Array.isArray(m) && m.length === 2 && typeof m[0] === "string" && typeof m[1] === "string") return `${m[0]} ${m[1]}`;
    throw bad(`merge ${i} = ${JSON.stringify(m)?.slice(0, 60)} is neither "a b" nor ["a", "b"]`, { merge: i });
  });
  const pre = opts.pre ?? (n >= 128000 ? "llama-bpe" : "default");
  return {
    model: "gpt2", pre, tokens, tokenTypes: types, merges, bosId, eosId, unkId, padId,
    addBos: flag(tokenizerConfig, "add_bos_token", bosId !== undefined), addEos: flag(tokenizerConfig, "add_eos_token", false),
  };
}

/** `tokenizer.ggml.*` key/values for a vocabulary, in the order llama.cpp's converter writes them. */
export function vocabMetadata(v: GgufVocab): GgufKV[] {
  const kv: GgufKV[] = [
    ggufKV("tokenizer.ggml.model", "str", v.model),
    ggufKV("tokenizer.ggml.pre", "str", v.pre),
    ggufKV("tokenizer.ggml.tokens", "arr", ggufArray("str", v.tokens)),
  ];
  if (v.scores) kv.push(ggufKV("tokenizer.ggml.scores", "arr", ggufArray("f32", v.scores)));
  kv.push(ggufKV("tokenizer.ggml.token_type", "arr", ggufArray("i32", v.tokenTypes)));
  if (v.merges) kv.push(ggufKV("tokenizer.ggml.merges", "arr", ggufArray("str", v.merges)));
  if (v.bosId !== undefined) kv.push(ggufKV("tokenizer.ggml.bos_token_id", "u32", v.bosId));
  if (v.eosId !== undefined) kv.push(ggufKV("tokenizer.ggml.eos_token_id", "u32", v.eosId));
  if (v.unkId !== undefined) kv.push(ggufKV("tokenizer.ggml.unknown_token_id", "u32", v.unkId));
  if (v.padId !== undefined) kv.push(ggufKV("tokenizer.ggml.padding_token_id", "u32", v.padId));
  kv.push(ggufKV("tokenizer.ggml.add_bos_token", "bool", v.addBos));
  kv.push(ggufKV("tokenizer.ggml.add_eos_token", "bool", v.addEos));
  if (v.chatTemplate !== undefined) kv.push(ggufKV("tokenizer.chat_template", "str", v.chatTemplate));
  if (v.addSpacePrefix !== undefined) kv.push(ggufKV("tokenizer.ggml.add_space_prefix", "bool", v.addSpacePrefix));
  return kv;
}
