/**
 * EoRA as a method on the seam: quantize with an inner method (RTN by default, or GPTQ), then compute the
 * EoRA compensation of that tensor (src/lowrank/eora.ts: eigenspace of XᵀX from the calibrated sweep,
 * truncated SVD of ΔW·QΛ^½) and keep the factors. The GGUF gets exactly the inner method's bytes; the
 * factors are written afterwards as a GGUF LoRA adapter (`writeGgufLora(sink, method.layers, …)`), which
 * llama.cpp loads on top of the quantized file. `tensorshrink quantize … --eora R --calib F` does both.
 * Memory: the factors of every handled tensor, r·(in + out)·4 bytes each, plus one eigh/SVD of in × in.
 */
import { TensorshrinkError } from "../errors";
import { eoraFactor } from "../lowrank/eora";
import { LINEAR_RE } from "../lowrank/model";
import type { AdapterLayer } from "../lowrank/adapter";
import { rtnBytes, rowsOf } from "./rtn";
import { resolveMethods } from "./pipeline";
import { isLayerMethod, type MethodSpec, type TensorInfo, type TensorMethod, type TensorMethodContext, type TensorMethodResult } from "./types";

/** Options of {@link eoraMethod}. */
export interface EoraMethodOptions {
  /** Adapter rank r (integer ≥ 1, ≤ min(rows, cols) of every handled tensor). */
  rank: number;
  /** The quantizer whose error is compensated: a tensor method or a built-in's name (default "rtn"). */
  inner?: MethodSpec;
  /** Which tensors get an adapter (default the block linear weights, {@link LINEAR_RE}). */
  include?: RegExp;
}

/** Per-tensor figures of {@link eoraMethod}. */
export interface EoraMethodReport { name: string; rank: number; outputErrorBefore: number; outputErrorAfter: number }

/** The EoRA method: a {@link TensorMethod} that also collects the adapter factors. */
export interface EoraMethod extends TensorMethod {
  /** Factors of every tensor handled so far (in pipeline order). */
  readonly layers: AdapterLayer[];
  readonly report: EoraMethodReport[];
}

/**
 * Creates the method (see the file comment). Needs the Gram matrix XᵀX of each handled tensor's input
 * (`calibration` in quantizeModel). Skips tensors stored dense (f32/f16/bf16: nothing to compensate).
 * @throws TensorshrinkError `E_RANGE` (rank, inner not a tensor method; at apply: rank > min(rows, cols), no XᵀX).
 */
export function eoraMethod(opts: EoraMethodOptions): EoraMethod {
  const { rank } = opts;
  if (!Number.isInteger(rank) || rank < 1) throw new TensorshrinkError("E_RANGE", `eora: rank must be an integer >= 1, got ${rank}`, { rank });
  const [inner] = resolveMethods([opts.inner ?? "rtn"]);
  if (!inner || isLayerMethod(inner)) throw new TensorshrinkError("E_RANGE", "eora: the inner method must be a tensor method (rtn, gptq, …)", {});
  const include = opts.include ?? LINEAR_RE;
  const layers: AdapterLayer[] = [], report: EoraMethodReport[] = [];
  return {
    kind: "tensor",
    name: `${inner.name}+eora`,
    needs: { ...inner.needs, gram: true },
    layers,
    report,
    appliesTo(t: TensorInfo) {
      if (!include.test(t.name)) return "not selected for EoRA";
      if (t.ne.length > 2) return "3-D tensor";
      if (/^(f32|f16|bf16)$/i.test(t.targetType)) return "stored dense (nothing to compensate)";
      return inner.appliesTo(t);
    },
    async apply(ctx: TensorMethodContext): Promise<TensorMethodResult> {
      const cols = ctx.ne[0]!, rows = rowsOf(ctx.ne);
      const w = { data: ctx.weight.slice(), rows, cols };
      const r = await inner.apply(ctx);
      const bytes = r.bytes ?? rtnBytes(ctx.engine, r.weight ?? ctx.weight, ctx.ne, ctx.targetType, ctx.imatrix, ctx.name);
      const gram = ctx.stats?.gram;
      if (!gram) throw new TensorshrinkError("E_RANGE", `eora: no XᵀX for ${ctx.name} (quantizeModel needs calibration)`, { tensor: ctx.name });
      if (rank > Math.min(rows, cols)) throw new TensorshrinkError("E_RANGE", `eora: rank ${rank} > min(rows, cols) = ${Math.min(rows, cols)} of ${ctx.name}`, { tensor: ctx.name, rank });
      const wq = { data: ctx.engine.dequantize(bytes, { type: ctx.targetType, rows, cols, name: ctx.name } as any), rows, cols };
      const f = eoraFactor(ctx.engine, w, wq, gram, { rank, name: ctx.name });
      layers.push({ name: ctx.name, A: f.A, B: f.B });
      report.push({ name: ctx.name, rank: f.rank, outputErrorBefore: f.outputErrorBefore, outputErrorAfter: f.outputErrorAfter });
      return { bytes, mask: r.mask, info: { ...(r.info ?? {}), eoraRank: f.rank, eoraErrorLeft: f.outputErrorBefore > 0 ? f.outputErrorAfter / f.outputErrorBefore : 0 } };
    },
  };
}
