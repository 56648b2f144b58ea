// Inline helpers for the asymmetric (scale + min) ggml quantizers.

/**
 * ggml nearest_int, emulated exactly for every finite input (also |x| > 2^22, where ggml's
 * "add 1.5*2^23" trick no longer rounds but still returns a deterministic value):
 * bits(f + 12582912f) & 0x7FFFFF - 0x400000.
 */
// @ts-ignore: decorator
@inline export function nearest_int_g(f: f32): i32 {
  return (reinterpret<i32>(f + <f32>12582912.0) & 0x7FFFFF) - 0x400000;
}

/** 4-lane version of nearest_int_g (i32x4 result). */
// @ts-ignore: decorator
@inline export function nearest_int_g4(f: v128): v128 {
  return i32x4.sub(v128.and(f32x4.add(f, f32x4.splat(12582912.0)), i32x4.splat(0x7FFFFF)), i32x4.splat(0x400000));
}

/** max(0, min(hi, l)) per i32 lane. */
// @ts-ignore: decorator
@inline export function clamp0_i32x4(l: v128, hi: v128): v128 {
  return i32x4.max_s(i32x4.min_s(l, hi), i32x4.splat(0));
}

/**
 * C (int)float as x86 cvttss2si does it: truncation toward zero, and INT_MIN (0x80000000) for NaN
 * and out-of-range values (ggml's (int8_t)/(uint8_t) casts of q4_1/q5_1 then keep the low byte 0).
 */
// @ts-ignore: decorator
@inline export function cvtt_i32(v: f32): i32 {
  return abs<f32>(v) < <f32>2147483648.0 ? <i32>v : <i32>0x80000000;
}

/** 4-lane cvtt_i32. */
// @ts-ignore: decorator
@inline export function cvtt_i32x4(v: v128): v128 {
  return v128.bitselect(i32x4.trunc_sat_f32x4_s(v), i32x4.splat(0x80000000),
    f32x4.lt(f32x4.abs(v), f32x4.splat(2147483648.0)));
}
