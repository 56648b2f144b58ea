/**
 * Text helpers shared by the tokenizers: UTF-8 validation and byte lengths, GPT-2's byte → unicode map,
 * and the Unicode-version bridge to llama.cpp.
 *
 * llama.cpp classifies codepoints with its own table (src/unicode-data.cpp, generated from an older
 * Unicode than today's JS engines). Every codepoint both assign has the same category (checked for all
 * 1,114,112 codepoints by scripts/gen-tokenizer-unicode.mjs against Unicode 17); the codepoints that only
 * the JS engine assigns (Unicode 16/17 additions) are UNDEFINED to llama.cpp — neither letter, number
 * nor whitespace. {@link maskNewCodepoints} replaces them by a symbol of the same UTF-16 length before the
 * pre-tokenizer regexes run, so JS's \p{L} / \p{N} / \p{P} classify text exactly as llama.cpp does.
 */
import { TensorshrinkError } from "../errors";

/** Codepoints llama.cpp (the copy bundled with node-llama-cpp 3.22.1) leaves UNDEFINED but Unicode 17 assigns: 9988 codepoints in 87 ranges; 0 codepoints differ in category otherwise (JS Unicode 17.0). */
export const LLAMA_CPP_UNASSIGNED = "88f,897,c5c,cdc,1acf-1add,1ae0-1aeb,1b4e-1b4f,1b7f,1c89-1c8a,20c1,2427-2429,2b96,31e4-31e5,a7cb-a7cf,a7d2,a7d4,a7da-a7dc,a7f1,fbc3-fbd2,fd90-fd91,fdc8-fdce,105c0-105f3,10940-10959,10d40-10d65,10d69-10d85,10d8e-10d8f,10ec2-10ec7,10ed0-10ed8,10efa-10efc,11380-11389,1138b,1138e,11390-113b5,113b7-113c0,113c2,113c5,113c7-113ca,113cc-113d5,113d7-113d8,113e1-113e2,116d0-116e3,11b60-11b67,11bc0-11be1,11bf0-11bf9,11db0-11ddb,11de0-11de9,11f5a,13460-143fa,16100-16139,16d40-16d79,16ea0-16eb8,16ebb-16ed3,16ff2-16ff6,187f8-187ff,18cff,18d09-18d1e,18d80-18df2,1cc00-1ccfc,1cd00-1ceb3,1ceba-1ced0,1cee0-1cef0,1e5d0-1e5fa,1e5ff,1e6c0-1e6de,1e6e0-1e6f5,1e6fe-1e6ff,1f6d8,1f777-1f77a,1f8b2-1f8bb,1f8c0-1f8c1,1f8d0-1f8d8,1fa54-1fa57,1fa89-1fa8a,1fa8e-1fa8f,1fabe,1fac6,1fac8,1facd,1fadc,1fadf,1fae9-1faea,1faef,1fbcb-1fbef,1fbfa,2b73a-2b73f,2cea2-2cead,323b0-33479";

function rangesClass(spec: string): string {
  return spec.split(",").map((r) => r.split("-").map((h) => `\\u{${h}}`).join("-")).join("");
}

/** Matches any codepoint in {@link LLAMA_CPP_UNASSIGNED}. */
const NEW_RE = new RegExp(`[${rangesClass(LLAMA_CPP_UNASSIGNED)}]`, "gu");
const NEW_TEST = new RegExp(NEW_RE.source, "u");

/**
 * `text` with every codepoint llama.cpp considers unassigned (but this engine assigns) replaced by a
 * symbol (category So, never letter/number/punctuation/whitespace) of the same UTF-16 length:
 * U+00A9 for BMP codepoints, U+1F600 for astral ones. Offsets into the result equal offsets into `text`.
 */
export function maskNewCodepoints(text: string): string {
  if (!NEW_TEST.test(text)) return text;
  return text.replace(NEW_RE, (c) => (c.length === 1 ? "\u00A9" : "\u{1F600}"));
}

/** UTF-8 byte length of a well-formed JS string (lone surrogates count as U+FFFD, 3 bytes). */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) { n += 4; i++; }
    else n += 3;
  }
  return n;
}

/** UTF-16 index of the first lone surrogate in `s`, or -1. */
export function firstLoneSurrogate(s: string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) continue;
    if (c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) { i++; continue; }
    return i;
  }
  return -1;
}

const utf8Fatal = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Text as a JS string: strings are checked for lone surrogates (they have no UTF-8 form), bytes are
 * decoded as strict UTF-8 (a BOM is kept as U+FEFF, as llama.cpp sees it).
 * @throws TensorshrinkError `E_ENCODING` naming the offset (UTF-16 index or byte offset).
 */
export function textOf(text: string | Uint8Array, where = "tokenizer"): string {
  if (typeof text === "string") {
    const i = firstLoneSurrogate(text);
    if (i >= 0) throw new TensorshrinkError("E_ENCODING", `${where}: text has a lone surrogate U+${text.charCodeAt(i).toString(16).toUpperCase()} at UTF-16 index ${i} (no UTF-8 form)`, { index: i });
    return text;
  }
  if (!(text instanceof Uint8Array)) throw new TensorshrinkError("E_ARG_TYPE", `${where}: text must be a string or Uint8Array, got ${Object.prototype.toString.call(text)}`, {});
  try {
    return utf8Fatal.decode(text);
  } catch {
    const off = firstInvalidUtf8(text);
    throw new TensorshrinkError("E_ENCODING", `${where}: text is not valid UTF-8 (byte offset ${off}, byte 0x${(text[off] ?? 0).toString(16).padStart(2, "0")})`, { offset: off });
  }
}

/** Byte offset of the first malformed UTF-8 sequence (overlong, surrogate, > U+10FFFF, truncated), or -1. */
export function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    if (c < 0x80) { i++; continue; }
    let n: number, min: number, cp: number;
    if (c >= 0xc2 && c <= 0xdf) { n = 1; min = 0x80; cp = c & 0x1f; }
    else if (c >= 0xe0 && c <= 0xef) { n = 2; min = 0x800; cp = c & 0x0f; }
    else if (c >= 0xf0 && c <= 0xf4) { n = 3; min = 0x10000; cp = c & 0x07; }
    else return i;
    for (let k = 1; k <= n; k++) {
      const d = b[i + k];
      if (d === undefined || (d & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (d & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += n + 1;
  }
  return -1;
}

/** GPT-2's byte → printable-unicode map (bytes_to_unicode): index = byte, value = one-char string. */
export const BYTE_TO_UNICODE: readonly string[] = (() => {
  const out: string[] = new Array(256);
  const direct = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let n = 0;
  for (let b = 0; b < 256; b++) out[b] = direct(b) ? String.fromCharCode(b) : String.fromCharCode(256 + n++);
  return out;
})();

/** Inverse of {@link BYTE_TO_UNICODE}: char code → byte, or -1. */
export const UNICODE_TO_BYTE: Int16Array = (() => {
  const out = new Int16Array(324).fill(-1);
  BYTE_TO_UNICODE.forEach((s, b) => { out[s.charCodeAt(0)] = b; });
  return out;
})();

const enc = new TextEncoder();
/** UTF-8 bytes of a well-formed string. */
export function utf8Bytes(s: string): Uint8Array {
  return enc.encode(s);
}

/** GPT-2 byte-level encoding of a word: each UTF-8 byte → its printable stand-in character. */
export function byteEncode(word: string): string {
  let ascii = true;
  for (let i = 0; i < word.length; i++) { const c = word.charCodeAt(i); if (c >= 0x80 || !((c >= 0x21 && c <= 0x7e))) { ascii = false; break; } }
  if (ascii) return word;
  const b = enc.encode(word);
  let s = "";
  for (let i = 0; i < b.length; i++) s += BYTE_TO_UNICODE[b[i]!];
  return s;
}
