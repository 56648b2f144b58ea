// Methods: the ggml grid codecs GPTQ rounds on (bytes decode with the normal dequantizers), GPTQ against a
// straightforward f64 JS GPTQ (same codes), GPTQ's output error below RTN's, damping instead of NaN on a
// singular/indefinite H, and (with ../shared/models/kjv3M) GPTQ Q4_K_M beating RTN's KLD on the engine's eval.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import path from "node:path";
import { init, gptqQuantize, quantizeModel, memorySink, memorySource, LlamaModel, evaluate, splitDocuments, readGguf } from "../src/index";
import { hasGrid, newGrid, readGrid, setQuant, nearestQ } from "../src/methods/grid";
import { rng } from "./_util";
import { randMat, hessian as hessianOf, outErr, KJV3M, HAVE_KJV3M, kjv3MFloat } from "./_methods-setup";

const engine = await init({ threads: 2 });
const GRID_TYPES = ["q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q4_K", "q5_K", "q6_K"];

test("grid codecs: any integers written with setQuant decode (engine.dequantize) to a·q + b of readGrid", () => {
  for (const type of GRID_TYPES) {
    assert.ok(hasGrid(type), type);
    const B = type.endsWith("_K") ? 256 : 32, rows = 3, cols = 2 * B;
    const x = randMat(rows, cols, 5, 0.1);
    const bytes = engine.quantize(x, { type, rows, cols });
    const bpb = bytes.length / (rows * cols / B);
    const g = newGrid(type), r = rng(9, 1), want = new Float32Array(rows * cols);
    for (let blk = 0; blk < rows * cols / B; blk++) {
      readGrid(type, bytes, blk * bpb, g);
      for (let i = 0; i < B; i++) {
        const q = g.qmin + Math.floor(r.uniform() * (g.qmax - g.qmin + 1));
        setQuant(type, bytes, blk * bpb, i, q);
        want[blk * B + i] = g.a[i] * q + g.b[i];
      }
    }
    const got = engine.dequantize(bytes, { type, rows, cols } as any);
    for (let i = 0; i < got.length; i++) assert.ok(Math.abs(got[i] - want[i]) <= 1e-6 * Math.max(1e-3, Math.abs(want[i])), `${type} value ${i}: ${got[i]} vs ${want[i]}`);
  }
});

/** Straightforward f64 GPTQ (reference): H⁻¹ by Gauss-Jordan, its upper Cholesky factor, the column loop. */
function gptqRef(w: Float32Array, rows: number, cols: number, h: Float64Array, type: string, B: number, im: Float32Array | null): Float64Array {
  const n = cols, H = Float64Array.from(h);
  let md = 0; for (let i = 0; i < n; i++) md += H[i * n + i]; md /= n;
  for (let i = 0; i < n; i++) H[i * n + i] += 0.01 * md;
  const A = new Float64Array(n * 2 * n);
  for (let i = 0; i < n; i++) { for (let j = 0; j < n; j++) A[i * 2 * n + j] = H[i * n + j]; A[i * 2 * n + n + i] = 1; }
  for (let c = 0; c < n; c++) {
    const p = A[c * 2 * n + c];
    for (let j = 0; j < 2 * n; j++) A[c * 2 * n + j] /= p;
    for (let r = 0; r < n; r++) if (r !== c) { const f = A[r * 2 * n + c]; if (f) for (let j = 0; j < 2 * n; j++) A[r * 2 * n + j] -= f * A[c * 2 * n + j]; }
  }
  const Hi = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) Hi[i * n + j] = A[i * 2 * n + n + j];
  const U = new Float64Array(n * n); // Hi = UᵀU, U upper
  for (let i = 0; i < n; i++) {
    let s = Hi[i * n + i]; for (let k = 0; k < i; k++) s -= U[k * n + i] ** 2;
    U[i * n + i] = Math.sqrt(s);
    for (let j = i + 1; j < n; j++) { let t = Hi[i * n + j]; for (let k = 0; k < i; k++) t -= U[k * n + i] * U[k * n + j]; U[i * n + j] = t / U[i * n + i]; }
  }
  const W = Float64Array.from(w), Q = new Float64Array(rows * cols), g = newGrid(type);
  for (let g0 = 0; g0 < cols; g0 += B) {
    const wg = new Float32Array(rows * B);
    for (let r = 0; r < rows; r++) for (let j = 0; j < B; j++) wg[r * B + j] = W[r * cols + g0 + j];
    const qb = engine.quantize(wg, { type, rows, cols: B, imatrix: im ? im.subarray(g0, g0 + B) : null });
    const bpb = qb.length / rows;
    for (let j = g0; j < g0 + B; j++) {
      for (let r = 0; r < rows; r++) {
        readGrid(type, qb, r * bpb, g);
        const a = g.a[j - g0], b = g.b[j - g0];
        const q = a * nearestQ(W[r * cols + j], a, b, g.qmin, g.qmax) + b;
        Q[r * cols + j] = q;
        const e = (W[r * cols + j] - q) / U[j * n + j];
        for (let k = j + 1; k < cols; k++) W[r * cols + k] -= e * U[j * n + k];
      }
    }
  }
  return Q;
}

/** Correlated inputs X [T, cols] (every 7th column mixed with column 0) and H = XᵀX. */
const hessian = (T: number, cols: number, seed: number) => hessianOf(T, cols, seed, (z, t, j) => z[t * cols + j] + 0.8 * z[t * cols + Math.max(0, j - 1)] + (j % 7 === 0 ? 3 * z[t * cols] : 0));

test("GPTQ equals a straightforward f64 JS GPTQ's codes (q4_0, q8_0: 96 columns, 3 blocks; q4_K: 256)", () => {
  for (const [type, cols, B] of [["q4_0", 96, 32], ["q8_0", 96, 32], ["q4_K", 256, 256]] as const) {
    const rows = 6, w = randMat(rows, cols, 11, 0.05), h = hessian(400, cols, 12);
    const r = gptqQuantize(engine, w, rows, cols, h, type, {});
    const ref = gptqRef(w, rows, cols, h, type, B, null);
    let diff = 0;
    for (let i = 0; i < ref.length; i++) if (Math.abs(r.recon[i] - ref[i]) > 1e-6 * Math.max(1e-3, Math.abs(ref[i]))) diff++;
    assert.ok(diff <= 1, `${type}: ${diff} of ${ref.length} codes differ from the f64 reference`);
    assert.equal(engine.dequantize(r.bytes, { type, rows, cols } as any), r.recon, "recon = dequantize(bytes)");
  }
});

test("GPTQ's output error tr(ΔW H ΔWᵀ) is below imatrix RTN's on every type (per-column and block variants)", () => {
  for (const type of ["q4_0", "q5_1", "q8_0", "q4_K", "q5_K", "q6_K", "q3_K", "q2_K"]) {
    const B = type.endsWith("_K") ? 256 : 32, cols = type.endsWith("_K") ? 512 : 128, rows = 8;
    const w = randMat(rows, cols, 21, 0.05), h = hessian(300, cols, 22);
    const im = new Float32Array(cols).map((_v, j) => h[j * cols + j] / 300);
    const r = gptqQuantize(engine, w, rows, cols, h, type, { imatrix: im });
    const rtn = engine.dequantize(engine.quantize(w, { type, rows, cols, imatrix: im }), { type, rows, cols } as any);
    const eg = outErr(w, r.recon, rows, cols, h), er = outErr(w, rtn, rows, cols, h);
    assert.ok(eg < er, `${type}: GPTQ ${eg.toExponential(3)} vs RTN ${er.toExponential(3)} (B ${B})`);
  }
});

test("singular or indefinite H: damping is raised (reported), never NaN", () => {
  const cols = 64, rows = 4, w = randMat(rows, cols, 31, 0.05);
  const h = hessian(3, cols, 32); // rank 3
  const r = gptqQuantize(engine, w, rows, cols, h, "q8_0", {});
  assert.ok(r.recon.every(Number.isFinite));
  let md = 0; for (let i = 0; i < cols; i++) md += h[i * cols + i]; md /= cols;
  const bad = Float64Array.from(h); for (let i = 0; i < cols; i++) bad[i * cols + i] -= 0.05 * md; // indefinite: 0.01 damping is not enough
  const r2 = gptqQuantize(engine, w, rows, cols, bad, "q8_0", {});
  assert.ok(r2.recon.every(Number.isFinite));
  assert.ok(r2.damp > 0.01 && r2.attempts > 1, `damp ${r2.damp} after ${r2.attempts} attempts`);
  const worse = Float64Array.from(h); for (let i = 0; i < cols; i++) worse[i * cols + i] = -1;
  worse[0] = 1e3;
  try { gptqQuantize(engine, w, rows, cols, worse, "q8_0", { name: "blk.0.x" }); assert.unreachable("no error"); }
  catch (e: any) { assert.is(e.code, "E_NOT_SPD", String(e)); }
});

const K = KJV3M;
if (!HAVE_KJV3M) console.log(`SKIP kjv3M check: ${K}/kjv3M.bin not found`);
else test("kjv3M: GPTQ Q4_K_M (8 × 128 calibration tokens) has lower KLD than RTN on 25 eval.txt documents (engine eval)", async () => {
  const { tok, base } = await kjv3MFloat(engine);
  const calib = tok.encode(readFileSync(path.join(K, "calib.txt"), "utf8").slice(0, 40000), { addBos: true });
  const rtn = memorySink(), gq = memorySink();
  await quantizeModel(engine, base, rtn, { ftype: "Q4_K_M" });
  const rep = await quantizeModel(engine, base, gq, { ftype: "Q4_K_M", methods: ["gptq"], calibration: { tokens: calib, ctx: 128, chunks: 8 } });
  assert.is(rep.methods!.sweep!.layers, 4);
  const gg = await readGguf(memorySource(gq.bytes()));
  assert.is(gg.kv.get("quantize.method")?.value, "gptq");
  assert.is(Number(gg.kv.get("quantize.calibration.tokens")?.value), 1024);
  const extra = gq.bytes().length - rtn.bytes().length;
  assert.ok(extra >= 0 && extra < 512, `same tensor types: only the method metadata differs (${extra} bytes)`);
  const docs = splitDocuments(readFileSync(path.join(K, "eval.txt"), "utf8")).slice(0, 25).map((d) => tok.encode(d, { addBos: false }));
  const open = (b: Uint8Array) => LlamaModel.open(engine, memorySource(b, "m.gguf") as any, { nCtx: 128 });
  const mb = await LlamaModel.open(engine, base, { nCtx: 128 }), mr = await open(rtn.bytes()), mg = await open(gq.bytes());
  const er = await evaluate({ base: mb, other: mr, documents: docs, ctx: 128 });
  const eg = await evaluate({ base: mb, other: mg, documents: docs, ctx: 128 });
  console.log(`  Q4_K_M KLD: RTN ${er.kld!.mean.toFixed(6)}, GPTQ ${eg.kld!.mean.toFixed(6)} (${(eg.kld!.mean / er.kld!.mean).toFixed(3)}x); sizes ${rtn.bytes().length} / ${gq.bytes().length} B`);
  assert.ok(eg.kld!.mean < er.kld!.mean, `GPTQ ${eg.kld!.mean} vs RTN ${er.kld!.mean}`);
  mb.dispose(); mr.dispose(); mg.dispose();
  await base.close?.();
});

test.run();
