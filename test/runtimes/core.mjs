// Shared body of the runtime smoke test (Node ESM/CJS, Deno, Bun, Chromium, workerd).
// Plain JS with no imports: each runtime's entry does `import { init } from "tensorshrink"` (or
// `require`) and passes `init` here, so every runtime runs the very same code.
// The input uses integer arithmetic only (xorshift32, exact float conversions), so it is bit-identical
// in V8 and JavaScriptCore (Math.sin & co. may differ in the last bit between engines).

export const ROWS = 64;
export const COLS = 256;

/** 64 x 256 f32 values: seeded uniform noise, per-row scales, a few outliers. */
export function smokeInput() {
  const x = new Float32Array(ROWS * COLS);
  let s = 0x2545f491;
  const next = () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s; };
  for (let r = 0; r < ROWS; r++) {
    const scale = (1 + (r % 7)) / 64;
    for (let c = 0; c < COLS; c++) {
      const u = (next() >>> 8) / 16777216 - 0.5;
      let v = u * scale;
      if ((next() & 255) === 0) v *= 24;
      x[r * COLS + c] = v;
    }
  }
  x[5] = 0; x[COLS + 3] = -1e-30; x[2 * COLS] = 3.5;
  return x;
}

/** The synthetic model of the model-level smoke job (about 1.6 MB of f32). */
export const SMOKE_MODEL = { nLayer: 1, nEmbd: 256, nFf: 512, nHead: 4, nHeadKv: 2, nVocab: 300, seed: 9 };

export async function sha256(view) {
  const u8 = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", u8.slice()));
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Runs the smoke test with the package's `init`. opts.url: also check `init({ url })`. opts.pkg: the
 * package's exports, to run the model-level job too; opts.modelUrl: an F32 GGUF served with ranges.
 * Returns { sha, refSha, dequantSha, asyncSha, bytes, workers, model?, modelUrl?, urlSha?, ms }.
 */
export async function smoke(init, opts = {}) {
  const t0 = Date.now();
  const x = smokeInput();
  const shape = { type: "q8_0", rows: ROWS, cols: COLS };
  const out = {};

  // The documented one-liner, unchanged.
  const engine = await init();
  const q = engine.quantize(x, shape);
  out.bytes = q.length;
  out.sha = await sha256(q);
  out.refSha = await sha256(engine.quantize(x, { ...shape, kernel: "ref" }));
  out.dequantSha = await sha256(engine.dequantize(q, shape));
  out.typeInfo = engine.typeInfo("q8_0");
  engine.dispose();

  // The worker pool (worker_threads in Node, Web Workers elsewhere, none in workerd).
  const pooled = await init({ threads: 2 });
  const qa = await pooled.quantizeAsync(x, shape);
  // Not public API: how many pool workers really ran (0 = single-threaded fallback).
  out.workers = pooled.pool && pooled.pool.workers ? pooled.pool.workers.length : 0;
  out.asyncSha = await sha256(qa);
  out.asyncDequantSha = await sha256(await pooled.dequantizeAsync(qa, shape));
  pooled.dispose();

  // The main job in this runtime: a model file in, a GGUF out. The "file" is an F32 GGUF the pipeline
  // writes from a small synthetic llama model; it is read back through a Blob (Blob.slice reads, as
  // for a browser File) and, where a URL is given, over HTTP range requests, and quantized to Q4_K_M
  // on the pool into memory.
  if (opts.pkg) {
    const { syntheticModel, quantizeModel, memorySink, blobSource, openUrlSource, readGguf, ggufModelSource } = opts.pkg;
    const e = await init({ threads: 2 });
    const f32 = memorySink();
    await quantizeModel(e, syntheticModel(SMOKE_MODEL), f32, { ftype: "F32" });
    const file = f32.bytes();
    out.modelF32Sha = await sha256(file);
    const job = async (src) => {
      const model = ggufModelSource(await readGguf(src), e);
      const q = memorySink();
      const rep = await quantizeModel(e, model, q, { ftype: "Q4_K_M" });
      return { sha: await sha256(q.bytes()), bytes: q.bytes().length, tensors: rep.tensors.length, types: [...new Set(rep.tensors.map((t) => t.type))].sort().join(",") };
    };
    out.model = await job(blobSource(new Blob([file])));
    if (opts.modelUrl) out.modelUrl = await job(await openUrlSource(opts.modelUrl));
    // The engine's own forward pass in this runtime: evaluate() of the Q4_K_M model against the F32 one
    // (both read back from Blobs), and greedy generation with the KV cache. No native code anywhere.
    const { LlamaModel, evaluate } = opts.pkg;
    if (LlamaModel && evaluate) {
      const q = memorySink();
      await quantizeModel(e, ggufModelSource(await readGguf(blobSource(new Blob([file]))), e), q, { ftype: "Q4_K_M" });
      const base = await LlamaModel.open(e, ggufModelSource(await readGguf(blobSource(new Blob([file]))), e));
      const other = await LlamaModel.open(e, ggufModelSource(await readGguf(blobSource(new Blob([q.bytes()]))), e));
      const docs = [];
      let s = 12345;
      for (let d = 0; d < 3; d++) {
        const doc = [];
        for (let i = 0; i < 20 + 7 * d; i++) { s = (s * 1103515245 + 12345) >>> 0; doc.push(3 + (s >>> 8) % (SMOKE_MODEL.nVocab - 3)); }
        docs.push(doc);
      }
      const r = await evaluate({ base, other, documents: docs, ctx: 64 });
      out.eval = { tokens: r.tokens, pplBase: r.base.perplexity, pplOther: r.other.perplexity, kld: r.kld.mean, top1: r.top1Agreement };
      out.generated = await base.generate(docs[0].slice(0, 8), 12, { stopAtEos: false });
      base.dispose();
      other.dispose();
    }
    e.dispose();
  }

  if (opts.url) {
    const e = await init({ url: opts.url });
    out.urlSha = await sha256(e.quantize(x, shape));
    e.dispose();
  }
  out.ms = Date.now() - t0;
  return out;
}
