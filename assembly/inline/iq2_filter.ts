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
/** Per slot: w_e x_e (8 f32), then w_e (8 f32). */
const TW: usize = memory.data(SLOTS * 64, 16);
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
 * the per-element w x and w of B and C, the range flag; drops the slot's cached list.
 */
// @ts-ignore: decorator
@inline export function iq2f_group(slot: i32, xv: usize, w: usize): void {
  const t = TW + (<usize>slot << 6);
  const x0 = v128.load(xv), x1 = v128.load(xv, 16), w0 = v128.load(w), w1 = v128.load(w, 16);
  const wx0 = f32x4.mul(w0, x0), wx1 = f32x4.mul(w1, x1);
  v128.store(t, wx0); v128.store(t, wx1, 16); v128.store(t, w0, 32); v128.store(t, w1, 48);
  // A, X1, W only scale the filter's threshold (any summation order keeps the bound: bench/IQ-FILE.md)
  const ax0 = f32x4.abs(x0), ax1 = f32x4.abs(x1);
  let va = f32x4.add(f32x4.mul(wx0, x0), f32x4.mul(wx1, x1));
  let vx = f32x4.add(f32x4.mul(w0, ax0), f32x4.mul(w1, ax1));
  let vw = f32x4.add(w0, w1);
  va = f32x4.add(va, i32x4.shuffle(va, va, 2, 3, 0, 1)); va = f32x4.add(va, i32x4.shuffle(va, va, 1, 0, 3, 2));
  vx = f32x4.add(vx, i32x4.shuffle(vx, vx, 2, 3, 0, 1)); vx = f32x4.add(vx, i32x4.shuffle(vx, vx, 1, 0, 3, 2));
  vw = f32x4.add(vw, i32x4.shuffle(vw, vw, 2, 3, 0, 1)); vw = f32x4.add(vw, i32x4.shuffle(vw, vw, 1, 0, 3, 2));
  const o = <usize>slot << 2;
  store<u32>(GNB + o, 0);
  const ws = f32x4.extract_lane(vw, 0);
  store<f32>(GA + o, f32x4.extract_lane(va, 0)); store<f32>(GX + o, f32x4.extract_lane(vx, 0)); store<f32>(GW + o, ws);
  // every w and |x| <= 2^30 (NaN fails <=), W >= 0
  const lim = f32x4.splat(LIM_HI);
  const inr = v128.and(v128.and(f32x4.le(w0, lim), f32x4.le(w1, lim)), v128.and(f32x4.le(ax0, lim), f32x4.le(ax1, lim)));
  store<u8>(GOK + <usize>slot, i32x4.all_true(inr) && ws >= 0 ? 1 : 0);
}

/**
 * B_j, C_j of the n neighbours of list nb (4 per step: the 4 grid points transposed to one f32 lane each,
 * terms fl(fl(w x) q) and fl(w q^2), pairwise sums); pads to 4 with C = inf.
 */
// @ts-ignore: decorator
@inline function fill_bc(slot: i32, nb: usize, qg: usize): void {
  const n = <i32>load<u16>(nb);
  const t = TW + (<usize>slot << 6);
  const pb = BC + <usize>(slot * CAP * 8), pc = pb + <usize>(CAP * 4);
  // w_e x_e and w_e, splat
  const wx0 = v128.load32_splat(t), wx1 = v128.load32_splat(t + 4), wx2 = v128.load32_splat(t + 8), wx3 = v128.load32_splat(t + 12);
  const wx4 = v128.load32_splat(t + 16), wx5 = v128.load32_splat(t + 20), wx6 = v128.load32_splat(t + 24), wx7 = v128.load32_splat(t + 28);
  const w0 = v128.load32_splat(t + 32), w1 = v128.load32_splat(t + 36), w2 = v128.load32_splat(t + 40), w3 = v128.load32_splat(t + 44);
  const w4 = v128.load32_splat(t + 48), w5 = v128.load32_splat(t + 52), w6 = v128.load32_splat(t + 56), w7 = v128.load32_splat(t + 60);
  for (let j = 0; j < n; j += 4) {
    const i0 = nbi(nb, j + 1, n), i1 = nbi(nb, j + 2, n), i2 = nbi(nb, j + 3, n), i3 = nbi(nb, j + 4, n);
    const a = v128.load64_lane(qg + (<usize>i1 << 3), v128.load64_zero(qg + (<usize>i0 << 3)), 1);
    const b = v128.load64_lane(qg + (<usize>i3 << 3), v128.load64_zero(qg + (<usize>i2 << 3)), 1);
    // bytes: element e of the 4 neighbours at 4 e .. 4 e + 3 (elements 0-3 in t0, 4-7 in t1)
    const t0 = i8x16.shuffle(a, b, 0, 8, 16, 24, 1, 9, 17, 25, 2, 10, 18, 26, 3, 11, 19, 27);
    const t1 = i8x16.shuffle(a, b, 4, 12, 20, 28, 5, 13, 21, 29, 6, 14, 22, 30, 7, 15, 23, 31);
    const h0 = i16x8.extend_low_i8x16_u(t0), h1 = i16x8.extend_high_i8x16_u(t0);
    const h2 = i16x8.extend_low_i8x16_u(t1), h3 = i16x8.extend_high_i8x16_u(t1);
    const q0 = f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(h0)), q1 = f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_u(h0));
    const q2 = f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(h1)), q3 = f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_u(h1));
    const q4 = f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(h2)), q5 = f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_u(h2));
    const q6 = f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(h3)), q7 = f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_u(h3));
    // the terms fl(fl(w x) q) and fl(w q^2) (q^2 exact); pairwise sums (any order keeps the error bound)
    const sb = f32x4.add(
      f32x4.add(f32x4.add(f32x4.mul(wx0, q0), f32x4.mul(wx1, q1)), f32x4.add(f32x4.mul(wx2, q2), f32x4.mul(wx3, q3))),
      f32x4.add(f32x4.add(f32x4.mul(wx4, q4), f32x4.mul(wx5, q5)), f32x4.add(f32x4.mul(wx6, q6), f32x4.mul(wx7, q7))));
    const sc = f32x4.add(
      f32x4.add(f32x4.add(f32x4.mul(w0, f32x4.mul(q0, q0)), f32x4.mul(w1, f32x4.mul(q1, q1))), f32x4.add(f32x4.mul(w2, f32x4.mul(q2, q2)), f32x4.mul(w3, f32x4.mul(q3, q3)))),
      f32x4.add(f32x4.add(f32x4.mul(w4, f32x4.mul(q4, q4)), f32x4.mul(w5, f32x4.mul(q5, q5))), f32x4.add(f32x4.mul(w6, f32x4.mul(q6, q6)), f32x4.mul(w7, f32x4.mul(q7, q7)))));
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
 * After the pass over the list at scale s (lane minima vmin, second minima vmin2, positions vpos of the
 * first minima): ggml's winner. One survivor (F_j <= threshold) iff exactly one lane's minimum is <= the
 * threshold and no lane's second minimum is: then it is the minimum, at that lane's position; else
 * several() evaluates the survivors.
 */
// @ts-ignore: decorator
@inline function scan_tail(slot: i32, nb: usize, qg: usize, xv: usize, w: usize, s: f32, vmin: v128, vmin2: v128, vpos: v128): i32 {
  let hm = f32x4.pmin(vmin, i32x4.shuffle(vmin, vmin, 2, 3, 0, 1));
  hm = f32x4.pmin(hm, i32x4.shuffle(hm, hm, 1, 0, 3, 2));
  const o = <usize>slot << 2;
  const mhat: f32 = <f32>49 * (s * s) * load<f32>(GW + o) + <f32>14 * s * load<f32>(GX + o) + load<f32>(GA + o);
  const vt = f32x4.splat(f32x4.extract_lane(hm, 0) + (REL * mhat + ABS));
  const m1 = i32x4.bitmask(f32x4.le(vmin, vt));
  if (m1 != 0 && (m1 & (m1 - 1)) == 0 && !v128.any_true(f32x4.le(vmin2, vt))) {
    v128.store(FV, vpos);
    return <i32>load<u16>(nb + (<usize>(load<i32>(FV + (<usize>ctz<u32>(m1) << 2)) + 1) << 1));
  }
  return several(slot, nb, qg, xv, w, s, vt);
}

/** Several survivors: lists them (F recomputed with the pass's operations), evaluates them exactly in list order. */
function several(slot: i32, nb: usize, qg: usize, xv: usize, w: usize, s: f32, vt: v128): i32 {
  const n = <i32>load<u16>(nb);
  const pb = BC + <usize>(slot * CAP * 8), pc = pb + <usize>(CAP * 4);
  const s2 = f32x4.splat(s * s), s2x = f32x4.splat(s + s);
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

// @ts-ignore: decorator
@inline function in_range(s: f32): bool { return s >= LIM_LO && s <= LIM_HI; }

/**
 * The filtered scan of group `slot` (started by iq2f_group with the same xv, w) on neighbour list nb
 * (u16 count then indices) of grid qg (8 int8 odd levels per point) at scale s: returns the index
 * neighbour_scan_ref(nb, qg, 8, xv, w, s) returns (ggml iq2_find_best_neighbour), bit for bit.
 */
// @ts-ignore: decorator
@inline export function iq2f_scan(slot: i32, nb: usize, qg: usize, xv: usize, w: usize, s: f32): i32 {
  if (load<u8>(GOK + <usize>slot) == 0 || !in_range(s)) return neighbour_scan_simd8(nb, qg, xv, w, s, false, 0);
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
  return scan_tail(slot, nb, qg, xv, w, s, vmin, vmin2, vpos);
}

/**
 * iq2f_scan of one group and list at cnt (1..4) scales sp[0..cnt) (f32) in one pass over the list (the
 * same F values and per-scale decisions as cnt calls of iq2f_scan); winners -> out[0..cnt) (i32).
 */
export function iq2f_scan4(slot: i32, nb: usize, qg: usize, xv: usize, w: usize, sp: usize, cnt: i32, out: usize): void {
  const sa = load<f32>(sp), sb = cnt > 1 ? load<f32>(sp, 4) : sa, sc = cnt > 2 ? load<f32>(sp, 8) : sa, sd = cnt > 3 ? load<f32>(sp, 12) : sa;
  if (load<u8>(GOK + <usize>slot) == 0 || !(in_range(sa) && in_range(sb) && in_range(sc) && in_range(sd))) {
    for (let i = 0; i < cnt; i++) store<i32>(out + (<usize>i << 2), iq2f_scan(slot, nb, qg, xv, w, load<f32>(sp + (<usize>i << 2))));
    return;
  }
  if (load<u32>(GNB + (<usize>slot << 2)) != <u32>nb) fill_bc(slot, nb, qg);
  const n = <i32>load<u16>(nb);
  const pb = BC + <usize>(slot * CAP * 8), pc = pb + <usize>(CAP * 4);
  const a2 = f32x4.splat(sa * sa), a2x = f32x4.splat(sa + sa), b2 = f32x4.splat(sb * sb), b2x = f32x4.splat(sb + sb);
  const c2 = f32x4.splat(sc * sc), c2x = f32x4.splat(sc + sc), d2 = f32x4.splat(sd * sd), d2x = f32x4.splat(sd + sd);
  const inf = f32x4.splat(Infinity), p0 = i32x4(0, 1, 2, 3);
  let am = inf, am2 = inf, ap = p0, bm = inf, bm2 = inf, bp = p0, cm = inf, cm2 = inf, cp = p0, dm = inf, dm2 = inf, dp = p0;
  let vj = p0;
  for (let j = 0; j < n; j += 4) {
    const vc = v128.load(pc + (<usize>j << 2)), vb = v128.load(pb + (<usize>j << 2));
    const fa = f32x4.sub(f32x4.mul(a2, vc), f32x4.mul(a2x, vb));
    const fb = f32x4.sub(f32x4.mul(b2, vc), f32x4.mul(b2x, vb));
    const fc = f32x4.sub(f32x4.mul(c2, vc), f32x4.mul(c2x, vb));
    const fd = f32x4.sub(f32x4.mul(d2, vc), f32x4.mul(d2x, vb));
    ap = v128.bitselect(vj, ap, f32x4.lt(fa, am)); am2 = f32x4.pmin(am2, f32x4.pmax(am, fa)); am = f32x4.pmin(am, fa);
    bp = v128.bitselect(vj, bp, f32x4.lt(fb, bm)); bm2 = f32x4.pmin(bm2, f32x4.pmax(bm, fb)); bm = f32x4.pmin(bm, fb);
    cp = v128.bitselect(vj, cp, f32x4.lt(fc, cm)); cm2 = f32x4.pmin(cm2, f32x4.pmax(cm, fc)); cm = f32x4.pmin(cm, fc);
    dp = v128.bitselect(vj, dp, f32x4.lt(fd, dm)); dm2 = f32x4.pmin(dm2, f32x4.pmax(dm, fd)); dm = f32x4.pmin(dm, fd);
    vj = i32x4.add(vj, i32x4.splat(4));
  }
  store<i32>(out, scan_tail(slot, nb, qg, xv, w, sa, am, am2, ap));
  if (cnt > 1) store<i32>(out, scan_tail(slot, nb, qg, xv, w, sb, bm, bm2, bp), 4);
  if (cnt > 2) store<i32>(out, scan_tail(slot, nb, qg, xv, w, sc, cm, cm2, cp), 8);
  if (cnt > 3) store<i32>(out, scan_tail(slot, nb, qg, xv, w, sd, dm, dm2, dp), 12);
}
