// f64 "A B^T" product: C[M x N] = A[M x K] * B[N x K]^T, every element a dot product of two
// contiguous rows (row-major, leading dimensions lda/ldb/ldc). Used for Gram matrices (A A^T),
// for U = A V with V's columns stored as rows, and for L^-T L^-1.
// SIMD: K in blocks of 256 (the rows of one block stay in L1), 4 x 2 tiles of f64x2 accumulators.
import { dot64, dot64_ref, at64 } from "./vec64";

// @ts-ignore: decorator
@inline const KB: i32 = 256;
// @ts-ignore: decorator
@inline const JB: i32 = 64;

// @ts-ignore: decorator
@inline function hsum(v: v128): f64 {
  return f64x2.extract_lane(v, 0) + f64x2.extract_lane(v, 1);
}

// @ts-ignore: decorator
@inline function put(c: usize, v: f64, first: bool): void {
  store<f64>(c, first ? v : load<f64>(c) + v);
}

/** SIMD C = A B^T (f64), see the file header. 2 M N K flops. `sym` = 1: only j <= i is computed (and C's lower triangle written). */
export function dgemm_nt(c: usize, a: usize, b: usize, M: i32, N: i32, K: i32, lda: i32, ldb: i32, ldc: i32, sym: i32): void {
  if (K == 0) {
    for (let i = 0; i < M; i++) memory.fill(at64(c, i, 0, ldc), 0, <usize>N << 3);
    return;
  }
  for (let k0 = 0; k0 < K; k0 += KB) {
    const kb = min(KB, K - k0);
    const first = k0 == 0;
    const kk = kb & ~1;
    // JB rows of B (JB x 256 f64 = 128 KiB) stay in L2 while all row blocks of A pass over them
    for (let j0 = 0; j0 < N; j0 += JB) {
    const jend = min(N, j0 + JB);
    let i = 0;
    for (; i + 4 <= M; i += 4) {
      const a0 = at64(a, i, k0, lda), a1 = at64(a, i + 1, k0, lda), a2 = at64(a, i + 2, k0, lda), a3 = at64(a, i + 3, k0, lda);
      const jn = sym ? min(jend, i + 4) : jend;
      let j = j0;
      for (; j + 2 <= jn; j += 2) {
        const b0 = at64(b, j, k0, ldb), b1 = at64(b, j + 1, k0, ldb);
        let s00 = f64x2.splat(0), s01 = f64x2.splat(0), s10 = f64x2.splat(0), s11 = f64x2.splat(0);
        let s20 = f64x2.splat(0), s21 = f64x2.splat(0), s30 = f64x2.splat(0), s31 = f64x2.splat(0);
        for (let k = 0; k < kk; k += 2) {
          const o = <usize>k << 3;
          const q0 = v128.load(b0 + o), q1 = v128.load(b1 + o);
          let x = v128.load(a0 + o);
          s00 = f64x2.add(s00, f64x2.mul(x, q0)); s01 = f64x2.add(s01, f64x2.mul(x, q1));
          x = v128.load(a1 + o);
          s10 = f64x2.add(s10, f64x2.mul(x, q0)); s11 = f64x2.add(s11, f64x2.mul(x, q1));
          x = v128.load(a2 + o);
          s20 = f64x2.add(s20, f64x2.mul(x, q0)); s21 = f64x2.add(s21, f64x2.mul(x, q1));
          x = v128.load(a3 + o);
          s30 = f64x2.add(s30, f64x2.mul(x, q0)); s31 = f64x2.add(s31, f64x2.mul(x, q1));
        }
        let t00 = hsum(s00), t01 = hsum(s01), t10 = hsum(s10), t11 = hsum(s11);
        let t20 = hsum(s20), t21 = hsum(s21), t30 = hsum(s30), t31 = hsum(s31);
        if (kk < kb) {
          const o = <usize>kk << 3, q0 = load<f64>(b0 + o), q1 = load<f64>(b1 + o);
          let x = load<f64>(a0 + o); t00 += x * q0; t01 += x * q1;
          x = load<f64>(a1 + o); t10 += x * q0; t11 += x * q1;
          x = load<f64>(a2 + o); t20 += x * q0; t21 += x * q1;
          x = load<f64>(a3 + o); t30 += x * q0; t31 += x * q1;
        }
        put(at64(c, i, j, ldc), t00, first); put(at64(c, i, j + 1, ldc), t01, first);
        put(at64(c, i + 1, j, ldc), t10, first); put(at64(c, i + 1, j + 1, ldc), t11, first);
        put(at64(c, i + 2, j, ldc), t20, first); put(at64(c, i + 2, j + 1, ldc), t21, first);
        put(at64(c, i + 3, j, ldc), t30, first); put(at64(c, i + 3, j + 1, ldc), t31, first);
      }
      for (; j < jn; j++) {
        const bj = at64(b, j, k0, ldb);
        put(at64(c, i, j, ldc), dot64(a0, bj, kb), first);
        put(at64(c, i + 1, j, ldc), dot64(a1, bj, kb), first);
        put(at64(c, i + 2, j, ldc), dot64(a2, bj, kb), first);
        put(at64(c, i + 3, j, ldc), dot64(a3, bj, kb), first);
      }
    }
    for (; i < M; i++) {
      const ai = at64(a, i, k0, lda);
      const jn = sym ? min(jend, i + 1) : jend;
      for (let j = j0; j < jn; j++) put(at64(c, i, j, ldc), dot64(ai, at64(b, j, k0, ldb), kb), first);
    }
    }
  }
}

/** Scalar twin of dgemm_nt: one left-to-right dot product per element (same `sym` meaning; with sym, SIMD also writes a few j > i inside its 4-row tiles, which callers ignore). */
export function dgemm_nt_ref(c: usize, a: usize, b: usize, M: i32, N: i32, K: i32, lda: i32, ldb: i32, ldc: i32, sym: i32): void {
  for (let i = 0; i < M; i++) {
    const jn = sym ? min(N, i + 1) : N;
    for (let j = 0; j < jn; j++) store<f64>(at64(c, i, j, ldc), dot64_ref(at64(a, i, 0, lda), at64(b, j, 0, ldb), K));
  }
}
