/**
 * Async (worker pool) and streaming forms of the mask operations in masks.ts, with the same kernels and the same
 * results byte for byte:
 * - {@link pruneScoresAsync}, {@link topkMaskAsync} (scope "row"), {@link nmMaskAsync}, {@link packMaskAsync}:
 *   the rows (for the bitmask: 8-weight-aligned ranges) are split over the engine's worker pool in ranges of at most
 *   `chunkBytes` (default 4 MiB of f32) and run as generic kernel calls (`engine.poolCall`); without a pool (or in
 *   runtimes without workers) the ranges run on the calling thread. Per-row selection and N:M groups never cross a
 *   row, so splitting by rows changes nothing. Per-tensor / global exact-k needs all scores at once: use the sync
 *   topkMask(…, "tensor") / globalTopkMasks.
 * - {@link maskStream}: an async generator that scores, masks and packs tensors as they pass (one at a time, each
 *   through the async forms), yielding the masked weights and the bitmask — for pipelines that read tensors from a
 *   file and write them on.
 * Errors are those of the sync forms, raised before any work is queued.
 */
import { TensorshrinkError } from "../errors";
import type { Engine } from "../engine/engine";
import { kname } from "../linalg/matrix";
import { checkWeights, checkScores, checkSparsity, checkNM, type MaskOptions } from "./masks";

/** Options of the async forms. */
export interface AsyncMaskOptions extends MaskOptions {
  /** Largest f32 input per pool job in bytes (default 4 MiB; whole rows, at least one). */
  chunkBytes?: number;
}

const f32Copy = (x: Float32Array, a: number, b: number) => x.slice(a, b).buffer as ArrayBuffer;
const u8Copy = (x: Uint8Array, a: number, b: number) => x.slice(a, b).buffer as ArrayBuffer;

/** Row ranges [r0, count] of ≤ chunkBytes f32 each, at least one per pool worker when there are enough rows. */
async function ranges(engine: Engine, rows: number, cols: number, opts: AsyncMaskOptions): Promise<[number, number][]> {
  const cb = opts.chunkBytes ?? 4 << 20;
  if (!Number.isInteger(cb) || cb < 1) throw new TensorshrinkError("E_RANGE", `chunkBytes must be a positive integer, got ${cb}`);
  const workers = Math.max(1, await engine.poolSize());
  const per = Math.max(1, Math.min(Math.floor(cb / (cols * 4)) || 1, Math.ceil(rows / workers)));
  const out: [number, number][] = [];
  for (let r = 0; r < rows; r += per) out.push([r, Math.min(per, rows - r)]);
  return out;
}

/** {@link pruneScores} on the pool: |W_ij| · colNorm_j (or |W| without colNorm). */
export async function pruneScoresAsync(engine: Engine, w: Float32Array, rows: number, cols: number, colNorm?: Float32Array | null, opts: AsyncMaskOptions = {}): Promise<Float32Array> {
  checkWeights(w, rows, cols, "weights", opts.name);
  if (colNorm) {
    if (!(colNorm instanceof Float32Array) || colNorm.length !== cols) throw new TensorshrinkError("E_SHAPE", `column norms${opts.name ? ` of ${opts.name}` : ""} must be a Float32Array of ${cols} values, got ${colNorm?.length}`, { tensor: opts.name, cols });
    for (let j = 0; j < cols; j++) if (!(colNorm[j] >= 0 && Number.isFinite(colNorm[j]))) throw new TensorshrinkError("E_RANGE", `column norm ${j} must be finite and >= 0, got ${colNorm[j]}`, { tensor: opts.name, column: j });
  }
  const k = kname(engine, "prune_score_forward", opts), out = new Float32Array(w.length);
  await Promise.all((await ranges(engine, rows, cols, opts)).map(async ([r0, n]) => {
    const buffers = [{ bytes: n * cols * 4 }, { bytes: n * cols * 4, data: f32Copy(w, r0 * cols, (r0 + n) * cols) }, ...(colNorm ? [{ bytes: cols * 4, data: f32Copy(colNorm, 0, cols) }] : [])];
    const r = await engine.poolCall({ kernel: k, buffers, args: [{ buf: 0 }, { buf: 1 }, colNorm ? { buf: 2 } : 0, n, cols], outputs: [0] });
    out.set(new Float32Array(r.outputs[0]), r0 * cols);
  }));
  return out;
}

/** {@link topkMask} with scope "row" on the pool: ⌊sparsity · cols⌋ lowest scores of every row pruned. */
export async function topkMaskAsync(engine: Engine, scores: Float32Array, rows: number, cols: number, sparsity: number, opts: AsyncMaskOptions = {}): Promise<Uint8Array> {
  checkSparsity(sparsity, opts.name);
  checkScores(scores, rows, cols, opts.name);
  const k = Math.floor(sparsity * cols), kern = kname(engine, "topk_rows_forward", opts), out = new Uint8Array(scores.length);
  await Promise.all((await ranges(engine, rows, cols, opts)).map(async ([r0, n]) => {
    const r = await engine.poolCall({ kernel: kern, buffers: [{ bytes: n * cols }, { bytes: n * cols * 4, data: f32Copy(scores, r0 * cols, (r0 + n) * cols) }], args: [{ buf: 0 }, { buf: 1 }, n, cols, k], outputs: [0] });
    out.set(new Uint8Array(r.outputs[0]), r0 * cols);
  }));
  return out;
}

/** {@link nmMask} on the pool: the n highest scores of every m consecutive columns kept. */
export async function nmMaskAsync(engine: Engine, scores: Float32Array, rows: number, cols: number, n: number, m: number, opts: AsyncMaskOptions = {}): Promise<Uint8Array> {
  checkNM(n, m, cols, opts.name);
  checkScores(scores, rows, cols, opts.name);
  const kern = kname(engine, "nm_mask_forward", opts), out = new Uint8Array(scores.length);
  await Promise.all((await ranges(engine, rows, cols, opts)).map(async ([r0, c]) => {
    const r = await engine.poolCall({ kernel: kern, buffers: [{ bytes: c * cols }, { bytes: c * cols * 4, data: f32Copy(scores, r0 * cols, (r0 + c) * cols) }], args: [{ buf: 0 }, { buf: 1 }, c, cols, n, m], outputs: [0] });
    out.set(new Uint8Array(r.outputs[0]), r0 * cols);
  }));
  return out;
}

/** {@link packMask} on the pool: ⌈n/8⌉ bytes, weight i = bit (i & 7) of byte (i >> 3), 1 = kept. */
export async function packMaskAsync(engine: Engine, mask: Uint8Array, opts: AsyncMaskOptions = {}): Promise<Uint8Array> {
  if (!(mask instanceof Uint8Array)) throw new TensorshrinkError("E_ARG_TYPE", "mask must be a Uint8Array");
  const n = mask.length, out = new Uint8Array((n + 7) >> 3), kern = kname(engine, "mask_pack_forward", opts);
  const cb = Math.max(8, ((opts.chunkBytes ?? 4 << 20) >> 3) << 3);
  const jobs: Promise<void>[] = [];
  for (let a = 0; a < n; a += cb) {
    const len = Math.min(cb, n - a);
    jobs.push(engine.poolCall({ kernel: kern, buffers: [{ bytes: (len + 7) >> 3 }, { bytes: len, data: u8Copy(mask, a, a + len) }], args: [{ buf: 0 }, { buf: 1 }, len], outputs: [0] }).then((r) => { out.set(new Uint8Array(r.outputs[0]), a >> 3); }));
  }
  await Promise.all(jobs);
  return out;
}

/** One tensor entering {@link maskStream}: f32 rows × cols (rows = outputs), optional Wanda column norms. */
export interface MaskStreamInput { name: string; rows: number; cols: number; weight: Float32Array; colNorm?: Float32Array | null }
/** One tensor leaving {@link maskStream}: the weights with exact zeros where pruned, the u8 mask and its bitmask. */
export interface MaskStreamOutput { name: string; rows: number; cols: number; weight: Float32Array; mask: Uint8Array; bits: Uint8Array; kept: number }

/**
 * Masks tensors as they pass (magnitude, or Wanda with `colNorm`): per-row exact-k (`sparsity`) or N:M (`nm`),
 * through the async forms (the pool), one tensor at a time so at most one tensor's scores are alive. `weight` is
 * zeroed in place. Errors (E_RANGE / E_SHAPE / E_NONFINITE, naming the tensor) surface when that tensor arrives.
 */
export async function* maskStream(engine: Engine, tensors: AsyncIterable<MaskStreamInput> | Iterable<MaskStreamInput>, target: { sparsity?: number; nm?: { n: number; m: number } }, opts: AsyncMaskOptions = {}): AsyncGenerator<MaskStreamOutput> {
  if ((target.sparsity === undefined) === (target.nm === undefined)) throw new TensorshrinkError("E_RANGE", "give exactly one of sparsity or nm");
  if (target.sparsity !== undefined) checkSparsity(target.sparsity);
  for await (const t of tensors as AsyncIterable<MaskStreamInput>) {
    const o = { ...opts, name: t.name };
    const sc = await pruneScoresAsync(engine, t.weight, t.rows, t.cols, t.colNorm, o);
    const mask = target.nm ? await nmMaskAsync(engine, sc, t.rows, t.cols, target.nm.n, target.nm.m, o) : await topkMaskAsync(engine, sc, t.rows, t.cols, target.sparsity!, o);
    let kept = 0;
    for (let i = 0; i < mask.length; i++) { if (mask[i]) kept++; else t.weight[i] = 0; }
    yield { name: t.name, rows: t.rows, cols: t.cols, weight: t.weight, mask, bits: await packMaskAsync(engine, mask, o), kept };
  }
}
