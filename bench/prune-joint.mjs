// SparseGPT straight to Q4_K_M in one calibrated sweep on kjv3M: RTN of the pruned weights in the sweep vs the joint
// prune + quantize (pruneMethod({ joint: true })), judged by the engine's forward pass (evaluate(): perplexity, mean
// KLD and top-1 vs the dense f32 model) on the first N documents of eval.txt, windows of 128.
// Usage: node --import tsx bench/prune-joint.mjs [target 0.5 | 2:4 | 4:8] [docs 40]
import path from "node:path";
import { readFileSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { init, quantizeModel, openFileSink, LlamaModel, pruneMethod, Tokenizer, openModel } from "../src/index.ts";
import { evaluate } from "../src/eval/evaluate.ts";
import { splitDocuments } from "../src/eval/text.ts";
import { openLlama2cModel } from "../src/model/convert.ts";
const KJV = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../../shared/models/kjv3M");
if (!existsSync(path.join(KJV, "kjv3M.bin"))) { console.log("SKIP: kjv3M not found"); process.exit(0); }
const tmp = mkdtempSync(path.join(tmpdir(), "ts-prune-joint-"));
const engine = await init({ threads: 1 });
const src = await openLlama2cModel(path.join(KJV, "kjv3M.bin"), path.join(KJV, "tok512.bin"));
const tok = Tokenizer.fromGguf({ kv: new Map(src.metadata.map((kv) => [kv.key, kv])) });
const ids = Int32Array.from(tok.encode(readFileSync(path.join(KJV, "calib.txt"), "utf8"), { addBos: true }));
const docs = splitDocuments(readFileSync(path.join(KJV, "eval.txt"), "utf8")).slice(0, Number(process.argv[3] ?? 40)).map((d) => tok.encode(d, { addBos: false }));
const base = await LlamaModel.open(engine, src, { nCtx: 128 });
const target = process.argv[2] ?? "0.5";
for (const joint of [false, true]) {
  const t0 = Date.now();
  const f = path.join(tmp, `j-${joint}.gguf`);
  const spec = target.includes(":") ? { nm: target } : { sparsity: Number(target) };
  await quantizeModel(engine, src, await openFileSink(f), { ftype: "Q4_K_M", methods: [pruneMethod({ method: "sparsegpt", ...spec, joint })], calibration: { tokens: ids, ctx: 128, chunks: 16 } });
  const secs = (Date.now() - t0) / 1000;
  const o = await openModel(f, engine); const other = await LlamaModel.open(engine, o, { nCtx: 128 });
  const r = await evaluate({ base, other, documents: docs, ctx: 128 });
  console.log(`sparsegpt ${target} ${joint ? "joint" : "then RTN"} Q4_K_M: ppl ${r.other.perplexity.toFixed(4)} (base ${r.base.perplexity.toFixed(4)}) KLD ${r.kld.mean.toFixed(5)} top1 ${(100 * r.top1Agreement).toFixed(2)} ${secs.toFixed(1)} s, ${r.tokens} tokens`);
  other.dispose(); await o.close?.();
}
rmSync(tmp, { recursive: true, force: true });
process.exit(0);
