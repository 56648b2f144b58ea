// SIMD helpers of the iq2 searches (iq2.ts), bit-identical to the scalar code they replace.
// 1. make_qp_quants for iq2_xxs's start scale (32 values, nmax 4) of 4 blocks at once, one block per
// lane: each lane runs the scalar make_qp_quants of common_asym.ts (trial scales, choice, codes and the
// up-to-5 refinement passes) with the same float operations in the same element order, so the levels
// and the scale of every block are bit-identical (test/89); the sequential sums and the refinement's
// dependency chains run 4 blocks per instruction.
// 2. sums_x4: the per-candidate sums sum w x q, sum w q^2 (q = 2 L + 1) of the candidate-scale loops,
// four candidates per instruction (one per lane), each lane adding in element order as ggml does.
import { nearest_int_g4 } from "../inline/asym";

/** Transposed x, w of 4 blocks (element i: 4 lanes, one per block), the levels (i32 per lane). */
const XT: usize = memory.data(32 * 16, 16);
const WT: usize = memory.data(32 * 16, 16);
const LT: usize = memory.data(32 * 16, 16);
/** make_qp_quants_32x4x4's scales of the 4 blocks (f32). */
export const QPS: usize = memory.data(16, 16);

/** 4 x 4 transpose of the f32 (or i32) lanes of a, b, c, d into dst (4 v128). */
// @ts-ignore: decorator
@inline function transpose4(dst: usize, a: v128, b: v128, c: v128, d: v128): void {
  const ab0 = i32x4.shuffle(a, b, 0, 4, 1, 5), ab1 = i32x4.shuffle(a, b, 2, 6, 3, 7);
  const cd0 = i32x4.shuffle(c, d, 0, 4, 1, 5), cd1 = i32x4.shuffle(c, d, 2, 6, 3, 7);
  v128.store(dst, i32x4.shuffle(ab0, cd0, 0, 1, 4, 5));
  v128.store(dst, i32x4.shuffle(ab0, cd0, 2, 3, 6, 7), 16);
  v128.store(dst, i32x4.shuffle(ab1, cd1, 0, 1, 4, 5), 32);
  v128.store(dst, i32x4.shuffle(ab1, cd1, 2, 3, 6, 7), 48);
}

/**
 * ggml make_qp_quants(32, 4, x_b, L_b, w_b) of 4 blocks b = 0..3 at once, one block per lane: x_b = 32
 * f32 at x + b xstride (the iq2 |x|, one value may be negated by the sign parity), weights w_b = 32 f32
 * at w + b xstride (bytes) -> levels L_b (32 u8 at L + 32 b; ggml's uint8_t store, so a negative code
 * wraps to 256 + l, and later passes read the wrapped value, as ggml does) and the scale QPS[b] (f32;
 * 0 when max x_b < 1e-15, with L_b zero). Each lane runs the scalar make_qp_quants' float operations in
 * element order (trial scales is = -4..4 in order, strict <; the refinement passes as the lane's own
 * sequential loop: a lane whose pass changed nothing runs the next passes unchanged, since a pass
 * without a change leaves L, sumlx, suml2 as they were). Bit-identical to make_qp_quants (test/89).
 */
export function make_qp_quants_32x4x4(x: usize, w: usize, xstride: usize, L: usize): void {
  const nmax = 4;
  for (let i = 0; i < 32; i += 4) {
    const o = <usize>i << 2;
    transpose4(XT + (o << 2), v128.load(x + o), v128.load(x + xstride + o), v128.load(x + 2 * xstride + o), v128.load(x + 3 * xstride + o));
    transpose4(WT + (o << 2), v128.load(w + o), v128.load(w + xstride + o), v128.load(w + 2 * xstride + o), v128.load(w + 3 * xstride + o));
  }
  // max (mx > x ? mx : x from 0, i.e. pmax(x, mx))
  let mx = f32x4.splat(0);
  for (let i = 0; i < 32; i++) mx = f32x4.pmax(v128.load(XT + (<usize>i << 4)), mx);
  const zero = f32x4.lt(mx, f32x4.splat(<f32>1e-15));
  const fnmax: f32 = <f32>nmax;
  const vmax = i32x4.splat(nmax), m255 = i32x4.splat(255);
  let iscale = f32x4.div(f32x4.splat(fnmax), mx);
  const scale = f32x4.div(f32x4.splat(1), iscale);
  let best = f32x4.splat(0);
  for (let i = 0; i < 32; i++) {
    const xi = v128.load(XT + (<usize>i << 4)), wi = v128.load(WT + (<usize>i << 4));
    const l = f32x4.convert_i32x4_s(v128.and(nearest_int_g4(f32x4.mul(iscale, xi)), m255));
    const d = f32x4.sub(xi, f32x4.mul(scale, l));
    best = f32x4.add(best, f32x4.mul(f32x4.mul(wi, d), d));
  }
  // trial scales is = -4..-1, then 1..4: four independent sums per element loop, then the choice in is order
  for (let h = 0; h < 2; h++) {
    const i0 = h == 0 ? -4 : 1;
    const isa = f32x4.div(f32x4.splat(<f32>0.1 * <f32>i0 + fnmax), mx), isb = f32x4.div(f32x4.splat(<f32>0.1 * <f32>(i0 + 1) + fnmax), mx);
    const isc = f32x4.div(f32x4.splat(<f32>0.1 * <f32>(i0 + 2) + fnmax), mx), isd = f32x4.div(f32x4.splat(<f32>0.1 * <f32>(i0 + 3) + fnmax), mx);
    const sa = f32x4.div(f32x4.splat(1), isa), sb = f32x4.div(f32x4.splat(1), isb);
    const sc = f32x4.div(f32x4.splat(1), isc), sd = f32x4.div(f32x4.splat(1), isd);
    let ma = f32x4.splat(0), mb = f32x4.splat(0), mc = f32x4.splat(0), md = f32x4.splat(0);
    for (let i = 0; i < 32; i++) {
      const xi = v128.load(XT + (<usize>i << 4)), wi = v128.load(WT + (<usize>i << 4));
      const da = f32x4.sub(xi, f32x4.mul(sa, f32x4.convert_i32x4_s(i32x4.min_s(vmax, nearest_int_g4(f32x4.mul(isa, xi))))));
      const db = f32x4.sub(xi, f32x4.mul(sb, f32x4.convert_i32x4_s(i32x4.min_s(vmax, nearest_int_g4(f32x4.mul(isb, xi))))));
      const dc = f32x4.sub(xi, f32x4.mul(sc, f32x4.convert_i32x4_s(i32x4.min_s(vmax, nearest_int_g4(f32x4.mul(isc, xi))))));
      const dd = f32x4.sub(xi, f32x4.mul(sd, f32x4.convert_i32x4_s(i32x4.min_s(vmax, nearest_int_g4(f32x4.mul(isd, xi))))));
      ma = f32x4.add(ma, f32x4.mul(f32x4.mul(wi, da), da));
      mb = f32x4.add(mb, f32x4.mul(f32x4.mul(wi, db), db));
      mc = f32x4.add(mc, f32x4.mul(f32x4.mul(wi, dc), dc));
      md = f32x4.add(md, f32x4.mul(f32x4.mul(wi, dd), dd));
    }
    let lt = f32x4.lt(ma, best); best = v128.bitselect(ma, best, lt); iscale = v128.bitselect(isa, iscale, lt);
    lt = f32x4.lt(mb, best); best = v128.bitselect(mb, best, lt); iscale = v128.bitselect(isb, iscale, lt);
    lt = f32x4.lt(mc, best); best = v128.bitselect(mc, best, lt); iscale = v128.bitselect(isc, iscale, lt);
    lt = f32x4.lt(md, best); best = v128.bitselect(md, best, lt); iscale = v128.bitselect(isd, iscale, lt);
  }
  // make_qp_finish, lane-wise
  let sumlx = f32x4.splat(0), suml2 = f32x4.splat(0);
  for (let i = 0; i < 32; i++) {
    const xi = v128.load(XT + (<usize>i << 4)), wi = v128.load(WT + (<usize>i << 4));
    const l = i32x4.min_s(vmax, nearest_int_g4(f32x4.mul(iscale, xi)));
    v128.store(LT + (<usize>i << 4), v128.and(l, m255));
    const fl = f32x4.convert_i32x4_s(l);
    sumlx = f32x4.add(sumlx, f32x4.mul(f32x4.mul(wi, xi), fl));
    suml2 = f32x4.add(suml2, f32x4.mul(f32x4.mul(wi, fl), fl));
  }
  const fz = f32x4.splat(0);
  for (let itry = 0; itry < 5; itry++) {
    let changed = i32x4.splat(0);
    for (let i = 0; i < 32; i++) {
      const xi = v128.load(XT + (<usize>i << 4)), wi = v128.load(WT + (<usize>i << 4));
      const li = v128.load(LT + (<usize>i << 4));
      const fli = f32x4.convert_i32x4_s(li);
      let slx = f32x4.sub(sumlx, f32x4.mul(f32x4.mul(wi, xi), fli));
      let sl2 = f32x4.sub(suml2, f32x4.mul(f32x4.mul(wi, fli), fli));
      const ok = v128.and(f32x4.gt(slx, fz), f32x4.gt(sl2, fz));
      const nl = i32x4.min_s(vmax, nearest_int_g4(f32x4.div(f32x4.mul(xi, sl2), slx)));
      const fn = f32x4.convert_i32x4_s(nl);
      slx = f32x4.add(slx, f32x4.mul(f32x4.mul(wi, xi), fn));
      sl2 = f32x4.add(sl2, f32x4.mul(f32x4.mul(wi, fn), fn));
      const better = f32x4.gt(f32x4.mul(f32x4.mul(slx, slx), suml2), f32x4.mul(f32x4.mul(sumlx, sumlx), sl2));
      const upd = v128.and(v128.andnot(ok, i32x4.eq(nl, li)), better);
      // rare: a branch, so that the next element does not wait for this one's test
      if (v128.any_true(upd)) {
        v128.store(LT + (<usize>i << 4), v128.bitselect(v128.and(nl, m255), li, upd));
        sumlx = v128.bitselect(slx, sumlx, upd);
        suml2 = v128.bitselect(sl2, suml2, upd);
        changed = v128.or(changed, upd);
      }
    }
    if (!v128.any_true(changed)) break;
  }
  const res = v128.bitselect(f32x4.div(sumlx, suml2), fz, f32x4.gt(suml2, fz));
  v128.store(QPS, v128.andnot(res, zero));
  // levels back to bytes, block-major; zero blocks get zero levels
  const keep = i8x16.shuffle(zero, zero, 0, 0, 0, 0, 4, 4, 4, 4, 8, 8, 8, 8, 12, 12, 12, 12);
  for (let i = 0; i < 32; i += 4) {
    const p = LT + (<usize>i << 4);
    const h0 = i16x8.narrow_i32x4_u(v128.load(p), v128.load(p, 16)), h1 = i16x8.narrow_i32x4_u(v128.load(p, 32), v128.load(p, 48));
    const b = i8x16.narrow_i16x8_u(h0, h1);
    const t = v128.andnot(i8x16.shuffle(b, b, 0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), keep);
    v128.store32_lane(L + <usize>i, t, 0);
    v128.store32_lane(L + 32 + <usize>i, t, 1);
    v128.store32_lane(L + 64 + <usize>i, t, 2);
    v128.store32_lane(L + 96 + <usize>i, t, 3);
  }
}

/** sum w x q of candidate c (f32, up to 20 candidates; 24 slots: sums_x4 writes 8 at a time). */
export const SQXC: usize = memory.data(24 * 4, 16);
/** sum w q^2 of candidate c. */
export const SQ2C: usize = memory.data(24 * 4, 16);

/** Transposed levels of 2 x 4 candidates x 16 elements (scratch). */
const ET: usize = memory.data(128, 16);

/** Levels of candidates c0..c0+3 (n bytes each at la), elements h..h+15, transposed to et: 4 bytes per element. */
// @ts-ignore: decorator
@inline function transpose_levels(et: usize, la: usize, n: i32, c0: i32, h: i32): void {
  const r0 = v128.load(la + <usize>(c0 * n + h)), r1 = v128.load(la + <usize>((c0 + 1) * n + h));
  const r2 = v128.load(la + <usize>((c0 + 2) * n + h)), r3 = v128.load(la + <usize>((c0 + 3) * n + h));
  const a = i8x16.shuffle(r0, r1, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const b = i8x16.shuffle(r2, r3, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const c = i8x16.shuffle(r0, r1, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const d = i8x16.shuffle(r2, r3, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  // e_k: elements 4k..4k+3, 4 bytes each (candidates c0..c0+3)
  v128.store(et, i8x16.shuffle(a, b, 0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23));
  v128.store(et, i8x16.shuffle(a, b, 8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31), 16);
  v128.store(et, i8x16.shuffle(c, d, 0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23), 32);
  v128.store(et, i8x16.shuffle(c, d, 8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31), 48);
}

/** q = 2 L + 1 (f32 lanes) of the i32 levels l. */
// @ts-ignore: decorator
@inline function qf(l: v128): v128 {
  return f32x4.convert_i32x4_s(i32x4.add(i32x4.shl(l, 1), i32x4.splat(1)));
}

/**
 * Sums of ncand candidates (levels 0..3 of candidate c: n bytes at la + c n, n = 16 or 32; rows past
 * ncand up to a multiple of 8 are read but their sums unused): SQXC[c] = sum_i wx[i] q_ci,
 * SQ2C[c] = sum_i (w[i] q_ci) q_ci, q = 2 L + 1, wx[i] = fl(w[i] x[i]), added in element order
 * from 0 (ggml's float operations; the sums() loop of iq2.ts). 8 candidates per loop (two
 * independent chains of 4 lanes).
 */
export function sums_x4(la: usize, n: i32, ncand: i32, wx: usize, w: usize): void {
  for (let c0 = 0; c0 < ncand; c0 += 8) {
    let ax = f32x4.splat(0), a2 = f32x4.splat(0), bx = f32x4.splat(0), b2 = f32x4.splat(0);
    for (let h = 0; h < n; h += 16) {
      transpose_levels(ET, la, n, c0, h);
      transpose_levels(ET + 64, la, n, c0 + 4, h);
      for (let k = 0; k < 4; k++) {
        const ea = v128.load(ET + (<usize>k << 4)), eb = v128.load(ET + 64 + (<usize>k << 4));
        const ha0 = i16x8.extend_low_i8x16_u(ea), ha1 = i16x8.extend_high_i8x16_u(ea);
        const hb0 = i16x8.extend_low_i8x16_u(eb), hb1 = i16x8.extend_high_i8x16_u(eb);
        const qa0 = qf(i32x4.extend_low_i16x8_u(ha0)), qa1 = qf(i32x4.extend_high_i16x8_u(ha0));
        const qa2 = qf(i32x4.extend_low_i16x8_u(ha1)), qa3 = qf(i32x4.extend_high_i16x8_u(ha1));
        const qb0 = qf(i32x4.extend_low_i16x8_u(hb0)), qb1 = qf(i32x4.extend_high_i16x8_u(hb0));
        const qb2 = qf(i32x4.extend_low_i16x8_u(hb1)), qb3 = qf(i32x4.extend_high_i16x8_u(hb1));
        const o = <usize>((h + 4 * k) << 2);
        const x0 = v128.load32_splat(wx + o), x1 = v128.load32_splat(wx + o + 4), x2 = v128.load32_splat(wx + o + 8), x3 = v128.load32_splat(wx + o + 12);
        const w0 = v128.load32_splat(w + o), w1 = v128.load32_splat(w + o + 4), w2 = v128.load32_splat(w + o + 8), w3 = v128.load32_splat(w + o + 12);
        // element order within each chain
        ax = f32x4.add(ax, f32x4.mul(x0, qa0)); a2 = f32x4.add(a2, f32x4.mul(f32x4.mul(w0, qa0), qa0));
        bx = f32x4.add(bx, f32x4.mul(x0, qb0)); b2 = f32x4.add(b2, f32x4.mul(f32x4.mul(w0, qb0), qb0));
        ax = f32x4.add(ax, f32x4.mul(x1, qa1)); a2 = f32x4.add(a2, f32x4.mul(f32x4.mul(w1, qa1), qa1));
        bx = f32x4.add(bx, f32x4.mul(x1, qb1)); b2 = f32x4.add(b2, f32x4.mul(f32x4.mul(w1, qb1), qb1));
        ax = f32x4.add(ax, f32x4.mul(x2, qa2)); a2 = f32x4.add(a2, f32x4.mul(f32x4.mul(w2, qa2), qa2));
        bx = f32x4.add(bx, f32x4.mul(x2, qb2)); b2 = f32x4.add(b2, f32x4.mul(f32x4.mul(w2, qb2), qb2));
        ax = f32x4.add(ax, f32x4.mul(x3, qa3)); a2 = f32x4.add(a2, f32x4.mul(f32x4.mul(w3, qa3), qa3));
        bx = f32x4.add(bx, f32x4.mul(x3, qb3)); b2 = f32x4.add(b2, f32x4.mul(f32x4.mul(w3, qb3), qb3));
      }
    }
    v128.store(SQXC + (<usize>c0 << 2), ax); v128.store(SQXC + (<usize>c0 << 2), bx, 16);
    v128.store(SQ2C + (<usize>c0 << 2), a2); v128.store(SQ2C + (<usize>c0 << 2), b2, 16);
  }
}
