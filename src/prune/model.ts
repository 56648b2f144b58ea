/**
 * Whole-model unstructured / N:M pruning (magnitude, Wanda, SparseGPT) with a minimal layer-by-layer driver:
 * layer l is calibrated on the outputs of the already-pruned layers 0..l-1 (a fresh forward pass over the
 * calibration tokens with the pruned weights swapped in through `weightProvider`), so errors do not compound
 * unseen. Every 2-D `blk.N.*.weight` matrix is pruned unless it matches `keep`; token_embd / output and the norms
 * are kept. The result is a {@link ModelSource} (dense f32 weights with exact zeros) that quantizeModel writes as
 * GGUF (F32, or any ftype: zeros stay zeros for the symmetric formats), plus one mask per pruned tensor.
 *
 * (The methods seam of round 2 — src/methods, a calibrated sweep with TensorMethod / LayerMethod — was not on its
 * branch when this was written; this driver is the stand-in. It costs one calibration pass per layer.)
 */
import { TensorshrinkError } from "../errors";
import type { Engine } from "../engine/engine";
import type { ModelSource, ModelTensor } from "../model/source";
import { LlamaModel } from "../nn/model";
import { collectStats } from "../calib/collect";
import type { ActStats } from "../calib/stats";
import { pruneScores, topkMask, nmMask, wandaNorms, checkSparsity, checkNM, type MaskScope } from "./masks";
import { sparseGPT } from "./sparsegpt";

/** Pruning method. */
export type PruneMethod = "magnitude" | "wanda" | "sparsegpt";

/** Options of {@link pruneModel}. Give `sparsity` or `nm`. */
export interface PruneModelOptions {
  method: PruneMethod;
  /** Fraction pruned per tensor (per row for magnitude / Wanda, per 128-column block for SparseGPT), in [0, 1). */
  sparsity?: number;
  /** N:M along the input dimension, e.g. { n: 2, m: 4 }. */
  nm?: { n: number; m: number };
  /** Calibration tokens (BOS first), required by Wanda and SparseGPT. */
  tokens?: Int32Array | readonly number[];
  /** Tokens per calibration chunk (default 128). */
  ctx?: number;
  /** At most this many chunks per pass (default all). */
  chunks?: number;
  /** Tensors NOT pruned (matched against the name), default /^(output|token_embd)\./. */
  keep?: RegExp;
  /** Magnitude selection scope (default "row"; Wanda is always per row). */
  scope?: MaskScope;
  /** Per-layer progress. */
  onProgress?(p: { layer: number; layers: number; tensor: string; elapsedMs: number }): void;
  signal?: AbortSignal;
}

/** One pruned tensor. */
export interface PrunedTensor { name: string; rows: number; cols: number; mask: Uint8Array; kept: number }

/** Result of {@link pruneModel}. */
export interface PruneModelResult {
  /** The model with pruned weights (tensors as f32; everything else as in the input). */
  source: ModelSource;
  /** Pruned tensors, in order. */
  pruned: PrunedTensor[];
  /** Weights pruned / weights in pruned tensors. */
  sparsity: number;
  seconds: number;
}

const PRUNABLE = /^blk\.(\d+)\.(attn_q|attn_k|attn_v|attn_output|ffn_gate|ffn_up|ffn_down)\.weight$/;

function f32Tensor(t: ModelTensor, data: Float32Array): ModelTensor {
  const cols = t.ne[0];
  return {
    name: t.name, ne: t.ne, type: "f32",
    async readRows(start, count) { return data.slice(start * cols, (start + count) * cols); },
    async readRawRows(start, count) { const s = data.slice(start * cols, (start + count) * cols); return new Uint8Array(s.buffer); },
  };
}

/**
 * Prunes `source` (llama architecture). Errors before any work: E_RANGE (sparsity / N:M, an unknown method,
 * Wanda/SparseGPT without calibration tokens), E_SHAPE (a row length not divisible by M).
 */
export async function pruneModel(engine: Engine, source: ModelSource, opts: PruneModelOptions): Promise<PruneModelResult> {
  const t0 = Date.now();
  const method = opts.method;
  if (method !== "magnitude" && method !== "wanda" && method !== "sparsegpt") throw new TensorshrinkError("E_RANGE", `method must be magnitude, wanda or sparsegpt, got ${String(method)}`);
  if ((opts.sparsity === undefined) === (opts.nm === undefined)) throw new TensorshrinkError("E_RANGE", "give exactly one of sparsity or nm");
  if (opts.sparsity !== undefined) checkSparsity(opts.sparsity);
  const keep = opts.keep ?? /^(output|token_embd)\./;
  const targets = source.tensors.filter((t) => t.ne.length === 2 && PRUNABLE.test(t.name) && !keep.test(t.name));
  for (const t of targets) if (opts.nm) checkNM(opts.nm.n, opts.nm.m, t.ne[0], t.name);
  const calibrated = method !== "magnitude";
  if (calibrated && (!opts.tokens || opts.tokens.length < 2)) throw new TensorshrinkError("E_RANGE", `${method} needs calibration text (tokens); magnitude does not`, { method });
  const nLayer = Math.max(0, ...targets.map((t) => Number(PRUNABLE.exec(t.name)![1]) + 1));
  const pruned = new Map<string, Float32Array>();
  const report: PrunedTensor[] = [];
  let zeros = 0, total = 0;
  for (let l = 0; l < nLayer; l++) {
    const layerTensors = targets.filter((t) => Number(PRUNABLE.exec(t.name)![1]) === l);
    if (!layerTensors.length) continue;
    if (opts.signal?.aborted) throw new TensorshrinkError("E_ABORTED", "pruning was aborted", { layer: l });
    let stats: ActStats | null = null;
    if (calibrated) {
      const model = await LlamaModel.open(engine, source, { nCtx: opts.ctx ?? 128, weightProvider: (name) => pruned.get(name) });
      try {
        stats = await collectStats(engine, model, opts.tokens!, { ctx: opts.ctx ?? 128, chunks: opts.chunks, blockInfluence: false, gram: method === "sparsegpt" ? layerTensors.map((t) => t.name) : undefined, signal: opts.signal });
      } finally { model.dispose(); }
    }
    for (const t of layerTensors) {
      const cols = t.ne[0], rows = t.ne[1];
      const w = await t.readRows(0, rows);
      let out: Float32Array, mask: Uint8Array;
      if (method === "sparsegpt") {
        const inp = stats!.get(t.name);
        if (!inp?.gram) throw new TensorshrinkError("E_IMATRIX", `no calibration statistics reached ${t.name}`, { tensor: t.name });
        const r = sparseGPT(engine, w, rows, cols, inp.gram.subarray(0, cols * cols), opts.nm ? { nm: opts.nm, name: t.name } : { sparsity: opts.sparsity, name: t.name });
        out = r.weights; mask = r.mask;
      } else {
        let norms: Float32Array | null = null;
        if (method === "wanda") {
          const inp = stats!.get(t.name);
          if (!inp) throw new TensorshrinkError("E_IMATRIX", `no calibration statistics reached ${t.name}`, { tensor: t.name });
          norms = wandaNorms(inp.sumSq.subarray(0, cols), t.name);
        }
        const sc = pruneScores(engine, w, rows, cols, norms, { name: t.name });
        mask = opts.nm ? nmMask(engine, sc, rows, cols, opts.nm.n, opts.nm.m, { name: t.name }) : topkMask(engine, sc, rows, cols, opts.sparsity!, method === "wanda" ? "row" : (opts.scope ?? "row"), { name: t.name });
        out = w;
        for (let i = 0; i < w.length; i++) if (!mask[i]) out[i] = 0;
      }
      let kept = 0;
      for (let i = 0; i < mask.length; i++) kept += mask[i];
      zeros += mask.length - kept; total += mask.length;
      pruned.set(t.name, out);
      report.push({ name: t.name, rows, cols, mask, kept });
      opts.onProgress?.({ layer: l, layers: nLayer, tensor: t.name, elapsedMs: Date.now() - t0 });
    }
  }
  const tensors = source.tensors.map((t) => (pruned.has(t.name) ? f32Tensor(t, pruned.get(t.name)!) : t));
  const out: ModelSource = { name: source.name, metadata: source.metadata, hparams: source.hparams, files: source.files, tensors, close: () => source.close?.() ?? Promise.resolve() };
  return { source: out, pruned: report, sparsity: total ? zeros / total : 0, seconds: (Date.now() - t0) / 1000 };
}
