// The same code — `import { init } from "tensorshrink"; const engine = await init();` — in every
// runtime the package supports: Node ESM and CJS, Deno 2, Bun, headless Chromium and workerd. Each
// runs test/runtimes/core.mjs against the BUILT package (dist/, resolved through the `exports` map of
// a node_modules/tensorshrink symlink in a temp dir) and must produce the same q8_0 bytes (sha256) as
// this Node process, on the calling thread and through the worker pool (`quantizeAsync`, threads: 2).
// Each also runs the main job: quantizeModel writes an F32 GGUF of a small synthetic llama model,
// reads it back from a Blob (and, in Chromium, over HTTP range requests from the test server) and
// quantizes it to Q4_K_M on the pool; the output must be Node's bytes.
// Every child process / browser has a hard timeout and is stopped; the temp dir is removed.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, copyFileSync, writeFileSync, readFileSync, existsSync, statSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import * as srcPkg from "../src/index";
// @ts-ignore: plain JS fixture
import { smoke, SMOKE_MODEL } from "./runtimes/core.mjs";
import { ROOT } from "./_util";

const FIX = path.join(ROOT, "test/runtimes");
const BIN = (n: string) => path.join(ROOT, "node_modules/.bin", n);
// Debian's chromium; TENSORSHRINK_CHROMIUM overrides the path (e.g. to check the "missing" message).
const CHROMIUM = process.env.TENSORSHRINK_CHROMIUM || "/usr/bin/chromium";
const PROC_TIMEOUT = 30_000;
const DIST_ESM = pathToFileURL(path.join(ROOT, "dist/index.js")).href;
const env = { ...process.env, FORCE_COLOR: "0", NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1", DENO_NO_PROMPT: "1" };

let tmp = "";
let ref: any = null;
const timings: Record<string, number> = {};

type Result = Record<string, any>;

test.before(async () => {
  for (const f of ["dist/index.js", "dist/index.cjs", "dist/index.workerd.js", "dist/tensorshrink.wasm"]) {
    if (!existsSync(path.join(ROOT, f))) throw new Error(`${f} is missing: run \`npm run build\` first (the runtime tests use the built package)`);
  }
  // The reference: this Node process, engine from source (build/tensorshrink.wasm).
  ref = await smoke(srcPkg.init, { pkg: srcPkg });
  assert.ok(ref.model.tensors >= 10 && /q4_K/.test(ref.model.types) && /q6_K/.test(ref.model.types), `reference model job: ${JSON.stringify(ref.model)}`);
  assert.is(ref.bytes, 64 * 8 * 34, "64 rows x 8 blocks x 34 bytes");
  assert.is(ref.refSha, ref.sha, "reference: SIMD and _ref kernels agree");
  assert.is(ref.asyncSha, ref.sha, "reference: pool and calling thread agree");

  // A consumer project: package.json + node_modules/tensorshrink -> this repo, fixtures copied in.
  tmp = mkdtempSync(path.join(tmpdir(), "tensorshrink-rt-"));
  writeFileSync(path.join(tmp, "package.json"), JSON.stringify({ name: "tensorshrink-runtime-smoke", private: true, type: "module", dependencies: { tensorshrink: "*" } }, null, 2));
  mkdirSync(path.join(tmp, "node_modules"));
  symlinkSync(ROOT, path.join(tmp, "node_modules/tensorshrink"), "dir");
  for (const f of ["core.mjs", "smoke.mjs", "smoke.cjs", "app.js", "browser.html", "worker.js", "workerd-config.capnp"]) copyFileSync(path.join(FIX, f), path.join(tmp, f));
  // The F32 GGUF the browser reads over HTTP range requests (the same file every runtime builds in memory).
  const e = await srcPkg.init({ threads: 0 });
  const f32 = srcPkg.memorySink();
  await srcPkg.quantizeModel(e, srcPkg.syntheticModel(SMOKE_MODEL), f32, { ftype: "F32" });
  e.dispose();
  writeFileSync(path.join(tmp, "model-f32.gguf"), f32.bytes());
});

test.after(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  const t = Object.entries(timings).map(([k, v]) => `${k} ${(v / 1000).toFixed(1)} s`).join(", ");
  if (t) console.log(`runtime timings: ${t}`);
});

// ------------------------------------------------------------------ helpers

interface ProcOut { code: number | null; signal: string | null; stdout: string; stderr: string; timedOut: boolean }

/** Runs a command to completion; SIGKILLs it after `timeoutMs`. */
function run(cmd: string, args: string[], timeoutMs = PROC_TIMEOUT): Promise<ProcOut> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd: tmp, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "", stderr = "", timedOut = false;
    p.stdout!.on("data", (d) => (stdout += d));
    p.stderr!.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => { timedOut = true; p.kill("SIGKILL"); }, timeoutMs);
    p.on("error", (e) => { clearTimeout(timer); reject(e); });
    p.on("close", (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr, timedOut }); });
  });
}

function parseResult(label: string, text: string, diag: string): Result {
  const line = text.split("\n").find((l) => l.startsWith("SMOKE_RESULT "));
  if (!line) assert.unreachable(`${label}: no SMOKE_RESULT line.\n--- output ---\n${diag.slice(0, 4000)}`);
  return JSON.parse(line!.slice("SMOKE_RESULT ".length));
}

async function runSmoke(label: string, cmd: string, args: string[]): Promise<Result> {
  const t0 = Date.now();
  const o = await run(cmd, args);
  timings[label] = Date.now() - t0;
  const diag = `exit ${o.code}${o.signal ? " " + o.signal : ""}${o.timedOut ? ` (killed after ${PROC_TIMEOUT} ms)` : ""}\n${o.stdout}\n${o.stderr}`;
  if (o.timedOut || o.code !== 0) assert.unreachable(`${label}: ${cmd} ${args.join(" ")} failed: ${diag.slice(0, 4000)}`);
  return parseResult(label, o.stdout, diag);
}

/** The same bytes as the reference, on every path. `workers`: pool workers that must have run. */
function same(label: string, r: Result, workers: number): void {
  assert.is(r.bytes, ref.bytes, `${label}: q8_0 byte count`);
  assert.is(r.sha, ref.sha, `${label}: sha256 of quantize (q8_0) differs from Node`);
  assert.is(r.refSha, ref.sha, `${label}: sha256 of the _ref kernel differs`);
  assert.is(r.dequantSha, ref.dequantSha, `${label}: sha256 of dequantize differs`);
  assert.is(r.asyncSha, ref.sha, `${label}: sha256 of quantizeAsync (threads: 2) differs`);
  assert.is(r.asyncDequantSha, ref.dequantSha, `${label}: sha256 of dequantizeAsync differs`);
  assert.equal(r.typeInfo, ref.typeInfo, `${label}: typeInfo("q8_0")`);
  assert.is(r.workers, workers, `${label}: pool workers used by quantizeAsync`);
  // the main job: F32 GGUF written, read back from a Blob, quantized to Q4_K_M on the pool
  assert.is(r.modelF32Sha, ref.modelF32Sha, `${label}: the F32 GGUF written by quantizeModel differs from Node's`);
  assert.equal(r.model, ref.model, `${label}: Q4_K_M of the model read from a Blob differs from Node's`);
  // the engine's forward pass: evaluate() and generate() give Node's numbers (f32 wasm arithmetic is
  // deterministic; JS-side transcendental functions may differ in the last bit between engines)
  assert.ok(r.eval && ref.eval, `${label}: evaluate() ran`);
  assert.is(r.eval.tokens, ref.eval.tokens, `${label}: evaluate() scored positions`);
  for (const k of ["pplBase", "pplOther", "kld", "top1"] as const) {
    const a = r.eval[k], b = ref.eval[k];
    assert.ok(Number.isFinite(a) && Math.abs(a - b) <= 1e-5 * Math.max(1, Math.abs(b)), `${label}: evaluate() ${k} ${a} vs Node's ${b}`);
  }
  assert.equal(r.generated, ref.generated, `${label}: greedy generate() tokens differ from Node's`);
}

function withTimeout<T>(label: string, p: Promise<T>, ms: number): Promise<T> {
  let timer: any;
  return Promise.race([p, new Promise<T>((_, rej) => { timer = setTimeout(() => rej(new Error(`${label}: timed out after ${ms} ms`)), ms); })]).finally(() => clearTimeout(timer));
}

async function bundle(entry: string, outfile: string, opts: Record<string, unknown>): Promise<void> {
  const esbuild: any = await import("esbuild");
  await esbuild.build({ entryPoints: [path.join(tmp, entry)], outfile: path.join(tmp, outfile), absWorkingDir: tmp, bundle: true, format: "esm", logLevel: "silent", ...opts });
}

function stop(p: ChildProcess | null): void {
  if (p && p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
}

// ------------------------------------------------------------------ Node

test("node ESM: import { init } from \"tensorshrink\" (exports map -> dist/index.js), pool of 2 worker_threads", async () => {
  const res = await run(process.execPath, ["--input-type=module", "-e", 'console.log(import.meta.resolve("tensorshrink"))']);
  assert.is(res.stdout.trim(), DIST_ESM, "the import condition");
  const r = await runSmoke("node-esm", process.execPath, ["smoke.mjs"]);
  same("node ESM", r, 2);
  assert.is(r.resolved, DIST_ESM);
});

test("node CJS: require(\"tensorshrink\") (exports map -> dist/index.cjs), pool of 2 worker_threads", async () => {
  const res = await run(process.execPath, ["-e", 'console.log(require.resolve("tensorshrink"))']);
  assert.is(res.stdout.trim(), path.join(ROOT, "dist/index.cjs"), "the require condition");
  same("node CJS", await runSmoke("node-cjs", process.execPath, ["smoke.cjs"]), 2);
});

// ------------------------------------------------------------------ Deno, Bun

test("deno 2: deno run (package from node_modules, no permissions), pool of 2 Web Workers", async () => {
  const deno = BIN("deno");
  if (!existsSync(deno)) assert.unreachable(`deno is missing (${deno}): run npm ci (it is a devDependency)`);
  // No --allow-*: the package needs no permissions (the wasm is inlined; workers come from Blob URLs).
  const r = await runSmoke("deno", deno, ["run", "--no-prompt", "smoke.mjs"]);
  same("deno", r, 2);
  assert.is(r.resolved, DIST_ESM, "deno resolves the import condition from node_modules");
});

test("bun: bun run, pool of 2 Web Workers", async () => {
  const bun = BIN("bun");
  if (!existsSync(bun)) assert.unreachable(`bun is missing (${bun}): run npm ci (it is a devDependency)`);
  const r = await runSmoke("bun", bun, ["run", "--no-install", "smoke.mjs"]);
  same("bun", r, 2);
  assert.is(r.resolved, DIST_ESM, "bun resolves the import condition from node_modules");
});

// ------------------------------------------------------------------ Chromium

// Without a browser the test is reported as skipped (with the reason and the install line), so
// `npm test` passes on a fresh machine; under CI (CI=true) a missing browser stays a failure.
const CHROMIUM_MISSING = !existsSync(CHROMIUM);
const CHROMIUM_MSG = `Chromium is not installed at ${CHROMIUM}: install Debian's package (apt-get install -y chromium; .ci/run does this). Never download a browser.`;
if (CHROMIUM_MISSING && !process.env.CI) console.error(`-- skipped: the Chromium test. ${CHROMIUM_MSG} (With CI=true a missing browser is a failure.)`);
(CHROMIUM_MISSING && !process.env.CI ? test.skip : test)("chromium (headless): esbuild browser bundle served on 127.0.0.1, pool of 2 Web Workers, init({ url })", async () => {
  if (CHROMIUM_MISSING) {
    console.error(`!! ${CHROMIUM_MSG}`);
    assert.unreachable(CHROMIUM_MSG);
  }
  const t0 = Date.now();
  await bundle("app.js", "app.bundle.js", { platform: "browser" });
  copyFileSync(path.join(ROOT, "dist/tensorshrink.wasm"), path.join(tmp, "tensorshrink.wasm"));
  const types: Record<string, string> = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm" };
  let rangeRequests = 0;
  const server: Server = createServer((req, res) => {
    const name = decodeURIComponent(new URL(req.url || "/", "http://x").pathname.slice(1)) || "browser.html";
    const file = path.join(tmp, name);
    if (name.includes("..") || name.includes("/") || !existsSync(file) || !statSync(file).isFile()) { res.writeHead(404).end("not found"); return; }
    const body = readFileSync(file);
    const headers = { "content-type": types[path.extname(name)] || "application/octet-stream", "cache-control": "no-store", "accept-ranges": "bytes" };
    const range = /^bytes=(\d+)-(\d+)$/.exec(String(req.headers.range ?? ""));
    if (range) {
      // Range requests (openUrlSource): 206 with exactly the bytes asked for
      const a = Number(range[1]), b = Math.min(Number(range[2]), body.length - 1);
      if (a >= body.length || a > b) { res.writeHead(416, { "content-range": `bytes */${body.length}` }).end(); return; }
      rangeRequests++;
      res.writeHead(206, { ...headers, "content-range": `bytes ${a}-${b}/${body.length}` }).end(body.subarray(a, b + 1));
      return;
    }
    res.writeHead(200, headers).end(body);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as any).port;
  const profile = mkdtempSync(path.join(tmpdir(), "tensorshrink-chromium-"));
  let ctx: any = null;
  const logs: string[] = [];
  try {
    const { chromium } = await import("playwright-core");
    ctx = await withTimeout("chromium launch", chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
      timeout: 20_000,
    }), 25_000);
    const page = ctx.pages()[0] ?? (await ctx.newPage());
    page.on("console", (m: any) => logs.push(`console.${m.type()}: ${m.text()}`));
    page.on("pageerror", (e: any) => logs.push(`pageerror: ${e?.stack || e}`));
    await page.goto(`http://127.0.0.1:${port}/browser.html`, { timeout: 15_000 });
    await page.waitForFunction(() => (window as any).__smoke, null, { timeout: 20_000 });
    const out = await page.evaluate(() => (window as any).__smoke);
    if (!out.ok) assert.unreachable(`chromium: the page failed: ${out.error}\n${logs.join("\n")}`);
    same("chromium", out.result, 2);
    assert.equal(out.result.modelUrl, ref.model, "chromium: the model read over HTTP range requests quantizes to the same bytes");
    assert.ok(rangeRequests > 10, `chromium: ${rangeRequests} range requests`);
    assert.is(out.result.urlSha, ref.sha, "chromium: init({ url }) gives the same bytes");
  } catch (e) {
    if (logs.length) console.error(`chromium page log:\n${logs.join("\n")}`);
    throw e;
  } finally {
    if (ctx) await withTimeout("chromium close", ctx.close(), 10_000).catch(() => {});
    await new Promise((r) => server.close(r));
    server.closeAllConnections?.();
    rmSync(profile, { recursive: true, force: true });
    timings.chromium = Date.now() - t0;
  }
});

// ------------------------------------------------------------------ workerd

test("workerd: the `workerd` condition, tensorshrink.wasm as a wasm module, with and without nodejs_compat (single-threaded)", async () => {
  const workerd = BIN("workerd");
  if (!existsSync(workerd)) assert.unreachable(`workerd is missing (${workerd}): run npm ci (it is a devDependency)`);
  const t0 = Date.now();
  // As wrangler does: bundle with the `workerd` condition, leave the .wasm import to the runtime.
  await bundle("worker.js", "worker.bundle.js", { platform: "neutral", conditions: ["workerd"], external: ["./tensorshrink.wasm"] });
  const code = readFileSync(path.join(tmp, "worker.bundle.js"), "utf8");
  assert.match(code, /from\s*"\.\/tensorshrink\.wasm"/, "the workerd bundle imports the wasm module");
  assert.ok(code.length < statSync(path.join(ROOT, "dist/index.js")).size, "the workerd bundle does not inline the wasm bytes");
  copyFileSync(path.join(ROOT, "dist/tensorshrink.wasm"), path.join(tmp, "tensorshrink.wasm"));

  // Sockets bind 127.0.0.1:0; workerd reports the chosen ports on the control fd (3).
  let p: ChildProcess | null = null;
  let stderr = "";
  try {
    p = spawn(workerd, ["serve", "workerd-config.capnp", "--control-fd=3"], { cwd: tmp, env, stdio: ["ignore", "pipe", "pipe", "pipe"] });
    p.stdout!.on("data", (d) => (stderr += d));
    p.stderr!.on("data", (d) => (stderr += d));
    const ports = await withTimeout("workerd startup", new Promise<Record<string, number>>((resolve, reject) => {
      const found: Record<string, number> = {};
      let buf = "";
      (p!.stdio[3] as any).on("data", (d: Buffer) => {
        buf += d;
        let i: number;
        while ((i = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, i); buf = buf.slice(i + 1);
          try { const m = JSON.parse(line); if (m.event === "listen") found[m.socket] = m.port; } catch {}
        }
        if (found.plain && found.compat) resolve(found);
      });
      p!.on("exit", (c, s) => reject(new Error(`workerd exited (${c ?? s}) before listening:\n${stderr}`)));
      p!.on("error", reject);
    }), 20_000).catch((e) => assert.unreachable(`${e.message}\n${stderr}`) as never);
    for (const [socket, port] of Object.entries(ports)) {
      const res = await withTimeout(`workerd fetch (${socket})`, fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(15_000) }), 16_000);
      const text = await res.text();
      if (res.status !== 200) assert.unreachable(`workerd (${socket}): HTTP ${res.status}: ${text.slice(0, 4000)}\n${stderr}`);
      same(`workerd (${socket})`, parseResult(`workerd (${socket})`, text, text + "\n" + stderr), 0);
    }
  } finally {
    stop(p);
    timings.workerd = Date.now() - t0;
  }
});

test.run();
