/**
 * Lookups over a GGUF string array's raw bytes (a vocabulary as read, {@link GgufStringTable}):
 * duplicate detection and membership without decoding the strings into JS strings. Two tokens are
 * the same string exactly when their (well-formed) UTF-8 bytes are equal, so the answers are those
 * of a Map of the decoded strings; a 16384-token vocabulary is about 100 kB of bytes to hash.
 */
import type { GgufStringTable } from "./gguf-types";
import { decodeShortUtf8, encodeShortUtf8, SHORT_UTF8 } from "./utf8-short";

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const utf8Enc = new TextEncoder();

/** FNV-1a (32-bit) of b[start..start+n). */
function fnv1a(b: Uint8Array, start: number, n: number): number {
  let h = 0x811c9dc5;
  for (let i = start, end = start + n; i < end; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  return h >>> 0;
}

function sameBytes(a: Uint8Array, i: number, b: Uint8Array, j: number, n: number): boolean {
  for (let k = 0; k < n; k++) if (a[i + k] !== b[j + k]) return false;
  return true;
}

/**
 * An open-addressing hash set of the strings of a {@link GgufStringTable} (ids 0..count-1, the
 * first id kept for equal strings). Building it is one pass over the bytes; nothing is decoded
 * until {@link ByteStringIndex.text} asks for one string.
 */
export class ByteStringIndex {
  /** Slot -> token id + 1 (0 = empty); 2..4x the token count, a power of two. */
  private readonly slots: Int32Array;
  private readonly mask: number;
  /** The first [earlier id, later id] pair holding the same string, or null. */
  readonly firstDuplicate: readonly [number, number] | null = null;
  private readonly scratch = new Uint8Array(3 * SHORT_UTF8);

  constructor(readonly table: GgufStringTable) {
    const n = table.lens.length;
    let size = 16;
    while (size < 2 * n) size *= 2;
    this.slots = new Int32Array(size);
    this.mask = size - 1;
    const { bytes, starts, lens } = table;
    for (let i = 0; i < n; i++) {
      const s = starts[i]!, len = lens[i]!;
      let h = fnv1a(bytes, s, len) & this.mask;
      for (;;) {
        const j = this.slots[h]! - 1;
        if (j < 0) { this.slots[h] = i + 1; break; }
        if (lens[j] === len && sameBytes(bytes, starts[j]!, bytes, s, len)) {
          if (!this.firstDuplicate) this.firstDuplicate = [j, i];
          break;
        }
        h = (h + 1) & this.mask;
      }
    }
  }

  /** Number of strings (ids). */
  get size(): number {
    return this.table.lens.length;
  }

  /** The id of string `s` (the first one when repeated), or -1. */
  id(s: string): number {
    let q: Uint8Array = this.scratch;
    let n = encodeShortUtf8(s, q, 0);
    if (n < 0) { q = utf8Enc.encode(s); n = q.length; }
    const { bytes, starts, lens } = this.table;
    let h = fnv1a(q, 0, n) & this.mask;
    for (;;) {
      const j = this.slots[h]! - 1;
      if (j < 0) return -1;
      if (lens[j] === n && sameBytes(bytes, starts[j]!, q, 0, n)) return j;
      h = (h + 1) & this.mask;
    }
  }

  /** Whether string `s` is one of the strings. */
  has(s: string): boolean {
    return this.id(s) >= 0;
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
