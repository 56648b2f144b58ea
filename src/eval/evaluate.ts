/**
 * evaluate(): perplexity, KL divergence, top-1 agreement and Δp of a candidate against its base, on the
 * engine's own forward pass (any model with `forward(tokens, { logits: "all" })`, e.g. LlamaModel). No Node
 * imports: the same code runs in browsers, Deno, Bun and workerd (files come in as ByteSource / ByteSink).
 *
 * Protocol (as today's llama.cpp-backed eval): each document is scored from a BOS; a document longer than
 * the context is split into windows of ctx − 1 tokens, each with its own BOS; every position after BOS is
 * scored. Statistics follow llama-perplexity --kl-divergence: PPL = exp(mean NLL) ± PPL·stderr(NLL);
 * KLD(P_base ‖ P_other) mean ± stderr, median, p99, max; top-1 agreement ("same top p"); Δp = p_other(next
 * token) − p_base(next token), mean ± stderr and RMS. Base log-probs are rounded to f32 (as stored by
 * `saveLogits`), so a run against saved base log-probs gives the very same numbers as a live base run.
 */
import { TensorshrinkError } from "../errors";
import { eventYielder } from "../engine/events";
import type { ByteSink, ByteSource } from "../formats/source";
import { LogitsReader, LogitsWriter, type LogitsHeader } from "./logits-file";

/** A model evaluate() can run (LlamaModel satisfies it). */
export interface LogitsModel {
  readonly config: { nVocab: number; bos: number; nCtxTrain?: number };
  /** Logits [T, nVocab] row-major for tokens at positions [pos, pos + T) (pos 0 resets the KV cache). */
  forward(tokens: Int32Array | number[], opts?: { pos?: number; logits?: "all" | "last" | "none"; signal?: AbortSignal }): Promise<Float32Array>;
}

/** Progress of {@link evaluate}, after each window. */
export interface EvaluateProgress { window: number; windows: number; tokensDone: number; tokensTotal: number; elapsedMs: number; tokensPerSecond: number; etaSeconds: number }

/** Options of {@link evaluate}. */
export interface EvaluateOptions {
  /** The reference model (not needed with `baseLogits`). */
  base?: LogitsModel | null;
  /** The candidate (optional: without it only the base is scored, e.g. to `saveLogits`). */
  other?: LogitsModel | null;
  /** Token ids of each document, without BOS (tokenize with the base model's tokenizer). */
  documents: ArrayLike<number>[];
  /** Window length in tokens incl. BOS (default min(base's training context, 2048), as the llama.cpp backend; at least 2). */
  ctx?: number;
  /** Saved base log-probs (from `saveLogits`): the base model is not run; windows must match exactly. */
  baseLogits?: ByteSource;
  /** Write the base run's log-probs here (format: src/eval/logits-file.ts, 4·nVocab bytes per scored token). */
  saveLogits?: ByteSink;
  /** Free-form description of the base model stored with saved log-probs (name, dims). */
  modelInfo?: Record<string, unknown>;
  onProgress?(p: EvaluateProgress): void;
  signal?: AbortSignal;
}

/** One model's scores. */
export interface ModelScore {
  /** exp(mean NLL). */
  perplexity: number;
  /** llama-perplexity's ± : perplexity × stderr of the per-token NLL. */
  perplexityStderr: number;
  /** Mean NLL, nats per token. */
  meanNll: number;
  /** Fraction of positions whose argmax is the actual next token. */
  top1Accuracy: number;
}

/** Result of {@link evaluate}. */
export interface EvaluateResult {
  /** Scored positions (tokens after BOS). */
  tokens: number;
  documents: number;
  windows: number;
  millis: number;
  base: ModelScore;
  other?: ModelScore;
  /** KL(P_base ‖ P_other) per token, nats. */
  kld?: { mean: number; stderr: number; median: number; p99: number; max: number };
  /** Fraction (0..1) of positions where both argmax tokens agree, ± stderr. */
  top1Agreement?: number;
  top1AgreementStderr?: number;
  /** p_other(next) − p_base(next) as a fraction (×100 for llama-perplexity's %): mean ± stderr, RMS. */
  deltaP?: { mean: number; stderr: number; rms: number };
}

/** Splits documents into windows of at most ctx tokens, each starting with BOS. */
export function evalWindows(documents: ArrayLike<number>[], bos: number, ctx: number, nVocab: number): Int32Array[] {
  const out: Int32Array[] = [];
  documents.forEach((doc, d) => {
    for (let i = 0; i < doc.length; i++) {
      const t = doc[i]!;
      if (!Number.isInteger(t) || t < 0 || t >= nVocab) throw new TensorshrinkError("E_RANGE", `document ${d}: token ${t} at index ${i} is outside the vocabulary (0..${nVocab - 1})`, { document: d, index: i, token: t });
    }
    for (let s = 0; s < doc.length; s += ctx - 1) {
      const n = Math.min(ctx - 1, doc.length - s);
      const w = new Int32Array(n + 1);
      w[0] = bos;
      for (let i = 0; i < n; i++) w[i + 1] = doc[s + i]!;
      out.push(w);
    }
  });
  return out;
}

/** log-softmax of each row of `logits` [rows, V] (f64 arithmetic), rounded to f32. */
export function logSoftmaxRows(logits: Float32Array, rows: number, V: number, out = new Float32Array(rows * V)): Float32Array {
  for (let r = 0; r < rows; r++) {
    const o = r * V;
    let m = -Infinity;
    for (let i = 0; i < V; i++) if (logits[o + i]! > m) m = logits[o + i]!;
    let s = 0;
    for (let i = 0; i < V; i++) s += Math.exp(logits[o + i]! - m);
    const lse = m + Math.log(s);
    for (let i = 0; i < V; i++) out[o + i] = logits[o + i]! - lse;
  }
  return out;
}

class Acc {
  n = 0; s = 0; s2 = 0; hit = 0;
  add(nll: number, hit: boolean) { this.n++; this.s += nll; this.s2 += nll * nll; if (hit) this.hit++; }
  score(): ModelScore {
    const mean = this.s / this.n, v = this.s2 / this.n - mean * mean;
    const ppl = Math.exp(mean);
    return { perplexity: ppl, perplexityStderr: this.n > 1 && v > 0 ? ppl * Math.sqrt(v / (this.n - 1)) : 0, meanNll: mean, top1Accuracy: this.hit / this.n };
  }
}

const quantile = (sorted: Float64Array, q: number) => {
  const pos = (sorted.length - 1) * q, lo = Math.floor(pos), hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
};

/**
 * Scores the base (live, or from saved log-probs) and optionally a candidate on tokenized documents.
 * Memory: one window's logits per model (ctx × nVocab × 4 bytes) plus 8 bytes per scored token.
 * @throws TensorshrinkError `E_RANGE` (no base, bad ctx, a token outside the vocabulary), `E_SHAPE` (models or
 *   saved log-probs with another vocabulary size), `E_FORMAT` (saved log-probs of other tokens: another text or
 *   tokenizer; or not a log-prob file), `E_ABORTED`.
 */
export async function evaluate(opts: EvaluateOptions): Promise<EvaluateResult> {
  const t0 = Date.now();
  const { base, other } = opts;
  const reader = opts.baseLogits ? await LogitsReader.open(opts.baseLogits) : null;
  if (!base && !reader) throw new TensorshrinkError("E_RANGE", "evaluate needs a base model or saved base log-probs (baseLogits)", {});
  const ref = (base ?? other)?.config;
  const V = reader ? reader.header.nVocab : base!.config.nVocab;
  for (const [what, m] of [["base", base], ["other", other]] as const) {
    if (m && m.config.nVocab !== V) throw new TensorshrinkError("E_SHAPE", `${what} model has a vocabulary of ${m.config.nVocab} tokens, ${reader ? `the saved base log-probs ${opts.baseLogits!.name} have` : "the base has"} ${V}`, { expected: V, got: m.config.nVocab });
  }
  const bos = ref ? ref.bos : reader!.windowTokens(0)[0]!;
  const ctx = opts.ctx ?? reader?.header.ctx ?? Math.min(base?.config.nCtxTrain || 2048, 2048);
  if (!Number.isInteger(ctx) || ctx < 2) throw new TensorshrinkError("E_RANGE", `ctx must be an integer >= 2, got ${ctx}`, { ctx });
  const windows = evalWindows(opts.documents, bos, ctx, V);
  if (!windows.length) throw new TensorshrinkError("E_RANGE", "nothing to score: the documents have no tokens", {});
  if (reader) {
    const h = reader.header;
    const mismatch = (msg: string, d: Record<string, unknown>) => new TensorshrinkError("E_FORMAT", `saved base log-probs ${opts.baseLogits!.name} (model ${JSON.stringify(h.model)}) do not match this text: ${msg} (another text, tokenizer or --ctx?)`, d);
    if (h.windows.length !== windows.length) throw mismatch(`${h.windows.length} windows saved, ${windows.length} here`, { saved: h.windows.length, here: windows.length });
    for (let w = 0; w < windows.length; w++) {
      const a = reader.windowTokens(w), b = windows[w]!;
      if (a.length !== b.length) throw mismatch(`window ${w} has ${a.length} tokens saved, ${b.length} here`, { window: w });
      for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) throw mismatch(`window ${w} position ${i}: token ${a[i]} saved, ${b[i]} here`, { window: w, position: i });
    }
  }
  const positions = windows.reduce((s, w) => s + w.length - 1, 0);
  const writer = opts.saveLogits ? new LogitsWriter(opts.saveLogits, { format: "tensorshrink-logprobs", version: 1, dtype: "f32", nVocab: V, ctx, windows: windows.map((w) => w.length), positions, model: opts.modelInfo ?? {} } satisfies LogitsHeader) : null;
  try {
    await writer?.begin(windows);
    const accB = new Acc(), accO = new Acc();
    const kls = new Float64Array(positions);
    let nk = 0, klS = 0, klS2 = 0, agree = 0, dpS = 0, dpS2 = 0;
    let done = 0;
    const tick = eventYielder(); // a signal's handler runs between windows (the forward awaits only microtasks)
    for (let w = 0; w < windows.length; w++) {
      await tick();
      if (opts.signal?.aborted) throw new TensorshrinkError("E_ABORTED", `evaluation aborted after ${w} of ${windows.length} windows`, { window: w });
      const win = windows[w]!, T = win.length, R = T - 1;
      let lpB: Float32Array;
      if (reader) lpB = await reader.windowLogprobs(w);
      else {
        const lg = await base!.forward(win, { pos: 0, logits: "all", signal: opts.signal });
        if (lg.length < R * V) throw new TensorshrinkError("E_SHAPE", `base forward returned ${lg.length} logits for ${T} tokens × ${V}`, {});
        lpB = logSoftmaxRows(lg, R, V);
      }
      await writer?.window(lpB);
      const lgO = other ? await other.forward(win, { pos: 0, logits: "all", signal: opts.signal }) : null;
      if (lgO && lgO.length < R * V) throw new TensorshrinkError("E_SHAPE", `other forward returned ${lgO.length} logits for ${T} tokens × ${V}`, {});
      for (let r = 0; r < R; r++) {
        const o = r * V, tgt = win[r + 1]!;
        let b1 = 0, bm = -Infinity;
        for (let i = 0; i < V; i++) if (lpB[o + i]! > bm) { bm = lpB[o + i]!; b1 = i; }
        accB.add(-lpB[o + tgt]!, b1 === tgt);
        if (!lgO) continue;
        let m = -Infinity, o1 = 0;
        for (let i = 0; i < V; i++) if (lgO[o + i]! > m) { m = lgO[o + i]!; o1 = i; }
        let s = 0;
        for (let i = 0; i < V; i++) s += Math.exp(lgO[o + i]! - m);
        const lse = m + Math.log(s);
        let kl = 0;
        for (let i = 0; i < V; i++) { const a = lpB[o + i]!; if (a === -Infinity) continue; kl += Math.exp(a) * (a - (lgO[o + i]! - lse)); }
        if (kl < 0) kl = 0;
        const lpo = lgO[o + tgt]! - lse;
        accO.add(-lpo, o1 === tgt);
        kls[nk++] = kl; klS += kl; klS2 += kl * kl;
        if (o1 === b1) agree++;
        const dp = Math.exp(lpo) - Math.exp(lpB[o + tgt]!);
        dpS += dp; dpS2 += dp * dp;
      }
      done += R;
      const ms = Date.now() - t0, tps = done / Math.max(ms / 1000, 1e-3);
      opts.onProgress?.({ window: w + 1, windows: windows.length, tokensDone: done, tokensTotal: positions, elapsedMs: ms, tokensPerSecond: tps, etaSeconds: (positions - done) / tps });
    }
    await writer?.end();
    const res: EvaluateResult = { tokens: positions, documents: opts.documents.length, windows: windows.length, millis: Date.now() - t0, base: accB.score() };
    if (other) {
      const n = nk, mean = klS / n, sd = (x: number, x2: number) => (n > 1 ? Math.sqrt(Math.max(0, x2 / n - (x / n) ** 2) / (n - 1)) : 0);
      const sorted = kls.subarray(0, n).slice().sort();
      const a = agree / n;
      res.other = accO.score();
      res.kld = { mean, stderr: sd(klS, klS2), median: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted[n - 1]! };
      res.top1Agreement = a;
      res.top1AgreementStderr = n > 1 ? Math.sqrt((a * (1 - a)) / (n - 1)) : 0;
      res.deltaP = { mean: dpS / n, stderr: sd(dpS, dpS2), rms: Math.sqrt(dpS2 / n) };
    }
    return res;
  } catch (e) {
    await opts.saveLogits?.abort(e);
    throw e;
  }
}
