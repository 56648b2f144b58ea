// FP8 conversions (OCP 8-bit floating point, as in PyTorch float8_e4m3fn / float8_e5m2), with an
// optional per-call scale. One byte per value: bit 7 = sign.
//
// e4m3fn: 4 exponent bits (bias 7), 3 mantissa bits, no infinities; max finite 448 (0x7E),
//   NaN = 0x7F / 0xFF; subnormals m * 2^-9 (m = 1..7); min normal 2^-6 (0x08).
// e5m2:   5 exponent bits (bias 15), 2 mantissa bits (IEEE-like); max finite 57344 (0x7B),
//   inf = 0x7C / 0xFC, NaN encoded as 0x7E / 0xFE; subnormals m * 2^-16; min normal 2^-14 (0x04).
//
// Encoding of v = x * inv_scale (f32 multiply; inv_scale = 1 gives the plain conversion):
//   round to nearest, ties to even (on the f32 bits, exact for every input including subnormals);
//   SATURATING: every finite |v| >= max (448 / 57344) becomes +-max (never NaN or inf);
//   +-inf -> +-448 for e4m3fn (no infinity there), +-inf for e5m2; NaN -> 0x7F / 0x7E with the
//   sign of x. -0 keeps its sign (0x80).
// Decoding: value(code) * scale (f32 multiply); NaN codes give the canonical NaN 0x7FC00000 with the
//   code's sign (selected after the multiply, so the bits are deterministic).
// Kernels (out first; n values; SIMD and scalar _ref twins are bit-identical):
//   gq_quantize_fp8_e4m3(dst_u8, src_f32, n, inv_scale) -> n (bytes written)
//   gq_dequantize_fp8_e4m3(dst_f32, src_u8, n, scale)
//   gq_quantize_fp8_e5m2 / gq_dequantize_fp8_e5m2 likewise, and *_ref.
//   gq_absmax(src_f32, n) -> max |x| (f32; NaN ignored is NOT guaranteed: validate first), gq_absmax_ref.

// ------------------------------------------------------------------ scalar codecs

// @ts-ignore: decorator
@inline function enc_e4m3(x: f32, inv: f32): u32 {
  const ux = reinterpret<u32>(x);
  if ((ux & 0x7FFFFFFF) > 0x7F800000) return ((ux >> 24) & 0x80) | 0x7F;
  const u = reinterpret<u32>(x * inv);
  const s = (u >> 24) & 0x80;
  const a = u & 0x7FFFFFFF;
  if (a >= 0x43E00000) return s | 0x7E; // |v| >= 448 (and inf): saturate
  if (a < 0x3C800000) return s | <u32><i32>nearest<f32>(reinterpret<f32>(a) * <f32>512); // < 2^-6
  return s | (((a + 0x7FFFF + ((a >> 20) & 1)) >> 20) - 960);
}

// @ts-ignore: decorator
@inline function enc_e5m2(x: f32, inv: f32): u32 {
  const ux = reinterpret<u32>(x);
  if ((ux & 0x7FFFFFFF) > 0x7F800000) return ((ux >> 24) & 0x80) | 0x7E;
  const u = reinterpret<u32>(x * inv);
  const s = (u >> 24) & 0x80;
  const a = u & 0x7FFFFFFF;
  if (a == 0x7F800000) return s | 0x7C;
  if (a >= 0x47600000) return s | 0x7B; // finite |v| >= 57344: saturate
  if (a < 0x38800000) return s | <u32><i32>nearest<f32>(reinterpret<f32>(a) * <f32>65536); // < 2^-14
  return s | (((a + 0xFFFFF + ((a >> 21) & 1)) >> 21) - 448);
}

// @ts-ignore: decorator
@inline function dec_e4m3(c: u32, scale: f32): f32 {
  const s = (c & 0x80) << 24;
  if ((c & 0x7F) == 0x7F) return reinterpret<f32>(s | 0x7FC00000);
  const e = (c >> 3) & 15, m = c & 7;
  const v = e == 0
    ? reinterpret<f32>(s | reinterpret<u32>(<f32>m * reinterpret<f32>(0x3B000000))) // m * 2^-9
    : reinterpret<f32>(s | ((e + 120) << 23) | (m << 20));
  return v * scale;
}

// @ts-ignore: decorator
@inline function dec_e5m2(c: u32, scale: f32): f32 {
  const s = (c & 0x80) << 24;
  const e = (c >> 2) & 31, m = c & 3;
  if (e == 31 && m != 0) return reinterpret<f32>(s | 0x7FC00000);
  const v = e == 31
    ? reinterpret<f32>(s | 0x7F800000)
    : e == 0
    ? reinterpret<f32>(s | reinterpret<u32>(<f32>m * reinterpret<f32>(0x37800000))) // m * 2^-16
    : reinterpret<f32>(s | ((e + 112) << 23) | (m << 21));
  return v * scale;
}

// ------------------------------------------------------------------ v128 codecs (4 lanes)

// @ts-ignore: decorator
@inline function enc_e4m3_x4(x: v128, vinv: v128): v128 {
  const isnan = i32x4.gt_u(v128.and(x, i32x4.splat(0x7FFFFFFF)), i32x4.splat(0x7F800000));
  const u = f32x4.mul(x, vinv);
  const s = v128.and(i32x4.shr_u(u, 24), i32x4.splat(0x80));
  const a = v128.and(u, i32x4.splat(0x7FFFFFFF));
  const rnd = i32x4.add(i32x4.splat(0x7FFFF), v128.and(i32x4.shr_u(a, 20), i32x4.splat(1)));
  let r = i32x4.sub(i32x4.shr_u(i32x4.add(a, rnd), 20), i32x4.splat(960));
  const sub = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(a, f32x4.splat(512))));
  r = v128.bitselect(sub, r, i32x4.lt_u(a, i32x4.splat(0x3C800000)));
  r = v128.bitselect(i32x4.splat(0x7E), r, i32x4.ge_u(a, i32x4.splat(0x43E00000)));
  r = v128.or(r, s);
  const nanc = v128.or(v128.and(i32x4.shr_u(x, 24), i32x4.splat(0x80)), i32x4.splat(0x7F));
  return v128.bitselect(nanc, r, isnan);
}

// @ts-ignore: decorator
@inline function enc_e5m2_x4(x: v128, vinv: v128): v128 {
  const isnan = i32x4.gt_u(v128.and(x, i32x4.splat(0x7FFFFFFF)), i32x4.splat(0x7F800000));
  const u = f32x4.mul(x, vinv);
  const s = v128.and(i32x4.shr_u(u, 24), i32x4.splat(0x80));
  const a = v128.and(u, i32x4.splat(0x7FFFFFFF));
  const rnd = i32x4.add(i32x4.splat(0xFFFFF), v128.and(i32x4.shr_u(a, 21), i32x4.splat(1)));
  let r = i32x4.sub(i32x4.shr_u(i32x4.add(a, rnd), 21), i32x4.splat(448));
  const sub = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(a, f32x4.splat(65536))));
  r = v128.bitselect(sub, r, i32x4.lt_u(a, i32x4.splat(0x38800000)));
  r = v128.bitselect(i32x4.splat(0x7B), r, i32x4.ge_u(a, i32x4.splat(0x47600000)));
  r = v128.bitselect(i32x4.splat(0x7C), r, i32x4.eq(a, i32x4.splat(0x7F800000)));
  r = v128.or(r, s);
  const nanc = v128.or(v128.and(i32x4.shr_u(x, 24), i32x4.splat(0x80)), i32x4.splat(0x7E));
  return v128.bitselect(nanc, r, isnan);
}

// @ts-ignore: decorator
@inline function dec_e4m3_x4(c: v128, vscale: v128): v128 {
  const s = i32x4.shl(v128.and(c, i32x4.splat(0x80)), 24);
  const e = v128.and(i32x4.shr_u(c, 3), i32x4.splat(15));
  const m = v128.and(c, i32x4.splat(7));
  const nrm = v128.or(i32x4.shl(i32x4.add(e, i32x4.splat(120)), 23), i32x4.shl(m, 20));
  const sub = f32x4.mul(f32x4.convert_i32x4_s(m), i32x4.splat(0x3B000000));
  const v = f32x4.mul(v128.or(s, v128.bitselect(sub, nrm, i32x4.eq(e, i32x4.splat(0)))), vscale);
  const isnan = i32x4.eq(v128.and(c, i32x4.splat(0x7F)), i32x4.splat(0x7F));
  return v128.bitselect(v128.or(s, i32x4.splat(0x7FC00000)), v, isnan);
}

// @ts-ignore: decorator
@inline function dec_e5m2_x4(c: v128, vscale: v128): v128 {
  const s = i32x4.shl(v128.and(c, i32x4.splat(0x80)), 24);
  const e = v128.and(i32x4.shr_u(c, 2), i32x4.splat(31));
  const m = v128.and(c, i32x4.splat(3));
  let nrm = v128.or(i32x4.shl(i32x4.add(e, i32x4.splat(112)), 23), i32x4.shl(m, 21));
  nrm = v128.bitselect(i32x4.splat(0x7F800000), nrm, i32x4.eq(e, i32x4.splat(31)));
  const sub = f32x4.mul(f32x4.convert_i32x4_s(m), i32x4.splat(0x37800000));
  const v = f32x4.mul(v128.or(s, v128.bitselect(sub, nrm, i32x4.eq(e, i32x4.splat(0)))), vscale);
  const isnan = v128.and(i32x4.eq(e, i32x4.splat(31)), i32x4.ne(m, i32x4.splat(0)));
  return v128.bitselect(v128.or(s, i32x4.splat(0x7FC00000)), v, isnan);
}

// @ts-ignore: decorator
@inline function narrow16(a: v128, b: v128, c: v128, d: v128): v128 {
  return i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_u(a, b), i16x8.narrow_i32x4_u(c, d));
}

// ------------------------------------------------------------------ kernels

export function gq_quantize_fp8_e4m3_ref(dst: usize, src: usize, n: i32, inv_scale: f32): usize {
  for (let i = 0; i < n; i++) store<u8>(dst + i, <u8>enc_e4m3(load<f32>(src + (<usize>i << 2)), inv_scale));
  return <usize>n;
}

export function gq_quantize_fp8_e4m3(dst: usize, src: usize, n: i32, inv_scale: f32): usize {
  const vinv = f32x4.splat(inv_scale);
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const p = src + (<usize>i << 2);
    v128.store(dst + i, narrow16(enc_e4m3_x4(v128.load(p), vinv), enc_e4m3_x4(v128.load(p, 16), vinv),
      enc_e4m3_x4(v128.load(p, 32), vinv), enc_e4m3_x4(v128.load(p, 48), vinv)));
  }
  for (; i < n; i++) store<u8>(dst + i, <u8>enc_e4m3(load<f32>(src + (<usize>i << 2)), inv_scale));
  return <usize>n;
}

export function gq_quantize_fp8_e5m2_ref(dst: usize, src: usize, n: i32, inv_scale: f32): usize {
  for (let i = 0; i < n; i++) store<u8>(dst + i, <u8>enc_e5m2(load<f32>(src + (<usize>i << 2)), inv_scale));
  return <usize>n;
}

export function gq_quantize_fp8_e5m2(dst: usize, src: usize, n: i32, inv_scale: f32): usize {
  const vinv = f32x4.splat(inv_scale);
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const p = src + (<usize>i << 2);
    v128.store(dst + i, narrow16(enc_e5m2_x4(v128.load(p), vinv), enc_e5m2_x4(v128.load(p, 16), vinv),
      enc_e5m2_x4(v128.load(p, 32), vinv), enc_e5m2_x4(v128.load(p, 48), vinv)));
  }
  for (; i < n; i++) store<u8>(dst + i, <u8>enc_e5m2(load<f32>(src + (<usize>i << 2)), inv_scale));
  return <usize>n;
}

export function gq_dequantize_fp8_e4m3_ref(dst: usize, src: usize, n: i32, scale: f32): void {
  for (let i = 0; i < n; i++) store<f32>(dst + (<usize>i << 2), dec_e4m3(load<u8>(src + i), scale));
}

export function gq_dequantize_fp8_e4m3(dst: usize, src: usize, n: i32, scale: f32): void {
  const vs = f32x4.splat(scale);
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const q = v128.load(src + i);
    const lo = i16x8.extend_low_i8x16_u(q), hi = i16x8.extend_high_i8x16_u(q);
    const o = dst + (<usize>i << 2);
    v128.store(o, dec_e4m3_x4(i32x4.extend_low_i16x8_u(lo), vs));
    v128.store(o, dec_e4m3_x4(i32x4.extend_high_i16x8_u(lo), vs), 16);
    v128.store(o, dec_e4m3_x4(i32x4.extend_low_i16x8_u(hi), vs), 32);
    v128.store(o, dec_e4m3_x4(i32x4.extend_high_i16x8_u(hi), vs), 48);
  }
  for (; i < n; i++) store<f32>(dst + (<usize>i << 2), dec_e4m3(load<u8>(src + i), scale));
}

export function gq_dequantize_fp8_e5m2_ref(dst: usize, src: usize, n: i32, scale: f32): void {
  for (let i = 0; i < n; i++) store<f32>(dst + (<usize>i << 2), dec_e5m2(load<u8>(src + i), scale));
}

export function gq_dequantize_fp8_e5m2(dst: usize, src: usize, n: i32, scale: f32): void {
  const vs = f32x4.splat(scale);
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const q = v128.load(src + i);
    const lo = i16x8.extend_low_i8x16_u(q), hi = i16x8.extend_high_i8x16_u(q);
    const o = dst + (<usize>i << 2);
    v128.store(o, dec_e5m2_x4(i32x4.extend_low_i16x8_u(lo), vs));
    v128.store(o, dec_e5m2_x4(i32x4.extend_high_i16x8_u(lo), vs), 16);
    v128.store(o, dec_e5m2_x4(i32x4.extend_low_i16x8_u(hi), vs), 32);
    v128.store(o, dec_e5m2_x4(i32x4.extend_high_i16x8_u(hi), vs), 48);
  }
  for (; i < n; i++) store<f32>(dst + (<usize>i << 2), dec_e5m2(load<u8>(src + i), scale));
}

/** max |x| over n f32 (0 for n = 0). Inputs must be NaN-free (validate first). */
export function gq_absmax_ref(src: usize, n: i32): f32 {
  let m: f32 = 0;
  for (let i = 0; i < n; i++) m = max<f32>(m, abs<f32>(load<f32>(src + (<usize>i << 2))));
  return m;
}

export function gq_absmax(src: usize, n: i32): f32 {
  let m0 = f32x4.splat(0), m1 = m0;
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const p = src + (<usize>i << 2);
    m0 = f32x4.max(m0, f32x4.abs(v128.load(p)));
    m1 = f32x4.max(m1, f32x4.abs(v128.load(p, 16)));
  }
  let v = f32x4.max(m0, m1);
  v = f32x4.max(v, v128.shuffle<u32>(v, v, 2, 3, 0, 1));
  v = f32x4.max(v, v128.shuffle<u32>(v, v, 1, 0, 3, 2));
  let m = f32x4.extract_lane(v, 0);
  for (; i < n; i++) m = max<f32>(m, abs<f32>(load<f32>(src + (<usize>i << 2))));
  return m;
}
