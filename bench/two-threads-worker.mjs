// What one pool worker costs (bench/VS-LLAMA.md "Two threads"): a Node worker_threads isolate started
// the way src/engine/pool.ts starts one, measured in fresh processes, `--reps` alternating runs:
//  1. the resident memory (VmRSS) and CPU (process.cpuUsage, all threads) a worker adds by the time it
//     answers its first message, bare and with the tensorshrink module instantiated in it; and the
//     worker's V8 heap right after start (v8.getHeapStatistics inside the worker);
//  2. the same for a second and a third worker (is the first one's cost a one-off?);
//  3. the CPU of one job round trip through the engine's pool (engine.poolCall of a tiny kernel,
//     2000 calls after 50 warm-up calls), which every unit a worker quantizes pays once.
// Usage: node bench/two-threads-worker.mjs [--reps 3]   (needs `npm run build`: dist/)
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, loadavg } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const DIST = path.join(ROOT, "dist/index.js"), WASM = path.join(ROOT, "dist/tensorshrink.wasm");
if (!existsSync(DIST) || !existsSync(WASM)) { console.log("SKIP: dist/ missing (npm run build)"); process.exit(0); }
const arg = (k, d) => { const i = process.argv.indexOf(k); return i > 0 ? process.argv[i + 1] : d; };
const reps = +arg("--reps", "3");
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const tmp = mkdtempSync(path.join(tmpdir(), "ts-bench-worker-"));
try {
  const start = path.join(tmp, "start.mjs");
  writeFileSync(start, `
import { Worker } from "node:worker_threads";
import { readFileSync } from "node:fs";
const rss = () => +readFileSync("/proc/self/status", "utf8").match(/VmRSS:\\s+(\\d+)/)[1] / 1024;
const cpu = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1e3; };
const withWasm = process.argv[2] === "wasm";
const mod = await WebAssembly.compile(readFileSync(${JSON.stringify(WASM)}));
await WebAssembly.instantiate(mod, { env: { abort() {}, seed: () => 0 } }); // the calling thread's own instance, as init() makes
const body = \`const v8 = require("v8"); const { parentPort } = require("node:worker_threads");
parentPort.on("message", async (m) => {
  if (m) await WebAssembly.instantiate(m, { env: { abort() {}, seed: () => 0 } });
  const h = v8.getHeapStatistics();
  parentPort.postMessage(h.total_physical_size / 1048576);
});\`;
const out = [];
const ws = [];
for (let k = 0; k < 3; k++) {
  const r0 = rss(), c0 = cpu();
  const w = new Worker(body, { eval: true });
  w.postMessage(withWasm ? mod : null);
  const heap = await new Promise((r) => w.once("message", r));
  out.push({ rssMiB: rss() - r0, cpuMs: cpu() - c0, heapMiB: heap });
  ws.push(w);
}
for (const w of ws) await w.terminate();
console.log(JSON.stringify(out));
`);
  const trip = path.join(tmp, "trip.mjs");
  writeFileSync(trip, `
import * as ts from ${JSON.stringify(pathToFileURL(DIST).href)};
const e = await ts.init({ threads: 1 });
const job = () => ({ kernel: "error_sums", buffers: [{ bytes: 48 }, { bytes: 64 }, { bytes: 64 }], args: [{ buf: 0 }, { buf: 1 }, { buf: 2 }, 16], outputs: [0] });
for (let i = 0; i < 50; i++) await e.poolCall(job());
const c0 = process.cpuUsage(), t0 = performance.now(), N = 2000;
for (let i = 0; i < N; i++) await e.poolCall(job());
const c = process.cpuUsage(c0);
console.log(JSON.stringify({ cpuUs: (c.user + c.system) / N, wallUs: (performance.now() - t0) * 1000 / N }));
e.dispose();
`);
  const run = (f, a = []) => {
    const r = spawnSync(process.execPath, [f, ...a], { encoding: "utf8", cwd: ROOT });
    if (r.status !== 0) throw new Error(r.stderr);
    return JSON.parse(r.stdout.trim().split("\n").pop());
  };
  const R = { bare: [], wasm: [], trip: [] };
  const l0 = loadavg()[0];
  for (let r = 0; r < reps; r++) { R.bare.push(run(start, ["bare"])); R.wasm.push(run(start, ["wasm"])); R.trip.push(run(trip)); }
  console.log(`Worker cost, ${reps} alternating fresh processes, medians (load ${l0.toFixed(1)} / ${loadavg()[0].toFixed(1)}):\n`);
  console.log("| worker | RSS added MiB | CPU ms | its V8 heap MiB |\n|---|---:|---:|---:|");
  for (const k of ["bare", "wasm"]) for (let i = 0; i < 3; i++) {
    const col = (x) => median(R[k].map((v) => v[i][x]));
    console.log(`| ${["1st", "2nd", "3rd"][i]} worker${k === "wasm" ? " + tensorshrink instance" : ", bare"} | ${col("rssMiB").toFixed(1)} | ${col("cpuMs").toFixed(0)} | ${col("heapMiB").toFixed(1)} |`);
  }
  console.log(`\nOne job round trip through the pool (engine.poolCall, tiny kernel): ${median(R.trip.map((v) => v.cpuUs)).toFixed(0)} us CPU, ${median(R.trip.map((v) => v.wallUs)).toFixed(0)} us wall`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
