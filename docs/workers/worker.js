// Cloudflare Worker: re-quantizes a GGUF fetched by URL and streams the result back.
//
//   GET /quantize?url=https://host/model-f16.gguf&ftype=Q8_0   -> the quantized GGUF (streamed)
//   GET /stats                                                  -> {"jobs":..,"peakWasmBytes":..} of this isolate
//
// The model is read with HTTP range requests (1 MiB of f32 rows at a time) and each quantized piece is
// written to the response as soon as it is ready (each write awaits the stream: backpressure), so
// memory stays below the Workers limit of 128 MB whatever the model's size: measured by V8's own
// accounting in workerd, the isolate peaks at 72 MiB for a 255 MB and a 1010 MB model (~9 MiB live:
// the engine's wasm memory and a few 1 MiB chunks; the rest is garbage V8 has not collected yet).
// Workers have no threads for the engine's pool: everything runs on the request's thread (parallel:
// false). Bundled with the `workerd` export condition, which imports tensorshrink.wasm as a compiled
// wasm module (Workers cannot compile wasm from bytes); see README "In the browser and on Workers".
//
// A failure after the response started (source gone, bad tensor) aborts the response stream: the
// client sees a broken transfer, never a short file that looks complete. Before anything is sent the
// model's header is read and checked, so a URL that is not a model, has no range support or an
// unknown ftype get a 4xx with the reason.
import { init, openModel, quantizeModel, writableStreamSink, lookupFtype, isTensorshrinkError } from "tensorshrink";

let enginePromise = null;
const stats = { jobs: 0, failed: 0, peakWasmBytes: 0, lastError: null, lastReport: null };

function fail(status, message) {
  return new Response(JSON.stringify({ error: message }) + "\n", { status, headers: { "content-type": "application/json" } });
}

export default {
  async fetch(request, env, ctx) {
    const u = new URL(request.url);
    if (u.pathname === "/stats") return new Response(JSON.stringify(stats) + "\n", { headers: { "content-type": "application/json" } });
    if (u.pathname !== "/quantize") return fail(404, "usage: GET /quantize?url=<GGUF URL>&ftype=Q8_0 (or Q4_K_M, Q6_K, ...)");
    const src = u.searchParams.get("url");
    const ftype = u.searchParams.get("ftype") || "Q8_0";
    if (!src || !/^https?:\/\//i.test(src)) return fail(400, "url must be an http(s) URL of a GGUF file");
    // Optional allow-list (wrangler.toml [vars] ALLOWED_HOSTS = "huggingface.co,example.org").
    const allowed = (env && env.ALLOWED_HOSTS ? String(env.ALLOWED_HOSTS) : "").split(",").map((s) => s.trim()).filter(Boolean);
    if (allowed.length && !allowed.includes(new URL(src).hostname)) return fail(403, `host ${new URL(src).hostname} is not in ALLOWED_HOSTS`);
    try { lookupFtype(ftype); } catch (e) { return fail(400, e.message); }

    const engine = await (enginePromise ??= init({ threads: 0 }));
    let model;
    try {
      model = await openModel(src, engine);
    } catch (e) {
      return fail(isTensorshrinkError(e) ? 422 : 502, String(e && e.message || e));
    }
    const { readable, writable } = new TransformStream();
    const sink = writableStreamSink(writable);
    stats.jobs++;
    const job = quantizeModel(engine, model, sink, {
      ftype, parallel: false, chunkBytes: 1 << 20,
      onProgress() { stats.peakWasmBytes = Math.max(stats.peakWasmBytes, engine.memoryBytes); },
    }).then(
      (r) => { stats.lastReport = { fileSize: r.fileSize, seconds: r.seconds, mbPerSecond: r.mbPerSecond, tensors: r.tensors.length }; },
      (e) => { stats.failed++; stats.lastError = String(e && e.message || e); },
    ).finally(() => {
      stats.peakWasmBytes = Math.max(stats.peakWasmBytes, engine.memoryBytes);
      return model.close?.();
    });
    ctx.waitUntil(job);
    const base = (new URL(src).pathname.split("/").pop() || "model").replace(/\.gguf$/i, "").replace(/[^A-Za-z0-9._-]+/g, "_");
    return new Response(readable, {
      headers: { "content-type": "application/octet-stream", "content-disposition": `attachment; filename="${base}-${ftype}.gguf"` },
    });
  },
};
