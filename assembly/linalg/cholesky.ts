// f64 Cholesky factorization and triangular inverse, row-major, in place.
//   dpotrf_lower(A, n, lda) -> 0, or j+1 when the pivot of row j is <= 0 / not finite (not SPD).
//     Crout by rows: L[i][j] = (A[i][j] - L[i,0:j] . L[j,0:j]) / L[j][j], L[i][i] = sqrt(...).
//     Only the lower triangle (j <= i) is read and written; the strict upper triangle is left as is.
//   dtrtri_lower(L, n, lda, work) -> L^-1 (lower) in place; work: n f64.
// The SIMD forms run four rows i at a time (one pass over row j feeds four f64x2 dot products);
// the _ref twins are the same recurrences with plain left-to-right scalar sums.
import { dot64, dot64_ref, axpy64, axpy64_ref, scal64, scal64_ref, at64 } from "./vec64";

/** Scalar twin of dpotrf_lower. */
export function dpotrf_lower_ref(a: usize, n: i32, lda: i32): i32 {
  for (let i = 0; i < n; i++) {
    const ri = at64(a, i, 0, lda);
    for (let j = 0; j <= i; j++) {
      const s = load<f64>(ri + (<usize>j << 3)) - dot64_ref(ri, at64(a, j, 0, lda), j);
      if (j < i) store<f64>(ri + (<usize>j << 3), s / load<f64>(at64(a, j, j, lda)));
      else {
        if (!(s > 0) || !isFinite(s)) return i + 1;
        store<f64>(ri + (<usize>j << 3), Math.sqrt(s));
      }
    }
  }
  return 0;
}

/** SIMD Cholesky (lower), see the file header. About n^3/3 flops. */
export function dpotrf_lower(a: usize, n: i32, lda: i32): i32 {
  let i0 = 0;
  for (; i0 + 4 <= n; i0 += 4) {
    const r0 = at64(a, i0, 0, lda), r1 = at64(a, i0 + 1, 0, lda), r2 = at64(a, i0 + 2, 0, lda), r3 = at64(a, i0 + 3, 0, lda);
    // columns j < i0: rows i0..i0+3 against the finished row j
    for (let j = 0; j < i0; j++) {
      const rj = at64(a, j, 0, lda);
      let s0 = f64x2.splat(0), s1 = f64x2.splat(0), s2 = f64x2.splat(0), s3 = f64x2.splat(0);
      let k = 0;
      for (; k + 2 <= j; k += 2) {
        const o = <usize>k << 3;
        const q = v128.load(rj + o);
        s0 = f64x2.add(s0, f64x2.mul(v128.load(r0 + o), q));
        s1 = f64x2.add(s1, f64x2.mul(v128.load(r1 + o), q));
        s2 = f64x2.add(s2, f64x2.mul(v128.load(r2 + o), q));
        s3 = f64x2.add(s3, f64x2.mul(v128.load(r3 + o), q));
      }
      let t0 = f64x2.extract_lane(s0, 0) + f64x2.extract_lane(s0, 1);
      let t1 = f64x2.extract_lane(s1, 0) + f64x2.extract_lane(s1, 1);
      let t2 = f64x2.extract_lane(s2, 0) + f64x2.extract_lane(s2, 1);
      let t3 = f64x2.extract_lane(s3, 0) + f64x2.extract_lane(s3, 1);
      if (k < j) {
        const o = <usize>k << 3, q = load<f64>(rj + o);
        t0 += load<f64>(r0 + o) * q; t1 += load<f64>(r1 + o) * q; t2 += load<f64>(r2 + o) * q; t3 += load<f64>(r3 + o) * q;
      }
      const o = <usize>j << 3, inv = 1.0 / load<f64>(rj + o);
      store<f64>(r0 + o, (load<f64>(r0 + o) - t0) * inv);
      store<f64>(r1 + o, (load<f64>(r1 + o) - t1) * inv);
      store<f64>(r2 + o, (load<f64>(r2 + o) - t2) * inv);
      store<f64>(r3 + o, (load<f64>(r3 + o) - t3) * inv);
    }
    // the 4 x 4 diagonal block
    for (let i = i0; i < i0 + 4; i++) {
      const ri = at64(a, i, 0, lda);
      for (let j = i0; j <= i; j++) {
        const s = load<f64>(ri + (<usize>j << 3)) - dot64(ri, at64(a, j, 0, lda), j);
        if (j < i) store<f64>(ri + (<usize>j << 3), s / load<f64>(at64(a, j, j, lda)));
        else {
          if (!(s > 0) || !isFinite(s)) return i + 1;
          store<f64>(ri + (<usize>j << 3), Math.sqrt(s));
        }
      }
    }
  }
  for (let i = i0; i < n; i++) {
    const ri = at64(a, i, 0, lda);
    for (let j = 0; j <= i; j++) {
      const s = load<f64>(ri + (<usize>j << 3)) - dot64(ri, at64(a, j, 0, lda), j);
      if (j < i) store<f64>(ri + (<usize>j << 3), s / load<f64>(at64(a, j, j, lda)));
      else {
        if (!(s > 0) || !isFinite(s)) return i + 1;
        store<f64>(ri + (<usize>j << 3), Math.sqrt(s));
      }
    }
  }
  return 0;
}

// @ts-ignore: decorator
@inline function trtri_impl(a: usize, n: i32, lda: i32, work: usize, simd: bool): void {
  // row i of X = L^-1: X[i, 0:i] = -(sum_k L[i][k] X[k, 0:k+1]) / L[i][i], X[i][i] = 1 / L[i][i]
  for (let i = 0; i < n; i++) {
    const ri = at64(a, i, 0, lda);
    memory.copy(work, ri, <usize>i << 3);
    memory.fill(ri, 0, <usize>i << 3);
    for (let k = 0; k < i; k++) {
      const l = -load<f64>(work + (<usize>k << 3));
      if (l != 0) {
        if (simd) axpy64(ri, at64(a, k, 0, lda), l, k + 1);
        else axpy64_ref(ri, at64(a, k, 0, lda), l, k + 1);
      }
    }
    const inv = 1.0 / load<f64>(ri + (<usize>i << 3));
    store<f64>(ri + (<usize>i << 3), 1.0);
    if (simd) scal64(ri, inv, i + 1);
    else scal64_ref(ri, inv, i + 1);
  }
}

/** In-place inverse of a lower-triangular f64 matrix with nonzero diagonal (work: n f64). About n^3/3 flops. */
export function dtrtri_lower(a: usize, n: i32, lda: i32, work: usize): void {
  trtri_impl(a, n, lda, work, true);
}

/** Scalar twin of dtrtri_lower. */
export function dtrtri_lower_ref(a: usize, n: i32, lda: i32, work: usize): void {
  trtri_impl(a, n, lda, work, false);
}
