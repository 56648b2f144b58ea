// Kernels of the Gemma 2 / Gemma 3 forward pass (llama.cpp src/models/gemma2.cpp, gemma3.cpp). n values
// each unless said; out may alias an input.
//   geglu_forward(out, gate, up, n, f16):  out = gelu(gate) · up, gelu the tanh approximation
//       0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) computed as x / (1 + e^(−2u)) (no cancellation).
//       f16 != 0 emulates llama.cpp's CPU GEGLU (GGML_GELU_FP16): x ≤ −10 → 0, x ≥ 10 → x·up, else
//       x rounded to f16, gelu of it rounded to f16 (its ggml_table_gelu_f16), times up.
//   softcap_forward(out, inp, n, cap):     out = cap · tanh(inp · (1/cap))   (Gemma 2 final logit soft-capping:
//       ggml_scale, ggml_tanh, ggml_scale)
//   scale_forward(out, inp, n, s):         out = inp · s                     (ggml_scale: √n_embd embedding
//       scale, query scale); bit-identical to _ref
//   attention_ext_forward(out, q, kc, vc, att, T, pos, nHead, nHeadKv, headDim, kvStride, probsF16, scale,
//       softcap, window): attention_forward (attention.ts) with the score scale given, attention logit
//       soft-capping (softcap > 0: s → softcap · tanh(s / softcap), before the softmax, as llama.cpp's
//       build_attn_mha) and a sliding window (window > 0: position p attends to positions p − window + 1 .. p,
//       LLAMA_SWA_TYPE_STANDARD masks p − p0 ≥ window); att needs pos + T floats.
// SIMD e^x (math.ts exp_f32x4, 2e-7 relative): geglu / softcap / attention_ext agree with their _ref twins
// within 1e-6 relative (test/74); the f16 form of geglu is bit-identical to its _ref.
import { exp_f32x4, hsum_f32x4 } from "./math";
import { softmax_row } from "./activations";
import { round_f16_forward } from "./util";
import { fp32_to_fp16, fp16_to_fp32 } from "../inline/f16";

const GELU_A: f32 = 0.044715;
const SQRT_2_OVER_PI: f32 = 0.79788456080286535587989211986876;

// @ts-ignore: decorator
@inline function gelu_f32(x: f32): f32 {
  const u = SQRT_2_OVER_PI * x * (<f32>1.0 + GELU_A * x * x);
  return x / (<f32>1.0 + Mathf.exp(<f32>-2.0 * u));
}

/** llama.cpp's table entry: f16(gelu(f16(x))) for |x| < 10, the clamps outside (f64 gelu, then f16). */
// @ts-ignore: decorator
@inline function gelu_f16_table(x: f32): f32 {
  if (x <= <f32>-10.0) return 0;
  if (x >= <f32>10.0) return x;
  const h = <f64>fp16_to_fp32(fp32_to_fp16(x));
  const g = 0.5 * h * (1.0 + Math.tanh(0.79788456080286535587989211986876 * h * (1.0 + 0.044715 * h * h)));
  return fp16_to_fp32(fp32_to_fp16(<f32>g));
}

export function geglu_forward_ref(out: usize, gate: usize, up: usize, n: i32, f16: i32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const x = load<f32>(gate + o);
    store<f32>(out + o, (f16 ? gelu_f16_table(x) : gelu_f32(x)) * load<f32>(up + o));
  }
}

export function geglu_forward(out: usize, gate: usize, up: usize, n: i32, f16: i32): void {
  if (f16) { geglu_forward_ref(out, gate, up, n, f16); return; }
  let i = 0;
  const one = f32x4.splat(1.0), a = f32x4.splat(GELU_A), k = f32x4.splat(<f32>-2.0 * SQRT_2_OVER_PI);
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const x = v128.load(gate + o);
    const u = f32x4.mul(f32x4.mul(k, x), f32x4.add(one, f32x4.mul(a, f32x4.mul(x, x))));
    v128.store(out + o, f32x4.mul(f32x4.div(x, f32x4.add(one, exp_f32x4(u))), v128.load(up + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, gelu_f32(load<f32>(gate + o)) * load<f32>(up + o));
  }
}

/** tanh(z) = sign(z) · (1 − e^(−2|z|)) / (1 + e^(−2|z|)). */
// @ts-ignore: decorator
@inline function tanh_f32(z: f32): f32 {
  const e = Mathf.exp(<f32>-2.0 * Mathf.abs(z));
  return copysign<f32>((<f32>1.0 - e) / (<f32>1.0 + e), z);
}

// @ts-ignore: decorator
@inline function tanh_f32x4(z: v128): v128 {
  const one = f32x4.splat(1.0);
  const e = exp_f32x4(f32x4.mul(f32x4.splat(-2.0), f32x4.abs(z)));
  const t = f32x4.div(f32x4.sub(one, e), f32x4.add(one, e));
  // sign of z onto t (t >= 0)
  return v128.or(t, v128.and(z, i32x4.splat(<i32>0x80000000)));
}

export function softcap_forward_ref(out: usize, inp: usize, n: i32, cap: f32): void {
  const inv: f32 = <f32>1.0 / cap;
  for (let i = 0; i < n; i++) { const o = <usize>i << 2; store<f32>(out + o, cap * tanh_f32(load<f32>(inp + o) * inv)); }
}

export function softcap_forward(out: usize, inp: usize, n: i32, cap: f32): void {
  const inv: f32 = <f32>1.0 / cap, vi = f32x4.splat(inv), vc = f32x4.splat(cap);
  let i = 0;
  for (; i + 4 <= n; i += 4) { const o = <usize>i << 2; v128.store(out + o, f32x4.mul(vc, tanh_f32x4(f32x4.mul(v128.load(inp + o), vi)))); }
  for (; i < n; i++) { const o = <usize>i << 2; store<f32>(out + o, cap * tanh_f32(load<f32>(inp + o) * inv)); }
}

export function scale_forward_ref(out: usize, inp: usize, n: i32, s: f32): void {
  for (let i = 0; i < n; i++) { const o = <usize>i << 2; store<f32>(out + o, load<f32>(inp + o) * s); }
}

export function scale_forward(out: usize, inp: usize, n: i32, s: f32): void {
  const vs = f32x4.splat(s);
  let i = 0;
  for (; i + 4 <= n; i += 4) { const o = <usize>i << 2; v128.store(out + o, f32x4.mul(v128.load(inp + o), vs)); }
  for (; i < n; i++) { const o = <usize>i << 2; store<f32>(out + o, load<f32>(inp + o) * s); }
}

export function attention_ext_forward_ref(out: usize, q: usize, kc: usize, vc: usize, att: usize, T: i32, pos: i32, nHead: i32, nHeadKv: i32, headDim: i32, kvStride: i32, probsF16: i32, scale: f32, softcap: f32, window: i32): void {
  const group = nHead / nHeadKv;
  const inv: f32 = softcap > 0 ? <f32>1.0 / softcap : 0;
  for (let t = 0; t < T; t++) {
    const n = pos + t + 1;
    const lo = window > 0 ? max<i32>(0, n - window) : 0;
    for (let h = 0; h < nHead; h++) {
      const qh = q + ((<usize>t * <usize>nHead + <usize>h) * <usize>headDim << 2);
      const kvo = <usize>(h / group) * <usize>headDim << 2;
      let m: f32 = -Infinity;
      for (let s = lo; s < n; s++) {
        const kr = kc + (<usize>s * <usize>kvStride << 2) + kvo;
        let d: f32 = 0;
        for (let i = 0; i < headDim; i++) d += load<f32>(qh + (<usize>i << 2)) * load<f32>(kr + (<usize>i << 2));
        d *= scale;
        if (softcap > 0) d = softcap * tanh_f32(d * inv);
        store<f32>(att + (<usize>s << 2), d);
        m = max<f32>(m, d);
      }
      let sum: f64 = 0;
      for (let s = lo; s < n; s++) { const e = Mathf.exp(load<f32>(att + (<usize>s << 2)) - m); store<f32>(att + (<usize>s << 2), e); sum += e; }
      const is: f32 = <f32>(1.0 / sum);
      for (let s = lo; s < n; s++) store<f32>(att + (<usize>s << 2), load<f32>(att + (<usize>s << 2)) * is);
      if (probsF16) round_f16_forward(att + (<usize>lo << 2), att + (<usize>lo << 2), n - lo);
      const oh = out + ((<usize>t * <usize>nHead + <usize>h) * <usize>headDim << 2);
      for (let i = 0; i < headDim; i++) {
        let acc: f32 = 0;
        for (let s = lo; s < n; s++) acc += load<f32>(att + (<usize>s << 2)) * load<f32>(vc + (<usize>s * <usize>kvStride << 2) + kvo + (<usize>i << 2));
        store<f32>(oh + (<usize>i << 2), acc);
      }
    }
  }
}

export function attention_ext_forward(out: usize, q: usize, kc: usize, vc: usize, att: usize, T: i32, pos: i32, nHead: i32, nHeadKv: i32, headDim: i32, kvStride: i32, probsF16: i32, scale: f32, softcap: f32, window: i32): void {
  const group = nHead / nHeadKv;
  const inv: f32 = softcap > 0 ? <f32>1.0 / softcap : 0;
  const hd4 = headDim & ~3;
  const rs = <usize>kvStride << 2;
  for (let t = 0; t < T; t++) {
    const n = pos + t + 1;
    const lo = window > 0 ? max<i32>(0, n - window) : 0;
    const a0 = att + (<usize>lo << 2);
    for (let h = 0; h < nHead; h++) {
      const qh = q + ((<usize>t * <usize>nHead + <usize>h) * <usize>headDim << 2);
      const kvo = <usize>(h / group) * <usize>headDim << 2;
      let kr = kc + <usize>lo * rs + kvo;
      for (let s = lo; s < n; s++) {
        let a = f32x4.splat(0);
        let i = 0;
        for (; i < hd4; i += 4) a = f32x4.add(a, f32x4.mul(v128.load(qh + (<usize>i << 2)), v128.load(kr + (<usize>i << 2))));
        let d = hsum_f32x4(a);
        for (; i < headDim; i++) d += load<f32>(qh + (<usize>i << 2)) * load<f32>(kr + (<usize>i << 2));
        d *= scale;
        if (softcap > 0) d = softcap * tanh_f32(d * inv);
        store<f32>(att + (<usize>s << 2), d);
        kr += rs;
      }
      softmax_row(a0, a0, n - lo);
      if (probsF16) round_f16_forward(a0, a0, n - lo);
      const oh = out + ((<usize>t * <usize>nHead + <usize>h) * <usize>headDim << 2);
      let i = 0;
      for (; i < hd4; i += 4) {
        let acc = f32x4.splat(0);
        let vr = vc + <usize>lo * rs + kvo + (<usize>i << 2);
        for (let s = lo; s < n; s++) {
          acc = f32x4.add(acc, f32x4.mul(f32x4.splat(load<f32>(att + (<usize>s << 2))), v128.load(vr)));
          vr += rs;
        }
        v128.store(oh + (<usize>i << 2), acc);
      }
      for (; i < headDim; i++) {
        let acc: f32 = 0;
        for (let s = lo; s < n; s++) acc += load<f32>(att + (<usize>s << 2)) * load<f32>(vc + (<usize>s * <usize>kvStride << 2) + kvo + (<usize>i << 2));
        store<f32>(oh + (<usize>i << 2), acc);
      }
    }
  }
}
