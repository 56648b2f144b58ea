// q4_0: 32 values -> fp16 scale d + 16 bytes of 4-bit codes, nibble layout A (18 bytes, 4.5 bpw).
// Reference path (ggml quantize_row_q4_0_ref): d = (value of largest magnitude, first on ties) / -8,
// code = min(15, (int8)(x * (1/d) + 8.5)) (offset and truncate, x86 float->int8 semantics).
// imatrix path (ggml quantize_row_q4_0_impl): weights imatrix * sqrt(sigma2 + x^2), sigma2 = mean
// square of the whole row, make_qx_quants(32, 8) search; codes are the search's codes.
import { fp32_to_fp16, fp16_to_fp32, fp32x4_to_fp16x4 } from "../inline/f16";
import { signed_absmax32_x4 } from "../inline/absmax4";
import { cvt_f32_i8, transpose4x4, signed_absmax32, offset_trunc_x4 } from "../inline/sym";
import { make_qx_quants, make_qx_quants_x4, sumsq_x4 } from "./common_sym";

// @ts-ignore: decorator
@inline const QK4_0: i32 = 32;
// @ts-ignore: decorator
@inline const BLOCK_Q4_0: usize = 18;

const L = memory.data(QK4_0, 16);            // i8 codes of one block (scalar imatrix path)
const WEIGHT = memory.data(QK4_0 * 4, 16);   // f32 weights of one block
const XT = memory.data(QK4_0 * 16, 16);      // 4 blocks transposed
const WT = memory.data(QK4_0 * 16, 16);
const LT = memory.data(QK4_0 * 16, 16);

/** ggml quantize_row_q4_0_ref (scalar): k values (multiple of 32) -> k/32 blocks. */
export function quantize_row_q4_0_ref(y: usize, x: usize, k: i32): void {
  const nb = k / QK4_0;
  for (let i = 0; i < nb; i++) {
    let amax: f32 = 0;
    let vmax: f32 = 0;
    for (let j = 0; j < QK4_0; j++) {
      const v = load<f32>(x + (<usize>j << 2));
      if (amax < abs<f32>(v)) {
        amax = abs<f32>(v);
        vmax = v;
      }
    }
    const d: f32 = vmax / <f32>-8;
    const id: f32 = d != 0 ? <f32>1 / d : 0;
    store<u16>(y, fp32_to_fp16(d));
    for (let j = 0; j < 16; j++) {
      const x0 = load<f32>(x + (<usize>j << 2)) * id;
      const x1 = load<f32>(x + (<usize>(j + 16) << 2)) * id;
      const xi0 = min<i32>(15, cvt_f32_i8(x0 + <f32>8.5));
      const xi1 = min<i32>(15, cvt_f32_i8(x1 + <f32>8.5));
      store<u8>(y + 2 + j, <u8>((xi0 & 0xFF) | (xi1 << 4)));
    }
    x += QK4_0 << 2;
    y += BLOCK_Q4_0;
  }
}

/**
 * Codes of one block for a finite 1/d: |x * id| <= 8 (+ rounding), so x * id + 8.5 truncates to
 * 0..16 in range (trunc = floor, the argument is > 0) and MIN(15, .) is an unsigned byte min.
 */
// @ts-ignore: decorator
@inline function q4_0_codes(y: usize, x: usize, vid: v128): void {
  const off = f32x4.splat(8.5), m15 = i8x16.splat(15);
  const lo = i8x16.min_u(i8x16.narrow_i16x8_u(
    i16x8.narrow_i32x4_s(offset_trunc_x4(v128.load(x, 0), vid, off), offset_trunc_x4(v128.load(x, 16), vid, off)),
    i16x8.narrow_i32x4_s(offset_trunc_x4(v128.load(x, 32), vid, off), offset_trunc_x4(v128.load(x, 48), vid, off))), m15);
  const hi = i8x16.min_u(i8x16.narrow_i16x8_u(
    i16x8.narrow_i32x4_s(offset_trunc_x4(v128.load(x, 64), vid, off), offset_trunc_x4(v128.load(x, 80), vid, off)),
    i16x8.narrow_i32x4_s(offset_trunc_x4(v128.load(x, 96), vid, off), offset_trunc_x4(v128.load(x, 112), vid, off))), m15);
  // bytes <= 15: a 16-bit shift by 4 never carries into the next byte (cheaper than i8x16.shl)
  v128.store(y + 2, v128.or(lo, i16x8.shl(hi, 4)));
}

/**
 * Codes of one block for any id: 1/d overflowed (|max| < ~2^-125) gives x * inf + 8.5 = +-inf or
 * NaN, which x86's float->int8 conversion (cvt_f32_i8) turns into 0, so every code is 0.
 */
// @ts-ignore: decorator
@inline function q4_0_codes_any(y: usize, x: usize, id: f32): void {
  if (id - id == 0) q4_0_codes(y, x, f32x4.splat(id));
  else v128.store(y + 2, i8x16.splat(0));
}

/** Codes of 4 consecutive blocks, lane k of id = 1/d of block k; fin: every lane of id is finite. */
// @ts-ignore: decorator
@inline function q4_0_codes4(y: usize, x: usize, id: v128, fin: bool): void {
  if (fin) {
    q4_0_codes(y, x, v128.shuffle<u32>(id, id, 0, 0, 0, 0));
    q4_0_codes(y + BLOCK_Q4_0, x + 128, v128.shuffle<u32>(id, id, 1, 1, 1, 1));
    q4_0_codes(y + 2 * BLOCK_Q4_0, x + 256, v128.shuffle<u32>(id, id, 2, 2, 2, 2));
    q4_0_codes(y + 3 * BLOCK_Q4_0, x + 384, v128.shuffle<u32>(id, id, 3, 3, 3, 3));
  } else {
    q4_0_codes_any(y, x, f32x4.extract_lane(id, 0));
    q4_0_codes_any(y + BLOCK_Q4_0, x + 128, f32x4.extract_lane(id, 1));
    q4_0_codes_any(y + 2 * BLOCK_Q4_0, x + 256, f32x4.extract_lane(id, 2));
    q4_0_codes_any(y + 3 * BLOCK_Q4_0, x + 384, f32x4.extract_lane(id, 3));
  }
}

/**
 * SIMD twin of quantize_row_q4_0_ref. 4 blocks per step: the blocks' signed absolute maxima are
 * reduced into one vector, so d, 1/d and the fp16 scales are computed once for 4 blocks; the codes
 * (block by block, 8 x f32x4) of each group of 4 are written one step later, after the next group's
 * reduction, so the CPU overlaps the streaming loads with the code arithmetic on data still in L1.
 * One block per step for the nb % 4 tail.
 */
export function quantize_row_q4_0(y: usize, x: usize, k: i32): void {
  const nb = k / QK4_0;
  const zero = f32x4.splat(0);
  let i = 0;
  let pid = zero;
  let pfin = true;
  for (; i + 4 <= nb; i += 4) {
    const d = f32x4.div(signed_absmax32_x4(x), f32x4.splat(-8));
    const id = v128.andnot(f32x4.div(f32x4.splat(1), d), f32x4.eq(d, zero));
    const h = fp32x4_to_fp16x4(d);
    store<u16>(y, <u16>i32x4.extract_lane(h, 0));
    store<u16>(y + BLOCK_Q4_0, <u16>i32x4.extract_lane(h, 1));
    store<u16>(y + 2 * BLOCK_Q4_0, <u16>i32x4.extract_lane(h, 2));
    store<u16>(y + 3 * BLOCK_Q4_0, <u16>i32x4.extract_lane(h, 3));
    if (i > 0) q4_0_codes4(y - 4 * BLOCK_Q4_0, x - 512, pid, pfin);
    pid = id;
    pfin = i32x4.all_true(f32x4.eq(f32x4.sub(id, id), zero));
    x += 4 * (QK4_0 << 2);
    y += 4 * BLOCK_Q4_0;
  }
  if (i > 0) q4_0_codes4(y - 4 * BLOCK_Q4_0, x - 512, pid, pfin);
  for (; i < nb; i++) {
    const v0 = v128.load(x), v1 = v128.load(x, 16), v2 = v128.load(x, 32), v3 = v128.load(x, 48);
    const v4 = v128.load(x, 64), v5 = v128.load(x, 80), v6 = v128.load(x, 96), v7 = v128.load(x, 112);
    const vmax = signed_absmax32(x, v0, v1, v2, v3, v4, v5, v6, v7);
    const d: f32 = vmax / <f32>-8;
    const id: f32 = d != 0 ? <f32>1 / d : 0;
    store<u16>(y, fp32_to_fp16(d));
    q4_0_codes_any(y, x, id);
    x += QK4_0 << 2;
    y += BLOCK_Q4_0;
  }
}

// @ts-ignore: decorator
@inline function row_sigma2(x: usize, n: i32): f32 {
  let sum_x2: f32 = 0;
  for (let j = 0; j < n; j++) {
    const v = load<f32>(x + (<usize>j << 2));
    sum_x2 += v * v;
  }
  return sum_x2 / <f32>n;
}

/** One block of the imatrix path, scalar (make_qx_quants with the given weights). */
function q4_0_imat_block(y: usize, xb: usize, qw: usize, sigma2: f32): void {
  for (let j = 0; j < QK4_0; j++) {
    const v = load<f32>(xb + (<usize>j << 2));
    store<f32>(WEIGHT + (<usize>j << 2), load<f32>(qw + (<usize>j << 2)) * sqrt<f32>(sigma2 + v * v));
  }
  const d = make_qx_quants(QK4_0, 8, xb, L, 1, WEIGHT);
  store<u16>(y, fp32_to_fp16(d));
  for (let j = 0; j < 16; j++) {
    store<u8>(y + 2 + j, <u32>load<u8>(L + j) | (<u32>load<u8>(L + j + 16) << 4));
  }
}

/** ggml quantize_row_q4_0_impl with an imatrix, scalar, one row. */
function q4_0_row_imat_ref(y: usize, x: usize, n: i32, qw: usize): void {
  const sigma2 = row_sigma2(x, n);
  const nb = n / QK4_0;
  for (let ib = 0; ib < nb; ib++) {
    q4_0_imat_block(y + <usize>ib * BLOCK_Q4_0, x + (<usize>(ib * QK4_0) << 2), qw + (<usize>(ib * QK4_0) << 2), sigma2);
  }
}

/** SIMD twin: four blocks per make_qx_quants_x4 call (one block per lane), scalar tail. */
function q4_0_row_imat(y: usize, x: usize, n: i32, qw: usize, sigma2: f32): void {
  const vs = f32x4.splat(sigma2);
  const nb = n / QK4_0;
  let ib = 0;
  for (; ib + 4 <= nb; ib += 4) {
    const xs = x + (<usize>(ib * QK4_0) << 2), ws = qw + (<usize>(ib * QK4_0) << 2);
    for (let r: usize = 0; r < 32; r += 4) {
      transpose4x4(XT + (r << 4), xs + (r << 2), 128);
      transpose4x4(WT + (r << 4), ws + (r << 2), 128);
    }
    for (let r: usize = 0; r < 32; r++) {
      const xv = v128.load(XT + (r << 4));
      v128.store(WT + (r << 4), f32x4.mul(v128.load(WT + (r << 4)), f32x4.sqrt(f32x4.add(vs, f32x4.mul(xv, xv)))));
    }
    const d = make_qx_quants_x4(QK4_0, 8, XT, WT, LT);
    const yb = y + <usize>ib * BLOCK_Q4_0;
    store<u16>(yb, fp32_to_fp16(f32x4.extract_lane(d, 0)));
    store<u16>(yb + BLOCK_Q4_0, fp32_to_fp16(f32x4.extract_lane(d, 1)));
    store<u16>(yb + 2 * BLOCK_Q4_0, fp32_to_fp16(f32x4.extract_lane(d, 2)));
    store<u16>(yb + 3 * BLOCK_Q4_0, fp32_to_fp16(f32x4.extract_lane(d, 3)));
    // codes (row r, lane k = code r of block k) -> per block: transpose each 4x4 tile
    // (XT is free again): XT + 64*(r/4) + 16*k holds codes r..r+3 of block k.
    for (let r: usize = 0; r < 32; r += 4) transpose4x4(XT + (r << 4), LT + (r << 4), 16);
    for (let kk: usize = 0; kk < 4; kk++) {
      const o = XT + (kk << 4);
      const lo = i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_u(v128.load(o), v128.load(o, 64)),
        i16x8.narrow_i32x4_u(v128.load(o, 128), v128.load(o, 192)));
      const hi = i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_u(v128.load(o, 256), v128.load(o, 320)),
        i16x8.narrow_i32x4_u(v128.load(o, 384), v128.load(o, 448)));
      v128.store(yb + kk * BLOCK_Q4_0 + 2, v128.or(lo, i8x16.shl(hi, 4)));
    }
  }
  for (; ib < nb; ib++) {
    q4_0_imat_block(y + <usize>ib * BLOCK_Q4_0, x + (<usize>(ib * QK4_0) << 2), qw + (<usize>(ib * QK4_0) << 2), sigma2);
  }
}

/** Chunk API (ggml quantize_q4_0), SIMD. imatrix: n_per_row f32 or 0. Returns bytes written. */
export function quantize_q4_0(y: usize, x: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  const row_size = <usize>(n_per_row / QK4_0) * BLOCK_Q4_0;
  // row by row (no i32 overflow of nrows * n_per_row; blocks never straddle rows)
  if (!imatrix) {
    for (let r = 0; r < nrows; r++) quantize_row_q4_0(y + <usize>r * row_size, x + ((<usize>r * <usize>n_per_row) << 2), n_per_row);
    return <usize>nrows * row_size;
  }
  // the row statistic sigma2 (a sequential sum over the whole row) for four rows at once
  const stride = <usize>n_per_row << 2;
  const fn = <f32>n_per_row;
  let r = 0;
  for (; r + 4 <= nrows; r += 4) {
    const xr = x + <usize>r * stride;
    const s2 = sumsq_x4(xr, stride, n_per_row);
    const yr = y + <usize>r * row_size;
    q4_0_row_imat(yr, xr, n_per_row, imatrix, f32x4.extract_lane(s2, 0) / fn);
    q4_0_row_imat(yr + row_size, xr + stride, n_per_row, imatrix, f32x4.extract_lane(s2, 1) / fn);
    q4_0_row_imat(yr + 2 * row_size, xr + 2 * stride, n_per_row, imatrix, f32x4.extract_lane(s2, 2) / fn);
    q4_0_row_imat(yr + 3 * row_size, xr + 3 * stride, n_per_row, imatrix, f32x4.extract_lane(s2, 3) / fn);
  }
  for (; r < nrows; r++) {
    const xr = x + <usize>r * stride;
    q4_0_row_imat(y + <usize>r * row_size, xr, n_per_row, imatrix, row_sigma2(xr, n_per_row));
  }
  return <usize>nrows * row_size;
}

/** Chunk API, scalar twin of quantize_q4_0. */
export function quantize_q4_0_ref(y: usize, x: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  const row_size = <usize>(n_per_row / QK4_0) * BLOCK_Q4_0;
  // row by row (no i32 overflow of nrows * n_per_row; blocks never straddle rows)
  for (let r = 0; r < nrows; r++) {
    const yr = y + <usize>r * row_size, xr = x + ((<usize>r * <usize>n_per_row) << 2);
    if (!imatrix) quantize_row_q4_0_ref(yr, xr, n_per_row);
    else q4_0_row_imat_ref(yr, xr, n_per_row, imatrix);
  }
  return <usize>nrows * row_size;
}

/** ggml dequantize_row_q4_0, scalar: y = (q - 8) * d. */
export function dequantize_row_q4_0_ref(y: usize, x: usize, k: i32): void {
  const nb = k / QK4_0;
  for (let i = 0; i < nb; i++) {
    const d = fp16_to_fp32(load<u16>(x));
    for (let j = 0; j < 16; j++) {
      const q = <i32>load<u8>(x + 2 + j);
      store<f32>(y + (<usize>j << 2), <f32>((q & 0x0F) - 8) * d);
      store<f32>(y + (<usize>(j + 16) << 2), <f32>((q >> 4) - 8) * d);
    }
    x += BLOCK_Q4_0;
    y += QK4_0 << 2;
  }
}

/** ggml dequantize_row_q4_0, SIMD. */
export function dequantize_row_q4_0(y: usize, x: usize, k: i32): void {
  const nb = k / QK4_0;
  const m4 = i8x16.splat(0x0F), eight = i8x16.splat(8);
  for (let i = 0; i < nb; i++) {
    const vd = f32x4.splat(fp16_to_fp32(load<u16>(x)));
    const q = v128.load(x + 2);
    const lo = i8x16.sub(v128.and(q, m4), eight), hi = i8x16.sub(i8x16.shr_u(q, 4), eight);
    const l0 = i16x8.extend_low_i8x16_s(lo), l1 = i16x8.extend_high_i8x16_s(lo);
    const h0 = i16x8.extend_low_i8x16_s(hi), h1 = i16x8.extend_high_i8x16_s(hi);
    v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(l0)), vd));
    v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(l0)), vd), 16);
    v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(l1)), vd), 32);
    v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(l1)), vd), 48);
    v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(h0)), vd), 64);
    v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(h0)), vd), 80);
    v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(h1)), vd), 96);
    v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(h1)), vd), 112);
    x += BLOCK_Q4_0;
    y += QK4_0 << 2;
  }
}
