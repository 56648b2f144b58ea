// The main job end to end on a synthetic model: types from the recipe, bytes equal to engine.quantize
// on the same rows, streaming writer, no partial file on abort, inputs never overwritten.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, readdirSync, writeFileSync, readFileSync, existsSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { init, syntheticModel, quantizeModel, planModel, llamaCppTensorOrder, TensorshrinkError, ggufModelSource, readImatrix, encodeLegacyImatrix } from "../src/index";
import { memorySink, memorySource, openFileSink, openFileSource } from "../src/formats/source";
import { readGguf, readGgufTensorBytes } from "../src/formats/gguf";

const engine = await init({ threads: 2 });
const model = syntheticModel({ nLayer: 2, nEmbd: 256, nFf: 512, nVocab: 300, nHead: 4, nHeadKv: 2 });

for (const ftype of ["Q8_0", "Q4_K_M", "Q6_K", "F16"]) {
  test(`${ftype}: every tensor has the recipe's type and engine.quantize's bytes`, async () => {
    if (!["q8_0", "q4_K", "q6_K"].every((t) => engine.supports(t))) { console.log("  (skipped: kernels missing)"); return; }
    const sink = memorySink();
    const rep = await quantizeModel(engine, model, sink, { ftype, chunkBytes: 64 * 1024 });
    const g = await readGguf(memorySource(sink.bytes()));
    // llama-quantize's order: non-layer tensors, then blk.0.* by name, blk.1.*, ...
    const ordered = llamaCppTensorOrder(model.tensors);
    assert.equal(g.tensors.map((t) => t.name).slice(0, 4), ["output.weight", "output_norm.weight", "token_embd.weight", "blk.0.attn_k.weight"]);
    const plan = planModel(ordered.map((t) => ({ name: t.name, shape: [...t.ne], type: t.type })), ftype, model.hparams);
    assert.is(g.tensors.length, model.tensors.length);
    assert.is(rep.fileSize, sink.bytes().length);
    const ft = g.kv.get("general.file_type")!;
    assert.is(Number(ft.value), { Q8_0: 7, Q4_K_M: 15, Q6_K: 18, F16: 1 }[ftype]);
    for (let i = 0; i < g.tensors.length; i++) {
      const t = g.tensors[i], src = ordered[i];
      assert.is(t.name, src.name);
      assert.is(t.type.name, plan[i].type, t.name);
      const rows = t.rows;
      const x = await src.readRows(0, rows);
      const want = plan[i].quantize ? engine.quantize(x, { type: plan[i].type, rows, cols: t.ne[0] }) : new Uint8Array(x.buffer);
      assert.equal(await readGgufTensorBytes(g, t), want, t.name);
      const r = rep.tensors[i];
      if (plan[i].quantize) assert.ok(r.sqnrDb! > 10, `${t.name} SQNR ${r.sqnrDb}`);
    }
  });
}

test('order: "input" keeps the source order; tensor bytes are the same either way', async () => {
  const a = memorySink(), b = memorySink();
  await quantizeModel(engine, model, a, { ftype: "Q8_0", order: "input" });
  await quantizeModel(engine, model, b, { ftype: "Q8_0" });
  const ga = await readGguf(memorySource(a.bytes())), gb = await readGguf(memorySource(b.bytes()));
  assert.equal(ga.tensors.map((t) => t.name), model.tensors.map((t) => t.name));
  assert.equal(gb.tensors.map((t) => t.name), llamaCppTensorOrder(model.tensors).map((t) => t.name));
  assert.not.equal(ga.tensors.map((t) => t.name), gb.tensors.map((t) => t.name));
  for (const t of ga.tensors) assert.equal(await readGgufTensorBytes(ga, t), await readGgufTensorBytes(gb, gb.tensors.find((u) => u.name === t.name)!), t.name);
  const bad = await quantizeModel(engine, model, memorySink(), { ftype: "Q8_0", order: "sorted" as any }).catch((e) => e);
  assert.instance(bad, TensorshrinkError);
  assert.is(bad.code, "E_ARG_TYPE");
});

test("llamaCppTensorOrder: layer number (numeric), then bytewise name; non-layer tensors first", () => {
  const names = ["blk.10.attn_q.weight", "blk.2.ffn_up.weight", "token_embd.weight", "blk.2.attn_k.weight", "output.weight", "output_norm.weight", "blk.9.x", "blk.2.Z", "blk.2.é", "blk.2.z"];
  assert.equal(llamaCppTensorOrder(names.map((name) => ({ name }))).map((t) => t.name), [
    "output.weight", "output_norm.weight", "token_embd.weight",
    "blk.2.Z", "blk.2.attn_k.weight", "blk.2.ffn_up.weight", "blk.2.z", "blk.2.é", "blk.9.x", "blk.10.attn_q.weight",
  ]);
});

test("MoE (3D expert tensors): one importance vector per expert, units never span two experts; wrong sizes refused up front", async () => {
  if (!engine.supports("q4_K")) return;
  const moe = syntheticModel({ nLayer: 1, nEmbd: 256, nFf: 256, nVocab: 300, nHead: 4, nHeadKv: 2, nExpert: 4 });
  const t = moe.tensors.find((x) => x.name === "blk.0.ffn_up_exps.weight")!;
  assert.equal([...t.ne], [256, 256, 4]);
  const im = new Map<string, Float32Array>();
  for (const x of moe.tensors) if (x.ne.length > 1) im.set(x.name, Float32Array.from({ length: x.ne[0] * (x.ne[2] ?? 1) }, (_, j) => 0.1 + ((j * 13) % 17) * (1 + Math.floor(j / x.ne[0]))));
  const sink = memorySink();
  // 48 KiB units: 48 rows of 256, so without the split units would straddle experts
  await quantizeModel(engine, moe, sink, { ftype: "Q4_K_M", imatrix: im, chunkBytes: 48 * 1024, pure: true });
  const g = await readGguf(memorySource(sink.bytes()));
  const gt = g.tensors.find((x) => x.name === t.name)!;
  const got = await readGgufTensorBytes(g, gt);
  const x = await t.readRows(0, 1024);
  const all = im.get(t.name)!;
  const rb = (256 / 256) * 144;
  for (let e = 0; e < 4; e++) {
    const want = engine.quantize(x.subarray(e * 256 * 256, (e + 1) * 256 * 256), { type: "q4_K", rows: 256, cols: 256, imatrix: all.subarray(e * 256, (e + 1) * 256) });
    assert.equal(got.subarray(e * 256 * rb, (e + 1) * 256 * rb), want, `expert ${e}`);
  }
  const bad = new Map(im);
  bad.set(t.name, new Float32Array(256)); // one vector for four experts: llama.cpp refuses this too
  const s2 = memorySink();
  const err = await quantizeModel(engine, moe, s2, { ftype: "Q4_K_M", imatrix: bad }).catch((e) => e);
  assert.instance(err, TensorshrinkError);
  assert.is(err.code, "E_IMATRIX");
  assert.match(err.message, /ffn_up_exps\.weight.*256 values.*256 x 4 matrices = 1024/);
  assert.is(s2.bytesWritten, 0);
});

test("syntheticModel: impossible shapes are typed errors", () => {
  assert.throws(() => syntheticModel({ nEmbd: 512, nHead: 24 }), (e: any) => e.code === "E_SHAPE" && /512 must split into 24 heads/.test(e.message));
  assert.throws(() => syntheticModel({ nHead: 8, nHeadKv: 3 }), (e: any) => e.code === "E_SHAPE");
  assert.throws(() => syntheticModel({ nLayer: 1.5 }), (e: any) => e.code === "E_RANGE");
});

test("same bytes with and without the worker pool", async () => {
  if (!engine.supports("q6_K")) return;
  const a = memorySink(), b = memorySink();
  await quantizeModel(engine, model, a, { ftype: "Q4_K_M", parallel: true, chunkBytes: 32 * 1024 });
  await quantizeModel(engine, model, b, { ftype: "Q4_K_M", parallel: false });
  assert.equal(a.bytes(), b.bytes());
});

test("abort leaves no partial file; the input is never overwritten", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "ts-pipe-"));
  try {
    const out = path.join(dir, "out.gguf");
    const ac = new AbortController();
    const sink = await openFileSink(out);
    const err = await quantizeModel(engine, model, sink, { ftype: "Q8_0", signal: ac.signal, chunkBytes: 16 * 1024, onProgress: (p) => { if (p.tensorIndex >= 3) ac.abort(); } }).catch((e) => e);
    assert.instance(err, TensorshrinkError);
    assert.is(err.code, "E_ABORTED");
    assert.equal(readdirSync(dir), []);
    // write an F32 GGUF, then try to use it as both input and output
    const s2 = await openFileSink(out);
    await quantizeModel(engine, model, s2, { ftype: "F32" });
    const before = readFileSync(out);
    const src = await openFileSource(out);
    const e2 = await openFileSink(out, { inputs: [src] }).catch((e) => e);
    assert.instance(e2, TensorshrinkError);
    assert.equal(readFileSync(out), before);
    // requantize the GGUF file itself: Q8_0 bytes equal to quantizing the synthetic model directly
    const g = await readGguf(src);
    const m2 = ggufModelSource(g, engine);
    const s3 = memorySink(), s4 = memorySink();
    await quantizeModel(engine, m2, s3, { ftype: "Q8_0" });
    await quantizeModel(engine, model, s4, { ftype: "Q8_0" });
    assert.equal(s3.bytes(), s4.bytes());
    await src.close?.();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("NaN in a tensor: typed error naming tensor, row and column; nothing committed", async () => {
  const bad = { ...model, tensors: model.tensors.map((t) => t.name !== "blk.1.attn_q.weight" ? t : { ...t, readRows: async (s: number, n: number) => { const x = await t.readRows(s, n); if (s <= 7 && 7 < s + n) x[(7 - s) * t.ne[0] + 3] = NaN; return x; } }) };
  const sink = memorySink();
  const err = await quantizeModel(engine, bad, sink, { ftype: "Q8_0", chunkBytes: 8 * 1024 }).catch((e) => e);
  assert.instance(err, TensorshrinkError);
  assert.is(err.code, "E_NONFINITE");
  assert.match(err.message, /blk\.1\.attn_q\.weight.*row 7, column 3/);
  assert.is(sink.bytesWritten, 0);
});

test("imatrix (legacy .dat) is read as llama.cpp does and changes imatrix-aware types only", async () => {
  if (!engine.supports("q4_K")) return;
  const m = new Map<string, Float32Array>();
  for (const t of model.tensors) if (t.ne.length > 1) m.set(t.name, Float32Array.from({ length: t.ne[0] }, (_, j) => 0.5 + (j % 7)));
  const im = await readImatrix(memorySource(encodeLegacyImatrix(m)));
  assert.equal(im.get("blk.0.attn_q.weight"), m.get("blk.0.attn_q.weight"));
  const a = memorySink(), b = memorySink();
  await quantizeModel(engine, model, a, { ftype: "Q4_K_M", imatrix: im });
  await quantizeModel(engine, model, b, { ftype: "Q4_K_M" });
  assert.not.equal(a.bytes(), b.bytes());
  const bad = await readImatrix(memorySource(new Uint8Array([5, 0, 0, 0, 200, 0, 0]))).catch((e) => e);
  assert.instance(bad, TensorshrinkError);
});

test.run();
