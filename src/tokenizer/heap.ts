/**
 * A binary min-heap of bigram candidates ordered by (key ascending, left symbol index ascending) — the
 * order of llama.cpp's `llm_bigram_spm` (key = -score) and `llm_bigram_bpe` (key = rank) priority
 * queues, so merges happen in exactly llama.cpp's order. Entries live in append-only typed arrays (no
 * objects per entry); the heap itself holds entry indices and sifts with a hole (one move per level).
 */
export class BigramHeap {
  /** Number of entries in the heap. */
  size = 0;
  private used = 0;
  private heap: Int32Array;
  private key: Float64Array;
  private left: Int32Array;
  private right: Int32Array;
  private aux: Int32Array;
  private aux2: Int32Array;
  private top = 0;

  constructor(capacity = 64) {
    const n = Math.max(16, capacity);
    this.heap = new Int32Array(n);
    this.key = new Float64Array(n);
    this.left = new Int32Array(n);
    this.right = new Int32Array(n);
    this.aux = new Int32Array(n);
    this.aux2 = new Int32Array(n);
  }

  /** Remove every entry (keeps the storage). */
  clear(): void {
    this.size = 0;
    this.used = 0;
  }

  private grow(): void {
    const n = this.key.length * 2;
    const h = new Int32Array(n); h.set(this.heap); this.heap = h;
    const k = new Float64Array(n); k.set(this.key); this.key = k;
    const l = new Int32Array(n); l.set(this.left); this.left = l;
    const r = new Int32Array(n); r.set(this.right); this.right = r;
    const a = new Int32Array(n); a.set(this.aux); this.aux = a;
    const b = new Int32Array(n); b.set(this.aux2); this.aux2 = b;
  }

  /** Insert (key, left, right, aux, aux2). aux/aux2 are payloads (SPM: merged size; BPE: symbol ids). */
  push(key: number, left: number, right: number, aux: number, aux2 = 0): void {
    if (this.used === this.key.length) this.grow();
    const e = this.used++;
    const K = this.key, L = this.left, H = this.heap;
    K[e] = key; L[e] = left; this.right[e] = right; this.aux[e] = aux; this.aux2[e] = aux2;
    let i = this.size++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const q = H[p]!;
      const kq = K[q]!;
      if (kq < key || (kq === key && L[q]! <= left)) break;
      H[i] = q;
      i = p;
    }
    H[i] = e;
  }

  /**
   * Remove the top entry and make it current: read it with {@link curLeft} / {@link curRight} /
   * {@link curAux} / {@link curAux2}. Call only when `size > 0`.
   */
  pop(): void {
    const H = this.heap, K = this.key, L = this.left;
    this.top = H[0]!;
    const n = --this.size;
    if (n === 0) return;
    const e = H[n]!;
    const ke = K[e]!, le = L[e]!;
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      let hc = H[c]!;
      if (c + 1 < n) {
        const h2 = H[c + 1]!;
        const k1 = K[hc]!, k2 = K[h2]!;
        if (k2 < k1 || (k2 === k1 && L[h2]! < L[hc]!)) { c++; hc = h2; }
      }
      const kc = K[hc]!;
      if (ke < kc || (ke === kc && le <= L[hc]!)) break;
      H[i] = hc;
      i = c;
    }
    H[i] = e;
  }

  /** Left symbol of the entry taken by the last {@link pop}. */
  curLeft(): number { return this.left[this.top]!; }
  /** Right symbol of the entry taken by the last {@link pop}. */
  curRight(): number { return this.right[this.top]!; }
  /** aux of the entry taken by the last {@link pop}. */
  curAux(): number { return this.aux[this.top]!; }
  /** aux2 of the entry taken by the last {@link pop}. */
  curAux2(): number { return this.aux2[this.top]!; }
}
