// The iq3_xxs / iq3_s scale searches with 4 candidate scales per lane (assembly/quant/iq3.ts
// search_quad, assembly/inline/iq3_neighbour.ts) against their scalar _ref twins, bit for bit: random
// rows with outliers; near-ties (integer-valued rows, where codes land exactly on rounding midpoints and
// neighbours tie in weighted distance, equal and zero importances that make whole terms vanish);
// zeros, constants, tiny (1e-9 .. 1e-30) and huge (1e6 .. 1e36: squares overflow to inf) magnitudes; one-value spikes; rows of
// many super-blocks (the last candidate quad of 31 / 19 scales has 3 lanes); with and without an
// importance matrix; the filtered neighbour scan's paths (filter alone, exact re-scan of near-ties,
// out-of-range exact scan, run certificate given / refused), each seen to run by its counter. The bytes against llama.cpp's are test/17 (ggml-iq vectors) and test/62.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { init } from "../src/index";
import { rng, randn, firstDiff } from "./_util";

const engine = await init({ threads: 0 });
const TYPES = ["iq3_xxs", "iq3_s"] as const;

function importance(n: number, seed: number, kind: "random" | "ones" | "zeros"): Float32Array {
  const r = rng(seed, 41);
  return Float32Array.from({ length: n }, (_, j) => {
    if (kind === "ones") return 1;
    const u = r.uniform();
    if (kind === "random") return 0.01 + 5 * u * u * u;
    return j % 3 === 0 ? 0 : j % 7 === 0 ? 1e-20 : 1; // many zero and vanishing weights: tied terms
  });
}

function inputs(rows: number, cols: number, seed: number): [string, Float32Array][] {
  const n = rows * cols, r = rng(seed, 5);
  const ints = Float32Array.from({ length: n }, () => ((r.next() % 15) - 7) * 0.125);
  const pairs = Float32Array.from({ length: n }, (_, i) => (i % 2 ? 1 : -1) * (1 + (((i >> 1) % 4) === 0 ? 2 : 0)) * 0.01);
  const mixed = randn(n, seed, 0.05);
  for (let b = 0; b < n / 32; b++) {
    const o = 32 * b, k = b % 9;
    if (k === 0) mixed.fill(0, o, o + 32);
    else if (k === 1) mixed.fill(b % 2 ? -0.25 : 0.125, o, o + 32);
    else if (k === 2) for (let j = 0; j < 32; j++) mixed[o + j] *= 1e-9;
    else if (k === 3) for (let j = 0; j < 32; j++) mixed[o + j] *= 1e-30;
    else if (k === 4) for (let j = 0; j < 32; j++) mixed[o + j] *= 1e6;
    else if (k === 5) for (let j = 0; j < 32; j++) mixed[o + j] *= 1e18;
    else if (k === 6) { mixed.fill(0, o, o + 32); mixed[o + (b % 32)] = b % 2 ? 3 : -3; }
    else if (k === 7) for (let j = 0; j < 32; j++) mixed[o + j] *= b % 2 ? 1e30 : 1e36; // weights and distances overflow to inf
  }
  return [["gauss", randn(n, seed + 1, 0.05)], ["integer-valued (ties)", ints], ["+-pairs (ties)", pairs], ["special blocks", mixed]];
}

for (const type of TYPES) {
  test(`${type}: 4-lane scale search == _ref on random, near-tie, zero, tiny, huge rows (3 x 2304, 1 x 256), every importance kind`, () => {
    let n = 0;
    for (const [rows, cols, seed] of [[3, 2304, 1], [1, 256, 2]]) {
      for (const [name, x] of inputs(rows, cols, seed)) {
        for (const im of [undefined, importance(cols, seed, "random"), importance(cols, seed, "ones"), importance(cols, seed, "zeros")]) {
          const a = engine.quantize(x, { type, rows, cols, imatrix: im });
          const b = engine.quantize(x, { type, rows, cols, imatrix: im, kernel: "ref" });
          assert.is(a.length, (rows * cols / 256) * (type === "iq3_s" ? 110 : 98));
          assert.is(firstDiff(a, b), -1, `${type} ${name} ${rows}x${cols} im=${im ? "yes" : "no"}`);
          n++;
        }
      }
    }
    assert.is(n, 32);
  });
}

test("iq3 searches at 7 magnitudes (1e-6 .. 1e6) and uniform / heavy-tailed rows: SIMD == _ref", () => {
  const rows = 14, cols = 512, r = rng(99, 3);
  const x = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    const sc = [1e-6, 1e-3, 0.05, 1, 30, 1e4, 1e6][i % 7];
    for (let j = 0; j < cols; j++) {
      const u = r.uniform() * 2 - 1;
      x[i * cols + j] = sc * (i >= 7 ? u * u * u * 8 : u);
    }
  }
  const im = importance(cols, 3, "random");
  for (const type of TYPES) {
    const a = engine.quantize(x, { type, rows, cols, imatrix: im });
    const b = engine.quantize(x, { type, rows, cols, imatrix: im, kernel: "ref" });
    assert.is(firstDiff(a, b), -1, type);
  }
});

test("lane search == the scalar per-candidate search (codes, on-lattice flags, both sums, bit for bit) on 1500 blocks x every candidate quad, with tie-making zero / equal weights", () => {
  const e = engine.exports;
  e.iq_grid_for_kernel(4); e.iq_grid_for_kernel(5);
  const p = e.ts_alloc(3 * 128) >>> 0, r = rng(2024, 8);
  let checked = 0, bad = 0, zeroW = 0;
  for (let b = 0; b < 1500; b++) {
    const xv = new Float32Array(32), w = new Float32Array(32);
    const kind = b % 5, sc = [1e-3, 0.05, 1, 300][b % 4];
    for (let i = 0; i < 32; i++) {
      // kinds: gaussian-ish, integer multiples (exact midpoints), few distinct values, spikes, heavy tail
      const u = r.uniform();
      xv[i] = sc * (kind === 0 ? Math.abs(r.gauss()) : kind === 1 ? (r.next() % 9) * 0.25 : kind === 2 ? [0.5, 1, 1.5][r.next() % 3] : kind === 3 ? (i % 11 === 0 ? 8 : u * 0.3) : u * u * u * 4);
      const t = r.next() % 4; // zero weights make whole terms vanish: neighbours tie exactly
      w[i] = t === 0 ? 0 : t === 1 ? 1 : 0.1 + 3 * r.uniform();
      if (w[i] === 0) zeroW++;
    }
    let mx = 0;
    for (const v of xv) mx = Math.max(mx, v);
    if (mx === 0) continue;
    if (b % 7 === 0) for (let k = 0; k < 4; k++) xv[8 * k + (b % 8)] *= -1; // iq3_xxs's parity flip: one negative value per 8
    const m = new Float32Array(e.memory.buffer, p, 96);
    m.set(xv, 0); m.set(w, 32); m.set(w.map(Math.sqrt), 64);
    for (const xxs of [true, false]) {
      const nis = xxs ? 15 : 9;
      for (let is0 = -nis; is0 <= nis; is0 += 4) {
        bad += e.iq3_quad_check(p, p + 128, p + 256, Math.fround(mx), is0, Math.min(4, nis - is0 + 1), xxs ? 1 : 0) !== 0 ? 1 : 0;
        checked++;
      }
    }
  }
  e.ts_free(p);
  assert.ok(checked > 15000 && zeroW > 10000, `${checked} quads, ${zeroW} zero weights`);
  assert.is(bad, 0, `${bad} of ${checked} quads differ`);
});

test("filtered scan and run certificates (assembly/inline/iq3_filter.ts): near-ties are re-scanned exactly and refuse certificates, rows outside its range take the exact scan, the rest is decided by the filter or a run certificate; SIMD == _ref in all", () => {
  const e = engine.exports;
  const stats = (): number[] => [0, 1, 2, 3, 4, 5].map((i) => e.iq3f_stats(i, false) >>> 0);
  const rows = 16, cols = 512, r = rng(881, 2);
  // groups of 4 from 2 repeated values with equal weights: neighbours that permute coordinates tie in
  // real arithmetic and differ (if at all) by float rounding only
  const ties = new Float32Array(rows * cols);
  for (let i = 0; i < ties.length; i += 4) {
    const a = 0.01 * (1 + (r.next() % 8)), b = 0.01 * (1 + (r.next() % 8));
    for (let j = 0; j < 4; j++) ties[i + j] = (r.next() % 2 ? 1 : -1) * ((j + (i >> 2)) % 3 === 0 ? a : b);
  }
  const ones = importance(cols, 5, "ones");
  // magnitudes on both sides of the range guards: scale < 2^-40 (1e-20 rows) and |x| > 2^30 (1e12 rows)
  const ranges = randn(rows * cols, 882, 1);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) ranges[i * cols + j] *= [1e-20, 1e12, 1e-11, 1e8][i % 4];
  for (const type of TYPES) {
    for (const [name, x, im, want] of [["near-ties", ties, ones, 2], ["near-ties, random importance", ties, importance(cols, 6, "random"), 2], ["out of range", ranges, importance(cols, 7, "random"), 3], ["gauss", randn(rows * cols, 883, 0.05), importance(cols, 8, "random"), 1]] as const) {
      e.iq3f_stats(0, true);
      const a = engine.quantize(x, { type, rows, cols, imatrix: im });
      const st = stats();
      assert.ok(st[want] > 0, `${type} ${name}: counter ${want} is 0 (${st.join(", ")})`);
      if (want !== 3) assert.ok(st[1] > st[2], `${type} ${name}: the filter decided ${st[1]} lanes, ${st[2]} re-scanned`);
      // runs of >= 5 candidates on one list: certified for the whole run (4), or refused and scanned (5)
      assert.ok(st[4] > 0, `${type} ${name}: no run certified (${st.join(", ")})`);
      if (want === 2 && im === ones) assert.ok(st[5] > 0, `${type} ${name}: no certificate refused (${st.join(", ")})`);
      const b = engine.quantize(x, { type, rows, cols, imatrix: im, kernel: "ref" });
      assert.is(firstDiff(a, b), -1, `${type} ${name}`);
    }
  }
});

test("the comparison can fail: one changed value changes the SIMD bytes, and the _ref bytes alike", () => {
  for (const type of TYPES) {
    const cols = 256, x = randn(cols, 77, 0.03), y = x.slice();
    y[100] = 1; // an outlier: moves the block's scale
    const a = engine.quantize(x, { type, rows: 1, cols }), b = engine.quantize(y, { type, rows: 1, cols });
    assert.ok(firstDiff(a, b) >= 0, `${type}: output did not change`);
    assert.is(firstDiff(b, engine.quantize(y, { type, rows: 1, cols, kernel: "ref" })), -1, `${type}: SIMD != _ref after the change`);
  }
});

test.run();
