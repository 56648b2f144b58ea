import { test } from "uvu";
import * as assert from "uvu/assert";
import { init, TensorshrinkError } from "../src/index";

const engine = await init();
function throwsCode(fn: () => unknown, code: string, re?: RegExp) {
  try {
    fn();
  } catch (e) {
    assert.instance(e, TensorshrinkError, `expected TensorshrinkError, got ${e}`);
    assert.is((e as TensorshrinkError).code, code, (e as Error).message);
    if (re) assert.match((e as Error).message, re);
    assert.not.match((e as Error).message, /unreachable|RuntimeError/);
    return;
  }
  assert.unreachable(`expected ${code}`);
}
const x = new Float32Array(64);

test("wrong array types", () => {
  throwsCode(() => engine.quantize(new Float64Array(64) as any, { type: "q8_0", rows: 2, cols: 32 }), "E_ARG_TYPE", /Float64Array/);
  throwsCode(() => engine.quantize([1, 2] as any, { type: "q8_0", rows: 1, cols: 2 }), "E_ARG_TYPE");
  throwsCode(() => engine.dequantize(new Float32Array(17) as any, { type: "q8_0", rows: 1, cols: 32 }), "E_ARG_TYPE");
  throwsCode(() => engine.quantize(x, null as any), "E_ARG_TYPE");
  throwsCode(() => engine.quantize(x, { type: "q8_0", rows: 2, cols: 32, imatrix: [1] as any }), "E_ARG_TYPE");
});

test("rows * cols not matching the data", () => {
  throwsCode(() => engine.quantize(x, { type: "q8_0", rows: 3, cols: 32 }), "E_SHAPE", /3 \* 32 = 96.*64/);
  throwsCode(() => engine.quantize(x, { type: "q8_0", rows: -1, cols: 32 }), "E_SHAPE");
  throwsCode(() => engine.quantize(x, { type: "q8_0", rows: 2.5, cols: 32 }), "E_SHAPE");
  throwsCode(() => engine.quantize(x, { type: "q8_0", rows: 2, cols: 0 }), "E_SHAPE");
  throwsCode(() => engine.dequantize(new Uint8Array(33), { type: "q8_0", rows: 1, cols: 32 }), "E_SHAPE", /34 bytes/);
});

test("cols not a multiple of the block size", () => {
  throwsCode(() => engine.quantize(new Float32Array(48), { type: "q8_0", rows: 1, cols: 48, name: "blk.3.ffn_up.weight" }), "E_BLOCK", /48.*32.*blk\.3\.ffn_up/);
  throwsCode(() => engine.quantize(new Float32Array(128), { type: "q4_K", rows: 1, cols: 128 }), "E_BLOCK", /256/);
});

test("unknown type names", () => {
  throwsCode(() => engine.quantize(x, { type: "q9_0", rows: 2, cols: 32 }), "E_UNKNOWN_TYPE", /q9_0/);
  throwsCode(() => engine.typeInfo("nope"), "E_UNKNOWN_TYPE");
  throwsCode(() => engine.quantize(x, { type: 8 as any, rows: 2, cols: 32 }), "E_ARG_TYPE");
  throwsCode(() => engine.quantize(x, { type: "q8_0", rows: 2, cols: 32, kernel: "fast" as any }), "E_RANGE");
});

test("NaN / Inf name row and column", () => {
  const y = new Float32Array(96);
  y[2 * 32 + 5] = Infinity;
  throwsCode(() => engine.quantize(y, { type: "q8_0", rows: 3, cols: 32, name: "t" }), "E_NONFINITE", /row 2, column 5 of tensor "t"/);
  // f16/bf16 refuse them too by default (as llama-quantize); allowNonFinite converts them (representable)
  throwsCode(() => engine.quantize(y, { type: "f16", rows: 3, cols: 32, name: "t" }), "E_NONFINITE", /row 2, column 5 of tensor "t"/);
  const h = engine.quantize(y, { type: "f16", rows: 3, cols: 32, allowNonFinite: true });
  assert.is(new Uint16Array(h.buffer)[69], 0x7c00);
});

test("imatrix: wrong length, negative, NaN", () => {
  throwsCode(() => engine.quantize(x, { type: "q8_0", rows: 2, cols: 32, imatrix: new Float32Array(31) }), "E_IMATRIX", /31.*32/);
  const im = new Float32Array(32).fill(1);
  im[7] = -1;
  throwsCode(() => engine.quantize(x, { type: "q8_0", rows: 2, cols: 32, imatrix: im }), "E_IMATRIX", /column 7/);
  im[7] = NaN;
  throwsCode(() => engine.quantize(x, { type: "q8_0", rows: 2, cols: 32, imatrix: im }), "E_IMATRIX", /column 7/);
});

test("disposed engine", async () => {
  const e = await init();
  e.dispose();
  throwsCode(() => e.quantize(x, { type: "q8_0", rows: 2, cols: 32 }), "E_DISPOSED");
});

test("async forms reject with the same typed errors", async () => {
  const err = await engine.quantizeAsync(new Float32Array(48), { type: "q8_0", rows: 1, cols: 48 }).catch((e) => e);
  assert.instance(err, TensorshrinkError);
  assert.is(err.code, "E_BLOCK");
});

test.run();
