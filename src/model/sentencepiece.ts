/**
 * SentencePiece `tokenizer.model` (a serialized `sentencepiece.ModelProto` protobuf) → GGUF vocabulary,
 * as llama.cpp's convert_hf_to_gguf.py `_set_vocab_sentencepiece` builds it: `tokenizer.ggml.model`
 * "llama", one token per piece in id order with its score (f32) and type (the proto's
 * `SentencePiece.Type`: NORMAL 1, UNKNOWN 2, CONTROL 3, USER_DEFINED 4, UNUSED 5, BYTE 6 — the same
 * numbers llama.cpp stores), padded to config.json `vocab_size` with `[PAD<id>]` (UNUSED, score -1000).
 * A minimal protobuf reader (varints, length-delimited fields, fixed32) walks only ModelProto.pieces
 * (field 1: piece = 1, score = 2, type = 3) and TrainerSpec (field 2: model_type = 3, unk/bos/eos/pad
 * ids = 40..43); every other field is skipped by wire type.
 */
import { TensorshrinkError } from "../errors";
import { TOKEN_TYPE, type GgufVocab } from "./vocab";

/** A parsed SentencePiece model. */
export interface SentencePieceModel {
  pieces: string[];
  scores: Float32Array;
  /** SentencePiece.Type per piece (1..6). */
  types: Uint8Array;
  /** TrainerSpec.model_type: 1 UNIGRAM (default), 2 BPE, 3 WORD, 4 CHAR. */
  modelType: number;
  /** TrainerSpec ids (defaults unk 0, bos 1, eos 2, pad -1; -1 = none). */
  unkId: number;
  bosId: number;
  eosId: number;
  padId: number;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Parses a `tokenizer.model` (at most 2 Mi pieces).
 * @param file the name for messages.
 * @throws TensorshrinkError `E_TRUNCATED` (a field runs past the end, byte offset named), `E_FORMAT`
 *   (not a SentencePiece model: bad wire type, no pieces, a piece that is not UTF-8, a type out of 1..6).
 */
export function readSentencePieceModel(bytes: Uint8Array, file = "tokenizer.model"): SentencePieceModel {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bad = (off: number, why: string) => new TensorshrinkError("E_FORMAT", `${file}: ${why} (at byte offset ${off}); not a SentencePiece model?`, { file, offset: off });
  const short = (off: number, what: string) => new TensorshrinkError("E_TRUNCATED", `${file}: ${what} runs past the end of the file (${bytes.length} bytes) at byte offset ${off}`, { file, offset: off });
  let p = 0;
  const varint = (end: number): number => {
    let v = 0, mul = 1;
    for (let i = 0; i < 10; i++) {
      if (p >= end) throw short(p, "a varint");
      const b = bytes[p++]!;
      if (i < 8) v += (b & 0x7f) * mul; // values above 2^53 lose precision; ids and lengths never get there
      mul *= 128;
      if (!(b & 0x80)) return v;
    }
    throw bad(p, "a varint longer than 10 bytes");
  };
  const skip = (wt: number, end: number, at: number) => {
    if (wt === 0) varint(end);
    else if (wt === 1) { if (p + 8 > end) throw short(p, "a fixed64 field"); p += 8; }
    else if (wt === 5) { if (p + 4 > end) throw short(p, "a fixed32 field"); p += 4; }
    else if (wt === 2) { const n = varint(end); if (p + n > end) throw short(p, `a field of ${n} bytes`); p += n; }
    else throw bad(at, `wire type ${wt}`);
  };
  const pieces: string[] = [], scores: number[] = [], types: number[] = [];
  let modelType = 1, unkId = 0, bosId = 1, eosId = 2, padId = -1;
  const end0 = bytes.length;
  while (p < end0) {
    const at = p, key = varint(end0), field = Math.floor(key / 8), wt = key & 7;
    if (field === 0) throw bad(at, "field number 0");
    if ((field === 1 || field === 2) && wt === 2) {
      const n = varint(end0);
      const end = p + n;
      if (end > end0) throw short(p, `${field === 1 ? "piece" : "trainer_spec"} ${field === 1 ? pieces.length : ""} of ${n} bytes`);
      if (field === 1) {
        if (pieces.length >= 1 << 21) throw bad(at, "more than 2 Mi pieces");
        let piece: string | undefined, score = 0, type = 1;
        while (p < end) {
          const a = p, k = varint(end), f = Math.floor(k / 8), w = k & 7;
          if (f === 1 && w === 2) {
            const len = varint(end);
            if (p + len > end) throw short(p, `piece ${pieces.length}'s text`);
            try { piece = utf8.decode(bytes.subarray(p, p + len)); } catch { throw bad(p, `piece ${pieces.length} is not valid UTF-8`); }
            p += len;
          } else if (f === 2 && w === 5) {
            if (p + 4 > end) throw short(p, `piece ${pieces.length}'s score`);
            score = dv.getFloat32(p, true); p += 4;
          } else if (f === 3 && w === 0) {
            type = varint(end);
            if (type < 1 || type > 6) throw bad(a, `piece ${pieces.length} has type ${type}, not 1..6`);
          } else skip(w, end, a);
        }
        if (piece === undefined) throw bad(at, `piece ${pieces.length} has no text`);
        pieces.push(piece); scores.push(score); types.push(type);
      } else {
        while (p < end) {
          const a = p, k = varint(end), f = Math.floor(k / 8), w = k & 7;
          if (w === 0 && (f === 3 || (f >= 40 && f <= 43))) {
            let v = varint(end);
            if (f !== 3 && v >= 2 ** 31) v = -1; // a negative int32 (sign-extended to 10 bytes): "none"
            if (f === 3) modelType = v; else if (f === 40) unkId = v; else if (f === 41) bosId = v; else if (f === 42) eosId = v; else padId = v;
          } else skip(w, end, a);
        }
      }
      p = end;
    } else skip(wt, end0, at);
  }
  if (pieces.length === 0) throw bad(0, "no pieces");
  return { pieces, scores: Float32Array.from(scores), types: Uint8Array.from(types), modelType, unkId, bosId, eosId, padId };
}

/**
 * The GGUF vocabulary of a SentencePiece model, with special ids from tokenizer_config.json
 * (`bos_token` / `eos_token` / `unk_token` / `pad_token` contents) or config.json (`bos_token_id`, ...),
 * else the TrainerSpec's; `add_bos_token` (default true) / `add_eos_token` (default false).
 * @param vocabSize pad to this many tokens (config.json `vocab_size`); fewer than the pieces is `E_SHAPE`.
 * @param maxTokens the embedding's rows: the vocabulary must fit.
 * @throws TensorshrinkError `E_SHAPE`, `E_FORMAT` (flags of the wrong type).
 */
export function vocabFromSentencePiece(m: SentencePieceModel, tokenizerConfig: any = {}, config: any = {}, opts: { vocabSize?: number; maxTokens?: number; addedTokens?: "spm" | "phi3"; tokenizerJson?: any } = {}): GgufVocab {
  const n0 = m.pieces.length;
  let n = n0;
  if (opts.vocabSize !== undefined && opts.vocabSize > n) n = opts.vocabSize;
  if (opts.maxTokens !== undefined && n > opts.maxTokens) throw new TensorshrinkError("E_SHAPE", `tokenizer.model: ${n} tokens do not fit the ${opts.maxTokens} rows of the token embedding`, { file: "tokenizer.model" });
  const tokens = m.pieces.slice(), scores = Array.from(m.scores), tokenTypes = Array.from(m.types);
  // ids below vocab_size that no piece fills: [PAD<id>], score -10000, UNUSED (_create_vocab_sentencepiece)
  for (let i = n0; i < n; i++) { tokens.push(`[PAD${i}]`); scores.push(-10000); tokenTypes.push(TOKEN_TYPE.UNUSED); }
  const cfgT = tokenizerConfig && typeof tokenizerConfig === "object" ? tokenizerConfig : {};
  if (opts.addedTokens) addedTokens(tokens, scores, tokenTypes, cfgT, opts.addedTokens, opts.tokenizerJson);
  const cfgM = config && typeof config === "object" ? config : {};
  const index = new Map<string, number>();
  tokens.forEach((t, i) => { if (!index.has(t)) index.set(t, i); });
  const content = (v: unknown) => (typeof v === "string" ? v : v && typeof v === "object" && typeof (v as any).content === "string" ? (v as any).content : undefined);
  const pick = (k: string, trainer: number): number | undefined => {
    const c = content(cfgT[`${k}_token`]);
    if (c !== undefined && index.has(c)) return index.get(c);
    let v = cfgM[`${k}_token_id`];
    if (Array.isArray(v)) v = v[0];
    if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0 && v < n) return v;
    return trainer >= 0 && trainer < n ? trainer : undefined;
  };
  const flag = (k: string, d: boolean) => {
    const v = cfgT[k];
    if (v === undefined || v === null) return d;
    if (typeof v !== "boolean") throw new TensorshrinkError("E_FORMAT", `tokenizer_config.json: ${k} = ${JSON.stringify(v)} is not true or false`, { key: k, file: "tokenizer_config.json" });
    return v;
  };
  return {
    model: "llama", pre: "default", tokens, scores, tokenTypes,
    bosId: pick("bos", m.bosId), eosId: pick("eos", m.eosId), unkId: pick("unk", m.unkId), padId: pick("pad", m.padId),
    addBos: flag("add_bos_token", true), addEos: flag("add_eos_token", false),
  };
}

/** The names convert_hf_to_gguf.py's does_token_look_special treats as control tokens. */
function looksSpecial(t: string): boolean {
  return t === "<pad>" || t === "<mask>" || t === "<2mass>" || t === "[@BOS@]" || (t.startsWith("<|") && t.endsWith("|>")) ||
    (t.startsWith("<\uff5c") && t.endsWith("\uff5c>")) || (t.startsWith("<unused") && t.endsWith(">"));
}

/**
 * Added tokens over the pieces, as the converters do (score -1000): tokenizer_config.json's
 * `added_tokens_decoder` — "spm" (_create_vocab_sentencepiece): CONTROL when special or looking special,
 * else USER_DEFINED with U+2581 turned into spaces; "phi3" (Phi3MiniModel.set_vocab): USER_DEFINED, CONTROL
 * when special, then the same for tokenizer.json's `added_tokens`. Ids beyond the vocabulary are ignored.
 * @throws TensorshrinkError `E_FORMAT` for an entry without a content string or an id that is not an integer.
 */
function addedTokens(tokens: string[], scores: number[], types: number[], cfgT: any, mode: "spm" | "phi3", tokJson: any): void {
  const put = (id: number, content: string, special: boolean, file: string) => {
    if (!Number.isSafeInteger(id) || id < 0) throw new TensorshrinkError("E_FORMAT", `${file}: added token ${JSON.stringify(content).slice(0, 40)} has id ${id}, not a token id`, { file, id });
    if (id >= tokens.length) return;
    let t = content, type: number = TOKEN_TYPE.USER_DEFINED;
    if (mode === "spm") {
      if (special || looksSpecial(t)) type = TOKEN_TYPE.CONTROL;
      else t = t.replace(/\u2581/g, " ");
    } else if (special) type = TOKEN_TYPE.CONTROL;
    tokens[id] = t; scores[id] = -1000; types[id] = type;
  };
  const dec = cfgT.added_tokens_decoder;
  if (dec !== undefined && dec !== null) {
    if (typeof dec !== "object" || Array.isArray(dec)) throw new TensorshrinkError("E_FORMAT", "tokenizer_config.json: added_tokens_decoder is not an object", { file: "tokenizer_config.json", key: "added_tokens_decoder" });
    for (const [k, v] of Object.entries(dec as Record<string, any>)) {
      if (!v || typeof v !== "object" || typeof v.content !== "string") throw new TensorshrinkError("E_FORMAT", `tokenizer_config.json: added_tokens_decoder[${JSON.stringify(k)}] has no content string`, { file: "tokenizer_config.json", key: k });
      put(/^[0-9]+$/.test(k) ? Number(k) : NaN, v.content, v.special === true, "tokenizer_config.json");
    }
  }
  if (mode === "phi3" && tokJson && typeof tokJson === "object" && Array.isArray(tokJson.added_tokens)) {
    for (const a of tokJson.added_tokens as any[]) {
      if (!a || typeof a !== "object" || typeof a.content !== "string") throw new TensorshrinkError("E_FORMAT", "tokenizer.json: an added token has no content string", { file: "tokenizer.json" });
      put(Number(a.id), a.content, a.special === true, "tokenizer.json");
    }
  }
}
