/**
 * A trie of token texts over UTF-16 code units in flat typed arrays (open addressing on (node, unit)),
 * so "is text[a, b) a token, and which" is answered by walking code units — no substring allocation or
 * string hashing in the merge loops. Node 0 is the root; `tokenAt[node]` is the id whose text ends at
 * that node (the last id for a repeated text, as llama.cpp's token_to_id), or -1.
 */
export class TokenTrie {
  /** Id of the token ending at each node, or -1. */
  tokenAt: Int32Array;
  private nodes = 1;
  private mask: number;
  private keyNode: Int32Array;
  private keyUnit: Uint16Array;
  private child: Int32Array;

  /** @param texts token texts by id */
  constructor(texts: readonly string[]) {
    let units = 1;
    for (const t of texts) units += t.length;
    let cap = 16;
    while (cap < units * 2) cap *= 2;
    this.mask = cap - 1;
    this.keyNode = new Int32Array(cap).fill(-1);
    this.keyUnit = new Uint16Array(cap);
    this.child = new Int32Array(cap);
    this.tokenAt = new Int32Array(units).fill(-1);
    for (let id = 0; id < texts.length; id++) {
      const t = texts[id]!;
      let n = 0;
      for (let i = 0; i < t.length; i++) n = this.insert(n, t.charCodeAt(i));
      if (t.length > 0) this.tokenAt[n] = id;
    }
  }

  private slot(node: number, unit: number): number {
    let h = (Math.imul(node, 0x9e3779b1) ^ Math.imul(unit, 0x85ebca6b)) >>> 0;
    h = (h ^ (h >>> 15)) & this.mask;
    const kn = this.keyNode, ku = this.keyUnit;
    while (kn[h] !== -1 && (kn[h] !== node || ku[h] !== unit)) h = (h + 1) & this.mask;
    return h;
  }

  private insert(node: number, unit: number): number {
    const h = this.slot(node, unit);
    if (this.keyNode[h] === node) return this.child[h]!;
    this.keyNode[h] = node;
    this.keyUnit[h] = unit;
    return (this.child[h] = this.nodes++);
  }

  /** The child of `node` by code unit `unit`, or -1. */
  next(node: number, unit: number): number {
    const h = this.slot(node, unit);
    return this.keyNode[h] === node ? this.child[h]! : -1;
  }

  /** Walk `s[a, b)` from `node`; -1 when it leaves the trie. */
  walk(node: number, s: string, a: number, b: number): number {
    for (let i = a; i < b && node >= 0; i++) node = this.next(node, s.charCodeAt(i));
    return node;
  }

  /** Token id of the whole string, or -1 (same answer as a text → id map). */
  get(s: string): number {
    const n = this.walk(0, s, 0, s.length);
    return n > 0 ? this.tokenAt[n]! : -1;
  }
}
