// The CLI's commands: argument handling, progress and tables. The work itself lives in src/model.
import { TensorshrinkError } from "../errors";
import { init } from "../engine/init";
import type { Engine } from "../engine/engine";
import { openFileSink, openFileSource, memorySink } from "../formats/source";
import { readGguf, ggufValueToJSON } from "../formats/gguf";
import { readSafetensors } from "../formats/safetensors";
import { quantizeModel, type QuantizeReport, type QuantizeProgress } from "../model/quantize";
import { parseRule, lookupFtype } from "../model/recipes";
import { openModel } from "../model/open";
import { readImatrix } from "../formats/imatrix";
import { syntheticModel } from "../model/synthetic";
import type { Args } from "./main";

const one = (a: Args, k: string) => a.opts.get(k)?.at(-1);

function threadsOf(a: Args): number | undefined {
  const t = one(a, "--threads");
  if (t === undefined) return undefined;
  const n = Number(t);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new TensorshrinkError("E_RANGE", `--threads must be an integer from 1 to 256, got "${t}"`);
  return n;
}

const fmtBytes = (n: number) => (n >= 1e9 ? `${(n / 1e9).toFixed(2)} GB` : n >= 1e6 ? `${(n / 1e6).toFixed(2)} MB` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} kB` : `${n} B`);
const fmtSqnr = (v: number | null) => (v === null ? "—" : v === Infinity ? "exact" : `${v.toFixed(2)} dB`);

/** A one-line progress bar on stderr when it is a TTY: tensor name, MB/s, ETA. */
export function progressBar(enabled: boolean) {
  let last = 0;
  return {
    update(p: QuantizeProgress) {
      if (!enabled) return;
      const now = Date.now();
      if (now - last < 100 && p.doneBytes < p.totalBytes) return;
      last = now;
      const frac = p.totalBytes ? p.doneBytes / p.totalBytes : 1;
      const w = 24, fill = Math.round(frac * w);
      const mbs = p.doneBytes / 1e6 / Math.max(p.elapsedMs / 1000, 1e-3);
      const eta = frac > 0 ? ((p.elapsedMs / 1000) * (1 - frac)) / frac : 0;
      const line = `[${"#".repeat(fill)}${".".repeat(w - fill)}] ${(frac * 100).toFixed(0).padStart(3)}% ${p.tensorIndex + 1}/${p.tensorCount} ${p.tensor.slice(0, 32).padEnd(32)} ${mbs.toFixed(0)} MB/s ETA ${eta.toFixed(0)}s`;
      process.stderr.write(`\r${line.slice(0, (process.stderr.columns || 120) - 1)}`);
    },
    done() {
      if (enabled) process.stderr.write("\r\x1b[K");
    },
  };
}

/** The per-tensor table and totals, as text. */
export function formatReport(r: QuantizeReport, title = ""): string {
  const rows = r.tensors.map((t) => [t.name, `${t.inType}→${t.type}`, fmtBytes(t.bytesBefore), fmtBytes(t.bytesAfter), fmtSqnr(t.sqnrDb)]);
  const head = ["tensor", "type", "before", "after", "SQNR"];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((x) => x[i].length)));
  const line = (c: string[]) => c.map((s, i) => (i >= 2 ? s.padStart(w[i]) : s.padEnd(w[i]))).join("  ");
  let out = title ? `${title}\n` : "";
  out += line(head) + "\n" + w.map((n) => "-".repeat(n)).join("  ") + "\n";
  for (const x of rows) out += line(x) + "\n";
  out += `\n${r.ftype}: ${r.tensors.length} tensors, ${r.params.toLocaleString("en-US")} parameters, file ${fmtBytes(r.fileSize)}, ` +
    `${r.bitsPerWeight.toFixed(3)} bits/weight, ${r.seconds.toFixed(2)} s (${r.mbPerSecond.toFixed(1)} MB/s of f32 input)\n`;
  return out;
}

/** `tensorshrink quantize <input> <output.gguf> <FTYPE> ...` */
export async function runQuantize(a: Args): Promise<number> {
  const [input, output, ftypeArg] = a._;
  if (!input || !output || !ftypeArg) throw new TensorshrinkError("E_RANGE", "usage: tensorshrink quantize <input> <output.gguf> <FTYPE> [--imatrix F] [--threads N] [--rule P=T]... [--json]");
  const ftype = lookupFtype(ftypeArg).name;
  const rules = (a.opts.get("--rule") ?? []).map(parseRule);
  const engine = await init({ threads: threadsOf(a) });
  const model = await openModel(input, engine, { tokenizer: one(a, "--tokenizer") });
  const imPath = one(a, "--imatrix");
  let imatrix = null;
  if (imPath) {
    const imSrc = await openFileSource(imPath);
    try { imatrix = await readImatrix(imSrc); } finally { await imSrc.close?.(); }
  }
  // every file the job reads is protected: the input, --imatrix, --tokenizer and what the model found itself
  const sink = await openFileSink(output, { inputs: [input, imPath, one(a, "--tokenizer"), ...(model.files ?? [])] })
    .catch(async (e) => { await model.close?.(); engine.dispose(); throw e; });
  const ac = new AbortController();
  const onSig = () => ac.abort();
  process.once("SIGINT", onSig);
  process.once("SIGTERM", onSig);
  const bar = progressBar(!!process.stderr.isTTY && !a.flags.has("--json"));
  try {
    const report = await quantizeModel(engine, model, sink, { ftype, rules, imatrix, pure: a.flags.has("--pure"), order: a.flags.has("--keep-order") ? "input" : "llama.cpp", onProgress: bar.update, signal: ac.signal });
    bar.done();
    if (a.flags.has("--json")) process.stdout.write(JSON.stringify({ input, output, ...report }, jsonNum, 1) + "\n");
    else process.stdout.write(formatReport(report, `${input} -> ${output}`));
    return 0;
  } finally {
    bar.done();
    process.off("SIGINT", onSig);
    process.off("SIGTERM", onSig);
    await model.close?.();
    engine.dispose();
  }
}

const jsonNum = (_k: string, v: unknown) => (typeof v === "bigint" ? v.toString() : v === Infinity ? "Infinity" : v);

/** `tensorshrink inspect <file>`: GGUF header, metadata and tensors. */
export async function runInspect(a: Args): Promise<number> {
  const [file] = a._;
  if (!file) throw new TensorshrinkError("E_RANGE", "usage: tensorshrink inspect <file> [--json]");
  const fs = await import("node:fs/promises");
  const st = await fs.stat(file).catch((e) => { throw new TensorshrinkError("E_IO", `cannot open ${file}: ${(e as Error).message}`, { file }); });
  if (st.isDirectory()) return inspectModel(a, file);
  const src = await openFileSource(file);
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
      process.stdout.write(JSON.stringify(doc, jsonNum, 1) + "\n");
      return 0;
    }
    let out = `${file}: GGUF v${g.version}, ${fmtBytes(src.size)}, ${g.metadata.length} key/values, ${g.tensors.length} tensors, alignment ${g.alignment}, data at byte ${g.dataOffset}\n\n`;
    for (const kv of g.metadata) {
      let v = JSON.stringify(ggufValueToJSON(kv.value), jsonNum);
      if (v.length > 100) v = `${v.slice(0, 97)}...` + (Array.isArray(ggufValueToJSON(kv.value)) ? ` (${(ggufValueToJSON(kv.value) as unknown[]).length} items)` : "");
      out += `  ${kv.key} = ${v}\n`;
    }
    out += "\n";
    const counts = new Map<string, number>();
    for (const t of g.tensors) {
      counts.set(t.type.name, (counts.get(t.type.name) ?? 0) + t.nelements);
      out += `  ${t.name.padEnd(36)} ${t.type.name.padEnd(7)} [${t.ne.join(", ")}]  ${fmtBytes(t.nbytes)} @ ${t.absOffset}\n`;
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
  const src = await openFileSource(file);
  try {
    const f = await readSafetensors(src);
    const tensors = f.tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: [...t.shape], offset: t.offset, bytes: t.nbytes }));
    if (a.flags.has("--json")) {
      process.stdout.write(JSON.stringify({ file, format: "safetensors", size: src.size, headerBytes: f.headerBytes, metadata: f.metadata, tensors }, jsonNum, 1) + "\n");
      return 0;
    }
    let out = `${file}: safetensors, ${fmtBytes(src.size)}, header ${f.headerBytes} bytes, ${tensors.length} tensors\n`;
    for (const [k, v] of Object.entries(f.metadata)) out += `  ${k} = ${JSON.stringify(v)}\n`;
    for (const t of tensors) out += `  ${t.name.padEnd(48)} ${t.dtype.padEnd(5)} [${t.shape.join(", ")}]  ${fmtBytes(t.bytes)} @ ${t.offset}\n`;
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
      process.stdout.write(JSON.stringify({ file, format: "converted", name: model.name, hparams: model.hparams, metadata, tensors }, jsonNum, 1) + "\n");
      return 0;
    }
    let out = `${file}: ${model.name}, converted view (GGUF names), ${tensors.length} tensors, ${model.hparams.nLayer} layers\n\n`;
    for (const [k, v] of Object.entries(metadata)) {
      let s = JSON.stringify(v, jsonNum);
      if (s.length > 100) s = `${s.slice(0, 97)}...`;
      out += `  ${k} = ${s}\n`;
    }
    out += "\n";
    for (const t of tensors) out += `  ${t.name.padEnd(36)} ${t.type.padEnd(5)} [${t.ne.join(", ")}]\n`;
    process.stdout.write(out);
    return 0;
  } finally {
    await model.close?.();
    engine.dispose();
  }
}

/** `tensorshrink demo`: the whole job on a built-in synthetic llama-shaped model, nothing downloaded. */
export async function runDemo(a: Args): Promise<number> {
  const ftypes = (one(a, "--ftypes") ?? "Q8_0,Q6_K,Q4_K_M,Q4_0").split(",");
  const engine = await init({ threads: threadsOf(a) });
  const model = syntheticModel();
  const reports: QuantizeReport[] = [];
  const json = a.flags.has("--json");
  if (!json) process.stdout.write(`tensorshrink demo: synthetic llama-shaped model (${model.hparams.nLayer} layers, ${model.tensors.length} tensors, outlier columns), quantized in memory\n\n`);
  try {
    for (const f of ftypes) {
      const bar = progressBar(!!process.stderr.isTTY && !json);
      const sink = memorySink();
      const r = await quantizeModel(engine, model, sink, { ftype: f, onProgress: bar.update });
      bar.done();
      reports.push(r);
      if (!json) process.stdout.write(formatReport(r, `== ${r.ftype}`) + "\n");
    }
    if (json) process.stdout.write(JSON.stringify({ model: model.name, reports }, jsonNum, 1) + "\n");
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
  const [base, other] = a._;
  const text = one(a, "--text");
  if (!base || !other || !text) throw new TensorshrinkError("E_RANGE", "usage: tensorshrink eval <base.gguf> <other.gguf> --text <file> [--threads N] [--json]");
  const { evaluatePair } = await import("../eval/llama");
  const fs = await import("node:fs/promises");
  let body: string;
  try {
    body = await fs.readFile(text, "utf8");
  } catch (e) {
    throw new TensorshrinkError("E_IO", `cannot read --text ${text}: ${(e as Error).message}`, { file: text });
  }
  const r = await evaluatePair(base, other, body, { threads: threadsOf(a) ?? 2, contextSize: one(a, "--ctx") ? Number(one(a, "--ctx")) : undefined });
  if (a.flags.has("--json")) process.stdout.write(JSON.stringify(r, jsonNum, 1) + "\n");
  else {
    process.stdout.write(`base:  ${base}\nother: ${other}\ntext:  ${text} (${r.tokens} tokens scored)\n\n`);
    process.stdout.write(`  perplexity base   ${r.perplexityBase.toFixed(4)}\n  perplexity other  ${r.perplexityOther.toFixed(4)}\n  mean KL(base||other) ${r.meanKld.toFixed(6)} nats\n  top-1 agreement   ${(100 * r.top1Agreement).toFixed(2)}%\n`);
  }
  return 0;
}

export type { Engine };
