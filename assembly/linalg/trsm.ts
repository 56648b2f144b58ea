// f64 triangular solves with many right-hand sides, row-major, B overwritten by X.
//   dtrsm(side, uplo, n, m, T, ldt, B, ldb)
//     side 0 (left):  T X = B, T n x n, B n x m:  row i of X = (B[i,:] - sum_k T[i][k] X[k,:]) / T[i][i]
//     side 1 (right): X T = B, T n x n, B m x n:  per row x of B, x[j] = b[j] / T[j][j], then
//                     b[rest] -= x[j] * T[j, rest] (rest = j+1.. for upper, ..j-1 for lower)
//     uplo 0: T lower, 1: T upper (the other triangle is not read). Transposed T is the facade's job
//     (op(T) = T^T swaps uplo). Every inner loop is an axpy over a contiguous row (f64x2 in dtrsm).
import { axpy64, axpy64_ref, scal64, scal64_ref, at64 } from "./vec64";

// @ts-ignore: decorator
@inline function trsm_impl(side: i32, uplo: i32, n: i32, m: i32, t: usize, ldt: i32, b: usize, ldb: i32, simd: bool): void {
  if (side == 0) {
    for (let s = 0; s < n; s++) {
      const i = uplo ? n - 1 - s : s;
      const bi = at64(b, i, 0, ldb);
      const k0 = uplo ? i + 1 : 0, k1 = uplo ? n : i;
      for (let k = k0; k < k1; k++) {
        const l = -load<f64>(at64(t, i, k, ldt));
        if (l != 0) {
          if (simd) axpy64(bi, at64(b, k, 0, ldb), l, m);
          else axpy64_ref(bi, at64(b, k, 0, ldb), l, m);
        }
      }
      const inv = 1.0 / load<f64>(at64(t, i, i, ldt));
      if (simd) scal64(bi, inv, m);
      else scal64_ref(bi, inv, m);
    }
  } else {
    for (let r = 0; r < m; r++) {
      const x = at64(b, r, 0, ldb);
      for (let s = 0; s < n; s++) {
        const j = uplo ? s : n - 1 - s;
        const xj = load<f64>(x + (<usize>j << 3)) / load<f64>(at64(t, j, j, ldt));
        store<f64>(x + (<usize>j << 3), xj);
        if (xj == 0) continue;
        if (uplo) {
          if (simd) axpy64(x + (<usize>(j + 1) << 3), at64(t, j, j + 1, ldt), -xj, n - j - 1);
          else axpy64_ref(x + (<usize>(j + 1) << 3), at64(t, j, j + 1, ldt), -xj, n - j - 1);
        } else {
          if (simd) axpy64(x, at64(t, j, 0, ldt), -xj, j);
          else axpy64_ref(x, at64(t, j, 0, ldt), -xj, j);
        }
      }
    }
  }
}

/** SIMD triangular solve (see the file header). About n^2 m flops. */
export function dtrsm(side: i32, uplo: i32, n: i32, m: i32, t: usize, ldt: i32, b: usize, ldb: i32): void {
  trsm_impl(side, uplo, n, m, t, ldt, b, ldb, true);
}

/** Scalar twin of dtrsm. */
export function dtrsm_ref(side: i32, uplo: i32, n: i32, m: i32, t: usize, ldt: i32, b: usize, ldb: i32): void {
  trsm_impl(side, uplo, n, m, t, ldt, b, ldb, false);
}
