/** Shared by the forward-pass agreement tests (66, 74): perplexities of two logit sets over the same token
 *  sequences, their relative difference, argmax agreement and the largest |Δlogit|. A / B are [len, V] per sequence. */
export function score(seqs: number[][], A: Float32Array[], B: Float32Array[], V: number) {
  let nllA = 0, nllB = 0, n = 0, agree = 0, pos = 0, dmax = 0, maxLogit = 0;
  const lse = (x: Float32Array, o: number) => { let m = -Infinity; for (let j = 0; j < V; j++) m = Math.max(m, x[o + j]!); let s = 0; for (let j = 0; j < V; j++) s += Math.exp(x[o + j]! - m); return m + Math.log(s); };
  const am = (x: Float32Array, o: number) => { let b = 0; for (let j = 1; j < V; j++) if (x[o + j]! > x[o + b]!) b = j; return b; };
  seqs.forEach((s, k) => {
    const a = A[k]!, b = B[k]!;
    for (let i = 0; i < s.length; i++) {
      const o = i * V;
      for (let j = 0; j < V; j++) { dmax = Math.max(dmax, Math.abs(a[o + j]! - b[o + j]!)); maxLogit = Math.max(maxLogit, Math.abs(a[o + j]!)); }
      if (am(a, o) === am(b, o)) agree++;
      pos++;
      if (i + 1 < s.length) { nllA += lse(a, o) - a[o + s[i + 1]!]!; nllB += lse(b, o) - b[o + s[i + 1]!]!; n++; }
    }
  });
  const pa = Math.exp(nllA / n), pb = Math.exp(nllB / n);
  return { pplLlama: pa, pplOurs: pb, pplRel: Math.abs(pb / pa - 1), top1: agree / pos, dlogit: dmax, maxLogit, positions: pos };
}
