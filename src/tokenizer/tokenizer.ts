/**
 * Text ↔ token ids from a GGUF file's `tokenizer.ggml.*` metadata, identical to llama.cpp
 * (llama_tokenize / llama_detokenize of the llama.cpp bundled with node-llama-cpp 3.22.1):
 * - `tokenizer.ggml.model = "llama"`: SentencePiece (llm_tokenizer_spm): scores, byte fallback,
 *   leading "▁" (add_space_prefix), BOS/EOS.
 * - `tokenizer.ggml.model = "gpt2"`: byte-level BPE (llm_tokenizer_bpe) with merges and the
 *   pre-tokenizer named by `tokenizer.ggml.pre` (see pretokenize.ts for the supported names).
 * Pure TypeScript, synchronous, no Node APIs: works in every JS runtime.
 */
import { TensorshrinkError } from "../errors";
import { ggufGet, type GgufArray, type GgufFile, type GgufValue } from "../formats/gguf";
import { BpeMerges, BpeSession } from "./bpe";
import { preTokenizerFor, type PreTokenizer } from "./pretokenize";
import { partitionSpecial, TOKEN_ATTR, type SpecialTable } from "./special";
import { SpmSession } from "./spm";
import { TokenTrie } from "./trie";
import { UNICODE_TO_BYTE, textOf, utf8Bytes, utf8Length } from "./unicode";

/** Options of {@link Tokenizer.encode}. */
export interface EncodeOptions {
  /**
   * Add the model's BOS (and EOS) tokens as llama.cpp's `add_special` does: BOS when the vocabulary's
   * add_bos is set, EOS when add_eos is set. Default true. (node-llama-cpp's `model.tokenize` = false.)
   */
  addBos?: boolean;
  /** Recognise CONTROL / UNKNOWN token texts (`<s>`, `<|eot_id|>` ...) in the text. Default false. */
  parseSpecial?: boolean;
}

/** Options of {@link Tokenizer.decode}. */
export interface DecodeOptions {
  /** Drop a leading BOS (when add_bos) and a trailing EOS (when add_eos), as llama_detokenize's remove_special. Default false. */
  removeSpecial?: boolean;
  /** Render CONTROL / UNKNOWN tokens as their text (llama_detokenize's unparse_special). Default false. */
  unparseSpecial?: boolean;
}

const TT = { UNDEFINED: 0, NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;
const ATTR_OF_TYPE: Record<number, number> = {
  [TT.UNKNOWN]: TOKEN_ATTR.UNKNOWN, [TT.UNUSED]: TOKEN_ATTR.UNUSED, [TT.NORMAL]: TOKEN_ATTR.NORMAL,
  [TT.CONTROL]: TOKEN_ATTR.CONTROL, [TT.USER_DEFINED]: TOKEN_ATTR.USER_DEFINED, [TT.BYTE]: TOKEN_ATTR.BYTE,
};
const SPECIAL_ATTR = TOKEN_ATTR.UNKNOWN | TOKEN_ATTR.CONTROL;

// Texts llama.cpp forces to CONTROL (llama_vocab::impl::load: EOT/EOM/EOG and FIM auto-detection).
const EOG_TEXTS = ["<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>", "<｜end▁of▁sentence｜>", "[e~["];
const FIM_TEXTS: Record<string, string[]> = {
  "tokenizer.ggml.fim_pre_token_id": ["<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>", "<|prefix|>"],
  "tokenizer.ggml.fim_suf_token_id": ["<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>", "<|code_suffix|>", "<|suffix|>"],
  "tokenizer.ggml.fim_mid_token_id": ["<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>", "<|code_middle|>", "<|middle|>"],
  "tokenizer.ggml.fim_pad_token_id": ["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"],
  "tokenizer.ggml.fim_rep_token_id": ["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"],
  "tokenizer.ggml.fim_sep_token_id": ["<|file_sep|>"],
};
const USER_DEFINED_TEXTS = ["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"];

function arr(gguf: Pick<GgufFile, "kv">, key: string, required: boolean): GgufArray | undefined {
  const v = ggufGet(gguf, key);
  if (v === undefined) {
    if (required) throw new TensorshrinkError("E_FORMAT", `GGUF has no ${key} (needed by the tokenizer)`, { key });
    return undefined;
  }
  if (typeof v !== "object" || !("items" in v)) throw new TensorshrinkError("E_FORMAT", `GGUF ${key} is not an array`, { key });
  return v;
}

function num(gguf: Pick<GgufFile, "kv">, key: string): number | undefined {
  const v = ggufGet(gguf, key);
  if (v === undefined) return undefined;
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  throw new TensorshrinkError("E_FORMAT", `GGUF ${key} is not a number`, { key });
}

function bool(gguf: Pick<GgufFile, "kv">, key: string): boolean | undefined {
  const v: GgufValue | undefined = ggufGet(gguf, key);
  if (v === undefined) return undefined;
  if (typeof v !== "boolean") throw new TensorshrinkError("E_FORMAT", `GGUF ${key} is not a bool`, { key });
  return v;
}

/** A tokenizer read from GGUF metadata; see the module comment. Immutable after construction. */
export class Tokenizer {
  /** "llama" (SentencePiece) or "gpt2" (byte-level BPE). */
  readonly model: "llama" | "gpt2";
  /** `tokenizer.ggml.pre` (gpt2) or "default". */
  readonly pre: string;
  /** Number of tokens in the vocabulary. */
  readonly nVocab: number;
  /** BOS token id, or -1. */
  readonly bos: number;
  /** EOS token id, or -1. */
  readonly eos: number;
  /** Unknown token id, or -1. */
  readonly unk: number;
  /** Whether encode's `addBos` adds BOS (llama.cpp add_bos). */
  readonly addBos: boolean;
  /** Whether encode's `addBos` also appends EOS (llama.cpp add_eos). */
  readonly addEos: boolean;
  /** SentencePiece's leading-space rule (llama.cpp add_space_prefix). */
  readonly addSpacePrefix: boolean;
  /** Token texts by id, as stored (an empty text is `[EMPTY_<id>]`, as llama.cpp). */
  readonly tokens: readonly string[];
  /** Token attributes (TOKEN_ATTR bit flags) by id, after llama.cpp's text-based fixes. */
  readonly attrs: Int32Array;

  private readonly textToId: Map<string, number>;
  private readonly special: SpecialTable;
  private readonly spm?: SpmSession;
  private readonly bpe?: BpeSession;
  private readonly cleanSpaces: boolean;
  private readonly pieceCache: (Uint8Array | undefined)[];

  private constructor(gguf: Pick<GgufFile, "kv">) {
    const modelV = ggufGet(gguf, "tokenizer.ggml.model");
    if (typeof modelV !== "string") throw new TensorshrinkError("E_FORMAT", "GGUF has no tokenizer.ggml.model string", { key: "tokenizer.ggml.model" });
    if (modelV !== "llama" && modelV !== "gpt2") {
      throw new TensorshrinkError("E_UNSUPPORTED", `tokenizer.ggml.model ${JSON.stringify(modelV)} is not supported (supported: "llama" SentencePiece, "gpt2" byte-level BPE)`, { model: modelV });
    }
    this.model = modelV;
    const tokArr = arr(gguf, "tokenizer.ggml.tokens", true)!;
    const n = tokArr.items.length;
    if (n === 0) throw new TensorshrinkError("E_FORMAT", "tokenizer.ggml.tokens is empty", { key: "tokenizer.ggml.tokens" });
    const scoresArr = arr(gguf, "tokenizer.ggml.scores", false);
    const typesArr = arr(gguf, "tokenizer.ggml.token_type", false);
    if (scoresArr && scoresArr.items.length < n) throw new TensorshrinkError("E_FORMAT", `tokenizer.ggml.scores has ${scoresArr.items.length} entries for ${n} tokens`, { key: "tokenizer.ggml.scores" });
    if (typesArr && typesArr.items.length < n) throw new TensorshrinkError("E_FORMAT", `tokenizer.ggml.token_type has ${typesArr.items.length} entries for ${n} tokens`, { key: "tokenizer.ggml.token_type" });
    const tokens: string[] = new Array(n);
    const scores = new Float32Array(n);
    const attrs = new Int32Array(n);
    const textToId = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      let t = tokArr.items[i];
      if (typeof t !== "string") throw new TensorshrinkError("E_FORMAT", `tokenizer.ggml.tokens[${i}] is not a string`, { token: i });
      if (t.length === 0) t = `[EMPTY_${i}]`;
      if (t.length >= 1 << 20) throw new TensorshrinkError("E_FORMAT", `tokenizer.ggml.tokens[${i}] is ${t.length} UTF-16 units long (at most 2^20 supported)`, { token: i });
      tokens[i] = t;
      textToId.set(t, i);
      scores[i] = scoresArr ? Number(scoresArr.items[i]) : 0;
      attrs[i] = typesArr ? (ATTR_OF_TYPE[Number(typesArr.items[i])] ?? TOKEN_ATTR.UNDEFINED) : TOKEN_ATTR.NORMAL;
    }
    this.tokens = tokens;
    this.nVocab = n;
    this.textToId = textToId;
    this.attrs = attrs;

    let pre: PreTokenizer | undefined;
    let bos: number, eos: number, unk: number, addBos: boolean, addEos = false, addSpacePrefix: boolean;
    if (modelV === "llama") {
      bos = 1; eos = 2; unk = 0; addBos = true; addSpacePrefix = true; this.cleanSpaces = false;
      this.pre = "default";
    } else {
      const preName = ggufGet(gguf, "tokenizer.ggml.pre");
      if (preName !== undefined && typeof preName !== "string") throw new TensorshrinkError("E_FORMAT", "tokenizer.ggml.pre is not a string", { key: "tokenizer.ggml.pre" });
      pre = preTokenizerFor(preName);
      this.pre = preName === undefined || preName === "" ? "default" : preName;
      bos = 11; eos = 11; unk = -1; addBos = pre.addBos; addSpacePrefix = false; this.cleanSpaces = pre.cleanSpaces;
    }
    addSpacePrefix = bool(gguf, "tokenizer.ggml.add_space_prefix") ?? addSpacePrefix;
    // special ids: defaults out of range are disabled; keys in range override
    const pick = (key: string, def: number): number => {
      let id = def >= n ? -1 : def;
      const v = num(gguf, key);
      if (v !== undefined && Number.isInteger(v) && v >= 0 && v < n) id = v;
      return id;
    };
    bos = pick("tokenizer.ggml.bos_token_id", bos);
    eos = pick("tokenizer.ggml.eos_token_id", eos);
    unk = pick("tokenizer.ggml.unknown_token_id", unk);
    addBos = bool(gguf, "tokenizer.ggml.add_bos_token") ?? addBos;
    addEos = bool(gguf, "tokenizer.ggml.add_eos_token") ?? addEos;
    this.bos = bos; this.eos = eos; this.unk = unk; this.addBos = addBos; this.addEos = addEos; this.addSpacePrefix = addSpacePrefix;

    // llama.cpp's text-based attribute fixes (FIM roles only when not given by metadata)
    const forceControl = (t: string) => { const id = textToId.get(t); if (id !== undefined) attrs[id]! |= TOKEN_ATTR.CONTROL; };
    for (const [key, texts] of Object.entries(FIM_TEXTS)) if (num(gguf, key) === undefined) texts.forEach(forceControl);
    EOG_TEXTS.forEach(forceControl);
    for (const t of USER_DEFINED_TEXTS) { const id = textToId.get(t); if (id !== undefined) attrs[id] = TOKEN_ATTR.USER_DEFINED; }

    // special-token cache, longest UTF-8 text first
    const special: number[] = [];
    for (let i = 0; i < n; i++) if (attrs[i]! & (TOKEN_ATTR.CONTROL | TOKEN_ATTR.USER_DEFINED | TOKEN_ATTR.UNKNOWN)) special.push(i);
    const blen = special.map((i) => utf8Length(tokens[i]!));
    const order = special.map((_, k) => k).sort((a, b) => blen[b]! - blen[a]! || special[a]! - special[b]!);
    const ids = order.map((k) => special[k]!);
    // per-model attributes llama.cpp sets by name (phi-3: RSTRIP on special tokens and </s>)
    const name = String(ggufGet(gguf, "general.name") ?? "").toLowerCase();
    if (name.includes("phi-3") || name.includes("phi3")) {
      for (const id of ids) attrs[id]! |= TOKEN_ATTR.RSTRIP;
      const set = (t: string, on: boolean) => { const id = textToId.get(t); if (id !== undefined) attrs[id] = on ? attrs[id]! | TOKEN_ATTR.RSTRIP : attrs[id]! & ~TOKEN_ATTR.RSTRIP; };
      set("</s>", true);
      for (const t of ["<unk>", "<s>", "<|endoftext|>"]) set(t, false);
    }
    this.special = { ids, texts: ids.map((i) => tokens[i]!), attrs: ids.map((i) => attrs[i]!) };

    if (modelV === "llama") {
      const byteToId = new Int32Array(256).fill(-1);
      for (let b = 0; b < 256; b++) {
        const id = textToId.get(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`) ?? (b < 0x80 ? textToId.get(String.fromCharCode(b)) : undefined);
        if (id !== undefined) byteToId[b] = id;
      }
      this.spm = new SpmSession({ trie: new TokenTrie(tokens), scores, byteToId });
    } else {
      const mergesArr = arr(gguf, "tokenizer.ggml.merges", true)!;
      const merges = new BpeMerges(mergesArr.items as string[]);
      this.bpe = new BpeSession({ textToId, merges, pre: pre! });
    }
    this.pieceCache = new Array(n);
  }

  /**
   * The tokenizer of a GGUF file (its header is enough: only metadata is read).
   * @throws TensorshrinkError `E_UNSUPPORTED` for another `tokenizer.ggml.model` or an unsupported
   *   `tokenizer.ggml.pre` (named in the message), `E_FORMAT` for missing / mistyped keys.
   */
  static fromGguf(gguf: Pick<GgufFile, "kv">): Tokenizer {
    return new Tokenizer(gguf);
  }

  /**
   * Text → token ids, identical to llama.cpp's `llama_tokenize(vocab, text, add_special = addBos,
   * parse_special = parseSpecial)`. `text` may be a string or UTF-8 bytes.
   * @throws TensorshrinkError `E_ENCODING` for bytes that are not valid UTF-8 or a string with a lone surrogate.
   */
  encode(text: string | Uint8Array, opts: EncodeOptions = {}): Int32Array {
    const s = textOf(text, "Tokenizer.encode");
    const addSpecial = opts.addBos ?? true;
    const frags = partitionSpecial(s, this.special, opts.parseSpecial ?? false);
    const out: number[] = [];
    if (addSpecial && ((this.addBos && this.bos < 0) || (this.addEos && this.eos < 0))) {
      throw new TensorshrinkError("E_FORMAT", `Tokenizer.encode: the vocabulary adds ${this.addBos && this.bos < 0 ? "BOS" : "EOS"} but has no such token (pass addBos: false)`, {});
    }
    if (addSpecial && this.addBos) out.push(this.bos);
    if (this.spm) {
      let prevSpecial = true;
      for (const f of frags) {
        if (f.token >= 0) { out.push(f.token); prevSpecial = true; continue; }
        let t = s.slice(f.start, f.end);
        if (this.addSpacePrefix && prevSpecial) t = " " + t;
        this.spm.tokenize(t.replaceAll(" ", "\u2581"), out);
        prevSpecial = false;
      }
    } else {
      for (const f of frags) {
        if (f.token >= 0) out.push(f.token);
        else this.bpe!.tokenize(s.slice(f.start, f.end), out);
      }
    }
    if (addSpecial && this.addEos) out.push(this.eos);
    return Int32Array.from(out);
  }

  private checkId(id: number, where: string): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.nVocab) {
      throw new TensorshrinkError("E_RANGE", `${where}: token id ${id} outside [0, ${this.nVocab})`, { token: id });
    }
  }

  /**
   * The UTF-8 bytes one token stands for (llama.cpp's `llama_token_to_piece`): CONTROL / UNKNOWN tokens
   * are empty unless `special`; byte tokens are their byte; SPM pieces have "▁" → " "; BPE pieces are
   * byte-decoded. `lstrip` removes up to that many leading spaces.
   */
  pieceBytes(id: number, special = false, lstrip = 0): Uint8Array {
    this.checkId(id, "Tokenizer.piece");
    const attr = this.attrs[id]!;
    if (!special && attr & SPECIAL_ATTR) return new Uint8Array(0);
    let p = this.pieceCache[id];
    if (!p) { p = this.computePiece(id); this.pieceCache[id] = p; }
    let k = 0;
    while (k < lstrip && k < p.length && p[k] === 0x20) k++;
    return k ? p.subarray(k) : p;
  }

  /** {@link pieceBytes} as a string (invalid UTF-8, e.g. a lone byte token, becomes U+FFFD). */
  piece(id: number, special = false): string {
    return utf8Lossy.decode(this.pieceBytes(id, special));
  }

  private computePiece(id: number): Uint8Array {
    const attr = this.attrs[id]!, text = this.tokens[id]!;
    if (attr & (SPECIAL_ATTR | TOKEN_ATTR.USER_DEFINED)) return utf8Bytes(text);
    if (attr & TOKEN_ATTR.NORMAL) {
      if (this.model === "llama") return utf8Bytes(text.replaceAll("\u2581", " "));
      const out: number[] = [];
      let unk: string | undefined;
      for (const ch of text) {
        const c = ch.codePointAt(0)!;
        const b = c < UNICODE_TO_BYTE.length ? UNICODE_TO_BYTE[c]! : -1;
        if (b >= 0) { out.push(b); continue; }
        // llama_decode_text: "[UNK_BYTE_0x<hex of the char's UTF-8>" + whole token text + "]"
        const hex = Array.from(utf8Bytes(ch), (x) => x.toString(16).padStart(2, "0")).join("");
        unk = `[UNK_BYTE_0x${hex}${text}]`;
        out.push(...utf8Bytes(unk));
      }
      return Uint8Array.from(out);
    }
    if (attr & TOKEN_ATTR.BYTE) return Uint8Array.of(parseInt(text.substr(3, 2), 16) & 0xff);
    return new Uint8Array(0);
  }

  /**
   * Token ids → UTF-8 bytes, identical to llama.cpp's `llama_detokenize(remove_special, unparse_special)`:
   * with add_space_prefix the first piece loses one leading space unless the ids start with BOS and
   * `removeSpecial` drops it; clean_spaces (gpt2 pre-tokenizers other than qwen2) removes " " before
   * `?!.,` and in " 's" / " 'm" / " 're" / " 've".
   */
  decodeBytes(ids: ArrayLike<number>, opts: DecodeOptions = {}): Uint8Array {
    let a = 0, b = ids.length;
    let removeSpace = this.addSpacePrefix;
    if (opts.removeSpecial && this.addBos && b > a && ids[a] === this.bos) { removeSpace = false; a++; }
    if (opts.removeSpecial && this.addEos && b > a && ids[b - 1] === this.eos) b--;
    const parts: Uint8Array[] = [];
    let total = 0;
    for (let i = a; i < b; i++) {
      const p = this.pieceBytes(ids[i]!, opts.unparseSpecial ?? false, removeSpace ? 1 : 0);
      removeSpace = false;
      parts.push(p);
      total += p.length;
    }
    let text: Uint8Array = new Uint8Array(total);
    let o = 0;
    for (const p of parts) { text.set(p, o); o += p.length; }
    if (this.cleanSpaces) text = cleanSpaces(text);
    return text;
  }

  /** {@link decodeBytes} as a string (invalid UTF-8 becomes U+FFFD, as node-llama-cpp's detokenize). */
  decode(ids: ArrayLike<number>, opts: DecodeOptions = {}): string {
    return utf8Lossy.decode(this.decodeBytes(ids, opts));
  }
}

const utf8Lossy = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });

/** llama_detokenize's three clean_spaces passes, on bytes. */
function cleanSpaces(t: Uint8Array): Uint8Array {
  const SP = 0x20, Q = 0x27;
  let n = t.length;
  // 1: " ?", " !", " .", " ,"
  let total = n ? 1 : 0;
  for (let i = 1; i < n; i++) {
    const x = t[i]!;
    if (t[i - 1] === SP && (x === 0x3f || x === 0x21 || x === 0x2e || x === 0x2c)) total--;
    t[total++] = x;
  }
  n = total;
  // 2: " ' " → "'"
  total = n ? 1 : 0;
  for (let i = 1; i < n; i++) {
    const x = t[i]!;
    if (x === Q && i + 1 < n && t[i - 1] === SP && t[i + 1] === SP) { total--; t[++i] = 0; }
    t[total++] = x;
  }
  n = total;
  // 3: " 's", " 'm", " 're", " 've"
  total = n ? 1 : 0;
  for (let i = 1; i < n; i++) {
    const x = t[i]!;
    if (t[i - 1] === SP && x === Q && i + 1 < n) {
      const x1 = t[i + 1]!;
      if (x1 === 0x73 || x1 === 0x6d) total--;
      else if (x1 !== 0x74 && x1 !== 0x64 && i + 2 < n) {
        const x2 = t[i + 2]!;
        if ((x1 === 0x72 && x2 === 0x65) || (x1 === 0x76 && x2 === 0x65)) total--;
      }
    }
    t[total++] = x;
  }
  return t.subarray(0, total);
}
