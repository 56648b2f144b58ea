// Linear-algebra results against their definitions, with stated tolerances: ‖A − QR‖, ‖A − UΣVᵀ‖,
// orthogonality ‖QᵀQ − I‖, eigen-residuals, L Lᵀ = A, inverses, GPTQ's H⁻¹ Cholesky factor against
// an f64 JS reference (torch's three-step recipe), ill-conditioned and rank-deficient inputs,
// randomized SVD, gemmAsync, and the typed errors. Norms are Frobenius; "rel" = ‖E‖ / ‖A‖.
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  init, gemm, gemmAsync, syrk, cholesky, choleskyInverseUpper, spdInverse, solveTriangular, qr, eigh, svd, randomizedSvd,
  isTensorshrinkError, transpose, type Matrix,
} from "../src/index";
import { rng } from "./_util";

const engine = await init({ threads: 2 });

function rand(rows: number, cols: number, seed: number): Matrix {
  const r = rng(seed, 13);
  return { data: Float32Array.from({ length: rows * cols }, () => r.gauss()), rows, cols };
}
/** f64 product op(A) op(B) of f32/f64 row-major arrays. */
function mul(a: ArrayLike<number>, ar: number, ac: number, b: ArrayLike<number>, br: number, bc: number, ta = false, tb = false): Float64Array {
  const M = ta ? ac : ar, K = ta ? ar : ac, N = tb ? br : bc;
  const c = new Float64Array(M * N);
  for (let i = 0; i < M; i++) for (let k = 0; k < K; k++) {
    const x = ta ? a[k * ac + i] : a[i * ac + k];
    if (x === 0) continue;
    for (let j = 0; j < N; j++) c[i * N + j] += x * (tb ? b[j * bc + k] : b[k * bc + j]);
  }
  return c;
}
const fro = (x: ArrayLike<number>) => { let s = 0; for (let i = 0; i < x.length; i++) s += x[i] * x[i]; return Math.sqrt(s); };
const diffFro = (x: ArrayLike<number>, y: ArrayLike<number>) => { let s = 0; for (let i = 0; i < x.length; i++) s += (x[i] - y[i]) ** 2; return Math.sqrt(s); };
/** ‖QᵀQ − I‖ for an m x k matrix. */
function orthErr(q: Matrix): number {
  const g = mul(q.data, q.rows, q.cols, q.data, q.rows, q.cols, true, false);
  for (let i = 0; i < q.cols; i++) g[i * q.cols + i] -= 1;
  return fro(g);
}
function usv(r: { U: Matrix; S: Float64Array; V: Matrix }): Float64Array {
  const { U, S, V } = r, k = S.length;
  const us = Float64Array.from(U.data, (v, i) => v * S[i % k]);
  return mul(us, U.rows, k, V.data, V.rows, k, false, true);
}
/** A = U diag(s) Vᵀ with random orthonormal U, V (via our QR) and the given singular values. */
function withSpectrum(m: number, n: number, s: number[], seed: number): Matrix {
  const u = qr(engine, rand(m, s.length, seed)).Q, v = qr(engine, rand(n, s.length, seed + 1)).Q;
  const a = usv({ U: u, S: Float64Array.from(s), V: v });
  return { data: Float32Array.from(a), rows: m, cols: n };
}
function throwsCode(fn: () => unknown, code: string): void {
  try { fn(); } catch (e) { assert.ok(isTensorshrinkError(e), String(e)); assert.is((e as any).code, code, String(e)); return; }
  assert.unreachable(`expected ${code}`);
}

test("gemm and syrk equal the f64 product within f32 rounding (rel 1e-6 · sqrt K); gemmAsync == gemm", async () => {
  const a = rand(70, 300, 1), b = rand(300, 50, 2);
  const c = gemm(engine, a, b), ref = mul(a.data, 70, 300, b.data, 300, 50);
  assert.ok(diffFro(c.data, ref) / fro(ref) < 1e-6 * Math.sqrt(300), `${diffFro(c.data, ref) / fro(ref)}`);
  const h = syrk(engine, a), href = mul(a.data, 70, 300, a.data, 70, 300, true);
  assert.ok(diffFro(h.data, href) / fro(href) < 1e-6 * Math.sqrt(70));
  const ct = gemm(engine, b, a, { transA: true, transB: true }), ctref = mul(b.data, 300, 50, a.data, 70, 300, true, true);
  assert.ok(diffFro(ct.data, ctref) / fro(ctref) < 1e-6 * Math.sqrt(300));
  const x = await gemmAsync(engine, a, b), y = await gemmAsync(engine, b, a, { transA: true, transB: true });
  assert.equal(x.data, c.data);
  assert.equal(y.data, ct.data);
});

test("cholesky: L Lᵀ = A (rel 1e-6), upper Uᵀ U = A; damping retry on a singular Gram reports the damping", () => {
  const x = rand(200, 64, 3), h = syrk(engine, x);
  const { factor: L, attempts, damp } = cholesky(engine, h);
  assert.is(attempts, 1); assert.is(damp, 0);
  assert.ok(diffFro(mul(L.data, 64, 64, L.data, 64, 64, false, true), h.data) / fro(h.data) < 1e-6);
  for (let i = 0; i < 64; i++) for (let j = i + 1; j < 64; j++) assert.is(L.data[i * 64 + j], 0);
  const U = cholesky(engine, h, { upper: true }).factor;
  assert.ok(diffFro(mul(U.data, 64, 64, U.data, 64, 64, true, false), h.data) / fro(h.data) < 1e-6);
  // rank 10 < 64: singular; retries until damped enough, then L Lᵀ = H + added I
  const hs = syrk(engine, rand(10, 64, 4));
  const r = cholesky(engine, hs);
  assert.ok(r.attempts > 1 && r.damp > 0 && r.added > 0, JSON.stringify({ a: r.attempts, d: r.damp }));
  const hd = Float64Array.from(hs.data); for (let i = 0; i < 64; i++) hd[i * 64 + i] += r.added;
  assert.ok(diffFro(mul(r.factor.data, 64, 64, r.factor.data, 64, 64, false, true), hd) / fro(hd) < 1e-5);
  throwsCode(() => cholesky(engine, hs, { retry: false }), "E_NOT_SPD");
  const neg = { data: Float32Array.from([1, 0, 0, 0, -4, 0, 0, 0, 1]), rows: 3, cols: 3 }; // mean diag < 0: no damping helps
  throwsCode(() => cholesky(engine, neg), "E_NOT_SPD");
  const indef = { data: Float32Array.from([4, 0, 0, 0, -1, 0, 0, 0, 4]), rows: 3, cols: 3 };
  throwsCode(() => cholesky(engine, indef, { maxDamp: 0.01 }), "E_NOT_SPD");
  assert.ok(cholesky(engine, indef).damp >= 0.1); // -1 + 0.1 * 7/3 > 0 at the earliest
});

test("choleskyInverseUpper matches torch's cholesky(cholesky_inverse(cholesky(H + damp)), upper) in f64 JS (abs 1e-5 · max|U|)", () => {
  const n = 48, x = rand(100, n, 5), h = syrk(engine, x);
  const r = choleskyInverseUpper(engine, h, 0.01);
  // f64 JS reference: Hd = H + 0.01 mean(diag) I; L = chol(Hd); Hinv = L^-T L^-1; U = chol(Hinv)^T
  let md = 0; for (let i = 0; i < n; i++) md += h.data[i * n + i]; md /= n;
  assert.ok(Math.abs(r.added - 0.01 * md) < 1e-9 * md);
  const hd = Float64Array.from(h.data); for (let i = 0; i < n; i++) hd[i * n + i] += 0.01 * md;
  const chol = (a: Float64Array) => { const l = new Float64Array(n * n); for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) { let s = a[i * n + j]; for (let k = 0; k < j; k++) s -= l[i * n + k] * l[j * n + k]; l[i * n + j] = i === j ? Math.sqrt(s) : s / l[j * n + j]; } return l; };
  const L = chol(hd);
  const Li = new Float64Array(n * n);
  for (let c = 0; c < n; c++) for (let i = c; i < n; i++) { let s = i === c ? 1 : 0; for (let k = c; k < i; k++) s -= L[i * n + k] * Li[k * n + c]; Li[i * n + c] = s / L[i * n + i]; }
  const hinv = mul(Li, n, n, Li, n, n, true, false);
  const Lu = chol(hinv); // lower; U = Lu^T
  let err = 0, mx = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) { const u = Lu[j * n + i]; err = Math.max(err, Math.abs(r.factor.data[i * n + j] - u)); mx = Math.max(mx, Math.abs(u)); }
  assert.ok(err < 1e-5 * mx, `${err} vs ${mx}`);
  // and Uᵀ U (Hd) = I
  const uu = mul(r.factor.data, n, n, r.factor.data, n, n, true, false), prod = mul(uu, n, n, hd, n, n);
  for (let i = 0; i < n; i++) prod[i * n + i] -= 1;
  assert.ok(fro(prod) < 1e-4, `${fro(prod)}`);
});

test("spdInverse: A A⁻¹ = I (‖·‖ < 1e-4 at cond ~1e3); solveTriangular: op(T) X = B, X op(T) = B (rel 1e-6)", () => {
  const n = 40, h = syrk(engine, rand(90, n, 6));
  const inv = spdInverse(engine, h).inverse, p = mul(h.data, n, n, inv.data, n, n);
  for (let i = 0; i < n; i++) p[i * n + i] -= 1;
  assert.ok(fro(p) < 1e-4, `${fro(p)}`);
  const L = cholesky(engine, h).factor;
  for (const side of ["left", "right"] as const) for (const lower of [true, false]) for (const trans of [false, true]) {
    const T = lower ? L : transpose(L);
    const b = side === "left" ? rand(n, 7, 8) : rand(7, n, 8);
    const x = solveTriangular(engine, T, b, { side, lower, trans });
    const back = side === "left" ? mul(T.data, n, n, x.data, n, 7, trans) : mul(x.data, 7, n, T.data, n, n, false, trans);
    assert.ok(diffFro(back, b.data) / fro(b.data) < 1e-5, `${side} ${lower} ${trans}: ${diffFro(back, b.data) / fro(b.data)}`);
  }
});

test("qr: ‖A − QR‖/‖A‖ < 1e-6, ‖QᵀQ − I‖ < 1e-5, tall / wide / rank-deficient", () => {
  for (const [m, n] of [[90, 40], [40, 90], [64, 64]]) {
    const a = rand(m, n, m + n), { Q, R } = qr(engine, a);
    assert.ok(diffFro(mul(Q.data, m, Q.cols, R.data, R.rows, n), a.data) / fro(a.data) < 1e-6);
    assert.ok(orthErr(Q) < 1e-5, `${orthErr(Q)}`);
  }
  const a = withSpectrum(60, 30, [5, 3, 1], 9), { Q, R } = qr(engine, a); // rank 3
  assert.ok(diffFro(mul(Q.data, 60, 30, R.data, 30, 30), a.data) / fro(a.data) < 1e-6);
  assert.ok(orthErr(Q) < 1e-5);
});

test("eigh: ‖A V − V Λ‖/‖A‖ < 1e-6, ‖VᵀV − I‖ < 1e-5, ascending; repeated and zero eigenvalues", () => {
  const check = (h: Matrix, method?: "stein" | "ql") => {
    const n = h.rows, { values, vectors: V } = eigh(engine, h, { method });
    for (let i = 1; i < n; i++) assert.ok(values[i] >= values[i - 1]);
    const av = mul(h.data, n, n, V.data, n, n), vl = Float64Array.from(V.data, (v, i) => v * values[i % n]);
    assert.ok(diffFro(av, vl) / fro(h.data) < 1e-6, `${diffFro(av, vl) / fro(h.data)}`);
    assert.ok(orthErr(V) < 1e-5);
    return values;
  };
  for (const method of ["stein", "ql"] as const) {
    const g = syrk(engine, rand(100, 70, 10));
    const a = check(g, method), b = eigh(engine, g, { method: method === "ql" ? "stein" : "ql" }).values;
    for (let i = 0; i < 70; i++) assert.ok(Math.abs(a[i] - b[i]) < 1e-12 * a[69]);
    const v = check(syrk(engine, withSpectrum(50, 40, [3, 3, 3, 1], 11)), method); // eigenvalues 9, 9, 9, 1, 0 x 36
    assert.ok(Math.abs(v[39] - 9) < 1e-4 && Math.abs(v[37] - 9) < 1e-4 && Math.abs(v[36] - 1) < 1e-4 && Math.abs(v[0]) < 1e-4);
    // identity (one cluster of 30), a tight cluster 1 + 1e-9 i, a rank-1 matrix (59 zero eigenvalues)
    const id = { data: new Float32Array(900), rows: 30, cols: 30 }; for (let i = 0; i < 30; i++) id.data[i * 31] = 1;
    check(id, method);
    const q = qr(engine, rand(40, 40, 15)).Q, cl = new Float64Array(1600);
    for (let i = 0; i < 40; i++) for (let j = 0; j < 40; j++) { let t = 0; for (let c = 0; c < 40; c++) t += q.data[i * 40 + c] * (1 + 1e-9 * c) * q.data[j * 40 + c]; cl[i * 40 + j] = t; }
    check({ data: Float32Array.from(cl), rows: 40, cols: 40 }, method);
    const r1 = rand(60, 1, 16); check(syrk(engine, { data: r1.data, rows: 1, cols: 60 }), method);
  }
});

test("svd: ‖A − UΣVᵀ‖/‖A‖ < 1e-6, U, V orthonormal (1e-5); known spectra to 1e-5 σmax incl. cond 1e6 and rank-deficient; truncation", () => {
  for (const [m, n] of [[80, 50], [50, 80]]) {
    const a = rand(m, n, m), r = svd(engine, a);
    assert.ok(diffFro(usv(r), a.data) / fro(a.data) < 1e-6, `${diffFro(usv(r), a.data) / fro(a.data)}`);
    assert.ok(orthErr(r.U) < 1e-5 && orthErr(r.V) < 1e-5, `${orthErr(r.U)} ${orthErr(r.V)}`);
    for (let i = 1; i < r.S.length; i++) assert.ok(r.S[i] <= r.S[i - 1]);
  }
  const s = Array.from({ length: 30 }, (_, i) => 10 ** (-6 * i / 29)); // cond 1e6
  for (const spec of [s, [4, 2, 1, 0.5, 0, 0, 0]]) { // the second: rank 4 in a 60 x 30 matrix
    const a = withSpectrum(60, 30, spec, 12), r = svd(engine, a);
    for (let i = 0; i < 30; i++) assert.ok(Math.abs(r.S[i] - (spec[i] ?? 0)) < 1e-5 * spec[0], `σ${i}: ${r.S[i]} vs ${spec[i] ?? 0}`);
    assert.ok(diffFro(usv(r), a.data) / fro(a.data) < 1e-6);
    assert.ok(orthErr(r.U) < 1e-5 && orthErr(r.V) < 1e-5, `${orthErr(r.U)} ${orthErr(r.V)}`);
  }
  const a = rand(40, 30, 13), full = svd(engine, a), t = svd(engine, a, { rank: 5 });
  assert.is(t.U.cols, 5); assert.is(t.V.rows, 30);
  for (let i = 0; i < 5; i++) assert.ok(Math.abs(t.S[i] - full.S[i]) < 1e-9 * full.S[0]);
  // optimal rank-5 error (Eckart–Young)
  let opt = 0; for (let i = 5; i < 30; i++) opt += full.S[i] ** 2;
  assert.ok(Math.abs(diffFro(usv(t), a.data) - Math.sqrt(opt)) < 1e-4 * Math.sqrt(opt));
});

test("randomizedSvd: deterministic per seed, error within 1.1x of optimal on a decaying spectrum", () => {
  const spec = Array.from({ length: 60 }, (_, i) => Math.exp(-i / 6));
  const a = withSpectrum(200, 150, spec, 14);
  const r = randomizedSvd(engine, a, 10), r2 = randomizedSvd(engine, a, 10);
  assert.equal(r.U.data, r2.U.data); assert.equal(r.S, r2.S);
  let opt = 0; for (let i = 10; i < 60; i++) opt += spec[i] ** 2;
  const err = diffFro(usv(r), a.data);
  assert.ok(err < 1.1 * Math.sqrt(opt), `${err} vs optimal ${Math.sqrt(opt)}`);
  assert.ok(orthErr(r.U) < 1e-5 && orthErr(r.V) < 1e-5);
  for (let i = 0; i < 10; i++) assert.ok(Math.abs(r.S[i] - spec[i]) < 1e-3 * spec[0]);
  assert.not.equal(randomizedSvd(engine, a, 10, { seed: 2, powerIters: 0 }).S, r.S);
});

test("typed errors: shape mismatch, non-finite, rank > min, non-square, budget, bad options", () => {
  const a = rand(4, 3, 1);
  throwsCode(() => gemm(engine, a, rand(4, 3, 2)), "E_SHAPE");
  throwsCode(() => gemm(engine, { data: new Float32Array(5), rows: 2, cols: 3 }, a), "E_SHAPE");
  throwsCode(() => gemm(engine, { data: new Float64Array(12) as any, rows: 4, cols: 3 }, a, { transA: true }), "E_ARG_TYPE");
  const bad = rand(4, 3, 3); bad.data[7] = NaN;
  try { svd(engine, bad); assert.unreachable(); } catch (e: any) { assert.is(e.code, "E_NONFINITE"); assert.is(e.details.row, 2); assert.is(e.details.column, 1); }
  throwsCode(() => svd(engine, a, { rank: 4 }), "E_RANGE");
  throwsCode(() => randomizedSvd(engine, a, 0), "E_RANGE");
  throwsCode(() => cholesky(engine, a), "E_SHAPE");
  throwsCode(() => eigh(engine, a), "E_SHAPE");
  throwsCode(() => svd(engine, rand(300, 300, 4), { maxBytes: 1 << 20 }), "E_OOM");
  throwsCode(() => cholesky(engine, syrk(engine, a), { damp: -1 }), "E_RANGE");
  throwsCode(() => solveTriangular(engine, { data: new Float32Array(4), rows: 2, cols: 2 }, rand(2, 1, 1)), "E_RANGE");
  throwsCode(() => gemm(engine, a, rand(3, 2, 1), { beta: 1 }), "E_RANGE");
  assert.is(engine.liveAllocations, 0);
});

test.run();
