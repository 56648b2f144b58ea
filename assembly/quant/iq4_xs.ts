// iq4_xs: 256 values -> fp16 super-scale d, 8 six-bit block scales (scales_h u16 + scales_l 4 bytes) and
// 128 bytes of 4-bit indices into kvalues_iq4nl; value = d * (ls - 32) * T[nibble]. 136 bytes per
// super-block, 4.25 bits per weight.
//
// ggml quantize_iq4_xs = quantize_row_iq4_nl_impl(256, 32, 16, ..., ntry = 7) per super-block:
//  * weights w = imatrix[j] * sqrt(sigma2 + x^2), sigma2 = 2 * mean(x^2) over the 256 values, else x^2;
//  * per 32-block the iq4_nl scale search (start d = -max / -127, least squares, then 15 candidate
//    inverse scales (itry - 127) / max); all-|x| < 1e-15 blocks get scale 0;
//  * d = -max_scale / 32 (max_scale: the signed block scale of largest magnitude), block codes
//    l = clamp(nearest_int(scale / d), -32, 31), indices recomputed from d * l.
// quantize_row_iq4_xs_ref is the same function without imatrix (identical bytes).
// All-zero input: d = -0.0 (0x8000), every code 32, every nibble 8.
//
// SIMD kernel: the 8 block searches of a super-block run as 2 x 4 lanes (blocks transposed into a
// scratch buffer, as in iq4_nl); the final index computation and the nibble packing are vectorized
// within each block.
import { fp32_to_fp16, fp16_to_fp32 } from "../inline/f16";
import { nearest_int_x } from "../inline/sym";
import { KV, kv, best_index, best_index_x4, best_value_x4, transpose4, iq4nl_search_x4 } from "../inline/iq4nl";

// @ts-ignore: decorator
@inline const QK_K: i32 = 256;
// @ts-ignore: decorator
@inline const BLOCK_IQ4_XS: usize = 136;
// @ts-ignore: decorator
@inline const GROUP_MAX_EPS: f32 = 1e-15;

// scratch: block scales (8 f32), weights of one block, L of one super-block, transposed x / w of 4 blocks
const SC: usize = memory.data(8 * 4, 16);
const WB: usize = memory.data(32 * 4, 16);
const LB: usize = memory.data(256, 16);
const XT: usize = memory.data(32 * 16, 16);
const WT: usize = memory.data(32 * 16, 16);

/** sigma2 = 2/256 * sum x^2 (sequential, as ggml). */
// @ts-ignore: decorator
@inline function sigma2_of(x: usize): f32 {
  let s: f32 = 0;
  for (let j = 0; j < QK_K; j++) {
    const v = load<f32>(x + (<usize>j << 2));
    s += v * v;
  }
  return s * <f32>0.0078125;
}

/** Scalar scale search of one 32-block (ntry = 7). Returns the block scale. */
function block_search(xb: usize, qw: usize, sigma2: f32): f32 {
  for (let j = 0; j < 32; j++) {
    const v = load<f32>(xb + (<usize>j << 2));
    store<f32>(WB + (<usize>j << 2), qw != 0 ? load<f32>(qw + (<usize>j << 2)) * sqrt<f32>(sigma2 + v * v) : v * v);
  }
  let amax: f32 = 0, max: f32 = 0;
  for (let j = 0; j < 32; j++) {
    const v = load<f32>(xb + (<usize>j << 2));
    const ax = abs<f32>(v);
    if (ax > amax) { amax = ax; max = v; }
  }
  if (amax < GROUP_MAX_EPS) return 0;
  let d: f32 = -max / <f32>-127;
  let id: f32 = <f32>1 / d;
  let sumqx: f32 = 0, sumq2: f32 = 0;
  for (let j = 0; j < 32; j++) {
    const v = load<f32>(xb + (<usize>j << 2));
    const q = kv(best_index(id * v));
    const w = load<f32>(WB + (<usize>j << 2));
    sumqx += w * q * v;
    sumq2 += w * q * q;
  }
  d = sumq2 > 0 ? sumqx / sumq2 : <f32>0;
  let best: f32 = d * sumqx;
  for (let itry = -7; itry <= 7; ++itry) {
    id = <f32>(itry - 127) / max;
    sumqx = 0; sumq2 = 0;
    for (let j = 0; j < 32; j++) {
      const v = load<f32>(xb + (<usize>j << 2));
      const q = kv(best_index(id * v));
      const w = load<f32>(WB + (<usize>j << 2));
      sumqx += w * q * v;
      sumq2 += w * q * q;
    }
    if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
      d = sumqx / sumq2; best = d * sumqx;
    }
  }
  return d;
}

/** 4 block searches at once (lanes = blocks xb, xb+128, xb+256, xb+384 of one super-block); scales -> SC + off. */
function quad_search(xb: usize, qw: usize, sigma2: f32, off: usize): void {
  transpose4(XT, xb, xb + 128, xb + 256, xb + 384);
  if (qw != 0) transpose4(WT, qw, qw + 128, qw + 256, qw + 384);
  const d = iq4nl_search_x4(XT, WT, qw != 0, f32x4.splat(sigma2));
  v128.store(SC + off, d);
}

/** Super-scale, block codes and indices from the 8 block scales in SC; writes the whole block. */
function finish(y: usize, x: usize, simd: bool): void {
  let max_scale: f32 = 0, amax_scale: f32 = 0;
  for (let ib = 0; ib < 8; ib++) {
    const s = load<f32>(SC + (<usize>ib << 2));
    const a = abs<f32>(s);
    if (a > amax_scale) { amax_scale = a; max_scale = s; }
  }
  const d: f32 = -max_scale / <f32>32;
  store<u16>(y, fp32_to_fp16(d));
  const id: f32 = d != 0 ? <f32>1 / d : <f32>0;
  let sh: u32 = 0;
  for (let ib = 0; ib < 8; ib++) {
    let l = nearest_int_x(id * load<f32>(SC + (<usize>ib << 2)));
    l = max<i32>(-32, min<i32>(31, l));
    const dl: f32 = d * <f32>l;
    const idl: f32 = dl != 0 ? <f32>1 / dl : <f32>0;
    const xb = x + (<usize>ib << 7);
    const q = y + 8 + (<usize>ib << 4);
    if (simd) {
      const vid = f32x4.splat(idl);
      const l0 = best_index_x4(f32x4.mul(vid, v128.load(xb, 0)));
      const l1 = best_index_x4(f32x4.mul(vid, v128.load(xb, 16)));
      const l2 = best_index_x4(f32x4.mul(vid, v128.load(xb, 32)));
      const l3 = best_index_x4(f32x4.mul(vid, v128.load(xb, 48)));
      const h0 = best_index_x4(f32x4.mul(vid, v128.load(xb, 64)));
      const h1 = best_index_x4(f32x4.mul(vid, v128.load(xb, 80)));
      const h2 = best_index_x4(f32x4.mul(vid, v128.load(xb, 96)));
      const h3 = best_index_x4(f32x4.mul(vid, v128.load(xb, 112)));
      const lo = i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_u(l0, l1), i16x8.narrow_i32x4_u(l2, l3));
      const hi = i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_u(h0, h1), i16x8.narrow_i32x4_u(h2, h3));
      v128.store(q, v128.or(lo, i8x16.shl(hi, 4)));
    } else {
      for (let j = 0; j < 32; j++) store<u8>(LB + j, <u8>best_index(idl * load<f32>(xb + (<usize>j << 2))));
      for (let j = 0; j < 16; j++) store<u8>(q + j, load<u8>(LB + j) | (load<u8>(LB + 16 + j) << 4));
    }
    l += 32;
    const ll = <u32>(l & 0xf);
    if ((ib & 1) == 0) store<u8>(y + 4 + (ib >> 1), <u8>ll);
    else store<u8>(y + 4 + (ib >> 1), load<u8>(y + 4 + (ib >> 1)) | <u8>(ll << 4));
    sh |= <u32>(l >> 4) << (2 * ib);
  }
  store<u16>(y + 2, <u16>sh);
}

/** Scalar twin of ggml quantize_iq4_xs (chunk API, optional imatrix of n_per_row f32). Returns bytes written. */
export function quantize_iq4_xs_ref(y: usize, x: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  const nb = n_per_row / QK_K;
  for (let r = 0; r < nrows; r++) {
    for (let ibl = 0; ibl < nb; ibl++) {
      const sigma2 = sigma2_of(x);
      for (let ib = 0; ib < 8; ib++) {
        const qw = imatrix != 0 ? imatrix + (<usize>(ibl * QK_K + ib * 32) << 2) : 0;
        store<f32>(SC + (<usize>ib << 2), block_search(x + (<usize>ib << 7), qw, sigma2));
      }
      finish(y, x, false);
      x += <usize>QK_K << 2;
      y += BLOCK_IQ4_XS;
    }
  }
  return <usize>nrows * nb * BLOCK_IQ4_XS;
}

/** ggml quantize_iq4_xs, SIMD (block searches 4 lanes at a time); bit-identical to _ref. */
export function quantize_iq4_xs(y: usize, x: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  const nb = n_per_row / QK_K;
  for (let r = 0; r < nrows; r++) {
    for (let ibl = 0; ibl < nb; ibl++) {
      const sigma2 = sigma2_of(x);
      const qw = imatrix != 0 ? imatrix + (<usize>(ibl * QK_K) << 2) : 0;
      quad_search(x, qw, sigma2, 0);
      quad_search(x + 512, qw != 0 ? qw + 512 : 0, sigma2, 16);
      finish(y, x, true);
      x += <usize>QK_K << 2;
      y += BLOCK_IQ4_XS;
    }
  }
  return <usize>nrows * nb * BLOCK_IQ4_XS;
}

/** ggml quantize_row_iq4_xs_ref: k values (multiple of 256), no imatrix. */
export function quantize_row_iq4_xs_ref(y: usize, x: usize, k: i32): void {
  quantize_iq4_xs_ref(y, x, 1, k, 0);
}

/** ggml dequantize_row_iq4_xs (scalar). */
export function dequantize_row_iq4_xs_ref(y: usize, x: usize, k: i32): void {
  const nb = k / QK_K;
  for (let i = 0; i < nb; i++) {
    const d = fp16_to_fp32(load<u16>(x));
    const sh = <i32>load<u16>(x + 2);
    for (let ib = 0; ib < 8; ib++) {
      const ls = ((<i32>load<u8>(x + 4 + (ib >> 1)) >> (4 * (ib & 1))) & 15) | (((sh >> (2 * ib)) & 3) << 4);
      const dl: f32 = d * <f32>(ls - 32);
      const q = x + 8 + (<usize>ib << 4);
      for (let j = 0; j < 16; j++) {
        const b = load<u8>(q + j);
        store<f32>(y + (<usize>j << 2), dl * kv(b & 15));
        store<f32>(y + (<usize>(j + 16) << 2), dl * kv(b >> 4));
      }
      y += 128;
    }
    x += BLOCK_IQ4_XS;
  }
}

/** ggml dequantize_row_iq4_xs, SIMD (table swizzle); bit-identical to _ref. */
export function dequantize_row_iq4_xs(y: usize, x: usize, k: i32): void {
  const nb = k / QK_K;
  const tbl = v128.load(KV);
  for (let i = 0; i < nb; i++) {
    const d = fp16_to_fp32(load<u16>(x));
    const sh = <i32>load<u16>(x + 2);
    for (let ib = 0; ib < 8; ib++) {
      const ls = ((<i32>load<u8>(x + 4 + (ib >> 1)) >> (4 * (ib & 1))) & 15) | (((sh >> (2 * ib)) & 3) << 4);
      const vd = f32x4.splat(d * <f32>(ls - 32));
      const q = v128.load(x + 8 + (<usize>ib << 4));
      const lo = i8x16.swizzle(tbl, v128.and(q, i8x16.splat(0x0F)));
      const hi = i8x16.swizzle(tbl, i8x16.shr_u(q, 4));
      const lo0 = i16x8.extend_low_i8x16_s(lo), lo1 = i16x8.extend_high_i8x16_s(lo);
      const hi0 = i16x8.extend_low_i8x16_s(hi), hi1 = i16x8.extend_high_i8x16_s(hi);
      v128.store(y, f32x4.mul(vd, f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(lo0))));
      v128.store(y, f32x4.mul(vd, f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(lo0))), 16);
      v128.store(y, f32x4.mul(vd, f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(lo1))), 32);
      v128.store(y, f32x4.mul(vd, f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(lo1))), 48);
      v128.store(y, f32x4.mul(vd, f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(hi0))), 64);
      v128.store(y, f32x4.mul(vd, f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(hi0))), 80);
      v128.store(y, f32x4.mul(vd, f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(hi1))), 96);
      v128.store(y, f32x4.mul(vd, f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(hi1))), 112);
      y += 128;
    }
    x += BLOCK_IQ4_XS;
  }
}
