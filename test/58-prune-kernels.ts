// Pruning kernels (assembly/sparse/): SIMD vs scalar _ref twins on sizes with tails and more than one SIMD
// iteration, vs plain JS references: scores, exact-k selection (per row, per tensor, global; ties), N:M validity of
// every group, bitmask pack/unpack/apply/count round trips, compressed 2:4 round trip, bad input; and the async
// (worker pool) and streaming forms against the sync ones.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { init, pruneScores, topkMask, globalTopkMasks, nmMask, nmViolation, packMask, unpackMask, applyMask, maskDensity, pack24, unpack24, parseNM, TensorshrinkError, pruneScoresAsync, topkMaskAsync, nmMaskAsync, packMaskAsync, maskStream } from "../src/index";
import { randn, rng } from "./_util";

const engine = await init({ threads: 0 });
const code = (c: string) => (e: unknown) => e instanceof TensorshrinkError && e.code === c;
const throws = (f: () => unknown, c: string, msg: string) => { try { f(); } catch (e) { assert.ok(code(c)(e), `${msg}: ${e}`); return; } assert.unreachable(`${msg}: did not throw`); };
const eqU8 = (a: Uint8Array, b: Uint8Array, msg: string) => { assert.is(a.length, b.length, msg); for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) assert.unreachable(`${msg}: differs at ${i}: ${a[i]} vs ${b[i]}`); };
const SIZES: [number, number][] = [[1, 1], [1, 3], [3, 5], [2, 8], [5, 17], [7, 40], [4, 259], [16, 128]];

/** JS reference: indices sorted by (score, index), the first k pruned. */
function refTopk(s: Float32Array, k: number): Uint8Array {
  const idx = Array.from(s.keys()).sort((a, b) => (s[a] - s[b]) || (a - b));
  const m = new Uint8Array(s.length).fill(1);
  for (let i = 0; i < k; i++) m[idx[i]] = 0;
  return m;
}

test("pruneScores: magnitude and Wanda, simd == ref == JS", () => {
  for (const [r, c] of SIZES) {
    const w = randn(r * c, r * 7 + c), norm = new Float32Array(c).map((_, j) => 0.5 + (j % 5));
    for (const cn of [null, norm]) {
      const a = pruneScores(engine, w, r, c, cn), b = pruneScores(engine, w, r, c, cn, { kernel: "ref" });
      for (let i = 0; i < w.length; i++) {
        const want = Math.fround(Math.abs(w[i]) * (cn ? cn[i % c] : 1));
        if (a[i] !== want || b[i] !== want) assert.unreachable(`${r}x${c} at ${i}: ${a[i]} ${b[i]} vs ${want}`);
      }
    }
  }
});

test("topkMask: exact k per row and per tensor, lower index pruned first on ties, simd == ref == JS", () => {
  for (const [r, c] of SIZES) {
    const s = pruneScores(engine, randn(r * c, r + 3 * c), r, c);
    // heavy ties: quantize scores to a few levels
    const t = s.map((v) => Math.round(v * 20) / 20);
    for (const sc of [s, t]) for (const sp of [0, 0.3, 0.5, 0.75, 0.999]) {
      const rowM = topkMask(engine, sc, r, c, sp, "row"), rowR = topkMask(engine, sc, r, c, sp, "row", { kernel: "ref" });
      eqU8(rowM, rowR, `row simd/ref ${r}x${c} ${sp}`);
      const k = Math.floor(sp * c);
      for (let i = 0; i < r; i++) {
        const want = refTopk(sc.subarray(i * c, (i + 1) * c), k);
        eqU8(rowM.subarray(i * c, (i + 1) * c), want, `row JS ${r}x${c} ${sp} row ${i}`);
      }
      const tm = topkMask(engine, sc, r, c, sp, "tensor"), tr = topkMask(engine, sc, r, c, sp, "tensor", { kernel: "ref" });
      eqU8(tm, tr, `tensor simd/ref`);
      eqU8(tm, refTopk(sc, Math.floor(sp * r * c)), `tensor JS ${r}x${c} ${sp}`);
    }
  }
  // all equal: the first k go
  const m = topkMask(engine, new Float32Array(10).fill(2), 1, 10, 0.4, "tensor");
  assert.equal(Array.from(m), [0, 0, 0, 0, 1, 1, 1, 1, 1, 1]);
});

test("globalTopkMasks == tensor top-k of the concatenation", () => {
  const a = pruneScores(engine, randn(5 * 17, 1), 5, 17), b = pruneScores(engine, randn(3 * 40, 2, 0.2), 3, 40).map((v) => Math.round(v * 50) / 50);
  for (const sp of [0, 0.25, 0.5, 0.9]) {
    const [ma, mb] = globalTopkMasks(engine, [{ name: "a", scores: a, rows: 5, cols: 17 }, { name: "b", scores: b, rows: 3, cols: 40 }], sp);
    const all = new Float32Array(a.length + b.length); all.set(a); all.set(b, a.length);
    const want = refTopk(all, Math.floor(sp * all.length));
    eqU8(ma, want.subarray(0, a.length), `a ${sp}`);
    eqU8(mb, want.subarray(a.length), `b ${sp}`);
  }
});

test("nmMask: 2:4, 4:8, 1:4, 3:16, 7:32 — every group keeps exactly N, the N highest; simd == ref", () => {
  for (const [n, m] of [[2, 4], [4, 8], [1, 4], [0, 4], [3, 16], [7, 32], [1, 2]]) {
    for (const r of [1, 3, 9]) for (const groups of [1, 2, 5, 9]) {
      const c = m * groups;
      const sc = pruneScores(engine, randn(r * c, n * 100 + m + r + groups), r, c).map((v, i) => (i % 3 ? v : Math.round(v * 10) / 10));
      const a = nmMask(engine, sc, r, c, n, m), b = nmMask(engine, sc, r, c, n, m, { kernel: "ref" });
      eqU8(a, b, `${n}:${m} ${r}x${c} simd/ref`);
      assert.is(nmViolation(engine, a, r, c, n, m), -1);
      for (let g = 0; g < r * c; g += m) {
        const want = refTopk(sc.subarray(g, g + m), m - n);
        eqU8(a.subarray(g, g + m), want, `${n}:${m} group ${g / m}`);
      }
    }
  }
  const bad = new Uint8Array(8).fill(1);
  assert.is(nmViolation(engine, bad, 1, 8, 2, 4), 0);
});

test("bitmask pack/unpack/apply/count: simd == ref, documented bit order, round trip", () => {
  const r = rng(5);
  for (const n of [1, 7, 8, 9, 15, 16, 17, 31, 33, 100, 257, 1000]) {
    const mask = new Uint8Array(n).map(() => (r.uniform() < 0.4 ? 1 : 0));
    const bits = packMask(engine, mask), bref = packMask(engine, mask, { kernel: "ref" });
    eqU8(bits, bref, `pack ${n}`);
    assert.is(bits.length, (n + 7) >> 3);
    for (let i = 0; i < n; i++) if (((bits[i >> 3] >> (i & 7)) & 1) !== mask[i]) assert.unreachable(`bit order at ${i}`);
    eqU8(unpackMask(engine, bits, n), mask, `unpack ${n}`);
    eqU8(unpackMask(engine, bits, n, { kernel: "ref" }), mask, `unpack ref ${n}`);
    const w = randn(n, n), w2 = w.slice(), w3 = w.slice();
    applyMask(engine, w2, bits); applyMask(engine, w3, bits, { kernel: "ref" });
    for (let i = 0; i < n; i++) if (w2[i] !== (mask[i] ? w[i] : 0) || w3[i] !== w2[i]) assert.unreachable(`apply ${n} at ${i}`);
    const kept = mask.reduce((a, b) => a + b, 0);
    assert.is(maskDensity(engine, bits, n).kept, kept);
    assert.is(maskDensity(engine, bits, n, { kernel: "ref" }).kept, kept);
  }
  // nonzero bytes other than 1 count as keep
  assert.equal(Array.from(packMask(engine, new Uint8Array([0, 5, 0, 255, 0, 0, 0, 0, 1]))), [0b1010, 1]);
});

test("compressed 2:4: pack/unpack round trip (incl. groups keeping 0 or 1), rejects 3 kept", () => {
  const rows = 6, cols = 36, w = randn(rows * cols, 11);
  const mask = nmMask(engine, pruneScores(engine, w, rows, cols), rows, cols, 2, 4);
  mask[0] = 0; mask[1] = 0; mask[2] = 0; mask[3] = 0; // group 0 keeps none
  mask.fill(0, 4, 8); mask[6] = 1; // group 1 keeps one (index 2)
  mask.fill(0, 8, 12); mask[8] = 1; // group 2 keeps one (index 0)
  const dense = w.map((v, i) => (mask[i] ? v : 0));
  const p = pack24(engine, dense, mask);
  assert.is(p.values.length, rows * cols / 2);
  assert.is(p.indices.length, Math.ceil(rows * cols / 8));
  const back = unpack24(engine, p);
  for (let i = 0; i < dense.length; i++) if (back[i] !== dense[i]) assert.unreachable(`2:4 round trip at ${i}: ${back[i]} vs ${dense[i]}`);
  // group 3's nibble = its two kept indices
  const g = 3, kept = [0, 1, 2, 3].filter((l) => mask[g * 4 + l]);
  assert.is((p.indices[g >> 1] >> 4) & 15, kept[0] | (kept[1] << 2));
  const bad = mask.slice(); bad.fill(1, 4 * 5, 4 * 5 + 3);
  throws(() => pack24(engine, w, bad), "E_RANGE", "3 kept in a group");
});

test("bad input: typed errors before any work", () => {
  const s = new Float32Array(16).fill(1);
  for (const sp of [-0.1, 1, 1.5, NaN]) throws(() => topkMask(engine, s, 2, 8, sp), "E_RANGE", `sparsity ${sp}`);
  throws(() => nmMask(engine, s, 2, 8, 4, 4), "E_RANGE", "N >= M");
  throws(() => nmMask(engine, s, 2, 8, 2, 33), "E_RANGE", "M > 32");
  throws(() => nmMask(engine, s, 4, 4, 2, 8), "E_SHAPE", "cols % M");
  throws(() => topkMask(engine, s, 3, 5, 0.5), "E_SHAPE", "shape");
  throws(() => topkMask(engine, new Float32Array(16).fill(-1), 2, 8, 0.5), "E_RANGE", "negative score");
  throws(() => pruneScores(engine, new Float32Array([1, NaN]), 1, 2), "E_NONFINITE", "NaN weight");
  throws(() => parseNM("4:2"), "E_RANGE", "parse 4:2");
  assert.equal(parseNM("2:4"), { n: 2, m: 4 });
});

test("async (pool) and streaming forms = the sync forms, byte for byte (ranges with tails, pool of 2)", async () => {
  const pe = await init({ threads: 2 });
  try {
    for (const [rows, cols] of [[37, 24], [5, 8], [64, 100]] as [number, number][]) {
      const w = randn(rows * cols, rows + cols), cn = Float32Array.from({ length: cols }, (_, j) => 0.5 + (j % 5));
      const o = { chunkBytes: cols * 4 * 3 }; // 3 rows per job: many jobs, a short last one
      for (const norms of [null, cn]) {
        const s = pruneScores(pe, w, rows, cols, norms);
        const sa = await pruneScoresAsync(pe, w, rows, cols, norms, o);
        eqU8(new Uint8Array(sa.buffer), new Uint8Array(s.buffer), `scores ${rows}x${cols}`);
        eqU8(await topkMaskAsync(pe, sa, rows, cols, 0.6, o), topkMask(pe, s, rows, cols, 0.6, "row"), `top-k ${rows}x${cols}`);
        if (cols % 4 === 0) eqU8(await nmMaskAsync(pe, sa, rows, cols, 2, 4, o), nmMask(pe, s, rows, cols, 2, 4), `2:4 ${rows}x${cols}`);
        const m = topkMask(pe, s, rows, cols, 0.3, "row");
        eqU8(await packMaskAsync(pe, m, { chunkBytes: 24 }), packMask(pe, m), `pack ${rows}x${cols}`);
      }
      // the stream masks each tensor as it passes: the same masks, zeros in place, packed bits
      async function* two() { yield { name: "a", rows, cols, weight: w.slice() }; yield { name: "b", rows, cols, weight: w.slice(), colNorm: cn }; }
      const got: string[] = [];
      for await (const t of maskStream(pe, two(), { sparsity: 0.5 }, o)) {
        const ref = topkMask(pe, pruneScores(pe, w, rows, cols, t.name === "b" ? cn : null), rows, cols, 0.5, "row");
        eqU8(t.mask, ref, `stream ${t.name}`);
        eqU8(t.bits, packMask(pe, ref), `stream bits ${t.name}`);
        for (let i = 0; i < w.length; i++) if (t.weight[i] !== (ref[i] ? w[i] : 0)) assert.unreachable(`stream ${t.name}: weight ${i}`);
        assert.is(t.kept, rows * cols - rows * Math.floor(0.5 * cols));
        got.push(t.name);
      }
      assert.equal(got, ["a", "b"]);
    }
    // errors before any work
    let e: unknown = null;
    try { await topkMaskAsync(pe, new Float32Array(8), 2, 4, 1); } catch (x) { e = x; }
    assert.ok(code("E_RANGE")(e), `sparsity 1: ${e}`);
    e = null; try { await nmMaskAsync(pe, new Float32Array(6), 1, 6, 2, 4); } catch (x) { e = x; }
    assert.ok(code("E_SHAPE")(e), `6 % 4: ${e}`);
    e = null; try { await pruneScoresAsync(pe, Float32Array.of(1, NaN), 1, 2); } catch (x) { e = x; }
    assert.ok(code("E_NONFINITE")(e), `NaN: ${e}`);
    e = null; try { for await (const _ of maskStream(pe, [{ name: "x", rows: 1, cols: 6, weight: new Float32Array(6) }], { nm: { n: 2, m: 4 } })) { /* */ } } catch (x) { e = x; }
    assert.ok(code("E_SHAPE")(e), `stream 6 % 4: ${e}`);
  } finally { pe.dispose(); }
});

test.run();
