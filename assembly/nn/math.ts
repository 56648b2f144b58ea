// Vector math shared by the nn kernels (inline, no exports).

/**
 * e^x per lane (Cephes expf: range reduction by ln 2 in two parts, degree-6 polynomial, 2^n built in
 * the exponent bits). |relative error| < 2e-7 against Mathf.exp for x in [-87, 88]; inputs are
 * clamped to that range (e^-87 ≈ 1.6e-38 instead of denormals / 0; e^88 ≈ 1.65e38 instead of Inf).
 */
// @ts-ignore: decorator
@inline export function exp_f32x4(x: v128): v128 {
  x = f32x4.min(f32x4.max(x, f32x4.splat(-87.0)), f32x4.splat(88.0));
  const fx = f32x4.nearest(f32x4.mul(x, f32x4.splat(1.44269504088896341)));
  let r = f32x4.sub(x, f32x4.mul(fx, f32x4.splat(0.693359375)));
  r = f32x4.sub(r, f32x4.mul(fx, f32x4.splat(-2.12194440e-4)));
  let y = f32x4.splat(1.9875691500e-4);
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(1.3981999507e-3));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(8.3334519073e-3));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(4.1665795894e-2));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(1.6666665459e-1));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(5.0000001201e-1));
  y = f32x4.add(f32x4.mul(f32x4.mul(y, r), r), f32x4.add(r, f32x4.splat(1.0)));
  const e = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(fx), i32x4.splat(127)), 23);
  return f32x4.mul(y, e);
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
