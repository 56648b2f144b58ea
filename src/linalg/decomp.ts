/**
 * Householder QR, symmetric eigendecomposition and SVD of row-major f32 matrices, computed in f64
 * (`dgeqrf`/`dorgqr`, `dsyev` = tred2 + implicit QL, `dgemm_nt` kernels) and rounded to f32 at
 * the end (singular values and eigenvalues are returned as Float64Array).
 */
import { TensorshrinkError } from "../errors";
import type { KernelHost } from "../quant/general";
import { checkBudget, checkMatrix, checkSquare, kname, withScratch, type LinalgOptions, type Matrix, type Scratch } from "./matrix";

/** Thin QR: A = Q R. */
export interface QrResult {
  /** m x k with orthonormal columns, k = min(m, n). */
  Q: Matrix;
  /** k x n upper triangular (trapezoidal when m < n); the diagonal may be negative (LAPACK convention). */
  R: Matrix;
}

/** @internal Thin Q (m x k, f64, at the returned pointer) of the f64 m x n matrix at pa (overwritten by R and the reflectors). */
export function qrInPlace(s: Scratch, pa: number, m: number, n: number, opts?: LinalgOptions): number {
  const k = Math.min(m, n);
  const tau = s.alloc(8 * k), work = s.alloc(8 * Math.max(1, n)), pq = s.alloc(8 * m * k);
  s.call(kname(s.host, "dgeqrf", opts), pa, m, n, n, tau, work);
  s.call(kname(s.host, "dorgqr", opts), pq, pa, m, n, k, n, k, tau, work);
  return pq;
}

/**
 * Householder QR (unblocked, f64): thin Q (m x k) and R (k x n), k = min(m, n).
 * Wasm memory: 8 (m n + m k + n + k) bytes. About 4 m n k flops with Q.
 */
export function qr(host: KernelHost, a: Matrix, opts: LinalgOptions = {}): QrResult {
  checkMatrix(a, "qr A", opts.name);
  const { rows: m, cols: n } = a, k = Math.min(m, n);
  checkBudget(8 * (m * n + m * k + n + k), opts, "qr");
  return withScratch(host, (s) => {
    const pa = s.putF64(a.data);
    const pq = qrInPlace(s, pa, m, n, opts);
    const r = new Float32Array(k * n), w = s.f64(pa, m * n);
    for (let i = 0; i < k; i++) for (let j = i; j < n; j++) r[i * n + j] = w[i * n + j];
    return { Q: { data: new Float32Array(s.f64(pq, m * k)), rows: m, cols: k }, R: { data: r, rows: k, cols: n } };
  });
}

/** Eigendecomposition A = V diag(values) V^T. */
export interface EighResult {
  /** Eigenvalues in ascending order (f64). */
  values: Float64Array;
  /** n x n, column i the unit eigenvector of values[i] (orthonormal columns). */
  vectors: Matrix;
}

/** @internal Plane rotations dsyev buffers before applying them (24 bytes each). */
export const rotationCap = (n: number) => Math.max(1024, 64 * n);

/** Eigensolver of {@link eigh}: "stein" (default) = tridiagonal QL for the eigenvalues, inverse iteration for the eigenvectors, Householder reflectors applied back (blocked over 32 vectors); "ql" = QL rotating the eigenvectors (EISPACK tql2: ~6 n^3 more flops, no clustering heuristics). */
export type EighMethod = "stein" | "ql";

/** @internal Wasm bytes of eighInPlace beyond the n x n input. */
export const eighExtraBytes = (n: number, method: EighMethod = "stein") => (method === "ql" ? 16 * n + 24 * rotationCap(n) : 8 * n * n + 112 * n);

/** @internal Symmetric f64 n x n matrix at pw -> eigenvalues (ascending) returned; rows of pw become the eigenvectors. */
export function eighInPlace(s: Scratch, pw: number, n: number, opts?: LinalgOptions & { method?: EighMethod }): Float64Array {
  const method = opts?.method ?? "stein";
  if (method !== "stein" && method !== "ql") throw new TensorshrinkError("E_RANGE", `eigh: method must be "stein" or "ql", got ${String(method)}`);
  const fail = () => new TensorshrinkError("E_NO_CONVERGENCE", `eigh: the QL iteration did not converge for a ${n} x ${n} matrix${opts?.name ? ` "${opts.name}"` : ""}`, { n });
  const pd = s.alloc(8 * n), pe = s.alloc(8 * n);
  if (method === "ql" || n <= 1) {
    const cap = rotationCap(n), pr = s.alloc(24 * cap);
    if (s.call(kname(s.host, "dsyev", opts), pw, n, pd, pe, pr, cap) !== 0) throw fail();
    return s.f64(pd, n).slice();
  }
  const ph = s.alloc(8 * n);
  s.call(kname(s.host, "dsytrd_reduce", opts), pw, n, pd, pe, ph);
  const dt = s.putF64(s.f64(pd, n)), et = s.putF64(s.f64(pe, n));
  if (s.call("dsterf_stage", n, pd, pe) !== 0) throw fail();
  const pz = s.alloc(8 * n * n), work = s.alloc(56 * n);
  if (s.call(kname(s.host, "dstein", opts), pz, n, pd, dt, et, work) !== 0) throw new TensorshrinkError("E_NO_CONVERGENCE", `eigh: inverse iteration broke down for a ${n} x ${n} matrix`, { n });
  s.call(kname(s.host, "dormtr_rows", opts), pz, n, pw, ph);
  s.f64(pw, n * n).set(s.f64(pz, n * n));
  s.release(pz); s.release(work); s.release(dt); s.release(et); s.release(ph);
  return s.f64(pd, n).slice();
}

/**
 * Symmetric eigendecomposition (lower triangle of A read), f64: Householder tridiagonalization
 * (tred2), then (method "stein", default) QL for the eigenvalues, inverse iteration on the
 * tridiagonal for its eigenvectors and the reflectors applied to them, or (method "ql")
 * implicit QL rotating the eigenvectors. Eigenvalues ascending; eigenvectors orthonormal
 * (residual and orthogonality ~1e-12 before the f32 rounding for generic matrices).
 * Wasm memory: "stein" 16 n^2 + 128 n bytes, about 11 n^3 / 3 flops; "ql" 8 n^2 + 32 n + 24 max(1024, 64 n) bytes, about 9 n^3 flops.
 * Errors: E_SHAPE, E_NONFINITE, E_NO_CONVERGENCE (never seen in practice: 60 QL iterations per eigenvalue).
 */
export function eigh(host: KernelHost, a: Matrix, opts: LinalgOptions & { method?: EighMethod } = {}): EighResult {
  checkMatrix(a, "eigh A", opts.name);
  const n = checkSquare(a, "eigh A", opts.name);
  checkBudget(8 * n * n + 16 * n + eighExtraBytes(n, opts.method), opts, "eigh");
  return withScratch(host, (s) => {
    const pw = s.alloc(8 * n * n);
    const w = s.f64(pw, n * n), d = a.data;
    for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) { const v = d[i * n + j]; w[i * n + j] = v; w[j * n + i] = v; }
    const values = eighInPlace(s, pw, n, opts);
    const v = s.f64(pw, n * n), out = new Float32Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out[j * n + i] = v[i * n + j];
    return { values, vectors: { data: out, rows: n, cols: n } };
  });
}

/** A ≈ U diag(S) V^T. */
export interface SvdResult {
  /** m x k, orthonormal columns (left singular vectors). */
  U: Matrix;
  /** k singular values, descending, >= 0 (f64). */
  S: Float64Array;
  /** n x k, orthonormal columns (right singular vectors; V, not V^T). */
  V: Matrix;
}

/** Options of {@link svd}. */
export interface SvdOptions extends LinalgOptions {
  /** Eigensolver for the Gram matrix (see {@link EighMethod}). Default "stein". */
  method?: EighMethod;
  /** Keep the k largest singular triplets (truncated SVD), 1 <= k <= min(m, n). Default min(m, n). */
  rank?: number;
}

/** @internal Validates a rank against min(m, n). */
export function checkRank(rank: number | undefined, m: number, n: number, what: string): number {
  const mn = Math.min(m, n);
  if (rank === undefined) return mn;
  if (!Number.isInteger(rank) || rank < 1) throw new TensorshrinkError("E_RANGE", `${what}: rank must be a positive integer, got ${rank}`, { rank });
  if (rank > mn) throw new TensorshrinkError("E_RANGE", `${what}: rank ${rank} > min(rows, cols) = ${mn}`, { rank, rows: m, cols: n });
  return rank;
}

/** Columns whose singular value is below this fraction of the largest are re-orthogonalized. */
const REORTH_BELOW = 1e-4;

/**
 * SVD through the f64 Gram matrix with a refinement, for f32 data: for m >= n (else on A^T),
 * G = A^T A (f64 sums of the exact f32 products), G = W diag(λ) W^T by {@link eigh}'s kernel,
 * then B = A W (f64): σ_c = ‖B[:, c]‖, u_c = B[:, c] / σ_c. Singular values carry an absolute error
 * of about 1e-16 σ_max^2 / σ_c, i.e. below 1e-8 σ_max for every σ_c (exact for f32 input's needs,
 * but tiny singular values have no relative accuracy). Columns u_c with σ_c < 1e-4 σ_max (where
 * A w_c / σ_c loses orthogonality: rank-deficient or ill-conditioned inputs) are re-orthogonalized
 * against the larger ones by two Gram-Schmidt passes (replaced by a completing unit vector when
 * nothing is left), so U stays orthonormal.
 * Wasm memory (m >= n): 16 m n + 16 n^2 + 8 m k + 144 n bytes. About 2 m n^2 + 9 n^3 + 2 m n k flops.
 * Errors: E_SHAPE, E_NONFINITE, E_RANGE (rank), E_NO_CONVERGENCE, E_OOM.
 */
export function svd(host: KernelHost, a: Matrix, opts: SvdOptions = {}): SvdResult {
  checkMatrix(a, "svd A", opts.name);
  const k = checkRank(opts.rank, a.rows, a.cols, "svd");
  const m = Math.max(a.rows, a.cols), n = Math.min(a.rows, a.cols);
  checkBudget(16 * m * n + 8 * n * n + 8 * m * k + 32 * n + eighExtraBytes(n), opts, "svd");
  if (a.rows < a.cols) {
    const t = new Float32Array(a.rows * a.cols);
    for (let i = 0; i < a.rows; i++) for (let j = 0; j < a.cols; j++) t[j * a.rows + i] = a.data[i * a.cols + j];
    const r = svdTall(host, t, m, n, k, opts);
    return { U: r.V, S: r.S, V: r.U };
  }
  return svdTall(host, a.data, m, n, k, opts);
}

function svdTall(host: KernelHost, x: Float32Array, m: number, n: number, k: number, opts: LinalgOptions): SvdResult {
  return withScratch(host, (s) => {
    const gemm = kname(host, "dgemm_nt", opts);
    // A^T in f64, G = A^T A (lower triangle), mirrored
    const pt = s.alloc(8 * m * n);
    {
      const t = s.f64(pt, m * n);
      for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) t[j * m + i] = x[i * n + j];
    }
    const pg = s.alloc(8 * n * n);
    s.call(gemm, pg, pt, pt, n, n, m, m, m, n, 1);
    s.release(pt);
    {
      const g = s.f64(pg, n * n);
      for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) g[j * n + i] = g[i * n + j];
    }
    eighInPlace(s, pg, n, opts);
    // Bt[t] = W[n-1-t] A^T for the k largest eigenvalues: Bt (k x m), row t = column t of A W
    const pa = s.putF64(x);
    const pwk = s.alloc(8 * k * n);
    {
      const w = s.f64(pg, n * n), wk = s.f64(pwk, k * n);
      for (let t = 0; t < k; t++) wk.set(w.subarray((n - 1 - t) * n, (n - t) * n), t * n);
    }
    const pb = s.alloc(8 * k * m);
    s.call(gemm, pb, pwk, pa, k, m, n, n, n, m, 0);
    const bt = s.f64(pb, k * m).slice(), wk = s.f64(pwk, k * n).slice();
    return finishSvd(bt, wk, m, n, k);
  });
}

/** @internal From Bt (k x m, rows = A v_t) and Vt (k x n, rows = v_t): sort, normalize, re-orthogonalize small columns. */
export function finishSvd(bt: Float64Array, vt: Float64Array, m: number, n: number, k: number): SvdResult {
  const sig = new Float64Array(k);
  for (let t = 0; t < k; t++) { let q = 0; for (let r = 0; r < m; r++) { const v = bt[t * m + r]; q += v * v; } sig[t] = Math.sqrt(q); }
  const order = Array.from({ length: k }, (_, i) => i).sort((p, q) => sig[q] - sig[p] || p - q);
  const smax = k ? sig[order[0]] : 0;
  const U = new Float32Array(m * k), V = new Float32Array(n * k), S = new Float64Array(k);
  const done: Float64Array[] = [];
  for (let c = 0; c < k; c++) {
    const t = order[c];
    const u = bt.slice(t * m, (t + 1) * m);
    const sc = sig[t];
    S[c] = sc;
    if (sc > 0) for (let r = 0; r < m; r++) u[r] /= sc;
    if (!(sc >= REORTH_BELOW * smax) || sc === 0) {
      let ok = sc > 0 && orthogonalize(u, done) > 0.5;
      for (let e = 0; !ok && e < m; e++) {
        u.fill(0); u[e] = 1;
        ok = orthogonalize(u, done) > 0.5;
      }
    }
    done.push(u);
    for (let r = 0; r < m; r++) U[r * k + c] = u[r];
    for (let j = 0; j < n; j++) V[j * k + c] = vt[t * n + j];
  }
  return { U: { data: U, rows: m, cols: k }, S, V: { data: V, rows: n, cols: k } };
}

/** Two Gram-Schmidt passes of u against the orthonormal vectors in `basis`; normalizes u and returns the norm left after the first pass. */
function orthogonalize(u: Float64Array, basis: Float64Array[]): number {
  let first = 0;
  for (let pass = 0; pass < 2; pass++) {
    for (const q of basis) {
      let d = 0;
      for (let r = 0; r < u.length; r++) d += q[r] * u[r];
      for (let r = 0; r < u.length; r++) u[r] -= d * q[r];
    }
    let nn = 0;
    for (let r = 0; r < u.length; r++) nn += u[r] * u[r];
    nn = Math.sqrt(nn);
    if (pass === 0) first = nn;
    if (nn === 0) return 0;
    for (let r = 0; r < u.length; r++) u[r] /= nn;
  }
  return first;
}
