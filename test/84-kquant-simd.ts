// The k-quant / imatrix SIMD kernels of issue 15 against their scalar _ref twins, bit for bit:
// make_qkx_x8's rounding-safe float path (q2_K, q4_K, q5_K, q4_1/q5_1 with imatrix) and its exact
// integer fallback, the vector code packing (q2_K, q4_K, q5_K), and the symmetric sweeps without the
// dead lower clamp (q6_K, q3_K with imatrix, q4_0/q5_0 with imatrix). Random rows with block-count
// tails, zeros, constant rows, near-constant negative rows, tiny (1e-30) and huge (up to 3e38, whose
// ranges overflow and make the float path fall back to the integer one) magnitudes, outlier columns;
// without an importance matrix and with random, all-ones, and zero / huge-dynamic-range ones.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { init } from "../src/index";
import { rng, randn, firstDiff } from "./_util";

const engine = await init({ threads: 0 });

type T = "q2_K" | "q3_K" | "q4_K" | "q5_K" | "q6_K" | "q4_1" | "q5_1" | "q4_0" | "q5_0";
const KQ: T[] = ["q2_K", "q3_K", "q4_K", "q5_K", "q6_K"];
const B32: T[] = ["q4_1", "q5_1", "q4_0", "q5_0"];
const blockOf = (t: T) => (t.endsWith("_K") ? 256 : 32);

function importance(n: number, seed: number, kind: "random" | "ones" | "wild"): Float32Array {
  const r = rng(seed, 41);
  return Float32Array.from({ length: n }, (_, j) => {
    if (kind === "ones") return 1;
    const u = r.uniform();
    if (kind === "random") return 0.01 + 5 * u * u;
    // zeros, 1e-20 and 1e12 weights mixed in
    return j % 7 === 0 ? 0 : j % 11 === 0 ? 1e-20 : j % 13 === 0 ? 1e12 : 0.5 + u;
  });
}

/** Row sets: each returns rows x cols values. */
function inputs(rows: number, cols: number, seed: number): [string, Float32Array][] {
  const n = rows * cols, r = rng(seed, 7);
  const outlierCols = Float32Array.from({ length: n }, (_, i) => r.gauss() * 0.02 * ((i % cols) % 37 === 0 ? 30 : 1));
  return [
    ["gauss", randn(n, seed)],
    ["outlier columns", outlierCols],
    ["zeros", new Float32Array(n)],
    ["constant 0.3", new Float32Array(n).fill(0.3)],
    ["constant -2.5", new Float32Array(n).fill(-2.5)],
    ["negative near-constant", Float32Array.from({ length: n }, () => -1 - r.uniform() * 1e-6)],
    ["positive near-constant", Float32Array.from({ length: n }, () => 1 + r.uniform() * 1e-6)],
    ["tiny 1e-30", randn(n, seed + 1, 1e-30)],
    ["huge 3e38 (overflowing ranges)", Float32Array.from({ length: n }, () => (r.uniform() - 0.5) * 6e38)],
    ["huge +-3e38 extremes", Float32Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 3e38 : i % 3 === 1 ? -3e38 : r.gauss() * 1e30))],
    // sub-blocks 1e-4 the size of their neighbours: their 8-bit scale code rounds to 0, so q6_K / q3_K
    // keep the search's own codes there (made on demand by the SIMD path)
    ["tiny sub-blocks next to large ones", Float32Array.from({ length: n }, (_, i) => r.gauss() * ((i >> 4) % 4 === 1 ? 5e-6 : 0.05))],
    ["zero/const/gauss sub-blocks", Float32Array.from({ length: n }, (_, i) => ((i >> 4) % 3 === 0 ? 0 : (i >> 4) % 3 === 1 ? 0.7 : r.gauss() * 0.05))],
  ];
}

function same(type: T, x: Float32Array, rows: number, cols: number, imatrix: Float32Array | null, what: string) {
  const o = { type, rows, cols, imatrix };
  const a = engine.quantize(x, o), b = engine.quantize(x, { ...o, kernel: "ref" as const });
  assert.is(a.length, b.length);
  assert.is(firstDiff(a, b), -1, `${type} SIMD != _ref: ${what}`);
}

test("k-quants: SIMD == _ref on random rows with tails (1, 2, 3, 5 super-blocks), rows > 1, +- imatrix", () => {
  for (const t of KQ) {
    for (const nb of [1, 2, 3, 5]) {
      const cols = nb * 256, rows = 3;
      const x = randn(rows * cols, nb * 13 + 1, 0.03);
      same(t, x, rows, cols, null, `${nb} blocks`);
      same(t, x, rows, cols, importance(cols, nb, "random"), `${nb} blocks, imatrix`);
    }
  }
});

test("32-blocks with imatrix: SIMD == _ref on 1, 3, 7, 8, 9, 17, 33 blocks (8-lane groups + tails)", () => {
  for (const t of B32) {
    for (const nb of [1, 3, 7, 8, 9, 17, 33]) {
      const cols = nb * 32, rows = 2;
      const x = randn(rows * cols, nb + 3, 0.04);
      same(t, x, rows, cols, importance(cols, nb, "random"), `${nb} blocks, imatrix`);
      same(t, x, rows, cols, null, `${nb} blocks`);
    }
  }
});

test("special rows (zeros, constants, near-constant, tiny, huge / overflowing ranges, mixed sub-blocks) x {none, random, ones, wild} importance", () => {
  for (const t of [...KQ, ...B32]) {
    const cols = blockOf(t) === 256 ? 512 : 288, rows = 2;
    for (const [name, x] of inputs(rows, cols, 5)) {
      same(t, x, rows, cols, null, name);
      for (const kind of ["random", "ones", "wild"] as const) same(t, x, rows, cols, importance(cols, 9, kind), `${name}, ${kind} imatrix`);
    }
  }
});

// ggml's make_q3_quants(16, 4, x, L, true) in JS (Math.fround after every f32 operation): the number
// of descent passes each sub-block runs (0 = none: all-zero or a positive signed max; 1 = the first
// pass changes nothing; ...). Used to check that the q3_K rows below cover every case.
function q3Passes(x: Float32Array, o: number): number {
  return q3Search(x, o).passes;
}

/** q3Passes' run of make_q3_quants: passes, the returned scale, whether the descent ran at all. */
function q3Search(x: Float32Array, o: number): { passes: number; scale: number; descends: boolean } {
  const f = Math.fround, L = new Int32Array(16), b = new Float32Array(1), bi = new Int32Array(b.buffer);
  const ni = (v: number) => { b[0] = f(v + 12582912); return (bi[0] & 0x7fffff) - 0x400000; };
  let amax = 0, vmax = 0;
  for (let i = 0; i < 16; i++) { const a = Math.abs(x[o + i]); if (a > amax) { amax = a; vmax = x[o + i]; } }
  if (amax < 1e-15) return { passes: 0, scale: 0, descends: false };
  const is = f(-4 / vmax);
  let sumlx = 0, suml2 = 0;
  for (let i = 0; i < 16; i++) {
    const xi = x[o + i], l = Math.max(-4, Math.min(3, ni(f(is * xi)))), w = f(xi * xi);
    L[i] = l; sumlx = f(sumlx + f(f(w * xi) * l)); suml2 = f(suml2 + f(f(w * l) * l));
  }
  let passes = 0, anyPositive = false;
  for (let it = 0; it < 5; it++) {
    passes++;
    let nc = 0;
    for (let i = 0; i < 16; i++) {
      const xi = x[o + i], w = f(xi * xi);
      let slx = f(sumlx - f(f(w * xi) * L[i]));
      if (!(slx > 0)) continue;
      anyPositive = true;
      let sl2 = f(suml2 - f(f(w * L[i]) * L[i]));
      const nl = Math.max(-4, Math.min(3, ni(f(f(xi * sl2) / slx))));
      if (nl === L[i]) continue;
      slx = f(slx + f(f(w * xi) * nl)); sl2 = f(sl2 + f(f(w * nl) * nl));
      if (sl2 > 0 && f(f(slx * slx) * suml2) > f(f(sumlx * sumlx) * sl2)) { L[i] = nl; sumlx = slx; suml2 = sl2; nc++; }
    }
    if (!nc) break;
  }
  return { passes: vmax > 0 && !anyPositive ? 0 : passes, scale: suml2 > 0 ? f(sumlx / suml2) : 0, descends: !(vmax > 0) };
}

/**
 * quantize_row_q3_K_ref's 6-bit scale codes (0..63) of one super-block from its 16 sub-block scales,
 * the sub-block that gave max_scale (-1: none) and whether the first |max| was one of a +a / -a tie.
 */
function q3ScaleCodes(sc: number[]): { codes: number[]; first: number; signTie: boolean } {
  const f = Math.fround, b = new Float32Array(1), bi = new Int32Array(b.buffer);
  let amax = 0, first = -1;
  for (let j = 0; j < 16; j++) if (Math.abs(sc[j]) > amax) { amax = Math.abs(sc[j]); first = j; }
  if (first < 0) return { codes: sc.map(() => 32), first, signTie: false };
  const is = f(-32 / sc[first]);
  const codes = sc.map((v) => { b[0] = f(f(is * v) + 12582912); return Math.max(-32, Math.min(31, (((bi[0] & 0x7fffff) - 0x400000) << 24) >> 24)) + 32; });
  return { codes, first, signTie: sc.some((v) => v === -sc[first]) };
}

test("q3_K without imatrix: descent lanes that stop after 1..5 passes side by side, skipped positive-max lanes, +a/-a ties, denormals", () => {
  // 4-lane groups of 4 consecutive sub-blocks: negative-max sub-blocks (which descend) next to
  // positive-max ones (provably no change: skipped) and all-zero ones; a sign flip of a whole
  // sub-block turns one kind into the other
  const cols = 256 * 8, rows = 4, n = rows * cols, r = rng(91, 3);
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const sb = i >> 4;
    x[i] = r.gauss() * (sb % 5 === 0 ? 1e-3 : 0.04) * ((sb * 7) % 3 === 0 ? -1 : 1);
    if (sb % 23 === 0) x[i] = 0;
    if (sb % 29 === 5) x[i] = r.gauss() * 1e-41; // denormals (w = x^2 underflows to 0)
  }
  for (let sb = 3; sb < n / 16; sb += 11) { // ties: the same magnitude with both signs, + first or - first
    const o = sb * 16, a = 0.25 + 0.01 * (sb % 7), s = sb % 2 ? 1 : -1;
    x[o + (sb % 5)] = s * a;
    x[o + 9 + (sb % 6)] = -s * a;
  }
  const hist = [0, 0, 0, 0, 0, 0];
  for (let o = 0; o < n; o += 16) hist[q3Passes(x, o)]++;
  for (let k = 0; k <= 4; k++) assert.ok(hist[k] > 0, `no sub-block with ${k} passes: ${hist}`);
  same("q3_K", x, rows, cols, null, `mixed descents, passes histogram ${hist}`);
  const neg = x.map((v) => -v);
  same("q3_K", neg, rows, cols, null, "the same rows negated");
  same("q3_K", x, rows, cols, importance(cols, 4, "random"), "mixed descents, imatrix");
});

// The clamps make_qx_quants_x4 leaves out (common_sym.ts qx_clamps): per sweep of three candidates
// the lower clamp goes when fl(|is| |vmax|) < nmax + 0.5 in every lane, the upper one when
// fl(|is| opp) < nmax - 0.5 (opp: the largest magnitude on the side opposite vmax). Blocks with
// vmax = +-1 and elements placed 0..2 ulps around those bounds for a random candidate, +a/-a ties
// (the scan fallback of the signed max); the JS copy of the test below checks that every loop
// variant (no clamp, lower, upper, both) runs for each block size.
const F = Math.fround, f32b = new Float32Array(1), i32b = new Int32Array(f32b.buffer);
const ulps = (v: number, k: number) => { f32b[0] = v; i32b[0] += k; return f32b[0]; };
const cand = (nmax: number, k: number, vmax: number) => F(-F(nmax + F(F(0.1) * k)) / vmax);
function boundRows(n: number, nmax: number, blocks: number, seed: number): Float32Array {
  const r = rng(seed, 5), x = new Float32Array(n * blocks);
  for (let b = 0; b < blocks; b++) {
    const o = b * n, vmax = r.uniform() < 0.5 ? 1 : -1, pick = () => Math.floor(r.uniform() * n);
    const sc = [0.08, 0.25, 0.4][(b >> 2) % 3]; // per 4-block group (one SIMD call): small / large opposite maxima
    for (let i = 0; i < n; i++) x[o + i] = F(r.gauss() * sc);
    for (let i = 0; i < n; i++) if (Math.abs(x[o + i]) >= 0.9) x[o + i] = 0.5 * Math.sign(x[o + i]);
    const kind = (b >> 2) % 3 === 0 ? b % 2 * 4 : b % 6; // small groups: no upper-bound elements
    x[o + pick()] = vmax;
    if (kind === 1 || kind === 2 || kind === 3) { // an opposite-side element at the upper bound of one candidate
      const k = [0, -9, -5, -3, -1, 1, 3, 6, 9][Math.floor(r.uniform() * 9)], a = F(Math.abs(cand(nmax, k, vmax)));
      // the other values on that candidate's grid, so that it tends to win and its sums decide
      for (let i = 0; i < n; i++) if (x[o + i] !== vmax) x[o + i] = F(Math.round(x[o + i] * a) / a);
      const j = pick();
      const v = ulps(F((nmax - 0.5) / a), Math.floor(r.uniform() * 5) - 2);
      if (x[o + j] !== vmax && v < 1) x[o + j] = -vmax * v;
    }
    if (kind === 2 || kind === 4) { // a same-side element at the lower bound of a candidate >= 6
      const k = 6 + Math.floor(r.uniform() * 4), a = F(Math.abs(cand(nmax, k, vmax)));
      const j = pick();
      if (x[o + j] !== vmax) x[o + j] = vmax * Math.min(1, ulps(F((nmax + 0.5) / a), Math.floor(r.uniform() * 5) - 2));
    }
    if (kind === 5) x[o + pick()] = -vmax; // +a / -a tie (whichever comes first is vmax)
  }
  return x;
}
/** Histogram of qx_clamps' answers (0 none, 1 lower, 2 upper, 3 both) over 4-block groups and sweeps. */
function clampVariants(x: Float32Array, n: number, nmax: number): number[] {
  const h = [0, 0, 0, 0];
  for (let g = 0; g + 4 * n <= x.length; g += 4 * n) {
    const lanes = [0, 1, 2, 3].map((k) => {
      const o = g + k * n;
      let vmax = 0, mx = 0, mn = 0;
      for (let i = 0; i < n; i++) { const v = x[o + i]; if (Math.abs(v) > Math.abs(vmax)) vmax = v; mx = Math.max(mx, v); mn = Math.min(mn, v); }
      return { vmax, opp: vmax > 0 ? -mn : mx };
    });
    for (const k of [-7, -4, -1, 3, 6, 9]) { // is2 of each sweep
      let need = 0;
      for (const { vmax, opp } of lanes) {
        const a = Math.abs(cand(nmax, k, vmax));
        if (!(F(a * Math.abs(vmax)) < nmax + 0.5)) need |= 1;
        if (!(F(a * opp) < nmax - 0.5)) need |= 2;
      }
      h[need]++;
    }
  }
  return h;
}

test("symmetric sweeps: elements at the clamp bounds (+-2 ulps), ties, each loop variant: SIMD == _ref", () => {
  const cases: [T, number, number][] = [["q6_K", 16, 32], ["q3_K", 16, 4], ["q4_0", 32, 8], ["q5_0", 32, 16]];
  for (const [t, n, nmax] of cases) {
    const cols = t.endsWith("_K") ? 512 : 256, rows = 24;
    const x = boundRows(n, nmax, (rows * cols) / n, n + nmax);
    const h = clampVariants(x, n, nmax);
    for (let v = 0; v < 4; v++) assert.ok(h[v] > 0, `${t}: clamp variant ${v} never runs: ${h}`);
    for (const kind of ["random", "ones", "wild"] as const) same(t, x, rows, cols, importance(cols, nmax, kind), `bounds, ${kind} imatrix, variants ${h}`);
    same(t, x, rows, cols, null, `bounds, no imatrix`);
    const neg = x.map((v) => -v);
    same(t, neg, rows, cols, importance(cols, 3, "random"), "bounds negated, imatrix");
  }
});

test("q3_K without imatrix: 0..16 descending sub-blocks per super-block, 0 scale codes (search codes kept) of every kind, max-scale sign ties", () => {
  // q3_K_search16 packs the descending sub-blocks (negative signed max) of a super-block into the
  // first 4-lane groups and makes codes on demand where the 6-bit scale code is 32 (factor 0):
  // from the descent's buffer, from the RTN start, or zeros. Super-block b has b % 17 descending
  // sub-blocks at shuffled positions; every third super-block has 1e-3-sized ones (their scale code
  // rounds to 32); ties: two sub-blocks x and -x of the largest scale (the first one's sign wins).
  const nsb = 17 * 6, cols = 256 * nsb, r = rng(203, 5);
  const x = new Float32Array(cols);
  for (let b = 0; b < nsb; b++) {
    const perm = Array.from({ length: 16 }, (_, j) => j);
    for (let j = 15; j > 0; j--) { const k = Math.floor(r.uniform() * (j + 1)); [perm[j], perm[k]] = [perm[k], perm[j]]; }
    for (let q = 0; q < 16; q++) {
      const j = perm[q], o = b * 256 + j * 16, tiny = b % 3 === 1 && q % 3 === 0, zero = b % 5 === 2 && q === 15;
      let amax = 0, vmax = 0;
      for (let i = 0; i < 16; i++) {
        x[o + i] = zero ? 0 : r.gauss() * (tiny ? 4e-5 : 0.04);
        if (Math.abs(x[o + i]) > amax) { amax = Math.abs(x[o + i]); vmax = x[o + i]; }
      }
      if ((vmax < 0) !== (q < b % 17)) for (let i = 0; i < 16; i++) x[o + i] = -x[o + i];
    }
    if (b % 4 === 3) { // sign tie: sub-blocks 2 and 11 (or 11 and 2) hold x and -x, 3x the others
      const a = b * 256 + (b % 8 === 3 ? 2 : 11) * 16, c = b * 256 + (b % 8 === 3 ? 11 : 2) * 16;
      for (let i = 0; i < 16; i++) { x[a + i] = 3 * x[a + i]; x[c + i] = -x[a + i]; }
    }
  }
  const ndesc = new Set<number>(), kept = { descended: 0, rtn: 0, zero: 0 };
  let ties = 0;
  for (let b = 0; b < nsb; b++) {
    const s = Array.from({ length: 16 }, (_, j) => q3Search(x, b * 256 + j * 16));
    ndesc.add(s.filter((v) => v.descends && v.passes > 0).length);
    const { codes, signTie } = q3ScaleCodes(s.map((v) => v.scale));
    if (signTie) ties++;
    for (let j = 0; j < 16; j++) {
      if (codes[j] !== 32) continue;
      if (s[j].passes >= 2) kept.descended++;
      else if (s[j].scale === 0) kept.zero++;
      else if (!s[j].descends) kept.rtn++;
    }
  }
  for (let k = 0; k <= 16; k++) assert.ok(ndesc.has(k), `no super-block with ${k} descending sub-blocks`);
  assert.ok(kept.descended > 0 && kept.rtn > 0 && kept.zero > 0, `kept search codes: ${JSON.stringify(kept)}`);
  assert.ok(ties >= 10, `sign ties: ${ties}`);
  same("q3_K", x, 1, cols, null, `packed descents, kept codes ${JSON.stringify(kept)}, ${ties} sign ties`);
  same("q3_K", x.map((v) => -v), 1, cols, null, "the same negated");
  // all scales 0 or NaN (w = x^2 overflows): max_scale stays 0
  const h = new Float32Array(512);
  for (let i = 0; i < 512; i++) h[i] = i < 256 ? (i % 2 ? 3e38 : -3e38) : i < 272 ? 2e38 : 0;
  same("q3_K", h, 1, 512, null, "NaN / zero scales");
});

test("the comparison can fail: one changed input value changes the SIMD bytes, and the _ref bytes alike", () => {
  // guards against a test that compares a kernel with itself: both forms must react to the input
  for (const t of KQ) {
    const cols = 256, x = randn(cols, 77, 0.03), y = x.slice();
    y[100] = 1; // an outlier (~30 sigma): moves the block's scale
    const a = engine.quantize(x, { type: t, rows: 1, cols }), b = engine.quantize(y, { type: t, rows: 1, cols });
    const br = engine.quantize(y, { type: t, rows: 1, cols, kernel: "ref" });
    assert.ok(firstDiff(a, b) >= 0, `${t}: output did not change`);
    assert.is(firstDiff(b, br), -1, `${t}: SIMD != _ref after the change`);
  }
});

test.run();
