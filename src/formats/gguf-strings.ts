/**
 * Lookups over a GGUF string array's raw bytes (a vocabulary as read, {@link GgufStringTable}):
 * duplicate detection and membership without decoding the strings from UTF-8. Each string's key is
 * its bytes as a Latin-1 string (one char per byte: equal keys exactly when the bytes are equal,
 * which for well-formed UTF-8 is exactly when the strings are equal), cut from one Latin-1 string
 * of all the bytes made natively (Buffer's latin1 decoder in Node, Bun and Deno's Node mode; else
 * String.fromCharCode over 8 KiB pieces), and hashed by a Map. Cold, in a fresh process, this costs
 * about what the Map of decoded strings did (0.010-0.012 s for 16384 tokens, without their decoding);
 * a per-byte FNV hash set in JS measured 0.016-0.022 s (JIT warm-up of the byte loops).
 */
import type { GgufStringTable } from "./gguf-types";
import { decodeShortUtf8 } from "./utf8-short";

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const utf8Enc = new TextEncoder();

/** The bytes as a Latin-1 string (char k = byte k). */
export function latin1String(b: Uint8Array): string {
  const B = (globalThis as any).Buffer;
  if (B && typeof B.from === "function") return B.from(b.buffer, b.byteOffset, b.byteLength).toString("latin1");
  let out = "";
  for (let i = 0; i < b.length; i += 8192) out += String.fromCharCode.apply(null, b.subarray(i, Math.min(b.length, i + 8192)) as unknown as number[]);
  return out;
}

/** The Latin-1 key of a string: its UTF-8 bytes, one char each (ASCII strings are their own key). */
function keyOf(s: string): string {
  let ascii = true;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) { ascii = false; break; }
  return ascii ? s : latin1String(utf8Enc.encode(s));
}

/**
 * The strings of a {@link GgufStringTable} as a set (ids 0..count-1, the first id kept for equal
 * strings). Nothing is decoded from UTF-8 until {@link ByteStringIndex.text} asks for one string.
 */
export class ByteStringIndex {
  private readonly ids = new Map<string, number>();
  /** The first [earlier id, later id] pair holding the same string, or null. */
  readonly firstDuplicate: readonly [number, number] | null = null;

  constructor(readonly table: GgufStringTable) {
    const all = latin1String(table.bytes);
    const { starts, lens } = table;
    const ids = this.ids;
    for (let i = 0, n = lens.length; i < n; i++) {
      const s = starts[i]!;
      const k = all.substring(s, s + lens[i]!);
      const j = ids.get(k);
      if (j !== undefined) {
        if (!this.firstDuplicate) this.firstDuplicate = [j, i];
        continue;
      }
      ids.set(k, i);
    }
  }

  /** Number of strings (ids). */
  get size(): number {
    return this.table.lens.length;
  }

  /** The id of string `s` (the first one when repeated), or -1. A lone surrogate in `s` is looked up as U+FFFD (TextEncoder's UTF-8). */
  id(s: string): number {
    return this.ids.get(keyOf(s)) ?? -1;
  }

  /** Whether string `s` is one of the strings. */
  has(s: string): boolean {
    return this.ids.has(keyOf(s));
  }

  /** String `i`, decoded. */
  text(i: number): string {
    return decodeStringAt(this.table, i);
  }
}

/** String `i` of a table, decoded (the bytes were checked well-formed when read). */
export function decodeStringAt(t: GgufStringTable, i: number): string {
  const s = t.starts[i]!, n = t.lens[i]!;
  return decodeShortUtf8(t.bytes, s, n) ?? utf8.decode(t.bytes.subarray(s, s + n));
}

/** All strings of a table, decoded. */
export function decodeStringTable(t: GgufStringTable): string[] {
  const n = t.lens.length;
  const out: string[] = new Array(n);
  for (let i = 0; i < n; i++) out[i] = decodeStringAt(t, i);
  return out;
}
