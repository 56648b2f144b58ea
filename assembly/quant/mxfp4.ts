// mxfp4 (ggml): 32 values -> E8M0 exponent byte e + 16 bytes of 4-bit E2M1 codes (nibble layout A).
// 17 bytes per block, 4.25 bits per weight. Value = F[nibble] * 2^(e-128) with
// F = 0 1 2 3 4 6 8 12 0 -1 -2 -3 -4 -6 -8 -12 (twice the E2M1 values, hence the halved scale).
// ggml quantize_row_mxfp4_ref:
//   amax = max|x|; e = amax > 0 ? (uint8)(floorf(log2f(amax)) - 2 + 127) : 0;
//   d = 2^(e-128) (float32, e = 0/1 give the subnormals 2^-128, 2^-127);
//   code = first table index with the smallest |F[i]*d - x| (float32 arithmetic).
// log2f is taken as the float32 rounding of the (f64) logarithm, then floored: for amax just below
// a power of two the float32 logarithm rounds to the integer (exponent one higher than exact),
// as in ggml. The float -> uint8 cast wraps like x86 (cvttss2si, low byte) for amax < 2^-125.
// imatrix is accepted and ignored, as in ggml.
// SIMD: every element is independent once the block exponent is known: 4 elements per vector,
// the 16-candidate scan replaced by an equivalent count of falling errors (see best_index_x4).

// @ts-ignore: decorator
@inline const QK_MXFP4: i32 = 32;
// @ts-ignore: decorator
@inline const BLOCK_MXFP4: usize = 17;

const KV: usize = memory.data<i8>([0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12]);

// @ts-ignore: decorator
@inline function kv(i: i32): f32 {
  return <f32>load<i8>(KV + <usize>i);
}

/** GGML_E8M0_TO_FP32_HALF: 2^(e-128) as float32. */
// @ts-ignore: decorator
@inline function e8m0_to_fp32_half(e: u32): f32 {
  return reinterpret<f32>(e < 2 ? <u32>0x00200000 << e : (e - 1) << 23);
}

/** Shared exponent of a block from its amax (ggml semantics, see header). */
// @ts-ignore: decorator
@inline function block_exponent(amax: f32): u32 {
  if (!(amax > 0)) return 0;
  const l = floor<f32>(<f32>Math.log2(<f64>amax));
  return <u32>(<u8><i32>(l - <f32>2 + <f32>127));
}

// @ts-ignore: decorator
@inline function best_index(x: f32, e: f32): i32 {
  let best_index = 0;
  let best_err = abs<f32>(kv(0) * e - x);
  for (let i = 1; i < 16; i++) {
    const err = abs<f32>(kv(i) * e - x);
    if (err < best_err) { best_index = i; best_err = err; }
  }
  return best_index;
}

/** 4-lane equivalent of best_index. With a = |x| and candidate magnitudes c_k = F[k] * d (k = 0..7,
 *  exact), the float errors E_k = |c_k - a| fall then rise; candidate gaps (>= d/2) are far larger
 *  than their rounding, so no two falling errors round equal, and the first minimum is at
 *  #{k : E_(k+1) < E_k}. Negative x picks the negative code (8 + k) unless k = 0 (code 0 wins the
 *  tie with -0, as the first index). Bit-identical to the 16-candidate scan. */
// @ts-ignore: decorator
@inline function best_index_x4(x: v128, c1: v128, c2: v128, c3: v128, c4: v128, c6: v128, c8: v128, c12: v128): v128 {
  const a = f32x4.abs(x);
  const e0 = a;
  const e1 = f32x4.abs(f32x4.sub(c1, a)), e2 = f32x4.abs(f32x4.sub(c2, a)), e3 = f32x4.abs(f32x4.sub(c3, a));
  const e4 = f32x4.abs(f32x4.sub(c4, a)), e6 = f32x4.abs(f32x4.sub(c6, a)), e8 = f32x4.abs(f32x4.sub(c8, a));
  const e12 = f32x4.abs(f32x4.sub(c12, a));
  let n = i32x4.add(f32x4.lt(e1, e0), f32x4.lt(e2, e1));
  n = i32x4.add(n, i32x4.add(f32x4.lt(e3, e2), f32x4.lt(e4, e3)));
  n = i32x4.add(n, i32x4.add(f32x4.lt(e6, e4), f32x4.lt(e8, e6)));
  n = i32x4.sub(i32x4.splat(0), i32x4.add(n, f32x4.lt(e12, e8)));
  const neg = v128.and(i32x4.shr_s(x, 31), i32x4.ne(n, i32x4.splat(0)));
  return v128.or(n, v128.and(neg, i32x4.splat(8)));
}

export function quantize_row_mxfp4_ref(y: usize, x: usize, k: i32): void {
  const nb = k / QK_MXFP4;
  for (let i = 0; i < nb; i++) {
    let amax: f32 = 0;
    for (let j = 0; j < QK_MXFP4; j++) {
      const v = abs<f32>(load<f32>(x + (<usize>j << 2)));
      if (amax < v) amax = v;
    }
    const e = block_exponent(amax);
    const d = e8m0_to_fp32_half(e);
    store<u8>(y, <u8>e);
    for (let j = 0; j < 16; j++) {
      const x0 = best_index(load<f32>(x + (<usize>j << 2)), d);
      const x1 = best_index(load<f32>(x + (<usize>(j + 16) << 2)), d);
      store<u8>(y + 1 + j, <u8>(x0 | (x1 << 4)));
    }
    x += <usize>QK_MXFP4 << 2;
    y += BLOCK_MXFP4;
  }
}

export function quantize_row_mxfp4(y: usize, x: usize, k: i32): void {
  const nb = k / QK_MXFP4;
  for (let i = 0; i < nb; i++) {
    const v0 = v128.load(x, 0), v1 = v128.load(x, 16), v2 = v128.load(x, 32), v3 = v128.load(x, 48);
    const v4 = v128.load(x, 64), v5 = v128.load(x, 80), v6 = v128.load(x, 96), v7 = v128.load(x, 112);
    let m = f32x4.max(
      f32x4.max(f32x4.max(f32x4.abs(v0), f32x4.abs(v1)), f32x4.max(f32x4.abs(v2), f32x4.abs(v3))),
      f32x4.max(f32x4.max(f32x4.abs(v4), f32x4.abs(v5)), f32x4.max(f32x4.abs(v6), f32x4.abs(v7))));
    m = f32x4.max(m, v128.shuffle<u32>(m, m, 2, 3, 0, 1));
    m = f32x4.max(m, v128.shuffle<u32>(m, m, 1, 0, 3, 2));
    const e = block_exponent(f32x4.extract_lane(m, 0));
    const d = e8m0_to_fp32_half(e);
    store<u8>(y, <u8>e);
    const c1 = f32x4.splat(d), c2 = f32x4.splat(<f32>2 * d), c3 = f32x4.splat(<f32>3 * d), c4 = f32x4.splat(<f32>4 * d);
    const c6 = f32x4.splat(<f32>6 * d), c8 = f32x4.splat(<f32>8 * d), c12 = f32x4.splat(<f32>12 * d);
    const l0 = best_index_x4(v0, c1, c2, c3, c4, c6, c8, c12), l1 = best_index_x4(v1, c1, c2, c3, c4, c6, c8, c12);
    const l2 = best_index_x4(v2, c1, c2, c3, c4, c6, c8, c12), l3 = best_index_x4(v3, c1, c2, c3, c4, c6, c8, c12);
    const h0 = best_index_x4(v4, c1, c2, c3, c4, c6, c8, c12), h1 = best_index_x4(v5, c1, c2, c3, c4, c6, c8, c12);
    const h2 = best_index_x4(v6, c1, c2, c3, c4, c6, c8, c12), h3 = best_index_x4(v7, c1, c2, c3, c4, c6, c8, c12);
    const lo = i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_u(l0, l1), i16x8.narrow_i32x4_u(l2, l3));
    const hi = i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_u(h0, h1), i16x8.narrow_i32x4_u(h2, h3));
    v128.store(y + 1, v128.or(lo, i8x16.shl(hi, 4)));
    x += <usize>QK_MXFP4 << 2;
    y += BLOCK_MXFP4;
  }
}

export function dequantize_row_mxfp4_ref(y: usize, x: usize, k: i32): void {
  const nb = k / QK_MXFP4;
  for (let i = 0; i < nb; i++) {
    const d = e8m0_to_fp32_half(load<u8>(x));
    for (let j = 0; j < 16; j++) {
      const q = load<u8>(x + 1 + j);
      store<f32>(y + (<usize>j << 2), kv(q & 0xF) * d);
      store<f32>(y + (<usize>(j + 16) << 2), kv(q >> 4) * d);
    }
    x += BLOCK_MXFP4;
    y += <usize>QK_MXFP4 << 2;
  }
}

export function dequantize_row_mxfp4(y: usize, x: usize, k: i32): void {
  const nb = k / QK_MXFP4;
  const tbl = v128.load(KV);
  for (let i = 0; i < nb; i++) {
    const vd = f32x4.splat(e8m0_to_fp32_half(load<u8>(x)));
    const q = v128.load(x + 1);
    const lo = i8x16.swizzle(tbl, v128.and(q, i8x16.splat(0x0F)));
    const hi = i8x16.swizzle(tbl, i8x16.shr_u(q, 4));
    const lo0 = i16x8.extend_low_i8x16_s(lo), lo1 = i16x8.extend_high_i8x16_s(lo);
    const hi0 = i16x8.extend_low_i8x16_s(hi), hi1 = i16x8.extend_high_i8x16_s(hi);
    v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(lo0)), vd));
    v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(lo0)), vd), 16);
    v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(lo1)), vd), 32);
    v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(lo1)), vd), 48);
    v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(hi0)), vd), 64);
    v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(hi0)), vd), 80);
    v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(hi1)), vd), 96);
    v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(hi1)), vd), 112);
    x += BLOCK_MXFP4;
    y += <usize>QK_MXFP4 << 2;
  }
}

/** Chunk API (ggml quantize_mxfp4): imatrix accepted and ignored. Returns bytes written. */
export function quantize_mxfp4(y: usize, x: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  quantize_row_mxfp4(y, x, nrows * n_per_row);
  return <usize>nrows * (n_per_row / QK_MXFP4) * BLOCK_MXFP4;
}
export function quantize_mxfp4_ref(y: usize, x: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  quantize_row_mxfp4_ref(y, x, nrows * n_per_row);
  return <usize>nrows * (n_per_row / QK_MXFP4) * BLOCK_MXFP4;
}
