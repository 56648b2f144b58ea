// The iq2 searches (iq2_xxs, iq2_xs, iq2_s; assembly/quant/iq2.ts) with the exact filtered neighbour
// scan (assembly/inline/iq2_filter.ts), the lane-parallel make_qp_quants and the per-candidate sums
// 4 per lane (assembly/quant/iq2_simd.ts): the SIMD kernels must write the bytes of their scalar _ref
// twins (ggml's plain neighbour scan) bit for bit on inputs built to stress the filter: exact real-
// arithmetic ties whose float32 sums differ only by rounding (repeated values and weights in a group,
// so neighbours that permute coordinates tie), values on a coarse grid, rows on both sides of the
// filter's range guards (tiny and huge values: the exact-scan fallback), zero / constant blocks and
// imatrix zeros; iq2_xxs's make_qp_quants 4 blocks per lane with zero / huge / tiny blocks at every lane
// and zero-weight blocks, the shared list passes of up to 4 candidate scales (and their fallbacks);
// and the llama.cpp reference vectors of the three types.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, existsSync } from "node:fs";
import { init } from "../src/index";
import { FIXTURES, readF32, readU8, rng, firstDiff } from "./_util";

const engine = await init({ threads: 0 });
const TYPES = ["iq2_xxs", "iq2_xs", "iq2_s"] as const;
const BYTES: Record<string, number> = { iq2_s: 82, iq2_xs: 74, iq2_xxs: 66 };

function same(x: Float32Array, rows: number, cols: number, imatrix: Float32Array | undefined, what: string): void {
  for (const type of TYPES) {
    if (!imatrix && type !== "iq2_s") continue;
    const a = engine.quantize(x, { type, rows, cols, imatrix });
    const b = engine.quantize(x, { type, rows, cols, imatrix, kernel: "ref" });
    assert.is(a.length, (rows * cols / 256) * BYTES[type]);
    const d = firstDiff(a, b);
    assert.is(d, -1, `${type} ${what}: byte ${d} (row ${Math.floor(d / ((cols / 256) * BYTES[type]))}) differs from _ref`);
  }
}

/** Heavy-tailed importance, optionally with zero columns. */
function imat(cols: number, seed: number, zeros: boolean): Float32Array {
  const r = rng(seed, 11), im = new Float32Array(cols);
  for (let j = 0; j < cols; j++) { const u = r.uniform(); im[j] = 0.02 + 4 * u * u * u * (r.next() % 16 === 0 ? 25 : 1); }
  if (zeros) for (let j = 0; j < cols; j++) if (r.next() % 7 === 0) im[j] = 0;
  return im;
}

test("near ties: groups of 8 built from 2-3 repeated values (neighbours that permute coordinates tie in real arithmetic), constant imatrix: SIMD == _ref", () => {
  const rows = 24, cols = 512, r = rng(89, 1);
  const x = new Float32Array(rows * cols);
  for (let g = 0; g < (rows * cols) / 8; g++) {
    const sc = [0.01, 0.05, 1, 30][g % 4];
    const vals = [r.gauss() * sc, r.gauss() * sc, r.gauss() * sc * 0.3];
    const nv = 2 + (g % 2);
    for (let i = 0; i < 8; i++) x[8 * g + i] = vals[r.next() % nv] * (r.next() % 5 === 0 ? -1 : 1);
  }
  same(x, rows, cols, new Float32Array(cols).fill(1), "repeated values, imatrix 1");
  same(x, rows, cols, undefined, "repeated values, no imatrix");
  // the same magnitudes, weights equal in pairs of columns
  const im = new Float32Array(cols);
  for (let j = 0; j < cols; j += 2) im[j] = im[j + 1] = 0.5 + (j % 16) / 8;
  same(x, rows, cols, im, "repeated values, paired imatrix");
});

test("values on a coarse grid (multiples of 1/8 and 1/64 of the row scale) and 1/3-steps: SIMD == _ref", () => {
  const rows = 24, cols = 512, r = rng(89, 2);
  const x = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    const q = [8, 64, 3][i % 3], sc = [0.02, 1, 500][Math.floor(i / 3) % 3];
    for (let j = 0; j < cols; j++) x[i * cols + j] = (Math.round(r.gauss() * q) / q) * sc;
  }
  same(x, rows, cols, new Float32Array(cols).fill(1), "grid, imatrix 1");
  same(x, rows, cols, imat(cols, 3, true), "grid, imatrix with zeros");
  same(x, rows, cols, undefined, "grid, no imatrix");
});

test("random rows at 12 scales from 1e-30 to 3e15 (both sides of the filter's range guards), zero and constant blocks: SIMD == _ref", () => {
  const scales = [1e-30, 1e-14, 1e-12, 1e-9, 1e-6, 1e-3, 0.05, 1, 1e3, 1e6, 1e9, 3e15];
  const rows = scales.length * 2, cols = 768, r = rng(89, 3);
  const x = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    const sc = scales[i % scales.length];
    for (let j = 0; j < cols; j++) x[i * cols + j] = sc * r.gauss() * (r.next() % 97 === 0 ? 12 : 1);
  }
  // zero / constant / one-hot 32-blocks
  for (let b = 0; b < (rows * cols) / 32; b += 7) {
    const o = b * 32, k = b % 3;
    if (k === 0) x.fill(0, o, o + 32);
    else if (k === 1) x.fill(b % 2 ? -0.25 : 0.125, o, o + 32);
    else { x.fill(0, o, o + 32); x[o + (b % 32)] = 3; }
  }
  for (const im of [imat(cols, 5, false), imat(cols, 6, true), undefined]) same(x, rows, cols, im, `scales, imatrix ${im ? "yes" : "no"}`);
});

test("gaussian rows with outliers (the benchmark's distribution), 8 x 4096: SIMD == _ref", () => {
  const rows = 8, cols = 4096, r = rng(89, 4);
  const x = new Float32Array(rows * cols);
  for (let i = 0; i < x.length; i++) x[i] = r.gauss() * 0.05 * (r.next() % 128 === 0 ? 15 : 1);
  same(x, rows, cols, imat(cols, 7, false), "gaussian");
});

test("4 blocks per lane (iq2_xxs make_qp_quants) and shared list passes: zero / huge / tiny 32-blocks at every lane position, imatrix zero on whole blocks: SIMD == _ref", () => {
  // per 256-value super-block, block b of 8 gets a kind from (row, b): normal, zero, huge (3e15: no
  // finite distance), tiny (1e-30 / 1e-13: outside the filter's range), one-hot; so each of the two
  // 4-block groups of make_qp_quants_32x4x4 mixes lanes that return early with lanes that run, and a
  // group's candidate scales fall on both sides of the range guards
  const rows = 40, cols = 1024, r = rng(89, 5);
  const x = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    for (let b = 0; b < cols / 32; b++) {
      const kind = (i * 7 + b * 3) % 9, o = i * cols + b * 32;
      const sc = kind === 2 ? 3e15 : kind === 3 ? 1e-30 : kind === 4 ? 1e-13 : kind === 5 ? 2e-11 : kind === 6 ? 4e8 : 1;
      for (let j = 0; j < 32; j++) x[o + j] = kind === 1 ? 0 : kind === 7 ? (j === b % 32 ? -2 : 0) : sc * r.gauss() * 0.05 * (r.next() % 64 === 0 ? 15 : 1);
    }
  }
  const im = imat(cols, 8, false);
  for (let b = 0; b < cols / 32; b += 5) im.fill(0, b * 32, b * 32 + 32); // zero weights on whole 32-blocks: make_qp's suml2 = 0
  same(x, rows, cols, im, "mixed blocks, imatrix with zero blocks");
  same(x, rows, cols, new Float32Array(cols).fill(1), "mixed blocks, imatrix 1");
  same(x, rows, cols, undefined, "mixed blocks, no imatrix");
  // values on a coarse grid in runs, so that consecutive candidate scales share a code (list) 1-13 times
  const y = new Float32Array(rows * cols);
  for (let i = 0; i < y.length; i++) y[i] = (Math.round(r.gauss() * 4) / 4) * (1 + (i % 3) * 1e-3) * 0.1;
  same(y, rows, cols, imat(cols, 9, true), "grid runs");
});

const dir = `${FIXTURES}/ggml-iq`;
test("llama.cpp reference vectors of iq2_xxs / iq2_xs / iq2_s: SIMD kernels byte-identical", () => {
  if (!existsSync(`${dir}/manifest.json`)) { console.log("  (skipped: test/fixtures/ggml-iq missing)"); return; }
  const manifest = JSON.parse(readFileSync(`${dir}/manifest.json`, "utf8"));
  let n = 0;
  for (const c of manifest.cases) {
    if (!(TYPES as readonly string[]).includes(c.type)) continue;
    const x = readF32(`${dir}/${c.input}`), imatrix = c.imatrix ? readF32(`${dir}/${c.imatrix}`) : undefined;
    if (!imatrix && c.type !== "iq2_s") continue;
    const got = engine.quantize(x, { type: c.type, rows: c.rows, cols: c.n_per_row, imatrix });
    assert.is(firstDiff(got, readU8(`${dir}/${c.quant}`)), -1, c.name);
    n++;
  }
  assert.ok(n >= 30, `${n} cases`);
});

test.run();
