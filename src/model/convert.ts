/**
 * Llama-architecture models → GGUF, streaming.
 *
 * A {@link ModelPlan} is GGUF metadata plus a list of tensors in GGUF naming and ggml `ne` order,
 * each readable lazily by row range, so a quantization pipeline can pull one tensor (or a few rows)
 * at a time through the quantizer and into {@link writeGguf} in bounded memory.
 * Sources: a llama2.c checkpoint + tokenizer.bin (no q/k permutation: llama2.c already rotates
 * adjacent pairs, like llama.cpp's NORM rope), or a Hugging Face directory (config.json,
 * safetensors, tokenizer.json or tokenizer.model) with the q/k row permutation of llama.cpp's
 * convert_hf_to_gguf.py for llama / Mistral / Mixtral, and the qwen2 / qwen3 / qwen3moe layouts
 * (biases, q/k norms, split experts; no permutation) described in ./archs.ts.
 *
 * This file holds the entry points (any input → a plan; a plan → an unquantized GGUF) and re-exports
 * the parts: ./plan.ts (plan types, GGUF metadata, model-source view), ./convert-llama2c.ts,
 * ./convert-hf.ts, ./hf-tensors.ts (permuted / stacked safetensors tensors).
 */
import { TensorshrinkError } from "../errors";
import { writeGguf, type GgufLayout, type GgufTensorSpec } from "../formats/gguf";
import { encodeF16, encodeF32 } from "../formats/half";
import type { ByteSink, FileResolver, SourceInput } from "../formats/source";
import { llamaMetadata, type ModelPlan } from "./plan";
import { llamaFromLlama2c } from "./convert-llama2c";
import { llamaFromHf } from "./convert-hf";

export { LLAMA_FTYPE, llamaMetadata, planShapeParams, planAsModelSource } from "./plan";
export type { ModelTensor, LlamaHParams, ModelPlan, PlanOptions, PlanModelSource } from "./plan";
export { llamaFromLlama2c, openLlama2cModel } from "./convert-llama2c";
export { llamaFromHf, llama3RopeFactors, openHfModel } from "./convert-hf";
export { hfPermuteSourceRow } from "./hf-tensors";

/** Input of {@link openLlamaModel} / {@link convertToGguf}. */
export type LlamaInput =
  | ModelPlan
  | { llama2c: SourceInput; tokenizer: SourceInput; name?: string }
  | { hf: string | FileResolver; name?: string };

/** Build a plan from any supported input (a plan is returned as is). */
export async function openLlamaModel(input: LlamaInput): Promise<ModelPlan> {
  if ("tensors" in input && "hparams" in input) return input;
  if ("llama2c" in input) return llamaFromLlama2c(input.llama2c, input.tokenizer, { name: input.name });
  if ("hf" in input) return llamaFromHf(input.hf, { name: input.name });
  throw new TensorshrinkError("E_ARG_TYPE", "expected a ModelPlan, {llama2c, tokenizer} or {hf}", {});
}

/** Options of {@link convertToGguf}. */
export interface ConvertOptions {
  /** "F32" (every tensor f32) or "F16" (matrices f16, vectors f32, as convert_hf_to_gguf.py --outtype f16). */
  ftype: "F32" | "F16";
  /** Rows per read (default: about 1 MiB of float32 per chunk). */
  chunkValues?: number;
  /** Progress after each tensor: index, count, tensor name, bytes written so far. */
  onTensor?(index: number, count: number, name: string, bytesWritten: number): void;
  signal?: AbortSignal;
}

/** Result of a conversion. */
export interface ConvertResult {
  layout: GgufLayout;
  tensors: { name: string; type: string; ne: readonly number[]; nbytes: number }[];
}

/**
 * Convert a Llama model to an unquantized GGUF (F32 or F16), streaming: each tensor is read in
 * chunks of whole rows (~1 MiB) and written as it arrives, so memory stays ~2 MiB plus the header.
 * The sink is committed on success and aborted on failure (no partial file).
 */
export async function convertToGguf(source: LlamaInput, sink: ByteSink, opts: ConvertOptions): Promise<ConvertResult> {
  const plan = await openLlamaModel(source);
  try {
    if (opts.ftype !== "F32" && opts.ftype !== "F16") throw new TensorshrinkError("E_UNKNOWN_TYPE", `convertToGguf writes F32 or F16, got ${opts.ftype}`, { ftype: opts.ftype });
    const specs: GgufTensorSpec[] = plan.tensors.map((t) => ({ name: t.name, ne: t.ne, type: opts.ftype === "F16" && t.ne.length >= 2 ? "f16" : "f32" }));
    const chunk = opts.chunkValues ?? 1 << 18;
    const layout = await writeGguf(sink, llamaMetadata(plan, opts.ftype), specs, (spec, i) => {
      const t = plan.tensors[i]!;
      const f16 = spec.type === "f16";
      return (async function* () {
        const per = Math.max(1, Math.floor(chunk / Math.max(1, t.rowLength)));
        for (let r = 0; r < t.rows; r += per) {
          const n = Math.min(per, t.rows - r);
          const vals = await t.readRows(r, n);
          yield f16 ? encodeF16(vals) : encodeF32(vals);
        }
      })();
    }, { signal: opts.signal, onTensor: (i, b) => opts.onTensor?.(i, specs.length, specs[i]!.name, b) });
    return { layout, tensors: specs.map((s, i) => ({ name: s.name, type: String(s.type), ne: s.ne, nbytes: layout.nbytes[i]! })) };
  } finally {
    if (plan !== source) await plan.close();
  }
}
