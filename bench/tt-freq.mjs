// Token-frequency variants of the TT embedding of kjv3M's token_embd.weight [512, 256], judged by llama.cpp on
// eval.txt (input only: the original table kept as output.weight, `--untie`), against F32.
//   node --import tsx bench/tt.mjs --set freq [--docs N] [--only i,j,...] [--threads N] [--out NAME]  → bench/TT-FREQ.md, bench/tt-freq.json
// Frequencies: token counts of calib.txt (tokenized with the model's vocabulary; never eval.txt).
// "values" counts everything stored: core values + dense rows + row scales + row map (i32 entries counted as values);
// "bytes" = payload bytes in the stated storage (cores and dense rows f32 / f16 / q8_0; scales f32, map i32)
// against the F32 table's 524288 bytes. A byte ratio is not a parameter ratio: both are reported.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { openFileSink, ttCompressTensor, writeRebuiltModel, tokenFrequencyOrder, roundTtCores, ttStoredBytes } from "../src/index.ts";
import { ROOT, arg, skipWithoutKjv3M, kjv3MSetup } from "./_quality-common.mjs";
import { evaluateGguf } from "../src/eval/llama.ts";

const NDOCS = Number(arg("--docs", 263));
const ONLY = arg("--only", null)?.split(",").map(Number) ?? null;
const THREADS = Number(arg("--threads", 2)); // llama.cpp threads (1 on an oversubscribed machine)
skipWithoutKjv3M();
const SVD = (r) => ({ rowDims: [512, 1], colDims: [1, 256], maxRank: r });
const D3 = { rowDims: [8, 8, 8], colDims: [8, 8, 4] };
// configurations (k = dense rows of the most frequent tokens; the SVD form of a hybrid factors the other 512 − k rows)
const configs = [
  { label: "SVD rank 16 (TT d=2)", ...SVD(16) },
  { label: "SVD rank 16, row weights (count+1)^0.25", ...SVD(16), wpow: 0.25 },
  { label: "SVD rank 16, row weights (count+1)^0.5", ...SVD(16), wpow: 0.5 },
  { label: "SVD rank 16, row weights (count+1)^1", ...SVD(16), wpow: 1 },
  { label: "TT-matrix d=3 [8,8,8]x[8,8,4] rank 12", ...D3, maxRank: 12 },
  { label: "TT-matrix d=3 rank 12, frequency-sorted ids", ...D3, maxRank: 12, permute: true },
  { label: "TT-matrix d=3 rank 12, frequency-sorted ids, weights ^0.5", ...D3, maxRank: 12, permute: true, wpow: 0.5 },
  { label: "hybrid: 32 dense + SVD rank 5 of the tail", denseRows: 32, rowDims: [480, 1], colDims: [1, 256], maxRank: 5 },
  { label: "hybrid: 16 dense + TT d=3 rank 10 of the tail (sorted)", denseRows: 16, colDims: [8, 8, 4], maxRank: 10, permute: true },
  { label: "SVD rank 64", ...SVD(64), coreType: "q8_0" },
  { label: "hybrid: 128 dense + SVD rank 16 of the tail", denseRows: 128, rowDims: [384, 1], colDims: [1, 256], maxRank: 16, coreType: "q8_0" },
  { label: "hybrid: 160 dense + SVD rank 8 of the tail", denseRows: 160, rowDims: [352, 1], colDims: [1, 256], maxRank: 8, coreType: "q8_0" },
  { label: "hybrid: 160 dense + SVD rank 8 of the tail", denseRows: 160, rowDims: [352, 1], colDims: [1, 256], maxRank: 8, coreType: "f16" },
  { label: "hybrid: 176 dense + SVD rank 4 of the tail", denseRows: 176, rowDims: [336, 1], colDims: [1, 256], maxRank: 4, coreType: "q8_0" },
  { label: "hybrid: 16 dense + TT d=3 rank 10 of the tail (sorted), weights ^0.5", denseRows: 16, colDims: [8, 8, 4], maxRank: 10, permute: true, wpow: 0.5 },
  { label: "hybrid: 32 dense + SVD rank 5 of the tail, weights ^0.5", denseRows: 32, rowDims: [480, 1], colDims: [1, 256], maxRank: 5, wpow: 0.5 },
  { label: "hybrid: 160 dense + SVD rank 8 of the tail", denseRows: 160, rowDims: [352, 1], colDims: [1, 256], maxRank: 8 },
  { label: "hybrid: 128 dense + SVD rank 8 of the tail", denseRows: 128, rowDims: [384, 1], colDims: [1, 256], maxRank: 8, coreType: "q8_0" },
  { label: "hybrid: 168 dense + SVD rank 4 of the tail", denseRows: 168, rowDims: [344, 1], colDims: [1, 256], maxRank: 4, coreType: "q8_0" },
];
// --out NAME: bench/NAME.json (default tt-freq; tt-freq-263 = the decisive rows on all documents, a second table in TT-FREQ.md)
const OUT = path.join(ROOT, `bench/${arg("--out", "tt-freq")}.json`);
const t0 = Date.now();
const tmp = mkdtempSync(path.join(tmpdir(), "ts-tt-freq-"));
// the shared setup (_quality-common.mjs): engine, F32 GGUF, tokenizer, calib.txt and eval.txt (strict UTF-8, as before)
const { engine, f32, tok, calibText, docs, openModel } = await kjv3MSetup({ tmp, threads: 2, nDocs: NDOCS, decode: "strict" });
// --only: the listed configurations are (re)judged and merged into an existing bench/tt-freq.json of the same --docs
const key = (r) => `${r.label}|${r.coreType}`;
const prev = ONLY && existsSync(OUT) ? JSON.parse(readFileSync(OUT, "utf8")) : null;
const rows = prev && prev.docs === NDOCS ? prev.rows : [];
const put = (row) => { const i = rows.findIndex((r) => key(r) === key(row)); if (i >= 0) rows[i] = row; else rows.push(row); };
let meta = {};
try {
  const base = await openModel(f32, engine);
  const ctoks = tok.encode(calibText, { addBos: true }); // all of calib.txt, its trailing newline included
  const fr = tokenFrequencyOrder(ctoks, 512);
  const seen = fr.counts.filter((c) => c > 0).length;
  const cover = (k) => { let c = 0; for (let i = 0; i < k; i++) c += fr.counts[fr.order[i]]; return c / ctoks.length; };
  meta = { calibTokens: ctoks.length, distinct: seen, coverage: Object.fromEntries([16, 32, 64, 128, 160, 176].map((k) => [k, cover(k)])) };
  console.log(JSON.stringify(meta));
  for (const [i, c] of configs.entries()) {
    if (ONLY && !ONLY.includes(i)) continue;
    const { label, wpow, coreType = "f32", ...opts } = c;
    if (wpow !== undefined) opts.rowWeights = fr.weights(wpow, 1);
    if (opts.denseRows || opts.permute) opts.order = fr.order;
    const r = await ttCompressTensor(engine, base, { tensor: "token_embd.weight", ...opts });
    const stored = roundTtCores(engine, r.tt, coreType, engine); // the values a file of this storage type gives back
    const rr = { ...r, tt: stored, relError: stored.relError(r.original) };
    const out = path.join(tmp, "rebuilt.gguf");
    await writeRebuiltModel(await openFileSink(out), base, rr, { untie: true });
    const j = await evaluateGguf(f32, out, docs, { threads: THREADS, contextSize: 128 });
    const p = stored.parts, bytes = ttStoredBytes(stored, coreType);
    const row = { label, coreType, wpow: wpow ?? null, denseRows: p.denseRows ?? 0, permute: !!opts.permute, ranks: Array.from(p.ranks), rowDims: p.rowDims, colDims: p.colDims,
      values: stored.params, coreValues: stored.coreParams, extraValues: stored.extraParams, compression: 131072 / stored.params, bytes, byteRatio: 524288 / bytes,
      relError: rr.relError, ppl: j.other.perplexity, pplF32: j.base.perplexity, kld: j.kl.mean, top1: j.top1Agreement, tokens: j.base.tokens };
    r.tt.dispose(); stored.dispose();
    put(row);
    console.log(JSON.stringify(row));
    writeFileSync(OUT, JSON.stringify({ docs: docs.length, threads: THREADS, partial: true, seconds: (Date.now() - t0) / 1000, ...meta, rows }, null, 1) + "\n");
  }
  await base.close?.();
} finally {
  rmSync(tmp, { recursive: true, force: true });
  engine.dispose();
}
writeFileSync(OUT, JSON.stringify({ docs: NDOCS, threads: THREADS, seconds: (Date.now() - t0) / 1000, ...meta, rows }, null, 1) + "\n");
const { renderTtFreq } = await import("./tt-freq-render.mjs");
renderTtFreq();
