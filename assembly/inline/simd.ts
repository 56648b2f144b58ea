// Small @inline v128 helpers shared by the kernels.

/** Largest lane of a f32x4 (inputs are never NaN: the facade rejects NaN/Inf). */
// @ts-ignore: decorator
@inline export function hmax_f32x4(a: v128): f32 {
  a = f32x4.max(a, v128.shuffle<u32>(a, a, 2, 3, 0, 1));
  a = f32x4.max(a, v128.shuffle<u32>(a, a, 1, 0, 3, 2));
  return f32x4.extract_lane(a, 0);
}

/** Smallest lane of a f32x4. */
// @ts-ignore: decorator
@inline export function hmin_f32x4(a: v128): f32 {
  a = f32x4.min(a, v128.shuffle<u32>(a, a, 2, 3, 0, 1));
  a = f32x4.min(a, v128.shuffle<u32>(a, a, 1, 0, 3, 2));
  return f32x4.extract_lane(a, 0);
}

/**
 * C roundf per lane: round half away from zero, exact (no x+0.5 shortcut). Result still f32.
 * t = trunc(v); r = v - t is exact and |r| < 1, so trunc(r + r) is +-1 exactly when |r| >= 0.5.
 */
// @ts-ignore: decorator
@inline export function roundf_f32x4(v: v128): v128 {
  const t = f32x4.trunc(v);
  const r = f32x4.sub(v, t);
  return f32x4.add(t, f32x4.trunc(f32x4.add(r, r)));
}

/** Lane-wise max of four f32x4 reduced per vector: result lane b = max over the lanes of m_b. */
// @ts-ignore: decorator
@inline export function hmax4_f32x4(m0: v128, m1: v128, m2: v128, m3: v128): v128 {
  const t0 = f32x4.max(v128.shuffle<u32>(m0, m1, 0, 1, 4, 5), v128.shuffle<u32>(m0, m1, 2, 3, 6, 7));
  const t1 = f32x4.max(v128.shuffle<u32>(m2, m3, 0, 1, 4, 5), v128.shuffle<u32>(m2, m3, 2, 3, 6, 7));
  return f32x4.max(v128.shuffle<u32>(t0, t1, 0, 2, 4, 6), v128.shuffle<u32>(t0, t1, 1, 3, 5, 7));
}

/** Scalar C roundf: round half away from zero, exact. */
// @ts-ignore: decorator
@inline export function roundf(v: f32): f32 {
  const t = trunc<f32>(v);
  return abs<f32>(v - t) >= <f32>0.5 ? t + copysign<f32>(1, v) : t;
}

/** Scalar nearest-even (ggml nearest_int for |x| < 2^22), as an i32. */
// @ts-ignore: decorator
@inline export function nearest_int(v: f32): i32 {
  return <i32>nearest<f32>(v);
}
