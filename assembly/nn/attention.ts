// attention_forward(out, q, kc, vc, att, T, pos, nHead, nHeadKv, headDim, kvStride):
// causal grouped-query attention of T new tokens at positions pos .. pos+T-1 over a KV cache.
//   q   [T, nHead, headDim]           (already roped)
//   kc  [nCtx, kvStride] f32 cache, row p = key of position p (nHeadKv × headDim values at the row start,
//        already roped); vc the same for values. Rows 0 .. pos+T-1 must be filled.
//   att scratch of pos+T f32.   out [T, nHead, headDim].
//   probsF16 != 0: round the softmax probabilities to f16 before they weight V (what llama.cpp's
//   f16 KV cache does: ggml converts the f32 operand of an f16 mat_mul to f16).
// Head h reads KV head h / (nHead / nHeadKv) (llama.cpp's GQA broadcast). Scores are scaled by
// 1/sqrt(headDim), softmaxed over positions 0 .. pos+t (causal), and weight the value rows.
// The SIMD form (4-lane dot products and a 4-lane softmax) agrees with _ref within 1e-5 relative to the
// largest |v| (test/70).
import { hsum_f32x4 } from "./math";
import { softmax_row } from "./activations";
import { round_f16_forward } from "./util";

export function attention_forward_ref(out: usize, q: usize, kc: usize, vc: usize, att: usize, T: i32, pos: i32, nHead: i32, nHeadKv: i32, headDim: i32, kvStride: i32, probsF16: i32): void {
  const group = nHead / nHeadKv;
  const scale: f32 = <f32>1.0 / Mathf.sqrt(<f32>headDim);
  for (let t = 0; t < T; t++) {
    const n = pos + t + 1;
    for (let h = 0; h < nHead; h++) {
      const qh = q + ((<usize>t * <usize>nHead + <usize>h) * <usize>headDim << 2);
      const kvo = <usize>(h / group) * <usize>headDim << 2;
      let m: f32 = -Infinity;
      for (let s = 0; s < n; s++) {
        const kr = kc + (<usize>s * <usize>kvStride << 2) + kvo;
        let d: f32 = 0;
        for (let i = 0; i < headDim; i++) d += load<f32>(qh + (<usize>i << 2)) * load<f32>(kr + (<usize>i << 2));
        d *= scale;
        store<f32>(att + (<usize>s << 2), d);
        m = max<f32>(m, d);
      }
      let sum: f64 = 0;
      for (let s = 0; s < n; s++) { const e = Mathf.exp(load<f32>(att + (<usize>s << 2)) - m); store<f32>(att + (<usize>s << 2), e); sum += e; }
      const inv: f32 = <f32>(1.0 / sum);
      for (let s = 0; s < n; s++) store<f32>(att + (<usize>s << 2), load<f32>(att + (<usize>s << 2)) * inv);
      if (probsF16) round_f16_forward(att, att, n);
      const oh = out + ((<usize>t * <usize>nHead + <usize>h) * <usize>headDim << 2);
      for (let i = 0; i < headDim; i++) {
        let acc: f32 = 0;
        for (let s = 0; s < n; s++) acc += load<f32>(att + (<usize>s << 2)) * load<f32>(vc + (<usize>s * <usize>kvStride << 2) + kvo + (<usize>i << 2));
        store<f32>(oh + (<usize>i << 2), acc);
      }
    }
  }
}

export function attention_forward(out: usize, q: usize, kc: usize, vc: usize, att: usize, T: i32, pos: i32, nHead: i32, nHeadKv: i32, headDim: i32, kvStride: i32, probsF16: i32): void {
  const group = nHead / nHeadKv;
  const scale: f32 = <f32>1.0 / Mathf.sqrt(<f32>headDim);
  const hd4 = headDim & ~3;
  const rs = <usize>kvStride << 2;
  for (let t = 0; t < T; t++) {
    const n = pos + t + 1;
    for (let h = 0; h < nHead; h++) {
      const qh = q + ((<usize>t * <usize>nHead + <usize>h) * <usize>headDim << 2);
      const kvo = <usize>(h / group) * <usize>headDim << 2;
      let kr = kc + kvo;
      for (let s = 0; s < n; s++) {
        let a = f32x4.splat(0);
        let i = 0;
        for (; i < hd4; i += 4) a = f32x4.add(a, f32x4.mul(v128.load(qh + (<usize>i << 2)), v128.load(kr + (<usize>i << 2))));
        let d = hsum_f32x4(a);
        for (; i < headDim; i++) d += load<f32>(qh + (<usize>i << 2)) * load<f32>(kr + (<usize>i << 2));
        store<f32>(att + (<usize>s << 2), d * scale);
        kr += rs;
      }
      softmax_row(att, att, n);
      if (probsF16) round_f16_forward(att, att, n);
      const oh = out + ((<usize>t * <usize>nHead + <usize>h) * <usize>headDim << 2);
      // out = Σ_s att[s] · v_s, 4 dims at a time (headDim is a multiple of 4 in every llama; tail scalar)
      let i = 0;
      for (; i < hd4; i += 4) {
        let acc = f32x4.splat(0);
        let vr = vc + kvo + (<usize>i << 2);
        for (let s = 0; s < n; s++) {
          acc = f32x4.add(acc, f32x4.mul(f32x4.splat(load<f32>(att + (<usize>s << 2))), v128.load(vr)));
          vr += rs;
        }
        v128.store(oh + (<usize>i << 2), acc);
      }
      for (; i < headDim; i++) {
        let acc: f32 = 0;
        for (let s = 0; s < n; s++) acc += load<f32>(att + (<usize>s << 2)) * load<f32>(vc + (<usize>s * <usize>kvStride << 2) + kvo + (<usize>i << 2));
        store<f32>(oh + (<usize>i << 2), acc);
      }
    }
  }
}
