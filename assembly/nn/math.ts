// Vector math shared by the nn kernels and the losses (inline).

// @ts-ignore: decorator
@inline const LOG2E: f32 = 1.44269504088896341;
// @ts-ignore: decorator
@inline const LN2_HI: f32 = 0.693359375;
// @ts-ignore: decorator
@inline const LN2_LO: f32 = -2.12194440e-4;

/**
 * e^x per lane: Cephes expf (range reduction by ln 2 in two parts, degree-6 polynomial, 2^n built in
 * the exponent bits; max error ~2 ulp, |relative error| < 2e-7 against Mathf.exp). The one exp of the
 * nn kernels (activations) and the distillation losses (loss_math.ts). Inputs below -87.33 give
 * exactly 0 (the true value is subnormal or 0 in f32; -Inf gives 0); inputs above 88.3 are clamped to
 * e^88.3. NaN is not expected (the facade rejects it).
 */
// @ts-ignore: decorator
@inline export function exp_f32x4(x0: v128): v128 {
  const x = f32x4.min(f32x4.max(x0, f32x4.splat(-87.33)), f32x4.splat(88.3));
  const n = f32x4.nearest(f32x4.mul(x, f32x4.splat(LOG2E)));
  const r = f32x4.sub(f32x4.sub(x, f32x4.mul(n, f32x4.splat(LN2_HI))), f32x4.mul(n, f32x4.splat(LN2_LO)));
  const z = f32x4.mul(r, r);
  let y = f32x4.splat(1.9875691500e-4);
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(1.3981999507e-3));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(8.3334519073e-3));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(4.1665795894e-2));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(1.6666665459e-1));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(5.0000001201e-1));
  y = f32x4.add(f32x4.add(f32x4.mul(y, z), r), f32x4.splat(1.0));
  // 2^n with n in [-126, 128): (n + 127) << 23 is a normal float's bits
  const pow2 = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(n), i32x4.splat(127)), 23);
  const v = f32x4.mul(y, pow2);
  // below -87.33 (e^-87.33 = 1.2e-38, the smallest normal float) the result is 0
  return v128.andnot(v, f32x4.lt(x0, f32x4.splat(-87.33)));
}

/** Sum of the 4 lanes. */
// @ts-ignore: decorator
@inline export function hsum_f32x4(v: v128): f32 {
  const s = f32x4.add(v, v128.shuffle<u32>(v, v, 2, 3, 0, 1));
  return f32x4.extract_lane(f32x4.add(s, v128.shuffle<u32>(s, s, 1, 0, 3, 2)), 0);
}

/** Largest lane. */
// @ts-ignore: decorator
@inline export function hmax_f32x4(v: v128): f32 {
  const s = f32x4.max(v, v128.shuffle<u32>(v, v, 2, 3, 0, 1));
  return f32x4.extract_lane(f32x4.max(s, v128.shuffle<u32>(s, s, 1, 0, 3, 2)), 0);
}
