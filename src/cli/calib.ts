// `tensorshrink imatrix` and `tensorshrink eval`: argument handling, progress and output. The work lives in
// src/calib (collectStats) and src/eval (evaluate); files are read and written here (Node/Deno/Bun).
import { TensorshrinkError } from "../errors";
import { init } from "../engine/init";
import type { Engine } from "../engine/engine";
import { openFileSink, openFileSource, type FileSink } from "../formats/source";
import { openModel } from "../model/open";
import type { ModelSource } from "../model/source";
import { LlamaModel } from "../nn/model";
import { Tokenizer } from "../tokenizer/tokenizer";
import { collectStats } from "../calib/collect";
import { guardSignals } from "./signals";
import { safeText } from "./escape";
import { evaluate, type EvaluateResult } from "../eval/evaluate";
import { decodeText, splitDocuments } from "../eval/text";
import type { Args } from "./main";
import { intOption, threadsOf, positionals, stderrBar } from "./commands";

const one = (a: Args, k: string) => a.opts.get(k)?.at(-1);

// Numeric options: plain decimal integers only, as every command (see commands.ts).
const intOpt = intOption;

async function readText(file: string): Promise<{ text: string; bytes: number }> {
  const fs = await import("node:fs/promises");
  let b: Uint8Array;
  try { b = new Uint8Array(await fs.readFile(file)); } catch (e) { throw new TensorshrinkError("E_IO", `cannot read --text ${file}: ${(e as Error).message}`, { file }); }
  return { text: decodeText(b, file), bytes: b.length };
}

/** The progress bar of imatrix and eval (commands.ts's {@link stderrBar}): done/total tokens, tokens/s, ETA. */
function bar(enabled: boolean, label: string) {
  const b = stderrBar(enabled, label);
  return {
    update(done: number, total: number, tps: number, eta: number, what: string) {
      b.draw(done, total, () => `${what} ${tps.toFixed(0)} tok/s ETA ${eta.toFixed(0)}s`);
    },
    done: b.done,
  };
}

interface Opened { source: ModelSource; model: LlamaModel; tokenizer: Tokenizer; close(): Promise<void> }

/** Opens any model input (GGUF, llama2.c + tokenizer, HF dir) for the forward pass, with its tokenizer. */
async function openForward(engine: Engine, input: string, a: Args, nCtx: number | undefined): Promise<Opened> {
  const source = await openModel(input, engine, { tokenizer: one(a, "--tokenizer") });
  try {
    const tokenizer = Tokenizer.fromGguf({ kv: new Map(source.metadata.map((kv) => [kv.key, kv])) });
    const model = await LlamaModel.open(engine, source, { nCtx, kvF16: a.flags.has("--kv-f16") });
    return { source, model, tokenizer, async close() { model.dispose(); await source.close?.(); } };
  } catch (e) {
    await source.close?.();
    throw e;
  }
}

/** `tensorshrink imatrix <model> --text F [-o out.gguf] [--ctx 512] [--chunks N] [--legacy] [--threads N] [--process-output] [--kv-f16]` */
export async function runImatrix(a: Args): Promise<number> {
  const [input] = positionals(a, 1, "usage: tensorshrink imatrix <model> --text F [-o out.gguf] [options]");
  const textFile = one(a, "--text");
  if (!input || !textFile) throw new TensorshrinkError("E_RANGE", "usage: tensorshrink imatrix <model> --text F [-o out.gguf] [--ctx 512] [--chunks N] [--legacy] [--threads N] [--tokenizer F] [--process-output] [--kv-f16] [--json]");
  const ctx = intOpt(a, "--ctx", 1, 1 << 20) ?? 512;
  const chunks = intOpt(a, "--chunks", 1, 1 << 30);
  const out = one(a, "--output") ?? (a.flags.has("--legacy") ? "imatrix.dat" : "imatrix.gguf");
  const legacy = a.flags.has("--legacy") || /\.dat$/i.test(out);
  const { text } = await readText(textFile);
  // signals (src/cli/signals.ts): the handlers go in first and stay until exit; the sink is tracked
  return guardSignals(async (sig) => {
    const engine = await init({ threads: await threadsOf(a) });
    let m: Opened | undefined;
    let sink: FileSink | undefined;
    const json = a.flags.has("--json");
    const b = bar(!!process.stderr.isTTY && !json, "imatrix");
    try {
      // the output is checked (not an input, a writable directory) before the collection; its temp file appears at the write
      sink = sig.track(await openFileSink(out, { inputs: [input, textFile, one(a, "--tokenizer")] }));
      m = await openForward(engine, input, a, ctx);
      // as llama-imatrix: the whole text tokenized with BOS first (a trailing newline dropped, as its -f does)
      const tokens = m.tokenizer.encode(text.endsWith("\n") ? text.slice(0, -1) : text, { addBos: true });
      if (!json) process.stderr.write(`tensorshrink: imatrix: ${tokens.length} tokens of ${safeText(textFile)}, chunks of ${ctx}${chunks !== undefined ? ` (at most ${chunks})` : ""} -> ${safeText(out)}\n`);
      const t0 = Date.now();
      const stats = await collectStats(engine, m.model, tokens, {
        ctx, chunks, processOutput: a.flags.has("--process-output"), dataset: textFile, signal: sig.signal,
        onProgress: (p) => b.update(p.tokensDone, p.tokensTotal, p.tokensPerSecond, p.etaSeconds, `chunk ${p.chunk}/${p.chunks}`),
      });
      b.done();
      const bytes = stats.encodeImatrix(legacy ? "legacy" : "gguf", { includeOutput: a.flags.has("--process-output") });
      await sink.write(bytes);
      await sink.commit();
      const secs = (Date.now() - t0) / 1000;
      const entries = stats.toImatrix({ includeOutput: a.flags.has("--process-output") }).size;
      const rep = { input, text: textFile, output: out, format: legacy ? "legacy" : "gguf", tokens: tokens.length, chunks: stats.chunkCount, ctx, entries, bytes: bytes.length, seconds: secs, tokensPerSecond: stats.tokens / secs, blockInfluence: Array.from(stats.blockInfluence) };
      if (json) process.stdout.write(JSON.stringify(rep, null, 1) + "\n");
      else {
        process.stdout.write(`${input}: ${tokens.length} tokens of ${textFile}, ${stats.chunkCount} chunks of ${ctx} (${stats.tokens} tokens evaluated) in ${secs.toFixed(1)} s, ${(stats.tokens / secs).toFixed(0)} tokens/s\n`);
        process.stdout.write(`${out}: ${legacy ? "legacy .dat" : "GGUF"} imatrix, ${entries} entries, ${bytes.length} bytes\n`);
        process.stdout.write(`block influence (1 - cos, mean over tokens): ${Array.from(stats.blockInfluence, (v, l) => `${l}:${v.toFixed(4)}`).join(" ")}\n`);
      }
      return 0;
    } catch (e) {
      await sink?.abort(e); // nothing once committed
      throw e;
    } finally {
      b.done();
      await m?.close();
      engine.dispose();
    }
  });
}

const pct = (x: number) => (100 * x).toFixed(2);

function printEval(r: EvaluateResult, head: string, backend: string): string {
  let s = `${head}(${r.documents} documents, ${r.windows} windows, ${r.tokens} tokens scored, backend ${backend}, ${(r.millis / 1000).toFixed(1)} s)\n\n`;
  s += `  perplexity base    ${r.base.perplexity.toFixed(4)} ± ${r.base.perplexityStderr.toFixed(4)}\n`;
  if (r.other) {
    s += `  perplexity other   ${r.other.perplexity.toFixed(4)} ± ${r.other.perplexityStderr.toFixed(4)}  (ratio ${(r.other.perplexity / r.base.perplexity).toFixed(5)})\n`;
    s += `  KLD(base||other)   mean ${r.kld!.mean.toFixed(6)} ± ${r.kld!.stderr.toFixed(6)}  median ${r.kld!.median.toFixed(6)}  p99 ${r.kld!.p99.toFixed(5)}  max ${r.kld!.max.toFixed(5)} nats\n`;
    s += `  top-1 agreement    ${pct(r.top1Agreement!)} ± ${pct(r.top1AgreementStderr!)} %\n`;
    s += `  mean Δp            ${pct(r.deltaP!.mean)} ± ${pct(r.deltaP!.stderr)} %  (RMS ${pct(r.deltaP!.rms)} %)\n`;
  }
  return s;
}

/**
 * `tensorshrink eval <base> [<other>] --text F [--backend engine|llama.cpp] [--ctx N] [--save-logits F]`
 * `tensorshrink eval <other> --base-logits F --text F`
 */
export async function runEvaluate(a: Args): Promise<number> {
  const textFile = one(a, "--text");
  const baseLogits = one(a, "--base-logits"), saveLogits = one(a, "--save-logits");
  const backend = one(a, "--backend") ?? "engine";
  const usage = "usage: tensorshrink eval <base> <other> --text F [--backend engine|llama.cpp] [--ctx N] [--threads N] [--save-logits F] [--kv-f16] [--json]\n       tensorshrink eval <base> --text F --save-logits F\n       tensorshrink eval <other> --text F --base-logits F";
  positionals(a, baseLogits ? 1 : 2, usage);
  if (!textFile || a._.length < 1 || a._.length > 2 || (baseLogits && a._.length !== 1) || (!baseLogits && !saveLogits && a._.length !== 2)) throw new TensorshrinkError("E_RANGE", usage);
  if (backend !== "engine" && backend !== "llama.cpp") throw new TensorshrinkError("E_RANGE", `--backend must be engine or llama.cpp, got "${backend}"`);
  const threads = await threadsOf(a);
  const ctxOpt = intOpt(a, "--ctx", 2, 1 << 20);
  const json = a.flags.has("--json");
  if (backend === "llama.cpp") {
    if (baseLogits || saveLogits) throw new TensorshrinkError("E_RANGE", "--save-logits / --base-logits need the engine backend (llama-perplexity has its own --kl-divergence-base)");
    if (a._.length !== 2) throw new TensorshrinkError("E_RANGE", usage);
    const { evaluatePair } = await import("../eval/llama");
    const { text } = await readText(textFile);
    const r = await evaluatePair(a._[0]!, a._[1]!, text, { threads: threads ?? 2, contextSize: ctxOpt });
    if (json) process.stdout.write(JSON.stringify({ backend, ...r }, null, 1) + "\n");
    else process.stdout.write(`base:  ${a._[0]}\nother: ${a._[1]}\ntext:  ${textFile} (${r.tokens} tokens scored, backend llama.cpp)\n\n  perplexity base   ${r.perplexityBase.toFixed(4)}\n  perplexity other  ${r.perplexityOther.toFixed(4)}\n  mean KL(base||other) ${r.meanKld.toFixed(6)} ± ${r.meanKldStderr.toFixed(6)} nats, p99 ${r.p99Kld.toFixed(5)}\n  top-1 agreement   ${pct(r.top1Agreement)}%\n`);
    return 0;
  }
  const { text } = await readText(textFile);
  return guardSignals(async (sig) => {
    const engine = await init({ threads: threads ?? 0 });
    const opened: Opened[] = [];
    const b = bar(!!process.stderr.isTTY && !json, "eval");
    let logitSrc: Awaited<ReturnType<typeof openFileSource>> | undefined;
    try {
      const [p0, p1] = a._;
      const basePath = baseLogits ? undefined : p0;
      const otherPath = baseLogits ? p0 : p1;
      let ctx = ctxOpt;
      if (baseLogits) logitSrc = await openFileSource(baseLogits);
      const open = async (p: string) => { const m = await openForward(engine, p, a, ctx ?? 2048); opened.push(m); return m; };
      const base = basePath ? await open(basePath) : undefined;
      if (base && ctx === undefined) ctx = Math.min(base.model.config.nCtxTrain || 2048, 2048);
      const other = otherPath ? await open(otherPath) : undefined;
      const tok = (base ?? other)!.tokenizer;
      const documents = splitDocuments(text).map((d) => tok.encode(d, { addBos: false }));
      // a line before the first window finishes (the bar follows on a TTY)
      if (!json) process.stderr.write(`tensorshrink: eval: ${documents.reduce((n, d) => n + d.length, 0)} tokens in ${documents.length} documents of ${textFile}, context ${ctx ?? 2048}\n`);
      const sink = saveLogits ? sig.track(await openFileSink(saveLogits, { inputs: [p0, p1, textFile] })) : undefined;
      const r = await evaluate({
        base: base?.model, other: other?.model, documents, ctx, baseLogits: logitSrc, saveLogits: sink, signal: sig.signal,
        modelInfo: base ? { file: basePath, name: base.source.name, nLayer: base.model.config.nLayer, nEmbd: base.model.config.nEmbd, nVocab: base.model.config.nVocab } : undefined,
        onProgress: (p) => b.update(p.tokensDone, p.tokensTotal, p.tokensPerSecond, p.etaSeconds, `window ${p.window}/${p.windows}`),
      });
      b.done();
      // the flat fields of the llama.cpp backend's JSON too (perplexityBase, meanKld, ...), for scripts written against it
      const flat = r.other ? { perplexityBase: r.base.perplexity, perplexityOther: r.other.perplexity, meanKld: r.kld!.mean, meanKldStderr: r.kld!.stderr, p99Kld: r.kld!.p99, top1Agreement: r.top1Agreement! } : { perplexityBase: r.base.perplexity };
      if (json) process.stdout.write(JSON.stringify({ backend, baseModel: basePath ?? null, baseLogits: baseLogits ?? null, otherModel: otherPath ?? null, text: textFile, savedLogits: saveLogits ?? null, ...flat, ...r }, null, 1) + "\n");
      else process.stdout.write(printEval(r, `base:  ${basePath ?? `(saved log-probs ${baseLogits})`}\n${otherPath ? `other: ${otherPath}\n` : ""}text:  ${textFile} `, "engine") + (saveLogits ? `\nbase log-probs saved to ${saveLogits}\n` : ""));
      return 0;
    } finally {
      b.done();
      for (const m of opened) await m.close();
      await logitSrc?.close?.();
      engine.dispose();
    }
  });
}
