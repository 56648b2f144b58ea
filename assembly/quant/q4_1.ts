// q4_1: 32 values -> fp16 d, fp16 m (minimum), 16 bytes of nibbles (20 bytes, 5 bits per weight).
// imatrix = 0: ggml quantize_row_q4_1_ref (d = (max - min)/15, q = min(15, trunc((x - min)/d + 0.5))).
// imatrix given: ggml quantize_row_q4_1_impl (make_qkx3_quants, weights from the whole-row sigma2).
import { fp32_to_fp16, fp16_to_fp32, fp32x4_to_fp16x4 } from "../inline/f16";
import { minmax32_pairs, min4_of_pairs, max4_of_pairs, first_equal32, code_floor, small_f32_to_i32 } from "../inline/minmax";
import { cvtt_i32, cvtt_i32x4 } from "../inline/asym";
import { make_qkx2_quants, qk_the_min } from "./common_asym";
import { make_qkx_x4_blocks32, make_qkx_x8_blocks32, row_sigma2 } from "./common_asym_simd";

// @ts-ignore: decorator
@inline const QK4_1: i32 = 32;
// @ts-ignore: decorator
@inline const BLOCK_Q4_1: usize = 20;

const WEIGHTS = memory.data(128, 16);
const L_BUF = memory.data(128, 16);
const LAUX = memory.data(32, 16);
const SCRATCH = memory.data(512, 16);
const MM = memory.data(32, 16); // block minima f32x4, maxima f32x4 (4-block step, zero fix-up)

function quantize_row_q4_1_ref(y: usize, x: usize, k: i32): void {
  const nb = k / QK4_1;
  for (let i = 0; i < nb; i++) {
    let mn: f32 = f32.MAX_VALUE, mx: f32 = -f32.MAX_VALUE;
    for (let j = 0; j < QK4_1; j++) {
      const v = load<f32>(x + (<usize>j << 2));
      if (v < mn) mn = v;
      if (v > mx) mx = v;
    }
    const d: f32 = (mx - mn) / <f32>15;
    const id: f32 = d != 0 ? <f32>1 / d : 0;
    store<u16>(y, fp32_to_fp16(d));
    store<u16>(y, fp32_to_fp16(mn), 2);
    for (let j = 0; j < 16; j++) {
      const x0: f32 = (load<f32>(x + (<usize>j << 2)) - mn) * id;
      const x1: f32 = (load<f32>(x + (<usize>(j + 16) << 2)) - mn) * id;
      const xi0 = min<i32>(15, <i32><i8>cvtt_i32(x0 + <f32>0.5));
      const xi1 = min<i32>(15, <i32><i8>cvtt_i32(x1 + <f32>0.5));
      store<u8>(y + 4 + j, <u8>(xi0 | (xi1 << 4)));
    }
    x += QK4_1 << 2;
    y += BLOCK_Q4_1;
  }
}

/** Codes of one block, x86 semantics for every finite input (1/d or max - min may be infinite). */
function q4_1_codes_any(y: usize, x: usize, mn: f32, id: f32): void {
  const m = f32x4.splat(mn), vid = f32x4.splat(id), half = f32x4.splat(0.5), fifteen = i32x4.splat(15);
  const q0 = i32x4.min_s(cvtt_i32x4(f32x4.add(f32x4.mul(f32x4.sub(v128.load(x, 0), m), vid), half)), fifteen);
  const q1 = i32x4.min_s(cvtt_i32x4(f32x4.add(f32x4.mul(f32x4.sub(v128.load(x, 16), m), vid), half)), fifteen);
  const q2 = i32x4.min_s(cvtt_i32x4(f32x4.add(f32x4.mul(f32x4.sub(v128.load(x, 32), m), vid), half)), fifteen);
  const q3 = i32x4.min_s(cvtt_i32x4(f32x4.add(f32x4.mul(f32x4.sub(v128.load(x, 48), m), vid), half)), fifteen);
  const q4 = i32x4.min_s(cvtt_i32x4(f32x4.add(f32x4.mul(f32x4.sub(v128.load(x, 64), m), vid), half)), fifteen);
  const q5 = i32x4.min_s(cvtt_i32x4(f32x4.add(f32x4.mul(f32x4.sub(v128.load(x, 80), m), vid), half)), fifteen);
  const q6 = i32x4.min_s(cvtt_i32x4(f32x4.add(f32x4.mul(f32x4.sub(v128.load(x, 96), m), vid), half)), fifteen);
  const q7 = i32x4.min_s(cvtt_i32x4(f32x4.add(f32x4.mul(f32x4.sub(v128.load(x, 112), m), vid), half)), fifteen);
  const lo = i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_s(q0, q1), i16x8.narrow_i32x4_s(q2, q3));
  const hi = i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_s(q4, q5), i16x8.narrow_i32x4_s(q6, q7));
  v128.store(y + 4, v128.or(lo, i8x16.shl(hi, 4)));
}

/**
 * Codes of one block when max - min and 1/d are finite: then 0 <= (x - min) * id <= 15 * (1 + 2^-21),
 * so trunc(t + 0.5) = floor(t + 0.5) is 0..15 (ggml's MIN(15, .) never bites) and the packed byte
 * code_j + 16 * code_{j+16} is computed exactly in f32.
 */
// @ts-ignore: decorator
@inline function q4_1_codes_fast(y: usize, x: usize, m: v128, vid: v128): void {
  const s16 = f32x4.splat(16);
  const c0 = small_f32_to_i32(f32x4.add(code_floor(v128.load(x, 0), m, vid), f32x4.mul(code_floor(v128.load(x, 64), m, vid), s16)));
  const c1 = small_f32_to_i32(f32x4.add(code_floor(v128.load(x, 16), m, vid), f32x4.mul(code_floor(v128.load(x, 80), m, vid), s16)));
  const c2 = small_f32_to_i32(f32x4.add(code_floor(v128.load(x, 32), m, vid), f32x4.mul(code_floor(v128.load(x, 96), m, vid), s16)));
  const c3 = small_f32_to_i32(f32x4.add(code_floor(v128.load(x, 48), m, vid), f32x4.mul(code_floor(v128.load(x, 112), m, vid), s16)));
  v128.store(y + 4, i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_s(c0, c1), i16x8.narrow_i32x4_s(c2, c3)));
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
@inline function q4_1_block(y: usize, x: usize): void {
  const r = minmax32_pairs(x);
  const mn = first_equal32(x, f32x4.extract_lane(f32x4.pmin(r, v128.shuffle<u32>(r, r, 1, 1, 1, 1)), 0));
  const mx = first_equal32(x, f32x4.extract_lane(f32x4.pmax(r, v128.shuffle<u32>(r, r, 3, 3, 3, 3)), 2));
  const d: f32 = (mx - mn) / <f32>15;
  const id: f32 = d != 0 ? <f32>1 / d : 0;
  store<u16>(y, fp32_to_fp16(d));
  store<u16>(y, fp32_to_fp16(mn), 2);
  if (d < f32.POSITIVE_INFINITY && id < f32.POSITIVE_INFINITY) q4_1_codes_fast(y, x, f32x4.splat(mn), f32x4.splat(id));
  else q4_1_codes_any(y, x, mn, id);
}

/**
 * SIMD quantize_row_q4_1_ref: 4 blocks per step — minima/maxima of the 4 blocks are reduced into one
 * vector each, so d, 1/d and both fp16 conversions run once for 4 blocks; then the codes per block.
 */
function quantize_row_q4_1_simd(y: usize, x: usize, k: i32): void {
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
    const d = f32x4.div(f32x4.sub(mx, mn), f32x4.splat(15));
    const id = v128.andnot(f32x4.div(f32x4.splat(1), d), f32x4.eq(d, zero));
    const h = v128.or(fp32x4_to_fp16x4(d), i32x4.shl(fp32x4_to_fp16x4(mn), 16));
    store<u32>(y, i32x4.extract_lane(h, 0));
    store<u32>(y + BLOCK_Q4_1, i32x4.extract_lane(h, 1));
    store<u32>(y + 2 * BLOCK_Q4_1, i32x4.extract_lane(h, 2));
    store<u32>(y + 3 * BLOCK_Q4_1, i32x4.extract_lane(h, 3));
    // fast codes need finite d and 1/d: max - min overflowing gives id = 0 and (x - min) * 0 = NaN
    // (whose sign, hence the magic-number result, is platform-dependent); d subnormal gives id = inf
    if (i32x4.all_true(v128.and(f32x4.lt(d, inf), f32x4.lt(id, inf)))) {
      q4_1_codes_fast(y, x, v128.shuffle<u32>(mn, mn, 0, 0, 0, 0), v128.shuffle<u32>(id, id, 0, 0, 0, 0));
      q4_1_codes_fast(y + BLOCK_Q4_1, x + 128, v128.shuffle<u32>(mn, mn, 1, 1, 1, 1), v128.shuffle<u32>(id, id, 1, 1, 1, 1));
      q4_1_codes_fast(y + 2 * BLOCK_Q4_1, x + 256, v128.shuffle<u32>(mn, mn, 2, 2, 2, 2), v128.shuffle<u32>(id, id, 2, 2, 2, 2));
      q4_1_codes_fast(y + 3 * BLOCK_Q4_1, x + 384, v128.shuffle<u32>(mn, mn, 3, 3, 3, 3), v128.shuffle<u32>(id, id, 3, 3, 3, 3));
    } else {
      q4_1_codes_any(y, x, f32x4.extract_lane(mn, 0), f32x4.extract_lane(id, 0));
      q4_1_codes_any(y + BLOCK_Q4_1, x + 128, f32x4.extract_lane(mn, 1), f32x4.extract_lane(id, 1));
      q4_1_codes_any(y + 2 * BLOCK_Q4_1, x + 256, f32x4.extract_lane(mn, 2), f32x4.extract_lane(id, 2));
      q4_1_codes_any(y + 3 * BLOCK_Q4_1, x + 384, f32x4.extract_lane(mn, 3), f32x4.extract_lane(id, 3));
    }
    x += 4 * (QK4_1 << 2);
    y += 4 * BLOCK_Q4_1;
  }
  for (; i < nb; i++) {
    q4_1_block(y, x);
    x += QK4_1 << 2;
    y += BLOCK_Q4_1;
  }
}

// @ts-ignore: decorator
@inline function store_block_q4_1(y: usize, d: f32, the_min: f32, L: usize): void {
  store<u16>(y, fp32_to_fp16(d));
  store<u16>(y, fp32_to_fp16(-the_min), 2);
  for (let j = 0; j < 16; j++) store<u8>(y + 4 + j, load<u8>(L + j) | (load<u8>(L + j + 16) << 4));
}

/** ggml quantize_row_q4_1_impl with importance weights qw (scalar). */
function quantize_row_q4_1_impl_ref(y: usize, x: usize, n_per_row: i32, qw: usize): void {
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
    const d = make_qkx2_quants(32, 15, xb, WEIGHTS, L_BUF, LAUX, <f32>-0.9, <f32>0.05, 36, false);
    store_block_q4_1(y + <usize>ib * BLOCK_Q4_1, d, qk_the_min, L_BUF);
  }
}

/** SIMD quantize_row_q4_1_impl: the block searches run one block per lane, 8 blocks per step (then 4), tail blocks scalar. */
function quantize_row_q4_1_impl_simd(y: usize, x: usize, n_per_row: i32, qw: usize): void {
  const sigma2 = row_sigma2(x, n_per_row);
  const nb = n_per_row / QK4_1;
  let ib = 0;
  for (; ib + 8 <= nb; ib += 8) {
    // results: scales f32[8] @SCRATCH, the_min f32[8] @SCRATCH+32, L u8[8][32] @SCRATCH+64
    make_qkx_x8_blocks32(x + (<usize>ib << 7), qw + (<usize>ib << 7), sigma2, 15, SCRATCH);
    for (let g = 0; g < 8; g++) {
      store_block_q4_1(y + <usize>(ib + g) * BLOCK_Q4_1, load<f32>(SCRATCH + (<usize>g << 2)),
        load<f32>(SCRATCH + 32 + (<usize>g << 2)), SCRATCH + 64 + (<usize>g << 5));
    }
  }
  for (; ib + 4 <= nb; ib += 4) {
    // results: scales f32x4 @SCRATCH, the_min f32x4 @SCRATCH+16, L u8[4][32] @SCRATCH+32
    make_qkx_x4_blocks32(x + (<usize>ib << 7), qw + (<usize>ib << 7), sigma2, 15, SCRATCH);
    for (let g = 0; g < 4; g++) {
      store_block_q4_1(y + <usize>(ib + g) * BLOCK_Q4_1, load<f32>(SCRATCH + (<usize>g << 2)),
        load<f32>(SCRATCH + 16 + (<usize>g << 2)), SCRATCH + 32 + (<usize>g << 5));
    }
  }
  for (; ib < nb; ib++) {
    const xb = x + (<usize>ib << 7), qb = qw + (<usize>ib << 7);
    for (let j = 0; j < 32; j++) {
      const v = load<f32>(xb + (<usize>j << 2));
      store<f32>(WEIGHTS + (<usize>j << 2), load<f32>(qb + (<usize>j << 2)) * sqrt<f32>(sigma2 + v * v));
    }
    const d = make_qkx2_quants(32, 15, xb, WEIGHTS, L_BUF, LAUX, <f32>-0.9, <f32>0.05, 36, false);
    store_block_q4_1(y + <usize>ib * BLOCK_Q4_1, d, qk_the_min, L_BUF);
  }
}

/** Scalar reference (ggml quantize_q4_1 chunk API, out first). imatrix: 0 or n_per_row f32. Returns bytes written. */
export function quantize_q4_1_ref(dst: usize, src: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  const row_size = <usize>(n_per_row / QK4_1) * BLOCK_Q4_1;
  if (!imatrix) {
    quantize_row_q4_1_ref(dst, src, nrows * n_per_row);
  } else {
    for (let r = 0; r < nrows; r++) {
      quantize_row_q4_1_impl_ref(dst + <usize>r * row_size, src + (<usize>r * <usize>n_per_row << 2), n_per_row, imatrix);
    }
  }
  return <usize>nrows * row_size;
}

/** SIMD kernel, bit-identical to quantize_q4_1_ref. */
export function quantize_q4_1(dst: usize, src: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  const row_size = <usize>(n_per_row / QK4_1) * BLOCK_Q4_1;
  if (!imatrix) {
    quantize_row_q4_1_simd(dst, src, nrows * n_per_row);
  } else {
    for (let r = 0; r < nrows; r++) {
      quantize_row_q4_1_impl_simd(dst + <usize>r * row_size, src + (<usize>r * <usize>n_per_row << 2), n_per_row, imatrix);
    }
  }
  return <usize>nrows * row_size;
}

/** Scalar dequantizer (ggml dequantize_row_q4_1): k values (multiple of 32) from k/32 blocks of 20 bytes, x = q * d + m, q = 4-bit code. */
export function dequantize_row_q4_1_ref(dst: usize, src: usize, k: i32): void {
  const nb = k / QK4_1;
  let y = dst, x = src;
  for (let i = 0; i < nb; i++) {
    const d = fp16_to_fp32(load<u16>(x));
    const m = fp16_to_fp32(load<u16>(x, 2));
    for (let j = 0; j < 16; j++) {
      const b = <u32>load<u8>(x + 4 + j);
      store<f32>(y + (<usize>j << 2), <f32>(b & 0xF) * d + m);
      store<f32>(y + (<usize>(j + 16) << 2), <f32>(b >> 4) * d + m);
    }
    x += BLOCK_Q4_1;
    y += QK4_1 << 2;
  }
}

/** SIMD dequantizer, bit-identical to dequantize_row_q4_1_ref (k values, multiple of 32). */
export function dequantize_row_q4_1(dst: usize, src: usize, k: i32): void {
  const nb = k / QK4_1;
  let y = dst, x = src;
  const m4 = i8x16.splat(0xF);
  for (let i = 0; i < nb; i++) {
    const d = f32x4.splat(fp16_to_fp32(load<u16>(x)));
    const m = f32x4.splat(fp16_to_fp32(load<u16>(x, 2)));
    const b = v128.load(x + 4);
    const lo = v128.and(b, m4), hi = i8x16.shr_u(b, 4);
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
    x += BLOCK_Q4_1;
    y += QK4_1 << 2;
  }
}
