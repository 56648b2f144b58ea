// Low-rank factorization of linear layers (src/lowrank/factor.ts): SVD / ASVD / SVD-LLM errors fall with
// the rank, each method is optimal on its own objective (SVD-LLM ≤ SVD on ‖(W − W′)Xᵀ‖, SVD ≤ SVD-LLM on
// ‖W − W′‖), the reported relError equals the measured one, rank choice by ratio / error bound, apply vs
// rebuild, the factor / LoRA files (GGUF adapter read back, PEFT names, q/k row order), typed errors.
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  init, lowRankFactor, chooseRank, reconstruct, applyLowRank, writeGgufLora, encodePeftAdapter, encodeLowRankFactors,
  memorySink, memorySource, readGguf, readSafetensors, ggufGet, TensorshrinkError, type Matrix,
} from "../src/index";
import { rng } from "./_util";

const engine = await init({ threads: 2 });
const code = (c: string) => (e: unknown) => e instanceof TensorshrinkError && e.code === c;

function rand(rows: number, cols: number, seed: number, scale = 1): Matrix {
  const r = rng(seed, 3);
  return { data: Float32Array.from({ length: rows * cols }, () => r.gauss() * scale), rows, cols };
}
/** Activations with correlated, unevenly scaled columns (as real layer inputs). */
function acts(tokens: number, cols: number, seed: number): Matrix {
  const z = rand(tokens, cols, seed), mix = rand(cols, cols, seed + 1, 1 / Math.sqrt(cols));
  const x = mul(z, mix);
  for (let t = 0; t < tokens; t++) for (let j = 0; j < cols; j++) x.data[t * cols + j] *= j % 7 === 0 ? 8 : 1 + (j % 3);
  return x;
}
function mul(a: Matrix, b: Matrix, tb = false): Matrix {
  const n = tb ? b.rows : b.cols, c = new Float32Array(a.rows * n);
  for (let i = 0; i < a.rows; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let k = 0; k < a.cols; k++) s += a.data[i * a.cols + k]! * (tb ? b.data[j * b.cols + k]! : b.data[k * b.cols + j]!);
    c[i * n + j] = s;
  }
  return { data: c, rows: a.rows, cols: n };
}
const sub = (a: Matrix, b: Matrix): Matrix => ({ data: a.data.map((v, i) => v - b.data[i]!), rows: a.rows, cols: a.cols });
const fro = (m: Matrix) => Math.sqrt(m.data.reduce((s, v) => s + v * v, 0));
function gramOf(x: Matrix): Float64Array {
  const n = x.cols, g = new Float64Array(n * n);
  for (let t = 0; t < x.rows; t++) for (let i = 0; i < n; i++) { const a = x.data[t * n + i]!; for (let j = 0; j < n; j++) g[i * n + j] += a * x.data[t * n + j]!; }
  return g;
}
function meanAbs(x: Matrix): Float32Array {
  const m = new Float32Array(x.cols);
  for (let t = 0; t < x.rows; t++) for (let j = 0; j < x.cols; j++) m[j] += Math.abs(x.data[t * x.cols + j]!) / x.rows;
  return m;
}

const OUT = 48, IN = 40;
const W = rand(OUT, IN, 11, 0.1);
const X = acts(300, IN, 21);
const G = gramOf(X), MA = meanAbs(X);
/** ‖(W − W′)Xᵀ‖ / ‖W Xᵀ‖: the layer-output error on the calibration data. */
const outErr = (w2: Matrix) => fro(mul(X, sub(W, w2), true)) / fro(mul(X, W, true));
const wErr = (w2: Matrix) => fro(sub(W, w2)) / fro(W);
const opts = { svd: {}, asvd: { meanAbs: MA }, svdllm: { gram: G, damp: 1e-6 } } as const;

test("error falls monotonically with the rank for svd, asvd and svdllm; relError is the measured one for svd", () => {
  for (const method of ["svd", "asvd", "svdllm"] as const) {
    let prevW = Infinity, prevRel = Infinity;
    for (const rank of [1, 4, 8, 16, 24, 32, 40]) {
      const f = lowRankFactor(engine, W, { method, rank, ...opts[method] });
      assert.is(f.rank, rank); assert.is(f.A.rows, rank); assert.is(f.A.cols, IN); assert.is(f.B.rows, OUT); assert.is(f.B.cols, rank);
      const r = reconstruct(engine, f);
      const e = method === "svd" ? wErr(r) : outErr(r);
      assert.ok(f.relError <= prevRel + 1e-12, `${method} rank ${rank}: relError ${f.relError} > ${prevRel}`);
      assert.ok(e <= prevW + 1e-5, `${method} rank ${rank}: objective error ${e} > ${prevW}`);
      if (method === "svd") assert.ok(Math.abs(e - f.relError) < 1e-4, `svd relError ${f.relError} vs measured ${e}`);
      if (method === "svdllm") assert.ok(Math.abs(e - f.relError) < 2e-3, `svdllm relError ${f.relError} vs measured output error ${e}`);
      prevW = e; prevRel = f.relError;
    }
    assert.ok(prevW < 1e-4, `${method}: full rank reconstructs W (${prevW})`);
  }
});

test("each method wins on its own objective: svdllm ≤ svd on ‖(W − W′)Xᵀ‖, svd ≤ svdllm on ‖W − W′‖", () => {
  for (const rank of [4, 12, 20]) {
    const s = reconstruct(engine, lowRankFactor(engine, W, { method: "svd", rank }));
    const l = reconstruct(engine, lowRankFactor(engine, W, { method: "svdllm", rank, gram: G, damp: 1e-6 }));
    const a = reconstruct(engine, lowRankFactor(engine, W, { method: "asvd", rank, meanAbs: MA }));
    assert.ok(outErr(l) <= outErr(s) * 1.0001, `rank ${rank}: svdllm output error ${outErr(l)} > svd ${outErr(s)}`);
    assert.ok(outErr(l) <= outErr(a) * 1.0001, `rank ${rank}: svdllm ${outErr(l)} > asvd ${outErr(a)}`);
    assert.ok(outErr(l) < 0.9 * outErr(s), `rank ${rank}: whitening should pay on correlated inputs (${outErr(l)} vs ${outErr(s)})`);
    assert.ok(wErr(s) <= wErr(l) * 1.0001, `rank ${rank}: svd weight error ${wErr(s)} > svdllm ${wErr(l)}`);
  }
});

test("rank from a parameter ratio or an error bound", () => {
  assert.is(chooseRank({ ratio: 0.9 }, [], 256, 256, "x"), 115); // floor(0.9·65536/512)
  assert.is(chooseRank({ ratio: 0.6 }, [], 768, 256, "x"), 115); // floor(0.6·196608/1024)
  assert.is(chooseRank({ ratio: 1e-9 }, [], 10, 10), 1);
  const sig = [4, 3, 2, 1];
  // tails: r=1 → √14/√30 = 0.683, r=2 → √5/√30 = 0.408, r=3 → √1/√30 = 0.183
  assert.is(chooseRank({ relError: 0.5 }, sig, 4, 4), 2);
  assert.is(chooseRank({ relError: 0.2 }, sig, 4, 4), 3);
  assert.is(chooseRank({ relError: 0.1 }, sig, 4, 4), 4);
  for (const eps of [0.05, 0.2, 0.5]) {
    const f = lowRankFactor(engine, W, { method: "svd", relError: eps });
    assert.ok(wErr(reconstruct(engine, f)) <= eps + 1e-5, `bound ${eps} holds`);
    if (f.rank > 1) { const g = lowRankFactor(engine, W, { method: "svd", rank: f.rank - 1 }); assert.ok(g.relError > eps, "smallest such rank"); }
  }
  const f = lowRankFactor(engine, W, { method: "svd", ratio: 0.5 });
  assert.ok(f.rank * (OUT + IN) <= 0.5 * OUT * IN && (f.rank + 1) * (OUT + IN) > 0.5 * OUT * IN);
});

test("applyLowRank equals X·(BA)ᵀ, and with a base X·Wᵀ + X·(BA)ᵀ", () => {
  const f = lowRankFactor(engine, W, { rank: 9 });
  const x = rand(37, IN, 5);
  const y = applyLowRank(engine, x, f), ref = mul(x, reconstruct(engine, f), true);
  assert.ok(fro(sub(y, ref)) <= 1e-5 * fro(ref));
  const y2 = applyLowRank(engine, x, f, { base: W }), ref2 = mul(x, W, true);
  for (let i = 0; i < ref2.data.length; i++) ref2.data[i] += ref.data[i]!;
  assert.ok(fro(sub(y2, ref2)) <= 1e-5 * fro(ref2));
});

test("bad input: non-finite, rank above min(rows, cols), bad ratio / bound, missing statistics → typed errors", () => {
  const bad = { data: W.data.slice(), rows: OUT, cols: IN };
  bad.data[7 * IN + 3] = NaN;
  assert.throws(() => lowRankFactor(engine, bad, { rank: 3 }), code("E_NONFINITE"));
  assert.throws(() => lowRankFactor(engine, W, { rank: IN + 1 }), code("E_RANGE"));
  assert.throws(() => lowRankFactor(engine, W, { rank: 0 }), code("E_RANGE"));
  assert.throws(() => lowRankFactor(engine, W, { ratio: 0 }), code("E_RANGE"));
  assert.throws(() => lowRankFactor(engine, W, { relError: 0 }), code("E_RANGE"));
  assert.throws(() => lowRankFactor(engine, W, { relError: -1 }), code("E_RANGE"));
  assert.throws(() => lowRankFactor(engine, W, {}), code("E_RANGE"));
  assert.throws(() => lowRankFactor(engine, W, { rank: 2, ratio: 0.5 }), code("E_RANGE"));
  assert.throws(() => lowRankFactor(engine, W, { method: "asvd", rank: 2 }), code("E_SHAPE"));
  assert.throws(() => lowRankFactor(engine, W, { method: "svdllm", rank: 2, gram: new Float64Array(9) }), code("E_SHAPE"));
  const g = G.slice(); g[5] = Infinity;
  assert.throws(() => lowRankFactor(engine, W, { method: "svdllm", rank: 2, gram: g }), code("E_NONFINITE"));
});

test("GGUF LoRA adapter: llama.cpp's names, ne order, alpha; base mismatch → E_SHAPE and nothing written", async () => {
  const f = lowRankFactor(engine, W, { rank: 6 });
  const sink = memorySink();
  const base = [{ name: "blk.0.attn_q.weight", ne: [IN, OUT] }];
  await writeGgufLora(sink, [{ name: "blk.0.attn_q.weight", A: f.A, B: f.B }], { architecture: "llama", base });
  const g = await readGguf(memorySource(sink.bytes()));
  assert.is(ggufGet(g, "general.type"), "adapter");
  assert.is(ggufGet(g, "adapter.type"), "lora");
  assert.is(ggufGet(g, "adapter.lora.alpha"), 6);
  assert.is(ggufGet(g, "general.architecture"), "llama");
  const a = g.tensors.find((t) => t.name === "blk.0.attn_q.weight.lora_a")!, b = g.tensors.find((t) => t.name === "blk.0.attn_q.weight.lora_b")!;
  assert.equal([...a.ne], [IN, 6]); assert.equal([...b.ne], [6, OUT]);
  assert.is(a.type.name, "f32");
  const bytes = sink.bytes();
  const ad = new Float32Array(bytes.slice(a.absOffset, a.absOffset + a.nbytes).buffer);
  assert.equal(Array.from(ad.subarray(0, 5)), Array.from(f.A.data.subarray(0, 5)));
  // shapes that do not match the base: typed error, the sink aborted (nothing committed)
  for (const wrong of [[IN, OUT + 1], [IN + 1, OUT], [IN]]) {
    const s2 = memorySink();
    let err: unknown;
    try { await writeGgufLora(s2, [{ name: "blk.0.attn_q.weight", A: f.A, B: f.B }], { architecture: "llama", base: [{ name: "blk.0.attn_q.weight", ne: wrong }] }); } catch (e) { err = e; }
    assert.ok(code("E_SHAPE")(err), `ne ${wrong}: ${err}`);
    assert.is(s2.bytesWritten, 0);
  }
  let err2: unknown;
  try { await writeGgufLora(memorySink(), [{ name: "blk.9.attn_q.weight", A: f.A, B: f.B }], { architecture: "llama", base }); } catch (e) { err2 = e; }
  assert.ok(code("E_SHAPE")(err2));
});

test("PEFT adapter: HF names and shapes, q/k rows back in HF order; factor file names", async () => {
  // 2 heads of size 4: q has 8 rows. GGUF row h*4 + 2i + j ← HF row h*4 + j*2 + i
  const B: Matrix = { data: Float32Array.from({ length: 8 * 2 }, (_, k) => Math.floor(k / 2)), rows: 8, cols: 2 };
  const A: Matrix = { data: new Float32Array(2 * 5).fill(1), rows: 2, cols: 5 };
  const { safetensors, config } = encodePeftAdapter([{ name: "blk.1.attn_q.weight", A, B }, { name: "blk.1.ffn_down.weight", A, B }], { baseModel: "kjv3M", nHead: 2, nHeadKv: 1 });
  const cfg = JSON.parse(config);
  assert.is(cfg.r, 2); assert.is(cfg.lora_alpha, 2); assert.equal(cfg.target_modules, ["down_proj", "q_proj"]); assert.is(cfg.base_model_name_or_path, "kjv3M");
  const st = await readSafetensors(memorySource(safetensors));
  const qa = st.tensors.find((t) => t.name === "base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight")!;
  const qb = st.tensors.find((t) => t.name === "base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight")!;
  const db = st.tensors.find((t) => t.name === "base_model.model.model.layers.1.mlp.down_proj.lora_B.weight")!;
  assert.equal([...qa.shape], [2, 5]); assert.equal([...qb.shape], [8, 2]); assert.ok(db);
  const rowsOf = async (t: any) => { const f = await t.readRows(0, 8); return Array.from({ length: 8 }, (_, i) => f[i * 2]); };
  assert.equal(await rowsOf(qb), [0, 2, 1, 3, 4, 6, 5, 7]);
  assert.equal(await rowsOf(db), [0, 1, 2, 3, 4, 5, 6, 7]);
  const lr = await readSafetensors(memorySource(encodeLowRankFactors([{ name: "blk.0.ffn_up.weight", A, B }], { method: "svd" })));
  assert.equal(lr.tensors.map((t) => t.name).sort(), ["blk.0.ffn_up.weight.lowrank_A", "blk.0.ffn_up.weight.lowrank_B"]);
});

test.run();
