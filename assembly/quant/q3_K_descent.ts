// make_q3_quants(16, 4, x, L, do_rmse = true) -- ggml's RTN start + up to 5 passes of coordinate
// descent -- for four 16-value sub-blocks at once (one per lane; the q3_K path without an importance
// matrix), bit-identical to the scalar version in common_sym.ts, lane by lane.
//
// Accepted changes are rare (on ~normal weights ~4% of the elements of a descending sub-block per
// pass), and between two changes sumlx / suml2 are constant, so each element's test is independent
// of the previous one: the loop computes the cheap test (slx, sl2, the division, the rounded code)
// from stored per-element terms and takes the accept path only when some lane's code differs.
// Work is skipped only where it provably changes nothing:
//  - a sub-block whose signed max is finite and > 0 gets codes of the opposite sign of x, so every
//    term w * x * L is <= 0 (or NaN), every sequential partial sum is at least as large in magnitude
//    as each term, slx = sumlx - w*x*L[i] is never > 0, and ggml's first pass changes nothing: its
//    result is the RTN start (all-zero sub-blocks too). Such lanes start done.
//  - a lane whose pass changed nothing is done (ggml breaks; further passes would be no-ops).
//  Done lanes carry sumlx = NaN in the loop, so slx > 0 fails for every element.
// Not re-exported from assembly/index.ts.
import { GROUP_MAX_EPS } from "./common_sym";
import { transpose4x4 } from "../inline/sym";

// One buffer, 16 rows of four lanes each, at fixed distances (loads with immediate offsets):
// +0 x (transposed), +256 w * x * L (ggml's term of sumlx), +512 w * L * L (the term of suml2),
// +768 L + 0x400000 (i32, L in -4..3)
const B = memory.data(4 * 256, 16);
// @ts-ignore: decorator
@inline const OT1: usize = 256;
// @ts-ignore: decorator
@inline const OT2: usize = 512;
// @ts-ignore: decorator
@inline const OLB: usize = 768;

// @ts-ignore: decorator
@inline const BIAS: i32 = 0x400000;

/**
 * make_q3_quants(16, 4, ., ., true) for the four consecutive 16-value sub-blocks (f32) at xs: codes
 * 0..7 as bytes at Lg + 16 k (sub-block k), returns the four scales. Bit-identical with the scalar
 * make_q3_quants for finite inputs.
 */
export function make_q3_quants_x4e(xs: usize, Lg: usize): v128 {
  const xt = B;
  for (let r: usize = 0; r < 16; r += 4) transpose4x4(xt + (r << 4), xs + (r << 2), 64);
  // signed max (first one on ties) from the lane max and min; a +a / -a tie is resolved by a scan
  let hi = v128.load(xt), lo = hi;
  for (let i: usize = 1; i < 16; i++) {
    const v = v128.load(xt + (i << 4));
    hi = f32x4.pmax(hi, v);
    lo = f32x4.pmin(lo, v);
  }
  const nlo = f32x4.neg(lo);
  let vmax = v128.bitselect(hi, lo, f32x4.gt(hi, nlo));
  const tie = v128.and(f32x4.eq(hi, nlo), f32x4.gt(hi, f32x4.splat(0)));
  if (v128.any_true(tie)) vmax = tie_max(xt, vmax, tie, hi);
  const zero = f32x4.lt(f32x4.pmax(hi, nlo), f32x4.splat(GROUP_MAX_EPS));
  // RTN start: |iscale * x| <= 4 in nonzero lanes, so ggml's nearest_int equals f32x4.nearest
  const flo = f32x4.splat(-4), fhi = f32x4.splat(3);
  const iscale = f32x4.div(f32x4.splat(-4), vmax);
  const bias = i32x4.splat(BIAS), mask = i32x4.splat(0x007FFFFF);
  const magic = f32x4.splat(12582912.0);
  let sumlx = f32x4.splat(0);
  let suml2 = f32x4.splat(0);
  for (let p = B; p < B + 256; p += 16) {
    const xi = v128.load(p);
    const l = f32x4.pmax(flo, f32x4.pmin(fhi, f32x4.nearest(f32x4.mul(iscale, xi))));
    // l is an integer in -4..3: the low 23 bits of l + 1.5 * 2^23 are l + 0x400000
    v128.store(p, v128.and(f32x4.add(l, magic), mask), OLB);
    const w = f32x4.mul(xi, xi);
    const t1 = f32x4.mul(f32x4.mul(w, xi), l), t2 = f32x4.mul(f32x4.mul(w, l), l);
    v128.store(p, t1, OT1);
    v128.store(p, t2, OT2);
    sumlx = f32x4.add(sumlx, t1);
    suml2 = f32x4.add(suml2, t2);
  }
  let scale = v128.and(f32x4.div(sumlx, suml2), f32x4.gt(suml2, f32x4.splat(0)));
  const done = v128.or(zero, v128.and(f32x4.gt(vmax, f32x4.splat(0)), f32x4.lt(vmax, f32x4.splat(Infinity))));
  if (!i32x4.all_true(done)) {
    const nan = f32x4.splat(NaN), fz = f32x4.splat(0);
    const blo = i32x4.splat(BIAS - 4), bhi = i32x4.splat(BIAS + 3);
    let sx = v128.bitselect(nan, sumlx, done);
    let s2 = suml2;
    for (let itry = 0; itry < 5; ++itry) {
      let chg = i32x4.splat(0);
      for (let p = B; p < B + 256; p += 16) {
        const slx = f32x4.sub(sx, v128.load(p, OT1));
        const c1 = f32x4.gt(slx, fz);
        const sl2 = f32x4.sub(s2, v128.load(p, OT2));
        const xi = v128.load(p);
        // ggml's nearest_int(x * sl2 / slx) (exact for any value: it can be huge here), clamped
        const nb = i32x4.max_s(blo, i32x4.min_s(bhi,
          v128.and(f32x4.add(f32x4.div(f32x4.mul(xi, sl2), slx), magic), mask)));
        const Lb = v128.load(p, OLB);
        const c2 = v128.andnot(c1, i32x4.eq(nb, Lb));
        if (!v128.any_true(c2)) continue;
        const nf = f32x4.convert_i32x4_s(i32x4.sub(nb, bias));
        const w = f32x4.mul(xi, xi);
        const t1 = f32x4.mul(f32x4.mul(w, xi), nf), t2 = f32x4.mul(f32x4.mul(w, nf), nf);
        const slx2 = f32x4.add(slx, t1), sl22 = f32x4.add(sl2, t2);
        const c3 = v128.and(v128.and(c2, f32x4.gt(sl22, fz)),
          f32x4.gt(f32x4.mul(f32x4.mul(slx2, slx2), s2), f32x4.mul(f32x4.mul(sx, sx), sl22)));
        v128.store(p, v128.bitselect(nb, Lb, c3), OLB);
        v128.store(p, v128.bitselect(t1, v128.load(p, OT1), c3), OT1);
        v128.store(p, v128.bitselect(t2, v128.load(p, OT2), c3), OT2);
        sx = v128.bitselect(slx2, sx, c3);
        s2 = v128.bitselect(sl22, s2, c3);
        chg = v128.or(chg, c3);
      }
      if (!v128.any_true(chg)) break;
      scale = v128.bitselect(v128.and(f32x4.div(sx, s2), f32x4.gt(s2, fz)), scale, chg);
      sx = v128.bitselect(sx, nan, chg); // lanes without a change are done
    }
  }
  // codes (L + 4; 0 for all-zero sub-blocks) as bytes, sub-block k at Lg + 16 k
  const off = i32x4.splat(BIAS - 4);
  const sw = i8x16(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  for (let r: usize = 0; r < 16; r += 4) {
    const p = B + OLB + (r << 4);
    const b = i8x16.swizzle(i8x16.narrow_i16x8_u(
      i16x8.narrow_i32x4_u(v128.andnot(i32x4.sub(v128.load(p), off), zero), v128.andnot(i32x4.sub(v128.load(p, 16), off), zero)),
      i16x8.narrow_i32x4_u(v128.andnot(i32x4.sub(v128.load(p, 32), off), zero), v128.andnot(i32x4.sub(v128.load(p, 48), off), zero))), sw);
    store<u32>(Lg + r, i32x4.extract_lane(b, 0));
    store<u32>(Lg + 16 + r, i32x4.extract_lane(b, 1));
    store<u32>(Lg + 32 + r, i32x4.extract_lane(b, 2));
    store<u32>(Lg + 48 + r, i32x4.extract_lane(b, 3));
  }
  return v128.andnot(scale, zero);
}

const TMP = memory.data(48, 16);

/** Lanes in `tie` (max == -min > 0): the first element of magnitude `hi` in element order. */
function tie_max(xt: usize, vmax: v128, tie: v128, hi: v128): v128 {
  v128.store(TMP, vmax);
  v128.store(TMP, tie, 16);
  v128.store(TMP, hi, 32);
  for (let k: usize = 0; k < 4; k++) {
    if (!load<i32>(TMP + 16 + (k << 2))) continue;
    const h = load<f32>(TMP + 32 + (k << 2));
    for (let i: usize = 0; i < 16; i++) {
      const v = load<f32>(xt + (i << 4) + (k << 2));
      if (abs<f32>(v) == h) {
        store<f32>(TMP + (k << 2), v);
        break;
      }
    }
  }
  return v128.load(TMP);
}
