// @inline helpers shared by the lattice quantizers' neighbour searches (iq1, iq2, iq3): ggml's
// iq*_find_best_neighbour* sum the weighted squared distance of a group sequentially in element
// order. The SIMD scan (groups of 8) first computes the 32 possible terms w[e] (scale q_l - x[e])^2
// (8 elements x 4 levels: the very floats ggml computes), then scores 4 neighbours per step, one per
// lane, each lane adding its 8 looked-up terms in element order (the same float sums), and keeps the
// strict first-minimum choice by replaying a step in order only when one of its lanes beats the best.

/** acc + t[0] + t[1] + t[2] + t[3], added one lane at a time in lane order (ggml's element order; iq3). */
// @ts-ignore: decorator
@inline export function add_lanes_seq(acc: f32, t: v128): f32 {
  let s: f32 = acc + f32x4.extract_lane(t, 0);
  s += f32x4.extract_lane(t, 1);
  s += f32x4.extract_lane(t, 2);
  s += f32x4.extract_lane(t, 3);
  return s;
}

/**
 * Scalar neighbour scan of ggml iq2_find_best_neighbour / iq3_find_best_neighbour: among the n
 * neighbour indices after the count at nb (u16), the grid point (nel int8 odd levels at qg + nel idx)
 * minimizing sum w[i] (scale q[i] - x[i])^2 (x at xv, w at w, f32; strictly smaller wins, so the
 * first of equal distances). Returns its index (-1 if none is finite).
 */
// @ts-ignore: decorator
@inline export function neighbour_scan_ref(nb: usize, qg: usize, nel: i32, xv: usize, w: usize, scale: f32): i32 {
  const n = <i32>load<u16>(nb);
  let best_d2: f32 = 3.4028234663852886e38;
  let gi = -1;
  for (let j = 1; j <= n; j++) {
    const idx = <i32>load<u16>(nb + (<usize>j << 1));
    const pg = qg + <usize>(idx * nel);
    let d2: f32 = 0;
    for (let i = 0; i < nel; i++) {
      const q = <f32>load<i8>(pg + i);
      const diff = scale * q - load<f32>(xv + (<usize>i << 2));
      d2 += load<f32>(w + (<usize>i << 2)) * diff * diff;
    }
    if (d2 < best_d2) { best_d2 = d2; gi = idx; }
  }
  return gi;
}

/** Scratch of the 4-lane scan's replay: the 4 distances of a step. */
const D4: usize = memory.data(16, 16);
/** Term table of the scan: per element e (8) and level l (4), w[e] (scale q_l - x[e])^2. */
const TT: usize = memory.data(8 * 16, 16);
/** Best distance so far of the running 4-lane scan. */
let BEST_D2: f32 = 0;

// @ts-ignore: decorator
@inline function nb_idx(nb: usize, j: i32, n: i32): i32 {
  return <i32>load<u16>(nb + (<usize>min<i32>(j, n) << 1));
}

/**
 * Replays one step of 4 neighbours (indices i0..i3, distances in the lanes of acc) in order with
 * ggml's strict comparison against BEST_D2 (updated); returns the best index.
 */
// @ts-ignore: decorator
@inline function replay4(acc: v128, i0: i32, i1: i32, i2: i32, i3: i32, gi: i32): i32 {
  v128.store(D4, acc);
  let b = BEST_D2;
  const d0 = load<f32>(D4), d1 = load<f32>(D4, 4), d2 = load<f32>(D4, 8), d3 = load<f32>(D4, 12);
  if (d0 < b) { b = d0; gi = i0; }
  if (d1 < b) { b = d1; gi = i1; }
  if (d2 < b) { b = d2; gi = i2; }
  if (d3 < b) { b = d3; gi = i3; }
  BEST_D2 = b;
  return gi;
}

/**
 * Fills TT for a group of 8: lanes l = 0..3 of row e hold w[e] (scale q_l - x[e])^2 with q = qv
 * (lane-wise, ggml's float operations: (w diff) diff, diff = scale q - x).
 */
// @ts-ignore: decorator
@inline export function term_table8(xv: usize, w: usize, scale: f32, qv: v128): void {
  const sq = f32x4.mul(f32x4.splat(scale), qv);
  for (let e = 0; e < 8; e++) {
    const diff = f32x4.sub(sq, f32x4.splat(load<f32>(xv + (<usize>e << 2))));
    v128.store(TT + (<usize>e << 4), f32x4.mul(f32x4.mul(f32x4.splat(load<f32>(w + (<usize>e << 2))), diff), diff));
  }
}

/**
 * The term-table scan with four neighbours per step, one per lane: the grid bytes of 4 points become
 * byte offsets 4 l (one shift and mask), are transposed so element e's 4 offsets sit in the lanes,
 * and i8x16.swizzle picks TT[e][l] per lane; each lane adds its terms in element order from 0. A
 * step whose 4 distances are all >= the best so far cannot change it and is skipped; otherwise its
 * lanes are replayed in order with the strict comparison (the tail step repeats the last neighbour,
 * whose equal distance cannot win). Same index as the scalar scan.
 */
// @ts-ignore: decorator
@inline export function neighbour_scan_tt8x4(nb: usize, qg: usize): i32 {
  const n = <i32>load<u16>(nb);
  BEST_D2 = 3.4028234663852886e38;
  let gi = -1;
  const m12 = i8x16.splat(12), lo = i32x4.splat(0x03020100);
  for (let j = 1; j <= n; j += 4) {
    const i0 = nb_idx(nb, j, n), i1 = nb_idx(nb, j + 1, n), i2 = nb_idx(nb, j + 2, n), i3 = nb_idx(nb, j + 3, n);
    const a = v128.and(i16x8.shl(v128.load64_lane(qg + (<usize>i1 << 3), v128.load64_zero(qg + (<usize>i0 << 3)), 1), 1), m12);
    const b = v128.and(i16x8.shl(v128.load64_lane(qg + (<usize>i3 << 3), v128.load64_zero(qg + (<usize>i2 << 3)), 1), 1), m12);
    // t0: elements 0..3 of points 0..3 (byte 4 e + k = point k, element e); t1: elements 4..7
    const t0 = i8x16.shuffle(a, b, 0, 8, 16, 24, 1, 9, 17, 25, 2, 10, 18, 26, 3, 11, 19, 27);
    const t1 = i8x16.shuffle(a, b, 4, 12, 20, 28, 5, 13, 21, 29, 6, 14, 22, 30, 7, 15, 23, 31);
    let acc = f32x4.splat(0);
    acc = f32x4.add(acc, i8x16.swizzle(v128.load(TT), i8x16.add(i8x16.shuffle(t0, t0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3), lo)));
    acc = f32x4.add(acc, i8x16.swizzle(v128.load(TT, 16), i8x16.add(i8x16.shuffle(t0, t0, 4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7), lo)));
    acc = f32x4.add(acc, i8x16.swizzle(v128.load(TT, 32), i8x16.add(i8x16.shuffle(t0, t0, 8, 8, 8, 8, 9, 9, 9, 9, 10, 10, 10, 10, 11, 11, 11, 11), lo)));
    acc = f32x4.add(acc, i8x16.swizzle(v128.load(TT, 48), i8x16.add(i8x16.shuffle(t0, t0, 12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15, 15, 15), lo)));
    acc = f32x4.add(acc, i8x16.swizzle(v128.load(TT, 64), i8x16.add(i8x16.shuffle(t1, t1, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3), lo)));
    acc = f32x4.add(acc, i8x16.swizzle(v128.load(TT, 80), i8x16.add(i8x16.shuffle(t1, t1, 4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7), lo)));
    acc = f32x4.add(acc, i8x16.swizzle(v128.load(TT, 96), i8x16.add(i8x16.shuffle(t1, t1, 8, 8, 8, 8, 9, 9, 9, 9, 10, 10, 10, 10, 11, 11, 11, 11), lo)));
    acc = f32x4.add(acc, i8x16.swizzle(v128.load(TT, 112), i8x16.add(i8x16.shuffle(t1, t1, 12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15, 15, 15), lo)));
    if (v128.any_true(f32x4.lt(acc, f32x4.splat(BEST_D2)))) gi = replay4(acc, i0, i1, i2, i3, gi);
  }
  return gi;
}

/**
 * The SIMD neighbour scan of a group of 8 (iq2, iq1): same index as neighbour_scan_ref / ggml's
 * iq2_find_best_neighbour / iq1_find_best_neighbour2. q of grid byte g = 2 l + 1: g itself (iq1
 * false), else the shifted ternary level l + delta (xx[l] of ggml, exact in f32). Returns -1 if no
 * distance is < FLT_MAX.
 */
// @ts-ignore: decorator
@inline export function neighbour_scan_simd8(nb: usize, qg: usize, xv: usize, w: usize, scale: f32, iq1: bool, delta: f32): i32 {
  term_table8(xv, w, scale, iq1 ? f32x4(delta, delta + 1, delta + 2, 0) : f32x4(1, 3, 5, 7));
  return neighbour_scan_tt8x4(nb, qg);
}
