// What FLAP bias compensation buys on kjv3M, per block, to first order: for the FFN channels / head groups that
// `--ffn 0.25 --bias-compensation` / `--heads 0.25 --bias-compensation` remove, the energy of the removed channels'
// contribution to the projection output, E‖W_rem x_rem‖², against what is left with the bias, E‖W_rem (x_rem − μ)‖²
// (μ = calibration mean), on the dense model's inputs over calib.txt (where μ comes from) and over eval.txt.
// Usage: node --import tsx bench/prune-bias.mjs  (~30 s)
import path from "node:path";
import { readFileSync, existsSync } from "node:fs";
import { init, LlamaModel, Tokenizer, collectStats, collectInputMeans, pruneFfnChannels, pruneHeads } from "../src/index.ts";
import { openLlama2cModel } from "../src/model/convert.ts";
const KJV = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../../shared/models/kjv3M");
if (!existsSync(path.join(KJV, "kjv3M.bin"))) { console.log("SKIP: kjv3M not found"); process.exit(0); }
const engine = await init({ threads: 1 });
const src = await openLlama2cModel(path.join(KJV, "kjv3M.bin"), path.join(KJV, "tok512.bin"));
const tok = Tokenizer.fromGguf({ kv: new Map(src.metadata.map((kv) => [kv.key, kv])) });
const enc = (f) => Int32Array.from(tok.encode(readFileSync(path.join(KJV, f), "utf8"), { addBos: true }));
const calib = enc("calib.txt"), evalT = enc("eval.txt");
const m = await LlamaModel.open(engine, src, { nCtx: 128 });
const stats = await collectStats(engine, m, calib, { ctx: 128, chunks: 16 });
const means = await collectInputMeans(engine, m, calib, { ctx: 128, chunks: 16 });
const nLayer = src.hparams.nLayer;
const ffn = await pruneFfnChannels(src, 0.25, stats, { biasCompensation: means });
const heads = await pruneHeads(src, 0.25, stats, { biasCompensation: means });
const byName = new Map(src.tensors.map((t) => [t.name, t]));
// removed input columns per block of each projection
const plan = [];
for (let l = 0; l < nLayer; l++) {
  const d = byName.get(`blk.${l}.ffn_down.weight`), o = byName.get(`blk.${l}.attn_output.weight`);
  const keepF = new Set(ffn.kept[l]), keepG = new Set(heads.kept[l]);
  const hd = o.ne[0] / src.hparams.nHead, r = src.hparams.nHead / src.hparams.nHeadKv; // head size, q heads per KV group
  plan.push({ name: d.name, W: await d.readRows(0, d.ne[1]), rows: d.ne[1], cols: d.ne[0], rem: Array.from({ length: d.ne[0] }, (_, c) => c).filter((c) => !keepF.has(c)) });
  plan.push({ name: o.name, W: await o.readRows(0, o.ne[1]), rows: o.ne[1], cols: o.ne[0], rem: Array.from({ length: o.ne[0] }, (_, c) => c).filter((c) => !keepG.has(Math.floor(c / (r * hd)))) });
}
const byT = new Map(plan.map((p) => [p.name, p]));
async function energies(tokens, chunks) {
  const acc = new Map(plan.map((p) => [p.name, { plain: 0, bias: 0, n: 0 }]));
  for (let c = 0; c < chunks; c++) {
    const t = tokens.slice(c * 128, (c + 1) * 128); t[0] = m.config.bos;
    await m.forward(t, { pos: 0, logits: "none", hooks: { linearInput(ev) {
      const p = byT.get(ev.tensors[0]); if (!p) return;
      const mu = means.get(p.name), a = acc.get(p.name);
      for (let k = 0; k < ev.rows; k++) {
        const x = ev.x.subarray(k * ev.cols, (k + 1) * ev.cols);
        for (let i = 0; i < p.rows; i++) {
          let s0 = 0, s1 = 0; const o = i * p.cols;
          for (const j of p.rem) { s0 += p.W[o + j] * x[j]; s1 += p.W[o + j] * (x[j] - mu[j]); }
          a.plain += s0 * s0; a.bias += s1 * s1;
        }
        a.n++;
      }
    } } });
  }
  return acc;
}
const onCalib = await energies(calib, 8), onEval = await energies(evalT, 8);
console.log("tensor (removed inputs)            E‖W_rem(x−μ)‖² / E‖W_rem x‖²: calib.txt   eval.txt");
for (const p of plan) {
  const a = onCalib.get(p.name), b = onEval.get(p.name);
  console.log(`${(p.name + ` (${p.rem.length} of ${p.cols})`).padEnd(38)} ${(a.bias / a.plain).toFixed(3).padStart(10)} ${(b.bias / b.plain).toFixed(3).padStart(10)}`);
}
m.dispose();
process.exit(0);
