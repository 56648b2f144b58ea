// @inline helpers for the min/max (scale + minimum) reference quantizers q4_1 / q5_1.
//
// Block minima/maxima use f32x4.pmin/pmax: one x86 instruction each (f32x4.min/max need several for
// their NaN and -0 rules). Inputs are never NaN (the facade rejects NaN/Inf), so pmin/pmax give the
// exact minimum/maximum VALUE; only the sign of a zero extreme can differ from ggml's sequential
// `if (v < min) min = v` scan (which keeps the FIRST of equal values), and first_equal32 fixes that.

/**
 * Min and max of the 32 floats at x, half reduced: [min a, min b, max a, max b] where the block
 * minimum is min(min a, min b) and the maximum max(max a, max b).
 */
// @ts-ignore: decorator
@inline export function minmax32_pairs(x: usize): v128 {
  const v0 = v128.load(x, 0), v1 = v128.load(x, 16), v2 = v128.load(x, 32), v3 = v128.load(x, 48);
  const v4 = v128.load(x, 64), v5 = v128.load(x, 80), v6 = v128.load(x, 96), v7 = v128.load(x, 112);
  let mn = f32x4.pmin(f32x4.pmin(f32x4.pmin(v0, v1), f32x4.pmin(v2, v3)), f32x4.pmin(f32x4.pmin(v4, v5), f32x4.pmin(v6, v7)));
  let mx = f32x4.pmax(f32x4.pmax(f32x4.pmax(v0, v1), f32x4.pmax(v2, v3)), f32x4.pmax(f32x4.pmax(v4, v5), f32x4.pmax(v6, v7)));
  mn = f32x4.pmin(mn, v128.shuffle<u32>(mn, mn, 2, 3, 0, 1));
  mx = f32x4.pmax(mx, v128.shuffle<u32>(mx, mx, 2, 3, 0, 1));
  return v128.shuffle<u32>(mn, mx, 0, 1, 4, 5);
}

/** Block minima of four minmax32_pairs results: lane k = minimum of block k. */
// @ts-ignore: decorator
@inline export function min4_of_pairs(r0: v128, r1: v128, r2: v128, r3: v128): v128 {
  const t01 = v128.shuffle<u32>(r0, r1, 0, 1, 4, 5), t23 = v128.shuffle<u32>(r2, r3, 0, 1, 4, 5);
  return f32x4.pmin(v128.shuffle<u32>(t01, t23, 0, 2, 4, 6), v128.shuffle<u32>(t01, t23, 1, 3, 5, 7));
}

/** Block maxima of four minmax32_pairs results: lane k = maximum of block k. */
// @ts-ignore: decorator
@inline export function max4_of_pairs(r0: v128, r1: v128, r2: v128, r3: v128): v128 {
  const t01 = v128.shuffle<u32>(r0, r1, 2, 3, 6, 7), t23 = v128.shuffle<u32>(r2, r3, 2, 3, 6, 7);
  return f32x4.pmax(v128.shuffle<u32>(t01, t23, 0, 2, 4, 6), v128.shuffle<u32>(t01, t23, 1, 3, 5, 7));
}

/**
 * ggml's sequential min/max keep the first of equal values; values equal as floats are identical
 * except +0 / -0. For a zero extreme v: the first of the 32 floats at x that equals v.
 */
// @ts-ignore: decorator
@inline export function first_equal32(x: usize, v: f32): f32 {
  if (v != 0) return v;
  for (let j = 0; j < 32; j++) {
    const t = load<f32>(x + (<usize>j << 2));
    if (t == v) return t;
  }
  return v;
}

/**
 * floor((v - m) * id + 0.5) as f32x4, ggml's f32 operations in ggml's order (x86's (int)
 * truncation equals floor here: the argument is >= 0.5).
 */
// @ts-ignore: decorator
@inline export function code_floor(v: v128, m: v128, id: v128): v128 {
  return f32x4.floor(f32x4.add(f32x4.mul(f32x4.sub(v, m), id), f32x4.splat(0.5)));
}

/** Small non-negative integral f32x4 (< 2^22) -> i32x4, by the 2^23 magic number. */
// @ts-ignore: decorator
@inline export function small_f32_to_i32(f: v128): v128 {
  return i32x4.sub(f32x4.add(f, f32x4.splat(8388608.0)), i32x4.splat(0x4B000000));
}
