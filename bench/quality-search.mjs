// Quality of the calibration-free methods `search` and `hqq` on kjv3M (../shared/models/kjv3M), judged by
// llama.cpp (node-llama-cpp) as bench/quality.mjs does: each eval.txt document from a BOS, context 512,
// KLD(P_f32 ‖ P_quant) mean, perplexity, top-1 agreement with F32, file bytes; plus quantization CPU time
// beside RTN of the same ftype. Rows per ftype (variants):
//   rtn, rtn+imatrix            llama.cpp-identical RTN without / with our imatrix (calib.txt, ctx 128)
//   search, search+imatrix      --method search (weights x², or imatrix · sqrt(σ² + x²))
//   hqq, hqq+imatrix            --method hqq (tensors without a min: RTN)
//   hqq+guard                   hqq keeping a block only when its weighted error is below RTN's
//   search-w, search-w+imatrix  search with weights "imatrix" (imatrix alone, 1 without one)
// Usage: node --import tsx bench/quality-search.mjs [--ftypes Q4_0,Q4_K_M,Q3_K_M,Q2_K] [--docs 40]
//        [--imatrix-chunks 100] [--threads 2] [--variants rtn,search,...]
// Writes bench/quality-search.json (rows merge between runs) and bench/QUALITY-SEARCH.md (--md-only: just that).
import { existsSync, readFileSync, rmSync, writeFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ROOT, arg, skipWithoutKjv3M, kjv3MSetup } from "./_quality-common.mjs";

const ftypes = arg("--ftypes", "Q4_0,Q4_K_M,Q3_K_M,Q2_K").split(",");
const nDocs = +arg("--docs", "40"), imChunks = +arg("--imatrix-chunks", "100"), threads = +arg("--threads", "2");
const only = arg("--variants", null)?.split(",");
// --json F: rows go to F instead (a second run in parallel); the file is re-read before each write
const jsonPath = path.resolve(arg("--json", path.join(ROOT, "bench/quality-search.json")));
const load = () => existsSync(jsonPath) ? JSON.parse(readFileSync(jsonPath, "utf8")) : { model: "kjv3M", judge: "llama.cpp (node-llama-cpp), context 512, each eval.txt document from a BOS", rows: [] };
if (process.argv.includes("--md-only")) { writeMd(); process.exit(0); }
skipWithoutKjv3M();
const { quantizeModel, openFileSink, hqqMethod, searchMethod } = await import("../src/index.ts");
const { evaluateGguf } = await import("../src/eval/llama.ts");
const tmp = path.join(tmpdir(), "ts-quality-search-cache");
const { engine, f32, docs, im, openModel } = await kjv3MSetup({ tmp, threads, nDocs, imChunks, imatrix: true });
const VARIANTS = [
  ["rtn", {}], ["rtn+imatrix", { imatrix: im }],
  ["search", { methods: ["search"] }], ["search+imatrix", { methods: ["search"], imatrix: im }],
  ["hqq", { methods: ["hqq"] }], ["hqq+imatrix", { methods: ["hqq"], imatrix: im }],
  ["hqq+guard", { methods: [hqqMethod({ guard: true })] }],
  ["search-w", { methods: [searchMethod({ weights: "imatrix" })] }], ["search-w+imatrix", { methods: [searchMethod({ weights: "imatrix" })], imatrix: im }],
];
let res = load();
const src = await openModel(f32, engine);
for (const ftype of ftypes) {
  for (const [name, o] of VARIANTS) {
    if (only && !only.includes(name)) continue;
    if (name.startsWith("hqq") && ftype === "Q4_0") continue; // q4_0 has no zero point: E_UNSUPPORTED (tested in test/57)
    const out = path.join(tmp, `${ftype}-${name}.gguf`);
    const c0 = process.cpuUsage(), t0 = Date.now();
    const rep = await quantizeModel(engine, src, await openFileSink(out), { ftype, ...o });
    const cpu = process.cpuUsage(c0), wall = (Date.now() - t0) / 1000;
    const handled = rep.methods?.handled ?? 0;
    const ev = await evaluateGguf(f32, out, docs, { threads, contextSize: 512 });
    const row = { ftype, method: name, fileBytes: statSync(out).size, ppl: ev.other.perplexity, basePpl: ev.base.perplexity, kld: ev.kl.mean, kldP99: ev.kl.p99, top1: ev.top1Agreement, wallSeconds: wall, cpuSeconds: (cpu.user + cpu.system) / 1e6, methodSeconds: rep.methods?.seconds ?? null, handled, docs: docs.length, imatrixChunks: o.imatrix ? imChunks : null, threads };
    res = load();
    res.rows = res.rows.filter((r) => !(r.ftype === ftype && r.method === name));
    res.rows.push(row);
    writeFileSync(jsonPath, JSON.stringify(res, null, 1) + "\n");
    console.log(`${ftype.padEnd(7)} ${name.padEnd(15)} ${row.fileBytes} B  PPL ${row.ppl.toFixed(4)}  KLD ${row.kld.toFixed(6)}  top-1 ${(100 * row.top1).toFixed(2)}%  quantize ${row.cpuSeconds.toFixed(2)} s cpu${handled ? ` (${handled} tensors by the method, ${row.methodSeconds.toFixed(2)} s)` : ""}`);
    rmSync(out);
  }
}
await src.close?.();
writeMd();

/** bench/QUALITY-SEARCH.md from the json rows (also: --md-only). */
function writeMd() {
  // the markdown table
  const rows = load().rows;
  let md = `# search / hqq quality (kjv3M, llama.cpp as the judge)\n\nWritten by \`node --import tsx bench/quality-search.mjs --ftypes ${[...new Set(rows.map((r) => r.ftype))].join(",")} --docs N --imatrix-chunks ${imChunks}\`.\n\n`;
  md += `Setup: kjv3M.bin + tok512.bin converted to F32 GGUF; imatrix from calib.txt (ctx 128, ${imChunks} chunks); judged by llama.cpp (node-llama-cpp, context 512, \`evaluateGguf\`) on the first N of eval.txt's 263 documents (each from a BOS; N in the docs column, the same for all rows of one ftype). "vs best RTN" = mean KLD / min(KLD rtn, KLD rtn+imatrix) of the same ftype. CPU = process CPU seconds of the whole quantizeModel call (2 threads; RTN's time is mostly the writer).\n\n`;
  md += `| ftype | method | docs | file bytes | PPL (F32) | mean KLD | KLD p99 | top-1 % | vs best RTN | quantize CPU s |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n`;
  for (const ft of [...new Set(rows.map((r) => r.ftype))]) {
    const rs = rows.filter((r) => r.ftype === ft), best = Math.min(...rs.filter((r) => r.method.startsWith("rtn")).map((r) => r.kld));
    for (const r of rs) md += `| ${ft} | ${r.method} | ${r.docs} | ${r.fileBytes} | ${r.ppl.toFixed(4)} (${r.basePpl.toFixed(4)}) | ${r.kld.toFixed(6)} | ${r.kldP99.toFixed(5)} | ${(100 * r.top1).toFixed(2)} | ${Number.isFinite(best) ? (r.kld / best).toFixed(3) + "×" : "—"} | ${r.cpuSeconds.toFixed(2)} |\n`;
  }
  // hand-written notes after a "## Notes" heading survive reruns
  const mdPath = path.join(ROOT, "bench/QUALITY-SEARCH.md"), old = existsSync(mdPath) ? readFileSync(mdPath, "utf8") : "";
  writeFileSync(mdPath, md + (old.includes("\n## Notes") ? "\n" + old.slice(old.indexOf("\n## Notes") + 1) : ""));
}
