// @inline helpers for the 32-value block formats with codes in ggml's layout A: byte j of qs holds
// element j in its low nibble and element j + 16 in its high nibble; 5-bit codes keep their fifth
// bits in a u32 qh (bit j = element j). q4_0 / q5_0 (d only, codes offset by 8 / 16) and q4_1 / q5_1
// (d and m). `bits` (4 or 5) and `asym` are compile-time constants at every call site, so each
// kernel compiles to straight code for its format (the other branches fold away).
import { fp16_to_fp32 } from "./f16";

/** Bytes of one block: q4_0 18, q5_0 22, q4_1 20, q5_1 24. */
// @ts-ignore: decorator
@inline export function block32_bytes(bits: i32, asym: bool): usize {
  return (asym ? 4 : 2) + (bits == 5 ? 4 : 0) + 16;
}

/** Offset of qs in a block (after d, m for asym, and qh for 5 bits). */
// @ts-ignore: decorator
@inline export function block32_qs(bits: i32, asym: bool): usize {
  return (asym ? 4 : 2) + (bits == 5 ? 4 : 0);
}

/** Offset of qh (5-bit codes only): right after d (and m). */
// @ts-ignore: decorator
@inline export function block32_qh(asym: bool): usize {
  return asym ? 4 : 2;
}

/**
 * Scalar: codes xi0 (element j) and xi1 (element j + 16) -> qs[j], as ggml writes them (4 bits:
 * (uint8_t)(xi0 | xi1 << 4); 5 bits: the low nibbles). Returns their qh bits (0 for 4 bits).
 */
// @ts-ignore: decorator
@inline export function pack_pair32(qs: usize, j: i32, xi0: u32, xi1: u32, bits: i32): u32 {
  if (bits == 4) {
    store<u8>(qs + j, <u8>(xi0 | (xi1 << 4)));
    return 0;
  }
  store<u8>(qs + j, <u8>((xi0 & 0xF) | ((xi1 & 0xF) << 4)));
  return (((xi0 & 0x10) >> 4) << j) | (((xi1 & 0x10) >> 4) << (j + 16));
}

/** Scalar: the 32 codes L[0..31] (u8) of one block -> qs and, for 5 bits, qh (u32). */
// @ts-ignore: decorator
@inline export function pack_codes32_ref(qs: usize, qh: usize, L: usize, bits: i32): void {
  let h: u32 = 0;
  for (let j = 0; j < 16; j++) h |= pack_pair32(qs, j, <u32>load<u8>(L + j), <u32>load<u8>(L + j + 16), bits);
  if (bits == 5) store<u32>(qh, h);
}

/**
 * SIMD: the 32 codes of one block as bytes (lo = elements 0..15, hi = 16..31, each < 2^bits) -> qs
 * and, for 5 bits, qh. Bytes < 32: 16-bit shifts (single x86 instructions) never carry a set bit into
 * a neighbouring byte's kept bits, so they equal the i8x16 shifts here; bit 4 of each code moves to
 * the byte's sign bit for the bitmask.
 */
// @ts-ignore: decorator
@inline export function pack_codes32(qs: usize, qh: usize, lo: v128, hi: v128, bits: i32): void {
  if (bits == 4) {
    v128.store(qs, v128.or(lo, i16x8.shl(hi, 4)));
  } else {
    const m4 = i8x16.splat(0x0F);
    store<u32>(qh, <u32>i8x16.bitmask(i16x8.shl(lo, 3)) | (<u32>i8x16.bitmask(i16x8.shl(hi, 3)) << 16));
    v128.store(qs, v128.or(v128.and(lo, m4), i16x8.shl(v128.and(hi, m4), 4)));
  }
}

/** SIMD: codes (unsigned bytes) of elements 0..15 (hi = false) or 16..31 (hi = true) from qs and qh. */
// @ts-ignore: decorator
@inline function unpack_codes16(qs: v128, qh: u32, hi: bool, bits: i32): v128 {
  const c = hi ? i8x16.shr_u(qs, 4) : v128.and(qs, i8x16.splat(0x0F));
  if (bits == 4) return c;
  // byte j gets byte j / 8 (elements 0..15) or 2 + j / 8 (16..31) of qh, tested at bit j % 8
  const bitsel = i8x16(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128);
  const idx = hi ? i8x16(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3) : i8x16(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
  const h = v128.and(i8x16.eq(v128.and(i8x16.swizzle(i32x4.splat(qh), idx), bitsel), bitsel), i8x16.splat(16));
  return v128.or(c, h);
}

/** SIMD: 32 f32 at y from code bytes lo (elements 0..15), hi (16..31): q * d + m (asym, unsigned) or q * d (signed). */
// @ts-ignore: decorator
@inline function store_dq32(y: usize, lo: v128, hi: v128, d: v128, m: v128, asym: bool): void {
  if (asym) {
    const a0 = i16x8.extend_low_i8x16_u(lo), a1 = i16x8.extend_high_i8x16_u(lo);
    const b0 = i16x8.extend_low_i8x16_u(hi), b1 = i16x8.extend_high_i8x16_u(hi);
    v128.store(y, f32x4.add(f32x4.mul(f32x4.convert_i32x4_u(i32x4.extend_low_i16x8_u(a0)), d), m), 0);
    v128.store(y, f32x4.add(f32x4.mul(f32x4.convert_i32x4_u(i32x4.extend_high_i16x8_u(a0)), d), m), 16);
    v128.store(y, f32x4.add(f32x4.mul(f32x4.convert_i32x4_u(i32x4.extend_low_i16x8_u(a1)), d), m), 32);
    v128.store(y, f32x4.add(f32x4.mul(f32x4.convert_i32x4_u(i32x4.extend_high_i16x8_u(a1)), d), m), 48);
    v128.store(y, f32x4.add(f32x4.mul(f32x4.convert_i32x4_u(i32x4.extend_low_i16x8_u(b0)), d), m), 64);
    v128.store(y, f32x4.add(f32x4.mul(f32x4.convert_i32x4_u(i32x4.extend_high_i16x8_u(b0)), d), m), 80);
    v128.store(y, f32x4.add(f32x4.mul(f32x4.convert_i32x4_u(i32x4.extend_low_i16x8_u(b1)), d), m), 96);
    v128.store(y, f32x4.add(f32x4.mul(f32x4.convert_i32x4_u(i32x4.extend_high_i16x8_u(b1)), d), m), 112);
  } else {
    const a0 = i16x8.extend_low_i8x16_s(lo), a1 = i16x8.extend_high_i8x16_s(lo);
    const b0 = i16x8.extend_low_i8x16_s(hi), b1 = i16x8.extend_high_i8x16_s(hi);
    v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(a0)), d), 0);
    v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(a0)), d), 16);
    v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(a1)), d), 32);
    v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(a1)), d), 48);
    v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(b0)), d), 64);
    v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(b0)), d), 80);
    v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(b1)), d), 96);
    v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(b1)), d), 112);
  }
}

/**
 * ggml dequantize_row_q4_0 / q5_0 / q4_1 / q5_1 (scalar): k values (multiple of 32); y = (q - 8) * d,
 * (q - 16) * d, q * d + m, q * d + m.
 */
// @ts-ignore: decorator
@inline export function dequantize_row_block32_ref(y: usize, x: usize, k: i32, bits: i32, asym: bool): void {
  const nb = k / 32;
  const qs = block32_qs(bits, asym);
  const off: i32 = bits == 4 ? 8 : 16;
  for (let i = 0; i < nb; i++) {
    const d = fp16_to_fp32(load<u16>(x));
    const m: f32 = asym ? fp16_to_fp32(load<u16>(x, 2)) : 0;
    const qh: u32 = bits == 5 ? load<u32>(x + block32_qh(asym)) : 0;
    for (let j = 0; j < 16; j++) {
      const b = <u32>load<u8>(x + qs + j);
      let q0 = b & 0xF, q1 = b >> 4;
      if (bits == 5) {
        q0 |= ((qh >> j) << 4) & 0x10;
        q1 |= (qh >> (j + 12)) & 0x10;
      }
      if (asym) {
        store<f32>(y + (<usize>j << 2), <f32>q0 * d + m);
        store<f32>(y + (<usize>(j + 16) << 2), <f32>q1 * d + m);
      } else {
        store<f32>(y + (<usize>j << 2), <f32>(<i32>q0 - off) * d);
        store<f32>(y + (<usize>(j + 16) << 2), <f32>(<i32>q1 - off) * d);
      }
    }
    x += block32_bytes(bits, asym);
    y += 32 << 2;
  }
}

/** SIMD twin of dequantize_row_block32_ref (bit-identical). */
// @ts-ignore: decorator
@inline export function dequantize_row_block32(y: usize, x: usize, k: i32, bits: i32, asym: bool): void {
  const nb = k / 32;
  const off = i8x16.splat(bits == 4 ? 8 : 16);
  for (let i = 0; i < nb; i++) {
    const d = f32x4.splat(fp16_to_fp32(load<u16>(x)));
    const m = asym ? f32x4.splat(fp16_to_fp32(load<u16>(x, 2))) : d;
    const qs = v128.load(x + block32_qs(bits, asym));
    const qh: u32 = bits == 5 ? load<u32>(x + block32_qh(asym)) : 0;
    let lo = unpack_codes16(qs, qh, false, bits), hi = unpack_codes16(qs, qh, true, bits);
    if (!asym) {
      lo = i8x16.sub(lo, off);
      hi = i8x16.sub(hi, off);
    }
    store_dq32(y, lo, hi, d, m, asym);
    x += block32_bytes(bits, asym);
    y += 32 << 2;
  }
}
