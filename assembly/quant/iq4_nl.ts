// iq4_nl: 32 values -> fp16 scale d + 16 bytes of 4-bit indices (nibble layout A) into the
// non-linear table kvalues_iq4nl; value = d * T[nibble]. 18 bytes per block, 4.5 bits per weight.
//
// Two ggml quantizers exist (both quantize_row_iq4_nl_impl with super_block = block = 32):
//  * quantize_iq4_nl (chunk API, used for model files): ntry = 7, scale search over 15 candidate
//    inverse scales (itry - 127) / max, optional importance weights
//    w = imatrix[j] * sqrt(sigma2 + x^2) with sigma2 = 2 * mean(x^2) over the 32-block, else w = x^2.
//    The final indices are recomputed from the stored fp32 scale (before fp16 rounding).
//  * quantize_row_iq4_nl_ref: ntry = -1: a single pass with d = max / -127, then the least-squares
//    scale; the indices of that single pass are kept.
// Blocks with max|x| < 1e-15 get d = 0. The chunk path then writes index 8 (T = +1) for every
// element; ggml's reference path leaves stale scratch indices there, we write index 8 too.
// Index lookup = ggml best_index_int8 (bisection; exact midpoint goes to the larger value).
// If all weights of a block are 0 (an imatrix with zeros there), sumq2 = 0 and d = 0 (current
// llama.cpp guards this division, ggml-org/llama.cpp#20460; older builds wrote a NaN scale).
//
// SIMD kernel: the weighted sums of the scale search are sequential per block, so the search runs
// 4 blocks at once (one block per lane, the 4 blocks transposed into a scratch buffer); the final
// index computation and the nibble packing are vectorized within a block.
import { fp32_to_fp16, fp16_to_fp32, fp32x4_to_fp16x4 } from "../inline/f16";
import { KV, kv, best_index, best_index_x4, best_value_x4, transpose4, iq4nl_search_x4 } from "../inline/iq4nl";

// @ts-ignore: decorator
@inline const QK4_NL: i32 = 32;
// @ts-ignore: decorator
@inline const BLOCK_IQ4_NL: usize = 18;
// @ts-ignore: decorator
@inline const GROUP_MAX_EPS: f32 = 1e-15;

// scratch (static, no allocation): transposed x and weights of 4 blocks, scalar L and weights.
const XT: usize = memory.data(32 * 16, 16);
const WT: usize = memory.data(32 * 16, 16);
const LB: usize = memory.data(32, 16);
const WB: usize = memory.data(32 * 4, 16);

/** Scalar quantize_row_iq4_nl_impl(32, 32, ...) for one block. ntry = 7 (chunk) or -1 (ref). */
function block_ref(y: usize, x: usize, qw: usize, ntry: i32): void {
  let sigma2: f32 = 0;
  for (let j = 0; j < QK4_NL; j++) {
    const v = load<f32>(x + (<usize>j << 2));
    sigma2 += v * v;
  }
  sigma2 *= <f32>0.0625; // 2.f / 32
  for (let j = 0; j < QK4_NL; j++) {
    const v = load<f32>(x + (<usize>j << 2));
    const w: f32 = qw != 0 ? load<f32>(qw + (<usize>j << 2)) * sqrt<f32>(sigma2 + v * v) : v * v;
    store<f32>(WB + (<usize>j << 2), w);
  }
  let amax: f32 = 0, max: f32 = 0;
  for (let j = 0; j < QK4_NL; j++) {
    const v = load<f32>(x + (<usize>j << 2));
    const ax = abs<f32>(v);
    if (ax > amax) { amax = ax; max = v; }
  }
  let scale: f32 = 0;
  if (amax < GROUP_MAX_EPS) {
    for (let j = 0; j < QK4_NL; j++) store<u8>(LB + j, 8);
  } else {
    let d: f32 = ntry > 0 ? -max / <f32>-127 : max / <f32>-127;
    let id: f32 = <f32>1 / d;
    let sumqx: f32 = 0, sumq2: f32 = 0;
    for (let j = 0; j < QK4_NL; j++) {
      const v = load<f32>(x + (<usize>j << 2));
      const l = best_index(id * v);
      store<u8>(LB + j, <u8>l);
      const q = kv(l);
      const w = load<f32>(WB + (<usize>j << 2));
      sumqx += w * q * v;
      sumq2 += w * q * q;
    }
    d = sumq2 > 0 ? sumqx / sumq2 : <f32>0;
    let best: f32 = d * sumqx;
    for (let itry = -ntry; itry <= ntry; ++itry) {
      id = <f32>(itry - 127) / max;
      sumqx = 0; sumq2 = 0;
      for (let j = 0; j < QK4_NL; j++) {
        const v = load<f32>(x + (<usize>j << 2));
        const q = kv(best_index(id * v));
        const w = load<f32>(WB + (<usize>j << 2));
        sumqx += w * q * v;
        sumq2 += w * q * q;
      }
      if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
        d = sumqx / sumq2; best = d * sumqx;
      }
    }
    scale = d;
  }
  store<u16>(y, fp32_to_fp16(scale));
  if (ntry > 0) {
    const id: f32 = scale != 0 ? <f32>1 / scale : <f32>0;
    for (let j = 0; j < QK4_NL; j++) store<u8>(LB + j, <u8>best_index(id * load<f32>(x + (<usize>j << 2))));
  }
  for (let j = 0; j < 16; j++) store<u8>(y + 2 + j, load<u8>(LB + j) | (load<u8>(LB + 16 + j) << 4));
}

/** Final indices of one block from its fp32 scale (vectorized within the block) + nibble packing. */
// @ts-ignore: decorator
@inline function pack_block(y: usize, x: usize, scale: f32): void {
  const vid = f32x4.splat(scale != 0 ? <f32>1 / scale : <f32>0);
  const l0 = best_index_x4(f32x4.mul(vid, v128.load(x, 0)));
  const l1 = best_index_x4(f32x4.mul(vid, v128.load(x, 16)));
  const l2 = best_index_x4(f32x4.mul(vid, v128.load(x, 32)));
  const l3 = best_index_x4(f32x4.mul(vid, v128.load(x, 48)));
  const h0 = best_index_x4(f32x4.mul(vid, v128.load(x, 64)));
  const h1 = best_index_x4(f32x4.mul(vid, v128.load(x, 80)));
  const h2 = best_index_x4(f32x4.mul(vid, v128.load(x, 96)));
  const h3 = best_index_x4(f32x4.mul(vid, v128.load(x, 112)));
  const lo = i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_u(l0, l1), i16x8.narrow_i32x4_u(l2, l3));
  const hi = i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_u(h0, h1), i16x8.narrow_i32x4_u(h2, h3));
  v128.store(y + 2, v128.or(lo, i8x16.shl(hi, 4)));
}

/** SIMD chunk path for 4 blocks (x0..x3, imatrix blocks w0..w3 or 0), outputs at y, y+18, ... */
function quad_simd(y: usize, x0: usize, x1: usize, x2: usize, x3: usize,
                   w0: usize, w1: usize, w2: usize, w3: usize): void {
  transpose4(XT, x0, x1, x2, x3);
  let sigma2 = f32x4.splat(0);
  for (let j: usize = 0; j < 32; j++) {
    const v = v128.load(XT + (j << 4));
    sigma2 = f32x4.add(sigma2, f32x4.mul(v, v));
  }
  sigma2 = f32x4.mul(sigma2, f32x4.splat(0.0625));
  if (w0 != 0) transpose4(WT, w0, w1, w2, w3);
  const d = iq4nl_search_x4(XT, WT, w0 != 0, sigma2);
  const dh = fp32x4_to_fp16x4(d);
  store<u16>(y, <u16>i32x4.extract_lane(dh, 0));
  store<u16>(y + BLOCK_IQ4_NL, <u16>i32x4.extract_lane(dh, 1));
  store<u16>(y + 2 * BLOCK_IQ4_NL, <u16>i32x4.extract_lane(dh, 2));
  store<u16>(y + 3 * BLOCK_IQ4_NL, <u16>i32x4.extract_lane(dh, 3));
  pack_block(y, x0, f32x4.extract_lane(d, 0));
  pack_block(y + BLOCK_IQ4_NL, x1, f32x4.extract_lane(d, 1));
  pack_block(y + 2 * BLOCK_IQ4_NL, x2, f32x4.extract_lane(d, 2));
  pack_block(y + 3 * BLOCK_IQ4_NL, x3, f32x4.extract_lane(d, 3));
}

/** ggml quantize_row_iq4_nl_ref (ntry = -1, no imatrix): k values (multiple of 32) at x -> y. */
export function quantize_row_iq4_nl_ref(y: usize, x: usize, k: i32): void {
  const nb = k / QK4_NL;
  for (let i = 0; i < nb; i++) {
    block_ref(y, x, 0, -1);
    x += <usize>QK4_NL << 2;
    y += BLOCK_IQ4_NL;
  }
}

/** Scalar twin of quantize_iq4_nl (ggml chunk API: ntry = 7, optional imatrix). Returns bytes written. */
export function quantize_iq4_nl_ref(y: usize, x: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  const nblock = n_per_row / QK4_NL;
  for (let r = 0; r < nrows; r++) {
    for (let ib = 0; ib < nblock; ib++) {
      block_ref(y, x, imatrix != 0 ? imatrix + (<usize>ib << 7) : 0, 7);
      x += <usize>QK4_NL << 2;
      y += BLOCK_IQ4_NL;
    }
  }
  return <usize>nrows * nblock * BLOCK_IQ4_NL;
}

/** ggml quantize_iq4_nl (chunk API), SIMD: 4 blocks per step across rows; bit-identical to _ref. */
export function quantize_iq4_nl(y: usize, x: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  const nblock = n_per_row / QK4_NL;
  const total = nrows * nblock;
  let ib = 0; // block index inside the current row
  let i = 0;
  const bx: usize = <usize>QK4_NL << 2;
  for (; i + 4 <= total; i += 4) {
    let w0: usize = 0, w1: usize = 0, w2: usize = 0, w3: usize = 0;
    if (imatrix != 0) {
      w0 = imatrix + (<usize>ib << 7);
      let b = ib + 1; if (b >= nblock) b -= nblock;
      w1 = imatrix + (<usize>b << 7);
      b++; if (b >= nblock) b -= nblock;
      w2 = imatrix + (<usize>b << 7);
      b++; if (b >= nblock) b -= nblock;
      w3 = imatrix + (<usize>b << 7);
    }
    quad_simd(y, x, x + bx, x + 2 * bx, x + 3 * bx, w0, w1, w2, w3);
    x += 4 * bx;
    y += 4 * BLOCK_IQ4_NL;
    ib += 4;
    while (ib >= nblock) ib -= nblock;
  }
  for (; i < total; i++) {
    block_ref(y, x, imatrix != 0 ? imatrix + (<usize>ib << 7) : 0, 7);
    x += bx;
    y += BLOCK_IQ4_NL;
    ib++;
    if (ib >= nblock) ib = 0;
  }
  return <usize>nrows * nblock * BLOCK_IQ4_NL;
}

export function dequantize_row_iq4_nl_ref(y: usize, x: usize, k: i32): void {
  const nb = k / QK4_NL;
  for (let i = 0; i < nb; i++) {
    const d = fp16_to_fp32(load<u16>(x));
    for (let j = 0; j < 16; j++) {
      const q = load<u8>(x + 2 + j);
      store<f32>(y + (<usize>j << 2), d * kv(q & 0xF));
      store<f32>(y + (<usize>(j + 16) << 2), d * kv(q >> 4));
    }
    x += BLOCK_IQ4_NL;
    y += <usize>QK4_NL << 2;
  }
}

export function dequantize_row_iq4_nl(y: usize, x: usize, k: i32): void {
  const nb = k / QK4_NL;
  const tbl = v128.load(KV);
  for (let i = 0; i < nb; i++) {
    const vd = f32x4.splat(fp16_to_fp32(load<u16>(x)));
    const q = v128.load(x + 2);
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
    x += BLOCK_IQ4_NL;
    y += <usize>QK4_NL << 2;
  }
}
