/**
 * Recording a teacher: run a model's forward pass over a token stream and append every position's
 * top-k log-probs to a teacher file (runtime-neutral; the CLI adds files and progress).
 */
import { TensorshrinkError } from "../errors";
import { eventYielder } from "../engine/events";
import type { LlamaModel } from "../nn/model";
import type { TeacherFileWriter } from "./teacher-file";

/** Progress of {@link recordTeacher}. */
export interface RecordProgress {
  /** Positions written so far. */
  done: number;
  /** Positions that will be written. */
  total: number;
  /** Milliseconds since the start. */
  elapsedMs: number;
}

/** Options of {@link recordTeacher}. */
export interface RecordTeacherOptions {
  /** Context window in tokens (default min(model.nCtx, 512)); each window restarts at position 0. */
  ctx?: number;
  /** Tokens per forward call within a window (default 64; bounds the logits in memory to batch * V floats). */
  batch?: number;
  /** Start every window with the BOS token (default: the model's add_bos_token, i.e. config.addBos). */
  bos?: boolean;
  signal?: AbortSignal;
  onProgress?(p: RecordProgress): void;
}

/** Split of a token stream into context windows (BOS first when `bos`). */
export function teacherWindows(tokens: ArrayLike<number>, ctx: number, bos: number | null): Int32Array[] {
  if (!Number.isSafeInteger(ctx) || ctx < (bos === null ? 1 : 2)) throw new TensorshrinkError("E_RANGE", `ctx must be an integer >= ${bos === null ? 1 : 2}, got ${ctx}`, { ctx });
  const per = bos === null ? ctx : ctx - 1;
  const out: Int32Array[] = [];
  for (let s = 0; s < tokens.length; s += per) {
    const n = Math.min(per, tokens.length - s);
    const w = new Int32Array(n + (bos === null ? 0 : 1));
    let o = 0;
    if (bos !== null) w[o++] = bos;
    for (let i = 0; i < n; i++) w[o++] = tokens[s + i]!;
    out.push(w);
  }
  return out;
}

/**
 * Runs `model` over `tokens` (text tokens, without BOS) window by window and appends one record per
 * position to `writer` (the record at position i holds the teacher's distribution of token i + 1).
 * Does not finish the writer. Returns the positions and windows written.
 * @throws E_RANGE (ctx larger than the model's nCtx), E_ABORTED, and whatever forward throws.
 */
export async function recordTeacher(model: LlamaModel, tokens: ArrayLike<number>, writer: TeacherFileWriter, opts: RecordTeacherOptions = {}): Promise<{ positions: number; windows: number }> {
  const cfg = model.config;
  if (writer.header.nVocab !== cfg.nVocab) throw new TensorshrinkError("E_SHAPE", `teacher file has nVocab ${writer.header.nVocab}, the model ${cfg.nVocab}`);
  const ctx = opts.ctx ?? Math.min(model.nCtx, 512);
  if (!Number.isSafeInteger(ctx) || ctx > model.nCtx) throw new TensorshrinkError("E_RANGE", `ctx ${ctx} is larger than the model's context ${model.nCtx}`, { ctx, nCtx: model.nCtx });
  const batch = opts.batch ?? 64;
  if (!Number.isSafeInteger(batch) || batch < 1) throw new TensorshrinkError("E_RANGE", `batch must be a positive integer, got ${batch}`);
  const useBos = opts.bos ?? cfg.addBos;
  const windows = teacherWindows(tokens, ctx, useBos ? cfg.bos : null);
  const total = windows.reduce((a, w) => a + w.length, 0);
  const t0 = Date.now();
  let done = 0;
  const tick = eventYielder(); // a signal's handler runs between batches (the forward awaits only microtasks)
  for (const w of windows) {
    for (let p = 0; p < w.length; p += batch) {
      await tick();
      if (opts.signal?.aborted) throw new TensorshrinkError("E_ABORTED", `teacher recording aborted after ${done} positions`, { done });
      const part = w.subarray(p, Math.min(w.length, p + batch));
      const logits = await model.forward(part, { pos: p, logits: "all", signal: opts.signal });
      await writer.appendLogits(logits, part, p);
      done += part.length;
      opts.onProgress?.({ done, total, elapsedMs: Date.now() - t0 });
    }
  }
  return { positions: done, windows: windows.length };
}
