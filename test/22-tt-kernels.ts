// Tensor-train row lookup kernel (assembly/tt/tt.ts): tt_rows_forward (SIMD) against its scalar twin
// tt_rows_forward_ref and against a dense f64 contraction (ttFull), for TT-matrices and per-token MPS,
// on widths with tails (n_k r_{k+1} not a multiple of 4) and more than one SIMD iteration, padded shapes,
// several batches, and bad ids (typed error, no kernel call).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { init, TtEmbedding, ttFull, TensorshrinkError, type Matrix } from "../src/index";
import { rng } from "./_util";

const engine = await init({ threads: 1 });
const code = (c: string) => (e: unknown) => e instanceof TensorshrinkError && e.code === c;

function rand(rows: number, cols: number, seed: number): Matrix {
  const r = rng(seed, 3);
  return { data: Float32Array.from({ length: rows * cols }, () => r.gauss()), rows, cols };
}
const maxAbs = (a: Float32Array, b: Float32Array) => { let m = 0; for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!)); return m; };

/** Dense [rows, cols] of a matrix-mode embedding from its train (f64 contraction, digits most significant first). */
function denseOf(t: TtEmbedding): Float32Array {
  const p = t.parts, full = ttFull(t.train()!), d = p.rowDims.length, out = new Float32Array(p.rows * p.cols);
  for (let i = 0; i < p.rows; i++) for (let j = 0; j < p.cols; j++) {
    let ri = i, cj = j, idx = 0, stride = 1;
    for (let k = d - 1; k >= 0; k--) {
      const a = ri % p.rowDims[k]!, b = cj % p.colDims[k]!;
      ri = Math.floor(ri / p.rowDims[k]!); cj = Math.floor(cj / p.colDims[k]!);
      idx += (a * p.colDims[k]! + b) * stride; stride *= p.rowDims[k]! * p.colDims[k]!;
    }
    out[i * p.cols + j] = full[idx]!;
  }
  return out;
}

test("TT-matrix rows: SIMD == scalar twin, both == dense contraction; tails, padding, d = 2..4", () => {
  const cases: [number, number, number[] | undefined, number[] | undefined, number][] = [
    [60, 30, undefined, undefined, 5],       // padded: [4,4,4] x [4,4,2], rank-capped
    [64, 36, [8, 8], [6, 6], 7],             // d = 2, widths 6·7 = 42 (tail 2)
    [81, 27, [3, 3, 3, 3], [3, 3, 3, 1], 9], // d = 4, odd widths
    [100, 50, [5, 5, 4], [5, 5, 2], 13],     // rank 13: n r = 65, 26 (tails)
  ];
  for (const [rows, cols, rd, cd, r] of cases) {
    const a = rand(rows, cols, rows + cols);
    const t = TtEmbedding.decompose(engine, a, { maxRank: r, rowDims: rd, colDims: cd, d: rd?.length });
    const s = t.full().data, ref = t.full({ kernel: "ref" }).data, dense = denseOf(t);
    assert.is(maxAbs(s, ref), 0, `${rows}x${cols}: simd vs ref`);
    const scale = Math.max(...dense.map(Math.abs));
    assert.ok(maxAbs(s, dense) <= 1e-5 * scale, `${rows}x${cols}: kernel vs dense ${maxAbs(s, dense)}`);
    // single rows and an unordered batch with repeats agree with the full table
    const ids = [rows - 1, 0, 7 % rows, 7 % rows, 3];
    const b = t.rows(ids);
    ids.forEach((id, i) => assert.equal(Array.from(b.subarray(i * cols, (i + 1) * cols)), Array.from(s.subarray(id * cols, (id + 1) * cols))));
    assert.equal(Array.from(t.row(rows - 1)), Array.from(s.subarray((rows - 1) * cols)));
    t.dispose();
  }
});

test("MPS rows (each token its own cores and ranks): SIMD == scalar twin == per-row dense contraction", () => {
  const a = rand(37, 45, 9); // cols padded to [4, 4, 3] = 48
  const t = TtEmbedding.decompose(engine, a, { mode: "mps", eps: 0.3 });
  const p = t.parts, d = p.colDims.length;
  const s = t.full().data, ref = t.full({ kernel: "ref" }).data;
  assert.is(maxAbs(s, ref), 0);
  const ranks = new Set<number>();
  let off = 0;
  for (let r = 0; r < p.rows; r++) {
    const rk = Array.from(p.ranks.subarray(r * (d + 1), (r + 1) * (d + 1)));
    rk.forEach((x) => ranks.add(x));
    const cores: Float32Array[] = [];
    for (let k = 0; k < d; k++) { const n = rk[k]! * p.colDims[k]! * rk[k + 1]!; cores.push(p.cores[0]!.subarray(off, off + n)); off += n; }
    const dense = ttFull({ dims: p.colDims, ranks: rk, cores }).subarray(0, p.cols);
    assert.ok(maxAbs(s.subarray(r * p.cols, (r + 1) * p.cols), dense) < 1e-5, `row ${r}`);
  }
  assert.is(off, p.cores[0]!.length);
  assert.ok(ranks.size > 2, "tokens get different ranks");
});

test("many rows: more than one batch of 4096 ids; bad ids are refused before the kernel", () => {
  const a = rand(64, 16, 4);
  const t = TtEmbedding.decompose(engine, a, { maxRank: 4, rowDims: [8, 8], colDims: [4, 4] });
  const ids = Int32Array.from({ length: 9000 }, (_, i) => (i * 37) % 64);
  const all = t.rows(ids), full = t.full().data;
  for (const i of [0, 4095, 4096, 8191, 8999]) assert.equal(Array.from(all.subarray(i * 16, (i + 1) * 16)), Array.from(full.subarray(ids[i]! * 16, (ids[i]! + 1) * 16)));
  for (const bad of [-1, 64, 1.5, NaN]) assert.throws(() => t.rows([0, bad]), code("E_RANGE"));
  assert.is(t.rows([]).length, 0);
});


test("row scales, frequency permutation, dense rows: rows() (SIMD == scalar twin) == decompress-then-index of the parts", () => {
  const rows = 70, cols = 22, a = rand(rows, cols, 21);
  const r = rng(4, 9);
  const order = Int32Array.from({ length: rows }, (_, i) => i);
  for (let i = rows - 1; i > 0; i--) { const j = Math.floor(r.uniform() * (i + 1)); const t = order[i]!; order[i] = order[j]!; order[j] = t; }
  const weights = Float64Array.from({ length: rows }, () => 0.25 + 3 * r.uniform());
  for (const o of [{ rowWeights: weights }, { order, permute: true }, { order, denseRows: 9 }, { order, denseRows: 5, permute: true, rowWeights: weights }]) {
    const t = TtEmbedding.decompose(engine, a, { colDims: [6, 4], maxRank: 3, ...o });
    const p = t.parts, k0 = p.denseRows ?? 0;
    // the bare TT-matrix (no map, no scale, rows − k0 rows), decompressed by the f64 contraction
    const bare = TtEmbedding.fromParts(engine, { mode: "matrix", rows: rows - k0, cols, rowDims: p.rowDims, colDims: p.colDims, ranks: p.ranks, cores: p.cores });
    const full = denseOf(bare);
    const ids = Int32Array.from({ length: 300 }, (_, i) => (i * 37 + 5) % rows);
    const simd = t.rows(ids), ref = t.rows(ids, { kernel: "ref" });
    assert.equal(Array.from(simd), Array.from(ref), `${Object.keys(o)}: SIMD == ref`);
    let worst = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!, slot = p.map ? p.map[id]! : id;
      for (let c = 0; c < cols; c++) {
        const want = slot < k0 ? p.dense![slot * cols + c]! : (p.rowScale ? p.rowScale[id]! : 1) * full[(slot - k0) * cols + c]!;
        worst = Math.max(worst, Math.abs(simd[i * cols + c]! - want) / Math.max(1, Math.abs(want)));
      }
    }
    assert.ok(worst < 1e-5, `${Object.keys(o)}: lookup vs decompress-then-index: relative gap ${worst}`);
    // dense rows are the original rows exactly; the stored-value count includes them, the scales and the map
    if (k0) for (let i = 0; i < k0; i++) assert.equal(Array.from(t.row(order[i]!)), Array.from(a.data.subarray(order[i]! * cols, (order[i]! + 1) * cols)));
    assert.is(t.params, t.coreParams + k0 * cols + (p.rowScale ? rows : 0) + (p.map ? rows : 0));
    assert.is(p.map !== undefined, !!(o as any).permute || k0 > 0);
    t.dispose(); bare.dispose();
  }
});

test.run();
