// Hostile-tester regressions, engine values and lookups (issue 8, items 10 and 12): one non-finite
// policy for every output type (E_NONFINITE with row and column, opt-out `allowNonFinite` for
// f32/f16/bf16 only, as llama-quantize refuses NaN/Inf in any tensor); type/ftype names looked up
// without the prototype chain; streams refuse push() after end(); empty tensors ([0] and [64, 0]) are
// valid and give empty output in every form.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { init, isTensorshrinkError, lookupType, lookupFtype, parseRule, ggmlType, quantizeModel, memorySink, memorySource, readGguf, syntheticModel, createIntNQuantizer, createNF4Quantizer, createFP8Quantizer, createMXFP4Quantizer, type ModelSource } from "../src/index";
import { randn } from "./_util";

const engine = await init({ threads: 2 });
const code = (f: () => unknown): string => {
  try { f(); } catch (e) { return isTensorshrinkError(e) ? e.code : `raw ${(e as Error)?.name}: ${(e as Error)?.message}`; }
  return "no error";
};
const codeAsync = async (f: () => Promise<unknown>): Promise<string> => {
  try { await f(); } catch (e) { return isTensorshrinkError(e) ? e.code : `raw ${(e as Error)?.name}: ${(e as Error)?.message}`; }
  return "no error";
};
const errOf = (f: () => unknown): any => { try { f(); } catch (e) { return e; } return null; };

test("NaN/Inf are refused for f32, f16 and bf16 outputs too (sync, async, stream, unit), row and column named", async () => {
  const rows = 4, cols = 64;
  for (const bad of [NaN, Infinity, -Infinity]) {
    const x = randn(rows * cols, 2);
    x[2 * cols + 5] = bad;
    for (const type of ["f32", "f16", "bf16", "q8_0", "q4_K"]) {
      const c = type === "q4_K" ? 256 : cols, r = (rows * cols) / c;
      const e = errOf(() => engine.quantize(x, { type, rows: r, cols: c, name: "w" }));
      assert.ok(isTensorshrinkError(e) && e.code === "E_NONFINITE", `${type} ${bad}: ${e}`);
      const flat = 2 * cols + 5;
      assert.is(e.details.row, Math.floor(flat / c), type);
      assert.is(e.details.column, flat % c, type);
      assert.match(e.message, /"w"/);
      assert.is(await codeAsync(() => engine.quantizeAsync(x, { type, rows: r, cols: c })), "E_NONFINITE", `${type} async`);
      const q = engine.createQuantizer({ type, cols: c });
      assert.is(code(() => q.push(x)), "E_NONFINITE", `${type} stream`);
      assert.is(await codeAsync(() => engine.quantizeUnit(x.slice(), { type, rows: r, cols: c }, { stats: true, pool: true })), "E_NONFINITE", `${type} unit`);
    }
  }
  assert.is(engine.liveAllocations, 0);
});

test("allowNonFinite: f32/f16/bf16 keep NaN/Inf as their encodings; refused (E_RANGE) for block types", async () => {
  const x = new Float32Array([1, NaN, Infinity, -Infinity, 0, -0, 2, 3]);
  const f32 = engine.quantize(x, { type: "f32", rows: 1, cols: 8, allowNonFinite: true });
  assert.equal(f32, new Uint8Array(x.buffer));
  const f16 = engine.quantize(x, { type: "f16", rows: 1, cols: 8, allowNonFinite: true });
  const back = engine.dequantize(f16, { type: "f16", rows: 1, cols: 8 });
  assert.ok(Number.isNaN(back[1]) && back[2] === Infinity && back[3] === -Infinity);
  const bf = await engine.quantizeAsync(x, { type: "bf16", rows: 1, cols: 8, allowNonFinite: true });
  assert.equal(bf, engine.quantize(x, { type: "bf16", rows: 1, cols: 8, allowNonFinite: true }));
  assert.is(code(() => engine.quantize(new Float32Array(32), { type: "q8_0", rows: 1, cols: 32, allowNonFinite: true })), "E_RANGE");
  assert.is(code(() => engine.quantize(x, { type: "f16", rows: 1, cols: 8, allowNonFinite: "yes" as any })), "E_ARG_TYPE");
});

test("quantizeModel refuses NaN in any tensor, also ones copied unchanged (as llama-quantize does)", async () => {
  const base = syntheticModel({ nLayer: 1, nEmbd: 64, nFf: 128, nVocab: 40, nHead: 2, nHeadKv: 1 });
  const poisoned = (name: string): ModelSource => ({
    ...base,
    tensors: base.tensors.map((t) => t.name !== name ? t : {
      ...t,
      readRows: async (r: number, n: number) => { const a = await t.readRows(r, n); a[a.length - 1] = NaN; return a; },
      readRawRows: async (r: number, n: number) => { const a = await t.readRawRows(r, n); a.set([0, 0, 0xc0, 0x7f], a.length - 4); return a; },
      fileRows: undefined,
    }),
  });
  for (const [name, ftype] of [["blk.0.attn_norm.weight", "Q8_0"], ["blk.0.attn_q.weight", "F16"], ["blk.0.attn_q.weight", "F32"], ["blk.0.ffn_up.weight", "Q4_K_M"]]) {
    const sink = memorySink();
    let err: any;
    try { await quantizeModel(engine, poisoned(name), sink, { ftype }); } catch (e) { err = e; }
    assert.ok(isTensorshrinkError(err) && err.code === "E_NONFINITE", `${name} ${ftype}: ${err}`);
    assert.match(err.message, name);
  }
});

test("type, ftype, ggml-type and rule lookups ignore the prototype chain", () => {
  for (const name of ["__proto__", "constructor", "toString", "hasOwnProperty", "valueOf", "__PROTO__"]) {
    assert.is(code(() => lookupType(name)), "E_UNKNOWN_TYPE", name);
    assert.is(code(() => lookupFtype(name)), "E_UNKNOWN_TYPE", name);
    assert.is(code(() => ggmlType(name)), "E_UNKNOWN_TYPE", name);
    assert.is(code(() => parseRule(`x=${name}`)), "E_UNKNOWN_TYPE", name);
    assert.is(code(() => engine.quantize(new Float32Array(32), { type: name, rows: 1, cols: 32 })), "E_UNKNOWN_TYPE", name);
    assert.is(code(() => engine.typeInfo(name)), "E_UNKNOWN_TYPE", name);
    assert.is(code(() => engine.supports(name)), "E_UNKNOWN_TYPE", name);
  }
});

test("push() after end() is refused (E_DISPOSED) on every stream quantizer, and writes after close on the web stream", async () => {
  const x = randn(64, 3);
  const q = engine.createQuantizer({ type: "q8_0", cols: 32 });
  q.push(x);
  q.end();
  assert.is(code(() => q.push(x)), "E_DISPOSED");
  assert.is(code(() => q.end()), "E_DISPOSED");
  for (const mk of [
    () => createIntNQuantizer(engine, { cols: 32, bits: 4, group: 32 }),
    () => createNF4Quantizer(engine, { blockSize: 32 }),
    () => createFP8Quantizer(engine, {}),
    () => createMXFP4Quantizer(engine, {}),
  ]) {
    const s: any = mk();
    s.push(x);
    s.end();
    assert.is(code(() => s.push(x)), "E_DISPOSED", String(mk));
    assert.is(code(() => s.end()), "E_DISPOSED", String(mk));
  }
  // After a failed push the stream is unusable too (its state is unknown).
  const f = engine.createQuantizer({ type: "q8_0", cols: 32 });
  const bad = x.slice(); bad[40] = NaN;
  assert.is(code(() => f.push(bad)), "E_NONFINITE");
  assert.is(code(() => f.push(x)), "E_DISPOSED");
});

test("empty tensors: [0] and [64, 0] give empty output for every type, sync/async/stream/dequantize/GGUF", async () => {
  const types = ["f32", "f16", "bf16", "q8_0", "q4_0", "q4_K", "q6_K", "iq4_nl", "tq1_0", "mxfp4"];
  for (const type of types) {
    const bs = engine.typeInfo(type).blockSize;
    for (const [rows, cols] of [[1, 0], [0, 0], [0, bs], [0, 64 * bs]]) {
      const o = { type, rows, cols };
      assert.is(engine.quantize(new Float32Array(0), o).length, 0, `${type} ${rows}x${cols}`);
      assert.is((await engine.quantizeAsync(new Float32Array(0), o)).length, 0, `${type} ${rows}x${cols} async`);
      assert.is(engine.dequantize(new Uint8Array(0), o).length, 0, `${type} ${rows}x${cols} dequantize`);
      assert.is((await engine.dequantizeAsync(new Uint8Array(0), o)).length, 0);
      assert.is((await engine.quantizeUnit(new Float32Array(0), o, { stats: true, pool: true })).bytes!.length, 0);
      const t = engine.tensor(0);
      assert.is(engine.quantize(t, o).length, 0);
      t.dispose();
    }
    const s = engine.createQuantizer({ type, cols: 0 });
    assert.is(s.push(new Float32Array(0)).length, 0);
    assert.is(code(() => s.push(new Float32Array(4))), "E_SHAPE");
  }
  // GGUF with both empty shapes, through quantizeModel with every kind of type choice.
  const base = syntheticModel({ nLayer: 1, nEmbd: 64, nFf: 128, nVocab: 40, nHead: 2, nHeadKv: 1 });
  const empty = (name: string, ne: number[]) => ({
    name, ne, type: "f32",
    readRows: async () => new Float32Array(0), readRawRows: async () => new Uint8Array(0),
  });
  const model: ModelSource = { ...base, tensors: [...base.tensors, empty("blk.0.empty_a.weight", [0]), empty("blk.0.empty_b.weight", [64, 0]), empty("blk.0.empty_c.weight", [0, 8])] as any };
  for (const ftype of ["F32", "F16", "Q8_0", "Q4_K_M"]) {
    const sink = memorySink();
    const rep = await quantizeModel(engine, model, sink, { ftype, order: "input" });
    const g = await readGguf(memorySource(sink.bytes()));
    for (const n of ["blk.0.empty_a.weight", "blk.0.empty_b.weight", "blk.0.empty_c.weight"]) {
      const t = g.tensors.find((t) => t.name === n)!;
      assert.ok(t, `${ftype} ${n}`);
      assert.is(t.nbytes, 0);
      assert.is(rep.tensors.find((t) => t.name === n)!.bytesAfter, 0);
    }
  }
  assert.is(engine.liveAllocations, 0);
});

test.after(() => engine.dispose());
test.run();
