// SIMD helpers of the iq2 searches (iq2.ts), bit-identical to the scalar code they replace.
// 1. make_qp_quants for iq2_xxs's start scale (32 values, nmax 4) with the 8 trial scales of ggml's
// is = -4..4 loop (is != 0) one per lane (2 x f32x4): per lane the same float operations in the same
// element order as the scalar make_qp_quants of common_asym.ts, so the chosen scale, the levels and the
// returned scale are bit-identical (test/89). The start, the final sums and the up-to-5 refinement
// passes are scalar (a sequential dependency), as in ggml.
// 2. sums_x4: the per-candidate sums sum w x q, sum w q^2 (q = 2 L + 1) of the candidate-scale loops,
// four candidates per instruction (one per lane), each lane adding in element order as ggml does.
import { nearest_int_g, nearest_int_g4 } from "../inline/asym";
import { make_qp_finish } from "./common_asym";

/** Per-lane mse of the 8 trial scales (scratch). */
const MSE8: usize = memory.data(32, 16);

/**
 * ggml make_qp_quants(32, 4, x, L, qw): 32 values at x (f32; the iq2 |x|, one may be negated by the
 * sign parity), weights qw (32 f32) -> levels L (32 u8, 0..4). Returns the scale (0 when max x < 1e-15).
 */
export function make_qp_quants_32x4(x: usize, L: usize, qw: usize): f32 {
  const n = 32, nmax = 4;
  let mx: f32 = 0;
  for (let i = 0; i < n; i++) {
    const xi = load<f32>(x + (<usize>i << 2));
    mx = mx > xi ? mx : xi;
  }
  if (mx < <f32>1e-15) {
    memory.fill(L, 0, n);
    return 0;
  }
  const fnmax = <f32>nmax;
  let iscale: f32 = fnmax / mx;
  for (let i = 0; i < n; i++) store<u8>(L + i, <u8>nearest_int_g(iscale * load<f32>(x + (<usize>i << 2))));
  const scale: f32 = <f32>1 / iscale;
  let best_mse: f32 = 0;
  for (let i = 0; i < n; i++) {
    const diff: f32 = load<f32>(x + (<usize>i << 2)) - scale * <f32>load<u8>(L + i);
    best_mse += load<f32>(qw + (<usize>i << 2)) * diff * diff;
  }
  // trial scales is = -4, -3, -2, -1 (lanes of a) and 1, 2, 3, 4 (lanes of b)
  const ia0: f32 = (<f32>0.1 * <f32>-4 + fnmax) / mx, ia1: f32 = (<f32>0.1 * <f32>-3 + fnmax) / mx;
  const ia2: f32 = (<f32>0.1 * <f32>-2 + fnmax) / mx, ia3: f32 = (<f32>0.1 * <f32>-1 + fnmax) / mx;
  const ib0: f32 = (<f32>0.1 * <f32>1 + fnmax) / mx, ib1: f32 = (<f32>0.1 * <f32>2 + fnmax) / mx;
  const ib2: f32 = (<f32>0.1 * <f32>3 + fnmax) / mx, ib3: f32 = (<f32>0.1 * <f32>4 + fnmax) / mx;
  const isa = f32x4(ia0, ia1, ia2, ia3), isb = f32x4(ib0, ib1, ib2, ib3);
  const sca = f32x4(<f32>1 / ia0, <f32>1 / ia1, <f32>1 / ia2, <f32>1 / ia3);
  const scb = f32x4(<f32>1 / ib0, <f32>1 / ib1, <f32>1 / ib2, <f32>1 / ib3);
  const vmax = i32x4.splat(nmax);
  let ma = f32x4.splat(0), mb = f32x4.splat(0);
  for (let i = 0; i < n; i++) {
    const xi = f32x4.splat(load<f32>(x + (<usize>i << 2)));
    const wi = f32x4.splat(load<f32>(qw + (<usize>i << 2)));
    const la = i32x4.min_s(vmax, nearest_int_g4(f32x4.mul(isa, xi)));
    const lb = i32x4.min_s(vmax, nearest_int_g4(f32x4.mul(isb, xi)));
    const da = f32x4.sub(xi, f32x4.mul(sca, f32x4.convert_i32x4_s(la)));
    const db = f32x4.sub(xi, f32x4.mul(scb, f32x4.convert_i32x4_s(lb)));
    ma = f32x4.add(ma, f32x4.mul(f32x4.mul(wi, da), da));
    mb = f32x4.add(mb, f32x4.mul(f32x4.mul(wi, db), db));
  }
  v128.store(MSE8, ma);
  v128.store(MSE8, mb, 16);
  for (let k = 0; k < 8; k++) {
    const mse = load<f32>(MSE8 + (<usize>k << 2));
    if (mse < best_mse) {
      best_mse = mse;
      const is = k < 4 ? k - 4 : k - 3;
      iscale = (<f32>0.1 * <f32>is + fnmax) / mx;
    }
  }
  return make_qp_finish(n, nmax, x, L, qw, iscale);
}

/** sum w x q of candidate c (f32, up to 20 candidates). */
export const SQXC: usize = memory.data(20 * 4, 16);
/** sum w q^2 of candidate c. */
export const SQ2C: usize = memory.data(20 * 4, 16);

/** Transposed levels of 4 candidates x 16 elements (scratch). */
const ET: usize = memory.data(64, 16);

/**
 * Sums of ncand candidates (levels 0..3 of candidate c: n bytes at la + c n, n = 16 or 32; rows past
 * ncand up to a multiple of 4 are read but their sums unused): SQXC[c] = sum_i wx[i] q_ci,
 * SQ2C[c] = sum_i (w[i] q_ci) q_ci, q = 2 L + 1, wx[i] = fl(w[i] x[i]), added in element order
 * from 0 (ggml's float operations; the sums() loop of iq2.ts).
 */
export function sums_x4(la: usize, n: i32, ncand: i32, wx: usize, w: usize): void {
  // byte 4 g + lane of e_k -> lane (i32, zero-extended); 0x80 + 4 g stays >= 16 (zero bytes)
  const base = i8x16(0, -128, -128, -128, 1, -128, -128, -128, 2, -128, -128, -128, 3, -128, -128, -128);
  for (let c0 = 0; c0 < ncand; c0 += 4) {
    let sqx = f32x4.splat(0), sq2 = f32x4.splat(0);
    for (let h = 0; h < n; h += 16) {
      const r0 = v128.load(la + <usize>(c0 * n + h)), r1 = v128.load(la + <usize>((c0 + 1) * n + h));
      const r2 = v128.load(la + <usize>((c0 + 2) * n + h)), r3 = v128.load(la + <usize>((c0 + 3) * n + h));
      const a = i8x16.shuffle(r0, r1, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
      const b = i8x16.shuffle(r2, r3, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
      const c = i8x16.shuffle(r0, r1, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
      const d = i8x16.shuffle(r2, r3, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
      // e_k: elements 4k..4k+3, 4 bytes each (candidates c0..c0+3)
      v128.store(ET, i8x16.shuffle(a, b, 0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23));
      v128.store(ET, i8x16.shuffle(a, b, 8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31), 16);
      v128.store(ET, i8x16.shuffle(c, d, 0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23), 32);
      v128.store(ET, i8x16.shuffle(c, d, 8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31), 48);
      for (let i = 0; i < 16; i++) {
        const e = v128.load(ET + (<usize>(i >> 2) << 4));
        const l = i8x16.swizzle(e, i8x16.add(base, i8x16.splat(<i8>((i & 3) << 2))));
        const q = f32x4.convert_i32x4_s(i32x4.add(i32x4.shl(l, 1), i32x4.splat(1)));
        const o = <usize>((h + i) << 2);
        sqx = f32x4.add(sqx, f32x4.mul(f32x4.splat(load<f32>(wx + o)), q));
        sq2 = f32x4.add(sq2, f32x4.mul(f32x4.mul(f32x4.splat(load<f32>(w + o)), q), q));
      }
    }
    v128.store(SQXC + (<usize>c0 << 2), sqx);
    v128.store(SQ2C + (<usize>c0 << 2), sq2);
  }
}
