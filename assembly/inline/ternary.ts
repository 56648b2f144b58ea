// @inline helpers for the ternary quantizers tq1_0 / tq2_0 (ggml quantize_row_tq1_0_ref /
// tq2_0_ref): d = max|x| over the 256-block, id = 1/d (0 if d == 0), code = lroundf(x * id) + 1
// (round half away from zero; -1,0,1 -> 0,1,2). Non-finite x * id (d = max|x| < 2^-128: 1/d = inf,
// stored d is fp16 0) gives code 1, as x86 ggml (lroundf -> LONG_MIN, + 1, truncated to int).
import { roundf_f32x4, roundf } from "./simd";

/** max|x| of the 256 floats at x, scalar in ggml's order (amax = amax > v ? amax : v). */
// @ts-ignore: decorator
@inline export function absmax256_ref(x: usize): f32 {
  let amax: f32 = 0;
  for (let j = 0; j < 256; j++) {
    const v = abs<f32>(load<f32>(x + (<usize>j << 2)));
    amax = amax > v ? amax : v;
  }
  return amax;
}

/** max|x| of the 256 floats at x (order-independent: inputs are never NaN). */
// @ts-ignore: decorator
@inline export function absmax256(x: usize): f32 {
  let m0 = f32x4.splat(0), m1 = f32x4.splat(0);
  for (let j: usize = 0; j < 1024; j += 32) {
    m0 = f32x4.max(m0, f32x4.abs(v128.load(x + j)));
    m1 = f32x4.max(m1, f32x4.abs(v128.load(x + j, 16)));
  }
  let m = f32x4.max(m0, m1);
  m = f32x4.max(m, v128.shuffle<u32>(m, m, 2, 3, 0, 1));
  m = f32x4.max(m, v128.shuffle<u32>(m, m, 1, 0, 3, 2));
  return f32x4.extract_lane(m, 0);
}

/** Code (0, 1, 2) of the float at p. */
// @ts-ignore: decorator
@inline export function ternary_code(p: usize, id: f32): u32 {
  const r = roundf(load<f32>(p) * id);
  return r - r == 0 ? <u32>(<i32>r + 1) : 1; // x86 lroundf(inf/NaN) + 1 truncated to int -> 1
}

/** Codes of the 4 floats at p, as i32x4. */
// @ts-ignore: decorator
@inline export function ternary_codes4(p: usize, vid: v128): v128 {
  const r = roundf_f32x4(f32x4.mul(v128.load(p), vid));
  const t = i32x4.add(i32x4.trunc_sat_f32x4_s(r), i32x4.splat(1));
  return v128.bitselect(t, i32x4.splat(1), f32x4.eq(f32x4.sub(r, r), f32x4.splat(0)));
}
