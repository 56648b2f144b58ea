// f32 GEMM and SYRK, row-major, BLIS-style: A and B are packed into contiguous panels (cache
// blocking KC x MC for A in L2, KC x NC for B in L3), and a 4 x 8 register micro-tile (8 f32x4
// accumulators) runs over each pair of panels. Transposes are handled by the packing only.
//   sgemm(C, A, B, M, N, K, lda, ldb, ldc, transA, transB, alpha, beta, work)
//     C[M x N] = alpha * op(A)[M x K] * op(B)[K x N] + beta * C      (beta == 0: C is not read)
//     transA = 0: A[i*lda + k]; 1: A is stored K x M, A[k*lda + i]. Same for B (N x K when transB).
//   ssyrk(C, A, n, k, lda, ldc, trans, uplo, alpha, beta, work)
//     trans = 0: C[n x n] = alpha * A A^T + beta * C, A is n x k;  trans = 1: alpha * A^T A, A is k x n.
//     uplo = 0: only the lower triangle (j <= i) of C is written/read; 1: only the upper (j >= i).
// `work` is scratch of sgemm_work_bytes() bytes (16-byte aligned), owned by the caller.

// @ts-ignore: decorator
@inline const MR: i32 = 4;
// @ts-ignore: decorator
@inline const NR: i32 = 8;
// @ts-ignore: decorator
@inline const KC: i32 = 256;
// @ts-ignore: decorator
@inline const MC: i32 = 128;
// @ts-ignore: decorator
@inline const NC: i32 = 1024;
/** Diagonal block size of ssyrk. */
// @ts-ignore: decorator
@inline const SYRK_NB: i32 = 64;

const OFF_B: usize = <usize>(MC * KC) << 2;
const OFF_TILE: usize = OFF_B + (<usize>(KC * NC) << 2);
const OFF_DIAG: usize = OFF_TILE + (<usize>(MR * NR) << 2);
const WORK_BYTES: usize = OFF_DIAG + (<usize>(SYRK_NB * SYRK_NB) << 2);

/** Bytes of scratch `work` that sgemm / ssyrk need (fixed: ~1.2 MiB). */
export function sgemm_work_bytes(): i32 {
  return <i32>WORK_BYTES;
}

// ------------------------------------------------------------------ packing

/** Packs op(A)[i0 .. i0+mc, p0 .. p0+kc] * alpha into MR-row panels: Ap[panel][p][r], zero-padded rows. */
function pack_a(ap: usize, a: usize, lda: i32, transA: i32, i0: i32, mc: i32, p0: i32, kc: i32, alpha: f32): void {
  const va = f32x4.splat(alpha);
  for (let ir = 0; ir < mc; ir += MR) {
    const mr = min(MR, mc - ir);
    const dst = ap + (<usize>(ir * kc) << 2);
    if (transA) {
      // element (i, p) at a[(p0+p)*lda + i0+i]: MR contiguous values per p
      const src = a + (<usize>((p0 * lda) + i0 + ir) << 2);
      if (mr == MR) {
        for (let p = 0; p < kc; p++) v128.store(dst + (<usize>p << 4), f32x4.mul(v128.load(src + (<usize>(p * lda) << 2)), va));
      } else {
        for (let p = 0; p < kc; p++) {
          for (let r = 0; r < MR; r++) store<f32>(dst + (<usize>(p * MR + r) << 2), r < mr ? load<f32>(src + (<usize>(p * lda + r) << 2)) * alpha : 0);
        }
      }
    } else {
      // element (i, p) at a[(i0+i)*lda + p0+p]
      const src = a + (<usize>((i0 + ir) * lda + p0) << 2);
      if (mr == MR) {
        const s1 = src + (<usize>lda << 2), s2 = src + (<usize>(2 * lda) << 2), s3 = src + (<usize>(3 * lda) << 2);
        let p = 0;
        for (; p + 4 <= kc; p += 4) {
          // 4 x 4 transpose of rows r0..r3 at columns p..p+3
          const off = <usize>p << 2;
          const r0 = f32x4.mul(v128.load(src + off), va), r1 = f32x4.mul(v128.load(s1 + off), va);
          const r2 = f32x4.mul(v128.load(s2 + off), va), r3 = f32x4.mul(v128.load(s3 + off), va);
          const t0 = v128.shuffle<u32>(r0, r1, 0, 4, 1, 5), t1 = v128.shuffle<u32>(r2, r3, 0, 4, 1, 5);
          const t2 = v128.shuffle<u32>(r0, r1, 2, 6, 3, 7), t3 = v128.shuffle<u32>(r2, r3, 2, 6, 3, 7);
          const d = dst + (<usize>p << 4);
          v128.store(d, v128.shuffle<u64>(t0, t1, 0, 2));
          v128.store(d, v128.shuffle<u64>(t0, t1, 1, 3), 16);
          v128.store(d, v128.shuffle<u64>(t2, t3, 0, 2), 32);
          v128.store(d, v128.shuffle<u64>(t2, t3, 1, 3), 48);
        }
        for (; p < kc; p++) {
          const off = <usize>p << 2, d = dst + (<usize>p << 4);
          store<f32>(d, load<f32>(src + off) * alpha);
          store<f32>(d, load<f32>(s1 + off) * alpha, 4);
          store<f32>(d, load<f32>(s2 + off) * alpha, 8);
          store<f32>(d, load<f32>(s3 + off) * alpha, 12);
        }
      } else {
        for (let p = 0; p < kc; p++) {
          for (let r = 0; r < MR; r++) store<f32>(dst + (<usize>(p * MR + r) << 2), r < mr ? load<f32>(src + (<usize>(r * lda + p) << 2)) * alpha : 0);
        }
      }
    }
  }
}

/** Packs op(B)[p0 .. p0+kc, j0 .. j0+nc] into NR-column panels: Bp[panel][p][c], zero-padded columns. */
function pack_b(bp: usize, b: usize, ldb: i32, transB: i32, p0: i32, kc: i32, j0: i32, nc: i32): void {
  for (let jr = 0; jr < nc; jr += NR) {
    const nr = min(NR, nc - jr);
    const dst = bp + (<usize>(jr * kc) << 2);
    if (!transB) {
      // element (p, j) at b[(p0+p)*ldb + j0+j]
      const src = b + (<usize>(p0 * ldb + j0 + jr) << 2);
      if (nr == NR) {
        for (let p = 0; p < kc; p++) {
          const s = src + (<usize>(p * ldb) << 2), d = dst + (<usize>p << 5);
          v128.store(d, v128.load(s));
          v128.store(d, v128.load(s, 16), 16);
        }
      } else {
        for (let p = 0; p < kc; p++) {
          for (let c = 0; c < NR; c++) store<f32>(dst + (<usize>(p * NR + c) << 2), c < nr ? load<f32>(src + (<usize>(p * ldb + c) << 2)) : 0);
        }
      }
    } else {
      // element (p, j) at b[(j0+j)*ldb + p0+p]
      const src = b + (<usize>((j0 + jr) * ldb + p0) << 2);
      for (let c = 0; c < NR; c++) {
        if (c < nr) {
          const s = src + (<usize>(c * ldb) << 2);
          for (let p = 0; p < kc; p++) store<f32>(dst + (<usize>(p * NR + c) << 2), load<f32>(s + (<usize>p << 2)));
        } else {
          for (let p = 0; p < kc; p++) store<f32>(dst + (<usize>(p * NR + c) << 2), 0);
        }
      }
    }
  }
}

// ------------------------------------------------------------------ micro-kernel

// @ts-ignore: decorator
@inline function merge(c: usize, acc: v128, beta: f32, first: bool): void {
  if (first && beta == 0) v128.store(c, acc);
  else if (!first || beta == 1) v128.store(c, f32x4.add(v128.load(c), acc));
  else v128.store(c, f32x4.add(f32x4.mul(v128.load(c), f32x4.splat(beta)), acc));
}

/**
 * 4 x 8 tile: C[0..mr, 0..nr] (+)= Ap panel * Bp panel over kc. `first`: the first K block, where
 * beta applies (beta == 0: C is overwritten, not read); later blocks add. Partial tiles go through `tile`.
 */
function micro_4x8(kc: i32, ap: usize, bp: usize, c: usize, ldc: i32, mr: i32, nr: i32, beta: f32, first: bool, tile: usize): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  for (let p = 0; p < kc; p++) {
    const b0 = v128.load(bp), b1 = v128.load(bp, 16);
    let a = v128.load32_splat(ap);
    c00 = f32x4.add(c00, f32x4.mul(a, b0)); c01 = f32x4.add(c01, f32x4.mul(a, b1));
    a = v128.load32_splat(ap, 4);
    c10 = f32x4.add(c10, f32x4.mul(a, b0)); c11 = f32x4.add(c11, f32x4.mul(a, b1));
    a = v128.load32_splat(ap, 8);
    c20 = f32x4.add(c20, f32x4.mul(a, b0)); c21 = f32x4.add(c21, f32x4.mul(a, b1));
    a = v128.load32_splat(ap, 12);
    c30 = f32x4.add(c30, f32x4.mul(a, b0)); c31 = f32x4.add(c31, f32x4.mul(a, b1));
    ap += 16; bp += 32;
  }
  const ls = <usize>ldc << 2;
  if (mr == MR && nr == NR) {
    merge(c, c00, beta, first); merge(c + 16, c01, beta, first);
    merge(c + ls, c10, beta, first); merge(c + ls + 16, c11, beta, first);
    merge(c + 2 * ls, c20, beta, first); merge(c + 2 * ls + 16, c21, beta, first);
    merge(c + 3 * ls, c30, beta, first); merge(c + 3 * ls + 16, c31, beta, first);
    return;
  }
  v128.store(tile, c00); v128.store(tile, c01, 16); v128.store(tile, c10, 32); v128.store(tile, c11, 48);
  v128.store(tile, c20, 64); v128.store(tile, c21, 80); v128.store(tile, c30, 96); v128.store(tile, c31, 112);
  for (let r = 0; r < mr; r++) {
    for (let j = 0; j < nr; j++) {
      const t = load<f32>(tile + (<usize>(r * NR + j) << 2));
      const q = c + (<usize>(r * ldc + j) << 2);
      if (first && beta == 0) store<f32>(q, t);
      else if (!first || beta == 1) store<f32>(q, load<f32>(q) + t);
      else store<f32>(q, load<f32>(q) * beta + t);
    }
  }
}

/**
 * SIMD GEMM (see the file header). Per output element the K sum runs in KC = 256 blocks, each
 * accumulated left to right in f32 (alpha is folded into op(A) when packing). Returns nothing;
 * shapes must be valid (the facade checks them). M, N, K >= 0; K == 0 gives C = beta * C.
 */
export function sgemm(c: usize, a: usize, b: usize, M: i32, N: i32, K: i32, lda: i32, ldb: i32, ldc: i32, transA: i32, transB: i32, alpha: f32, beta: f32, work: usize): void {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0) {
    scale_c(c, M, N, ldc, beta);
    return;
  }
  const ap = work, bp = work + OFF_B, tile = work + OFF_TILE;
  for (let jc = 0; jc < N; jc += NC) {
    const nc = min(NC, N - jc);
    for (let pc = 0; pc < K; pc += KC) {
      const kc = min(KC, K - pc);
      pack_b(bp, b, ldb, transB, pc, kc, jc, nc);
      const first = pc == 0;
      for (let ic = 0; ic < M; ic += MC) {
        const mc = min(MC, M - ic);
        pack_a(ap, a, lda, transA, ic, mc, pc, kc, alpha);
        for (let jr = 0; jr < nc; jr += NR) {
          const nr = min(NR, nc - jr);
          const bpp = bp + (<usize>(jr * kc) << 2);
          for (let ir = 0; ir < mc; ir += MR) {
            const mr = min(MR, mc - ir);
            micro_4x8(kc, ap + (<usize>(ir * kc) << 2), bpp, c + (<usize>((ic + ir) * ldc + jc + jr) << 2), ldc, mr, nr, beta, first, tile);
          }
        }
      }
    }
  }
}

/** C = beta * C over M x N (beta == 0 writes zeros without reading C). */
function scale_c(c: usize, M: i32, N: i32, ldc: i32, beta: f32): void {
  for (let i = 0; i < M; i++) {
    const row = c + (<usize>(i * ldc) << 2);
    for (let j = 0; j < N; j++) {
      const q = row + (<usize>j << 2);
      store<f32>(q, beta == 0 ? 0 : load<f32>(q) * beta);
    }
  }
}

/** Scalar twin of sgemm: one f32 dot product per element, k = 0..K-1 in order, then alpha * s + beta * C. */
export function sgemm_ref(c: usize, a: usize, b: usize, M: i32, N: i32, K: i32, lda: i32, ldb: i32, ldc: i32, transA: i32, transB: i32, alpha: f32, beta: f32): void {
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s: f32 = 0;
      for (let k = 0; k < K; k++) {
        const x = load<f32>(a + (<usize>(transA ? k * lda + i : i * lda + k) << 2));
        const y = load<f32>(b + (<usize>(transB ? j * ldb + k : k * ldb + j) << 2));
        s += x * y;
      }
      const q = c + (<usize>(i * ldc + j) << 2);
      store<f32>(q, beta == 0 ? alpha * s : alpha * s + beta * load<f32>(q));
    }
  }
}

// ------------------------------------------------------------------ SYRK

/**
 * SIMD SYRK (see the file header): off-diagonal blocks of SYRK_NB = 64 rows are sgemm calls; each
 * diagonal 64 x 64 block is computed into scratch and only its triangle is merged, so the other
 * triangle of C is neither read nor written. About n^2 k flops (half of the full product).
 */
export function ssyrk(c: usize, a: usize, n: i32, k: i32, lda: i32, ldc: i32, trans: i32, uplo: i32, alpha: f32, beta: f32, work: usize): void {
  const diag = work + OFF_DIAG;
  for (let i0 = 0; i0 < n; i0 += SYRK_NB) {
    const nb = min(SYRK_NB, n - i0);
    // rows i0..i0+nb of op(A) (n x k) and the same rows as op(B)^T
    const ai = trans ? a + (<usize>i0 << 2) : a + (<usize>(i0 * lda) << 2);
    const ta = trans ? 1 : 0, tb = trans ? 0 : 1;
    if (uplo) {
      const j0 = i0 + nb;
      if (j0 < n) sgemm(c + (<usize>(i0 * ldc + j0) << 2), ai, trans ? a + (<usize>j0 << 2) : a + (<usize>(j0 * lda) << 2), nb, n - j0, k, lda, lda, ldc, ta, tb, alpha, beta, work);
    } else if (i0 > 0) {
      sgemm(c + (<usize>(i0 * ldc) << 2), ai, a, nb, i0, k, lda, lda, ldc, ta, tb, alpha, beta, work);
    }
    sgemm(diag, ai, ai, nb, nb, k, lda, lda, SYRK_NB, ta, tb, alpha, 0, work);
    for (let r = 0; r < nb; r++) {
      const j_lo = uplo ? r : 0, j_hi = uplo ? nb : r + 1;
      for (let j = j_lo; j < j_hi; j++) {
        const q = c + (<usize>((i0 + r) * ldc + i0 + j) << 2);
        const t = load<f32>(diag + (<usize>(r * SYRK_NB + j) << 2));
        store<f32>(q, beta == 0 ? t : t + beta * load<f32>(q));
      }
    }
  }
}

/** Scalar twin of ssyrk: one f32 dot product per written element of the triangle, then alpha * s + beta * C. */
export function ssyrk_ref(c: usize, a: usize, n: i32, k: i32, lda: i32, ldc: i32, trans: i32, uplo: i32, alpha: f32, beta: f32): void {
  for (let i = 0; i < n; i++) {
    const j_lo = uplo ? i : 0, j_hi = uplo ? n : i + 1;
    for (let j = j_lo; j < j_hi; j++) {
      let s: f32 = 0;
      for (let p = 0; p < k; p++) {
        const x = load<f32>(a + (<usize>(trans ? p * lda + i : i * lda + p) << 2));
        const y = load<f32>(a + (<usize>(trans ? p * lda + j : j * lda + p) << 2));
        s += x * y;
      }
      const q = c + (<usize>(i * ldc + j) << 2);
      store<f32>(q, beta == 0 ? alpha * s : alpha * s + beta * load<f32>(q));
    }
  }
}

/** Copies the `uplo` triangle of the n x n matrix C into the other one (uplo 0: lower -> upper). */
export function ssym_fill(c: usize, n: i32, ldc: i32, uplo: i32): void {
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const lo = c + (<usize>(j * ldc + i) << 2), up = c + (<usize>(i * ldc + j) << 2);
      if (uplo) store<f32>(lo, load<f32>(up));
      else store<f32>(up, load<f32>(lo));
    }
  }
}
