// Element-wise kernels and softmax. n values each; out may alias an input.
//   swiglu_forward(out, gate, up, n):  out = silu(gate) * up, silu(x) = x / (1 + e^-x)  (llama.cpp ffn "silu" + par)
//   add_forward(out, a, b, n):         out = a + b (residual)                           (bit-identical to _ref)
//   softmax_forward(out, inp, T, n):   per row of n: e^(x - max) / Σ                    (rows of a [T, n] matrix)
// SIMD e^x (math.ts exp_f32x4) is within 2e-7 relative of Mathf.exp: swiglu / softmax agree with their
// _ref twins within 1e-6 relative (test/70).
import { exp_f32x4, hsum_f32x4, hmax_f32x4 } from "./math";

export function swiglu_forward_ref(out: usize, gate: usize, up: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const g = load<f32>(gate + o);
    store<f32>(out + o, g / (<f32>1.0 + Mathf.exp(-g)) * load<f32>(up + o));
  }
}

export function swiglu_forward(out: usize, gate: usize, up: usize, n: i32): void {
  let i = 0;
  const one = f32x4.splat(1.0);
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const g = v128.load(gate + o);
    v128.store(out + o, f32x4.mul(f32x4.div(g, f32x4.add(one, exp_f32x4(f32x4.neg(g)))), v128.load(up + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const g = load<f32>(gate + o);
    store<f32>(out + o, g / (<f32>1.0 + Mathf.exp(-g)) * load<f32>(up + o));
  }
}

export function add_forward_ref(out: usize, a: usize, b: usize, n: i32): void {
  for (let i = 0; i < n; i++) { const o = <usize>i << 2; store<f32>(out + o, load<f32>(a + o) + load<f32>(b + o)); }
}

export function add_forward(out: usize, a: usize, b: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) { const o = <usize>i << 2; v128.store(out + o, f32x4.add(v128.load(a + o), v128.load(b + o))); }
  for (; i < n; i++) { const o = <usize>i << 2; store<f32>(out + o, load<f32>(a + o) + load<f32>(b + o)); }
}

export function softmax_forward_ref(out: usize, inp: usize, T: i32, n: i32): void {
  for (let t = 0; t < T; t++) {
    const x = inp + (<usize>t * <usize>n << 2), y = out + (<usize>t * <usize>n << 2);
    let m: f32 = -Infinity;
    for (let i = 0; i < n; i++) m = max<f32>(m, load<f32>(x + (<usize>i << 2)));
    let s: f64 = 0;
    for (let i = 0; i < n; i++) { const e = Mathf.exp(load<f32>(x + (<usize>i << 2)) - m); store<f32>(y + (<usize>i << 2), e); s += e; }
    const inv: f32 = <f32>(1.0 / s);
    for (let i = 0; i < n; i++) store<f32>(y + (<usize>i << 2), load<f32>(y + (<usize>i << 2)) * inv);
  }
}

/** In-place-capable softmax of one row of n values (used by attention too). */
// @ts-ignore: decorator
@inline export function softmax_row(y: usize, x: usize, n: i32): void {
  let i = 0;
  let mv = f32x4.splat(-Infinity);
  for (; i + 4 <= n; i += 4) mv = f32x4.max(mv, v128.load(x + (<usize>i << 2)));
  let m = hmax_f32x4(mv);
  for (; i < n; i++) m = max<f32>(m, load<f32>(x + (<usize>i << 2)));
  const vm = f32x4.splat(m);
  let sv = f32x4.splat(0);
  i = 0;
  for (; i + 4 <= n; i += 4) {
    const e = exp_f32x4(f32x4.sub(v128.load(x + (<usize>i << 2)), vm));
    v128.store(y + (<usize>i << 2), e);
    sv = f32x4.add(sv, e);
  }
  let s: f32 = hsum_f32x4(sv);
  for (; i < n; i++) { const e = Mathf.exp(load<f32>(x + (<usize>i << 2)) - m); store<f32>(y + (<usize>i << 2), e); s += e; }
  const inv: f32 = <f32>1.0 / s;
  const vi = f32x4.splat(inv);
  i = 0;
  for (; i + 4 <= n; i += 4) v128.store(y + (<usize>i << 2), f32x4.mul(v128.load(y + (<usize>i << 2)), vi));
  for (; i < n; i++) store<f32>(y + (<usize>i << 2), load<f32>(y + (<usize>i << 2)) * inv);
}

export function softmax_forward(out: usize, inp: usize, T: i32, n: i32): void {
  for (let t = 0; t < T; t++) softmax_row(out + (<usize>t * <usize>n << 2), inp + (<usize>t * <usize>n << 2), n);
}
