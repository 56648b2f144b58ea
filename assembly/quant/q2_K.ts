// q2_K: 256 values -> 16 x (4-bit scale, 4-bit min) bytes, 64 bytes of 2-bit quants, fp16 d,
// fp16 dmin (84 bytes, 2.625 bits per weight). Bit-identical with ggml quantize_row_q2_K_ref
// (imatrix = 0) and quantize_row_q2_K_impl (imatrix given).
import { fp32_to_fp16, fp16_to_fp32 } from "../inline/f16";
import { nearest_int_g, nearest_int_g4, clamp0_i32x4 } from "../inline/asym";
import { make_qkx2_quants, make_qp_quants, qk_the_min } from "./common_asym";
import { q2_ref_search_x4, q2_impl_search_x4 } from "./common_asym_simd";

// @ts-ignore: decorator
@inline const QK_K: i32 = 256;
// @ts-ignore: decorator
@inline const BLOCK_Q2_K: usize = 84;

// Scratch: weights f32[16] @0, Laux u8[16] @128, scales f32[16] @160, mins f32[16] @224,
// Ls u8[16] @288, Lm u8[16] @304, sw f32[16] @320.
const L_BUF = memory.data(256, 16);
const SCRATCH = memory.data(512, 16);

// @ts-ignore: decorator
@inline function pack_q2_K(y: usize, L: usize, simd: bool): void {
  if (simd) {
    for (let j: usize = 0; j < 256; j += 128) {
      const q = y + 16 + (j >> 2);
      for (let l: usize = 0; l < 32; l += 16) {
        const p = L + j + l;
        v128.store(q + l, v128.or(v128.or(v128.load(p), i8x16.shl(v128.load(p, 32), 2)),
          v128.or(i8x16.shl(v128.load(p, 64), 4), i8x16.shl(v128.load(p, 96), 6))));
      }
    }
    return;
  }
  for (let j = 0; j < 256; j += 128) {
    const q = y + 16 + (j >> 2);
    for (let l = 0; l < 32; l++) {
      store<u8>(q + l, load<u8>(L + j + l) | (load<u8>(L + j + l + 32) << 2) |
        (load<u8>(L + j + l + 64) << 4) | (load<u8>(L + j + l + 96) << 6));
    }
  }
}

/** Final requantization from the stored fp16 d/dmin and the 4-bit codes (ggml's last pass). */
function q2_requant(y: usize, x: usize, L: usize): void {
  const dd = fp16_to_fp32(load<u16>(y, 80));
  const dmn = fp16_to_fp32(load<u16>(y, 82));
  for (let j = 0; j < 16; j++) {
    const sc = <u32>load<u8>(y + j);
    const d: f32 = dd * <f32>(sc & 0xF);
    if (d == 0) continue;
    const dm: f32 = dmn * <f32>(sc >> 4);
    const xj = x + (<usize>j << 6);
    const Lj = L + (<usize>j << 4);
    for (let ii = 0; ii < 16; ii++) {
      let l = nearest_int_g((load<f32>(xj + (<usize>ii << 2)) + dm) / d);
      l = max<i32>(0, min<i32>(3, l));
      store<u8>(Lj + ii, <u8>l);
    }
  }
}

/** q2_requant, 4 values per step (same arithmetic per element). */
function q2_requant_x4(y: usize, x: usize, L: usize): void {
  const dd = fp16_to_fp32(load<u16>(y, 80));
  const dmn = fp16_to_fp32(load<u16>(y, 82));
  const three = i32x4.splat(3);
  for (let j = 0; j < 16; j++) {
    const sc = <u32>load<u8>(y + j);
    const d: f32 = dd * <f32>(sc & 0xF);
    if (d == 0) continue;
    const dm: f32 = dmn * <f32>(sc >> 4);
    const vd = f32x4.splat(d), vdm = f32x4.splat(dm);
    const xj = x + (<usize>j << 6);
    const l0 = clamp0_i32x4(nearest_int_g4(f32x4.div(f32x4.add(v128.load(xj, 0), vdm), vd)), three);
    const l1 = clamp0_i32x4(nearest_int_g4(f32x4.div(f32x4.add(v128.load(xj, 16), vdm), vd)), three);
    const l2 = clamp0_i32x4(nearest_int_g4(f32x4.div(f32x4.add(v128.load(xj, 32), vdm), vd)), three);
    const l3 = clamp0_i32x4(nearest_int_g4(f32x4.div(f32x4.add(v128.load(xj, 48), vdm), vd)), three);
    v128.store(L + (<usize>j << 4), i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_s(l0, l1), i16x8.narrow_i32x4_s(l2, l3)));
  }
}

/** quantize_row_q2_K_ref after the 16 group searches (scales @S+160, mins @S+224). */
function q2_ref_post(y: usize, x: usize, L: usize, S: usize, simd: bool): void {
  let max_scale: f32 = 0, max_min: f32 = 0;
  for (let j = 0; j < 16; j++) {
    const sc = load<f32>(S + 160 + (<usize>j << 2));
    if (sc > max_scale) max_scale = sc;
    const mn = load<f32>(S + 224 + (<usize>j << 2));
    if (mn > max_min) max_min = mn;
  }
  const q4scale: f32 = 15;
  if (max_scale > 0) {
    const iscale: f32 = q4scale / max_scale;
    for (let j = 0; j < 16; j++) store<u8>(y + j, <u8>nearest_int_g(iscale * load<f32>(S + 160 + (<usize>j << 2))));
    store<u16>(y, fp32_to_fp16(max_scale / q4scale), 80);
  } else {
    for (let j = 0; j < 16; j++) store<u8>(y + j, 0);
    store<u16>(y, fp32_to_fp16(0), 80);
  }
  if (max_min > 0) {
    const iscale: f32 = q4scale / max_min;
    for (let j = 0; j < 16; j++) {
      const l = nearest_int_g(iscale * load<f32>(S + 224 + (<usize>j << 2)));
      store<u8>(y + j, <u8>(<i32>load<u8>(y + j) | (l << 4)));
    }
    store<u16>(y, fp32_to_fp16(max_min / q4scale), 82);
  } else {
    store<u16>(y, fp32_to_fp16(0), 82);
  }
  if (simd) q2_requant_x4(y, x, L);
  else q2_requant(y, x, L);
}

/** quantize_row_q2_K_impl after the 16 group searches (scales @S+160, mins @S+224, sw @S+320). */
function q2_impl_post(y: usize, x: usize, L: usize, S: usize, simd: bool): void {
  const dm = make_qp_quants(16, 15, S + 160, S + 288, S + 320);
  const mm = make_qp_quants(16, 15, S + 224, S + 304, S + 320);
  store<u16>(y, fp32_to_fp16(dm), 80);
  store<u16>(y, fp32_to_fp16(mm), 82);
  for (let j = 0; j < 16; j++) {
    store<u8>(y + j, <u8>(<u32>load<u8>(S + 288 + j) | (<u32>load<u8>(S + 304 + j) << 4)));
  }
  if (simd) q2_requant_x4(y, x, L);
  else q2_requant(y, x, L);
}

function q2_ref_search(x: usize, L: usize, S: usize): void {
  for (let j = 0; j < 16; j++) {
    const xj = x + (<usize>j << 6);
    for (let l = 0; l < 16; l++) store<f32>(S + (<usize>l << 2), abs<f32>(load<f32>(xj + (<usize>l << 2))));
    const sc = make_qkx2_quants(16, 3, xj, S, L + (<usize>j << 4), S + 128, <f32>-0.5, <f32>0.1, 15, true);
    store<f32>(S + 160 + (<usize>j << 2), sc);
    store<f32>(S + 224 + (<usize>j << 2), qk_the_min);
  }
}

function q2_impl_search(x: usize, qw: usize, L: usize, S: usize): void {
  let sumx2: f32 = 0;
  for (let j = 0; j < 256; j++) {
    const v = load<f32>(x + (<usize>j << 2));
    sumx2 += v * v;
  }
  const sigma2: f32 = sumx2 / <f32>256;
  for (let j = 0; j < 16; j++) {
    const xj = x + (<usize>j << 6);
    const qj = qw + (<usize>j << 6);
    for (let l = 0; l < 16; l++) {
      const v = load<f32>(xj + (<usize>l << 2));
      store<f32>(S + (<usize>l << 2), load<f32>(qj + (<usize>l << 2)) * sqrt<f32>(sigma2 + v * v));
    }
    let sw: f32 = 0;
    for (let l = 0; l < 16; l++) sw += load<f32>(S + (<usize>l << 2));
    store<f32>(S + 320 + (<usize>j << 2), sw);
    const sc = make_qkx2_quants(16, 3, xj, S, L + (<usize>j << 4), S + 128, <f32>-0.9, <f32>0.05, 36, false);
    store<f32>(S + 160 + (<usize>j << 2), sc);
    store<f32>(S + 224 + (<usize>j << 2), qk_the_min);
  }
}

/** Scalar reference (ggml quantize_q2_K chunk API, out first). imatrix: 0 or n_per_row f32. Returns bytes written. */
export function quantize_q2_K_ref(dst: usize, src: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  const nb = n_per_row / QK_K;
  let x = src, y = dst;
  for (let r = 0; r < nrows; r++) {
    for (let i = 0; i < nb; i++) {
      if (imatrix) {
        q2_impl_search(x, imatrix + (<usize>i << 10), L_BUF, SCRATCH);
        q2_impl_post(y, x, L_BUF, SCRATCH, false);
      } else {
        q2_ref_search(x, L_BUF, SCRATCH);
        q2_ref_post(y, x, L_BUF, SCRATCH, false);
      }
      pack_q2_K(y, L_BUF, false);
      x += QK_K << 2;
      y += BLOCK_Q2_K;
    }
  }
  return <usize>nrows * <usize>nb * BLOCK_Q2_K;
}

/** SIMD kernel: the 16 group searches run one group per lane, 8 at a time. Bit-identical to quantize_q2_K_ref. */
export function quantize_q2_K(dst: usize, src: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  const nb = n_per_row / QK_K;
  let x = src, y = dst;
  for (let r = 0; r < nrows; r++) {
    for (let i = 0; i < nb; i++) {
      if (imatrix) {
        q2_impl_search_x4(x, imatrix + (<usize>i << 10), L_BUF, SCRATCH);
        q2_impl_post(y, x, L_BUF, SCRATCH, true);
      } else {
        q2_ref_search_x4(x, L_BUF, SCRATCH);
        q2_ref_post(y, x, L_BUF, SCRATCH, true);
      }
      pack_q2_K(y, L_BUF, true);
      x += QK_K << 2;
      y += BLOCK_Q2_K;
    }
  }
  return <usize>nrows * <usize>nb * BLOCK_Q2_K;
}

/** Scalar dequantizer (ggml dequantize_row_q2_K): k values (multiple of 256) from k/256 blocks of 84 bytes, x = (d * sc) * q - dmin * m per 16-value group. */
export function dequantize_row_q2_K_ref(dst: usize, src: usize, k: i32): void {
  const nb = k / QK_K;
  let y = dst, x = src;
  for (let i = 0; i < nb; i++) {
    const d = fp16_to_fp32(load<u16>(x, 80));
    const mn = fp16_to_fp32(load<u16>(x, 82));
    let is = 0;
    for (let n = 0; n < 2; n++) {
      const q = x + 16 + (<usize>n << 5);
      for (let shift: u32 = 0; shift < 8; shift += 2) {
        let sc = <u32>load<u8>(x + is++);
        let dl: f32 = d * <f32>(sc & 0xF), ml: f32 = mn * <f32>(sc >> 4);
        for (let l = 0; l < 16; l++) {
          store<f32>(y, dl * <f32>((<u32>load<u8>(q + l) >> shift) & 3) - ml);
          y += 4;
        }
        sc = <u32>load<u8>(x + is++);
        dl = d * <f32>(sc & 0xF); ml = mn * <f32>(sc >> 4);
        for (let l = 0; l < 16; l++) {
          store<f32>(y, dl * <f32>((<u32>load<u8>(q + l + 16) >> shift) & 3) - ml);
          y += 4;
        }
      }
    }
    x += BLOCK_Q2_K;
  }
}

/** SIMD dequantizer, bit-identical to dequantize_row_q2_K_ref (k values, multiple of 256). */
export function dequantize_row_q2_K(dst: usize, src: usize, k: i32): void {
  const nb = k / QK_K;
  let y = dst, x = src;
  const m3 = i8x16.splat(3);
  for (let i = 0; i < nb; i++) {
    const d = fp16_to_fp32(load<u16>(x, 80));
    const mn = fp16_to_fp32(load<u16>(x, 82));
    let is = 0;
    for (let n = 0; n < 2; n++) {
      const q = x + 16 + (<usize>n << 5);
      for (let shift: u32 = 0; shift < 8; shift += 2) {
        for (let h: usize = 0; h < 2; h++) {
          const sc = <u32>load<u8>(x + is++);
          const dl = f32x4.splat(d * <f32>(sc & 0xF)), ml = f32x4.splat(mn * <f32>(sc >> 4));
          const b = v128.and(i8x16.shr_u(v128.load(q + (h << 4)), shift), m3);
          const a = i16x8.extend_low_i8x16_u(b), c = i16x8.extend_high_i8x16_u(b);
          v128.store(y, f32x4.sub(f32x4.mul(dl, f32x4.convert_i32x4_u(i32x4.extend_low_i16x8_u(a))), ml), 0);
          v128.store(y, f32x4.sub(f32x4.mul(dl, f32x4.convert_i32x4_u(i32x4.extend_high_i16x8_u(a))), ml), 16);
          v128.store(y, f32x4.sub(f32x4.mul(dl, f32x4.convert_i32x4_u(i32x4.extend_low_i16x8_u(c))), ml), 32);
          v128.store(y, f32x4.sub(f32x4.mul(dl, f32x4.convert_i32x4_u(i32x4.extend_high_i16x8_u(c))), ml), 48);
          y += 64;
        }
      }
    }
    x += BLOCK_Q2_K;
  }
}
