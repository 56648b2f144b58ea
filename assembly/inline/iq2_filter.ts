// Exact filtered neighbour scan of the iq2 quantizers (iq2_xxs, iq2_xs, iq2_s; groups of 8 on the
// E8-type lattices). ggml's iq2_find_best_neighbour returns the first neighbour j (list order) whose
// float32 distance fl(d2_j) = sum_i fl(fl(w_i diff_i) diff_i), diff_i = fl(fl(s q_ji) - x_i), added in
// element order, is the smallest (strict <). The search runs it for every candidate scale s of a block,
// and the code (hence the list) of a group is the same as at the previous candidate scale ~84% of the
// time (bench/IQ-FILE.md), so this scan splits the distance into parts independent of s:
//   d2_j = A - 2 s B_j + s^2 C_j,  A = sum w x^2,  B_j = sum w x q_j,  C_j = sum w q_j^2,
// caches B_j, C_j per group and list (float32 pairwise sums of float32 terms), and per scale computes
// F_j = fl(fl(s^2) C_j - fl(2 s) B_j) for 4 neighbours per instruction. With u = 2^-24 and
// M = sum w (|x| + 7 s)^2 (q <= 7), rounding error analysis gives |fl(d2_j) - (A + F_j)| <= 24.2 u M
// (ggml's sum: <= 13.1 u M; F_j: <= 11.1 u M; derivation in bench/IQ-FILE.md, "iq2 searches"). So a
// neighbour with F_j > F_min + 48.4 u M has fl(d2_j) > fl(d2_k) for the k of F_min and cannot be ggml's
// choice. Every other neighbour (a "survivor") is kept; the ggml winner is always a survivor, so the
// first survivor (list order) with the smallest exact ggml distance is ggml's winner. One survivor is
// returned as is; several are evaluated exactly with ggml's float operations in list order. The
// threshold used is F_min + 2^-17 M + 2^-70 (128 u M, with room for the rounding of M and T, and an
// absolute term above every underflow error). The filter is only used while all values are in
// range (w, |x| <= 2^30, 2^-40 <= s <= 2^30: no overflow, no NaN, underflow errors < 2^-80); outside
// it (and for NaN) the exact 4-lane scan of iq_neighbour.ts runs. Same index as neighbour_scan_ref.
import { neighbour_scan_simd8 } from "./iq_neighbour";

/** Group slots (iq2_xxs: 4 groups per 32-block; iq2_xs / iq2_s: 2 per 16-block). */
// @ts-ignore: decorator
@inline const SLOTS: i32 = 4;
/** Longest neighbour list of the iq2 lattices (iq2_xs: 292) rounded up to 4 lanes. */
// @ts-ignore: decorator
@inline const CAP: i32 = 296;

/** Per slot: B_j then C_j (f32, CAP each). */
const BC: usize = memory.data(SLOTS * CAP * 2 * 4, 16);
/** Per slot: term tables of B (w x q_l) and C (w q_l^2), 8 elements x 4 levels f32 each. */
const TBC: usize = memory.data(SLOTS * 256, 16);
/** Per slot: cached list address (0: none), A, X1 = sum w |x|, W = sum w, in-range flag. */
const GNB: usize = memory.data(SLOTS * 4, 16);
const GA: usize = memory.data(SLOTS * 4, 16);
const GX: usize = memory.data(SLOTS * 4, 16);
const GW: usize = memory.data(SLOTS * 4, 16);
const GOK: usize = memory.data(SLOTS, 16);
/** The lane positions of one scan's minima, and the survivor list positions. */
const FV: usize = memory.data(16, 16);
const SURV: usize = memory.data(CAP * 4, 16);

// @ts-ignore: decorator
@inline const LIM_HI: f32 = 1073741824.0; // 2^30
// @ts-ignore: decorator
@inline const LIM_LO: f32 = 9.094947017729282e-13; // 2^-40
// @ts-ignore: decorator
@inline const REL: f32 = 7.62939453125e-6; // 2^-17
// @ts-ignore: decorator
@inline const ABS: f32 = 8.470329472543003e-22; // 2^-70

/**
 * Starts group `slot` of a block: x (8 f32 at xv, signed), w (8 f32 at w, >= 0): the constants A, X1, W,
 * the term tables of B and C, the range flag; drops the slot's cached list.
 */
// @ts-ignore: decorator
@inline export function iq2f_group(slot: i32, xv: usize, w: usize): void {
  let a: f32 = 0, x1: f32 = 0, ws: f32 = 0, mw: f32 = 0, mx: f32 = 0;
  const t = TBC + (<usize>slot << 8);
  const qv = f32x4(1, 3, 5, 7), q2 = f32x4(1, 9, 25, 49);
  for (let e = 0; e < 8; e++) {
    const xe = load<f32>(xv + (<usize>e << 2)), we = load<f32>(w + (<usize>e << 2));
    const wx: f32 = we * xe;
    a += wx * xe; x1 += we * abs<f32>(xe); ws += we;
    mw = max<f32>(mw, we); mx = max<f32>(mx, abs<f32>(xe));
    v128.store(t + (<usize>e << 4), f32x4.mul(f32x4.splat(wx), qv));
    v128.store(t + 128 + (<usize>e << 4), f32x4.mul(f32x4.splat(we), q2));
  }
  const o = <usize>slot << 2;
  store<u32>(GNB + o, 0);
  store<f32>(GA + o, a); store<f32>(GX + o, x1); store<f32>(GW + o, ws);
  // f32.max propagates NaN, and NaN <= LIM_HI is false
  store<u8>(GOK + <usize>slot, mw <= LIM_HI && mx <= LIM_HI && ws >= 0 ? 1 : 0);
}

/** B_j, C_j of the n neighbours of list nb (4 per step, term tables of the slot); pads to 4 with C = inf. */
// @ts-ignore: decorator
@inline function fill_bc(slot: i32, nb: usize, qg: usize): void {
  const n = <i32>load<u16>(nb);
  const t = TBC + (<usize>slot << 8);
  const pb = BC + <usize>(slot * CAP * 8), pc = pb + <usize>(CAP * 4);
  const m12 = i8x16.splat(12), lo = i32x4.splat(0x03020100);
  for (let j = 0; j < n; j += 4) {
    const i0 = nbi(nb, j + 1, n), i1 = nbi(nb, j + 2, n), i2 = nbi(nb, j + 3, n), i3 = nbi(nb, j + 4, n);
    const a = v128.and(i16x8.shl(v128.load64_lane(qg + (<usize>i1 << 3), v128.load64_zero(qg + (<usize>i0 << 3)), 1), 1), m12);
    const b = v128.and(i16x8.shl(v128.load64_lane(qg + (<usize>i3 << 3), v128.load64_zero(qg + (<usize>i2 << 3)), 1), 1), m12);
    const t0 = i8x16.shuffle(a, b, 0, 8, 16, 24, 1, 9, 17, 25, 2, 10, 18, 26, 3, 11, 19, 27);
    const t1 = i8x16.shuffle(a, b, 4, 12, 20, 28, 5, 13, 21, 29, 6, 14, 22, 30, 7, 15, 23, 31);
    // element e's 4 byte offsets spread to 4 bytes per lane, then the terms of B and C (pairwise sums:
    // any order keeps the error bound)
    const x0 = i8x16.add(i8x16.shuffle(t0, t0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3), lo);
    const x1 = i8x16.add(i8x16.shuffle(t0, t0, 4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7), lo);
    const x2 = i8x16.add(i8x16.shuffle(t0, t0, 8, 8, 8, 8, 9, 9, 9, 9, 10, 10, 10, 10, 11, 11, 11, 11), lo);
    const x3 = i8x16.add(i8x16.shuffle(t0, t0, 12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15, 15, 15), lo);
    const x4 = i8x16.add(i8x16.shuffle(t1, t1, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3), lo);
    const x5 = i8x16.add(i8x16.shuffle(t1, t1, 4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7), lo);
    const x6 = i8x16.add(i8x16.shuffle(t1, t1, 8, 8, 8, 8, 9, 9, 9, 9, 10, 10, 10, 10, 11, 11, 11, 11), lo);
    const x7 = i8x16.add(i8x16.shuffle(t1, t1, 12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15, 15, 15), lo);
    const sb = f32x4.add(
      f32x4.add(f32x4.add(i8x16.swizzle(v128.load(t), x0), i8x16.swizzle(v128.load(t, 16), x1)), f32x4.add(i8x16.swizzle(v128.load(t, 32), x2), i8x16.swizzle(v128.load(t, 48), x3))),
      f32x4.add(f32x4.add(i8x16.swizzle(v128.load(t, 64), x4), i8x16.swizzle(v128.load(t, 80), x5)), f32x4.add(i8x16.swizzle(v128.load(t, 96), x6), i8x16.swizzle(v128.load(t, 112), x7))));
    const sc = f32x4.add(
      f32x4.add(f32x4.add(i8x16.swizzle(v128.load(t, 128), x0), i8x16.swizzle(v128.load(t, 144), x1)), f32x4.add(i8x16.swizzle(v128.load(t, 160), x2), i8x16.swizzle(v128.load(t, 176), x3))),
      f32x4.add(f32x4.add(i8x16.swizzle(v128.load(t, 192), x4), i8x16.swizzle(v128.load(t, 208), x5)), f32x4.add(i8x16.swizzle(v128.load(t, 224), x6), i8x16.swizzle(v128.load(t, 240), x7))));
    v128.store(pb + (<usize>j << 2), sb);
    v128.store(pc + (<usize>j << 2), sc);
  }
  // lanes past n (repeats of the last neighbour) never survive: C = +inf gives F = +inf
  for (let j = n; j < ((n + 3) & ~3); j++) store<f32>(pc + (<usize>j << 2), Infinity);
  store<u32>(GNB + (<usize>slot << 2), <u32>nb);
}

// @ts-ignore: decorator
@inline function nbi(nb: usize, j: i32, n: i32): i32 {
  return <i32>load<u16>(nb + (<usize>min<i32>(j, n) << 1));
}

/** ggml's float distance of grid point idx (8 int8 odd levels at qg + 8 idx) to x (xv) with weights w. */
// @ts-ignore: decorator
@inline function exact_d2(qg: usize, idx: i32, xv: usize, w: usize, scale: f32): f32 {
  const pg = qg + (<usize>idx << 3);
  let d2: f32 = 0;
  for (let i = 0; i < 8; i++) {
    const diff = scale * <f32>load<i8>(pg + i) - load<f32>(xv + (<usize>i << 2));
    d2 += load<f32>(w + (<usize>i << 2)) * diff * diff;
  }
  return d2;
}

/**
 * The filtered scan of group `slot` (started by iq2f_group with the same xv, w) on neighbour list nb
 * (u16 count then indices) of grid qg (8 int8 odd levels per point) at scale s: returns the index
 * neighbour_scan_ref(nb, qg, 8, xv, w, s) returns (ggml iq2_find_best_neighbour), bit for bit.
 */
// @ts-ignore: decorator
@inline export function iq2f_scan(slot: i32, nb: usize, qg: usize, xv: usize, w: usize, s: f32): i32 {
  if (load<u8>(GOK + <usize>slot) == 0 || !(s >= LIM_LO && s <= LIM_HI)) return neighbour_scan_simd8(nb, qg, xv, w, s, false, 0);
  if (load<u32>(GNB + (<usize>slot << 2)) != <u32>nb) fill_bc(slot, nb, qg);
  const n = <i32>load<u16>(nb);
  const pb = BC + <usize>(slot * CAP * 8), pc = pb + <usize>(CAP * 4);
  const s2 = f32x4.splat(s * s), s2x = f32x4.splat(s + s);
  // one pass: F_j, per lane the smallest and second smallest value (of the lane's multiset) and the
  // position of the first smallest (F is finite or +inf here: no NaN in range)
  let vmin = f32x4.splat(Infinity), vmin2 = vmin, vpos = i32x4(0, 1, 2, 3), vj = i32x4(0, 1, 2, 3);
  for (let j = 0; j < n; j += 4) {
    const fv = f32x4.sub(f32x4.mul(s2, v128.load(pc + (<usize>j << 2))), f32x4.mul(s2x, v128.load(pb + (<usize>j << 2))));
    const lt = f32x4.lt(fv, vmin);
    vmin2 = f32x4.pmin(vmin2, f32x4.pmax(vmin, fv));
    vmin = f32x4.pmin(vmin, fv);
    vpos = v128.bitselect(vj, vpos, lt);
    vj = i32x4.add(vj, i32x4.splat(4));
  }
  let hm = f32x4.pmin(vmin, i32x4.shuffle(vmin, vmin, 2, 3, 0, 1));
  hm = f32x4.pmin(hm, i32x4.shuffle(hm, hm, 1, 0, 3, 2));
  const o = <usize>slot << 2;
  const mhat: f32 = <f32>49 * (s * s) * load<f32>(GW + o) + <f32>14 * s * load<f32>(GX + o) + load<f32>(GA + o);
  const vt = f32x4.splat(f32x4.extract_lane(hm, 0) + (REL * mhat + ABS));
  // exactly one survivor (F_j <= threshold) iff one lane's smallest value is <= it and no lane's second
  // smallest is: then it is the minimum, at that lane's recorded position
  const m1 = i32x4.bitmask(f32x4.le(vmin, vt));
  if (m1 != 0 && (m1 & (m1 - 1)) == 0 && !v128.any_true(f32x4.le(vmin2, vt))) {
    v128.store(FV, vpos);
    return <i32>load<u16>(nb + (<usize>(load<i32>(FV + (<usize>ctz<u32>(m1) << 2)) + 1) << 1));
  }
  // several survivors: list them (F recomputed with the same operations), evaluate them exactly
  let cnt = 0;
  for (let j = 0; j < n; j += 4) {
    const fv = f32x4.sub(f32x4.mul(s2, v128.load(pc + (<usize>j << 2))), f32x4.mul(s2x, v128.load(pb + (<usize>j << 2))));
    let m = i32x4.bitmask(f32x4.le(fv, vt));
    while (m != 0) {
      store<i32>(SURV + (<usize>cnt << 2), j + <i32>ctz<u32>(m));
      cnt++;
      m &= m - 1;
    }
  }
  if (cnt == 0) return neighbour_scan_simd8(nb, qg, xv, w, s, false, 0); // not reachable in range; kept exact
  let best: f32 = 3.4028234663852886e38;
  let gi = -1;
  for (let k = 0; k < cnt; k++) {
    const idx = <i32>load<u16>(nb + (<usize>(load<i32>(SURV + (<usize>k << 2)) + 1) << 1));
    const d2 = exact_d2(qg, idx, xv, w, s);
    if (d2 < best) { best = d2; gi = idx; }
  }
  return gi;
}
