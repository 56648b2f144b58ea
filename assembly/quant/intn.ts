// Round-to-nearest intN (N = 2..8), symmetric or asymmetric, per tensor / per row / per group.
// Not tied to GGUF.
//
// Shapes: a row-major matrix rows x cols. `group` = number of consecutive values of a row sharing
// one scale; it must divide cols (group = cols: per row). group = 0: per tensor (one scale for all
// rows of the call). Scale index of (row r, group g) = r * (cols / group) + g (0 for per tensor).
//
// Parameters per group (all float32; mn/mx = min/max of the group):
//   symmetric:  qmax = 2^(N-1) - 1; d = max(|mn|, |mx|) / qmax; id = d != 0 ? 1/d : 0;
//               q = clamp(round_half_even(x * id), -qmax, qmax); stored code = q + 2^(N-1)
//               (offset binary, 1 .. 2^N - 1; code 0 is unused); value = (code - 2^(N-1)) * d.
//   asymmetric: maxq = 2^N - 1; lo = min(mn, 0), hi = max(mx, 0) (the range always contains 0,
//               so 0 is exact, as in GPTQ); d = (hi - lo) / maxq; id = d != 0 ? 1/d : 0;
//               zero z = clamp(round_half_even(-lo * id), 0, maxq) (an integer, stored as u8);
//               code = clamp(round_half_even(x * id) + z, 0, maxq); value = (code - z) * d.
//   round_half_even = f32.nearest; x * id is one float32 multiply by the float32 reciprocal.
//   Inputs must be finite with |x| < 1.7e38 (the facade validates).
//
// Packed layout:
//   codes:  each row is a little-endian bit stream: code i of the row occupies bits i*N .. i*N+N-1,
//           where stream bit b is bit (b mod 8) of byte floor(b / 8) (LSB first). Rows are padded
//           to whole bytes: rowBytes = ceil(cols * N / 8); padding bits are 0. Rows concatenated.
//   scales: float32 array d, one per (row, group) in the order above (1 value per tensor).
//   zeros:  uint8 array z, same indexing, asymmetric only.
//
// flags: bit 0 = asymmetric; bit 1 = parameters given (scales / zeros are read, not computed:
//   lets a caller stream rows of a per-tensor quantization after computing global parameters with
//   gq_minmax + gq_intn_params).
// Kernels (SIMD and scalar _ref twins, bit-identical):
//   gq_quantize_intn(dst, scales, zeros, src, rows, cols, bits, group, flags) -> bytes written
//   gq_dequantize_intn(dst_f32, src, scales, zeros, rows, cols, bits, group, flags)
//   gq_minmax(out2_f32, src, n): out[0] = min, out[1] = max (0, 0 for n = 0)
//   gq_intn_params(scales, zeros, mn, mx, bits, flags): the parameters of one group from its min/max

const CODES: usize = memory.data(64, 16); // 16 x i32 scratch

/** Writes d (and z) for a group with minimum mn and maximum mx. */
export function gq_intn_params(sp: usize, zp: usize, mn: f32, mx: f32, bits: i32, flags: i32): void {
  if (flags & 1) {
    const maxq = <f32>((1 << bits) - 1);
    const lo = min<f32>(mn, 0), hi = max<f32>(mx, 0);
    const d = (hi - lo) / maxq;
    const id: f32 = d != 0 ? <f32>1 / d : 0;
    const z = min<f32>(max<f32>(nearest<f32>(-lo * id), 0), maxq);
    store<f32>(sp, d);
    store<u8>(zp, <u8><i32>z);
  } else {
    const qmax = <f32>((1 << (bits - 1)) - 1);
    store<f32>(sp, max<f32>(abs<f32>(mn), abs<f32>(mx)) / qmax);
  }
}

export function gq_minmax_ref(out: usize, src: usize, n: i32): void {
  let mn: f32 = n > 0 ? load<f32>(src) : 0, mx: f32 = mn;
  for (let i = 1; i < n; i++) {
    const v = load<f32>(src + (<usize>i << 2));
    mn = min<f32>(mn, v); mx = max<f32>(mx, v);
  }
  store<f32>(out, mn);
  store<f32>(out, mx, 4);
}

export function gq_minmax(out: usize, src: usize, n: i32): void {
  if (n < 8) { gq_minmax_ref(out, src, n); return; }
  let vmn = v128.load(src), vmx = vmn;
  let i = 4;
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(src + (<usize>i << 2));
    vmn = f32x4.min(vmn, v); vmx = f32x4.max(vmx, v);
  }
  vmn = f32x4.min(vmn, v128.shuffle<u32>(vmn, vmn, 2, 3, 0, 1));
  vmn = f32x4.min(vmn, v128.shuffle<u32>(vmn, vmn, 1, 0, 3, 2));
  vmx = f32x4.max(vmx, v128.shuffle<u32>(vmx, vmx, 2, 3, 0, 1));
  vmx = f32x4.max(vmx, v128.shuffle<u32>(vmx, vmx, 1, 0, 3, 2));
  let mn = f32x4.extract_lane(vmn, 0), mx = f32x4.extract_lane(vmx, 0);
  for (; i < n; i++) {
    const v = load<f32>(src + (<usize>i << 2));
    mn = min<f32>(mn, v); mx = max<f32>(mx, v);
  }
  store<f32>(out, mn);
  store<f32>(out, mx, 4);
}

// min/max are exact and order-independent, so gq_minmax and gq_minmax_ref agree bit for bit
// (f32.min/f32.max and f32x4.min/max share the IEEE 754-2019 minimum/maximum semantics, -0 < +0).

const MM: usize = memory.data(8, 8);

// @ts-ignore: decorator
@inline function code_sym(x: f32, id: f32, qmax: f32, off: i32): u32 {
  return <u32>(<i32>min<f32>(max<f32>(nearest<f32>(x * id), -qmax), qmax) + off);
}
// @ts-ignore: decorator
@inline function code_asym(x: f32, id: f32, zf: f32, maxq: f32): u32 {
  return <u32><i32>min<f32>(max<f32>(nearest<f32>(x * id) + zf, 0), maxq);
}

/** Shared driver. simd = false: plain scalar code path (the _ref twin). */
// @ts-ignore: decorator
@inline function quantize_impl(dst: usize, scales: usize, zeros: usize, src: usize, rows: i32, cols: i32,
                               bits: i32, group: i32, flags: i32, simd: bool): usize {
  const asym = (flags & 1) != 0, given = (flags & 2) != 0;
  const G = group > 0 ? group : cols;
  const ng = cols / G;
  const rowBytes = <usize>((<i64>cols * bits + 7) >> 3);
  const mask: u64 = (<u64>1 << bits) - 1;
  if (group == 0 && !given) {
    if (simd) gq_minmax(MM, src, rows * cols); else gq_minmax_ref(MM, src, rows * cols);
    gq_intn_params(scales, zeros, load<f32>(MM), load<f32>(MM, 4), bits, flags);
  }
  const qmax = <f32>((1 << (bits - 1)) - 1);
  const off = 1 << (bits - 1);
  const maxq = <f32>((1 << bits) - 1);
  for (let r = 0; r < rows; r++) {
    const xr = src + (<usize>r * <usize>cols << 2);
    const yr = dst + <usize>r * rowBytes;
    let acc: u64 = 0, nb: i32 = 0;
    let pos: usize = 0; // bytes written in this row
    for (let g = 0; g < ng; g++) {
      const xg = xr + (<usize>(g * G) << 2);
      const pidx: usize = group > 0 ? <usize>(r * ng + g) : 0;
      if (group > 0 && !given) {
        if (simd) gq_minmax(MM, xg, G); else gq_minmax_ref(MM, xg, G);
        gq_intn_params(scales + (pidx << 2), zeros + pidx, load<f32>(MM), load<f32>(MM, 4), bits, flags);
      }
      const d = load<f32>(scales + (pidx << 2));
      const id: f32 = d != 0 ? <f32>1 / d : 0;
      const zf: f32 = asym ? <f32>load<u8>(zeros + pidx) : 0;
      let i = 0;
      if (simd) {
        const vid = f32x4.splat(id), vz = f32x4.splat(zf);
        const vqmax = f32x4.splat(qmax), vnqmax = f32x4.splat(-qmax), vmaxq = f32x4.splat(maxq), v0 = f32x4.splat(0);
        const voff = i32x4.splat(off);
        while (i < G) {
          const e = g * G + i;
          if ((e & 7) == 0 && G - i >= 16) {
            // 16 codes at a byte-aligned bit position (nb == 0 here)
            for (let k: usize = 0; k < 4; k++) {
              const v = f32x4.mul(v128.load(xg + (<usize>(i + 4 * <i32>k) << 2)), vid);
              let c: v128;
              if (asym) c = i32x4.trunc_sat_f32x4_s(f32x4.min(f32x4.max(f32x4.add(f32x4.nearest(v), vz), v0), vmaxq));
              else c = i32x4.add(i32x4.trunc_sat_f32x4_s(f32x4.min(f32x4.max(f32x4.nearest(v), vnqmax), vqmax)), voff);
              v128.store(CODES + (k << 4), c);
            }
            const o = yr + pos;
            if (bits == 8) {
              v128.store(o, i8x16.narrow_i16x8_u(
                i16x8.narrow_i32x4_u(v128.load(CODES), v128.load(CODES, 16)),
                i16x8.narrow_i32x4_u(v128.load(CODES, 32), v128.load(CODES, 48))));
            } else if (bits == 4) {
              const c = i8x16.narrow_i16x8_u(
                i16x8.narrow_i32x4_u(v128.load(CODES), v128.load(CODES, 16)),
                i16x8.narrow_i32x4_u(v128.load(CODES, 32), v128.load(CODES, 48)));
              const w = v128.and(v128.or(c, i16x8.shr_u(c, 4)), i16x8.splat(0xFF));
              store<u64>(o, i64x2.extract_lane(i8x16.narrow_i16x8_u(w, w), 0));
            } else if (bits == 2) {
              const c = i8x16.narrow_i16x8_u(
                i16x8.narrow_i32x4_u(v128.load(CODES), v128.load(CODES, 16)),
                i16x8.narrow_i32x4_u(v128.load(CODES, 32), v128.load(CODES, 48)));
              const t = v128.or(c, i32x4.shr_u(c, 6));
              const u = v128.and(v128.or(t, i32x4.shr_u(t, 12)), i32x4.splat(0xFF));
              const b = i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_u(u, u), i16x8.narrow_i32x4_u(u, u));
              store<u32>(o, i32x4.extract_lane(b, 0));
            } else {
              for (let h: usize = 0; h < 2; h++) {
                let w: u64 = 0;
                for (let k: usize = 0; k < 8; k++) w |= <u64>load<u32>(CODES + ((h * 8 + k) << 2)) << (<u64>k * <u64>bits);
                const oh = o + h * <usize>bits;
                for (let k: usize = 0; k < <usize>bits; k++) store<u8>(oh + k, <u8>(w >> (k << 3)));
              }
            }
            pos += <usize>(2 * bits);
            i += 16;
          } else {
            const x = load<f32>(xg + (<usize>i << 2));
            const c = asym ? code_asym(x, id, zf, maxq) : code_sym(x, id, qmax, off);
            acc |= (<u64>c & mask) << <u64>nb;
            nb += bits;
            while (nb >= 8) { store<u8>(yr + pos, <u8>acc); pos++; acc >>= 8; nb -= 8; }
            i++;
          }
        }
      } else {
        for (; i < G; i++) {
          const x = load<f32>(xg + (<usize>i << 2));
          const c = asym ? code_asym(x, id, zf, maxq) : code_sym(x, id, qmax, off);
          acc |= (<u64>c & mask) << <u64>nb;
          nb += bits;
          while (nb >= 8) { store<u8>(yr + pos, <u8>acc); pos++; acc >>= 8; nb -= 8; }
        }
      }
    }
    if (nb > 0) store<u8>(yr + pos, <u8>acc);
  }
  return <usize>rows * rowBytes;
}

export function gq_quantize_intn_ref(dst: usize, scales: usize, zeros: usize, src: usize, rows: i32, cols: i32,
                                     bits: i32, group: i32, flags: i32): usize {
  return quantize_impl(dst, scales, zeros, src, rows, cols, bits, group, flags, false);
}

export function gq_quantize_intn(dst: usize, scales: usize, zeros: usize, src: usize, rows: i32, cols: i32,
                                 bits: i32, group: i32, flags: i32): usize {
  return quantize_impl(dst, scales, zeros, src, rows, cols, bits, group, flags, true);
}

/** Code of element i (0-based) of a packed row. */
// @ts-ignore: decorator
@inline function read_code(row: usize, i: i32, bits: i32): u32 {
  const bp = <usize>i * <usize>bits;
  const p = row + (bp >> 3), sh = <u32>(bp & 7);
  let v = <u32>load<u8>(p);
  if (sh + <u32>bits > 8) v |= <u32>load<u8>(p + 1) << 8;
  return (v >> sh) & ((1 << bits) - 1);
}

// @ts-ignore: decorator
@inline function dequantize_impl(dst: usize, src: usize, scales: usize, zeros: usize, rows: i32, cols: i32,
                                 bits: i32, group: i32, flags: i32, simd: bool): void {
  const asym = (flags & 1) != 0;
  const G = group > 0 ? group : cols;
  const ng = cols / G;
  const rowBytes = <usize>((<i64>cols * bits + 7) >> 3);
  const off = 1 << (bits - 1);
  for (let r = 0; r < rows; r++) {
    const qr = src + <usize>r * rowBytes;
    const yr = dst + (<usize>r * <usize>cols << 2);
    for (let g = 0; g < ng; g++) {
      const pidx: usize = group > 0 ? <usize>(r * ng + g) : 0;
      const d = load<f32>(scales + (pidx << 2));
      const z: i32 = asym ? <i32>load<u8>(zeros + pidx) : off;
      const yg = yr + (<usize>(g * G) << 2);
      let i = 0;
      if (simd) {
        const vd = f32x4.splat(d), vz = i32x4.splat(z);
        while (i < G) {
          const e = g * G + i;
          if ((e & 7) == 0 && G - i >= 16) {
            const p = qr + ((<usize>e * <usize>bits) >> 3);
            let c0: v128, c1: v128, c2: v128, c3: v128;
            if (bits == 8) {
              const q = v128.load(p);
              const lo = i16x8.extend_low_i8x16_u(q), hi = i16x8.extend_high_i8x16_u(q);
              c0 = i32x4.extend_low_i16x8_u(lo); c1 = i32x4.extend_high_i16x8_u(lo);
              c2 = i32x4.extend_low_i16x8_u(hi); c3 = i32x4.extend_high_i16x8_u(hi);
            } else if (bits == 4) {
              const q = v128.load64_zero(p);
              const c = i8x16.shuffle(v128.and(q, i8x16.splat(15)), i8x16.shr_u(q, 4),
                0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
              const lo = i16x8.extend_low_i8x16_u(c), hi = i16x8.extend_high_i8x16_u(c);
              c0 = i32x4.extend_low_i16x8_u(lo); c1 = i32x4.extend_high_i16x8_u(lo);
              c2 = i32x4.extend_low_i16x8_u(hi); c3 = i32x4.extend_high_i16x8_u(hi);
            } else {
              for (let h: usize = 0; h < 2; h++) {
                let w: u64 = 0;
                const ph = p + h * <usize>bits;
                for (let k: usize = 0; k < <usize>bits; k++) w |= <u64>load<u8>(ph + k) << (k << 3);
                const m: u64 = (<u64>1 << bits) - 1;
                for (let k: usize = 0; k < 8; k++) store<u32>(CODES + ((h * 8 + k) << 2), <u32>((w >> (<u64>k * <u64>bits)) & m));
              }
              c0 = v128.load(CODES); c1 = v128.load(CODES, 16); c2 = v128.load(CODES, 32); c3 = v128.load(CODES, 48);
            }
            const o = yg + (<usize>i << 2);
            v128.store(o, f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(c0, vz)), vd));
            v128.store(o, f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(c1, vz)), vd), 16);
            v128.store(o, f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(c2, vz)), vd), 32);
            v128.store(o, f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(c3, vz)), vd), 48);
            i += 16;
          } else {
            store<f32>(yg + (<usize>i << 2), <f32>(<i32>read_code(qr, e, bits) - z) * d);
            i++;
          }
        }
      } else {
        for (; i < G; i++) store<f32>(yg + (<usize>i << 2), <f32>(<i32>read_code(qr, g * G + i, bits) - z) * d);
      }
    }
  }
}

export function gq_dequantize_intn_ref(dst: usize, src: usize, scales: usize, zeros: usize, rows: i32, cols: i32,
                                       bits: i32, group: i32, flags: i32): void {
  dequantize_impl(dst, src, scales, zeros, rows, cols, bits, group, flags, false);
}

export function gq_dequantize_intn(dst: usize, src: usize, scales: usize, zeros: usize, rows: i32, cols: i32,
                                   bits: i32, group: i32, flags: i32): void {
  dequantize_impl(dst, src, scales, zeros, rows, cols, bits, group, flags, true);
}
