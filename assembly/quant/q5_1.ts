// q5_1: 32 values -> fp16 d, fp16 m (minimum), u32 of fifth bits, 16 bytes of nibbles (24 bytes,
// 6 bits per weight).
// imatrix = 0: ggml quantize_row_q5_1_ref (d = (max - min)/31, q = (u8)trunc((x - min)/d + 0.5)).
// imatrix given: ggml quantize_row_q5_1_impl (make_qkx3_quants, weights from the whole-row sigma2).
import { fp32_to_fp16, fp16_to_fp32, fp32x4_to_fp16x4 } from "../inline/f16";
import { minmax32_pairs, min4_of_pairs, max4_of_pairs, first_equal32, code_floor, small_f32_to_i32 } from "../inline/minmax";
import { cvtt_i32, cvtt_i32x4 } from "../inline/asym";
import { make_qkx2_quants, qk_the_min } from "./common_asym";
import { make_qkx_x4_blocks32, make_qkx_x8_blocks32, row_sigma2 } from "./common_asym_simd";

// @ts-ignore: decorator
@inline const QK4_1: i32 = 32;
// @ts-ignore: decorator
@inline const BLOCK_Q5_1: usize = 24;

const WEIGHTS = memory.data(128, 16);
const L_BUF = memory.data(128, 16);
const LAUX = memory.data(32, 16);
const SCRATCH = memory.data(512, 16);
const MM = memory.data(32, 16); // block minima f32x4, maxima f32x4 (4-block step, zero fix-up)

function quantize_row_q5_1_ref(y: usize, x: usize, k: i32): void {
  const nb = k / QK4_1;
  for (let i = 0; i < nb; i++) {
    let mn: f32 = f32.MAX_VALUE, mx: f32 = -f32.MAX_VALUE;
    for (let j = 0; j < QK4_1; j++) {
      const v = load<f32>(x + (<usize>j << 2));
      if (v < mn) mn = v;
      if (v > mx) mx = v;
    }
    const d: f32 = (mx - mn) / <f32>31;
    const id: f32 = d != 0 ? <f32>1 / d : 0;
    store<u16>(y, fp32_to_fp16(d));
    store<u16>(y, fp32_to_fp16(mn), 2);
    let qh: u32 = 0;
    for (let j = 0; j < 16; j++) {
      const x0: f32 = (load<f32>(x + (<usize>j << 2)) - mn) * id;
      const x1: f32 = (load<f32>(x + (<usize>(j + 16) << 2)) - mn) * id;
      const xi0 = <u32><u8>cvtt_i32(x0 + <f32>0.5);
      const xi1 = <u32><u8>cvtt_i32(x1 + <f32>0.5);
      store<u8>(y + 8 + j, <u8>((xi0 & 0xF) | ((xi1 & 0xF) << 4)));
      qh |= ((xi0 & 0x10) >> 4) << j;
      qh |= ((xi1 & 0x10) >> 4) << (j + 16);
    }
    store<u32>(y, qh, 4);
    x += QK4_1 << 2;
    y += BLOCK_Q5_1;
  }
}

/** Codes of one block, x86 semantics for every finite input (1/d or max - min may be infinite). */
function q5_1_codes_any(y: usize, x: usize, mn: f32, id: f32): void {
  const m = f32x4.splat(mn), vid = f32x4.splat(id), half = f32x4.splat(0.5);
  const q0 = cvtt_i32x4(f32x4.add(f32x4.mul(f32x4.sub(v128.load(x, 0), m), vid), half));
  const q1 = cvtt_i32x4(f32x4.add(f32x4.mul(f32x4.sub(v128.load(x, 16), m), vid), half));
  const q2 = cvtt_i32x4(f32x4.add(f32x4.mul(f32x4.sub(v128.load(x, 32), m), vid), half));
  const q3 = cvtt_i32x4(f32x4.add(f32x4.mul(f32x4.sub(v128.load(x, 48), m), vid), half));
  const q4 = cvtt_i32x4(f32x4.add(f32x4.mul(f32x4.sub(v128.load(x, 64), m), vid), half));
  const q5 = cvtt_i32x4(f32x4.add(f32x4.mul(f32x4.sub(v128.load(x, 80), m), vid), half));
  const q6 = cvtt_i32x4(f32x4.add(f32x4.mul(f32x4.sub(v128.load(x, 96), m), vid), half));
  const q7 = cvtt_i32x4(f32x4.add(f32x4.mul(f32x4.sub(v128.load(x, 112), m), vid), half));
  const b = i8x16.splat(0x1F);
  const lo = v128.and(i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_s(q0, q1), i16x8.narrow_i32x4_s(q2, q3)), b);
  const hi = v128.and(i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_s(q4, q5), i16x8.narrow_i32x4_s(q6, q7)), b);
  store_nibbles_qh(y, lo, hi);
}

/**
 * Codes of one block when max - min and 1/d are finite: then 0 <= (x - min) * id <= 31 * (1 + 2^-21),
 * so the (uint8_t) truncation of t + 0.5 equals floor(t + 0.5), 0..31.
 */
// @ts-ignore: decorator
@inline function q5_1_codes_fast(y: usize, x: usize, m: v128, vid: v128): void {
  const lo = i8x16.narrow_i16x8_u(
    i16x8.narrow_i32x4_s(small_f32_to_i32(code_floor(v128.load(x, 0), m, vid)), small_f32_to_i32(code_floor(v128.load(x, 16), m, vid))),
    i16x8.narrow_i32x4_s(small_f32_to_i32(code_floor(v128.load(x, 32), m, vid)), small_f32_to_i32(code_floor(v128.load(x, 48), m, vid))));
  const hi = i8x16.narrow_i16x8_u(
    i16x8.narrow_i32x4_s(small_f32_to_i32(code_floor(v128.load(x, 64), m, vid)), small_f32_to_i32(code_floor(v128.load(x, 80), m, vid))),
    i16x8.narrow_i32x4_s(small_f32_to_i32(code_floor(v128.load(x, 96), m, vid)), small_f32_to_i32(code_floor(v128.load(x, 112), m, vid))));
  // codes < 32: 16-bit shifts never carry a set bit into the neighbouring byte's tested bits
  v128.store(y + 8, v128.or(v128.and(lo, i8x16.splat(0x0F)), v128.and(i16x8.shl(hi, 4), i8x16.splat(<i8>0xF0))));
  store<u32>(y, <u32>i8x16.bitmask(i16x8.shl(lo, 3)) | (<u32>i8x16.bitmask(i16x8.shl(hi, 3)) << 16), 4);
}

/** Zero block extremes: ggml keeps the first of +0/-0 in scan order (mn @MM, mx @MM+16, 4 blocks at x). */
function fix_zero_extremes(x: usize): void {
  for (let k = 0; k < 4; k++) {
    const xb = x + (<usize>k << 7), o = MM + (<usize>k << 2);
    store<f32>(o, first_equal32(xb, load<f32>(o)));
    store<f32>(o + 16, first_equal32(xb, load<f32>(o + 16)));
  }
}

/** One block (tail), same operations as one lane of the 4-block step. */
// @ts-ignore: decorator
@inline function q5_1_block(y: usize, x: usize): void {
  const r = minmax32_pairs(x);
  const mn = first_equal32(x, f32x4.extract_lane(f32x4.pmin(r, v128.shuffle<u32>(r, r, 1, 1, 1, 1)), 0));
  const mx = first_equal32(x, f32x4.extract_lane(f32x4.pmax(r, v128.shuffle<u32>(r, r, 3, 3, 3, 3)), 2));
  const d: f32 = (mx - mn) / <f32>31;
  const id: f32 = d != 0 ? <f32>1 / d : 0;
  store<u16>(y, fp32_to_fp16(d));
  store<u16>(y, fp32_to_fp16(mn), 2);
  if (d < f32.POSITIVE_INFINITY && id < f32.POSITIVE_INFINITY) q5_1_codes_fast(y, x, f32x4.splat(mn), f32x4.splat(id));
  else q5_1_codes_any(y, x, mn, id);
}

/**
 * SIMD quantize_row_q5_1_ref: 4 blocks per step — minima/maxima of the 4 blocks are reduced into one
 * vector each, so d, 1/d and both fp16 conversions run once for 4 blocks; then the codes per block.
 */
function quantize_row_q5_1_simd(y: usize, x: usize, k: i32): void {
  const nb = k / QK4_1;
  const zero = f32x4.splat(0), inf = f32x4.splat(f32.POSITIVE_INFINITY);
  let i = 0;
  for (; i + 4 <= nb; i += 4) {
    const r0 = minmax32_pairs(x), r1 = minmax32_pairs(x + 128), r2 = minmax32_pairs(x + 256), r3 = minmax32_pairs(x + 384);
    let mn = min4_of_pairs(r0, r1, r2, r3), mx = max4_of_pairs(r0, r1, r2, r3);
    if (v128.any_true(v128.or(f32x4.eq(mn, zero), f32x4.eq(mx, zero)))) {
      v128.store(MM, mn);
      v128.store(MM, mx, 16);
      fix_zero_extremes(x);
      mn = v128.load(MM);
      mx = v128.load(MM, 16);
    }
    const d = f32x4.div(f32x4.sub(mx, mn), f32x4.splat(31));
    const id = v128.andnot(f32x4.div(f32x4.splat(1), d), f32x4.eq(d, zero));
    const h = v128.or(fp32x4_to_fp16x4(d), i32x4.shl(fp32x4_to_fp16x4(mn), 16));
    store<u32>(y, i32x4.extract_lane(h, 0));
    store<u32>(y + BLOCK_Q5_1, i32x4.extract_lane(h, 1));
    store<u32>(y + 2 * BLOCK_Q5_1, i32x4.extract_lane(h, 2));
    store<u32>(y + 3 * BLOCK_Q5_1, i32x4.extract_lane(h, 3));
    // fast codes need finite d and 1/d: max - min overflowing gives id = 0 and (x - min) * 0 = NaN
    // (whose sign, hence the magic-number result, is platform-dependent); d subnormal gives id = inf
    if (i32x4.all_true(v128.and(f32x4.lt(d, inf), f32x4.lt(id, inf)))) {
      q5_1_codes_fast(y, x, v128.shuffle<u32>(mn, mn, 0, 0, 0, 0), v128.shuffle<u32>(id, id, 0, 0, 0, 0));
      q5_1_codes_fast(y + BLOCK_Q5_1, x + 128, v128.shuffle<u32>(mn, mn, 1, 1, 1, 1), v128.shuffle<u32>(id, id, 1, 1, 1, 1));
      q5_1_codes_fast(y + 2 * BLOCK_Q5_1, x + 256, v128.shuffle<u32>(mn, mn, 2, 2, 2, 2), v128.shuffle<u32>(id, id, 2, 2, 2, 2));
      q5_1_codes_fast(y + 3 * BLOCK_Q5_1, x + 384, v128.shuffle<u32>(mn, mn, 3, 3, 3, 3), v128.shuffle<u32>(id, id, 3, 3, 3, 3));
    } else {
      q5_1_codes_any(y, x, f32x4.extract_lane(mn, 0), f32x4.extract_lane(id, 0));
      q5_1_codes_any(y + BLOCK_Q5_1, x + 128, f32x4.extract_lane(mn, 1), f32x4.extract_lane(id, 1));
      q5_1_codes_any(y + 2 * BLOCK_Q5_1, x + 256, f32x4.extract_lane(mn, 2), f32x4.extract_lane(id, 2));
      q5_1_codes_any(y + 3 * BLOCK_Q5_1, x + 384, f32x4.extract_lane(mn, 3), f32x4.extract_lane(id, 3));
    }
    x += 4 * (QK4_1 << 2);
    y += 4 * BLOCK_Q5_1;
  }
  for (; i < nb; i++) {
    q5_1_block(y, x);
    x += QK4_1 << 2;
    y += BLOCK_Q5_1;
  }
}

// @ts-ignore: decorator
@inline function store_block_q5_1(y: usize, d: f32, the_min: f32, L: usize): void {
  store<u16>(y, fp32_to_fp16(d));
  store<u16>(y, fp32_to_fp16(-the_min), 2);
  let qh: u32 = 0;
  for (let j = 0; j < 16; j++) {
    const xi0 = <u32>load<u8>(L + j), xi1 = <u32>load<u8>(L + j + 16);
    store<u8>(y + 8 + j, <u8>((xi0 & 0xF) | ((xi1 & 0xF) << 4)));
    qh |= ((xi0 & 0x10) >> 4) << j;
    qh |= ((xi1 & 0x10) >> 4) << (j + 16);
  }
  store<u32>(y, qh, 4);
}

/** Packs 32 5-bit codes (lo = elements 0..15, hi = 16..31, one per byte) into nibbles @8 and qh @4. */
// @ts-ignore: decorator
@inline function store_nibbles_qh(y: usize, lo: v128, hi: v128): void {
  const m4 = i8x16.splat(0xF);
  v128.store(y + 8, v128.or(v128.and(lo, m4), i8x16.shl(v128.and(hi, m4), 4)));
  const qh = <u32>i8x16.bitmask(i8x16.shl(lo, 3)) | (<u32>i8x16.bitmask(i8x16.shl(hi, 3)) << 16);
  store<u32>(y, qh, 4);
}

/** ggml quantize_row_q5_1_impl with importance weights qw (scalar). */
function quantize_row_q5_1_impl_ref(y: usize, x: usize, n_per_row: i32, qw: usize): void {
  let sum_x2: f32 = 0;
  for (let j = 0; j < n_per_row; j++) {
    const v = load<f32>(x + (<usize>j << 2));
    sum_x2 += v * v;
  }
  const sigma2: f32 = sum_x2 / <f32>n_per_row;
  const nb = n_per_row / QK4_1;
  for (let ib = 0; ib < nb; ib++) {
    const xb = x + (<usize>ib << 7), qb = qw + (<usize>ib << 7);
    for (let j = 0; j < 32; j++) {
      const v = load<f32>(xb + (<usize>j << 2));
      store<f32>(WEIGHTS + (<usize>j << 2), load<f32>(qb + (<usize>j << 2)) * sqrt<f32>(sigma2 + v * v));
    }
    const d = make_qkx2_quants(32, 31, xb, WEIGHTS, L_BUF, LAUX, <f32>-0.9, <f32>0.05, 36, false);
    store_block_q5_1(y + <usize>ib * BLOCK_Q5_1, d, qk_the_min, L_BUF);
  }
}

/** SIMD quantize_row_q5_1_impl: the block searches run one block per lane, 8 blocks per step (then 4), tail blocks scalar. */
function quantize_row_q5_1_impl_simd(y: usize, x: usize, n_per_row: i32, qw: usize): void {
  const sigma2 = row_sigma2(x, n_per_row);
  const nb = n_per_row / QK4_1;
  let ib = 0;
  for (; ib + 8 <= nb; ib += 8) {
    // results: scales f32[8] @SCRATCH, the_min f32[8] @SCRATCH+32, L u8[8][32] @SCRATCH+64
    make_qkx_x8_blocks32(x + (<usize>ib << 7), qw + (<usize>ib << 7), sigma2, 31, SCRATCH);
    for (let g = 0; g < 8; g++) {
      store_block_q5_1(y + <usize>(ib + g) * BLOCK_Q5_1, load<f32>(SCRATCH + (<usize>g << 2)),
        load<f32>(SCRATCH + 32 + (<usize>g << 2)), SCRATCH + 64 + (<usize>g << 5));
    }
  }
  for (; ib + 4 <= nb; ib += 4) {
    // results: scales f32x4 @SCRATCH, the_min f32x4 @SCRATCH+16, L u8[4][32] @SCRATCH+32
    make_qkx_x4_blocks32(x + (<usize>ib << 7), qw + (<usize>ib << 7), sigma2, 31, SCRATCH);
    for (let g = 0; g < 4; g++) {
      store_block_q5_1(y + <usize>(ib + g) * BLOCK_Q5_1, load<f32>(SCRATCH + (<usize>g << 2)),
        load<f32>(SCRATCH + 16 + (<usize>g << 2)), SCRATCH + 32 + (<usize>g << 5));
    }
  }
  for (; ib < nb; ib++) {
    const xb = x + (<usize>ib << 7), qb = qw + (<usize>ib << 7);
    for (let j = 0; j < 32; j++) {
      const v = load<f32>(xb + (<usize>j << 2));
      store<f32>(WEIGHTS + (<usize>j << 2), load<f32>(qb + (<usize>j << 2)) * sqrt<f32>(sigma2 + v * v));
    }
    const d = make_qkx2_quants(32, 31, xb, WEIGHTS, L_BUF, LAUX, <f32>-0.9, <f32>0.05, 36, false);
    store_block_q5_1(y + <usize>ib * BLOCK_Q5_1, d, qk_the_min, L_BUF);
  }
}

/** Scalar reference (ggml quantize_q5_1 chunk API, out first). imatrix: 0 or n_per_row f32. Returns bytes written. */
export function quantize_q5_1_ref(dst: usize, src: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  const row_size = <usize>(n_per_row / QK4_1) * BLOCK_Q5_1;
  if (!imatrix) {
    quantize_row_q5_1_ref(dst, src, nrows * n_per_row);
  } else {
    for (let r = 0; r < nrows; r++) {
      quantize_row_q5_1_impl_ref(dst + <usize>r * row_size, src + (<usize>r * <usize>n_per_row << 2), n_per_row, imatrix);
    }
  }
  return <usize>nrows * row_size;
}

/** SIMD kernel, bit-identical to quantize_q5_1_ref. */
export function quantize_q5_1(dst: usize, src: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  const row_size = <usize>(n_per_row / QK4_1) * BLOCK_Q5_1;
  if (!imatrix) {
    quantize_row_q5_1_simd(dst, src, nrows * n_per_row);
  } else {
    for (let r = 0; r < nrows; r++) {
      quantize_row_q5_1_impl_simd(dst + <usize>r * row_size, src + (<usize>r * <usize>n_per_row << 2), n_per_row, imatrix);
    }
  }
  return <usize>nrows * row_size;
}

/** Scalar dequantizer (ggml dequantize_row_q5_1): k values (multiple of 32) from k/32 blocks of 24 bytes, x = q * d + m, q = 5-bit code. */
export function dequantize_row_q5_1_ref(dst: usize, src: usize, k: i32): void {
  const nb = k / QK4_1;
  let y = dst, x = src;
  for (let i = 0; i < nb; i++) {
    const d = fp16_to_fp32(load<u16>(x));
    const m = fp16_to_fp32(load<u16>(x, 2));
    const qh = load<u32>(x, 4);
    for (let j = 0; j < 16; j++) {
      const b = <u32>load<u8>(x + 8 + j);
      const xh_0 = ((qh >> j) << 4) & 0x10;
      const xh_1 = (qh >> (j + 12)) & 0x10;
      store<f32>(y + (<usize>j << 2), <f32>((b & 0xF) | xh_0) * d + m);
      store<f32>(y + (<usize>(j + 16) << 2), <f32>((b >> 4) | xh_1) * d + m);
    }
    x += BLOCK_Q5_1;
    y += QK4_1 << 2;
  }
}

/** Byte j of the result has bit 4 = bit j of qh, bit 7 = bit j+16 of qh (j = 0..15). */
// @ts-ignore: decorator
@inline function qh_bits(qh: u32): v128 {
  // spread bits: lane j gets byte (qh >> 8*(j/8)) for both halves, then test bit j%8
  const v = i32x4.splat(qh);
  const sel = v128.swizzle(v, i8x16(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1));
  const selh = v128.swizzle(v, i8x16(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
  const bits = i8x16(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128);
  const lo = v128.and(i8x16.eq(v128.and(sel, bits), bits), i8x16.splat(0x10));
  const hi = v128.and(i8x16.eq(v128.and(selh, bits), bits), i8x16.splat(<i8>0x80));
  return v128.or(lo, hi);
}

/** SIMD dequantizer, bit-identical to dequantize_row_q5_1_ref (k values, multiple of 32). */
export function dequantize_row_q5_1(dst: usize, src: usize, k: i32): void {
  const nb = k / QK4_1;
  let y = dst, x = src;
  const m4 = i8x16.splat(0xF);
  for (let i = 0; i < nb; i++) {
    const d = f32x4.splat(fp16_to_fp32(load<u16>(x)));
    const m = f32x4.splat(fp16_to_fp32(load<u16>(x, 2)));
    const b = v128.load(x + 8);
    const hb = qh_bits(load<u32>(x, 4));
    const lo = v128.or(v128.and(b, m4), v128.and(hb, i8x16.splat(0x10)));
    const hi = v128.or(i8x16.shr_u(b, 4), i8x16.shr_u(v128.and(hb, i8x16.splat(<i8>0x80)), 3));
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
    x += BLOCK_Q5_1;
    y += QK4_1 << 2;
  }
}
