// Benchmark: low-rank compression and EoRA on kjv3M, judged by llama.cpp (node-llama-cpp) against F32 on
// eval.txt documents (BOS + document, every position after BOS scored, context 128).
//   node --import tsx bench/lowrank.mjs [--docs N] [--chunks N] [--adapter-types f32,f16,q8_0] [--eora-only | --lowrank-only] [--ftypes Q2_K,Q3_K_M,...] [--threads N] [--out NAME]
//     → bench/LOWRANK.md, bench/lowrank.json (--eora-only: only the EoRA part → bench/LOWRANK-EORA.md, lowrank-eora.json)
// EoRA bases: Q2_K, Q3_K_M and SparseGPT 2:4 (F16 storage); adapters in each --adapter-types (default f32,q8_0).
// --docs limits the eval.txt documents (default 40; all 263 take ~7× longer), --chunks the calib.txt chunks
// of 128 tokens for the statistics (default 16). On a loaded 2-core machine the default run takes ~10 minutes.
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  quantizeModel, openFileSink, calibrateModel, readMatrix, lowRankSpectrum, truncateSpectrum, reconstruct,
  eoraSpectrum, writeGgufLora, writeReplaced, LINEAR_RE, pruneMethod,
} from "../src/index.ts";
import { ROOT, arg, skipWithoutKjv3M, kjv3MSetup, kjv3MJudge } from "./_quality-common.mjs";

const NDOCS = +arg("--docs", "40"), CHUNKS = +arg("--chunks", "16");
// --threads: llama.cpp threads per judged model (default 2; use 1 on an oversubscribed machine, where llama.cpp's spinning thread barrier is far slower)
const THREADS = +arg("--threads", "2");
// --adapter-types f32,f16,q8_0: storage types of the EoRA adapters (GGUF LoRA; q8_0 rows not a multiple of 32 in f16)
const TYPES = (() => { const i = process.argv.indexOf("--adapter-types"); return i > 0 ? process.argv[i + 1].split(",") : ["f32", "q8_0"]; })();
const SKIP_LOWRANK = process.argv.includes("--eora-only");
const SKIP_EORA = process.argv.includes("--lowrank-only"); // only the SVD / ASVD / SVD-LLM table (→ bench/LOWRANK.md)
// the plain ftypes judged beside the adapted bases (each EoRA row is set beside the smallest of them at least as large)
// (--ftypes A,B,...: a shorter list; Q2_K and Q3_K_M are always judged, they are EoRA bases)
const FTYPES = (() => { const i = process.argv.indexOf("--ftypes"); const l = i > 0 ? process.argv[i + 1].split(",") : ["Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K"]; return [...new Set(["Q2_K", "Q3_K_M", ...l])]; })();
// --eora-only writes bench/LOWRANK-EORA.md (the SVD table stays in LOWRANK.md); --out NAME: bench/NAME.json instead
// (e.g. lowrank-eora-f16: a second adapter type run whose EoRA rows the renderer adds to LOWRANK-EORA.md)
const OUT_BASE = (() => { const i = process.argv.indexOf("--out"); return i > 0 ? process.argv[i + 1] : SKIP_LOWRANK ? "lowrank-eora" : "lowrank"; })();
// rows so far, rewritten after every judged model (a run cut short still leaves its figures, marked partial)
const savePartial = () => writeFileSync(path.join(ROOT, `bench/${OUT_BASE}.json`), JSON.stringify({ docs: NDOCS, chunks: CHUNKS, threads: THREADS, partial: true, seconds: (Date.now() - t0) / 1000, rows }, null, 1) + "\n");
skipWithoutKjv3M();
const t0 = Date.now();
const tmp = mkdtempSync(path.join(tmpdir(), "ts-lowrank-bench-"));
// the shared setup (_quality-common.mjs): engine, F32 GGUF, tokenizer, calib.txt and eval.txt (strict UTF-8, as before)
const { engine, f32, tok, calibText, docs, openModel } = await kjv3MSetup({ tmp, threads: 2, nDocs: NDOCS, decode: "strict" });
const rows = [];
try {
  const base = await openModel(f32, engine);
  const judge = await kjv3MJudge(f32, docs, { threads: THREADS });
  const stats = await calibrateModel(engine, base, calibText, { ctx: 128, chunks: CHUNKS, gram: "all" });
  const linear = base.tensors.filter((t) => LINEAR_RE.test(t.name));
  const W = new Map();
  for (const t of linear) W.set(t.name, await readMatrix(t));
  const nParams = base.tensors.reduce((s, t) => s + t.ne.reduce((a, b) => a * b, 1), 0);

  // 1. SVD / ASVD / SVD-LLM at 10/20/40% parameter reduction of the block linear weights
  for (const method of SKIP_LOWRANK ? [] : ["svd", "asvd", "svdllm"]) {
    const spectra = linear.map((t) => lowRankSpectrum(engine, W.get(t.name), {
      method, name: t.name, meanAbs: method === "asvd" ? stats.meanAbs(t.name) : undefined, gram: method === "svdllm" ? stats.get(t.name).gram : undefined,
    }));
    for (const red of [0.1, 0.2, 0.4]) {
      const rebuilt = new Map();
      let kept = 0, total = 0;
      for (const sp of spectra) {
        const f = truncateSpectrum(engine, sp, { ratio: 1 - red });
        rebuilt.set(sp.name, reconstruct(engine, f).data);
        kept += f.rank * (sp.x.rows + sp.x.cols); total += sp.x.rows * sp.x.cols;
      }
      const out = path.join(tmp, `${method}-${red}.gguf`);
      await writeReplaced(base, await openFileSink(out), rebuilt);
      const j = await judge(out);
      rows.push({ part: "lowrank", method, reduction: red, linearParamsKept: kept / total, ...j });
      console.log(JSON.stringify(rows.at(-1))); savePartial();
    }
  }

  // 2. EoRA on Q2_K and Q3_K_M; the next larger ftypes for the equal-size comparison
  const sizes = {};
  for (const ft of SKIP_EORA ? [] : FTYPES) {
    const out = path.join(tmp, `${ft}.gguf`);
    await quantizeModel(engine, base, await openFileSink(out), { ftype: ft });
    sizes[ft] = statSync(out).size;
    const j = await judge(out);
    rows.push({ part: "ftype", ftype: ft, bytes: sizes[ft], bpw: (8 * sizes[ft]) / nParams, ...j });
    console.log(JSON.stringify(rows.at(-1))); savePartial();
  }
  // a 2:4-pruned model (SparseGPT, block linear weights, F16 storage) as a third compressed base
  if (!SKIP_EORA) {
    // all of calib.txt, its trailing newline included (unlike the setup's calibTokens)
    const tokens = Int32Array.from(tok.encode(calibText, { addBos: true }));
    const out = path.join(tmp, "SPARSEGPT24.gguf");
    await quantizeModel(engine, base, await openFileSink(out), { ftype: "F16", methods: [pruneMethod({ method: "sparsegpt", nm: "2:4" })], calibration: { tokens, ctx: 128, chunks: CHUNKS } });
    sizes.SPARSEGPT24 = statSync(out).size;
    const j = await judge(out);
    rows.push({ part: "ftype", ftype: "SPARSEGPT24", bytes: sizes.SPARSEGPT24, bpw: (8 * sizes.SPARSEGPT24) / nParams, ...j });
    console.log(JSON.stringify(rows.at(-1))); savePartial();
  }
  const typeName = (t) => (t === "f32" ? "F32" : t === "f16" ? "F16" : "Q8_0");
  for (const ft of SKIP_EORA ? [] : ["Q2_K", "Q3_K_M", "SPARSEGPT24"]) {
    const qsrc = await openModel(path.join(tmp, `${ft}.gguf`), engine);
    const qmap = new Map(qsrc.tensors.map((t) => [t.name, t]));
    const spectra = [];
    for (const t of linear) spectra.push(eoraSpectrum(engine, W.get(t.name), await readMatrix(qmap.get(t.name)), stats.get(t.name).gram, { name: t.name }));
    for (const rank of [8, 16, 32, 64]) {
      const layers = spectra.map((sp) => { const f = truncateSpectrum(engine, sp, { rank }); return { name: sp.name, A: f.A, B: f.B }; });
      for (const type of TYPES) {
        const ad = path.join(tmp, `${ft}-eora${rank}-${type}.gguf`);
        await writeGgufLora(await openFileSink(ad), layers, { architecture: "llama", base: qsrc.tensors, tensorType: type, quantizer: engine });
        const adBytes = statSync(ad).size, tot = sizes[ft] + adBytes;
        const j = await judge(path.join(tmp, `${ft}.gguf`), ad);
        rows.push({ part: "eora", ftype: ft, rank, adapterType: typeName(type), adapterBytes: adBytes, totalBytes: tot, bpw: (8 * tot) / nParams, ...j });
        console.log(JSON.stringify(rows.at(-1))); savePartial();
      }
    }
    await qsrc.close?.();
  }
  await base.close?.();
} finally {
  rmSync(tmp, { recursive: true, force: true });
  engine.dispose();
}
const secs = (Date.now() - t0) / 1000;
writeFileSync(path.join(ROOT, `bench/${OUT_BASE}.json`), JSON.stringify({ docs: NDOCS, chunks: CHUNKS, threads: THREADS, seconds: secs, rows }, null, 1) + "\n");
const { renderLowrank } = await import("./lowrank-render.mjs");
console.log(renderLowrank(OUT_BASE.startsWith("lowrank-eora") ? "lowrank-eora" : OUT_BASE));
process.exit(0);
