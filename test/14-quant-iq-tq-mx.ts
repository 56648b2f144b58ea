// iq4_nl, mxfp4, tq1_0, tq2_0: SIMD kernels == scalar _ref twins (tails, rows > 1, special inputs,
// with and without imatrix), hand-checked block bytes, the iq4_nl reference row path, and the
// plain-JS benchmark ports giving the same bytes. (The whole manifest is checked in 10-ggml-vectors.)
import { test } from "uvu";
import * as assert from "uvu/assert";
import { init } from "../src/index";
import { randn, rng, firstDiff, readF32, readU8, FIXTURES } from "./_util";
import path from "node:path";
import { existsSync } from "node:fs";
// @ts-ignore: plain-JS benchmark ports (no .d.ts)
import { quantize_iq4_nl as js_iq4_nl } from "../bench/js/iq4_nl.js";
// @ts-ignore
import { quantize_mxfp4 as js_mxfp4 } from "../bench/js/mxfp4.js";
// @ts-ignore
import { quantize_tq1_0 as js_tq1_0 } from "../bench/js/tq1_0.js";
// @ts-ignore
import { quantize_tq2_0 as js_tq2_0 } from "../bench/js/tq2_0.js";

const engine = await init();
const TYPES: [string, number, number][] = [["iq4_nl", 32, 18], ["mxfp4", 32, 17], ["tq1_0", 256, 54], ["tq2_0", 256, 66]];

function imatrix(n: number, seed: number): Float32Array {
  const r = rng(seed, 99);
  const w = new Float32Array(n);
  for (let i = 0; i < n; i++) { const u = r.uniform(); w[i] = 0.02 + 4 * u * u * u; if (r.next() % 16 === 0) w[i] *= 25; }
  return w;
}

function specials(n: number, seed: number): [string, Float32Array][] {
  const r = rng(seed, 5);
  return [
    ["gauss", randn(n, seed)],
    ["zeros", new Float32Array(n)],
    ["const", new Float32Array(n).fill(0.3)],
    ["negconst", new Float32Array(n).fill(-1.25)],
    ["one", Float32Array.from({ length: n }, (_, i) => (i === n >> 1 ? 1.5 : 0))],
    ["tiny", randn(n, seed + 1, 1e-30)],
    ["subnormal", randn(n, seed + 2, 1e-40)],
    ["huge", Float32Array.from(randn(n, seed + 3, 2e4), (v) => Math.max(-6e4, Math.min(6e4, v)))],
    ["ternary", Float32Array.from({ length: n }, () => ((r.next() % 3) - 1) * 0.7)],
    ["sparse", Float32Array.from({ length: n }, (_, i) => ((i * 7) % 64 < 32 ? 0 : r.gauss() * 0.1))],
  ];
}

test("typeInfo of iq4_nl / mxfp4 / tq1_0 / tq2_0", () => {
  assert.equal(engine.typeInfo("iq4_nl").bytesPerBlock, 18);
  assert.equal(engine.typeInfo("iq4_nl").blockSize, 32);
  assert.equal(engine.typeInfo("mxfp4").bytesPerBlock, 17);
  assert.equal(engine.typeInfo("mxfp4").ggmlTypeId, 39);
  assert.equal(engine.typeInfo("tq1_0").bytesPerBlock, 54);
  assert.equal(engine.typeInfo("tq1_0").blockSize, 256);
  assert.equal(engine.typeInfo("tq2_0").bytesPerBlock, 66);
  assert.equal(engine.typeInfo("tq2_0").bitsPerWeight, 2.0625);
});

test("SIMD == _ref: tails (1, 3, 31, 33, 255, 257 blocks), rows 1 and 3, specials, +-imatrix", () => {
  for (const [type, bs, bpb] of TYPES) {
    const blocksList = bs === 32 ? [1, 3, 31, 33, 255, 257] : [1, 3, 31, 33];
    for (const blocks of blocksList) {
      for (const rows of [1, 3]) {
        const cols = blocks * bs;
        const im = imatrix(cols, blocks);
        for (const [name, x] of specials(rows * cols, blocks * 10 + rows)) {
          for (const useIm of [false, true]) {
            const o = { type, rows, cols, imatrix: useIm ? im : undefined };
            const a = engine.quantize(x, o), b = engine.quantize(x, { ...o, kernel: "ref" });
            assert.is(a.length, rows * blocks * bpb);
            assert.is(firstDiff(a, b), -1, `${type} ${name} blocks=${blocks} rows=${rows} im=${useIm}`);
            const da = engine.dequantize(a, { type, rows, cols }), db = engine.dequantize(a, { type, rows, cols, kernel: "ref" });
            assert.is(firstDiff(da, db), -1, `dequant ${type} ${name} blocks=${blocks} rows=${rows}`);
          }
        }
      }
    }
  }
});

test("imatrix is ignored by mxfp4, tq1_0, tq2_0 and used by iq4_nl", () => {
  const x = randn(4 * 256, 11);
  const im = imatrix(256, 4);
  for (const [type] of TYPES) {
    const a = engine.quantize(x, { type, rows: 4, cols: 256 });
    const b = engine.quantize(x, { type, rows: 4, cols: 256, imatrix: im });
    if (type === "iq4_nl") assert.ok(firstDiff(a, b) >= 0, "iq4_nl should change with an imatrix");
    else assert.is(firstDiff(a, b), -1, type);
  }
});

test("mxfp4: hand-checked block (E8M0 exponent, ties to the smaller magnitude, log2f rounding)", () => {
  const x = new Float32Array(32);
  x[0] = 6; x[1] = 3; x[2] = 1.5; x[3] = -0.75; x[4] = 0; x[16] = -6; x[17] = 0.25; x[18] = 0.26;
  const q = engine.quantize(x, { type: "mxfp4", rows: 1, cols: 32 });
  // amax 6: floor(log2 6) = 2 -> e = 2 - 2 + 127 = 127, scale 2^(127-128) = 0.5 per table unit
  assert.is(q[0], 127);
  // 6 -> F=12 (code 7); -6 -> code 15; 3 -> F=6 (code 5); 0.25 -> F=0.5: tie 0 vs 1 -> code 0;
  // 1.5 -> F=3 (code 3); 0.26 -> code 1; -0.75 -> F=-1.5: tie -1/-2 -> code 9; 0 -> code 0
  assert.equal(Array.from(q.subarray(1, 6)), [7 | (15 << 4), 5 | (0 << 4), 3 | (1 << 4), 9, 0]);
  const d = engine.dequantize(q, { type: "mxfp4", rows: 1, cols: 32 });
  assert.equal(Array.from(d.subarray(0, 5)), [6, 3, 1.5, -0.5, 0]);
  // amax just below 8 (pow2edge): log2f rounds to 3.0, so e = 3 - 2 + 127 = 128 (one more than the
  // exact floor); a bit further below 8 it does not. Likewise just below 1/4 (log2 -> -2.0).
  const y = new Float32Array(32);
  const e0 = (v: number) => { y[5] = v; return engine.quantize(y, { type: "mxfp4", rows: 1, cols: 32 })[0]; };
  assert.is(e0(Math.fround(8 * (1 - 2 ** -24))), 128);
  assert.is(e0(Math.fround(8 * (1 - 2 ** -21))), 127);
  assert.is(e0(Math.fround(0.25 * (1 - 2 ** -24))), 123);
  assert.is(e0(0.25), 123);
  assert.is(e0(Math.fround(0.25 * (1 - 2 ** -20))), 122);
  // below 2 the float32 logarithm is fine enough: no rounding up
  assert.is(e0(Math.fround(2 * (1 - 2 ** -24))), 125);
  // all zero -> e = 0 and code 0
  const z = engine.quantize(new Float32Array(64), { type: "mxfp4", rows: 2, cols: 32 });
  assert.ok(z.every((b) => b === 0));
});

test("tq1_0 / tq2_0: hand-checked blocks", () => {
  const ones = new Float32Array(256).fill(1);
  const t1 = engine.quantize(ones, { type: "tq1_0", rows: 1, cols: 256 });
  // trits all 2: 22222b3 = 242 -> ceil(242 * 256 / 243) = 255; qh: 2222b3 * 3 = 240 -> 253; d = fp16(1)
  assert.ok(t1.subarray(0, 48).every((b) => b === 255));
  assert.equal(Array.from(t1.subarray(48, 54)), [253, 253, 253, 253, 0x00, 0x3c]);
  const zeros = engine.quantize(new Float32Array(256), { type: "tq1_0", rows: 1, cols: 256 });
  // trits all 1: 11111b3 = 121 -> 128; qh 1111b3 * 3 = 120 -> 127; d = 0
  assert.ok(zeros.subarray(0, 48).every((b) => b === 128));
  assert.equal(Array.from(zeros.subarray(48, 54)), [127, 127, 127, 127, 0, 0]);
  const x = new Float32Array(256);
  for (let i = 0; i < 256; i++) x[i] = [0.5, -0.5, 0, 0.2][i % 4];
  const t2 = engine.quantize(x, { type: "tq2_0", rows: 1, cols: 256 });
  // d = 0.5; 0.2 * 2 = 0.4 rounds to 0; codes 2, 0, 1, 1. Byte m holds elements m + 32n (n = 0..3).
  // element m + 32n has i % 4 == m % 4, so byte m repeats one code 4 times.
  const code = [2, 0, 1, 1];
  for (let m = 0; m < 64; m++) {
    const c = code[m % 4];
    assert.is(t2[m], c | (c << 2) | (c << 4) | (c << 6), `byte ${m}`);
  }
  assert.equal(Array.from(t2.subarray(64)), [0x00, 0x38]);
  const back = engine.dequantize(t2, { type: "tq2_0", rows: 1, cols: 256 });
  assert.equal(Array.from(back.subarray(0, 4)), [0.5, -0.5, 0, 0]);
  const back1 = engine.dequantize(engine.quantize(x, { type: "tq1_0", rows: 1, cols: 256 }), { type: "tq1_0", rows: 1, cols: 256 });
  assert.equal(Array.from(back1.subarray(0, 4)), [0.5, -0.5, 0, 0]);
});

test("iq4_nl: zero blocks get d = 0 and index 8; round-trip error is small", () => {
  const x = randn(4 * 64, 21);
  x.fill(0, 32, 64); // second block of row 0 all zero
  for (const kernel of ["simd", "ref"] as const) {
    const q = engine.quantize(x, { type: "iq4_nl", rows: 4, cols: 64, kernel });
    assert.equal(Array.from(q.subarray(18, 20)), [0, 0]);
    assert.ok(q.subarray(20, 36).every((b) => b === 0x88), kernel);
  }
  // an imatrix that is zero over a whole 32-block: all weights 0 -> d = 0 (llama.cpp#20460 guard)
  const im = new Float32Array(64).fill(1);
  im.fill(0, 0, 32);
  const y = randn(3 * 64, 24);
  for (const kernel of ["simd", "ref"] as const) {
    const q = engine.quantize(y, { type: "iq4_nl", rows: 3, cols: 64, imatrix: im, kernel });
    for (let r = 0; r < 3; r++) {
      assert.equal(Array.from(q.subarray(r * 36, r * 36 + 2)), [0, 0], `${kernel} row ${r}`);
      assert.ok(q.subarray(r * 36 + 2, r * 36 + 18).every((b) => b === 0x88));
      assert.ok(q[r * 36 + 18] !== 0 || q[r * 36 + 19] !== 0);
    }
  }
  const g = randn(16 * 256, 22);
  const q = engine.quantize(g, { type: "iq4_nl", rows: 16, cols: 256 });
  const e = engine.error(g, engine.dequantize(q, { type: "iq4_nl", rows: 16, cols: 256 }));
  assert.ok(e.sqnrDb > 15, `sqnr ${e.sqnrDb}`); // 4.5 bpw on gaussian data with outliers
  assert.ok(e.cosine > 0.98, `cosine ${e.cosine}`);
});

test("iq4_nl: quantize_row_iq4_nl_ref export reproduces llama.cpp's reference path", () => {
  const f = engine.exports.quantize_row_iq4_nl_ref;
  assert.type(f, "function");
  for (const name of ["iq4_nl_gaussian_1", "iq4_nl_heavytail_2", "iq4_nl_pow2edge_3", "iq4_nl_wide_1"]) {
    const base = path.join(FIXTURES, "ggml", name);
    if (!existsSync(base + ".input.f32")) continue;
    const x = readF32(base + ".input.f32"), want = readU8(base + ".quant.bin");
    const px = engine.alloc(x.length * 4), py = engine.alloc(want.length + 16);
    try {
      new Float32Array(engine.exports.memory.buffer, px, x.length).set(x);
      f(py, px, x.length);
      const got = new Uint8Array(engine.exports.memory.buffer, py, want.length).slice();
      assert.is(firstDiff(got, want), -1, name);
    } finally {
      engine.free(px); engine.free(py);
    }
  }
  // the reference path differs from the chunk path (no scale search) on ordinary data
  const x = randn(8 * 256, 23);
  const chunk = engine.quantize(x, { type: "iq4_nl", rows: 8, cols: 256 });
  const px = engine.alloc(x.length * 4), py = engine.alloc(chunk.length + 16);
  try {
    new Float32Array(engine.exports.memory.buffer, px, x.length).set(x);
    f(py, px, x.length);
    assert.ok(firstDiff(new Uint8Array(engine.exports.memory.buffer, py, chunk.length).slice(), chunk) >= 0);
  } finally {
    engine.free(px); engine.free(py);
  }
});

test("plain-JS benchmark ports give the same bytes as the wasm kernels", () => {
  const ports: Record<string, (x: Float32Array, r: number, c: number, im: Float32Array | null) => Uint8Array> = {
    iq4_nl: js_iq4_nl, mxfp4: js_mxfp4, tq1_0: js_tq1_0, tq2_0: js_tq2_0,
  };
  for (const [type, bs] of TYPES) {
    const cols = bs * (bs === 32 ? 17 : 3), rows = 3;
    const im = imatrix(cols, 5);
    for (const [name, x] of specials(rows * cols, 31)) {
      for (const useIm of [false, true]) {
        const want = engine.quantize(x, { type, rows, cols, imatrix: useIm ? im : undefined });
        const got = ports[type](x, rows, cols, useIm ? im : null);
        assert.is(firstDiff(got, want), -1, `${type} ${name} im=${useIm}`);
      }
    }
  }
});

test.run();
