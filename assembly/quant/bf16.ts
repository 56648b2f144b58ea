// bf16 rows: ggml_fp32_to_bf16_row_ref / ggml_bf16_to_fp32_row, SIMD and scalar _ref twins.
import { fp32_to_bf16, bf16_to_fp32, fp32x4_to_bf16x4, fp32x4_to_bf16x4_hi_nonan } from "../inline/f16";
import { nf_note_bits, nf_note_ref, nf_note_value } from "./finite_flag";

export function ggml_fp32_to_bf16_row_ref(y: usize, x: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<u16>(y + (<usize>i << 1), fp32_to_bf16(load<f32>(x + (<usize>i << 2))));
}

/**
 * SIMD: 8 values per iteration, scalar tail. Same bits as the _ref twin; `y` must not overlap `x`.
 * The 8-wide part rounds without NaN handling (exact for every other value, Inf included) and keeps
 * the running max of |x| bits; when that max says a NaN was among them, the part is converted again
 * with the NaN-exact lanes (bf16_row_exact8), so NaN rows cost two passes and all others one.
 */
export function ggml_fp32_to_bf16_row(y: usize, x: usize, n: i32): void {
  const n8 = n & ~7;
  // fused non-finite check (finite_flag.ts): running max of |x| bits, exact
  let nfm = i32x4.splat(0);
  const abs = i32x4.splat(0x7FFFFFFF);
  for (let i = 0; i < n8; i += 8) {
    const va = v128.load(x + (<usize>i << 2)), vb = v128.load(x + (<usize>i << 2), 16);
    nfm = i32x4.max_u(nfm, i32x4.max_u(v128.and(va, abs), v128.and(vb, abs)));
    // the upper 16 bits of each rounded lane, 8 lanes into one vector
    v128.store(y + (<usize>i << 1), v128.shuffle<u16>(fp32x4_to_bf16x4_hi_nonan(va), fp32x4_to_bf16x4_hi_nonan(vb), 1, 3, 5, 7, 9, 11, 13, 15));
  }
  if (v128.any_true(i32x4.gt_u(nfm, i32x4.splat(0x7F800000)))) bf16_row_exact8(y, x, n8);
  nf_note_bits(nfm);
  for (let i = n8; i < n; i++) {
    const v = load<f32>(x + (<usize>i << 2));
    nf_note_value(v);
    store<u16>(y + (<usize>i << 1), fp32_to_bf16(v));
  }
}

/** The first n (a multiple of 8) values with fp32x4_to_bf16x4 (NaN lanes encoded as the scalar form does). */
function bf16_row_exact8(y: usize, x: usize, n: i32): void {
  for (let i = 0; i < n; i += 8) {
    const a = fp32x4_to_bf16x4(v128.load(x + (<usize>i << 2)));
    const b = fp32x4_to_bf16x4(v128.load(x + (<usize>i << 2), 16));
    v128.store(y + (<usize>i << 1), i16x8.narrow_i32x4_u(a, b));
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
