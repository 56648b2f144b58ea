/**
 * Pruning as methods on the seam (src/methods): {@link pruneMethod} is a TensorMethod that prunes one weight
 * matrix (magnitude, Wanda or SparseGPT; unstructured or N:M) and returns the dense f32 weights with exact zeros
 * plus the mask; the pipeline then quantizes them to the tensor's target type with llama.cpp's RTN (zeros stay
 * zeros in symmetric formats; in asymmetric ones they become the nearest level). With calibration, quantizeModel's
 * calibrated sweep feeds each block the outputs of the already-pruned blocks, so SparseGPT / Wanda see the
 * activations of the pruned model. Use: `quantizeModel(engine, src, sink, { ftype, methods: [pruneMethod({...})],
 * calibration: { tokens } })`.
 */
import { TensorshrinkError } from "../errors";
import { lookupType } from "../quant/types";
import type { TensorMethod, TensorInfo, TensorMethodContext, TensorMethodResult } from "../methods/types";
import { pruneScores, topkMask, nmMask, wandaNorms, checkSparsity, checkNM, parseNM } from "./masks";
import { sparseGPT } from "./sparsegpt";
import { sparseGptQuantize } from "./joint";

/** Pruning method: magnitude |W|, Wanda |W|·‖X‖₂, SparseGPT (OBS updates). */
export type PruneMethod = "magnitude" | "wanda" | "sparsegpt";

/** Options of {@link pruneMethod}. Give `sparsity` or `nm`. */
export interface PruneMethodOptions {
  method: PruneMethod;
  /** Fraction pruned in [0, 1) (per row for magnitude / Wanda; per 128-column block for SparseGPT). */
  sparsity?: number;
  /** N:M as { n, m } or "2:4". */
  nm?: { n: number; m: number } | string;
  /** Tensors not pruned (default /^(output|token_embd)\./); only 2-D blk.N weights are pruned in any case. */
  keep?: RegExp;
  /** SparseGPT damping (default 0.01). */
  damp?: number;
  /**
   * SparseGPT only: joint prune + quantize (src/prune/joint.ts) — every kept weight is rounded to the tensor's
   * target GGUF type during the same OBS sweep and the method returns the bytes. Tensors whose target is dense
   * (f32 / f16 / bf16) get plain SparseGPT. Name "prune-sparsegpt-joint".
   */
  joint?: boolean;
  /** Called with every mask (rows·cols bytes, 1 = kept) as it is made (e.g. to write --mask-out). */
  onMask?(name: string, mask: Uint8Array, rows: number, cols: number): void;
}

/** The pruning methods {@link pruneMethod} takes (the web app lists these). */
export const PRUNE_METHODS: readonly PruneMethod[] = ["magnitude", "wanda", "sparsegpt"];

const DENSE = new Set(["f32", "f16", "bf16"]);
const PRUNABLE = /^blk\.\d+\.(attn_q|attn_k|attn_v|attn_output|ffn_gate|ffn_up|ffn_down)\.weight$/;

/**
 * A pruning TensorMethod (name "prune-magnitude" / "prune-wanda" / "prune-sparsegpt", recorded in quantize.method).
 * Wanda needs Σx² (sumSq), SparseGPT the Gram matrix (gram): quantizeModel then refuses to start without
 * calibration (E_RANGE). Options are checked here, before any data flows: E_RANGE (method, sparsity outside [0, 1),
 * N:M with N >= M or M > 32); a pruned tensor whose row length is not divisible by M is E_SHAPE from `appliesTo`,
 * i.e. while quantizeModel plans, before the output file is created.
 */
export function pruneMethod(opts: PruneMethodOptions): TensorMethod {
  const method = opts.method;
  if (!PRUNE_METHODS.includes(method)) throw new TensorshrinkError("E_RANGE", `prune method must be magnitude, wanda or sparsegpt, got ${String(method)}`);
  const nm = typeof opts.nm === "string" ? parseNM(opts.nm) : opts.nm;
  if ((opts.sparsity === undefined) === (nm === undefined)) throw new TensorshrinkError("E_RANGE", "give exactly one of sparsity or nm");
  if (opts.sparsity !== undefined) checkSparsity(opts.sparsity);
  if (nm) parseNM(`${nm.n}:${nm.m}`);
  if (opts.joint && method !== "sparsegpt") throw new TensorshrinkError("E_RANGE", `joint prune + quantize is SparseGPT's (got method ${method})`);
  const keep = opts.keep ?? /^(output|token_embd)\./;
  return {
    kind: "tensor",
    name: `prune-${method}${opts.joint ? "-joint" : ""}`,
    needs: method === "wanda" ? { sumSq: true } : method === "sparsegpt" ? { gram: true } : undefined,
    appliesTo(t: TensorInfo): true | string {
      if (t.ne.length !== 2 || !PRUNABLE.test(t.name)) return "not a block weight matrix";
      if (keep.test(t.name)) return "kept (--keep)";
      if (nm && t.ne[0] % nm.m !== 0) checkNM(nm.n, nm.m, t.ne[0], t.name); // E_SHAPE at planning, before any byte is written
      if (opts.joint && nm && !DENSE.has(t.targetType) && lookupType(t.targetType).blockSize % nm.m !== 0) throw new TensorshrinkError("E_RANGE", `joint SparseGPT of ${t.name}: N:M groups of ${nm.m} do not tile ${t.targetType} blocks of ${lookupType(t.targetType).blockSize}`, { tensor: t.name });
      return true;
    },
    async apply(ctx: TensorMethodContext): Promise<TensorMethodResult> {
      const cols = ctx.ne[0], rows = ctx.ne[1], w = ctx.weight;
      if (method === "sparsegpt") {
        if (!ctx.stats?.gram) throw new TensorshrinkError("E_IMATRIX", `SparseGPT needs the Gram matrix of ${ctx.name}'s input (calibration)`, { tensor: ctx.name, layer: ctx.layer });
        if (opts.joint && !DENSE.has(ctx.targetType)) {
          const j = sparseGptQuantize(ctx.engine, w, rows, cols, ctx.stats.gram.subarray(0, cols * cols), ctx.targetType, { ...(nm ? { nm } : { sparsity: opts.sparsity }), damp: opts.damp, imatrix: ctx.imatrix, name: ctx.name });
          opts.onMask?.(ctx.name, j.mask, rows, cols);
          return { bytes: j.bytes, mask: j.mask, info: { damp: j.damp, joint: 1 } };
        }
        const r = sparseGPT(ctx.engine, w, rows, cols, ctx.stats.gram.subarray(0, cols * cols), nm ? { nm, damp: opts.damp, name: ctx.name } : { sparsity: opts.sparsity, damp: opts.damp, name: ctx.name });
        opts.onMask?.(ctx.name, r.mask, rows, cols);
        return { weight: r.weights, mask: r.mask, info: { damp: r.damp } };
      }
      let norms: Float32Array | null = null;
      if (method === "wanda") {
        if (!ctx.stats) throw new TensorshrinkError("E_IMATRIX", `Wanda needs activation statistics of ${ctx.name}'s input (calibration or an imatrix)`, { tensor: ctx.name, layer: ctx.layer });
        norms = wandaNorms(ctx.stats.sumSq.subarray(0, cols), ctx.name);
      }
      const sc = pruneScores(ctx.engine, w, rows, cols, norms, { name: ctx.name });
      const mask = nm ? nmMask(ctx.engine, sc, rows, cols, nm.n, nm.m, { name: ctx.name }) : topkMask(ctx.engine, sc, rows, cols, opts.sparsity!, "row", { name: ctx.name });
      const out = new Float32Array(w.length);
      for (let i = 0; i < w.length; i++) out[i] = mask[i] ? w[i] : 0;
      opts.onMask?.(ctx.name, mask, rows, cols);
      return { weight: out, mask };
    },
  };
}
