// bf16 rows: ggml_fp32_to_bf16_row_ref / ggml_bf16_to_fp32_row, SIMD and scalar _ref twins.
import { fp32_to_bf16, bf16_to_fp32, fp32x4_to_bf16x4 } from "../inline/f16";
import { nf_note_bits, nf_note_ref, nf_note_value } from "./finite_flag";

export function ggml_fp32_to_bf16_row_ref(y: usize, x: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<u16>(y + (<usize>i << 1), fp32_to_bf16(load<f32>(x + (<usize>i << 2))));
}

export function ggml_fp32_to_bf16_row(y: usize, x: usize, n: i32): void {
  let i = 0;
  // fused non-finite check (finite_flag.ts): running max of |x| bits, exact
  let nfm = i32x4.splat(0);
  const abs = i32x4.splat(0x7FFFFFFF);
  for (; i + 8 <= n; i += 8) {
    const va = v128.load(x + (<usize>i << 2)), vb = v128.load(x + (<usize>i << 2), 16);
    nfm = i32x4.max_u(nfm, i32x4.max_u(v128.and(va, abs), v128.and(vb, abs)));
    const a = fp32x4_to_bf16x4(va);
    const b = fp32x4_to_bf16x4(vb);
    v128.store(y + (<usize>i << 1), i16x8.narrow_i32x4_u(a, b));
  }
  nf_note_bits(nfm);
  for (; i < n; i++) {
    const v = load<f32>(x + (<usize>i << 2));
    nf_note_value(v);
    store<u16>(y + (<usize>i << 1), fp32_to_bf16(v));
  }
}

export function ggml_bf16_to_fp32_row_ref(y: usize, x: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<f32>(y + (<usize>i << 2), bf16_to_fp32(load<u16>(x + (<usize>i << 1))));
}

export function ggml_bf16_to_fp32_row(y: usize, x: usize, n: i32): void {
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const h = v128.load(x + (<usize>i << 1));
    v128.store(y + (<usize>i << 2), i32x4.shl(i32x4.extend_low_i16x8_u(h), 16));
    v128.store(y + (<usize>i << 2), i32x4.shl(i32x4.extend_high_i16x8_u(h), 16), 16);
  }
  for (; i < n; i++) store<f32>(y + (<usize>i << 2), bf16_to_fp32(load<u16>(x + (<usize>i << 1))));
}

export function quantize_bf16(y: usize, x: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  ggml_fp32_to_bf16_row(y, x, nrows * n_per_row);
  return <usize>nrows * n_per_row * 2;
}
export function quantize_bf16_ref(y: usize, x: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  for (let r = 0; r < nrows; r++) nf_note_ref(x + ((<usize>r * <usize>n_per_row) << 2), n_per_row);
  ggml_fp32_to_bf16_row_ref(y, x, nrows * n_per_row);
  return <usize>nrows * n_per_row * 2;
}
export function dequantize_row_bf16(y: usize, x: usize, k: i32): void { ggml_bf16_to_fp32_row(y, x, k); }
export function dequantize_row_bf16_ref(y: usize, x: usize, k: i32): void { ggml_bf16_to_fp32_row_ref(y, x, k); }
