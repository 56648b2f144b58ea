// MXFP4 per the OCP Microscaling Formats (MX) specification v1.0 (not ggml's mxfp4 quirks).
//
// Blocks of 32 consecutive values (n must be a multiple of 32; the facade blocks along rows).
// Shared scale X = 2^e, stored as E8M0 (biased exponent s = e + 127, 0xFF = NaN):
//   e = floor(log2(amax)) - emax_elem, emax_elem = 2 for E2M1, with floor(log2) EXACT (taken from
//   the float32 exponent bits, subnormals included), clamped to [-127, 127]; amax = 0 gives s = 0.
//   (ggml's mxfp4 rounds log2f to float32 first, so it differs just below powers of two.)
// Elements: E2M1 (sign, 2 exponent bits bias 1, 1 mantissa bit), magnitudes
//   code 0..7 = 0, 0.5, 1, 1.5, 2, 3, 4, 6; bit 3 = sign (copied from x, so -0.1 -> 0b1000 = -0).
//   v = x * 2^-e (exact power-of-two scaling), rounded to nearest with ties to EVEN code
//   (0.25 -> 0, 0.75 -> 1.0, 1.25 -> 1.0, 1.75 -> 2, 2.5 -> 2, 3.5 -> 4, 5 -> 4) and SATURATED
//   to +-6 (|v| > 5 -> 6; values up to 8 occur since amax / X is in [4, 8)).
// Packed layout (two separate arrays):
//   codes:  n / 2 bytes, element 2i in the LOW nibble of byte i, element 2i+1 in the high nibble;
//   scales: n / 32 bytes, one E8M0 byte per block, in block order.
// Dequantization: E2M1(code) * 2^(s-127), computed as (2 * |E2M1|) * 2^(s-128) in float32 (exact,
//   2^-128 and 2^-127 are float32 subnormals) with the code's sign bit (code 8 -> -0);
//   s = 0xFF gives NaN (0x7FC00000 | sign).
// Kernels (SIMD and scalar _ref twins, bit-identical):
//   gq_quantize_mxfp4(dst_codes, dst_scales, src, n) -> bytes of codes written (n / 2)
//   gq_dequantize_mxfp4(dst_f32, codes, scales, n)

// twice the E2M1 magnitudes, by code & 7 (bit 3 = sign, applied as the float sign bit, so code 8 is -0)
const KV2: usize = memory.data<i8>([0, 1, 2, 3, 4, 6, 8, 12, 0, 1, 2, 3, 4, 6, 8, 12]);

/** Biased shared exponent s of a block from its amax (exact floor(log2), minus 2, clamped). */
// @ts-ignore: decorator
@inline function shared_exp(amax: f32): i32 {
  const u = reinterpret<u32>(amax);
  if (u == 0) return 0;
  const be = <i32>(u >> 23);
  const fl = be != 0 ? be - 127 : -149 + (31 - <i32>clz<u32>(u)); // floor(log2 amax)
  let e = fl - 2;
  if (e < -127) e = -127;
  if (e > 127) e = 127;
  return e + 127;
}

/** 2^(127 - s) as float32: the exact inverse scale (s in 0..254, so 2^127 .. 2^-127 -> fine). */
// @ts-ignore: decorator
@inline function inv_scale(s: i32): f32 {
  // 2^(127-s): for s <= 253 a normal number with biased exponent 254 - s; s = 254 gives 2^-127
  return s <= 253 ? reinterpret<f32>(<u32>(254 - s) << 23) : reinterpret<f32>(0x00400000);
}

/** 2^(s-128) as float32 (half scale, pairs with the doubled table). NaN for s = 255. */
// @ts-ignore: decorator
@inline function half_scale(s: u32): f32 {
  return reinterpret<f32>(s < 2 ? <u32>0x00200000 << s : (s - 1) << 23);
}

// @ts-ignore: decorator
@inline function e2m1_code(x: f32, inv: f32): u32 {
  const v = abs<f32>(x * inv);
  const c = <u32>(v > <f32>0.25) + <u32>(v >= <f32>0.75) + <u32>(v > <f32>1.25) + <u32>(v >= <f32>1.75)
    + <u32>(v > <f32>2.5) + <u32>(v >= <f32>3.5) + <u32>(v > <f32>5);
  return c | ((reinterpret<u32>(x) >> 28) & 8);
}

// @ts-ignore: decorator
@inline function e2m1_code_x4(x: v128, vinv: v128): v128 {
  const v = f32x4.abs(f32x4.mul(x, vinv));
  let c = f32x4.gt(v, f32x4.splat(0.25));
  c = i32x4.add(c, f32x4.ge(v, f32x4.splat(0.75)));
  c = i32x4.add(c, f32x4.gt(v, f32x4.splat(1.25)));
  c = i32x4.add(c, f32x4.ge(v, f32x4.splat(1.75)));
  c = i32x4.add(c, f32x4.gt(v, f32x4.splat(2.5)));
  c = i32x4.add(c, f32x4.ge(v, f32x4.splat(3.5)));
  c = i32x4.add(c, f32x4.gt(v, f32x4.splat(5)));
  return v128.or(i32x4.neg(c), v128.and(i32x4.shr_u(x, 28), i32x4.splat(8)));
}

export function gq_quantize_mxfp4_ref(codes: usize, scales: usize, src: usize, n: i32): usize {
  const nb = n >> 5;
  for (let ib = 0; ib < nb; ib++) {
    const xb = src + (<usize>ib << 7);
    let amax: f32 = 0;
    for (let j = 0; j < 32; j++) amax = max<f32>(amax, abs<f32>(load<f32>(xb + (<usize>j << 2))));
    const s = shared_exp(amax);
    store<u8>(scales + ib, <u8>s);
    const inv = inv_scale(s);
    for (let j = 0; j < 16; j++) {
      const lo = e2m1_code(load<f32>(xb + (<usize>(2 * j) << 2)), inv);
      const hi = e2m1_code(load<f32>(xb + (<usize>(2 * j + 1) << 2)), inv);
      store<u8>(codes + (<usize>ib << 4) + j, <u8>(lo | (hi << 4)));
    }
  }
  return <usize>(n >> 1);
}

export function gq_quantize_mxfp4(codes: usize, scales: usize, src: usize, n: i32): usize {
  const nb = n >> 5;
  for (let ib = 0; ib < nb; ib++) {
    const xb = src + (<usize>ib << 7);
    const v0 = v128.load(xb, 0), v1 = v128.load(xb, 16), v2 = v128.load(xb, 32), v3 = v128.load(xb, 48);
    const v4 = v128.load(xb, 64), v5 = v128.load(xb, 80), v6 = v128.load(xb, 96), v7 = v128.load(xb, 112);
    let m = f32x4.max(
      f32x4.max(f32x4.max(f32x4.abs(v0), f32x4.abs(v1)), f32x4.max(f32x4.abs(v2), f32x4.abs(v3))),
      f32x4.max(f32x4.max(f32x4.abs(v4), f32x4.abs(v5)), f32x4.max(f32x4.abs(v6), f32x4.abs(v7))));
    m = f32x4.max(m, v128.shuffle<u32>(m, m, 2, 3, 0, 1));
    m = f32x4.max(m, v128.shuffle<u32>(m, m, 1, 0, 3, 2));
    const s = shared_exp(f32x4.extract_lane(m, 0));
    store<u8>(scales + ib, <u8>s);
    const vinv = f32x4.splat(inv_scale(s));
    const c0 = i8x16.narrow_i16x8_u(
      i16x8.narrow_i32x4_u(e2m1_code_x4(v0, vinv), e2m1_code_x4(v1, vinv)),
      i16x8.narrow_i32x4_u(e2m1_code_x4(v2, vinv), e2m1_code_x4(v3, vinv)));
    const c1 = i8x16.narrow_i16x8_u(
      i16x8.narrow_i32x4_u(e2m1_code_x4(v4, vinv), e2m1_code_x4(v5, vinv)),
      i16x8.narrow_i32x4_u(e2m1_code_x4(v6, vinv), e2m1_code_x4(v7, vinv)));
    const w0 = v128.and(v128.or(c0, i16x8.shr_u(c0, 4)), i16x8.splat(0xFF));
    const w1 = v128.and(v128.or(c1, i16x8.shr_u(c1, 4)), i16x8.splat(0xFF));
    v128.store(codes + (<usize>ib << 4), i8x16.narrow_i16x8_u(w0, w1));
  }
  return <usize>(n >> 1);
}

export function gq_dequantize_mxfp4_ref(dst: usize, codes: usize, scales: usize, n: i32): void {
  const nb = n >> 5;
  for (let ib = 0; ib < nb; ib++) {
    const s = <u32>load<u8>(scales + ib);
    const d = half_scale(s);
    const ob = dst + (<usize>ib << 7);
    for (let j = 0; j < 32; j++) {
      const c = (load<u8>(codes + (<usize>ib << 4) + (j >> 1)) >> (<u8>((j & 1) << 2))) & 15;
      let v = reinterpret<f32>(reinterpret<u32>(<f32>load<i8>(KV2 + c) * d) | ((<u32>c & 8) << 28));
      if (s == 255) v = reinterpret<f32>(((<u32>c & 8) << 28) | 0x7FC00000);
      store<f32>(ob + (<usize>j << 2), v);
    }
  }
}

export function gq_dequantize_mxfp4(dst: usize, codes: usize, scales: usize, n: i32): void {
  const nb = n >> 5;
  const tbl = v128.load(KV2);
  for (let ib = 0; ib < nb; ib++) {
    const s = <u32>load<u8>(scales + ib);
    const vd = f32x4.splat(half_scale(s));
    const q = v128.load(codes + (<usize>ib << 4));
    const lo = v128.and(q, i8x16.splat(15)), hi = i8x16.shr_u(q, 4);
    const c0 = i8x16.shuffle(lo, hi, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const c1 = i8x16.shuffle(lo, hi, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    const ob = dst + (<usize>ib << 7);
    for (let h = 0; h < 2; h++) {
      const c = h == 0 ? c0 : c1;
      const k = i8x16.swizzle(tbl, c);
      const k0 = i16x8.extend_low_i8x16_s(k), k1 = i16x8.extend_high_i8x16_s(k);
      const cs0 = i16x8.extend_low_i8x16_u(c), cs1 = i16x8.extend_high_i8x16_u(c);
      const o = ob + (<usize>h << 6);
      for (let qd = 0; qd < 4; qd++) {
        const kk = qd < 2 ? k0 : k1;
        const cc = qd < 2 ? cs0 : cs1;
        const kv = (qd & 1) == 0 ? i32x4.extend_low_i16x8_s(kk) : i32x4.extend_high_i16x8_s(kk);
        const cv = (qd & 1) == 0 ? i32x4.extend_low_i16x8_u(cc) : i32x4.extend_high_i16x8_u(cc);
        let v = v128.or(f32x4.mul(f32x4.convert_i32x4_s(kv), vd), i32x4.shl(v128.and(cv, i32x4.splat(8)), 28));
        if (s == 255) v = v128.or(i32x4.shl(v128.and(cv, i32x4.splat(8)), 28), i32x4.splat(0x7FC00000));
        v128.store(o + (<usize>qd << 4), v);
      }
    }
  }
}
