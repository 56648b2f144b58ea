// Kernel A/B of several wasm builds in one process (issue 15, session 7): quantize_TYPE (no
// imatrix) on 256 x 4096 f32 rows of bench/_bench-data.mjs (or bench/kquant-kernels.mjs' rows with
// --data kk), CPU ms per call (process.cpuUsage), the builds called in turn, median of --reps
// rounds; each build's bytes compared with the first one's. Used for the ablation profile of
// bench/KQUANT-SPEED.md "Session 7: q3_K" (builds with one part of the kernel cut out).
// Usage: node bench/kernel-builds-ab.mjs [--type q3_K] [--reps 41] [--data bench|kk] A.wasm B.wasm ...
// (needs dist/: npm run build)
import { init } from "../dist/index.js";
import { benchData } from "./_bench-data.mjs";
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import path from "node:path";
const argv = process.argv.slice(2);
const opt = (k, d) => { const i = argv.indexOf(k); if (i < 0) return d; const v = argv[i + 1]; argv.splice(i, 2); return v; };
const type = opt("--type", "q3_K"), reps = +opt("--reps", "41"), data = opt("--data", "bench");
const files = argv;
const rows = 256, cols = 4096, n = rows * cols;
let x;
if (data === "bench") x = benchData(n, cols).x;
else {
  x = new Float32Array(n); let s = 1; const u = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
  for (let i = 0; i < n; i++) { let g = (u() + u() + u() + u() - 2) * 1.7320508; if (u() < 0.001) g *= 6; x[i] = g * ((i % cols) % 199 === 0 ? 10 : 1) / 64; }
}
const es = [];
for (const f of files) {
  const e = await init({ threads: 0, bytes: readFileSync(f) });
  es.push({ name: path.basename(f, ".wasm"), e, xt: e.tensor(x), ot: e.tensor(n * 2), t: [] });
}
const cpu = () => { const t = process.cpuUsage(); return (t.user + t.system) / 1e6; };
const run = (o) => o.e.exports[`quantize_${type}`](o.ot.ptr, o.xt.ptr, rows, cols, 0);
let nbytes = 0;
for (const o of es) nbytes = run(o);
const bytes = (o) => new Uint8Array(o.e.exports.memory.buffer).slice(o.ot.ptr, o.ot.ptr + nbytes);
const first = bytes(es[0]);
for (let r = 0; r < reps; r++) for (const o of es) { const t0 = cpu(); run(o); o.t.push(cpu() - t0); }
const med = (a) => [...a].sort((p, q) => p - q)[a.length >> 1];
const base = med(es[0].t);
for (const o of es) {
  const b = bytes(o), m = med(o.t);
  console.log(`${o.name.padEnd(12)} ${(m * 1e3).toFixed(3)} ms  vs ${es[0].name} ${(base / m).toFixed(3)}x  share ${((1 - m / base) * 100).toFixed(1)}%  same bytes ${b.every((v, i) => v === first[i])}`);
}
console.log(`${type}, data ${data}, ${reps} rounds, load ${loadavg()[0].toFixed(2)}`);
