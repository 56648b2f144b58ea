/**
 * The web app's Web Worker: owns the engine (and, through it, its own pool of Web Workers), the open
 * model and the output, so the page's main thread only draws. Protocol: src/web/protocol.ts.
 *
 * - open: a File (GGUF; llama2.c with its tokenizer), a Hugging Face directory (Files of an
 *   `<input webkitdirectory>`), or an http(s) URL read with range requests.
 * - ready (sent once the engine is up): the ftypes (FTYPES), the methods of the engine's registry
 *   (BUILTIN_METHODS) and the pruning methods (PRUNE_METHODS), each with whether it needs a
 *   calibration text, so the page offers whatever this build has.
 * - plan: llama-quantize's per-tensor types for the ftype, rules and imatrix, with sizes before/after.
 * - run: quantizeModel into a FileSystemFileHandle's writable stream (nothing held in memory: a 4 GB
 *   model needs the engine's bounded buffers only) or into Blob parts for a download link.
 *   Progress is posted at most every 200 ms and on every new tensor; `cancel` aborts the job's
 *   AbortSignal, the sink is aborted (the File System Access API discards its swap file), and no
 *   Blob is returned. A method (`--method`) or pruning (`--prune`) runs on the seam with the calibration
 *   text tokenized exactly as the CLI does (so the bytes are the CLI's); a `layer` message is posted
 *   after each transformer block of the calibrated pass.
 */
import { init } from "../engine/init";
import { hasSimd } from "../engine/load";
import type { Engine } from "../engine/engine";
import { TensorshrinkError, isTensorshrinkError } from "../errors";
import { blobSource, filesResolver, writableStreamSink, type ByteSink } from "../formats/source";
import { ggmlTensorBytes } from "../formats/ggml-types";
import { readImatrix } from "../formats/imatrix";
import { openModel, sniffModelFormat } from "../model/open";
import { quantizeModel } from "../model/quantize";
import { FTYPES, llamaCppTensorOrder, parseRule, planModel, lookupFtype } from "../model/recipes";
import { methodInfo, methodsOf } from "./methods";
import type { ModelSource } from "../model/source";
import { evaluateOnText } from "./eval-bridge";
import type { FromWorker, JobOptions, ModelChoice, PlanRow, ToWorker } from "./protocol";

const post = (m: FromWorker, transfer: Transferable[] = []) => (self as unknown as Worker).postMessage(m, transfer);

let engine: Engine | null = null;
let model: ModelSource | null = null;
let modelChoice: ModelChoice | null = null;
let running: AbortController | null = null;
let format = "?";
let poolThreads = 0;

function errorOf(e: unknown): { code: string; message: string } {
  if (isTensorshrinkError(e)) return { code: e.code, message: e.message };
  const err = e as Error;
  return { code: "E_UNEXPECTED", message: String(err?.message ?? e) };
}

async function engineReady(): Promise<Engine> {
  if (engine) return engine;
  if (!hasSimd()) throw new TensorshrinkError("E_NO_SIMD", "this browser's WebAssembly lacks SIMD128 (fixed-width SIMD), which tensorshrink needs: use a current Chrome, Edge, Firefox or Safari (16.4+)", { feature: "simd128" });
  const cores = (self.navigator as any)?.hardwareConcurrency;
  const threads = typeof cores === "number" && cores > 1 ? Math.min(cores, 8) : 0;
  poolThreads = threads;
  engine = await init({ url: new URL("tensorshrink.wasm", self.location.href), threads });
  return engine;
}

async function openChoice(c: ModelChoice, e: Engine): Promise<ModelSource> {
  if (c.kind === "file") {
    const kind = await sniffModelFormat(blobSource(c.file, c.file.name));
    if (kind === "llama2c" && !c.tokenizer) throw new TensorshrinkError("E_ARG_TYPE", `${c.file.name} is a llama2.c checkpoint: choose its tokenizer (tokenizer.bin / tok*.bin) in "Tokenizer" too`, { file: c.file.name });
    format = kind === "gguf" ? "GGUF" : kind === "llama2c" ? "llama2.c checkpoint" : "?";
    return openModel(c.file, e, c.tokenizer ? { tokenizer: c.tokenizer } : {});
  }
  format = c.kind === "dir" ? "Hugging Face directory" : "URL (range requests)";
  if (c.kind === "dir") {
    if (!c.files.some((f) => /(^|\/)config\.json$/.test((f as any).webkitRelativePath || f.name))) {
      throw new TensorshrinkError("E_FORMAT", `the chosen folder (${c.files.length} files) has no config.json: choose a Hugging Face model directory (config.json, *.safetensors, tokenizer.json)`, {});
    }
    return openModel({ dir: filesResolver(c.files) }, e);
  }
  let url: URL;
  try { url = new URL(c.url); } catch { throw new TensorshrinkError("E_ARG_TYPE", `not a URL: ${c.url}`, {}); }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new TensorshrinkError("E_ARG_TYPE", `only http(s) URLs can be read, got ${url.protocol}`, {});
  return openModel(url.href, e, c.tokenizer ? { tokenizer: c.tokenizer } : {});
}

async function planRows(m: ModelSource, o: JobOptions): Promise<PlanRow[]> {
  const tensors = llamaCppTensorOrder(m.tensors);
  const rules = o.rules.map(parseRule);
  const plan = planModel(tensors.map((t) => ({ name: t.name, shape: [...t.ne], type: t.type })), lookupFtype(o.ftype).name, m.hparams, { rules, hasImatrix: !!o.imatrix, pure: o.pure });
  return tensors.map((t, i) => ({
    name: t.name, ne: [...t.ne], inType: t.type, type: plan[i].type, quantize: plan[i].quantize, reason: plan[i].reason,
    bytesBefore: ggmlTensorBytes(t.type, t.ne), bytesAfter: ggmlTensorBytes(plan[i].type, t.ne),
  }));
}

/** Collects the output as Blob parts (copies, since the pipeline reuses its chunks). */
function blobSink(): ByteSink & { blob(): Blob } {
  let parts: BlobPart[] = [];
  let n = 0;
  let state: "open" | "committed" | "aborted" = "open";
  return {
    get bytesWritten() { return n; },
    async write(chunk: Uint8Array) {
      if (state !== "open") throw new TensorshrinkError("E_DISPOSED", `output is ${state}`, {});
      parts.push(chunk.slice());
      n += chunk.byteLength;
    },
    async commit() { state = "committed"; },
    async abort() { state = "aborted"; parts = []; n = 0; },
    blob() {
      if (state !== "committed") throw new TensorshrinkError("E_DISPOSED", `output is ${state}, not complete`, {});
      const b = new Blob(parts, { type: "application/octet-stream" });
      parts = [];
      return b;
    },
  };
}

async function run(id: number, o: JobOptions, output: { handle: FileSystemFileHandle } | { memory: true }, evalText: string | null | undefined): Promise<void> {
  const e = await engineReady();
  if (!model) throw new TensorshrinkError("E_ARG_TYPE", "no model is open", {});
  const ac = new AbortController();
  running = ac;
  try {
    await runJob(id, e, model, ac, o, output, evalText);
  } finally {
    // also when the options fail before the job starts (a bad imatrix, calibration text or pruning target)
    if (running === ac) running = null;
  }
}

async function runJob(id: number, e: Engine, m: ModelSource, ac: AbortController, o: JobOptions, output: { handle: FileSystemFileHandle } | { memory: true }, evalText: string | null | undefined): Promise<void> {
  const imatrix = o.imatrix ? await readImatrix(blobSource(o.imatrix, o.imatrix.name)) : null;
  const rules = o.rules.map(parseRule);
  const { methods, calibration, label } = await methodsOf(m, o);
  let sink: ByteSink;
  let mem: ReturnType<typeof blobSink> | null = null;
  const handle = "handle" in output ? output.handle : null;
  if (handle) {
    let w: WritableStream<Uint8Array>;
    try {
      w = await (handle as any).createWritable();
    } catch (err) {
      throw new TensorshrinkError("E_IO", `cannot write ${handle.name}: ${(err as Error)?.message ?? err}`, { file: handle.name }, { cause: err });
    }
    sink = writableStreamSink(w);
  } else {
    sink = mem = blobSink();
  }
  let last = 0, lastTensor = -1;
  try {
    const report = await quantizeModel(e, m, sink, {
      ftype: o.ftype, rules, pure: o.pure, imatrix, imatrixFile: o.imatrix?.name, signal: ac.signal, methods, calibration,
      onLayer: (p) => post({ op: "layer", id, method: label, ...p }),
      onProgress(p) {
        const now = Date.now();
        if (now - last < 200 && p.tensorIndex === lastTensor && p.doneBytes < p.totalBytes) return;
        last = now; lastTensor = p.tensorIndex;
        post({ op: "progress", id, ...p, outBytes: sink.bytesWritten });
      },
    });
    const blob = mem ? mem.blob() : null;
    let evalInfo = null;
    if (evalText && evalText.trim()) {
      const other = blob ?? (handle ? await handle.getFile() : null);
      try {
        evalInfo = other ? await evaluateOnText(e, m, other, evalText, ac.signal, (done, total) => post({ op: "evalProgress", id, done, total })) : null;
      } catch (err) {
        const x = errorOf(err);
        post({ op: "error", id, code: x.code, message: x.message, stage: "eval" });
      }
    }
    post({
      op: "done", id, rows: report.tensors.map((t) => ({ name: t.name, type: t.type, inType: t.inType, bytesBefore: t.bytesBefore, bytesAfter: t.bytesAfter, sqnrDb: t.sqnrDb, reason: t.reason })),
      methods: report.methods ? { names: report.methods.names, seconds: report.methods.seconds, handled: report.methods.handled } : null,
      fileSize: report.fileSize, bitsPerWeight: report.bitsPerWeight, seconds: report.seconds, mbPerSecond: report.mbPerSecond, params: report.params,
      blob, savedTo: handle ? handle.name : null, eval: evalInfo,
    });
  } catch (err) {
    // quantizeModel aborted the sink. A file the picker created for us and nothing was committed to is
    // empty: remove it, so no empty or partial file looks like a result (an existing file is untouched).
    if (handle) {
      try { if ((await handle.getFile()).size === 0) await (handle as any).remove?.(); } catch { /* best effort */ }
    }
    throw err;
  }
}

self.onmessage = async (ev: MessageEvent<ToWorker>) => {
  const msg = ev.data;
  if (msg.op === "cancel") {
    running?.abort(new TensorshrinkError("E_ABORTED", "cancelled by the user", {}));
    return;
  }
  const stage = msg.op;
  try {
    if (msg.op === "open") {
      const e = await engineReady();
      running?.abort();
      const old = model;
      model = null;
      await old?.close?.().catch(() => undefined);
      const m = await openChoice(msg.model, e);
      model = m; modelChoice = msg.model;
      const params = m.tensors.reduce((s, t) => s + t.ne.reduce((a, b) => a * b, 1), 0);
      const inputBytes = m.tensors.reduce((s, t) => s + ggmlTensorBytes(t.type, t.ne), 0);
      const arch = String(m.metadata.find((kv) => kv.key === "general.architecture")?.value ?? "?");
      post({ op: "opened", id: msg.id, info: { name: m.name, format, tensors: m.tensors.length, params, inputBytes, arch } });
    } else if (msg.op === "plan") {
      if (!model) throw new TensorshrinkError("E_ARG_TYPE", "open a model first", {});
      const rows = await planRows(model, msg.options);
      post({ op: "plan", id: msg.id, rows, fileBytesEstimate: rows.reduce((s, r) => s + r.bytesAfter, 0) });
    } else if (msg.op === "run") {
      if (running) throw new TensorshrinkError("E_RANGE", "a job is already running", {});
      await run(msg.id, msg.options, msg.output, msg.evalText);
    }
  } catch (e) {
    const x = errorOf(e);
    post({ op: "error", id: (msg as any).id ?? 0, code: x.code, message: x.message, stage });
  }
};

// Start compiling the engine at once, so the first open does not wait for it; report SIMD problems early.
engineReady().then(
  () => post({ op: "ready", threads: poolThreads, simd: true, ftypes: Object.keys(FTYPES), ...methodInfo() }),
  (err) => { const x = errorOf(err); post({ op: "error", id: 0, code: x.code, message: x.message, stage: "init" }); },
);
void modelChoice;
