// @inline helpers for the symmetric ggml quantizers (q4_0, q5_0, q3_K, q6_K).

/**
 * ggml nearest_int, bit for bit for EVERY f32 input (not only |x| < 2^22): adds 1.5*2^23 and takes
 * the low 23 mantissa bits minus 2^22. For |x| <= 4194303 this is round-half-to-even; beyond that
 * (possible in q3_K's coordinate descent) it gives the same wrapped value as ggml's C code.
 */
// @ts-ignore: decorator
@inline export function nearest_int_x(v: f32): i32 {
  return (reinterpret<i32>(v + <f32>12582912.0) & 0x007FFFFF) - 0x00400000;
}

/** 4-lane nearest_int_x (f32x4 -> i32x4). */
// @ts-ignore: decorator
@inline export function nearest_int_x4(v: v128): v128 {
  return i32x4.sub(v128.and(f32x4.add(v, f32x4.splat(12582912.0)), i32x4.splat(0x007FFFFF)),
    i32x4.splat(0x00400000));
}

/**
 * C `(int8_t)(float)` as x86-64 compiles it (cvttss2si to i32, keep the low byte, sign-extended).
 * NaN and out-of-range values give the "integer indefinite" 0x80000000 -> 0. Never traps.
 */
// @ts-ignore: decorator
@inline export function cvt_f32_i8(v: f32): i32 {
  const t: i32 = (v < <f32>2147483648.0 && v >= <f32>-2147483648.0) ? <i32>v : 0;
  return <i32><i8>t;
}

/** 4-lane cvt_f32_i8: f32x4 -> i32x4 holding sign-extended low bytes. */
// @ts-ignore: decorator
@inline export function cvt_f32_i8_x4(v: v128): v128 {
  // trunc_sat gives 0 for NaN and 0x80000000 below -2^31 (low byte 0 as on x86); fix +overflow.
  const t = v128.andnot(i32x4.trunc_sat_f32x4_s(v), f32x4.ge(v, f32x4.splat(2147483648.0)));
  return i32x4.shr_s(i32x4.shl(t, 24), 24);
}

/** 4x4 transpose: rows src+k*stride (k = 0..3, 4 x f32 each) -> 4 v128 at dst, dst+16, dst+32, dst+48. */
// @ts-ignore: decorator
@inline export function transpose4x4(dst: usize, src: usize, stride: usize): void {
  const r0 = v128.load(src), r1 = v128.load(src + stride);
  const r2 = v128.load(src + 2 * stride), r3 = v128.load(src + 3 * stride);
  const t0 = v128.shuffle<u32>(r0, r1, 0, 4, 1, 5), t1 = v128.shuffle<u32>(r0, r1, 2, 6, 3, 7);
  const t2 = v128.shuffle<u32>(r2, r3, 0, 4, 1, 5), t3 = v128.shuffle<u32>(r2, r3, 2, 6, 3, 7);
  v128.store(dst, v128.shuffle<u32>(t0, t2, 0, 1, 4, 5));
  v128.store(dst, v128.shuffle<u32>(t0, t2, 2, 3, 6, 7), 16);
  v128.store(dst, v128.shuffle<u32>(t1, t3, 0, 1, 4, 5), 32);
  v128.store(dst, v128.shuffle<u32>(t1, t3, 2, 3, 6, 7), 48);
}

/**
 * Signed value of the largest magnitude among the 32 floats at x (already loaded as v0..v7), the
 * FIRST one when +a and -a tie, 0 for an all-zero block — as ggml's `if (amax < fabsf(v))` scan.
 * Order-independent max/min; only a +a/-a tie falls back to a scan.
 */
// @ts-ignore: decorator
@inline export function signed_absmax32(x: usize, v0: v128, v1: v128, v2: v128, v3: v128,
  v4: v128, v5: v128, v6: v128, v7: v128): f32 {
  const hi = f32x4.pmax(f32x4.pmax(f32x4.pmax(v0, v1), f32x4.pmax(v2, v3)), f32x4.pmax(f32x4.pmax(v4, v5), f32x4.pmax(v6, v7)));
  const lo = f32x4.pmin(f32x4.pmin(f32x4.pmin(v0, v1), f32x4.pmin(v2, v3)), f32x4.pmin(f32x4.pmin(v4, v5), f32x4.pmin(v6, v7)));
  let a = f32x4.pmax(hi, v128.shuffle<u32>(hi, hi, 2, 3, 0, 1));
  a = f32x4.pmax(a, v128.shuffle<u32>(a, a, 1, 0, 3, 2));
  let b = f32x4.pmin(lo, v128.shuffle<u32>(lo, lo, 2, 3, 0, 1));
  b = f32x4.pmin(b, v128.shuffle<u32>(b, b, 1, 0, 3, 2));
  const mx = f32x4.extract_lane(a, 0), mn = f32x4.extract_lane(b, 0);
  if (mx > -mn) return mx;
  if (-mn > mx) return mn;
  if (mx == 0) return 0;
  for (let j = 0; j < 32; j++) {
    const v = load<f32>(x + (<usize>j << 2));
    if (abs<f32>(v) == mx) return v;
  }
  return mx;
}

/** trunc(x * id + off) for x * id + off in [0, 2^22), as i32x4 (floor + 2^23 magic: no trunc_sat). */
// @ts-ignore: decorator
@inline export function offset_trunc_x4(v: v128, vid: v128, off: v128): v128 {
  return i32x4.sub(f32x4.add(f32x4.floor(f32x4.add(f32x4.mul(v, vid), off)), f32x4.splat(8388608.0)),
    i32x4.splat(0x4B000000));
}

/**
 * Codes of four 16-value blocks, transposed (16 rows of i32x4 at lt, lane k = block k, values
 * 0..255) -> bytes, block k at Lg + 16 k.
 */
// @ts-ignore: decorator
@inline export function codes_x4_to_bytes(Lg: usize, lt: usize): void {
  const sw = i8x16(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  for (let r: usize = 0; r < 16; r += 4) {
    const b = i8x16.swizzle(i8x16.narrow_i16x8_u(
      i16x8.narrow_i32x4_u(v128.load(lt + (r << 4)), v128.load(lt + (r << 4), 16)),
      i16x8.narrow_i32x4_u(v128.load(lt + (r << 4), 32), v128.load(lt + (r << 4), 48))), sw);
    store<u32>(Lg + r, i32x4.extract_lane(b, 0));
    store<u32>(Lg + 16 + r, i32x4.extract_lane(b, 1));
    store<u32>(Lg + 32 + r, i32x4.extract_lane(b, 2));
    store<u32>(Lg + 48 + r, i32x4.extract_lane(b, 3));
  }
}

/**
 * Final codes of one 16-value sub-block for the scale d != 0 (q3_K: n = 4, q6_K: n = 32):
 * max(-n, min(n - 1, nearest_int(x / d))) + n as bytes at Lb. `n` and `simd` are compile-time
 * constants (simd = false: ggml's scalar loop only).
 */
// @ts-ignore: decorator
@inline export function requant16(Lb: usize, xb: usize, d: f32, n: i32, simd: bool): void {
  if (simd) {
    const vd = f32x4.splat(d);
    const lo = i32x4.splat(-n), hi = i32x4.splat(n - 1), off = i32x4.splat(n);
    const q0 = i32x4.add(i32x4.max_s(lo, i32x4.min_s(hi, nearest_int_x4(f32x4.div(v128.load(xb), vd)))), off);
    const q1 = i32x4.add(i32x4.max_s(lo, i32x4.min_s(hi, nearest_int_x4(f32x4.div(v128.load(xb, 16), vd)))), off);
    const q2 = i32x4.add(i32x4.max_s(lo, i32x4.min_s(hi, nearest_int_x4(f32x4.div(v128.load(xb, 32), vd)))), off);
    const q3 = i32x4.add(i32x4.max_s(lo, i32x4.min_s(hi, nearest_int_x4(f32x4.div(v128.load(xb, 48), vd)))), off);
    v128.store(Lb, i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_u(q0, q1), i16x8.narrow_i32x4_u(q2, q3)));
  } else {
    for (let ii = 0; ii < 16; ii++) {
      let l = nearest_int_x(load<f32>(xb + (<usize>ii << 2)) / d);
      l = max<i32>(-n, min<i32>(n - 1, l));
      store<i8>(Lb + ii, <i8>(l + n));
    }
  }
}
