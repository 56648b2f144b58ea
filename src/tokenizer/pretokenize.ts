/**
 * Byte-level BPE pre-tokenizers (`tokenizer.ggml.pre`) as llama.cpp runs them (llm_tokenizer_bpe +
 * unicode_regex_split): a list of regexes, each splitting every piece left by the previous one into its
 * matches and the gaps between them. llama.cpp runs the GPT-2, Llama-3 and Qwen2 patterns through
 * hand-written matchers (unicode_regex_split_custom_*) and the others through std::regex on a
 * category-collapsed copy of the text; here each is one JS regex with unicode property escapes whose
 * results equal those matchers':
 * - `\s` is `\p{White_Space}` (llama.cpp's whitespace set: U+0009-000D, 0020, 0085, 00A0, 1680,
 *   2000-200A, 2028, 2029, 202F, 205F, 3000; JS's own `\s` differs at U+0085 and U+FEFF);
 * - codepoints the matchers leave alone ("no matches") become one-codepoint words (a final `[^]`);
 * - codepoints newer than llama.cpp's Unicode table are masked first ({@link maskNewCodepoints}).
 */
import { TensorshrinkError } from "../errors";
import { maskNewCodepoints } from "./unicode";

const WS = "\\p{White_Space}";
const NWS = "[^\\p{White_Space}]";
const L = "\\p{L}";
const N = "\\p{N}";

// GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)  (+ lone codepoint)
const GPT2 = `'s|'t|'re|'ve|'m|'ll|'d| ?${L}+| ?${N}+| ?[^${WS}${L}${N}]+|[${WS}]+(?!${NWS})|[^]`;
// Llama-3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
const llama3Like = (digits: string) =>
  `'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]|[^\\r\\n${L}${N}]?${L}+|${N}${digits}| ?[^${WS}${L}${N}]+[\\r\\n]*|[${WS}]*[\\r\\n]+|[${WS}]+(?!${NWS})|[${WS}]+|[^]`;
const LLAMA3 = llama3Like("{1,3}");
const QWEN2 = llama3Like("");

/** One pre-tokenizer: regexes applied in order (global, unicode). */
export interface PreTokenizer {
  /** llama.cpp's pre-tokenizer type this equals (LLAMA_VOCAB_PRE_TYPE_*). */
  readonly type: "DEFAULT" | "GPT2" | "LLAMA3" | "QWEN2" | "STARCODER";
  readonly regexes: readonly RegExp[];
  /** llama.cpp's `ignore_merges`: a word that is itself a token is emitted whole. */
  readonly ignoreMerges: boolean;
  /** llama.cpp's default `add_bos` for this pre-tokenizer (before `tokenizer.ggml.add_bos_token`). */
  readonly addBos: boolean;
  /** llama.cpp's `clean_spaces` (clean_up_tokenization_spaces) used by decode. */
  readonly cleanSpaces: boolean;
}

const re = (s: string) => new RegExp(s, "gu");

const DEFAULT: PreTokenizer = {
  type: "DEFAULT",
  regexes: [re(`[\\p{P}$+<=>^~|]+`), re(GPT2), re(`${N}+`), re(`[0-9][0-9][0-9]`)],
  ignoreMerges: false, addBos: false, cleanSpaces: true,
};
const GPT2_PRE: PreTokenizer = { type: "GPT2", regexes: [re(GPT2)], ignoreMerges: false, addBos: false, cleanSpaces: true };
const LLAMA3_PRE: PreTokenizer = { type: "LLAMA3", regexes: [re(LLAMA3)], ignoreMerges: true, addBos: true, cleanSpaces: true };
const QWEN2_PRE: PreTokenizer = { type: "QWEN2", regexes: [re(QWEN2)], ignoreMerges: false, addBos: false, cleanSpaces: false };
const STARCODER_PRE: PreTokenizer = { type: "STARCODER", regexes: [re(`${N}`), re(GPT2)], ignoreMerges: false, addBos: false, cleanSpaces: true };

/**
 * `tokenizer.ggml.pre` names → pre-tokenizer, the subset of llama.cpp's table implemented here
 * (llama_vocab::impl::load). A missing / empty name is "default", as in llama.cpp.
 */
export const PRE_TOKENIZERS: Readonly<Record<string, PreTokenizer>> = Object.freeze({
  default: DEFAULT,
  "gpt-2": GPT2_PRE, "phi-2": GPT2_PRE, "jina-es": GPT2_PRE, "jina-de": GPT2_PRE, gigachat: GPT2_PRE,
  "jina-v2-es": GPT2_PRE, "jina-v2-de": GPT2_PRE, "a.x-4.0": GPT2_PRE, mellum: GPT2_PRE, mpt: GPT2_PRE, olmo: GPT2_PRE,
  llama3: LLAMA3_PRE, "llama-v3": LLAMA3_PRE, "llama-bpe": LLAMA3_PRE, falcon3: LLAMA3_PRE, "falcon-h1": LLAMA3_PRE,
  pixtral: LLAMA3_PRE, "midm-2.0": LLAMA3_PRE, lfm2: LLAMA3_PRE, "jina-v5-nano": LLAMA3_PRE,
  qwen2: QWEN2_PRE, "deepseek-r1-qwen": QWEN2_PRE, kormo: QWEN2_PRE, f2llmv2: QWEN2_PRE,
  starcoder: STARCODER_PRE, refact: STARCODER_PRE, smollm: STARCODER_PRE, codeshell: STARCODER_PRE,
});

/** The pre-tokenizer for a `tokenizer.ggml.pre` value. @throws TensorshrinkError `E_UNSUPPORTED` naming it. */
export function preTokenizerFor(name: string | undefined): PreTokenizer {
  const key = name === undefined || name === "" ? "default" : name;
  const p = Object.prototype.hasOwnProperty.call(PRE_TOKENIZERS, key) ? PRE_TOKENIZERS[key] : undefined;
  if (!p) {
    throw new TensorshrinkError("E_UNSUPPORTED", `tokenizer.ggml.pre ${JSON.stringify(name)} is not supported (supported: ${Object.keys(PRE_TOKENIZERS).join(", ")})`, { pre: name });
  }
  return p;
}

/**
 * Split `text` into pre-tokenizer words (not yet byte-encoded), in order; their concatenation is `text`.
 * Boundaries are UTF-16 offsets `[start0, end0, start1, end1, ...]` pushed into `out` when given.
 */
export function preTokenize(text: string, pre: PreTokenizer): string[] {
  if (text.length === 0) return [];
  const masked = maskNewCodepoints(text);
  // pieces as [start, end) pairs over `text`
  let bounds: number[] = [0, text.length];
  for (const rx of pre.regexes) {
    const next: number[] = [];
    for (let p = 0; p < bounds.length; p += 2) {
      const s = bounds[p]!, e = bounds[p + 1]!;
      const sub = s === 0 && e === masked.length ? masked : masked.slice(s, e);
      let prev = 0;
      rx.lastIndex = 0;
      for (let m = rx.exec(sub); m !== null; m = rx.exec(sub)) {
        const a = m.index, b = a + m[0].length;
        if (b === a) { rx.lastIndex++; continue; }
        if (a > prev) next.push(s + prev, s + a);
        next.push(s + a, s + b);
        prev = b;
      }
      if (prev < sub.length) next.push(s + prev, e);
    }
    bounds = next;
  }
  const words: string[] = new Array(bounds.length >> 1);
  for (let i = 0; i < bounds.length; i += 2) words[i >> 1] = text.slice(bounds[i]!, bounds[i + 1]!);
  return words;
}
