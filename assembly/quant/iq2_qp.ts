// make_qp_quants for iq2_xxs's start scale (32 values, nmax 4) with the 8 trial scales of ggml's
// is = -4..4 loop (is != 0) one per lane (2 x f32x4): per lane the same float operations in the same
// element order as the scalar make_qp_quants of common_asym.ts, so the chosen scale, the levels and the
// returned scale are bit-identical (test/89). The start, the final sums and the up-to-5 refinement
// passes are scalar (a sequential dependency), as in ggml.
import { nearest_int_g, nearest_int_g4 } from "../inline/asym";

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
  let sumlx: f32 = 0;
  let suml2: f32 = 0;
  for (let i = 0; i < n; i++) {
    const xi = load<f32>(x + (<usize>i << 2));
    let l = nearest_int_g(iscale * xi);
    l = min<i32>(nmax, l);
    store<u8>(L + i, <u8>l);
    const w = load<f32>(qw + (<usize>i << 2));
    const fl = <f32>l;
    sumlx += w * xi * fl;
    suml2 += w * fl * fl;
  }
  for (let itry = 0; itry < 5; itry++) {
    let n_changed = 0;
    for (let i = 0; i < n; i++) {
      const xi = load<f32>(x + (<usize>i << 2));
      const w = load<f32>(qw + (<usize>i << 2));
      const Li = <i32>load<u8>(L + i);
      const fLi = <f32>Li;
      let slx: f32 = sumlx - w * xi * fLi;
      let sl2: f32 = suml2 - w * fLi * fLi;
      if (slx > 0 && sl2 > 0) {
        let new_l = nearest_int_g(xi * sl2 / slx);
        new_l = min<i32>(nmax, new_l);
        if (new_l != Li) {
          const fn = <f32>new_l;
          slx += w * xi * fn;
          sl2 += w * fn * fn;
          if (slx * slx * suml2 > sumlx * sumlx * sl2) {
            store<u8>(L + i, <u8>new_l);
            sumlx = slx;
            suml2 = sl2;
            n_changed++;
          }
        }
      }
    }
    if (!n_changed) break;
  }
  return suml2 > 0 ? sumlx / suml2 : 0;
}
