// Knowledge-distillation losses over full teacher and student logits, with the gradient with respect to
// the student logits (llm.c style: out first, raw pointers and counts, no allocation).
//
//   distill_loss_forward(loss, grad, teacher, student, mask, T, V, kind, inv_tau, beta, scratch) -> f64
//   distill_loss_forward_ref(...)                                                   (scalar f64 twin)
//
// loss: f32[T] per-position loss; grad: f32[T*V], row t = d loss[t] / d student[t, :];
// teacher, student: f32[T*V] logits, row-major; mask: u8[T] (0 = skip the position: loss 0, grad row 0)
// or 0 for all positions; kind: 0 forward KL(p_t || p_s), 1 reverse KL(p_s || p_t), 2 generalized JSD
// with beta (beta KL(p_t || m) + (1 - beta) KL(p_s || m), m = beta p_t + (1 - beta) p_s), 3 total
// variation 0.5 sum |p_s - p_t|. p = softmax(logits * inv_tau) (inv_tau = 1 / temperature > 0).
// The loss is the divergence at that temperature, not scaled by tau^2, and grad is its exact
// derivative (the facade applies a tau^2 factor to both when asked). Returns the sum of loss over the
// positions kept. KL and JSD rows are clamped at 0 (rounding can give -1e-9 for equal inputs).
// scratch: f32[V] (SIMD: the teacher's exp terms, then the student's probabilities) or f64[V] (_ref).
// Numerics: log-sum-exp with the row maximum subtracted first; log-probs are computed as
// (x - max) * inv_tau - ln(sum), so logits of +-1e4 are fine. The SIMD kernel does the elementwise
// work in f32 (Cephes exp/log, ~2 ulp; p = exp(x - max) / sum, 2 exp per logit pair) and sums in f64; the _ref twin does everything in f64 and
// agrees to ~1e-6 relative on the loss (measured in test/80).
import { exp_f32x4 } from "./math";
import { logaddexp_f32x4, logaddexp64, expm1_small_f32x4, log1p_f32x4, widen_lo, widen_hi, hsum_f64x2 } from "./loss_math";
import { hmax_f32x4 } from "../inline/simd";

export const DISTILL_FKL: i32 = 0;
export const DISTILL_RKL: i32 = 1;
export const DISTILL_JSD: i32 = 2;
export const DISTILL_TV: i32 = 3;

// @ts-ignore: decorator
@inline function f32at(p: usize, i: i32): f32 {
  return load<f32>(p + (<usize>i << 2));
}

/** Largest of n f32 at p (SIMD). */
export function row_max_f32(p: usize, n: i32): f32 {
  let m = f32x4.splat(-Infinity);
  let i = 0;
  for (; i + 4 <= n; i += 4) m = f32x4.max(m, v128.load(p + (<usize>i << 2)));
  let r = hmax_f32x4(m);
  for (; i < n; i++) r = max<f32>(r, f32at(p, i));
  return r;
}

/** Largest of n f32 at p (scalar). */
export function row_max_f32_ref(p: usize, n: i32): f32 {
  let r: f32 = -Infinity;
  for (let i = 0; i < n; i++) r = max<f32>(r, f32at(p, i));
  return r;
}

function row_simd(kind: i32, grad: usize, t: usize, s: usize, V: i32, inv_tau: f64, beta: f64, scratch: usize): f64 {
  const it = <f32>inv_tau;
  const mt = row_max_f32(t, V), ms = row_max_f32(s, V);
  const vit = f32x4.splat(it), vmt = f32x4.splat(mt), vms = f32x4.splat(ms);
  const z = f64x2.splat(0);
  let st0 = z, st1 = z, ss0 = z, ss1 = z;
  let i = 0;
  for (; i + 4 <= V; i += 4) {
    const o = <usize>i << 2;
    const et = exp_f32x4(f32x4.mul(f32x4.sub(v128.load(t + o), vmt), vit));
    const es = exp_f32x4(f32x4.mul(f32x4.sub(v128.load(s + o), vms), vit));
    v128.store(scratch + o, et); // kept for the next pass: p = e / sum, no second exp
    v128.store(grad + o, es);
    st0 = f64x2.add(st0, widen_lo(et)); st1 = f64x2.add(st1, widen_hi(et));
    ss0 = f64x2.add(ss0, widen_lo(es)); ss1 = f64x2.add(ss1, widen_hi(es));
  }
  let St = hsum_f64x2(f64x2.add(st0, st1)), Ss = hsum_f64x2(f64x2.add(ss0, ss1));
  for (; i < V; i++) {
    St += Math.exp(<f64>(f32at(t, i) - mt) * inv_tau);
    Ss += Math.exp(<f64>(f32at(s, i) - ms) * inv_tau);
  }
  const lnSt = <f32>Math.log(St), lnSs = <f32>Math.log(Ss);
    // log p_t - log p_s = ((t - s) - (mt - ms)) / tau - (lnSt - lnSs): t - s is exact when the logits
  // are close (the usual case in distillation), so near-equal distributions keep their small KL
  const vdm = f32x4.splat(<f32>(<f64>mt - <f64>ms)), vdl = f32x4.splat(<f32>(Math.log(St) - Math.log(Ss)));
  const vit_ = f32x4.splat(<f32>(1.0 / St)), vis = f32x4.splat(<f32>(1.0 / Ss));
  const n4 = V & ~3;
  let a0 = z, a1 = z;
  if (kind == DISTILL_FKL) {
    for (i = 0; i < n4; i += 4) {
      const o = <usize>i << 2;
      const pt = f32x4.mul(v128.load(scratch + o), vit_), ps = f32x4.mul(v128.load(grad + o), vis);
      const d = f32x4.sub(f32x4.mul(f32x4.sub(f32x4.sub(v128.load(t + o), v128.load(s + o)), vdm), vit), vdl);
      const l = f32x4.mul(pt, d);
      a0 = f64x2.add(a0, widen_lo(l)); a1 = f64x2.add(a1, widen_hi(l));
      v128.store(grad + o, f32x4.mul(f32x4.sub(ps, pt), vit));
    }
    let L = hsum_f64x2(f64x2.add(a0, a1));
    for (; i < V; i++) {
      const a = <f64>(f32at(t, i) - mt) * inv_tau - <f64>lnSt, b = <f64>(f32at(s, i) - ms) * inv_tau - <f64>lnSs;
      const pt = Math.exp(a), ps = Math.exp(b);
      L += pt * (a - b);
      store<f32>(grad + (<usize>i << 2), <f32>((ps - pt) * inv_tau));
    }
    return L;
  }
  // kinds 1-3: first pass writes g (d loss / d p_s, up to a constant) into grad, p_s into scratch and
  // sums the loss L and G = sum p_s g; the second pass writes grad = p_s (g - G) / tau.
  let g0 = z, g1 = z;
  const vb = f32x4.splat(<f32>beta), vb1 = f32x4.splat(<f32>(1.0 - beta));
  const lb = <f32>Math.log(beta), l1b = <f32>Math.log(1.0 - beta);
  const vlb = f32x4.splat(lb), vl1b = f32x4.splat(l1b), half = f32x4.splat(0.5);
  for (i = 0; i < n4; i += 4) {
    const o = <usize>i << 2;
    const ps = f32x4.mul(v128.load(grad + o), vis);
    let l: v128, g: v128;
    if (kind == DISTILL_RKL) {
      g = f32x4.sub(vdl, f32x4.mul(f32x4.sub(f32x4.sub(v128.load(t + o), v128.load(s + o)), vdm), vit));
      l = f32x4.mul(ps, g);
    } else if (kind == DISTILL_JSD) {
      // with d = log p_t - log p_s (from t - s) and u = ln m - log p_t = logaddexp(ln beta, ln(1-beta) - d):
      // log p_t - ln m = -u, log p_s - ln m = -d - u (no large log-probs subtracted from each other)
      const pt = f32x4.mul(v128.load(scratch + o), vit_);
      const d = f32x4.sub(f32x4.mul(f32x4.sub(f32x4.sub(v128.load(t + o), v128.load(s + o)), vdm), vit), vdl);
      // |d| < 0.5: u = log1p((1 - beta) expm1(-d)) keeps its relative precision as d -> 0 (JSD ~ d^2);
      // otherwise the log-sum-exp form, which cannot overflow
      const uBig = logaddexp_f32x4(vlb, f32x4.sub(vl1b, d));
      const uSmall = log1p_f32x4(f32x4.mul(vb1, expm1_small_f32x4(f32x4.neg(d))));
      const u = v128.bitselect(uSmall, uBig, f32x4.lt(f32x4.abs(d), f32x4.splat(0.5)));
      const ds = f32x4.neg(f32x4.add(d, u));
      l = f32x4.sub(f32x4.mul(f32x4.mul(vb1, ps), ds), f32x4.mul(f32x4.mul(vb, pt), u));
      g = f32x4.mul(vb1, ds);
    } else {
      const pt = f32x4.mul(v128.load(scratch + o), vit_);
      const d = f32x4.sub(ps, pt);
      l = f32x4.mul(half, f32x4.abs(d));
      g = f32x4.sub(v128.and(f32x4.gt(d, f32x4.splat(0)), half), v128.and(f32x4.lt(d, f32x4.splat(0)), half));
    }
    const pg = f32x4.mul(ps, g);
    a0 = f64x2.add(a0, widen_lo(l)); a1 = f64x2.add(a1, widen_hi(l));
    g0 = f64x2.add(g0, widen_lo(pg)); g1 = f64x2.add(g1, widen_hi(pg));
    v128.store(grad + o, g);
    v128.store(scratch + o, ps);
  }
  let L = hsum_f64x2(f64x2.add(a0, a1)), G = hsum_f64x2(f64x2.add(g0, g1));
  for (; i < V; i++) {
    const a = <f64>(f32at(t, i) - mt) * inv_tau - <f64>lnSt, b = <f64>(f32at(s, i) - ms) * inv_tau - <f64>lnSs;
    const ps = Math.exp(b);
    const g = elem_g(kind, a, b, ps, beta);
    L += elem_l(kind, a, b, ps, beta);
    G += ps * g;
    store<f32>(grad + (<usize>i << 2), <f32>g);
    store<f32>(scratch + (<usize>i << 2), <f32>ps);
  }
  if (kind == DISTILL_RKL) G = L;
  const vG = f32x4.splat(<f32>G);
  for (i = 0; i < n4; i += 4) {
    const o = <usize>i << 2;
    v128.store(grad + o, f32x4.mul(f32x4.mul(v128.load(scratch + o), f32x4.sub(v128.load(grad + o), vG)), vit));
  }
  for (; i < V; i++) {
    const o = <usize>i << 2;
    store<f32>(grad + o, <f32>(<f64>load<f32>(scratch + o) * (<f64>load<f32>(grad + o) - G) * inv_tau));
  }
  return L;
}

// Per-element loss term and g of kinds 1-3 in f64 (a = log p_t, b = log p_s, ps = p_s).
// @ts-ignore: decorator
@inline function elem_l(kind: i32, a: f64, b: f64, ps: f64, beta: f64): f64 {
  if (kind == DISTILL_RKL) return ps * (b - a);
  const pt = Math.exp(a);
  if (kind == DISTILL_JSD) {
    const lm = logaddexp64(Math.log(beta) + a, Math.log(1.0 - beta) + b);
    return beta * pt * (a - lm) + (1.0 - beta) * ps * (b - lm);
  }
  return 0.5 * abs<f64>(ps - pt);
}

// @ts-ignore: decorator
@inline function elem_g(kind: i32, a: f64, b: f64, ps: f64, beta: f64): f64 {
  if (kind == DISTILL_RKL) return b - a;
  if (kind == DISTILL_JSD) return (1.0 - beta) * (b - logaddexp64(Math.log(beta) + a, Math.log(1.0 - beta) + b));
  const d = ps - Math.exp(a);
  return d > 0 ? 0.5 : d < 0 ? -0.5 : 0.0;
}

function row_ref(kind: i32, grad: usize, t: usize, s: usize, V: i32, inv_tau: f64, beta: f64, scratch: usize): f64 {
  const mt = row_max_f32_ref(t, V), ms = row_max_f32_ref(s, V);
  let St: f64 = 0, Ss: f64 = 0;
  for (let i = 0; i < V; i++) {
    St += Math.exp((<f64>f32at(t, i) - <f64>mt) * inv_tau);
    Ss += Math.exp((<f64>f32at(s, i) - <f64>ms) * inv_tau);
  }
  const lnSt = Math.log(St), lnSs = Math.log(Ss);
  let L: f64 = 0, G: f64 = 0;
  for (let i = 0; i < V; i++) {
    const a = (<f64>f32at(t, i) - <f64>mt) * inv_tau - lnSt, b = (<f64>f32at(s, i) - <f64>ms) * inv_tau - lnSs;
    const ps = Math.exp(b);
    if (kind == DISTILL_FKL) {
      const pt = Math.exp(a);
      L += pt * (a - b);
      store<f32>(grad + (<usize>i << 2), <f32>((ps - pt) * inv_tau));
    } else {
      const g = elem_g(kind, a, b, ps, beta);
      L += elem_l(kind, a, b, ps, beta);
      G += ps * g;
      store<f64>(scratch + (<usize>i << 3), ps); // f64 scratch halves: see distill_loss_forward_ref
      store<f32>(grad + (<usize>i << 2), <f32>g);
    }
  }
  if (kind == DISTILL_FKL) return L;
  if (kind == DISTILL_RKL) G = L;
  // g is re-derived in f64 rather than read back from the f32 grad row
  for (let i = 0; i < V; i++) {
    const a = (<f64>f32at(t, i) - <f64>mt) * inv_tau - lnSt, b = (<f64>f32at(s, i) - <f64>ms) * inv_tau - lnSs;
    const ps = load<f64>(scratch + (<usize>i << 3));
    store<f32>(grad + (<usize>i << 2), <f32>(ps * (elem_g(kind, a, b, ps, beta) - G) * inv_tau));
  }
  return L;
}

// @ts-ignore: decorator
@inline function drive(simd: bool, loss: usize, grad: usize, teacher: usize, student: usize, mask: usize, T: i32, V: i32, kind: i32, inv_tau: f64, beta: f64, scratch: usize): f64 {
  let sum: f64 = 0;
  const rb = <usize>V << 2;
  for (let r = 0; r < T; r++) {
    const off = <usize>r * rb;
    if (mask != 0 && load<u8>(mask + <usize>r) == 0) {
      store<f32>(loss + (<usize>r << 2), 0);
      memory.fill(grad + off, 0, rb);
      continue;
    }
    let L = simd ? row_simd(kind, grad + off, teacher + off, student + off, V, inv_tau, beta, scratch)
                 : row_ref(kind, grad + off, teacher + off, student + off, V, inv_tau, beta, scratch);
    if (kind != DISTILL_TV) L = max<f64>(L, 0);
    store<f32>(loss + (<usize>r << 2), <f32>L);
    sum += L;
  }
  return sum;
}

/**
 * Distillation loss and gradient over T positions of V logits (SIMD). See the file header for the
 * arguments. scratch: f32[V] (16-byte aligned). Returns the sum of the kept positions' losses.
 */
export function distill_loss_forward(loss: usize, grad: usize, teacher: usize, student: usize, mask: usize, T: i32, V: i32, kind: i32, inv_tau: f64, beta: f64, scratch: usize): f64 {
  return drive(true, loss, grad, teacher, student, mask, T, V, kind, inv_tau, beta, scratch);
}

/** Scalar f64 twin of distill_loss_forward. scratch: f64[V] (8 * V bytes). */
export function distill_loss_forward_ref(loss: usize, grad: usize, teacher: usize, student: usize, mask: usize, T: i32, V: i32, kind: i32, inv_tau: f64, beta: f64, scratch: usize): f64 {
  return drive(false, loss, grad, teacher, student, mask, T, V, kind, inv_tau, beta, scratch);
}
