// EoRA (src/lowrank/eora.ts): on synthetic layers the adapter lowers the layer-output error on the
// calibration activations, beats a plain SVD of ΔW at equal rank on that objective, and falls with the
// rank; typed errors. On kjv3M (when ../shared is present): Q2_K base + GGUF LoRA adapter loaded by
// llama.cpp (node-llama-cpp) has a lower KLD against F32 than Q2_K alone; a mismatched base → E_SHAPE.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  init, eoraFactor, lowRankFactor, reconstruct, quantizeModel, openFileSink, calibrateModel, eoraModel, writeGgufLora,
  decodeText, splitDocuments, TensorshrinkError, eoraMethod, readGguf, Tokenizer, rtnMethod, rowsOf, adapterTensorType, type Matrix,
} from "../src/index";
import { openFileSource } from "../src/formats/source";
import { openModel } from "../src/model/open";
import { evaluateGgufMany } from "../src/eval/llama";
import { rng, SHARED } from "./_util";

const engine = await init({ threads: 2 });
const code = (c: string) => (e: unknown) => e instanceof TensorshrinkError && e.code === c;

function rand(rows: number, cols: number, seed: number, scale = 1): Matrix {
  const r = rng(seed, 5);
  return { data: Float32Array.from({ length: rows * cols }, () => r.gauss() * scale), rows, cols };
}
function mulT(a: Matrix, b: Matrix): Matrix { // a · bᵀ
  const c = new Float32Array(a.rows * b.rows);
  for (let i = 0; i < a.rows; i++) for (let j = 0; j < b.rows; j++) { let s = 0; for (let k = 0; k < a.cols; k++) s += a.data[i * a.cols + k]! * b.data[j * b.cols + k]!; c[i * b.rows + j] = s; }
  return { data: c, rows: a.rows, cols: b.rows };
}
const fro = (m: Matrix) => Math.sqrt(m.data.reduce((s, v) => s + v * v, 0));
const add = (a: Matrix, b: Matrix, s = 1): Matrix => ({ data: a.data.map((v, i) => v + s * b.data[i]!), rows: a.rows, cols: a.cols });

const OUT = 40, IN = 32;
const W = rand(OUT, IN, 1, 0.1);
// X: correlated, unevenly scaled columns; one near-dead direction (tiny eigenvalue of XᵀX)
const Z = rand(200, IN, 2), M = rand(IN, IN, 3, 1 / Math.sqrt(IN));
const X = mulT(Z, M);
for (let t = 0; t < X.rows; t++) { for (let j = 0; j < IN; j++) X.data[t * IN + j] *= 1 + (j % 5) * 2; X.data[t * IN + 31] = 1e-4 * X.data[t * IN + 30]!; }
const G = new Float64Array(IN * IN);
for (let t = 0; t < X.rows; t++) for (let i = 0; i < IN; i++) for (let j = 0; j < IN; j++) G[i * IN + j] += X.data[t * IN + i]! * X.data[t * IN + j]!;
// W′: a crude 3-bit-like rounding of W
const Wq: Matrix = { data: W.data.map((v) => Math.round(v / 0.06) * 0.06), rows: OUT, cols: IN };
const outErr = (w2: Matrix) => fro(mulT(X, add(W, w2, -1)));

test("EoRA lowers the layer-output error on the calibration activations, more than SVD of ΔW, falling with the rank", () => {
  const before = outErr(Wq);
  let prev = before;
  for (const rank of [1, 2, 4, 8, 16, 32]) {
    const f = eoraFactor(engine, W, Wq, G, { rank, name: "blk.0.attn_q.weight" });
    const after = outErr(add(Wq, reconstruct(engine, f)));
    assert.ok(after < prev * (1 + 1e-4), `rank ${rank}: ${after} ≥ ${prev}`);
    assert.ok(Math.abs(after / before - f.relError) < 0.02, `rank ${rank}: reported share ${f.relError} vs measured ${after / before}`);
    const dw = add(W, Wq, -1);
    const plain = lowRankFactor(engine, dw, { rank });
    const plainErr = outErr(add(Wq, reconstruct(engine, plain)));
    assert.ok(after <= plainErr * 1.001 + 1e-4 * before, `rank ${rank}: EoRA ${after} > SVD of ΔW ${plainErr}`);
    if (rank === 8) assert.ok(after < 0.85 * plainErr, `rank 8: the eigenspace projection should pay (${after} vs ${plainErr})`);
    prev = after;
  }
  assert.ok(prev < 1e-3 * before, `full rank removes the error (${prev} vs ${before})`);
});

test("EoRA bad input: shape mismatch, Gram size, rank, non-finite → typed errors", () => {
  assert.throws(() => eoraFactor(engine, W, rand(OUT, IN + 1, 4), G, { rank: 2 }), code("E_SHAPE"));
  assert.throws(() => eoraFactor(engine, W, Wq, new Float64Array(10), { rank: 2 }), code("E_SHAPE"));
  assert.throws(() => eoraFactor(engine, W, Wq, G, { rank: IN + 1 }), code("E_RANGE"));
  const bad = { data: Wq.data.slice(), rows: OUT, cols: IN }; bad.data[3] = Infinity;
  assert.throws(() => eoraFactor(engine, W, bad, G, { rank: 2 }), code("E_NONFINITE"));
});

/** `<tmp>/f32.gguf`: the llama2.c checkpoint `bin` (tok512.bin beside it) converted to an F32 GGUF. */
async function toF32(bin: string, tmp: string): Promise<string> {
  const f32 = path.join(tmp, "f32.gguf");
  const src = await openModel(bin, engine, { tokenizer: path.join(path.dirname(bin), "tok512.bin") });
  try { await quantizeModel(engine, src, await openFileSink(f32), { ftype: "F32" }); } finally { await src.close?.(); }
  return f32;
}

const K = path.join(SHARED, "models/kjv3M");
if (!existsSync(path.join(K, "kjv3M.bin"))) {
  console.log(`SKIP kjv3M part: ${K}/kjv3M.bin not found (EoRA adapter in llama.cpp)`);
} else {
  test("kjv3M: Q2_K + EoRA rank 32 (attention, gate, up) GGUF adapter loads in llama.cpp and lowers the KLD; a wrong base is refused", async () => {
    const tmp = mkdtempSync(path.join(tmpdir(), "ts-eora-"));
    try {
      const f32 = await toF32(path.join(K, "kjv3M.bin"), tmp), q2 = path.join(tmp, "q2k.gguf"), ad = path.join(tmp, "eora.gguf");
      const base = await openModel(f32, engine);
      await quantizeModel(engine, base, await openFileSink(q2), { ftype: "Q2_K" });
      const quant = await openModel(q2, engine);
      const calib = decodeText(readFileSync(path.join(K, "calib.txt")));
      const stats = await calibrateModel(engine, base, calib, { ctx: 128, chunks: 8, gram: "all" });
      const { layers, report } = await eoraModel(engine, base, quant, stats, { rank: 32, include: /^blk\.\d+\.(attn_q|attn_k|attn_v|attn_output|ffn_gate|ffn_up)\.weight$/ }); // ffn_down (768-wide XᵀX) in the bench
      assert.is(layers.length, 24);
      for (const r of report) assert.ok(r.outputErrorAfter < r.outputErrorBefore, `${r.name}: ${r.outputErrorAfter} ≥ ${r.outputErrorBefore}`);
      await writeGgufLora(await openFileSink(ad), layers, { architecture: "llama", base: quant.tensors });
      const docs = splitDocuments(decodeText(readFileSync(path.join(K, "eval.txt")))).slice(0, 12);
      // one pass: F32 once, Q2_K without and with the adapter beside it (llama.cpp on 1 thread: same values, far
      // faster than 2 spinning threads on a shared machine)
      const [plain, withAd] = await evaluateGgufMany(f32, [q2, q2], docs, { threads: 1, contextSize: 128, otherLoras: [null, ad] });
      console.log(`  kjv3M Q2_K on ${docs.length} docs: KLD ${plain.kl!.mean.toFixed(4)} → ${withAd.kl!.mean.toFixed(4)} with EoRA r32 (PPL ${plain.other!.perplexity.toFixed(3)} → ${withAd.other!.perplexity.toFixed(3)}, F32 ${plain.base.perplexity.toFixed(3)})`);
      assert.ok(withAd.kl!.mean < 0.85 * plain.kl!.mean, `KLD ${withAd.kl!.mean} vs ${plain.kl!.mean}`);
      // an adapter for other shapes: checked against the base before writing
      const wrong = layers.map((l) => ({ ...l, name: l.name.replace("attn_q", "ffn_down") }));
      const out2 = path.join(tmp, "wrong.gguf");
      let err: unknown;
      try { await writeGgufLora(await openFileSink(out2), wrong, { architecture: "llama", base: quant.tensors }); } catch (e) { err = e; }
      assert.ok(code("E_SHAPE")(err), String(err));
      assert.not.ok(existsSync(out2), "nothing written");
      await base.close?.(); await quant.close?.();
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
}

// Compact adapters and EoRA through the method seam, on stories260K (small: quick in llama.cpp).
const S = path.join(SHARED, "models/stories260K");
if (!existsSync(path.join(S, "stories260K.bin"))) {
  console.log(`SKIP stories260K part: ${S}/stories260K.bin not found (adapter types, eora method)`);
} else {
  test("stories260K: quantizeModel with eoraMethod keeps RTN's bytes; its adapter in f32 / f16 / q8_0 loads in llama.cpp, lowers the KLD, and the compact types track f32", async () => {
    const tmp = mkdtempSync(path.join(tmpdir(), "ts-eora-types-"));
    try {
      const f32 = await toF32(path.join(S, "stories260K.bin"), tmp), q = path.join(tmp, "q.gguf"), plain = path.join(tmp, "plain.gguf");
      const base = await openModel(f32, engine);
      const text = decodeText(readFileSync(path.join(S, "tinystories_sample.txt")));
      const tok = Tokenizer.fromGguf({ kv: new Map(base.metadata.map((kv) => [kv.key, kv])) });
      const eora = eoraMethod({ rank: 32 });
      await quantizeModel(engine, base, await openFileSink(q), { ftype: "Q4_0", methods: [eora], calibration: { tokens: tok.encode(text, { addBos: true }), ctx: 64, chunks: 8 } });
      // the same pipeline with a pass-through RTN that also asks for XᵀX (so the same sweep and imatrix feed RTN)
      const rtnGram = { ...rtnMethod, name: "rtn-gram", needs: { gram: true }, appliesTo: (t: { name: string; targetType: string }) => (/^blk\.\d+\.(attn_q|attn_k|attn_v|attn_output|ffn_gate|ffn_up|ffn_down)\.weight$/.test(t.name) && !/^f(32|16)$/.test(t.targetType)) || "no" };
      await quantizeModel(engine, base, await openFileSink(plain), { ftype: "Q4_0", methods: [rtnGram], calibration: { tokens: tok.encode(text, { addBos: true }), ctx: 64, chunks: 8 } });
      const qm = await openModel(q, engine), pm = await openModel(plain, engine);
      assert.ok(eora.layers.length >= 10, `${eora.layers.length} adapted tensors`);
      for (const l of eora.layers) {
        const a = qm.tensors.find((t) => t.name === l.name)!, b = pm.tensors.find((t) => t.name === l.name)!;
        assert.equal(await a.readRawRows(0, rowsOf(a.ne)), await b.readRawRows(0, rowsOf(b.ne)), `${l.name}: the GGUF holds RTN's bytes`);
      }
      for (const r of eora.report) assert.ok(r.outputErrorAfter < r.outputErrorBefore, r.name);
      const sizes: Record<string, number> = {}, kld: Record<string, number> = {};
      const docs = splitDocuments(text).slice(0, 4);
      const types = ["f32", "f16", "q8_0"] as const, ads = types.map((type) => path.join(tmp, `ad-${type}.gguf`));
      for (const [i, type] of types.entries()) {
        sizes[type] = await writeGgufLora(await openFileSink(ads[i]!), eora.layers, { architecture: "llama", base: qm.tensors, tensorType: type, quantizer: engine });
        const g = await readGguf(await openFileSource(ads[i]!));
        for (const t of g.tensors) assert.is(t.type.name, adapterTensorType(type, t.ne[0]!), `${type}: ${t.name}`);
        if (type === "q8_0") assert.ok(g.tensors.some((t) => t.type.name === "q8_0"));
        await g.source.close?.();
      }
      // one llama.cpp pass: F32 once, Q4_0 alone and with each adapter beside it (1 thread, as above)
      const [none, ...withAd] = await evaluateGgufMany(f32, [q, ...ads.map(() => q)], docs, { threads: 1, contextSize: 64, otherLoras: [null, ...ads] });
      types.forEach((type, i) => (kld[type] = withAd[i]!.kl!.mean));
      // rank 8: lora_b rows (8 values) are not a multiple of 32 → f16 beside q8_0 lora_a
      const small = eora.layers.map((l) => ({ name: l.name, A: { data: l.A.data.slice(0, 8 * l.A.cols), rows: 8, cols: l.A.cols }, B: { data: Float32Array.from({ length: l.B.rows * 8 }, (_, i) => l.B.data[Math.floor(i / 8) * l.B.cols + (i % 8)]!), rows: l.B.rows, cols: 8 } }));
      const ad8 = path.join(tmp, "ad8.gguf");
      await writeGgufLora(await openFileSink(ad8), small, { architecture: "llama", base: qm.tensors, tensorType: "q8_0", quantizer: engine });
      const g8 = await readGguf(await openFileSource(ad8));
      assert.equal([...new Set(g8.tensors.map((t) => `${t.name.endsWith("lora_a") ? "a" : "b"}:${t.type.name}`))].sort(), ["a:q8_0", "b:f16"]);
      await g8.source.close?.();
      console.log(`  stories260K Q4_0 KLD ${none.kl!.mean.toFixed(4)}; + EoRA r32 f32 ${kld.f32!.toFixed(4)} (${sizes.f32} B), f16 ${kld.f16!.toFixed(4)} (${sizes.f16} B), q8_0 ${kld.q8_0!.toFixed(4)} (${sizes.q8_0} B)`);
      assert.ok(kld.f32! < 0.9 * none.kl!.mean, `adapter lowers the KLD: ${kld.f32} vs ${none.kl!.mean}`);
      assert.ok(Math.abs(kld.f16! - kld.f32!) < 0.03 * kld.f32! + 1e-4, `f16 ${kld.f16} vs f32 ${kld.f32}`);
      assert.ok(Math.abs(kld.q8_0! - kld.f32!) < 0.15 * kld.f32! + 1e-4, `q8_0 ${kld.q8_0} vs f32 ${kld.f32}`);
      assert.ok(sizes.f16! < 0.55 * sizes.f32! && sizes.q8_0! < 0.85 * sizes.f16!, JSON.stringify(sizes));
      await base.close?.(); await qm.close?.(); await pm.close?.();
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
}

test("adapter type and eoraMethod bad input → typed errors; q8_0 without a quantizer refused, nothing written", async () => {
  assert.throws(() => eoraMethod({ rank: 0 }), code("E_RANGE"));
  assert.throws(() => eoraMethod({ rank: 4, inner: "nope" }), code("E_RANGE"));
  const layers = [{ name: "blk.0.attn_q.weight", A: rand(4, 64, 1), B: rand(64, 4, 2) }];
  const tmp = mkdtempSync(path.join(tmpdir(), "ts-eora-bad-"));
  try {
    for (const [o, c] of [[{ tensorType: "q4_0" }, "E_RANGE"], [{ tensorType: "q8_0" }, "E_RANGE"]] as const) {
      const out = path.join(tmp, "a.gguf");
      let err: unknown;
      try { await writeGgufLora(await openFileSink(out), layers, { architecture: "llama", ...(o as any) }); } catch (e) { err = e; }
      assert.ok(code(c)(err), String(err));
      assert.not.ok(existsSync(out));
    }
    const bad = [{ ...layers[0]!, A: { ...layers[0]!.A, data: layers[0]!.A.data.map((v, i) => (i === 5 ? NaN : v)) } }];
    let err: unknown;
    try { await writeGgufLora(await openFileSink(path.join(tmp, "b.gguf")), bad, { architecture: "llama", tensorType: "f16" }); } catch (e) { err = e; }
    assert.ok(code("E_NONFINITE")(err), String(err));
    assert.equal(readdirSync(tmp), []);
    // one adapter list entry per other model (checked before llama.cpp is loaded)
    err = undefined;
    try { await evaluateGgufMany(path.join(tmp, "base.gguf"), [path.join(tmp, "q.gguf")], ["x"], { otherLoras: [] }); } catch (e) { err = e; }
    assert.ok(code("E_RANGE")(err), String(err));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test.run();
