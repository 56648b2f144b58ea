/**
 * KL divergence and perplexity of the quantized model against the original on the page's evaluation
 * text, through the engine's own forward pass: `evaluate`, `LlamaModel` and `Tokenizer` from the
 * package (src/eval/evaluate.ts, src/nn/model.ts, src/tokenizer/). They are looked up by name at run
 * time, so this build works with or without them: when they are missing, the result says so
 * (`available: false` with the reason) and the page shows that message instead of numbers.
 */
import * as api from "../index";
import type { Engine } from "../engine/engine";
import { blobSource } from "../formats/source";
import { openModel } from "../model/open";
import type { ModelSource } from "../model/source";
import type { EvalInfo } from "./protocol";

const NAMES = ["evaluate", "LlamaModel", "Tokenizer"] as const;

/** Which of the forward-pass exports this build lacks (empty when evaluation is available). */
export function missingEvalExports(): string[] {
  const ns = api as unknown as Record<string, unknown>;
  return NAMES.filter((n) => typeof ns[n] !== "function");
}

/**
 * Scores `other` (the quantized GGUF as a Blob/File) against `base` on `text` (documents split on
 * `<|endoftext|>`, each from a BOS; context 256 tokens). Memory: two models' weights as the forward
 * pass holds them, plus one window of logits per model.
 */
export async function evaluateOnText(engine: Engine, base: ModelSource, other: Blob, text: string, signal: AbortSignal, onProgress: (done: number, total: number) => void): Promise<EvalInfo> {
  const missing = missingEvalExports();
  if (missing.length) {
    return { available: false, reason: `this build has no engine forward pass (${missing.join(", ")} not exported), so KL divergence and perplexity are not computed; the SQNR per tensor is shown instead` };
  }
  const ns = api as any;
  const tokenizer = ns.Tokenizer.fromGguf({ kv: new Map(base.metadata.map((kv) => [kv.key, kv])) });
  const docs = text.split("<|endoftext|>").map((d) => d.trim()).filter((d) => d.length > 0).map((d) => tokenizer.encode(d, { addBos: false }));
  const otherSrc = await openModel(blobSource(other, "quantized.gguf"), engine);
  const a = await ns.LlamaModel.open(engine, base, { nCtx: 256 });
  const b = await ns.LlamaModel.open(engine, otherSrc, { nCtx: 256 });
  try {
    const r = await ns.evaluate({ base: a, other: b, documents: docs, ctx: 256, signal, onProgress: (p: any) => onProgress(p.tokensDone, p.tokensTotal) });
    return { available: true, tokens: r.tokens, pplBase: r.base.perplexity, pplOther: r.other.perplexity, kldMean: r.kld.mean, top1Agreement: r.top1Agreement };
  } finally {
    a.dispose?.(); b.dispose?.();
    await otherSrc.close?.();
  }
}
