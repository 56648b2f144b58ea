/**
 * Top-k log-probs of logit rows (float64 arithmetic, results rounded to f32): what a teacher file
 * stores per position. Pure JS, no engine needed.
 */
import { TensorshrinkError } from "../errors";

/** Reusable buffers of {@link topKLogProbs} for one vocabulary size. */
export interface TopKScratch { mark: Uint8Array; val: Float64Array; idx: Int32Array }

/** Allocates scratch for rows of `V` logits and `k` kept tokens (V bytes + 12 k bytes). */
export function topKScratch(V: number, k: number): TopKScratch {
  return { mark: new Uint8Array(V), val: new Float64Array(k), idx: new Int32Array(k) };
}

/**
 * Writes the `k` most probable tokens of one logit row (length V) into `ids[at..at+k)` (descending
 * probability; ties go to the lower token id, so ids[at] is the first argmax), their log-softmax
 * values into `logprobs[at..at+k)`, and returns ln(sum of the other tokens' probabilities),
 * computed as a log-sum-exp over those tokens (never 1 - sum), -Infinity when k = V.
 * Cost: one pass for the maximum, one for the sum, one for the selection (O(V log k) typical).
 * @throws TensorshrinkError E_NONFINITE (NaN/Inf logit, naming `where` and the token), E_RANGE (k).
 */
export function topKLogProbs(row: ArrayLike<number>, k: number, ids: Uint32Array, logprobs: Float32Array, at = 0, scratch?: TopKScratch, where = "row"): number {
  const V = row.length;
  if (!Number.isSafeInteger(k) || k < 1 || k > V) throw new TensorshrinkError("E_RANGE", `k must be an integer from 1 to ${V}, got ${k}`, { k, V });
  const sc = scratch ?? topKScratch(V, k);
  let m = -Infinity;
  for (let j = 0; j < V; j++) {
    const x = row[j]!;
    if (!Number.isFinite(x)) throw new TensorshrinkError("E_NONFINITE", `logit ${x} at ${where}, token ${j}; logits must be finite`, { token: j, value: x });
    if (x > m) m = x;
  }
  let s = 0;
  for (let j = 0; j < V; j++) s += Math.exp(row[j]! - m);
  const lse = m + Math.log(s);
  // selection: sorted (descending) insertion into val/idx; strict > keeps the lower id on ties
  const val = sc.val, idx = sc.idx;
  let n = 0;
  for (let j = 0; j < V; j++) {
    const x = row[j]!;
    if (n === k && !(x > val[k - 1]!)) continue;
    let p = n < k ? n++ : k - 1;
    while (p > 0 && val[p - 1]! < x) { val[p] = val[p - 1]!; idx[p] = idx[p - 1]!; p--; }
    val[p] = x; idx[p] = j;
  }
  const mark = sc.mark;
  for (let i = 0; i < k; i++) {
    ids[at + i] = idx[i]!;
    logprobs[at + i] = val[i]! - lse;
    mark[idx[i]!] = 1;
  }
  let rest = -Infinity;
  if (k < V) {
    let mr = -Infinity;
    for (let j = 0; j < V; j++) if (!mark[j] && row[j]! > mr) mr = row[j]!;
    let sr = 0;
    for (let j = 0; j < V; j++) if (!mark[j]) sr += Math.exp(row[j]! - mr);
    rest = mr + Math.log(sr) - lse;
  }
  for (let i = 0; i < k; i++) mark[idx[i]!] = 0;
  return rest;
}
