// UTF-8 for short strings (vocabulary tokens) without TextDecoder / TextEncoder: their per-call cost
// (a fresh ArrayBuffer per encode, a native call per decode: several microseconds) dominated reading
// and writing GGUF headers with 100k-token vocabularies. Exactly the WHATWG results: decodeShortUtf8
// accepts only well-formed UTF-8 (anything else -> undefined, and the caller falls back to a fatal
// TextDecoder, which throws); encodeShortUtf8 writes lone surrogates as U+FFFD, as TextEncoder does.

/** Longest string (bytes to decode, UTF-16 units to encode) the short paths take. */
export const SHORT_UTF8 = 64;

/** One-character strings of the ASCII bytes (shared: no allocation for single-byte tokens). */
const ASCII1: string[] = Array.from({ length: 128 }, (_v, i) => String.fromCharCode(i));
/** Reused UTF-16 code unit buffer of the decoder (a plain array: String.fromCharCode.apply's fast path). */
const units: number[] = [];

/**
 * Decodes b[start..start+n) if it is well-formed UTF-8 (BOM kept); undefined for malformed input or
 * n > SHORT_UTF8. The code units are collected first and made into one flat string with a single
 * String.fromCharCode call (not one concatenation per character: cons strings, garbage, and slower
 * hashing when the tokens become Map keys).
 */
export function decodeShortUtf8(b: Uint8Array, start: number, n: number): string | undefined {
  if (n > SHORT_UTF8) return undefined;
  if (n === 1 && b[start]! < 0x80) return ASCII1[b[start]!];
  const end = start + n;
  let i = start, u = 0;
  while (i < end) {
    const c = b[i]!;
    if (c < 0x80) { units[u++] = c; i++; continue; }
    let cp: number, need: number, lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) { cp = c & 0x1f; need = 1; }
    else if (c >= 0xe0 && c <= 0xef) { cp = c & 0x0f; need = 2; if (c === 0xe0) lo = 0xa0; else if (c === 0xed) hi = 0x9f; }
    else if (c >= 0xf0 && c <= 0xf4) { cp = c & 0x07; need = 3; if (c === 0xf0) lo = 0x90; else if (c === 0xf4) hi = 0x8f; }
    else return undefined;
    if (i + need >= end) return undefined; // truncated sequence
    for (let k = 1; k <= need; k++) {
      const t = b[i + k]!;
      if (k === 1 ? t < lo || t > hi : t < 0x80 || t > 0xbf) return undefined;
      cp = (cp << 6) | (t & 0x3f);
    }
    i += need + 1;
    if (cp < 0x10000) units[u++] = cp;
    else { cp -= 0x10000; units[u++] = 0xd800 + (cp >> 10); units[u++] = 0xdc00 + (cp & 0x3ff); }
  }
  units.length = u;
  return String.fromCharCode.apply(null, units);
}

/**
 * Encodes s (at most SHORT_UTF8 UTF-16 units) into out at `at` (room for 3 bytes per unit needed);
 * returns the byte count, the bytes TextEncoder gives. Returns -1 when s is longer.
 */
export function encodeShortUtf8(s: string, out: Uint8Array, at: number): number {
  const k = s.length;
  if (k > SHORT_UTF8) return -1;
  let o = at;
  for (let i = 0; i < k; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) { out[o++] = c; continue; }
    if (c < 0x800) { out[o++] = 0xc0 | (c >> 6); out[o++] = 0x80 | (c & 0x3f); continue; }
    if (c >= 0xd800 && c <= 0xdfff) {
      const d = i + 1 < k ? s.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
        const cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        out[o++] = 0xf0 | (cp >> 18); out[o++] = 0x80 | ((cp >> 12) & 0x3f); out[o++] = 0x80 | ((cp >> 6) & 0x3f); out[o++] = 0x80 | (cp & 0x3f);
        i++;
        continue;
      }
      c = 0xfffd; // lone surrogate
    }
    out[o++] = 0xe0 | (c >> 12); out[o++] = 0x80 | ((c >> 6) & 0x3f); out[o++] = 0x80 | (c & 0x3f);
  }
  return o - at;
}

/**
 * Whether b[start..start+n) is well-formed UTF-8, exactly what a fatal TextDecoder accepts (no
 * overlong forms, surrogates or code points above U+10FFFF; a BOM is fine), without making a string.
 * Any length; ASCII runs take one comparison per byte.
 */
export function isWellFormedUtf8(b: Uint8Array, start: number, n: number): boolean {
  const end = start + n;
  let i = start;
  while (i < end) {
    const c = b[i]!;
    if (c < 0x80) { i++; continue; }
    let need: number, lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) need = 1;
    else if (c >= 0xe0 && c <= 0xef) { need = 2; if (c === 0xe0) lo = 0xa0; else if (c === 0xed) hi = 0x9f; }
    else if (c >= 0xf0 && c <= 0xf4) { need = 3; if (c === 0xf0) lo = 0x90; else if (c === 0xf4) hi = 0x8f; }
    else return false;
    if (i + need >= end) return false; // truncated sequence
    const t = b[i + 1]!;
    if (t < lo || t > hi) return false;
    for (let k = 2; k <= need; k++) { const u = b[i + k]!; if (u < 0x80 || u > 0xbf) return false; }
    i += need + 1;
  }
  return true;
}
