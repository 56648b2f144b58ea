// Distillation losses + gradients: positions per second at V = 32000 (a llama-sized vocabulary), the
// wasm SIMD kernels beside their scalar _ref twins, the distillLoss API (copies in and out) and a
// plain-JS implementation (bench/js/distill.js), all in the same run. Top-k teacher (k = 32) too.
// Writes bench/distill.json and bench/DISTILL.md. Usage: node bench/distill.mjs [--quick]   (needs `npm run build`)
import { writeFileSync, readFileSync, existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import os from "node:os";
import path from "node:path";
import { init, distillLoss, distillLossAsync, topKLogProbs } from "../dist/index.js";
import { distillLossJs, distillTopkFklJs } from "./js/distill.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const quick = process.argv.includes("--quick");
const MIN_TIME = quick ? 0.2 : 0.8;
const V = 32000, T = 32, K = 32;
const KIND = { fkl: 0, rkl: 1, jsd: 2, tv: 3 };

let s = 0x9e3779b9;
const next = () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s; };
const gauss = () => { let g = 0; for (let k = 0; k < 4; k++) g += (next() >>> 8) / 16777216; return (g - 2) * 1.7; };
const teacher = Float32Array.from({ length: T * V }, () => gauss() * 3);
const student = teacher.map((x) => x + gauss() * 0.5);

async function measureAsync(fn) {
  await fn();
  const times = [];
  const t0 = performance.now();
  do { const t = performance.now(); await fn(); times.push((performance.now() - t) / 1000); } while ((performance.now() - t0) / 1000 < MIN_TIME || times.length < 3);
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

function measure(fn) {
  fn();
  const times = [];
  const t0 = performance.now();
  do { const t = performance.now(); fn(); times.push((performance.now() - t) / 1000); } while ((performance.now() - t0) / 1000 < MIN_TIME || times.length < 3);
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

const engine = await init({ threads: 0 });
const pooled = await init({ threads: 2 });
const ex = engine.exports;
const pT = engine.alloc(T * V * 4), pS = engine.alloc(T * V * 4), pG = engine.alloc(T * V * 4), pL = engine.alloc(T * 4), pScr = engine.alloc(V * 8);
new Float32Array(ex.memory.buffer, pT, T * V).set(teacher);
new Float32Array(ex.memory.buffer, pS, T * V).set(student);
// top-k teacher
const ids = new Uint32Array(T * K), lps = new Float32Array(T * K), rest = new Float32Array(T);
for (let t = 0; t < T; t++) rest[t] = topKLogProbs(teacher.subarray(t * V, (t + 1) * V), K, ids, lps, t * K);
const pI = engine.alloc(T * K * 4), pP = engine.alloc(T * K * 4), pR = engine.alloc(T * 4);
new Uint32Array(ex.memory.buffer, pI, T * K).set(ids);
new Float32Array(ex.memory.buffer, pP, T * K).set(lps);
new Float32Array(ex.memory.buffer, pR, T).set(rest);

// warm-up: let V8 tier every kernel up (Liftoff -> TurboFan) before anything is timed
{
  const t0 = performance.now();
  while (performance.now() - t0 < (quick ? 500 : 1500)) {
    for (const k of [0, 1, 2, 3]) {
      ex.distill_loss_forward(pL, pG, pT, pS, 0, 4, V, k, 0.5, 0.5, pScr);
      ex.distill_loss_forward_ref(pL, pG, pT, pS, 0, 1, V, k, 0.5, 0.5, pScr);
      ex.distill_topk_forward(pL, pG, pI, pP, pR, pS, 0, 4, V, K, k, 0.5, 0.5);
      ex.distill_topk_forward_ref(pL, pG, pI, pP, pR, pS, 0, 1, V, K, k, 0.5, 0.5);
    }
  }
}
const rows = [];
const jsLoss = new Float64Array(T), jsGrad = new Float64Array(T * V);
for (const kind of ["fkl", "rkl", "jsd", "tv"]) {
  const simd = measure(() => ex.distill_loss_forward(pL, pG, pT, pS, 0, T, V, KIND[kind], 1 / 2, 0.5, pScr));
  const ref = measure(() => ex.distill_loss_forward_ref(pL, pG, pT, pS, 0, T, V, KIND[kind], 1 / 2, 0.5, pScr));
  const api = measure(() => distillLoss(engine, { teacher, student, T, V, kind, temperature: 2 }));
  const pool = await measureAsync(() => distillLossAsync(pooled, { teacher, student, T, V, kind, temperature: 2 }));
  const js = measure(() => distillLossJs(jsLoss, jsGrad, teacher, student, T, V, kind, 1 / 2, 0.5));
  // agreement of the SIMD kernel with the plain-JS float64 result
  ex.distill_loss_forward(pL, pG, pT, pS, 0, T, V, KIND[kind], 1 / 2, 0.5, pScr);
  const g = new Float32Array(ex.memory.buffer, pG, T * V), l = new Float32Array(ex.memory.buffer, pL, T);
  let dg = 0, dl = 0;
  for (let i = 0; i < T * V; i++) dg = Math.max(dg, Math.abs(g[i] - jsGrad[i]));
  for (let i = 0; i < T; i++) dl = Math.max(dl, Math.abs(l[i] - jsLoss[i]) / Math.max(1e-3, jsLoss[i]));
  rows.push({ teacher: "full", kind, simd: T / simd, ref: T / ref, api: T / api, pool: T / pool, js: T / js, maxRelLossDiff: dl, maxGradDiff: dg });
}
for (const kind of ["fkl", "rkl", "jsd", "tv"]) {
  const simd = measure(() => ex.distill_topk_forward(pL, pG, pI, pP, pR, pS, 0, T, V, K, KIND[kind], 1 / 2, 0.5));
  const ref = measure(() => ex.distill_topk_forward_ref(pL, pG, pI, pP, pR, pS, 0, T, V, K, KIND[kind], 1 / 2, 0.5));
  const api = measure(() => distillLoss(engine, { teacher: { k: K, ids, logprobs: lps, rest }, student, T, V, kind, temperature: 2 }));
  const pool = await measureAsync(() => distillLossAsync(pooled, { teacher: { k: K, ids, logprobs: lps, rest }, student, T, V, kind, temperature: 2 }));
  let js = null, dl = null, dg = null;
  if (kind === "fkl") {
    js = measure(() => distillTopkFklJs(jsLoss, jsGrad, ids, lps, rest, student, T, V, K, 1 / 2));
    ex.distill_topk_forward(pL, pG, pI, pP, pR, pS, 0, T, V, K, 0, 1 / 2, 0.5);
    const g = new Float32Array(ex.memory.buffer, pG, T * V), l = new Float32Array(ex.memory.buffer, pL, T);
    dg = 0; dl = 0;
    for (let i = 0; i < T * V; i++) dg = Math.max(dg, Math.abs(g[i] - jsGrad[i]));
    for (let i = 0; i < T; i++) dl = Math.max(dl, Math.abs(l[i] - jsLoss[i]) / Math.max(1e-3, jsLoss[i]));
  }
  rows.push({ teacher: `top-${K}`, kind, simd: T / simd, ref: T / ref, api: T / api, pool: T / pool, js: js === null ? null : T / js, maxRelLossDiff: dl, maxGradDiff: dg });
}
for (const p of [pT, pS, pG, pL, pScr, pI, pP, pR]) engine.free(p);
pooled.dispose();

const f = (x) => (x === null ? "–" : x >= 100 ? x.toFixed(0) : x.toFixed(1));
const meta = { date: new Date().toISOString(), cpu: os.cpus()[0]?.model?.trim(), cores: os.cpus().length, node: process.version, V, T, K, temperature: 2, beta: 0.5, quick };
let md = `# Distillation losses + gradients\n\nMeasured ${meta.date} on ${meta.cpu} (${meta.cores} cores, shared machine), Node ${meta.node}, one thread.\n`;
md += `Logits [${T}, ${V}] f32 (teacher gaussian * 3, student = teacher + noise), temperature 2, JSD beta 0.5. Positions/s = rows of ${V} logits per second, loss AND gradient (median of repeated runs, all columns in the same run).\n`;
md += `"SIMD"/"_ref": the raw kernels on data already in wasm memory; "API": distillLoss (copies in/out, finite checks); "pool": distillLossAsync on 2 worker threads (the machine has 2 cores, shared); "JS": plain JS, float64 Math.exp (bench/js/distill.js). Reproduce: \`node scripts/build.mjs && node bench/distill.mjs\`.\n\n`;
md += `| teacher | kind | SIMD pos/s | _ref pos/s | API pos/s | pool pos/s | JS pos/s | SIMD / _ref | SIMD / JS | max rel. loss diff vs JS | max grad diff vs JS |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n`;
for (const r of rows) md += `| ${r.teacher} | ${r.kind} | ${f(r.simd)} | ${f(r.ref)} | ${f(r.api)} | ${f(r.pool)} | ${f(r.js)} | ${(r.simd / r.ref).toFixed(1)}× | ${r.js ? (r.simd / r.js).toFixed(1) + "×" : "–"} | ${r.maxRelLossDiff === null ? "–" : r.maxRelLossDiff.toExponential(1)} | ${r.maxGradDiff === null ? "–" : r.maxGradDiff.toExponential(1)} |\n`;
writeFileSync(path.join(here, "distill.json"), JSON.stringify({ meta, rows }, null, 1) + "\n");
// keep the real-model section written by bench/distill-model.mjs
const prevMd = existsSync(path.join(here, "DISTILL.md")) ? readFileSync(path.join(here, "DISTILL.md"), "utf8") : "";
const modelPart = prevMd.indexOf("\n## On a real model");
writeFileSync(path.join(here, "DISTILL.md"), md + (modelPart >= 0 ? prevMd.slice(modelPart) : ""));
process.stdout.write(md);
