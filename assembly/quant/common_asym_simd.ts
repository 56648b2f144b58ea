// SIMD (4 lanes) versions of the asymmetric scale searches (make_qkx2_quants / make_qkx3_quants).
// Each lane runs ggml's exact scalar algorithm for one group (a 32- or 16-value sub-block, or a
// q4_1/q5_1 block): the inputs are transposed so that vector i holds element i of 4 groups, and
// every sum stays sequential per lane (element 0 first), so the results are bit-identical to the
// scalar code in common_asym.ts.
import { nearest_int_g4, clamp0_i32x4 } from "../inline/asym";
import { fp16_to_fp32 } from "../inline/f16";
import { get_scale_k4, get_min_k4, qk8_ref_scales, qk8_impl_scales, sumsq256 } from "./common_asym";

// Transposed scratch: XT, WT, LT, TMP (n <= 32 vectors each) and the 2-vector result R.
const XT = memory.data(512, 16);
const WT = memory.data(512, 16);
const QT = memory.data(512, 16);
const LT = memory.data(512, 16);
const TMP = memory.data(512, 16);
const R = memory.data(64, 16);
// 8-lane (two interleaved 4-lane sets, A at +0 and B at +16 of each 32-byte row) scratch.
const XT8 = memory.data(1024, 16);
const WT8 = memory.data(1024, 16);
const QT8 = memory.data(1024, 16);
const LT8 = memory.data(1024, 16);
const TMP8 = memory.data(1024, 16);
const XM8 = memory.data(1024, 16);   // x - min of the current lanes (make_qkx_x8's rounding-safe path)

/** 4 groups of n floats (group g at src + 4*n*g) -> dst, vector i = element i of groups 0..3. */
// @ts-ignore: decorator
@inline function transpose4(dst: usize, src: usize, n: i32): void {
  transpose4s(dst, src, n, 4);
}

/** transpose4 with a row stride of (1 << sh) bytes in dst (16: packed; 32: one set of the 8-lane layout). */
// @ts-ignore: decorator
@inline function transpose4s(dst: usize, src: usize, n: i32, sh: i32): void {
  const gs = <usize>n << 2;
  for (let i = 0; i < n; i += 4) {
    const o = <usize>i << 2;
    const a = v128.load(src + o), b = v128.load(src + gs + o);
    const c = v128.load(src + 2 * gs + o), d = v128.load(src + 3 * gs + o);
    const t0 = v128.shuffle<u32>(a, b, 0, 4, 1, 5), t1 = v128.shuffle<u32>(a, b, 2, 6, 3, 7);
    const t2 = v128.shuffle<u32>(c, d, 0, 4, 1, 5), t3 = v128.shuffle<u32>(c, d, 2, 6, 3, 7);
    const st = <usize>1 << sh;
    const q = dst + (<usize>i << sh);
    v128.store(q, v128.shuffle<u32>(t0, t2, 0, 1, 4, 5));
    v128.store(q + st, v128.shuffle<u32>(t0, t2, 2, 3, 6, 7));
    v128.store(q + 2 * st, v128.shuffle<u32>(t1, t3, 0, 1, 4, 5));
    v128.store(q + 3 * st, v128.shuffle<u32>(t1, t3, 2, 3, 6, 7));
  }
}

/** LT (n vectors of i32 codes) -> 4 groups of n bytes (group g at L + n*g). */
// @ts-ignore: decorator
@inline function scatter_L(L: usize, n: i32): void {
  for (let g = 0; g < 4; g++) {
    const Lg = L + <usize>(g * n);
    const src = LT + (<usize>g << 2);
    for (let i = 0; i < n; i++) store<u8>(Lg + i, load<u8>(src + (<usize>i << 4)));
  }
}

/**
 * make_qkx2_quants (== make_qkx3_quants with weights) on 4 groups at once, one per lane.
 * Inputs XT/WT (n vectors). Outputs: scale -> R, the_min -> R+16, codes (i32) -> LT.
 */
function make_qkx_x4(n: i32, nmax: i32, rmin: f32, rdelta: f32, nstep: i32, use_mad: bool): void {
  const zero = f32x4.splat(0);
  let mn = v128.load(XT);
  let mx = mn;
  let sum_w = v128.load(WT);
  let sum_x = f32x4.mul(sum_w, mn);
  for (let i = 1; i < n; i++) {
    const o = <usize>i << 4;
    const xi = v128.load(XT + o), w = v128.load(WT + o);
    mn = f32x4.pmin(mn, xi);
    mx = f32x4.pmax(mx, xi);
    sum_w = f32x4.add(sum_w, w);
    sum_x = f32x4.add(sum_x, f32x4.mul(w, xi));
  }
  mn = v128.bitselect(zero, mn, f32x4.gt(mn, zero));
  const degen = f32x4.eq(mx, mn);
  const mn0 = mn;
  const fnmax: f32 = <f32>nmax;
  const inmax = i32x4.splat(nmax);
  let iscale = f32x4.div(f32x4.splat(fnmax), f32x4.sub(mx, mn));
  let scale = f32x4.div(f32x4.splat(1), iscale);
  let best = zero;
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 4;
    const xi = v128.load(XT + o);
    const l = clamp0_i32x4(nearest_int_g4(f32x4.mul(iscale, f32x4.sub(xi, mn))), inmax);
    let diff = f32x4.sub(f32x4.add(f32x4.mul(scale, f32x4.convert_i32x4_s(l)), mn), xi);
    diff = use_mad ? f32x4.abs(diff) : f32x4.mul(diff, diff);
    best = f32x4.add(best, f32x4.mul(v128.load(WT + o), diff));
  }
  let bestIs = iscale, bestMn = mn;
  for (let is = 0; is <= nstep; is++) {
    iscale = f32x4.div(f32x4.splat(rmin + rdelta * <f32>is + fnmax), f32x4.sub(mx, mn));
    let sum_l = zero, sum_l2 = zero, sum_xl = zero;
    for (let i = 0; i < n; i++) {
      const o = <usize>i << 4;
      const xi = v128.load(XT + o), w = v128.load(WT + o);
      const fl = f32x4.convert_i32x4_s(clamp0_i32x4(nearest_int_g4(f32x4.mul(iscale, f32x4.sub(xi, mn))), inmax));
      v128.store(TMP + o, fl);
      const wl = f32x4.mul(w, fl);
      sum_l = f32x4.add(sum_l, wl);
      sum_l2 = f32x4.add(sum_l2, f32x4.mul(wl, fl));
      sum_xl = f32x4.add(sum_xl, f32x4.mul(wl, xi));
    }
    const D = f32x4.sub(f32x4.mul(sum_w, sum_l2), f32x4.mul(sum_l, sum_l));
    const Dpos = f32x4.gt(D, zero);
    if (!v128.any_true(Dpos)) continue;
    let ts = f32x4.div(f32x4.sub(f32x4.mul(sum_w, sum_xl), f32x4.mul(sum_x, sum_l)), D);
    let tm = f32x4.div(f32x4.sub(f32x4.mul(sum_l2, sum_x), f32x4.mul(sum_l, sum_xl)), D);
    const mpos = f32x4.gt(tm, zero);
    tm = v128.bitselect(zero, tm, mpos);
    ts = v128.bitselect(f32x4.div(sum_xl, sum_l2), ts, mpos);
    let cur = zero;
    for (let i = 0; i < n; i++) {
      const o = <usize>i << 4;
      let diff = f32x4.sub(f32x4.add(f32x4.mul(ts, v128.load(TMP + o)), tm), v128.load(XT + o));
      diff = use_mad ? f32x4.abs(diff) : f32x4.mul(diff, diff);
      cur = f32x4.add(cur, f32x4.mul(v128.load(WT + o), diff));
    }
    const acc = v128.and(Dpos, f32x4.lt(cur, best));
    best = v128.bitselect(cur, best, acc);
    scale = v128.bitselect(ts, scale, acc);
    bestIs = v128.bitselect(iscale, bestIs, acc);
    bestMn = v128.bitselect(mn, bestMn, acc);
    mn = v128.bitselect(tm, mn, acc);
  }
  v128.store(R, v128.bitselect(zero, scale, degen));
  v128.store(R, v128.bitselect(f32x4.neg(mn0), f32x4.neg(mn), degen), 16);
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 4;
    const l = clamp0_i32x4(nearest_int_g4(f32x4.mul(bestIs, f32x4.sub(v128.load(XT + o), bestMn))), inmax);
    v128.store(LT + o, v128.andnot(l, degen));
  }
}

/**
 * LT8 (n rows of 8 i32 codes, each 0..255; n a multiple of 4) -> 8 groups of n bytes (group g at
 * L + n*g): 4 rows of a 4-lane set narrow to 16 bytes, one swizzle makes them 4 x 4 bytes per group.
 */
// @ts-ignore: decorator
@inline function scatter_L8(L: usize, n: i32): void {
  const sw = i8x16(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  const gs = <usize>n;
  for (let h: usize = 0; h < 2; h++) {
    const Lh = L + (h << 2) * gs;
    for (let i = 0; i < n; i += 4) {
      const p = LT8 + (<usize>i << 5) + (h << 4);
      const b = i8x16.swizzle(i8x16.narrow_i16x8_u(
        i16x8.narrow_i32x4_u(v128.load(p), v128.load(p, 32)),
        i16x8.narrow_i32x4_u(v128.load(p, 64), v128.load(p, 96))), sw);
      const q = Lh + <usize>i;
      store<u32>(q, i32x4.extract_lane(b, 0));
      store<u32>(q + gs, i32x4.extract_lane(b, 1));
      store<u32>(q + 2 * gs, i32x4.extract_lane(b, 2));
      store<u32>(q + 3 * gs, i32x4.extract_lane(b, 3));
    }
  }
}

/**
 * True when, in every non-degenerate lane of both sets, |iscale * (x - mn)| < 2^22 for all x of the
 * group (x in [mn0, mx]: f32 subtraction and multiplication are monotone, so the two ends bound
 * every element). Then ggml's nearest_int (the 1.5 * 2^23 trick) equals round-half-to-even.
 * NaN anywhere -> false (the exact integer path runs).
 */
// @ts-ignore: decorator
@inline function rounding_safe8(isA: v128, isB: v128, mxA: v128, mxB: v128, mnA: v128, mnB: v128,
  mn0A: v128, mn0B: v128, degA: v128, degB: v128): bool {
  const lim = f32x4.splat(4194304.0);
  const okA = v128.and(f32x4.lt(f32x4.abs(f32x4.mul(isA, f32x4.sub(mxA, mnA))), lim),
    f32x4.lt(f32x4.abs(f32x4.mul(isA, f32x4.sub(mn0A, mnA))), lim));
  const okB = v128.and(f32x4.lt(f32x4.abs(f32x4.mul(isB, f32x4.sub(mxB, mnB))), lim),
    f32x4.lt(f32x4.abs(f32x4.mul(isB, f32x4.sub(mn0B, mnB))), lim));
  return i32x4.all_true(v128.and(v128.or(okA, degA), v128.or(okB, degB)));
}

/**
 * make_qkx_x4 on two independent 4-lane sets at once (8 groups; more independent work per loop
 * iteration). Inputs XT8/WT8 (row i: set A @32i, set B @32i+16). Outputs: scales A/B -> R, R+32;
 * the_min A/B -> R+16, R+48; codes -> LT8. Each lane computes exactly what make_qkx_x4 does.
 */
function make_qkx_x8(n: i32, nmax: i32, rmin: f32, rdelta: f32, nstep: i32, use_mad: bool, fast: bool = true): void {
  const zero = f32x4.splat(0);
  let mnA = v128.load(XT8), mnB = v128.load(XT8, 16);
  let mxA = mnA, mxB = mnB;
  let swA = v128.load(WT8), swB = v128.load(WT8, 16);
  let sxA = f32x4.mul(swA, mnA), sxB = f32x4.mul(swB, mnB);
  for (let i = 1; i < n; i++) {
    const o = <usize>i << 5;
    const xA = v128.load(XT8 + o), wA = v128.load(WT8 + o);
    const xB = v128.load(XT8 + o, 16), wB = v128.load(WT8 + o, 16);
    mnA = f32x4.pmin(mnA, xA); mnB = f32x4.pmin(mnB, xB);
    mxA = f32x4.pmax(mxA, xA); mxB = f32x4.pmax(mxB, xB);
    swA = f32x4.add(swA, wA); swB = f32x4.add(swB, wB);
    sxA = f32x4.add(sxA, f32x4.mul(wA, xA)); sxB = f32x4.add(sxB, f32x4.mul(wB, xB));
  }
  mnA = v128.bitselect(zero, mnA, f32x4.gt(mnA, zero));
  mnB = v128.bitselect(zero, mnB, f32x4.gt(mnB, zero));
  const degA = f32x4.eq(mxA, mnA), degB = f32x4.eq(mxB, mnB);
  const mn0A = mnA, mn0B = mnB;
  const fnmax: f32 = <f32>nmax;
  const inmax = i32x4.splat(nmax);
  const vnmax = f32x4.splat(fnmax), one = f32x4.splat(1);
  let isA = f32x4.div(vnmax, f32x4.sub(mxA, mnA)), isB = f32x4.div(vnmax, f32x4.sub(mxB, mnB));
  let scA = f32x4.div(one, isA), scB = f32x4.div(one, isB);
  let bestA = zero, bestB = zero;
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 5;
    const xA = v128.load(XT8 + o), xB = v128.load(XT8 + o, 16);
    const lA = clamp0_i32x4(nearest_int_g4(f32x4.mul(isA, f32x4.sub(xA, mnA))), inmax);
    const lB = clamp0_i32x4(nearest_int_g4(f32x4.mul(isB, f32x4.sub(xB, mnB))), inmax);
    let dA = f32x4.sub(f32x4.add(f32x4.mul(scA, f32x4.convert_i32x4_s(lA)), mnA), xA);
    let dB = f32x4.sub(f32x4.add(f32x4.mul(scB, f32x4.convert_i32x4_s(lB)), mnB), xB);
    dA = use_mad ? f32x4.abs(dA) : f32x4.mul(dA, dA);
    dB = use_mad ? f32x4.abs(dB) : f32x4.mul(dB, dB);
    bestA = f32x4.add(bestA, f32x4.mul(v128.load(WT8 + o), dA));
    bestB = f32x4.add(bestB, f32x4.mul(v128.load(WT8 + o, 16), dB));
  }
  let bIsA = isA, bIsB = isB, bMnA = mnA, bMnB = mnB;
  let xmValid = false;
  for (let is = 0; is <= nstep; is++) {
    const c = f32x4.splat(rmin + rdelta * <f32>is + fnmax);
    isA = f32x4.div(c, f32x4.sub(mxA, mnA));
    isB = f32x4.div(c, f32x4.sub(mxB, mnB));
    let slA = zero, sl2A = zero, sxlA = zero, slB = zero, sl2B = zero, sxlB = zero;
    if (fast && rounding_safe8(isA, isB, mxA, mxB, mnA, mnB, mn0A, mn0B, degA, degB)) {
      if (!xmValid) {
        // x - min per lane, kept until a lane accepts a new min (same f32 subtraction as below)
        for (let i = 0; i < n; i++) {
          const o = <usize>i << 5;
          v128.store(XM8 + o, f32x4.sub(v128.load(XT8 + o), mnA));
          v128.store(XM8 + o, f32x4.sub(v128.load(XT8 + o, 16), mnB), 16);
        }
        xmValid = true;
      }
      // every |iscale * (x - min)| < 2^22 in the live lanes: ggml's nearest_int is round-half-even
      // there, so f32x4.nearest + a float clamp give the same codes as the integer path below
      // (pmax(0, .) also turns -0 into +0, as the i32 -> f32 conversion does).
      for (let i = 0; i < n; i++) {
        const o = <usize>i << 5;
        const xA = v128.load(XT8 + o), wA = v128.load(WT8 + o);
        const xB = v128.load(XT8 + o, 16), wB = v128.load(WT8 + o, 16);
        const flA = f32x4.pmax(zero, f32x4.pmin(vnmax, f32x4.nearest(f32x4.mul(isA, v128.load(XM8 + o)))));
        const flB = f32x4.pmax(zero, f32x4.pmin(vnmax, f32x4.nearest(f32x4.mul(isB, v128.load(XM8 + o, 16)))));
        v128.store(TMP8 + o, flA);
        v128.store(TMP8 + o, flB, 16);
        const wlA = f32x4.mul(wA, flA), wlB = f32x4.mul(wB, flB);
        slA = f32x4.add(slA, wlA); slB = f32x4.add(slB, wlB);
        sl2A = f32x4.add(sl2A, f32x4.mul(wlA, flA)); sl2B = f32x4.add(sl2B, f32x4.mul(wlB, flB));
        sxlA = f32x4.add(sxlA, f32x4.mul(wlA, xA)); sxlB = f32x4.add(sxlB, f32x4.mul(wlB, xB));
      }
    } else {
      for (let i = 0; i < n; i++) {
        const o = <usize>i << 5;
        const xA = v128.load(XT8 + o), wA = v128.load(WT8 + o);
        const xB = v128.load(XT8 + o, 16), wB = v128.load(WT8 + o, 16);
        const flA = f32x4.convert_i32x4_s(clamp0_i32x4(nearest_int_g4(f32x4.mul(isA, f32x4.sub(xA, mnA))), inmax));
        const flB = f32x4.convert_i32x4_s(clamp0_i32x4(nearest_int_g4(f32x4.mul(isB, f32x4.sub(xB, mnB))), inmax));
        v128.store(TMP8 + o, flA);
        v128.store(TMP8 + o, flB, 16);
        const wlA = f32x4.mul(wA, flA), wlB = f32x4.mul(wB, flB);
        slA = f32x4.add(slA, wlA); slB = f32x4.add(slB, wlB);
        sl2A = f32x4.add(sl2A, f32x4.mul(wlA, flA)); sl2B = f32x4.add(sl2B, f32x4.mul(wlB, flB));
        sxlA = f32x4.add(sxlA, f32x4.mul(wlA, xA)); sxlB = f32x4.add(sxlB, f32x4.mul(wlB, xB));
      }
    }
    const DA = f32x4.sub(f32x4.mul(swA, sl2A), f32x4.mul(slA, slA));
    const DB = f32x4.sub(f32x4.mul(swB, sl2B), f32x4.mul(slB, slB));
    const DposA = f32x4.gt(DA, zero), DposB = f32x4.gt(DB, zero);
    if (!v128.any_true(v128.or(DposA, DposB))) continue;
    let tsA = f32x4.div(f32x4.sub(f32x4.mul(swA, sxlA), f32x4.mul(sxA, slA)), DA);
    let tsB = f32x4.div(f32x4.sub(f32x4.mul(swB, sxlB), f32x4.mul(sxB, slB)), DB);
    let tmA = f32x4.div(f32x4.sub(f32x4.mul(sl2A, sxA), f32x4.mul(slA, sxlA)), DA);
    let tmB = f32x4.div(f32x4.sub(f32x4.mul(sl2B, sxB), f32x4.mul(slB, sxlB)), DB);
    const mposA = f32x4.gt(tmA, zero), mposB = f32x4.gt(tmB, zero);
    tmA = v128.bitselect(zero, tmA, mposA);
    tmB = v128.bitselect(zero, tmB, mposB);
    if (v128.any_true(v128.or(mposA, mposB))) {
      tsA = v128.bitselect(f32x4.div(sxlA, sl2A), tsA, mposA);
      tsB = v128.bitselect(f32x4.div(sxlB, sl2B), tsB, mposB);
    }
    let curA = zero, curB = zero;
    for (let i = 0; i < n; i++) {
      const o = <usize>i << 5;
      let dA = f32x4.sub(f32x4.add(f32x4.mul(tsA, v128.load(TMP8 + o)), tmA), v128.load(XT8 + o));
      let dB = f32x4.sub(f32x4.add(f32x4.mul(tsB, v128.load(TMP8 + o, 16)), tmB), v128.load(XT8 + o, 16));
      dA = use_mad ? f32x4.abs(dA) : f32x4.mul(dA, dA);
      dB = use_mad ? f32x4.abs(dB) : f32x4.mul(dB, dB);
      curA = f32x4.add(curA, f32x4.mul(v128.load(WT8 + o), dA));
      curB = f32x4.add(curB, f32x4.mul(v128.load(WT8 + o, 16), dB));
    }
    const accA = v128.and(DposA, f32x4.lt(curA, bestA));
    const accB = v128.and(DposB, f32x4.lt(curB, bestB));
    bestA = v128.bitselect(curA, bestA, accA); bestB = v128.bitselect(curB, bestB, accB);
    scA = v128.bitselect(tsA, scA, accA); scB = v128.bitselect(tsB, scB, accB);
    bIsA = v128.bitselect(isA, bIsA, accA); bIsB = v128.bitselect(isB, bIsB, accB);
    bMnA = v128.bitselect(mnA, bMnA, accA); bMnB = v128.bitselect(mnB, bMnB, accB);
    mnA = v128.bitselect(tmA, mnA, accA); mnB = v128.bitselect(tmB, mnB, accB);
    if (v128.any_true(v128.or(accA, accB))) xmValid = false;
  }
  v128.store(R, v128.bitselect(zero, scA, degA));
  v128.store(R, v128.bitselect(f32x4.neg(mn0A), f32x4.neg(mnA), degA), 16);
  v128.store(R, v128.bitselect(zero, scB, degB), 32);
  v128.store(R, v128.bitselect(f32x4.neg(mn0B), f32x4.neg(mnB), degB), 48);
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 5;
    const lA = clamp0_i32x4(nearest_int_g4(f32x4.mul(bIsA, f32x4.sub(v128.load(XT8 + o), bMnA))), inmax);
    const lB = clamp0_i32x4(nearest_int_g4(f32x4.mul(bIsB, f32x4.sub(v128.load(XT8 + o, 16), bMnB))), inmax);
    v128.store(LT8 + o, v128.andnot(lA, degA));
    v128.store(LT8 + o, v128.andnot(lB, degB), 16);
  }
}

/** sum(x^2)/n over a row, sequential (ggml's row-level sigma2 of the q4_1/q5_1 imatrix path). */
export function row_sigma2(x: usize, n: i32): f32 {
  let s: f32 = 0;
  for (let j = 0; j < n; j++) {
    const v = load<f32>(x + (<usize>j << 2));
    s += v * v;
  }
  return s / <f32>n;
}

/** WT = QT * sqrt(sigma2 + XT^2) for n vectors. */
// @ts-ignore: decorator
@inline function imatrix_weights(n: i32, sigma2: f32): void {
  const s2 = f32x4.splat(sigma2);
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 4;
    const xi = v128.load(XT + o);
    v128.store(WT + o, f32x4.mul(v128.load(QT + o), f32x4.sqrt(f32x4.add(s2, f32x4.mul(xi, xi)))));
  }
}

/**
 * q4_1/q5_1 imatrix path for 4 consecutive 32-blocks at x (importance qw, row sigma2):
 * OUT: scales f32[4] @0, the_min f32[4] @16, codes u8[4][32] @32.
 */
export function make_qkx_x4_blocks32(x: usize, qw: usize, sigma2: f32, nmax: i32, OUT: usize): void {
  transpose4(XT, x, 32);
  transpose4(QT, qw, 32);
  imatrix_weights(32, sigma2);
  make_qkx_x4(32, nmax, <f32>-0.9, <f32>0.05, 36, false);
  v128.store(OUT, v128.load(R));
  v128.store(OUT, v128.load(R, 16), 16);
  scatter_L(OUT + 32, 32);
}

/** q4_K/q5_K final requantization, 4 values per step. Bit-identical to qk8_requant_ref. */
function qk8_requant_x4(y: usize, x: usize, L: usize, nmax: i32): void {
  const dd = fp16_to_fp32(load<u16>(y));
  const dmn = fp16_to_fp32(load<u16>(y, 2));
  const inmax = i32x4.splat(nmax);
  for (let j = 0; j < 8; j++) {
    const d: f32 = dd * <f32>get_scale_k4(j, y + 4);
    if (d == 0) continue;
    const dm: f32 = dmn * <f32>get_min_k4(j, y + 4);
    const vd = f32x4.splat(d), vdm = f32x4.splat(dm);
    const xj = x + (<usize>j << 7);
    const Lj = L + (<usize>j << 5);
    for (let h: usize = 0; h < 2; h++) {
      const xh = xj + (h << 6);
      const l0 = clamp0_i32x4(nearest_int_g4(f32x4.div(f32x4.add(v128.load(xh, 0), vdm), vd)), inmax);
      const l1 = clamp0_i32x4(nearest_int_g4(f32x4.div(f32x4.add(v128.load(xh, 16), vdm), vd)), inmax);
      const l2 = clamp0_i32x4(nearest_int_g4(f32x4.div(f32x4.add(v128.load(xh, 32), vdm), vd)), inmax);
      const l3 = clamp0_i32x4(nearest_int_g4(f32x4.div(f32x4.add(v128.load(xh, 48), vdm), vd)), inmax);
      v128.store(Lj + (h << 4), i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_s(l0, l1), i16x8.narrow_i32x4_s(l2, l3)));
    }
  }
}

/** WT8 = QT8 * sqrt(sigma2 + XT8^2) for n rows of 8. */
// @ts-ignore: decorator
@inline function imatrix_weights8(n: i32, sigma2: f32): void {
  const s2 = f32x4.splat(sigma2);
  for (let i = 0; i < 2 * n; i++) {
    const o = <usize>i << 4;
    const xi = v128.load(XT8 + o);
    v128.store(WT8 + o, f32x4.mul(v128.load(QT8 + o), f32x4.sqrt(f32x4.add(s2, f32x4.mul(xi, xi)))));
  }
}

/** 8 consecutive groups of n floats at x -> XT8 (groups 0..3 set A, 4..7 set B). */
// @ts-ignore: decorator
@inline function transpose8(dst: usize, x: usize, n: i32): void {
  transpose4s(dst, x, n, 5);
  transpose4s(dst + 16, x + (<usize>n << 4), n, 5);
}

/** Per-lane sums over the n rows of an 8-lane buffer, sequential: stores 8 f32 at out. */
// @ts-ignore: decorator
@inline function lane_sums8(buf: usize, n: i32, out: usize): void {
  let a = f32x4.splat(0), b = f32x4.splat(0);
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 5;
    a = f32x4.add(a, v128.load(buf + o));
    b = f32x4.add(b, v128.load(buf + o, 16));
  }
  v128.store(out, a);
  v128.store(out, b, 16);
}

/**
 * q4_1/q5_1 imatrix path for 8 consecutive 32-blocks at x: OUT: scales f32[8] @0,
 * the_min f32[8] @32, codes u8[8][32] @64.
 */
export function make_qkx_x8_blocks32(x: usize, qw: usize, sigma2: f32, nmax: i32, OUT: usize): void {
  transpose8(XT8, x, 32);
  transpose8(QT8, qw, 32);
  imatrix_weights8(32, sigma2);
  make_qkx_x8(32, nmax, <f32>-0.9, <f32>0.05, 36, false);
  v128.store(OUT, v128.load(R));
  v128.store(OUT, v128.load(R, 32), 16);
  v128.store(OUT, v128.load(R, 16), 32);
  v128.store(OUT, v128.load(R, 48), 48);
  scatter_L8(OUT + 64, 32);
}

/** q4_K/q5_K reference super-block: the 8 group searches run one per lane, then the scalar scale code. */
export function qk8_ref_superblock_x4(y: usize, x: usize, L: usize, S: usize, nmax: i32, rmin: f32, nstep: i32): void {
  transpose8(XT8, x, 32);
  lane_sums8_sq(32);
  make_qkx_x8(32, nmax, rmin, <f32>0.1, nstep, false);
  v128.store(S + 160, v128.load(R));
  v128.store(S + 176, v128.load(R, 32));
  v128.store(S + 192, v128.load(R, 16));
  v128.store(S + 208, v128.load(R, 48));
  scatter_L8(L, 32);
  let max_scale: f32 = 0, max_min: f32 = 0;
  for (let j = 0; j < 8; j++) {
    const sc = load<f32>(S + 160 + (<usize>j << 2));
    if (sc > max_scale) max_scale = sc;
    const mn = load<f32>(S + 192 + (<usize>j << 2));
    if (mn > max_min) max_min = mn;
  }
  qk8_ref_scales(y, S, max_scale, max_min);
  qk8_requant_x4(y, x, L, nmax);
}

/** q4_K/q5_K ref weights: WT8 = sqrt(sum(x^2)/32) + |x| per group (sequential sums per lane). */
// @ts-ignore: decorator
@inline function lane_sums8_sq(n: i32): void {
  let a = f32x4.splat(0), b = f32x4.splat(0);
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 5;
    const xa = v128.load(XT8 + o), xb = v128.load(XT8 + o, 16);
    a = f32x4.add(a, f32x4.mul(xa, xa));
    b = f32x4.add(b, f32x4.mul(xb, xb));
  }
  const avA = f32x4.sqrt(f32x4.div(a, f32x4.splat(32))), avB = f32x4.sqrt(f32x4.div(b, f32x4.splat(32)));
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 5;
    v128.store(WT8 + o, f32x4.add(avA, f32x4.abs(v128.load(XT8 + o))));
    v128.store(WT8 + o, f32x4.add(avB, f32x4.abs(v128.load(XT8 + o, 16))), 16);
  }
}

/** q4_K/q5_K imatrix super-block: the 8 group searches one per lane, then the scalar make_qp_quants. */
export function qk8_impl_superblock_x4(y: usize, x: usize, qw: usize, L: usize, S: usize, nmax: i32, clamp63: bool): void {
  const sigma2: f32 = <f32>2 * sumsq256(x) / <f32>256;
  transpose8(XT8, x, 32);
  transpose8(QT8, qw, 32);
  imatrix_weights8(32, sigma2);
  lane_sums8(WT8, 32, S + 240);
  make_qkx_x8(32, nmax, <f32>-0.9, <f32>0.05, 36, false);
  v128.store(S + 160, v128.load(R));
  v128.store(S + 176, v128.load(R, 32));
  v128.store(S + 192, v128.load(R, 16));
  v128.store(S + 208, v128.load(R, 48));
  scatter_L8(L, 32);
  qk8_impl_scales(y, S, clamp63);
  qk8_requant_x4(y, x, L, nmax);
}

/** q2_K reference searches (16 groups of 16, weights |x|), 8 groups per call. Same outputs as q2_ref_search. */
export function q2_ref_search_x4(x: usize, L: usize, S: usize): void {
  for (let b = 0; b < 2; b++) {
    transpose8(XT8, x + (<usize>b << 9), 16);
    for (let i = 0; i < 32; i++) {
      const o = <usize>i << 4;
      v128.store(WT8 + o, f32x4.abs(v128.load(XT8 + o)));
    }
    make_qkx_x8(16, 3, <f32>-0.5, <f32>0.1, 15, true);
    store_r8(S + 160 + (<usize>b << 5), S + 224 + (<usize>b << 5));
    scatter_L8(L + (<usize>b << 7), 16);
  }
}

// @ts-ignore: decorator
@inline function store_r8(scales: usize, mins: usize): void {
  v128.store(scales, v128.load(R));
  v128.store(scales, v128.load(R, 32), 16);
  v128.store(mins, v128.load(R, 16));
  v128.store(mins, v128.load(R, 48), 16);
}

/** q2_K imatrix searches, 8 groups per call. Same outputs as q2_impl_search. */
export function q2_impl_search_x4(x: usize, qw: usize, L: usize, S: usize): void {
  let sumx2: f32 = 0;
  for (let j = 0; j < 256; j++) {
    const v = load<f32>(x + (<usize>j << 2));
    sumx2 += v * v;
  }
  const sigma2: f32 = sumx2 / <f32>256;
  for (let b = 0; b < 2; b++) {
    transpose8(XT8, x + (<usize>b << 9), 16);
    transpose8(QT8, qw + (<usize>b << 9), 16);
    imatrix_weights8(16, sigma2);
    lane_sums8(WT8, 16, S + 320 + (<usize>b << 5));
    make_qkx_x8(16, 3, <f32>-0.9, <f32>0.05, 36, false);
    store_r8(S + 160 + (<usize>b << 5), S + 224 + (<usize>b << 5));
    scatter_L8(L + (<usize>b << 7), 16);
  }
}
