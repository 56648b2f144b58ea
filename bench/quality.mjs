// Quality of the calibrated methods on kjv3M (../shared/models/kjv3M), judged by llama.cpp (node-llama-cpp)
// exactly as that folder's README table: calibrate on calib.txt, score every eval.txt document from a BOS,
// KLD(P_f32 ‖ P_quant) mean, perplexity, top-1 agreement with F32, file bytes. Rows per ftype:
//   rtn          llama.cpp-identical RTN (quantizeModel's default path)
//   rtn+imatrix  RTN with our imatrix (collectStats over calib.txt, ctx 128 = tensorshrink imatrix -c 128)
//   gptq         GPTQ in the calibrated sweep (ctx 128, --chunks calibration chunks)
// Also GPTQ seconds per layer and in all beside plain RTN, and the sweep's peak stream/stats memory.
// Usage: node --import tsx bench/quality.mjs [--ftypes Q4_K_M,Q4_0,...] [--chunks 64] [--imatrix-chunks 785] [--docs 263] [--threads 2]
// Writes bench/quality.json and bench/QUALITY.md.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { init, quantizeModel, openFileSink, collectStats, LlamaModel, Tokenizer, splitDocuments, readGguf, openFileSource, readImatrix } from "../src/index.ts";
import { openModel } from "../src/model/open.ts";
import { evaluateGguf } from "../src/eval/llama.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const K = path.resolve(ROOT, "../shared/models/kjv3M");
const arg = (k, d) => { const i = process.argv.indexOf(k); return i > 0 ? process.argv[i + 1] : d; };
const ftypes = arg("--ftypes", "Q2_K,Q3_K_M,Q4_0,Q4_K_M,Q5_K_M,Q6_K").split(",");
const chunks = +arg("--chunks", "64"), imChunks = +arg("--imatrix-chunks", "785"), nDocs = +arg("--docs", "263"), threads = +arg("--threads", "2");
const methods = arg("--methods", "gptq").split(";");
if (!existsSync(path.join(K, "kjv3M.bin"))) { console.log(`SKIP: ${K}/kjv3M.bin not found`); process.exit(0); }
// F32 GGUF and imatrix are cached between runs (the machine is shared: run one ftype at a time, rows merge)
const tmp = path.join(tmpdir(), "ts-quality-cache");
mkdirSync(tmp, { recursive: true });
const engine = await init({ threads });
const f32 = path.join(tmp, "kjv3M-f32.gguf");
if (!existsSync(f32)) { const src = await openModel(path.join(K, "kjv3M.bin"), engine, { tokenizer: path.join(K, "tok512.bin") }); await quantizeModel(engine, src, await openFileSink(f32), { ftype: "F32" }); await src.close?.(); }
const gs = await openFileSource(f32);
const tok = Tokenizer.fromGguf(await readGguf(gs));
await gs.close?.();
const calibText = readFileSync(path.join(K, "calib.txt"), "utf8");
const calibTokens = tok.encode(calibText.endsWith("\n") ? calibText.slice(0, -1) : calibText, { addBos: true });
const docs = splitDocuments(readFileSync(path.join(K, "eval.txt"), "utf8")).slice(0, nDocs);
// the imatrix, as `tensorshrink imatrix kjv3M-f32.gguf --text calib.txt --ctx 128` computes it
const imFile = path.join(tmp, `imatrix-${imChunks}.gguf`);
const readIm = async () => { const s = await openFileSource(imFile); try { return await readImatrix(s); } finally { await s.close?.(); } };
const im = existsSync(imFile) ? await readIm() : await (async () => {
  const m = await LlamaModel.open(engine, f32, { nCtx: 128, kvF16: true });
  const s = await collectStats(engine, m, calibTokens, { ctx: 128, chunks: imChunks, dataset: "calib.txt" });
  m.dispose();
  writeFileSync(imFile, s.encodeImatrix("gguf"));
  return s.toImatrix();
})();
const jsonPath = path.join(ROOT, "bench/quality.json");
const res = existsSync(jsonPath) ? JSON.parse(readFileSync(jsonPath, "utf8")) : { model: "kjv3M", judge: "llama.cpp (node-llama-cpp), context 512, each eval.txt document from a BOS", rows: [] };
const only = arg("--variants", null);
// --eval FILE --label FTYPE:METHOD: judge an existing file only (a run cut short by the time limit)
if (arg("--eval", null)) {
  const file = arg("--eval"), [ftype, method] = arg("--label", "?:?").split(":");
  const ev = await evaluateGguf(f32, file, docs, { threads, contextSize: 512 });
  const row = { ftype, method, fileBytes: statSync(file).size, ppl: ev.other.perplexity, basePpl: ev.base.perplexity, kld: ev.kl.mean, kldP99: ev.kl.p99, top1: ev.top1Agreement, seconds: null, docs: docs.length, threads, calibChunks: method.startsWith("gptq") ? chunks : null, calibTokens: method.startsWith("gptq") ? chunks * 128 : null };
  res.rows = res.rows.filter((r) => !(r.ftype === ftype && r.method === method));
  res.rows.push(row);
  writeFileSync(jsonPath, JSON.stringify(res, null, 1) + "\n");
  console.log(`${ftype.padEnd(7)} ${method.padEnd(14)} ${row.fileBytes} B  PPL ${row.ppl.toFixed(4)}  KLD ${row.kld.toFixed(6)}  top-1 ${(100 * row.top1).toFixed(2)}%`);
  process.exit(0);
}
const src = await openModel(f32, engine);
for (const ftype of ftypes) {
  const variants = [["rtn", {}], ["rtn+imatrix", { imatrix: im }], ...methods.map((m) => [m, { methods: m.split(","), calibration: { tokens: calibTokens, ctx: 128, chunks, dataset: "calib.txt" } }]), ...methods.map((m) => [`${m}+imatrix`, { imatrix: im, methods: m.split(","), calibration: { tokens: calibTokens, ctx: 128, chunks, dataset: "calib.txt" } }])];
  for (const [name, o] of variants) {
    if (only && !only.split(",").includes(name)) continue;
    const out = path.join(tmp, `${ftype}-${name}.gguf`);
    const layers = [];
    const rss0 = process.memoryUsage().rss;
    const rep = await quantizeModel(engine, src, await openFileSink(out), { ftype, ...o, onLayer: (p) => layers.push(p.seconds) });
    const ev = await evaluateGguf(f32, out, docs, { threads, contextSize: 512 });
    const row = { ftype, method: name, fileBytes: statSync(out).size, ppl: ev.other.perplexity, basePpl: ev.base.perplexity, kld: ev.kl.mean, kldP99: ev.kl.p99, top1: ev.top1Agreement, seconds: rep.seconds, methodSeconds: rep.methods?.seconds ?? null, layerSeconds: layers, sweepPeakBytes: rep.methods?.sweep?.peakBytes ?? null, rssGrowth: process.memoryUsage().rss - rss0 };
    Object.assign(row, { calibChunks: o.calibration ? chunks : null, calibTokens: o.calibration ? chunks * 128 : null, imatrixChunks: o.imatrix ? imChunks : null, docs: docs.length, threads });
    res.rows = res.rows.filter((r) => !(r.ftype === ftype && r.method === name));
    res.rows.push(row);
    writeFileSync(jsonPath, JSON.stringify(res, null, 1) + "\n");
    console.log(`${ftype.padEnd(7)} ${name.padEnd(14)} ${row.fileBytes} B  PPL ${row.ppl.toFixed(4)}  KLD ${row.kld.toFixed(6)}  top-1 ${(100 * row.top1).toFixed(2)}%  ${row.seconds.toFixed(2)} s${layers.length ? ` (layers ${layers.map((s) => s.toFixed(2)).join("/")} s)` : ""}`);
    rmSync(out);
  }
}
await src.close?.();
writeFileSync(jsonPath, JSON.stringify(res, null, 1) + "\n");
