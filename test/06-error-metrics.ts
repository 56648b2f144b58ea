// engine.error: MSE, SQNR, max abs error, cosine, computed in wasm (f64 sums), chunked for large inputs.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { init, TensorshrinkError } from "../src/index";
import { randn } from "./_util";

const engine = await init({ chunkBytes: 4096 });

test("hand-checked values", () => {
  const a = Float32Array.from([1, 2, 3, 4]), b = Float32Array.from([1, 2, 3, 5]);
  const e = engine.error(a, b);
  assert.is(e.mse, 0.25);
  assert.is(e.maxAbs, 1);
  assert.ok(Math.abs(e.sqnrDb - 10 * Math.log10(30 / 1)) < 1e-12);
  assert.ok(Math.abs(e.cosine - 34 / Math.sqrt(30 * 39)) < 1e-12);
  const same = engine.error(a, a);
  assert.is(same.mse, 0);
  assert.is(same.sqnrDb, Infinity);
  assert.ok(Math.abs(same.cosine - 1) < 1e-15);
  assert.is(engine.error(new Float32Array(3), new Float32Array(3)).cosine, 1);
});

test("large input (many chunks) matches a float64 JS computation", () => {
  const a = randn(100003, 4), b = a.map((v, i) => v + (i % 7 === 0 ? 0.01 : -0.001));
  let se = 0, sa = 0, mx = 0, dot = 0, nb = 0;
  for (let i = 0; i < a.length; i++) { const d = a[i] - b[i]; se += d * d; sa += a[i] * a[i]; nb += b[i] * b[i]; dot += a[i] * b[i]; mx = Math.max(mx, Math.abs(d)); }
  const e = engine.error(a, b);
  assert.ok(Math.abs(e.mse - se / a.length) / (se / a.length) < 1e-9);
  assert.ok(Math.abs(e.sqnrDb - 10 * Math.log10(sa / se)) < 1e-9);
  assert.is(e.maxAbs, mx);
  assert.ok(Math.abs(e.cosine - dot / Math.sqrt(sa * nb)) < 1e-12);
  assert.is(engine.liveAllocations, 0);
});

test("q8_0 round trip SQNR is about 40 dB on gaussian weights; bad input is typed", () => {
  const x = randn(64 * 256, 9);
  const e = engine.error(x, engine.dequantize(engine.quantize(x, { type: "q8_0", rows: 64, cols: 256 }), { type: "q8_0", rows: 64, cols: 256 }));
  assert.ok(e.sqnrDb > 35 && e.sqnrDb < 50, String(e.sqnrDb));
  assert.throws(() => engine.error(x, x.subarray(1)), (err: any) => err instanceof TensorshrinkError && err.code === "E_SHAPE");
  assert.throws(() => engine.error(x, [1] as any), (err: any) => err instanceof TensorshrinkError && err.code === "E_ARG_TYPE");
});

test.run();
