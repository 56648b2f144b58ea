// Pruning quality on kjv3M judged by llama.cpp (node-llama-cpp): magnitude / Wanda / SparseGPT at 50% unstructured,
// 2:4 and 4:8 (pruned weights stored F16 with exact zeros), the same then quantized to Q4_K_M (llama.cpp's RTN of
// the pruned F16 file), perplexity on ../shared/models/kjv3M/eval.txt and mean KLD against the dense F16 model
// (context 512, every scored position; the README's protocol). Plus SparseGPT time on one 2048 x 2048 matrix
// beside RTN Q4_K of the same matrix. Writes bench/prune.json and bench/PRUNE.md.
// Usage: node --import tsx bench/prune.mjs [--threads 2] [--chunks 32]     (runs src/ directly; ~5-10 min)
import { writeFileSync, existsSync, mkdtempSync, rmSync, statSync, readFileSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { tmpdir } from "node:os";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..");
const D = path.resolve(root, "../shared/models/kjv3M");
const arg = (k, d) => { const i = process.argv.indexOf(k); return i > 0 ? Number(process.argv[i + 1]) : d; };
const THREADS = arg("--threads", 2), CHUNKS = arg("--chunks", 16), NDOCS = arg("--docs", 12);
const TARGETS = ["0.5", "2:4"];
if (!["kjv3M.bin", "tok512.bin", "calib.txt", "eval.txt"].every((f) => existsSync(path.join(D, f)))) {
  console.log(`SKIP: ${D} not found; nothing written`);
  process.exit(0);
}
const ts = await import(pathToFileURL(path.join(root, "src/index.ts")).href);
const { evaluateGguf, greedyComplete } = await import(pathToFileURL(path.join(root, "src/eval/llama.ts")).href);
const tmp = mkdtempSync(path.join(tmpdir(), "ts-prune-"));
const t0 = Date.now();
const rows = [];
let writeOut = () => finalWrite(null);
try {
  const engine = await ts.init({ threads: 0 });
  const src = await ts.openLlama2cModel(path.join(D, "kjv3M.bin"), path.join(D, "tok512.bin"));
  const tok = ts.Tokenizer.fromGguf({ kv: new Map(src.metadata.map((kv) => [kv.key, kv])) });
  const tokens = Int32Array.from(tok.encode(readFileSync(path.join(D, "calib.txt"), "utf8").trimEnd(), { addBos: true }));
  const allDocs = ts.splitDocuments(readFileSync(path.join(D, "eval.txt"), "utf8"));
  const docs = allDocs.slice(0, NDOCS);
  const base = path.join(tmp, "dense-F16.gguf");
  await ts.quantizeModel(engine, src, await ts.openFileSink(base), { ftype: "F16" });
  const baseQ = path.join(tmp, "dense-Q4_K_M.gguf");
  { const s = await ts.openModel(base, engine); await ts.quantizeModel(engine, s, await ts.openFileSink(baseQ), { ftype: "Q4_K_M" }); await s.close?.(); }
  const judge = async (label, method, target, file, pruneSeconds, gen = false) => {
    const r = await evaluateGguf(base, file, docs, { threads: THREADS, contextSize: 512 });
    const row = { label, method, target, file: path.basename(file), bytes: statSync(file).size, perplexity: r.other.perplexity, kld: r.kl.mean, top1: r.top1Agreement, basePerplexity: r.base.perplexity, tokens: r.base.tokens ?? r.base.count, pruneSeconds };
    if (gen) {
      // generation speed: 64 greedy tokens, dense and this model alternately, twice each (same run)
      let td = 0, tm = 0;
      for (let k = 0; k < 2; k++) {
        let a = Date.now(); await greedyComplete(base, "And God said", 64, { threads: THREADS }); td += Date.now() - a;
        a = Date.now(); await greedyComplete(file, "And God said", 64, { threads: THREADS }); tm += Date.now() - a;
      }
      row.genSpeedup = td / tm;
    }
    rows.push(row);
    writeOut();
    console.log(`${label.padEnd(28)} ppl ${row.perplexity.toFixed(4)}  KLD ${row.kld.toFixed(5)}  top1 ${(100 * row.top1).toFixed(2)}%  (${pruneSeconds?.toFixed?.(1) ?? "-"} s)`);
  };
  await judge("dense Q4_K_M", "-", "-", baseQ, null);
  const later = [];
  for (const target of TARGETS) {
    for (const method of ["magnitude", "wanda", "sparsegpt"]) {
      const spec = target.includes(":") ? { method, nm: target } : { method, sparsity: Number(target) };
      const f = path.join(tmp, `${method}-${target.replace(":", "_")}-F16.gguf`);
      const t = Date.now();
      await ts.quantizeModel(engine, src, await ts.openFileSink(f), { ftype: "F16", methods: [ts.pruneMethod(spec)], calibration: method === "magnitude" ? undefined : { tokens, ctx: 128, chunks: CHUNKS, dataset: "calib.txt" } });
      const secs = (Date.now() - t) / 1000;
      await judge(`${method} ${target === "0.5" ? "50%" : target}`, method, target, f, secs);
      const fq = f.replace("-F16", "-Q4_K_M");
      { const s = await ts.openModel(f, engine); await ts.quantizeModel(engine, s, await ts.openFileSink(fq), { ftype: "Q4_K_M" }); await s.close?.(); }
      later.push(() => judge(`${method} ${target === "0.5" ? "50%" : target} + Q4_K_M`, method, target + "+Q4_K_M", fq, null));
    }
  }
  // structured: FFN channels (activation-weighted) and whole layers (Block Influence), same widths in every block
  {
    const m = await ts.LlamaModel.open(engine, src, { nCtx: 128 });
    const stats = await ts.collectStats(engine, m, tokens, { ctx: 128, chunks: CHUNKS });
    m.dispose();
    const st = [["FFN -25%", () => ts.pruneFfnChannels(src, 0.25, stats)], ["1 layer removed (BI)", () => ts.pruneLayers(src, 1, stats.blockInfluence)], ["FFN -10%", () => ts.pruneFfnChannels(src, 0.10, stats)], ["2 layers removed (BI)", () => ts.pruneLayers(src, 2, stats.blockInfluence)]];
    for (const [label, make] of st.slice(0, 2)) {
      const r = await make();
      const f = path.join(tmp, label.replace(/[^a-z0-9]+/gi, "_") + ".gguf");
      await ts.quantizeModel(engine, r.source, await ts.openFileSink(f), { ftype: "F16" });
      await judge(`${label} (F16)`, "structured", label, f, null, label === "FFN -25%");
    }
    for (const j of later) await j();
    for (const [label, make] of st.slice(2)) {
      const r = await make();
      const f = path.join(tmp, label.replace(/[^a-z0-9]+/gi, "_") + ".gguf");
      await ts.quantizeModel(engine, r.source, await ts.openFileSink(f), { ftype: "F16" });
      await judge(`${label} (F16)`, "structured", label, f, null);
    }
  }
  const timing = {};
  writeOut = () => {};
  // SparseGPT vs RTN on one 1024 x 1024 matrix (same run: compare the ratio)
  const n = 1024, w = new Float32Array(n * n), h = new Float64Array(n * n);
  let s = 1; const rnd = () => { s = (s * 1103515245 + 12345) >>> 0; return s / 2 ** 32 - 0.5; };
  for (let i = 0; i < w.length; i++) w[i] = rnd() * 0.1;
  const X = new Float32Array(256 * n); for (let i = 0; i < X.length; i++) X[i] = rnd();
  for (let t = 0; t < 256; t++) for (let i = 0; i < n; i++) { const a = X[t * n + i]; if (a) for (let j = 0; j < n; j++) h[i * n + j] += a * X[t * n + j]; }
  let ta = Date.now(); engine.quantize(w, { type: "q4_K", rows: n, cols: n }); const rtnS = (Date.now() - ta) / 1000;
  ta = Date.now(); ts.sparseGPT(engine, w, n, n, h, { sparsity: 0.5 }); const sgS = (Date.now() - ta) / 1000;
  Object.assign(timing, { matrix: `${n} x ${n}`, params: n * n, rtnQ4KSeconds: rtnS, sparseGptSeconds: sgS, ratio: sgS / rtnS });
  console.log(timing);
  await src.close?.();
  finalWrite(timing);
  console.log(`wrote bench/PRUNE.md in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
process.exit(0);

function finalWrite(timing) {
  writeFileSync(path.join(here, "prune.json"), JSON.stringify({ date: new Date().toISOString(), threads: THREADS, calibChunks: CHUNKS, calibCtx: 128, rows, timing, seconds: (Date.now() - t0) / 1000 }, null, 1) + "\n");
  const fmt = (r) => `| ${r.label} | ${r.bytes} | ${r.perplexity.toFixed(4)} | ${r.kld.toFixed(5)} | ${(100 * r.top1).toFixed(2)} | ${r.pruneSeconds == null ? "" : r.pruneSeconds.toFixed(1)} | ${r.genSpeedup ? r.genSpeedup.toFixed(2) + "x" : ""} |`;
  const md = `# Pruning on kjv3M, judged by llama.cpp\n\n` +
    `Generated by \`node --import tsx bench/prune.mjs --threads ${THREADS} --chunks ${CHUNKS}\` (${new Date().toISOString().slice(0, 16)} UTC, ${((Date.now() - t0) / 1000).toFixed(0)} s). ` +
    `Every attention and FFN matrix of the 4 blocks is pruned (token_embd/output and norms kept: 2,097,152 of 3,279,104 parameters); ` +
    `Wanda and SparseGPT are calibrated by quantizeModel's sweep (each block on the outputs of the already-pruned blocks) over ${CHUNKS} chunks of 128 tokens of calib.txt. ` +
    `Pruned weights are written F16 (exact zeros), then the F16 file is quantized to Q4_K_M by our llama.cpp-identical RTN. ` +
    `llama.cpp (node-llama-cpp, context 512) scores the first ${NDOCS} of eval.txt's 263 documents (BOS + document; ${rows[0]?.tokens ?? "?"} scored tokens — a subset, to fit the bench into minutes on the shared machine); KLD is KL(P_dense F16 ‖ P_model), mean over scored tokens; top-1 = same argmax as dense F16. Dense F16 perplexity on this subset: ${rows[0]?.basePerplexity?.toFixed(4) ?? "?"}. ` +
    `Prune s = wall time of the prune+write (shared 2-core machine: compare only within this run).\n\n` +
    `| model | file bytes | PPL | mean KLD | top-1 % | prune s | llama.cpp generation speed vs dense F16 |\n|---|---:|---:|---:|---:|---:|---:|\n` + rows.map(fmt).join("\n") + "\n\n" +
    (timing ? `SparseGPT on one ${timing.matrix} matrix (H from 256 random rows, 50%): ${timing.sparseGptSeconds.toFixed(2)} s; RTN Q4_K of the same matrix: ${timing.rtnQ4KSeconds.toFixed(3)} s (ratio ${timing.ratio.toFixed(0)}x).\n` : "(run in progress: more rows follow)\n");
  writeFileSync(path.join(here, "PRUNE.md"), md);
}
