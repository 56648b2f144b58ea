// @inline helpers shared by the kvalues_iq4nl quantizers (iq4_nl, iq4_xs): table lookups, ggml's
// best_index_int8 (scalar and 4-lane) and a 4 x 32 f32 transpose.
import { transpose4p } from "./simd";

export const KV: usize = memory.data<i8>([-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]);

// @ts-ignore: decorator
@inline export function kv(i: i32): f32 {
  return <f32>load<i8>(KV + <usize>i);
}

/** ggml best_index_int8(16, kvalues_iq4nl, x). */
// @ts-ignore: decorator
@inline export function best_index(x: f32): i32 {
  if (x <= <f32>-127) return 0;
  if (x >= <f32>113) return 15;
  let ml = 0, mu = 15;
  while (mu - ml > 1) {
    const mav = (ml + mu) >> 1;
    if (x < kv(mav)) mu = mav; else ml = mav;
  }
  return x - kv(mu - 1) < kv(mu) - x ? mu - 1 : mu;
}

/** mu = 1 + #{i in 1..14 : T[i] <= x} per lane (1..15): T[mu-1] <= x < T[mu] inside the table range. */
// @ts-ignore: decorator
@inline export function upper_x4(x: v128): v128 {
  let c = i32x4.splat(1);
  c = i32x4.sub(c, f32x4.le(f32x4.splat(-104), x));
  c = i32x4.sub(c, f32x4.le(f32x4.splat(-83), x));
  c = i32x4.sub(c, f32x4.le(f32x4.splat(-65), x));
  c = i32x4.sub(c, f32x4.le(f32x4.splat(-49), x));
  c = i32x4.sub(c, f32x4.le(f32x4.splat(-35), x));
  c = i32x4.sub(c, f32x4.le(f32x4.splat(-22), x));
  c = i32x4.sub(c, f32x4.le(f32x4.splat(-10), x));
  c = i32x4.sub(c, f32x4.le(f32x4.splat(1), x));
  c = i32x4.sub(c, f32x4.le(f32x4.splat(13), x));
  c = i32x4.sub(c, f32x4.le(f32x4.splat(25), x));
  c = i32x4.sub(c, f32x4.le(f32x4.splat(38), x));
  c = i32x4.sub(c, f32x4.le(f32x4.splat(53), x));
  c = i32x4.sub(c, f32x4.le(f32x4.splat(69), x));
  return i32x4.sub(c, f32x4.le(f32x4.splat(89), x));
}

// @ts-ignore: decorator
@inline export function tbl_x4(tbl: v128, l: v128): v128 {
  return f32x4.convert_i32x4_s(i32x4.shr_s(i32x4.shl(i8x16.swizzle(tbl, l), 24), 24));
}

/** 4-lane best_index: bisection result = mu - 1 if x - T[mu-1] < T[mu] - x else mu, which also
 *  covers x <= T[0] (-> 0) and x >= T[15] (-> 15). NaN -> 15, as the scalar bisection gives. */
// @ts-ignore: decorator
@inline export function best_index_x4(x: v128): v128 {
  const c = upper_x4(x);
  const tbl = v128.load(KV);
  const lo = tbl_x4(tbl, i32x4.sub(c, i32x4.splat(1))), hi = tbl_x4(tbl, c);
  const r = i32x4.add(c, f32x4.lt(f32x4.sub(x, lo), f32x4.sub(hi, x)));
  return v128.bitselect(i32x4.splat(15), r, f32x4.ne(x, x));
}

/** Table value T[best_index(x)] (f32) per lane, without a third lookup. */
// @ts-ignore: decorator
@inline export function best_value_x4(x: v128): v128 {
  const c = upper_x4(x);
  const tbl = v128.load(KV);
  const lo = tbl_x4(tbl, i32x4.sub(c, i32x4.splat(1))), hi = tbl_x4(tbl, c);
  const q = v128.bitselect(lo, hi, f32x4.lt(f32x4.sub(x, lo), f32x4.sub(hi, x)));
  return v128.bitselect(f32x4.splat(113), q, f32x4.ne(x, x));
}

/** Transposes 4 blocks of 32 f32 (pointers a..d) into dst: dst[j] = (a[j], b[j], c[j], d[j]). */
// @ts-ignore: decorator
@inline export function transpose4(dst: usize, a: usize, b: usize, c: usize, d: usize): void {
  transpose4p(dst, a, b, c, d, 128);
}


/**
 * ggml quantize_row_iq4_nl_impl's 32-block scale search (ntry = 7) for 4 blocks at once, lane i =
 * block i. xt: the 4 blocks transposed (32 x f32x4, element j of every block at xt + 16 j); wt: their
 * importance rows transposed likewise when haveW (overwritten with the weights imatrix sqrt(sigma2 +
 * x^2)), else scratch for the weights x^2; sigma2 per lane. Start d = -max / -127 and least squares,
 * then the 15 candidate inverse scales (itry - 127) / max, kept when sumqx^2 > best sumq2. Returns the
 * 4 block scales (0 where max |x| < 1e-15). Shared by iq4_nl (4 rows' blocks) and iq4_xs (4 blocks of
 * one super-block).
 */
export function iq4nl_search_x4(xt: usize, wt: usize, haveW: bool, sigma2: v128): v128 {
  if (haveW) {
    for (let j: usize = 0; j < 32; j++) {
      const v = v128.load(xt + (j << 4));
      const o = wt + (j << 4);
      v128.store(o, f32x4.mul(v128.load(o), f32x4.sqrt(f32x4.add(sigma2, f32x4.mul(v, v)))));
    }
  } else {
    for (let j: usize = 0; j < 32; j++) {
      const v = v128.load(xt + (j << 4));
      v128.store(wt + (j << 4), f32x4.mul(v, v));
    }
  }
  let amax = f32x4.splat(0), max = f32x4.splat(0);
  for (let j: usize = 0; j < 32; j++) {
    const v = v128.load(xt + (j << 4));
    const m = f32x4.gt(f32x4.abs(v), amax);
    amax = v128.bitselect(f32x4.abs(v), amax, m);
    max = v128.bitselect(v, max, m);
  }
  // first pass: d = -max / -127
  let id = f32x4.div(f32x4.splat(1), f32x4.div(f32x4.neg(max), f32x4.splat(-127)));
  let sumqx = f32x4.splat(0), sumq2 = f32x4.splat(0);
  for (let j: usize = 0; j < 32; j++) {
    const v = v128.load(xt + (j << 4));
    const q = best_value_x4(f32x4.mul(id, v));
    const wq = f32x4.mul(v128.load(wt + (j << 4)), q);
    sumqx = f32x4.add(sumqx, f32x4.mul(wq, v));
    sumq2 = f32x4.add(sumq2, f32x4.mul(wq, q));
  }
  const zero = f32x4.splat(0);
  let d = v128.and(f32x4.div(sumqx, sumq2), f32x4.gt(sumq2, zero));
  let best = f32x4.mul(d, sumqx);
  for (let itry = -7; itry <= 7; ++itry) {
    id = f32x4.div(f32x4.splat(<f32>(itry - 127)), max);
    sumqx = zero; sumq2 = zero;
    for (let j: usize = 0; j < 32; j++) {
      const v = v128.load(xt + (j << 4));
      const q = best_value_x4(f32x4.mul(id, v));
      const wq = f32x4.mul(v128.load(wt + (j << 4)), q);
      sumqx = f32x4.add(sumqx, f32x4.mul(wq, v));
      sumq2 = f32x4.add(sumq2, f32x4.mul(wq, q));
    }
    const take = v128.and(f32x4.gt(sumq2, zero), f32x4.gt(f32x4.mul(sumqx, sumqx), f32x4.mul(best, sumq2)));
    const dn = f32x4.div(sumqx, sumq2);
    d = v128.bitselect(dn, d, take);
    best = v128.bitselect(f32x4.mul(dn, sumqx), best, take);
  }
  return v128.andnot(d, f32x4.lt(amax, f32x4.splat(1e-15)));
}
