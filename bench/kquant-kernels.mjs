// Micro-benchmark (issue 15, item 3): the k-quant / imatrix quantizer kernels, SIMD vs their scalar
// `_ref` twins, on one 4 MiB f32 tensor (256 rows x 4096, ~normal values with 0.5% outlier columns
// and a heavy tail like syntheticModel) already in wasm memory, with and without an importance matrix.
// CPU time of the process (process.cpuUsage) per call, best of `--reps` rounds; SIMD and _ref
// alternate inside each round. Also checks that both give the same bytes.
// With `--ab OTHER.wasm` the same SIMD kernel of another build (e.g. main's build/tensorshrink.wasm)
// runs in a second engine, alternating with this one: `before` = OTHER's time, `gain` = before / simd.
// Usage: node bench/kquant-kernels.mjs [--types q2_K,q3_K,...] [--reps 5] [--imatrix both|yes|no]
//        [--ab /path/to/before/tensorshrink.wasm] [--cur build/tensorshrink.wasm] [--out bench/kquant-kernels.json]
// (needs dist/: npm run build)
import { init } from "../dist/index.js";
import { writeFileSync, readFileSync, existsSync } from "node:fs";
import { loadavg } from "node:os";
import { kquantKernelData } from "./_bench-data.mjs";
const arg = (k, d) => { const i = process.argv.indexOf(k); return i > 0 ? process.argv[i + 1] : d; };
const types = arg("--types", "q2_K,q3_K,q4_K,q5_K,q6_K,q4_0,q4_1,q5_0,q5_1").split(",");
const reps = +arg("--reps", "5");
const imMode = arg("--imatrix", "both");
const outPath = arg("--out", "");
const rows = 256, cols = 4096, n = rows * cols;
// --cur WASM: this side from a wasm file (e.g. build/tensorshrink.wasm after --wasm-only) instead of dist's
const curPath = arg("--cur", "");
const e = await init({ threads: 0, ...(curPath ? { bytes: readFileSync(curPath) } : {}) });
const abPath = arg("--ab", "");
const eb = abPath ? await init({ threads: 0, bytes: readFileSync(abPath) }) : null;
const { x, imatrix: im } = kquantKernelData(rows, cols);
const xt = e.tensor(x), it = e.tensor(im), ot = e.tensor(n * 2), ot2 = e.tensor(n * 2);
const bx = eb?.tensor(x), bi = eb?.tensor(im), bo = eb?.tensor(n * 2);
const mem = () => new Uint8Array(e.exports.memory.buffer);
const cpu = () => { const t = process.cpuUsage(); return (t.user + t.system) / 1e6; };
const rec = [];
for (const type of types) {
  for (const useIm of imMode === "both" ? [false, true] : [imMode === "yes"]) {
    const simd = e.exports[`quantize_${type}`], ref = e.exports[`quantize_${type}_ref`];
    const imp = useIm ? it.ptr : 0;
    const nb = simd(ot.ptr, xt.ptr, rows, cols, imp);
    ref(ot2.ptr, xt.ptr, rows, cols, imp);
    const m = mem();
    const same = m.subarray(ot.ptr, ot.ptr + nb).every((v, i) => v === m[ot2.ptr + i]);
    let sameB = true;
    const old = eb?.exports[`quantize_${type}`];
    if (old) {
      old(bo.ptr, bx.ptr, rows, cols, useIm ? bi.ptr : 0);
      const mb = new Uint8Array(eb.exports.memory.buffer), m2 = mem();
      sameB = mb.subarray(bo.ptr, bo.ptr + nb).every((v, i) => v === m2[ot.ptr + i]);
    }
    let bs = Infinity, br = Infinity, bb = Infinity;
    for (let r = 0; r < reps; r++) {
      let t0 = cpu(); simd(ot.ptr, xt.ptr, rows, cols, imp); bs = Math.min(bs, cpu() - t0);
      t0 = cpu(); ref(ot2.ptr, xt.ptr, rows, cols, imp); br = Math.min(br, cpu() - t0);
      if (old) { t0 = cpu(); old(bo.ptr, bx.ptr, rows, cols, useIm ? bi.ptr : 0); bb = Math.min(bb, cpu() - t0); }
    }
    const r = { type, imatrix: useIm, simdMs: +(bs * 1e3).toFixed(2), refMs: +(br * 1e3).toFixed(2), simdMvals: +(n / bs / 1e6).toFixed(1), refMvals: +(n / br / 1e6).toFixed(1), speedup: +(br / bs).toFixed(2), identical: same && sameB };
    if (old) { r.beforeMs = +(bb * 1e3).toFixed(2); r.gain = +(bb / bs).toFixed(2); }
    rec.push(r);
    console.log(`${type.padEnd(5)} ${useIm ? "imatrix" : "   -   "} simd ${r.simdMs.toFixed(1).padStart(7)} ms (${String(r.simdMvals).padStart(6)} Mval/s)  ref ${r.refMs.toFixed(1).padStart(7)} ms (${String(r.refMvals).padStart(6)} Mval/s)  x${r.speedup}${old ? `  before ${r.beforeMs.toFixed(1)} ms gain x${r.gain}` : ""}  identical ${r.identical}`);
  }
}
console.log(`load ${loadavg()[0].toFixed(1)}`);
if (outPath) {
  const prev = existsSync(outPath) ? JSON.parse(readFileSync(outPath, "utf8")) : [];
  prev.push({ date: new Date().toISOString(), loadavg: loadavg()[0], rows, cols, reps, records: rec });
  writeFileSync(outPath, JSON.stringify(prev, null, 1) + "\n");
}
e.dispose();
eb?.dispose();
