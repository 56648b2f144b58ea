// Shared scalar algorithms of the asymmetric (scale + min) ggml quantizers:
// make_qkx2_quants / make_qkx3_quants, make_qp_quants, get_scale_min_k4 and the k-quant
// 6-bit scale packing. All arithmetic is f32 in ggml's order (one rounding per operation,
// sums strictly sequential, no fused multiply-add).
import { nearest_int_g } from "../inline/asym";
import { fp32_to_fp16, fp16_to_fp32 } from "../inline/f16";

/** Second result of make_qkx2_quants / make_qkx3_quants (ggml's *the_min out-parameter). */
export let qk_the_min: f32 = 0;

/**
 * ggml make_qkx2_quants (n values at x, weights at `weights`, L / Laux: n bytes).
 * Also serves as make_qkx3_quants with non-NULL weights: the two only differ in `max == min`
 * versus `max <= min`, which are the same test for non-NaN input (min <= x[0] <= max).
 * Returns the scale; the (negated) minimum is left in qk_the_min.
 */
export function make_qkx2_quants(n: i32, nmax: i32, x: usize, weights: usize, L: usize, Laux: usize,
                                 rmin: f32, rdelta: f32, nstep: i32, use_mad: bool): f32 {
  let mn = load<f32>(x);
  let mx = mn;
  let sum_w = load<f32>(weights);
  let sum_x = sum_w * mn;
  for (let i = 1; i < n; i++) {
    const xi = load<f32>(x + (<usize>i << 2));
    if (xi < mn) mn = xi;
    if (xi > mx) mx = xi;
    const w = load<f32>(weights + (<usize>i << 2));
    sum_w += w;
    sum_x += w * xi;
  }
  if (mn > 0) mn = 0;
  if (mx == mn) {
    for (let i = 0; i < n; i++) store<u8>(L + i, 0);
    qk_the_min = -mn;
    return 0;
  }
  const fnmax = <f32>nmax;
  let iscale: f32 = fnmax / (mx - mn);
  let scale: f32 = <f32>1 / iscale;
  let best_error: f32 = 0;
  for (let i = 0; i < n; i++) {
    const xi = load<f32>(x + (<usize>i << 2));
    let l = nearest_int_g(iscale * (xi - mn));
    l = max<i32>(0, min<i32>(nmax, l));
    store<u8>(L + i, <u8>l);
    let diff: f32 = scale * <f32>l + mn - xi;
    diff = use_mad ? abs<f32>(diff) : diff * diff;
    best_error += load<f32>(weights + (<usize>i << 2)) * diff;
  }
  if (nstep < 1) {
    qk_the_min = -mn;
    return scale;
  }
  for (let is = 0; is <= nstep; is++) {
    iscale = (rmin + rdelta * <f32>is + fnmax) / (mx - mn);
    let sum_l: f32 = 0, sum_l2: f32 = 0, sum_xl: f32 = 0;
    for (let i = 0; i < n; i++) {
      const xi = load<f32>(x + (<usize>i << 2));
      let l = nearest_int_g(iscale * (xi - mn));
      l = max<i32>(0, min<i32>(nmax, l));
      store<u8>(Laux + i, <u8>l);
      const w = load<f32>(weights + (<usize>i << 2));
      const fl = <f32>l;
      sum_l += w * fl;
      sum_l2 += w * fl * fl;
      sum_xl += w * fl * xi;
    }
    const D: f32 = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0) {
      let this_scale: f32 = (sum_w * sum_xl - sum_x * sum_l) / D;
      let this_min: f32 = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      let cur_error: f32 = 0;
      for (let i = 0; i < n; i++) {
        let diff: f32 = this_scale * <f32>load<u8>(Laux + i) + this_min - load<f32>(x + (<usize>i << 2));
        diff = use_mad ? abs<f32>(diff) : diff * diff;
        cur_error += load<f32>(weights + (<usize>i << 2)) * diff;
      }
      if (cur_error < best_error) {
        for (let i = 0; i < n; i++) store<u8>(L + i, load<u8>(Laux + i));
        best_error = cur_error;
        scale = this_scale;
        mn = this_min;
      }
    }
  }
  qk_the_min = -mn;
  return scale;
}

/** ggml make_qp_quants: n non-negative values at x -> L (u8, 0..nmax), weights qw. Returns the scale. */
export function make_qp_quants(n: i32, nmax: i32, x: usize, L: usize, qw: usize): f32 {
  let mx: f32 = 0;
  for (let i = 0; i < n; i++) {
    const xi = load<f32>(x + (<usize>i << 2));
    mx = mx > xi ? mx : xi;
  }
  if (mx < <f32>1e-15) {
    for (let i = 0; i < n; i++) store<u8>(L + i, 0);
    return 0;
  }
  const fnmax = <f32>nmax;
  let iscale: f32 = fnmax / mx;
  for (let i = 0; i < n; i++) {
    store<u8>(L + i, <u8>nearest_int_g(iscale * load<f32>(x + (<usize>i << 2))));
  }
  const scale: f32 = <f32>1 / iscale;
  let best_mse: f32 = 0;
  for (let i = 0; i < n; i++) {
    const diff: f32 = load<f32>(x + (<usize>i << 2)) - scale * <f32>load<u8>(L + i);
    best_mse += load<f32>(qw + (<usize>i << 2)) * diff * diff;
  }
  for (let is = -4; is <= 4; is++) {
    if (is == 0) continue;
    const iscale_is: f32 = (<f32>0.1 * <f32>is + fnmax) / mx;
    const scale_is: f32 = <f32>1 / iscale_is;
    let mse: f32 = 0;
    for (let i = 0; i < n; i++) {
      const xi = load<f32>(x + (<usize>i << 2));
      let l = nearest_int_g(iscale_is * xi);
      l = min<i32>(nmax, l);
      const diff: f32 = xi - scale_is * <f32>l;
      mse += load<f32>(qw + (<usize>i << 2)) * diff * diff;
    }
    if (mse < best_mse) {
      best_mse = mse;
      iscale = iscale_is;
    }
  }
  return make_qp_finish(n, nmax, x, L, qw, iscale);
}

/**
 * The tail of ggml make_qp_quants once the trial scales chose iscale: codes at iscale (u8, 0..nmax) ->
 * L, then up to 5 passes of weighted coordinate descent. Returns the scale (0 when suml2 is 0). The tail
 * of make_qp_quants (iq2_simd.ts runs the same steps lane-wise for 4 blocks at once).
 */
export function make_qp_finish(n: i32, nmax: i32, x: usize, L: usize, qw: usize, iscale: f32): f32 {
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

/** ggml get_scale_min_k4: 6-bit scale code of group j from the 12 packed bytes at q. */
// @ts-ignore: decorator
@inline export function get_scale_k4(j: i32, q: usize): u32 {
  return j < 4
    ? <u32>load<u8>(q + j) & 63
    : (<u32>load<u8>(q + j + 4) & 0xF) | ((<u32>load<u8>(q + j - 4) >> 6) << 4);
}

/** ggml get_scale_min_k4: 6-bit min code of group j from the 12 packed bytes at q. */
// @ts-ignore: decorator
@inline export function get_min_k4(j: i32, q: usize): u32 {
  return j < 4
    ? <u32>load<u8>(q + j + 4) & 63
    : (<u32>load<u8>(q + j + 4) >> 4) | ((<u32>load<u8>(q + j) >> 6) << 4);
}

/** Packs 8 (scale, min) codes (u8 arrays ls, lm) into the 12 q4_K/q5_K scale bytes at q, as ggml does. */
export function pack_scales_k4(q: usize, ls: usize, lm: usize): void {
  for (let j = 0; j < 8; j++) {
    const s = <u32>load<u8>(ls + j), m = <u32>load<u8>(lm + j);
    if (j < 4) {
      store<u8>(q + j, <u8>s);
      store<u8>(q + j + 4, <u8>m);
    } else {
      store<u8>(q + j + 4, <u8>((s & 0xF) | ((m & 0xF) << 4)));
      store<u8>(q + j - 4, <u8>(<u32>load<u8>(q + j - 4) | ((s >> 4) << 6)));
      store<u8>(q + j, <u8>(<u32>load<u8>(q + j) | ((m >> 4) << 6)));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// q4_K / q5_K super-block pieces (8 groups of 32; header d @0, dmin @2, scales[12] @4).
// Scratch layout (>= 256 bytes): weights f32[32] @0, Laux u8[32] @128, scales f32[8] @160,
// mins f32[8] @192, Ls u8[8] @224, Lm u8[8] @232, sw f32[8] @240 (needs 272 bytes).

/** Final requantization of q4_K / q5_K: L (256 u8) from the stored fp16 d/dmin and 6-bit codes. */
export function qk8_requant_ref(y: usize, x: usize, L: usize, nmax: i32): void {
  const dd = fp16_to_fp32(load<u16>(y));
  const dmn = fp16_to_fp32(load<u16>(y, 2));
  for (let j = 0; j < 8; j++) {
    const d: f32 = dd * <f32>get_scale_k4(j, y + 4);
    if (d == 0) continue;
    const dm: f32 = dmn * <f32>get_min_k4(j, y + 4);
    const xj = x + (<usize>j << 7);
    const Lj = L + (<usize>j << 5);
    for (let ii = 0; ii < 32; ii++) {
      let l = nearest_int_g((load<f32>(xj + (<usize>ii << 2)) + dm) / d);
      l = max<i32>(0, min<i32>(nmax, l));
      store<u8>(Lj + ii, <u8>l);
    }
  }
}

/**
 * Scales/mins of quantize_row_q4_K_ref / quantize_row_q5_K_ref from the 8 per-group results
 * (scales f32[8] @S+160, mins f32[8] @S+192): 6-bit codes, fp16 d/dmin, written to the header at y.
 */
export function qk8_ref_scales(y: usize, S: usize, max_scale: f32, max_min: f32): void {
  const inv_scale: f32 = max_scale > 0 ? <f32>63 / max_scale : 0;
  const inv_min: f32 = max_min > 0 ? <f32>63 / max_min : 0;
  for (let j = 0; j < 8; j++) {
    let ls = nearest_int_g(inv_scale * load<f32>(S + 160 + (<usize>j << 2))) & 255;
    let lm = nearest_int_g(inv_min * load<f32>(S + 192 + (<usize>j << 2))) & 255;
    ls = min<i32>(63, ls);
    lm = min<i32>(63, lm);
    store<u8>(S + 224 + j, <u8>ls);
    store<u8>(S + 232 + j, <u8>lm);
  }
  pack_scales_k4(y + 4, S + 224, S + 232);
  store<u16>(y, fp32_to_fp16(max_scale / <f32>63));
  store<u16>(y, fp32_to_fp16(max_min / <f32>63), 2);
}

/** Search part of quantize_row_q4_K_ref / q5_K_ref for one super-block (scalar). */
export function qk8_ref_superblock(y: usize, x: usize, L: usize, S: usize, nmax: i32, rmin: f32, nstep: i32): void {
  let max_scale: f32 = 0;
  let max_min: f32 = 0;
  const W = S, Laux = S + 128;
  for (let j = 0; j < 8; j++) {
    const xj = x + (<usize>j << 7);
    let sum_x2: f32 = 0;
    for (let l = 0; l < 32; l++) {
      const v = load<f32>(xj + (<usize>l << 2));
      sum_x2 += v * v;
    }
    const av_x = sqrt<f32>(sum_x2 / <f32>32);
    for (let l = 0; l < 32; l++) store<f32>(W + (<usize>l << 2), av_x + abs<f32>(load<f32>(xj + (<usize>l << 2))));
    const scale = make_qkx2_quants(32, nmax, xj, W, L + (<usize>j << 5), Laux, rmin, <f32>0.1, nstep, false);
    const mn = qk_the_min;
    store<f32>(S + 160 + (<usize>j << 2), scale);
    store<f32>(S + 192 + (<usize>j << 2), mn);
    if (scale > max_scale) max_scale = scale;
    if (mn > max_min) max_min = mn;
  }
  qk8_ref_scales(y, S, max_scale, max_min);
  qk8_requant_ref(y, x, L, nmax);
}

/** ggml's 2*sum(x^2)/256 over a super-block (sequential), used by the q4_K/q5_K imatrix path. */
// @ts-ignore: decorator
@inline export function sumsq256(x: usize): f32 {
  let s: f32 = 0;
  for (let l = 0; l < 256; l++) {
    const v = load<f32>(x + (<usize>l << 2));
    s += v * v;
  }
  return s;
}

/**
 * Scale part of quantize_row_q4_K_impl / q5_K_impl after the 8 searches (scales @S+160,
 * mins @S+192, sw @S+240): make_qp_quants on scales and mins, packing, fp16 d/dmin.
 */
export function qk8_impl_scales(y: usize, S: usize, clamp63: bool): void {
  const d_block = make_qp_quants(8, 63, S + 160, S + 224, S + 240);
  const m_block = make_qp_quants(8, 63, S + 192, S + 232, S + 240);
  if (clamp63) {
    for (let j = 0; j < 16; j++) store<u8>(S + 224 + j, <u8>min<u32>(63, <u32>load<u8>(S + 224 + j)));
  }
  pack_scales_k4(y + 4, S + 224, S + 232);
  store<u16>(y, fp32_to_fp16(d_block));
  store<u16>(y, fp32_to_fp16(m_block), 2);
}

/** quantize_row_q4_K_impl / q5_K_impl for one super-block with importance weights qw (scalar). */
export function qk8_impl_superblock(y: usize, x: usize, qw: usize, L: usize, S: usize, nmax: i32, clamp63: bool): void {
  const sigma2: f32 = <f32>2 * sumsq256(x) / <f32>256;
  const W = S, Laux = S + 128;
  for (let j = 0; j < 8; j++) {
    const xj = x + (<usize>j << 7);
    const qj = qw + (<usize>j << 7);
    for (let l = 0; l < 32; l++) {
      const v = load<f32>(xj + (<usize>l << 2));
      store<f32>(W + (<usize>l << 2), load<f32>(qj + (<usize>l << 2)) * sqrt<f32>(sigma2 + v * v));
    }
    let sumw: f32 = 0;
    for (let l = 0; l < 32; l++) sumw += load<f32>(W + (<usize>l << 2));
    store<f32>(S + 240 + (<usize>j << 2), sumw);
    const scale = make_qkx2_quants(32, nmax, xj, W, L + (<usize>j << 5), Laux, <f32>-0.9, <f32>0.05, 36, false);
    store<f32>(S + 160 + (<usize>j << 2), scale);
    store<f32>(S + 192 + (<usize>j << 2), qk_the_min);
  }
  qk8_impl_scales(y, S, clamp63);
  qk8_requant_ref(y, x, L, nmax);
}
