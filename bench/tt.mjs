// Benchmark: tensor-train (TensorGPT) compression of kjv3M's token_embd.weight [512, 256], judged by llama.cpp
// (node-llama-cpp) against F32 on eval.txt documents (BOS + document, every position after BOS scored, context 128),
// plus the wasm row-lookup speed (CPU time, process.cpuUsage).
//   node --import tsx bench/tt.mjs [--docs N]   → bench/TT.md, bench/tt.json   (default: all 263 documents)
//   node --import tsx bench/tt.mjs --set freq [--docs N] → bench/TT-FREQ.md, bench/tt-freq.json: token-frequency variants
//     (row weights, frequency permutation, dense rows for the most frequent tokens, f16 / q8_0 storage), input only;
//     frequencies counted on calib.txt (never eval.txt).
// kjv3M ties its classifier to token_embd: "tied" rows replace both the input lookup and the output head by the
// rebuilt table; "input only" rows (--untie) keep the original table as output.weight (TensorGPT compresses the
// input embedding only).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ttCompressTensor, writeRebuiltModel, openFileSink } from "../src/index.ts";
import { ROOT, arg, skipWithoutKjv3M, kjv3MSetup, kjv3MJudge } from "./_quality-common.mjs";

const NDOCS = +arg("--docs", "263");
const ONLY = process.argv.includes("--quick") ? 3 : Infinity; // --quick: the first 3 configurations
skipWithoutKjv3M();
const FREQ = process.argv.includes("--set") && process.argv[process.argv.indexOf("--set") + 1] === "freq";
if (FREQ) { await import("./tt-freq.mjs"); process.exit(0); }
const t0 = Date.now();
const tmp = mkdtempSync(path.join(tmpdir(), "ts-tt-bench-"));
// the shared setup (_quality-common.mjs): engine, F32 GGUF, eval.txt documents (strict UTF-8, as before)
const { engine, f32, docs, openModel } = await kjv3MSetup({ tmp, threads: 2, nDocs: NDOCS, decode: "strict" });
const rows = [];
const D3 = { rowDims: [8, 8, 8], colDims: [8, 8, 4] };
const configs = [
  // plain low-rank SVD of the table = a 2-core TT-matrix with digits [512, 1] x [1, 256]
  ...[16, 32, 64].map((r) => ({ label: "SVD (TT, d=2: [512,1]x[1,256])", mode: "matrix", rowDims: [512, 1], colDims: [1, 256], maxRank: r })),
  ...[12, 16, 32, 48].map((r) => ({ label: "TT-matrix d=3 [8,8,8]x[8,8,4]", mode: "matrix", ...D3, maxRank: r })),
  { label: "TT-matrix d=2 [16,32]x[16,16]", mode: "matrix", rowDims: [16, 32], colDims: [16, 16], maxRank: 16 },
  { label: "TT-matrix d=4 [4,4,4,8]x[4,4,4,4]", mode: "matrix", rowDims: [4, 4, 4, 8], colDims: [4, 4, 4, 4], maxRank: 16 },
  { label: "TT-matrix d=3 [8,8,8]x[8,8,4]", mode: "matrix", ...D3, eps: 0.1 },
  { label: "TT-matrix d=3, TT-SVD ε/2 + rounding ε/2", mode: "matrix", ...D3, eps: 0.3, round: true },
  ...[0.1, 0.3].map((eps) => ({ label: "MPS per token, d=3 [8,8,4]", mode: "mps", colDims: [8, 8, 4], eps })),
  { label: "MPS per token, d=3 [8,8,4]", mode: "mps", colDims: [8, 8, 4], maxRank: 2 },
];
function lookupSpeed(tt) {
  const ids = Int32Array.from({ length: 8192 }, (_, i) => (i * 2654435761) % 512);
  const res = {};
  for (const kernel of ["simd", "ref"]) {
    tt.rows(ids.subarray(0, 256), { kernel }); // warm up
    let n = 0; const c0 = process.cpuUsage(), w0 = Date.now();
    while (Date.now() - w0 < 300) { tt.rows(ids, { kernel }); n += ids.length; }
    const c = process.cpuUsage(c0);
    res[kernel] = n / ((c.user + c.system) / 1e6);
  }
  return res;
}
try {
  const base = await openModel(f32, engine);
  const judge = await kjv3MJudge(f32, docs, { threads: 2 });
  for (const c of configs.slice(0, ONLY)) {
    const { label, ...opts } = c;
    const r = await ttCompressTensor(engine, base, { tensor: "token_embd.weight", ...opts });
    const p = r.tt.parts;
    const speed = lookupSpeed(r.tt);
    const row = { label, mode: c.mode, eps: c.eps ?? null, maxRank: c.maxRank ?? null, round: !!c.round, rowDims: p.rowDims, colDims: p.colDims,
      ranks: c.mode === "matrix" ? Array.from(p.ranks) : null, maxRankSeen: r.tt.maxRank, params: r.params, compression: r.compression, relError: r.relError,
      rowsPerSecSimd: speed.simd, rowsPerSecRef: speed.ref };
    for (const untie of [false, true]) {
      const out = path.join(tmp, `rebuilt-${untie}.gguf`);
      await writeRebuiltModel(await openFileSink(out), base, r, { untie });
      row[untie ? "inputOnly" : "tied"] = await judge(out);
    }
    r.tt.dispose();
    rows.push(row);
    console.log(JSON.stringify(row));
  }
  await base.close?.();
  const f = (x, n = 4) => x.toFixed(n);
  const pplF32 = rows[0].tied.pplF32;
  let md = `# Tensor-train embeddings on kjv3M (judged by llama.cpp)\n\n` +
    `\`node --import tsx bench/tt.mjs --docs ${NDOCS}\` — token_embd.weight [512, 256] (131072 values) of kjv3M; ${rows[0].tied.tokens} scored tokens of ` +
    `${docs.length} eval.txt documents (context 128, BOS + document); F32 PPL ${f(pplF32)}. ${((Date.now() - t0) / 1000).toFixed(0)} s on a shared 2-core machine.\n\n` +
    `"tied": the rebuilt table replaces token_embd.weight, which kjv3M also uses as its classifier; "input only": the original table is kept as ` +
    `output.weight (\`tensorshrink tt --untie\`), so only the embedding lookup uses the TT cores, as in TensorGPT. ` +
    `Compression = 131072 / stored TT values (f32 to f32). rows/s: \`tt.rows()\` of 8192 ids, CPU time, SIMD kernel (scalar twin in brackets).\n\n` +
    `| method | truncation | ranks | values | compression | rel. error | PPL tied | KLD tied | PPL input only | KLD input only | top-1 % input only | rows/s |\n|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n`;
  for (const r of rows) {
    const trunc = [r.eps !== null ? `ε ${r.eps}` : "", r.maxRank !== null ? `rank ≤ ${r.maxRank}` : ""].filter(Boolean).join(", ");
    md += `| ${r.label} | ${trunc} | ${r.ranks ? r.ranks.join(",") : `≤ ${r.maxRankSeen}`} | ${r.params} | ${f(r.compression, 2)}× | ${f(r.relError, 4)} | ${f(r.tied.ppl)} | ${f(r.tied.kld, 5)} | ${f(r.inputOnly.ppl)} | ${f(r.inputOnly.kld, 5)} | ${f(100 * r.inputOnly.top1, 2)} | ${(r.rowsPerSecSimd / 1e3).toFixed(0)}k (${(r.rowsPerSecRef / 1e3).toFixed(0)}k) |\n`;
  }
  const ten = rows.filter((r) => r.compression >= 10);
  const best = (key) => ten.reduce((b, r) => (!b || r[key].ppl < b[key].ppl ? r : b), null);
  const bt = best("tied"), bi = best("inputOnly");
  md += `\n## At ≥ 10× compression\n\n` +
    (bi ? `- Best input-only configuration at ≥ 10×: ${bi.label} (${[bi.eps !== null ? `ε ${bi.eps}` : "", bi.maxRank !== null ? `rank ≤ ${bi.maxRank}` : ""].filter(Boolean).join(", ")}), ${f(bi.compression, 2)}×, PPL ${f(bi.inputOnly.ppl)} = ${f(100 * (bi.inputOnly.ppl / pplF32 - 1), 1)} % above F32 (target: within 5 %: ${bi.inputOnly.ppl <= 1.05 * pplF32 ? "met" : "not met"}).\n` : "") +
    (bt ? `- Best tied configuration at ≥ 10×: ${bt.label} (${[bt.eps !== null ? `ε ${bt.eps}` : "", bt.maxRank !== null ? `rank ≤ ${bt.maxRank}` : ""].filter(Boolean).join(", ")}), ${f(bt.compression, 2)}×, PPL ${f(bt.tied.ppl)} = ${f(100 * (bt.tied.ppl / pplF32 - 1), 1)} % above F32.\n` : "");
  writeFileSync(path.join(ROOT, "bench/TT.md"), md);
  writeFileSync(path.join(ROOT, "bench/tt.json"), JSON.stringify({ docs: docs.length, seconds: (Date.now() - t0) / 1000, rows }, null, 1) + "\n");
  console.log(md);
} finally {
  rmSync(tmp, { recursive: true, force: true });
  engine.dispose();
}
