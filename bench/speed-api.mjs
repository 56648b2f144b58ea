// Benchmark (issue 15, item 1): engine.quantize on the API path vs the raw wasm kernel vs a same-size
// typed-array copy, per type, on one 16 MiB f32 tensor (4M values, 1024 x 4096) already in wasm memory.
// CPU time of the process (process.cpuUsage, user + sys) per call, after a full GC, best of `--reps` rounds (4 calls each); the
// forms alternate inside each round so machine load hits them alike. GB/s = f32 input bytes / second.
//   raw:        exports.quantize_<type>(out, in, rows, cols, 0) on preallocated wasm buffers (no check)
//   zero-copy:  engine.quantize(xTensor, { type, rows, cols, out: outTensor }) (checked: fused flag)
//   js-out:     engine.quantize(xTensor, { type, rows, cols }) (fresh Uint8Array result)
//   js-in:      engine.quantize(xFloat32Array, { type, rows, cols, out: u8 }) (input copied in)
//   copy:       Float32Array.prototype.set of the same 16 MiB (memcpy speed of this runtime)
// Usage: node bench/speed-api.mjs [--types q8_0,q4_0,...] [--reps 25]   (needs dist/: npm run build)
// Appends a record to bench/speed-api.json.
import { init } from "../dist/index.js";
import v8 from "node:v8";
import vm from "node:vm";
// A full GC before every timed sample: process.cpuUsage counts V8's helper threads, so garbage the
// allocating forms (js-out) leave would otherwise be swept while the next form is timed.
v8.setFlagsFromString("--expose-gc");
const gc = vm.runInNewContext("gc");
const arg = (k, d) => { const i = process.argv.indexOf(k); return i > 0 ? process.argv[i + 1] : d; };
const types = arg("--types", "q8_0,q4_0,q4_1,q5_0,q5_1,f16,bf16").split(",");
const reps = +arg("--reps", "25");
const rows = 1024, cols = 4096, n = rows * cols;
const e = await init({ threads: 0 });
const x = new Float32Array(n);
let s = 1; for (let i = 0; i < n; i++) { s = (Math.imul(s, 1103515245) + 12345) >>> 0; x[i] = (s / 2 ** 32 - 0.5) * 0.1; }
const xt = e.tensor(x), ot = e.tensor(n), cp = new Float32Array(n), dst = new Float32Array(n);
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };
const time = (f, k) => { gc(); const t0 = cpu(); for (let i = 0; i < k; i++) f(); return (cpu() - t0) / k; };
const rec = [];
for (const type of types) {
  const info = e.typeInfo(type), outBytes = n / info.blockSize * info.bytesPerBlock, u8 = new Uint8Array(outBytes);
  const raw = e.exports[`quantize_${type}`];
  const forms = {
    raw: () => raw(ot.ptr, xt.ptr, rows, cols, 0),
    "zero-copy": () => e.quantize(xt, { type, rows, cols, out: ot }),
    "js-out": () => e.quantize(xt, { type, rows, cols }),
    "js-in": () => e.quantize(x, { type, rows, cols, out: u8 }),
    copy: () => dst.set(cp),
  };
  const k = 4;
  for (const f of Object.values(forms)) f(); // warm-up
  const best = Object.fromEntries(Object.keys(forms).map((f) => [f, Infinity]));
  for (let r = 0; r < reps; r++) for (const [name, f] of Object.entries(forms)) best[name] = Math.min(best[name], time(f, k));
  const gbs = Object.fromEntries(Object.entries(best).map(([f, t]) => [f, +(n * 4 / t / 1e9).toFixed(2)]));
  const r = { type, values: n, gbs, zeroCopyVsRaw: +(best.raw / best["zero-copy"]).toFixed(2), zeroCopyVsCopy: +(best.copy / best["zero-copy"]).toFixed(2) };
  rec.push(r);
  console.log(`${type}: GB/s raw ${gbs.raw}, zero-copy ${gbs["zero-copy"]}, js-out ${gbs["js-out"]}, js-in ${gbs["js-in"]}, copy ${gbs.copy} | zero-copy = ${r.zeroCopyVsRaw}x raw, ${Math.round(r.zeroCopyVsCopy * 100)}% of copy`);
}
const { loadavg } = await import("node:os");
const { existsSync, readFileSync, writeFileSync } = await import("node:fs");
const jp = new URL("./speed-api.json", import.meta.url);
const prev = existsSync(jp) ? JSON.parse(readFileSync(jp, "utf8")) : [];
writeFileSync(jp, JSON.stringify([...prev, { date: new Date().toISOString(), node: process.version, loadavg: loadavg().map((x) => +x.toFixed(1)), rec }], null, 1) + "\n");
e.dispose();
