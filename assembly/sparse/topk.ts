// Exact-k mask selection by score (llm.c style, out first). Scores are f32 >= 0 (the facade checks); the sign
// bit is ignored, so -0 == +0 and the u32 bit patterns order like the values. Masks are u8, 1 = keep, 0 = prune.
// Ties are deterministic: among equal scores the LOWER index is pruned first.
//
// count_le_forward(scores, n, t): number of i with key(scores[i]) <= t (t an u32 key; key = bits & 0x7fffffff).
// threshold_mask_forward(mask, scores, n, t, ties): mask[i] = 0 when key < t, or when key == t and it is among
//   the first `ties` such elements (index order); 1 otherwise. Returns the number pruned.
// topk_rows_forward(mask, scores, rows, cols, k): per row, prunes exactly k (0 <= k <= cols) lowest scores
//   (binary search over the 31-bit key for the k-th smallest, then threshold_mask_forward on the row).
// SIMD and _ref produce identical masks (integer work only).

@inline function key(p: usize): u32 {
  return load<u32>(p) & 0x7fffffff;
}

export function count_le_forward_ref(scores: usize, n: i32, t: u32): i32 {
  let c = 0;
  for (let i = 0; i < n; i++) if (key(scores + (<usize>i << 2)) <= t) c++;
  return c;
}

export function count_le_forward(scores: usize, n: i32, t: u32): i32 {
  const m = i32x4.splat(0x7fffffff), tv = i32x4.splat(<i32>t);
  let acc = i32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const k = v128.and(v128.load(scores + (<usize>i << 2)), m);
    acc = i32x4.sub(acc, i32x4.le_u(k, tv)); // true lanes are -1
  }
  let c = i32x4.extract_lane(acc, 0) + i32x4.extract_lane(acc, 1) + i32x4.extract_lane(acc, 2) + i32x4.extract_lane(acc, 3);
  for (; i < n; i++) if (key(scores + (<usize>i << 2)) <= t) c++;
  return c;
}

export function threshold_mask_forward_ref(mask: usize, scores: usize, n: i32, t: u32, ties: i32): i32 {
  let pruned = 0, seen = 0;
  for (let i = 0; i < n; i++) {
    const k = key(scores + (<usize>i << 2));
    let keep: u8 = 1;
    if (k < t) keep = 0;
    else if (k == t) { if (seen < ties) keep = 0; seen++; }
    store<u8>(mask + <usize>i, keep);
    if (!keep) pruned++;
  }
  return pruned;
}

export function threshold_mask_forward(mask: usize, scores: usize, n: i32, t: u32, ties: i32): i32 {
  const m = i32x4.splat(0x7fffffff), tv = i32x4.splat(<i32>t);
  let pruned = 0, seen = 0;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const k = v128.and(v128.load(scores + (<usize>i << 2)), m);
    const eq = i32x4.eq(k, tv);
    if (v128.any_true(eq)) {
      for (let l = 0; l < 4; l++) {
        const kk = key(scores + (<usize>(i + l) << 2));
        let keep: u8 = 1;
        if (kk < t) keep = 0;
        else if (kk == t) { if (seen < ties) keep = 0; seen++; }
        store<u8>(mask + <usize>(i + l), keep);
        if (!keep) pruned++;
      }
    } else {
      const keep = i32x4.gt_u(k, tv); // -1 keep, 0 prune
      const b = i32x4.bitmask(keep);
      store<u32>(mask + <usize>i, ((b & 1) | ((b & 2) << 7) | ((b & 4) << 14) | ((b & 8) << 21)));
      pruned += 4 - <i32>popcnt<u32>(b);
    }
  }
  for (; i < n; i++) {
    const kk = key(scores + (<usize>i << 2));
    let keep: u8 = 1;
    if (kk < t) keep = 0;
    else if (kk == t) { if (seen < ties) keep = 0; seen++; }
    store<u8>(mask + <usize>i, keep);
    if (!keep) pruned++;
  }
  return pruned;
}

/** Smallest key t with count(key <= t) >= k (k >= 1), by binary search over [0, 0x7fffffff]. */
function kth_key(scores: usize, n: i32, k: i32, simd: bool): u32 {
  let lo: u32 = 0, hi: u32 = 0x7fffffff;
  while (lo < hi) {
    const mid = lo + ((hi - lo) >> 1);
    const c = simd ? count_le_forward(scores, n, mid) : count_le_forward_ref(scores, n, mid);
    if (c >= k) hi = mid; else lo = mid + 1;
  }
  return lo;
}

function topk_rows(mask: usize, scores: usize, rows: i32, cols: i32, k: i32, simd: bool): void {
  for (let r = 0; r < rows; r++) {
    const o = <usize>r * <usize>cols;
    const ps = scores + (o << 2), pm = mask + o;
    if (k <= 0) { memory.fill(pm, 1, <usize>cols); continue; }
    const t = kth_key(ps, cols, k, simd);
    const below = t == 0 ? 0 : (simd ? count_le_forward(ps, cols, t - 1) : count_le_forward_ref(ps, cols, t - 1));
    if (simd) threshold_mask_forward(pm, ps, cols, t, k - below);
    else threshold_mask_forward_ref(pm, ps, cols, t, k - below);
  }
}

export function topk_rows_forward_ref(mask: usize, scores: usize, rows: i32, cols: i32, k: i32): void {
  topk_rows(mask, scores, rows, cols, k, false);
}

export function topk_rows_forward(mask: usize, scores: usize, rows: i32, cols: i32, k: i32): void {
  topk_rows(mask, scores, rows, cols, k, true);
}
