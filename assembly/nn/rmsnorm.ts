// rmsnorm_forward(out, inp, weight, T, C, eps): out[t, i] = inp[t, i] / sqrt(mean_i(inp[t]^2) + eps) * weight[i]
// (llama.cpp ggml_rms_norm then ggml_mul; out may equal inp). The _ref twin sums x² in f64 as ggml does;
// the SIMD form sums in 4 f32 lanes × 2 accumulators: relative difference of the scale < 1e-6 for C ≤ 65536.
import { hsum_f32x4 } from "./math";

export function rmsnorm_forward_ref(out: usize, inp: usize, weight: usize, T: i32, C: i32, eps: f32): void {
  for (let t = 0; t < T; t++) {
    const x = inp + (<usize>t * <usize>C << 2), y = out + (<usize>t * <usize>C << 2);
    let s: f64 = 0;
    for (let i = 0; i < C; i++) { const v = <f64>load<f32>(x + (<usize>i << 2)); s += v * v; }
    const scale: f32 = <f32>1.0 / Mathf.sqrt(<f32>(s / <f64>C) + eps);
    for (let i = 0; i < C; i++) store<f32>(y + (<usize>i << 2), load<f32>(x + (<usize>i << 2)) * scale * load<f32>(weight + (<usize>i << 2)));
  }
}

export function rmsnorm_forward(out: usize, inp: usize, weight: usize, T: i32, C: i32, eps: f32): void {
  for (let t = 0; t < T; t++) {
    const x = inp + (<usize>t * <usize>C << 2), y = out + (<usize>t * <usize>C << 2);
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
    let i = 0;
    for (; i + 8 <= C; i += 8) {
      const v0 = v128.load(x + (<usize>i << 2)), v1 = v128.load(x + (<usize>i << 2), 16);
      a0 = f32x4.add(a0, f32x4.mul(v0, v0)); a1 = f32x4.add(a1, f32x4.mul(v1, v1));
    }
    let s: f32 = hsum_f32x4(f32x4.add(a0, a1));
    for (; i < C; i++) { const v = load<f32>(x + (<usize>i << 2)); s += v * v; }
    const scale: f32 = <f32>1.0 / Mathf.sqrt(s / <f32>C + eps);
    const vs = f32x4.splat(scale);
    i = 0;
    for (; i + 4 <= C; i += 4) {
      const o = <usize>i << 2;
      v128.store(y + o, f32x4.mul(f32x4.mul(v128.load(x + o), vs), v128.load(weight + o)));
    }
    for (; i < C; i++) store<f32>(y + (<usize>i << 2), load<f32>(x + (<usize>i << 2)) * scale * load<f32>(weight + (<usize>i << 2)));
  }
}
