/**
 * Randomized truncated SVD (Halko, Martinsson & Tropp 2011, Algorithm 4.4 with re-orthonormalized
 * power iterations): Y = A Ω with a seeded Gaussian Ω (n x l, l = rank + oversample), q rounds of
 * Q = qr(A qr(A^T Q)), then B = Q^T A (l x n), B = Ub Σ Vb^T by {@link svd}, U = Q Ub.
 * The products with A run in f32 on the packed SIMD GEMM (A stays in wasm memory for the whole
 * call); the QR steps and the small SVD run in f64. Deterministic: same input, seed and options
 * give the same bytes.
 */
import type { KernelHost } from "../quant/general";
import { TensorshrinkError } from "../errors";
import { checkBudget, checkMatrix, kname, withScratch, type LinalgOptions, type Scratch } from "./matrix";
import { checkRank, qrInPlace, svd, type SvdResult } from "./decomp";
import type { Matrix } from "./matrix";
import { gemmWorkBytes } from "./gemm";

/** Options of {@link randomizedSvd}. */
export interface RandomizedSvdOptions extends LinalgOptions {
  /** Extra sampled directions p (l = rank + p, capped at min(m, n)). Default 10. */
  oversample?: number;
  /** Power iterations q (each: one product with A^T and one with A, QR after each). Default 2. */
  powerIters?: number;
  /** Seed of the Gaussian test matrix (32-bit integer). Default 1. */
  seed?: number;
}

/** Seeded N(0, 1) stream: mulberry32 uniforms + Box-Muller. */
export function gaussianStream(seed: number): () => number {
  let s = seed >>> 0;
  const u = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  let spare: number | null = null;
  return () => {
    if (spare !== null) { const v = spare; spare = null; return v; }
    const r = Math.sqrt(-2 * Math.log(u())), th = 2 * Math.PI * u();
    spare = r * Math.sin(th);
    return r * Math.cos(th);
  };
}

/**
 * Rank-`rank` SVD of A (m x n) by random projection: A ≈ U diag(S) V^T with U m x rank, V n x rank.
 * Error close to the optimal rank-k error for matrices with a decaying spectrum (more power
 * iterations help flat spectra). Wasm memory: 4 m n + 4 (m + n) l + 8 (2 max(m, n) l + l) bytes +
 * ~1.2 MiB, l = rank + oversample (plus the small SVD of the l x n matrix B: ~16 n l + 8 l^2).
 * About (4 + 4q) m n l flops in f32 GEMM.
 * Errors: E_SHAPE, E_NONFINITE, E_RANGE (rank > min(m, n), bad options), E_OOM.
 */
export function randomizedSvd(host: KernelHost, a: Matrix, rank: number, opts: RandomizedSvdOptions = {}): SvdResult {
  checkMatrix(a, "randomizedSvd A", opts.name);
  const { rows: m, cols: n } = a;
  const k = checkRank(rank, m, n, "randomizedSvd");
  const p = opts.oversample ?? 10, q = opts.powerIters ?? 2, seed = opts.seed ?? 1;
  if (!Number.isInteger(p) || p < 0) throw new TensorshrinkError("E_RANGE", `oversample must be an integer >= 0, got ${p}`);
  if (!Number.isInteger(q) || q < 0 || q > 100) throw new TensorshrinkError("E_RANGE", `powerIters must be an integer in 0..100, got ${q}`);
  if (!Number.isInteger(seed)) throw new TensorshrinkError("E_RANGE", `seed must be an integer, got ${seed}`);
  const l = Math.min(k + p, Math.min(m, n));
  const work = gemmWorkBytes(host);
  checkBudget(4 * m * n + 4 * (m + n) * l + 8 * (2 * Math.max(m, n) * l + l) + work, opts, "randomizedSvd");
  const g = kname(host, "sgemm", { kernel: "simd" });
  const { B, Q } = withScratch(host, (s) => {
    const pa = s.putF32(a.data), pw = s.alloc(work);
    const mm = (pc: number, pA: number, pB: number, M: number, N: number, K: number, lda: number, ldb: number, ta: number, tb: number) =>
      s.call(g, pc, pA, pB, M, N, K, lda, ldb, N, ta, tb, 1, 0, pw);
    // Ω (n x l)
    const pz = s.alloc(4 * n * l), py = s.alloc(4 * m * l);
    { const om = s.f32(pz, n * l), rnd = gaussianStream(seed); for (let i = 0; i < n * l; i++) om[i] = rnd(); }
    mm(py, pa, pz, m, l, n, n, l, 0, 0); // Y = A Ω
    orth(s, py, m, l, opts);
    for (let it = 0; it < q; it++) {
      mm(pz, pa, py, n, l, m, n, l, 1, 0); // Z = A^T Q
      orth(s, pz, n, l, opts);
      mm(py, pa, pz, m, l, n, n, l, 0, 0); // Y = A Z
      orth(s, py, m, l, opts);
    }
    const pbm = s.alloc(4 * l * n);
    mm(pbm, py, pa, l, n, m, l, n, 1, 0); // B = Q^T A
    return { B: new Float32Array(s.f32(pbm, l * n)), Q: new Float32Array(s.f32(py, m * l)) };
  });
  const small = svd(host, { data: B, rows: l, cols: n }, { ...opts, rank: k });
  // U = Q Ub (m x l times l x k), f64 sums
  const ub = small.U.data, U = new Float32Array(m * k), acc = new Float64Array(k);
  for (let r = 0; r < m; r++) {
    acc.fill(0);
    for (let j = 0; j < l; j++) { const qv = Q[r * l + j]; if (qv !== 0) for (let c = 0; c < k; c++) acc[c] += qv * ub[j * k + c]; }
    for (let c = 0; c < k; c++) U[r * k + c] = acc[c];
  }
  return { U: { data: U, rows: m, cols: k }, S: small.S, V: small.V };
}

/** Replaces the f32 m x l matrix at p by the Q of its thin QR (f64 Householder). */
function orth(s: Scratch, p: number, m: number, l: number, opts: LinalgOptions): void {
  const pd = s.putF64(s.f32(p, m * l));
  const pq = qrInPlace(s, pd, m, l, opts);
  s.f32(p, m * l).set(s.f64(pq, m * l));
  s.release(pd); s.release(pq);
}
