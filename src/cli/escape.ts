// Terminal-safe text: what the CLI prints comes from model files (tensor names, metadata), which an
// attacker controls. Escape sequences, C1 controls and bidi overrides must never reach the terminal raw.

/**
 * Code points escaped by {@link safeText}: C0 controls except newline (and tab, which is escaped too),
 * DEL, C1 controls (0x80-0x9f, e.g. 0x9b = CSI), the line/paragraph separators, bidi marks, embeddings,
 * overrides and isolates (U+202A-202E, U+2066-2069), lone surrogates and U+FFFD (the decoder's mark for
 * invalid UTF-8).
 */
const UNSAFE = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufffd]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * `s` with every unsafe code point (see UNSAFE) written as `\xNN` (below 0x100) or `\uNNNN`, and
 * backslashes kept as they are. With `keepNewlines` false, newlines are escaped too (for one-line fields).
 */
export function safeText(s: string, keepNewlines = false): string {
  const out = String(s).replace(UNSAFE, esc);
  return keepNewlines ? out : out.replace(/\n/g, "\\n");
}

function esc(c: string): string {
  const n = c.charCodeAt(0);
  return n < 0x100 ? `\\x${n.toString(16).padStart(2, "0")}` : `\\u${n.toString(16).padStart(4, "0")}`;
}

/**
 * JSON text safe for a terminal: JSON.stringify already escapes C0 controls and lone surrogates; this
 * also escapes C1 controls, DEL, separators and bidi controls as `\uNNNN` (still valid JSON, same value).
 */
export function safeJson(json: string): string {
  return json.replace(/[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
