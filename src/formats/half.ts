/**
 * IEEE half (f16) and bfloat16 conversions in plain TypeScript (no wasm needed), used by the
 * format readers/writers. f32 → f16 rounds to nearest even like ggml's `ggml_compute_fp32_to_fp16`
 * and numpy's `astype(float16)`; f32 → bf16 rounds to nearest even like ggml's
 * `ggml_compute_fp32_to_bf16` (NaN kept quiet).
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** f16 bits → f32 value (exact). */
export function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** f32 value → f16 bits, round to nearest even; overflow → ±Inf, NaN → 0x7e00 (sign kept). */
export function f32ToF16(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | (mant ? 0x7e00 : 0x7c00);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let r = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    if (rem > half || (rem === half && (r & 1))) r++;
    return sign | r;
  }
  let r = mant >>> 13;
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (r & 1))) {
    r++;
    if (r === 0x400) { r = 0; e++; if (e >= 31) return sign | 0x7c00; }
  }
  return sign | (e << 10) | r;
}

/** bf16 bits → f32 value (exact). */
export function bf16ToF32(b: number): number {
  u32[0] = (b & 0xffff) << 16;
  return f32[0]!;
}

/** f32 value → bf16 bits, round to nearest even (NaN → quiet NaN), as ggml. */
export function f32ToBf16(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  if ((x & 0x7fffffff) > 0x7f800000) return ((x >>> 16) | 64) & 0xffff;
  return ((x + (0x7fff + ((x >>> 16) & 1))) >>> 16) & 0xffff;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
let F16_LUT: Uint32Array | null = null;
/** f32 bit patterns of all 65536 f16 values (exact; NaN payloads kept, as ggml's conversion does). */
function f16Lut(): Uint32Array {
  if (F16_LUT) return F16_LUT;
  const t = new Uint32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16, e = (h >>> 10) & 0x1f, m = h & 0x3ff;
    if (e === 31) t[h] = sign | 0x7f800000 | (m << 13);
    else if (e !== 0) t[h] = sign | ((e + 112) << 23) | (m << 13);
    else { f32[0] = f16ToF32(h); t[h] = u32[0]!; }
  }
  return (F16_LUT = t);
}

/** The 16-bit words of `bytes` (little-endian): a view when aligned on a little-endian platform. */
function words(bytes: Uint8Array, n: number): ArrayLike<number> {
  if (LITTLE_ENDIAN && bytes.byteOffset % 2 === 0) return new Uint16Array(bytes.buffer, bytes.byteOffset, n);
  const w = new Uint16Array(n);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < n; i++) w[i] = dv.getUint16(i * 2, true);
  return w;
}

/** Decode `n` little-endian f16 values from `bytes` into `out` (allocated when absent). Exact (table lookup, ~1 GB/s). */
export function decodeF16(bytes: Uint8Array, out = new Float32Array(bytes.byteLength >>> 1)): Float32Array {
  const lut = f16Lut(), w = words(bytes, out.length);
  const ou = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < ou.length; i++) ou[i] = lut[w[i]!]!;
  return out;
}

/** Decode little-endian bf16 values from `bytes` into `out`. */
export function decodeBf16(bytes: Uint8Array, out = new Float32Array(bytes.byteLength >>> 1)): Float32Array {
  const w = words(bytes, out.length);
  const ou = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < ou.length; i++) ou[i] = w[i]! << 16;
  return out;
}

/** Decode little-endian f32 values from `bytes` (copy; works for unaligned views). */
export function decodeF32(bytes: Uint8Array, out = new Float32Array(bytes.byteLength >>> 2)): Float32Array {
  new Uint8Array(out.buffer, out.byteOffset, out.length * 4).set(bytes.subarray(0, out.length * 4));
  return out;
}

/** Encode f32 values as little-endian f16 bytes (2 bytes per value). */
export function encodeF16(values: Float32Array, out = new Uint8Array(values.length * 2)): Uint8Array {
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  for (let i = 0; i < values.length; i++) dv.setUint16(i * 2, f32ToF16(values[i]!), true);
  return out;
}

/** Encode f32 values as little-endian bf16 bytes (2 bytes per value). */
export function encodeBf16(values: Float32Array, out = new Uint8Array(values.length * 2)): Uint8Array {
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  for (let i = 0; i < values.length; i++) dv.setUint16(i * 2, f32ToBf16(values[i]!), true);
  return out;
}

/** Encode f32 values as little-endian f32 bytes (a view on little-endian hosts, which all JS engines are in practice). */
export function encodeF32(values: Float32Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}
