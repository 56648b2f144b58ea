// Small helpers of the forward pass.
//   round_f16_forward(out, inp, n): out = f32(f16(inp)) (round to nearest even, as ggml_fp32_to_fp16):
//     emulates llama.cpp's default f16 KV cache. SIMD and _ref are bit-identical.
import { fp32_to_fp16, fp16_to_fp32, fp32x4_to_fp16x4 } from "../inline/f16";

export function round_f16_forward_ref(out: usize, inp: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<f32>(out + (<usize>i << 2), fp16_to_fp32(fp32_to_fp16(load<f32>(inp + (<usize>i << 2)))));
}

export function round_f16_forward(out: usize, inp: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const h = fp32x4_to_fp16x4(v128.load(inp + (<usize>i << 2)));
    const o = out + (<usize>i << 2);
    store<f32>(o, fp16_to_fp32(i32x4.extract_lane(h, 0) & 0xffff));
    store<f32>(o, fp16_to_fp32(i32x4.extract_lane(h, 1) & 0xffff), 4);
    store<f32>(o, fp16_to_fp32(i32x4.extract_lane(h, 2) & 0xffff), 8);
    store<f32>(o, fp16_to_fp32(i32x4.extract_lane(h, 3) & 0xffff), 12);
  }
  for (; i < n; i++) store<f32>(out + (<usize>i << 2), fp16_to_fp32(fp32_to_fp16(load<f32>(inp + (<usize>i << 2)))));
}
