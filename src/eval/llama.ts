/**
 * Run GGUF models with llama.cpp through the `node-llama-cpp` package (an optional dependency,
 * imported dynamically so tensorshrink works without it) and measure perplexity, KL divergence of
 * a compressed model vs its base, and top-1 agreement, from full logits at every position.
 *
 * Threads are always passed explicitly to node-llama-cpp (its default is far slower on shared CPUs).
 */
import { TensorshrinkError } from "../errors";
import { EvalAccumulator, argmax, type EvalSummary } from "./metrics";
import { splitDocuments } from "./text";

/** Options shared by the llama.cpp helpers. */
export interface LlamaCppOptions {
  /** CPU threads for llama.cpp (default 2; always passed explicitly). */
  threads?: number;
  /** Context size in tokens (default: min(model's training context, 2048)). */
  contextSize?: number;
  /** The imported `node-llama-cpp` module, if the caller already has it. */
  module?: any;
  /** Import specifier or path of node-llama-cpp (default "node-llama-cpp"). */
  moduleSpecifier?: string;
  /**
   * Positions evaluated per call when scoring (default 64): memory for logits is
   * `logitSlice × vocab × 4` bytes per model (64 × 128k vocab = 32 MiB).
   */
  logitSlice?: number;
  /** GGUF LoRA adapter(s) applied to the *other* model of {@link evaluateGguf} (node-llama-cpp's context `lora`), scale 1. */
  otherLora?: string | string[];
  /**
   * {@link evaluateGgufMany} only: the adapter(s) of each other model, index k for `otherPaths[k]` (null or
   * undefined: none), instead of `otherLora` for all; the same file may then be scored with and without an
   * adapter in one pass (one base load). Length must equal the number of other models (else E_RANGE).
   */
  otherLoras?: readonly (string | string[] | null | undefined)[];
}

/**
 * Import node-llama-cpp dynamically.
 * @throws TensorshrinkError `E_UNSUPPORTED` when it is not installed (`npm i node-llama-cpp`).
 */
export async function loadNodeLlamaCpp(opts: LlamaCppOptions = {}): Promise<any> {
  if (opts.module) return opts.module;
  const spec = opts.moduleSpecifier ?? "node-llama-cpp";
  try {
    return await import(/* @vite-ignore */ spec);
  } catch (e) {
    throw new TensorshrinkError("E_UNSUPPORTED", `evaluation needs the node-llama-cpp package (npm i node-llama-cpp): cannot import ${spec}: ${(e as Error)?.message ?? e}`, { module: spec }, { cause: e });
  }
}

const llamaCache = new WeakMap<object, Promise<any>>();

const msgOf = (e: unknown) => String((e as Error)?.message ?? e);

async function getLlamaInstance(mod: any): Promise<any> {
  let p = llamaCache.get(mod);
  if (!p) {
    p = (async () => {
      try {
        return await mod.getLlama({ gpu: false, build: "never", skipDownload: true, logLevel: "error" });
      } catch (e) {
        llamaCache.delete(mod); // a later call may retry
        const where = typeof process !== "undefined" ? `${process.platform}-${process.arch}` : "this platform";
        throw new TensorshrinkError("E_UNSUPPORTED", `node-llama-cpp has no usable prebuilt llama.cpp binary for ${where} (nothing is built or downloaded): ${msgOf(e)}`, { platform: where }, { cause: e });
      }
    })();
    llamaCache.set(mod, p);
  }
  return p;
}

export { splitDocuments };

interface Loaded { model: any; context: any; sequence: any; dispose(): Promise<void> }

async function load(mod: any, path: string, opts: LlamaCppOptions, lora?: string | string[]): Promise<Loaded> {
  const llama = await getLlamaInstance(mod);
  let model: any;
  try {
    model = await llama.loadModel({ modelPath: path, gpuLayers: 0 });
  } catch (e) {
    // file system errors (ENOENT, EACCES, ...) vs files llama.cpp rejects (bad magic, truncated, unknown arch)
    const sys = typeof (e as any)?.code === "string" && /^E[A-Z]+$/.test((e as any).code);
    throw new TensorshrinkError(sys ? "E_IO" : "E_FORMAT", `llama.cpp cannot load ${path}: ${msgOf(e)}`, { file: path }, { cause: e });
  }
  const ctxSize = opts.contextSize ?? Math.min(model.trainContextSize || 2048, 2048);
  let context: any;
  try {
    const adapters = lora === undefined ? [] : (Array.isArray(lora) ? lora : [lora]).map((filePath) => ({ filePath, scale: 1 }));
    context = await model.createContext({ contextSize: ctxSize, threads: opts.threads ?? 2, batchSize: ctxSize, ...(adapters.length ? { lora: { adapters } } : {}) });
  } catch (e) {
    await model.dispose();
    throw new TensorshrinkError("E_UNSUPPORTED", `llama.cpp cannot create a context of ${ctxSize} tokens for ${path}: ${msgOf(e)}`, { file: path, contextSize: ctxSize }, { cause: e });
  }
  const sequence = context.getSequence();
  return {
    model, context, sequence,
    async dispose() { await context.dispose(); await model.dispose(); },
  };
}

/**
 * Append `tokens` to the sequence's history and return the full next-token logits after each of
 * them (one Float32Array of `vocab` values per token).
 */
async function appendWithLogits(l: Loaded, tokens: number[], vocab: number): Promise<Float32Array[]> {
  const input = tokens.map((t) => [t, { generateNext: { logits: true } }]);
  const res = await l.sequence.controlledEvaluate(input);
  const out: Float32Array[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const m: Map<number, number> | undefined = res[i]?.next?.logits;
    if (!m) throw new TensorshrinkError("E_UNSUPPORTED", `node-llama-cpp returned no logits at position ${i}`, { position: i });
    const v = new Float32Array(vocab).fill(-Infinity);
    for (const [tok, x] of m) if (tok >= 0 && tok < vocab) v[tok] = x;
    out.push(v);
  }
  return out;
}

function vocabSizeOf(model: any): number {
  const md = model.fileInfo?.metadata;
  const n = md?.tokenizer?.ggml?.tokens?.length;
  if (typeof n === "number" && n > 0) return n;
  const arch = md?.general?.architecture;
  const v = md?.[arch]?.vocab_size;
  if (typeof v === "number" && v > 0) return v;
  throw new TensorshrinkError("E_FORMAT", "cannot determine the vocabulary size of the model", {});
}

/** Result of {@link evaluateGguf}. */
export interface LlamaEvalResult extends EvalSummary {
  /** Documents evaluated. */
  documents: number;
  /** Windows evaluated (documents longer than the context are split, each window starting with BOS). */
  windows: number;
  /** Wall time in milliseconds. */
  millis: number;
}

/**
 * Evaluate a base model (and optionally another, e.g. its quantized version) on documents: each
 * document is tokenized with the base model's tokenizer, BOS is prepended, and every token after
 * BOS is scored. Documents longer than the context are split into windows of (context - 1) tokens,
 * each with BOS prepended. Both models run in lockstep over slices of `logitSlice` positions, so
 * memory holds `logitSlice × vocab × 4` bytes of logits per model.
 * @returns perplexity of each model (nats-based), mean/median/p99/max KL(base ‖ other) in nats, top-1 agreement.
 */
export async function evaluateGguf(basePath: string, otherPath: string | null | undefined, documents: string[], opts: LlamaCppOptions = {}): Promise<LlamaEvalResult> {
  return (await evaluateGgufMany(basePath, otherPath ? [otherPath] : [], documents, opts))[0]!;
}

/**
 * {@link evaluateGguf} of several models against one base in a single pass: the base runs once and every other
 * model in lockstep with it (all loaded at once: memory = the models plus `logitSlice × vocab × 4` bytes each), so
 * N comparisons cost N + 1 model evaluations instead of 2N. Result i is exactly evaluateGguf(basePath, otherPaths[i]);
 * with no other model, one result with the base's perplexity only (what evaluateGguf(basePath, null) returns).
 */
export async function evaluateGgufMany(basePath: string, otherPaths: readonly string[], documents: string[], opts: LlamaCppOptions = {}): Promise<LlamaEvalResult[]> {
  if (opts.otherLoras && opts.otherLoras.length !== otherPaths.length) throw new TensorshrinkError("E_RANGE", `otherLoras has ${opts.otherLoras.length} entries for ${otherPaths.length} other models`, { otherLoras: opts.otherLoras.length, others: otherPaths.length });
  const t0 = Date.now();
  const mod = await loadNodeLlamaCpp(opts);
  const base = await load(mod, basePath, opts);
  const others: Loaded[] = [];
  try {
    for (const [k, p] of otherPaths.entries()) others.push(await load(mod, p, opts, opts.otherLoras ? opts.otherLoras[k] ?? undefined : opts.otherLora));
    const vocab = vocabSizeOf(base.model);
    others.forEach((o, k) => { if (vocabSizeOf(o.model) !== vocab) throw new TensorshrinkError("E_SHAPE", `${otherPaths[k]}: the models have different vocabularies (${vocab} vs ${vocabSizeOf(o.model)} tokens)`, { file: otherPaths[k] }); });
    const bos: number | null = base.model.tokens.bos;
    if (bos === null || bos === undefined) throw new TensorshrinkError("E_FORMAT", "the base model has no BOS token", {});
    const ctx: number = base.context.contextSize;
    const accs = (others.length ? others : [null]).map(() => new EvalAccumulator());
    const slice = Math.max(1, opts.logitSlice ?? 64);
    let windows = 0;
    for (const doc of documents) {
      const toks: number[] = Array.from(base.model.tokenize(doc));
      for (let s = 0; s < toks.length; s += ctx - 1) {
        const w = [bos, ...toks.slice(s, s + ctx - 1)];
        if (w.length < 2) continue;
        windows++;
        await base.sequence.clearHistory();
        for (const o of others) await o.sequence.clearHistory();
        for (let p = 0; p < w.length - 1; p += slice) {
          const part = w.slice(p, Math.min(p + slice, w.length - 1));
          const lb = await appendWithLogits(base, part, vocab);
          if (!others.length) for (let i = 0; i < part.length; i++) accs[0]!.add(lb[i]!, w[p + i + 1]!, undefined);
          for (let k = 0; k < others.length; k++) {
            const lo = await appendWithLogits(others[k]!, part, vocab);
            for (let i = 0; i < part.length; i++) accs[k]!.add(lb[i]!, w[p + i + 1]!, lo[i]);
          }
        }
      }
    }
    const millis = Date.now() - t0;
    return accs.map((a) => ({ ...a.summary(), documents: documents.length, windows, millis }));
  } finally {
    for (const o of others) await o.dispose();
    await base.dispose();
  }
}

/**
 * Perplexity of one model on documents (see {@link evaluateGguf} for the protocol).
 * @returns perplexity = exp(mean NLL in nats/token), and the token count.
 */
export async function perplexityOfGguf(modelPath: string, documents: string[], opts: LlamaCppOptions = {}): Promise<{ perplexity: number; meanNll: number; tokens: number }> {
  const r = await evaluateGguf(modelPath, null, documents, opts);
  return { perplexity: r.base.perplexity, meanNll: r.base.meanNll, tokens: r.base.tokens };
}

/**
 * Greedy (argmax) continuation of `prompt` after BOS, computed from full logits (deterministic).
 * Stops at EOS or after `maxTokens` new tokens.
 */
export async function greedyComplete(modelPath: string, prompt: string, maxTokens = 64, opts: LlamaCppOptions = {}): Promise<{ text: string; tokens: number[] }> {
  const mod = await loadNodeLlamaCpp(opts);
  const l = await load(mod, modelPath, opts);
  try {
    const vocab = vocabSizeOf(l.model);
    const promptToks: number[] = Array.from(l.model.tokenize(prompt));
    const out: number[] = [];
    await l.sequence.clearHistory();
    let pending: any[] = [l.model.tokens.bos, ...promptToks];
    pending[pending.length - 1] = [pending[pending.length - 1], { generateNext: { logits: true } }];
    for (let k = 0; k < maxTokens; k++) {
      const res = await l.sequence.controlledEvaluate(pending);
      const m: Map<number, number> = res[pending.length - 1].next.logits;
      const v = new Float32Array(vocab).fill(-Infinity);
      for (const [t, x] of m) if (t < vocab) v[t] = x;
      const next = argmax(v);
      if (next === l.model.tokens.eos) break;
      out.push(next);
      if (l.sequence.nextTokenIndex + 1 >= l.context.contextSize) break;
      pending = [[next, { generateNext: { logits: true } }]];
    }
    return { text: prompt + l.model.detokenize(out), tokens: out };
  } finally {
    await l.dispose();
  }
}

/** Flat result of {@link evaluatePair} (what `tensorshrink eval` prints). */
export interface PairEvalResult {
  /** Tokens scored (every token after BOS). */
  tokens: number;
  perplexityBase: number;
  perplexityOther: number;
  /** Mean KL(base ‖ other), nats per token. */
  meanKld: number;
  /** Standard error of meanKld. */
  meanKldStderr: number;
  /** 99th percentile of per-token KL, nats. */
  p99Kld: number;
  /** Fraction (0..1) of positions where both models' argmax tokens agree. */
  top1Agreement: number;
  documents: number;
  millis: number;
  /** The full summary. */
  detail: LlamaEvalResult;
}

/**
 * Compare two GGUF models on a text (documents split on `<|endoftext|>`; a text without separators is
 * one document): perplexity of each, mean KL(base ‖ other), top-1 agreement.
 */
export async function evaluatePair(basePath: string, otherPath: string, text: string, opts: LlamaCppOptions = {}): Promise<PairEvalResult> {
  const docs = splitDocuments(text);
  const r = await evaluateGguf(basePath, otherPath, docs, opts);
  return {
    tokens: r.base.tokens,
    perplexityBase: r.base.perplexity,
    perplexityOther: r.other!.perplexity,
    meanKld: r.kl!.mean,
    meanKldStderr: r.kl!.stderr,
    p99Kld: r.kl!.p99,
    top1Agreement: r.top1Agreement!,
    documents: r.documents,
    millis: r.millis,
    detail: r,
  };
}
