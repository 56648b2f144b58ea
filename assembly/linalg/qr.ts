// f64 Householder QR, row-major, unblocked (LAPACK dgeqr2 / dorg2r conventions).
//   dgeqrf(A, m, n, lda, tau, work): A = Q R in place. R in the upper triangle (first k = min(m, n)
//     rows), the Householder vectors v_j (v_j[j] = 1 implied) below the diagonal, tau[k] (f64);
//     H_j = I - tau_j v_j v_j^T, Q = H_0 H_1 ... H_{k-1}. work: n f64.
//   dorgqr(Q, A, m, n, k, lda, ldq, tau, work): the thin Q (m x k, leading dim ldq) from dgeqrf's
//     output. work: k f64.
// Applying H_j to the trailing block is two row passes: w = v^T B (w += v_r B[r,:]) and
// B[r,:] -= tau v_r w, both axpys over contiguous rows (f64x2 in the SIMD forms).
import { axpy64, axpy64_ref, at64 } from "./vec64";

// @ts-ignore: decorator
@inline function geqrf_impl(a: usize, m: i32, n: i32, lda: i32, tau: usize, work: usize, simd: bool): void {
  const k = min(m, n);
  for (let j = 0; j < k; j++) {
    // Householder vector of column j, rows j..m-1 (scaled sum of squares: no overflow)
    let amax: f64 = 0;
    for (let r = j + 1; r < m; r++) amax = max(amax, abs(load<f64>(at64(a, r, j, lda))));
    const alpha = load<f64>(at64(a, j, j, lda));
    let t: f64 = 0;
    if (amax > 0) {
      let ss: f64 = 0;
      for (let r = j + 1; r < m; r++) { const v = load<f64>(at64(a, r, j, lda)) / amax; ss += v * v; }
      const xnorm = amax * Math.sqrt(ss);
      const beta = -copysign(Math.hypot(alpha, xnorm), alpha);
      t = (beta - alpha) / beta;
      const sc = 1.0 / (alpha - beta);
      for (let r = j + 1; r < m; r++) store<f64>(at64(a, r, j, lda), load<f64>(at64(a, r, j, lda)) * sc);
      store<f64>(at64(a, j, j, lda), beta);
    }
    store<f64>(tau + (<usize>j << 3), t);
    const nc = n - j - 1;
    if (t == 0 || nc <= 0) continue;
    // w = v^T A[j:m, j+1:n]
    memory.copy(work, at64(a, j, j + 1, lda), <usize>nc << 3);
    for (let r = j + 1; r < m; r++) {
      const v = load<f64>(at64(a, r, j, lda));
      if (v == 0) continue;
      if (simd) axpy64(work, at64(a, r, j + 1, lda), v, nc);
      else axpy64_ref(work, at64(a, r, j + 1, lda), v, nc);
    }
    // A[r, j+1:] -= tau v_r w
    if (simd) axpy64(at64(a, j, j + 1, lda), work, -t, nc);
    else axpy64_ref(at64(a, j, j + 1, lda), work, -t, nc);
    for (let r = j + 1; r < m; r++) {
      const v = load<f64>(at64(a, r, j, lda));
      if (v == 0) continue;
      if (simd) axpy64(at64(a, r, j + 1, lda), work, -t * v, nc);
      else axpy64_ref(at64(a, r, j + 1, lda), work, -t * v, nc);
    }
  }
}

/** SIMD Householder QR (see the file header). About 2 m n^2 - 2 n^3 / 3 flops. */
export function dgeqrf(a: usize, m: i32, n: i32, lda: i32, tau: usize, work: usize): void {
  geqrf_impl(a, m, n, lda, tau, work, true);
}

/** Scalar twin of dgeqrf. */
export function dgeqrf_ref(a: usize, m: i32, n: i32, lda: i32, tau: usize, work: usize): void {
  geqrf_impl(a, m, n, lda, tau, work, false);
}

// @ts-ignore: decorator
@inline function orgqr_impl(q: usize, a: usize, m: i32, n: i32, k: i32, lda: i32, ldq: i32, tau: usize, work: usize, simd: bool): void {
  // Q = H_0 ... H_{k-1} [I_k; 0], applied right to left
  for (let r = 0; r < m; r++) {
    const row = at64(q, r, 0, ldq);
    memory.fill(row, 0, <usize>k << 3);
    if (r < k) store<f64>(row + (<usize>r << 3), 1.0);
  }
  for (let j = k - 1; j >= 0; j--) {
    const t = load<f64>(tau + (<usize>j << 3));
    if (t == 0) continue;
    const nc = k - j;
    // w = v^T Q[j:m, j:k]
    memory.copy(work, at64(q, j, j, ldq), <usize>nc << 3);
    for (let r = j + 1; r < m; r++) {
      const v = load<f64>(at64(a, r, j, lda));
      if (v == 0) continue;
      if (simd) axpy64(work, at64(q, r, j, ldq), v, nc);
      else axpy64_ref(work, at64(q, r, j, ldq), v, nc);
    }
    if (simd) axpy64(at64(q, j, j, ldq), work, -t, nc);
    else axpy64_ref(at64(q, j, j, ldq), work, -t, nc);
    for (let r = j + 1; r < m; r++) {
      const v = load<f64>(at64(a, r, j, lda));
      if (v == 0) continue;
      if (simd) axpy64(at64(q, r, j, ldq), work, -t * v, nc);
      else axpy64_ref(at64(q, r, j, ldq), work, -t * v, nc);
    }
  }
}

/** SIMD: thin Q (m x k) from dgeqrf's vectors and tau. About 4 m n k - 2 (m + n) k^2 + 4 k^3 / 3 flops. */
export function dorgqr(q: usize, a: usize, m: i32, n: i32, k: i32, lda: i32, ldq: i32, tau: usize, work: usize): void {
  orgqr_impl(q, a, m, n, k, lda, ldq, tau, work, true);
}

/** Scalar twin of dorgqr. */
export function dorgqr_ref(q: usize, a: usize, m: i32, n: i32, k: i32, lda: i32, ldq: i32, tau: usize, work: usize): void {
  orgqr_impl(q, a, m, n, k, lda, ldq, tau, work, false);
}
