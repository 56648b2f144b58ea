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
 * C roundf per lane: round half away from zero, exact for every finite float. Result still f32.
 * trunc(v + copysign(0.49999997, v)): the one input where adding 0.5 goes wrong (0.49999997 + 0.5
 * rounds to 1.0 in f32) is avoided by adding the float just below 0.5; checked exhaustively against
 * C roundf for all |v| < 2^23 (larger floats are integers and come back unchanged).
 */
// @ts-ignore: decorator
@inline export function roundf_f32x4(v: v128): v128 {
  return f32x4.trunc(f32x4.add(v, v128.or(v128.and(v, i32x4.splat(0x80000000)), f32x4.splat(0.49999997))));
}

/** roundf per lane straight to i32 (saturating), same rounding as roundf_f32x4. */
// @ts-ignore: decorator
@inline export function roundf_i32x4(v: v128): v128 {
  return i32x4.trunc_sat_f32x4_s(f32x4.add(v, v128.or(v128.and(v, i32x4.splat(0x80000000)), f32x4.splat(0.49999997))));
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

/**
 * Lane-wise max of |x| as raw bits: for non-negative floats, integer order of the bit patterns is
 * float order, and i32x4.max_s is one instruction where f32x4.max needs several for its NaN/-0 rules.
 * (Inputs are never NaN: the facade rejects NaN/Inf before kernels run.)
 */
// @ts-ignore: decorator
@inline export function absmax_bits(m: v128, v: v128): v128 {
  return i32x4.max_s(m, v128.and(v, i32x4.splat(0x7FFFFFFF)));
}

/** hmax4_f32x4 for lanes holding non-negative float bits (integer max): lane b = max over m_b's lanes. */
// @ts-ignore: decorator
@inline export function hmax4_bits(m0: v128, m1: v128, m2: v128, m3: v128): v128 {
  const t0 = i32x4.max_s(v128.shuffle<u32>(m0, m1, 0, 1, 4, 5), v128.shuffle<u32>(m0, m1, 2, 3, 6, 7));
  const t1 = i32x4.max_s(v128.shuffle<u32>(m2, m3, 0, 1, 4, 5), v128.shuffle<u32>(m2, m3, 2, 3, 6, 7));
  return i32x4.max_s(v128.shuffle<u32>(t0, t1, 0, 2, 4, 6), v128.shuffle<u32>(t0, t1, 1, 3, 5, 7));
}

/**
 * Four rows of f32 at arbitrary addresses p0..p3 (`bytes` each, a multiple of 16) transposed into
 * dst: 16-byte row i at dst + 16 i holds element i of p0, p1, p2, p3. Pure data movement.
 */
// @ts-ignore: decorator
@inline export function transpose4p(dst: usize, p0: usize, p1: usize, p2: usize, p3: usize, bytes: usize): void {
  for (let r: usize = 0; r < bytes; r += 16) {
    const r0 = v128.load(p0 + r), r1 = v128.load(p1 + r), r2 = v128.load(p2 + r), r3 = v128.load(p3 + r);
    const t0 = v128.shuffle<u32>(r0, r1, 0, 4, 1, 5), t1 = v128.shuffle<u32>(r0, r1, 2, 6, 3, 7);
    const t2 = v128.shuffle<u32>(r2, r3, 0, 4, 1, 5), t3 = v128.shuffle<u32>(r2, r3, 2, 6, 3, 7);
    const d = dst + (r << 2);
    v128.store(d, v128.shuffle<u32>(t0, t2, 0, 1, 4, 5));
    v128.store(d, v128.shuffle<u32>(t0, t2, 2, 3, 6, 7), 16);
    v128.store(d, v128.shuffle<u32>(t1, t3, 0, 1, 4, 5), 32);
    v128.store(d, v128.shuffle<u32>(t1, t3, 2, 3, 6, 7), 48);
  }
}
