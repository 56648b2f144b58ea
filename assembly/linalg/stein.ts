// Eigenvectors of a symmetric tridiagonal matrix by inverse iteration (the idea of LAPACK dstein),
// given its eigenvalues: for each eigenvalue λ_j (ascending), three solves (T − λ_j I) x = x with
// a partially pivoted tridiagonal LU, each followed by modified Gram–Schmidt against the vectors of
// the same cluster (eigenvalues closer than 1e-7 ‖T‖ in a chain) and normalization. Outside
// clusters orthogonality is about ε ‖T‖ / gap < 1e-8; inside, Gram–Schmidt makes it ~ε.
//   dstein(z, n, w, dt, et, work) -> 0
//     dt[n]: diagonal, et[n]: et[i] couples i-1 and i (et[0] unused; the tred2 layout);
//     w[n]: eigenvalues ascending; z (n x n): row j = unit eigenvector of w[j].
//     work: 7 n f64.
import { dot64, dot64_ref, axpy64, axpy64_ref, scal64, scal64_ref, at64 } from "./vec64";

// @ts-ignore: decorator
@inline function ld(p: usize, i: i32): f64 { return load<f64>(p + (<usize>i << 3)); }
// @ts-ignore: decorator
@inline function st(p: usize, i: i32, v: f64): void { store<f64>(p + (<usize>i << 3), v); }

// @ts-ignore: decorator
@inline function stein_impl(z: usize, n: i32, w: usize, dt: usize, et: usize, work: usize, simd: bool): i32 {
  const u0 = work, u1 = work + (<usize>n << 3), u2 = work + (<usize>(2 * n) << 3), ml = work + (<usize>(3 * n) << 3);
  const sw = work + (<usize>(4 * n) << 3), x = work + (<usize>(5 * n) << 3);
  let tnorm: f64 = 0;
  for (let i = 0; i < n; i++) tnorm = max(tnorm, abs(ld(dt, i)) + (i > 0 ? abs(ld(et, i)) : 0) + (i + 1 < n ? abs(ld(et, i + 1)) : 0));
  if (tnorm == 0) tnorm = 1;
  const tiny = 2.220446049250313e-16 * tnorm;
  const ctol = 1e-7 * tnorm;
  let seed: u32 = 0x9e3779b9;
  let c0 = 0; // first row of the current cluster
  let lam_prev: f64 = 0;
  for (let j = 0; j < n; j++) {
    let lam = ld(w, j);
    if (j > 0 && lam - ld(w, j - 1) > ctol) c0 = j;
    // separate (numerically) equal eigenvalues inside a cluster so the LU differs
    if (j > c0 && lam - lam_prev < 10 * tiny) lam = lam_prev + 10 * tiny;
    lam_prev = lam;
    // LU with partial pivoting of T - lam I
    let diag = ld(dt, 0) - lam, sup = n > 1 ? ld(et, 1) : 0;
    for (let i = 0; i < n - 1; i++) {
      const sub = ld(et, i + 1), nd = ld(dt, i + 1) - lam, ns = i + 2 < n ? ld(et, i + 2) : 0;
      if (abs(diag) >= abs(sub)) {
        if (diag == 0) diag = tiny;
        const m = sub / diag;
        st(u0, i, diag); st(u1, i, sup); st(u2, i, 0); st(ml, i, m); st(sw, i, 0);
        diag = nd - m * sup; sup = ns;
      } else {
        const m = diag / sub;
        st(u0, i, sub); st(u1, i, nd); st(u2, i, ns); st(ml, i, m); st(sw, i, 1);
        diag = sup - m * nd; sup = -m * ns;
      }
    }
    if (abs(diag) < tiny) diag = diag < 0 ? -tiny : tiny;
    st(u0, n - 1, diag);
    // start vector: deterministic pseudo-random
    for (let i = 0; i < n; i++) { seed ^= seed << 13; seed ^= seed >> 17; seed ^= seed << 5; st(x, i, <f64>(seed >> 8) / 16777216.0 - 0.5); }
    for (let it = 0; it < 3; it++) {
      // forward: P L
      for (let i = 0; i < n - 1; i++) {
        if (ld(sw, i) != 0) { const t = ld(x, i); st(x, i, ld(x, i + 1)); st(x, i + 1, t); }
        st(x, i + 1, ld(x, i + 1) - ld(ml, i) * ld(x, i));
      }
      // back: U
      st(x, n - 1, ld(x, n - 1) / ld(u0, n - 1));
      if (n > 1) st(x, n - 2, (ld(x, n - 2) - ld(u1, n - 2) * ld(x, n - 1)) / (abs(ld(u0, n - 2)) < tiny ? tiny : ld(u0, n - 2)));
      for (let i = n - 3; i >= 0; i--) {
        let p = ld(u0, i);
        if (abs(p) < tiny) p = p < 0 ? -tiny : tiny;
        st(x, i, (ld(x, i) - ld(u1, i) * ld(x, i + 1) - ld(u2, i) * ld(x, i + 2)) / p);
      }
      // scale, orthogonalize against the cluster, normalize
      let amax: f64 = 0;
      for (let i = 0; i < n; i++) amax = max(amax, abs(ld(x, i)));
      if (!(amax > 0) || !isFinite(amax)) return -(j + 1);
      if (simd) scal64(x, 1.0 / amax, n); else scal64_ref(x, 1.0 / amax, n);
      for (let pass = 0; pass < (j > c0 ? 2 : 0); pass++) {
        for (let q = c0; q < j; q++) {
          const zq = at64(z, q, 0, n);
          if (simd) axpy64(x, zq, -dot64(x, zq, n), n);
          else axpy64_ref(x, zq, -dot64_ref(x, zq, n), n);
        }
      }
      const nrm = Math.sqrt(simd ? dot64(x, x, n) : dot64_ref(x, x, n));
      if (!(nrm > 0)) return -(j + 1);
      if (simd) scal64(x, 1.0 / nrm, n); else scal64_ref(x, 1.0 / nrm, n);
    }
    memory.copy(at64(z, j, 0, n), x, <usize>n << 3);
  }
  return 0;
}

/** SIMD inverse iteration (see the file header). O(n^2) plus O(n c^2) per cluster of c eigenvalues. */
export function dstein(z: usize, n: i32, w: usize, dt: usize, et: usize, work: usize): i32 {
  return stein_impl(z, n, w, dt, et, work, true);
}

/** Scalar twin of dstein. */
export function dstein_ref(z: usize, n: i32, w: usize, dt: usize, et: usize, work: usize): i32 {
  return stein_impl(z, n, w, dt, et, work, false);
}
