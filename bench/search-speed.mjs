// CPU time of the search and hqq methods per tensor beside llama.cpp's RTN (engine.quantize) of the same type,
// on kjv3M's block tensors (../shared/models/kjv3M; 256×256 attention, 768×256 / 256×768 FFN matrices).
// A/B alternate per tensor; CPU time via process.cpuUsage (the machine is shared: only ratios mean anything).
// Usage: node --import tsx bench/search-speed.mjs [--types q4_0,q4_K,q3_K,q2_K] [--imatrix]
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { init, searchQuantize, hqqQuantize, HQQ_TYPES } from "../src/index.ts";
import { openModel } from "../src/model/open.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const K = path.resolve(ROOT, "../shared/models/kjv3M");
const arg = (k, d) => { const i = process.argv.indexOf(k); return i > 0 ? process.argv[i + 1] : d; };
if (!existsSync(path.join(K, "kjv3M.bin"))) { console.log(`SKIP: ${K}/kjv3M.bin not found`); process.exit(0); }
const types = arg("--types", "q4_0,q4_K,q3_K,q2_K").split(",");
const engine = await init({ threads: 1 });
const src = await openModel(path.join(K, "kjv3M.bin"), engine, { tokenizer: path.join(K, "tok512.bin") });
const tensors = src.tensors.filter((t) => /^blk\.\d+\.(attn_q|ffn_up|ffn_down)\.weight$/.test(t.name));
const cpu = (f) => { const c = process.cpuUsage(); f(); const d = process.cpuUsage(c); return (d.user + d.system) / 1e3; };
console.log(`${tensors.length} tensors (${tensors.map((t) => t.ne.join("×")).filter((v, i, a) => a.indexOf(v) === i).join(", ")}), ms CPU per tensor (mean):`);
for (const type of types) {
  let rtn = 0, search = 0, hqq = 0, values = 0;
  for (const t of tensors) {
    const rows = t.ne[1], cols = t.ne[0], w = await t.readRows(0, rows);
    const im = process.argv.includes("--imatrix") ? new Float32Array(cols).fill(1) : null;
    values += rows * cols;
    rtn += cpu(() => engine.quantize(w, { type, rows, cols, imatrix: im }));
    search += cpu(() => searchQuantize(engine, w, rows, cols, type, { imatrix: im }));
    if (HQQ_TYPES.includes(type)) hqq += cpu(() => hqqQuantize(engine, w, rows, cols, type, { imatrix: im }));
  }
  const n = tensors.length, ns = (ms) => ((ms * 1e6) / values).toFixed(0);
  console.log(`${type.padEnd(5)} rtn ${(rtn / n).toFixed(1)} ms (${ns(rtn)} ns/weight)  search ${(search / n).toFixed(1)} ms (${ns(search)} ns/weight, ${(search / rtn).toFixed(1)}× rtn)${hqq ? `  hqq ${(hqq / n).toFixed(1)} ms (${ns(hqq)} ns/weight, ${(hqq / rtn).toFixed(1)}× rtn)` : ""}`);
}
await src.close?.();
