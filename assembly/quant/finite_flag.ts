// Fused non-finite check of the 32-block quantizers (q8_0, q4_0, q4_1, q5_0, q5_1) and f16 / bf16:
// their first pass over the input (absmax, min/max, the row's sum of squares, or the conversion)
// also notes whether a value may be NaN/Inf, in one module flag that the facade reads with
// quant_nonfinite_take() after the kernel returns. The flag has no false negatives; it may fire for
// finite inputs whose partial sums overflow f32 (|values| ~ 1e37), so the facade, only when it fires,
// runs find_nonfinite on the same input to name the row and column (and finds nothing for such rare
// inputs). The kernels tolerate NaN/Inf (no trap, no out-of-range store): their output is then
// meaningless and the facade discards it.

let nf_flag: i32 = 0;

/** Returns 1 when a kernel since the last call may have seen NaN/Inf, else 0; clears the flag. */
export function quant_nonfinite_take(): i32 {
  const f = nf_flag;
  nf_flag = 0;
  return f;
}

/**
 * Lane sums of the 32 f32 at x (8 vectors, a balanced tree): a lane is non-finite when one of its
 * 8 values is NaN/Inf (Inf - Inf gives NaN), or when finite values overflow (false positive only).
 */
// @ts-ignore: decorator
@inline export function sum32(x: usize): v128 {
  return f32x4.add(
    f32x4.add(f32x4.add(v128.load(x, 0), v128.load(x, 16)), f32x4.add(v128.load(x, 32), v128.load(x, 48))),
    f32x4.add(f32x4.add(v128.load(x, 64), v128.load(x, 80)), f32x4.add(v128.load(x, 96), v128.load(x, 112))));
}

/** Sets the flag when a lane of the f32x4 accumulator acc is NaN/Inf. */
// @ts-ignore: decorator
@inline export function nf_note_sum(acc: v128): void {
  if (!i32x4.all_true(f32x4.eq(f32x4.sub(acc, acc), f32x4.splat(0)))) nf_flag = 1;
}

/** Sets the flag when a lane of m (|x| as raw bits, i32x4) is >= 0x7F800000 (Inf or NaN). */
// @ts-ignore: decorator
@inline export function nf_note_bits(m: v128): void {
  if (v128.any_true(i32x4.gt_u(m, i32x4.splat(0x7F7FFFFF)))) nf_flag = 1;
}

/** Scalar flag for the _ref twins: sets it when one of the n f32 at x is NaN/Inf (exact). */
export function nf_note_ref(x: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    if ((load<u32>(x + (<usize>i << 2)) & 0x7F800000) == 0x7F800000) {
      nf_flag = 1;
      return;
    }
  }
}

/** Scalar flag for one value (the SIMD kernels' scalar tails). */
// @ts-ignore: decorator
@inline export function nf_note_value(v: f32): void {
  if ((reinterpret<u32>(v) & 0x7F800000) == 0x7F800000) nf_flag = 1;
}
