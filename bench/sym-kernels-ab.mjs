// Kernel A/B/C... for the symmetric quantizers built on make_qx_quants (q6_K, q4_0 / q5_0 / q3_K
// with imatrix; bench/KQUANT-SPEED.md "Session 7"): CPU time of quantize_<type> (SIMD, 1 thread)
// of several wasm builds in ONE process, round-robin (A B C A B C ...) so machine load hits all of
// them alike, on the seeded tensor of bench/kquant-kernels.mjs (256 x 4096, ~normal values with
// outlier columns and a heavy tail; random importance). Checks that every build writes the bytes of
// the first one. CPU = process.cpuUsage (user + sys) around each call; prints the median and the
// best per build and each build's median ratio to the first.
// Usage: node bench/sym-kernels-ab.mjs --wasm A.wasm,B.wasm[,C.wasm] [--types q6_K,q4_0:im,...]
//        [--reps 15] (a type suffixed ":im" runs with the importance matrix)
import { init } from "../dist/index.js";
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
const arg = (k, d) => { const i = process.argv.indexOf(k); return i > 0 ? process.argv[i + 1] : d; };
const files = arg("--wasm", "").split(",").filter(Boolean);
const types = arg("--types", "q6_K,q6_K:im,q4_0:im,q5_0:im,q3_K:im").split(",");
const reps = +arg("--reps", "15");
const rows = 256, cols = 4096, n = rows * cols;
const x = new Float32Array(n), im = new Float32Array(cols);
let s = 1;
const u = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
const colScale = Float32Array.from({ length: cols }, (_, j) => (j % 199 === 0 ? 10 : 1));
for (let i = 0; i < n; i++) { let g = (u() + u() + u() + u() - 2) * 1.7320508; if (u() < 0.001) g *= 6; x[i] = g * colScale[i % cols] / 64; }
for (let j = 0; j < cols; j++) im[j] = 0.01 + u() * u() * 5;
const eng = [];
for (const f of files) {
  const e = await init({ threads: 0, bytes: readFileSync(f) });
  eng.push({ f, e, x: e.tensor(x), im: e.tensor(im), o: e.tensor(n * 2) });
}
const cpu = () => { const t = process.cpuUsage(); return (t.user + t.system) / 1e6; };
const med = (a) => { const b = [...a].sort((p, q) => p - q); return b[b.length >> 1]; };
console.log(`load ${loadavg().map((v) => v.toFixed(1)).join(" ")}; builds: ${files.join(" | ")}`);
for (const t of types) {
  const [type, flag] = t.split(":");
  const run = (k) => { const g = eng[k]; return g.e.exports[`quantize_${type}`](g.o.ptr, g.x.ptr, rows, cols, flag === "im" ? g.im.ptr : 0); };
  const nb = run(0);
  const ref = new Uint8Array(eng[0].e.exports.memory.buffer, eng[0].o.ptr, nb).slice();
  let same = true;
  for (let k = 1; k < eng.length; k++) {
    run(k);
    const b = new Uint8Array(eng[k].e.exports.memory.buffer, eng[k].o.ptr, nb);
    if (b.some((v, i) => v !== ref[i])) same = false;
  }
  const ts = eng.map(() => []);
  for (let r = 0; r < reps; r++) for (let k = 0; k < eng.length; k++) { const t0 = cpu(); run(k); ts[k].push(cpu() - t0); }
  const m0 = med(ts[0]);
  console.log(`${t.padEnd(8)} ` + ts.map((a, k) => `${k}: med ${(med(a) * 1e3).toFixed(2)} best ${(Math.min(...a) * 1e3).toFixed(2)} ms${k ? ` (x${(m0 / med(a)).toFixed(3)})` : ""}`).join("  ") + `  identical ${same}`);
}
console.log(`load ${loadavg()[0].toFixed(1)}`);
