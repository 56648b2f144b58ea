// IEEE binary16 / bfloat16 conversions, bit-exact with ggml (ggml_compute_fp32_to_fp16,
// ggml_compute_fp16_to_fp32, ggml_compute_fp32_to_bf16). Scalar and v128 (4 lanes) forms.

/** fp32 -> fp16 bits, round to nearest even, overflow to inf, every NaN -> 0x7E00 | sign. */
// @ts-ignore: decorator
@inline export function fp32_to_fp16(f: f32): u16 {
  const scale_to_inf = reinterpret<f32>(0x77800000);
  const scale_to_zero = reinterpret<f32>(0x08800000);
  let base: f32 = (abs<f32>(f) * scale_to_inf) * scale_to_zero;
  const w = reinterpret<u32>(f);
  const shl1_w = w + w;
  const sign = w & 0x80000000;
  let bias = shl1_w & 0xFF000000;
  if (bias < 0x71000000) bias = 0x71000000;
  base = reinterpret<f32>((bias >> 1) + 0x07800000) + base;
  const bits = reinterpret<u32>(base);
  const exp_bits = (bits >> 13) & 0x00007C00;
  const mantissa_bits = bits & 0x00000FFF;
  const nonsign = exp_bits + mantissa_bits;
  return <u16>((sign >> 16) | (shl1_w > 0xFF000000 ? 0x7E00 : nonsign));
}

/** fp16 bits -> fp32, exact; NaN payloads are kept and quieted (as x86 ggml does). */
// @ts-ignore: decorator
@inline export function fp16_to_fp32(h: u32): f32 {
  const sign = (h & 0x8000) << 16;
  const exp = (h >> 10) & 0x1F;
  const mant = h & 0x3FF;
  if (exp == 0x1F) {
    return reinterpret<f32>(sign | 0x7F800000 | (mant << 13) | (mant != 0 ? 0x400000 : 0));
  }
  if (exp != 0) return reinterpret<f32>(sign | ((exp + 112) << 23) | (mant << 13));
  // zero or subnormal: mant * 2^-24 is exact in f32
  return reinterpret<f32>(sign | reinterpret<u32>(<f32>mant * reinterpret<f32>(0x33800000)));
}

/** fp32 -> bf16 bits: round to nearest even on the upper half; NaN keeps its top bits with bit 6 set. */
// @ts-ignore: decorator
@inline export function fp32_to_bf16(f: f32): u16 {
  const u = reinterpret<u32>(f);
  if ((u & 0x7FFFFFFF) > 0x7F800000) return <u16>((u >> 16) | 64);
  return <u16>((u + (0x7FFF + ((u >> 16) & 1))) >> 16);
}

// @ts-ignore: decorator
@inline export function bf16_to_fp32(h: u32): f32 {
  return reinterpret<f32>(h << 16);
}

/** 4 lanes of fp32 -> 4 lanes (i32) holding fp16 bits; same arithmetic as fp32_to_fp16. */
// @ts-ignore: decorator
@inline export function fp32x4_to_fp16x4(f: v128): v128 {
  const absf = v128.and(f, i32x4.splat(0x7FFFFFFF));
  let base = f32x4.mul(f32x4.mul(absf, i32x4.splat(0x77800000)), i32x4.splat(0x08800000));
  const shl1_w = i32x4.add(f, f);
  const sign = v128.and(f, i32x4.splat(0x80000000));
  const bias = i32x4.max_u(v128.and(shl1_w, i32x4.splat(0xFF000000)), i32x4.splat(0x71000000));
  base = f32x4.add(i32x4.add(i32x4.shr_u(bias, 1), i32x4.splat(0x07800000)), base);
  const exp_bits = v128.and(i32x4.shr_u(base, 13), i32x4.splat(0x00007C00));
  const mantissa_bits = v128.and(base, i32x4.splat(0x00000FFF));
  const nonsign = i32x4.add(exp_bits, mantissa_bits);
  const isnan = i32x4.gt_u(shl1_w, i32x4.splat(0xFF000000));
  return v128.or(i32x4.shr_u(sign, 16), v128.bitselect(i32x4.splat(0x7E00), nonsign, isnan));
}

/**
 * fp32x4_to_fp16x4 without its NaN lanes: the same bits for every lane that is not a NaN
 * (|bits| <= 0x7F800000, Inf included: the only difference is the final select of 0x7E00 on
 * `shl1_w > 0xFF000000`, i.e. on NaN lanes). Callers redo a span holding a NaN with fp32x4_to_fp16x4.
 */
// @ts-ignore: decorator
@inline export function fp32x4_to_fp16x4_nonan(f: v128): v128 {
  const absf = v128.and(f, i32x4.splat(0x7FFFFFFF));
  let base = f32x4.mul(f32x4.mul(absf, i32x4.splat(0x77800000)), i32x4.splat(0x08800000));
  // bias >> 1 of fp32x4_to_fp16x4, straight from |f|: max_u((2w) & 0xFF000000, 0x71000000) >> 1 =
  // max_u(|f| & 0x7F800000, 0x38800000) (the doubling only moves the exponent field up one bit)
  const bias_half = i32x4.max_u(v128.and(absf, i32x4.splat(0x7F800000)), i32x4.splat(0x38800000));
  base = f32x4.add(i32x4.add(bias_half, i32x4.splat(0x07800000)), base);
  const exp_bits = v128.and(i32x4.shr_u(base, 13), i32x4.splat(0x00007C00));
  const mantissa_bits = v128.and(base, i32x4.splat(0x00000FFF));
  return v128.or(i32x4.shr_u(v128.and(f, i32x4.splat(0x80000000)), 16), i32x4.add(exp_bits, mantissa_bits));
}

/**
 * 4 lanes of fp32 -> 4 lanes (i32) whose upper 16 bits are the bf16 bits (round to nearest even),
 * for lanes that are not NaN; the lower 16 bits are garbage. fp32x4_to_bf16x4 is this >> 16 with
 * NaN lanes replaced: callers take the upper halves (a byte shuffle) and redo a span holding a NaN.
 */
// @ts-ignore: decorator
@inline export function fp32x4_to_bf16x4_hi_nonan(u: v128): v128 {
  return i32x4.add(u, i32x4.add(v128.and(i32x4.shr_u(u, 16), i32x4.splat(1)), i32x4.splat(0x7FFF)));
}

/** 4 lanes of fp32 -> 4 lanes (i32) holding bf16 bits. */
// @ts-ignore: decorator
@inline export function fp32x4_to_bf16x4(u: v128): v128 {
  const isnan = i32x4.gt_u(v128.and(u, i32x4.splat(0x7FFFFFFF)), i32x4.splat(0x7F800000));
  const nanv = v128.or(i32x4.shr_u(u, 16), i32x4.splat(64));
  const lsb = v128.and(i32x4.shr_u(u, 16), i32x4.splat(1));
  const r = i32x4.shr_u(i32x4.add(u, i32x4.add(lsb, i32x4.splat(0x7FFF))), 16);
  return v128.bitselect(nanv, r, isnan);
}
