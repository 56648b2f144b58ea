import { test } from "uvu";
import * as assert from "uvu/assert";
import { init, TensorshrinkError } from "../src/index";
import { randn } from "./_util";

test("worker pool: async output bytes identical to the single-threaded path", async () => {
  const e = await init({ threads: 2, chunkBytes: 256 * 1024 });
  const rows = 257, cols = 512;
  const x = randn(rows * cols, 11);
  for (const type of ["q8_0", "f16", "bf16"]) {
    const s = e.quantize(x, { type, rows, cols });
    const a = await e.quantizeAsync(x, { type, rows, cols });
    assert.equal(a, s, type);
    const d = await e.dequantizeAsync(a, { type, rows, cols });
    assert.equal(d, e.dequantize(s, { type, rows, cols }), type);
  }
  e.dispose();
});

test("worker pool: many concurrent jobs, errors carry row/column", async () => {
  const e = await init({ threads: 2 });
  const xs = Array.from({ length: 12 }, (_, i) => randn(64 * 256, 100 + i));
  const outs = await Promise.all(xs.map((x) => e.quantizeAsync(x, { type: "q8_0", rows: 64, cols: 256 })));
  outs.forEach((o, i) => assert.equal(o, e.quantize(xs[i], { type: "q8_0", rows: 64, cols: 256 })));
  const bad = randn(64 * 256, 1);
  bad[40 * 256 + 17] = NaN;
  const err = await e.quantizeAsync(bad, { type: "q8_0", rows: 64, cols: 256, name: "w" }).catch((x) => x);
  assert.instance(err, TensorshrinkError);
  assert.is(err.code, "E_NONFINITE");
  assert.match(err.message, /row 40, column 17/);
  e.dispose();
});

test("threads: 0 runs async work on the calling thread", async () => {
  const e = await init({ threads: 0 });
  const x = randn(4 * 64, 2);
  assert.equal(await e.quantizeAsync(x, { type: "q8_0", rows: 4, cols: 64 }), e.quantize(x, { type: "q8_0", rows: 4, cols: 64 }));
});

test.run();
