// Shared algorithm helpers of ggml's SYMMETRIC quantizers (q3_K, q6_K, q4_0/q5_0 imatrix paths):
// make_qx_quants and make_q3_quants, as scalar ports of ggml-quants.c (same f32 operation order),
// plus the 4-lane twin of make_qx_quants that runs four independent blocks at once (one block per
// lane, every sum kept sequential inside its lane), bit-identical to the scalar version
// (make_q3_quants' SIMD twin is in q3_K_descent.ts).
// Not re-exported from assembly/index.ts.
import { nearest_int_x } from "../inline/sym";

// @ts-ignore: decorator
@inline export const GROUP_MAX_EPS: f32 = 1e-15;

// @ts-ignore: decorator
@inline function qx_weight(rmse_type: i32, qw: usize, i: i32, xi: f32): f32 {
  if (qw) return load<f32>(qw + (<usize>i << 2));
  if (rmse_type == 1) return xi * xi;
  if (rmse_type == 2) return 1;
  if (rmse_type == 3) return abs<f32>(xi);
  return sqrt<f32>(abs<f32>(xi));
}

/**
 * ggml make_qx_quants: n values at x (f32) -> n codes at L (i8, in 0..2*nmax-1) and returns the
 * scale. rmse_type 0: plain RTN; 1..4: weights x^2, 1, |x|, sqrt|x| (qw != 0 overrides with qw[i])
 * and an 18-candidate search of the inverse scale; negative: one least-squares step only.
 */
export function make_qx_quants(n: i32, nmax: i32, x: usize, L: usize, rmse_type: i32, qw: usize): f32 {
  let vmax: f32 = 0;
  let amax: f32 = 0;
  for (let i = 0; i < n; i++) {
    const xi = load<f32>(x + (<usize>i << 2));
    const ax = abs<f32>(xi);
    if (ax > amax) { amax = ax; vmax = xi; }
  }
  if (amax < GROUP_MAX_EPS) {
    memory.fill(L, 0, <usize>n);
    return 0;
  }
  let iscale: f32 = <f32>(-nmax) / vmax;
  if (rmse_type == 0) {
    for (let i = 0; i < n; i++) {
      const l = nearest_int_x(iscale * load<f32>(x + (<usize>i << 2)));
      store<i8>(L + i, <i8>(nmax + max<i32>(-nmax, min<i32>(nmax - 1, l))));
    }
    return <f32>1 / iscale;
  }
  let return_early = false;
  if (rmse_type < 0) {
    rmse_type = -rmse_type;
    return_early = true;
  }
  let sumlx: f32 = 0;
  let suml2: f32 = 0;
  for (let i = 0; i < n; i++) {
    const xi = load<f32>(x + (<usize>i << 2));
    let l = nearest_int_x(iscale * xi);
    l = max<i32>(-nmax, min<i32>(nmax - 1, l));
    store<i8>(L + i, <i8>(l + nmax));
    const w = qx_weight(rmse_type, qw, i, xi);
    const lf = <f32>l;
    sumlx += w * xi * lf;
    suml2 += w * lf * lf;
  }
  let scale: f32 = suml2 != 0 ? sumlx / suml2 : 0;
  if (return_early) return suml2 > 0 ? <f32>0.5 * (scale + <f32>1 / iscale) : <f32>1 / iscale;
  let best = scale * sumlx;
  for (let is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    iscale = -(<f32>nmax + <f32>0.1 * <f32>is) / vmax;
    sumlx = 0;
    suml2 = 0;
    for (let i = 0; i < n; i++) {
      const xi = load<f32>(x + (<usize>i << 2));
      let l = nearest_int_x(iscale * xi);
      l = max<i32>(-nmax, min<i32>(nmax - 1, l));
      const w = qx_weight(rmse_type, qw, i, xi);
      const lf = <f32>l;
      sumlx += w * xi * lf;
      suml2 += w * lf * lf;
    }
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (let i = 0; i < n; i++) {
        const l = nearest_int_x(iscale * load<f32>(x + (<usize>i << 2)));
        store<i8>(L + i, <i8>(nmax + max<i32>(-nmax, min<i32>(nmax - 1, l))));
      }
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

/**
 * ggml make_q3_quants: n values -> codes in 0..2*nmax-1 at L (i8); with do_rmse, weights x^2 and
 * up to 5 passes of coordinate descent. Returns the scale.
 */
export function make_q3_quants(n: i32, nmax: i32, x: usize, L: usize, do_rmse: bool): f32 {
  let vmax: f32 = 0;
  let amax: f32 = 0;
  for (let i = 0; i < n; i++) {
    const xi = load<f32>(x + (<usize>i << 2));
    const ax = abs<f32>(xi);
    if (ax > amax) { amax = ax; vmax = xi; }
  }
  if (amax < GROUP_MAX_EPS) {
    memory.fill(L, 0, <usize>n);
    return 0;
  }
  const iscale: f32 = <f32>(-nmax) / vmax;
  if (do_rmse) {
    let sumlx: f32 = 0;
    let suml2: f32 = 0;
    for (let i = 0; i < n; i++) {
      const xi = load<f32>(x + (<usize>i << 2));
      let l = nearest_int_x(iscale * xi);
      l = max<i32>(-nmax, min<i32>(nmax - 1, l));
      store<i8>(L + i, <i8>l);
      const w = xi * xi;
      const lf = <f32>l;
      sumlx += w * xi * lf;
      suml2 += w * lf * lf;
    }
    for (let itry = 0; itry < 5; ++itry) {
      let n_changed = 0;
      for (let i = 0; i < n; i++) {
        const xi = load<f32>(x + (<usize>i << 2));
        const w = xi * xi;
        const Li = <f32>load<i8>(L + i);
        let slx = sumlx - w * xi * Li;
        if (slx > 0) {
          let sl2 = suml2 - w * Li * Li;
          let new_l = nearest_int_x(xi * sl2 / slx);
          new_l = max<i32>(-nmax, min<i32>(nmax - 1, new_l));
          if (new_l != <i32>load<i8>(L + i)) {
            const nl = <f32>new_l;
            slx += w * xi * nl;
            sl2 += w * nl * nl;
            if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
              store<i8>(L + i, <i8>new_l);
              sumlx = slx;
              suml2 = sl2;
              ++n_changed;
            }
          }
        }
      }
      if (!n_changed) break;
    }
    for (let i = 0; i < n; i++) store<i8>(L + i, <i8>(load<i8>(L + i) + nmax));
    return suml2 > 0 ? sumlx / suml2 : 0;
  }
  for (let i = 0; i < n; i++) {
    let l = nearest_int_x(iscale * load<f32>(x + (<usize>i << 2)));
    l = max<i32>(-nmax, min<i32>(nmax - 1, l));
    store<i8>(L + i, <i8>(l + nmax));
  }
  return <f32>1 / iscale;
}

// ---------------------------------------------------------------------------------------------
// 4-lane twins. Data are "transposed": row i (16 bytes at xt + 16*i) holds element i of the four
// blocks, lane k = block k. Codes come back the same way as i32 lanes at Lt (n rows).

const W4 = memory.data(32 * 16, 16);    // per-row weights w (n <= 32)
const WX4 = memory.data(32 * 16, 16);   // per-row w * x

/** Row o / 16 of the weights (wt = 0: x^2, else the transposed weights at wt) -> W4, and w x -> WX4. */
// @ts-ignore: decorator
@inline function qx_weights(o: usize, xi: v128, wt: usize): void {
  const w = wt ? v128.load(wt + o) : f32x4.mul(xi, xi);
  v128.store(W4 + o, w);
  v128.store(WX4 + o, f32x4.mul(w, xi));
}

/**
 * Lane-wise signed value of the largest magnitude (first one on ties); also leaves the all-zero
 * mask in lane_zero and, in lane_opp, the largest magnitude on the side opposite that value's
 * sign (<= 0 when no element is on that side). From the lane-wise max mx and min mn (starting at 0;
 * pmax / pmin skip NaN elements, as ggml's `ax > amax` does): amax = max(mx, -mn), and the signed
 * value is mx if mx > -mn, mn if -mn > mx; only when some lane has mx == -mn != 0 (+a and -a both
 * present: the first one wins) does the sequential scan run. Writes the rows' weights
 * (qx_weights) on the way.
 */
// @ts-ignore: decorator
@inline function lane_max(n: i32, xt: usize, wt: usize): v128 {
  let mx = f32x4.splat(0), mn = f32x4.splat(0);
  let mx1 = f32x4.splat(0), mn1 = f32x4.splat(0);
  let i = 0;
  for (; i + 2 <= n; i += 2) { // two chains each: the max / min order does not matter
    const o = <usize>i << 4;
    const x0 = v128.load(xt + o), x1 = v128.load(xt + o, 16);
    mx = f32x4.pmax(mx, x0);
    mn = f32x4.pmin(mn, x0);
    mx1 = f32x4.pmax(mx1, x1);
    mn1 = f32x4.pmin(mn1, x1);
    qx_weights(o, x0, wt);
    qx_weights(o + 16, x1, wt);
  }
  if (i < n) {
    const o = <usize>i << 4;
    const x0 = v128.load(xt + o);
    mx = f32x4.pmax(mx, x0);
    mn = f32x4.pmin(mn, x0);
    qx_weights(o, x0, wt);
  }
  mx = f32x4.pmax(mx, mx1);
  mn = f32x4.pmin(mn, mn1);
  const nmn = f32x4.neg(mn);
  const amax = f32x4.pmax(mx, nmn);
  const pos = f32x4.gt(mx, nmn);
  let vmax = v128.bitselect(mx, mn, pos);
  if (v128.any_true(v128.and(f32x4.eq(mx, nmn), f32x4.ne(mx, f32x4.splat(0))))) {
    // a +a / -a tie in some lane: ggml's scan (first largest magnitude)
    let am = f32x4.splat(0);
    vmax = f32x4.splat(0);
    for (let k = 0; k < n; k++) {
      const xi = v128.load(xt + (<usize>k << 4));
      const ax = f32x4.abs(xi);
      const m = f32x4.gt(ax, am);
      am = v128.bitselect(ax, am, m);
      vmax = v128.bitselect(xi, vmax, m);
    }
  }
  lane_zero = f32x4.lt(amax, f32x4.splat(GROUP_MAX_EPS));
  lane_opp = v128.bitselect(nmn, mx, f32x4.gt(vmax, f32x4.splat(0)));
  return vmax;
}
let lane_zero: v128 = i32x4.splat(0);
let lane_opp: v128 = i32x4.splat(0);


/**
 * The code of one candidate: nearest(is * x), clamped to [lo, hi] only where asked. C is a type
 * used as a compile-time flag set (sizeof<C>(): 1 no clamp, 2 lower, 4 upper, 8 both), so each
 * variant compiles to its own loop (with bool arguments the optimizer merged the four inlined
 * loops into one with run-time selects); a clamp is left out only where proven a no-op.
 */
// @ts-ignore: decorator
@inline function qx_code<C>(is: v128, xi: v128, lo: v128, hi: v128): v128 {
  // nearest by the 1.5*2^23 magic (two adds, ports 1/5 on x86) instead of roundps (two uops on the
  // multiply ports, which the four multiplications per candidate already saturate); see qx_sweep3
  const m = f32x4.splat(12582912.0);
  let l = f32x4.sub(f32x4.add(f32x4.mul(is, xi), m), m);
  if (sizeof<C>() >= 4) l = f32x4.pmin(hi, l);
  if (sizeof<C>() == 2 || sizeof<C>() == 8) l = f32x4.pmax(lo, l);
  return l;
}

/** The sums of one sweep (three candidates), left by qx_sweep3. */
let sw_x0: v128 = i32x4.splat(0);
let sw_x1: v128 = i32x4.splat(0);
let sw_x2: v128 = i32x4.splat(0);
let sw_20: v128 = i32x4.splat(0);
let sw_21: v128 = i32x4.splat(0);
let sw_22: v128 = i32x4.splat(0);

/**
 * Three candidates' sequential sums sum(w x l) and sum((w l) l) over the n rows, three
 * independent add chains interleaved; C (see qx_code) says which clamps are kept.
 */
// @ts-ignore: decorator
@inline function qx_sweep3<C>(n: i32, xt: usize, is0: v128, is1: v128, is2: v128, lo: v128, hi: v128): void {
  let sx0 = f32x4.splat(0), s20 = f32x4.splat(0);
  let sx1 = f32x4.splat(0), s21 = f32x4.splat(0);
  let sx2 = f32x4.splat(0), s22 = f32x4.splat(0);
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 4;
    const xi = v128.load(xt + o), wx = v128.load(WX4 + o), w = v128.load(W4 + o);
    const l0 = qx_code<C>(is0, xi, lo, hi);
    const l1 = qx_code<C>(is1, xi, lo, hi);
    const l2 = qx_code<C>(is2, xi, lo, hi);
    sx0 = f32x4.add(sx0, f32x4.mul(wx, l0));
    sx1 = f32x4.add(sx1, f32x4.mul(wx, l1));
    sx2 = f32x4.add(sx2, f32x4.mul(wx, l2));
    s20 = f32x4.add(s20, f32x4.mul(f32x4.mul(w, l0), l0));
    s21 = f32x4.add(s21, f32x4.mul(f32x4.mul(w, l1), l1));
    s22 = f32x4.add(s22, f32x4.mul(f32x4.mul(w, l2), l2));
  }
  sw_x0 = sx0; sw_x1 = sx1; sw_x2 = sx2;
  sw_20 = s20; sw_21 = s21; sw_22 = s22;
}

/** One candidate's sums (qx_sweep3 with one chain), left in sw_x0 / sw_20. */
// @ts-ignore: decorator
@inline function qx_sum1<C>(n: i32, xt: usize, is: v128, lo: v128, hi: v128): void {
  let sx = f32x4.splat(0), s2 = f32x4.splat(0);
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 4;
    const l = qx_code<C>(is, v128.load(xt + o), lo, hi);
    sx = f32x4.add(sx, f32x4.mul(v128.load(WX4 + o), l));
    s2 = f32x4.add(s2, f32x4.mul(f32x4.mul(v128.load(W4 + o), l), l));
  }
  sw_x0 = sx;
  sw_20 = s2;
}

/**
 * Which clamps the candidate inverse scale `is` (and every one of smaller magnitude) may need in
 * the lanes that are not all-zero: bit 0 the lower one (-nmax), bit 1 the upper one (nmax - 1).
 * Proof that a clamp left out is a no-op: f32 rounding is monotone and sign-symmetric, so for
 * every element x with |x| <= a, |fl(is x)| = fl(|is| |x|) <= fl(|is| a). Elements on vmax's
 * side (|x| <= |vmax|) give fl(is x) <= 0, and if fl(|is| |vmax|) < nmax + 0.5 then
 * nearest(fl(is x)) >= -nmax. Elements on the other side (|x| <= lane_opp) give fl(is x) >= 0, and
 * if fl(|is| opp) < nmax - 0.5 then nearest(fl(is x)) <= nmax - 1. Zeros give 0. All-zero lanes
 * (their results are masked) do not count.
 */
// @ts-ignore: decorator
@inline function qx_clamps(is: v128, avmax: v128, opp: v128, zero: v128, nmaxf: f32): i32 {
  const a = f32x4.abs(is);
  const okLo = v128.or(f32x4.lt(f32x4.mul(a, avmax), f32x4.splat(nmaxf + <f32>0.5)), zero);
  const okHi = v128.or(f32x4.lt(f32x4.mul(a, opp), f32x4.splat(nmaxf - <f32>0.5)), zero);
  return (i32x4.all_true(okLo) ? 0 : 1) | (i32x4.all_true(okHi) ? 0 : 2);
}

/**
 * make_qx_quants(n, nmax, x, L, rmse_type = 1, qw) for four blocks at once (n <= 32). wt = 0:
 * weights x^2, else transposed weights. Returns the four scales; bit-identical to the scalar version.
 * Lt = 0: no codes (the chosen inverse scales and the zero mask are left in qx_bis / qx_zero).
 * In lanes with a nonzero block |iscale * x| <= nmax + 0.9, so ggml's nearest_int equals
 * f32x4.nearest there and the code can be clamped as a float (lanes of all-zero blocks are
 * masked at the end). Per sweep of three candidates, the clamps that qx_clamps proves to be
 * no-ops in every lane are left out (one of four loop variants).
 */
export function make_qx_quants_x4(n: i32, nmax: i32, xt: usize, wt: usize, Lt: usize): v128 {
  const vmax = lane_max(n, xt, wt);
  const zero = lane_zero, opp = lane_opp, avmax = f32x4.abs(vmax);
  const nmaxf = <f32>nmax;
  const lo = f32x4.splat(-nmaxf), hi = f32x4.splat(nmaxf - 1);
  const iscale = f32x4.div(f32x4.splat(-nmaxf), vmax);
  // the first candidate (is = 0): the same sums; fl(nmax / |vmax| * |vmax|) < nmax + 0.5 always,
  // so only the upper clamp can bind (qx_clamps)
  if (qx_clamps(iscale, avmax, opp, zero, nmaxf) & 2) {
    qx_sum1<u32>(n, xt, iscale, lo, hi);
  } else {
    qx_sum1<u8>(n, xt, iscale, lo, hi);
  }
  const sumlx = sw_x0, suml2 = sw_20;
  let scale = v128.and(f32x4.div(sumlx, suml2), f32x4.ne(suml2, f32x4.splat(0)));
  let best = f32x4.mul(scale, sumlx);
  let bis = iscale;
  // candidates is = -9..-1, 1..9, three per sweep over the rows: their sums are independent
  // (only the accept decisions are sequential), so three add chains run interleaved.
  for (let k = 0; k < 6; k++) {
    const i0 = k < 3 ? 3 * k - 9 : 3 * k - 8;  // -9,-6,-3, 1,4,7
    const is0 = f32x4.div(f32x4.splat(-(nmaxf + <f32>0.1 * <f32>i0)), vmax);
    const is1 = f32x4.div(f32x4.splat(-(nmaxf + <f32>0.1 * <f32>(i0 + 1))), vmax);
    const is2 = f32x4.div(f32x4.splat(-(nmaxf + <f32>0.1 * <f32>(i0 + 2))), vmax);
    // |is0| <= |is1| <= |is2| (fl is monotone in the constant), so is2's test covers all three
    const need = qx_clamps(is2, avmax, opp, zero, nmaxf);
    if (need == 0) qx_sweep3<u8>(n, xt, is0, is1, is2, lo, hi);
    else if (need == 1) qx_sweep3<u16>(n, xt, is0, is1, is2, lo, hi);
    else if (need == 2) qx_sweep3<u32>(n, xt, is0, is1, is2, lo, hi);
    else qx_sweep3<u64>(n, xt, is0, is1, is2, lo, hi);
    // ggml's accept tests in candidate order; lanes that do not accept keep their values. With
    // weights x^2 (wt = 0: q6_K without imatrix) the update is skipped when no lane accepts; with
    // imatrix weights accepts are frequent and that branch mispredicted, so it is not taken there
    // (bench/KQUANT-SPEED.md "Session 7": 1.06x vs 0.98x for the other choice)
    const x0 = sw_x0, x1 = sw_x1, x2 = sw_x2, q0 = sw_20, q1 = sw_21, q2 = sw_22;
    let cond = v128.and(f32x4.gt(q0, f32x4.splat(0)), f32x4.gt(f32x4.mul(x0, x0), f32x4.mul(best, q0)));
    if (wt || v128.any_true(cond)) {
      const ns = f32x4.div(x0, q0);
      scale = v128.bitselect(ns, scale, cond);
      best = v128.bitselect(f32x4.mul(ns, x0), best, cond);
      bis = v128.bitselect(is0, bis, cond);
    }
    cond = v128.and(f32x4.gt(q1, f32x4.splat(0)), f32x4.gt(f32x4.mul(x1, x1), f32x4.mul(best, q1)));
    if (wt || v128.any_true(cond)) {
      const ns = f32x4.div(x1, q1);
      scale = v128.bitselect(ns, scale, cond);
      best = v128.bitselect(f32x4.mul(ns, x1), best, cond);
      bis = v128.bitselect(is1, bis, cond);
    }
    cond = v128.and(f32x4.gt(q2, f32x4.splat(0)), f32x4.gt(f32x4.mul(x2, x2), f32x4.mul(best, q2)));
    if (wt || v128.any_true(cond)) {
      const ns = f32x4.div(x2, q2);
      scale = v128.bitselect(ns, scale, cond);
      best = v128.bitselect(f32x4.mul(ns, x2), best, cond);
      bis = v128.bitselect(is2, bis, cond);
    }
  }
  if (!Lt) {
    // codes on demand (qx_codes16): q6_K / q3_K recompute them from the scale unless it is 0
    qx_bis = bis;
    qx_zero = zero;
    return v128.andnot(scale, zero);
  }
  // codes from the bits of t = clamp(fl(bis x) + M, M - nmax, M + nmax - 1), M = 1.5*2^23: in
  // nonzero lanes |fl(bis x)| < 2^22, so t - M = nearest(fl(bis x)) clamped (ties to even, the
  // clamp commutes with the exact shift), and t in [2^23, 2^24) has bits 0x4B000000 + (t - 2^23),
  // i.e. code = bits(t) - (0x4B400000 - nmax)
  const m = f32x4.splat(12582912.0);
  const tlo = f32x4.splat(<f32>12582912.0 - nmaxf), thi = f32x4.splat(<f32>12582912.0 + nmaxf - 1);
  const cb = i32x4.splat(0x4B400000 - nmax);
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 4;
    const t = f32x4.pmax(tlo, f32x4.pmin(thi, f32x4.add(f32x4.mul(bis, v128.load(xt + o)), m)));
    v128.store(Lt + o, v128.andnot(i32x4.sub(t, cb), zero));
  }
  return v128.andnot(scale, zero);
}
/** make_qx_quants_x4 with Lt = 0: the chosen inverse scales and the all-zero mask of its four lanes. */
export let qx_bis: v128 = i32x4.splat(0);
export let qx_zero: v128 = i32x4.splat(0);

/**
 * The codes make_qx_quants_x4 would have written for one 16-value block (f32 at xb, not
 * transposed) from its lane's inverse scale bis and all-zero flag: bytes
 * max(-nmax, min(nmax - 1, nearest(bis * x))) + nmax (0 for an all-zero block) at Lb, the same
 * f32 operations element by element. For the blocks whose final scale is 0 (the others are
 * requantized from the stored scale, so their search codes are never read).
 */
export function qx_codes16(Lb: usize, xb: usize, bis: f32, zero: bool, nmax: i32): void {
  if (zero) {
    v128.store(Lb, i32x4.splat(0));
    return;
  }
  const vb = f32x4.splat(bis), vn = f32x4.splat(<f32>nmax);
  const lo = f32x4.splat(<f32>-nmax), hi = f32x4.splat(<f32>(nmax - 1));
  const q0 = i32x4.trunc_sat_f32x4_s(f32x4.add(f32x4.pmax(lo, f32x4.pmin(hi, f32x4.nearest(f32x4.mul(vb, v128.load(xb))))), vn));
  const q1 = i32x4.trunc_sat_f32x4_s(f32x4.add(f32x4.pmax(lo, f32x4.pmin(hi, f32x4.nearest(f32x4.mul(vb, v128.load(xb, 16))))), vn));
  const q2 = i32x4.trunc_sat_f32x4_s(f32x4.add(f32x4.pmax(lo, f32x4.pmin(hi, f32x4.nearest(f32x4.mul(vb, v128.load(xb, 32))))), vn));
  const q3 = i32x4.trunc_sat_f32x4_s(f32x4.add(f32x4.pmax(lo, f32x4.pmin(hi, f32x4.nearest(f32x4.mul(vb, v128.load(xb, 48))))), vn));
  v128.store(Lb, i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_u(q0, q1), i16x8.narrow_i32x4_u(q2, q3)));
}

/**
 * Four sequential sums of squares at once: lane k = sum over j < n (in order, from 0) of
 * x[k*stride + j]^2 (stride in bytes, n a multiple of 4). Same f32 operations, in the same order,
 * as the scalar `for (j) s += x[j]*x[j]` loop of each lane.
 */
export function sumsq_x4(x: usize, stride: usize, n: i32): v128 {
  let acc = f32x4.splat(0);
  for (let j = 0; j < n; j += 4) {
    const p = x + (<usize>j << 2);
    const r0 = v128.load(p), r1 = v128.load(p + stride), r2 = v128.load(p + 2 * stride), r3 = v128.load(p + 3 * stride);
    const t0 = v128.shuffle<u32>(r0, r1, 0, 4, 1, 5), t1 = v128.shuffle<u32>(r0, r1, 2, 6, 3, 7);
    const t2 = v128.shuffle<u32>(r2, r3, 0, 4, 1, 5), t3 = v128.shuffle<u32>(r2, r3, 2, 6, 3, 7);
    const c0 = v128.shuffle<u32>(t0, t2, 0, 1, 4, 5), c1 = v128.shuffle<u32>(t0, t2, 2, 3, 6, 7);
    const c2 = v128.shuffle<u32>(t1, t3, 0, 1, 4, 5), c3 = v128.shuffle<u32>(t1, t3, 2, 3, 6, 7);
    acc = f32x4.add(acc, f32x4.mul(c0, c0));
    acc = f32x4.add(acc, f32x4.mul(c1, c1));
    acc = f32x4.add(acc, f32x4.mul(c2, c2));
    acc = f32x4.add(acc, f32x4.mul(c3, c3));
  }
  return acc;
}
