/** The heap interface the SPM / BPE merge loops use. */
export interface BigramQueue {
  size: number;
  clear(): void;
  push(key: number, left: number, right: number, aux: number, aux2?: number): void;
  pop(): void;
  curLeft(): number;
  curRight(): number;
  curAux(): number;
  curAux2(): number;
}

/**
 * The general binary min-heap of bigram candidates ordered by (key ascending, left symbol index ascending) — the
 * order of llama.cpp's `llm_bigram_spm` (key = -score) and `llm_bigram_bpe` (key = rank) priority
 * queues, so merges happen in exactly llama.cpp's order. Entries are stored inline, 4 float64 each
 * (key, left, right, aux·2^32 + aux2), so a comparison touches one cache line (the merge loops on a
 * 200k-symbol text are bound by cache misses); sifting moves a hole (one entry copy per level).
 * aux must be < 2^21 and aux2 < 2^32 (exact in a float64).
 */
export class BigramHeapWide implements BigramQueue {
  /** Number of entries in the heap. */
  size = 0;
  private d: Float64Array;
  private cur = new Float64Array(4);

  constructor(capacity = 64) {
    this.d = new Float64Array(Math.max(16, capacity) * 4);
  }

  /** Remove every entry (keeps the storage). */
  clear(): void {
    this.size = 0;
  }

  /** Insert (key, left, right, aux, aux2). aux/aux2 are payloads (SPM: merged size, trie node; BPE: symbol ids). */
  push(key: number, left: number, right: number, aux: number, aux2 = 0): void {
    if ((this.size + 1) * 4 > this.d.length) { const g = new Float64Array(this.d.length * 2); g.set(this.d); this.d = g; }
    const d = this.d;
    let i = this.size++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const kp = d[p * 4]!;
      if (kp < key || (kp === key && d[p * 4 + 1]! <= left)) break;
      const o = i * 4, q = p * 4;
      d[o] = kp; d[o + 1] = d[q + 1]!; d[o + 2] = d[q + 2]!; d[o + 3] = d[q + 3]!;
      i = p;
    }
    const o = i * 4;
    d[o] = key; d[o + 1] = left; d[o + 2] = right; d[o + 3] = aux * 4294967296 + aux2;
  }

  /**
   * Remove the top entry and make it current: read it with {@link curLeft} / {@link curRight} /
   * {@link curAux} / {@link curAux2}. Call only when `size > 0`.
   */
  pop(): void {
    const d = this.d, c0 = this.cur;
    c0[0] = d[0]!; c0[1] = d[1]!; c0[2] = d[2]!; c0[3] = d[3]!;
    const n = --this.size;
    if (n === 0) return;
    const lo = n * 4;
    const ke = d[lo]!, le = d[lo + 1]!, re = d[lo + 2]!, xe = d[lo + 3]!;
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      let kc = d[c * 4]!;
      if (c + 1 < n) {
        const k2 = d[c * 4 + 4]!;
        if (k2 < kc || (k2 === kc && d[c * 4 + 5]! < d[c * 4 + 1]!)) { c++; kc = k2; }
      }
      if (ke < kc || (ke === kc && le <= d[c * 4 + 1]!)) break;
      const o = i * 4, q = c * 4;
      d[o] = kc; d[o + 1] = d[q + 1]!; d[o + 2] = d[q + 2]!; d[o + 3] = d[q + 3]!;
      i = c;
    }
    const o = i * 4;
    d[o] = ke; d[o + 1] = le; d[o + 2] = re; d[o + 3] = xe;
  }

  /** Left symbol of the entry taken by the last {@link pop}. */
  curLeft(): number { return this.cur[1]!; }
  /** Right symbol of the entry taken by the last {@link pop}. */
  curRight(): number { return this.cur[2]!; }
  /** aux of the entry taken by the last {@link pop}. */
  curAux(): number { return Math.floor(this.cur[3]! / 4294967296); }
  /** aux2 of the entry taken by the last {@link pop}. */
  curAux2(): number { return this.cur[3]! % 4294967296; }
}

/** Largest symbol index + 1 the packed {@link BigramHeap} supports (2^21). */
export const PACKED_MAX_SYMBOLS = 1 << 21;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** A float32 value as an unsigned 32-bit integer with the same order (for composite heap keys); -0 = 0. */
export function f32SortKey(x: number): number {
  f32[0] = x === 0 ? 0 : x;
  const b = u32[0]!;
  return b & 0x80000000 ? ~b >>> 0 : (b | 0x80000000) >>> 0;
}

/**
 * The fast heap for fewer than 2^21 symbols: the order (key, left) is one float64
 * `key * 2^21 + left` (key an integer in [0, 2^32): a rank, or {@link f32SortKey} of -score), so a
 * comparison reads one number; the heap moves (composite, entry id) pairs and the payload sits in
 * write-once entry arrays. Same order as {@link BigramHeapWide}.
 */
export class BigramHeap implements BigramQueue {
  size = 0;
  private used = 0;
  private hk: Float64Array;
  private he: Int32Array;
  private el: Int32Array;
  private er: Int32Array;
  private ex: Float64Array;
  private top = 0;

  constructor(capacity = 64) {
    const n = Math.max(16, capacity);
    this.hk = new Float64Array(n); this.he = new Int32Array(n);
    this.el = new Int32Array(n); this.er = new Int32Array(n); this.ex = new Float64Array(n);
  }

  clear(): void {
    this.size = 0;
    this.used = 0;
  }

  private grow(): void {
    const n = this.hk.length * 2;
    const a = new Float64Array(n); a.set(this.hk); this.hk = a;
    const b = new Int32Array(n); b.set(this.he); this.he = b;
    const c = new Int32Array(n); c.set(this.el); this.el = c;
    const d = new Int32Array(n); d.set(this.er); this.er = d;
    const e = new Float64Array(n); e.set(this.ex); this.ex = e;
  }

  /** key: integer in [0, 2^32); left < 2^21; aux < 2^21; aux2 < 2^32. */
  push(key: number, left: number, right: number, aux: number, aux2 = 0): void {
    if (this.used === this.hk.length || this.size === this.hk.length) this.grow();
    const id = this.used++;
    this.el[id] = left; this.er[id] = right; this.ex[id] = aux * 4294967296 + aux2;
    const k = key * 2097152 + left;
    const hk = this.hk, he = this.he;
    let i = this.size++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const kp = hk[p]!;
      if (kp <= k) break;
      hk[i] = kp; he[i] = he[p]!;
      i = p;
    }
    hk[i] = k; he[i] = id;
  }

  pop(): void {
    const hk = this.hk, he = this.he;
    this.top = he[0]!;
    const n = --this.size;
    if (n === 0) return;
    const ke = hk[n]!, ie = he[n]!;
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      let kc = hk[c]!;
      if (c + 1 < n) { const k2 = hk[c + 1]!; if (k2 < kc) { c++; kc = k2; } }
      if (ke <= kc) break;
      hk[i] = kc; he[i] = he[c]!;
      i = c;
    }
    hk[i] = ke; he[i] = ie;
  }

  curLeft(): number { return this.el[this.top]!; }
  curRight(): number { return this.er[this.top]!; }
  curAux(): number { return Math.floor(this.ex[this.top]! / 4294967296); }
  curAux2(): number { return this.ex[this.top]! % 4294967296; }
}
