/**
 * Duplicate keys in JSON objects. `JSON.parse` keeps the last of two equal keys without a word, so a
 * hostile safetensors header (or index, or config.json) can say one thing to us and another to a
 * reader that keeps the first. Readers call {@link findDuplicateJsonKey} on text that parsed, and refuse.
 */

/** A duplicate key: its (decoded) name, and where its second occurrence starts. */
export interface DuplicateJsonKey {
  /** The key, decoded (escapes resolved). */
  readonly key: string;
  /** Index in the text (UTF-16 code units) of the opening quote of the second occurrence. */
  readonly index: number;
  /** Byte offset of that quote in the UTF-8 encoding of the text. */
  readonly byteOffset: number;
}

/** UTF-8 length in bytes of `s.slice(0, end)` (surrogate pairs count 4). */
export function utf8Length(s: string, end = s.length): number {
  let n = 0;
  for (let i = 0; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < end && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) { n += 4; i++; }
    else n += 3;
  }
  return n;
}

/**
 * The first key that occurs twice in one object, at any depth, of a JSON text that `JSON.parse`
 * accepted (one linear pass, no allocation per value beyond the keys of the open objects); null when
 * every object's keys are distinct.
 */
export function findDuplicateJsonKey(text: string): DuplicateJsonKey | null {
  // one entry per open container: a Set of keys for an object, null for an array
  const stack: (Set<string> | null)[] = [];
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x7b /* { */) stack.push(new Set());
    else if (c === 0x5b /* [ */) stack.push(null);
    else if (c === 0x7d /* } */ || c === 0x5d /* ] */) stack.pop();
    else if (c === 0x22 /* " */) {
      let j = i + 1, escaped = false;
      while (j < n) {
        const d = text.charCodeAt(j);
        if (d === 0x5c) { escaped = true; j += 2; continue; }
        if (d === 0x22) break;
        j++;
      }
      const top = stack.length ? stack[stack.length - 1] : null;
      if (top) {
        let k = j + 1;
        while (k < n && (text.charCodeAt(k) === 0x20 || text.charCodeAt(k) === 0x0a || text.charCodeAt(k) === 0x0d || text.charCodeAt(k) === 0x09)) k++;
        if (text.charCodeAt(k) === 0x3a /* : */) {
          const raw = text.slice(i, j + 1);
          const key = escaped ? (JSON.parse(raw) as string) : raw.slice(1, -1);
          if (top.has(key)) return { key, index: i, byteOffset: utf8Length(text, i) };
          top.add(key);
        }
      }
      i = j;
    }
  }
  return null;
}
