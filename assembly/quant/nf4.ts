// NF4 (QLoRA 4-bit NormalFloat), blockwise absmax, not tied to GGUF.
//
// Levels (QLoRA / bitsandbytes, exact float32 values):
//   -1, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
//   -0.18477343022823334, -0.09105003625154495, 0, 0.07958029955625534, 0.16093020141124725,
//   0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
//   0.7229568362236023, 1
// Quantization of the flattened tensor (n values) in blocks of `block` values (block even, >= 2;
// the last block may be shorter):
//   absmax = max |x| over the block (stored as f32, one per block: absmax[ceil(n / block)]);
//   inv = 1 / absmax (0 when absmax == 0; bitsandbytes would produce NaN there and code 0);
//   code = #{ t_i : x * inv > t_i } over the 15 bitsandbytes thresholds t_i (the midpoints between
//   adjacent levels, as float32) = bitsandbytes dQuantizeNF4: a value exactly on a midpoint goes to
//   the lower level.
// Packing: 2 codes per byte, LOW nibble first: element 2i -> low nibble of byte i, element 2i+1 ->
//   high nibble (bitsandbytes puts the first element in the HIGH nibble; swap nibbles to convert).
//   ceil(n / 2) bytes; for odd n the last high nibble is 0.
// Dequantization: level[code] * absmax (one f32 multiply).
// Kernels (SIMD and scalar _ref twins, bit-identical):
//   gq_quantize_nf4(dst_codes, dst_absmax, src, n, block) -> bytes of codes written
//   gq_dequantize_nf4(dst_f32, codes, absmax, n, block)

const LEVELS: usize = memory.data<f32>([
  -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
  -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
  0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
  0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
]);
const THRESH: usize = memory.data<f32>([
  -0.8480964004993439, -0.6106329262256622, -0.4599952697753906, -0.33967943489551544,
  -0.23460740596055984, -0.13791173323988914, -0.045525018125772476, 0.03979014977812767,
  0.1202552504837513, 0.2035212516784668, 0.2920137718319893, 0.3893125355243683,
  0.5016634166240692, 0.6427869200706482, 0.8614784181118011,
]);
// byte planes of LEVELS for 4 x i8x16.swizzle lookups: PLANES + 16k holds byte k of each level
const PLANES: usize = memory.data(64, 16);
let planesReady = false;

function initPlanes(): void {
  for (let c = 0; c < 16; c++) {
    const b = load<u32>(LEVELS + (<usize>c << 2));
    for (let k = 0; k < 4; k++) store<u8>(PLANES + (<usize>k << 4) + c, <u8>(b >> (8 * k)));
  }
  planesReady = true;
}

// @ts-ignore: decorator
@inline function code_of(v: f32): u32 {
  let c: u32 = 0;
  for (let i = 0; i < 15; i++) c += <u32>(v > load<f32>(THRESH + (<usize>i << 2)));
  return c;
}

// @ts-ignore: decorator
@inline function codes_x4(v: v128): v128 {
  let c = i32x4.splat(0);
  for (let i = 0; i < 15; i++) c = i32x4.sub(c, f32x4.gt(v, f32x4.splat(load<f32>(THRESH + (<usize>i << 2)))));
  return c;
}

export function gq_quantize_nf4_ref(dst: usize, absmax: usize, src: usize, n: i32, block: i32): usize {
  const nbytes = (n + 1) >> 1;
  for (let i = 0; i < nbytes; i++) store<u8>(dst + i, 0);
  for (let b0 = 0, ib = 0; b0 < n; b0 += block, ib++) {
    const len = min<i32>(block, n - b0);
    let m: f32 = 0;
    for (let j = 0; j < len; j++) m = max<f32>(m, abs<f32>(load<f32>(src + (<usize>(b0 + j) << 2))));
    store<f32>(absmax + (<usize>ib << 2), m);
    const inv: f32 = m != 0 ? <f32>1 / m : 0;
    for (let j = 0; j < len; j++) {
      const e = b0 + j;
      const c = code_of(load<f32>(src + (<usize>e << 2)) * inv);
      const p = dst + (e >> 1);
      store<u8>(p, load<u8>(p) | <u8>(c << ((e & 1) << 2)));
    }
  }
  return <usize>nbytes;
}

export function gq_quantize_nf4(dst: usize, absmax: usize, src: usize, n: i32, block: i32): usize {
  const nbytes = (n + 1) >> 1;
  for (let b0 = 0, ib = 0; b0 < n; b0 += block, ib++) {
    const len = min<i32>(block, n - b0);
    const xb = src + (<usize>b0 << 2);
    let vm = f32x4.splat(0);
    let j = 0;
    for (; j + 4 <= len; j += 4) vm = f32x4.max(vm, f32x4.abs(v128.load(xb + (<usize>j << 2))));
    vm = f32x4.max(vm, v128.shuffle<u32>(vm, vm, 2, 3, 0, 1));
    vm = f32x4.max(vm, v128.shuffle<u32>(vm, vm, 1, 0, 3, 2));
    let m = f32x4.extract_lane(vm, 0);
    for (; j < len; j++) m = max<f32>(m, abs<f32>(load<f32>(xb + (<usize>j << 2))));
    store<f32>(absmax + (<usize>ib << 2), m);
    const inv: f32 = m != 0 ? <f32>1 / m : 0;
    const vinv = f32x4.splat(inv);
    const ob = dst + (b0 >> 1); // block starts on an even element
    j = 0;
    for (; j + 16 <= len; j += 16) {
      const p = xb + (<usize>j << 2);
      const c = i8x16.narrow_i16x8_u(
        i16x8.narrow_i32x4_u(codes_x4(f32x4.mul(v128.load(p), vinv)), codes_x4(f32x4.mul(v128.load(p, 16), vinv))),
        i16x8.narrow_i32x4_u(codes_x4(f32x4.mul(v128.load(p, 32), vinv)), codes_x4(f32x4.mul(v128.load(p, 48), vinv))));
      // i16 lane k = c[2k] | c[2k+1] << 8 -> byte c[2k] | c[2k+1] << 4
      const w = v128.and(v128.or(c, i16x8.shr_u(c, 4)), i16x8.splat(0xFF));
      store<u64>(ob + (j >> 1), i64x2.extract_lane(i8x16.narrow_i16x8_u(w, w), 0));
    }
    for (; j < len; j += 2) {
      const lo = code_of(load<f32>(xb + (<usize>j << 2)) * inv);
      const hi = j + 1 < len ? code_of(load<f32>(xb + (<usize>(j + 1) << 2)) * inv) : 0;
      store<u8>(ob + (j >> 1), <u8>(lo | (hi << 4)));
    }
  }
  return <usize>nbytes;
}

export function gq_dequantize_nf4_ref(dst: usize, codes: usize, absmax: usize, n: i32, block: i32): void {
  for (let e = 0; e < n; e++) {
    const c = (load<u8>(codes + (e >> 1)) >> (<u8>((e & 1) << 2))) & 15;
    const m = load<f32>(absmax + (<usize>(e / block) << 2));
    store<f32>(dst + (<usize>e << 2), load<f32>(LEVELS + (<usize>c << 2)) * m);
  }
}

export function gq_dequantize_nf4(dst: usize, codes: usize, absmax: usize, n: i32, block: i32): void {
  if (!planesReady) initPlanes();
  const t0 = v128.load(PLANES), t1 = v128.load(PLANES, 16), t2 = v128.load(PLANES, 32), t3 = v128.load(PLANES, 48);
  for (let b0 = 0, ib = 0; b0 < n; b0 += block, ib++) {
    const len = min<i32>(block, n - b0);
    const m = load<f32>(absmax + (<usize>ib << 2));
    const vm = f32x4.splat(m);
    const qb = codes + (b0 >> 1);
    const ob = dst + (<usize>b0 << 2);
    let j = 0;
    for (; j + 16 <= len; j += 16) {
      const q = v128.load64_zero(qb + (j >> 1));
      const c = i8x16.shuffle(v128.and(q, i8x16.splat(15)), i8x16.shr_u(q, 4),
        0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
      const b0v = i8x16.swizzle(t0, c), b1v = i8x16.swizzle(t1, c), b2v = i8x16.swizzle(t2, c), b3v = i8x16.swizzle(t3, c);
      const p01l = i8x16.shuffle(b0v, b1v, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
      const p01h = i8x16.shuffle(b0v, b1v, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
      const p23l = i8x16.shuffle(b2v, b3v, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
      const p23h = i8x16.shuffle(b2v, b3v, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
      const o = ob + (<usize>j << 2);
      v128.store(o, f32x4.mul(v128.shuffle<u16>(p01l, p23l, 0, 8, 1, 9, 2, 10, 3, 11), vm));
      v128.store(o, f32x4.mul(v128.shuffle<u16>(p01l, p23l, 4, 12, 5, 13, 6, 14, 7, 15), vm), 16);
      v128.store(o, f32x4.mul(v128.shuffle<u16>(p01h, p23h, 0, 8, 1, 9, 2, 10, 3, 11), vm), 32);
      v128.store(o, f32x4.mul(v128.shuffle<u16>(p01h, p23h, 4, 12, 5, 13, 6, 14, 7, 15), vm), 48);
    }
    for (; j < len; j++) {
      const c = (load<u8>(qb + (j >> 1)) >> (<u8>((j & 1) << 2))) & 15;
      store<f32>(ob + (<usize>j << 2), load<f32>(LEVELS + (<usize>c << 2)) * m);
    }
  }
}
