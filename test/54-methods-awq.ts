// AWQ and the added grid codecs: q2_K / q3_K / iq4_nl / iq4_xs integers written with setQuant decode (the
// engine's dequantizers) to the grid readGrid reports; GPTQ on those grids beats RTN's H-weighted error (and the
// whole-block variant); the AWQ scale fold leaves the float model's output unchanged (v→o included, no GQA);
// AWQ lowers a kjv3M block's output error below RTN's (skips without ../shared); awq through quantizeModel
// rewrites the norms, records the method and chains with gptq.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import path from "node:path";
import { init, gptqQuantize, quantizeModel, syntheticModel, LlamaModel, calibratedSweep, awqMethod, awqPairs, awqFold, rescaledInput, readGguf, type ActInput } from "../src/index";
import { memorySink, memorySource } from "../src/formats/source";
import { readGgufTensorBytes } from "../src/formats/gguf";
import { hasGrid, newGrid, readGrid, setQuant, gridValue, nearestOnGrid } from "../src/methods/grid";
import { rng } from "./_util";
import { randMat, hessian as hessianOf, outErr, KJV3M, HAVE_KJV3M, kjv3MFloat } from "./_methods-setup";

const engine = await init({ threads: 2 });

test("grid codecs q2_K, q3_K, iq4_nl, iq4_xs: codes written with setQuant decode to gridValue; llama.cpp's own codes lie on the grid", () => {
  for (const type of ["q2_K", "q3_K", "iq4_nl", "iq4_xs"]) {
    assert.ok(hasGrid(type), type);
    const B = type === "iq4_nl" ? 32 : 256, rows = 3, cols = 2 * B;
    const x = randMat(rows, cols, 5, 0.1);
    for (let i = 0; i < x.length; i += 37) x[i] *= 6; // outliers: scales of both signs, several levels
    const bytes = engine.quantize(x, { type, rows, cols });
    const bpb = bytes.length / (rows * cols / B), nb = rows * cols / B;
    const g = newGrid(type), dq0 = engine.dequantize(bytes, { type, rows, cols } as any);
    for (let blk = 0; blk < nb; blk++) {
      readGrid(type, bytes, blk * bpb, g);
      for (let i = 0; i < B; i++) { const v = dq0[blk * B + i]; assert.ok(Math.abs(gridValue(g, i, nearestOnGrid(g, i, v)) - v) <= 1e-6 * Math.max(1e-3, Math.abs(v)), `${type} block ${blk} value ${i} ${v} not on the grid`); }
    }
    const r = rng(9, 1), want = new Float32Array(rows * cols);
    for (let blk = 0; blk < nb; blk++) {
      readGrid(type, bytes, blk * bpb, g);
      for (let i = 0; i < B; i++) {
        const q = g.qmin + Math.floor(r.uniform() * (g.qmax - g.qmin + 1));
        setQuant(type, bytes, blk * bpb, i, q);
        want[blk * B + i] = gridValue(g, i, q);
      }
    }
    const got = engine.dequantize(bytes, { type, rows, cols } as any);
    for (let i = 0; i < got.length; i++) assert.ok(Math.abs(got[i] - want[i]) <= 1e-6 * Math.max(1e-3, Math.abs(want[i])), `${type} value ${i}: ${got[i]} vs ${want[i]}`);
  }
});

/** Correlated inputs X [T, cols] (every 11th column 4x larger) and H = XᵀX. */
const hessian = (T: number, cols: number, seed: number) => hessianOf(T, cols, seed, (z, t, j) => (z[t * cols + j] + 0.8 * z[t * cols + Math.max(0, j - 1)]) * (j % 11 === 0 ? 4 : 1));
test("GPTQ on the q2_K / q3_K / iq4_nl / iq4_xs grids: H-weighted error below imatrix RTN's and below whole-block GPTQ's", () => {
  for (const type of ["q2_K", "q3_K", "iq4_nl", "iq4_xs"]) {
    const cols = 256, rows = 8, w = randMat(rows, cols, 21, 0.05), h = hessian(300, cols, 22);
    const im = new Float32Array(cols).map((_v, j) => h[j * cols + j] / 300);
    const r = gptqQuantize(engine, w, rows, cols, h, type, { imatrix: im });
    const blockOnly = gptqQuantize(engine, w, rows, cols, h, type, { imatrix: im, perColumn: false });
    const rtn = engine.dequantize(engine.quantize(w, { type, rows, cols, imatrix: im }), { type, rows, cols } as any);
    assert.equal(engine.dequantize(r.bytes, { type, rows, cols } as any), r.recon, `${type}: recon = dequantize(bytes)`);
    const eg = outErr(w, r.recon, rows, cols, h), eb = outErr(w, blockOnly.recon, rows, cols, h), er = outErr(w, rtn, rows, cols, h);
    assert.ok(eg < 0.9 * er, `${type}: GPTQ ${eg.toExponential(3)} vs RTN ${er.toExponential(3)}`);
    assert.ok(eg < eb, `${type}: per-column ${eg.toExponential(3)} vs whole-block ${eb.toExponential(3)}`);
  }
});

test("GPTQ lazy batches (sgemm) match every-column updates; act-order (static groups) decodes in the original layout and beats RTN", () => {
  for (const [type, cols] of [["q4_0", 320], ["q4_K", 512], ["q3_K", 512]] as const) {
    const rows = 6, w = randMat(rows, cols, 31, 0.05), h = hessian(400, cols, 32);
    const lazy = gptqQuantize(engine, w, rows, cols, h, type, {}), eager = gptqQuantize(engine, w, rows, cols, h, type, { lazyBatch: 0 });
    let diff = 0;
    for (let i = 0; i < lazy.recon.length; i++) if (lazy.recon[i] !== eager.recon[i]) diff++;
    assert.ok(diff <= 2, `${type}: ${diff} of ${lazy.recon.length} codes differ between lazy and eager updates`);
    const ao = gptqQuantize(engine, w, rows, cols, h, type, { actOrder: true });
    assert.ok(ao.actOrder);
    assert.equal(engine.dequantize(ao.bytes, { type, rows, cols } as any), ao.recon, `${type}: act-order recon = dequantize(bytes)`);
    const rtn = engine.dequantize(engine.quantize(w, { type, rows, cols }), { type, rows, cols } as any);
    const ea = outErr(w, ao.recon, rows, cols, h), er = outErr(w, rtn, rows, cols, h);
    assert.ok(ea < 0.9 * er, `${type}: act-order ${ea.toExponential(3)} vs RTN ${er.toExponential(3)}`);
  }
});

async function blockWeights(src: { tensors: readonly any[] }, layer: number) {
  const w = new Map<string, Float32Array>(), shapes = new Map<string, readonly number[]>();
  for (const t of src.tensors) if (t.name.startsWith(`blk.${layer}.`)) { w.set(t.name, await t.readRows(0, t.ne.slice(1).reduce((a: number, b: number) => a * b, 1))); shapes.set(t.name, t.ne); }
  return { w, shapes };
}

test("the AWQ fold leaves the float model's logits unchanged (all four pairs, v→o included: nHeadKv = nHead)", async () => {
  const src = syntheticModel({ nLayer: 2, nEmbd: 64, nFf: 128, nHead: 4, nHeadKv: 4, nVocab: 300, seed: 3 });
  const folded = new Map<string, Float32Array>();
  const r = rng(4, 2);
  for (let l = 0; l < 2; l++) {
    const { w, shapes } = await blockWeights(src, l);
    const pairs = awqPairs(l, shapes);
    assert.equal(pairs.map((p) => p.prev.split(".")[2]), ["attn_norm", "attn_v", "ffn_norm", "ffn_up"]);
    for (const p of pairs) {
      const C = shapes.get(p.targets[0])![0];
      awqFold(w, shapes, p, new Float32Array(C).map(() => Math.exp(1.5 * (r.uniform() * 2 - 1)))); // s in [e^-1.5, e^1.5]
    }
    for (const [n, x] of w) folded.set(n, x);
  }
  const gqa = awqPairs(0, new Map([["blk.0.attn_norm.weight", [64]], ["blk.0.attn_q.weight", [64, 64]], ["blk.0.attn_k.weight", [64, 32]], ["blk.0.attn_v.weight", [64, 32]], ["blk.0.attn_output.weight", [64, 64]]]));
  assert.equal(gqa.map((p) => p.prev), ["blk.0.attn_norm.weight"], "no v→o fold under GQA");
  const a = await LlamaModel.open(engine, src, { nCtx: 32 });
  const b = await LlamaModel.open(engine, src, { nCtx: 32, weights: "resident", weightProvider: (n) => folded.get(n) });
  const toks = Int32Array.from({ length: 24 }, (_v, i) => (i * 37 + 5) % 300);
  const la = await a.forward(toks, { logits: "all" } as any), lb = await b.forward(toks, { logits: "all" } as any);
  let mx = 0, md = 0;
  for (let i = 0; i < la.length; i++) { mx = Math.max(mx, Math.abs(la[i])); md = Math.max(md, Math.abs(la[i] - lb[i])); }
  assert.ok(md <= 1e-5 * Math.max(1, mx), `max |Δlogit| ${md} (max |logit| ${mx})`);
  a.dispose(); b.dispose();
});

test("awq through quantizeModel: norms rewritten (f32), quantize.method recorded, awq+gptq chains, llama-shaped file", async () => {
  const src = syntheticModel({ nLayer: 2, nEmbd: 128, nFf: 256, nVocab: 300, nHead: 4, nHeadKv: 2, seed: 5 });
  const tokens = Int32Array.from({ length: 3 * 48 }, (_v, i) => (i * 131 + 7) % 300);
  const calibration = { tokens, ctx: 48, chunks: 3 };
  const plain = memorySink(), a = memorySink(), ag = memorySink();
  await quantizeModel(engine, src, plain, { ftype: "Q4_0" });
  const reports: any[] = [];
  const rep = await quantizeModel(engine, src, a, { ftype: "Q4_0", methods: [awqMethod({ onBlock: (r) => reports.push(r) })], calibration });
  const agReports: any[] = [];
  await quantizeModel(engine, src, ag, { ftype: "Q4_0", methods: [awqMethod({ onBlock: (r) => agReports.push(r) }), "gptq"], calibration });
  assert.ok(agReports.length === 2 && agReports.every((r) => r.clips.length === 0), "no clipping before GPTQ");
  assert.ok(reports.some((r) => r.clips.length > 0), "awq alone clips");
  const gp = await readGguf(memorySource(plain.bytes())), ga = await readGguf(memorySource(a.bytes())), gg = await readGguf(memorySource(ag.bytes()));
  assert.is(ga.kv.get("quantize.method")?.value, "awq");
  assert.is(gg.kv.get("quantize.method")?.value, "awq,gptq");
  assert.equal(ga.tensors.map((t) => `${t.name}:${t.type}`), gp.tensors.map((t) => `${t.name}:${t.type}`));
  assert.is(reports.length, 2);
  for (const r of reports) for (const f of r.folds) assert.ok(f.errAfter <= f.errBefore, `${f.prev}: ${f.errAfter} > ${f.errBefore}`);
  const moved = reports.flatMap((r) => r.folds).filter((f) => f.alpha > 0).map((f) => f.prev);
  assert.ok(moved.length > 0, "some fold chose α > 0");
  for (const n of moved.filter((n: string) => n.endsWith("norm.weight"))) {
    const tp = gp.tensors.find((t) => t.name === n)!, ta = ga.tensors.find((t) => t.name === n)!;
    assert.is(ta.type.name ?? ta.type, "f32");
    assert.not.equal(await readGgufTensorBytes(ga, ta), await readGgufTensorBytes(gp, tp), `${n} rewritten`);
  }
  assert.ok(rep.tensors.some((t) => t.reason.includes("method awq+rtn")), rep.tensors.map((t) => t.reason).join("; "));
  const m = await LlamaModel.open(engine, memorySource(ag.bytes(), "awq-gptq.gguf") as any, { nCtx: 32 });
  const lg = await m.forward(Int32Array.from([1, 5, 9, 200]));
  assert.ok(lg.every(Number.isFinite));
  m.dispose();
});

const K = KJV3M;
if (!HAVE_KJV3M) console.log(`SKIP kjv3M AWQ block test: ${K}/kjv3M.bin not found`);
else test("kjv3M block 0, q4_0: AWQ's folded + clipped block output is closer to the float block than RTN's; the float fold alone changes it < 1e-5", async () => {
  const { tok, base } = await kjv3MFloat(engine);
  const tokens = tok.encode(readFileSync(path.join(K, "calib.txt"), "utf8").slice(0, 20000), { addBos: true });
  let stats: any = null, inputs: Float32Array[] = [];
  await calibratedSweep(engine, base, { tokens, ctx: 128, chunks: 6, gram: true, processLayer: async (l, s, xs) => { if (l === 0) { stats = s; inputs = xs.map((x) => x.slice()); } return new Map(); } });
  const { w, shapes } = await blockWeights(base, 0);
  const type = "q4_0", lin = [...shapes.keys()].filter((n) => !n.endsWith("norm.weight"));
  const targetTypes = new Map([...shapes.keys()].map((n) => [n, n.endsWith("norm.weight") ? "f32" : type]));
  const cur = new Map<string, Float32Array>();
  const m = await LlamaModel.open(engine, base, { nCtx: 128, weights: "resident", weightProvider: (n) => cur.get(n) });
  const run = async (ws: Map<string, Float32Array>) => { cur.clear(); for (const [n, x] of ws) cur.set(n, x); m.invalidateWeights(); const o: Float32Array[] = []; for (const x of inputs) o.push(await m.runBlock(0, x)); return o; };
  const dist = (a: Float32Array[], b: Float32Array[]) => { let s = 0; for (let i = 0; i < a.length; i++) for (let j = 0; j < a[i].length; j++) s += (a[i][j] - b[i][j]) ** 2; return s; };
  const quantized = (ws: Map<string, Float32Array>) => new Map([...ws].map(([n, x]) => [n, lin.includes(n) ? engine.dequantize(engine.quantize(x, { type, rows: x.length / shapes.get(n)![0], cols: shapes.get(n)![0] }), { type, rows: x.length / shapes.get(n)![0], cols: shapes.get(n)![0] } as any) as Float32Array : x]));
  const ref = await run(w);
  const over = new Map<string, ActInput>();
  const ctxOf = (ws: Map<string, Float32Array>) => ({ engine, layer: 0, weights: ws, shapes, targetTypes, stats, statsFor: (n: string) => over.get(n) ?? stats.get(n), imatrixFor: () => null,
    scaleInputs: (ts: readonly string[], s: Float32Array) => { const st = over.get(ts[0]) ?? stats.get(ts[0]); const r = rescaledInput(st, s); for (const t of st.tensors) over.set(t, r); } });
  // the fold alone (no clipping) leaves the float block unchanged
  const foldOnly = new Map([...w].map(([n, x]) => [n, x.slice()]));
  const reps: any[] = [];
  await awqMethod({ clip: false, onBlock: (r) => reps.push(r) }).applyLayer(ctxOf(foldOnly));
  assert.ok(reps[0].folds.some((f: any) => f.alpha > 0), JSON.stringify(reps[0].folds));
  const yf = await run(foldOnly);
  let md = 0, mx = 0;
  for (let i = 0; i < ref.length; i++) for (let j = 0; j < ref[i].length; j++) { md = Math.max(md, Math.abs(ref[i][j] - yf[i][j])); mx = Math.max(mx, Math.abs(ref[i][j])); }
  assert.ok(md <= 1e-5 * Math.max(1, mx), `fold changed the float block by ${md} (max |y| ${mx})`);
  over.clear();
  const ws = new Map([...w].map(([n, x]) => [n, x.slice()]));
  await awqMethod().applyLayer(ctxOf(ws));
  const eRtn = dist(await run(quantized(w)), ref), eAwq = dist(await run(quantized(ws)), ref);
  console.log(`  kjv3M block 0 q4_0 output error: RTN ${eRtn.toExponential(4)}, AWQ ${eAwq.toExponential(4)} (${(eAwq / eRtn).toFixed(3)}x)`);
  assert.ok(eAwq < 0.95 * eRtn, `AWQ ${eAwq} vs RTN ${eRtn}`);
  m.dispose();
  await base.close?.();
});

test.run();
