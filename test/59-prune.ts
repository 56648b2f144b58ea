// Pruning methods: SparseGPT on a tiny problem vs a float64 JS reference of the published algorithm (unstructured
// and N:M, blocks with tails), its reconstruction error vs Wanda and magnitude, Wanda vs magnitude on a synthetic
// layer with outlier activation columns, and bad input rejected with typed errors.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { init, sparseGPT, pruneScores, topkMask, nmMask, wandaNorms, nmViolation, TensorshrinkError, syntheticModel, quantizeModel, memorySink, memorySource, readGguf, pruneMethod, encodeMaskFile, packMask } from "../src/index";
import { readGgufTensorRows } from "../src/formats/gguf";
import { randn, rng } from "./_util";

const engine = await init({ threads: 0 });
const code = (c: string) => (e: unknown) => e instanceof TensorshrinkError && e.code === c;
const throws = (f: () => unknown, c: string, msg: string) => { try { f(); } catch (e) { assert.ok(code(c)(e), `${msg}: ${e}`); return; } assert.unreachable(`${msg}: did not throw`); };

/** Calibration inputs X [T, cols] with correlated columns and a few outlier columns (scale `outlier`). */
function inputs(T: number, cols: number, seed: number, outlier = 1): Float32Array {
  const r = rng(seed, 3), x = new Float32Array(T * cols);
  for (let t = 0; t < T; t++) {
    const common = r.gauss();
    for (let j = 0; j < cols; j++) x[t * cols + j] = (r.gauss() + 0.5 * common) * (j % 7 === 3 ? outlier : 1);
  }
  return x;
}
function gram(x: Float32Array, T: number, cols: number): Float64Array {
  const h = new Float64Array(cols * cols);
  for (let t = 0; t < T; t++) for (let i = 0; i < cols; i++) { const a = x[t * cols + i]; for (let j = 0; j < cols; j++) h[i * cols + j] += a * x[t * cols + j]; }
  return h;
}
/** ‖(W − Ŵ) Xᵀ‖² / ‖W Xᵀ‖² in f64. */
function relErr(w: Float32Array, wh: Float32Array, rows: number, cols: number, h: Float64Array): number {
  let num = 0, den = 0;
  for (let r = 0; r < rows; r++) for (let i = 0; i < cols; i++) for (let j = 0; j < cols; j++) {
    const di = w[r * cols + i] - wh[r * cols + i], dj = w[r * cols + j] - wh[r * cols + j];
    num += di * h[i * cols + j] * dj; den += w[r * cols + i] * h[i * cols + j] * w[r * cols + j];
  }
  return num / den;
}

/** float64 SparseGPT reference (Frantar & Alistarh, Algorithm 1 / the authors' sparsegpt.py, exact-k per block). */
function sparseGptRef(w0: Float32Array, rows: number, cols: number, h0: Float64Array, sp: number, n: number, m: number, B: number): { w: Float64Array; mask: Uint8Array } {
  const W = Float64Array.from(w0), H = h0.slice();
  for (let j = 0; j < cols; j++) if (H[j * cols + j] === 0) { H[j * cols + j] = 1; for (let r = 0; r < rows; r++) W[r * cols + j] = 0; }
  let md = 0; for (let j = 0; j < cols; j++) md += H[j * cols + j];
  for (let j = 0; j < cols; j++) H[j * cols + j] += 0.01 * md / cols;
  // H^-1 by Gauss-Jordan, then its upper Cholesky factor U (H^-1 = U^T U)
  const A = H.slice(), I = new Float64Array(cols * cols); for (let i = 0; i < cols; i++) I[i * cols + i] = 1;
  for (let c = 0; c < cols; c++) {
    const p = A[c * cols + c];
    for (let j = 0; j < cols; j++) { A[c * cols + j] /= p; I[c * cols + j] /= p; }
    for (let r = 0; r < cols; r++) if (r !== c) { const f = A[r * cols + c]; if (f) for (let j = 0; j < cols; j++) { A[r * cols + j] -= f * A[c * cols + j]; I[r * cols + j] -= f * I[c * cols + j]; } }
  }
  const U = new Float64Array(cols * cols);
  for (let i = 0; i < cols; i++) {
    let s = I[i * cols + i]; for (let k = 0; k < i; k++) s -= U[k * cols + i] ** 2;
    U[i * cols + i] = Math.sqrt(s);
    for (let j = i + 1; j < cols; j++) { let t = I[i * cols + j]; for (let k = 0; k < i; k++) t -= U[k * cols + i] * U[k * cols + j]; U[i * cols + j] = t / U[i * cols + i]; }
  }
  const mask = new Uint8Array(rows * cols).fill(1);
  for (let i1 = 0; i1 < cols; i1 += B) {
    const i2 = Math.min(cols, i1 + B), cnt = i2 - i1;
    if (!m) {
      const sc: [number, number][] = [];
      for (let r = 0; r < rows; r++) for (let j = 0; j < cnt; j++) sc.push([W[r * cols + i1 + j] ** 2 / U[(i1 + j) * cols + i1 + j] ** 2, r * cnt + j]);
      sc.sort((a, b) => (a[0] - b[0]) || (a[1] - b[1]));
      for (let q = 0; q < Math.floor(sp * rows * cnt); q++) { const f = sc[q][1]; mask[Math.floor(f / cnt) * cols + i1 + (f % cnt)] = 0; }
    }
    const Err = new Float64Array(rows * cnt);
    for (let i = i1; i < i2; i++) {
      if (m && (i - i1) % m === 0) for (let r = 0; r < rows; r++) {
        const g = Array.from({ length: m }, (_, a) => [W[r * cols + i + a] ** 2 / U[(i + a) * cols + i + a] ** 2, a]).sort((a, b) => (a[0] - b[0]) || (a[1] - b[1]));
        for (let q = 0; q < m - n; q++) mask[r * cols + i + g[q][1]] = 0;
      }
      for (let r = 0; r < rows; r++) {
        const x = W[r * cols + i], q = mask[r * cols + i] ? x : 0, e = (x - q) / U[i * cols + i];
        W[r * cols + i] = q; Err[r * cnt + i - i1] = e;
        for (let j = i + 1; j < i2; j++) W[r * cols + j] -= e * U[i * cols + j];
      }
    }
    for (let r = 0; r < rows; r++) for (let j = i2; j < cols; j++) { let s = 0; for (let k = 0; k < cnt; k++) s += Err[r * cnt + k] * U[(i1 + k) * cols + j]; W[r * cols + j] -= s; }
  }
  return { w: W, mask };
}

test("SparseGPT == float64 reference (unstructured 50%/30% and 2:4, 4:8; blocks with tails), simd and ref", () => {
  const cases: [number, number, number, number, number, number][] = [[6, 24, 0.5, 0, 0, 8], [5, 37, 0.3, 0, 0, 16], [4, 40, 0, 2, 4, 16], [3, 48, 0, 4, 8, 16], [7, 64, 0.5, 0, 0, 128]];
  for (const [rows, cols, sp, n, m, B] of cases) {
    const T = 4 * cols, x = inputs(T, cols, rows + cols), h = gram(x, T, cols), w = randn(rows * cols, cols, 0.3);
    const want = sparseGptRef(w, rows, cols, h, sp, n, m, B);
    for (const kernel of ["simd", "ref"] as const) {
      const got = sparseGPT(engine, w, rows, cols, h, { ...(m ? { nm: { n, m } } : { sparsity: sp }), blockSize: B, kernel });
      let diffs = 0, maxErr = 0, scale = 0;
      for (let i = 0; i < w.length; i++) { if (got.mask[i] !== want.mask[i]) diffs++; maxErr = Math.max(maxErr, Math.abs(got.weights[i] - want.w[i])); scale = Math.max(scale, Math.abs(want.w[i])); if (!got.mask[i] && got.weights[i] !== 0) assert.unreachable("pruned weight not exactly 0"); }
      assert.is(diffs, 0, `${rows}x${cols} ${sp} ${n}:${m} ${kernel}: mask differs in ${diffs} places`);
      assert.ok(maxErr <= 2e-4 * scale, `${rows}x${cols} ${kernel}: max |Δw| ${maxErr} vs scale ${scale}`);
      const kept = got.mask.reduce((a, b) => a + b, 0);
      if (m) assert.is(nmViolation(engine, got.mask, rows, cols, n, m), -1);
      else { let k = 0; for (let i1 = 0; i1 < cols; i1 += B) k += Math.floor(sp * rows * (Math.min(cols, i1 + B) - i1)); assert.is(w.length - kept, k); }
    }
  }
});

test("Wanda beats magnitude with outlier activations; SparseGPT beats both (reconstruction error ‖ΔW X‖²)", () => {
  const rows = 32, cols = 64, T = 512;
  const x = inputs(T, cols, 9, 25), h = gram(x, T, cols), w = randn(rows * cols, 4, 0.2);
  const sumSq = new Float64Array(cols); for (let j = 0; j < cols; j++) sumSq[j] = h[j * cols + j];
  const norms = wandaNorms(sumSq);
  const apply = (mask: Uint8Array) => w.map((v, i) => (mask[i] ? v : 0));
  for (const mode of ["50%", "2:4"]) {
    const sel = (s: Float32Array) => (mode === "50%" ? topkMask(engine, s, rows, cols, 0.5, "row") : nmMask(engine, s, rows, cols, 2, 4));
    const mag = relErr(w, apply(sel(pruneScores(engine, w, rows, cols))), rows, cols, h);
    const wan = relErr(w, apply(sel(pruneScores(engine, w, rows, cols, norms))), rows, cols, h);
    const sg = sparseGPT(engine, w, rows, cols, h, mode === "50%" ? { sparsity: 0.5 } : { nm: { n: 2, m: 4 } });
    const sge = relErr(w, sg.weights, rows, cols, h);
    assert.ok(wan < 0.5 * mag, `${mode}: wanda ${wan} vs magnitude ${mag}`);
    assert.ok(sge < wan, `${mode}: sparsegpt ${sge} vs wanda ${wan}`);
  }
});

test("SparseGPT: a column that never fires (H_jj = 0) is pruned; damping retried on a singular H", () => {
  const rows = 4, cols = 16, T = 64, x = inputs(T, cols, 2);
  for (let t = 0; t < T; t++) x[t * cols + 5] = 0;
  const h = gram(x, T, cols), w = randn(rows * cols, 3, 0.3);
  const r = sparseGPT(engine, w, rows, cols, h, { sparsity: 0.25 });
  for (let q = 0; q < rows; q++) assert.is(r.weights[q * cols + 5], 0);
  const rank1 = new Float64Array(cols * cols).fill(1); // singular: damping makes it SPD
  const r2 = sparseGPT(engine, w, rows, cols, rank1, { sparsity: 0.5 });
  assert.ok(r2.weights.every(Number.isFinite));
});

test("bad input: no statistics, wrong sizes, sparsity or N:M out of range -> typed errors", () => {
  const w = new Float32Array(32).fill(1), h = new Float64Array(64).fill(0); for (let i = 0; i < 8; i++) h[i * 8 + i] = 1;
  throws(() => sparseGPT(engine, w, 4, 8, null, { sparsity: 0.5 }), "E_IMATRIX", "no H");
  throws(() => sparseGPT(engine, w, 4, 8, new Float64Array(10), { sparsity: 0.5 }), "E_IMATRIX", "H size");
  throws(() => sparseGPT(engine, w, 4, 8, h, { sparsity: 1 }), "E_RANGE", "sparsity 1");
  throws(() => sparseGPT(engine, w, 4, 8, h, {}), "E_RANGE", "no target");
  throws(() => sparseGPT(engine, w, 4, 8, h, { nm: { n: 4, m: 4 } }), "E_RANGE", "4:4");
  throws(() => sparseGPT(engine, w, 8, 4, h.subarray(0, 16), { nm: { n: 2, m: 8 } }), "E_SHAPE", "cols % m");
  throws(() => sparseGPT(engine, w, 4, 8, h, { nm: { n: 2, m: 4 }, blockSize: 6 }), "E_RANGE", "block % m");
  throws(() => wandaNorms([1, -1]), "E_IMATRIX", "negative Σx²");
});

test("through the seam: quantizeModel with pruneMethod (magnitude 2:4, 50%; SparseGPT 2:4 calibrated) writes exact zeros", async () => {
  const src = syntheticModel({ nLayer: 2, nEmbd: 64, nFf: 128, nHead: 4, nHeadKv: 2, nVocab: 96, seed: 3 });
  for (const spec of [{ method: "magnitude", nm: "2:4" }, { method: "magnitude", sparsity: 0.5 }, { method: "sparsegpt", nm: "2:4" }] as const) {
    const masks = new Map<string, Uint8Array>();
    const sink = memorySink();
    const tokens = Int32Array.from({ length: 257 }, (_, i) => (i * 37 + 1) % 96);
    await quantizeModel(engine, src, sink, { ftype: "F16", methods: [pruneMethod({ ...spec, onMask: (n: string, m: Uint8Array) => masks.set(n, m) } as any)], calibration: spec.method === "sparsegpt" ? { tokens, ctx: 64, chunks: 4 } : undefined });
    const g = await readGguf(memorySource(sink.bytes()));
    assert.is(masks.size, 2 * 7, `${spec.method}: 7 matrices per block pruned`);
    for (const t of g.tensors) {
      if (!masks.has(t.name)) continue;
      const w = engine.dequantize(await readGgufTensorRows(g, t, 0, t.ne[1]), { type: t.type.name, rows: t.ne[1], cols: t.ne[0] } as any);
      const m = masks.get(t.name)!;
      let zeros = 0;
      for (let i = 0; i < w.length; i++) { if (!m[i] && w[i] !== 0) assert.unreachable(`${t.name}: pruned weight ${i} is ${w[i]}`); if (w[i] === 0) zeros++; }
      assert.ok(zeros >= w.length / 2, `${t.name}: ${zeros} zeros of ${w.length}`);
      if ("nm" in spec) assert.is(nmViolation(engine, m, t.ne[1], t.ne[0], 2, 4), -1);
    }
    const kv = g.metadata.find((k) => k.key === "quantize.method");
    assert.is(String(kv?.value), `prune-${spec.method}`);
  }
  // no calibration for SparseGPT / Wanda: refused before anything is written
  for (const method of ["wanda", "sparsegpt"] as const) {
    const sink = memorySink();
    try { await quantizeModel(engine, src, sink, { ftype: "F16", methods: [pruneMethod({ method, sparsity: 0.5 })] }); assert.unreachable("no calibration accepted"); }
    catch (e) { assert.ok(code("E_RANGE")(e), String(e)); }
    assert.is(sink.bytes().length, 0);
  }
  {
    const sink = memorySink();
    try { await quantizeModel(engine, src, sink, { ftype: "F16", methods: [pruneMethod({ method: "magnitude", nm: "2:3" })] }); assert.unreachable("2:3 on 64-wide rows accepted"); }
    catch (e) { assert.ok(code("E_SHAPE")(e), String(e)); }
    assert.is(sink.bytes().length, 0);
  }
  throws(() => pruneMethod({ method: "magnitude", sparsity: 1.2 }), "E_RANGE", "sparsity 1.2");
  throws(() => pruneMethod({ method: "magnitude", nm: "4:4" }), "E_RANGE", "4:4");
  throws(() => pruneMethod({ method: "obs" as any, sparsity: 0.5 }), "E_RANGE", "unknown method");
});

test("mask file: safetensors with one packed bitmask per tensor", () => {
  const m = new Uint8Array(20).map((_, i) => (i % 3 ? 1 : 0));
  const f = encodeMaskFile([{ name: "blk.0.ffn_up.weight", rows: 4, cols: 5, bits: packMask(engine, m) }]);
  const hl = Number(new DataView(f.buffer).getBigUint64(0, true));
  const h = JSON.parse(new TextDecoder().decode(f.subarray(8, 8 + hl)));
  assert.is(h.__metadata__["blk.0.ffn_up.weight.shape"], "4,5");
  assert.equal(h["blk.0.ffn_up.weight"].shape, [3]);
  const bits = f.subarray(8 + hl);
  for (let i = 0; i < 20; i++) assert.is((bits[i >> 3] >> (i & 7)) & 1, m[i]);
});

test.run();
