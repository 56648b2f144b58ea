// Web app and Workers figures (bench/WEBAPP.md, bench/webapp.json):
//  1. Chromium (Debian's /usr/bin/chromium, headless): first paint of the page from 127.0.0.1, then a
//     ≥ 1 GB synthetic F32 GGUF opened through the file input and quantized to Q4_K_M in the page's Web
//     Worker, streamed to a file (showSaveFilePicker answered with an origin-private file): the longest
//     main-thread task (PerformanceObserver "longtask") while it runs, MB/s, wall time.
//  2. workerd (docs/workers recipe): the Worker re-quantizes to Q8_0 GGUFs of two sizes read by range
//     requests from a local server, streaming the result back: the isolate's memory by V8's own
//     accounting (Runtime.getHeapUsage over workerd's inspector, sampled back to back: JS heap in use +
//     ArrayBuffer backing stores), workerd's RSS before and at peak (sampled every 25 ms, and VmHWM),
//     the engine's wasm memory; also with other chunk sizes and with a GC before every sample.
// Usage: npm run bench:webapp [-- --gb 1.0 --skip-browser --skip-workerd]
import { spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { init, quantizeModel, openFileSink, syntheticModel } from "../src/index.ts";
import { serveWeb } from "../src/web/serve.ts";
import { CHROMIUM, PROBES, launch, modelServer, waitState, withTimeout } from "../test/_web.ts";
import { inspectIsolate, isolateBytes } from "../test/_workerd-memory.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(here, "..");
const argv = process.argv.slice(2);
const arg = (k, d) => { const i = argv.indexOf(`--${k}`); return i >= 0 ? argv[i + 1] : d; };
const GB = Number(arg("gb", "1.0"));
const tmp = mkdtempSync(path.join(tmpdir(), "tensorshrink-bench-web-"));
const out = { date: new Date().toISOString(), cores: (await import("node:os")).cpus().length, browser: null, workerd: [] };

async function synthetic(file, layers, embd, ff, vocab) {
  const e = await init({ threads: 2 });
  await quantizeModel(e, syntheticModel({ nLayer: layers, nEmbd: embd, nFf: ff, nHead: embd / 128, nHeadKv: 4, nVocab: vocab, seed: 11 }), await openFileSink(file), { ftype: "F32" });
  e.dispose();
  return statSync(file).size;
}

try {
  if (!argv.includes("--skip-browser") && existsSync(CHROMIUM)) {
    const file = path.join(tmp, "synthetic-1GB-F32.gguf");
    // 8 layers x 1536 embd x 4096 ff + 16000 vocab ~ 1.0 GB of f32 (scaled by --gb through the layer count)
    const size = await synthetic(file, Math.max(1, Math.round(8 * GB)), 1536, 4096, 16000);
    const web = await serveWeb({ port: 0 });
    const b = await launch();
    try {
      await b.page.addInitScript(PROBES);
      const t0 = Date.now();
      await b.page.goto(web.url);
      await b.page.waitForFunction(() => performance.getEntriesByType("paint").some((x) => x.name === "first-contentful-paint"));
      const fp = await b.page.evaluate(() => performance.getEntriesByType("paint").find((x) => x.name === "first-contentful-paint").startTime);
      await waitState(b.page, ["ready"]);
      const readyMs = Date.now() - t0;
      await b.page.setInputFiles("#model-file", file);
      await waitState(b.page, ["planned"], 60_000);
      await b.page.check("#out-file");
      await b.page.evaluate(() => { window.__longTasks.length = 0; document.body.dataset.state = "x"; });
      const t1 = Date.now();
      await b.page.click("#run");
      const state = await waitState(b.page, ["done", "failed", "cancelled"], 600_000);
      const secs = (Date.now() - t1) / 1000;
      const { all, runAt, doneAt } = await b.page.evaluate(() => ({ all: window.__longTasks, runAt: Number(document.body.dataset.runAt), doneAt: Number(document.body.dataset.doneAt) }));
      // while quantizing: from the click to the arrival of the result; the final render of tables and plot apart
      const lt = all.filter((x) => x.start >= runAt - 50 && x.start + x.duration <= doneAt);
      const renderMs = Math.round(all.filter((x) => x.start >= doneAt - 1).reduce((m, x) => Math.max(m, x.duration), 0));
      const load = (await import("node:os")).loadavg()[0];
      const outSize = await b.page.evaluate(async () => { const d = await navigator.storage.getDirectory(); for await (const [, h] of d.entries()) return (await h.getFile()).size; return 0; });
      out.browser = { state, f32Bytes: size, outBytes: outSize, seconds: +secs.toFixed(2), mbPerSecond: +(size / 1e6 / secs).toFixed(1), firstPaintMs: Math.round(fp), engineReadyMs: readyMs, longTasks: lt.length, worstLongTaskMs: Math.round(lt.reduce((m, x) => Math.max(m, x.duration), 0)), longTaskMsTotal: Math.round(lt.reduce((s, x) => s + x.duration, 0)), finalRenderLongTaskMs: renderMs, loadAvg1m: +load.toFixed(1) };
      console.log("browser", out.browser);
    } finally {
      await b.close();
      await web.close();
      rmSync(file, { force: true });
    }
  }
  if (!argv.includes("--skip-workerd")) {
    const dir = path.join(tmp, "w");
    mkdirSync(path.join(dir, "node_modules"), { recursive: true });
    writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "w", private: true, type: "module" }));
    symlinkSync(ROOT, path.join(dir, "node_modules/tensorshrink"), "dir");
    for (const f of ["worker.js", "workerd.capnp"]) copyFileSync(path.join(ROOT, "docs/workers", f), path.join(dir, f));
    const esbuild = await import("esbuild");
    await esbuild.build({ entryPoints: [path.join(dir, "worker.js")], outfile: path.join(dir, "worker.bundle.js"), absWorkingDir: dir, bundle: true, format: "esm", platform: "neutral", conditions: ["workerd"], external: ["./tensorshrink.wasm"], logLevel: "silent" });
    copyFileSync(path.join(ROOT, "dist/tensorshrink.wasm"), path.join(dir, "tensorshrink.wasm"));
    // Variant for the chunk-size runs: the same Worker with chunkBytes from the query (?cb=bytes).
    writeFileSync(path.join(dir, "worker-cb.js"), readFileSync(path.join(dir, "worker.js"), "utf8").replace("chunkBytes: 1 << 20,", 'chunkBytes: Number(u.searchParams.get("cb") || 1 << 20),'));
    await esbuild.build({ entryPoints: [path.join(dir, "worker-cb.js")], outfile: path.join(dir, "worker-cb.bundle.js"), absWorkingDir: dir, bundle: true, format: "esm", platform: "neutral", conditions: ["workerd"], external: ["./tensorshrink.wasm"], logLevel: "silent" });
    writeFileSync(path.join(dir, "workerd-cb.capnp"), readFileSync(path.join(dir, "workerd.capnp"), "utf8").replace('embed "worker.bundle.js"', 'embed "worker-cb.bundle.js"'));
    // [layers, chunkBytes or 0 (the recipe as shipped), forced GC before every inspector sample (diagnostic: what is live)]
    const runs = [[4, 0, false], [Math.max(4, Math.round(20 * GB)), 0, false], [4, 256 << 10, false], [4, 4 << 20, false], [4, 0, true]];
    const file = path.join(tmp, "m.gguf");
    let fileLayers = 0, size = 0;
    for (const [layers, cb, gc] of runs) {
      if (fileLayers !== layers) { size = await synthetic(file, layers, 1024, 2816, 8000); fileLayers = layers; }
      const srv = await modelServer({ "/m.gguf": { file, mode: "range" } });
      const p = spawn(path.join(ROOT, "node_modules/.bin/workerd"), ["serve", cb ? "workerd-cb.capnp" : "workerd.capnp", "--socket-addr", "http=127.0.0.1:0", "--inspector-addr=127.0.0.1:0", "--control-fd=3"], { cwd: dir, stdio: ["ignore", "inherit", "inherit", "pipe"] });
      let insp = null;
      try {
        const ports = await withTimeout("workerd", new Promise((res) => { let buf = "", http = 0, ins = 0; p.stdio[3].on("data", (d) => { buf += d; for (const l of buf.split("\n")) { try { const m = JSON.parse(l); if (m.event === "listen") http = m.port; if (m.event === "listen-inspector") ins = m.port; } catch {} } if (http && ins) res({ http, ins }); }); }), 20_000);
        insp = await inspectIsolate(ports.ins);
        const idle = await insp.usage();
        const rss = (k = "VmRSS") => { const m = new RegExp(`^${k}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${p.pid}/status`, "utf8")); return m ? Number(m[1]) / 1024 : 0; };
        const rss0 = rss();
        let peak = rss0;
        const timer = setInterval(() => { try { peak = Math.max(peak, rss()); } catch {} }, 25);
        const sampler = insp.sample({ intervalMs: 5, gc });
        const t0 = Date.now();
        const res = await fetch(`http://127.0.0.1:${ports.http}/quantize?url=${encodeURIComponent(`${srv.url}/m.gguf`)}&ftype=Q8_0${cb ? `&cb=${cb}` : ""}`);
        let n = 0;
        for await (const c of res.body) n += c.length;
        clearInterval(timer);
        const secs = (Date.now() - t0) / 1000;
        const iso = await sampler.stop();
        const st = await (await fetch(`http://127.0.0.1:${ports.http}/stats`)).json();
        const MiB = (b) => +(b / 2 ** 20).toFixed(1);
        const r = {
          label: `${(size / 1e6).toFixed(0)} MB${cb ? `, chunkBytes ${cb >> 10} KiB` : ""}${gc ? ", GC before every sample (diagnostic)" : ""}`, f32Bytes: size, outBytes: n, status: res.status, failed: st.failed, seconds: +secs.toFixed(2), mbPerSecond: +(size / 1e6 / secs).toFixed(1),
          isolateIdleMiB: MiB(isolateBytes(idle)), isolatePeakMiB: MiB(iso.peakBytes + st.peakWasmBytes), jsHeapAtPeakMiB: MiB(iso.peak?.usedSize ?? 0), backingStoresAtPeakMiB: MiB(iso.peak?.backingStorageSize ?? 0), inspectorSamples: iso.samples,
          rssBeforeMiB: +rss0.toFixed(1), rssPeakMiB: +peak.toFixed(1), rssHwmMiB: +rss("VmHWM").toFixed(1), peakWasmMiB: MiB(st.peakWasmBytes), loadAvg1m: +(await import("node:os")).loadavg()[0].toFixed(1),
        };
        out.workerd.push(r);
        console.log("workerd", r);
      } finally {
        insp?.close();
        p.kill("SIGKILL");
        await srv.close();
      }
    }
    rmSync(file, { force: true });
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
// A part that was skipped keeps its previous figures.
try {
  const prev = JSON.parse(readFileSync(path.join(here, "webapp.json"), "utf8"));
  if (!out.browser && prev.browser) out.browser = prev.browser;
  if (!out.workerd.length && prev.workerd) { out.workerd = prev.workerd; out.workerdDate = prev.workerdDate ?? prev.date; }
} catch { /* first run */ }
writeFileSync(path.join(here, "webapp.json"), JSON.stringify(out, null, 2) + "\n");
console.log(JSON.stringify(out, null, 2));
process.exit(0);
