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
// levels, which keeps the order and the ties). Heap, never freed (they live as long as the module).
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

// The exact neighbour-table lengths (u16 entries) of the six grids (llama.cpp's num_neighbors +
// num_not_in_map; test/17 checks them): a build allocates the table at this size once. Growing it by
// doubling instead leaves the copies of the outgrown buffers in the wasm memory (touched pages that
// are never returned): iq1 8.6 MiB of memory for a 2.75 MB table. The growth path stays as a fallback.
// @ts-ignore: decorator
@inline function nb_len_of(g: i32): i32 {
  return g == 0 ? 417400 : g == 1 ? 551722 : g == 2 ? 1375339 : g == 3 ? 209100 : g == 4 ? 22825 : 28317;
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

// state of the grid being built (read by iq_grid_nb_code)
let B_N: i32 = 0, B_KG: usize = 0, B_THREE: bool = false, B_NWANT: i32 = 0, B_KMAP: usize = 0, B_DD: usize = 0, B_T: usize = 0;

/**
 * @internal Appends the neighbour list of code i (off the lattice) of the grid being built; no-op
 * outside a build. A separate exported function so that the JIT optimizes it after a few calls (V8
 * runs a long wasm call with the code it started with).
 */
export function iq_grid_nb_code(i: i32): void {
  if (B_KMAP == 0) return;
  const n = B_N, nel = B_THREE ? 4 : 8, bits = B_THREE ? 3 : 2, mask = (1 << bits) - 1;
  const nwant = B_NWANT, dd = B_DD, lv = B_T;
  const sq = v128(0, 1, 4, 9, 16, 25, 36, 49, 0, 0, 0, 0, 0, 0, 0, 0);
  // squared level distances to all n points, 16 per step (u8 lanes: at most 8 * 9 or 4 * 49)
  let vmin = i8x16.splat(-1);
  for (let j = 0; j < n; j += 16) {
    let acc = i8x16.splat(0);
    for (let k = 0; k < nel; k++) {
      const a = i8x16.splat(<i8>((i >> (bits * k)) & mask));
      const g = v128.load(lv + <usize>(k * n + j));
      acc = i8x16.add(acc, i8x16.swizzle(sq, i8x16.abs(i8x16.sub(g, a))));
    }
    v128.store(dd + <usize>j, acc);
    vmin = i8x16.min_u(vmin, acc);
  }
  // the nwant smallest distinct distances m0 < m1 < m2
  const m0 = hmin_u8(vmin);
  let m1 = 255, m2 = 255;
  if (nwant > 1) {
    m1 = next_min(dd, n, m0);
    if (nwant > 2) m2 = next_min(dd, n, m1);
  }
  const start = nbLen;
  store<i32>(B_KMAP + (<usize>i << 2), -(start + 1));
  nb_push(0);
  let cnt = 0;
  for (let lvl = 0; lvl < nwant; lvl++) {
    const m = lvl == 0 ? m0 : lvl == 1 ? m1 : m2;
    if (m == 255) break;
    const vm = i8x16.splat(<i8>m);
    for (let j = 0; j < n; j += 16) {
      let bm = i8x16.bitmask(i8x16.eq(v128.load(dd + <usize>j), vm));
      while (bm != 0) {
        const t = ctz<u32>(bm);
        nb_push(j + <i32>t);
        cnt++;
        bm &= bm - 1;
      }
    }
  }
  store<u16>(nbBuf + (<usize>start << 1), <u16>cnt);
}

// @ts-ignore: decorator
@inline function hmin_u8(v: v128): i32 {
  let m = i8x16.min_u(v, i8x16.shuffle(v, v, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7));
  m = i8x16.min_u(m, i8x16.shuffle(m, m, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3));
  m = i8x16.min_u(m, i8x16.shuffle(m, m, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1));
  m = i8x16.min_u(m, i8x16.shuffle(m, m, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0));
  return <i32>i8x16.extract_lane_u(m, 0);
}

/** Smallest distance > m among the n u8 distances at dd (255 if none). */
function next_min(dd: usize, n: i32, m: i32): i32 {
  if (m >= 255) return 255;
  const vm = i8x16.splat(<i8>m), ff = i8x16.splat(-1);
  let vmin = ff;
  for (let j = 0; j < n; j += 16) {
    const d = v128.load(dd + <usize>j);
    vmin = i8x16.min_u(vmin, v128.bitselect(ff, d, i8x16.le_u(d, vm)));
  }
  return hmin_u8(vmin);
}

function build(g: i32): void {
  const n = iq_grid_size(g);
  const kg = kgrid_of(g);
  const three = g >= 4;
  const nel = three ? 4 : 8;
  const bits = three ? 3 : 2;
  const mask = (1 << bits) - 1;
  const lvals = g == 2 ? LV_IQ1 : g == 4 ? LV_IQ3XXS : g == 5 ? LV_IQ3S : LV_IQ2;
  const dq = heap.alloc(<usize>(n * nel));
  const qg = heap.alloc(<usize>(n * nel));
  for (let k = 0; k < n; k++) {
    const c = <i32>load<u16>(kg + (<usize>k << 1));
    for (let i = 0; i < nel; i++) {
      const l = (c >> (bits * i)) & mask;
      store<u8>(dq + <usize>(k * nel + i), load<u8>(lvals + l));
      store<i8>(qg + <usize>(k * nel + i), <i8>(2 * l + 1));
    }
  }
  const ks = iq_kmap_size(g);
  const kmap = heap.alloc(<usize>ks << 2);
  for (let i = 0; i < ks; i++) store<i32>(kmap + (<usize>i << 2), -1);
  for (let k = 0; k < n; k++) store<i32>(kmap + (<usize>load<u16>(kg + (<usize>k << 1)) << 2), k);
  // level codes transposed (element k of point j at lv[k * n + j]) and the u8 distances of one code
  const lv = heap.alloc(<usize>(n * nel));
  for (let j = 0; j < n; j++) {
    const c = <i32>load<u16>(kg + (<usize>j << 1));
    for (let k = 0; k < nel; k++) store<u8>(lv + <usize>(k * n + j), <u8>((c >> (bits * k)) & mask));
  }
  const dd = heap.alloc(<usize>n);
  const T = lv;
  nbCap = nb_len_of(g); nbBuf = heap.alloc(<usize>nbCap << 1); nbLen = 0;
  B_N = n; B_KG = kg; B_THREE = three; B_NWANT = nwant_of(g); B_KMAP = kmap; B_DD = dd; B_T = T;
  for (let i = 0; i < ks; i++) {
    if (load<i32>(kmap + (<usize>i << 2)) >= 0) continue;
    iq_grid_nb_code(i);
  }
  heap.free(dd);
  heap.free(lv);
  B_KMAP = 0;
  // shrink the neighbour table to its exact size (a no-op unless nb_len_of is off)
  if (nbLen != nbCap) nbBuf = heap.realloc(nbBuf, <usize>nbLen << 1);
  const o = INFO + <usize>(g * 20);
  store<u32>(o, <u32>dq);
  store<u32>(o, <u32>qg, 4);
  store<u32>(o, <u32>kmap, 8);
  store<u32>(o, <u32>nbBuf, 12);
  store<u32>(o, <u32>nbLen, 16);
}

/**
 * Builds grid g if it is not built yet. The facade calls this before it allocates the buffers of a
 * kernel call for a type of that grid: a build allocates heap memory and may grow the wasm memory;
 * the kernels themselves then never allocate. Heap: iq1 3 MB, iq2_xs 1.3 MB, iq2_xxs 1 MB, iq2_s
 * 0.6 MB, iq3 0.1 MB each.
 */
export function iq_grid_for_kernel(g: i32): void {
  if (g >= 0 && g < 6) iq_grid_table(g, 0);
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
