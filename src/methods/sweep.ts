/**
 * The calibrated sweep (DESIGN.md "Layer order for calibration"): embed the calibration chunks, then for
 * each block l run block l over the residual streams coming out of the already-compressed blocks < l,
 * collecting that block's input statistics (Σx², Σ|x|, and XᵀX when asked, with src/calib's wasm kernels),
 * hand them to `processLayer` (which compresses the block's tensors and returns their f32
 * reconstructions), then rerun block l with the compressed weights to feed block l + 1.
 *
 * Usable without quantization: `processLayer` may return dense modified weights (pruning).
 * Memory beyond the model's own (resident f32 weights, 4 × parameters): the streams
 * chunks × ctx × nEmbd × 4 bytes (JS), per block input 16 × cols bytes of sums and, with `gram`,
 * cols² × 8 bytes per distinct input (wasm; kjv3M: 3 × 256² × 8 + 768² × 8 = 6.3 MB), freed per block.
 */
import { TensorshrinkError } from "../errors";
import type { Engine } from "../engine/engine";
import { ActStats, type ActInput } from "../calib/stats";
import { LlamaModel } from "../nn/model";
import type { ModelSource } from "../model/source";

/** Options of {@link calibratedSweep}. */
export interface SweepOptions {
  /** The calibration text's tokens (BOS first, as llama-imatrix tokenizes). Chunk i = [i·ctx, (i+1)·ctx), its first token set to BOS. */
  tokens: Int32Array;
  /** Tokens per chunk (default 512; kjv3M: 128). */
  ctx?: number;
  /** At most this many chunks (default all whole chunks). */
  chunks?: number;
  /** Accumulate XᵀX per block input (default false). */
  gram?: boolean;
  /**
   * Compresses block `layer`: `stats` are its inputs' statistics; `inputs` the residual streams entering
   * it (one [ctx, nEmbd] per chunk; do not modify). Returns the replaced f32 weights by name (e.g. the
   * dequantized compressed tensors): the block is rerun with them and every later forward uses them.
   */
  processLayer(layer: number, stats: ActStats, inputs: Float32Array[], model: LlamaModel): Promise<Map<string, Float32Array>>;
  /** Called after each block with seconds spent in it. */
  onLayer?(p: { layer: number; layers: number; seconds: number; statsSeconds: number }): void;
  signal?: AbortSignal;
}

/** What {@link calibratedSweep} did. */
export interface SweepReport {
  layers: number;
  chunks: number;
  ctx: number;
  tokens: number;
  /** Seconds per block (statistics + processLayer + rerun). */
  layerSeconds: number[];
  /** Largest JS + wasm bytes of streams and statistics held at once (the formula above, measured). */
  peakBytes: number;
}

/** Chunks of `tokens` (BOS-first) for a context; throws E_RANGE when the text is shorter than one chunk. */
export function calibrationChunks(tokens: Int32Array, ctx: number, chunks: number | undefined, bos: number, addBos: boolean): Int32Array[] {
  if (!Number.isInteger(ctx) || ctx < 2) throw new TensorshrinkError("E_RANGE", `calibration ctx must be an integer >= 2, got ${ctx}`, { ctx });
  const max = Math.floor(tokens.length / ctx);
  if (max < 1) throw new TensorshrinkError("E_RANGE", `the calibration text has ${tokens.length} tokens, fewer than one chunk of ${ctx}`, { tokens: tokens.length, ctx });
  if (chunks !== undefined && !(Number.isInteger(chunks) && chunks >= 1)) throw new TensorshrinkError("E_RANGE", `calibration chunks must be a positive integer, got ${chunks}`, { chunks });
  const n = Math.min(chunks ?? max, max), out: Int32Array[] = [];
  for (let c = 0; c < n; c++) {
    const t = tokens.slice(c * ctx, (c + 1) * ctx);
    if (addBos) t[0] = bos;
    out.push(t);
  }
  return out;
}

/**
 * Runs the sweep over `source` (a llama model; any stored type the engine reads). Opens its own
 * LlamaModel (resident weights, f32 activations, nCtx = ctx) and disposes it.
 * @throws TensorshrinkError E_RANGE (calibration too short, bad ctx/chunks), E_UNSUPPORTED (MoE models,
 *   not a llama model), E_ABORTED, and whatever processLayer throws.
 */
export async function calibratedSweep(engine: Engine, source: ModelSource, opts: SweepOptions): Promise<SweepReport> {
  const ctx = opts.ctx ?? 512;
  const replaced = new Map<string, Float32Array>();
  const model = await LlamaModel.open(engine, source, { nCtx: ctx, weights: "resident", weightProvider: (name) => replaced.get(name) });
  try {
    const cfg = model.config;
    if (cfg.nExpert > 0) throw new TensorshrinkError("E_UNSUPPORTED", "the calibrated sweep does not handle MoE (expert) models yet", { nExpert: cfg.nExpert });
    const chunks = calibrationChunks(opts.tokens, ctx, opts.chunks, cfg.bos, cfg.addBos);
    for (const c of chunks) for (let i = 0; i < c.length; i++) if (c[i] < 0 || c[i] >= cfg.nVocab) throw new TensorshrinkError("E_RANGE", `calibration token ${c[i]} is outside the vocabulary (0..${cfg.nVocab - 1})`, { token: c[i] });
    let xs: Float32Array[] = [];
    for (const c of chunks) xs.push(await model.embed(c));
    const X = engine.exports;
    const streamBytes = xs.reduce((s, x) => s + x.byteLength, 0);
    let peak = 2 * streamBytes;
    const layerSeconds: number[] = [];
    for (let l = 0; l < cfg.nLayer; l++) {
      if (opts.signal?.aborted) throw new TensorshrinkError("E_ABORTED", `calibrated sweep aborted before block ${l}`, { layer: l });
      const t0 = Date.now();
      // probe: the block's distinct inputs and widths (one token, no allocation in the hook)
      const groups: { tensors: string[]; cols: number }[] = [];
      await model.runBlock(l, xs[0].subarray(0, cfg.nEmbd), {
        hooks: { linearInput(ev) { if (ev.layer === l && !groups.some((g) => g.tensors.join("|") === ev.tensors.join("|"))) groups.push({ tensors: [...ev.tensors], cols: ev.cols }); } },
      });
      const ptrs: number[] = [];
      const alloc = (n: number) => { const p = engine.alloc(Math.max(16, n)); ptrs.push(p); new Uint8Array(X.memory.buffer, p, n).fill(0); return p; };
      try {
        const maxCols = Math.max(4, ...groups.map((g) => g.cols));
        const slots = new Map<string, { inp: ActInput; pSq: number; pAbs: number; pGram: number }>();
        let wasmBytes = 0;
        for (const g of groups) {
          const inp: ActInput = { tensors: g.tensors, layer: l, cols: g.cols, nMat: 1, sumSq: new Float64Array(0), sumAbs: new Float64Array(0), counts: new Float64Array(1), gram: null };
          slots.set(g.tensors.join("|"), { inp, pSq: alloc(8 * g.cols), pAbs: alloc(8 * g.cols), pGram: opts.gram ? alloc(8 * g.cols * g.cols) : 0 });
          wasmBytes += 16 * g.cols + (opts.gram ? 8 * g.cols * g.cols : 0);
        }
        const pScratch = alloc(4 * maxCols + 16);
        const hooks = {
          linearInput(ev: { layer: number; tensors: string[]; ptr: number; rows: number; cols: number }) {
            const s = slots.get(ev.tensors.join("|"));
            if (!s || ev.rows <= 0) return;
            X.colstats_forward(s.pSq, s.pAbs, ev.ptr, ev.rows, ev.cols);
            if (s.pGram) X.gram_forward(s.pGram, ev.ptr, ev.rows, ev.cols, pScratch, 64);
            s.inp.counts[0] += ev.rows;
          },
        };
        for (const x of xs) await model.runBlock(l, x, { hooks });
        const stats = new ActStats();
        stats.chunkCount = chunks.length; stats.chunkSize = ctx; stats.tokens = chunks.length * ctx;
        const mem = X.memory.buffer;
        for (const s of slots.values()) {
          const inp = s.inp, C = inp.cols;
          inp.sumSq = new Float64Array(mem, s.pSq, C).slice();
          inp.sumAbs = new Float64Array(mem, s.pAbs, C).slice();
          if (s.pGram) {
            const g = new Float64Array(mem, s.pGram, C * C).slice();
            for (let i = 0; i < C; i++) for (let j = 0; j < i; j++) g[i * C + j] = g[j * C + i];
            inp.gram = g;
          }
          stats.add(inp);
        }
        for (const p of ptrs.splice(0)) engine.free(p);
        peak = Math.max(peak, 2 * streamBytes + 2 * wasmBytes);
        const tStats = Date.now();
        const rep = await opts.processLayer(l, stats, xs, model);
        for (const [name, w] of rep) replaced.set(name, w);
        model.invalidateWeights(rep.keys());
        const next: Float32Array[] = [];
        for (const x of xs) next.push(await model.runBlock(l, x));
        xs = next;
        const sec = (Date.now() - t0) / 1000;
        layerSeconds.push(sec);
        opts.onLayer?.({ layer: l, layers: cfg.nLayer, seconds: sec, statsSeconds: (tStats - t0) / 1000 });
      } finally {
        for (const p of ptrs) engine.free(p);
      }
    }
    return { layers: cfg.nLayer, chunks: chunks.length, ctx, tokens: chunks.length * ctx, layerSeconds, peakBytes: peak };
  } finally {
    model.dispose();
  }
}
