/**
 * SentencePiece-style tokenization as llama.cpp's `llm_tokenizer_spm_session` does it: start from one
 * symbol per codepoint, repeatedly merge the adjacent pair whose concatenation is a vocabulary token with
 * the highest score (ties: leftmost), then emit each final symbol's token, or its UTF-8 bytes as
 * `<0xXX>` byte tokens when the symbol is not in the vocabulary (byte fallback).
 */
import { TensorshrinkError } from "../errors";
import { BigramHeap } from "./heap";
import { utf8Bytes } from "./unicode";

/** What the SPM session needs from the vocabulary. */
export interface SpmVocab {
  /** Token text → id (the last id when a text repeats, as llama.cpp's token_to_id). */
  readonly textToId: ReadonlyMap<string, number>;
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
  private heap = new BigramHeap(256);

  constructor(readonly vocab: SpmVocab) {}

  private ensure(n: number): void {
    if (this.start.length >= n) return;
    const m = Math.max(n, this.start.length * 2);
    this.start = new Int32Array(m); this.len = new Int32Array(m);
    this.prev = new Int32Array(m); this.next = new Int32Array(m);
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
    const { start, len, prev, next } = this;
    // one symbol per codepoint
    let count = 0;
    for (let i = 0; i < n; ) {
      const c = text.charCodeAt(i);
      const w = c >= 0xd800 && c <= 0xdbff && i + 1 < n ? 2 : 1;
      start[count] = i; len[count] = w; prev[count] = count - 1; next[count] = count + 1;
      count++;
      i += w;
    }
    next[count - 1] = -1;
    const heap = this.heap;
    heap.clear();
    const { textToId, scores } = this.vocab;
    const tryAdd = (l: number, r: number): void => {
      if (l === -1 || r === -1) return;
      const size = len[l]! + len[r]!;
      const id = textToId.get(text.substr(start[l]!, size));
      if (id === undefined) return;
      heap.push(-scores[id]!, l, r, size);
    };
    for (let i = 1; i < count; i++) tryAdd(i - 1, i);
    while (heap.size > 0) {
      const l = heap.topLeft(), r = heap.topRight(), size = heap.topAux();
      heap.pop();
      if (len[l] === 0 || len[r] === 0 || len[l]! + len[r]! !== size) continue;
      len[l] = size;
      len[r] = 0;
      next[l] = next[r]!;
      if (next[r]! >= 0) prev[next[r]!] = l;
      tryAdd(prev[l]!, l);
      tryAdd(l, next[l]!);
    }
    for (let i = 0; i !== -1; i = next[i]!) {
      const piece = text.substr(start[i]!, len[i]!);
      const id = textToId.get(piece);
      if (id !== undefined) { out.push(id); continue; }
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
