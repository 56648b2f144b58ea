// Why Wanda is not ahead of magnitude on kjv3M: per pruned tensor of every block, the spread of the input column
// norms ‖X_j‖₂ (from 16 × 128 calibration tokens of calib.txt on the dense model) and how many of the 50% per-row
// masks of magnitude and Wanda agree. Usage: node --import tsx bench/prune-wanda.mjs  (~20 s)
import path from "node:path";
import { readFileSync } from "node:fs";
import { init, LlamaModel, Tokenizer, collectStats, pruneScores, topkMask, wandaNorms } from "../src/index.ts";
import { openLlama2cModel } from "../src/model/convert.ts";
const KJV = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../../shared/models/kjv3M");
if (!(await import("node:fs")).existsSync(path.join(KJV, "kjv3M.bin"))) { console.log("SKIP: kjv3M not found"); process.exit(0); }
const engine = await init({ threads: 1 });
const src = await openLlama2cModel(path.join(KJV, "kjv3M.bin"), path.join(KJV, "tok512.bin"));
const tok = Tokenizer.fromGguf({ kv: new Map(src.metadata.map((kv) => [kv.key, kv])) });
const ids = Int32Array.from(tok.encode(readFileSync(path.join(KJV, "calib.txt"), "utf8"), { addBos: true }));
const m = await LlamaModel.open(engine, src, { nCtx: 128 });
const st = await collectStats(engine, m, ids, { ctx: 128, chunks: 16 });
m.dispose();
for (const t of src.tensors) {
  if (!/^blk\.\d+\./.test(t.name) || t.ne.length !== 2) continue;
  const cols = t.ne[0], rows = t.ne[1], w = await t.readRows(0, rows);
  const n = wandaNorms(st.get(t.name).sumSq.subarray(0, cols));
  const s = Array.from(n).sort((a, b) => a - b), med = s[cols >> 1], max = s[cols - 1];
  const mm = topkMask(engine, pruneScores(engine, w, rows, cols), rows, cols, 0.5, "row");
  const wm = topkMask(engine, pruneScores(engine, w, rows, cols, n), rows, cols, 0.5, "row");
  let same = 0; for (let i = 0; i < mm.length; i++) same += mm[i] === wm[i] ? 1 : 0;
  console.log(`${t.name.padEnd(26)} ‖X_j‖ max/median ${(max / med).toFixed(2)}, p90/p10 ${(s[Math.floor(cols * 0.9)] / s[Math.floor(cols * 0.1)]).toFixed(2)}; masks agree ${(100 * same / mm.length).toFixed(1)}%`);
}
process.exit(0);
