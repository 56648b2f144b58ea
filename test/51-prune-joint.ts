// SparseGPT's joint prune + quantize (src/prune/joint.ts): at sparsity 0 it is exactly GPTQ (same bytes); at 50% and
// 2:4 its layer-output error beats SparseGPT-then-RTN of the same matrix in q4_K and q4_0; masks are exact-k per
// 128-column block / valid N:M and the pruned weights of symmetric formats decode to exact zeros; through the seam
// (quantizeModel + pruneMethod({ joint: true })) the file records prune-sparsegpt-joint and the masks come back;
// bad input -> typed errors before anything is written. Synthetic data only. ~6 s.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { init, sparseGPT, sparseGptQuantize, nmViolation, TensorshrinkError, syntheticModel, quantizeModel, memorySink, memorySource, readGguf, pruneMethod } from "../src/index";
import { gptqQuantize } from "../src/methods/gptq";
import { readGgufTensorRows } from "../src/formats/gguf";
import { rng } from "./_util";

const engine = await init({ threads: 0 });
async function rejects(f: () => unknown, c: string, msg: string) {
  try { await f(); } catch (e) { assert.ok(e instanceof TensorshrinkError && e.code === c, `${msg}: ${e}`); return; }
  assert.unreachable(`${msg}: did not throw`);
}

const rows = 48, cols = 512, T = 768;
const r = rng(11, 2);
const X = new Float32Array(T * cols);
for (let t = 0; t < T; t++) { let prev = 0; for (let j = 0; j < cols; j++) { prev = 0.6 * prev + r.gauss() * (1 + (j % 5 === 2 ? 3 : 0)); X[t * cols + j] = prev; } }
const H = new Float64Array(cols * cols);
for (let t = 0; t < T; t++) for (let i = 0; i < cols; i++) { const a = X[t * cols + i]; if (a) for (let j = 0; j < cols; j++) H[i * cols + j] += a * X[t * cols + j]; }
const W = Float32Array.from({ length: rows * cols }, () => r.gauss() * 0.05);
/** ‖(W − Ŵ) Xᵀ‖² / ‖W Xᵀ‖² through H (f64). */
function relErr(wh: Float32Array): number {
  let num = 0, den = 0;
  const d = new Float64Array(cols);
  for (let q = 0; q < rows; q++) {
    for (let i = 0; i < cols; i++) d[i] = W[q * cols + i] - wh[q * cols + i];
    for (let i = 0; i < cols; i++) { let a = 0, b = 0; for (let j = 0; j < cols; j++) { a += H[i * cols + j] * d[j]; b += H[i * cols + j] * W[q * cols + j]; } num += d[i] * a; den += W[q * cols + i] * b; }
  }
  return num / den;
}
const dq = (b: Uint8Array, type: string) => engine.dequantize(b, { type, rows, cols } as any);

test("sparsity 0 = GPTQ (lazyBatch 0) byte for byte; 50% and 2:4 beat SparseGPT then RTN (q4_K, q4_0)", () => {
  for (const type of ["q4_K", "q4_0"]) {
    // the joint sweep updates every later column at once in f64, as GPTQ with lazyBatch 0 (lazy batches round differently)
    const g = gptqQuantize(engine, W, rows, cols, H, type, { lazyBatch: 0 });
    const j0 = sparseGptQuantize(engine, W, rows, cols, H, type, { sparsity: 0 });
    assert.ok(Buffer.from(j0.bytes).equals(Buffer.from(g.bytes)), `${type}: joint at sparsity 0 != GPTQ`);
    for (const target of [{ sparsity: 0.5 }, { nm: { n: 2, m: 4 } }] as const) {
      const sg = sparseGPT(engine, W, rows, cols, H, target);
      const then = relErr(dq(engine.quantize(sg.weights, { type, rows, cols }), type));
      const j = sparseGptQuantize(engine, W, rows, cols, H, type, target);
      const joint = relErr(dq(j.bytes, type));
      console.log(`  ${type} ${"nm" in target ? "2:4" : "50%"}: relative output error SparseGPT→RTN ${then.toFixed(5)}, joint ${joint.toFixed(5)} (${(100 * (1 - joint / then)).toFixed(1)}% lower)`);
      assert.ok(joint < then, `${type}: joint ${joint} >= SparseGPT then RTN ${then}`);
      if ("nm" in target) assert.is(nmViolation(engine, j.mask, rows, cols, 2, 4), -1);
      else for (let b = 0; b < cols; b += 128) {
        let pruned = 0;
        for (let q = 0; q < rows; q++) for (let c = b; c < b + 128; c++) pruned += 1 - j.mask[q * cols + c];
        assert.is(pruned, Math.floor(0.5 * rows * 128), `${type}: block ${b / 128} prunes exactly k`);
      }
      if (type === "q4_0") { const w = dq(j.bytes, type); for (let i = 0; i < w.length; i++) if (!j.mask[i] && w[i] !== 0) assert.unreachable(`q4_0: pruned weight ${i} decodes to ${w[i]}`); }
    }
  }
});

test("through the seam: pruneMethod({ joint: true }) writes prune-sparsegpt-joint, masks back, zeros in Q8_0", async () => {
  const src = syntheticModel({ nLayer: 2, nEmbd: 64, nFf: 128, nHead: 4, nHeadKv: 2, nVocab: 96, seed: 3 });
  const masks = new Map<string, Uint8Array>();
  const sink = memorySink();
  const tokens = Int32Array.from({ length: 257 }, (_, i) => (i * 37 + 1) % 96);
  await quantizeModel(engine, src, sink, { ftype: "Q8_0", methods: [pruneMethod({ method: "sparsegpt", sparsity: 0.5, joint: true, onMask: (n, m) => masks.set(n, m) })], calibration: { tokens, ctx: 64, chunks: 4 } });
  const g = await readGguf(memorySource(sink.bytes()));
  assert.is(String(g.metadata.find((k) => k.key === "quantize.method")?.value), "prune-sparsegpt-joint");
  assert.is(masks.size, 2 * 7);
  for (const t of g.tensors) {
    const m = masks.get(t.name);
    if (!m) continue;
    assert.is(t.type.name, "q8_0", t.name);
    const w = engine.dequantize(await readGgufTensorRows(g, t, 0, t.ne[1]), { type: t.type.name, rows: t.ne[1], cols: t.ne[0] } as any);
    let kept = 0;
    for (let i = 0; i < w.length; i++) { kept += m[i]; if (!m[i] && w[i] !== 0) assert.unreachable(`${t.name}: pruned weight ${i} is ${w[i]}`); }
    assert.is(kept, w.length - Math.floor(w.length / 2), `${t.name}: half kept`);
  }
});

test("bad joint input: typed errors before anything is written", async () => {
  assert.throws(() => pruneMethod({ method: "wanda", sparsity: 0.5, joint: true }), (e: unknown) => e instanceof TensorshrinkError && e.code === "E_RANGE");
  await rejects(() => sparseGptQuantize(engine, W, rows, cols, null, "q4_K", { sparsity: 0.5 }), "E_IMATRIX", "no Gram matrix");
  await rejects(() => sparseGptQuantize(engine, W, rows, cols, H, "q4_K", { sparsity: 1 }), "E_RANGE", "sparsity 1");
  await rejects(() => sparseGptQuantize(engine, W, rows, cols, H, "q4_K", {}), "E_RANGE", "neither sparsity nor nm");
  await rejects(() => sparseGptQuantize(engine, W, rows, cols, H, "q4_K", { nm: { n: 4, m: 4 } }), "E_RANGE", "N >= M");
  const w96 = W.subarray(0, rows * 96), h96 = new Float64Array(96 * 96).fill(0.1).map((v, i) => (i % 97 === 0 ? 10 : v));
  await rejects(() => sparseGptQuantize(engine, w96, rows, 96, h96, "q4_K", { sparsity: 0.5 }), "E_SHAPE", "96 columns are not a q4_K block");
  await rejects(() => sparseGptQuantize(engine, w96, rows, 96, h96, "q8_0", { nm: { n: 1, m: 3 } }), "E_RANGE", "groups of 3 do not tile 32-blocks");
  await rejects(() => sparseGptQuantize(engine, W, rows, cols, H.subarray(0, 10), "q4_K", { sparsity: 0.5 }), "E_IMATRIX", "Gram size");
  // the pipeline refuses 1:3 joint on Q8_0 while planning (nothing written)
  const src = syntheticModel({ nLayer: 1, nEmbd: 96, nFf: 192, nHead: 4, nHeadKv: 2, nVocab: 96, seed: 3 });
  const sink = memorySink();
  await rejects(() => quantizeModel(engine, src, sink, { ftype: "Q8_0", methods: [pruneMethod({ method: "sparsegpt", nm: "1:3", joint: true })], calibration: { tokens: Int32Array.from({ length: 200 }, (_, i) => i % 96), ctx: 64 } }), "E_RANGE", "1:3 joint on q8_0");
  assert.is(sink.bytes().length, 0, "nothing written");
});

test.after(() => engine.dispose());
test.run();
