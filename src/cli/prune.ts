// `tensorshrink prune` and `tensorshrink quantize ... --prune method:target`: argument handling, progress per layer,
// the mask file and the evaluation table. The work is in src/prune (methods on the quantizeModel seam).
import { TensorshrinkError } from "../errors";
import { init } from "../engine/init";
import type { Engine } from "../engine/engine";
import type { ModelSource } from "../model/source";
import { openFileSink, checkOutputNotInput } from "../formats/source";
import { openModel } from "../model/open";
import { quantizeModel } from "../model/quantize";
import { lookupFtype } from "../model/recipes";
import { Tokenizer } from "../tokenizer/tokenizer";
import { LlamaModel } from "../nn/model";
import { evaluate } from "../eval/evaluate";
import { decodeText, splitDocuments } from "../eval/text";
import { pruneMethod, type PruneMethod, type PruneMethodOptions } from "../prune/methods";
import { parseNM, packMask } from "../prune/masks";
import { encodeMaskFile, type MaskEntry } from "../prune/maskfile";
import { pruneFfnChannels, pruneLayers } from "../prune/structured";
import { pruneHeads } from "../prune/heads";
import { collectInputMeans } from "../prune/bias";
import { collectStats } from "../calib/collect";
import { guardSignals, type SignalGuard } from "./signals";
import type { Args } from "./main";

const one = (a: Args, k: string) => a.opts.get(k)?.at(-1);

async function readText(file: string, what: string): Promise<string> {
  const fs = await import("node:fs/promises");
  try { return decodeText(new Uint8Array(await fs.readFile(file)), file); } catch (e) {
    if (e instanceof TensorshrinkError) throw e;
    throw new TensorshrinkError("E_IO", `cannot read ${what} ${file}: ${(e as Error).message}`, { file });
  }
}

/** Parses the pruning target: --method + (--sparsity | --nm), or "method:0.5" / "method:2:4" for --prune. */
export function parsePruneSpec(method: string | undefined, sparsity: string | undefined, nm: string | undefined): PruneMethodOptions {
  const m = (method ?? "magnitude") as PruneMethod;
  if (!["magnitude", "wanda", "sparsegpt"].includes(m)) throw new TensorshrinkError("E_RANGE", `--method must be magnitude, wanda or sparsegpt, got "${method}"`);
  if ((sparsity === undefined) === (nm === undefined)) throw new TensorshrinkError("E_RANGE", "give exactly one of --sparsity F or --nm N:M");
  if (sparsity !== undefined) {
    const s = Number(sparsity);
    if (!/^\s*[0-9.]+\s*$/.test(sparsity) || !(s >= 0 && s < 1)) throw new TensorshrinkError("E_RANGE", `--sparsity must be a number in [0, 1), got "${sparsity}"`);
    return { method: m, sparsity: s };
  }
  return { method: m, nm: parseNM(nm!) };
}

function parseKeep(k: string | undefined): RegExp | undefined {
  if (k === undefined) return undefined;
  try { return new RegExp(k); } catch (e) { throw new TensorshrinkError("E_RANGE", `--keep is not a valid regular expression: ${(e as Error).message}`); }
}

/** `tensorshrink prune <in> <out.gguf> --ffn F | --heads F | --layers N [--scope layer|global] [--calib F] [--ftype F16]`: structured pruning. */
async function runStructured(a: Args, input: string, output: string): Promise<number> {
  const ffn = one(a, "--ffn"), heads = one(a, "--heads"), layers = one(a, "--layers");
  if ([ffn, heads, layers].filter((x) => x !== undefined).length !== 1) throw new TensorshrinkError("E_RANGE", "give one of --ffn F, --heads F or --layers N");
  const frac = ffn !== undefined ? Number(ffn) : heads !== undefined ? Number(heads) : 0, nl = layers !== undefined ? Number(layers) : 0;
  if (ffn !== undefined && !(/^\s*[0-9.]+\s*$/.test(ffn) && frac >= 0 && frac < 1)) throw new TensorshrinkError("E_RANGE", `--ffn must be a fraction in [0, 1), got "${ffn}"`);
  if (heads !== undefined && !(/^\s*[0-9.]+\s*$/.test(heads) && frac >= 0 && frac < 1)) throw new TensorshrinkError("E_RANGE", `--heads must be a fraction in [0, 1), got "${heads}"`);
  if (layers !== undefined && !(Number.isInteger(nl) && nl >= 0)) throw new TensorshrinkError("E_RANGE", `--layers must be a non-negative integer, got "${layers}"`);
  const scope = one(a, "--scope") ?? "layer";
  if (scope !== "layer" && scope !== "global") throw new TensorshrinkError("E_RANGE", `--scope must be layer or global, got "${scope}"`);
  if (layers !== undefined && a.opts.has("--scope")) throw new TensorshrinkError("E_RANGE", "--scope applies to --ffn and --heads, not --layers");
  const calibFile = one(a, "--calib");
  const biasComp = a.flags.has("--bias-compensation");
  if (biasComp && layers !== undefined) throw new TensorshrinkError("E_RANGE", "--bias-compensation applies to --ffn and --heads, not --layers");
  if (biasComp && !calibFile) throw new TensorshrinkError("E_RANGE", "--bias-compensation needs --calib <text> (the mean of every removed channel)");
  if (layers !== undefined && !calibFile) throw new TensorshrinkError("E_RANGE", "--layers needs --calib <text> (Block Influence)");
  const ftype = lookupFtype(one(a, "--ftype") ?? "F16").name;
  const calibText = calibFile ? await readText(calibFile, "--calib") : null;
  const ctx = Number(one(a, "--ctx") ?? 128), chunks = one(a, "--chunks") !== undefined ? Number(one(a, "--chunks")) : undefined;
  const engine = await init({ threads: one(a, "--threads") !== undefined ? Number(one(a, "--threads")) : undefined });
  return guardedJob(engine, async (sig, opened) => {
    const model = opened(await openModel(input, engine, { tokenizer: one(a, "--tokenizer") }));
    await checkOutputNotInput(output, model.files ?? []);
    if (layers !== undefined && !(nl < model.hparams.nLayer)) throw new TensorshrinkError("E_RANGE", `--layers ${nl} would remove every layer (the model has ${model.hparams.nLayer})`);
    let stats = null, means = null;
    if (calibText) {
      const tokenizer = Tokenizer.fromGguf({ kv: new Map(model.metadata.map((kv) => [kv.key, kv])) });
      const m = await LlamaModel.open(engine, model, { nCtx: ctx });
      const toks = Int32Array.from(tokenizer.encode(calibText, { addBos: true }));
      try {
        stats = await collectStats(engine, m, toks, { ctx, chunks, signal: sig.signal });
        if (biasComp) means = await collectInputMeans(engine, m, toks, { ctx, chunks, signal: sig.signal });
      } finally { m.dispose(); }
    }
    const r = ffn !== undefined ? await pruneFfnChannels(model, frac, stats, { scope, biasCompensation: means }) : heads !== undefined ? await pruneHeads(model, frac, stats, { scope, biasCompensation: means }) : pruneLayers(model, nl, stats!.blockInfluence);
    const arch = String(r.source.metadata.find((k) => k.key === "general.architecture")?.value);
    const what = ffn !== undefined ? `FFN -${(100 * frac).toFixed(0)}% (channels kept per block: ${r.kept.map((k) => k.length).join(",")})`
      : heads !== undefined ? `heads -${(100 * frac).toFixed(0)}% (KV groups kept per block: ${r.kept.map((k) => k.length).join(",")})`
      : `${nl} layer(s) removed (kept ${r.kept[0].join(",")})`;
    const withBias = means ? `, bias compensation (${ffn !== undefined ? "ffn_down.bias" : "attn_output.bias"} in every block)` : "";
    const sink = await openFileSink(output, { inputs: [input, ...(model.files ?? [])] });
    sig.track(sink);
    const rep = await quantizeModel(engine, r.source, sink, { ftype, signal: sig.signal });
    process.stdout.write(`${input} -> ${output}: ${what}, ${r.paramsBefore} -> ${r.paramsAfter} parameters${withBias}, architecture ${arch}, ${ftype}, ${rep.fileSize} bytes\n`);
    return 0;
  });
}

/**
 * Runs a prune job under {@link guardSignals}: an error caused by a signal is reported as the
 * signal's; the model (once `opened` is given it) and the engine are released whatever happens, then
 * the signal guard is finished.
 */
async function guardedJob(engine: Engine, job: (sig: SignalGuard, opened: <M extends ModelSource>(m: M) => M) => Promise<number>): Promise<number> {
  return guardSignals(async (sig) => {
    let model: ModelSource | null = null;
    try {
      return await job(sig, <M extends ModelSource>(m: M): M => { model = m; return m; });
    } finally {
      await (model as ModelSource | null)?.close?.();
      engine.dispose();
    }
  });
}

/**
 * `tensorshrink prune <in> <out.gguf> --method magnitude|wanda|sparsegpt (--sparsity F | --nm N:M) [--calib F]
 *   [--keep RE] [--mask-out F] [--ftype F32] [--ctx 128] [--chunks N] [--threads N] [--tokenizer F]`, and
 * `tensorshrink quantize <in> <out.gguf> <FTYPE> --prune method:0.5|method:2:4 --calib F [--eval F]` (via `ftypeArg`).
 */
export async function runPrune(a: Args, recipe?: { ftype: string }): Promise<number> {
  const [input, output] = a._;
  const usage = recipe
    ? "usage: tensorshrink quantize <in> <out.gguf> <FTYPE> --prune magnitude|wanda|sparsegpt|sparsegpt-joint:0.5|2:4 [--joint] [--calib F] [--eval F]"
    : "usage: tensorshrink prune <in> <out.gguf> --method magnitude|wanda|sparsegpt (--sparsity 0.5 | --nm 2:4) [--calib F] [--keep RE] [--mask-out F] [--ftype F16]";
  if (!input || !output) throw new TensorshrinkError("E_RANGE", usage);
  if (!recipe && (a.opts.has("--ffn") || a.opts.has("--heads") || a.opts.has("--layers"))) return runStructured(a, input, output);
  let spec: PruneMethodOptions;
  if (recipe) {
    const p = one(a, "--prune")!;
    const r = /^(magnitude|wanda|sparsegpt)(-joint)?:(.+)$/.exec(p);
    if (!r || (r[2] && r[1] !== "sparsegpt")) throw new TensorshrinkError("E_RANGE", `--prune must look like sparsegpt:0.5, sparsegpt-joint:0.5 or wanda:2:4, got "${p}"`);
    spec = r[3].includes(":") ? parsePruneSpec(r[1], undefined, r[3]) : parsePruneSpec(r[1], r[3], undefined);
    if (r[2]) spec.joint = true;
  } else spec = parsePruneSpec(one(a, "--method"), one(a, "--sparsity"), one(a, "--nm"));
  if (a.flags.has("--joint")) {
    if (spec.method !== "sparsegpt") throw new TensorshrinkError("E_RANGE", `--joint (prune + quantize in one sweep) is SparseGPT's, not ${spec.method}'s`);
    spec.joint = true;
  }
  spec.keep = parseKeep(one(a, "--keep"));
  const ftype = lookupFtype(recipe?.ftype ?? one(a, "--ftype") ?? "F16").name;
  const calibFile = one(a, "--calib"), evalFile = one(a, "--eval"), maskOut = one(a, "--mask-out");
  if (spec.method !== "magnitude" && !calibFile) throw new TensorshrinkError("E_RANGE", `--method ${spec.method} needs --calib <text> (activation statistics); magnitude does not`);
  const ctx = Number(one(a, "--ctx") ?? 128), chunks = one(a, "--chunks") !== undefined ? Number(one(a, "--chunks")) : undefined;
  if (!Number.isInteger(ctx) || ctx < 2) throw new TensorshrinkError("E_RANGE", `--ctx must be an integer >= 2, got ${one(a, "--ctx")}`);
  if (chunks !== undefined && !(Number.isInteger(chunks) && chunks >= 1)) throw new TensorshrinkError("E_RANGE", `--chunks must be a positive integer, got ${one(a, "--chunks")}`);
  const calibText = calibFile ? await readText(calibFile, "--calib") : null;
  const evalText = evalFile ? await readText(evalFile, "--eval") : null;
  const threads = one(a, "--threads") !== undefined ? Number(one(a, "--threads")) : undefined;
  const json = a.flags.has("--json");
  const log = (s: string) => { if (!json) process.stderr.write(s); };
  const engine = await init({ threads });
  return guardedJob(engine, async (sig, opened) => {
    const model = opened(await openModel(input, engine, { tokenizer: one(a, "--tokenizer") }));
    await checkOutputNotInput(output, model.files ?? []);
    const tokenizer = Tokenizer.fromGguf({ kv: new Map(model.metadata.map((kv) => [kv.key, kv])) });
    const masks: MaskEntry[] = [];
    let kept = 0, total = 0;
    spec.onMask = (name, mask, rows, cols) => {
      for (let i = 0; i < mask.length; i++) kept += mask[i];
      total += mask.length;
      if (maskOut) masks.push({ name, rows, cols, bits: packMask(engine, mask) });
    };
    const method = pruneMethod(spec);
    const tokens = calibText ? Int32Array.from(tokenizer.encode(calibText, { addBos: true })) : undefined;
    const sink = await openFileSink(output, { inputs: [input, ...(model.files ?? [])] });
    sig.track(sink);
    const t0 = Date.now();
    const report = await quantizeModel(engine, model, sink, {
      ftype, methods: [method], calibration: tokens ? { tokens, ctx, chunks, dataset: calibFile } : undefined, signal: sig.signal,
      onLayer: (p: { layer: number; layers: number; seconds: number }) => log(`prune ${spec.method}: layer ${p.layer + 1}/${p.layers} (${p.seconds.toFixed(1)} s)\n`),
    } as any);
    const secs = (Date.now() - t0) / 1000;
    if (maskOut) {
      const ms = await openFileSink(maskOut, { inputs: [input, output, ...(model.files ?? [])] });
      sig.track(ms);
      try { await ms.write(encodeMaskFile(masks, { method: spec.method, target: spec.nm ? `${(spec.nm as any).n}:${(spec.nm as any).m}` : String(spec.sparsity) })); await ms.commit(); } catch (e) { await ms.abort(e); throw e; }
    }
    const res: Record<string, unknown> = { input, output, method: spec.method + (spec.joint ? "-joint" : ""), target: spec.nm ?? spec.sparsity, ftype, prunedTensors: masks.length || undefined, sparsity: total ? 1 - kept / total : 0, fileSize: report.fileSize, seconds: secs };
    if (!json) process.stdout.write(`${input} -> ${output}: ${spec.method}${spec.joint ? " (joint prune + quantize)" : ""} ${spec.nm ? `${(spec.nm as any).n}:${(spec.nm as any).m}` : spec.sparsity}, ${(100 * (total ? 1 - kept / total : 0)).toFixed(2)}% of the pruned tensors' weights are zero, ${ftype}, ${report.fileSize} bytes, ${secs.toFixed(1)} s${maskOut ? `; masks -> ${maskOut}` : ""}\n`);
    if (evalText) {
      const docs = splitDocuments(evalText).map((d) => tokenizer.encode(d, { addBos: false }));
      const base = await LlamaModel.open(engine, model, { nCtx: ctx });
      const outSrc = await openModel(output, engine);
      const other = await LlamaModel.open(engine, outSrc, { nCtx: ctx });
      try {
        const r = await evaluate({ base, other, documents: docs, ctx });
        res.eval = { basePerplexity: r.base.perplexity, perplexity: r.other!.perplexity, kld: r.kld!.mean, top1: r.top1Agreement };
        if (!json) process.stdout.write(`\n| model | perplexity | mean KLD | top-1 % |\n|---|---:|---:|---:|\n| ${input} | ${r.base.perplexity.toFixed(4)} | | |\n| ${output} | ${r.other!.perplexity.toFixed(4)} | ${r.kld!.mean.toFixed(5)} | ${(100 * r.top1Agreement!).toFixed(2)} |\n(engine forward pass, ${r.tokens} tokens of ${evalFile}, windows of ${ctx})\n`);
      } finally { other.dispose(); base.dispose(); await outSrc.close?.(); }
    }
    if (json) process.stdout.write(JSON.stringify(res, null, 1) + "\n");
    return 0;
  });
}
