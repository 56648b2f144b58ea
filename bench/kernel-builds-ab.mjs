// Kernel A/B/C... of several wasm builds in ONE process (issue 15, session 7): CPU time of
// quantize_TYPE (SIMD, 1 thread) on 256 x 4096 f32 rows, the builds called round-robin (A B C A B C
// ...) so machine load hits all of them alike; median (and best) of --reps rounds per build, each
// build's median ratio to the first, and whether every build writes the first one's bytes.
// Used for bench/KQUANT-SPEED.md "Session 7": the make_qx_quants steps (q6_K, q4_0 / q5_0 / q3_K with
// imatrix, `--data kk`) and the q3_K ablation profile (builds with one part of the kernel cut out).
// Data: `--data bench` (default) = bench/_bench-data.mjs benchData; `--data kk` = the rows of
// bench/kquant-kernels.mjs (kquantKernelData: outlier columns, heavy tail). A type suffixed ":im" runs
// with that data's importance vector.
// Usage: node bench/kernel-builds-ab.mjs [--types q3_K,q6_K:im,...] [--reps 41] [--data bench|kk]
//        (--wasm A.wasm,B.wasm[,...] | A.wasm B.wasm ...)      (needs dist/: npm run build)
import { init } from "../dist/index.js";
import { benchData, kquantKernelData } from "./_bench-data.mjs";
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import path from "node:path";
const argv = process.argv.slice(2);
const opt = (k, d) => { const i = argv.indexOf(k); if (i < 0) return d; const v = argv[i + 1]; argv.splice(i, 2); return v; };
const types = opt("--types", opt("--type", "q3_K")).split(","), reps = +opt("--reps", "41"), data = opt("--data", "bench");
const files = [...opt("--wasm", "").split(",").filter(Boolean), ...argv];
const rows = 256, cols = 4096, n = rows * cols;
const { x, imatrix } = data === "kk" ? kquantKernelData(rows, cols) : benchData(n, cols);
const es = [];
for (const f of files) {
  const e = await init({ threads: 0, bytes: readFileSync(f) });
  es.push({ name: `${es.length}:${path.basename(f, ".wasm")}`, e, xt: e.tensor(x), it: e.tensor(imatrix), ot: e.tensor(n * 2) });
}
const cpu = () => { const t = process.cpuUsage(); return (t.user + t.system) / 1e6; };
const med = (a) => [...a].sort((p, q) => p - q)[a.length >> 1];
console.log(`load ${loadavg().map((v) => v.toFixed(1)).join(" ")}; builds: ${files.join(" | ")}`);
for (const t of types) {
  const [type, flag] = t.split(":");
  const run = (o) => o.e.exports[`quantize_${type}`](o.ot.ptr, o.xt.ptr, rows, cols, flag === "im" ? o.it.ptr : 0);
  let nbytes = 0;
  for (const o of es) { nbytes = run(o); o.t = []; }
  const bytes = (o) => new Uint8Array(o.e.exports.memory.buffer).slice(o.ot.ptr, o.ot.ptr + nbytes);
  const first = bytes(es[0]);
  for (let r = 0; r < reps; r++) for (const o of es) { const t0 = cpu(); run(o); o.t.push(cpu() - t0); }
  const base = med(es[0].t);
  for (const o of es) {
    const b = bytes(o), m = med(o.t);
    console.log(`${t.padEnd(8)} ${o.name.padEnd(12)} med ${(m * 1e3).toFixed(3)} best ${(Math.min(...o.t) * 1e3).toFixed(3)} ms  vs ${es[0].name} ${(base / m).toFixed(3)}x  share ${((1 - m / base) * 100).toFixed(1)}%  same bytes ${b.every((v, i) => v === first[i])}`);
  }
}
console.log(`data ${data}, ${reps} rounds, load ${loadavg()[0].toFixed(2)}`);
