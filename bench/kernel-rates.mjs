// Kernel CPU time per value of each quantization type, 1 thread (the table of
// src/engine/work-estimate.ts, bench/VS-LLAMA.md "Session 7: two threads"): engine.quantize on a wasm
// tensor of 1024 x 2048 values (seeded, 7 scales), with and without an importance vector where the
// type uses one, repeated for >= 0.3 CPU s (process.cpuUsage). Needs `npm run build` (dist/).
// Usage: node bench/kernel-rates.mjs [f16,q8_0,...]
import * as ts from "../dist/index.js";
const e = await ts.init({ threads: 0 });
const cols = 2048, rows = 1024, n = rows * cols;
const x = new Float32Array(n); let s = 1; for (let i = 0; i < n; i++) { s = (s * 1103515245 + 12345) >>> 0; x[i] = ((s / 2 ** 32) - 0.5) * (1 + (i % 7)); }
const im = new Float32Array(cols).map((_, i) => 0.1 + (i % 13));
const t = e.tensor(x);
const cpu = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1e6; };
const types = (process.argv[2] || "f16,bf16,q8_0,q4_0,q4_1,q5_0,q5_1,q2_K,q3_K,q4_K,q5_K,q6_K,iq4_nl,iq4_xs,tq1_0,tq2_0,mxfp4").split(",");
for (const ty of types) for (const useIm of [false, true]) {
  if (useIm && !e.typeInfo(ty).usesImatrix) continue;
  const o = { type: ty, rows, cols, imatrix: useIm ? im : undefined };
  e.quantize(t, o);
  const c0 = cpu(); let k = 0; while (cpu() - c0 < 0.3) { e.quantize(t, o); k++; }
  console.log(ty + (useIm ? "+im" : ""), ((cpu() - c0) / (k * n) * 1e9).toFixed(2), "ns/value");
}
