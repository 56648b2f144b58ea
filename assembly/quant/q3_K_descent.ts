// make_q3_quants(16, 4, x, L, do_rmse = true) -- ggml's RTN start + up to 5 passes of coordinate
// descent -- for the 16 sub-blocks of one q3_K super-block (the path without an importance matrix),
// four sub-blocks per v128 (one per lane), bit-identical to the scalar version in common_sym.ts, lane
// by lane (inputs are finite: block formats refuse NaN/Inf before quantizing).
//
// Which sub-blocks descend is known before the RTN start: a sub-block whose signed max is finite and
// > 0 gets codes of the opposite sign of x, so every term w * x * L is <= 0 (or NaN), every
// sequential partial sum is at least as large in magnitude as each term, slx = sumlx - w*x*L[i] is
// never > 0, and ggml's first pass changes nothing: its result is the RTN start (all-zero sub-blocks
// too). So the signed maxes of all 16 sub-blocks come first, and the sub-blocks that can descend
// (about half on ~normal weights) are packed into the first lane groups ("slots" 0, 1, ...): a group
// of done lanes only needs the RTN start's sums, and the descent runs on ceil(n/4) groups instead of
// on every group with one descending lane.
//
// Inside a descending group: accepted changes are rare (~4% of the element tests), and between two
// changes sumlx / suml2 are constant, so each element's test is independent of the previous one: the
// loop computes the cheap test (slx, sl2, the division, the rounded code) from stored per-element
// terms and takes the accept path only when some lane's code differs. A lane whose pass changed
// nothing is done (ggml breaks; further passes would be no-ops). Done lanes carry sumlx = NaN, so
// slx > 0 fails for every element.
//
// Codes are not written: q3_K requantizes every sub-block from its 6-bit scale and keeps the search's
// codes only where that scale is 0, so q3_K_search_codes16 makes them on demand (descending lanes:
// from their slot's buffer, which lives until the next search; the others: the RTN start again).
// Not re-exported from assembly/index.ts.
import { GROUP_MAX_EPS } from "./common_sym";
import { transpose4p } from "../inline/simd";

// Four slot groups of 1 KiB, each 16 rows of four lanes at fixed distances (loads with immediate
// offsets): +0 x (transposed), +256 w * x * L (ggml's term of sumlx), +512 w * L * L (the term of
// suml2), +768 L + 0x400000 (i32, L in -4..3)
const B4 = memory.data(4 * 1024, 16);
// @ts-ignore: decorator
@inline const OT1: usize = 256;
// @ts-ignore: decorator
@inline const OT2: usize = 512;
// @ts-ignore: decorator
@inline const OLB: usize = 768;

// @ts-ignore: decorator
@inline const BIAS: i32 = 0x400000;

const VM = memory.data(64, 16);   // f32 signed max of sub-block j at +4j
const ZM = memory.data(64, 16);   // i32 all-zero mask (0 / -1) of sub-block j at +4j
const SLOT = memory.data(24, 16); // u8 sub-block of slot s (group s >> 2, lane s & 3); 8 spare
// BITS + 8m: the positions of the set bits of the byte m, ascending (the rest 0)
const BITS = memory.data(256 * 8, 16);
for (let m = 0; m < 256; m++) {
  let k = 0;
  for (let b = 0; b < 8; b++) if ((m >> b) & 1) store<u8>(BITS + (<usize>m << 3) + k++, b);
}
let descending: i32 = 0;          // bit j: sub-block j went through the descent

/** [max(a), max(b), max(c), max(d)] over the lanes of each (f32x4.pmax order; finite inputs). */
// @ts-ignore: decorator
@inline function hmax4(a: v128, b: v128, c: v128, d: v128): v128 {
  const ab = f32x4.pmax(v128.shuffle<u32>(a, b, 0, 1, 4, 5), v128.shuffle<u32>(a, b, 2, 3, 6, 7));
  const cd = f32x4.pmax(v128.shuffle<u32>(c, d, 0, 1, 4, 5), v128.shuffle<u32>(c, d, 2, 3, 6, 7));
  return f32x4.pmax(v128.shuffle<u32>(ab, cd, 0, 2, 4, 6), v128.shuffle<u32>(ab, cd, 1, 3, 5, 7));
}

// @ts-ignore: decorator
@inline function hmin4(a: v128, b: v128, c: v128, d: v128): v128 {
  const ab = f32x4.pmin(v128.shuffle<u32>(a, b, 0, 1, 4, 5), v128.shuffle<u32>(a, b, 2, 3, 6, 7));
  const cd = f32x4.pmin(v128.shuffle<u32>(c, d, 0, 1, 4, 5), v128.shuffle<u32>(c, d, 2, 3, 6, 7));
  return f32x4.pmin(v128.shuffle<u32>(ab, cd, 0, 2, 4, 6), v128.shuffle<u32>(ab, cd, 1, 3, 5, 7));
}

/** Lanes that need no descent: all-zero, or signed max finite and > 0. */
// @ts-ignore: decorator
@inline function done_of(vmax: v128, zero: v128): v128 {
  return v128.or(zero, v128.and(f32x4.gt(vmax, f32x4.splat(0)), f32x4.lt(vmax, f32x4.splat(Infinity))));
}

/** Four lanes from four u32 at p + 4 * (lane's sub-block). */
// @ts-ignore: decorator
@inline function gather4(p: usize, j0: usize, j1: usize, j2: usize, j3: usize): v128 {
  let v = v128.load32_zero(p + (j0 << 2));
  v = v128.load32_lane(p + (j1 << 2), v, 1);
  v = v128.load32_lane(p + (j2 << 2), v, 2);
  return v128.load32_lane(p + (j3 << 2), v, 3);
}

/**
 * make_q3_quants(16, 4, ., ., true) for the 16 sub-blocks (f32, 16 each) of the super-block at x:
 * scale of sub-block j (f32) at scales + 4j. Codes: q3_K_search_codes16.
 */
export function q3_K_search16(x: usize, scales: usize): void {
  // 1. signed max (first one on ties) of each sub-block from its max and min; a +a / -a tie is
  //    resolved by a scan
  let dm = 0;
  for (let g: usize = 0; g < 4; g++) {
    const xg = x + (g << 8);
    const a0 = v128.load(xg), a1 = v128.load(xg, 16), a2 = v128.load(xg, 32), a3 = v128.load(xg, 48);
    const b0 = v128.load(xg, 64), b1 = v128.load(xg, 80), b2 = v128.load(xg, 96), b3 = v128.load(xg, 112);
    const c0 = v128.load(xg, 128), c1 = v128.load(xg, 144), c2 = v128.load(xg, 160), c3 = v128.load(xg, 176);
    const d0 = v128.load(xg, 192), d1 = v128.load(xg, 208), d2 = v128.load(xg, 224), d3 = v128.load(xg, 240);
    const hi = hmax4(f32x4.pmax(f32x4.pmax(a0, a1), f32x4.pmax(a2, a3)), f32x4.pmax(f32x4.pmax(b0, b1), f32x4.pmax(b2, b3)),
      f32x4.pmax(f32x4.pmax(c0, c1), f32x4.pmax(c2, c3)), f32x4.pmax(f32x4.pmax(d0, d1), f32x4.pmax(d2, d3)));
    const lo = hmin4(f32x4.pmin(f32x4.pmin(a0, a1), f32x4.pmin(a2, a3)), f32x4.pmin(f32x4.pmin(b0, b1), f32x4.pmin(b2, b3)),
      f32x4.pmin(f32x4.pmin(c0, c1), f32x4.pmin(c2, c3)), f32x4.pmin(f32x4.pmin(d0, d1), f32x4.pmin(d2, d3)));
    const nlo = f32x4.neg(lo);
    let vmax = v128.bitselect(hi, lo, f32x4.gt(hi, nlo));
    const tie = v128.and(f32x4.eq(hi, nlo), f32x4.gt(hi, f32x4.splat(0)));
    if (i8x16.bitmask(tie)) vmax = tie_max(xg, vmax, tie, hi);
    const zero = f32x4.lt(f32x4.pmax(hi, nlo), f32x4.splat(GROUP_MAX_EPS));
    v128.store(VM + (g << 4), vmax);
    v128.store(ZM + (g << 4), zero);
    dm |= (i32x4.bitmask(done_of(vmax, zero)) ^ 0xF) << (<i32>g << 2);
  }
  descending = dm;
  // 2. slots: descending sub-blocks first (in order), then the others; 8 positions at a time from
  //    BITS (a later store overwrites the previous one's unused bytes)
  const nm = ~dm & 0xFFFF, plus8: u64 = 0x0808080808080808;
  let s: usize = 0;
  store<u64>(SLOT, load<u64>(BITS + (<usize>(dm & 0xFF) << 3)));
  s += <usize>popcnt(dm & 0xFF);
  store<u64>(SLOT + s, load<u64>(BITS + (<usize>(dm >> 8) << 3)) + plus8);
  s += <usize>popcnt(dm >> 8);
  const ngd = <u32>((s + 3) >> 2); // groups with a descending lane
  store<u64>(SLOT + s, load<u64>(BITS + (<usize>(nm & 0xFF) << 3)));
  s += <usize>popcnt(nm & 0xFF);
  store<u64>(SLOT + s, load<u64>(BITS + (<usize>(nm >> 8) << 3)) + plus8);
  // 3. per slot group: RTN start (+ descent)
  for (let q: u32 = 0; q < 4; q++) {
    const j0 = <usize>load<u8>(SLOT + (q << 2)), j1 = <usize>load<u8>(SLOT + (q << 2) + 1);
    const j2 = <usize>load<u8>(SLOT + (q << 2) + 2), j3 = <usize>load<u8>(SLOT + (q << 2) + 3);
    const vmax = gather4(VM, j0, j1, j2, j3), zero = gather4(ZM, j0, j1, j2, j3);
    const p0 = x + (j0 << 6), p1 = x + (j1 << 6), p2 = x + (j2 << 6), p3 = x + (j3 << 6);
    const scale = q < ngd
      ? rtn_descent(B4 + (<usize>q << 10), p0, p1, p2, p3, vmax, zero)
      : rtn_only(p0, p1, p2, p3, vmax, zero);
    store<f32>(scales + (j0 << 2), f32x4.extract_lane(scale, 0));
    store<f32>(scales + (j1 << 2), f32x4.extract_lane(scale, 1));
    store<f32>(scales + (j2 << 2), f32x4.extract_lane(scale, 2));
    store<f32>(scales + (j3 << 2), f32x4.extract_lane(scale, 3));
  }
}

const XT = memory.data(256, 16); // transposed group of rtn_only

/** RTN start of a group without descending lanes: the scales only. */
// @ts-ignore: decorator
@inline function rtn_only(p0: usize, p1: usize, p2: usize, p3: usize, vmax: v128, zero: v128): v128 {
  // In nonzero lanes |x| <= |vmax| and iscale = fl(-4 / vmax), so |iscale * x| <= 4 (1 + 2^-24)^2
  // < 4.5: ggml's nearest_int equals f32x4.nearest and is >= -4 (the lower clamp is dead). Zero
  // lanes' values do not matter (their scale and codes are 0).
  const fhi = f32x4.splat(3);
  const iscale = f32x4.div(f32x4.splat(-4), vmax);
  let sumlx = f32x4.splat(0);
  let suml2 = f32x4.splat(0);
  transpose4p(XT, p0, p1, p2, p3, 64);
  for (let p = XT; p < XT + 256; p += 16) {
    const xi = v128.load(p);
    const l = f32x4.pmin(fhi, f32x4.nearest(f32x4.mul(iscale, xi)));
    const w = f32x4.mul(xi, xi);
    sumlx = f32x4.add(sumlx, f32x4.mul(f32x4.mul(w, xi), l));
    suml2 = f32x4.add(suml2, f32x4.mul(f32x4.mul(w, l), l));
  }
  return v128.andnot(v128.and(f32x4.div(sumlx, suml2), f32x4.gt(suml2, f32x4.splat(0))), zero);
}

/** RTN start and descent of a group with descending lanes, state in the slot buffer B. */
// @ts-ignore: decorator
@inline function rtn_descent(B: usize, p0: usize, p1: usize, p2: usize, p3: usize, vmax: v128, zero: v128): v128 {
  const fhi = f32x4.splat(3); // no lower clamp: as in rtn_only
  const iscale = f32x4.div(f32x4.splat(-4), vmax);
  const bias = i32x4.splat(BIAS), mask = i32x4.splat(0x007FFFFF);
  const magic = f32x4.splat(12582912.0);
  let sumlx = f32x4.splat(0);
  let suml2 = f32x4.splat(0);
  transpose4p(B, p0, p1, p2, p3, 64);
  for (let p = B; p < B + 256; p += 16) {
    {
      const xi = v128.load(p);
      const l = f32x4.pmin(fhi, f32x4.nearest(f32x4.mul(iscale, xi)));
      // l is an integer in -4..3: the low 23 bits of l + 1.5 * 2^23 are l + 0x400000
      v128.store(p, v128.and(f32x4.add(l, magic), mask), OLB);
      const w = f32x4.mul(xi, xi);
      const t1 = f32x4.mul(f32x4.mul(w, xi), l), t2 = f32x4.mul(f32x4.mul(w, l), l);
      v128.store(p, t1, OT1);
      v128.store(p, t2, OT2);
      sumlx = f32x4.add(sumlx, t1);
      suml2 = f32x4.add(suml2, t2);
    }
  }
  let scale = v128.and(f32x4.div(sumlx, suml2), f32x4.gt(suml2, f32x4.splat(0)));
  const nan = f32x4.splat(NaN), fz = f32x4.splat(0);
  const blo = i32x4.splat(BIAS - 4), bhi = i32x4.splat(BIAS + 3);
  let sx = v128.bitselect(nan, sumlx, done_of(vmax, zero));
  let s2 = suml2;
  // rows 0 .. plim of a pass (all on the first one; see the verified tail below)
  let plim = B + 256;
  let lc = i32x4.splat(0); // per lane: the row of its last accepted change in this pass
  for (let itry = 0; itry < 5; ++itry) {
    let chg = i32x4.splat(0);
    for (let p = B; p < plim; p += 16) {
      const slx = f32x4.sub(sx, v128.load(p, OT1));
      const c1 = f32x4.gt(slx, fz);
      const sl2 = f32x4.sub(s2, v128.load(p, OT2));
      const xi = v128.load(p);
      // ggml's nearest_int(x * sl2 / slx) (exact for any value: it can be huge here), clamped
      const nb = i32x4.max_s(blo, i32x4.min_s(bhi,
        v128.and(f32x4.add(f32x4.div(f32x4.mul(xi, sl2), slx), magic), mask)));
      const Lb = v128.load(p, OLB);
      const c2 = v128.andnot(c1, i32x4.eq(nb, Lb));
      // (lanes are all-ones or zero: a byte bitmask is any_true in one x86 instruction, pmovmskb)
      if (!i8x16.bitmask(c2)) continue;
      const nf = f32x4.convert_i32x4_s(i32x4.sub(nb, bias));
      const w = f32x4.mul(xi, xi);
      const t1 = f32x4.mul(f32x4.mul(w, xi), nf), t2 = f32x4.mul(f32x4.mul(w, nf), nf);
      const slx2 = f32x4.add(slx, t1), sl22 = f32x4.add(sl2, t2);
      const c3 = v128.and(v128.and(c2, f32x4.gt(sl22, fz)),
        f32x4.gt(f32x4.mul(f32x4.mul(slx2, slx2), s2), f32x4.mul(f32x4.mul(sx, sx), sl22)));
      v128.store(p, v128.bitselect(nb, Lb, c3), OLB);
      v128.store(p, v128.bitselect(t1, v128.load(p, OT1), c3), OT1);
      v128.store(p, v128.bitselect(t2, v128.load(p, OT2), c3), OT2);
      sx = v128.bitselect(slx2, sx, c3);
      s2 = v128.bitselect(sl22, s2, c3);
      chg = v128.or(chg, c3);
      lc = v128.bitselect(i32x4.splat(<i32>(p - B)), lc, c3);
      plim = B + 256;
    }
    if (!i8x16.bitmask(chg)) break;
    // Verified tail: after a lane's last change in this pass (row c), its rows > c were tested with
    // its final sumlx / suml2 and unchanged terms. If the next pass changes nothing in rows 0..c,
    // the sums and terms are the same again at every row > c, so is each test's outcome (no
    // accepted change): the lane's next pass changes nothing. So the next pass stops after row
    // max(c) over the changed lanes unless some lane changes before (then plim is reset to 16 rows).
    let m = v128.and(lc, chg);
    m = i32x4.max_s(m, v128.shuffle<u32>(m, m, 2, 3, 0, 1));
    m = i32x4.max_s(m, v128.shuffle<u32>(m, m, 1, 0, 3, 2));
    plim = B + <usize>i32x4.extract_lane(m, 0) + 16;
    scale = v128.bitselect(v128.and(f32x4.div(sx, s2), f32x4.gt(s2, fz)), scale, chg);
    sx = v128.bitselect(sx, nan, chg); // lanes without a change are done
  }
  return v128.andnot(scale, zero);
}

/**
 * Codes 0..7 (bytes at Lb) that make_q3_quants leaves for sub-block j of the super-block at x, which
 * the last q3_K_search16 call searched (0 for an all-zero sub-block).
 */
export function q3_K_search_codes16(Lb: usize, x: usize, j: i32): void {
  if ((descending >> j) & 1) {
    let s: usize = 0;
    while (<i32>load<u8>(SLOT + s) != j) s++;
    const p = B4 + ((s >> 2) << 10) + OLB + ((s & 3) << 2);
    for (let i: usize = 0; i < 16; i++) store<u8>(Lb + i, load<i32>(p + (i << 4)) - (BIAS - 4));
    return;
  }
  if (load<i32>(ZM + (<usize>j << 2))) {
    v128.store(Lb, i8x16.splat(0));
    return;
  }
  // the RTN start, as in rtn_only (same f32 operations lane by lane)
  const fhi = f32x4.splat(3), four = f32x4.splat(4);
  const iscale = f32x4.div(f32x4.splat(-4), f32x4.splat(load<f32>(VM + (<usize>j << 2))));
  const xb = x + (<usize>j << 6);
  const q0 = i32x4.trunc_sat_f32x4_s(f32x4.add(four, f32x4.pmin(fhi, f32x4.nearest(f32x4.mul(iscale, v128.load(xb))))));
  const q1 = i32x4.trunc_sat_f32x4_s(f32x4.add(four, f32x4.pmin(fhi, f32x4.nearest(f32x4.mul(iscale, v128.load(xb, 16))))));
  const q2 = i32x4.trunc_sat_f32x4_s(f32x4.add(four, f32x4.pmin(fhi, f32x4.nearest(f32x4.mul(iscale, v128.load(xb, 32))))));
  const q3 = i32x4.trunc_sat_f32x4_s(f32x4.add(four, f32x4.pmin(fhi, f32x4.nearest(f32x4.mul(iscale, v128.load(xb, 48))))));
  v128.store(Lb, i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_u(q0, q1), i16x8.narrow_i32x4_u(q2, q3)));
}

const TMP = memory.data(48, 16);

/** Lanes in `tie` (max == -min > 0): the first element of magnitude `hi` of sub-block k at xg + 64k. */
function tie_max(xg: usize, vmax: v128, tie: v128, hi: v128): v128 {
  v128.store(TMP, vmax);
  v128.store(TMP, tie, 16);
  v128.store(TMP, hi, 32);
  for (let k: usize = 0; k < 4; k++) {
    if (!load<i32>(TMP + 16 + (k << 2))) continue;
    const h = load<f32>(TMP + 32 + (k << 2));
    for (let i: usize = 0; i < 16; i++) {
      const v = load<f32>(xg + (k << 6) + (i << 2));
      if (abs<f32>(v) == h) {
        store<f32>(TMP + (k << 2), v);
        break;
      }
    }
  }
  return v128.load(TMP);
}
