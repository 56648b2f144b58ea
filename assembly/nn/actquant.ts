// act_quant_forward(out, inp, n, kind): what llama.cpp does to a matmul's f32 activations before its dot
// products with stored (non-f32) weights — it converts them to the weight type's vec_dot_type — as f32 values:
//   kind 1 f16  (f16 weights):        out = f32(f16(x))
//   kind 2 bf16 (bf16 weights):       out = f32(bf16(x))
//   kind 3 q8_0 (q4_0/q4_1/q5_0/q5_1/q8_0/iq4_nl/mxfp4; q8_1 has the same values): blocks of 32,
//          d = amax/127, q = round(x · 127/amax) (ties to even, as ggml's x86 quantize_row_q8_0), value q · f16(d)
//   kind 4 q8_K (q2_K..q6_K, iq4_xs, tq1_0/tq2_0): blocks of 256, iscale = -127/max (max = the value of
//          largest |x|), q = min(127, nearest_int(iscale · x)), value q / iscale
// n must be a multiple of the block (32 / 256) for kinds 3 / 4 (every row length of those weight types is).
// Scalar only (one pass over the activations per matmul, negligible next to the matmul); out may equal inp.
import { fp32_to_fp16, fp16_to_fp32, fp32_to_bf16, bf16_to_fp32 } from "../inline/f16";

export function act_quant_forward(out: usize, inp: usize, n: i32, kind: i32): void {
  if (kind == 1) {
    for (let i = 0; i < n; i++) store<f32>(out + (<usize>i << 2), fp16_to_fp32(fp32_to_fp16(load<f32>(inp + (<usize>i << 2)))));
  } else if (kind == 2) {
    for (let i = 0; i < n; i++) store<f32>(out + (<usize>i << 2), bf16_to_fp32(fp32_to_bf16(load<f32>(inp + (<usize>i << 2)))));
  } else if (kind == 3) {
    for (let b = 0; b + 32 <= n; b += 32) {
      const x = inp + (<usize>b << 2), y = out + (<usize>b << 2);
      let amax: f32 = 0;
      for (let j = 0; j < 32; j++) amax = max<f32>(amax, abs<f32>(load<f32>(x + (<usize>j << 2))));
      const d: f32 = amax / <f32>127.0;
      const id: f32 = amax != 0 ? <f32>127.0 / amax : 0;
      const dh: f32 = fp16_to_fp32(fp32_to_fp16(d));
      for (let j = 0; j < 32; j++) store<f32>(y + (<usize>j << 2), f32.nearest(load<f32>(x + (<usize>j << 2)) * id) * dh);
    }
  } else if (kind == 4) {
    for (let b = 0; b + 256 <= n; b += 256) {
      const x = inp + (<usize>b << 2), y = out + (<usize>b << 2);
      let amax: f32 = 0, mx: f32 = 0;
      for (let j = 0; j < 256; j++) { const v = load<f32>(x + (<usize>j << 2)); if (abs<f32>(v) > amax) { amax = abs<f32>(v); mx = v; } }
      if (amax == 0) { for (let j = 0; j < 256; j++) store<f32>(y + (<usize>j << 2), 0); continue; }
      const iscale: f32 = <f32>-127.0 / mx;
      const d: f32 = <f32>1.0 / iscale;
      for (let j = 0; j < 256; j++) store<f32>(y + (<usize>j << 2), min<f32>(127, f32.nearest(iscale * load<f32>(x + (<usize>j << 2)))) * d);
    }
  } else if (out != inp) {
    memory.copy(out, inp, <usize>n << 2);
  }
}
