// Kernels of the `search` and `hqq` methods (src/methods/search.ts, src/methods/hqq.ts): candidate grids
// evaluated over many groups at once. A "group" is the set of values sharing one scale (and min): a whole
// 32-block for q4_0 / q4_1 / q5_0 / q5_1 / q8_0 / iq4_nl, a 16- or 32-value sub-block for k-quants.
// Group g's grid is value(L) = a[g] * lev[L] + b[g], L in [0, n_lev). Levels are uniform
// (lev[L] = lev[0] + L: q4_0 -8..7, q4_1 0..15, q6_K -32..31, ...; kind 0) or the iq4_nl table (kind 1,
// value(L) = a * kvalues_iq4nl[L] + b; lev is ignored then).
// Nearest level: uniform: L = clamp(roundf((x - b) * (1 / a) - lev[0]), 0, n_lev - 1); iq4_nl: ggml's
// best_index_int8 of (x - b) * (1 / a). a = 0 gives 1 / a = 0 (every level decodes to b).
// All values are f32; group sizes g are multiples of 4 (16 or 32).
import { roundf, roundf_f32x4 } from "../inline/simd";
import { KV, kv, best_index, best_index_x4, tbl_x4 } from "../inline/iq4nl";

// @ts-ignore: decorator
@inline function inv(a: f32): f32 { return a != 0 ? <f32>1 / a : <f32>0; }

// @ts-ignore: decorator
@inline function nearest_level(t: f32, lev0: f32, n_lev: i32, kind: i32): i32 {
  if (kind == 1) return best_index(t);
  let L = <i32>roundf(t - lev0);
  return L < 0 ? 0 : L >= n_lev ? n_lev - 1 : L;
}

// @ts-ignore: decorator
@inline function level(L: i32, lev0: f32, kind: i32): f32 {
  return kind == 1 ? kv(L) : lev0 + <f32>L;
}

/**
 * Weighted squared error of nearest rounding, per group: err[g] = Σ_i w_i (x_i − (a[g]·lev[L_i] + b[g]))²
 * over the g values of group g, L_i the nearest level (see the file comment). `lq` (u8 per value, or 0)
 * receives the levels; with `fixed` = 1 the levels are read from `lq` instead (error of the given levels
 * under the grid, no rounding). x, w: n_groups · g f32; a, b, err: n_groups f32; lev: n_lev f32 (kind 0).
 * The sum runs in 4 partial sums (value i into lane i mod 4), combined (s0 + s1) + (s2 + s3): the same
 * order as {@link search_err_forward}, so both give identical bits.
 * Cost: n_groups · g · ~8 flops.
 */
export function search_err_forward_ref(err: usize, lq: usize, x: usize, w: usize, a: usize, b: usize, n_groups: i32, g: i32, lev: usize, n_lev: i32, kind: i32, fixed: i32): void {
  const lev0: f32 = kind == 1 ? 0 : load<f32>(lev);
  for (let k = 0; k < n_groups; k++) {
    const ak = load<f32>(a + (<usize>k << 2)), bk = load<f32>(b + (<usize>k << 2)), ia = inv(ak);
    let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
    const o = <usize>k * <usize>g;
    for (let i = 0; i < g; i++) {
      const xi = load<f32>(x + ((o + <usize>i) << 2)), wi = load<f32>(w + ((o + <usize>i) << 2));
      let L: i32;
      if (fixed) L = <i32>load<u8>(lq + o + <usize>i);
      else { L = nearest_level((xi - bk) * ia, lev0, n_lev, kind); if (lq) store<u8>(lq + o + <usize>i, <u8>L); }
      const e = xi - (ak * level(L, lev0, kind) + bk);
      const t = wi * (e * e);
      const lane = i & 3;
      if (lane == 0) s0 += t; else if (lane == 1) s1 += t; else if (lane == 2) s2 += t; else s3 += t;
    }
    store<f32>(err + (<usize>k << 2), (s0 + s1) + (s2 + s3));
  }
}

/** SIMD form of {@link search_err_forward_ref} (4 values per step within a group; identical bits). */
export function search_err_forward(err: usize, lq: usize, x: usize, w: usize, a: usize, b: usize, n_groups: i32, g: i32, lev: usize, n_lev: i32, kind: i32, fixed: i32): void {
  const lev0: f32 = kind == 1 ? 0 : load<f32>(lev);
  const vlev0 = f32x4.splat(lev0), vmax = i32x4.splat(n_lev - 1), vzero = i32x4.splat(0);
  for (let k = 0; k < n_groups; k++) {
    const ak = load<f32>(a + (<usize>k << 2)), bk = load<f32>(b + (<usize>k << 2));
    const va = f32x4.splat(ak), vb = f32x4.splat(bk), via = f32x4.splat(inv(ak));
    let acc = f32x4.splat(0);
    const o = <usize>k * <usize>g;
    for (let i = 0; i < g; i += 4) {
      const xi = v128.load(x + ((o + <usize>i) << 2)), wi = v128.load(w + ((o + <usize>i) << 2));
      const t = f32x4.mul(f32x4.sub(xi, vb), via);
      let L: v128, lv: v128;
      if (fixed) {
        const p = lq + o + <usize>i;
        L = v128.load32_zero(p); L = i16x8.extend_low_i8x16_u(L); L = i32x4.extend_low_i16x8_u(L);
        lv = kind == 1 ? tbl_x4(v128.load(KV), L) : f32x4.add(vlev0, f32x4.convert_i32x4_s(L));
      } else if (kind == 1) {
        L = best_index_x4(t);
        lv = tbl_x4(v128.load(KV), L);
      } else {
        L = i32x4.trunc_sat_f32x4_s(roundf_f32x4(f32x4.sub(t, vlev0)));
        L = i32x4.min_s(i32x4.max_s(L, vzero), vmax);
        lv = f32x4.add(vlev0, f32x4.convert_i32x4_s(L));
      }
      if (lq && !fixed) {
        const p = lq + o + <usize>i;
        store<u8>(p, <u8>i32x4.extract_lane(L, 0)); store<u8>(p + 1, <u8>i32x4.extract_lane(L, 1));
        store<u8>(p + 2, <u8>i32x4.extract_lane(L, 2)); store<u8>(p + 3, <u8>i32x4.extract_lane(L, 3));
      }
      const e = f32x4.sub(xi, f32x4.add(f32x4.mul(va, lv), vb));
      acc = f32x4.add(acc, f32x4.mul(wi, f32x4.mul(e, e)));
    }
    const s = (f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1)) + (f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3));
    store<f32>(err + (<usize>k << 2), s);
  }
}

/**
 * Greedy coordinate steps on the levels (the optimal-scale objective of ik_llama.cpp's searches), scalar f64.
 * Per group, starting from the levels in `lq` (u8 per value, updated in place): type 0 (value = a·lev[L])
 * maximizes F = (Σ w x v)² / Σ w v² (v = lev[L], the weighted error at the optimal scale is Σwx² − F);
 * type 1 (value = a·v + b) maximizes the least-squares gain of the 2 × 2 fit of (a, b).
 * Each pass visits the values in order and moves L_i to L_i ± 1 when that raises the objective; at most
 * `passes` passes (stops early when a pass changes nothing). Writes the optimal float (a, b) of the final
 * levels to ab[2g], ab[2g + 1] (b = 0 for type 0; a = b = 0 for a degenerate group, e.g. all weights 0).
 * Cost: passes · n_groups · g · ~30 flops.
 */
export function search_steps_forward(ab: usize, lq: usize, x: usize, w: usize, n_groups: i32, g: i32, lev: usize, n_lev: i32, kind: i32, type1: i32, passes: i32): void {
  const lev0: f64 = kind == 1 ? 0 : <f64>load<f32>(lev);
  for (let k = 0; k < n_groups; k++) {
    const o = <usize>k * <usize>g;
    let sw: f64 = 0, swx: f64 = 0, swv: f64 = 0, swvv: f64 = 0, swxv: f64 = 0;
    for (let i = 0; i < g; i++) {
      const xi = <f64>load<f32>(x + ((o + <usize>i) << 2)), wi = <f64>load<f32>(w + ((o + <usize>i) << 2));
      const v = <f64>level(<i32>load<u8>(lq + o + <usize>i), <f32>lev0, kind);
      sw += wi; swx += wi * xi; swv += wi * v; swvv += wi * v * v; swxv += wi * xi * v;
    }
    for (let p = 0; p < passes; p++) {
      let changed = false;
      for (let i = 0; i < g; i++) {
        const xi = <f64>load<f32>(x + ((o + <usize>i) << 2)), wi = <f64>load<f32>(w + ((o + <usize>i) << 2));
        if (wi <= 0) continue;
        const L = <i32>load<u8>(lq + o + <usize>i);
        const v = <f64>level(L, <f32>lev0, kind);
        let best = gain(sw, swx, swv, swvv, swxv, type1), bestL = L;
        for (let d = -1; d <= 1; d += 2) {
          const L2 = L + d;
          if (L2 < 0 || L2 >= n_lev) continue;
          const v2 = <f64>level(L2, <f32>lev0, kind), dv = v2 - v;
          const gn = gain(sw, swx, swv + wi * dv, swvv + wi * (v2 * v2 - v * v), swxv + wi * xi * dv, type1);
          if (gn > best * (1 + 1e-12) + 1e-30) { best = gn; bestL = L2; }
        }
        if (bestL != L) {
          const v2 = <f64>level(bestL, <f32>lev0, kind), dv = v2 - v;
          swv += wi * dv; swvv += wi * (v2 * v2 - v * v); swxv += wi * xi * dv;
          store<u8>(lq + o + <usize>i, <u8>bestL);
          changed = true;
        }
      }
      if (!changed) break;
    }
    let fa: f64 = 0, fb: f64 = 0;
    if (type1) {
      const det = sw * swvv - swv * swv;
      if (det > 1e-30 * (sw * swvv + 1e-30)) { fa = (sw * swxv - swv * swx) / det; fb = (swvv * swx - swv * swxv) / det; }
    } else if (swvv > 0) fa = swxv / swvv;
    store<f32>(ab + (<usize>k << 3), <f32>fa);
    store<f32>(ab + (<usize>k << 3) + 4, <f32>fb);
  }
}

// @ts-ignore: decorator
@inline function gain(sw: f64, swx: f64, swv: f64, swvv: f64, swxv: f64, type1: i32): f64 {
  if (!type1) return swvv > 0 ? (swxv * swxv) / swvv : 0;
  const det = sw * swvv - swv * swv;
  if (det <= 1e-30 * (sw * swvv + 1e-30)) return swvv > 0 ? (swxv * swxv) / swvv : 0;
  return (swvv * swx * swx - 2 * swv * swx * swxv + sw * swxv * swxv) / det;
}

/**
 * HQQ's half-quadratic proximal solver for the zero point of each group given its scale (Badri & Shaji
 * 2023, optimize_weights_proximal), scalar f32. Uniform levels 0..n_lev−1, value = a·L + b. In HQQ's
 * terms scale s = 1/a and zero z = −b/a; per iteration: Wq = clamp(round(W·s + z)), Wr = (Wq − z)/s,
 * We = shrink_p(W − Wr, β) (sign(e)·max(0, |e| − |e|^(p−1)/β)), z = mean(Wq − (W − We)·s), β ← κ·β;
 * stops at `iters` or when the mean |W − Wr| stops decreasing, keeping the zero of the lowest error.
 * Starts from b_in; writes b_out[g] = −a·z (b_in where a = 0). Cost: iters · n_groups · g · ~15 flops.
 */
export function hqq_zero_forward(b_out: usize, x: usize, a: usize, b_in: usize, n_groups: i32, g: i32, n_lev: i32, p: f32, beta0: f32, kappa: f32, iters: i32): void {
  const qmax = <f32>(n_lev - 1);
  for (let k = 0; k < n_groups; k++) {
    const ak = load<f32>(a + (<usize>k << 2)), bk = load<f32>(b_in + (<usize>k << 2));
    if (ak == 0) { store<f32>(b_out + (<usize>k << 2), bk); continue; }
    const s: f32 = <f32>1 / ak;
    let z: f32 = -bk * s, bestz = z, best: f32 = Infinity, beta = beta0;
    const o = <usize>k * <usize>g;
    for (let it = 0; it < iters; it++) {
      let errsum: f32 = 0, zsum: f32 = 0;
      for (let i = 0; i < g; i++) {
        const wf = load<f32>(x + ((o + <usize>i) << 2));
        let q = roundf(wf * s + z);
        q = q < 0 ? 0 : q > qmax ? qmax : q;
        const wr = (q - z) / s;
        const e = wf - wr, ae = abs<f32>(e);
        errsum += ae;
        const sh = ae > 0 ? ae - Mathf.pow(ae, p - 1) / beta : <f32>0;
        const we: f32 = sh > 0 ? (e < 0 ? -sh : sh) : <f32>0;
        zsum += q - (wf - we) * s;
      }
      const err = errsum / <f32>g;
      if (err < best) { best = err; bestz = z; } else break;
      z = zsum / <f32>g;
      beta *= kappa;
    }
    store<f32>(b_out + (<usize>k << 2), -ak * bestz);
  }
}
