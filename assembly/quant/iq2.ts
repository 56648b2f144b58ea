// iq2_xxs, iq2_xs, iq2_s: 256 values, groups of 8 on an E8-type lattice (2-bit level codes, grid
// values 8 25 43 62), with signs and 4-bit block scales.
//   iq2_xxs (66 bytes, 2.0625 bpw): d @0; qs @2: per 32-block two u32: 4 grid indices (of 256), then
//            4 x 7-bit sign codes (even parity) + scale s in the top 4 bits; value d (0.5 + s) 0.25 grid.
//   iq2_xs  (74 bytes, 2.3125 bpw): d @0; qs 32 x u16 @2 (9-bit index of 512 + 7-bit sign code);
//            scales 8 @66 (one nibble per 16 values).
//   iq2_s   (82 bytes, 2.5625 bpw): d @0; qs 64 @2 (32 index low bytes, 32 plain 8-bit sign masks);
//            qh 8 @66 (index bits 8-9); scales 8 @74.
// Quantizers = ggml quantize_row_iq2_xxs_impl / iq2_xs_impl / iq2_s_impl:
//  * iq2_xxs: 32-blocks; start scale from make_qp_quants(32, 4, |x|, w); 13 candidates
//    (5 + 0.1 is) / (3 scale), is = -6..6; then every group re-quantized at the chosen scale.
//  * iq2_xs, iq2_s: 16-blocks; 19 candidates (5 + 0.1 is) / max, is = -9..9; then the groups that were
//    off the lattice re-quantized.
//  codes nearest_int(0.5 (id x - 1)) clamped to 0..2; a code off the lattice -> the best of its
//  neighbours (weighted squared error with sqrt weights). Weights imatrix[j] sqrt(sigma2 + x^2) with
//  sigma2 = mean(x^2) (iq2_xxs, iq2_xs: an imatrix is required) or 2 mean(x^2) (iq2_s; without imatrix
//  0.25 sigma2 + x^2). Super-scale d = max_scale / 31 (iq2_s stores d * 0.9875).
// SIMD kernels: the exact filtered neighbour scan (inline/iq2_filter.ts), all candidate scales' levels
// first, group by group, with up to 4 scales of one list per pass (cand_levels), then their sums 8
// candidates per loop; iq2_xxs's make_qp_quants 4 blocks per lane (iq2_simd.ts); lane-wise weights /
// signs / codes; every float sum that decides a choice stays in ggml's order (bit-exactness, test/17,
// test/89).
import { neighbour_scan_ref } from "../inline/iq_neighbour";
import { iq2f_group, iq2f_scan, iq2f_scan4 } from "../inline/iq2_filter";
import { fp32_to_fp16, fp16_to_fp32 } from "../inline/f16";
import { nearest_int_x } from "../inline/sym";
import { make_qp_quants } from "./common_asym";
import { make_qp_quants_32x4x4, sums_x4, QPS, SQXC, SQ2C } from "./iq2_simd";
import { iq_grid_table, IQG_2XXS, IQG_2XS, IQG_2S } from "./iq_grids";

// @ts-ignore: decorator
@inline const QK_K: i32 = 256;

const SCALES: usize = memory.data(16 * 4, 16);
const WEIGHT: usize = memory.data(32 * 4, 16);
const WAUX: usize = memory.data(32 * 4, 16);
const XVAL: usize = memory.data(32 * 4, 16);
const L: usize = memory.data(32, 16);
const LAUX: usize = memory.data(32, 16);
const ONG: usize = memory.data(4, 16);
const ONG_AUX: usize = memory.data(4, 16);
const SIGNS: usize = memory.data(4, 16);
const Q2: usize = memory.data(64, 16);
/** SIMD searches: the levels of every candidate scale (up to 20 x 32 bytes), their on-grid flags, w x. */
const LALL: usize = memory.data(20 * 32, 16);
const ONGALL: usize = memory.data(20 * 2, 16);
const WXV: usize = memory.data(32 * 4, 16);
/** SIMD searches: per candidate its scale 1 / id, then id (f32, 32 each), one group's codes (i32) and kmap entries (i32); scan winners. */
const SCC: usize = memory.data(64 * 4, 16);
const UC: usize = memory.data(32 * 4, 16);
const GC: usize = memory.data(32 * 4, 16);
const WIN: usize = memory.data(16, 16);
/** iq2_xxs SIMD: the 8 blocks' prepare outputs (x, weights, sqrt weights: 128 bytes each; signs, max),
 * make_qp_quants' levels and scales of all 8 (4 blocks per lane, iq2_simd.ts). */
const XALL: usize = memory.data(8 * 128, 16);
const WALL: usize = memory.data(8 * 128, 16);
const WAALL: usize = memory.data(8 * 128, 16);
const SGALL: usize = memory.data(8 * 4, 16);
const MXALL: usize = memory.data(8 * 4, 16);
const LQP: usize = memory.data(8 * 32, 16);
const SQP: usize = memory.data(8 * 4, 16);

let G_QG: usize = 0, G_KMAP: usize = 0, G_NB: usize = 0;

// @ts-ignore: decorator
@inline function f(p: usize, i: i32): f32 { return load<f32>(p + (<usize>i << 2)); }
// @ts-ignore: decorator
@inline function fset(p: usize, i: i32, v: f32): void { store<f32>(p + (<usize>i << 2), v); }

/**
 * ggml iq2_find_best_neighbour: best neighbour of group k (of 8, codes -> Lp); returns its index. SIMD:
 * the exact filtered scan of iq2_filter.ts (group k started by iq2f_group after prepare).
 */
function best_neighbour(k: i32, nb: usize, xv: usize, w: usize, scale: f32, Lp: usize, simd: bool): i32 {
  let gi = -1;
  if (simd) {
    gi = iq2f_scan(k, nb, G_QG, xv, w, scale);
  } else {
    gi = neighbour_scan_ref(nb, G_QG, 8, xv, w, scale);
  }
  // no finite distance (values near the f32 range: every sum overflows): ggml asserts; here the first
  // neighbour, in both kernels, instead of reading before the grid
  if (gi < 0) gi = <i32>load<u16>(nb + 2);
  grid_codes8(Lp, G_QG + (<usize>gi << 3), simd);
  return gi;
}

/** Level codes (q - 1) / 2 of grid point pg (8 odd levels 1..7) -> Lp. */
// @ts-ignore: decorator
@inline function grid_codes8(Lp: usize, pg: usize, simd: bool): void {
  if (simd) {
    // q in 1..7 odd: (q - 1) / 2 == (q - 1) >> 1
    v128.store64_lane(Lp, i8x16.shr_u(i8x16.sub(v128.load64_zero(pg), i8x16.splat(1)), 1), 0);
  } else {
    for (let i = 0; i < 8; i++) store<i8>(Lp + i, <i8>((<i32>load<i8>(pg + i) - 1) / 2));
  }
}

// @ts-ignore: decorator
@inline function codes_x4(v: v128, id: f32): v128 {
  const t = f32x4.mul(f32x4.splat(0.5), f32x4.sub(f32x4.mul(f32x4.splat(id), v), f32x4.splat(1)));
  const l = i32x4.sub(v128.and(f32x4.add(t, f32x4.splat(12582912.0)), i32x4.splat(0x007FFFFF)), i32x4.splat(0x00400000));
  return i32x4.max_s(i32x4.splat(0), i32x4.min_s(i32x4.splat(2), l));
}

/** Codes of a group of 8 at id (clamped 0..2) -> Lp; returns the 16-bit key. */
// @ts-ignore: decorator
@inline function codes8(xv: usize, id: f32, Lp: usize, simd: bool): i32 {
  if (simd) {
    const a = codes_x4(v128.load(xv), id), b = codes_x4(v128.load(xv, 16), id);
    const h = i16x8.narrow_i32x4_u(a, b);
    v128.store64_lane(Lp, i8x16.narrow_i16x8_u(h, h), 0);
    // key = sum l_i 4^i (disjoint bits: the sum is the or): one i16 dot product (l_i <= 2, 4^i <= 2^14:
    // every product and pair sum exact in i32), two folds
    let m = i32x4.dot_i16x8_s(h, i16x8(1, 4, 16, 64, 256, 1024, 4096, 16384));
    m = i32x4.add(m, i32x4.shuffle(m, m, 2, 3, 0, 1));
    m = i32x4.add(m, i32x4.shuffle(m, m, 1, 0, 3, 2));
    return i32x4.extract_lane(m, 0);
  }
  let u = 0;
  for (let i = 0; i < 8; i++) {
    let l = nearest_int_x(<f32>0.5 * (id * f(xv, i) - <f32>1));
    l = max<i32>(0, min<i32>(2, l));
    store<i8>(Lp + i, <i8>l);
    u |= l << (2 * i);
  }
  return u;
}

// @ts-ignore: decorator
@inline function key8(Lp: usize): i32 {
  let u = 0;
  for (let i = 0; i < 8; i++) u |= <i32>load<i8>(Lp + i) << (2 * i);
  return u;
}

let SQ2: f32 = 0;
/** sum w x q, sum w q^2 (q = 2 L + 1) over n values, sequential; sumq2 -> SQ2. */
function sums(Lp: usize, n: i32): f32 {
  let sumqx: f32 = 0, sumq2: f32 = 0;
  for (let i = 0; i < n; i++) {
    const w = f(WEIGHT, i);
    const li = <i32>load<i8>(Lp + i);
    const q = <f32>(li * 2 + 1);
    sumqx += w * f(XVAL, i) * q;
    sumq2 += w * q * q;
  }
  SQ2 = sumq2;
  return sumqx;
}

/** Weights, |x| and the signs of one block of n (32 or 16) values; parity: 7-bit sign codes. Returns max |x|. */
function prepare(xb: usize, qw: usize, n: i32, sigma2: f32, variant: i32, simd: bool): f32 {
  if (simd) {
    // lane-wise the same IEEE operations (f32x4.sqrt is correctly rounded like sqrt<f32>)
    const vs = f32x4.splat(sigma2), vs4 = f32x4.splat(<f32>0.25 * sigma2);
    for (let i = 0; i < n; i += 4) {
      const v = v128.load(xb + (<usize>i << 2));
      const wt = qw != 0 ? f32x4.mul(v128.load(qw + (<usize>i << 2)), f32x4.sqrt(f32x4.add(vs, f32x4.mul(v, v)))) : f32x4.add(vs4, f32x4.mul(v, v));
      v128.store(WEIGHT + (<usize>i << 2), wt);
      v128.store(WAUX + (<usize>i << 2), f32x4.sqrt(wt));
    }
  } else {
    for (let i = 0; i < n; i++) {
      const v = f(xb, i);
      fset(WEIGHT, i, qw != 0 ? f(qw, i) * sqrt<f32>(sigma2 + v * v) : <f32>0.25 * sigma2 + v * v);
    }
    for (let i = 0; i < n; i++) fset(WAUX, i, sqrt<f32>(f(WEIGHT, i)));
  }
  for (let k = 0; k < (n >> 3); k++) {
    let nflip = 0;
    let s: u32 = 0;
    if (simd) {
      // v >= 0 ? v : -v (NaN and -0 as the scalar branch); sign bits where !(v >= 0)
      const v0 = v128.load(xb + (<usize>k << 5)), v1 = v128.load(xb + (<usize>k << 5), 16);
      const g0 = f32x4.ge(v0, f32x4.splat(0)), g1 = f32x4.ge(v1, f32x4.splat(0));
      v128.store(XVAL + (<usize>k << 5), v128.bitselect(v0, f32x4.neg(v0), g0));
      v128.store(XVAL + (<usize>k << 5), v128.bitselect(v1, f32x4.neg(v1), g1), 16);
      s = <u32>(~(<i32>i32x4.bitmask(g0) | (<i32>i32x4.bitmask(g1) << 4)) & 255);
      nflip = <i32>popcnt<u32>(s);
    } else {
      for (let i = 0; i < 8; i++) {
        const v = f(xb, 8 * k + i);
        if (v >= 0) fset(XVAL, 8 * k + i, v);
        else { fset(XVAL, 8 * k + i, -v); nflip++; s |= 1 << i; }
      }
    }
    if (variant != 2 && (nflip & 1)) {
      let imin = 0;
      let mn: f32 = f(WEIGHT, 8 * k) * f(xb, 8 * k) * f(xb, 8 * k);
      for (let i = 1; i < 8; i++) {
        const ax: f32 = f(WEIGHT, 8 * k + i) * f(xb, 8 * k + i) * f(xb, 8 * k + i);
        if (ax < mn) { mn = ax; imin = i; }
      }
      fset(XVAL, 8 * k + imin, -f(XVAL, 8 * k + imin));
      s ^= 1 << imin;
    }
    store<u8>(SIGNS + k, <u8>(variant != 2 ? s & 127 : s));
  }
  let mx: f32 = f(XVAL, 0);
  for (let i = 1; i < n; i++) { const v = f(XVAL, i); mx = mx > v ? mx : v; }
  return mx;
}

/**
 * SIMD searches: the levels of ncand candidates (scale 1 / id at SCC, id at SCC + 128) for the ng groups
 * of the block -> LALL (stride bytes per candidate, 8 per group); on-grid flags -> ong[ng c + k] unless
 * ong is 0. Group by group: a group's codes at consecutive candidates are often the same (so its
 * neighbour list), and up to 4 such scales share one pass over the list (iq2f_scan4).
 */
function cand_levels(ncand: i32, ng: i32, stride: i32, ong: usize): void {
  for (let k = 0; k < ng; k++) {
    const xk = XVAL + (<usize>k << 5), wk = WAUX + (<usize>k << 5);
    for (let c = 0; c < ncand; c++) {
      const u = codes8(xk, f(SCC + 128, c), LALL + <usize>(c * stride) + (<usize>k << 3), true);
      const gi = load<i32>(G_KMAP + (<usize>u << 2));
      store<i32>(UC + (<usize>c << 2), u);
      store<i32>(GC + (<usize>c << 2), gi);
      if (ong != 0) store<u8>(ong + <usize>(ng * c + k), gi < 0 ? 0 : 1);
    }
    let c = 0;
    while (c < ncand) {
      const gi = load<i32>(GC + (<usize>c << 2));
      if (gi >= 0) { c++; continue; }
      const u = load<i32>(UC + (<usize>c << 2));
      let e = c + 1;
      while (e < ncand && e - c < 4 && load<i32>(UC + (<usize>e << 2)) == u) e++;
      const nb = G_NB + (<usize>(-gi - 1) << 1);
      iq2f_scan4(k, nb, G_QG, xk, wk, SCC + (<usize>c << 2), e - c, WIN);
      for (let i = c; i < e; i++) {
        let g = load<i32>(WIN + (<usize>(i - c) << 2));
        if (g < 0) g = <i32>load<u16>(nb + 2); // as best_neighbour: no finite distance
        grid_codes8(LALL + <usize>(i * stride) + (<usize>k << 3), G_QG + (<usize>g << 3), true);
      }
      c = e;
    }
  }
}

/**
 * iq2_xxs search of one 32-block (after prepare; SIMD: block ib, whose make_qp_quants levels and scale
 * are in LQP / SQP). Returns the scale, or -1 for a zero block.
 */
function search_xxs(mx: f32, ib: i32, simd: bool): f32 {
  if (mx < <f32>1e-15) { memory.fill(L, 0, 32); return -1; }
  let scale: f32 = 0;
  if (simd) {
    scale = load<f32>(SQP + (<usize>ib << 2));
    memory.copy(L, LQP + (<usize>ib << 5), 32);
  } else {
    scale = make_qp_quants(32, 4, XVAL, L, WEIGHT);
  }
  const eff_max: f32 = scale * <f32>3;
  if (eff_max <= 0) { memory.fill(L, 0, 32); return -1; }
  let best: f32 = 0;
  if (simd) {
    // all 13 candidates' levels (cand_levels), then their sums 4 per lane, then ggml's sequential choice
    for (let c = 0; c < 13; c++) {
      const id: f32 = (<f32>5 + <f32>(c - 6) * <f32>0.1) / eff_max;
      fset(SCC, c, <f32>1 / id);
      fset(SCC + 128, c, id);
    }
    cand_levels(13, 4, 32, 0);
    sums_x4(LALL, 32, 13, WXV, WEIGHT);
    let bc = -1;
    for (let c = 0; c < 13; c++) {
      const sumqx = load<f32>(SQXC + (<usize>c << 2)), sumq2 = load<f32>(SQ2C + (<usize>c << 2));
      if (sumq2 > 0 && sumqx * sumqx > best * sumq2) { scale = sumqx / sumq2; best = scale * sumqx; bc = c; }
    }
    if (bc >= 0) memory.copy(L, LALL + (<usize>bc << 5), 32);
  } else {
    for (let is = -6; is <= 6; is++) {
      const id: f32 = (<f32>5 + <f32>is * <f32>0.1) / eff_max;
      const this_scale: f32 = <f32>1 / id;
      for (let k = 0; k < 4; k++) {
        const u = codes8(XVAL + (<usize>k << 5), id, LAUX + (<usize>k << 3), false);
        const gi = load<i32>(G_KMAP + (<usize>u << 2));
        if (gi < 0) best_neighbour(k, G_NB + (<usize>(-gi - 1) << 1), XVAL + (<usize>k << 5), WAUX + (<usize>k << 5), this_scale, LAUX + (<usize>k << 3), false);
      }
      const sumqx = sums(LAUX, 32), sumq2 = SQ2;
      if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
        scale = sumqx / sumq2; best = scale * sumqx;
        memory.copy(L, LAUX, 32);
      }
    }
  }
  if (scale > 0) {
    const id: f32 = <f32>1 / scale;
    for (let k = 0; k < 4; k++) {
      const u = codes8(XVAL + (<usize>k << 5), id, LAUX + (<usize>k << 3), simd);
      let gi = load<i32>(G_KMAP + (<usize>u << 2));
      if (gi < 0) gi = best_neighbour(k, G_NB + (<usize>(-gi - 1) << 1), XVAL + (<usize>k << 5), WAUX + (<usize>k << 5), scale, L + (<usize>k << 3), simd);
      grid_codes8(L + (<usize>k << 3), G_QG + (<usize>gi << 3), simd);
    }
    const sumqx = sums(L, 32);
    if (SQ2 > 0) scale = sumqx / SQ2;
  }
  if (scale < 0) {
    scale = -scale;
    for (let k = 0; k < 4; k++) store<u8>(SIGNS + k, <u8>(~load<u8>(SIGNS + k) & 127));
  }
  return scale;
}

/** iq2_xs / iq2_s search of one 16-block (after prepare). Returns the scale, or -1 for a zero block. */
function search_16(mx: f32, variant: i32, simd: bool): f32 {
  memory.fill(L, 0, 16);
  if (mx < (variant == 2 ? <f32>1e-8 : <f32>1e-15)) return -1;
  let best: f32 = 0;
  let scale: f32 = mx / <f32>5;
  store<u16>(ONG, 0x0101);
  if (simd) {
    // all 19 candidates' levels, then their sums 4 per lane, then ggml's sequential choice
    for (let c = 0; c < 19; c++) {
      const id: f32 = (<f32>5 + <f32>(c - 9) * <f32>0.1) / mx;
      fset(SCC, c, <f32>1 / id);
      fset(SCC + 128, c, id);
    }
    cand_levels(19, 2, 16, ONGALL);
    sums_x4(LALL, 16, 19, WXV, WEIGHT);
    let bc = -1;
    for (let c = 0; c < 19; c++) {
      const sumqx = load<f32>(SQXC + (<usize>c << 2)), sumq2 = load<f32>(SQ2C + (<usize>c << 2));
      if (sumq2 > 0 && sumqx * sumqx > best * sumq2) { scale = sumqx / sumq2; best = scale * sumqx; bc = c; }
    }
    if (bc >= 0) {
      memory.copy(L, LALL + (<usize>bc << 4), 16);
      store<u16>(ONG, load<u16>(ONGALL + (<usize>bc << 1)));
    }
  } else {
    for (let is = -9; is <= 9; is++) {
      const id: f32 = (<f32>5 + <f32>is * <f32>0.1) / mx;
      const this_scale: f32 = <f32>1 / id;
      for (let k = 0; k < 2; k++) {
        const u = codes8(XVAL + (<usize>k << 5), id, LAUX + (<usize>k << 3), false);
        const gi = load<i32>(G_KMAP + (<usize>u << 2));
        store<u8>(ONG_AUX + k, 1);
        if (gi < 0) {
          store<u8>(ONG_AUX + k, 0);
          best_neighbour(k, G_NB + (<usize>(-gi - 1) << 1), XVAL + (<usize>k << 5), WAUX + (<usize>k << 5), this_scale, LAUX + (<usize>k << 3), false);
        }
      }
      const sumqx = sums(LAUX, 16), sumq2 = SQ2;
      if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
        scale = sumqx / sumq2; best = scale * sumqx;
        memory.copy(L, LAUX, 16);
        store<u16>(ONG, load<u16>(ONG_AUX));
      }
    }
  }
  const n_not = (load<u8>(ONG) == 0 ? 1 : 0) + (load<u8>(ONG + 1) == 0 ? 1 : 0);
  if (n_not > 0 && scale > 0) {
    const id: f32 = <f32>1 / scale;
    for (let k = 0; k < 2; k++) {
      if (load<u8>(ONG + k) != 0) continue;
      const u = codes8(XVAL + (<usize>k << 5), id, L + (<usize>k << 3), simd);
      const gi = load<i32>(G_KMAP + (<usize>u << 2));
      if (gi < 0) best_neighbour(k, G_NB + (<usize>(-gi - 1) << 1), XVAL + (<usize>k << 5), WAUX + (<usize>k << 5), scale, L + (<usize>k << 3), simd);
    }
    const sumqx = sums(L, 16);
    if (SQ2 > 0) scale = sumqx / SQ2;
  }
  if (scale < 0) {
    scale = -scale;
    for (let k = 0; k < 2; k++) store<u8>(SIGNS + k, variant == 2 ? ~load<u8>(SIGNS + k) : <u8>(~load<u8>(SIGNS + k) & 127));
  }
  return scale;
}

// @ts-ignore: decorator
@inline function bytes_of(variant: i32): usize {
  return variant == 0 ? 66 : variant == 1 ? 74 : 82;
}

function quantize_impl(y: usize, x: usize, nrows: i32, n_per_row: i32, imatrix: usize, variant: i32, simd: bool): usize {
  const g = variant == 0 ? IQG_2XXS : variant == 1 ? IQG_2XS : IQG_2S;
  if (variant != 2 && imatrix == 0) return 0; // ggml asserts an imatrix; the facade refuses first (E_IMATRIX)
  G_QG = iq_grid_table(g, 1); G_KMAP = iq_grid_table(g, 2); G_NB = iq_grid_table(g, 3);
  const nbl = n_per_row / QK_K;
  const bsz = bytes_of(variant);
  const bs = variant == 0 ? 32 : 16;
  const nblk = QK_K / bs;
  for (let r = 0; r < nrows; r++) {
    for (let ibl = 0; ibl < nbl; ibl++) {
      memory.fill(y, 0, bsz);
      memory.fill(Q2, 0, 64);
      let sumx2: f32 = 0;
      for (let i = 0; i < QK_K; i++) { const v = f(x, i); sumx2 += v * v; }
      const sigma2: f32 = variant == 2 ? <f32>2 * sumx2 / <f32>256 : sumx2 / <f32>256;
      let max_scale: f32 = 0;
      if (variant == 0 && simd) {
        // every block's weights, |x|, signs first, then make_qp_quants of 4 blocks per lane
        for (let ib = 0; ib < 8; ib++) {
          const o = <usize>ib << 7;
          store<f32>(MXALL + (<usize>ib << 2), prepare(x + o, imatrix + (<usize>(QK_K * ibl + 32 * ib) << 2), 32, sigma2, 0, true));
          memory.copy(XALL + o, XVAL, 128); memory.copy(WALL + o, WEIGHT, 128); memory.copy(WAALL + o, WAUX, 128);
          store<u32>(SGALL + (<usize>ib << 2), load<u32>(SIGNS));
        }
        for (let b = 0; b < 8; b += 4) {
          make_qp_quants_32x4x4(XALL + (<usize>b << 7), WALL + (<usize>b << 7), 128, LQP + (<usize>b << 5));
          v128.store(SQP + (<usize>b << 2), v128.load(QPS));
        }
      }
      for (let ib = 0; ib < nblk; ib++) {
        let mx: f32 = 0;
        if (variant == 0 && simd) {
          const o = <usize>ib << 7;
          memory.copy(XVAL, XALL + o, 128); memory.copy(WEIGHT, WALL + o, 128); memory.copy(WAUX, WAALL + o, 128);
          store<u32>(SIGNS, load<u32>(SGALL + (<usize>ib << 2)));
          mx = load<f32>(MXALL + (<usize>ib << 2));
        } else {
          const qw = imatrix != 0 ? imatrix + (<usize>(QK_K * ibl + bs * ib) << 2) : 0;
          mx = prepare(x + (<usize>(bs * ib) << 2), qw, bs, sigma2, variant, simd);
        }
        if (simd) {
          for (let k = 0; k < (bs >> 3); k++) iq2f_group(k, XVAL + (<usize>k << 5), WAUX + (<usize>k << 5));
          for (let i = 0; i < bs; i += 4) v128.store(WXV + (<usize>i << 2), f32x4.mul(v128.load(WEIGHT + (<usize>i << 2)), v128.load(XVAL + (<usize>i << 2))));
        }
        const scale = variant == 0 ? search_xxs(mx, ib, simd) : search_16(mx, variant, simd);
        if (scale < 0) { fset(SCALES, ib, 0); continue; }
        for (let k = 0; k < (bs >> 3); k++) {
          const gi = load<i32>(G_KMAP + (<usize>key8(L + (<usize>k << 3)) << 2));
          const sg = <u32>load<u8>(SIGNS + k);
          if (variant == 0) {
            store<u32>(Q2 + (<usize>ib << 3), load<u32>(Q2 + (<usize>ib << 3)) | (<u32>gi << (8 * k)));
            store<u32>(Q2 + (<usize>ib << 3) + 4, load<u32>(Q2 + (<usize>ib << 3) + 4) | (sg << (7 * k)));
          } else if (variant == 1) {
            store<u16>(Q2 + (<usize>(2 * ib + k) << 1), <u16>(<u32>gi | (sg << 9)));
          } else {
            const i8 = 2 * ib + k;
            store<u8>(y + 2 + i8, <u8>(gi & 255));
            store<u8>(y + 66 + (i8 >> 2), load<u8>(y + 66 + (i8 >> 2)) | <u8>((gi >> 8) << (2 * (i8 & 3))));
            store<u8>(y + 2 + 32 + i8, <u8>sg);
          }
        }
        fset(SCALES, ib, scale);
        max_scale = max_scale > scale ? max_scale : scale;
      }
      if (max_scale != 0) {
        const d: f32 = max_scale / <f32>31;
        store<u16>(y, fp32_to_fp16(variant == 2 ? d * <f32>0.9875 : d));
        const id: f32 = <f32>1 / d;
        for (let ib = 0; ib < nblk; ib++) {
          let l = nearest_int_x(<f32>0.5 * (id * f(SCALES, ib) - <f32>1));
          l = max<i32>(0, min<i32>(15, l));
          if (variant == 0) {
            const o = Q2 + (<usize>ib << 3) + 4;
            store<u32>(o, load<u32>(o) | (<u32>l << 28));
          } else {
            const so = y + (variant == 1 ? 66 : 74) + (ib >> 1);
            if ((ib & 1) == 0) store<u8>(so, <u8>l);
            else store<u8>(so, load<u8>(so) | <u8>(l << 4));
          }
        }
        if (variant != 2) memory.copy(y + 2, Q2, 64);
      }
      x += <usize>QK_K << 2;
      y += bsz;
    }
  }
  return <usize>nrows * nbl * bsz;
}

/** ggml quantize_iq2_xxs (chunk API; imatrix of n_per_row f32 required, 0 -> nothing written, returns 0), scalar. Returns bytes (66 per 256 values). */
export function quantize_iq2_xxs_ref(y: usize, x: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  return quantize_impl(y, x, nrows, n_per_row, imatrix, 0, false);
}
/** ggml quantize_iq2_xxs, SIMD-assisted; bit-identical to _ref. */
export function quantize_iq2_xxs(y: usize, x: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  return quantize_impl(y, x, nrows, n_per_row, imatrix, 0, true);
}
/** ggml quantize_iq2_xs (imatrix required), scalar. Returns bytes (74 per 256 values). */
export function quantize_iq2_xs_ref(y: usize, x: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  return quantize_impl(y, x, nrows, n_per_row, imatrix, 1, false);
}
/** ggml quantize_iq2_xs, SIMD-assisted; bit-identical to _ref. */
export function quantize_iq2_xs(y: usize, x: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  return quantize_impl(y, x, nrows, n_per_row, imatrix, 1, true);
}
/** ggml quantize_iq2_s (imatrix optional), scalar. Returns bytes (82 per 256 values). */
export function quantize_iq2_s_ref(y: usize, x: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  return quantize_impl(y, x, nrows, n_per_row, imatrix, 2, false);
}
/** ggml quantize_iq2_s, SIMD-assisted; bit-identical to _ref. */
export function quantize_iq2_s(y: usize, x: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  return quantize_impl(y, x, nrows, n_per_row, imatrix, 2, true);
}
/** ggml quantize_row_iq2_s_ref (no imatrix). */
export function quantize_row_iq2_s_ref(y: usize, x: usize, k: i32): void {
  quantize_impl(y, x, 1, k, 0, 2, false);
}

// @ts-ignore: decorator
@inline function ksign_mask(c: u32): u32 {
  return c | ((popcnt<u32>(c) & 1) << 7);
}

/** One group of 8: grid entry g (8 bytes), scale db, sign mask sm (bit j set: negative). */
// @ts-ignore: decorator
@inline function group_ref(y: usize, g: usize, db: f32, sm: u32): void {
  for (let j = 0; j < 8; j++) {
    const v: f32 = db * <f32>load<u8>(g + j);
    store<f32>(y + (<usize>j << 2), (sm >> j) & 1 ? -v : v);
  }
}

// @ts-ignore: decorator
@inline function group_simd(y: usize, g: usize, db: f32, sm: u32): void {
  const vd = f32x4.splat(db);
  const b = i16x8.extend_low_i8x16_u(v128.load64_zero(g));
  const v0 = f32x4.mul(vd, f32x4.convert_i32x4_u(i32x4.extend_low_i16x8_u(b)));
  const v1 = f32x4.mul(vd, f32x4.convert_i32x4_u(i32x4.extend_high_i16x8_u(b)));
  const bits = i32x4(1, 2, 4, 8);
  const s0 = i32x4.eq(v128.and(i32x4.splat(sm), bits), bits);
  const s1 = i32x4.eq(v128.and(i32x4.splat(sm >> 4), bits), bits);
  v128.store(y, v128.bitselect(f32x4.neg(v0), v0, s0));
  v128.store(y, v128.bitselect(f32x4.neg(v1), v1, s1), 16);
}

function dequant_impl(y: usize, x: usize, k: i32, variant: i32, simd: bool): void {
  const dq = iq_grid_table(variant == 0 ? IQG_2XXS : variant == 1 ? IQG_2XS : IQG_2S, 0);
  const nb = k / QK_K;
  const bsz = bytes_of(variant);
  for (let i = 0; i < nb; i++) {
    const d = fp16_to_fp32(load<u16>(x));
    for (let ib = 0; ib < 8; ib++) {
      for (let l = 0; l < 4; l++) {
        let idx: i32, sm: u32, s: u32;
        if (variant == 0) {
          const a0 = load<u32>(x + 2 + (<usize>ib << 3)), a1 = load<u32>(x + 6 + (<usize>ib << 3));
          idx = <i32>((a0 >> (8 * l)) & 255);
          sm = ksign_mask((a1 >> (7 * l)) & 127);
          s = a1 >> 28;
        } else if (variant == 1) {
          const q = <u32>load<u16>(x + 2 + (<usize>(4 * ib + l) << 1));
          idx = <i32>(q & 511);
          sm = ksign_mask(q >> 9);
          s = (<u32>load<u8>(x + 66 + ib) >> (l < 2 ? 0 : 4)) & 15;
        } else {
          idx = <i32>load<u8>(x + 2 + (<usize>(4 * ib + l))) | ((<i32>load<u8>(x + 66 + ib) << (8 - 2 * l)) & 0x300);
          sm = <u32>load<u8>(x + 34 + (<usize>(4 * ib + l)));
          s = (<u32>load<u8>(x + 74 + ib) >> (l < 2 ? 0 : 4)) & 15;
        }
        const db: f32 = d * (<f32>0.5 + <f32>s) * <f32>0.25;
        if (simd) group_simd(y, dq + (<usize>idx << 3), db, sm);
        else group_ref(y, dq + (<usize>idx << 3), db, sm);
        y += 32;
      }
    }
    x += bsz;
  }
}

/** ggml dequantize_row_iq2_xxs (scalar); k a multiple of 256. */
export function dequantize_row_iq2_xxs_ref(y: usize, x: usize, k: i32): void { dequant_impl(y, x, k, 0, false); }
/** ggml dequantize_row_iq2_xxs, SIMD; bit-identical to _ref. */
export function dequantize_row_iq2_xxs(y: usize, x: usize, k: i32): void { dequant_impl(y, x, k, 0, true); }
/** ggml dequantize_row_iq2_xs (scalar). */
export function dequantize_row_iq2_xs_ref(y: usize, x: usize, k: i32): void { dequant_impl(y, x, k, 1, false); }
/** ggml dequantize_row_iq2_xs, SIMD. */
export function dequantize_row_iq2_xs(y: usize, x: usize, k: i32): void { dequant_impl(y, x, k, 1, true); }
/** ggml dequantize_row_iq2_s (scalar). */
export function dequantize_row_iq2_s_ref(y: usize, x: usize, k: i32): void { dequant_impl(y, x, k, 2, false); }
/** ggml dequantize_row_iq2_s, SIMD. */
export function dequantize_row_iq2_s(y: usize, x: usize, k: i32): void { dequant_impl(y, x, k, 2, true); }
