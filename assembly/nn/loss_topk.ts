// Distillation losses when the teacher is known only through its top-k log-probs at temperature 1
// (k token ids, k log-probs, and the log of the remaining mass: what a teacher file stores).
//
//   distill_topk_forward(loss, grad, ids, logprobs, rest, student, mask, T, V, k, kind, inv_tau, beta) -> f64
//   distill_topk_forward_ref(...)                                            (scalar twin)
//
// loss: f32[T]; grad: f32[T*V] (row t = d loss[t] / d student[t, :]); ids: u32[T*k] (distinct, < V);
// logprobs: f32[T*k] teacher log-probs (finite); rest: f32[T] ln(1 - sum of the row's top-k probs)
// (-Inf when nothing is left); student: f32[T*V] logits; mask: u8[T] or 0; kind, inv_tau, beta as in
// loss.ts. Returns the sum of the kept positions' losses.
//
// Both distributions are collapsed onto k + 1 outcomes: the k tokens and "every other token". The
// student's rest outcome is sum_{j not in top-k} softmax(s * inv_tau)_j, summed directly (never
// 1 - sum). The teacher at temperature tau: its top-k log-probs are divided by tau, and the rest
// mass is tempered as if spread evenly over the V - k other tokens (rest logit
// ln(V-k) + (rest - ln(V-k)) / tau), then the k + 1 values are renormalized. At tau = 1 and at
// k = V this is exact, so with k = V the losses equal the full ones (test/80).
// Gradient: for a loss over outcomes o with r_o = student probability, g_o = d loss / d r_o and
// G = sum_o r_o g_o, d loss / d s_j = p_j (g_{o(j)} - G) / tau (o(j) = j for top-k tokens, else rest).
import { exp_f32x4 } from "./math";
import { logaddexp64, widen_lo, widen_hi, hsum_f64x2 } from "./loss_math";
import { row_max_f32, row_max_f32_ref, DISTILL_FKL, DISTILL_RKL, DISTILL_JSD, DISTILL_TV } from "./loss";

// @ts-ignore: decorator
@inline function f32at(p: usize, i: i32): f32 {
  return load<f32>(p + (<usize>i << 2));
}

/** out[j] = exp((s[j] - m) * it) (SIMD, f32). */
function exp_row(out: usize, s: usize, V: i32, m: f32, it: f32): void {
  const vm = f32x4.splat(m), vit = f32x4.splat(it);
  let i = 0;
  for (; i + 4 <= V; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, exp_f32x4(f32x4.mul(f32x4.sub(v128.load(s + o), vm), vit)));
  }
  for (; i < V; i++) store<f32>(out + (<usize>i << 2), <f32>Math.exp(<f64>(f32at(s, i) - m) * <f64>it));
}

function exp_row_ref(out: usize, s: usize, V: i32, m: f32, it: f64): void {
  for (let i = 0; i < V; i++) store<f32>(out + (<usize>i << 2), <f32>Math.exp((<f64>f32at(s, i) - <f64>m) * it));
}

/** Sum of n f32 in f64 (SIMD). */
function sum_row(p: usize, n: i32): f64 {
  const z = f64x2.splat(0);
  let a0 = z, a1 = z;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(p + (<usize>i << 2));
    a0 = f64x2.add(a0, widen_lo(v)); a1 = f64x2.add(a1, widen_hi(v));
  }
  let r = hsum_f64x2(f64x2.add(a0, a1));
  for (; i < n; i++) r += <f64>f32at(p, i);
  return r;
}

function sum_row_ref(p: usize, n: i32): f64 {
  let r: f64 = 0;
  for (let i = 0; i < n; i++) r += <f64>f32at(p, i);
  return r;
}

/** p[j] *= c (SIMD). */
function scale_row(p: usize, n: i32, c: f32): void {
  const vc = f32x4.splat(c);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(p + o, f32x4.mul(v128.load(p + o), vc));
  }
  for (; i < n; i++) store<f32>(p + (<usize>i << 2), f32at(p, i) * c);
}

function scale_row_ref(p: usize, n: i32, c: f64): void {
  for (let i = 0; i < n; i++) store<f32>(p + (<usize>i << 2), <f32>(<f64>f32at(p, i) * c));
}

// Loss of one collapsed outcome (q, r probabilities; lq, lr their logs) and its g = d loss / d r.
// @ts-ignore: decorator
@inline function out_loss(kind: i32, lq: f64, lr: f64, beta: f64, lb: f64, l1b: f64): f64 {
  const q = Math.exp(lq), r = Math.exp(lr);
  if (kind == DISTILL_FKL) return q > 0 ? q * (lq - lr) : 0;
  if (kind == DISTILL_RKL) return r > 0 ? r * (lr - lq) : 0;
  if (kind == DISTILL_JSD) {
    const lm = logaddexp64(lb + lq, l1b + lr);
    return (q > 0 ? beta * q * (lq - lm) : 0) + (r > 0 ? (1.0 - beta) * r * (lr - lm) : 0);
  }
  return 0.5 * abs<f64>(r - q);
}

// @ts-ignore: decorator
@inline function out_g(kind: i32, lq: f64, lr: f64, beta: f64, lb: f64, l1b: f64): f64 {
  if (kind == DISTILL_RKL) return lr - lq; // + 1, which cancels against G
  if (kind == DISTILL_JSD) return (1.0 - beta) * (lr - logaddexp64(lb + lq, l1b + lr));
  const d = Math.exp(lr) - Math.exp(lq);
  return d > 0 ? 0.5 : d < 0 ? -0.5 : 0.0; // TV (FKL is handled without g)
}

// @ts-ignore: decorator
@inline function topk_row(simd: bool, kind: i32, grad: usize, ids: usize, lp: usize, rest: f32, s: usize, V: i32, k: i32, inv_tau: f64, beta: f64): f64 {
  const ms = simd ? row_max_f32(s, V) : row_max_f32_ref(s, V);
  if (simd) exp_row(grad, s, V, ms, <f32>inv_tau); else exp_row_ref(grad, s, V, ms, inv_tau);
  let SK: f64 = 0;
  for (let i = 0; i < k; i++) {
    const o = <usize>load<u32>(ids + (<usize>i << 2)) << 2;
    SK += <f64>load<f32>(grad + o);
    store<f32>(grad + o, 0);
  }
  const SR = simd ? sum_row(grad, V) : sum_row_ref(grad, V);
  const Stot = SK + SR, lnS = Math.log(Stot);
  const lrR = SR > 0 ? Math.log(SR) - lnS : -Infinity;
  // teacher at temperature tau, renormalized over the k + 1 outcomes
  const nRest = V - k;
  const aR = nRest > 0 && rest > -Infinity ? Math.log(<f64>nRest) + (<f64>rest - Math.log(<f64>nRest)) * inv_tau : -Infinity;
  let amax = aR;
  for (let i = 0; i < k; i++) amax = max<f64>(amax, <f64>f32at(lp, i) * inv_tau);
  let sq = Math.exp(aR - amax);
  for (let i = 0; i < k; i++) sq += Math.exp(<f64>f32at(lp, i) * inv_tau - amax);
  const lnq = amax + Math.log(sq);
  const lqR = aR - lnq;
  const lb = Math.log(beta), l1b = Math.log(1.0 - beta);
  let L = out_loss(kind, lqR, lrR, beta, lb, l1b);
  for (let i = 0; i < k; i++) {
    const id = <i32>load<u32>(ids + (<usize>i << 2));
    const lr = (<f64>f32at(s, id) - <f64>ms) * inv_tau - lnS, lq = <f64>f32at(lp, i) * inv_tau - lnq;
    L += out_loss(kind, lq, lr, beta, lb, l1b);
  }
  let G: f64 = 0;
  if (kind == DISTILL_RKL) G = L;
  else if (kind != DISTILL_FKL) {
    G = SR > 0 ? Math.exp(lrR) * out_g(kind, lqR, lrR, beta, lb, l1b) : 0;
    for (let i = 0; i < k; i++) {
      const id = <i32>load<u32>(ids + (<usize>i << 2));
      const lr = (<f64>f32at(s, id) - <f64>ms) * inv_tau - lnS, lq = <f64>f32at(lp, i) * inv_tau - lnq;
      G += Math.exp(lr) * out_g(kind, lq, lr, beta, lb, l1b);
    }
  }
  // tokens outside the top-k: grad_j = e_j / Stot * (g_rest - G) / tau (FKL: (1 - q_rest / r_rest))
  let c: f64 = 0;
  if (SR > 0) c = (kind == DISTILL_FKL ? 1.0 - Math.exp(lqR - lrR) : out_g(kind, lqR, lrR, beta, lb, l1b) - G) * inv_tau / Stot;
  if (simd) scale_row(grad, V, <f32>c); else scale_row_ref(grad, V, c);
  for (let i = 0; i < k; i++) {
    const id = <i32>load<u32>(ids + (<usize>i << 2));
    const lr = (<f64>f32at(s, id) - <f64>ms) * inv_tau - lnS, lq = <f64>f32at(lp, i) * inv_tau - lnq;
    const r = Math.exp(lr);
    const gj = kind == DISTILL_FKL ? r - Math.exp(lq) : r * (out_g(kind, lq, lr, beta, lb, l1b) - G);
    store<f32>(grad + (<usize>id << 2), <f32>(gj * inv_tau));
  }
  return L;
}

// @ts-ignore: decorator
@inline function drive_topk(simd: bool, loss: usize, grad: usize, ids: usize, lps: usize, rest: usize, student: usize, mask: usize, T: i32, V: i32, k: i32, kind: i32, inv_tau: f64, beta: f64): f64 {
  let sum: f64 = 0;
  const rb = <usize>V << 2, kb = <usize>k << 2;
  for (let r = 0; r < T; r++) {
    const off = <usize>r * rb;
    if (mask != 0 && load<u8>(mask + <usize>r) == 0) {
      store<f32>(loss + (<usize>r << 2), 0);
      memory.fill(grad + off, 0, rb);
      continue;
    }
    let L = topk_row(simd, kind, grad + off, ids + <usize>r * kb, lps + <usize>r * kb, load<f32>(rest + (<usize>r << 2)), student + off, V, k, inv_tau, beta);
    if (kind != DISTILL_TV) L = max<f64>(L, 0);
    store<f32>(loss + (<usize>r << 2), <f32>L);
    sum += L;
  }
  return sum;
}

/** Top-k distillation loss and gradient (SIMD over the V-wide passes). See the file header. */
export function distill_topk_forward(loss: usize, grad: usize, ids: usize, lps: usize, rest: usize, student: usize, mask: usize, T: i32, V: i32, k: i32, kind: i32, inv_tau: f64, beta: f64): f64 {
  return drive_topk(true, loss, grad, ids, lps, rest, student, mask, T, V, k, kind, inv_tau, beta);
}

/** Scalar twin of distill_topk_forward (f64 exp). */
export function distill_topk_forward_ref(loss: usize, grad: usize, ids: usize, lps: usize, rest: usize, student: usize, mask: usize, T: i32, V: i32, k: i32, kind: i32, inv_tau: f64, beta: f64): f64 {
  return drive_topk(false, loss, grad, ids, lps, rest, student, mask, T, V, k, kind, inv_tau, beta);
}
