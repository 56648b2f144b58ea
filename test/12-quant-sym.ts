// The symmetric ggml quantizers q4_0, q5_0, q3_K, q6_K (reference and imatrix paths):
// SIMD kernels == their scalar _ref twins bit for bit (tails, rows > 1, special inputs), and a few
// known answers from llama.cpp's C code for inputs the shared vectors do not cover (fp32 denormals,
// magnitudes spread over 13 decades, imatrix with zero columns, rows of 31/33 blocks).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createHash } from "node:crypto";
import { init } from "../src/index";
import { randn, rng, firstDiff } from "./_util";

const engine = await init();
const TYPES = ["q4_0", "q5_0", "q3_K", "q6_K"] as const;

/** Importance vector like the vectors' (positive, heavy-tailed); `zeros`: about 30% exact zeros. */
function imat(n: number, seed: number, zeros = false): Float32Array {
  const r = rng(seed, 99);
  const w = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = r.uniform(), k = r.next() % 16;
    let v = 0.02 + 4 * u * u * u;
    if (k === 0) v *= 25;
    if (zeros && k < 5) v = 0;
    w[i] = v;
  }
  return w;
}

/** Gaussian values whose magnitude changes by 10x every 16 values (1e-6 .. 1e2). */
function mixed(n: number, seed: number): Float32Array {
  const x = randn(n, seed, 1);
  for (let i = 0; i < n; i++) x[i] *= 10 ** (((i >> 4) % 9) - 6);
  return x;
}

function specials(n: number): [string, Float32Array][] {
  const one = new Float32Array(n);
  one[Math.min(n - 1, 37)] = -0.75;
  const pm = Float32Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 6e4 : i % 3 === 1 ? -6e4 : 0));
  return [
    ["gauss", randn(n, n + 1)],
    ["mixed", mixed(n, 3)],
    ["zeros", new Float32Array(n)],
    ["negzeros", new Float32Array(n).fill(-0)],
    ["one", one],
    ["const", new Float32Array(n).fill(0.3)],
    ["negconst", new Float32Array(n).fill(-1.5)],
    ["tiny", randn(n, 2, 1e-30)],
    ["denormal", randn(n, 4, 1e-39)],
    ["huge", randn(n, 5, 6e4 / 3).map((v) => Math.max(-6e4, Math.min(6e4, v)))],
    ["pm6e4", pm],
    ["ties", Float32Array.from({ length: n }, (_, i) => ((i * 7919) % 17 - 8) * 0.25)],
  ];
}

function same(type: string, x: Float32Array, rows: number, cols: number, imatrix: Float32Array | undefined, what: string) {
  const o = { type, rows, cols, imatrix };
  const a = engine.quantize(x, o), b = engine.quantize(x, { ...o, kernel: "ref" });
  assert.is(a.length, (rows * cols / engine.typeInfo(type).blockSize) * engine.typeInfo(type).bytesPerBlock);
  assert.is(firstDiff(a, b), -1, `quant ${what}`);
  const da = engine.dequantize(a, o), db = engine.dequantize(a, { ...o, kernel: "ref" });
  assert.is(firstDiff(da, db), -1, `dequant ${what}`);
}

test("block sizes (ggml)", () => {
  const want: Record<string, [number, number]> = { q4_0: [32, 18], q5_0: [32, 22], q3_K: [256, 110], q6_K: [256, 210] };
  for (const t of TYPES) {
    const i = engine.typeInfo(t);
    assert.equal([i.blockSize, i.bytesPerBlock], want[t], t);
  }
});

for (const type of TYPES) {
  test(`${type}: SIMD == _ref on random data with tails (1, 3, 31, 33, 255, 257 blocks; 2 rows), with and without imatrix`, () => {
    const bs = engine.typeInfo(type).blockSize;
    for (const blocks of [1, 3, 31, 33, 255, 257]) {
      const cols = blocks * bs;
      const x = randn(2 * cols, blocks);
      same(type, x, 2, cols, undefined, `${blocks} blocks`);
      same(type, x, 2, cols, imat(cols, blocks), `${blocks} blocks imatrix`);
      same(type, x, 2, cols, imat(cols, blocks + 1, true), `${blocks} blocks imatrix with zeros`);
    }
    // more rows than one processing chunk of a few blocks, odd row count
    const cols = 5 * bs;
    same(type, randn(7 * cols, 9), 7, cols, undefined, "7 rows");
    same(type, randn(7 * cols, 9), 7, cols, imat(cols, 9), "7 rows imatrix");
  });

  test(`${type}: SIMD == _ref on special inputs (one value, zeros, constants, 1e-30, denormals, +-6e4, ties)`, () => {
    const bs = engine.typeInfo(type).blockSize;
    for (const blocks of [1, 5]) {
      const cols = blocks * bs;
      for (const [name, x] of specials(3 * cols)) {
        same(type, x, 3, cols, undefined, `${name} ${blocks}`);
        same(type, x, 3, cols, imat(cols, 3), `${name} ${blocks} imatrix`);
        same(type, x, 3, cols, new Float32Array(cols).fill(1e-30), `${name} ${blocks} tiny imatrix`);
      }
    }
  });
}

test("zero blocks: q4_0/q5_0 reference path stores d = -0 and code 8/16; q6_K stores an all-zero block", () => {
  const z = new Float32Array(32);
  assert.equal(Array.from(engine.quantize(z, { type: "q4_0", rows: 1, cols: 32 })), [0, 0x80, ...new Array(16).fill(0x88)]);
  assert.equal(Array.from(engine.quantize(z, { type: "q5_0", rows: 1, cols: 32 })), [0, 0x80, 0xff, 0xff, 0xff, 0xff, ...new Array(16).fill(0)]);
  assert.equal(Array.from(engine.quantize(new Float32Array(256), { type: "q6_K", rows: 1, cols: 256 })), new Array(210).fill(0));
  // imatrix path: make_qx_quants gives codes 0 and scale 0 for an all-zero block
  assert.equal(Array.from(engine.quantize(z, { type: "q4_0", rows: 1, cols: 32, imatrix: new Float32Array(32).fill(1) })), new Array(18).fill(0));
});

test("q4_0: a hand-checked block (d from the signed absmax / -8, offset-truncate rounding)", () => {
  const x = Float32Array.from({ length: 32 }, (_, j) => j - 16); // absmax 16 at j = 0 (value -16) -> d = 2
  const q = engine.quantize(x, { type: "q4_0", rows: 1, cols: 32 });
  assert.equal([q[0], q[1]], [0x00, 0x40]); // fp16(2.0)
  // code = min(15, trunc((j - 16) / 2 + 8.5)); element j in the low nibble of byte j, j + 16 in the high one
  for (let j = 0; j < 16; j++) {
    const lo = Math.min(15, Math.trunc((j - 16) / 2 + 8.5)), hi = Math.min(15, Math.trunc(j / 2 + 8.5));
    assert.is(q[2 + j], lo | (hi << 4), `byte ${j}`);
  }
  const y = engine.dequantize(q, { type: "q4_0", rows: 1, cols: 32 });
  assert.equal(Array.from(y.subarray(0, 4)), [-16, -14, -14, -12]);
});

// sha256 of what llama.cpp's C quantizers (x86-64, no FMA) write for these inputs.
const GOLDEN: [string, string, number, number, () => Float32Array, (() => Float32Array) | undefined, string][] = [
  ["q4_0", "denormal", 2, 33 * 32, () => randn(2 * 33 * 32, 11, 1e-39), undefined, "c2c908625798bff584578c2d7763bb360e0ffe39500114a7242edaff4402f5e7"],
  ["q4_0", "denormal-imat", 2, 33 * 32, () => randn(2 * 33 * 32, 11, 1e-39), () => imat(33 * 32, 5), "c17a21a56099ec806ee334dd5c0cca7e225e90b3bd861c705dc448fc8ac518b9"],
  ["q4_0", "mixed-imat0", 3, 31 * 32, () => mixed(3 * 31 * 32, 12), () => imat(31 * 32, 6, true), "7145f2c258d67f1ec52f8a21192f3ae7b2d5d3ecfcad20128b3972cc9dc5e2e3"],
  ["q4_0", "gauss-imat-5rows", 5, 9 * 32, () => randn(5 * 9 * 32, 15), () => imat(9 * 32, 8), "fb354ed22a3cb3d410f49b2fedd06ade9f84b6a76b2b2d671993258a8cb18109"],
  ["q5_0", "denormal", 2, 33 * 32, () => randn(2 * 33 * 32, 11, 1e-39), undefined, "964aada05a9946f5211ab0e205333a7ac13c50f29b327d9bdde25fcb8d0e2c9c"],
  ["q5_0", "denormal-imat", 2, 33 * 32, () => randn(2 * 33 * 32, 11, 1e-39), () => imat(33 * 32, 5), "6013c9170030c639b5465ea1e72f12c4e045fdb481d07f964c37e5fe44ecb355"],
  ["q5_0", "mixed-imat0", 3, 31 * 32, () => mixed(3 * 31 * 32, 12), () => imat(31 * 32, 6, true), "e5dd39e89d65bcdb51601252a86a3bb33b341ff2cb7a40116cd7b8c63c54faef"],
  ["q5_0", "gauss-imat-5rows", 5, 9 * 32, () => randn(5 * 9 * 32, 15), () => imat(9 * 32, 8), "d07d41cc560e8d8f0bfeb8de5320103555c1fe1cb71d38236b91f3f2651c1ad9"],
  ["q3_K", "mixed", 2, 3 * 256, () => mixed(2 * 3 * 256, 13), undefined, "4a05df04441bc7677da78473c6026c1c0770dd63bf19414cd6e1621462e4668e"],
  ["q3_K", "mixed-imat0", 2, 3 * 256, () => mixed(2 * 3 * 256, 13), () => imat(3 * 256, 7, true), "ca059a7e664d928c97c993440698b963d16fbbebe324e9c6136315fbd9e49fc7"],
  ["q3_K", "denormal", 1, 2 * 256, () => randn(2 * 256, 14, 1e-39), undefined, "ac9ab7fef49ac432f1e4b9b43d3df89ca06dd53c244676fa5d47a8725dcc5eb9"],
  ["q3_K", "mixed-imat-5sb", 2, 5 * 256, () => mixed(2 * 5 * 256, 16), () => imat(5 * 256, 9), "e8ab2df4ee5a8a17c656bea2f5c87fea8442895b45bfe49c3aa9f872673eeecd"],
  ["q6_K", "mixed", 2, 3 * 256, () => mixed(2 * 3 * 256, 13), undefined, "8236d08ebe55bdecfc6269110a3b565aa4f46063096302d298914030089da4c8"],
  ["q6_K", "mixed-imat0", 2, 3 * 256, () => mixed(2 * 3 * 256, 13), () => imat(3 * 256, 7, true), "68f9001c479b66af919a7d0360eb232edc53a77b01d483f030a854b6af3b883d"],
  ["q6_K", "denormal", 1, 2 * 256, () => randn(2 * 256, 14, 1e-39), undefined, "de1da8f3791deb5ea5a11c9a67179b1e240aa14979524a3cc28add0e3612c0fe"],
  ["q6_K", "mixed-imat-5sb", 2, 5 * 256, () => mixed(2 * 5 * 256, 16), () => imat(5 * 256, 9), "dffd218078fbd8d924e3017778c31cae4d0996ee0a424799473fa1042e1a06b2"],
];

test("known answers from llama.cpp beyond the shared vectors (denormals, 13 decades, zero imatrix columns, odd shapes)", () => {
  for (const [type, name, rows, cols, gx, gw, sha] of GOLDEN) {
    for (const kernel of ["simd", "ref"] as const) {
      const q = engine.quantize(gx(), { type, rows, cols, imatrix: gw?.(), kernel });
      assert.is(createHash("sha256").update(q).digest("hex"), sha, `${type} ${name} ${kernel}`);
    }
  }
});

test("imatrix changes the q4_0/q5_0/q3_K/q6_K output and the row statistic of q4_0/q5_0 spans the whole row", () => {
  const cols = 8 * 256;
  const x = randn(cols, 21);
  for (const t of TYPES) {
    const a = engine.quantize(x, { type: t, rows: 1, cols });
    const b = engine.quantize(x, { type: t, rows: 1, cols, imatrix: imat(cols, 21) });
    assert.ok(firstDiff(a, b) >= 0, t);
  }
  // q4_0 imatrix: sigma2 over the whole row -> quantizing the first half alone can differ
  const w = imat(cols, 22);
  const whole = engine.quantize(x, { type: "q4_0", rows: 1, cols, imatrix: w });
  const x2 = x.slice(0, cols / 2).map((v) => v * 1);
  const y2 = new Float32Array(cols); y2.set(x2); y2.set(x2.map((v) => v * 8), cols / 2);
  const other = engine.quantize(y2, { type: "q4_0", rows: 1, cols, imatrix: w });
  assert.ok(firstDiff(whole.subarray(0, whole.length / 2), other.subarray(0, other.length / 2)) >= 0);
});

test.run();
