// The method seam: RTN as a method equals the default streaming path byte for byte; a fake method's bytes
// and declared extra tensors land at the right offsets; errors come before any byte is written; the
// calibrated sweep runs block by block over the compressed blocks' outputs.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { init, syntheticModel, quantizeModel, TensorshrinkError, rtnMethod, calibratedSweep, type TensorMethod } from "../src/index";
import { memorySink, memorySource, type ByteSink } from "../src/formats/source";
import { readGguf, readGgufTensorBytes } from "../src/formats/gguf";

const engine = await init({ threads: 2 });
const model = syntheticModel({ nLayer: 2, nEmbd: 256, nFf: 512, nVocab: 300, nHead: 4, nHeadKv: 2 });

test("RTN as a method gives the default path's bytes (Q4_K_M, Q8_0), and records quantize.method", async () => {
  for (const ftype of ["Q4_K_M", "Q8_0"]) {
    const a = memorySink(), b = memorySink();
    await quantizeModel(engine, model, a, { ftype });
    const rep = await quantizeModel(engine, model, b, { ftype, methods: ["rtn"] });
    const ga = await readGguf(memorySource(a.bytes())), gb = await readGguf(memorySource(b.bytes()));
    assert.is(gb.kv.get("quantize.method")?.value, "rtn");
    assert.is(ga.kv.get("quantize.method"), undefined);
    assert.is(ga.tensors.length, gb.tensors.length);
    for (let i = 0; i < ga.tensors.length; i++) assert.equal(await readGgufTensorBytes(gb, gb.tensors[i]), await readGgufTensorBytes(ga, ga.tensors[i]), ga.tensors[i].name);
    assert.ok(rep.methods!.handled > 0);
    assert.ok(rep.tensors.some((t) => t.reason.includes("method rtn")));
  }
});

test("a fake method: its bytes and its declared extra tensor land at their offsets; untouched tensors stay RTN", async () => {
  const target = "blk.1.ffn_up.weight";
  const fake: TensorMethod = {
    name: "fake",
    appliesTo: (t) => (t.name === target ? true : "not the target"),
    outputShapes: (t) => [{ name: t.name.replace(".weight", ".extra"), ne: [4, 2], type: "f32" }],
    async apply(ctx) {
      const rows = ctx.ne[1], rb = (ctx.ne[0] / 32) * 34; // q8_0
      const bytes = new Uint8Array(rows * rb);
      for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + 3) & 0xff;
      for (let r = 0; r < rows; r++) for (let b = 0; b < ctx.ne[0] / 32; b++) { bytes[r * rb + b * 34] = 0; bytes[r * rb + b * 34 + 1] = 0x3c; } // scale 1.0 in f16
      return { bytes, extra: [{ name: ctx.name.replace(".weight", ".extra"), ne: [4, 2], type: "f32", data: new Uint8Array(new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]).buffer) }] };
    },
  };
  const a = memorySink(), b = memorySink();
  await quantizeModel(engine, model, a, { ftype: "Q8_0" });
  await quantizeModel(engine, model, b, { ftype: "Q8_0", methods: [fake] });
  const ga = await readGguf(memorySource(a.bytes())), gb = await readGguf(memorySource(b.bytes()));
  assert.is(gb.tensors.length, ga.tensors.length + 1);
  const names = gb.tensors.map((t) => t.name);
  assert.is(names.indexOf("blk.1.ffn_up.extra"), names.indexOf(target) + 1, "extra follows its tensor");
  const ex = gb.tensors.find((t) => t.name === "blk.1.ffn_up.extra")!;
  assert.equal([...ex.ne], [4, 2]);
  const exBytes = await readGgufTensorBytes(gb, ex);
  assert.equal([...new Float32Array(exBytes.slice().buffer)], [1, 2, 3, 4, 5, 6, 7, 8]);
  const got = await readGgufTensorBytes(gb, gb.tensors.find((t) => t.name === target)!);
  assert.is(got[2], (2 * 7 + 3) & 0xff);
  assert.is(got[1], 0x3c);
  for (const t of ga.tensors) if (t.name !== target) assert.equal(await readGgufTensorBytes(gb, gb.tensors.find((u) => u.name === t.name)!), await readGgufTensorBytes(ga, t), t.name);
  assert.is(gb.kv.get("quantize.method")?.value, "fake");
});

/** A sink that records whether anything was written. */
function watchSink(): ByteSink & { wrote: () => number; aborted: () => boolean } {
  const s = memorySink();
  let n = 0, ab = false;
  return Object.assign(Object.create(s), {
    write: (c: Uint8Array) => { n += c.byteLength; return s.write(c); },
    abort: (e: unknown) => { ab = true; return s.abort(e); },
    wrote: () => n, aborted: () => ab,
  });
}

test("errors before any byte: unknown method, method applying to nothing, calibrated method without calibration, text too short", async () => {
  const cases: [any, string, RegExp][] = [
    [{ methods: ["nope"] }, "E_RANGE", /unknown method "nope"/],
    [{ methods: [{ name: "never", appliesTo: () => "never applies", apply: async () => ({}) }] }, "E_UNSUPPORTED", /never applies to no tensor.*never applies/],
    [{ methods: ["gptq"] }, "E_RANGE", /gptq needs calibration/],
    [{ methods: ["gptq"], calibration: { tokens: new Int32Array(10), ctx: 64 } }, "E_RANGE", /fewer than one chunk/],
  ];
  for (const [o, code, re] of cases) {
    const sink = watchSink();
    const e = await quantizeModel(engine, model, sink, { ftype: "Q4_0", ...o }).catch((x) => x);
    assert.instance(e, TensorshrinkError);
    assert.is(e.code, code, e.message);
    assert.match(e.message, re);
    assert.is(sink.wrote(), 0, "nothing written");
    assert.ok(sink.aborted());
  }
});

test("calibrated sweep: block by block, later blocks see the compressed earlier blocks' outputs", async () => {
  const tokens = new Int32Array(3 * 32).map((_v, i) => (i * 37 + 11) % 300);
  const seen: number[] = [];
  let first: Float32Array | null = null;
  const rep = await calibratedSweep(engine, model, {
    tokens, ctx: 32, gram: true,
    async processLayer(l, stats, inputs) {
      seen.push(l);
      const q = stats.get(`blk.${l}.attn_q.weight`)!;
      assert.is(q.counts[0], 96);
      assert.is(q.gram!.length, 256 * 256);
      assert.ok(Math.abs(q.gram![0] - q.sumSq[0]) <= 1e-6 * Math.max(1, q.sumSq[0]), "diag XᵀX = Σx²");
      assert.is(inputs.length, 3);
      if (l === 0) { first = inputs[0].slice(); return new Map([[`blk.0.ffn_down.weight`, new Float32Array(256 * 512)]]); }
      return new Map();
    },
  });
  assert.equal(seen, [0, 1]);
  assert.is(rep.chunks, 3);
  assert.is(rep.layerSeconds.length, 2);
  assert.ok(first && first.length === 32 * 256);
});

test.run();
