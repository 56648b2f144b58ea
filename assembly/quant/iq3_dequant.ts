// Dequantization of iq3_xxs (98 bytes per 256 values) and iq3_s (110 bytes), scalar (ggml's
// dequantize_row_iq3_xxs / _s) and SIMD twins (bit-identical: the same f32 products). Layouts in iq3.ts.
import { fp16_to_fp32 } from "../inline/f16";
import { iq_grid_table, IQG_3XXS, IQG_3S } from "./iq_grids";

// @ts-ignore: decorator
@inline const QK_K: i32 = 256;

// @ts-ignore: decorator
@inline function ksign_mask(c: u32): u32 {
  return c | ((popcnt<u32>(c) & 1) << 7);
}

/** ggml dequantize_row_iq3_xxs (scalar): k values (multiple of 256). */
export function dequantize_row_iq3_xxs_ref(y: usize, x: usize, k: i32): void {
  const dq = iq_grid_table(IQG_3XXS, 0);
  const nb = k / QK_K;
  for (let i = 0; i < nb; i++) {
    const d = fp16_to_fp32(load<u16>(x));
    for (let ib = 0; ib < 8; ib++) {
      const a = load<u32>(x + 2 + 64 + (<usize>ib << 2));
      const db: f32 = d * (<f32>0.5 + <f32>(a >> 28)) * <f32>0.5;
      for (let l = 0; l < 4; l++) {
        const signs = ksign_mask((a >> (7 * l)) & 127);
        for (let h = 0; h < 2; h++) {
          const g = dq + (<usize>load<u8>(x + 2 + (<usize>(8 * ib + 2 * l + h))) << 2);
          for (let j = 0; j < 4; j++) {
            const v: f32 = db * <f32>load<u8>(g + j);
            store<f32>(y + (<usize>(4 * h + j) << 2), (signs >> (4 * h + j)) & 1 ? -v : v);
          }
        }
        y += 32;
      }
    }
    x += 98;
  }
}

/** ggml dequantize_row_iq3_s (scalar). */
export function dequantize_row_iq3_s_ref(y: usize, x: usize, k: i32): void {
  const dq = iq_grid_table(IQG_3S, 0);
  const nb = k / QK_K;
  for (let i = 0; i < nb; i++) {
    const d = fp16_to_fp32(load<u16>(x));
    for (let ib = 0; ib < 8; ib++) {
      const s = (<i32>load<u8>(x + 106 + (ib >> 1)) >> (4 * (ib & 1))) & 15;
      const s21: i32 = s * 2 + 1;
      const db: f32 = d * <f32>s21;
      const qh = <i32>load<u8>(x + 66 + ib);
      for (let l = 0; l < 4; l++) {
        const signs = <u32>load<u8>(x + 74 + (<usize>(4 * ib + l)));
        for (let h = 0; h < 2; h++) {
          const idx = <i32>load<u8>(x + 2 + (<usize>(8 * ib + 2 * l + h))) | (((qh >> (2 * l + h)) & 1) << 8);
          const g = dq + (<usize>idx << 2);
          for (let j = 0; j < 4; j++) {
            const v: f32 = db * <f32>load<u8>(g + j);
            store<f32>(y + (<usize>(4 * h + j) << 2), (signs >> (4 * h + j)) & 1 ? -v : v);
          }
        }
        y += 32;
      }
    }
    x += 110;
  }
}

/** 8 values of one group (two 4-byte grid entries g0, g1), scaled by db, signs bits 0..7 of sm. */
// @ts-ignore: decorator
@inline function store8(y: usize, g0: usize, g1: usize, db: f32, sm: u32): void {
  const vd = f32x4.splat(db);
  const q0 = f32x4.convert_i32x4_u(i32x4.extend_low_i16x8_u(i16x8.extend_low_i8x16_u(v128.load32_zero(g0))));
  const q1 = f32x4.convert_i32x4_u(i32x4.extend_low_i16x8_u(i16x8.extend_low_i8x16_u(v128.load32_zero(g1))));
  const bits = i32x4(1, 2, 4, 8);
  const s0 = i32x4.eq(v128.and(i32x4.splat(sm), bits), bits);
  const s1 = i32x4.eq(v128.and(i32x4.splat(sm >> 4), bits), bits);
  const v0 = f32x4.mul(vd, q0), v1 = f32x4.mul(vd, q1);
  v128.store(y, v128.bitselect(f32x4.neg(v0), v0, s0));
  v128.store(y, v128.bitselect(f32x4.neg(v1), v1, s1), 16);
}

/** ggml dequantize_row_iq3_xxs, SIMD; bit-identical to _ref. */
export function dequantize_row_iq3_xxs(y: usize, x: usize, k: i32): void {
  const dq = iq_grid_table(IQG_3XXS, 0);
  const nb = k / QK_K;
  for (let i = 0; i < nb; i++) {
    const d = fp16_to_fp32(load<u16>(x));
    for (let ib = 0; ib < 8; ib++) {
      const a = load<u32>(x + 2 + 64 + (<usize>ib << 2));
      const db: f32 = d * (<f32>0.5 + <f32>(a >> 28)) * <f32>0.5;
      const q = x + 2 + (<usize>ib << 3);
      for (let l = 0; l < 4; l++) {
        store8(y, dq + (<usize>load<u8>(q + 2 * l) << 2), dq + (<usize>load<u8>(q + 2 * l + 1) << 2), db, ksign_mask((a >> (7 * l)) & 127));
        y += 32;
      }
    }
    x += 98;
  }
}

/** ggml dequantize_row_iq3_s, SIMD; bit-identical to _ref. */
export function dequantize_row_iq3_s(y: usize, x: usize, k: i32): void {
  const dq = iq_grid_table(IQG_3S, 0);
  const nb = k / QK_K;
  for (let i = 0; i < nb; i++) {
    const d = fp16_to_fp32(load<u16>(x));
    for (let ib = 0; ib < 8; ib++) {
      const s = (<i32>load<u8>(x + 106 + (ib >> 1)) >> (4 * (ib & 1))) & 15;
      const s21: i32 = s * 2 + 1;
      const db: f32 = d * <f32>s21;
      const qh = <i32>load<u8>(x + 66 + ib);
      const q = x + 2 + (<usize>ib << 3);
      for (let l = 0; l < 4; l++) {
        const i0 = <i32>load<u8>(q + 2 * l) | (((qh >> (2 * l)) & 1) << 8);
        const i1 = <i32>load<u8>(q + 2 * l + 1) | (((qh >> (2 * l + 1)) & 1) << 8);
        store8(y, dq + (<usize>i0 << 2), dq + (<usize>i1 << 2), db, <u32>load<u8>(x + 74 + (<usize>(4 * ib + l))));
        y += 32;
      }
    }
    x += 110;
  }
}
