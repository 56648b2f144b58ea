// Asymmetric (scale + min) ggml quantizers: q4_1, q5_1, q2_K, q4_K, q5_K.
// SIMD kernels against their scalar _ref twins (tails, rows > 1, special inputs, with and without
// imatrix), block sizes, reconstruction sanity, and the plain-JS benchmark ports against the wasm.
// (The llama.cpp reference vectors themselves are checked by 10-ggml-vectors.ts.)
import { test } from "uvu";
import * as assert from "uvu/assert";
import { init } from "../src/index";
import { rng, randn, firstDiff } from "./_util";
// @ts-ignore: plain-JS benchmark ports (no types)
import { quantize_q4_1 as js_q4_1 } from "../bench/js/q4_1.js";
// @ts-ignore
import { quantize_q5_1 as js_q5_1 } from "../bench/js/q5_1.js";
// @ts-ignore
import { quantize_q2_K as js_q2_K } from "../bench/js/q2_K.js";
// @ts-ignore
import { quantize_q4_K as js_q4_K } from "../bench/js/q4_K.js";
// @ts-ignore
import { quantize_q5_K as js_q5_K } from "../bench/js/q5_K.js";

const engine = await init();

type T = "q4_1" | "q5_1" | "q2_K" | "q4_K" | "q5_K";
const TYPES: { type: T; block: number; bytes: number; bpw: number; id: number }[] = [
  { type: "q4_1", block: 32, bytes: 20, bpw: 5, id: 3 },
  { type: "q5_1", block: 32, bytes: 24, bpw: 6, id: 7 },
  { type: "q2_K", block: 256, bytes: 84, bpw: 2.625, id: 10 },
  { type: "q4_K", block: 256, bytes: 144, bpw: 4.5, id: 12 },
  { type: "q5_K", block: 256, bytes: 176, bpw: 5.5, id: 13 },
];

/** Importance vector like the vectors' (positive, a few 25x outliers). */
function imatrixFor(n: number, seed: number): Float32Array {
  const r = rng(seed, 99);
  const w = new Float32Array(n);
  for (let j = 0; j < n; j++) {
    const u = r.uniform(), k = r.next() % 16;
    let v = 0.02 + 4 * u * u * u;
    if (k === 0) v *= 25;
    w[j] = v;
  }
  return w;
}

function specials(n: number, seed: number): [string, Float32Array][] {
  const r = rng(seed, 5);
  const one = new Float32Array(n);
  one[Math.floor(n / 3)] = 1.25;
  const negzero = Float32Array.from({ length: n }, (_, i) => (i % 5 === 0 ? 0 : i % 7 === 3 ? 0.5 : -0));
  const blocks = Float32Array.from({ length: n }, (_, i) => ((i >> 5) % 3 === 0 ? 0 : ((i >> 5) % 3 === 1 ? 0.7 : r.gauss() * 0.05)));
  const pos = Float32Array.from({ length: n }, () => 1 + Math.abs(r.gauss()));
  const subnormal = Float32Array.from({ length: n }, () => Math.round(r.gauss() * 20) * 2 ** -149);
  return [
    ["gauss", randn(n, seed)],
    ["one-value", one],
    ["zeros", new Float32Array(n)],
    ["const", new Float32Array(n).fill(0.3)],
    ["const-neg", new Float32Array(n).fill(-2.5)],
    ["tiny", randn(n, seed + 1, 1e-30)],
    ["huge", randn(n, seed + 2, 6e4 / 3).map((v) => Math.max(-6e4, Math.min(6e4, v)))],
    ["signed-zeros", negzero],
    ["zero/const/gauss blocks", blocks],
    ["all-positive", pos],
    ["subnormal", subnormal],
  ];
}

function sameBothWays(type: T, x: Float32Array, rows: number, cols: number, imatrix: Float32Array | null, what: string) {
  const o = { type, rows, cols, imatrix };
  const a = engine.quantize(x, o), b = engine.quantize(x, { ...o, kernel: "ref" as const });
  assert.is(firstDiff(a, b), -1, `${type} quant SIMD != _ref: ${what}`);
  const d = { type, rows, cols };
  const da = engine.dequantize(a, d), db = engine.dequantize(a, { ...d, kernel: "ref" as const });
  assert.is(firstDiff(da, db), -1, `${type} dequant SIMD != _ref: ${what}`);
  return { q: a, dq: da };
}

test("block sizes and type info (ggml layout)", () => {
  for (const t of TYPES) {
    const info = engine.typeInfo(t.type);
    assert.is(info.blockSize, t.block, t.type);
    assert.is(info.bytesPerBlock, t.bytes, t.type);
    assert.is(info.bitsPerWeight, t.bpw, t.type);
    assert.is(info.ggmlTypeId, t.id, t.type);
    const q = engine.quantize(randn(t.block * 6, 3), { type: t.type, rows: 2, cols: t.block * 3 });
    assert.is(q.length, 6 * t.bytes, `${t.type} output length`);
  }
});

test("SIMD == _ref on random data with tails (32-blocks: 1, 3, 31, 33, 255, 257; k-quants: 1, 3, 5, 31, 33), rows > 1, +- imatrix", () => {
  for (const t of TYPES) {
    const counts = t.block === 32 ? [1, 3, 31, 33, 255, 257] : [1, 3, 5, 31, 33];
    for (const nb of counts) {
      const cols = nb * t.block, rows = nb > 100 ? 2 : 3;
      const x = randn(rows * cols, nb * 7 + 1);
      sameBothWays(t.type, x, rows, cols, null, `${nb} blocks`);
      sameBothWays(t.type, x, rows, cols, imatrixFor(cols, nb), `${nb} blocks, imatrix`);
    }
  }
});

test("SIMD == _ref on special inputs (one value, zeros, constants, tiny 1e-30, huge 6e4, signed zeros, subnormals), +- imatrix", () => {
  for (const t of TYPES) {
    for (const nb of t.block === 32 ? [1, 5, 33] : [1, 3]) {
      const cols = nb * t.block, rows = 2;
      for (const [name, x] of specials(rows * cols, nb + 11)) {
        sameBothWays(t.type, x, rows, cols, null, `${name}, ${nb} blocks`);
        sameBothWays(t.type, x, rows, cols, imatrixFor(cols, 3), `${name}, ${nb} blocks, imatrix`);
        const ones = new Float32Array(cols).fill(1);
        sameBothWays(t.type, x, rows, cols, ones, `${name}, ${nb} blocks, imatrix of ones`);
      }
    }
  }
});

test("special inputs reconstruct sensibly (zeros -> zeros, constants nearly exact, error small vs range)", () => {
  for (const t of TYPES) {
    const cols = t.block === 32 ? 128 : 512, rows = 2;
    for (const im of [null, imatrixFor(cols, 5)]) {
      const o = { type: t.type, rows, cols, imatrix: im };
      const z = engine.dequantize(engine.quantize(new Float32Array(rows * cols), o), o);
      assert.ok(z.every((v) => v === 0), `${t.type} zeros`);
      const c = engine.dequantize(engine.quantize(new Float32Array(rows * cols).fill(0.3), o), o);
      assert.ok(c.every((v) => Math.abs(v - 0.3) < 0.3 * 0.01), `${t.type} const 0.3 -> ${c[0]}`);
      const x = randn(rows * cols, 9);
      const y = engine.dequantize(engine.quantize(x, o), o);
      let se = 0, sx = 0;
      for (let i = 0; i < x.length; i++) { se += (x[i] - y[i]) ** 2; sx += x[i] ** 2; }
      const rel = Math.sqrt(se / sx);
      const limit = t.type === "q2_K" ? 0.6 : t.type === "q4_1" || t.type === "q4_K" ? 0.2 : 0.1;
      assert.ok(rel < limit, `${t.type} relative RMS error ${rel.toFixed(4)} (imatrix ${!!im})`);
      const h = randn(rows * cols, 10, 6e4 / 3).map((v) => Math.max(-6e4, Math.min(6e4, v)));
      const hy = engine.dequantize(engine.quantize(h, o), o);
      assert.ok(hy.every((v) => Number.isFinite(v)), `${t.type} huge stays finite`);
    }
  }
});

test("q4_1/q5_1 reference quantizer keeps the first of equal extremes (signed zero in m and d)", () => {
  // all elements -0 except one +0 later: ggml's sequential min keeps -0 (first), so m = 0x8000.
  for (const type of ["q4_1", "q5_1"] as const) {
    const x = new Float32Array(32).fill(-0);
    x[9] = 0;
    const q = engine.quantize(x, { type, rows: 1, cols: 32 });
    const qr = engine.quantize(x, { type, rows: 1, cols: 32, kernel: "ref" });
    assert.is(firstDiff(q, qr), -1, type);
    assert.is(q[3], 0x80, `${type} m keeps -0`);
    const y = new Float32Array(32);
    y[0] = 0; y[1] = -0;
    const q2 = engine.quantize(y, { type, rows: 1, cols: 32 });
    assert.is(q2[3], 0x00, `${type} m keeps +0`);
  }
});

test("plain-JS benchmark ports write the same bytes as the wasm kernels", () => {
  const ports: Record<T, Function> = { q4_1: js_q4_1, q5_1: js_q5_1, q2_K: js_q2_K, q4_K: js_q4_K, q5_K: js_q5_K };
  for (const t of TYPES) {
    const cols = t.block === 32 ? 32 * 9 : 512, rows = 2;
    const x = randn(rows * cols, 21);
    for (const im of [null, imatrixFor(cols, 7)]) {
      const a = engine.quantize(x, { type: t.type, rows, cols, imatrix: im });
      const b = ports[t.type](x, rows, cols, im) as Uint8Array;
      assert.is(firstDiff(a, b), -1, `${t.type} JS port (imatrix ${!!im})`);
    }
  }
});

test.run();
