// Packed mask storage (llm.c style, out first).
//
// Bitmask: weight i (row-major flat index) is bit (i & 7) of byte (i >> 3), least significant bit first
//   (numpy.packbits(..., bitorder="little")); 1 = kept, 0 = pruned; the last byte's unused high bits are 0.
//   mask_pack_forward(bits, mask, n) / mask_unpack_forward(mask, bits, n) convert from/to u8 masks,
//   mask_apply_forward(w, bits, n) zeroes w[i] where the bit is 0 (in place), mask_count_forward(bits, n) counts
//   kept weights (density = count / n). SIMD twins agree with _ref exactly.
// Compressed 2:4: per group of 4 weights, 2 kept values (f32, in index order) and a nibble idx0 | idx1 << 2
//   (idx0 < idx1, each 2 bits); group g's nibble is in byte g >> 1, low nibble for even g. A group keeping fewer
//   than 2 is padded with the lowest unused indices and value 0. pack24_forward(vals, idx, w, mask, n) returns
//   -1, or the first group keeping more than 2 (nothing valid is written then). unpack24_forward(w, vals, idx, n)
//   rebuilds the dense weights (zeros elsewhere). n % 4 == 0.

export function mask_pack_forward_ref(bits: usize, mask: usize, n: i32): void {
  const nb = (n + 7) >> 3;
  memory.fill(bits, 0, <usize>nb);
  for (let i = 0; i < n; i++) {
    if (load<u8>(mask + <usize>i)) {
      const p = bits + <usize>(i >> 3);
      store<u8>(p, <u8>(<i32>load<u8>(p) | (1 << (i & 7))));
    }
  }
}

export function mask_pack_forward(bits: usize, mask: usize, n: i32): void {
  const z = i8x16.splat(0);
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const b = i8x16.bitmask(i8x16.ne(v128.load(mask + <usize>i), z));
    store<u16>(bits + <usize>(i >> 3), <u16>b);
  }
  if (i < n) {
    const nb = ((n + 7) >> 3) - (i >> 3);
    memory.fill(bits + <usize>(i >> 3), 0, <usize>nb);
    for (; i < n; i++) {
      if (load<u8>(mask + <usize>i)) {
        const p = bits + <usize>(i >> 3);
        store<u8>(p, <u8>(<i32>load<u8>(p) | (1 << (i & 7))));
      }
    }
  }
}

export function mask_unpack_forward_ref(mask: usize, bits: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<u8>(mask + <usize>i, (load<u8>(bits + <usize>(i >> 3)) >> <u8>(i & 7)) & 1);
}

export function mask_unpack_forward(mask: usize, bits: usize, n: i32): void {
  const sel = i8x16(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128);
  const one = i8x16.splat(1);
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const b = load<u16>(bits + <usize>(i >> 3));
    const v = i8x16.shuffle(i16x8.splat(<i16>b), i16x8.splat(<i16>b), 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    v128.store(mask + <usize>i, v128.and(i8x16.eq(v128.and(v, sel), sel), one));
  }
  for (; i < n; i++) store<u8>(mask + <usize>i, (load<u8>(bits + <usize>(i >> 3)) >> <u8>(i & 7)) & 1);
}

export function mask_apply_forward_ref(w: usize, bits: usize, n: i32): void {
  for (let i = 0; i < n; i++) if (!((load<u8>(bits + <usize>(i >> 3)) >> <u8>(i & 7)) & 1)) store<f32>(w + (<usize>i << 2), 0);
}

export function mask_apply_forward(w: usize, bits: usize, n: i32): void {
  const sel = i32x4(1, 2, 4, 8);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const b = <i32>load<u8>(bits + <usize>(i >> 3));
    const lo = i32x4.eq(v128.and(i32x4.splat(b), sel), sel);
    const hi = i32x4.eq(v128.and(i32x4.splat(b >> 4), sel), sel);
    const p = w + (<usize>i << 2);
    v128.store(p, v128.and(v128.load(p), lo));
    v128.store(p, v128.and(v128.load(p, 16), hi), 16);
  }
  for (; i < n; i++) if (!((load<u8>(bits + <usize>(i >> 3)) >> <u8>(i & 7)) & 1)) store<f32>(w + (<usize>i << 2), 0);
}

export function mask_count_forward_ref(bits: usize, n: i32): i32 {
  let c = 0;
  for (let i = 0; i < n; i++) c += (load<u8>(bits + <usize>(i >> 3)) >> <u8>(i & 7)) & 1;
  return c;
}

export function mask_count_forward(bits: usize, n: i32): i32 {
  let c = 0;
  let i = 0;
  for (; i + 32 <= n; i += 32) c += <i32>popcnt<u32>(load<u32>(bits + <usize>(i >> 3)));
  for (; i < n; i++) c += (load<u8>(bits + <usize>(i >> 3)) >> <u8>(i & 7)) & 1;
  return c;
}

export function pack24_forward(vals: usize, idx: usize, w: usize, mask: usize, n: i32): i32 {
  const groups = n >> 2;
  memory.fill(idx, 0, <usize>((groups + 1) >> 1));
  for (let g = 0; g < groups; g++) {
    let c = 0;
    let i0 = -1, i1 = -1;
    for (let l = 0; l < 4; l++) {
      if (load<u8>(mask + <usize>(g * 4 + l))) {
        if (c == 0) i0 = l; else if (c == 1) i1 = l;
        c++;
      }
    }
    if (c > 2) return g;
    let v0: f32 = 0, v1: f32 = 0;
    if (c >= 1) v0 = load<f32>(w + (<usize>(g * 4 + i0) << 2));
    if (c == 2) v1 = load<f32>(w + (<usize>(g * 4 + i1) << 2));
    if (c == 0) { i0 = 0; i1 = 1; }
    else if (c == 1) {
      // pad with the lowest unused index, keeping idx0 < idx1
      const pad = i0 == 0 ? 1 : 0;
      if (pad < i0) { i1 = i0; i0 = pad; v1 = v0; v0 = 0; } else i1 = pad;
    }
    store<f32>(vals + (<usize>(g * 2) << 2), v0);
    store<f32>(vals + (<usize>(g * 2 + 1) << 2), v1);
    const nib = <u8>(i0 | (i1 << 2));
    const p = idx + <usize>(g >> 1);
    store<u8>(p, load<u8>(p) | (g & 1 ? nib << 4 : nib));
  }
  return -1;
}

export function unpack24_forward(w: usize, vals: usize, idx: usize, n: i32): void {
  const groups = n >> 2;
  memory.fill(w, 0, <usize>n << 2);
  for (let g = 0; g < groups; g++) {
    const byte = load<u8>(idx + <usize>(g >> 1));
    const nib = g & 1 ? byte >> 4 : byte & 15;
    const i0 = nib & 3, i1 = (nib >> 2) & 3;
    store<f32>(w + (<usize>(g * 4 + i0) << 2), load<f32>(vals + (<usize>(g * 2) << 2)));
    const p1 = w + (<usize>(g * 4 + i1) << 2);
    store<f32>(p1, load<f32>(p1) + load<f32>(vals + (<usize>(g * 2 + 1) << 2)));
  }
}
