/**
 * SentencePiece-style tokenization as llama.cpp's `llm_tokenizer_spm_session` does it: start from one
 * symbol per codepoint, repeatedly merge the adjacent pair whose concatenation is a vocabulary token with
 * the highest score (ties: leftmost), then emit each final symbol's token, or its UTF-8 bytes as
 * `<0xXX>` byte tokens when the symbol is not in the vocabulary (byte fallback).
 */
import { TensorshrinkError } from "../errors";
import { BigramHeap, BigramHeapWide, PACKED_MAX_SYMBOLS, f32SortKey, type BigramQueue } from "./heap";
import type { TokenTrie } from "./trie";
import { utf8Bytes } from "./unicode";

/** What the SPM session needs from the vocabulary. */
export interface SpmVocab {
  /** Token texts (the last id when a text repeats, as llama.cpp's token_to_id). */
  readonly trie: TokenTrie;
  /** Score per token id. */
  readonly scores: Float32Array;
  /** Byte → byte-fallback token id (`<0xXX>`, else the one-byte text), -1 when the vocabulary has none. */
  readonly byteToId: Int32Array;
}

/** Reusable per-call state (one per tokenizer; encode is synchronous so it is never shared concurrently). */
export class SpmSession {
  private start = new Int32Array(256);
  private len = new Int32Array(256);
  private prev = new Int32Array(256);
  private next = new Int32Array(256);
  private node = new Int32Array(256);
  private heap = new BigramHeap(256);
  private wide?: BigramHeapWide;
  /** Per token: f32SortKey(-score), the packed heap's key. */
  private readonly sortKey: Float64Array;

  constructor(readonly vocab: SpmVocab) {
    this.sortKey = Float64Array.from(vocab.scores, (s) => f32SortKey(-s));
  }

  private ensure(n: number): void {
    if (this.start.length >= n) return;
    const m = Math.max(n, this.start.length * 2);
    this.start = new Int32Array(m); this.len = new Int32Array(m);
    this.prev = new Int32Array(m); this.next = new Int32Array(m); this.node = new Int32Array(m);
  }

  /**
   * Tokenize `text` (already whitespace-escaped with U+2581 and space-prefixed by the caller) and append
   * the ids to `out`.
   * @throws TensorshrinkError `E_UNSUPPORTED` when a byte needs fallback and the vocabulary has no byte token.
   */
  tokenize(text: string, out: number[]): void {
    const n = text.length;
    if (n === 0) return;
    this.ensure(n);
    const { start, len, prev, next, node } = this;
    const { trie, scores } = this.vocab;
    const tokenAt = trie.tokenAt;
    // one symbol per codepoint; node = the symbol's text in the trie (-1: no token starts with it)
    let count = 0;
    for (let i = 0; i < n; ) {
      const c = text.charCodeAt(i);
      const w = c >= 0xd800 && c <= 0xdbff && i + 1 < n ? 2 : 1;
      start[count] = i; len[count] = w; prev[count] = count - 1; next[count] = count + 1;
      node[count] = trie.walk(0, text, i, i + w);
      count++;
      i += w;
    }
    next[count - 1] = -1;
    const packed = count < PACKED_MAX_SYMBOLS;
    const heap: BigramQueue = packed ? this.heap : (this.wide ??= new BigramHeapWide(1024));
    heap.clear();
    const sortKey = this.sortKey;
    const tryAdd = (l: number, r: number): void => {
      if (l === -1 || r === -1) return;
      let nd = node[l]!;
      if (nd < 0) return;
      const a = start[r]!, b = a + len[r]!;
      for (let i = a; i < b && nd >= 0; i++) nd = trie.next(nd, text.charCodeAt(i));
      if (nd < 0) return;
      const id = tokenAt[nd]!;
      if (id < 0) return;
      heap.push(packed ? sortKey[id]! : -scores[id]!, l, r, len[l]! + len[r]!, nd);
    };
    for (let i = 1; i < count; i++) tryAdd(i - 1, i);
    while (heap.size > 0) {
      heap.pop();
      const l = heap.curLeft(), r = heap.curRight(), size = heap.curAux();
      if (len[l] === 0 || len[r] === 0 || len[l]! + len[r]! !== size) continue;
      len[l] = size;
      node[l] = heap.curAux2();
      len[r] = 0;
      next[l] = next[r]!;
      if (next[r]! >= 0) prev[next[r]!] = l;
      tryAdd(prev[l]!, l);
      tryAdd(l, next[l]!);
    }
    for (let i = 0; i !== -1; i = next[i]!) {
      const nd = node[i]!;
      const id = nd > 0 ? tokenAt[nd]! : -1;
      if (id >= 0) { out.push(id); continue; }
      const piece = text.substr(start[i]!, len[i]!);
      const bytes = utf8Bytes(piece);
      for (let k = 0; k < bytes.length; k++) {
        const b = bytes[k]!;
        const t = this.vocab.byteToId[b]!;
        if (t < 0) {
          throw new TensorshrinkError("E_UNSUPPORTED", `SPM tokenizer: ${JSON.stringify(piece)} is not in the vocabulary and there is no byte token <0x${b.toString(16).toUpperCase().padStart(2, "0")}> to fall back to (at UTF-16 index ${start[i]} of the escaped text)`, { byte: b, index: start[i] });
        }
        out.push(t);
      }
    }
  }
}
