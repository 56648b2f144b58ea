// The q4_0 / q5_0 quantizers (32 values -> fp16 d, codes; see q4_0.ts and q5_0.ts, which hold the
// exported kernels), written once for both widths: nmax = 2^(bits-1) (8 / 16).
// Reference path (ggml quantize_row_q4_0_ref / q5_0_ref): d = (value of largest magnitude, first on
// ties) / -nmax, code = min(2 nmax - 1, (int8)(x * (1/d) + nmax + 0.5)) (offset and truncate, x86
// float->int8 semantics).
// imatrix path (ggml quantize_row_q4_0_impl / q5_0_impl): weights imatrix * sqrt(sigma2 + x^2),
// sigma2 = mean square of the whole row, make_qx_quants(32, nmax) search; codes are the search's codes.
// Every function is @inline with a compile-time constant `bits` (4 or 5); the row kernels also get
// one non-inline instantiation per width (quantize_row_sym32_*_b4 / _b5).
import { fp32_to_fp16, fp32x4_to_fp16x4 } from "../inline/f16";
import { signed_absmax32_x4 } from "../inline/absmax4";
import { cvt_f32_i8, transpose4x4, signed_absmax32, offset_trunc_x4 } from "../inline/sym";
import { block32_bytes, block32_qs, block32_qh, pack_pair32, pack_codes32, pack_codes32_ref } from "../inline/block32";
import { make_qx_quants, make_qx_quants_x4, sumsq_x4 } from "./common_sym";
import { row_sigma2 } from "./common_asym_simd";
import { sum32, nf_note_sum, nf_note_ref } from "./finite_flag";

// @ts-ignore: decorator
@inline const QK: i32 = 32;

const L = memory.data(QK, 16);            // i8 codes of one block (scalar imatrix path)
const WEIGHT = memory.data(QK * 4, 16);   // f32 weights of one block
const XT = memory.data(QK * 16, 16);      // 4 blocks transposed
const WT = memory.data(QK * 16, 16);
const LT = memory.data(QK * 16, 16);
const S2 = memory.data(16, 16);           // row sums of squares of 4 rows (imatrix path)

/** ggml quantize_row_q4_0_ref / q5_0_ref (scalar): k values (multiple of 32) -> k/32 blocks. */
// @ts-ignore: decorator
@inline function quantize_row_sym32_ref(y: usize, x: usize, k: i32, bits: i32): void {
  const nb = k / QK;
  const nmax: f32 = bits == 4 ? 8 : 16, off: f32 = bits == 4 ? 8.5 : 16.5, top: i32 = bits == 4 ? 15 : 31;
  for (let i = 0; i < nb; i++) {
    let amax: f32 = 0;
    let vmax: f32 = 0;
    for (let j = 0; j < QK; j++) {
      const v = load<f32>(x + (<usize>j << 2));
      if (amax < abs<f32>(v)) {
        amax = abs<f32>(v);
        vmax = v;
      }
    }
    const d: f32 = vmax / -nmax;
    const id: f32 = d != 0 ? <f32>1 / d : 0;
    store<u16>(y, fp32_to_fp16(d));
    let qh: u32 = 0;
    for (let j = 0; j < 16; j++) {
      const x0 = load<f32>(x + (<usize>j << 2)) * id;
      const x1 = load<f32>(x + (<usize>(j + 16) << 2)) * id;
      const xi0 = <u32>min<i32>(top, cvt_f32_i8(x0 + off)) & 0xFF;
      const xi1 = <u32>min<i32>(top, cvt_f32_i8(x1 + off)) & 0xFF;
      qh |= pack_pair32(y + block32_qs(bits, false), j, xi0, xi1, bits);
    }
    if (bits == 5) store<u32>(y + block32_qh(false), qh);
    x += QK << 2;
    y += block32_bytes(bits, false);
  }
}

/**
 * Codes of one block for a finite 1/d: |x * id| <= nmax (+ rounding), so x * id + nmax + 0.5
 * truncates to 0..2 nmax in range (trunc = floor, the argument is > 0) and MIN(2 nmax - 1, .) is an
 * unsigned byte min.
 */
// @ts-ignore: decorator
@inline function sym32_codes(y: usize, x: usize, vid: v128, bits: i32): void {
  const off = f32x4.splat(bits == 4 ? 8.5 : 16.5), top = i8x16.splat(bits == 4 ? 15 : 31);
  const lo = i8x16.min_u(i8x16.narrow_i16x8_u(
    i16x8.narrow_i32x4_s(offset_trunc_x4(v128.load(x, 0), vid, off), offset_trunc_x4(v128.load(x, 16), vid, off)),
    i16x8.narrow_i32x4_s(offset_trunc_x4(v128.load(x, 32), vid, off), offset_trunc_x4(v128.load(x, 48), vid, off))), top);
  const hi = i8x16.min_u(i8x16.narrow_i16x8_u(
    i16x8.narrow_i32x4_s(offset_trunc_x4(v128.load(x, 64), vid, off), offset_trunc_x4(v128.load(x, 80), vid, off)),
    i16x8.narrow_i32x4_s(offset_trunc_x4(v128.load(x, 96), vid, off), offset_trunc_x4(v128.load(x, 112), vid, off))), top);
  pack_codes32(y + block32_qs(bits, false), y + block32_qh(false), lo, hi, bits);
}

/**
 * Codes of one block for any id: 1/d overflowed (|max| < ~2^-125 / 2^-124) gives x * inf + nmax + 0.5
 * = +-inf or NaN, which x86's float->int8 conversion (cvt_f32_i8) turns into 0, so every code is 0.
 */
// @ts-ignore: decorator
@inline function sym32_codes_any(y: usize, x: usize, id: f32, bits: i32): void {
  if (id - id == 0) sym32_codes(y, x, f32x4.splat(id), bits);
  else {
    if (bits == 5) store<u32>(y + block32_qh(false), 0);
    v128.store(y + block32_qs(bits, false), i8x16.splat(0));
  }
}

/** Codes of 4 consecutive blocks, lane k of id = 1/d of block k; fin: every lane of id is finite. */
// @ts-ignore: decorator
@inline function sym32_codes4(y: usize, x: usize, id: v128, fin: bool, bits: i32): void {
  const B = block32_bytes(bits, false);
  if (fin) {
    sym32_codes(y, x, v128.shuffle<u32>(id, id, 0, 0, 0, 0), bits);
    sym32_codes(y + B, x + 128, v128.shuffle<u32>(id, id, 1, 1, 1, 1), bits);
    sym32_codes(y + 2 * B, x + 256, v128.shuffle<u32>(id, id, 2, 2, 2, 2), bits);
    sym32_codes(y + 3 * B, x + 384, v128.shuffle<u32>(id, id, 3, 3, 3, 3), bits);
  } else {
    sym32_codes_any(y, x, f32x4.extract_lane(id, 0), bits);
    sym32_codes_any(y + B, x + 128, f32x4.extract_lane(id, 1), bits);
    sym32_codes_any(y + 2 * B, x + 256, f32x4.extract_lane(id, 2), bits);
    sym32_codes_any(y + 3 * B, x + 384, f32x4.extract_lane(id, 3), bits);
  }
}

/**
 * SIMD twin of quantize_row_sym32_ref. 4 blocks per step: the blocks' signed absolute maxima are
 * reduced into one vector, so d, 1/d and the fp16 scales are computed once for 4 blocks; the codes
 * (block by block, 8 x f32x4) of each group of 4 are written one step later, after the next group's
 * reduction, so the CPU overlaps the streaming loads with the code arithmetic on data still in L1.
 * One block per step for the nb % 4 tail.
 */
// @ts-ignore: decorator
@inline function quantize_row_sym32(y: usize, x: usize, k: i32, bits: i32): void {
  const nb = k / QK;
  const B = block32_bytes(bits, false);
  const nmax: f32 = bits == 4 ? 8 : 16;
  const zero = f32x4.splat(0);
  let i = 0;
  let pid = zero;
  let pfin = true;
  let nacc = zero; // fused non-finite check: lane sums of the row (finite_flag.ts)
  for (; i + 4 <= nb; i += 4) {
    nacc = f32x4.add(nacc, f32x4.add(f32x4.add(sum32(x), sum32(x + 128)), f32x4.add(sum32(x + 256), sum32(x + 384))));
    const d = f32x4.div(signed_absmax32_x4(x), f32x4.splat(-nmax));
    const id = v128.andnot(f32x4.div(f32x4.splat(1), d), f32x4.eq(d, zero));
    const h = fp32x4_to_fp16x4(d);
    store<u16>(y, <u16>i32x4.extract_lane(h, 0));
    store<u16>(y + B, <u16>i32x4.extract_lane(h, 1));
    store<u16>(y + 2 * B, <u16>i32x4.extract_lane(h, 2));
    store<u16>(y + 3 * B, <u16>i32x4.extract_lane(h, 3));
    if (i > 0) sym32_codes4(y - 4 * B, x - 512, pid, pfin, bits);
    pid = id;
    pfin = i32x4.all_true(f32x4.eq(f32x4.sub(id, id), zero));
    x += 4 * (QK << 2);
    y += 4 * B;
  }
  if (i > 0) sym32_codes4(y - 4 * B, x - 512, pid, pfin, bits);
  for (; i < nb; i++) {
    nacc = f32x4.add(nacc, sum32(x));
    const v0 = v128.load(x), v1 = v128.load(x, 16), v2 = v128.load(x, 32), v3 = v128.load(x, 48);
    const v4 = v128.load(x, 64), v5 = v128.load(x, 80), v6 = v128.load(x, 96), v7 = v128.load(x, 112);
    const vmax = signed_absmax32(x, v0, v1, v2, v3, v4, v5, v6, v7);
    const d: f32 = vmax / -nmax;
    const id: f32 = d != 0 ? <f32>1 / d : 0;
    store<u16>(y, fp32_to_fp16(d));
    sym32_codes_any(y, x, id, bits);
    x += QK << 2;
    y += B;
  }
  nf_note_sum(nacc);
}

// One (non-inline) instantiation of each row kernel per width: q4_0.ts / q5_0.ts export them as
// quantize_row_q4_0(_ref) / quantize_row_q5_0(_ref), and the chunk APIs call them row by row.
export function quantize_row_sym32_ref_b4(y: usize, x: usize, k: i32): void { quantize_row_sym32_ref(y, x, k, 4); }
export function quantize_row_sym32_ref_b5(y: usize, x: usize, k: i32): void { quantize_row_sym32_ref(y, x, k, 5); }
export function quantize_row_sym32_b4(y: usize, x: usize, k: i32): void { quantize_row_sym32(y, x, k, 4); }
export function quantize_row_sym32_b5(y: usize, x: usize, k: i32): void { quantize_row_sym32(y, x, k, 5); }

/** One block of the imatrix path, scalar (make_qx_quants with the given weights). */
// @ts-ignore: decorator
@inline function sym32_imat_block(y: usize, xb: usize, qw: usize, sigma2: f32, bits: i32): void {
  for (let j = 0; j < QK; j++) {
    const v = load<f32>(xb + (<usize>j << 2));
    store<f32>(WEIGHT + (<usize>j << 2), load<f32>(qw + (<usize>j << 2)) * sqrt<f32>(sigma2 + v * v));
  }
  const d = make_qx_quants(QK, bits == 4 ? 8 : 16, xb, L, 1, WEIGHT);
  store<u16>(y, fp32_to_fp16(d));
  pack_codes32_ref(y + block32_qs(bits, false), y + block32_qh(false), L, bits);
}

/** ggml quantize_row_q4_0_impl / q5_0_impl with an imatrix, scalar, one row. */
// @ts-ignore: decorator
@inline function sym32_row_imat_ref(y: usize, x: usize, n: i32, qw: usize, bits: i32): void {
  const sigma2 = row_sigma2(x, n);
  const nb = n / QK;
  for (let ib = 0; ib < nb; ib++) {
    sym32_imat_block(y + <usize>ib * block32_bytes(bits, false), x + (<usize>(ib * QK) << 2), qw + (<usize>(ib * QK) << 2), sigma2, bits);
  }
}

/** SIMD twin: four blocks per make_qx_quants_x4 call (one block per lane), scalar tail. */
// @ts-ignore: decorator
@inline function sym32_row_imat(y: usize, x: usize, n: i32, qw: usize, sigma2: f32, bits: i32): void {
  const B = block32_bytes(bits, false);
  const vs = f32x4.splat(sigma2);
  const nb = n / QK;
  let ib = 0;
  for (; ib + 4 <= nb; ib += 4) {
    const xs = x + (<usize>(ib * QK) << 2), ws = qw + (<usize>(ib * QK) << 2);
    for (let r: usize = 0; r < 32; r += 4) {
      transpose4x4(XT + (r << 4), xs + (r << 2), 128);
      transpose4x4(WT + (r << 4), ws + (r << 2), 128);
    }
    for (let r: usize = 0; r < 32; r++) {
      const xv = v128.load(XT + (r << 4));
      v128.store(WT + (r << 4), f32x4.mul(v128.load(WT + (r << 4)), f32x4.sqrt(f32x4.add(vs, f32x4.mul(xv, xv)))));
    }
    const d = make_qx_quants_x4(QK, bits == 4 ? 8 : 16, XT, WT, LT);
    const yb = y + <usize>ib * B;
    store<u16>(yb, fp32_to_fp16(f32x4.extract_lane(d, 0)));
    store<u16>(yb + B, fp32_to_fp16(f32x4.extract_lane(d, 1)));
    store<u16>(yb + 2 * B, fp32_to_fp16(f32x4.extract_lane(d, 2)));
    store<u16>(yb + 3 * B, fp32_to_fp16(f32x4.extract_lane(d, 3)));
    // codes (row r, lane k = code r of block k) -> per block: transpose each 4x4 tile
    // (XT is free again): XT + 64*(r/4) + 16*k holds codes r..r+3 of block k.
    for (let r: usize = 0; r < 32; r += 4) transpose4x4(XT + (r << 4), LT + (r << 4), 16);
    for (let kk: usize = 0; kk < 4; kk++) {
      const o = XT + (kk << 4);
      const lo = i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_u(v128.load(o), v128.load(o, 64)),
        i16x8.narrow_i32x4_u(v128.load(o, 128), v128.load(o, 192)));
      const hi = i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_u(v128.load(o, 256), v128.load(o, 320)),
        i16x8.narrow_i32x4_u(v128.load(o, 384), v128.load(o, 448)));
      const yk = yb + kk * B;
      pack_codes32(yk + block32_qs(bits, false), yk + block32_qh(false), lo, hi, bits);
    }
  }
  for (; ib < nb; ib++) {
    sym32_imat_block(y + <usize>ib * B, x + (<usize>(ib * QK) << 2), qw + (<usize>(ib * QK) << 2), sigma2, bits);
  }
}

/** Chunk API (ggml quantize_q4_0 / q5_0), SIMD. imatrix: n_per_row f32 or 0. Returns bytes written. */
// @ts-ignore: decorator
@inline export function quantize_sym32(y: usize, x: usize, nrows: i32, n_per_row: i32, imatrix: usize, bits: i32): usize {
  const row_size = <usize>(n_per_row / QK) * block32_bytes(bits, false);
  // row by row (no i32 overflow of nrows * n_per_row; blocks never straddle rows)
  if (!imatrix) {
    for (let r = 0; r < nrows; r++) {
      const yr = y + <usize>r * row_size, xr = x + ((<usize>r * <usize>n_per_row) << 2);
      if (bits == 4) quantize_row_sym32_b4(yr, xr, n_per_row);
      else quantize_row_sym32_b5(yr, xr, n_per_row);
    }
    return <usize>nrows * row_size;
  }
  // the row statistic sigma2 (a sequential sum over the whole row) for four rows at once, lane k
  // of sumsq_x4 (kept @S2) for row 4 g + k; the nrows % 4 tail rows one by one
  const stride = <usize>n_per_row << 2;
  const fn = <f32>n_per_row;
  const nrows4 = nrows & ~3;
  for (let r = 0; r < nrows; r++) {
    const xr = x + <usize>r * stride;
    if ((r & 3) == 0 && r < nrows4) v128.store(S2, sumsq_x4(xr, stride, n_per_row));
    const sigma2: f32 = r < nrows4 ? load<f32>(S2 + (<usize>(r & 3) << 2)) / fn : row_sigma2(xr, n_per_row);
    nf_note_sum(f32x4.splat(sigma2)); // fused non-finite check: NaN/Inf make the row's sum of squares non-finite
    sym32_row_imat(y + <usize>r * row_size, xr, n_per_row, imatrix, sigma2, bits);
  }
  return <usize>nrows * row_size;
}

/** Chunk API, scalar twin of quantize_sym32. */
// @ts-ignore: decorator
@inline export function quantize_sym32_ref(y: usize, x: usize, nrows: i32, n_per_row: i32, imatrix: usize, bits: i32): usize {
  const row_size = <usize>(n_per_row / QK) * block32_bytes(bits, false);
  // row by row (no i32 overflow of nrows * n_per_row; blocks never straddle rows)
  for (let r = 0; r < nrows; r++) {
    const yr = y + <usize>r * row_size, xr = x + ((<usize>r * <usize>n_per_row) << 2);
    nf_note_ref(xr, n_per_row);
    if (!imatrix) {
      if (bits == 4) quantize_row_sym32_ref_b4(yr, xr, n_per_row);
      else quantize_row_sym32_ref_b5(yr, xr, n_per_row);
    } else sym32_row_imat_ref(yr, xr, n_per_row, imatrix, bits);
  }
  return <usize>nrows * row_size;
}
