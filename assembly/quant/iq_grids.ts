// The i-quant lattices, built once per module instance on first use from the compact index lists in
// iq_kgrid_data.ts, exactly as llama.cpp's ggml_quantize_init (iq2xs_init_impl / iq3xs_init_impl)
// builds them:
//  * DQ  (dequantization table, ggml-common.h iq2xxs_grid ... iq1s_grid): per lattice point 8 (iq2/iq1)
//    or 4 (iq3) bytes, the element values (iq2: 8 25 43 62, iq3_xxs: 4 12 ... 52 62, iq3_s: 1 3 ... 15,
//    iq1: int8 -1 0 +1 for the level codes 0 1 2 3).
//  * QG  (the quantizer's grid): the same points as int8 odd levels 2L + 1.
//  * KMAP (i32, 43692 entries for the 8 x 2-bit codes, 4096 for the 4 x 3-bit codes): the lattice index
//    of a code that is on the lattice, else -(offset + 1) into NB.
//  * NB  (u16): for every code off the lattice, in code order: n, then the n lattice indices of all
//    points within the nwant smallest distinct integer squared distances, sorted by (distance, index)
//    (nwant = 2 for iq2_xxs / iq2_xs / iq3_xxs, 1 for iq2_s, 3 for iq1_s / iq1_m / iq3_s).
// Distances are computed on the level codes (their squared differences are 1/4 of those of the odd
// levels, which keeps the order and the ties). Memory: iq1 about 4.3 MB, iq2_s about 0.5 MB, iq2_xs
// and iq2_xxs about 0.3 MB each, iq3 about 40 KB each (heap, never freed: they live as long as the module).
import { KGRID_2BIT_256, KGRID_2BIT_512, KGRID_2BIT_1024, KGRID_1BIT_2048, KGRID_3BIT_256, KGRID_3BIT_512 } from "./iq_kgrid_data";

/** Grid ids (argument of iq_grid_table). */
export const IQG_2XXS: i32 = 0;
export const IQG_2XS: i32 = 1;
export const IQG_1S: i32 = 2;
export const IQG_2S: i32 = 3;
export const IQG_3XXS: i32 = 4;
export const IQG_3S: i32 = 5;

// per grid: dq, qg, kmap, nb pointers and the nb length (u32 each)
const INFO: usize = memory.data(6 * 5 * 4, 16);
const LV_IQ2: usize = memory.data<u8>([8, 25, 43, 62]);
const LV_IQ1: usize = memory.data<u8>([0xff, 0, 1, 2]);
const LV_IQ3XXS: usize = memory.data<u8>([4, 12, 20, 28, 36, 44, 52, 62]);
const LV_IQ3S: usize = memory.data<u8>([1, 3, 5, 7, 9, 11, 13, 15]);

/** Lattice size of grid g (256, 512, 2048, 1024, 256, 512). */
export function iq_grid_size(g: i32): i32 {
  return g == 0 ? 256 : g == 1 ? 512 : g == 2 ? 2048 : g == 3 ? 1024 : g == 4 ? 256 : 512;
}

// @ts-ignore: decorator
@inline function kgrid_of(g: i32): usize {
  return g == 0 ? KGRID_2BIT_256 : g == 1 ? KGRID_2BIT_512 : g == 2 ? KGRID_1BIT_2048 : g == 3 ? KGRID_2BIT_1024 : g == 4 ? KGRID_3BIT_256 : KGRID_3BIT_512;
}

// @ts-ignore: decorator
@inline function nwant_of(g: i32): i32 {
  return g == 2 || g == 5 ? 3 : g == 3 ? 1 : 2;
}

/** Number of codes in the kmap of grid g: 43692 (8 x 2 bits, llama.cpp's kmap_size) or 4096 (4 x 3 bits). */
export function iq_kmap_size(g: i32): i32 {
  return g >= 4 ? 4096 : 43692;
}

/** Growable u16 buffer for the neighbour lists. */
let nbBuf: usize = 0, nbCap: i32 = 0, nbLen: i32 = 0;
// @ts-ignore: decorator
@inline function nb_push(v: i32): void {
  if (nbLen == nbCap) {
    if (nbCap == 0) { nbCap = 65536; nbBuf = heap.alloc(<usize>nbCap << 1); }
    else { nbCap <<= 1; nbBuf = heap.realloc(nbBuf, <usize>nbCap << 1); }
  }
  store<u16>(nbBuf + (<usize>nbLen << 1), <u16>v);
  nbLen++;
}

function build(g: i32): void {
  const n = iq_grid_size(g);
  const kg = kgrid_of(g);
  const three = g >= 4;
  const nel = three ? 4 : 8;
  const bits = three ? 3 : 2;
  const mask = (1 << bits) - 1;
  const lv = g == 2 ? LV_IQ1 : g == 4 ? LV_IQ3XXS : g == 5 ? LV_IQ3S : LV_IQ2;
  const dq = heap.alloc(<usize>(n * nel));
  const qg = heap.alloc(<usize>(n * nel));
  for (let k = 0; k < n; k++) {
    const c = <i32>load<u16>(kg + (<usize>k << 1));
    for (let i = 0; i < nel; i++) {
      const l = (c >> (bits * i)) & mask;
      store<u8>(dq + <usize>(k * nel + i), load<u8>(lv + l));
      store<i8>(qg + <usize>(k * nel + i), <i8>(2 * l + 1));
    }
  }
  const ks = iq_kmap_size(g);
  const kmap = heap.alloc(<usize>ks << 2);
  for (let i = 0; i < ks; i++) store<i32>(kmap + (<usize>i << 2), -1);
  for (let k = 0; k < n; k++) store<i32>(kmap + (<usize>load<u16>(kg + (<usize>k << 1)) << 2), k);
  // distance tables on level codes
  const dd = heap.alloc(<usize>n << 1);
  let T: usize = 0;
  if (!three) {
    // T[a][b] = sum over 4 elements of (a_k - b_k)^2, a, b: 4 x 2-bit codes
    T = heap.alloc(65536);
    for (let a = 0; a < 256; a++) for (let b = 0; b < 256; b++) {
      let s = 0;
      for (let k = 0; k < 4; k++) { const e = ((a >> (2 * k)) & 3) - ((b >> (2 * k)) & 3); s += e * e; }
      store<u8>(T + <usize>((a << 8) | b), <u8>s);
    }
  }
  nbBuf = 0; nbCap = 0; nbLen = 0;
  const nwant = nwant_of(g);
  for (let i = 0; i < ks; i++) {
    if (load<i32>(kmap + (<usize>i << 2)) >= 0) continue;
    // the nwant smallest distinct distances m0 < m1 < m2
    let m0 = 0x7fffffff, m1 = 0x7fffffff, m2 = 0x7fffffff;
    const ilo = (i & 255) << 8, ihi = (i >> 8) << 8;
    for (let j = 0; j < n; j++) {
      const c = <i32>load<u16>(kg + (<usize>j << 1));
      let d: i32;
      if (three) {
        d = 0;
        for (let k = 0; k < 4; k++) { const e = ((i >> (3 * k)) & 7) - ((c >> (3 * k)) & 7); d += e * e; }
      } else {
        d = <i32>load<u8>(T + <usize>(ilo | (c & 255))) + <i32>load<u8>(T + <usize>(ihi | (c >> 8)));
      }
      store<u16>(dd + (<usize>j << 1), <u16>d);
      if (d < m0) { m2 = m1; m1 = m0; m0 = d; }
      else if (d > m0 && d < m1) { m2 = m1; m1 = d; }
      else if (d > m1 && d < m2) m2 = d;
    }
    const lim = nwant == 1 ? m0 : nwant == 2 ? m1 : m2;
    const start = nbLen;
    store<i32>(kmap + (<usize>i << 2), -(start + 1));
    nb_push(0);
    let cnt = 0;
    for (let lvl = 0; lvl < nwant; lvl++) {
      const m = lvl == 0 ? m0 : lvl == 1 ? m1 : m2;
      if (m > lim) break;
      for (let j = 0; j < n; j++) {
        if (<i32>load<u16>(dd + (<usize>j << 1)) == m) { nb_push(j); cnt++; }
      }
    }
    store<u16>(nbBuf + (<usize>start << 1), <u16>cnt);
  }
  heap.free(dd);
  if (T) heap.free(T);
  const o = INFO + <usize>(g * 20);
  store<u32>(o, <u32>dq);
  store<u32>(o, <u32>qg, 4);
  store<u32>(o, <u32>kmap, 8);
  store<u32>(o, <u32>nbBuf, 12);
  store<u32>(o, <u32>nbLen, 16);
}

/**
 * Pointer to table `what` of grid g (0 dq, 1 qg, 2 kmap, 3 neighbours; 4 returns the neighbour list
 * length in u16 entries). Builds the grid on first use (iq1: ~0.3 s, the others much less).
 */
export function iq_grid_table(g: i32, what: i32): usize {
  const o = INFO + <usize>(g * 20);
  if (load<u32>(o) == 0) build(g);
  return <usize>load<u32>(o + (<usize>what << 2));
}
