// The CLI's commands: argument handling, progress and tables. The work itself lives in src/model.
import { TensorshrinkError } from "../errors";
import { init } from "../engine/init";
import type { Engine } from "../engine/engine";
import { openFileSink, openFileSource, openSource, memorySink, checkOutputNotInput } from "../formats/source";
import { safeText, safeJson } from "./escape";
import { guardSignals } from "./signals";
import { readGguf, ggufValueToJSON } from "../formats/gguf";
import { quantizeModel, type QuantizeReport, type QuantizeProgress } from "../model/quantize";
import { parseRule, lookupFtype, FTYPES, planModel } from "../model/recipes";
import { parseKvOverride } from "../model/kv-override";
import { lookupType } from "../quant/types";
import { openModel } from "../model/open";
import { readImatrix } from "../formats/imatrix";
import type { Args } from "./main";
// The tokenizer (--calib), EoRA and its adapter writer (--eora), GPTQ act-order, the safetensors
// reader (inspect) and the synthetic model (demo) are imported where they are used: the plain
// quantize path does not load them (the CLI is split into chunks, see main.ts).
import type { MethodSpec } from "../methods/types";
import { adapterTypeOpt } from "./adapter-type";

const one = (a: Args, k: string) => a.opts.get(k)?.at(-1);

/** A plain decimal integer (digits only: no sign, exponent, hex, spaces or fraction) in [min, max], or E_RANGE naming the option. */
export function intOption(a: Args, k: string, min: number, max: number): number | undefined {
  const t = one(a, k);
  if (t === undefined) return undefined;
  const n = /^[0-9]{1,16}$/.test(t) ? Number(t) : NaN;
  if (!(n >= min && n <= max)) throw new TensorshrinkError("E_RANGE", `${k} must be a plain decimal integer from ${min} to ${max}, got "${safeText(t)}"`, { option: k, value: t });
  return n;
}

/** Logical cores of this machine (os.availableParallelism, else navigator.hardwareConcurrency, else 1). */
async function coreCount(): Promise<number> {
  try {
    const os = await import("node:os");
    const n = typeof os.availableParallelism === "function" ? os.availableParallelism() : os.cpus().length;
    if (n >= 1) return n;
  } catch { /* not Node */ }
  const h = (globalThis as any).navigator?.hardwareConcurrency;
  return typeof h === "number" && h >= 1 ? h : 1;
}

/** Most worker threads the CLI starts: 4 x the cores (each worker holds a wasm instance and its buffers). */
export const THREADS_PER_CORE_CAP = 4;

/** --threads / -t: a plain decimal integer >= 1; above 4 x the cores it is capped, with a note on stderr. */
export async function threadsOf(a: Args): Promise<number | undefined> {
  const n = intOption(a, "--threads", 1, Number.MAX_SAFE_INTEGER);
  if (n === undefined) return undefined;
  const cores = await coreCount();
  const cap = THREADS_PER_CORE_CAP * cores;
  if (n > cap) {
    process.stderr.write(`tensorshrink: --threads ${n} capped to ${cap} (${THREADS_PER_CORE_CAP} x ${cores} cores)\n`);
    return cap;
  }
  return n;
}

/** Refuses positionals beyond the `n` a command takes, naming the first extra one. */
export function positionals(a: Args, n: number, usage: string): string[] {
  if (a._.length > n) throw new TensorshrinkError("E_RANGE", `unexpected argument "${safeText(a._[n])}"; ${usage}`, { argument: a._[n] });
  return a._;
}

const fmtBytes = (n: number) => (n >= 1e9 ? `${(n / 1e9).toFixed(2)} GB` : n >= 1e6 ? `${(n / 1e6).toFixed(2)} MB` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} kB` : `${n} B`);
const fmtSqnr = (v: number | null) => (v === null ? "—" : v === Infinity ? "exact" : `${v.toFixed(2)} dB`);

/**
 * The CLI's one progress bar: one line on stderr when `enabled` (a TTY), redrawn at most every 100 ms
 * and always at the end: `[label ][########................]  33% text`, cut to the terminal's width.
 * `done()` clears the line.
 */
export function stderrBar(enabled: boolean, label = "") {
  let last = 0;
  return {
    /** Draws `done` of `total` (any unit) with `text` after the percentage; `text` is built only when drawn. */
    draw(done: number, total: number, text: () => string) {
      if (!enabled) return;
      const now = Date.now();
      if (now - last < 100 && done < total) return;
      last = now;
      const f = total ? done / total : 1, w = 24, fill = Math.round(f * w);
      const line = `${label ? `${label} ` : ""}[${"#".repeat(fill)}${".".repeat(w - fill)}] ${(f * 100).toFixed(0).padStart(3)}% ${text()}`;
      process.stderr.write(`\r${line.slice(0, (process.stderr.columns || 120) - 1)}`);
    },
    done() {
      if (enabled) process.stderr.write("\r\x1b[K");
    },
  };
}

/** The quantize progress bar ({@link stderrBar}): tensor k/n and name, MB/s of f32 input, ETA. */
export function progressBar(enabled: boolean) {
  const bar = stderrBar(enabled);
  return {
    update(p: QuantizeProgress) {
      bar.draw(p.doneBytes, p.totalBytes, () => {
        const frac = p.totalBytes ? p.doneBytes / p.totalBytes : 1;
        const mbs = p.doneBytes / 1e6 / Math.max(p.elapsedMs / 1000, 1e-3);
        const eta = frac > 0 ? ((p.elapsedMs / 1000) * (1 - frac)) / frac : 0;
        return `${p.tensorIndex + 1}/${p.tensorCount} ${safeText(p.tensor).slice(0, 32).padEnd(32)} ${mbs.toFixed(0)} MB/s ETA ${eta.toFixed(0)}s`;
      });
    },
    done: bar.done,
  };
}

/** The per-tensor table and totals, as text. */
export function formatReport(r: QuantizeReport, title = ""): string {
  const rows = r.tensors.map((t) => [safeText(t.name), `${t.inType}→${t.type}`, fmtBytes(t.bytesBefore), fmtBytes(t.bytesAfter), fmtSqnr(t.sqnrDb)]);
  const head = ["tensor", "type", "before", "after", "SQNR"];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((x) => x[i].length)));
  const line = (c: string[]) => c.map((s, i) => (i >= 2 ? s.padStart(w[i]) : s.padEnd(w[i]))).join("  ");
  let out = title ? `${safeText(title)}\n` : "";
  out += line(head) + "\n" + w.map((n) => "-".repeat(n)).join("  ") + "\n";
  for (const x of rows) out += line(x) + "\n";
  out += `\n${r.ftype}: ${r.tensors.length} tensors, ${r.params.toLocaleString("en-US")} parameters, file ${fmtBytes(r.fileSize)}, ` +
    `${r.bitsPerWeight.toFixed(3)} bits/weight, ${r.seconds.toFixed(2)} s (${r.mbPerSecond.toFixed(1)} MB/s of f32 input)\n`;
  return out;
}

/**
 * The fallback lines of a report: tensors whose rows do not fit the planned block type, grouped by
 * from → to, e.g. "35 of 36 quantized tensors fell back: q4_K → q5_0 (cols 64 % 256)". Empty when none.
 */
export function fallbackSummary(r: QuantizeReport): string[] {
  const quantized = r.tensors.filter((t) => t.type !== t.inType).length;
  const groups = new Map<string, number>();
  for (const t of r.tensors) {
    const m = /fallback (.*)$/.exec(t.reason);
    if (m) groups.set(m[1], (groups.get(m[1]) ?? 0) + 1);
  }
  return [...groups].map(([what, n]) => `${n} of ${quantized} quantized tensors fell back: ${what}`);
}

/** Bits per weight of the ftype's base type on a model where every tensor fits it (q4_0: 4.5, q2_K: 2.625). */
const nominalBpw = (ftype: string): number | null => {
  try { return lookupType(lookupFtype(ftype).base).bitsPerWeight; } catch { return null; }
};

/**
 * A warning when the recipe degenerated on this model: the quantized tensors average more than 1.5
 * bits/weight above the base type's nominal size (e.g. Q2_K whose 64-wide rows all fell back to q4_0:
 * the size of Q4_0). Null otherwise.
 */
export function degenerateWarning(r: QuantizeReport): string | null {
  const nominal = nominalBpw(r.ftype);
  const q = r.tensors.filter((t) => t.type !== t.inType && !/^(output|token embedding type|output tensor type)$/.test(t.reason) && t.name !== "output.weight" && t.name !== "token_embd.weight");
  if (nominal === null || nominal >= 16 || q.length === 0) return null;
  const params = q.reduce((s, t) => s + t.ne.reduce((a, b) => a * b, 1), 0);
  const bits = q.reduce((s, t) => s + 8 * t.bytesAfter, 0) / params;
  if (bits <= nominal + 1.5) return null;
  const fell = q.filter((t) => t.reason.startsWith("fallback")).length;
  // the ftype whose base type is nearest in size: "the size of Q4_0"
  let near = "", best = Infinity;
  for (const f of ["Q2_K", "Q3_K_M", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q6_K", "Q8_0", "F16"]) {
    const d = Math.abs((nominalBpw(f) ?? 99) - bits);
    if (d < best) { best = d; near = f; }
  }
  return `warning: ${r.ftype} degenerated on this model: its layer tensors average ${bits.toFixed(2)} bits/weight (${lookupFtype(r.ftype).base} alone: ${nominal.toFixed(2)}), about the size of ${near}` +
    (fell ? `; ${fell} of ${q.length} fell back to other types because their rows do not fit ${lookupFtype(r.ftype).base}'s blocks` : "");
}

/** llama-quantize's default output: ggml-model-<FTYPE>.gguf in the input's directory (the part up to its last "/"). */
export function defaultOutputName(input: string, ftypeName: string): string {
  const slash = /^https?:\/\//i.test(input) ? -1 : Math.max(input.lastIndexOf("/"), input.lastIndexOf("\\"));
  return `${input.slice(0, slash + 1)}ggml-model-${ftypeName}.gguf`;
}

/** The ftype argument as llama-quantize reads it: a name, an alias, a LLAMA_FTYPE number or COPY. Null when it is none of these. */
function ftypeArgument(s: string | undefined): { name: string; copy: boolean } | null {
  if (s === undefined) return null;
  if (s.toUpperCase() === "COPY") return { name: "COPY", copy: true };
  try {
    const f = lookupFtype(s);
    // the default file name uses the name as given when it is one (Q4_K stays Q4_K), else the ftype's
    return { name: /^[0-9]+$/.test(s) ? f.name : s.toUpperCase(), copy: false };
  } catch { return null; }
}

/** `tensorshrink quantize [options] <input> [<output.gguf>] <FTYPE> [<nthreads>]` */
export async function runQuantize(a: Args): Promise<number> {
  const usage = "usage: tensorshrink quantize [options] <input> [<output.gguf>] <FTYPE> [<nthreads>] (tensorshrink quantize --help lists them)";
  if (a._.length > 4) positionals(a, 4, usage);
  const isInt = (x: string | undefined) => x !== undefined && /^[0-9]{1,6}$/.test(x);
  // as llama-quantize: <input> <FTYPE> [nthreads] (default output name) or <input> <output> <FTYPE> [nthreads]
  const short = ftypeArgument(a._[1]) !== null && (a._.length === 2 || (a._.length === 3 && isInt(a._[2])));
  const input = a._[0];
  const ftypeArg = short ? a._[1] : a._[2];
  const nthreadArg = short ? a._[2] : a._[3];
  if (!input || !ftypeArg) throw new TensorshrinkError("E_RANGE", usage);
  if (a._.length === (short ? 3 : 4) && !isInt(nthreadArg)) positionals(a, short ? 2 : 3, usage);
  // Everything that can be checked is checked before any work: options, then the output path.
  const fa = ftypeArgument(ftypeArg);
  if (!fa) lookupFtype(ftypeArg); // throws E_UNKNOWN_TYPE listing them
  const { name: ftypeName, copy } = fa!;
  const ftype = copy ? "F32" : lookupFtype(ftypeArg).name;
  const output = short ? defaultOutputName(input, ftypeName) : a._[1];
  const rules = (a.opts.get("--rule") ?? []).map(parseRule);
  const kvOverrides = (a.opts.get("--override-kv") ?? []).map(parseKvOverride);
  const outType = one(a, "--output-tensor-type"), embType = one(a, "--token-embedding-type");
  if (outType !== undefined) lookupType(outType);
  if (embType !== undefined) lookupType(embType);
  const include = a.opts.get("--include-weights") ?? [], exclude = a.opts.get("--exclude-weights") ?? [];
  if (include.length && exclude.length) throw new TensorshrinkError("E_RANGE", "--include-weights and --exclude-weights cannot be used together (as in llama-quantize)");
  const pruneArg = one(a, "--prune-layers");
  const pruneLayers = pruneArg === undefined ? undefined : pruneArg.split(",").map((x) => {
    if (!/^[0-9]{1,6}$/.test(x)) throw new TensorshrinkError("E_RANGE", `--prune-layers takes layer numbers separated by commas (e.g. 3,5), got "${pruneArg}"`, { option: "--prune-layers" });
    return Number(x);
  });
  const imPath = one(a, "--imatrix");
  if ((include.length || exclude.length) && !imPath) throw new TensorshrinkError("E_RANGE", "--include-weights / --exclude-weights need --imatrix");
  if (nthreadArg !== undefined && !a.opts.has("--threads")) a.opts.set("--threads", [nthreadArg]);
  const threads = await threadsOf(a);
  const json = a.flags.has("--json");
  const methodArg = one(a, "--method"), calibPath = one(a, "--calib");
  const methodNames = methodArg ? methodArg.split(",").map((m) => m.trim()).filter(Boolean) : undefined;
  if (methodArg && !methodNames!.length) throw new TensorshrinkError("E_RANGE", "--method needs a method name (gptq, awq, search, hqq, rtn)");
  const actOrder = a.flags.has("--act-order");
  if (actOrder && !methodNames?.some((m) => m.toLowerCase() === "gptq")) throw new TensorshrinkError("E_RANGE", "--act-order is a GPTQ option: use it with --method gptq (or a list containing gptq)");
  // --act-order: the gptq of the list runs with act-order (static groups, see README "Calibrated quantization")
  const gptqMethod = actOrder ? (await import("../methods/gptq")).gptqMethod : undefined;
  const methods: MethodSpec[] | undefined = methodNames?.map((m) => (gptqMethod && m.toLowerCase() === "gptq" ? gptqMethod({ actOrder: true }) : m));
  const eoraArg = one(a, "--eora");
  const eoraRank = eoraArg === undefined ? undefined : Number(eoraArg);
  if (eoraArg !== undefined && !(/^[0-9]{1,6}$/.test(eoraArg) && eoraRank! >= 1)) throw new TensorshrinkError("E_RANGE", `--eora takes the adapter rank (an integer >= 1), got "${safeText(eoraArg)}"`, { option: "--eora" });
  if (eoraArg !== undefined && !calibPath) throw new TensorshrinkError("E_RANGE", "--eora needs --calib text (the adapter is fitted to its activations)");
  if ((a.opts.has("--eora-out") || a.opts.has("--adapter-type")) && eoraArg === undefined) throw new TensorshrinkError("E_RANGE", "--eora-out / --adapter-type are only used with --eora");
  const adapterType = adapterTypeOpt(a);
  const eoraOut = eoraArg === undefined ? undefined : one(a, "--eora-out") ?? output.replace(/\.gguf$/i, "") + ".eora.gguf";
  if (eoraOut !== undefined && eoraOut === output) throw new TensorshrinkError("E_RANGE", `--eora-out must differ from the output ${safeText(output)}`);
  if (calibPath && !methods && eoraArg === undefined) throw new TensorshrinkError("E_RANGE", "--calib is only used with --method or --eora");
  const calibCtx = intOption(a, "--ctx", 2, 1 << 20) ?? 512;
  const calibTokens = intOption(a, "--calib-tokens", 2, 2 ** 31);
  // The signal handlers go in first: from here on a signal aborts the job and removes the temp file.
  return guardSignals(async (sig) => {
    const sink = await openFileSink(output, { inputs: [input, imPath, one(a, "--tokenizer")] });
    sig.track(sink);
    const eoraSink = eoraOut !== undefined ? await openFileSink(eoraOut, { inputs: [input, imPath, one(a, "--tokenizer"), calibPath, output] }).catch(async (e) => { await sink.abort(e); throw e; }) : undefined;
    if (eoraSink) sig.track(eoraSink);
    if (!json) process.stderr.write(`tensorshrink: opening ${safeText(input)}\n`);
    const engine = await init({ threads });
    let model: Awaited<ReturnType<typeof openModel>> | null = null;
    const bar = progressBar(!!process.stderr.isTTY && !json);
    try {
      model = await openModel(input, engine, { tokenizer: one(a, "--tokenizer") });
      // every file the job reads is protected: also what the model found itself (shards, config, tokenizer)
      await checkOutputNotInput(output, model.files ?? []);
      let imatrix: Awaited<ReturnType<typeof readImatrix>> | null = null;
      if (imPath) {
        const imSrc = await openFileSource(imPath);
        try { imatrix = await readImatrix(imSrc); } finally { await imSrc.close?.(); }
        // llama-quantize's --include-weights / --exclude-weights: by substring of the tensor name
        if (include.length || exclude.length) {
          for (const k of [...imatrix.keys()]) {
            const hit = (list: string[]) => list.some((w) => k.includes(w));
            if (include.length ? !hit(include) : hit(exclude)) imatrix.delete(k);
          }
        }
      }
      let calibration: { tokens: Int32Array; ctx: number; chunks?: number; dataset?: string } | undefined;
      if (calibPath) {
        const fs = await import("node:fs/promises");
        let text: string;
        try { text = new TextDecoder("utf-8", { fatal: true }).decode(await fs.readFile(calibPath)); }
        catch (e) { throw new TensorshrinkError("E_IO", `cannot read --calib ${safeText(calibPath)} as UTF-8 text: ${(e as Error).message}`, { file: calibPath }); }
        const { Tokenizer } = await import("../tokenizer/tokenizer");
        const tok = Tokenizer.fromGguf({ kv: new Map(model.metadata.map((kv) => [kv.key, kv])) } as any);
        const tokens = tok.encode(text.endsWith("\n") ? text.slice(0, -1) : text, { addBos: true });
        calibration = { tokens, ctx: calibCtx, chunks: calibTokens !== undefined ? Math.max(1, Math.floor(calibTokens / calibCtx)) : undefined, dataset: calibPath };
      }
      // --eora R: the EoRA method wraps the first tensor method (default rtn); its factors become the adapter below
      const eora = eoraRank !== undefined ? (await import("../methods/eora")).eoraMethod({ rank: eoraRank, inner: methods?.[0] ?? "rtn" }) : undefined;
      const methodList = eora ? [eora, ...(methods?.slice(1) ?? [])] : methods;
      const onLayer = (p: { layer: number; layers: number; seconds: number }) => { if (process.stderr.isTTY && !a.flags.has("--json")) process.stderr.write(`\r${methodList!.map((m) => (typeof m === "string" ? m : m.name)).join("+")}: block ${p.layer + 1}/${p.layers} (${p.seconds.toFixed(1)} s)${p.layer + 1 === p.layers ? "\n" : ""}`); };
      const f32Bytes = model.tensors.reduce((s, t) => s + t.ne.reduce((x, y) => x * y, 1) * 4, 0);
      if (!json) process.stderr.write(`tensorshrink: quantizing ${model.tensors.length} tensors (${fmtBytes(f32Bytes)} as f32) to ${copy ? "COPY" : ftype} -> ${safeText(output)}\n`);
      bar.update({ tensor: model.tensors[0]?.name ?? "", tensorIndex: -1, tensorCount: model.tensors.length, doneBytes: 0, totalBytes: f32Bytes, elapsedMs: 0 });
      const report = await quantizeModel(engine, model, sink, {
        ftype, rules, imatrix, pure: a.flags.has("--pure"), allowNonFinite: a.flags.has("--allow-nonfinite"), order: a.flags.has("--keep-order") ? "input" : "llama.cpp",
        allowRequantize: a.flags.has("--allow-requantize"), leaveOutputTensor: a.flags.has("--leave-output-tensor"), outputTensorType: outType, tokenEmbeddingType: embType,
        onlyCopy: copy, kvOverrides, pruneLayers, methods: methodList, calibration, onLayer, onProgress: bar.update, signal: sig.signal,
        stats: !a.flags.has("--no-stats"),
      });
      bar.done();
      let eoraReport: { output: string; bytes: number; rank: number; adapterType: string; tensors: number; outputErrorShareLeft: number } | undefined;
      if (eora && eoraSink && eoraOut) {
        const arch = String(model.metadata.find((kv) => kv.key === "general.architecture")?.value ?? "llama");
        const { writeGgufLora } = await import("../lowrank/adapter");
        const bytes = await writeGgufLora(eoraSink, eora.layers, { architecture: arch, base: model.tensors, tensorType: adapterType, quantizer: engine });
        let before = 0, after = 0;
        for (const r of eora.report) { before += r.outputErrorBefore ** 2; after += r.outputErrorAfter ** 2; }
        eoraReport = { output: eoraOut, bytes, rank: eoraRank!, adapterType, tensors: eora.layers.length, outputErrorShareLeft: before > 0 ? Math.sqrt(after / before) : 0 };
        if (!json) process.stderr.write(`tensorshrink: EoRA adapter rank ${eoraRank} (${adapterType}) on ${eora.layers.length} tensors -> ${safeText(eoraOut)}, ${bytes} bytes; calibration output error left ${(100 * eoraReport.outputErrorShareLeft).toFixed(1)} %\n`);
      }
      const notes = [...fallbackSummary(report), ...[degenerateWarning(report)].filter((x): x is string => !!x)];
      if (json) process.stdout.write(safeJson(JSON.stringify({ input, output, ...report, ...(eoraReport ? { eora: eoraReport } : {}), fallbacks: fallbackSummary(report), warnings: notes.filter((n) => n.startsWith("warning")) }, jsonNum, 1)) + "\n");
      else process.stdout.write(formatReport(report, `${input} -> ${output}`) + notes.map((n) => `${safeText(n)}\n`).join(""));
      return 0; // a signal that came after the commit: the output is complete, keep it
    } catch (e) {
      await sink.abort(e);
      await eoraSink?.abort(e);
      sig.rethrowIfSignalled(e);
      throw e;
    } finally {
      bar.done();
      await model?.close?.();
      engine.dispose();
    }
  });
}

const jsonNum = (_k: string, v: unknown) => (typeof v === "bigint" ? v.toString() : v === Infinity ? "Infinity" : v);

/** LLAMA_FTYPE number -> its name ("Q4_K_M"), or "unknown ftype N". */
export function ftypeName(id: number): string {
  const k = (Object.keys(FTYPES) as (keyof typeof FTYPES)[]).find((n) => FTYPES[n].id === id);
  return k ?? `unknown ftype ${id}`;
}

/** `tensorshrink inspect <file>`: GGUF header, metadata and tensors. */
export async function runInspect(a: Args): Promise<number> {
  const [file] = positionals(a, 1, "usage: tensorshrink inspect <file> [--json]");
  if (!file) throw new TensorshrinkError("E_RANGE", "usage: tensorshrink inspect <file> [--json]");
  const url = /^https?:\/\//i.test(file);
  if (!url) {
    const fs = await import("node:fs/promises");
    const st = await fs.stat(file).catch((e) => { throw new TensorshrinkError("E_IO", `${(e as any)?.code === "ENOENT" ? "not found" : "cannot open"}: ${safeText(file)} (${(e as Error).message})`, { file }); });
    if (st.isDirectory()) return inspectModel(a, file);
  }
  const src = url ? await openSource(file) : await openFileSource(file);
  const magic = await src.read(0, Math.min(4, src.size));
  if (magic.length < 4 || String.fromCharCode(...magic) !== "GGUF") {
    await src.close?.();
    return file.endsWith(".safetensors") ? inspectSafetensors(a, file) : inspectModel(a, file);
  }
  try {
    const g = await readGguf(src);
    if (a.flags.has("--json")) {
      const doc = {
        file, size: src.size, version: g.version, alignment: g.alignment, dataOffset: g.dataOffset,
        metadata: Object.fromEntries(g.metadata.map((kv) => [kv.key, ggufValueToJSON(kv.value)])),
        tensors: g.tensors.map((t) => ({ name: t.name, type: t.type.name, ne: t.ne, offset: t.absOffset, bytes: t.nbytes })),
      };
      process.stdout.write(safeJson(JSON.stringify(doc, jsonNum, 1)) + "\n");
      return 0;
    }
    let out = `${safeText(file)}: GGUF v${g.version}, ${fmtBytes(src.size)}, ${g.metadata.length} key/values, ${g.tensors.length} tensors, alignment ${g.alignment}, data at byte ${g.dataOffset}\n\n`;
    for (const kv of g.metadata) {
      let v = JSON.stringify(ggufValueToJSON(kv.value), jsonNum);
      if (v.length > 100) v = `${v.slice(0, 97)}...` + (Array.isArray(ggufValueToJSON(kv.value)) ? ` (${(ggufValueToJSON(kv.value) as unknown[]).length} items)` : "");
      if (kv.key === "general.file_type") v += ` (${ftypeName(Number(ggufValueToJSON(kv.value)))})`;
      out += `  ${safeText(kv.key)} = ${safeText(v)}\n`;
    }
    out += "\n";
    const counts = new Map<string, number>();
    for (const t of g.tensors) {
      counts.set(t.type.name, (counts.get(t.type.name) ?? 0) + t.nelements);
      out += `  ${safeText(t.name).padEnd(36)} ${t.type.name.padEnd(7)} [${t.ne.join(", ")}]  ${fmtBytes(t.nbytes)} @ ${t.absOffset}\n`;
    }
    const total = [...counts.values()].reduce((s, n) => s + n, 0);
    const bytes = g.tensors.reduce((s, t) => s + t.nbytes, 0);
    out += `\n  ${total.toLocaleString("en-US")} parameters, ${((8 * bytes) / Math.max(total, 1)).toFixed(3)} bits/weight; by type: ${[...counts].map(([k, n]) => `${k} ${(100 * n / total).toFixed(1)}%`).join(", ")}\n`;
    process.stdout.write(out);
    return 0;
  } finally {
    await src.close?.();
  }
}

/** inspect for safetensors files: header metadata and tensors (dtype, shape, byte offset). */
async function inspectSafetensors(a: Args, file: string): Promise<number> {
  const src = await openSource(file);
  try {
    const f = await (await import("../formats/safetensors")).readSafetensors(src);
    const tensors = f.tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: [...t.shape], offset: t.offset, bytes: t.nbytes }));
    if (a.flags.has("--json")) {
      process.stdout.write(safeJson(JSON.stringify({ file, format: "safetensors", size: src.size, headerBytes: f.headerBytes, metadata: f.metadata, tensors }, jsonNum, 1)) + "\n");
      return 0;
    }
    let out = `${safeText(file)}: safetensors, ${fmtBytes(src.size)}, header ${f.headerBytes} bytes, ${tensors.length} tensors\n`;
    for (const [k, v] of Object.entries(f.metadata)) out += `  ${safeText(k)} = ${safeText(JSON.stringify(v))}\n`;
    for (const t of tensors) out += `  ${safeText(t.name).padEnd(48)} ${safeText(t.dtype).padEnd(5)} [${t.shape.join(", ")}]  ${fmtBytes(t.bytes)} @ ${t.offset}\n`;
    process.stdout.write(out);
    return 0;
  } finally {
    await src.close?.();
  }
}

/** inspect for a llama2.c checkpoint or a Hugging Face directory: the GGUF it converts to. */
async function inspectModel(a: Args, file: string): Promise<number> {
  const engine = await init({ threads: 0 });
  const model = await openModel(file, engine, { tokenizer: one(a, "--tokenizer") });
  try {
    const tensors = model.tensors.map((t) => ({ name: t.name, type: t.type, ne: [...t.ne] }));
    const metadata = Object.fromEntries(model.metadata.map((kv) => [kv.key, ggufValueToJSON(kv.value)]));
    if (a.flags.has("--json")) {
      process.stdout.write(safeJson(JSON.stringify({ file, format: "converted", name: model.name, hparams: model.hparams, metadata, tensors }, jsonNum, 1)) + "\n");
      return 0;
    }
    let out = `${safeText(file)}: ${safeText(model.name)}, converted view (GGUF names), ${tensors.length} tensors, ${model.hparams.nLayer} layers\n\n`;
    for (const [k, v] of Object.entries(metadata)) {
      let s = JSON.stringify(v, jsonNum);
      if (s.length > 100) s = `${s.slice(0, 97)}...`;
      out += `  ${safeText(k)} = ${safeText(s)}\n`;
    }
    out += "\n";
    for (const t of tensors) out += `  ${safeText(t.name).padEnd(36)} ${safeText(t.type).padEnd(5)} [${t.ne.join(", ")}]\n`;
    process.stdout.write(out);
    return 0;
  } finally {
    await model.close?.();
    engine.dispose();
  }
}

/** `tensorshrink demo`: the whole job on a built-in synthetic llama-shaped model, nothing downloaded. */
export async function runDemo(a: Args): Promise<number> {
  positionals(a, 0, "usage: tensorshrink demo [--ftypes A,B,...] [--threads N] [--json]");
  const ftypes = (one(a, "--ftypes") ?? "Q8_0,Q6_K,Q4_K_M,Q4_0").split(",").map((f) => lookupFtype(f).name); // all checked before any work
  const engine = await init({ threads: await threadsOf(a) });
  const model = (await import("../model/synthetic")).syntheticModel();
  const reports: QuantizeReport[] = [];
  const json = a.flags.has("--json");
  if (!json) process.stdout.write(`tensorshrink demo: synthetic llama-shaped model (${model.hparams.nLayer} layers, ${model.tensors.length} tensors, outlier columns), quantized in memory\n\n`);
  try {
    for (const f of ftypes) {
      // The built-in model has no importance matrix: the ftypes that need one (IQ1_*, IQ2_*, IQ3_XXS,
      // IQ3_XS, Q2_K_S) are skipped with a note; IQ3_S, IQ3_M, IQ4_XS, MXFP4_MOE run without one.
      const needs = planModel(model.tensors.map((t) => ({ name: t.name, shape: [...t.ne], type: t.type })), f, model.hparams).find((p) => p.requiresImatrix);
      if (needs) {
        process.stderr.write(`note: skipping ${f}: it needs an importance matrix (tensor ${needs.name} would be ${needs.type}); quantize a real model with --imatrix\n`);
        continue;
      }
      const bar = progressBar(!!process.stderr.isTTY && !json);
      const sink = memorySink();
      const r = await quantizeModel(engine, model, sink, { ftype: f, onProgress: bar.update });
      bar.done();
      reports.push(r);
      if (!json) process.stdout.write(formatReport(r, `== ${r.ftype}`) + "\n");
    }
    if (json) process.stdout.write(safeJson(JSON.stringify({ model: model.name, reports }, jsonNum, 1)) + "\n");
    else {
      process.stdout.write("summary\n");
      for (const r of reports) {
        const q = r.tensors.filter((t) => t.sqnrDb !== null && Number.isFinite(t.sqnrDb));
        const mean = q.reduce((s, t) => s + (t.sqnrDb as number), 0) / Math.max(q.length, 1);
        process.stdout.write(`  ${r.ftype.padEnd(7)} ${fmtBytes(r.fileSize).padStart(9)}  ${r.bitsPerWeight.toFixed(3)} bits/weight  mean SQNR ${mean.toFixed(2)} dB  ${r.mbPerSecond.toFixed(0)} MB/s\n`);
      }
    }
    return 0;
  } finally {
    engine.dispose();
  }
}

/** `tensorshrink eval <base.gguf> <other.gguf> --text <file>` */
export async function runEval(a: Args): Promise<number> {
  const usage = "usage: tensorshrink eval <base.gguf> <other.gguf> --text <file> [--threads N] [--ctx N] [--json]";
  const [base, other] = positionals(a, 2, usage);
  const text = one(a, "--text");
  if (!base || !other || !text) throw new TensorshrinkError("E_RANGE", usage);
  const threads = (await threadsOf(a)) ?? 2;
  const contextSize = intOption(a, "--ctx", 8, 1 << 20); // checked before any model is loaded
  const { evaluatePair } = await import("../eval/llama");
  const fs = await import("node:fs/promises");
  let body: string;
  try {
    body = await fs.readFile(text, "utf8");
  } catch (e) {
    throw new TensorshrinkError("E_IO", `cannot read --text ${safeText(text)}: ${(e as Error).message}`, { file: text });
  }
  const r = await evaluatePair(base, other, body, { threads, contextSize });
  if (a.flags.has("--json")) process.stdout.write(safeJson(JSON.stringify(r, jsonNum, 1)) + "\n");
  else {
    process.stdout.write(`base:  ${safeText(base)}\nother: ${safeText(other)}\ntext:  ${safeText(text)} (${r.tokens} tokens scored)\n\n`);
    process.stdout.write(`  perplexity base   ${r.perplexityBase.toFixed(4)}\n  perplexity other  ${r.perplexityOther.toFixed(4)}\n  mean KL(base||other) ${r.meanKld.toFixed(6)} nats\n  top-1 agreement   ${(100 * r.top1Agreement).toFixed(2)}%\n`);
  }
  return 0;
}

export type { Engine };
