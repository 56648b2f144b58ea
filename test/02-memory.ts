import { test } from "uvu";
import * as assert from "uvu/assert";
import { init } from "../src/index";
import { randn } from "./_util";

test("10,000 quantize calls: memoryBytes does not grow after the first", async () => {
  const e = await init({ threads: 0 });
  const x = randn(32 * 256, 3);
  e.quantize(x, { type: "q8_0", rows: 32, cols: 256 });
  e.dequantize(e.quantize(x, { type: "q8_0", rows: 32, cols: 256 }), { type: "q8_0", rows: 32, cols: 256 });
  const after1 = e.memoryBytes;
  for (let i = 0; i < 10000; i++) {
    const q = e.quantize(x, { type: i % 3 === 0 ? "q8_0" : i % 3 === 1 ? "f16" : "bf16", rows: 32, cols: 256 });
    if (i % 100 === 0) e.dequantize(q, { type: i % 3 === 0 ? "q8_0" : i % 3 === 1 ? "f16" : "bf16", rows: 32, cols: 256 });
  }
  assert.is(e.memoryBytes, after1);
  assert.is(e.liveAllocations, 0);
});

test("large inputs stream through in chunks of whole rows: same bytes, bounded memory", async () => {
  const small = await init({ chunkBytes: 64 * 1024 });
  const big = await init();
  const rows = 300, cols = 1024; // 1.2 MB of f32
  const x = randn(rows * cols, 5);
  const a = small.quantize(x, { type: "q8_0", rows, cols });
  const b = big.quantize(x, { type: "q8_0", rows, cols });
  assert.equal(a, b);
  assert.ok(small.memoryBytes < 1024 * 1024, `memory ${small.memoryBytes}`);
  const d1 = small.dequantize(a, { type: "q8_0", rows, cols });
  assert.equal(d1, big.dequantize(b, { type: "q8_0", rows, cols }));
  assert.ok(small.memoryBytes < 1024 * 1024);
});

test("WasmTensor: zero-copy input, dispose and scope release memory", async () => {
  const e = await init();
  const x = randn(8 * 64, 9);
  const t = e.tensor(x);
  assert.equal(e.quantize(t, { type: "q8_0", rows: 8, cols: 64 }), e.quantize(x, { type: "q8_0", rows: 8, cols: 64 }));
  assert.is(e.liveAllocations, 1);
  t.dispose();
  t.dispose();
  assert.is(e.liveAllocations, 0);
  const r = e.scope(() => {
    const a = e.tensor(100), b = e.tensor(x);
    a.f32.fill(1);
    assert.is(e.liveAllocations, 2);
    return b.f32[3];
  });
  assert.is(r, x[3]);
  assert.is(e.liveAllocations, 0);
  await e.scope(async () => { e.tensor(10); await Promise.resolve(); });
  assert.is(e.liveAllocations, 0);
  const t2 = e.tensor(4);
  e.dispose();
  assert.throws(() => t2.f32);
});

test.run();
