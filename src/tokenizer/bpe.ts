/**
 * Byte-level BPE as llama.cpp's `llm_tokenizer_bpe_session` does it: pre-tokenize, byte-encode each word
 * (GPT-2's byte → unicode map), then per word start from one symbol per character and repeatedly merge
 * the adjacent pair with the lowest merge rank (ties: leftmost); each final symbol is emitted as its
 * token, or — when the merged text is not a token — as the single-character tokens of its ASCII bytes
 * (llama.cpp drops the other bytes).
 *
 * Merge lookups use interned ids instead of strings: every left part, right part and concatenation in
 * `tokenizer.ggml.merges` gets an id, and a pair's rank is found by `leftId * K + rightId`.
 */
import { TensorshrinkError } from "../errors";
import { BigramHeap, BigramHeapWide, PACKED_MAX_SYMBOLS, type BigramQueue } from "./heap";
import { preTokenize, type PreTokenizer } from "./pretokenize";
import { byteEncode } from "./unicode";

/** Merge tables built once per vocabulary from `tokenizer.ggml.merges`. */
export class BpeMerges {
  /** Interned string → id. */
  readonly intern = new Map<string, number>();
  /** (leftId * K + rightId) → merge rank (the first occurrence wins, as llama.cpp's map::emplace). */
  readonly pairRank = new Map<number, number>();
  /** Rank → interned id of the concatenation. */
  readonly result: Int32Array;
  /** Multiplier for pair keys. */
  readonly K: number;
  /** Number of merges. */
  readonly count: number;

  /**
   * @param merges "left right" strings, split at the first space after the first UTF-16 unit (llama.cpp:
   *   `word.find(' ', 1)`); a merge without such a space is the pair ("", "").
   */
  constructor(merges: readonly string[]) {
    this.count = merges.length;
    const id = (s: string): number => {
      let v = this.intern.get(s);
      if (v === undefined) { v = this.intern.size; this.intern.set(s, v); }
      return v;
    };
    const lefts = new Int32Array(merges.length), rights = new Int32Array(merges.length);
    this.result = new Int32Array(merges.length);
    for (let i = 0; i < merges.length; i++) {
      const w = merges[i]!;
      if (typeof w !== "string") throw new TensorshrinkError("E_FORMAT", `tokenizer.ggml.merges[${i}] is not a string`, { merge: i });
      const pos = w.indexOf(" ", 1);
      const a = pos < 0 ? "" : w.slice(0, pos), b = pos < 0 ? "" : w.slice(pos + 1);
      lefts[i] = id(a); rights[i] = id(b); this.result[i] = id(a + b);
    }
    this.K = Math.max(1, this.intern.size);
    if (this.intern.size >= 1 << 21) throw new TensorshrinkError("E_UNSUPPORTED", `tokenizer.ggml.merges: ${this.intern.size} distinct merge parts (at most 2^21 supported)`, {});
    for (let i = 0; i < merges.length; i++) {
      const key = lefts[i]! * this.K + rights[i]!;
      if (!this.pairRank.has(key)) this.pairRank.set(key, i);
    }
  }
}

/** What the BPE session needs from the vocabulary. */
export interface BpeVocab {
  readonly textToId: ReadonlyMap<string, number>;
  readonly merges: BpeMerges;
  readonly pre: PreTokenizer;
}

/** Reusable per-call state. */
export class BpeSession {
  private start = new Int32Array(64);
  private len = new Int32Array(64);
  private prev = new Int32Array(64);
  private next = new Int32Array(64);
  private sid = new Int32Array(64);
  private heap = new BigramHeap(64);
  private wide?: BigramHeapWide;

  constructor(readonly vocab: BpeVocab) {}

  private ensure(n: number): void {
    if (this.start.length >= n) return;
    const m = Math.max(n, this.start.length * 2);
    this.start = new Int32Array(m); this.len = new Int32Array(m);
    this.prev = new Int32Array(m); this.next = new Int32Array(m); this.sid = new Int32Array(m);
  }

  /** Tokenize raw text (one fragment between special tokens) and append the ids to `out`. */
  tokenize(text: string, out: number[]): void {
    const words = preTokenize(text, this.vocab.pre);
    for (let i = 0; i < words.length; i++) this.word(byteEncode(words[i]!), out);
  }

  private word(w: string, out: number[]): void {
    const { textToId, merges, pre } = this.vocab;
    if (pre.ignoreMerges) {
      const id = textToId.get(w);
      if (id !== undefined) { out.push(id); return; }
    }
    const n = w.length;
    if (n === 0) return;
    this.ensure(n);
    const { start, len, prev, next, sid } = this;
    let count = 0;
    for (let i = 0; i < n; ) {
      const c = w.charCodeAt(i);
      const k = c >= 0xd800 && c <= 0xdbff && i + 1 < n ? 2 : 1;
      start[count] = i; len[count] = k; prev[count] = count - 1; next[count] = count + 1;
      sid[count] = merges.intern.get(k === 1 ? w[i]! : w.substr(i, 2)) ?? -1;
      count++;
      i += k;
    }
    next[count - 1] = -1;
    if (count > 1) {
      const heap: BigramQueue = count < PACKED_MAX_SYMBOLS ? this.heap : (this.wide ??= new BigramHeapWide(1024));
      heap.clear();
      const K = merges.K, pairRank = merges.pairRank;
      const tryAdd = (l: number, r: number): void => {
        if (l === -1 || r === -1) return;
        const a = sid[l]!, b = sid[r]!;
        if (a < 0 || b < 0) return;
        const rank = pairRank.get(a * K + b);
        if (rank === undefined) return;
        heap.push(rank, l, r, a, b);
      };
      for (let i = 1; i < count; i++) tryAdd(i - 1, i);
      while (heap.size > 0) {
        heap.pop();
        const l = heap.curLeft(), r = heap.curRight(), a = heap.curAux(), b = heap.curAux2();
        if (len[l] === 0 || len[r] === 0 || sid[l] !== a || sid[r] !== b) continue;
        const rank = pairRank.get(a * K + b)!;
        len[l] = len[l]! + len[r]!;
        len[r] = 0;
        sid[l] = merges.result[rank]!;
        next[l] = next[r]!;
        if (next[r]! >= 0) prev[next[r]!] = l;
        tryAdd(prev[l]!, l);
        tryAdd(l, next[l]!);
      }
    }
    for (let i = 0; i !== -1; i = next[i]!) {
      const piece = len[i] === n ? w : w.substr(start[i]!, len[i]!);
      const id = textToId.get(piece);
      if (id !== undefined) { out.push(id); continue; }
      // llama.cpp: each byte of the (byte-encoded, UTF-8) text looked up as a one-byte token; only
      // ASCII bytes can be tokens of valid UTF-8 text.
      for (let k = 0; k < piece.length; k++) {
        const c = piece.charCodeAt(k);
        if (c >= 0x80) continue;
        const t = textToId.get(piece[k]!);
        if (t !== undefined) out.push(t);
      }
    }
  }
}
