/**
 * Pure arithmetic of language-model evaluation from logits: negative log-likelihood / perplexity,
 * KL divergence of a compressed model vs its base, top-1 agreement. All sums in float64, all
 * log quantities in nats. No dependencies, unit-tested on its own (test/33-eval-metrics.ts).
 */
import { TensorshrinkError } from "../errors";

/** Anything indexable holding logits (Float32Array, Float64Array, number[]). */
export type Logits = ArrayLike<number>;

function checkLen(a: Logits, b: Logits): void {
  if (a.length !== b.length || a.length === 0) {
    throw new TensorshrinkError("E_SHAPE", `logit vectors differ in length (${a.length} vs ${b.length}) or are empty`, {});
  }
}

/** log Σ exp(x_i), computed stably in float64. -Infinity for an all -Infinity vector. */
export function logSumExp(x: Logits): number {
  let m = -Infinity;
  for (let i = 0; i < x.length; i++) if (x[i]! > m) m = x[i]!;
  if (m === -Infinity) return -Infinity;
  if (m === Infinity || Number.isNaN(m)) return m;
  let s = 0;
  for (let i = 0; i < x.length; i++) s += Math.exp(x[i]! - m);
  return m + Math.log(s);
}

/** log-softmax of `x` into `out` (float64, length of x): out_i = x_i - logSumExp(x). */
export function logSoftmax(x: Logits, out: Float64Array = new Float64Array(x.length)): Float64Array {
  const lse = logSumExp(x);
  for (let i = 0; i < x.length; i++) out[i] = x[i]! - lse;
  return out;
}

/** softmax of `x` (float64 probabilities summing to 1). */
export function softmax(x: Logits, out: Float64Array = new Float64Array(x.length)): Float64Array {
  logSoftmax(x, out);
  for (let i = 0; i < out.length; i++) out[i] = Math.exp(out[i]!);
  return out;
}

/** Negative log-likelihood in nats of token `target` under `logits`: logSumExp(logits) - logits[target]. */
export function tokenNll(logits: Logits, target: number): number {
  if (!Number.isInteger(target) || target < 0 || target >= logits.length) {
    throw new TensorshrinkError("E_RANGE", `target token ${target} outside the vocabulary [0, ${logits.length})`, { target });
  }
  return logSumExp(logits) - logits[target]!;
}

/** Perplexity = exp(mean NLL in nats). */
export function perplexity(meanNll: number): number {
  return Math.exp(meanNll);
}

/**
 * KL divergence KL(P_base ‖ P_other) in nats between the softmax distributions of two logit vectors:
 * Σ p_i (log p_i - log q_i). ≥ 0; 0 iff the distributions match (logits equal up to a constant).
 * Infinity when `other` gives zero probability (logit -Infinity) where `base` does not.
 */
export function klDivergence(base: Logits, other: Logits): number {
  checkLen(base, other);
  const lp = logSumExp(base);
  const lq = logSumExp(other);
  let kl = 0;
  for (let i = 0; i < base.length; i++) {
    const a = base[i]! - lp;
    if (a === -Infinity) continue;
    const p = Math.exp(a);
    kl += p * (a - (other[i]! - lq));
  }
  return kl < 0 ? 0 : kl; // rounding can give -1e-17
}

/** Index of the largest logit (the greedy token); ties → lowest index. */
export function argmax(x: Logits): number {
  let best = 0;
  let m = -Infinity;
  for (let i = 0; i < x.length; i++) if (x[i]! > m) { m = x[i]!; best = i; }
  return best;
}

/** Summary statistics of one model's predictions. */
export interface NllSummary {
  /** Tokens scored. */
  tokens: number;
  /** Mean negative log-likelihood, nats per token. */
  meanNll: number;
  /** exp(meanNll). */
  perplexity: number;
}

/** Everything {@link EvalAccumulator.summary} reports. */
export interface EvalSummary {
  base: NllSummary;
  /** Present when the other model's logits were added. */
  other?: NllSummary;
  kl?: {
    /** Mean KL(base ‖ other) per token, nats. */
    mean: number;
    /** Standard error of the mean. */
    stderr: number;
    median: number;
    p99: number;
    max: number;
  };
  /** Fraction of positions where both models' greedy tokens agree (0..1). */
  top1Agreement?: number;
  /** Fraction of positions where the base model's greedy token is the actual next token. */
  baseTop1Accuracy: number;
}

function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/**
 * Accumulates per-position results: call {@link add} with the base model's logits at a position,
 * the actual next token and optionally the other model's logits at the same position. Memory is one
 * float64 per position (for the KL median/p99), never the logits.
 */
export class EvalAccumulator {
  private n = 0;
  private nllBase = 0;
  private nllOther = 0;
  private nOther = 0;
  private agree = 0;
  private correct = 0;
  private kls: number[] = [];
  private klSum = 0;
  private klSq = 0;

  /**
   * Add one position.
   * @param base logits of the base model predicting `target`.
   * @param target the actual next token id.
   * @param other logits of the other model at the same position (same vocabulary).
   */
  add(base: Logits, target: number, other?: Logits): void {
    this.nllBase += tokenNll(base, target);
    const b1 = argmax(base);
    if (b1 === target) this.correct++;
    if (other) {
      checkLen(base, other);
      this.nllOther += tokenNll(other, target);
      this.nOther++;
      if (argmax(other) === b1) this.agree++;
      const kl = klDivergence(base, other);
      this.kls.push(kl);
      this.klSum += kl;
      this.klSq += kl * kl;
    }
    this.n++;
  }

  /** Positions added so far. */
  get count(): number {
    return this.n;
  }

  /** Perplexities, KL statistics and top-1 agreement over everything added. */
  summary(): EvalSummary {
    const n = this.n;
    const base: NllSummary = { tokens: n, meanNll: n ? this.nllBase / n : NaN, perplexity: n ? perplexity(this.nllBase / n) : NaN };
    const out: EvalSummary = { base, baseTop1Accuracy: n ? this.correct / n : NaN };
    if (this.nOther > 0) {
      const m = this.nOther;
      out.other = { tokens: m, meanNll: this.nllOther / m, perplexity: perplexity(this.nllOther / m) };
      const mean = this.klSum / m;
      const variance = m > 1 ? Math.max(0, (this.klSq - m * mean * mean) / (m - 1)) : 0;
      const sorted = Float64Array.from(this.kls).sort();
      out.kl = { mean, stderr: Math.sqrt(variance / m), median: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted[sorted.length - 1]! };
      out.top1Agreement = this.agree / m;
    }
    return out;
  }
}
