// SIMD kernels against their scalar _ref twins (tails, more than one SIMD iteration), plus
// f16/bf16 special values.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { init } from "../src/index";
import { randn, rng, firstDiff } from "./_util";

const engine = await init();

function inputs(n: number): [string, Float32Array][] {
  const r = rng(n, 3);
  const raw = new Float32Array(n);
  for (let i = 0; i < n; i++) raw[i] = new Float32Array(new Uint32Array([r.next()]).buffer)[0]; // every bit pattern
  return [
    ["gauss", randn(n, n)],
    ["zeros", new Float32Array(n)],
    ["const", new Float32Array(n).fill(0.3)],
    ["one", Float32Array.from({ length: n }, (_, i) => (i === 0 ? 1 : 0))],
    ["tiny", randn(n, 2, 1e-30)],
    ["huge", randn(n, 3, 6e4 / 3)],
    ["raw-bits", raw],
  ];
}

test("q8_0 SIMD == _ref (tails: 1, 3, 31, 33, 255, 257 blocks; rows > 1)", () => {
  for (const blocks of [1, 3, 31, 33, 255, 257]) {
    for (const [name, x0] of inputs(blocks * 32 * 2)) {
      if (name === "raw-bits") continue; // NaN/Inf refused by q8_0
      const x = name === "huge" ? x0.map((v) => Math.max(-6e4, Math.min(6e4, v))) : x0;
      const o = { type: "q8_0", rows: 2, cols: blocks * 32 };
      const a = engine.quantize(x, o), b = engine.quantize(x, { ...o, kernel: "ref" });
      assert.is(firstDiff(a, b), -1, `${name} ${blocks}`);
      assert.is(firstDiff(engine.dequantize(a, o), engine.dequantize(a, { ...o, kernel: "ref" })), -1, `deq ${name} ${blocks}`);
    }
  }
});

test("f16/bf16 SIMD == _ref on every bit pattern class, odd lengths", () => {
  for (const n of [1, 3, 7, 8, 9, 31, 33, 255, 257, 1001]) {
    for (const [name, x] of inputs(n)) {
      for (const type of ["f16", "bf16"]) {
        const o = { type, rows: 1, cols: n, allowNonFinite: true };
        const a = engine.quantize(x, o), b = engine.quantize(x, { ...o, kernel: "ref" });
        assert.is(firstDiff(a, b), -1, `${type} ${name} ${n}`);
        assert.is(firstDiff(engine.dequantize(a, o), engine.dequantize(a, { ...o, kernel: "ref" })), -1, `deq ${type} ${name} ${n}`);
      }
    }
  }
});

test("f16: round to nearest even, overflow to inf, NaN kept; bf16 likewise", () => {
  const bits = (u: number) => new Float32Array(new Uint32Array([u]).buffer)[0];
  const x = Float32Array.from([1, 65504, 65520, 65519.996, bits(0x7fc00000), -Infinity, bits(0x33000000), bits(0x33000001), 1 + 2 ** -11, 1 + 3 * 2 ** -11]);
  const h = new Uint16Array(engine.quantize(x, { type: "f16", rows: 1, cols: x.length, allowNonFinite: true }).buffer);
  assert.equal(Array.from(h), [0x3c00, 0x7bff, 0x7c00, 0x7bff, 0x7e00, 0xfc00, 0x0000, 0x0001, 0x3c00, 0x3c02]);
  const y = Float32Array.from([1, bits(0x3f808000), bits(0x3f818000), bits(0x7f7fffff), bits(0x7fa00000), -0]);
  const b = new Uint16Array(engine.quantize(y, { type: "bf16", rows: 1, cols: y.length, allowNonFinite: true }).buffer);
  assert.equal(Array.from(b), [0x3f80, 0x3f80, 0x3f82, 0x7f80, 0x7fe0, 0x8000]);
  const back = engine.dequantize(new Uint8Array(new Uint16Array([0x7c00, 0xfc00, 0x7e00, 0x0001, 0x8000]).buffer), { type: "f16", rows: 1, cols: 5 });
  assert.equal(Array.from(new Uint32Array(back.buffer)), [0x7f800000, 0xff800000, 0x7fc00000, 0x33800000, 0x80000000]);
});

// The 8-wide f16/bf16 loops convert without NaN handling and convert the whole 8-wide part again
// when a NaN was among its values: a NaN (quiet, signalling, either sign, any payload) or an Inf
// planted at the start, middle, end of the 8-wide part or in the scalar tail of rows that are
// otherwise huge / tiny / subnormal / rounding-tie values must give the _ref bytes.
test("f16/bf16 SIMD == _ref with one NaN/Inf planted anywhere in a long row (the exact redo)", () => {
  const bits = (u: number) => new Float32Array(new Uint32Array([u]).buffer)[0];
  const specials = [0x7fc00000, 0xffc00000, 0x7f800001, 0xff800001, 0x7fbfffff, 0x7fffffff, 0xffffffff, 0x7f800000, 0xff800000].map(bits);
  const bases: [string, (i: number) => number][] = [
    ["gauss", (i) => Math.sin(i * 12.9898) * 3],
    ["huge", (i) => (i & 1 ? -1 : 1) * 3.4e38 * (0.5 + (i % 7) / 14)],
    ["f16-overflow", (i) => 65520 + i],
    ["tiny", (i) => bits(0x00000001 + i)],
    ["ties", (i) => bits(0x3f808000 + ((i & 3) << 16))], // bf16 round-to-even ties
    ["f16-ties", (i) => bits(0x3f801000 + ((i & 3) << 13))],
    ["zeros", () => (0)],
  ];
  for (const n of [8, 16, 1001]) {
    for (const [name, f] of bases) {
      const base = Float32Array.from({ length: n }, (_, i) => f(i));
      for (const at of [0, 7, n >> 1, (n & ~7) - 1, n - 1]) {
        for (const sp of specials) {
          const x = base.slice();
          x[at] = sp;
          for (const type of ["f16", "bf16"]) {
            const o = { type, rows: 1, cols: n, allowNonFinite: true };
            const a = engine.quantize(x, o), b = engine.quantize(x, { ...o, kernel: "ref" });
            assert.is(firstDiff(a, b), -1, `${type} ${name} n=${n} at=${at} ${new Uint32Array(new Float32Array([sp]).buffer)[0].toString(16)}`);
          }
        }
      }
      for (const type of ["f16", "bf16"]) {
        const o = { type, rows: 1, cols: n };
        assert.is(firstDiff(engine.quantize(base, o), engine.quantize(base, { ...o, kernel: "ref" })), -1, `${type} ${name} n=${n} no special`);
      }
    }
  }
});

test.run();
