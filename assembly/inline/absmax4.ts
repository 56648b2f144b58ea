// @inline helpers for the symmetric reference quantizers q4_0 / q5_0: the per-block "signed value of
// the largest magnitude" of four 32-value blocks at once (one block per lane).
//
// ggml scans `if (amax < fabsf(v)) { amax = fabsf(v); vmax = v; }`, so vmax is the FIRST value of the
// largest magnitude, and +0 for a block of zeros (amax starts at 0, vmax at 0). With the block's
// maximum mx and minimum mn (order-independent, f32x4.pmin/pmax — inputs are never NaN), that is
// mx if mx > -mn, mn if -mn > mx, +0 if mx == -mn == 0; only a tie +m / -m with m != 0 needs the
// scan (signed_absmax_ties).
import { minmax32_pairs, min4_of_pairs, max4_of_pairs } from "./minmax";

/** First value v of the 32 floats at x with |v| == m (m > 0 is the block's largest magnitude). */
// @ts-ignore: decorator
@inline function first_abs_equal32(x: usize, m: f32): f32 {
  for (let j = 0; j < 32; j++) {
    const v = load<f32>(x + (<usize>j << 2));
    if (abs<f32>(v) == m) return v;
  }
  return m;
}

/** Rare path of signed_absmax32_x4: lanes k with a +m / -m tie (m != 0) get ggml's first-on-ties scan of block k. */
function signed_absmax_ties(x: usize, v: v128, mx: v128, tie: v128): v128 {
  if (i32x4.extract_lane(tie, 0) != 0 && f32x4.extract_lane(mx, 0) != 0) v = f32x4.replace_lane(v, 0, first_abs_equal32(x, f32x4.extract_lane(mx, 0)));
  if (i32x4.extract_lane(tie, 1) != 0 && f32x4.extract_lane(mx, 1) != 0) v = f32x4.replace_lane(v, 1, first_abs_equal32(x + 128, f32x4.extract_lane(mx, 1)));
  if (i32x4.extract_lane(tie, 2) != 0 && f32x4.extract_lane(mx, 2) != 0) v = f32x4.replace_lane(v, 2, first_abs_equal32(x + 256, f32x4.extract_lane(mx, 2)));
  if (i32x4.extract_lane(tie, 3) != 0 && f32x4.extract_lane(mx, 3) != 0) v = f32x4.replace_lane(v, 3, first_abs_equal32(x + 384, f32x4.extract_lane(mx, 3)));
  return v;
}

/**
 * Lane k = ggml's vmax (signed value of the largest magnitude, first on +m/-m ties, +0 for an
 * all-zero block) of the 32-float block at x + 128 k.
 */
// @ts-ignore: decorator
@inline export function signed_absmax32_x4(x: usize): v128 {
  const r0 = minmax32_pairs(x), r1 = minmax32_pairs(x + 128), r2 = minmax32_pairs(x + 256), r3 = minmax32_pairs(x + 384);
  const mn = min4_of_pairs(r0, r1, r2, r3), mx = max4_of_pairs(r0, r1, r2, r3);
  const nmn = f32x4.neg(mn);
  const tie = f32x4.eq(mx, nmn);
  // mx > -mn: mx (> 0); -mn > mx: mn (< 0); tie: +0 (right for m == 0, fixed below otherwise)
  const v = v128.andnot(v128.bitselect(mx, mn, f32x4.gt(mx, nmn)), tie);
  if (!v128.any_true(v128.andnot(tie, f32x4.eq(mx, f32x4.splat(0))))) return v;
  return signed_absmax_ties(x, v, mx, tie);
}
