// q3_K: 256 values -> 16 sub-blocks of 16 with 6-bit scales, 3-bit codes, fp16 super-scale d
// (110 bytes: hmask[32], qs[64], scales[12], d). 3.4375 bits per weight.
// ggml semantics: reference path (no imatrix) = quantize_row_q3_K_ref: make_q3_quants per sub-block
// (weights x^2, coordinate descent), scales quantized against -32/max_scale. imatrix path =
// quantize_row_q3_K_impl: weights imatrix * sqrt(sigma2 + x^2) (sigma2 = 2 * mean square of the
// super-block), make_qx_quants per sub-block and again over the 16 scales. Final codes in both
// paths: nearest_int(x / (fp16(d) * (scale - 32))), clamped to -4..3.
import { fp32_to_fp16, fp16_to_fp32 } from "../inline/f16";
import { nearest_int_x, transpose4x4, requant16 } from "../inline/sym";
import { make_qx_quants, make_q3_quants, make_qx_quants_x4, sumsq_x4, qx_bis, qx_zero, qx_codes16 } from "./common_sym";
import { q3_K_search16, q3_K_search_codes16 } from "./q3_K_descent";

// @ts-ignore: decorator
@inline const QK_K: i32 = 256;
// @ts-ignore: decorator
@inline const BLOCK_Q3_K: usize = 110;

const L = memory.data(QK_K, 16);          // i8 codes 0..7
const SCALES = memory.data(16 * 4, 16);   // f32 sub-block scales
const SW = memory.data(16 * 4, 16);       // f32 sums of weights (imatrix path)
const WEIGHT = memory.data(16 * 4, 16);   // f32 weights of one sub-block (scalar imatrix path)
const LS = memory.data(16, 16);           // i8 scale codes (imatrix path)
const XT = memory.data(16 * 16, 16);      // transposed 4 sub-blocks
const WT = memory.data(16 * 16, 16);
const LT = memory.data(16 * 16, 16);
const L4 = memory.data(4 * QK_K, 16);     // imatrix SIMD path: codes, scales, weight sums and
const SC4 = memory.data(4 * 64, 16);      // super-scales of four super-blocks
const SW4 = memory.data(4 * 64, 16);
const D4 = memory.data(16, 16);
const DSUB = memory.data(16 * 4, 16);   // f32 sub-block scales fp16(d) * (code - 32), no-imatrix SIMD path
const BZ4 = memory.data(4 * 128, 16);     // imatrix SIMD path: per sub-block inverse scale of the
                                          // search (+0) and all-zero flag (+64), per super-block

/** hmask / qs of the 256 codes 0..7 at Lp (bytes), SIMD. */
// @ts-ignore: decorator
@inline function q3_K_pack_simd(y: usize, Lp: usize): void {
  // hmask byte m, bit b <- L[32b + m] > 3; qs[32h + l] = L[128h+l] | L[128h+l+32]<<2 | ...
  const three = i8x16.splat(3);
  for (let m: usize = 0; m < 32; m += 16) {
    let hmv = i8x16.splat(0);
    for (let b = 0; b < 8; b++) {
      const v = v128.load(Lp + (<usize>b << 5) + m);
      const bit: i32 = 1 << b;
      hmv = v128.or(hmv, v128.and(i8x16.gt_u(v, three), i8x16.splat(<i8>bit)));
    }
    v128.store(y + m, hmv);
  }
  for (let h: usize = 0; h < 2; h++) {
    for (let l: usize = 0; l < 32; l += 16) {
      const Lh = Lp + (h << 7) + l;
      const a = v128.and(v128.load(Lh), three), b = v128.and(v128.load(Lh, 32), three);
      const c = v128.and(v128.load(Lh, 64), three), e = v128.and(v128.load(Lh, 96), three);
      v128.store(y + 32 + (h << 5) + l,
        v128.or(v128.or(a, i8x16.shl(b, 2)), v128.or(i8x16.shl(c, 4), i8x16.shl(e, 6))));
    }
  }
}

/** Final codes from the stored header, then hmask / qs packing. */
// (inlined with a constant `simd`, so the _ref path compiles to scalar code only)
// @ts-ignore: decorator
@inline function q3_K_codes_pack(y: usize, x: usize, Lp: usize, simd: bool, bz: usize): void {
  const dd = fp16_to_fp32(load<u16>(y + 108));
  const s = y + 96;
  for (let j = 0; j < 16; j++) {
    let sc = j < 8 ? <i32>load<u8>(s + j) & 0xF : <i32>load<u8>(s + j - 8) >> 4;
    sc = (sc | (((<i32>load<u8>(s + 8 + (j & 3)) >> (2 * (j >> 2))) & 3) << 4)) - 32;
    const d: f32 = dd * <f32>sc;
    const xb = x + (<usize>j << 6);
    const Lb = Lp + (<usize>j << 4);
    if (d == 0) {
      // the search's codes stay; bz != 0: the SIMD search did not write them (make them now)
      if (simd && bz) qx_codes16(Lb, xb, load<f32>(bz + (<usize>j << 2)), load<i32>(bz + 64 + (<usize>j << 2)) != 0, 4);
      continue;
    }
    requant16(Lb, xb, d, 4, simd);
  }
  if (simd) {
    q3_K_pack_simd(y, Lp);
  } else {
    memory.fill(y, 0, 32);
    let m = 0;
    let hm: u32 = 1;
    for (let j = 0; j < QK_K; j++) {
      let l = <i32>load<i8>(Lp + j);
      if (l > 3) {
        store<u8>(y + m, <u32>load<u8>(y + m) | hm);
        store<i8>(Lp + j, <i8>(l - 4));
      }
      if (++m == 32) {
        m = 0;
        hm <<= 1;
      }
    }
    for (let j = 0; j < QK_K; j += 128) {
      for (let l = 0; l < 32; l++) {
        store<u8>(y + 32 + (j >> 2) + l, <u32>load<u8>(Lp + j + l) | (<u32>load<u8>(Lp + j + l + 32) << 2) |
          (<u32>load<u8>(Lp + j + l + 64) << 4) | (<u32>load<u8>(Lp + j + l + 96) << 6));
      }
    }
  }
}

/** Reference-path scale quantization (quantize_row_q3_K_ref) from SCALES. */
function q3_K_ref_scales(y: usize, scales: usize): void {
  let max_scale: f32 = 0;
  let amax: f32 = 0;
  for (let j = 0; j < 16; j++) {
    const sj = load<f32>(scales + (<usize>j << 2));
    const scale = abs<f32>(sj);
    if (scale > amax) {
      amax = scale;
      max_scale = sj;
    }
  }
  const s = y + 96;
  memory.fill(s, 0, 12);
  if (max_scale != 0) {
    const iscale: f32 = <f32>-32 / max_scale;
    for (let j = 0; j < 16; j++) {
      let l = <i32><i8>nearest_int_x(iscale * load<f32>(scales + (<usize>j << 2)));
      l = max<i32>(-32, min<i32>(31, l)) + 32;
      if (j < 8) store<u8>(s + j, l & 0xF);
      else store<u8>(s + j - 8, <i32>load<u8>(s + j - 8) | ((l & 0xF) << 4));
      l >>= 4;
      store<u8>(s + 8 + (j & 3), <i32>load<u8>(s + 8 + (j & 3)) | (l << (2 * (j >> 2))));
    }
    store<u16>(y + 108, fp32_to_fp16(<f32>1 / iscale));
  } else {
    store<u16>(y + 108, fp32_to_fp16(0));
  }
}

/** imatrix-path scale quantization (make_qx_quants over the scales, weights SW). */
function q3_K_imat_scales(y: usize): void {
  const s = y + 96;
  memory.fill(s, 0, 12);
  const d_block = make_qx_quants(16, 32, SCALES, LS, 1, SW);
  for (let j = 0; j < 16; j++) {
    let l = <i32>load<i8>(LS + j);
    if (j < 8) store<u8>(s + j, l & 0xF);
    else store<u8>(s + j - 8, <i32>load<u8>(s + j - 8) | ((l & 0xF) << 4));
    l >>= 4;
    store<u8>(s + 8 + (j & 3), <i32>load<u8>(s + 8 + (j & 3)) | (l << (2 * (j >> 2))));
  }
  store<u16>(y + 108, fp32_to_fp16(d_block));
}

// @ts-ignore: decorator
@inline function sigma2_of(x: usize): f32 {
  let sumx2: f32 = 0;
  for (let j = 0; j < QK_K; j++) {
    const v = load<f32>(x + (<usize>j << 2));
    sumx2 += v * v;
  }
  return <f32>2 * sumx2 / <f32>QK_K;
}

/** Scalar reference quantizer, k values. */
export function quantize_row_q3_K_ref(y: usize, x: usize, k: i32): void {
  const nb = k / QK_K;
  for (let i = 0; i < nb; i++) {
    for (let j = 0; j < 16; j++) {
      store<f32>(SCALES + (<usize>j << 2), make_q3_quants(16, 4, x + (<usize>j << 6), L + (<usize>j << 4), true));
    }
    q3_K_ref_scales(y, SCALES);
    q3_K_codes_pack(y, x, L, false, 0);
    x += QK_K << 2;
    y += BLOCK_Q3_K;
  }
}

/** Scalar imatrix quantizer (quantize_row_q3_K_impl), one row. */
function q3_K_row_imat_ref(y: usize, x: usize, n: i32, qw: usize): void {
  const nb = n / QK_K;
  for (let i = 0; i < nb; i++) {
    const sigma2 = sigma2_of(x);
    for (let j = 0; j < 16; j++) {
      const q = qw + (<usize>(QK_K * i + 16 * j) << 2);
      const xb = x + (<usize>j << 6);
      for (let l = 0; l < 16; l++) {
        const v = load<f32>(xb + (<usize>l << 2));
        store<f32>(WEIGHT + (<usize>l << 2), load<f32>(q + (<usize>l << 2)) * sqrt<f32>(sigma2 + v * v));
      }
      let sumw: f32 = 0;
      for (let l = 0; l < 16; l++) sumw += load<f32>(WEIGHT + (<usize>l << 2));
      store<f32>(SW + (<usize>j << 2), sumw);
      store<f32>(SCALES + (<usize>j << 2), make_qx_quants(16, 4, xb, L + (<usize>j << 4), 1, WEIGHT));
    }
    q3_K_imat_scales(y);
    q3_K_codes_pack(y, x, L, false, 0);
    x += QK_K << 2;
    y += BLOCK_Q3_K;
  }
}


/**
 * quantize_row_q3_K_ref's scale quantization (from the 16 f32 scales at `scales`), SIMD: writes the
 * 12 scale bytes and d of block y and the 16 sub-block factors fp16(d) * (code - 32) (f32) at dsub,
 * which are the values q3_K_codes_pack decodes from the header.
 */
// @ts-ignore: decorator
@inline function q3_K_ref_scales_simd(y: usize, scales: usize, dsub: usize): void {
  const s0 = v128.load(scales), s1 = v128.load(scales, 16), s2 = v128.load(scales, 32), s3 = v128.load(scales, 48);
  // ggml: max_scale = the first scale of the largest |scale| > 0 (NaN never compares greater)
  const fz = f32x4.splat(0);
  const a0 = f32x4.abs(s0), a1 = f32x4.abs(s1), a2 = f32x4.abs(s2), a3 = f32x4.abs(s3);
  const m0 = v128.and(a0, f32x4.gt(a0, fz)), m1 = v128.and(a1, f32x4.gt(a1, fz));
  const m2 = v128.and(a2, f32x4.gt(a2, fz)), m3 = v128.and(a3, f32x4.gt(a3, fz));
  let mx = f32x4.max(f32x4.max(m0, m1), f32x4.max(m2, m3));
  mx = f32x4.max(mx, v128.shuffle<u32>(mx, mx, 2, 3, 0, 1));
  mx = f32x4.max(mx, v128.shuffle<u32>(mx, mx, 1, 0, 3, 2));
  const s = y + 96;
  if (f32x4.extract_lane(mx, 0) == 0) {
    // all scales 0 (or NaN): zero header, every sub-block factor 0 * (0 - 32)
    memory.fill(s, 0, 12);
    store<u16>(y + 108, fp32_to_fp16(0));
    const dz = f32x4.splat(<f32>0 * <f32>-32);
    v128.store(dsub, dz);
    v128.store(dsub, dz, 16);
    v128.store(dsub, dz, 32);
    v128.store(dsub, dz, 48);
    return;
  }
  const first = ctz(i32x4.bitmask(f32x4.eq(m0, mx)) | (i32x4.bitmask(f32x4.eq(m1, mx)) << 4) |
    (i32x4.bitmask(f32x4.eq(m2, mx)) << 8) | (i32x4.bitmask(f32x4.eq(m3, mx)) << 12));
  const iscale: f32 = <f32>-32 / load<f32>(scales + (<usize>first << 2));
  const vi = f32x4.splat(iscale);
  // l = (int8_t)nearest_int(iscale * scale), clamped to -32..31, + 32
  const magic = f32x4.splat(12582912.0), mask = i32x4.splat(0x007FFFFF), bias = i32x4.splat(0x00400000);
  const lo = i32x4.splat(-32), hi = i32x4.splat(31), off = i32x4.splat(32);
  const l0 = i32x4.add(i32x4.max_s(lo, i32x4.min_s(hi, i32x4.shr_s(i32x4.shl(i32x4.sub(v128.and(f32x4.add(f32x4.mul(vi, s0), magic), mask), bias), 24), 24))), off);
  const l1 = i32x4.add(i32x4.max_s(lo, i32x4.min_s(hi, i32x4.shr_s(i32x4.shl(i32x4.sub(v128.and(f32x4.add(f32x4.mul(vi, s1), magic), mask), bias), 24), 24))), off);
  const l2 = i32x4.add(i32x4.max_s(lo, i32x4.min_s(hi, i32x4.shr_s(i32x4.shl(i32x4.sub(v128.and(f32x4.add(f32x4.mul(vi, s2), magic), mask), bias), 24), 24))), off);
  const l3 = i32x4.add(i32x4.max_s(lo, i32x4.min_s(hi, i32x4.shr_s(i32x4.shl(i32x4.sub(v128.and(f32x4.add(f32x4.mul(vi, s3), magic), mask), bias), 24), 24))), off);
  const lb = i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_u(l0, l1), i16x8.narrow_i32x4_u(l2, l3)); // 0..63
  // s[j] = low nibbles of l[j] | l[j + 8] << 4 (j < 8); s[8 + m] = sum over q of (l[4q + m] >> 4) << 2q
  const ln = v128.and(lb, i8x16.splat(0x0F));
  store<u64>(s, i64x2.extract_lane(v128.or(ln, i8x16.shl(v128.shuffle<u8>(ln, ln, 8, 9, 10, 11, 12, 13, 14, 15, 0, 0, 0, 0, 0, 0, 0, 0), 4)), 0));
  const hb = i8x16.shr_u(lb, 4);
  store<u32>(s + 8, i32x4.extract_lane(hb, 0) | (i32x4.extract_lane(hb, 1) << 2) |
    (i32x4.extract_lane(hb, 2) << 4) | (i32x4.extract_lane(hb, 3) << 6));
  const h = fp32_to_fp16(<f32>1 / iscale);
  store<u16>(y + 108, h);
  const dd = f32x4.splat(fp16_to_fp32(h));
  v128.store(dsub, f32x4.mul(dd, f32x4.convert_i32x4_s(i32x4.sub(l0, off))));
  v128.store(dsub, f32x4.mul(dd, f32x4.convert_i32x4_s(i32x4.sub(l1, off))), 16);
  v128.store(dsub, f32x4.mul(dd, f32x4.convert_i32x4_s(i32x4.sub(l2, off))), 32);
  v128.store(dsub, f32x4.mul(dd, f32x4.convert_i32x4_s(i32x4.sub(l3, off))), 48);
}

/**
 * requant16(Lb, xb, d, 4, true) with the clamp on bytes: nearest_int(x / d) + 4 (ggml's bits, kept
 * as i32 in -0x3FFFFC..0x400003) narrowed with signed saturation to i16, then with unsigned
 * saturation to u8 (negative -> 0, the lower clamp), then min 7: clamp(l, -4, 3) + 4 exactly.
 */
// @ts-ignore: decorator
@inline function q3_requant16(Lb: usize, xb: usize, d: f32): void {
  const vd = f32x4.splat(d), magic = f32x4.splat(12582912.0);
  const mask = i32x4.splat(0x007FFFFF), off = i32x4.splat(0x00400000 - 4);
  const q0 = i32x4.sub(v128.and(f32x4.add(f32x4.div(v128.load(xb), vd), magic), mask), off);
  const q1 = i32x4.sub(v128.and(f32x4.add(f32x4.div(v128.load(xb, 16), vd), magic), mask), off);
  const q2 = i32x4.sub(v128.and(f32x4.add(f32x4.div(v128.load(xb, 32), vd), magic), mask), off);
  const q3 = i32x4.sub(v128.and(f32x4.add(f32x4.div(v128.load(xb, 48), vd), magic), mask), off);
  v128.store(Lb, i8x16.min_u(i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_s(q0, q1), i16x8.narrow_i32x4_s(q2, q3)), i8x16.splat(7)));
}

/** SIMD twin of quantize_row_q3_K_ref: the 16 sub-block searches four at a time (one per lane). */
function q3_K_row_simd(y: usize, x: usize, k: i32): void {
  const nb = k / QK_K;
  for (let i = 0; i < nb; i++) {
    q3_K_search16(x, SCALES);
    q3_K_ref_scales_simd(y, SCALES, DSUB);
    for (let j: usize = 0; j < 16; j++) q3_requant16(L + (j << 4), x + (j << 6), load<f32>(DSUB + (j << 2)));
    // a 0 factor keeps the search's codes (made on demand, over the requantization's), as q3_K_codes_pack
    const fz = f32x4.splat(0);
    let zm = i32x4.bitmask(f32x4.eq(v128.load(DSUB), fz)) | (i32x4.bitmask(f32x4.eq(v128.load(DSUB, 16), fz)) << 4) |
      (i32x4.bitmask(f32x4.eq(v128.load(DSUB, 32), fz)) << 8) | (i32x4.bitmask(f32x4.eq(v128.load(DSUB, 48), fz)) << 12);
    for (; zm; zm &= zm - 1) {
      const j = ctz(zm);
      q3_K_search_codes16(L + (<usize>j << 4), x, j);
    }
    q3_K_pack_simd(y, L);
    x += QK_K << 2;
    y += BLOCK_Q3_K;
  }
}

/** imatrix path, SIMD: the 16 sub-block searches of one super-block, four at a time. */
// @ts-ignore: decorator
@inline function q3_K_imat_subblocks(x: usize, qw: usize, sigma2: f32, bz: usize, scales: usize, sw: usize): void {
  const vs = f32x4.splat(sigma2);
  for (let g: usize = 0; g < 4; g++) {
    const xs = x + (g << 8);
    const ws = qw + (g << 8);
    for (let r: usize = 0; r < 16; r += 4) {
      transpose4x4(XT + (r << 4), xs + (r << 2), 64);
      transpose4x4(WT + (r << 4), ws + (r << 2), 64);
    }
    let sumw = f32x4.splat(0);
    for (let r: usize = 0; r < 16; r++) {
      const xv = v128.load(XT + (r << 4));
      const w = f32x4.mul(v128.load(WT + (r << 4)), f32x4.sqrt(f32x4.add(vs, f32x4.mul(xv, xv))));
      v128.store(WT + (r << 4), w);
      sumw = f32x4.add(sumw, w);
    }
    v128.store(sw + (g << 4), sumw);
    v128.store(scales + (g << 4), make_qx_quants_x4(16, 4, XT, WT, 0));
    v128.store(bz + (g << 4), qx_bis);
    v128.store(bz + 64 + (g << 4), qx_zero);
  }
}

/**
 * SIMD twin of the imatrix quantizer, one row. Four super-blocks at a time: their sigma2 sums and
 * the second-level make_qx_quants over the 16 scales run one super-block per lane.
 */
function q3_K_row_imat_simd(y: usize, x: usize, n: i32, qw: usize): void {
  const nb = n / QK_K;
  let i = 0;
  for (; i + 4 <= nb; i += 4) {
    const xb = x + (<usize>(i * QK_K) << 2), wb = qw + (<usize>(i * QK_K) << 2);
    // sigma2 = 2*sumx2/QK_K per super-block
    const s2 = f32x4.div(f32x4.mul(f32x4.splat(2), sumsq_x4(xb, QK_K << 2, QK_K)), f32x4.splat(<f32>QK_K));
    q3_K_imat_subblocks(xb, wb, f32x4.extract_lane(s2, 0), BZ4, SC4, SW4);
    q3_K_imat_subblocks(xb + 1024, wb + 1024, f32x4.extract_lane(s2, 1), BZ4 + 128, SC4 + 64, SW4 + 64);
    q3_K_imat_subblocks(xb + 2048, wb + 2048, f32x4.extract_lane(s2, 2), BZ4 + 256, SC4 + 128, SW4 + 128);
    q3_K_imat_subblocks(xb + 3072, wb + 3072, f32x4.extract_lane(s2, 3), BZ4 + 384, SC4 + 192, SW4 + 192);
    for (let r: usize = 0; r < 16; r += 4) {
      transpose4x4(XT + (r << 4), SC4 + (r << 2), 64);
      transpose4x4(WT + (r << 4), SW4 + (r << 2), 64);
    }
    v128.store(D4, make_qx_quants_x4(16, 32, XT, WT, LT));
    for (let k: usize = 0; k < 4; k++) {
      const yk = y + (<usize>i + k) * BLOCK_Q3_K;
      const s = yk + 96;
      memory.fill(s, 0, 12);
      for (let j = 0; j < 16; j++) {
        let l = load<i32>(LT + (<usize>j << 4) + (k << 2));
        if (j < 8) store<u8>(s + j, l & 0xF);
        else store<u8>(s + j - 8, <i32>load<u8>(s + j - 8) | ((l & 0xF) << 4));
        l >>= 4;
        store<u8>(s + 8 + (j & 3), <i32>load<u8>(s + 8 + (j & 3)) | (l << (2 * (j >> 2))));
      }
      store<u16>(yk + 108, fp32_to_fp16(load<f32>(D4 + (k << 2))));
      q3_K_codes_pack(yk, xb + (k << 10), L4 + (k << 8), true, BZ4 + (k << 7));
    }
  }
  for (; i < nb; i++) {
    const xb = x + (<usize>(i * QK_K) << 2);
    q3_K_imat_subblocks(xb, qw + (<usize>(i * QK_K) << 2), sigma2_of(xb), BZ4, SCALES, SW);
    const yb = y + <usize>i * BLOCK_Q3_K;
    q3_K_imat_scales(yb);
    q3_K_codes_pack(yb, xb, L, true, BZ4);
  }
}

/** Chunk API (ggml quantize_q3_K), SIMD. imatrix: n_per_row f32 or 0. Returns bytes written. */
export function quantize_q3_K(y: usize, x: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  const row_size = <usize>(n_per_row / QK_K) * BLOCK_Q3_K;
  // row by row (no i32 overflow of nrows * n_per_row; blocks never straddle rows)
  for (let r = 0; r < nrows; r++) {
    const yr = y + <usize>r * row_size, xr = x + ((<usize>r * <usize>n_per_row) << 2);
    if (!imatrix) q3_K_row_simd(yr, xr, n_per_row);
    else q3_K_row_imat_simd(yr, xr, n_per_row, imatrix);
  }
  return <usize>nrows * row_size;
}

/** Chunk API, scalar twin of quantize_q3_K. */
export function quantize_q3_K_ref(y: usize, x: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  const row_size = <usize>(n_per_row / QK_K) * BLOCK_Q3_K;
  // row by row (no i32 overflow of nrows * n_per_row; blocks never straddle rows)
  for (let r = 0; r < nrows; r++) {
    const yr = y + <usize>r * row_size, xr = x + ((<usize>r * <usize>n_per_row) << 2);
    if (!imatrix) quantize_row_q3_K_ref(yr, xr, n_per_row);
    else q3_K_row_imat_ref(yr, xr, n_per_row, imatrix);
  }
  return <usize>nrows * row_size;
}

// @ts-ignore: decorator
@inline function q3_scale(s: usize, j: i32): i32 {
  const sc = j < 8 ? <i32>load<u8>(s + j) & 0xF : <i32>load<u8>(s + j - 8) >> 4;
  return (sc | (((<i32>load<u8>(s + 8 + (j & 3)) >> (2 * (j >> 2))) & 3) << 4)) - 32;
}

/** ggml dequantize_row_q3_K, scalar: y = (d * (scale - 32)) * (q - (hbit ? 0 : 4)). */
export function dequantize_row_q3_K_ref(y: usize, x: usize, k: i32): void {
  const nb = k / QK_K;
  for (let i = 0; i < nb; i++) {
    const d_all = fp16_to_fp32(load<u16>(x + 108));
    for (let e = 0; e < QK_K; e++) {
      const n = e >> 7, j = (e >> 5) & 3, l = e & 31;
      const is = (n << 3) + (j << 1) + (l >> 4);
      const dl: f32 = d_all * <f32>q3_scale(x + 96, is);
      const q = (<i32>load<u8>(x + 32 + (n << 5) + l) >> (2 * j)) & 3;
      const h = (<i32>load<u8>(x + l) >> (e >> 5)) & 1;
      store<f32>(y + (<usize>e << 2), dl * <f32>(q - (h ? 0 : 4)));
    }
    x += BLOCK_Q3_K;
    y += QK_K << 2;
  }
}

/** ggml dequantize_row_q3_K, SIMD (16 values per step). */
export function dequantize_row_q3_K(y: usize, x: usize, k: i32): void {
  const nb = k / QK_K;
  const three = i8x16.splat(3), four = i8x16.splat(4);
  for (let i = 0; i < nb; i++) {
    const d_all = fp16_to_fp32(load<u16>(x + 108));
    for (let e = 0; e < QK_K; e += 16) {
      const n = e >> 7, j = (e >> 5) & 3, l = e & 31;
      const is = (n << 3) + (j << 1) + (l >> 4);
      const vd = f32x4.splat(d_all * <f32>q3_scale(x + 96, is));
      const qv = v128.and(i8x16.shr_u(v128.load(x + 32 + (n << 5) + l), <u32>(2 * j)), three);
      const hb = v128.and(i8x16.shr_u(v128.load(x + l), <u32>(e >> 5)), i8x16.splat(1));
      // q - 4 where the high bit is clear (as i8)
      const q = i8x16.sub(qv, v128.andnot(four, i8x16.eq(hb, i8x16.splat(1))));
      const lo = i16x8.extend_low_i8x16_s(q), hi = i16x8.extend_high_i8x16_s(q);
      const o = y + (<usize>e << 2);
      v128.store(o, f32x4.mul(vd, f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(lo))));
      v128.store(o, f32x4.mul(vd, f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(lo))), 16);
      v128.store(o, f32x4.mul(vd, f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(hi))), 32);
      v128.store(o, f32x4.mul(vd, f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(hi))), 48);
    }
    x += BLOCK_Q3_K;
    y += QK_K << 2;
  }
}
