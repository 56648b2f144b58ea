// SparseGPT (Frantar & Alistarh 2023), one block of columns [i1, i2) of a weight w [rows, cols] f32 row-major
// (llm.c style, out first; rows = outputs, cols = inputs), in place:
//   u     [cols, cols] f32: the upper Cholesky factor of H^-1 (H = X^T X + damping), H^-1 = U^T U.
//   mask  [rows, cols] u8: written for the block's columns (1 keep, 0 prune).
//   err   [rows, i2 - i1] f32: the block's scaled errors (w - q) / U_ii, for the lazy update of columns >= i2
//         (the facade does it with sgemm: w[:, i2:] -= err @ u[i1:i2, i2:]).
//   score [rows, i2 - i1] f32 scratch (unstructured only).
// m == 0: unstructured; exactly `k` weights of the block (rows x (i2 - i1)) with the lowest w^2 / U_jj^2 are
//   pruned, chosen at the start of the block (topk.ts ties: lower flat index first).
// m > 0: n:m, every m consecutive columns (i1 and i2 multiples of m) keep the n highest w^2 / U_jj^2 of each row,
//   chosen when the sweep reaches the group (from the already-updated weights).
// Then, column by column: q = keep ? w : 0, e = (w - q) / U_ii, w[r, j] -= e * U[i, j] for i < j < i2.
// Rows are independent once the block's mask is chosen, so the loop is rows outer (each row stays in cache).
// SIMD and _ref do the same f32 mul-then-sub per element in the same order: identical results.

import { count_le_forward, threshold_mask_forward } from "./topk";

@inline function key(p: usize): u32 {
  return load<u32>(p) & 0x7fffffff;
}

function block_mask(w: usize, rows: i32, cols: i32, u: usize, i1: i32, i2: i32, mask: usize, k: i32, score: usize): void {
  const cnt = i2 - i1;
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < cnt; j++) {
      const x = load<f32>(w + ((<usize>r * <usize>cols + <usize>(i1 + j)) << 2));
      const d = load<f32>(u + ((<usize>(i1 + j) * <usize>cols + <usize>(i1 + j)) << 2));
      store<f32>(score + ((<usize>r * <usize>cnt + <usize>j) << 2), (x * x) / (d * d));
    }
  }
  const n = rows * cnt;
  // block-local u8 mask in the first n bytes after the scores
  const bm = score + (<usize>n << 2);
  if (k <= 0) memory.fill(bm, 1, <usize>n);
  else {
    let lo: u32 = 0, hi: u32 = 0x7fffffff;
    while (lo < hi) {
      const mid = lo + ((hi - lo) >> 1);
      if (count_le_forward(score, n, mid) >= k) hi = mid; else lo = mid + 1;
    }
    const below = lo == 0 ? 0 : count_le_forward(score, n, lo - 1);
    threshold_mask_forward(bm, score, n, lo, k - below);
  }
  for (let r = 0; r < rows; r++) memory.copy(mask + <usize>r * <usize>cols + <usize>i1, bm + <usize>r * <usize>cnt, <usize>cnt);
}

function nm_row_group(w: usize, u: usize, cols: i32, i: i32, mask: usize, n: i32, m: i32): void {
  // w, mask: this row; group columns [i, i + m)
  const drop = m - n;
  for (let a = 0; a < m; a++) {
    const xa = load<f32>(w + (<usize>(i + a) << 2)), da = load<f32>(u + ((<usize>(i + a) * <usize>cols + <usize>(i + a)) << 2));
    const sa = (xa * xa) / (da * da);
    const ka = reinterpret<u32>(sa) & 0x7fffffff;
    let rank = 0;
    for (let b = 0; b < m; b++) {
      const xb = load<f32>(w + (<usize>(i + b) << 2)), db = load<f32>(u + ((<usize>(i + b) * <usize>cols + <usize>(i + b)) << 2));
      const sb = (xb * xb) / (db * db);
      const kb = reinterpret<u32>(sb) & 0x7fffffff;
      if (kb < ka || (kb == ka && b < a)) rank++;
    }
    store<u8>(mask + <usize>(i + a), rank < drop ? 0 : 1);
  }
}

function sweep(w: usize, rows: i32, cols: i32, u: usize, i1: i32, i2: i32, mask: usize, err: usize, n: i32, m: i32, k: i32, score: usize, simd: bool): void {
  const cnt = i2 - i1;
  if (m == 0) block_mask(w, rows, cols, u, i1, i2, mask, k, score);
  for (let r = 0; r < rows; r++) {
    const wr = w + ((<usize>r * <usize>cols) << 2), mr = mask + <usize>r * <usize>cols, er = err + ((<usize>r * <usize>cnt) << 2);
    for (let i = i1; i < i2; i++) {
      if (m > 0 && (i - i1) % m == 0) nm_row_group(wr, u, cols, i, mr, n, m);
      const x = load<f32>(wr + (<usize>i << 2));
      const q: f32 = load<u8>(mr + <usize>i) ? x : 0;
      const ur = u + ((<usize>i * <usize>cols) << 2);
      const e = (x - q) / load<f32>(ur + (<usize>i << 2));
      store<f32>(wr + (<usize>i << 2), q);
      store<f32>(er + (<usize>(i - i1) << 2), e);
      if (e == 0) continue;
      let j = i + 1;
      if (simd) {
        const ev = f32x4.splat(e);
        for (; j + 4 <= i2; j += 4) {
          const p = wr + (<usize>j << 2);
          v128.store(p, f32x4.sub(v128.load(p), f32x4.mul(ev, v128.load(ur + (<usize>j << 2)))));
        }
      }
      for (; j < i2; j++) {
        const p = wr + (<usize>j << 2);
        store<f32>(p, load<f32>(p) - e * load<f32>(ur + (<usize>j << 2)));
      }
    }
  }
}

export function sparsegpt_block_forward(w: usize, rows: i32, cols: i32, u: usize, i1: i32, i2: i32, mask: usize, err: usize, n: i32, m: i32, k: i32, score: usize): void {
  sweep(w, rows, cols, u, i1, i2, mask, err, n, m, k, score, true);
}

export function sparsegpt_block_forward_ref(w: usize, rows: i32, cols: i32, u: usize, i1: i32, i2: i32, mask: usize, err: usize, n: i32, m: i32, k: i32, score: usize): void {
  sweep(w, rows, cols, u, i1, i2, mask, err, n, m, k, score, false);
}
