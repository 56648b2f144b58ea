// Tensor-train (TT) row lookup without decompression.
//
// A TT-matrix of a [rows, cols] matrix A has d cores G_k, f32 row-major [r_k, m_k, n_k, r_{k+1}]
// (r_0 = r_d = 1), with rows = Π m_k and cols = Π n_k (digits most significant first):
//   A[i, j] = G_0[:, i_0, j_0, :] · G_1[:, i_1, j_1, :] · … · G_{d-1}[:, i_{d-1}, j_{d-1}, :].
// Row i is contracted left to right: T_0 = [1] (1 x 1); T_{k+1}[(J, j_k), s] =
// Σ_r T_k[J, r] · G_k[r, i_k, j_k, s]. For fixed (r, i_k) the (j_k, s) block of G_k is contiguous
// (n_k r_{k+1} floats), so each step is a row-by-row axpy: about Σ_k (Π_{k'<k} n_k') r_k n_k r_{k+1}
// multiply-adds per row (O(d r^2) per output element for balanced digits).
//
// Per-token MPS (TensorGPT) is the same contraction with m_k = 1 and each token's own cores.
//
// Descriptor table `desc` (i32, 5 per core): [byte pointer of G_k, r_k, m_k, n_k, r_{k+1}].
//   tt_rows_forward(out, ids, n_ids, desc, d, per_token, work, wmax, cols)
//     out: n_ids x cols f32 (the first `cols` of the Π n_k values of each row: padding dropped)
//     ids: n_ids i32 row indices (checked by the caller: 0 <= id < Π m_k, or < tokens when per_token)
//     per_token = 0: one TT-matrix; row digits i_k from id (mixed radix over m_k).
//     per_token = 1: desc holds d cores for each token (token t's at desc + 20 d t), digits 0.
//     work: 2 x wmax f32, wmax >= max over the cores used of (Π_{k'<=k} n_k') r_{k+1}, and >= 1.
// tt_rows_forward_ref is the scalar twin (same summation order: identical results).

// @ts-ignore: decorator
@inline function axpy_f32(d: usize, s: usize, a: f32, n: i32, simd: bool): void {
  let i = 0;
  if (simd) {
    const av = f32x4.splat(a);
    for (; i + 4 <= n; i += 4) {
      const o = d + (<usize>i << 2);
      v128.store(o, f32x4.add(v128.load(o), f32x4.mul(av, v128.load(s + (<usize>i << 2)))));
    }
  }
  for (; i < n; i++) {
    const o = d + (<usize>i << 2);
    store<f32>(o, load<f32>(o) + a * load<f32>(s + (<usize>i << 2)));
  }
}

// @ts-ignore: decorator
@inline function tt_rows_impl(out: usize, ids: usize, nIds: i32, desc: usize, d: i32, perToken: i32, work: usize, wmax: i32, cols: i32, simd: bool): void {
  const bufA = work, bufB = work + (<usize>wmax << 2);
  for (let t = 0; t < nIds; t++) {
    const id = load<i32>(ids + (<usize>t << 2));
    const dt = perToken ? desc + <usize>id * <usize>(d * 20) : desc;
    // digits of id: most significant first; computed as we go from the stride of the remaining digits
    let rem: i32 = perToken ? 0 : id;
    let stride: i32 = 1;
    if (!perToken) for (let k = 1; k < d; k++) stride *= load<i32>(dt + (<usize>(k * 5) << 2), 8);
    let src = bufA, dst = bufB;
    store<f32>(src, 1.0);
    let N: i32 = 1; // rows of T (Π n so far); T is N x r_k
    for (let k = 0; k < d; k++) {
      const dk = dt + (<usize>(k * 5) << 2);
      const core = <usize>load<i32>(dk);
      const r0 = load<i32>(dk, 4), m = load<i32>(dk, 8), n = load<i32>(dk, 12), r1 = load<i32>(dk, 16);
      let ik: i32 = 0;
      if (!perToken) {
        ik = rem / stride; rem -= ik * stride;
        if (k + 1 < d) stride /= load<i32>(dt + (<usize>((k + 1) * 5) << 2), 8);
      }
      const w = n * r1, rowStride = <usize>(m * w) << 2;
      const slice = core + (<usize>(ik * w) << 2);
      memory.fill(dst, 0, <usize>(N * w) << 2);
      for (let J = 0; J < N; J++) {
        const dj = dst + (<usize>(J * w) << 2), sj = src + (<usize>(J * r0) << 2);
        for (let r = 0; r < r0; r++) {
          const a = load<f32>(sj + (<usize>r << 2));
          if (a != 0) axpy_f32(dj, slice + <usize>r * rowStride, a, w, simd);
        }
      }
      N *= n;
      const tmp = src; src = dst; dst = tmp;
    }
    // src holds N x 1 = the padded row
    memory.copy(out + (<usize>t * <usize>cols << 2), src, <usize>cols << 2);
  }
}

/** SIMD TT row lookup (see the file header). */
export function tt_rows_forward(out: usize, ids: usize, nIds: i32, desc: usize, d: i32, perToken: i32, work: usize, wmax: i32, cols: i32): void {
  tt_rows_impl(out, ids, nIds, desc, d, perToken, work, wmax, cols, true);
}

/** Scalar twin of tt_rows_forward. */
export function tt_rows_forward_ref(out: usize, ids: usize, nIds: i32, desc: usize, d: i32, perToken: i32, work: usize, wmax: i32, cols: i32): void {
  tt_rows_impl(out, ids, nIds, desc, d, perToken, work, wmax, cols, false);
}
