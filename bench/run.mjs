// Seeded benchmark: quantization throughput in GB/s of f32 input (16 MiB inputs), wasm SIMD kernels
// beside their scalar _ref twins, plain-JS ports (bench/js) and wasm memory.copy of the same bytes,
// all measured in the same run. Writes bench/results.json and bench/RESULTS.md, prints the table.
// Usage: npm run bench [-- --quick] [-- --only q8_0,q4_K]
import { writeFileSync, existsSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import os from "node:os";
import path from "node:path";
import { init } from "../dist/index.js";
import { benchData } from "./_bench-data.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const quick = process.argv.includes("--quick");
const onlyArg = process.argv.find((a) => a.startsWith("--only="))?.slice(7) ?? (process.argv.includes("--only") ? process.argv[process.argv.indexOf("--only") + 1] : null);
const only = onlyArg ? new Set(onlyArg.split(",")) : null;
const MIN_TIME = quick ? 0.15 : 0.6; // seconds of repetitions per measurement

const ROWS = 1024, COLS = 4096; // 4 Mi values = 16 MiB of f32
const N = ROWS * COLS, BYTES = N * 4;

const { x, imatrix } = benchData(N, COLS); // gaussian-ish weights with 1% outliers, heavy-tailed importance (bench/_bench-data.mjs)

function measure(fn) {
  fn(); // warm up
  const times = [];
  const t0 = performance.now();
  do {
    const t = performance.now();
    fn();
    times.push((performance.now() - t) / 1000);
  } while ((performance.now() - t0) / 1000 < MIN_TIME || times.length < 3);
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]; // median seconds
}
const gbps = (sec) => BYTES / sec / 1e9;

const engine = await init({ threads: 0 });
const e = engine.exports;
const pin = engine.alloc(BYTES), pout = engine.alloc(BYTES), pim = engine.alloc(COLS * 4);
new Float32Array(e.memory.buffer, pin, N).set(x);
new Float32Array(e.memory.buffer, pim, COLS).set(imatrix);

const rows = [];
const memcpySec = measure(() => e.ts_memcpy(pout, pin, BYTES));
rows.push({ name: "memory.copy (wasm)", variant: "", simdGBs: gbps(memcpySec) });

const TYPES = ["q8_0", "f16", "bf16", "q4_0", "q4_1", "q5_0", "q5_1", "iq4_nl", "mxfp4", "q2_K", "q3_K", "q4_K", "q5_K", "q6_K", "tq1_0", "tq2_0"];
for (const type of TYPES) {
  if (only && !only.has(type)) continue;
  if (!engine.supports(type)) { console.error(`(skip ${type}: no kernel in this build)`); continue; }
  const info = engine.typeInfo(type);
  const variants = info.usesImatrix ? ["", "imatrix"] : [""];
  const jsPath = path.join(here, "js", `${type}.js`);
  const js = existsSync(jsPath) ? await import(pathToFileURL(jsPath).href) : null;
  for (const variant of variants) {
    const im = variant ? pim : 0;
    const simd = measure(() => e[`quantize_${type}`](pout, pin, ROWS, COLS, im));
    const ref = measure(() => e[`quantize_${type}_ref`](pout, pin, ROWS, COLS, im));
    const api = measure(() => engine.quantize(x, { type, rows: ROWS, cols: COLS, imatrix: variant ? imatrix : undefined }));
    let jsSec = null, jsSame = null;
    const jsFn = js?.[`quantize_${type}`];
    if (jsFn) {
      const t = performance.now();
      const out = jsFn(x, ROWS, COLS, variant ? imatrix : null);
      jsSec = (performance.now() - t) / 1000;
      if (jsSec < 2 && !quick) jsSec = Math.min(jsSec, measure(() => jsFn(x, ROWS, COLS, variant ? imatrix : null)));
      const w = engine.quantize(x, { type, rows: ROWS, cols: COLS, imatrix: variant ? imatrix : undefined });
      jsSame = out.length === w.length && out.every((v, i) => v === w[i]);
    }
    rows.push({
      name: type, variant, bitsPerWeight: info.bitsPerWeight,
      simdGBs: gbps(simd), refGBs: gbps(ref), apiGBs: gbps(api), jsGBs: jsSec ? gbps(jsSec) : null,
      speedupVsJs: jsSec ? jsSec / simd : null, fractionOfMemcpy: memcpySec / simd, jsSameBytes: jsSame,
    });
    console.error(`${type}${variant ? " +imatrix" : ""}: ${gbps(simd).toFixed(3)} GB/s`);
  }
}

// Worker pool: async (2 workers) vs sync on the same input, same bytes.
const poolRows = [];
{
  const pe = await init({ threads: 2 });
  for (const type of ["q8_0", "q4_K", "q6_K"]) {
    if (!pe.supports(type) || (only && !only.has(type))) continue;
    const o = { type, rows: ROWS, cols: COLS };
    const syncSec = measure(() => pe.quantize(x, o));
    let a;
    await pe.quantizeAsync(x, o);
    const t = [];
    for (let i = 0; i < (quick ? 3 : 5); i++) { const t0 = performance.now(); a = await pe.quantizeAsync(x, o); t.push((performance.now() - t0) / 1000); }
    t.sort((p, q) => p - q);
    const asyncSec = t[Math.floor(t.length / 2)];
    const same = Buffer.compare(Buffer.from(a), Buffer.from(pe.quantize(x, o))) === 0;
    poolRows.push({ type, syncGBs: gbps(syncSec), asyncGBs: gbps(asyncSec), speedup: syncSec / asyncSec, sameBytes: same });
  }
  pe.dispose();
}

const f = (v, d = 3) => (v === null || v === undefined ? "–" : v.toFixed(d));
let md = `# Benchmark results\n\nMeasured ${new Date().toISOString()} on ${os.cpus()[0]?.model ?? "?"} (${os.availableParallelism?.() ?? os.cpus().length} cores), Node ${process.version}.\n`;
md += `Input: ${ROWS} x ${COLS} f32 (16 MiB), seeded. GB/s = GB of f32 input per second (median of repeated runs).\n`;
md += `"SIMD" and "_ref" are the raw kernels on data already in wasm memory; "API" is engine.quantize with copies in and out; "JS" is a plain-JS port of the same algorithm (bench/js), "JS same" says whether it wrote the same bytes.\n\n`;
md += `| format | variant | bits/w | SIMD GB/s | _ref GB/s | API GB/s | JS GB/s | SIMD / JS | SIMD / memory.copy | JS same |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---|\n`;
for (const r of rows) md += `| ${r.name} | ${r.variant} | ${f(r.bitsPerWeight, 4)} | ${f(r.simdGBs)} | ${f(r.refGBs)} | ${f(r.apiGBs)} | ${f(r.jsGBs)} | ${r.speedupVsJs ? f(r.speedupVsJs, 1) + "×" : "–"} | ${r.fractionOfMemcpy ? (100 * r.fractionOfMemcpy).toFixed(0) + "%" : "–"} | ${r.jsSameBytes ?? "–"} |\n`;
if (poolRows.length) {
  md += `\n## Worker pool (2 workers) vs single thread, engine API\n\n| format | sync GB/s | async GB/s | speedup | same bytes |\n|---|---:|---:|---:|---|\n`;
  for (const r of poolRows) md += `| ${r.type} | ${f(r.syncGBs)} | ${f(r.asyncGBs)} | ${f(r.speedup, 2)}× | ${r.sameBytes} |\n`;
}
console.log(md);
if (!only && !quick) {
  writeFileSync(path.join(here, "results.json"), JSON.stringify({ date: new Date().toISOString(), node: process.version, cpu: os.cpus()[0]?.model, cores: os.cpus().length, input: { rows: ROWS, cols: COLS, bytes: BYTES }, quantize: rows, pool: poolRows }, null, 1) + "\n");
  writeFileSync(path.join(here, "RESULTS.md"), md);
}
engine.dispose();
