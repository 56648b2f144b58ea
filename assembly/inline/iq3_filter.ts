// Exact filtered neighbour scan of the iq3 quantizers (iq3_xxs, iq3_s; groups of 4 on the D4-type
// lattices), with up to 4 candidate scales in the 4 lanes (assembly/quant/iq3.ts group_points).
// ggml's iq3_find_best_neighbour returns the first neighbour j (list order) whose float32 distance
// fl(d2_j) = sum_i fl(fl(w_i diff_i) diff_i), diff_i = fl(fl(s q_ji) - x_i), added in element order from
// 0, is the smallest (strict <). Split into parts that do not depend on the scale s:
//   d2_j = A - 2 s B_j + s^2 C_j,  A = sum w x^2,  B_j = sum w x q_j,  C_j = sum w q_j^2,
// B_j, C_j are computed once per group and list (4 neighbours per step, lanes = neighbours) and cached
// while the group's code (so its list) repeats; per neighbour and 4 scales the filter value is
// F_j = fl(fl(s^2) C_j - fl(2 s) B_j), one multiply-subtract per lane. With u = 2^-24, q <= 15 and
// M = sum w (|x| + 15 s)^2, |fl(d2_j) - (A + F_j)| <= 16.2 u M (ggml's sum <= 9.1 u M, F_j <= 7.1 u M;
// the derivation is in bench/IQ-FILE.md, "iq3 filtered scan (session 7)"), so a neighbour with
// F_j > F_min + 32.4 u M cannot be ggml's choice. A lane whose second-smallest F is above
// F_min + 2^-17 M + 2^-70 (128 u M: room for the rounding of M and of the threshold; the absolute term
// covers every underflow error) has exactly one survivor, the first minimum of F, and that is ggml's
// winner; lanes with two or more survivors (near-ties) are re-scanned with ggml's exact float
// operations (iq3_scan_lanes). The filter runs only while the group's w and |x| are <= 2^30 and every
// active lane's scale is in [2^-40, 2^30] (NaN fails the tests); outside, the exact scan runs.
// Run certificates (iq3f_certify): F is affine in s after division by s, so a point that is the
// unique minimum with that margin at two scales is ggml's strict winner at every scale between them.
import { iq3_scan_lanes } from "./iq3_neighbour";

/** Group slots: the 8 groups of 4 of a 32-block. */
// @ts-ignore: decorator
@inline const SLOTS: i32 = 8;
/** Longest neighbour list of the iq3 lattices (iq3_s: 38) rounded up to 4 lanes. */
// @ts-ignore: decorator
@inline const CAP: i32 = 40;

/** Per slot: B_j then C_j (f32, CAP each). */
const BC: usize = memory.data(SLOTS * CAP * 2 * 4, 16);
/** Per slot: cached list address (0: none), A, X1 = sum w |x|, W = sum w, in-range flag. */
const GNB: usize = memory.data(SLOTS * 4, 16);
const GA: usize = memory.data(SLOTS * 4, 16);
const GX: usize = memory.data(SLOTS * 4, 16);
const GW: usize = memory.data(SLOTS * 4, 16);
const GOK: usize = memory.data(SLOTS, 16);
/** Per slot: w x (4 f32), the factors of B's terms. */
const GWX: usize = memory.data(SLOTS * 16, 16);
/** Counters for the tests: scans, lanes taken from the filter, lanes re-scanned exactly, out-of-range scans, runs certified, certificates refused. */
const STATS: usize = memory.data(32, 16);

// @ts-ignore: decorator
@inline const LIM_HI: f32 = 1073741824.0; // 2^30
// @ts-ignore: decorator
@inline const LIM_LO: f32 = 9.094947017729282e-13; // 2^-40
// @ts-ignore: decorator
@inline const REL: f32 = 7.62939453125e-6; // 2^-17
// @ts-ignore: decorator
@inline const ABS: f32 = 8.470329472543003e-22; // 2^-70

/**
 * Starts the 8 groups of a 32-block: x (32 f32 at xv, as the search's xval: |x|, one value negated by
 * iq3_xxs' parity rule), w (32 f32 at w, the distance weights, >= 0): per group A, X1, W, w x, the range
 * flag; drops every cached list.
 */
export function iq3f_block(xv: usize, w: usize): void {
  for (let k = 0; k < SLOTS; k++) {
    const o = <usize>k << 4;
    const vx = v128.load(xv + o), vw = v128.load(w + o);
    const wx = f32x4.mul(vw, vx);
    v128.store(GWX + o, wx);
    const a4 = f32x4.mul(wx, vx), x4 = f32x4.mul(vw, f32x4.abs(vx));
    // any summation order: only bounds are needed of A, X1, W (all terms >= 0)
    const ko = <usize>k << 2;
    store<f32>(GA + ko, f32x4.extract_lane(a4, 0) + f32x4.extract_lane(a4, 1) + f32x4.extract_lane(a4, 2) + f32x4.extract_lane(a4, 3));
    store<f32>(GX + ko, f32x4.extract_lane(x4, 0) + f32x4.extract_lane(x4, 1) + f32x4.extract_lane(x4, 2) + f32x4.extract_lane(x4, 3));
    store<f32>(GW + ko, f32x4.extract_lane(vw, 0) + f32x4.extract_lane(vw, 1) + f32x4.extract_lane(vw, 2) + f32x4.extract_lane(vw, 3));
    // every |x| and w <= 2^30 and w >= 0 (NaN compares false)
    const inr = v128.and(v128.and(f32x4.le(f32x4.abs(vx), f32x4.splat(LIM_HI)), f32x4.le(vw, f32x4.splat(LIM_HI))), f32x4.ge(vw, f32x4.splat(0)));
    store<u8>(GOK + <usize>k, v128.all_true<i32>(inr) ? 1 : 0);
    store<u32>(GNB + ko, 0);
  }
}

/** B_j, C_j of the n neighbours of list nb (4 per step, lanes = neighbours) for group slot k. */
function fill_bc(k: i32, nb: usize, qgf: usize, w: usize): void {
  const n = <i32>load<u16>(nb);
  const pb = BC + <usize>(k * CAP * 8), pc = pb + <usize>(CAP * 4);
  const g = GWX + (<usize>k << 4);
  const a0 = v128.load32_splat(g), a1 = v128.load32_splat(g, 4), a2 = v128.load32_splat(g, 8), a3 = v128.load32_splat(g, 12);
  const w0 = v128.load32_splat(w), w1 = v128.load32_splat(w, 4), w2 = v128.load32_splat(w, 8), w3 = v128.load32_splat(w, 12);
  for (let j = 0; j < n; j += 4) {
    const q0 = v128.load(qgf + (<usize>nbi(nb, j + 1, n) << 4)), q1 = v128.load(qgf + (<usize>nbi(nb, j + 2, n) << 4));
    const q2 = v128.load(qgf + (<usize>nbi(nb, j + 3, n) << 4)), q3 = v128.load(qgf + (<usize>nbi(nb, j + 4, n) << 4));
    const a = i32x4.shuffle(q0, q1, 0, 4, 1, 5), b = i32x4.shuffle(q2, q3, 0, 4, 1, 5);
    const c = i32x4.shuffle(q0, q1, 2, 6, 3, 7), e = i32x4.shuffle(q2, q3, 2, 6, 3, 7);
    const d0 = i32x4.shuffle(a, b, 0, 1, 4, 5), d1 = i32x4.shuffle(a, b, 2, 3, 6, 7);
    const d2 = i32x4.shuffle(c, e, 0, 1, 4, 5), d3 = i32x4.shuffle(c, e, 2, 3, 6, 7);
    // pairwise sums of the float terms (the error bound holds for any order)
    const sb = f32x4.add(f32x4.add(f32x4.mul(a0, d0), f32x4.mul(a1, d1)), f32x4.add(f32x4.mul(a2, d2), f32x4.mul(a3, d3)));
    const sc = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(w0, d0), d0), f32x4.mul(f32x4.mul(w1, d1), d1)),
      f32x4.add(f32x4.mul(f32x4.mul(w2, d2), d2), f32x4.mul(f32x4.mul(w3, d3), d3)));
    v128.store(pb + (<usize>j << 2), sb);
    v128.store(pc + (<usize>j << 2), sc);
  }
  store<u32>(GNB + (<usize>k << 2), <u32>nb);
}

/** The exact 4-lane scan (out of range, near-ties), out of line: the hot path stays small. */
function exact_lanes(nb: usize, qgf: usize, xv: usize, w: usize, s4: v128, lanes: v128): v128 {
  return iq3_scan_lanes(nb, qgf, xv, w, s4, lanes);
}

// @ts-ignore: decorator
@inline function nbi(nb: usize, j: i32, n: i32): i32 {
  return <i32>load<u16>(nb + (<usize>min<i32>(j, n) << 1));
}

/** Filter minima of the last pass: m1 (smallest F per lane), m2 (second-smallest). */
const PASS: usize = memory.data(32, 16);

/**
 * One filter pass of group slot k (its B, C filled for list nb) at the 4 scales of s4: per lane the
 * smallest and second-smallest F (-> PASS) and the lattice index of a minimum (returned).
 */
// @ts-ignore: decorator
@inline function pass(k: i32, nb: usize, s4: v128): v128 {
  const n = <i32>load<u16>(nb);
  const pb = BC + <usize>(k * CAP * 8), pc = pb + <usize>(CAP * 4);
  const s2 = f32x4.mul(s4, s4), s2x = f32x4.add(s4, s4);
  // two interleaved sets (even / odd list positions) of: the minimum of F per lane, the second-smallest
  // value (equal to the minimum on a tie) and the position of a minimum. Every F is finite in range, so
  // pmin / pmax (one instruction each) give the min / max values.
  const inf = f32x4.splat(Infinity), two = i32x4.splat(2);
  let m1a = inf, m2a = inf, m1b = inf, m2b = inf;
  let pa = i32x4.splat(0), pb2 = i32x4.splat(1), ja = i32x4.splat(0), jb = i32x4.splat(1);
  let j = 0;
  for (; j + 1 < n; j += 2) {
    const o = <usize>j << 2;
    const fa = f32x4.sub(f32x4.mul(s2, v128.load32_splat(pc + o)), f32x4.mul(s2x, v128.load32_splat(pb + o)));
    const fb = f32x4.sub(f32x4.mul(s2, v128.load32_splat(pc + o, 4)), f32x4.mul(s2x, v128.load32_splat(pb + o, 4)));
    pa = v128.bitselect(ja, pa, f32x4.lt(fa, m1a));
    pb2 = v128.bitselect(jb, pb2, f32x4.lt(fb, m1b));
    m2a = f32x4.pmin(m2a, f32x4.pmax(m1a, fa));
    m2b = f32x4.pmin(m2b, f32x4.pmax(m1b, fb));
    m1a = f32x4.pmin(m1a, fa);
    m1b = f32x4.pmin(m1b, fb);
    ja = i32x4.add(ja, two); jb = i32x4.add(jb, two);
  }
  if (j < n) { // odd n: the last neighbour joins set a
    const o = <usize>j << 2;
    const fa = f32x4.sub(f32x4.mul(s2, v128.load32_splat(pc + o)), f32x4.mul(s2x, v128.load32_splat(pb + o)));
    pa = v128.bitselect(ja, pa, f32x4.lt(fa, m1a));
    m2a = f32x4.pmin(m2a, f32x4.pmax(m1a, fa));
    m1a = f32x4.pmin(m1a, fa);
  }
  // merged: minimum, second-smallest of the union (the larger of the two minima or a set's second),
  // a position of the minimum (which one does not matter: a tie makes m2 = m1, a re-scanned lane)
  const m1 = f32x4.pmin(m1a, m1b);
  const m2 = f32x4.pmin(f32x4.pmin(m2a, m2b), f32x4.pmax(m1a, m1b));
  const pos = v128.bitselect(pb2, pa, f32x4.lt(m1b, m1a));
  v128.store(PASS, m1); v128.store(PASS, m2, 16);
  let bi = i32x4.splat(<i32>load<u16>(nb + (<usize>(i32x4.extract_lane(pos, 0) + 1) << 1)));
  bi = i32x4.replace_lane(bi, 1, <i32>load<u16>(nb + (<usize>(i32x4.extract_lane(pos, 1) + 1) << 1)));
  bi = i32x4.replace_lane(bi, 2, <i32>load<u16>(nb + (<usize>(i32x4.extract_lane(pos, 2) + 1) << 1)));
  bi = i32x4.replace_lane(bi, 3, <i32>load<u16>(nb + (<usize>(i32x4.extract_lane(pos, 3) + 1) << 1)));
  return bi;
}

/**
 * iq3_scan_lanes (ggml iq3_find_best_neighbour for the scales in lanes of s4 where `lanes` is set, all
 * on list nb) for group slot k of the block started by iq3f_block (xv, w: that group's 4 values and
 * weights): the same lattice index per lane, bit for bit; lanes outside `lanes` are -1.
 */
// @ts-ignore: decorator
@inline export function iq3f_scan_lanes(k: i32, nb: usize, qgf: usize, xv: usize, w: usize, s4: v128, lanes: v128): v128 {
  store<u32>(STATS, load<u32>(STATS) + 1);
  const inr = v128.and(f32x4.ge(s4, f32x4.splat(LIM_LO)), f32x4.le(s4, f32x4.splat(LIM_HI)));
  if (load<u8>(GOK + <usize>k) == 0 || v128.any_true(v128.andnot(lanes, inr))) {
    store<u32>(STATS + 12, load<u32>(STATS + 12) + 1);
    return exact_lanes(nb, qgf, xv, w, s4, lanes);
  }
  if (load<u32>(GNB + (<usize>k << 2)) != <u32>nb) fill_bc(k, nb, qgf, w);
  let bi = pass(k, nb, s4);
  const m1 = v128.load(PASS), m2 = v128.load(PASS, 16);
  const s2 = f32x4.mul(s4, s4);
  const ko = <usize>k << 2;
  // M = A + 30 s X1 + 225 s^2 W = sum w (|x| + 15 s)^2, every term >= 0
  const mhat = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(s2, f32x4.splat(225)), v128.load32_splat(GW + ko)),
    f32x4.mul(f32x4.mul(s4, f32x4.splat(30)), v128.load32_splat(GX + ko))), v128.load32_splat(GA + ko));
  const vt = f32x4.add(m1, f32x4.add(f32x4.mul(mhat, f32x4.splat(REL)), f32x4.splat(ABS)));
  // lanes with a second survivor (m2 <= threshold): exact re-scan
  const again = v128.and(f32x4.le(m2, vt), lanes);
  bi = v128.and(bi, lanes);
  const na = <u32>i32x4.bitmask(again);
  if (na != 0) {
    store<u32>(STATS + 8, load<u32>(STATS + 8) + popcnt<u32>(na));
    bi = v128.bitselect(exact_lanes(nb, qgf, xv, w, s4, again), bi, again);
  }
  store<u32>(STATS + 4, load<u32>(STATS + 4) + popcnt<u32>(<u32>i32x4.bitmask(lanes) & ~na));
  return v128.or(bi, v128.not(lanes));
}

/**
 * Run certificate: the scales sa >= sb (f32, sa / sb <= 1.5: two candidate scales of one block) share
 * group slot k's list nb. Returns the lattice index j* that ggml's iq3_find_best_neighbour returns at
 * EVERY scale s in [sb, sa] (so at every candidate scale between the two), or -1 when that cannot be
 * shown (different or tied minima, a small margin, out of range). j* is the unique minimum of F at
 * both ends with F_j - F_j* > 2^-17 M(sa) + 2^-70 for all j != j*; since s C_j - 2 B_j is linear in s
 * this keeps every ggml distance of j above j*'s in between (bound in bench/IQ-FILE.md, "iq3 filtered
 * scan (session 7)").
 */
export function iq3f_certify(k: i32, nb: usize, qgf: usize, w: usize, sa: f32, sb: f32): i32 {
  if (load<u8>(GOK + <usize>k) == 0 || !(sb >= LIM_LO && sa <= LIM_HI && sb <= sa && sa <= <f32>1.5 * sb)) return -1;
  if (load<u32>(GNB + (<usize>k << 2)) != <u32>nb) fill_bc(k, nb, qgf, w);
  const s4 = f32x4(sa, sb, sa, sb);
  const bi = pass(k, nb, s4);
  const ja = i32x4.extract_lane(bi, 0);
  if (ja != i32x4.extract_lane(bi, 1)) return -1;
  const ko = <usize>k << 2;
  // M(sa) = A + 30 sa X1 + 225 sa^2 W >= M(sb), every term >= 0
  const mhat: f32 = <f32>225 * (sa * sa) * load<f32>(GW + ko) + <f32>30 * sa * load<f32>(GX + ko) + load<f32>(GA + ko);
  const t: f32 = REL * mhat + ABS;
  const m1 = v128.load(PASS), m2 = v128.load(PASS, 16);
  const ok = f32x4.gt(m2, f32x4.add(m1, f32x4.splat(t)));
  if ((i32x4.bitmask(ok) & 3) != 3) { store<u32>(STATS + 20, load<u32>(STATS + 20) + 1); return -1; }
  store<u32>(STATS + 16, load<u32>(STATS + 16) + 1);
  return ja;
}

/**
 * @internal Filter counters for the tests (since the last reset): 0 filtered scans started, 1 lanes
 * decided by the filter alone, 2 lanes re-scanned exactly (near-ties), 3 scans outside the filter's
 * range (exact scan), 4 runs of candidates certified by iq3f_certify, 5 certificates refused (the run
 * is scanned). `reset` true zeroes them.
 */
export function iq3f_stats(i: i32, reset: bool): u32 {
  const v = load<u32>(STATS + (<usize>(i & 7) << 2));
  if (reset) memory.fill(STATS, 0, 32);
  return v;
}
