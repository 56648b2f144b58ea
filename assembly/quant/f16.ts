// f16 rows: ggml_fp32_to_fp16_row / ggml_fp16_to_fp32_row, SIMD and scalar _ref twins.
import { fp32_to_fp16, fp16_to_fp32, fp32x4_to_fp16x4, fp32x4_to_fp16x4_nonan } from "../inline/f16";
import { nf_note_bits, nf_note_ref, nf_note_value } from "./finite_flag";

/** Scalar: n f32 at x -> n fp16 (2 bytes each) at y. */
export function ggml_fp32_to_fp16_row_ref(y: usize, x: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<u16>(y + (<usize>i << 1), fp32_to_fp16(load<f32>(x + (<usize>i << 2))));
}

/**
 * SIMD: 8 values per iteration, scalar tail. Same bits as the _ref twin; `y` must not overlap `x`.
 * The 8-wide part converts without the NaN select (fp32x4_to_fp16x4_nonan: the same bits for every
 * other value, Inf included) and keeps the running max of |x| bits; when that max says a NaN was
 * among them, the part is converted again with fp32x4_to_fp16x4 (f16_row_exact8).
 */
export function ggml_fp32_to_fp16_row(y: usize, x: usize, n: i32): void {
  const n8 = n & ~7;
  // fused non-finite check (finite_flag.ts): running max of |x| bits, exact
  let nfm = i32x4.splat(0);
  const abs = i32x4.splat(0x7FFFFFFF);
  for (let i = 0; i < n8; i += 8) {
    const va = v128.load(x + (<usize>i << 2)), vb = v128.load(x + (<usize>i << 2), 16);
    nfm = i32x4.max_u(nfm, i32x4.max_u(v128.and(va, abs), v128.and(vb, abs)));
    v128.store(y + (<usize>i << 1), i16x8.narrow_i32x4_u(fp32x4_to_fp16x4_nonan(va), fp32x4_to_fp16x4_nonan(vb)));
  }
  if (v128.any_true(i32x4.gt_u(nfm, i32x4.splat(0x7F800000)))) f16_row_exact8(y, x, n8);
  nf_note_bits(nfm);
  for (let i = n8; i < n; i++) {
    const v = load<f32>(x + (<usize>i << 2));
    nf_note_value(v);
    store<u16>(y + (<usize>i << 1), fp32_to_fp16(v));
  }
}

/** The first n (a multiple of 8) values with fp32x4_to_fp16x4 (NaN lanes -> 0x7E00 | sign). */
function f16_row_exact8(y: usize, x: usize, n: i32): void {
  for (let i = 0; i < n; i += 8) {
    const a = fp32x4_to_fp16x4(v128.load(x + (<usize>i << 2)));
    const b = fp32x4_to_fp16x4(v128.load(x + (<usize>i << 2), 16));
    v128.store(y + (<usize>i << 1), i16x8.narrow_i32x4_u(a, b));
  }
}

export function ggml_fp16_to_fp32_row_ref(y: usize, x: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<f32>(y + (<usize>i << 2), fp16_to_fp32(load<u16>(x + (<usize>i << 1))));
}

/** fp16 -> fp32. Integer-only, so NaN payloads are preserved exactly (no float op touches them). */
export function ggml_fp16_to_fp32_row(y: usize, x: usize, n: i32): void {
  let i = 0;
  const m1f = i32x4.splat(0x1F);
  for (; i + 4 <= n; i += 4) {
    const h = i32x4.extend_low_i16x8_u(v128.load64_zero(x + (<usize>i << 1)));
    const sign = i32x4.shl(v128.and(h, i32x4.splat(0x8000)), 16);
    const exp = v128.and(i32x4.shr_u(h, 10), m1f);
    const mant = v128.and(h, i32x4.splat(0x3FF));
    const normal = v128.or(i32x4.shl(i32x4.add(exp, i32x4.splat(112)), 23), i32x4.shl(mant, 13));
    const special = v128.or(v128.or(i32x4.splat(0x7F800000), i32x4.shl(mant, 13)),
      v128.andnot(i32x4.splat(0x400000), i32x4.eq(mant, i32x4.splat(0))));
    const sub = f32x4.mul(f32x4.convert_i32x4_u(mant), f32x4.splat(reinterpret<f32>(0x33800000)));
    const isz = i32x4.eq(exp, i32x4.splat(0));
    const isinf = i32x4.eq(exp, m1f);
    const r = v128.bitselect(sub, v128.bitselect(special, normal, isinf), isz);
    v128.store(y + (<usize>i << 2), v128.or(r, sign));
  }
  for (; i < n; i++) store<f32>(y + (<usize>i << 2), fp16_to_fp32(load<u16>(x + (<usize>i << 1))));
}

// Uniform chunk API used by the facade (out first, rows x n_per_row, imatrix ignored).
export function quantize_f16(y: usize, x: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  ggml_fp32_to_fp16_row(y, x, nrows * n_per_row);
  return <usize>nrows * n_per_row * 2;
}
export function quantize_f16_ref(y: usize, x: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  for (let r = 0; r < nrows; r++) nf_note_ref(x + ((<usize>r * <usize>n_per_row) << 2), n_per_row);
  ggml_fp32_to_fp16_row_ref(y, x, nrows * n_per_row);
  return <usize>nrows * n_per_row * 2;
}
export function dequantize_row_f16(y: usize, x: usize, k: i32): void { ggml_fp16_to_fp32_row(y, x, k); }
export function dequantize_row_f16_ref(y: usize, x: usize, k: i32): void { ggml_fp16_to_fp32_row_ref(y, x, k); }
