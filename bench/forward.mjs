// Forward-pass benchmark (issue 9 item 7): prompt processing tokens/s of LlamaModel.forward vs llama.cpp
// (node-llama-cpp, same GGUF, threads 1) vs the plain-JS forward (bench/js/forward.js), on kjv3M
// (128-token batches: its trained context is 128) and on a ~106M-parameter synthetic f32 llama
// (512-token batches); matmul GFLOPS (SIMD, _ref, plain JS, numpy/OpenBLAS single thread) at that
// model's shapes; peak RSS of one 512-token forward on the 106M model (stream and resident weights)
// beside the memory formula. Everything single-threaded; ratios are taken within this run
// (alternating A/B rounds, best of N), because the machine is shared.
// Usage: node scripts/build.mjs && node bench/forward.mjs [--quick]   → bench/forward.json (+ prints a table)
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import os from "node:os";
import path from "node:path";
import { init, syntheticModel, quantizeModel, openFileSink, openModel, LlamaModel, blockWeightValues } from "../dist/index.js";
import { jsForward } from "./js/forward.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const quick = process.argv.includes("--quick");
const SHARED = path.resolve(here, "../../shared");
const tmp = process.env.FORWARD_BENCH_DIR || mkdtempSync(path.join(os.tmpdir(), "ts-forward-bench-"));
const keep = !!process.env.FORWARD_BENCH_DIR;
const ROUNDS = quick ? 2 : 3;
const BIG = { nLayer: 8, nEmbd: 768, nFf: 2048, nHead: 12, nHeadKv: 12, nVocab: 32000, seed: 11 };

// ---------------------------------------------------------------- child: peak RSS of one forward
if (process.argv[2] === "--rss-child") {
  const [, , , file, mode, T] = process.argv;
  const engine = await init({ threads: 1 });
  const m = await LlamaModel.open(engine, file, { nCtx: Number(T), weights: mode });
  const toks = Array.from({ length: Number(T) }, (_, i) => 3 + ((i * 7919) % (m.config.nVocab - 3)));
  await m.forward(toks, { logits: "last" });
  const r = { maxRssBytes: process.resourceUsage().maxRSS * 1024, wasmBytes: engine.memoryBytes, residentWeightBytes: m.residentWeightBytes };
  process.stdout.write(JSON.stringify(r));
  process.exit(0);
}

const engine = await init({ threads: 1 });
const nlc = await import("node-llama-cpp");
const llama = await nlc.getLlama({ gpu: false, build: "never", skipDownload: true, logLevel: "error" });

async function makeGguf(name, source) {
  const p = path.join(tmp, `${name}.gguf`);
  if (!existsSync(p)) await quantizeModel(engine, source, await openFileSink(p), { ftype: "F32" });
  return p;
}

const best = (xs) => Math.min(...xs);
const tokensFor = (T, V, seed = 1) => Array.from({ length: T }, (_, i) => 3 + ((i * 7919 + seed * 104729) % (V - 3)));

/** Prompt-processing throughput of ours / llama.cpp (/ JS on jsT tokens), alternating rounds. */
async function pp(label, file, T, jsT) {
  const m = await LlamaModel.open(engine, file, { nCtx: T, weights: "resident" });
  const V = m.config.nVocab;
  const model = await llama.loadModel({ modelPath: file, gpuLayers: 0 });
  const ctx = await model.createContext({ contextSize: 2 * T, batchSize: T, threads: 1 });
  const seq = ctx.getSequence();
  const toks = tokensFor(T, V);
  await m.forward(toks, { logits: "last" }); // loads the weights once (not timed)
  await seq.evaluateWithoutGeneratingNewTokens(toks); await seq.clearHistory();
  const ours = [], lc = [];
  for (let r = 0; r < ROUNDS; r++) {
    let t0 = performance.now();
    await m.forward(toks, { logits: "last" });
    ours.push(performance.now() - t0);
    t0 = performance.now();
    await seq.evaluateWithoutGeneratingNewTokens(toks);
    lc.push(performance.now() - t0);
    await seq.clearHistory();
  }
  await ctx.dispose(); await model.dispose();
  // plain JS, on jsT tokens (its naive loops run at the same speed per token whatever the batch)
  const src = await openModel(file, engine);
  const W = new Map();
  for (const t of src.tensors) W.set(t.name, await t.readRows(0, t.ne.slice(1).reduce((a, b) => a * b, 1)));
  let t0 = performance.now();
  jsForward(m.config, (n) => W.get(n), toks.slice(0, jsT));
  const js = performance.now() - t0;
  W.clear(); await src.close?.();
  m.dispose();
  const r = {
    model: label, batch: T, oursTokPerS: T / (best(ours) / 1000), llamaCppTokPerS: T / (best(lc) / 1000), jsTokPerS: jsT / (js / 1000), jsTokens: jsT,
    oursMs: ours, llamaCppMs: lc,
  };
  r.vsLlamaCpp = r.oursTokPerS / r.llamaCppTokPerS;
  r.vsJs = r.oursTokPerS / r.jsTokPerS;
  console.log(`${label} (${T}-token batch): ours ${r.oursTokPerS.toFixed(0)} tok/s, llama.cpp ${r.llamaCppTokPerS.toFixed(0)} tok/s (${r.vsLlamaCpp.toFixed(2)}x), plain JS ${r.jsTokPerS.toFixed(1)} tok/s on ${jsT} tokens (ours ${r.vsJs.toFixed(1)}x)`);
  return r;
}

function jsMatmul(out, x, w, T, C, OC) {
  for (let t = 0; t < T; t++) for (let o = 0; o < OC; o++) { let s = 0; for (let k = 0; k < C; k++) s += x[t * C + k] * w[o * C + k]; out[t * OC + o] = s; }
}

/** matmul GFLOPS at the 106M model's shapes (T = 512), best of N interleaved runs, plus numpy. */
function matmulBench() {
  const ex = engine.exports;
  const shapes = [[512, 768, 768], [512, 768, 2048], [512, 2048, 768], [64, 768, 768]];
  const rows = [];
  let numpy = null;
  const py = spawnSync("python3", ["-c", `
import json, time, numpy as np
res = {}
for T, C, OC in ${JSON.stringify(shapes)}:
    a = np.random.rand(T, C).astype(np.float32); w = np.random.rand(OC, C).astype(np.float32)
    b = 1e9
    for r in range(${quick ? 5 : 9}):
        t = time.perf_counter(); a @ w.T; b = min(b, time.perf_counter() - t)
    res[f"{T}x{C}x{OC}"] = 2 * T * C * OC / b / 1e9
print(json.dumps({"numpy": np.__version__, "res": res}))
`], { env: { ...process.env, OPENBLAS_NUM_THREADS: "1", OMP_NUM_THREADS: "1", MKL_NUM_THREADS: "1" }, encoding: "utf8" });
  if (py.status === 0) numpy = JSON.parse(py.stdout.trim());
  for (const [T, C, OC] of shapes) {
    const x = engine.alloc(T * C * 4), w = engine.alloc(OC * C * 4), o = engine.alloc(T * OC * 4);
    const fx = new Float32Array(ex.memory.buffer, x, T * C), fw = new Float32Array(ex.memory.buffer, w, OC * C);
    for (let i = 0; i < fx.length; i++) fx[i] = Math.random() - 0.5;
    for (let i = 0; i < fw.length; i++) fw[i] = Math.random() - 0.5;
    const flop = 2 * T * C * OC;
    const simd = [], ref = [];
    for (let r = 0; r < (quick ? 4 : 8); r++) {
      let t0 = performance.now(); ex.matmul_forward(o, x, w, 0, T, C, OC); simd.push(performance.now() - t0);
      if (r < 2) { t0 = performance.now(); ex.matmul_forward_ref(o, x, w, 0, T, C, OC); ref.push(performance.now() - t0); }
    }
    const jx = fx.slice(0, 16 * C), jw = fw.slice(), jo = new Float32Array(16 * OC);
    let t0 = performance.now(); jsMatmul(jo, jx, jw, 16, C, OC); const js = performance.now() - t0;
    engine.free(x); engine.free(w); engine.free(o);
    const key = `${T}x${C}x${OC}`;
    const row = { shape: key, simdGflops: flop / best(simd) / 1e6, refGflops: flop / best(ref) / 1e6, jsGflops: (2 * 16 * C * OC) / js / 1e6, numpyGflops: numpy?.res?.[key] ?? null };
    rows.push(row);
    console.log(`matmul ${key}: SIMD ${row.simdGflops.toFixed(1)} GFLOPS, _ref ${row.refGflops.toFixed(1)}, plain JS ${row.jsGflops.toFixed(2)}, numpy/OpenBLAS 1 thread ${row.numpyGflops === null ? "n/a" : row.numpyGflops.toFixed(1)}`);
  }
  return { numpy: numpy ? numpy.numpy : "not available", rows };
}

function rss(file, cfg, T) {
  const out = {};
  for (const mode of ["stream", "resident"]) {
    const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), "--rss-child", file, mode, String(T)], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`rss child failed: ${r.stderr}`);
    out[mode] = JSON.parse(r.stdout);
  }
  const F = 4, C = cfg.nEmbd, kv = 2 * cfg.nLayer * T * cfg.nHeadKv * (C / cfg.nHead) * F;
  const act = F * T * (3 * C + 2 * C + 2 * cfg.nFf) + F * cfg.nVocab;
  const block = blockWeightValues({ ...cfg, headDim: C / cfg.nHead, nExpert: 0 }) * F, head = cfg.nVocab * C * F;
  const all = (cfg.nLayer * blockWeightValues({ ...cfg, headDim: C / cfg.nHead, nExpert: 0 }) + 2 * cfg.nVocab * C + C) * F;
  const formula = { kvCacheBytes: kv, activationBytes: act, streamWeightBytes: Math.max(block, head), residentWeightBytes: all };
  formula.stream = kv + act + formula.streamWeightBytes;
  formula.resident = kv + act + all;
  console.log(`peak RSS, one ${T}-token forward: stream ${(out.stream.maxRssBytes / 2 ** 20).toFixed(0)} MiB (wasm ${(out.stream.wasmBytes / 2 ** 20).toFixed(0)} MiB; formula ${(formula.stream / 2 ** 20).toFixed(0)} MiB), resident ${(out.resident.maxRssBytes / 2 ** 20).toFixed(0)} MiB (wasm ${(out.resident.wasmBytes / 2 ** 20).toFixed(0)} MiB; formula ${(formula.resident / 2 ** 20).toFixed(0)} MiB)`);
  return { measured: out, formula };
}

const result = { date: new Date().toISOString(), node: process.version, cpu: os.cpus()[0]?.model, threads: 1, quick, loadavg: os.loadavg() };
try {
  const kjvBin = path.join(SHARED, "models/kjv3M/kjv3M.bin");
  const pps = [];
  if (existsSync(kjvBin)) {
    const { openLlama2cModel } = await import("../dist/index.js");
    const p = path.join(tmp, "kjv3M.gguf");
    if (!existsSync(p)) { const s = await openLlama2cModel(kjvBin, path.join(SHARED, "models/kjv3M/tok512.bin")); await quantizeModel(engine, s, await openFileSink(p), { ftype: "F32" }); await s.close(); }
    pps.push(await pp("kjv3M (3.3M params, F32)", p, 128, 32));
  } else console.log("kjv3M not found: skipped");
  const big = await makeGguf("synthetic-106M", syntheticModel(BIG));
  pps.push(await pp("synthetic 106M (F32)", big, 512, 8));
  result.promptProcessing = pps;
  result.matmul = matmulBench();
  result.rss = rss(big, BIG, 512);
} finally {
  engine.dispose();
  if (!keep) rmSync(tmp, { recursive: true, force: true });
}
writeFileSync(path.join(here, "forward.json"), JSON.stringify(result, null, 2) + "\n");
console.log("wrote bench/forward.json");
process.exit(0);
