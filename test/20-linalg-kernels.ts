// Linear-algebra SIMD kernels against their scalar _ref twins (through the facade's kernel option),
// on sizes with tails and more than one SIMD iteration / cache block (K > 256, M > 128, N > 1024).
// The twins sum in different orders, so values agree to a stated tolerance, not bit for bit.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { init, gemm, syrk, cholesky, choleskyInverseUpper, spdInverse, solveTriangular, qr, eigh, svd, type Matrix } from "../src/index";
import { rng } from "./_util";

const engine = await init();

function rand(rows: number, cols: number, seed: number): Matrix {
  const r = rng(seed, 11);
  return { data: Float32Array.from({ length: rows * cols }, () => r.uniform() * 2 - 1), rows, cols };
}
function spd(n: number, seed: number): Matrix {
  const x = rand(n + 7, n, seed);
  const h = syrk(engine, x, { kernel: "ref" });
  for (let i = 0; i < n; i++) h.data[i * n + i] += 0.1;
  return h;
}
/** max |a - b| / max(1, max |b|) */
function relDiff(a: Float32Array | Float64Array, b: Float32Array | Float64Array): number {
  assert.is(a.length, b.length);
  let d = 0, s = 1;
  for (let i = 0; i < a.length; i++) { d = Math.max(d, Math.abs(a[i] - b[i])); s = Math.max(s, Math.abs(b[i])); }
  return d / s;
}

test("sgemm == sgemm_ref: all transposes, alpha/beta, tails and several K/M/N blocks (rel 1e-5)", () => {
  const shapes: [number, number, number][] = [[1, 1, 1], [3, 5, 2], [4, 8, 16], [5, 9, 3], [37, 29, 300], [131, 13, 257], [6, 1030, 9], [0, 4, 3], [4, 3, 0]];
  for (const [M, N, K] of shapes) {
    for (const ta of [false, true]) for (const tb of [false, true]) {
      const a = ta ? rand(K, M, M + 1) : rand(M, K, M + 1), b = tb ? rand(N, K, N + 2) : rand(K, N, N + 2);
      for (const [alpha, beta] of [[1, 0], [-0.5, 1], [2, 0.25]]) {
        const c0 = rand(M, N, 99);
        const x = gemm(engine, a, b, { transA: ta, transB: tb, alpha, beta, c: beta ? { ...c0, data: c0.data.slice() } : undefined });
        const y = gemm(engine, a, b, { transA: ta, transB: tb, alpha, beta, c: beta ? { ...c0, data: c0.data.slice() } : undefined, kernel: "ref" });
        assert.ok(relDiff(x.data, y.data) < 1e-5 * Math.max(1, Math.sqrt(K)), `${M}x${N}x${K} ta=${ta} tb=${tb} a=${alpha} b=${beta}: ${relDiff(x.data, y.data)}`);
      }
    }
  }
  // beta = 0 must overwrite NaN garbage in C without reading it
  const c = { data: new Float32Array(6).fill(NaN), rows: 2, cols: 3 };
  gemm(engine, rand(2, 4, 1), rand(4, 3, 2), { c });
  assert.ok(c.data.every(Number.isFinite));
});

test("ssyrk == ssyrk_ref: AtA / AAt, lower / upper, beta, n > 64 blocks; the other triangle untouched", () => {
  for (const [n, k] of [[1, 1], [7, 5], [65, 300], [130, 17]]) {
    for (const form of ["AtA", "AAt"] as const) for (const uplo of ["lower", "upper"] as const) {
      const a = form === "AtA" ? rand(k, n, n) : rand(n, k, n);
      const c0 = rand(n, n, 5);
      const x = syrk(engine, a, { form, uplo, alpha: 0.5, beta: 2, c: { ...c0, data: c0.data.slice() } });
      const y = syrk(engine, a, { form, uplo, alpha: 0.5, beta: 2, c: { ...c0, data: c0.data.slice() }, kernel: "ref" });
      assert.ok(relDiff(x.data, y.data) < 1e-5 * Math.sqrt(k), `${n} ${k} ${form} ${uplo}`);
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (uplo === "lower" ? j > i : j < i) assert.is(x.data[i * n + j], c0.data[i * n + j]);
    }
  }
});

test("dpotrf / dtrtri / dgemm_nt == _ref (cholesky, choleskyInverseUpper, spdInverse; n = 1, 3, 4, 5, 67, 130)", () => {
  for (const n of [1, 3, 4, 5, 67, 130]) {
    const h = spd(n, n);
    assert.ok(relDiff(cholesky(engine, h).factor.data, cholesky(engine, h, { kernel: "ref" }).factor.data) < 1e-6, `chol ${n}`);
    assert.ok(relDiff(choleskyInverseUpper(engine, h, 0.01).factor.data, choleskyInverseUpper(engine, h, { damp: 0.01, kernel: "ref" }).factor.data) < 1e-6, `ciu ${n}`);
    assert.ok(relDiff(spdInverse(engine, h).inverse.data, spdInverse(engine, h, { kernel: "ref" }).inverse.data) < 1e-5, `inv ${n}`);
  }
});

test("dtrsm == dtrsm_ref: left/right x lower/upper x trans, m with tails", () => {
  for (const n of [1, 5, 33]) {
    const t = rand(n, n, n);
    for (let i = 0; i < n; i++) t.data[i * n + i] = 2 + Math.abs(t.data[i * n + i]);
    for (const side of ["left", "right"] as const) for (const lower of [true, false]) for (const trans of [false, true]) {
      for (const m of [1, 3, 9]) {
        const b = side === "left" ? rand(n, m, m) : rand(m, n, m);
        const x = solveTriangular(engine, t, b, { side, lower, trans }), y = solveTriangular(engine, t, b, { side, lower, trans, kernel: "ref" });
        assert.ok(relDiff(x.data, y.data) < 1e-6, `${n} ${side} ${lower} ${trans} ${m}`);
      }
    }
  }
});

test("dgeqrf / dorgqr == _ref (tall, wide, square with tails)", () => {
  for (const [m, n] of [[1, 1], [5, 3], [3, 5], [70, 33], [33, 70], [64, 64]]) {
    const a = rand(m, n, m * n);
    const x = qr(engine, a), y = qr(engine, a, { kernel: "ref" });
    assert.ok(relDiff(x.Q.data, y.Q.data) < 1e-5, `Q ${m}x${n}`);
    assert.ok(relDiff(x.R.data, y.R.data) < 1e-5, `R ${m}x${n}`);
  }
});

test("dsytrd_reduce + dstein + dormtr_rows (+ dgemm_nt in svd) == _ref, dsyev == dsyev_ref (eigh both methods; svd through it), n = 1, 2, 5, 64, 101", () => {
  for (const [n, method] of [1, 2, 5, 64, 101].flatMap((n) => [[n, "stein"], [n, "ql"]] as const)) {
    const h = spd(n, n + 3);
    const x = eigh(engine, h, { method }), y = eigh(engine, h, { kernel: "ref", method });
    assert.ok(relDiff(x.values, y.values) < 1e-10, `values ${n}`);
    // eigenvectors up to sign
    for (let c = 0; c < n; c++) {
      let dot = 0;
      for (let r = 0; r < n; r++) dot += x.vectors.data[r * n + c] * y.vectors.data[r * n + c];
      assert.ok(Math.abs(Math.abs(dot) - 1) < 1e-5, `vector ${c} of ${n}: ${dot}`);
    }
    const a = rand(n + 4, n, n);
    assert.ok(relDiff(svd(engine, a).S, svd(engine, a, { kernel: "ref" }).S) < 1e-10, `svd ${n}`);
  }
});

test.run();
