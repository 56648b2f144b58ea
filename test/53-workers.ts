// The Cloudflare Workers recipe (docs/workers/) in workerd from node_modules: worker.js bundled as
// wrangler does (esbuild, `workerd` condition, the .wasm left to the runtime as a compiled module),
// run with docs/workers/workerd.capnp. The Worker re-quantizes a ≥ 200 MB F32 GGUF that it reads
// with range requests from a local HTTP server and streams the GGUF back: the bytes must be Node's
// (quantizeModel). Peak memory is measured by the isolate's own accounting (V8's Runtime.getHeapUsage
// over workerd's inspector: JS heap in use + ArrayBuffer backing stores, garbage included, sampled
// while the job runs) plus the engine's wasm memory from /stats, and must stay < 128 MiB (Workers'
// limit is per isolate); workerd's process RSS (runtime included) is recorded too.
// A source that fails mid-job breaks the response (never a short body that looks complete);
// a URL that is no model / has no range support gets a 4xx with the reason.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { init, quantizeModel, openModel, openFileSink, syntheticModel } from "../src/index";
import { ROOT } from "./_util";
import { modelServer, withTimeout } from "./_web";
import { inspectIsolate, isolateBytes, type IsolateInspector } from "./_workerd-memory";

const WORKERD = path.join(ROOT, "node_modules/.bin/workerd");
const FTYPE = "Q8_0";
let tmp = "", big = "", junk = "";
let refSha = "", refSize = 0;
let models: Awaited<ReturnType<typeof modelServer>> | null = null;
let p: ChildProcess | null = null;
let port = 0;
let inspector: IsolateInspector | null = null;
let stderr = "";
const figures: Record<string, unknown> = {};

function rssKb(pid: number, key = "VmRSS"): number {
  try {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch { return 0; }
}

test.before(async () => {
  if (!existsSync(WORKERD)) throw new Error(`workerd is missing (${WORKERD}): run npm ci (it is a devDependency)`);
  if (!existsSync(path.join(ROOT, "dist/index.workerd.js"))) throw new Error("dist/index.workerd.js is missing: run `npm run build` first");
  tmp = mkdtempSync(path.join(tmpdir(), "tensorshrink-workers-"));
  // A consumer project, as in test/50: node_modules/tensorshrink -> this repo.
  writeFileSync(path.join(tmp, "package.json"), JSON.stringify({ name: "requantize-worker", private: true, type: "module" }));
  mkdirSync(path.join(tmp, "node_modules"));
  symlinkSync(ROOT, path.join(tmp, "node_modules/tensorshrink"), "dir");
  for (const f of ["worker.js", "workerd.capnp", "wrangler.toml"]) copyFileSync(path.join(ROOT, "docs/workers", f), path.join(tmp, f));
  // The bundling step of the README, verbatim in its options.
  const esbuild: any = await import("esbuild");
  await esbuild.build({ entryPoints: [path.join(tmp, "worker.js")], outfile: path.join(tmp, "worker.bundle.js"), absWorkingDir: tmp, bundle: true, format: "esm", platform: "neutral", conditions: ["workerd"], external: ["./tensorshrink.wasm"], logLevel: "silent" });
  copyFileSync(path.join(ROOT, "dist/tensorshrink.wasm"), path.join(tmp, "tensorshrink.wasm"));
  // A ≥ 200 MB F32 GGUF (synthetic llama) and Node's Q8_0 of it.
  big = path.join(tmp, "synthetic-F32.gguf");
  const e = await init({ threads: 2 });
  await quantizeModel(e, syntheticModel({ nLayer: 4, nEmbd: 1024, nFf: 2816, nHead: 16, nHeadKv: 4, nVocab: 8000, seed: 5 }), await openFileSink(big), { ftype: "F32" });
  const src = await openModel(big, e);
  const outPath = path.join(tmp, "node-Q8_0.gguf");
  await quantizeModel(e, src, await openFileSink(outPath), { ftype: FTYPE });
  await src.close?.();
  e.dispose();
  const ref = readFileSync(outPath);
  refSha = createHash("sha256").update(ref).digest("hex"); refSize = ref.length;
  rmSync(outPath);
  junk = path.join(tmp, "junk.gguf");
  writeFileSync(junk, Buffer.alloc(4096, 7));
  models = await modelServer({ "/big.gguf": { file: big, mode: "range" }, "/norange.gguf": { file: big, mode: "norange" }, "/junk.gguf": { file: junk, mode: "range" }, "/flaky.gguf": { file: big, mode: "range" } });

  p = spawn(WORKERD, ["serve", "workerd.capnp", "--socket-addr", "http=127.0.0.1:0", "--inspector-addr=127.0.0.1:0", "--control-fd=3"], { cwd: tmp, stdio: ["ignore", "pipe", "pipe", "pipe"] });
  p.stdout!.on("data", (d) => (stderr += d));
  p.stderr!.on("data", (d) => (stderr += d));
  let inspectorPort = 0;
  port = await withTimeout("workerd startup", new Promise<number>((resolve, reject) => {
    let buf = "", http = 0;
    (p!.stdio[3] as any).on("data", (d: Buffer) => {
      buf += d;
      for (const line of buf.split("\n")) {
        try {
          const m = JSON.parse(line);
          if (m.event === "listen" && m.socket === "http") http = m.port;
          if (m.event === "listen-inspector") inspectorPort = m.port;
        } catch { /* partial */ }
      }
      if (http && inspectorPort) resolve(http);
    });
    p!.on("exit", (c, s) => reject(new Error(`workerd exited (${c ?? s}) before listening:\n${stderr}`)));
  }), 20_000);
  inspector = await withTimeout("workerd inspector", inspectIsolate(inspectorPort), 10_000);
});

test.after(async () => {
  inspector?.close();
  if (p && p.exitCode === null) p.kill("SIGKILL");
  await models?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  if (Object.keys(figures).length) console.log(`workers figures: ${JSON.stringify(figures)}`);
});

const q = (u: string, ftype = FTYPE) => `http://127.0.0.1:${port}/quantize?url=${encodeURIComponent(u)}&ftype=${ftype}`;

test(`workerd: a ${FTYPE} of a ≥ 200 MB GGUF read by range requests, streamed back: Node's bytes; the isolate's peak memory < 128 MiB`, async () => {
  const size = statSync(big).size;
  assert.ok(size >= 200e6, `model ${size} bytes`);
  const idle = await inspector!.usage();
  const rss0 = rssKb(p!.pid!);
  let peak = rss0;
  const timer = setInterval(() => { peak = Math.max(peak, rssKb(p!.pid!)); }, 25);
  const sampler = inspector!.sample({ intervalMs: 5 });
  const t0 = Date.now();
  try {
    const res = await fetch(q(`${models!.url}/big.gguf`), { signal: AbortSignal.timeout(80_000) });
    assert.is(res.status, 200, `HTTP ${res.status}: ${res.status !== 200 ? await res.text() : ""}\n${stderr}`);
    assert.match(res.headers.get("content-disposition") ?? "", /big-Q8_0\.gguf/);
    const h = createHash("sha256");
    let n = 0;
    for await (const c of res.body as any) { h.update(c); n += c.length; }
    assert.is(n, refSize, "streamed size");
    assert.is(h.digest("hex"), refSha, "streamed bytes = quantizeModel's in Node");
  } finally {
    clearInterval(timer);
  }
  const secs = (Date.now() - t0) / 1000;
  const iso = await sampler.stop();
  const st = await (await fetch(`http://127.0.0.1:${port}/stats`)).json() as any;
  const hwm = rssKb(p!.pid!, "VmHWM");
  const MiB = (b: number) => +(b / 2 ** 20).toFixed(1);
  // Upper bound: the wasm memory is added although V8 may already count it among the backing stores.
  const isolatePeak = iso.peakBytes + st.peakWasmBytes;
  figures.big = { f32Bytes: size, seconds: secs, mbPerSecond: +(size / 1e6 / secs).toFixed(1), isolateIdleMiB: MiB(isolateBytes(idle)), isolatePeakMiB: MiB(isolatePeak), jsHeapAtPeakMiB: MiB(iso.peak?.usedSize ?? 0), backingStoresAtPeakMiB: MiB(iso.peak?.backingStorageSize ?? 0), samples: iso.samples, rssBeforeMB: +(rss0 / 1024).toFixed(1), rssPeakSampledMB: +(peak / 1024).toFixed(1), rssHwmMB: +(hwm / 1024).toFixed(1), peakWasmMB: +(st.peakWasmBytes / 2 ** 20).toFixed(1), rangeRequests: models!.requests.filter((r) => r.startsWith("GET /big.gguf")).length };
  assert.is(st.failed, 0, `worker job failed: ${st.lastError}`);
  assert.ok(st.peakWasmBytes > 0 && st.peakWasmBytes < 128 * 2 ** 20, `engine wasm memory ${st.peakWasmBytes} bytes < 128 MiB`);
  assert.ok(iso.samples >= 20, `only ${iso.samples} inspector samples during a ${secs.toFixed(1)} s job`);
  assert.ok(iso.peak && (iso.peak.backingStorageSize ?? -1) > 0, `Runtime.getHeapUsage reports no backingStorageSize: ${JSON.stringify(iso.peak)}`);
  assert.ok(isolatePeak < 128 * 2 ** 20, `isolate peak ${MiB(isolatePeak)} MiB (JS heap ${MiB(iso.peak!.usedSize)} + backing stores ${MiB(iso.peak!.backingStorageSize!)} + wasm ${MiB(st.peakWasmBytes)}) >= 128 MiB`);
  assert.ok(peak - rss0 < 128 * 1024, `workerd RSS grew by ${((peak - rss0) / 1024).toFixed(1)} MiB during the job (< 128 MiB)`);
});

test("workerd: not a model, no range support, unknown ftype -> 4xx with the reason", async () => {
  const a = await fetch(q(`${models!.url}/junk.gguf`));
  assert.is(a.status, 422);
  assert.match(await a.text(), /not a GGUF/);
  const b = await fetch(q(`${models!.url}/norange.gguf`));
  assert.is(b.status, 422);
  assert.match(await b.text(), /expected HTTP 206 Partial Content.*server ignores Range/);
  const c = await fetch(q(`${models!.url}/big.gguf`, "Q9_X"));
  assert.is(c.status, 400);
  assert.match(await c.text(), /Q9_X/);
});

test("workerd: the source disappears mid-job -> the response breaks (no complete-looking short file)", async () => {
  const res = await fetch(q(`${models!.url}/flaky.gguf`), { signal: AbortSignal.timeout(60_000) });
  assert.is(res.status, 200);
  let n = 0, failed = false;
  try {
    for await (const c of res.body as any) {
      n += c.length;
      // after the header and the first tensors have been streamed, the source goes away
      if (n > 20e6 && existsSync(big)) rmSync(big, { force: true });
    }
  } catch {
    failed = true;
  }
  assert.ok(failed, `the body ended normally after ${n} of ${refSize} bytes: a client could take it for a complete file`);
  assert.ok(n < refSize, `${n} bytes`);
});

test.run();
