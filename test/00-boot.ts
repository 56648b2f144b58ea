import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { init, hasSimd, QUANT_TYPES, TensorshrinkError } from "../src/index";
import { loadModule } from "../src/engine/load";
import { ROOT } from "./_util";

test("runtime has SIMD128 and init() gives an engine", async () => {
  assert.ok(hasSimd());
  const e = await init();
  assert.ok(e.memoryBytes >= 65536);
  assert.ok(e.supports("q8_0") && e.supports("f16") && e.supports("bf16"));
  e.dispose();
});

test("one compiled module per realm (cached)", async () => {
  const a = await loadModule(), b = await loadModule();
  assert.is(a.module, b.module);
});

test("init({ bytes }), init({ module }) and init({ url }) work", async () => {
  const bytes = readFileSync(`${ROOT}/build/tensorshrink.wasm`);
  const x = new Float32Array(64).map((_, i) => i - 30);
  const ref = (await init()).quantize(x, { type: "q8_0", rows: 2, cols: 32 });
  const e1 = await init({ bytes });
  assert.equal(e1.quantize(x, { type: "q8_0", rows: 2, cols: 32 }), ref);
  const e2 = await init({ module: await WebAssembly.compile(bytes) });
  assert.equal(e2.quantize(x, { type: "q8_0", rows: 2, cols: 32 }), ref);
  const e3 = await init({ url: new URL(`file://${ROOT}/build/tensorshrink.wasm`) }).catch((err) => err);
  // Node's fetch does not read file: URLs; it must be a typed error, not a raw one.
  if (e3 instanceof Error) { assert.instance(e3, TensorshrinkError); assert.is((e3 as TensorshrinkError).code, "E_WASM_LOAD"); }
});

test("init rejects bad bytes with E_WASM_LOAD", async () => {
  const err = await init({ bytes: new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 99]) }).catch((e) => e);
  assert.instance(err, TensorshrinkError);
  assert.is(err.code, "E_WASM_LOAD");
});

test("missing SIMD: init rejects with E_NO_SIMD naming the feature", async () => {
  const orig = WebAssembly.validate;
  (WebAssembly as any).validate = () => false;
  try {
    const err = await init().catch((e) => e);
    assert.instance(err, TensorshrinkError);
    assert.is(err.code, "E_NO_SIMD");
    assert.match(err.message, /SIMD128/);
  } finally {
    (WebAssembly as any).validate = orig;
  }
});

test("typeInfo: ggml block sizes", async () => {
  const e = await init();
  const expect: Record<string, [number, number]> = {
    q8_0: [32, 34], q4_0: [32, 18], q4_1: [32, 20], q5_0: [32, 22], q5_1: [32, 24], iq4_nl: [32, 18], mxfp4: [32, 17],
    q2_K: [256, 84], q3_K: [256, 110], q4_K: [256, 144], q5_K: [256, 176], q6_K: [256, 210], tq1_0: [256, 54], tq2_0: [256, 66],
    f16: [1, 2], bf16: [1, 2], f32: [1, 4],
    iq4_xs: [256, 136], iq3_s: [256, 110], iq3_xxs: [256, 98], iq2_s: [256, 82], iq2_xs: [256, 74], iq2_xxs: [256, 66], iq1_m: [256, 56], iq1_s: [256, 50],
  };
  for (const [name, [bs, bpb]] of Object.entries(expect)) {
    const t = e.typeInfo(name.toUpperCase());
    assert.is(t.name, name);
    assert.is(t.blockSize, bs, name);
    assert.is(t.bytesPerBlock, bpb, name);
    assert.is(t.bitsPerWeight, (8 * bpb) / bs);
  }
  assert.is(e.typeInfo("q8_0").bitsPerWeight, 8.5);
  assert.is(Object.keys(QUANT_TYPES).length, Object.keys(expect).length);
});

test.run();
