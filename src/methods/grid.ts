/**
 * The quantization grid of ggml blocks, read from and written into block bytes: for each value of a block,
 * the affine grid y = a · q + b (q an integer in [qmin, qmax]) that its stored scales (and mins) define, and
 * a writer for one value's integer q that leaves the scales untouched. GPTQ uses it to round column by
 * column onto the grid of scales fixed at the block boundary, then stores the chosen integers in the same
 * block: the bytes stay ordinary blocks that the normal dequantizers decode.
 * Formats: q4_0 q4_1 q5_0 q5_1 q8_0 iq4_nl (32 values per block), q2_K q3_K q4_K q5_K q6_K iq4_xs (256).
 * Others: {@link hasGrid} false. iq4_nl / iq4_xs are non-uniform: y = a · levels[q] (levels = kvalues_iq4nl).
 */
import { f16ToF32 } from "../formats/half";

/**
 * Per-value grid of one block: y = a[i] · q + b[i], q ∈ [qmin, qmax]; for non-uniform formats (iq4_nl,
 * iq4_xs) y = a[i] · levels[q] + b[i] instead (see {@link gridValue}).
 */
export interface BlockGrid { a: Float32Array; b: Float32Array; qmin: number; qmax: number; levels?: Float32Array }

/** llama.cpp's kvalues_iq4nl: the 16 levels of iq4_nl / iq4_xs. */
export const KVALUES_IQ4NL = new Float32Array([-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]);

const h16 = (x: Uint8Array, o: number) => f16ToF32(x[o] | (x[o + 1] << 8));

interface Codec { B: number; bytes: number; grid(x: Uint8Array, o: number, g: BlockGrid): void; set(x: Uint8Array, o: number, i: number, q: number): void; qmin: number; qmax: number; levels?: Float32Array }

/** ggml's get_scale_min_k4: 6-bit scale and min of sub-block j from the 12 packed bytes at s. */
function scaleMinK4(j: number, x: Uint8Array, s: number): [number, number] {
  if (j < 4) return [x[s + j] & 63, x[s + j + 4] & 63];
  return [(x[s + j + 4] & 0xf) | ((x[s + j - 4] >> 6) << 4), (x[s + j + 4] >> 4) | ((x[s + j] >> 6) << 4)];
}

const setNibble = (x: Uint8Array, at: number, high: boolean, v: number) => { x[at] = high ? (x[at] & 0x0f) | ((v & 15) << 4) : (x[at] & 0xf0) | (v & 15); };

/** q3_K's 6-bit scale s (0..15) from the 12 packed bytes at `at` (the unpacking of dequantize_row_q3_K). */
function scaleQ3K(x: Uint8Array, at: number, s: number): number {
  const lo = s < 8 ? x[at + s] & 15 : x[at + s - 8] >> 4;
  const hi = (x[at + 8 + (s & 3)] >> (2 * (s >> 2))) & 3;
  return lo | (hi << 4);
}

const CODECS: Record<string, Codec> = {
  // block_q2_K: scales[16] (low nibble scale, high nibble min), qs[64], d, dmin; y = d·sc·q − dmin·m, q ∈ 0..3
  q2_K: { B: 256, bytes: 84, qmin: 0, qmax: 3,
    grid(x, o, g) {
      const d = h16(x, o + 80), dm = h16(x, o + 82);
      for (let s = 0; s < 16; s++) { const sc = x[o + s]; g.a.fill(Math.fround(d * (sc & 15)), 16 * s, 16 * s + 16); g.b.fill(-Math.fround(dm * (sc >> 4)), 16 * s, 16 * s + 16); }
    },
    set(x, o, e, q) {
      const n = e >> 7, k = e & 127, j = k >> 5, l = k & 31, at = o + 16 + 32 * n + l, sh = 2 * j;
      x[at] = (x[at] & ~(3 << sh)) | ((q & 3) << sh);
    } },
  // block_q3_K: hmask[32], qs[64], scales[12] (16 × 6 bits, offset 32), d; y = d·(sc − 32)·(L − 4), L ∈ 0..7
  // (low 2 bits of L in qs, bit 2 in hmask)
  q3_K: { B: 256, bytes: 110, qmin: 0, qmax: 7,
    grid(x, o, g) {
      const d = h16(x, o + 108);
      for (let s = 0; s < 16; s++) {
        const n = s >> 3, j = (s & 7) >> 1, half = s & 1; // sub-block s covers values 128n + 32j + 16·half + (0..15)
        const a = Math.fround(d * (scaleQ3K(x, o + 96, s) - 32)), at = 128 * n + 32 * j + 16 * half;
        g.a.fill(a, at, at + 16); g.b.fill(Math.fround(-4 * a), at, at + 16);
      }
    },
    set(x, o, e, q) {
      const n = e >> 7, k = e & 127, j = k >> 5, l = k & 31, at = o + 32 + 32 * n + l, sh = 2 * j;
      x[at] = (x[at] & ~(3 << sh)) | ((q & 3) << sh);
      const hm = o + l, bit = 1 << (4 * n + j);
      x[hm] = q & 4 ? x[hm] | bit : x[hm] & ~bit;
    } },
  // block_iq4_nl: d, qs[16]; y = d · kvalues[q]
  iq4_nl: { B: 32, bytes: 18, qmin: 0, qmax: 15, levels: KVALUES_IQ4NL,
    grid(x, o, g) { g.a.fill(h16(x, o)); g.b.fill(0); },
    set(x, o, i, q) { setNibble(x, o + 2 + (i & 15), i >= 16, q); } },
  // block_iq4_xs: d, scales_h (u16), scales_l[4], qs[128]; sub-block ib of 32: y = d·(ls − 32)·kvalues[q]
  iq4_xs: { B: 256, bytes: 136, qmin: 0, qmax: 15, levels: KVALUES_IQ4NL,
    grid(x, o, g) {
      const d = h16(x, o), sh = x[o + 2] | (x[o + 3] << 8);
      for (let ib = 0; ib < 8; ib++) {
        const ls = ((x[o + 4 + (ib >> 1)] >> (4 * (ib & 1))) & 15) | (((sh >> (2 * ib)) & 3) << 4);
        g.a.fill(Math.fround(d * (ls - 32)), 32 * ib, 32 * ib + 32);
      }
      g.b.fill(0);
    },
    set(x, o, e, q) { const ib = e >> 5, j = e & 31; setNibble(x, o + 8 + 16 * ib + (j & 15), j >= 16, q); } },
  q4_0: { B: 32, bytes: 18, qmin: 0, qmax: 15,
    grid(x, o, g) { const d = h16(x, o); g.a.fill(d); g.b.fill(Math.fround(-8 * d)); },
    set(x, o, i, q) { setNibble(x, o + 2 + (i & 15), i >= 16, q); } },
  q4_1: { B: 32, bytes: 20, qmin: 0, qmax: 15,
    grid(x, o, g) { g.a.fill(h16(x, o)); g.b.fill(h16(x, o + 2)); },
    set(x, o, i, q) { setNibble(x, o + 4 + (i & 15), i >= 16, q); } },
  q5_0: { B: 32, bytes: 22, qmin: 0, qmax: 31,
    grid(x, o, g) { const d = h16(x, o); g.a.fill(d); g.b.fill(Math.fround(-16 * d)); },
    set(x, o, i, q) { setNibble(x, o + 6 + (i & 15), i >= 16, q); const at = o + 2 + (i >> 3), bit = 1 << (i & 7); x[at] = q & 16 ? x[at] | bit : x[at] & ~bit; } },
  q5_1: { B: 32, bytes: 24, qmin: 0, qmax: 31,
    grid(x, o, g) { g.a.fill(h16(x, o)); g.b.fill(h16(x, o + 2)); },
    set(x, o, i, q) { setNibble(x, o + 8 + (i & 15), i >= 16, q); const at = o + 4 + (i >> 3), bit = 1 << (i & 7); x[at] = q & 16 ? x[at] | bit : x[at] & ~bit; } },
  q8_0: { B: 32, bytes: 34, qmin: -127, qmax: 127,
    grid(x, o, g) { g.a.fill(h16(x, o)); g.b.fill(0); },
    set(x, o, i, q) { x[o + 2 + i] = q & 0xff; } },
  q4_K: { B: 256, bytes: 144, qmin: 0, qmax: 15,
    grid(x, o, g) {
      const d = h16(x, o), dm = h16(x, o + 2);
      for (let j = 0; j < 8; j++) { const [sc, m] = scaleMinK4(j, x, o + 4); g.a.fill(Math.fround(d * sc), 32 * j, 32 * j + 32); g.b.fill(-Math.fround(dm * m), 32 * j, 32 * j + 32); }
    },
    set(x, o, i, q) { setNibble(x, o + 16 + 32 * (i >> 6) + (i & 31), ((i >> 5) & 1) === 1, q); } },
  q5_K: { B: 256, bytes: 176, qmin: 0, qmax: 31,
    grid(x, o, g) {
      const d = h16(x, o), dm = h16(x, o + 2);
      for (let j = 0; j < 8; j++) { const [sc, m] = scaleMinK4(j, x, o + 4); g.a.fill(Math.fround(d * sc), 32 * j, 32 * j + 32); g.b.fill(-Math.fround(dm * m), 32 * j, 32 * j + 32); }
    },
    set(x, o, i, q) {
      setNibble(x, o + 48 + 32 * (i >> 6) + (i & 31), ((i >> 5) & 1) === 1, q);
      const at = o + 16 + (i & 31), bit = 1 << (i >> 5);
      x[at] = q & 16 ? x[at] | bit : x[at] & ~bit;
    } },
  q6_K: { B: 256, bytes: 210, qmin: 0, qmax: 63,
    grid(x, o, g) {
      const d = h16(x, o + 208);
      for (let e = 0; e < 256; e++) {
        const n = e >> 7, k = e & 127, qq = k >> 5, l = k & 31;
        const sc = (x[o + 192 + n * 8 + (l >> 4) + 2 * qq] << 24) >> 24;
        const a = Math.fround(d * sc);
        g.a[e] = a; g.b[e] = Math.fround(-32 * a);
      }
    },
    set(x, o, e, q) {
      const n = e >> 7, k = e & 127, qq = k >> 5, l = k & 31;
      setNibble(x, o + n * 64 + l + (qq & 1 ? 32 : 0), qq >= 2, q & 15);
      const at = o + 128 + n * 32 + l, sh = 2 * qq;
      x[at] = (x[at] & ~(3 << sh)) | (((q >> 4) & 3) << sh);
    } },
};

/** Whether GPTQ can round value by value on `type`'s grid (else it rounds whole blocks). */
export function hasGrid(type: string): boolean { return type in CODECS; }

/** Values per block and bytes per block of a grid type. */
export function gridBlock(type: string): { B: number; bytes: number } { const c = CODECS[type]; return { B: c.B, bytes: c.bytes }; }

/** Reads the grid of the block at byte offset `o` into `g` (a, b of length B). */
export function readGrid(type: string, x: Uint8Array, o: number, g: BlockGrid): BlockGrid {
  const c = CODECS[type];
  c.grid(x, o, g);
  g.qmin = c.qmin; g.qmax = c.qmax; g.levels = c.levels;
  return g;
}

/** A grid buffer for `type`. */
export function newGrid(type: string): BlockGrid {
  const c = CODECS[type];
  return { a: new Float32Array(c.B), b: new Float32Array(c.B), qmin: c.qmin, qmax: c.qmax, levels: c.levels };
}

/** The value integer q stands for at position i of the block: fround(fround(a·q) + b) (a·levels[q] + b when non-uniform). */
export function gridValue(g: BlockGrid, i: number, q: number): number {
  return Math.fround(Math.fround(g.a[i] * (g.levels ? g.levels[q] : q)) + g.b[i]);
}

/** Nearest grid integer to w at position i of the block (ties to the lower level for non-uniform grids). */
export function nearestOnGrid(g: BlockGrid, i: number, w: number): number {
  return g.levels ? nearestLevel(w, g.a[i], g.b[i], g.levels) : nearestQ(w, g.a[i], g.b[i], g.qmin, g.qmax);
}

/** Index of the level L[q] (ascending) whose value a·L[q] + b is nearest to w (a may be negative). */
export function nearestLevel(w: number, a: number, b: number, L: Float32Array): number {
  if (a === 0) return L.length >> 1;
  const t = (w - b) / a; // |a·L − (w − b)| = |a|·|L − t|: binary search the nearest level
  let lo = 0, hi = L.length - 1;
  while (hi - lo > 1) { const m = (lo + hi) >> 1; if (L[m] <= t) lo = m; else hi = m; }
  return Math.abs(t - L[lo]) <= Math.abs(L[hi] - t) ? lo : hi;
}

/** Stores integer q for value i of the block at `o` (scales untouched). */
export function setQuant(type: string, x: Uint8Array, o: number, i: number, q: number): void { CODECS[type].set(x, o, i, q); }

/** Nearest grid integer to w (value a · q + b), clamped; 0-scale grids give qmin.. any (returns the clamp of 0 offset). */
export function nearestQ(w: number, a: number, b: number, qmin: number, qmax: number): number {
  if (a === 0) return Math.min(qmax, Math.max(qmin, 0));
  const q = Math.round((w - b) / a);
  return q < qmin ? qmin : q > qmax ? qmax : q;
}
