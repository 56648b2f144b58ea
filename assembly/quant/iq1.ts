// iq1_s and iq1_m: 256 values, groups of 8 on a ternary lattice (2048 points, values -1 0 +1) shifted
// by +-0.125 per block, with 3-bit block scales.
//   iq1_s (50 bytes, 1.5625 bpw): d fp16 @0; qs 32 @2 (index low bytes); qh 8 x u16 @34: per 32-block
//          3 x 4 index high bits, scale s (bits 12-14), shift sign (bit 15); value d (2s + 1) (g +- 0.125).
//   iq1_m (56 bytes, 1.75 bpw): qs 32 @0; qh 16 @32 (per 16-block two 3-bit index highs + 2 shift
//          bits); scales 4 x u16 @48: 3-bit scales of the 16-blocks, the fp16 d in the top nibbles.
// Quantizers = ggml quantize_row_iq1_s_impl / quantize_row_iq1_m_impl: weights imatrix[j] sqrt(sigma2
// + x^2) (sigma2 = 2 mean(x^2); iq1_s requires an imatrix, iq1_m without one uses x^2); per block the
// values are sorted (stably, as glibc's qsort) and every split into three groups (-1, 0, +1) with
// both shifts (iq1_m: per 8-half, four sign combinations) is scored exactly with prefix sums (iq1_m:
// prefix sums per 8-half, llama.cpp de3ff81's form T v2 - px[i1] - px[i2]; the quantize_iq1_m_d3cf1f14
// kernels use the older per-split sums of ggml d3cf1f14 instead, iq1m_d3cf1f14.ts); groups off the lattice are moved
// to the best neighbour (weighted squared error), super-scale d = max_scale / 15 (iq1_s stores d *
// 1.125; iq1_m re-fits d by least squares over the whole super-block and stores d * 1.1125).
// Zero blocks: max |x| < 1e-12 (iq1_s) / 1e-7 (iq1_m).
// The exhaustive split search is a sequence of dependent comparisons over float sums that must stay
// in ggml's order; the "simd" kernels vectorize the neighbour distance terms, and for iq1_m the split
// scores four i2 at a time (steps that cannot beat the running best are skipped, the others replayed
// in order with scalar comparisons).
import { neighbour_scan_simd8 } from "../inline/iq_neighbour";
import { iq1m_search_d3cf1f14 } from "./iq1m_d3cf1f14";
import { fp32_to_fp16, fp16_to_fp32 } from "../inline/f16";
import { nearest_int_x } from "../inline/sym";
import { iq_grid_table, IQG_1S } from "./iq_grids";

// @ts-ignore: decorator
@inline const QK_K: i32 = 256;
// @ts-ignore: decorator
@inline const FLT_MAX: f32 = 3.4028234663852886e38;

const SCALES: usize = memory.data(16 * 4, 16);
const SHIFTS: usize = memory.data(16, 16);
const WEIGHT: usize = memory.data(32 * 4, 16);
const L: usize = memory.data(32, 16);
const SV: usize = memory.data(32 * 4, 16); // sorted values
const SI: usize = memory.data(32 * 4, 16); // their indices
const SUMX: usize = memory.data(36 * 4, 16); // 33 prefix sums + padding for the 4-lane loads past 32
const SUMW: usize = memory.data(36 * 4, 16);
const SLANES: usize = memory.data(4 * 16, 16); // iq1_s SIMD split search: sumqx / sumq2 of 4 i2, both shifts
const INDEX: usize = memory.data(4 * 4, 16);
// x_p = {-1 + 0.125, 0.125, 1 + 0.125}, x_m = {-1 - 0.125, -0.125, 1 - 0.125}
const XP: usize = memory.data<f32>([-0.875, 0.125, 1.125, 0]);
const XM: usize = memory.data<f32>([-1.125, -0.125, 0.875, 0]);

let G_QG: usize = 0, G_KMAP: usize = 0, G_NB: usize = 0;

// @ts-ignore: decorator
@inline function f(p: usize, i: i32): f32 { return load<f32>(p + (<usize>i << 2)); }
// @ts-ignore: decorator
@inline function fset(p: usize, i: i32, v: f32): void { store<f32>(p + (<usize>i << 2), v); }
// @ts-ignore: decorator
@inline function ii(p: usize, i: i32): i32 { return load<i32>(p + (<usize>i << 2)); }

const RANK: usize = memory.data(32 * 4, 16); // sort_values_simd: the sorted position of each value
const LANE_IDX: usize = memory.data<i32>([0, 1, 2, 3]);

/**
 * sort_values by ranks (n = 16 or 32; xb need not be 16-byte aligned): value j goes
 * to position r_j = #{i < j : x_i <= x_j} + #{i > j : x_i < x_j}, four j per lane vector. For values
 * without NaN (a total preorder under <, with -0 == +0) this is exactly the position the stable
 * insertion sort gives value j (all smaller values and the equal ones before it precede it), so SV /
 * SI are identical. A block with a NaN takes sort_values itself.
 */
function sort_values_simd(xb: usize, n: i32): void {
  let nan = v128.or(f32x4.ne(v128.load(xb), v128.load(xb)), f32x4.ne(v128.load(xb, 16), v128.load(xb, 16)));
  for (let m = 8; m < n; m += 8) {
    const o = <usize>m << 2;
    nan = v128.or(nan, v128.or(f32x4.ne(v128.load(xb + o), v128.load(xb + o)), f32x4.ne(v128.load(xb + o, 16), v128.load(xb + o, 16))));
  }
  if (v128.any_true(nan)) { sort_values(xb, n); return; }
  const lane = v128.load(LANE_IDX);
  for (let m = 0; m < n; m += 4) {
    const xj = v128.load(xb + (<usize>m << 2));
    const jidx = i32x4.add(lane, i32x4.splat(m));
    let acc = i32x4.splat(0);
    for (let i = 0; i < n; i++) {
      const xi = f32x4.splat(f(xb, i));
      const c = v128.bitselect(f32x4.le(xi, xj), f32x4.lt(xi, xj), i32x4.lt_s(i32x4.splat(i), jidx));
      acc = i32x4.sub(acc, c);
    }
    v128.store(RANK + (<usize>m << 2), acc);
  }
  for (let j = 0; j < n; j++) {
    const r = <usize>ii(RANK, j) << 2;
    store<f32>(SV + r, f(xb, j));
    store<i32>(SI + r, j);
  }
}

/** Stable ascending sort of the n values at xb (insertion sort; equal values keep their order). */
function sort_values(xb: usize, n: i32): void {
  for (let j = 0; j < n; j++) {
    const v = f(xb, j);
    let k = j;
    while (k > 0 && f(SV, k - 1) > v) {
      fset(SV, k, f(SV, k - 1));
      store<i32>(SI + (<usize>k << 2), ii(SI, k - 1));
      k--;
    }
    fset(SV, k, v);
    store<i32>(SI + (<usize>k << 2), j);
  }
}

/**
 * ggml iq1_find_best_neighbour2: among the neighbours, the point minimizing sum w (scale xx[L] - x)^2
 * (x signed, w the plain weights); codes -> Lp. Returns its index.
 */
function best_neighbour2(nb: usize, xv: usize, w: usize, scale: f32, xx: usize, Lp: usize, simd: bool): i32 {
  const n = <i32>load<u16>(nb);
  let best: f32 = FLT_MAX;
  let gi = -1;
  if (simd) {
    // xx[l] = l + xx[0] exactly (xx = x_p or x_m)
    gi = neighbour_scan_simd8(nb, G_QG, xv, w, scale, true, load<f32>(xx));
  } else {
    for (let j = 1; j <= n; j++) {
      const idx = <i32>load<u16>(nb + (<usize>j << 1));
      const pg = G_QG + (<usize>idx << 3);
      let d2: f32 = 0;
      for (let i = 0; i < 8; i++) {
        const q = f(xx, (<i32>load<i8>(pg + i) - 1) / 2);
        const diff = scale * q - f(xv, i);
        d2 += f(w, i) * diff * diff;
      }
      if (d2 < best) { best = d2; gi = idx; }
    }
  }
  // ggml falls back to an exhaustive search when no neighbour gives a finite distance (unreachable
  // for finite input: every neighbour distance is finite); keep the first neighbour then.
  if (gi < 0) gi = <i32>load<u16>(nb + 2);
  const pg = G_QG + (<usize>gi << 3);
  for (let i = 0; i < 8; i++) store<i8>(Lp + i, <i8>((<i32>load<i8>(pg + i) - 1) / 2));
  return gi;
}

// @ts-ignore: decorator
@inline function key8(Lp: usize): i32 {
  let u = 0;
  for (let i = 0; i < 8; i++) u |= <i32>load<i8>(Lp + i) << (2 * i);
  return u;
}

/** Lattice index of group k (codes in L), moving it to its best neighbour when off the lattice. Returns -(gi+1) if moved. */
// @ts-ignore: decorator
@inline function group_index(xb: usize, k: i32, scale: f32, xx: usize, simd: bool): i32 {
  const u = key8(L + (<usize>k << 3));
  let gi = load<i32>(G_KMAP + (<usize>u << 2));
  if (gi < 0) {
    gi = best_neighbour2(G_NB + (<usize>(-gi - 1) << 1), xb + (<usize>k << 5), WEIGHT + (<usize>k << 5), scale, xx, L + (<usize>k << 3), simd);
    return -(gi + 1);
  }
  return gi;
}

const WALL: usize = memory.data(QK_K * 4, 16); // iq1_m SIMD: the weights of the whole super-block

/**
 * ggml's weights of n values (n a multiple of 4) lane-wise: qw[i] sqrt(sigma2 + x^2), or x^2 without
 * an imatrix (qw == 0); the same float operations as the scalar loops (f32 sqrt is correctly rounded
 * in both forms).
 */
// @ts-ignore: decorator
@inline function weights_simd(dst: usize, xb: usize, qw: usize, sigma2: f32, n: i32): void {
  const vs = f32x4.splat(sigma2);
  for (let i = 0; i < n; i += 4) {
    const o = <usize>i << 2;
    const v = v128.load(xb + o), v2 = f32x4.mul(v, v);
    v128.store(dst + o, qw != 0 ? f32x4.mul(v128.load(qw + o), f32x4.sqrt(f32x4.add(vs, v2))) : v2);
  }
}

// @ts-ignore: decorator
@inline function copy16f(dst: usize, src: usize): void {
  v128.store(dst, v128.load(src)); v128.store(dst, v128.load(src, 16), 16);
  v128.store(dst, v128.load(src, 32), 32); v128.store(dst, v128.load(src, 48), 48);
}

// iq1_s split search result
let S_SCALE: f32 = 0, S_I1 = -1, S_I2 = -1, S_SHIFT = 0;

/**
 * ggml quantize_row_iq1_s_impl's split search over the prefix sums SUMX / SUMW (33 each) of a sorted
 * 32-block, scalar in ggml's order: for every split (i1 <= i2) the shift +0.125, then -0.125; a
 * candidate wins when sumq2 > 0 and sumqx^2 > best_score sumq2. Result in S_*.
 */
function iq1s_split_ref(): void {
  let best_score: f32 = -FLT_MAX, scale: f32 = 0;
  let besti1 = -1, besti2 = -1, best_shift = 0;
  const p0 = f(XP, 0), p1 = f(XP, 1), p2 = f(XP, 2), m0 = f(XM, 0), m1 = f(XM, 1), m2 = f(XM, 2);
  const sx0 = f(SUMX, 0), sxn = f(SUMX, 32), sw0 = f(SUMW, 0), swn = f(SUMW, 32);
  for (let i1 = 0; i1 <= 32; i1++) {
    const sx1 = f(SUMX, i1), sw1 = f(SUMW, i1);
    for (let i2 = i1; i2 <= 32; i2++) {
      const sx2 = f(SUMX, i2), sw2 = f(SUMW, i2);
      let sumqx: f32 = (sx1 - sx0) * p0 + (sx2 - sx1) * p1 + (sxn - sx2) * p2;
      let sumq2: f32 = (sw1 - sw0) * p0 * p0 + (sw2 - sw1) * p1 * p1 + (swn - sw2) * p2 * p2;
      if (sumq2 > 0 && sumqx * sumqx > best_score * sumq2) {
        scale = sumqx / sumq2; best_score = scale * sumqx;
        besti1 = i1; besti2 = i2; best_shift = 1;
      }
      sumqx = (sx1 - sx0) * m0 + (sx2 - sx1) * m1 + (sxn - sx2) * m2;
      sumq2 = (sw1 - sw0) * m0 * m0 + (sw2 - sw1) * m1 * m1 + (swn - sw2) * m2 * m2;
      if (sumq2 > 0 && sumqx * sumqx > best_score * sumq2) {
        scale = sumqx / sumq2; best_score = scale * sumqx;
        besti1 = i1; besti2 = i2; best_shift = -1;
      }
    }
  }
  S_SCALE = scale; S_I1 = besti1; S_I2 = besti2; S_SHIFT = best_shift;
}

/**
 * iq1s_split_ref with four consecutive i2 per SIMD step (the same float operations lane-wise). A
 * step whose 8 candidates all fail against the best at its start cannot change the best and is
 * skipped; otherwise its candidates are replayed in ggml's order (i2, then +, -) with the scalar
 * comparison. Identical result.
 */
function iq1s_split_simd(): void {
  let best_score: f32 = -FLT_MAX, scale: f32 = 0;
  let besti1 = -1, besti2 = -1, best_shift = 0;
  const p0 = f(XP, 0), p1 = f(XP, 1), p2 = f(XP, 2), m0 = f(XM, 0), m1 = f(XM, 1), m2 = f(XM, 2);
  const sx0 = f(SUMX, 0), sxn = f(SUMX, 32), sw0 = f(SUMW, 0), swn = f(SUMW, 32);
  const vp1 = f32x4.splat(p1), vp2 = f32x4.splat(p2), vm1 = f32x4.splat(m1), vm2 = f32x4.splat(m2);
  const vsxn = f32x4.splat(sxn), vswn = f32x4.splat(swn);
  for (let i1 = 0; i1 <= 32; i1++) {
    const sx1 = f(SUMX, i1), sw1 = f(SUMW, i1);
    const vsx1 = f32x4.splat(sx1), vsw1 = f32x4.splat(sw1);
    const ap = f32x4.splat((sx1 - sx0) * p0), am = f32x4.splat((sx1 - sx0) * m0);
    const bp = f32x4.splat((sw1 - sw0) * p0 * p0), bm = f32x4.splat((sw1 - sw0) * m0 * m0);
    for (let i2 = i1; i2 <= 32; i2 += 4) {
      const o = <usize>i2 << 2;
      const sx2 = v128.load(SUMX + o), sw2 = v128.load(SUMW + o);
      const dx1 = f32x4.sub(sx2, vsx1), dx2 = f32x4.sub(vsxn, sx2);
      const dw1 = f32x4.sub(sw2, vsw1), dw2 = f32x4.sub(vswn, sw2);
      const qxp = f32x4.add(f32x4.add(ap, f32x4.mul(dx1, vp1)), f32x4.mul(dx2, vp2));
      const q2p = f32x4.add(f32x4.add(bp, f32x4.mul(f32x4.mul(dw1, vp1), vp1)), f32x4.mul(f32x4.mul(dw2, vp2), vp2));
      const qxm = f32x4.add(f32x4.add(am, f32x4.mul(dx1, vm1)), f32x4.mul(dx2, vm2));
      const q2m = f32x4.add(f32x4.add(bm, f32x4.mul(f32x4.mul(dw1, vm1), vm1)), f32x4.mul(f32x4.mul(dw2, vm2), vm2));
      // filter: the second half of ggml's test only (a superset; the replay applies the whole test)
      const vb = f32x4.splat(best_score);
      const cp = f32x4.gt(f32x4.mul(qxp, qxp), f32x4.mul(vb, q2p));
      const cm = f32x4.gt(f32x4.mul(qxm, qxm), f32x4.mul(vb, q2m));
      if (!v128.any_true(v128.or(cp, cm))) continue;
      v128.store(SLANES, qxp); v128.store(SLANES, q2p, 16); v128.store(SLANES, qxm, 32); v128.store(SLANES, q2m, 48);
      const nl = min<i32>(4, 33 - i2);
      for (let l = 0; l < nl; l++) {
        let sqx = f(SLANES, l), sq2 = f(SLANES, 4 + l);
        if (sq2 > 0 && sqx * sqx > best_score * sq2) {
          scale = sqx / sq2; best_score = scale * sqx;
          besti1 = i1; besti2 = i2 + l; best_shift = 1;
        }
        sqx = f(SLANES, 8 + l); sq2 = f(SLANES, 12 + l);
        if (sq2 > 0 && sqx * sqx > best_score * sq2) {
          scale = sqx / sq2; best_score = scale * sqx;
          besti1 = i1; besti2 = i2 + l; best_shift = -1;
        }
      }
    }
  }
  S_SCALE = scale; S_I1 = besti1; S_I2 = besti2; S_SHIFT = best_shift;
}

function quantize_iq1_s_impl(y: usize, x: usize, nrows: i32, n_per_row: i32, imatrix: usize, simd: bool): usize {
  if (imatrix == 0) return 0; // ggml asserts an imatrix; the facade refuses first (E_IMATRIX)
  G_QG = iq_grid_table(IQG_1S, 1); G_KMAP = iq_grid_table(IQG_1S, 2); G_NB = iq_grid_table(IQG_1S, 3);
  const nbl = n_per_row / QK_K;
  for (let r = 0; r < nrows; r++) {
    for (let ibl = 0; ibl < nbl; ibl++) {
      memory.fill(y, 0, 50);
      let sumx2: f32 = 0;
      for (let i = 0; i < QK_K; i++) { const v = f(x, i); sumx2 += v * v; }
      const sigma2: f32 = <f32>2 * sumx2 / <f32>256;
      let max_scale: f32 = 0;
      for (let ib = 0; ib < 8; ib++) {
        const xb = x + (<usize>ib << 7);
        const qw = imatrix + (<usize>(QK_K * ibl + 32 * ib) << 2);
        if (simd) weights_simd(WEIGHT, xb, qw, sigma2, 32);
        else for (let i = 0; i < 32; i++) { const v = f(xb, i); fset(WEIGHT, i, f(qw, i) * sqrt<f32>(sigma2 + v * v)); }
        let mx: f32 = abs<f32>(f(xb, 0));
        for (let i = 1; i < 32; i++) { const a = abs<f32>(f(xb, i)); mx = mx > a ? mx : a; }
        if (mx < <f32>1e-12) { fset(SCALES, ib, 0); store<i8>(SHIFTS + ib, 1); continue; }
        if (simd) sort_values_simd(xb, 32); else sort_values(xb, 32);
        fset(SUMX, 0, 0); fset(SUMW, 0, 0);
        for (let j = 0; j < 32; j++) {
          const i = ii(SI, j);
          fset(SUMX, j + 1, f(SUMX, j) + f(WEIGHT, i) * f(xb, i));
          fset(SUMW, j + 1, f(SUMW, j) + f(WEIGHT, i));
        }
        if (simd) iq1s_split_simd(); else iq1s_split_ref();
        let scale: f32 = S_SCALE;
        const besti1 = S_I1, besti2 = S_I2;
        let best_shift = S_SHIFT;
        if (besti1 < 0 || besti2 < 0 || best_shift == 0) { fset(SCALES, ib, 0); store<i8>(SHIFTS + ib, 1); continue; }
        for (let j = 0; j < besti1; j++) store<i8>(L + ii(SI, j), 0);
        for (let j = besti1; j < besti2; j++) store<i8>(L + ii(SI, j), 1);
        for (let j = besti2; j < 32; j++) store<i8>(L + ii(SI, j), 2);
        if (scale < 0) {
          for (let j = 0; j < 32; j++) store<i8>(L + j, <i8>(2 - <i32>load<i8>(L + j)));
          scale = -scale; best_shift = -best_shift;
        }
        const xx = best_shift == 1 ? XP : XM;
        let all_on = true;
        for (let k = 0; k < 4; k++) {
          let gi = group_index(xb, k, scale, xx, simd);
          if (gi < 0) { all_on = false; gi = -gi - 1; }
          store<i32>(INDEX + (<usize>k << 2), gi);
        }
        if (!all_on) {
          let sumqx: f32 = 0, sumq2: f32 = 0;
          for (let k = 0; k < 4; k++) {
            const pg = G_QG + (<usize>ii(INDEX, k) << 3);
            for (let j = 0; j < 8; j++) {
              const w = f(WEIGHT, 8 * k + j);
              const q = f(xx, (<i32>load<i8>(pg + j) - 1) / 2);
              sumqx += w * q * f(xb, 8 * k + j);
              sumq2 += w * q * q;
            }
          }
          if (sumqx > 0 && sumq2 > 0) scale = sumqx / sumq2;
        }
        let h: u32 = 0;
        for (let k = 0; k < 4; k++) {
          const gi = ii(INDEX, k);
          store<u8>(y + 2 + (<usize>(4 * ib + k)), <u8>(gi & 255));
          h |= <u32>(gi >> 8) << (3 * k);
        }
        store<u16>(y + 34 + (<usize>ib << 1), <u16>h);
        fset(SCALES, ib, scale);
        store<i8>(SHIFTS + ib, <i8>best_shift);
        max_scale = max_scale > scale ? max_scale : scale;
      }
      if (max_scale != 0) {
        const d: f32 = max_scale / <f32>15;
        store<u16>(y, fp32_to_fp16(d * <f32>1.125));
        const id: f32 = <f32>1 / d;
        for (let ib = 0; ib < 8; ib++) {
          let l = nearest_int_x(<f32>0.5 * (id * f(SCALES, ib) - <f32>1));
          l = max<i32>(0, min<i32>(7, l));
          if (load<i8>(SHIFTS + ib) == -1) l |= 8;
          const o = y + 34 + (<usize>ib << 1);
          store<u16>(o, load<u16>(o) | <u16>(l << 12));
        }
      }
      x += <usize>QK_K << 2;
      y += 50;
    }
  }
  return <usize>nrows * nbl * 50;
}

// @ts-ignore: decorator
@inline function xx_m(shift: i32, k: i32): usize {
  return k == 0 ? (shift < 2 ? XP : XM) : ((shift & 1) == 0 ? XP : XM);
}

// iq1_m split search state (prefix sums per 8-half of the sorted 16-block; the result of a search)
// @ts-ignore: decorator
@inline const PSTRIDE: usize = 24 * 4; // 17 prefix sums + padding for the 4-lane loads past 16
const PX: usize = memory.data(2 * 24 * 4, 16);
const PW: usize = memory.data(2 * 24 * 4, 16);
const LANES: usize = memory.data(8 * 16, 16); // SIMD search: sumqx[k] and sumq2[k] for 4 consecutive i2
const OLD_RES: usize = memory.data(16, 16); // the d3cf1f14 search's scale
let best_sc: f32 = 0, best_i1 = -1, best_i2 = -1, best_kk = -1;

/**
 * ggml quantize_row_iq1_m_impl's exhaustive split search over the prefix sums in PX/PW, scalar, in
 * ggml's float order: for each split (i1 <= i2) and sign combination k (0: ++, 1: +-, 2: -+, 3: --)
 * the candidate replaces the best when sumq2 > 0 and sumqx^2 > best_score sumq2 (strictly: the first
 * of equal scores wins). Result in best_sc / best_i1 / best_i2 / best_kk; returns 1 if any split won.
 */
function iq1m_search_ref(): i32 {
  const p2 = f(XP, 2), m2 = f(XM, 2);
  const cp1: f32 = f(XP, 0) * f(XP, 0) - f(XP, 1) * f(XP, 1), cp2: f32 = f(XP, 1) * f(XP, 1) - f(XP, 2) * f(XP, 2);
  const cm1: f32 = f(XM, 0) * f(XM, 0) - f(XM, 1) * f(XM, 1), cm2: f32 = f(XM, 1) * f(XM, 1) - f(XM, 2) * f(XM, 2);
  const tx0 = f(PX, 16), tx1 = load<f32>(PX + PSTRIDE + 64), tw0 = f(PW, 16), tw1 = load<f32>(PW + PSTRIDE + 64);
  let best_score: f32 = -FLT_MAX, scale: f32 = 0;
  let b1 = -1, b2 = -1, bk = -1;
  for (let i1 = 0; i1 <= 16; i1++) {
    for (let i2 = i1; i2 <= 16; i2++) {
      const sx0: f32 = f(PX, i1) + f(PX, i2);
      const sx1: f32 = load<f32>(PX + PSTRIDE + (<usize>i1 << 2)) + load<f32>(PX + PSTRIDE + (<usize>i2 << 2));
      const w10 = f(PW, i1), w20 = f(PW, i2);
      const w11 = load<f32>(PW + PSTRIDE + (<usize>i1 << 2)), w21 = load<f32>(PW + PSTRIDE + (<usize>i2 << 2));
      const qxp0: f32 = tx0 * p2 - sx0, qxm0: f32 = tx0 * m2 - sx0;
      const qxp1: f32 = tx1 * p2 - sx1, qxm1: f32 = tx1 * m2 - sx1;
      const q2p0: f32 = tw0 * p2 * p2 + w10 * cp1 + w20 * cp2, q2m0: f32 = tw0 * m2 * m2 + w10 * cm1 + w20 * cm2;
      const q2p1: f32 = tw1 * p2 * p2 + w11 * cp1 + w21 * cp2, q2m1: f32 = tw1 * m2 * m2 + w11 * cm1 + w21 * cm2;
      for (let k = 0; k < 4; k++) {
        const sqx: f32 = k == 0 ? qxp0 + qxp1 : k == 1 ? qxp0 + qxm1 : k == 2 ? qxm0 + qxp1 : qxm0 + qxm1;
        const sq2: f32 = k == 0 ? q2p0 + q2p1 : k == 1 ? q2p0 + q2m1 : k == 2 ? q2m0 + q2p1 : q2m0 + q2m1;
        if (sq2 > 0 && sqx * sqx > best_score * sq2) {
          scale = sqx / sq2; best_score = scale * sqx;
          b1 = i1; b2 = i2; bk = k;
        }
      }
    }
  }
  best_sc = scale; best_i1 = b1; best_i2 = b2; best_kk = bk;
  return b1 >= 0 ? 1 : 0;
}

/**
 * The same search with four consecutive i2 per SIMD step (the same float operations lane-wise). The
 * comparisons against the running best stay sequential: a step whose 16 candidates all fail against
 * the best at its start is skipped (the best cannot change within it); otherwise its candidates are
 * replayed in ggml's order (i2, then k) with scalar comparisons. Identical result to iq1m_search_ref.
 */
function iq1m_search_simd(): i32 {
  const p2 = f(XP, 2), m2 = f(XM, 2);
  const cp1: f32 = f(XP, 0) * f(XP, 0) - f(XP, 1) * f(XP, 1), cp2: f32 = f(XP, 1) * f(XP, 1) - f(XP, 2) * f(XP, 2);
  const cm1: f32 = f(XM, 0) * f(XM, 0) - f(XM, 1) * f(XM, 1), cm2: f32 = f(XM, 1) * f(XM, 1) - f(XM, 2) * f(XM, 2);
  const tx0 = f(PX, 16), tx1 = load<f32>(PX + PSTRIDE + 64), tw0 = f(PW, 16), tw1 = load<f32>(PW + PSTRIDE + 64);
  const vtp0 = f32x4.splat(tx0 * p2), vtm0 = f32x4.splat(tx0 * m2), vtp1 = f32x4.splat(tx1 * p2), vtm1 = f32x4.splat(tx1 * m2);
  const ap0: f32 = tw0 * p2 * p2, am0: f32 = tw0 * m2 * m2, ap1: f32 = tw1 * p2 * p2, am1: f32 = tw1 * m2 * m2;
  const vcp2 = f32x4.splat(cp2), vcm2 = f32x4.splat(cm2);
  let best_score: f32 = -FLT_MAX, scale: f32 = 0;
  let b1 = -1, b2 = -1, bk = -1;
  for (let i1 = 0; i1 <= 16; i1++) {
    const o1 = <usize>i1 << 2;
    const x10 = f32x4.splat(load<f32>(PX + o1)), x11 = f32x4.splat(load<f32>(PX + PSTRIDE + o1));
    const w10 = load<f32>(PW + o1), w11 = load<f32>(PW + PSTRIDE + o1);
    const cp0v = f32x4.splat(ap0 + w10 * cp1), cm0v = f32x4.splat(am0 + w10 * cm1);
    const cp1v = f32x4.splat(ap1 + w11 * cp1), cm1v = f32x4.splat(am1 + w11 * cm1);
    for (let i2 = i1; i2 <= 16; i2 += 4) {
      const o2 = <usize>i2 << 2;
      const sx0 = f32x4.add(x10, v128.load(PX + o2)), sx1 = f32x4.add(x11, v128.load(PX + PSTRIDE + o2));
      const wv0 = v128.load(PW + o2), wv1 = v128.load(PW + PSTRIDE + o2);
      const qxp0 = f32x4.sub(vtp0, sx0), qxm0 = f32x4.sub(vtm0, sx0);
      const qxp1 = f32x4.sub(vtp1, sx1), qxm1 = f32x4.sub(vtm1, sx1);
      const q2p0 = f32x4.add(cp0v, f32x4.mul(wv0, vcp2)), q2m0 = f32x4.add(cm0v, f32x4.mul(wv0, vcm2));
      const q2p1 = f32x4.add(cp1v, f32x4.mul(wv1, vcp2)), q2m1 = f32x4.add(cm1v, f32x4.mul(wv1, vcm2));
      const sx_0 = f32x4.add(qxp0, qxp1), sx_1 = f32x4.add(qxp0, qxm1), sx_2 = f32x4.add(qxm0, qxp1), sx_3 = f32x4.add(qxm0, qxm1);
      const s2_0 = f32x4.add(q2p0, q2p1), s2_1 = f32x4.add(q2p0, q2m1), s2_2 = f32x4.add(q2m0, q2p1), s2_3 = f32x4.add(q2m0, q2m1);
      // filter: the second half of ggml's test only (a superset of the candidates passing both;
      // the replay below applies the whole test to each in order)
      const vb = f32x4.splat(best_score);
      const c0 = f32x4.gt(f32x4.mul(sx_0, sx_0), f32x4.mul(vb, s2_0));
      const c1 = f32x4.gt(f32x4.mul(sx_1, sx_1), f32x4.mul(vb, s2_1));
      const c2 = f32x4.gt(f32x4.mul(sx_2, sx_2), f32x4.mul(vb, s2_2));
      const c3 = f32x4.gt(f32x4.mul(sx_3, sx_3), f32x4.mul(vb, s2_3));
      if (!v128.any_true(v128.or(v128.or(c0, c1), v128.or(c2, c3)))) continue;
      v128.store(LANES, sx_0); v128.store(LANES, sx_1, 16); v128.store(LANES, sx_2, 32); v128.store(LANES, sx_3, 48);
      v128.store(LANES, s2_0, 64); v128.store(LANES, s2_1, 80); v128.store(LANES, s2_2, 96); v128.store(LANES, s2_3, 112);
      const nl = min<i32>(4, 17 - i2);
      for (let l = 0; l < nl; l++) {
        for (let k = 0; k < 4; k++) {
          const sqx = f(LANES, 4 * k + l), sq2 = f(LANES, 16 + 4 * k + l);
          if (sq2 > 0 && sqx * sqx > best_score * sq2) {
            scale = sqx / sq2; best_score = scale * sqx;
            b1 = i1; b2 = i2 + l; bk = k;
          }
        }
      }
    }
  }
  best_sc = scale; best_i1 = b1; best_i2 = b2; best_kk = bk;
  return b1 >= 0 ? 1 : 0;
}

/**
 * de3ff81's per-8-half prefix sums of the sorted block xb into PX / PW: each half has its own shift
 * sign, and with v0 - v1 = v1 - v2 = -1 the 3-group sums collapse to T v2 - px[i1] - px[i2].
 */
function iq1m_prefix(xb: usize): void {
  store<f32>(PX, 0); store<f32>(PX + PSTRIDE, 0); store<f32>(PW, 0); store<f32>(PW + PSTRIDE, 0);
  for (let j = 0; j < 16; j++) {
    const i = ii(SI, j);
    const h: usize = i < 8 ? 0 : PSTRIDE, o: usize = PSTRIDE - h;
    const pj = <usize>j << 2;
    store<f32>(PX + h + pj + 4, load<f32>(PX + h + pj) + f(WEIGHT, i) * f(xb, i));
    store<f32>(PX + o + pj + 4, load<f32>(PX + o + pj));
    store<f32>(PW + h + pj + 4, load<f32>(PW + h + pj) + f(WEIGHT, i));
    store<f32>(PW + o + pj + 4, load<f32>(PW + o + pj));
  }
}

/** The d3cf1f14 split search of the sorted block xb (iq1m_d3cf1f14.ts), its result in best_*. */
function iq1m_search_old(xb: usize, simd: bool): void {
  const r = iq1m_search_d3cf1f14(xb, WEIGHT, SI, XP, XM, OLD_RES, simd);
  best_sc = load<f32>(OLD_RES);
  best_i1 = r < 0 ? -1 : r & 255; best_i2 = r < 0 ? -1 : (r >> 8) & 255; best_kk = r < 0 ? -1 : r >> 16;
}

/** search 0: llama.cpp de3ff81's prefix-sum split search; 1: ggml d3cf1f14's per-split sums (the vector set). */
function quantize_iq1_m_impl(y: usize, x: usize, nrows: i32, n_per_row: i32, imatrix: usize, simd: bool, search: i32): usize {
  G_QG = iq_grid_table(IQG_1S, 1); G_KMAP = iq_grid_table(IQG_1S, 2); G_NB = iq_grid_table(IQG_1S, 3);
  const nbl = n_per_row / QK_K;
  for (let r = 0; r < nrows; r++) {
    for (let ibl = 0; ibl < nbl; ibl++) {
      memory.fill(y, 0, 56);
      let sumx2: f32 = 0;
      for (let i = 0; i < QK_K; i++) { const v = f(x, i); sumx2 += v * v; }
      const sigma2: f32 = <f32>2 * sumx2 / <f32>256;
      let max_scale: f32 = 0;
      if (simd) weights_simd(WALL, x, imatrix != 0 ? imatrix + (<usize>(QK_K * ibl) << 2) : 0, sigma2, QK_K);
      for (let ib = 0; ib < 16; ib++) {
        const xb = x + (<usize>ib << 6);
        const qw = imatrix != 0 ? imatrix + (<usize>(QK_K * ibl + 16 * ib) << 2) : 0;
        if (simd) copy16f(WEIGHT, WALL + (<usize>ib << 6));
        else for (let i = 0; i < 16; i++) { const v = f(xb, i); fset(WEIGHT, i, qw != 0 ? f(qw, i) * sqrt<f32>(sigma2 + v * v) : v * v); }
        let mx: f32 = abs<f32>(f(xb, 0));
        for (let i = 1; i < 16; i++) { const a = abs<f32>(f(xb, i)); mx = mx > a ? mx : a; }
        if (mx < <f32>1e-7) { fset(SCALES, ib, 0); store<i8>(SHIFTS + ib, 0); continue; }
        if (simd) sort_values_simd(xb, 16); else sort_values(xb, 16);
        if (search == 1) iq1m_search_old(xb, simd);
        else { iq1m_prefix(xb); if (simd) iq1m_search_simd(); else iq1m_search_ref(); }
        let scale: f32 = best_sc;
        const besti1 = best_i1, besti2 = best_i2;
        let best_k = best_kk;
        if (besti1 < 0 || besti2 < 0 || best_k < 0) { fset(SCALES, ib, 0); store<i8>(SHIFTS + ib, 0); continue; }
        for (let j = 0; j < besti1; j++) store<i8>(L + ii(SI, j), 0);
        for (let j = besti1; j < besti2; j++) store<i8>(L + ii(SI, j), 1);
        for (let j = besti2; j < 16; j++) store<i8>(L + ii(SI, j), 2);
        if (scale < 0) {
          for (let j = 0; j < 16; j++) store<i8>(L + j, <i8>(2 - <i32>load<i8>(L + j)));
          scale = -scale;
          best_k = 3 - best_k;
        }
        let all_on = true;
        for (let k = 0; k < 2; k++) {
          let gi = group_index(xb, k, scale, xx_m(best_k, k), simd);
          if (gi < 0) { all_on = false; gi = -gi - 1; }
          store<i32>(INDEX + (<usize>k << 2), gi);
        }
        if (!all_on) {
          let sumqx: f32 = 0, sumq2: f32 = 0;
          for (let k = 0; k < 2; k++) {
            const xx = xx_m(best_k, k);
            const pg = G_QG + (<usize>ii(INDEX, k) << 3);
            for (let j = 0; j < 8; j++) {
              const w = f(WEIGHT, 8 * k + j);
              const q = f(xx, (<i32>load<i8>(pg + j) - 1) / 2);
              sumqx += w * q * f(xb, 8 * k + j);
              sumq2 += w * q * q;
            }
          }
          if (sumqx > 0 && sumq2 > 0) scale = sumqx / sumq2;
        }
        const i0 = ii(INDEX, 0), i1 = ii(INDEX, 1);
        store<u8>(y + (<usize>(2 * ib)), <u8>(i0 & 255));
        store<u8>(y + (<usize>(2 * ib + 1)), <u8>(i1 & 255));
        store<u8>(y + 32 + ib, <u8>((i0 >> 8) | ((i1 >> 8) << 4)));
        fset(SCALES, ib, scale);
        store<i8>(SHIFTS + ib, <i8>best_k);
        max_scale = max_scale > scale ? max_scale : scale;
      }
      if (max_scale != 0) {
        let d: f32 = max_scale / <f32>15;
        const id: f32 = <f32>1 / d;
        let sumqx: f32 = 0, sumq2: f32 = 0;
        for (let ib = 0; ib < 16; ib++) {
          let l = nearest_int_x(<f32>0.5 * (id * f(SCALES, ib) - <f32>1));
          l = max<i32>(0, min<i32>(7, l));
          const so = y + 48 + (<usize>(ib >> 2) << 1);
          store<u16>(so, load<u16>(so) | <u16>(l << (3 * (ib & 3))));
          const sh = <i32>load<i8>(SHIFTS + ib);
          const mask: u8 = sh == 0 ? 0 : sh == 1 ? 0x80 : sh == 2 ? 0x08 : 0x88;
          const qh = <i32>(load<u8>(y + 32 + ib) | mask);
          store<u8>(y + 32 + ib, <u8>qh);
          const xb = x + (<usize>ib << 6);
          const qw = imatrix != 0 ? imatrix + (<usize>(QK_K * ibl + 16 * ib) << 2) : 0;
          if (simd) copy16f(WEIGHT, WALL + (<usize>ib << 6));
          else for (let i = 0; i < 16; i++) { const v = f(xb, i); fset(WEIGHT, i, qw != 0 ? f(qw, i) * sqrt<f32>(sigma2 + v * v) : v * v); }
          const l21 = l * 2 + 1;
          const fl = <f32>l21;
          for (let k = 0; k < 2; k++) {
            const xx = xx_m(sh, k);
            const gi = <i32>load<u8>(y + (<usize>(2 * ib + k))) + ((qh << (8 - 4 * k)) & 0x700);
            const pg = G_QG + (<usize>gi << 3);
            for (let j = 0; j < 8; j++) {
              const w = f(WEIGHT, 8 * k + j);
              const q: f32 = f(xx, (<i32>load<i8>(pg + j) - 1) / 2) * fl;
              sumqx += w * q * f(xb, 8 * k + j);
              sumq2 += w * q * q;
            }
          }
        }
        if (sumq2 > 0) d = sumqx / sumq2;
        const s = <u32>fp32_to_fp16(d * <f32>1.1125);
        store<u16>(y + 48, load<u16>(y + 48) | <u16>((s & 0x000f) << 12));
        store<u16>(y + 50, load<u16>(y + 50) | <u16>((s & 0x00f0) << 8));
        store<u16>(y + 52, load<u16>(y + 52) | <u16>((s & 0x0f00) << 4));
        store<u16>(y + 54, load<u16>(y + 54) | <u16>(s & 0xf000));
      }
      x += <usize>QK_K << 2;
      y += 56;
    }
  }
  return <usize>nrows * nbl * 56;
}

/** ggml quantize_iq1_s (chunk API; imatrix of n_per_row f32 required, 0 -> nothing written, returns 0), scalar. 50 bytes per 256 values. */
export function quantize_iq1_s_ref(y: usize, x: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  return quantize_iq1_s_impl(y, x, nrows, n_per_row, imatrix, false);
}
/** ggml quantize_iq1_s, SIMD neighbour distances; bit-identical to _ref. */
export function quantize_iq1_s(y: usize, x: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  return quantize_iq1_s_impl(y, x, nrows, n_per_row, imatrix, true);
}
/** ggml quantize_iq1_m as llama.cpp de3ff81 (node-llama-cpp) has it (imatrix optional), scalar. 56 bytes per 256 values. */
export function quantize_iq1_m_ref(y: usize, x: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  return quantize_iq1_m_impl(y, x, nrows, n_per_row, imatrix, false, 0);
}
/** ggml quantize_iq1_m (llama.cpp de3ff81), SIMD neighbour distances and split scores; bit-identical to _ref. */
export function quantize_iq1_m(y: usize, x: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  return quantize_iq1_m_impl(y, x, nrows, n_per_row, imatrix, true, 0);
}
/** ggml quantize_iq1_m as ggml d99724f2 / llama.cpp d3cf1f14 has it (the ggml-iq vector set: per-split sums), scalar. */
export function quantize_iq1_m_d3cf1f14_ref(y: usize, x: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  return quantize_iq1_m_impl(y, x, nrows, n_per_row, imatrix, false, 1);
}
/** quantize_iq1_m_d3cf1f14_ref with the four sign combinations in SIMD lanes; bit-identical to it. */
export function quantize_iq1_m_d3cf1f14(y: usize, x: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  return quantize_iq1_m_impl(y, x, nrows, n_per_row, imatrix, true, 1);
}

/** Group of 8: value dl * (grid + delta), grid int8 -1/0/+1 (8 bytes at g). */
// @ts-ignore: decorator
@inline function group(y: usize, g: usize, dl: f32, delta: f32, simd: bool): void {
  if (simd) {
    const b = i16x8.extend_low_i8x16_s(v128.load64_zero(g));
    const vd = f32x4.splat(dl), vdel = f32x4.splat(delta);
    v128.store(y, f32x4.mul(vd, f32x4.add(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(b)), vdel)));
    v128.store(y, f32x4.mul(vd, f32x4.add(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(b)), vdel)), 16);
  } else {
    for (let j = 0; j < 8; j++) store<f32>(y + (<usize>j << 2), dl * (<f32>load<i8>(g + j) + delta));
  }
}

function dequant_iq1_s(y: usize, x: usize, k: i32, simd: bool): void {
  const dq = iq_grid_table(IQG_1S, 0);
  const nb = k / QK_K;
  for (let i = 0; i < nb; i++) {
    const d = fp16_to_fp32(load<u16>(x));
    for (let ib = 0; ib < 8; ib++) {
      const h = <i32>load<u16>(x + 34 + (<usize>ib << 1));
      const s21 = ((h >> 12) & 7) * 2 + 1;
      const dl: f32 = d * <f32>s21;
      const delta: f32 = h & 0x8000 ? <f32>-0.125 : <f32>0.125;
      for (let l = 0; l < 4; l++) {
        const idx = <i32>load<u8>(x + 2 + (<usize>(4 * ib + l))) | (((h >> (3 * l)) & 7) << 8);
        group(y, dq + (<usize>idx << 3), dl, delta, simd);
        y += 32;
      }
    }
    x += 50;
  }
}

function dequant_iq1_m(y: usize, x: usize, k: i32, simd: bool): void {
  const dq = iq_grid_table(IQG_1S, 0);
  const nb = k / QK_K;
  for (let i = 0; i < nb; i++) {
    const s0 = <u32>load<u16>(x + 48), s1 = <u32>load<u16>(x + 50), s2 = <u32>load<u16>(x + 52), s3 = <u32>load<u16>(x + 54);
    const d = fp16_to_fp32((s0 >> 12) | ((s1 >> 8) & 0xf0) | ((s2 >> 4) & 0xf00) | (s3 & 0xf000));
    for (let ib = 0; ib < 8; ib++) {
      const sc = <i32>load<u16>(x + 48 + (<usize>(ib >> 1) << 1));
      for (let l = 0; l < 4; l++) {
        const b = <i32>load<u8>(x + 32 + (<usize>(2 * ib + (l >> 1))));
        const even = (l & 1) == 0;
        const idx = <i32>load<u8>(x + (<usize>(4 * ib + l))) | ((even ? b << 8 : b << 4) & 0x700);
        const delta: f32 = (b & (even ? 0x08 : 0x80)) != 0 ? <f32>-0.125 : <f32>0.125;
        const s21 = ((sc >> (6 * (ib & 1) + 3 * (l >> 1))) & 7) * 2 + 1;
        group(y, dq + (<usize>idx << 3), d * <f32>s21, delta, simd);
        y += 32;
      }
    }
    x += 56;
  }
}

/** ggml dequantize_row_iq1_s (scalar); k a multiple of 256. */
export function dequantize_row_iq1_s_ref(y: usize, x: usize, k: i32): void { dequant_iq1_s(y, x, k, false); }
/** ggml dequantize_row_iq1_s, SIMD; bit-identical to _ref. */
export function dequantize_row_iq1_s(y: usize, x: usize, k: i32): void { dequant_iq1_s(y, x, k, true); }
/** ggml dequantize_row_iq1_m (scalar). */
export function dequantize_row_iq1_m_ref(y: usize, x: usize, k: i32): void { dequant_iq1_m(y, x, k, false); }
/** ggml dequantize_row_iq1_m, SIMD. */
export function dequantize_row_iq1_m(y: usize, x: usize, k: i32): void { dequant_iq1_m(y, x, k, true); }
