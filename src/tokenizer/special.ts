/**
 * Special-token partitioning as llama.cpp's `tokenizer_st_partition`: before any model-specific
 * tokenization, the text is cut at every occurrence of a special token (CONTROL, USER_DEFINED or UNKNOWN
 * attribute; CONTROL and UNKNOWN only when `parseSpecial`), longest token text (in UTF-8 bytes) first.
 * Tokens with the LSTRIP / RSTRIP attribute eat ASCII whitespace on that side.
 */

/** llama.cpp token attributes (`enum llama_token_attr`), bit flags. */
export const TOKEN_ATTR = Object.freeze({
  UNDEFINED: 0, UNKNOWN: 1 << 0, UNUSED: 1 << 1, NORMAL: 1 << 2, CONTROL: 1 << 3, USER_DEFINED: 1 << 4,
  BYTE: 1 << 5, NORMALIZED: 1 << 6, LSTRIP: 1 << 7, RSTRIP: 1 << 8, SINGLE_WORD: 1 << 9,
} as const);

/**
 * A fragment of the partitioned text: raw text `[start, end)` of the input (UTF-16 offsets, `token` = -1)
 * or one special token id (`start = end = -1`).
 */
export interface Fragment {
  token: number;
  start: number;
  end: number;
}

/** The special tokens a vocabulary partitions on, in llama.cpp's order. */
export interface SpecialTable {
  /** Token ids sorted by UTF-8 length of their text, longest first (ties: lower id first). */
  readonly ids: readonly number[];
  /** Text per id (same index as `ids`). */
  readonly texts: readonly string[];
  /** Attributes per id (same index as `ids`). */
  readonly attrs: readonly number[];
}

const isSpace = (c: number) => c === 0x20 || (c >= 0x09 && c <= 0x0d); // C isspace in the "C" locale

/** Partition `text` into raw-text and special-token fragments. */
export function partitionSpecial(text: string, table: SpecialTable, parseSpecial: boolean): Fragment[] {
  let frags: Fragment[] = text.length ? [{ token: -1, start: 0, end: text.length }] : [];
  for (let k = 0; k < table.ids.length; k++) {
    const attr = table.attrs[k]!;
    if (!parseSpecial && attr & (TOKEN_ATTR.CONTROL | TOKEN_ATTR.UNKNOWN)) continue;
    const tok = table.texts[k]!, id = table.ids[k]!;
    if (tok.length === 0) continue;
    let changed = false;
    const out: Fragment[] = [];
    for (const f of frags) {
      if (f.token >= 0) { out.push(f); continue; }
      let s = f.start;
      const e = f.end;
      let m = text.indexOf(tok, s);
      if (m < 0 || m + tok.length > e) { out.push(f); continue; }
      changed = true;
      while (m >= 0 && m + tok.length <= e) {
        let le = m;
        if (attr & TOKEN_ATTR.LSTRIP) while (le > s && isSpace(text.charCodeAt(le - 1))) le--;
        if (le > s) out.push({ token: -1, start: s, end: le });
        out.push({ token: id, start: -1, end: -1 });
        s = m + tok.length;
        if (attr & TOKEN_ATTR.RSTRIP) while (s < e && isSpace(text.charCodeAt(s))) s++;
        if (s >= e) break;
        m = text.indexOf(tok, s);
      }
      if (s < e) out.push({ token: -1, start: s, end: e });
    }
    if (changed) frags = out;
  }
  return frags;
}
