// Async (worker pool) and streaming forms of the general quantizers: the same bytes and values as the
// sync functions, with the input cut into many pieces (small chunkBytes) or pushed in odd-sized chunks;
// per-tensor parameters refused by the streams; typed errors.
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  init, TensorshrinkError,
  quantizeIntN, dequantizeIntN, quantizeNF4, dequantizeNF4, quantizeFP8, dequantizeFP8, quantizeMXFP4, dequantizeMXFP4,
  quantizeIntNAsync, dequantizeIntNAsync, quantizeNF4Async, dequantizeNF4Async, quantizeFP8Async, dequantizeFP8Async, quantizeMXFP4Async, dequantizeMXFP4Async,
  createIntNQuantizer, createNF4Quantizer, createFP8Quantizer, createMXFP4Quantizer,
} from "../src/index";
import { randn, rng } from "./_util";

// 4 KiB pieces: a 96 x 320 matrix is cut into ~30 pieces spread over 2 workers
const pooled = await init({ threads: 2, chunkBytes: 4096 });
const single = await init({ threads: 0, chunkBytes: 4096 });
const ROWS = 96, COLS = 320;
const x = randn(ROWS * COLS, 11, 0.05);

const cat = (parts: Uint8Array[]) => { const o = new Uint8Array(parts.reduce((s, p) => s + p.length, 0)); let k = 0; for (const p of parts) { o.set(p, k); k += p.length; } return o; };
const catF = (parts: Float32Array[]) => { const o = new Float32Array(parts.reduce((s, p) => s + p.length, 0)); let k = 0; for (const p of parts) { o.set(p, k); k += p.length; } return o; };
/** Odd-sized chunks (1 .. 700 values), deterministic. */
function chunks(v: Float32Array): Float32Array[] {
  const r = rng(5, 1), out: Float32Array[] = [];
  for (let i = 0; i < v.length;) { const n = Math.min(v.length - i, 1 + (r.next() % 700)); out.push(v.subarray(i, i + n)); i += n; }
  return out;
}

test("the pool really runs the pieces (2 workers)", async () => {
  assert.is(await pooled.poolSize(), 2);
  assert.is(await single.poolSize(), 0);
});

for (const engine of [pooled, single]) {
  const tag = engine === pooled ? "pool" : "no pool";
  for (const [bits, group, symmetric] of [[4, 32, true], [3, "row", false], [8, "tensor", true], [2, "tensor", false], [5, 64, false]] as const) {
    test(`intN async (${tag}): int${bits} group ${group} ${symmetric ? "sym" : "asym"} = sync, both ways`, async () => {
      const opts = { rows: ROWS, cols: COLS, bits, group, symmetric };
      const a = await quantizeIntNAsync(engine, x, opts), s = quantizeIntN(single, x, opts);
      assert.equal(a, s);
      assert.equal(await dequantizeIntNAsync(engine, a), dequantizeIntN(single, s));
    });
  }
  test(`NF4 / FP8 / MXFP4 async (${tag}) = sync`, async () => {
    for (const bs of [64, 30]) {
      const v = x.subarray(0, 30000 + 7); // last block short, odd length
      const a = await quantizeNF4Async(engine, v, { blockSize: bs }), s = quantizeNF4(single, v, { blockSize: bs });
      assert.equal(a, s, `nf4 bs ${bs}`);
      assert.equal(await dequantizeNF4Async(engine, a), dequantizeNF4(single, s));
    }
    for (const format of ["e4m3", "e5m2"] as const) for (const scale of [undefined, 0.01, "auto"] as const) {
      const a = await quantizeFP8Async(engine, x, { format, scale }), s = quantizeFP8(single, x, { format, scale });
      assert.equal(a, s, `fp8 ${format} ${scale}`);
      assert.equal(await dequantizeFP8Async(engine, a), dequantizeFP8(single, s));
    }
    const a = await quantizeMXFP4Async(engine, x), s = quantizeMXFP4(single, x);
    assert.equal(a, s);
    assert.equal(await dequantizeMXFP4Async(engine, a), dequantizeMXFP4(single, s));
  });
}

test("async forms: typed errors before any work (NaN with row/column, bad shapes)", async () => {
  const bad = x.slice();
  bad[3 * COLS + 17] = NaN;
  const e1 = await quantizeIntNAsync(pooled, bad, { rows: ROWS, cols: COLS, bits: 4 }).catch((e) => e);
  assert.instance(e1, TensorshrinkError);
  assert.is(e1.code, "E_NONFINITE");
  assert.match(e1.message, /row 3, column 17/);
  const e2 = await quantizeIntNAsync(pooled, x, { rows: ROWS, cols: COLS, bits: 4, group: 33 }).catch((e) => e);
  assert.is(e2.code, "E_BLOCK");
  const e3 = await quantizeMXFP4Async(pooled, x.subarray(0, 40)).catch((e) => e);
  assert.is(e3.code, "E_BLOCK");
  const e4 = await dequantizeNF4Async(pooled, { codes: new Uint8Array(3), absmax: new Float32Array(1), length: 64, blockSize: 64 }).catch((e) => e);
  assert.is(e4.code, "E_SHAPE");
});

test("streams: odd-sized chunks concatenate to the sync result", () => {
  const q = createIntNQuantizer(single, { cols: COLS, bits: 4, group: 32, symmetric: false });
  const parts = [...chunks(x).map((c) => q.push(c)), q.end()];
  const s = quantizeIntN(single, x, { rows: ROWS, cols: COLS, bits: 4, group: 32, symmetric: false });
  assert.is(parts.reduce((n, p) => n + p.rows, 0), ROWS);
  assert.equal(cat(parts.map((p) => p.codes)), s.codes);
  assert.equal(catF(parts.map((p) => p.scales)), s.scales);
  assert.equal(cat(parts.map((p) => p.zeros!)), s.zeros);
  assert.is(q.valuesIn, x.length);

  const v = x.subarray(0, 30001);
  const n = createNF4Quantizer(single, { blockSize: 64 });
  const np = [...chunks(v).map((c) => n.push(c)), n.end()];
  const ns = quantizeNF4(single, v, { blockSize: 64 });
  assert.equal(cat(np.map((p) => p.codes)), ns.codes);
  assert.equal(catF(np.map((p) => p.absmax)), ns.absmax);

  const f = createFP8Quantizer(single, { format: "e5m2", scale: 0.5 });
  const fp = [...chunks(x).map((c) => f.push(c)), f.end()];
  assert.equal(cat(fp.map((p) => p.codes)), quantizeFP8(single, x, { format: "e5m2", scale: 0.5 }).codes);
  assert.ok(fp.every((p) => p.scale === 0.5 && p.format === "e5m2"));

  const m = createMXFP4Quantizer(single);
  const mp = [...chunks(x).map((c) => m.push(c)), m.end()];
  const ms = quantizeMXFP4(single, x);
  assert.equal(cat(mp.map((p) => p.codes)), ms.codes);
  assert.equal(cat(mp.map((p) => p.scales)), ms.scales);
});

test("streams: incomplete rows / blocks and per-tensor parameters are typed errors", () => {
  const q = createIntNQuantizer(single, { cols: 8, bits: 4 });
  q.push(new Float32Array(13));
  const e1 = (() => { try { q.end(); } catch (e) { return e as TensorshrinkError; } })()!;
  assert.is(e1.code, "E_SHAPE");
  assert.match(e1.message, /inside a row: 5 of 8/);
  const m = createMXFP4Quantizer(single);
  m.push(new Float32Array(40));
  assert.throws(() => m.end(), (e: any) => e.code === "E_BLOCK");
  assert.throws(() => createIntNQuantizer(single, { cols: 8, bits: 4, group: "tensor" }), (e: any) => e.code === "E_UNSUPPORTED");
  assert.throws(() => createFP8Quantizer(single, { scale: "auto" as any }), (e: any) => e.code === "E_UNSUPPORTED");
  assert.throws(() => createIntNQuantizer(single, { cols: 8, bits: 9 }), (e: any) => e.code === "E_RANGE");
  assert.throws(() => createNF4Quantizer(single, { blockSize: 3 }), (e: any) => e.code === "E_RANGE");
  assert.throws(() => createNF4Quantizer(single).push([1, 2] as any), (e: any) => e.code === "E_ARG_TYPE");
});

test.after(() => { pooled.dispose(); single.dispose(); });
test.run();
