// N:M masks along the input dimension (llm.c style, out first): scores [rows, cols] f32 >= 0, cols % m == 0,
// 0 <= n < m <= 32. In every group of m consecutive columns of a row the n highest scores are kept and the
// m - n lowest pruned (mask u8: 1 keep, 0 prune). Ties: among equal scores the LOWER index is pruned first
// (same rule as topk.ts). The rank of element i in its group is #{j : s_j < s_i or (s_j == s_i and j < i)};
// it is pruned when rank < m - n.
// nm_mask_forward: SIMD for m == 4 (one v128 per group, ranks from three lane rotations), scalar otherwise;
// identical masks to nm_mask_forward_ref. nm_check_forward returns the first row*cols/m group index that keeps
// more than n weights (or -1): the validity check of a given mask.

@inline function key(p: usize): u32 {
  return load<u32>(p) & 0x7fffffff;
}

function nm_group_scalar(mask: usize, scores: usize, n: i32, m: i32): void {
  const drop = m - n;
  for (let i = 0; i < m; i++) {
    const ki = key(scores + (<usize>i << 2));
    let rank = 0;
    for (let j = 0; j < m; j++) {
      const kj = key(scores + (<usize>j << 2));
      if (kj < ki || (kj == ki && j < i)) rank++;
    }
    store<u8>(mask + <usize>i, rank < drop ? 0 : 1);
  }
}

export function nm_mask_forward_ref(mask: usize, scores: usize, rows: i32, cols: i32, n: i32, m: i32): void {
  const total = <usize>rows * <usize>cols;
  for (let g: usize = 0; g < total; g += <usize>m) nm_group_scalar(mask + g, scores + (g << 2), n, m);
}

export function nm_mask_forward(mask: usize, scores: usize, rows: i32, cols: i32, n: i32, m: i32): void {
  const total = <usize>rows * <usize>cols;
  if (m != 4) {
    for (let g: usize = 0; g < total; g += <usize>m) nm_group_scalar(mask + g, scores + (g << 2), n, m);
    return;
  }
  const km = i32x4.splat(0x7fffffff), drop = i32x4.splat(4 - n);
  // lane i compares with lane (i + r) % 4; that lane has the lower index when i + r >= 4
  const w1 = i32x4(0, 0, 0, -1), w2 = i32x4(0, 0, -1, -1), w3 = i32x4(0, -1, -1, -1);
  for (let g: usize = 0; g < total; g += 4) {
    const k = v128.and(v128.load(scores + (g << 2)), km);
    const r1 = v128.shuffle<u32>(k, k, 1, 2, 3, 0);
    const r2 = v128.shuffle<u32>(k, k, 2, 3, 0, 1);
    const r3 = v128.shuffle<u32>(k, k, 3, 0, 1, 2);
    let rank = i32x4.lt_u(r1, k);
    rank = i32x4.add(rank, i32x4.lt_u(r2, k));
    rank = i32x4.add(rank, i32x4.lt_u(r3, k));
    rank = i32x4.add(rank, v128.and(i32x4.eq(r1, k), w1));
    rank = i32x4.add(rank, v128.and(i32x4.eq(r2, k), w2));
    rank = i32x4.add(rank, v128.and(i32x4.eq(r3, k), w3));
    rank = i32x4.neg(rank); // the compares gave -1 per hit
    const b = i32x4.bitmask(i32x4.ge_s(rank, drop));
    store<u32>(mask + g, ((b & 1) | ((b & 2) << 7) | ((b & 4) << 14) | ((b & 8) << 21)));
  }
}

export function nm_check_forward(mask: usize, rows: i32, cols: i32, n: i32, m: i32): i32 {
  const total = <usize>rows * <usize>cols;
  for (let g: usize = 0; g < total; g += <usize>m) {
    let kept = 0;
    for (let i = 0; i < m; i++) kept += <i32>load<u8>(mask + g + <usize>i);
    if (kept > n) return <i32>(g / <usize>m);
  }
  return -1;
}
