// Kernel A/B for the i-quant quantizers: CPU time of quantize_<type> (SIMD, with imatrix, 1 thread)
// in two wasm builds in the same process, alternating A B A B ... (so machine load hits both alike),
// on the seeded input of bench/iq.mjs; checks that both builds write the same bytes.
// Usage: node bench/iq-kernels-ab.mjs --base /path/old.wasm [--new build/tensorshrink.wasm]
//        [--rows 8] [--reps 3] [--only iq2_xs,iq3_s]
//        node bench/iq-kernels-ab.mjs --iq1m-searches [--new ...]: quantize_iq1_m (llama.cpp de3ff81's split
//        search) against quantize_iq1_m_d3cf1f14 (the vector set's) in the same build, alternating.
// Prints one line per type: median CPU seconds of each build and new / base. CPU = process.cpuUsage
// (user + sys) around each kernel call (the only work in the process).
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import os from "node:os";
import path from "node:path";
import { benchData } from "./_bench-data.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const arg = (k, d) => { const i = process.argv.indexOf(k); return i > 0 ? process.argv[i + 1] : d; };
const basePath = arg("--base", null), newPath = arg("--new", path.join(here, "../build/tensorshrink.wasm"));
const ROWS = +arg("--rows", "8"), COLS = 4096, N = ROWS * COLS, REPS = +arg("--reps", "3");
const only = arg("--only", null)?.split(",");
const TYPES = (only ?? ["iq1_s", "iq1_m", "iq2_xxs", "iq2_xs", "iq2_s", "iq3_xxs", "iq3_s", "iq4_xs"]);
const GRID = { iq2_xxs: 0, iq2_xs: 1, iq1_s: 2, iq1_m: 2, iq2_s: 3, iq3_xxs: 4, iq3_s: 5 };

const { x, imatrix } = benchData(N, COLS); // gaussian-ish weights with 1% outliers, heavy-tailed importance (bench/_bench-data.mjs)

async function load(file) {
  const e = (await WebAssembly.instantiate(readFileSync(file), { env: { abort: () => { throw new Error("wasm abort"); }, seed: () => 0 } })).instance.exports;
  for (const g of new Set(Object.values(GRID))) e.iq_grid_for_kernel(g);
  const pin = e.ts_alloc(N * 4), pout = e.ts_alloc(N * 4), pim = e.ts_alloc(COLS * 4);
  new Float32Array(e.memory.buffer, pin, N).set(x);
  new Float32Array(e.memory.buffer, pim, COLS).set(imatrix);
  return { e, pin, pout, pim };
}
if (process.argv.includes("--iq1m-searches")) {
  const m = await load(newPath);
  const t = { a: [], b: [] };
  for (let r = 0; r <= REPS; r++) for (const [k, f] of [["a", "quantize_iq1_m"], ["b", "quantize_iq1_m_d3cf1f14"]]) {
    const c = process.cpuUsage(); m.e[f](m.pout, m.pin, ROWS, COLS, m.pim); const d = process.cpuUsage(c);
    if (r) t[k].push((d.user + d.system) / 1e6);
  }
  const med = (v) => [...v].sort((x, y) => x - y)[v.length >> 1];
  console.log(`iq1_m ${ROWS} x ${COLS}, imatrix: de3ff81 ${med(t.a).toFixed(4)} s, d3cf1f14 ${med(t.b).toFixed(4)} s CPU, ratio ${(med(t.b) / med(t.a)).toFixed(2)}`);
  process.exit(0);
}
if (!basePath) { console.error("usage: node bench/iq-kernels-ab.mjs --base old.wasm [--new new.wasm]"); process.exit(2); }
const A = await load(basePath), B = await load(newPath);
const cpu = (m, type) => {
  const t = process.cpuUsage();
  const n = m.e[`quantize_${type}`](m.pout, m.pin, ROWS, COLS, m.pim);
  const d = process.cpuUsage(t);
  return [(d.user + d.system) / 1e6, n];
};
const median = (v) => [...v].sort((a, b) => a - b)[v.length >> 1];
console.log(`rows ${ROWS} x ${COLS}, imatrix, ${REPS} alternating reps, load ${os.loadavg().map((l) => l.toFixed(1)).join(" ")}`);
for (const type of TYPES) {
  cpu(A, type); cpu(B, type); // warm-up
  const ta = [], tb = [];
  for (let r = 0; r < REPS; r++) { ta.push(cpu(A, type)[0]); tb.push(cpu(B, type)[0]); }
  const n = cpu(A, type)[1];
  const same = Buffer.from(A.e.memory.buffer, A.pout, n).equals(Buffer.from(B.e.memory.buffer, B.pout, n));
  const a = median(ta), b = median(tb);
  console.log(`${type}: base ${a.toFixed(3)} s, new ${b.toFixed(3)} s, new/base ${(b / a).toFixed(2)}, ${(N * 4 / b / 1e6).toFixed(2)} MB/s new, same bytes ${same}`);
}
