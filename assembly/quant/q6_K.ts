// q6_K: 256 values -> 16 sub-blocks of 16 with int8 scales, 6-bit codes, fp16 super-scale d
// (210 bytes: ql[128], qh[64], scales[16] (i8), d). 6.5625 bits per weight.
// ggml quantize_row_q6_K_ref / quantize_row_q6_K_impl semantics: per sub-block make_qx_quants
// (nmax 32, weights x^2, or the raw imatrix values), scales quantized against -128/max_scale,
// final codes recomputed as nearest_int(x / (fp16(d) * scale)).
import { fp32_to_fp16, fp16_to_fp32 } from "../inline/f16";
import { nearest_int_x, transpose4x4, requant16 } from "../inline/sym";
import { make_qx_quants, make_qx_quants_x4, GROUP_MAX_EPS, qx_bis, qx_zero, qx_codes16 } from "./common_sym";

// @ts-ignore: decorator
@inline const QK_K: i32 = 256;
// @ts-ignore: decorator
@inline const BLOCK_Q6_K: usize = 210;

const L = memory.data(QK_K, 16);          // i8 codes 0..63
const SCALES = memory.data(16 * 4, 16);   // f32 sub-block scales
const XT = memory.data(16 * 16, 16);      // transposed 4 sub-blocks
const WT = memory.data(16 * 16, 16);
const BIS = memory.data(16 * 4, 16);     // SIMD path: per sub-block inverse scale of the search
const ZR = memory.data(16 * 4, 16);      // and all-zero flag (codes only where the scale is 0)

/** Scales -> block header, final codes (scalar), packing. */
// (inlined with a constant `simd`, so the _ref path compiles to scalar code only)
// @ts-ignore: decorator
@inline function q6_K_finish(y: usize, x: usize, simd: bool): void {
  let max_scale: f32 = 0;
  let max_abs_scale: f32 = 0;
  for (let ib = 0; ib < 16; ib++) {
    const scale = load<f32>(SCALES + (<usize>ib << 2));
    const abs_scale = abs<f32>(scale);
    if (abs_scale > max_abs_scale) {
      max_abs_scale = abs_scale;
      max_scale = scale;
    }
  }
  if (max_abs_scale < GROUP_MAX_EPS) {
    memory.fill(y, 0, BLOCK_Q6_K);
    store<u16>(y + 208, fp32_to_fp16(0));
    return;
  }
  const iscale: f32 = <f32>-128 / max_scale;
  const dh = fp32_to_fp16(<f32>1 / iscale);
  store<u16>(y + 208, dh);
  for (let ib = 0; ib < 16; ib++) {
    store<i8>(y + 192 + ib, <i8>min<i32>(127, nearest_int_x(iscale * load<f32>(SCALES + (<usize>ib << 2)))));
  }
  const dd = fp16_to_fp32(dh);
  for (let j = 0; j < 16; j++) {
    const d: f32 = dd * <f32>load<i8>(y + 192 + j);
    const xb = x + (<usize>j << 6);
    const Lb = L + (<usize>j << 4);
    if (d == 0) {
      // the search's codes stay (the SIMD search did not write them: make them now)
      if (simd) qx_codes16(Lb, xb, load<f32>(BIS + (<usize>j << 2)), load<i32>(ZR + (<usize>j << 2)) != 0, 32);
      continue;
    }
    requant16(Lb, xb, d, 32, simd);
  }
  if (simd) {
    const m4 = i8x16.splat(0x0F), m3 = i8x16.splat(0x30);
    for (let j: usize = 0; j < 2; j++) {
      const ql = y + (j << 6), qh = y + 128 + (j << 5), Lj = L + (j << 7);
      for (let l: usize = 0; l < 32; l += 16) {
        const a = v128.load(Lj + l), b = v128.load(Lj + l + 32);
        const c = v128.load(Lj + l + 64), e = v128.load(Lj + l + 96);
        v128.store(ql + l, v128.or(v128.and(a, m4), i8x16.shl(v128.and(c, m4), 4)));
        v128.store(ql + l + 32, v128.or(v128.and(b, m4), i8x16.shl(v128.and(e, m4), 4)));
        const h = v128.or(v128.or(i8x16.shr_u(a, 4), i8x16.shr_u(v128.and(b, m3), 2)),
          v128.or(v128.and(c, m3), i8x16.shl(v128.and(e, m3), 2)));
        v128.store(qh + l, h);
      }
    }
  } else {
    for (let j = 0; j < 2; j++) {
      const ql = y + (<usize>j << 6), qh = y + 128 + (<usize>j << 5), Lj = L + (<usize>j << 7);
      for (let l = 0; l < 32; l++) {
        const L0 = <u32>load<u8>(Lj + l), L1 = <u32>load<u8>(Lj + l + 32);
        const L2 = <u32>load<u8>(Lj + l + 64), L3 = <u32>load<u8>(Lj + l + 96);
        store<u8>(ql + l, (L0 & 0xF) | ((L2 & 0xF) << 4));
        store<u8>(ql + l + 32, (L1 & 0xF) | ((L3 & 0xF) << 4));
        store<u8>(qh + l, (L0 >> 4) | ((L1 >> 4) << 2) | ((L2 >> 4) << 4) | ((L3 >> 4) << 6));
      }
    }
  }
}

/** Scalar: one row (n_per_row values, multiple of 256) -> blocks; qw = imatrix row (0 = none). */
function q6_K_row_ref(y: usize, x: usize, n: i32, qw: usize): void {
  const nb = n / QK_K;
  for (let i = 0; i < nb; i++) {
    for (let ib = 0; ib < 16; ib++) {
      const s = make_qx_quants(16, 32, x + (<usize>ib << 6), L + (<usize>ib << 4), 1,
        qw ? qw + (<usize>(QK_K * i + 16 * ib) << 2) : 0);
      store<f32>(SCALES + (<usize>ib << 2), s);
    }
    q6_K_finish(y, x, false);
    x += QK_K << 2;
    y += BLOCK_Q6_K;
  }
}

/** SIMD: the 16 sub-block searches run four at a time (one sub-block per lane). */
function q6_K_row(y: usize, x: usize, n: i32, qw: usize): void {
  const nb = n / QK_K;
  for (let i = 0; i < nb; i++) {
    for (let g = 0; g < 4; g++) {
      const xs = x + (<usize>g << 8);
      for (let r: usize = 0; r < 16; r += 4) transpose4x4(XT + (r << 4), xs + (r << 2), 64);
      let wt: usize = 0;
      if (qw) {
        const ws = qw + (<usize>(QK_K * i + 64 * g) << 2);
        for (let r: usize = 0; r < 16; r += 4) transpose4x4(WT + (r << 4), ws + (r << 2), 64);
        wt = WT;
      }
      v128.store(SCALES + (<usize>g << 4), make_qx_quants_x4(16, 32, XT, wt, 0));
      v128.store(BIS + (<usize>g << 4), qx_bis);
      v128.store(ZR + (<usize>g << 4), qx_zero);
    }
    q6_K_finish(y, x, true);
    x += QK_K << 2;
    y += BLOCK_Q6_K;
  }
}

/** ggml quantize_row_q6_K_ref: k values (multiple of 256). */
export function quantize_row_q6_K_ref(y: usize, x: usize, k: i32): void {
  q6_K_row_ref(y, x, k, 0);
}

/** Chunk API (ggml quantize_q6_K), SIMD. imatrix: n_per_row f32 or 0. Returns bytes written. */
export function quantize_q6_K(y: usize, x: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  const row_size = <usize>(n_per_row / QK_K) * BLOCK_Q6_K;
  // row by row (no i32 overflow of nrows * n_per_row; blocks never straddle rows)
  for (let r = 0; r < nrows; r++) {
    const yr = y + <usize>r * row_size, xr = x + ((<usize>r * <usize>n_per_row) << 2);
    q6_K_row(yr, xr, n_per_row, imatrix);
  }
  return <usize>nrows * row_size;
}

/** Chunk API, scalar twin of quantize_q6_K. */
export function quantize_q6_K_ref(y: usize, x: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  const row_size = <usize>(n_per_row / QK_K) * BLOCK_Q6_K;
  // row by row (no i32 overflow of nrows * n_per_row; blocks never straddle rows)
  for (let r = 0; r < nrows; r++) {
    const yr = y + <usize>r * row_size, xr = x + ((<usize>r * <usize>n_per_row) << 2);
    q6_K_row_ref(yr, xr, n_per_row, imatrix);
  }
  return <usize>nrows * row_size;
}

/** ggml dequantize_row_q6_K, scalar: y = d * scale * (q - 32). */
export function dequantize_row_q6_K_ref(y: usize, x: usize, k: i32): void {
  const nb = k / QK_K;
  for (let i = 0; i < nb; i++) {
    const d = fp16_to_fp32(load<u16>(x + 208));
    let ql = x, qh = x + 128, sc = x + 192;
    for (let n = 0; n < 2; n++) {
      for (let l = 0; l < 32; l++) {
        const is = l >> 4;
        const a = <i32>load<u8>(ql + l), b = <i32>load<u8>(ql + l + 32), h = <i32>load<u8>(qh + l);
        const q1 = ((a & 0xF) | (((h >> 0) & 3) << 4)) - 32;
        const q2 = ((b & 0xF) | (((h >> 2) & 3) << 4)) - 32;
        const q3 = ((a >> 4) | (((h >> 4) & 3) << 4)) - 32;
        const q4 = ((b >> 4) | (((h >> 6) & 3) << 4)) - 32;
        store<f32>(y + (<usize>l << 2), d * <f32>load<i8>(sc + is) * <f32>q1);
        store<f32>(y + (<usize>(l + 32) << 2), d * <f32>load<i8>(sc + is + 2) * <f32>q2);
        store<f32>(y + (<usize>(l + 64) << 2), d * <f32>load<i8>(sc + is + 4) * <f32>q3);
        store<f32>(y + (<usize>(l + 96) << 2), d * <f32>load<i8>(sc + is + 6) * <f32>q4);
      }
      y += 128 << 2;
      ql += 64;
      qh += 32;
      sc += 8;
    }
    x += BLOCK_Q6_K;
  }
}

// @ts-ignore: decorator
@inline function q6_out4(y: usize, q: v128, ds: f32): void {
  // q: 16 x u8 codes (0..63) of one 16-value sub-block; y = (d*sc) * (q - 32)
  const vd = f32x4.splat(ds);
  const off = i16x8.splat(32);
  const lo = i16x8.sub(i16x8.extend_low_i8x16_u(q), off), hi = i16x8.sub(i16x8.extend_high_i8x16_u(q), off);
  v128.store(y, f32x4.mul(vd, f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(lo))));
  v128.store(y, f32x4.mul(vd, f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(lo))), 16);
  v128.store(y, f32x4.mul(vd, f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(hi))), 32);
  v128.store(y, f32x4.mul(vd, f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(hi))), 48);
}

/** ggml dequantize_row_q6_K, SIMD (16 values per step). */
export function dequantize_row_q6_K(y: usize, x: usize, k: i32): void {
  const nb = k / QK_K;
  const m4 = i8x16.splat(0x0F), m3 = i8x16.splat(0x03);
  for (let i = 0; i < nb; i++) {
    const d = fp16_to_fp32(load<u16>(x + 208));
    let ql = x, qh = x + 128, sc = x + 192;
    for (let n = 0; n < 2; n++) {
      for (let l: usize = 0; l < 32; l += 16) {
        const a = v128.load(ql + l), b = v128.load(ql + l + 32), h = v128.load(qh + l);
        const is = l >> 4;
        const q1 = v128.or(v128.and(a, m4), i8x16.shl(v128.and(h, m3), 4));
        const q2 = v128.or(v128.and(b, m4), i8x16.shl(v128.and(i8x16.shr_u(h, 2), m3), 4));
        const q3 = v128.or(i8x16.shr_u(a, 4), i8x16.shl(v128.and(i8x16.shr_u(h, 4), m3), 4));
        const q4 = v128.or(i8x16.shr_u(b, 4), i8x16.shl(i8x16.shr_u(h, 6), 4));
        q6_out4(y + (l << 2), q1, d * <f32>load<i8>(sc + is));
        q6_out4(y + ((l + 32) << 2), q2, d * <f32>load<i8>(sc + is + 2));
        q6_out4(y + ((l + 64) << 2), q3, d * <f32>load<i8>(sc + is + 4));
        q6_out4(y + ((l + 96) << 2), q4, d * <f32>load<i8>(sc + is + 6));
      }
      y += 128 << 2;
      ql += 64;
      qh += 32;
      sc += 8;
    }
    x += BLOCK_Q6_K;
  }
}
