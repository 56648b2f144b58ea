// f32x4 log and log-sum helpers for the distillation losses (assembly/nn/loss.ts, loss_topk.ts).
// Cephes logf polynomial (max error ~2 ulp on its domain), lane-wise; e^x is math.ts's exp_f32x4.
// exp_f32x4 is math.ts's (the one f32x4 exp of the engine; below -87.33 exactly 0).
import { exp_f32x4 } from "./math";

// @ts-ignore: decorator
@inline const LN2_HI: f32 = 0.693359375;
// @ts-ignore: decorator
@inline const LN2_LO: f32 = -2.12194440e-4;

/** ln(x) per lane for positive normal x (0, subnormals, Inf and NaN are not expected). */
// @ts-ignore: decorator
@inline export function log_f32x4(x: v128): v128 {
  let e = i32x4.sub(i32x4.shr_s(x, 23), i32x4.splat(126));
  let m = v128.or(v128.and(x, i32x4.splat(0x007fffff)), i32x4.splat(0x3f000000)); // [0.5, 1)
  const small = f32x4.lt(m, f32x4.splat(0.707106781186547524));
  e = i32x4.add(e, small); // -1 where small
  m = f32x4.add(f32x4.sub(m, f32x4.splat(1.0)), v128.and(m, small));
  const ef = f32x4.convert_i32x4_s(e);
  const z = f32x4.mul(m, m);
  let y = f32x4.splat(7.0376836292e-2);
  y = f32x4.add(f32x4.mul(y, m), f32x4.splat(-1.1514610310e-1));
  y = f32x4.add(f32x4.mul(y, m), f32x4.splat(1.1676998740e-1));
  y = f32x4.add(f32x4.mul(y, m), f32x4.splat(-1.2420140846e-1));
  y = f32x4.add(f32x4.mul(y, m), f32x4.splat(1.4249322787e-1));
  y = f32x4.add(f32x4.mul(y, m), f32x4.splat(-1.6668057665e-1));
  y = f32x4.add(f32x4.mul(y, m), f32x4.splat(2.0000714765e-1));
  y = f32x4.add(f32x4.mul(y, m), f32x4.splat(-2.4999993993e-1));
  y = f32x4.add(f32x4.mul(y, m), f32x4.splat(3.3333331174e-1));
  y = f32x4.mul(f32x4.mul(y, m), z);
  y = f32x4.add(y, f32x4.mul(ef, f32x4.splat(LN2_LO)));
  y = f32x4.sub(y, f32x4.mul(z, f32x4.splat(0.5)));
  return f32x4.add(f32x4.add(m, y), f32x4.mul(ef, f32x4.splat(LN2_HI)));
}

/** ln(e^a + e^b) per lane (at most one of a, b may be -Inf). */
// @ts-ignore: decorator
@inline export function logaddexp_f32x4(a: v128, b: v128): v128 {
  const hi = f32x4.max(a, b), lo = f32x4.min(a, b);
  return f32x4.add(hi, log_f32x4(f32x4.add(f32x4.splat(1.0), exp_f32x4(f32x4.sub(lo, hi)))));
}

/** e^x - 1 per lane for |x| <= 0.5 (degree-8 Taylor polynomial, relative error < 1e-7). */
// @ts-ignore: decorator
@inline export function expm1_small_f32x4(x: v128): v128 {
  let y = f32x4.splat(<f32>(1.0 / 40320.0));
  y = f32x4.add(f32x4.mul(y, x), f32x4.splat(<f32>(1.0 / 5040.0)));
  y = f32x4.add(f32x4.mul(y, x), f32x4.splat(<f32>(1.0 / 720.0)));
  y = f32x4.add(f32x4.mul(y, x), f32x4.splat(<f32>(1.0 / 120.0)));
  y = f32x4.add(f32x4.mul(y, x), f32x4.splat(<f32>(1.0 / 24.0)));
  y = f32x4.add(f32x4.mul(y, x), f32x4.splat(<f32>(1.0 / 6.0)));
  y = f32x4.add(f32x4.mul(y, x), f32x4.splat(0.5));
  y = f32x4.add(f32x4.mul(y, x), f32x4.splat(1.0));
  return f32x4.mul(y, x);
}

/** ln(1 + y) per lane for y > -1 (1 + y a normal float): log(w) * y / (w - 1) with w = 1 + y (Goldberg), y where w == 1. */
// @ts-ignore: decorator
@inline export function log1p_f32x4(y: v128): v128 {
  const w = f32x4.add(f32x4.splat(1.0), y);
  const wm1 = f32x4.sub(w, f32x4.splat(1.0));
  const r = f32x4.div(f32x4.mul(log_f32x4(w), y), wm1);
  return v128.bitselect(y, r, f32x4.eq(wm1, f32x4.splat(0)));
}

/** Scalar ln(e^a + e^b) in f64 (at most one of a, b may be -Inf). */
// @ts-ignore: decorator
@inline export function logaddexp64(a: f64, b: f64): f64 {
  const hi = max<f64>(a, b), lo = min<f64>(a, b);
  return hi + Math.log1p(Math.exp(lo - hi));
}

/** Adds the 4 lanes of a f32x4 to two f64x2 accumulators (returns the new pair through acc lanes). */
// @ts-ignore: decorator
@inline export function widen_lo(v: v128): v128 {
  return f64x2.promote_low_f32x4(v);
}
// @ts-ignore: decorator
@inline export function widen_hi(v: v128): v128 {
  return f64x2.promote_low_f32x4(v128.shuffle<u32>(v, v, 2, 3, 2, 3));
}
// @ts-ignore: decorator
@inline export function hsum_f64x2(a: v128): f64 {
  return f64x2.extract_lane(a, 0) + f64x2.extract_lane(a, 1);
}
