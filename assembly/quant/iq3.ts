// iq3_xxs and iq3_s: 256 values in 8 blocks of 32, each block 8 groups of 4 values on a D4-type
// lattice (iq3_xxs: 256 points, iq3_s: 512 points, 3-bit level codes), plus signs and a 4-bit block scale.
//   iq3_xxs (98 bytes, 3.0625 bpw): d fp16 @0; qs @2: 64 grid indices, then 8 x u32 (4 x 7-bit sign
//            codes of even parity + 4-bit scale s in the top bits); value = d * (0.5 + s) * 0.5 * grid.
//   iq3_s   (110 bytes, 3.4375 bpw): d @0; qs 64 @2 (index low bytes); qh 8 @66 (index bit 8);
//            signs 32 @74 (plain 8-bit masks); scales 4 @106 (4 bits per block); value = d * (1 + 2s) * grid.
// Quantizer = ggml quantize_row_iq3_xxs_impl(256) / quantize_row_iq3_s_impl(32): per block a search over
// 31 (iq3_xxs, is = -15..15) or 19 (iq3_s, is = -9..9) inverse scales (15 + 0.2 is) / max, codes
// nearest_int(0.5 (id x - 1)) clamped to 0..7, groups off the lattice replaced by the best of their
// precomputed neighbours (weighted squared error), least-squares scale; then a re-quantization of the
// groups that were off the lattice at the chosen scale. Weights: imatrix[j] * sqrt(sigma2 + x^2),
// sigma2 = 2 * mean(x^2) of the super-block, else x^2. Super-scale d = max_scale / 31, stored as
// d * 1.0125 (iq3_xxs) / d * 1.033 (iq3_s). Zero blocks: max < 1e-8 (iq3_xxs), max == 0 (iq3_s).
//
// The searches are sequential float reductions (bit-exactness forbids reordering them); the
// "simd" kernels (search_lanes) first compute every candidate's codes and kmap entries, 4 candidates
// per lane set (quad_codes); then per group one filtered walk (assembly/inline/iq3_filter.ts) per 4
// candidates of each run of candidates on the same off-lattice code, or one run certificate for a
// long run (group_points); then the chosen points' codes and the two sums per quad (quad_sums), each
// lane doing ggml's scalar operations in ggml's order; the final re-quantization scans 4 neighbours
// per step.
import { neighbour_scan_ref } from "../inline/iq_neighbour";
import { iq3_codes_lanes, iq3_scan_nb4 } from "../inline/iq3_neighbour";
import { iq3f_block, iq3f_scan_lanes, iq3f_certify } from "../inline/iq3_filter";
export { iq3f_stats } from "../inline/iq3_filter";
import { fp32_to_fp16 } from "../inline/f16";
import { nearest_int_x } from "../inline/sym";
import { iq_grid_table, IQG_3XXS, IQG_3S } from "./iq_grids";

// @ts-ignore: decorator
@inline const QK_K: i32 = 256;

// scratch
const SCALES: usize = memory.data(8 * 4, 16);
const WEIGHT: usize = memory.data(32 * 4, 16);
const WAUX: usize = memory.data(32 * 4, 16);
const XVAL: usize = memory.data(32 * 4, 16);
const L: usize = memory.data(32, 16);
const LAUX: usize = memory.data(32, 16);
const ONG: usize = memory.data(8, 16);
const ONG_AUX: usize = memory.data(8, 16);
const SIGNS: usize = memory.data(8, 16);
const Q3: usize = memory.data(128, 16);
// SIMD search: the sums of 4 candidate scales
const SUMX4: usize = memory.data(8 * 16, 16);
const SUMQ4: usize = memory.data(8 * 16, 16);
// lane search, per quad q of 4 candidates (8 at most: 31 candidates): per value i the 4 candidates'
// level codes (i32x4 at LQ4 + 512 q + 16 i), their sums at SUMX4 / SUMQ4 + 16 q, per lane the on-lattice
// flags of the 8 groups (ONGM + 4 q, byte c, bit k); w_i x_i; per quad and group the 4 code vectors
// (CODEQ + 64 (8 q + k)) and the off-lattice lanes (OFFQ + 8 q + k); per group k and candidate c
// (36 slots each: 31 and room for a 4-lane store) the key, kmap entry and chosen lattice point, per
// candidate its scale
const LQ4: usize = memory.data(8 * 32 * 16, 16);
const WX: usize = memory.data(32 * 4, 16);
const ONGM: usize = memory.data(8 * 4, 16);
const CODEQ: usize = memory.data(8 * 8 * 64, 16);
const OFFQ: usize = memory.data(8 * 8, 16);
const KEYK: usize = memory.data(8 * 36 * 4, 16);
const GIK: usize = memory.data(8 * 36 * 4, 16);
const BIK: usize = memory.data(8 * 36 * 4, 16);
const SC: usize = memory.data(36 * 4, 16);
/** Candidate runs of one code at least this long are first offered to iq3f_certify. */
// @ts-ignore: decorator
@inline const RUN_MIN: i32 = 5;
// the lattices as f32 odd levels (4 per point, 16 bytes), filled on first use
const QGF_3XXS: usize = memory.data(256 * 16, 16);
const QGF_3S: usize = memory.data(512 * 16, 16);
let QGF_READY: i32 = 0;

let G_QG: usize = 0, G_KMAP: usize = 0, G_NB: usize = 0, G_QGF: usize = 0;

// @ts-ignore: decorator
@inline function f(p: usize, i: i32): f32 { return load<f32>(p + (<usize>i << 2)); }
// @ts-ignore: decorator
@inline function fset(p: usize, i: i32, v: f32): void { store<f32>(p + (<usize>i << 2), v); }

/** ggml iq3_find_best_neighbour: writes the 4 codes of the best neighbour to Lp, returns its index. */
function best_neighbour(nb: usize, xv: usize, w: usize, scale: f32, Lp: usize, simd: bool): i32 {
  const n = <i32>load<u16>(nb);
  let best_d2: f32 = 3.4028234663852886e38;
  let gi = -1;
  if (simd) {
    gi = iq3_scan_nb4(nb, G_QGF, xv, w, scale);
  } else {
    gi = neighbour_scan_ref(nb, G_QG, 4, xv, w, scale);
  }
  const pg = G_QG + (<usize>gi << 2);
  for (let i = 0; i < 4; i++) store<i8>(Lp + i, <i8>((<i32>load<i8>(pg + i) - 1) / 2));
  return gi;
}

/** Codes of 4 values at id -> packed 12-bit key (clamped to 0..7), also stored to Lp. */
// @ts-ignore: decorator
@inline function codes4(xv: usize, id: f32, Lp: usize, simd: bool): i32 {
  if (simd) {
    const t = f32x4.mul(f32x4.splat(0.5), f32x4.sub(f32x4.mul(f32x4.splat(id), v128.load(xv)), f32x4.splat(1)));
    const l = i32x4.max_s(i32x4.splat(0), i32x4.min_s(i32x4.splat(7), i32x4.sub(v128.and(f32x4.add(t, f32x4.splat(12582912.0)), i32x4.splat(0x007FFFFF)), i32x4.splat(0x00400000))));
    const b = i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_u(l, l), i16x8.narrow_i32x4_u(l, l));
    v128.store32_lane(Lp, b, 0);
    return i32x4.extract_lane(l, 0) | (i32x4.extract_lane(l, 1) << 3) | (i32x4.extract_lane(l, 2) << 6) | (i32x4.extract_lane(l, 3) << 9);
  }
  let u = 0;
  for (let i = 0; i < 4; i++) {
    let l = nearest_int_x(<f32>0.5 * (id * f(xv, i) - <f32>1));
    l = max<i32>(0, min<i32>(7, l));
    store<i8>(Lp + i, <i8>l);
    u |= l << (3 * i);
  }
  return u;
}

// @ts-ignore: decorator
@inline function key4(Lp: usize): i32 {
  return <i32>load<i8>(Lp) | (<i32>load<i8>(Lp + 1) << 3) | (<i32>load<i8>(Lp + 2) << 6) | (<i32>load<i8>(Lp + 3) << 9);
}

/** sum w x q and sum w q^2 over the 32 values with q = 2 Lp + 1 (sequential, as ggml). Returns sumqx; sumq2 -> SQ2. */
let SQ2: f32 = 0;
// @ts-ignore: decorator
@inline function sums(Lp: usize): f32 {
  let sumqx: f32 = 0, sumq2: f32 = 0;
  for (let i = 0; i < 32; i++) {
    const w = f(WEIGHT, i);
    const li = <i32>load<i8>(Lp + i);
    const q = <f32>(li * 2 + 1);
    sumqx += w * f(XVAL, i) * q;
    sumq2 += w * q * q;
  }
  SQ2 = sumq2;
  return sumqx;
}

/**
 * Phase 1 of the lane search, quad q = candidates is0 .. is0 + nc - 1 (nc <= 4), one per lane: inverse
 * scale id = (15 + 0.2 is) / mx and scale 1 / id per lane (-> SC), the level codes of the 32 values
 * (-> CODEQ), each group's key and kmap entry (-> KEYK, GIK), the off-lattice lanes (OFFQ) and the
 * on-lattice flags (ONGM). Lanes >= nc are computed but never scanned nor chosen.
 */
function quad_codes(q: i32, is0: i32, nc: i32, mx: f32): void {
  const lane = i32x4(0, 1, 2, 3);
  const id4 = f32x4.div(f32x4.add(f32x4.splat(15), f32x4.mul(f32x4.convert_i32x4_s(i32x4.add(i32x4.splat(is0), lane)), f32x4.splat(0.2))), f32x4.splat(mx));
  v128.store(SC + (<usize>q << 4), f32x4.div(f32x4.splat(1), id4));
  const valid = i32x4.lt_s(lane, i32x4.splat(nc));
  let ongm: u32 = 0;
  for (let k = 0; k < 8; k++) {
    const xk = XVAL + (<usize>k << 4);
    const l0 = iq3_codes_lanes(id4, xk), l1 = iq3_codes_lanes(id4, xk + 4);
    const l2 = iq3_codes_lanes(id4, xk + 8), l3 = iq3_codes_lanes(id4, xk + 12);
    const key = v128.or(v128.or(l0, i32x4.shl(l1, 3)), v128.or(i32x4.shl(l2, 6), i32x4.shl(l3, 9)));
    let gi = i32x4.splat(load<i32>(G_KMAP + (<usize>i32x4.extract_lane(key, 0) << 2)));
    gi = i32x4.replace_lane(gi, 1, load<i32>(G_KMAP + (<usize>i32x4.extract_lane(key, 1) << 2)));
    gi = i32x4.replace_lane(gi, 2, load<i32>(G_KMAP + (<usize>i32x4.extract_lane(key, 2) << 2)));
    gi = i32x4.replace_lane(gi, 3, load<i32>(G_KMAP + (<usize>i32x4.extract_lane(key, 3) << 2)));
    const offm = <u32>i32x4.bitmask(v128.and(i32x4.lt_s(gi, i32x4.splat(0)), valid));
    const on = ~offm & 15;
    ongm |= ((on & 1) | ((on & 2) << 7) | ((on & 4) << 14) | ((on & 8) << 21)) << k;
    const cq = CODEQ + (<usize>(8 * q + k) << 6);
    v128.store(cq, l0); v128.store(cq, l1, 16); v128.store(cq, l2, 32); v128.store(cq, l3, 48);
    const o = <usize>(36 * k + 4 * q) << 2;
    v128.store(KEYK + o, key);
    v128.store(GIK + o, gi);
    store<u8>(OFFQ + <usize>(8 * q + k), <u8>offm);
  }
  store<u32>(ONGM + (<usize>q << 2), ongm);
}

/**
 * Phase 2, group k over the n candidates of the block: the best lattice point per candidate (-> BIK):
 * the kmap entry on the lattice; off it, per run of consecutive candidates with the same code (one
 * neighbour list), iq3f_certify's point for the whole run when the run is long and the certificate
 * holds, else the filtered scan of 4 candidates per walk (iq3f_scan_lanes, lanes = the run's
 * candidates). Each is ggml's iq3_find_best_neighbour at that candidate's scale.
 */
function group_points(k: i32, n: i32): void {
  const lane = i32x4(0, 1, 2, 3);
  const kk = KEYK + (<usize>(36 * k) << 2), gk = GIK + (<usize>(36 * k) << 2), bk = BIK + (<usize>(36 * k) << 2);
  const xk = XVAL + (<usize>k << 4), wk = WAUX + (<usize>k << 4);
  let c = 0;
  while (c < n) {
    const gi = load<i32>(gk + (<usize>c << 2));
    if (gi >= 0) { store<i32>(bk + (<usize>c << 2), gi); c++; continue; }
    const key = load<i32>(kk + (<usize>c << 2));
    let e = c + 1;
    while (e < n && load<i32>(kk + (<usize>e << 2)) == key) e++;
    const nb = G_NB + (<usize>(-gi - 1) << 1);
    if (e - c >= RUN_MIN) {
      // scales fall with the candidate index: sa = s(c) >= sb = s(e - 1)
      const j = iq3f_certify(k, nb, G_QGF, wk, load<f32>(SC + (<usize>c << 2)), load<f32>(SC + (<usize>(e - 1) << 2)));
      if (j >= 0) {
        for (let t = c; t < e; t++) store<i32>(bk + (<usize>t << 2), j);
        c = e;
        continue;
      }
    }
    // 4 candidates per walk; a store past e is overwritten when its candidates' run comes
    for (let t = c; t < e; t += 4) {
      const m = i32x4.lt_s(lane, i32x4.splat(e - t));
      v128.store(bk + (<usize>t << 2), iq3f_scan_lanes(k, nb, G_QGF, xk, wk, v128.load(SC + (<usize>t << 2)), m));
    }
    c = e;
  }
}

/**
 * Phase 3, quad q (nc lanes): the chosen points' codes per lane (-> LQ4 + 512 q; a group on the lattice
 * in all lanes keeps its codes) and the two weighted sums per lane (-> SUMX4 / SUMQ4 + 16 q), each lane
 * summed in ggml's element order.
 */
function quad_sums(q: i32, nc: i32): void {
  const valid = i32x4.lt_s(i32x4(0, 1, 2, 3), i32x4.splat(nc));
  const lq = LQ4 + (<usize>q << 9);
  for (let k = 0; k < 8; k++) {
    const dst = lq + (<usize>k << 6);
    if (load<u8>(OFFQ + <usize>(8 * q + k)) == 0) {
      memory.copy(dst, CODEQ + (<usize>(8 * q + k) << 6), 64);
      continue;
    }
    const bi = v128.and(v128.load(BIK + (<usize>(36 * k + 4 * q) << 2)), valid); // lanes >= nc: any lattice point
    // the 4 chosen points' odd levels q -> codes (q - 1) / 2 (C division, as the scalar path)
    let pts = v128.load32_zero(G_QG + (<usize>i32x4.extract_lane(bi, 0) << 2));
    pts = v128.load32_lane(G_QG + (<usize>i32x4.extract_lane(bi, 1) << 2), pts, 1);
    pts = v128.load32_lane(G_QG + (<usize>i32x4.extract_lane(bi, 2) << 2), pts, 2);
    pts = v128.load32_lane(G_QG + (<usize>i32x4.extract_lane(bi, 3) << 2), pts, 3);
    const t = i8x16.shuffle(pts, pts, 0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    const lo = i16x8.extend_low_i8x16_s(t), hi = i16x8.extend_high_i8x16_s(t);
    v128.store(dst, half_code(i32x4.extend_low_i16x8_s(lo)));
    v128.store(dst, half_code(i32x4.extend_high_i16x8_s(lo)), 16);
    v128.store(dst, half_code(i32x4.extend_low_i16x8_s(hi)), 32);
    v128.store(dst, half_code(i32x4.extend_high_i16x8_s(hi)), 48);
  }
  let vx = f32x4.splat(0), vq = f32x4.splat(0);
  for (let i = 0; i < 32; i++) {
    const qv = f32x4.convert_i32x4_s(i32x4.add(i32x4.shl(v128.load(lq + (<usize>i << 4)), 1), i32x4.splat(1)));
    const w = v128.load32_splat(WEIGHT + (<usize>i << 2));
    vx = f32x4.add(vx, f32x4.mul(v128.load32_splat(WX + (<usize>i << 2)), qv));
    vq = f32x4.add(vq, f32x4.mul(f32x4.mul(w, qv), qv));
  }
  v128.store(SUMX4 + (<usize>q << 4), vx);
  v128.store(SUMQ4 + (<usize>q << 4), vq);
}

/** The lane search of a block (XVAL, WEIGHT, WAUX, WX set): candidates is = -nis .. nis in quads, phases 1-3. */
function search_lanes(nis: i32, mx: f32): void {
  const n = 2 * nis + 1, nq = (n + 3) >> 2;
  for (let q = 0; q < nq; q++) quad_codes(q, -nis + 4 * q, min<i32>(4, n - 4 * q), mx);
  for (let k = 0; k < 8; k++) group_points(k, n);
  for (let q = 0; q < nq; q++) quad_sums(q, min<i32>(4, n - 4 * q));
}

/** (q - 1) / 2 per i32 lane with C's truncating division (q odd on the lattice: exact). */
// @ts-ignore: decorator
@inline function half_code(q: v128): v128 {
  const v = i32x4.sub(q, i32x4.splat(1));
  return i32x4.shr_s(i32x4.add(v, i32x4.shr_u(v, 31)), 1);
}

/**
 * One 32-block search. xxs: iq3_xxs rules (parity signs, eps 1e-8, is = -15..15, re-quantize only the
 * groups off the lattice), else iq3_s. Leaves the codes in L and signs in SIGNS; returns the scale
 * (or -1 when the block is skipped as zero).
 */
function block_search(xb: usize, qw: usize, sigma2: f32, xxs: bool, simd: bool): f32 {
  if (simd) {
    // the same IEEE operations lane-wise (sqrt is correctly rounded in both)
    const vs = f32x4.splat(sigma2);
    for (let i = 0; i < 8; i++) {
      const o = <usize>i << 4, v = v128.load(xb + o), v2 = f32x4.mul(v, v);
      const w = qw != 0 ? f32x4.mul(v128.load(qw + o), f32x4.sqrt(f32x4.add(vs, v2))) : v2;
      v128.store(WEIGHT + o, w);
      v128.store(WAUX + o, f32x4.sqrt(w));
    }
  } else {
    for (let i = 0; i < 32; i++) {
      const v = f(xb, i);
      fset(WEIGHT, i, qw != 0 ? f(qw, i) * sqrt<f32>(sigma2 + v * v) : v * v);
    }
    for (let i = 0; i < 32; i++) fset(WAUX, i, sqrt<f32>(f(WEIGHT, i)));
  }
  for (let k = 0; k < 4; k++) {
    let nflip = 0;
    let s: u32 = 0;
    if (simd) {
      // v >= 0 ? v : -v and the sign bits, 4 lanes (inputs are NaN-free)
      const o = <usize>k << 5;
      const v0 = v128.load(xb + o), v1 = v128.load(xb + o + 16);
      const p0 = f32x4.ge(v0, f32x4.splat(0)), p1 = f32x4.ge(v1, f32x4.splat(0));
      v128.store(XVAL + o, v128.bitselect(v0, f32x4.neg(v0), p0));
      v128.store(XVAL + o + 16, v128.bitselect(v1, f32x4.neg(v1), p1));
      s = (~(<u32>i32x4.bitmask(p0) | (<u32>i32x4.bitmask(p1) << 4))) & 255;
      nflip = <i32>popcnt<u32>(s);
    } else {
      for (let i = 0; i < 8; i++) {
        const v = f(xb, 8 * k + i);
        if (v >= 0) fset(XVAL, 8 * k + i, v);
        else { fset(XVAL, 8 * k + i, -v); nflip++; s |= 1 << i; }
      }
    }
    if (xxs && (nflip & 1)) {
      let imin = 0;
      let mn: f32 = f(WEIGHT, 8 * k) * f(xb, 8 * k) * f(xb, 8 * k);
      for (let i = 1; i < 8; i++) {
        const ax: f32 = f(WEIGHT, 8 * k + i) * f(xb, 8 * k + i) * f(xb, 8 * k + i);
        if (ax < mn) { mn = ax; imin = i; }
      }
      fset(XVAL, 8 * k + imin, -f(XVAL, 8 * k + imin));
      s ^= 1 << imin;
    }
    store<u8>(SIGNS + k, <u8>(xxs ? s & 127 : s));
  }
  if (simd) iq3f_block(XVAL, WAUX);
  let mx: f32 = f(XVAL, 0);
  for (let i = 1; i < 32; i++) { const v = f(XVAL, i); mx = mx > v ? mx : v; }
  memory.fill(L, 0, 32);
  if (xxs ? mx < <f32>1e-8 : mx == 0) return -1;
  let best: f32 = 0;
  let scale: f32 = mx / <f32>15;
  memory.fill(ONG, xxs ? 1 : 0, 8);
  const nis = xxs ? 15 : 9;
  const step: f32 = 0.2;
  if (simd) {
    // 4 candidate scales at a time, one per lane (search_lanes), then ggml's sequential choice.
    for (let i = 0; i < 8; i++) v128.store(WX + (<usize>i << 4), f32x4.mul(v128.load(WEIGHT + (<usize>i << 4)), v128.load(XVAL + (<usize>i << 4))));
    search_lanes(nis, mx);
    const n = 2 * nis + 1;
    // ggml copies the codes and flags at every improvement; only the last improver's survive, so
    // they are copied once, after the loop (the same final L and ONG)
    let bc = -1;
    for (let ci = 0; ci < n; ci++) {
      const sumqx = f(SUMX4, ci), sumq2 = f(SUMQ4, ci);
      if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
        scale = sumqx / sumq2; best = scale * sumqx;
        bc = ci;
      }
    }
    if (bc >= 0) {
      const src = LQ4 + (<usize>(bc >> 2) << 9) + (<usize>(bc & 3) << 2);
      for (let i = 0; i < 32; i++) store<i8>(L + i, <i8>load<i32>(src + (<usize>i << 4)));
      const og = <i32>load<u8>(ONGM + <usize>bc);
      for (let k = 0; k < 8; k++) store<u8>(ONG + k, <u8>((og >> k) & 1));
    }
  } else {
    for (let is = -nis; is <= nis; is++) {
      const id: f32 = (<f32>15 + <f32>is * step) / mx;
      const this_scale: f32 = <f32>1 / id;
      for (let k = 0; k < 8; k++) {
        const u = codes4(XVAL + (<usize>k << 4), id, LAUX + (<usize>k << 2), simd);
        const gi = load<i32>(G_KMAP + (<usize>u << 2));
        store<u8>(ONG_AUX + k, 1);
        if (gi < 0) {
          store<u8>(ONG_AUX + k, 0);
          best_neighbour(G_NB + (<usize>(-gi - 1) << 1), XVAL + (<usize>k << 4), WAUX + (<usize>k << 4), this_scale, LAUX + (<usize>k << 2), simd);
        }
      }
      const sumqx = sums(LAUX);
      const sumq2 = SQ2;
      if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
        scale = sumqx / sumq2; best = scale * sumqx;
        memory.copy(L, LAUX, 32);
        memory.copy(ONG, ONG_AUX, 8);
      }
    }
  }
  let n_not = 0;
  for (let k = 0; k < 8; k++) if (load<u8>(ONG + k) == 0) n_not++;
  if (n_not > 0 && scale > 0) {
    const id: f32 = <f32>1 / scale;
    for (let k = 0; k < 8; k++) {
      if (xxs && load<u8>(ONG + k) != 0) continue;
      const u = codes4(XVAL + (<usize>k << 4), id, LAUX + (<usize>k << 2), simd);
      let gi = load<i32>(G_KMAP + (<usize>u << 2));
      if (gi < 0) gi = best_neighbour(G_NB + (<usize>(-gi - 1) << 1), XVAL + (<usize>k << 4), WAUX + (<usize>k << 4), scale, L + (<usize>k << 2), simd);
      const pg = G_QG + (<usize>gi << 2);
      for (let i = 0; i < 4; i++) store<i8>(L + (<usize>(4 * k + i)), <i8>((<i32>load<i8>(pg + i) - 1) / 2));
    }
    const sumqx = sums(L);
    if (SQ2 > 0) scale = sumqx / SQ2;
  }
  if (scale < 0) {
    scale = -scale;
    for (let k = 0; k < 4; k++) store<u8>(SIGNS + k, xxs ? <u8>(~load<u8>(SIGNS + k) & 127) : ~load<u8>(SIGNS + k));
  }
  return scale;
}

/**
 * @internal Test probe of the lane search (test/88): loads one 32-block's search state from the caller
 * - values xv (32 f32, as the block's |x| after the sign handling), weights w (32) and their square
 * roots waux (32), max mx - for grid iq3_xxs (xxs true) or iq3_s, runs the block's lane search
 * (search_lanes: every candidate, run certificates included) and the scalar search of candidates is0
 * .. is0 + nc - 1 (one quad: is0 = -nis + 4 q, nc 1..4; codes, ggml's neighbour scan, sums in element
 * order), and returns the bitmask of candidates whose 32 codes, 8 on-lattice flags, sumqx or sumq2
 * (bit patterns) differ; 0 when the two agree.
 */
export function iq3_quad_check(xv: usize, w: usize, waux: usize, mx: f32, is0: i32, nc: i32, xxs: bool): i32 {
  set_grid(xxs);
  memory.copy(XVAL, xv, 128); memory.copy(WEIGHT, w, 128); memory.copy(WAUX, waux, 128);
  iq3f_block(XVAL, WAUX);
  for (let i = 0; i < 8; i++) v128.store(WX + (<usize>i << 4), f32x4.mul(v128.load(WEIGHT + (<usize>i << 4)), v128.load(XVAL + (<usize>i << 4))));
  const nis = xxs ? 15 : 9;
  search_lanes(nis, mx);
  const q = (is0 + nis) >> 2;
  let bad = 0;
  for (let c = 0; c < nc; c++) {
    const ci = 4 * q + c;
    const id: f32 = (<f32>15 + <f32>(is0 + c) * <f32>0.2) / mx;
    const this_scale: f32 = <f32>1 / id;
    let og = 0;
    for (let k = 0; k < 8; k++) {
      const u = codes4(XVAL + (<usize>k << 4), id, LAUX + (<usize>k << 2), false);
      const gi = load<i32>(G_KMAP + (<usize>u << 2));
      if (gi >= 0) og |= 1 << k;
      else best_neighbour(G_NB + (<usize>(-gi - 1) << 1), XVAL + (<usize>k << 4), WAUX + (<usize>k << 4), this_scale, LAUX + (<usize>k << 2), false);
    }
    const sumqx = sums(LAUX);
    let ok = reinterpret<i32>(sumqx) == reinterpret<i32>(f(SUMX4, ci)) && reinterpret<i32>(SQ2) == reinterpret<i32>(f(SUMQ4, ci)) && og == <i32>load<u8>(ONGM + <usize>ci);
    for (let i = 0; i < 32; i++) ok = ok && <i32>load<i8>(LAUX + i) == load<i32>(LQ4 + (<usize>q << 9) + (<usize>i << 4) + (<usize>c << 2));
    if (!ok) bad |= 1 << c;
  }
  return bad;
}

/** Points the kernels at grid iq3_xxs (xxs) or iq3_s, building it (and its f32 copy) on first use. */
function set_grid(xxs: bool): void {
  const g = xxs ? IQG_3XXS : IQG_3S;
  G_QG = iq_grid_table(g, 1); G_KMAP = iq_grid_table(g, 2); G_NB = iq_grid_table(g, 3);
  G_QGF = xxs ? QGF_3XXS : QGF_3S;
  const bit = xxs ? 1 : 2;
  if ((QGF_READY & bit) == 0) {
    const np = xxs ? 256 : 512;
    for (let i = 0; i < 4 * np; i++) fset(G_QGF, i, <f32>load<i8>(G_QG + <usize>i));
    QGF_READY |= bit;
  }
}

function quantize_impl(y: usize, x: usize, nrows: i32, n_per_row: i32, imatrix: usize, xxs: bool, simd: bool): usize {
  set_grid(xxs);
  const nbl = n_per_row / QK_K;
  const bsz: usize = xxs ? 98 : 110;
  for (let r = 0; r < nrows; r++) {
    for (let ibl = 0; ibl < nbl; ibl++) {
      memory.fill(y, 0, bsz);
      memory.fill(Q3, 0, 128);
      let sumx2: f32 = 0;
      for (let i = 0; i < QK_K; i++) { const v = f(x, i); sumx2 += v * v; }
      const sigma2: f32 = <f32>2 * sumx2 / <f32>256;
      let max_scale: f32 = 0;
      // ggml's iq3_s advances its qs / signs pointers only past blocks it wrote (zero blocks are
      // skipped), so the groups of the blocks after a zero block land one block early; qh is indexed
      // by block. Reproduced as is (llama.cpp writes exactly these bytes).
      let nwritten = 0;
      for (let ib = 0; ib < 8; ib++) {
        const qw = imatrix != 0 ? imatrix + (<usize>(QK_K * ibl + 32 * ib) << 2) : 0;
        let scale = block_search(x + (<usize>ib << 7), qw, sigma2, xxs, simd);
        if (scale < 0) { fset(SCALES, ib, 0); continue; }
        for (let k = 0; k < 8; k++) {
          const gi = load<i32>(G_KMAP + (<usize>key4(L + (<usize>k << 2)) << 2));
          if (xxs) store<u8>(Q3 + (<usize>(8 * ib + k)), <u8>gi);
          else {
            store<u8>(y + 2 + (<usize>(8 * nwritten + k)), <u8>(gi & 255));
            store<u8>(y + 66 + ib, load<u8>(y + 66 + ib) | <u8>((gi >> 8) << k));
          }
        }
        if (xxs) {
          store<u32>(Q3 + 64 + (<usize>ib << 2), <u32>load<u8>(SIGNS) | (<u32>load<u8>(SIGNS + 1) << 7) | (<u32>load<u8>(SIGNS + 2) << 14) | (<u32>load<u8>(SIGNS + 3) << 21));
        } else {
          store<u32>(y + 74 + (<usize>nwritten << 2), load<u32>(SIGNS));
        }
        nwritten++;
        fset(SCALES, ib, scale);
        max_scale = max_scale > scale ? max_scale : scale;
      }
      if (max_scale != 0) {
        const d: f32 = max_scale / <f32>31;
        store<u16>(y, fp32_to_fp16(d * (xxs ? <f32>1.0125 : <f32>1.033)));
        const id: f32 = <f32>1 / d;
        for (let ib = 0; ib < 8; ib++) {
          let l = nearest_int_x(<f32>0.5 * (id * f(SCALES, ib) - <f32>1));
          l = max<i32>(0, min<i32>(15, l));
          if (xxs) store<u32>(Q3 + 64 + (<usize>ib << 2), load<u32>(Q3 + 64 + (<usize>ib << 2)) | (<u32>l << 28));
          else if ((ib & 1) == 0) store<u8>(y + 106 + (ib >> 1), <u8>l);
          else store<u8>(y + 106 + (ib >> 1), load<u8>(y + 106 + (ib >> 1)) | <u8>(l << 4));
        }
        if (xxs) memory.copy(y + 2, Q3, 96);
      }
      x += <usize>QK_K << 2;
      y += bsz;
    }
  }
  return <usize>nrows * nbl * bsz;
}

/** ggml quantize_iq3_xxs (chunk API; imatrix 0 or n_per_row f32), scalar. Returns bytes written (98 per 256 values). */
export function quantize_iq3_xxs_ref(y: usize, x: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  return quantize_impl(y, x, nrows, n_per_row, imatrix, true, false);
}
/** ggml quantize_iq3_xxs, SIMD code computation and neighbour distances; bit-identical to _ref. */
export function quantize_iq3_xxs(y: usize, x: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  return quantize_impl(y, x, nrows, n_per_row, imatrix, true, true);
}
/** ggml quantize_row_iq3_xxs_ref (no imatrix; same bytes as the chunk API without one). */
export function quantize_row_iq3_xxs_ref(y: usize, x: usize, k: i32): void {
  quantize_impl(y, x, 1, k, 0, true, false);
}
/** ggml quantize_iq3_s (chunk API), scalar. Returns bytes written (110 per 256 values). */
export function quantize_iq3_s_ref(y: usize, x: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  return quantize_impl(y, x, nrows, n_per_row, imatrix, false, false);
}
/** ggml quantize_iq3_s, SIMD code computation and neighbour distances; bit-identical to _ref. */
export function quantize_iq3_s(y: usize, x: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  return quantize_impl(y, x, nrows, n_per_row, imatrix, false, true);
}
/** ggml quantize_row_iq3_s_ref (no imatrix). */
export function quantize_row_iq3_s_ref(y: usize, x: usize, k: i32): void {
  quantize_impl(y, x, 1, k, 0, false, false);
}

// the dequantizers live in iq3_dequant.ts (one concern per file); exported here as before
export { dequantize_row_iq3_xxs_ref, dequantize_row_iq3_s_ref, dequantize_row_iq3_xxs, dequantize_row_iq3_s } from "./iq3_dequant";
