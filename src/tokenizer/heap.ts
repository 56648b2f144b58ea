/**
 * A binary min-heap of bigram candidates over parallel typed arrays (no objects per entry), ordered by
 * (key ascending, left symbol index ascending) — the order of llama.cpp's `llm_bigram_spm` (key = -score)
 * and `llm_bigram_bpe` (key = rank) priority queues, so merges happen in exactly llama.cpp's order.
 */
export class BigramHeap {
  /** Number of entries. */
  size = 0;
  private key: Float64Array;
  private left: Int32Array;
  private right: Int32Array;
  /** Payload per entry (SPM: merged size in UTF-16 units; BPE: merge index). */
  private aux: Int32Array;
  private aux2: Int32Array;

  constructor(capacity = 64) {
    const n = Math.max(16, capacity);
    this.key = new Float64Array(n);
    this.left = new Int32Array(n);
    this.right = new Int32Array(n);
    this.aux = new Int32Array(n);
    this.aux2 = new Int32Array(n);
  }

  /** Remove every entry (keeps the storage). */
  clear(): void {
    this.size = 0;
  }

  private grow(): void {
    const n = this.key.length * 2;
    const k = new Float64Array(n); k.set(this.key); this.key = k;
    const l = new Int32Array(n); l.set(this.left); this.left = l;
    const r = new Int32Array(n); r.set(this.right); this.right = r;
    const a = new Int32Array(n); a.set(this.aux); this.aux = a;
    const b = new Int32Array(n); b.set(this.aux2); this.aux2 = b;
  }

  private less(i: number, j: number): boolean {
    const ki = this.key[i]!, kj = this.key[j]!;
    return ki < kj || (ki === kj && this.left[i]! < this.left[j]!);
  }

  private swap(i: number, j: number): void {
    let t: number;
    t = this.key[i]!; this.key[i] = this.key[j]!; this.key[j] = t;
    t = this.left[i]!; this.left[i] = this.left[j]!; this.left[j] = t;
    t = this.right[i]!; this.right[i] = this.right[j]!; this.right[j] = t;
    t = this.aux[i]!; this.aux[i] = this.aux[j]!; this.aux[j] = t;
    t = this.aux2[i]!; this.aux2[i] = this.aux2[j]!; this.aux2[j] = t;
  }

  /** Insert (key, left, right, aux, aux2). */
  push(key: number, left: number, right: number, aux: number, aux2 = 0): void {
    if (this.size === this.key.length) this.grow();
    let i = this.size++;
    this.key[i] = key; this.left[i] = left; this.right[i] = right; this.aux[i] = aux; this.aux2[i] = aux2;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }

  /** Left index of the top entry. */
  topLeft(): number { return this.left[0]!; }
  /** Right index of the top entry. */
  topRight(): number { return this.right[0]!; }
  /** aux of the top entry. */
  topAux(): number { return this.aux[0]!; }
  /** aux2 of the top entry. */
  topAux2(): number { return this.aux2[0]!; }

  /** Remove the top entry. */
  pop(): void {
    const last = --this.size;
    if (last === 0) return;
    this.key[0] = this.key[last]!; this.left[0] = this.left[last]!; this.right[0] = this.right[last]!;
    this.aux[0] = this.aux[last]!; this.aux2[0] = this.aux2[last]!;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < last && this.less(l, m)) m = l;
      if (r < last && this.less(r, m)) m = r;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
  }
}
