// tq1_0 (ternary, base-3 packing): 256 values -> qs[48] + qh[4] + fp16 d (54 bytes, 1.6875 bpw).
// ggml quantize_row_tq1_0_ref: d = max|x| over the 256-block, id = 1/d (0 if d == 0),
// trit = lroundf(x * id) + 1 (round half away from zero; -1,0,1 -> 0,1,2).
// 5 trits per byte as the base-3 number t0..t4 (t0 most significant), stored as
// ceil(v * 256 / 243) = (v * 256 + 242) / 243:
//   qs[m], m = 0..31: elements m + 32n (n = 0..4)            (elements 0..159)
//   qs[32 + m], m = 0..15: elements 160 + m + 16n              (160..239)
//   qh[j], j = 0..3: 4 trits, elements 240 + j + 4n, times 3  (240..255)
// Non-finite x * id (only when d = max|x| < 2^-128, so 1/d = inf; d is then stored as fp16 0) gives
// trit 1, as x86 ggml does (lroundf -> LONG_MIN, + 1, truncated to int).
// Trit n of byte b decodes as ((b * 3^n) mod 256) * 3 >> 8. Value = (trit - 1) * d.
// imatrix accepted and ignored, as in ggml.
import { fp32_to_fp16, fp16_to_fp32 } from "../inline/f16";
import { absmax256_ref, absmax256, ternary_code, ternary_codes4 } from "../inline/ternary";

// @ts-ignore: decorator
@inline const QK_K: i32 = 256;
// @ts-ignore: decorator
@inline const BLOCK_TQ1_0: usize = 54;

const POW3: usize = memory.data<u8>([1, 3, 9, 27, 81, 243]);

export function quantize_row_tq1_0_ref(y: usize, x: usize, k: i32): void {
  const nb = k / QK_K;
  for (let i = 0; i < nb; i++) {
    const d = absmax256_ref(x);
    const id: f32 = d != 0 ? <f32>1 / d : 0;
    store<u16>(y + 52, fp32_to_fp16(d));
    for (let m = 0; m < 32; m++) {
      let q: u32 = 0;
      for (let n = 0; n < 5; n++) q = ((q * 3) & 0xFF) + ternary_code(x + (<usize>(m + n * 32) << 2), id);
      q &= 0xFF;
      store<u8>(y + m, <u8>((q * 256 + 242) / 243));
    }
    x += 5 * 32 * 4;
    for (let m = 0; m < 16; m++) {
      let q: u32 = 0;
      for (let n = 0; n < 5; n++) q = ((q * 3) & 0xFF) + ternary_code(x + (<usize>(m + n * 16) << 2), id);
      q &= 0xFF;
      store<u8>(y + 32 + m, <u8>((q * 256 + 242) / 243));
    }
    x += 5 * 16 * 4;
    for (let j = 0; j < 4; j++) {
      let q: u32 = 0;
      for (let m = 0; m < 4; m++) q = ((q * 3) & 0xFF) + ternary_code(x + (<usize>(j + m * 4) << 2), id);
      q = (q * 3) & 0xFF;
      store<u8>(y + 48 + j, <u8>((q * 256 + 242) / 243));
    }
    x += 4 * 4 * 4;
    y += BLOCK_TQ1_0;
  }
}

/** ceil(v * 256 / 243) for v in 0..242, per i32 lane: floor(n / 243) = (n * 69043) >> 24 for n < 72005. */
// @ts-ignore: decorator
@inline function ceildiv243(v: v128): v128 {
  const n = i32x4.add(i32x4.shl(v, 8), i32x4.splat(242));
  return i32x4.shr_u(i32x4.mul(n, i32x4.splat(69043)), 24);
}

/** 16 bytes at y: byte m packs the trits of the floats at p + 4 m + n * stride (n = 0..4). */
// @ts-ignore: decorator
@inline function trits5_x16(y: usize, p: usize, stride: usize, vid: v128): void {
  const three = i32x4.splat(3);
  let a0 = ternary_codes4(p, vid), a1 = ternary_codes4(p + 16, vid), a2 = ternary_codes4(p + 32, vid), a3 = ternary_codes4(p + 48, vid);
  for (let n: usize = 1; n < 5; n++) {
    const pn = p + n * stride;
    a0 = i32x4.add(i32x4.mul(a0, three), ternary_codes4(pn, vid));
    a1 = i32x4.add(i32x4.mul(a1, three), ternary_codes4(pn + 16, vid));
    a2 = i32x4.add(i32x4.mul(a2, three), ternary_codes4(pn + 32, vid));
    a3 = i32x4.add(i32x4.mul(a3, three), ternary_codes4(pn + 48, vid));
  }
  v128.store(y, i8x16.narrow_i16x8_u(
    i16x8.narrow_i32x4_u(ceildiv243(a0), ceildiv243(a1)),
    i16x8.narrow_i32x4_u(ceildiv243(a2), ceildiv243(a3))));
}

export function quantize_row_tq1_0(y: usize, x: usize, k: i32): void {
  const nb = k / QK_K;
  for (let i = 0; i < nb; i++) {
    const d = absmax256(x);
    const id: f32 = d != 0 ? <f32>1 / d : 0;
    store<u16>(y + 52, fp32_to_fp16(d));
    const vid = f32x4.splat(id);
    const three = i32x4.splat(3);
    // qs[0..31]: 2 x 16 bytes, elements m + 32 n
    for (let g: usize = 0; g < 32; g += 16) trits5_x16(y + g, x + (g << 2), 128, vid);
    // qs[32..47]: elements 160 + m + 16 n
    trits5_x16(y + 32, x + 160 * 4, 64, vid);
    // qh[0..3]
    {
      const p = x + 240 * 4;
      let a = ternary_codes4(p, vid);
      a = i32x4.add(i32x4.mul(a, three), ternary_codes4(p + 16, vid));
      a = i32x4.add(i32x4.mul(a, three), ternary_codes4(p + 32, vid));
      a = i32x4.add(i32x4.mul(a, three), ternary_codes4(p + 48, vid));
      a = ceildiv243(i32x4.mul(a, three));
      const b = i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_u(a, a), i16x8.narrow_i32x4_u(a, a));
      store<u32>(y + 48, i32x4.extract_lane(b, 0));
    }
    x += <usize>QK_K << 2;
    y += BLOCK_TQ1_0;
  }
}

export function dequantize_row_tq1_0_ref(y: usize, x: usize, k: i32): void {
  const nb = k / QK_K;
  for (let i = 0; i < nb; i++) {
    const d = fp16_to_fp32(load<u16>(x + 52));
    for (let n = 0; n < 5; n++) {
      for (let m = 0; m < 32; m++) {
        const q = (<u32>load<u8>(x + m) * <u32>load<u8>(POW3 + n)) & 0xFF;
        store<f32>(y, <f32>(<i32>((q * 3) >> 8) - 1) * d);
        y += 4;
      }
    }
    for (let n = 0; n < 5; n++) {
      for (let m = 0; m < 16; m++) {
        const q = (<u32>load<u8>(x + 32 + m) * <u32>load<u8>(POW3 + n)) & 0xFF;
        store<f32>(y, <f32>(<i32>((q * 3) >> 8) - 1) * d);
        y += 4;
      }
    }
    for (let n = 0; n < 4; n++) {
      for (let j = 0; j < 4; j++) {
        const q = (<u32>load<u8>(x + 48 + j) * <u32>load<u8>(POW3 + n)) & 0xFF;
        store<f32>(y, <f32>(<i32>((q * 3) >> 8) - 1) * d);
        y += 4;
      }
    }
    x += BLOCK_TQ1_0;
  }
}

/** 8 u16 lanes of bytes -> trit n - 1 as i16 lanes. */
// @ts-ignore: decorator
@inline function trit_i16(b: v128, p3: i32): v128 {
  const q = v128.and(i16x8.mul(b, i16x8.splat(<i16>p3)), i16x8.splat(0xFF));
  return i16x8.sub(i16x8.shr_u(i16x8.mul(q, i16x8.splat(3)), 8), i16x8.splat(1));
}

// @ts-ignore: decorator
@inline function store8(o: usize, t: v128, vd: v128): void {
  v128.store(o, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(t)), vd));
  v128.store(o, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(t)), vd), 16);
}

export function dequantize_row_tq1_0(y: usize, x: usize, k: i32): void {
  const nb = k / QK_K;
  for (let i = 0; i < nb; i++) {
    const vd = f32x4.splat(fp16_to_fp32(load<u16>(x + 52)));
    const q0 = v128.load(x), q1 = v128.load(x + 16), q2 = v128.load(x + 32);
    const b0 = i16x8.extend_low_i8x16_u(q0), b1 = i16x8.extend_high_i8x16_u(q0);
    const b2 = i16x8.extend_low_i8x16_u(q1), b3 = i16x8.extend_high_i8x16_u(q1);
    const b4 = i16x8.extend_low_i8x16_u(q2), b5 = i16x8.extend_high_i8x16_u(q2);
    const bh = i16x8.extend_low_i8x16_u(i32x4.splat(load<u32>(x + 48)));
    let p3 = 1;
    for (let n: usize = 0; n < 5; n++) {
      const o = y + (n << 7);
      store8(o, trit_i16(b0, p3), vd);
      store8(o + 32, trit_i16(b1, p3), vd);
      store8(o + 64, trit_i16(b2, p3), vd);
      store8(o + 96, trit_i16(b3, p3), vd);
      const o2 = y + 640 + (n << 6);
      store8(o2, trit_i16(b4, p3), vd);
      store8(o2 + 32, trit_i16(b5, p3), vd);
      p3 *= 3;
    }
    // qh: elements 240 + 4n + j, n = 0..3: bh lanes 0..3 = qh[0..3]
    const t01 = v128.shuffle<u16>(trit_i16(bh, 1), trit_i16(bh, 3), 0, 1, 2, 3, 8, 9, 10, 11);
    const t23 = v128.shuffle<u16>(trit_i16(bh, 9), trit_i16(bh, 27), 0, 1, 2, 3, 8, 9, 10, 11);
    store8(y + 960, t01, vd);
    store8(y + 992, t23, vd);
    x += BLOCK_TQ1_0;
    y += <usize>QK_K << 2;
  }
}

/** Chunk API (ggml quantize_tq1_0): imatrix accepted and ignored. Returns bytes written. */
export function quantize_tq1_0(y: usize, x: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  quantize_row_tq1_0(y, x, nrows * n_per_row);
  return <usize>nrows * (n_per_row / QK_K) * BLOCK_TQ1_0;
}
export function quantize_tq1_0_ref(y: usize, x: usize, nrows: i32, n_per_row: i32, imatrix: usize): usize {
  quantize_row_tq1_0_ref(y, x, nrows * n_per_row);
  return <usize>nrows * (n_per_row / QK_K) * BLOCK_TQ1_0;
}
