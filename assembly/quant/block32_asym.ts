// The q4_1 / q5_1 quantizers (32 values -> fp16 d, fp16 m, codes; see q4_1.ts and q5_1.ts, which hold
// the exported kernels), written once for both widths. nmax = 2^bits - 1 (15 / 31).
// imatrix = 0: ggml quantize_row_q4_1_ref / q5_1_ref: d = (max - min)/nmax,
//   q4_1: q = MIN(15, (int8_t)((x - min)/d + 0.5)), q5_1: q = (uint8_t)((x - min)/d + 0.5).
// imatrix given: ggml quantize_row_q4_1_impl / q5_1_impl (make_qkx3_quants, weights from the
//   whole-row sigma2).
// Every function is @inline with a compile-time constant `bits` (4 or 5), except the rare-path
// asym32_codes_any (runtime `bits`, shared by both) and fix_zero_extremes.
import { fp32_to_fp16, fp32x4_to_fp16x4 } from "../inline/f16";
import { minmax32_pairs, min4_of_pairs, max4_of_pairs, first_equal32, code_floor, small_f32_to_i32 } from "../inline/minmax";
import { cvtt_i32, cvtt_i32x4 } from "../inline/asym";
import { block32_bytes, block32_qs, pack_pair32, pack_codes32, pack_codes32_ref } from "../inline/block32";
import { make_qkx2_quants, qk_the_min } from "./common_asym";
import { make_qkx_x4_blocks32, make_qkx_x8_blocks32, row_sigma2 } from "./common_asym_simd";
import { sum32, nf_note_sum, nf_note_ref } from "./finite_flag";

// @ts-ignore: decorator
@inline const QK: i32 = 32;

const WEIGHTS = memory.data(128, 16);
const L_BUF = memory.data(128, 16);
const LAUX = memory.data(32, 16);
const SCRATCH = memory.data(512, 16);
const MM = memory.data(32, 16); // block minima f32x4, maxima f32x4 (4-block step, zero fix-up)

/** Scalar code of t = (x - min) * id, x86 semantics: q4_1 MIN(15, (int8_t)(t + 0.5)), q5_1 (uint8_t)(t + 0.5). */
// @ts-ignore: decorator
@inline function asym32_code(t: f32, bits: i32): u32 {
  return bits == 4 ? <u32>min<i32>(15, <i32><i8>cvtt_i32(t + <f32>0.5)) : <u32><u8>cvtt_i32(t + <f32>0.5);
}

// @ts-ignore: decorator
@inline function quantize_row_asym32_ref(y: usize, x: usize, k: i32, bits: i32): void {
  const nb = k / QK;
  const nmax: f32 = bits == 4 ? 15 : 31;
  for (let i = 0; i < nb; i++) {
    let mn: f32 = f32.MAX_VALUE, mx: f32 = -f32.MAX_VALUE;
    for (let j = 0; j < QK; j++) {
      const v = load<f32>(x + (<usize>j << 2));
      if (v < mn) mn = v;
      if (v > mx) mx = v;
    }
    const d: f32 = (mx - mn) / nmax;
    const id: f32 = d != 0 ? <f32>1 / d : 0;
    store<u16>(y, fp32_to_fp16(d));
    store<u16>(y, fp32_to_fp16(mn), 2);
    let qh: u32 = 0;
    for (let j = 0; j < 16; j++) {
      const x0: f32 = (load<f32>(x + (<usize>j << 2)) - mn) * id;
      const x1: f32 = (load<f32>(x + (<usize>(j + 16) << 2)) - mn) * id;
      qh |= pack_pair32(y + block32_qs(bits, true), j, asym32_code(x0, bits), asym32_code(x1, bits), bits);
    }
    if (bits == 5) store<u32>(y, qh, 4);
    x += QK << 2;
    y += block32_bytes(bits, true);
  }
}

/** 16 codes (elements at x .. x + 63 bytes) for any finite input, as bytes; see asym32_codes_any. */
// @ts-ignore: decorator
@inline function codes16_any(x: usize, m: v128, vid: v128, bits: i32): v128 {
  const half = f32x4.splat(0.5);
  let q0 = cvtt_i32x4(f32x4.add(f32x4.mul(f32x4.sub(v128.load(x, 0), m), vid), half));
  let q1 = cvtt_i32x4(f32x4.add(f32x4.mul(f32x4.sub(v128.load(x, 16), m), vid), half));
  let q2 = cvtt_i32x4(f32x4.add(f32x4.mul(f32x4.sub(v128.load(x, 32), m), vid), half));
  let q3 = cvtt_i32x4(f32x4.add(f32x4.mul(f32x4.sub(v128.load(x, 48), m), vid), half));
  if (bits == 4) {
    const fifteen = i32x4.splat(15);
    q0 = i32x4.min_s(q0, fifteen);
    q1 = i32x4.min_s(q1, fifteen);
    q2 = i32x4.min_s(q2, fifteen);
    q3 = i32x4.min_s(q3, fifteen);
  }
  const b = i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_s(q0, q1), i16x8.narrow_i32x4_s(q2, q3));
  return bits == 4 ? b : v128.and(b, i8x16.splat(0x1F));
}

/** Codes of one block, x86 semantics for every finite input (1/d or max - min may be infinite). */
function asym32_codes_any(y: usize, x: usize, mn: f32, id: f32, bits: i32): void {
  const m = f32x4.splat(mn), vid = f32x4.splat(id);
  if (bits == 4) pack_codes32(y + 4, 0, codes16_any(x, m, vid, 4), codes16_any(x + 64, m, vid, 4), 4);
  else pack_codes32(y + 8, y + 4, codes16_any(x, m, vid, 5), codes16_any(x + 64, m, vid, 5), 5);
}

/**
 * Codes of one block when max - min and 1/d are finite: then 0 <= (x - min) * id <= nmax * (1 + 2^-21),
 * so trunc(t + 0.5) = floor(t + 0.5) is 0..nmax (ggml's MIN(15, .) never bites). 4 bits: the packed
 * byte code_j + 16 * code_{j+16} is computed exactly in f32.
 */
// @ts-ignore: decorator
@inline function asym32_codes_fast(y: usize, x: usize, m: v128, vid: v128, bits: i32): void {
  if (bits == 4) {
    const s16 = f32x4.splat(16);
    const c0 = small_f32_to_i32(f32x4.add(code_floor(v128.load(x, 0), m, vid), f32x4.mul(code_floor(v128.load(x, 64), m, vid), s16)));
    const c1 = small_f32_to_i32(f32x4.add(code_floor(v128.load(x, 16), m, vid), f32x4.mul(code_floor(v128.load(x, 80), m, vid), s16)));
    const c2 = small_f32_to_i32(f32x4.add(code_floor(v128.load(x, 32), m, vid), f32x4.mul(code_floor(v128.load(x, 96), m, vid), s16)));
    const c3 = small_f32_to_i32(f32x4.add(code_floor(v128.load(x, 48), m, vid), f32x4.mul(code_floor(v128.load(x, 112), m, vid), s16)));
    v128.store(y + 4, i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_s(c0, c1), i16x8.narrow_i32x4_s(c2, c3)));
  } else {
    const lo = i8x16.narrow_i16x8_u(
      i16x8.narrow_i32x4_s(small_f32_to_i32(code_floor(v128.load(x, 0), m, vid)), small_f32_to_i32(code_floor(v128.load(x, 16), m, vid))),
      i16x8.narrow_i32x4_s(small_f32_to_i32(code_floor(v128.load(x, 32), m, vid)), small_f32_to_i32(code_floor(v128.load(x, 48), m, vid))));
    const hi = i8x16.narrow_i16x8_u(
      i16x8.narrow_i32x4_s(small_f32_to_i32(code_floor(v128.load(x, 64), m, vid)), small_f32_to_i32(code_floor(v128.load(x, 80), m, vid))),
      i16x8.narrow_i32x4_s(small_f32_to_i32(code_floor(v128.load(x, 96), m, vid)), small_f32_to_i32(code_floor(v128.load(x, 112), m, vid))));
    pack_codes32(y + 8, y + 4, lo, hi, 5);
  }
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
@inline function asym32_block(y: usize, x: usize, bits: i32): void {
  const r = minmax32_pairs(x);
  const mn = first_equal32(x, f32x4.extract_lane(f32x4.pmin(r, v128.shuffle<u32>(r, r, 1, 1, 1, 1)), 0));
  const mx = first_equal32(x, f32x4.extract_lane(f32x4.pmax(r, v128.shuffle<u32>(r, r, 3, 3, 3, 3)), 2));
  const d: f32 = (mx - mn) / <f32>(bits == 4 ? 15 : 31);
  const id: f32 = d != 0 ? <f32>1 / d : 0;
  store<u16>(y, fp32_to_fp16(d));
  store<u16>(y, fp32_to_fp16(mn), 2);
  if (d < f32.POSITIVE_INFINITY && id < f32.POSITIVE_INFINITY) asym32_codes_fast(y, x, f32x4.splat(mn), f32x4.splat(id), bits);
  else asym32_codes_any(y, x, mn, id, bits);
}

/**
 * SIMD quantize_row_q4_1_ref / q5_1_ref: 4 blocks per step — minima/maxima of the 4 blocks are reduced
 * into one vector each, so d, 1/d and both fp16 conversions run once for 4 blocks; then the codes per block.
 */
// @ts-ignore: decorator
@inline function quantize_row_asym32_simd(y: usize, x: usize, k: i32, bits: i32): void {
  const nb = k / QK;
  const B = block32_bytes(bits, true);
  const zero = f32x4.splat(0), inf = f32x4.splat(f32.POSITIVE_INFINITY);
  let i = 0;
  let nacc = zero; // fused non-finite check: lane sums of the row (finite_flag.ts)
  for (; i + 4 <= nb; i += 4) {
    nacc = f32x4.add(nacc, f32x4.add(f32x4.add(sum32(x), sum32(x + 128)), f32x4.add(sum32(x + 256), sum32(x + 384))));
    const r0 = minmax32_pairs(x), r1 = minmax32_pairs(x + 128), r2 = minmax32_pairs(x + 256), r3 = minmax32_pairs(x + 384);
    let mn = min4_of_pairs(r0, r1, r2, r3), mx = max4_of_pairs(r0, r1, r2, r3);
    if (v128.any_true(v128.or(f32x4.eq(mn, zero), f32x4.eq(mx, zero)))) {
      v128.store(MM, mn);
      v128.store(MM, mx, 16);
      fix_zero_extremes(x);
      mn = v128.load(MM);
      mx = v128.load(MM, 16);
    }
    const d = f32x4.div(f32x4.sub(mx, mn), f32x4.splat(<f32>(bits == 4 ? 15 : 31)));
    const id = v128.andnot(f32x4.div(f32x4.splat(1), d), f32x4.eq(d, zero));
    const h = v128.or(fp32x4_to_fp16x4(d), i32x4.shl(fp32x4_to_fp16x4(mn), 16));
    store<u32>(y, i32x4.extract_lane(h, 0));
    store<u32>(y + B, i32x4.extract_lane(h, 1));
    store<u32>(y + 2 * B, i32x4.extract_lane(h, 2));
    store<u32>(y + 3 * B, i32x4.extract_lane(h, 3));
    // fast codes need finite d and 1/d: max - min overflowing gives id = 0 and (x - min) * 0 = NaN
    // (whose sign, hence the magic-number result, is platform-dependent); d subnormal gives id = inf
    if (i32x4.all_true(v128.and(f32x4.lt(d, inf), f32x4.lt(id, inf)))) {
      asym32_codes_fast(y, x, v128.shuffle<u32>(mn, mn, 0, 0, 0, 0), v128.shuffle<u32>(id, id, 0, 0, 0, 0), bits);
      asym32_codes_fast(y + B, x + 128, v128.shuffle<u32>(mn, mn, 1, 1, 1, 1), v128.shuffle<u32>(id, id, 1, 1, 1, 1), bits);
      asym32_codes_fast(y + 2 * B, x + 256, v128.shuffle<u32>(mn, mn, 2, 2, 2, 2), v128.shuffle<u32>(id, id, 2, 2, 2, 2), bits);
      asym32_codes_fast(y + 3 * B, x + 384, v128.shuffle<u32>(mn, mn, 3, 3, 3, 3), v128.shuffle<u32>(id, id, 3, 3, 3, 3), bits);
    } else {
      asym32_codes_any(y, x, f32x4.extract_lane(mn, 0), f32x4.extract_lane(id, 0), bits);
      asym32_codes_any(y + B, x + 128, f32x4.extract_lane(mn, 1), f32x4.extract_lane(id, 1), bits);
      asym32_codes_any(y + 2 * B, x + 256, f32x4.extract_lane(mn, 2), f32x4.extract_lane(id, 2), bits);
      asym32_codes_any(y + 3 * B, x + 384, f32x4.extract_lane(mn, 3), f32x4.extract_lane(id, 3), bits);
    }
    x += 4 * (QK << 2);
    y += 4 * B;
  }
  for (; i < nb; i++) {
    nacc = f32x4.add(nacc, sum32(x));
    asym32_block(y, x, bits);
    x += QK << 2;
    y += B;
  }
  nf_note_sum(nacc);
}

/** d, m = -the_min and the codes L of one imatrix block. */
// @ts-ignore: decorator
@inline function store_block_asym32(y: usize, d: f32, the_min: f32, L: usize, bits: i32): void {
  store<u16>(y, fp32_to_fp16(d));
  store<u16>(y, fp32_to_fp16(-the_min), 2);
  pack_codes32_ref(y + block32_qs(bits, true), y + 4, L, bits);
}

/** One imatrix block, scalar: weights from sigma2, make_qkx2_quants search, store. */
// @ts-ignore: decorator
@inline function asym32_impl_block(y: usize, xb: usize, qb: usize, sigma2: f32, bits: i32): void {
  for (let j = 0; j < 32; j++) {
    const v = load<f32>(xb + (<usize>j << 2));
    store<f32>(WEIGHTS + (<usize>j << 2), load<f32>(qb + (<usize>j << 2)) * sqrt<f32>(sigma2 + v * v));
  }
  const d = make_qkx2_quants(32, bits == 4 ? 15 : 31, xb, WEIGHTS, L_BUF, LAUX, <f32>-0.9, <f32>0.05, 36, false);
  store_block_asym32(y, d, qk_the_min, L_BUF, bits);
}

/** ggml quantize_row_q4_1_impl / q5_1_impl with importance weights qw (scalar). */
// @ts-ignore: decorator
@inline function quantize_row_asym32_impl_ref(y: usize, x: usize, n_per_row: i32, qw: usize, bits: i32): void {
  let sum_x2: f32 = 0;
  for (let j = 0; j < n_per_row; j++) {
    const v = load<f32>(x + (<usize>j << 2));
    sum_x2 += v * v;
  }
  const sigma2: f32 = sum_x2 / <f32>n_per_row;
  const nb = n_per_row / QK;
  for (let ib = 0; ib < nb; ib++) {
    asym32_impl_block(y + <usize>ib * block32_bytes(bits, true), x + (<usize>ib << 7), qw + (<usize>ib << 7), sigma2, bits);
  }
}

/** SIMD quantize_row_q4_1_impl / q5_1_impl: the block searches run one block per lane, 8 blocks per step (then 4), tail blocks scalar. */
// @ts-ignore: decorator
@inline function quantize_row_asym32_impl_simd(y: usize, x: usize, n_per_row: i32, qw: usize, bits: i32): void {
  const sigma2 = row_sigma2(x, n_per_row);
  nf_note_sum(f32x4.splat(sigma2)); // fused non-finite check: NaN/Inf make the row's sum of squares non-finite
  const nb = n_per_row / QK;
  const B = block32_bytes(bits, true);
  const nmax = bits == 4 ? 15 : 31;
  let ib = 0;
  for (; ib + 8 <= nb; ib += 8) {
    // results: scales f32[8] @SCRATCH, the_min f32[8] @SCRATCH+32, L u8[8][32] @SCRATCH+64
    make_qkx_x8_blocks32(x + (<usize>ib << 7), qw + (<usize>ib << 7), sigma2, nmax, SCRATCH);
    for (let g = 0; g < 8; g++) {
      store_block_asym32(y + <usize>(ib + g) * B, load<f32>(SCRATCH + (<usize>g << 2)),
        load<f32>(SCRATCH + 32 + (<usize>g << 2)), SCRATCH + 64 + (<usize>g << 5), bits);
    }
  }
  for (; ib + 4 <= nb; ib += 4) {
    // results: scales f32x4 @SCRATCH, the_min f32x4 @SCRATCH+16, L u8[4][32] @SCRATCH+32
    make_qkx_x4_blocks32(x + (<usize>ib << 7), qw + (<usize>ib << 7), sigma2, nmax, SCRATCH);
    for (let g = 0; g < 4; g++) {
      store_block_asym32(y + <usize>(ib + g) * B, load<f32>(SCRATCH + (<usize>g << 2)),
        load<f32>(SCRATCH + 16 + (<usize>g << 2)), SCRATCH + 32 + (<usize>g << 5), bits);
    }
  }
  for (; ib < nb; ib++) {
    asym32_impl_block(y + <usize>ib * B, x + (<usize>ib << 7), qw + (<usize>ib << 7), sigma2, bits);
  }
}

/**
 * Chunk API (ggml quantize_q4_1 / q5_1, out first): scalar (simd = false) or SIMD (simd = true,
 * bit-identical). imatrix: 0 or n_per_row f32. Returns bytes written.
 */
// @ts-ignore: decorator
@inline export function quantize_asym32(dst: usize, src: usize, nrows: i32, n_per_row: i32, imatrix: usize, bits: i32, simd: bool): usize {
  const row_size = <usize>(n_per_row / QK) * block32_bytes(bits, true);
  if (!simd) for (let r = 0; r < nrows; r++) nf_note_ref(src + ((<usize>r * <usize>n_per_row) << 2), n_per_row);
  if (!imatrix) {
    if (simd) quantize_row_asym32_simd(dst, src, nrows * n_per_row, bits);
    else quantize_row_asym32_ref(dst, src, nrows * n_per_row, bits);
  } else {
    for (let r = 0; r < nrows; r++) {
      const yr = dst + <usize>r * row_size, xr = src + (<usize>r * <usize>n_per_row << 2);
      if (simd) quantize_row_asym32_impl_simd(yr, xr, n_per_row, imatrix, bits);
      else quantize_row_asym32_impl_ref(yr, xr, n_per_row, imatrix, bits);
    }
  }
  return <usize>nrows * row_size;
}
