/**
 * Block codecs of the `search` and `hqq` methods: every block of a supported ggml type unpacked into its
 * parameters (f16 bits of the super-block scale D and min Dm, the integer sub-block scales S and mins M,
 * one level index L per value) and packed back into the same bytes. Decoding a packed block with the
 * engine's dequantizer gives, for value i of group g (the values sharing one scale):
 *   value = a_g · lev[L_i] + b_g  (see {@link groupGrid}),
 * exactly the f32 operations of ggml's dequantizers (a_g = D for 32-blocks, fround(D · S_g) for k-quants;
 * b_g = 0, the stored min (q4_1 / q5_1), or −fround(Dm · M_g) (q2_K / q4_K / q5_K)).
 * Formats: q4_0 q4_1 q5_0 q5_1 q8_0 iq4_nl (one group of 32 per block), q2_K q3_K q6_K (16 groups of 16),
 * q4_K q5_K (8 groups of 32).
 */
import { f16ToF32 } from "../formats/half";

/** Unpacked parameters of `nb` blocks. */
export interface BlockParams {
  /** f16 bits of the block scale (per block). */
  D: Uint16Array;
  /** f16 bits of the super-block min scale (k-quants type 1) or of the stored min (q4_1 / q5_1). */
  Dm: Uint16Array;
  /** Integer sub-block scales (k-quants; nb · nG; 1 for 32-blocks). */
  S: Int32Array;
  /** Integer sub-block mins (q2_K / q4_K / q5_K; nb · nG). */
  M: Int32Array;
  /** Level index per value, 0..nLev−1 (nb · B). */
  L: Uint8Array;
}

/** One supported type. */
export interface SearchFormat {
  type: string;
  /** Values and bytes per block. */
  B: number; bytes: number;
  /** Values per group and groups per block. */
  G: number; nG: number;
  /** Levels: uniform lev[L] = lev0 + L (kind 0), or kvalues_iq4nl (kind 1). */
  nLev: number; lev0: number; kind: 0 | 1;
  /** value = a·v + b with a fitted b (q4_1 q5_1 q2_K q4_K q5_K) or b = 0. */
  type1: boolean;
  /** Integer sub-block scales under f16 D (k-quants), with their ranges. */
  k: boolean; sMin: number; sMax: number; mMax: number;
  unpack(x: Uint8Array, o: number, P: BlockParams, bi: number): void;
  pack(P: BlockParams, bi: number, x: Uint8Array, o: number): void;
}

const u16 = (x: Uint8Array, o: number) => x[o] | (x[o + 1] << 8);
const w16 = (x: Uint8Array, o: number, v: number) => { x[o] = v & 0xff; x[o + 1] = (v >> 8) & 0xff; };

/** Nibble layout A (q4_0 / iq4_nl / q4_1 / q5_x): value i < 16 low nibble of qs[i], else high nibble of qs[i − 16]. */
function unpackNib32(x: Uint8Array, qs: number, L: Uint8Array, l0: number) {
  for (let i = 0; i < 16; i++) { const v = x[qs + i]; L[l0 + i] = v & 15; L[l0 + i + 16] = v >> 4; }
}
function packNib32(L: Uint8Array, l0: number, x: Uint8Array, qs: number) {
  for (let i = 0; i < 16; i++) x[qs + i] = (L[l0 + i] & 15) | ((L[l0 + i + 16] & 15) << 4);
}
/** 32 high bits (q5_0 / q5_1 qh, little-endian u32 bit i = value i). */
function unpackHigh32(x: Uint8Array, qh: number, L: Uint8Array, l0: number) {
  for (let i = 0; i < 32; i++) if ((x[qh + (i >> 3)] >> (i & 7)) & 1) L[l0 + i] |= 16;
}
function packHigh32(L: Uint8Array, l0: number, x: Uint8Array, qh: number) {
  for (let j = 0; j < 4; j++) x[qh + j] = 0;
  for (let i = 0; i < 32; i++) if (L[l0 + i] & 16) x[qh + (i >> 3)] |= 1 << (i & 7);
}

/** ggml get_scale_min_k4 / its inverse (q4_K, q5_K: 8 six-bit scales and mins in 12 bytes at s). */
function unpackK4(x: Uint8Array, s: number, S: Int32Array, M: Int32Array, g0: number) {
  for (let j = 0; j < 8; j++) {
    if (j < 4) { S[g0 + j] = x[s + j] & 63; M[g0 + j] = x[s + j + 4] & 63; }
    else { S[g0 + j] = (x[s + j + 4] & 0xf) | ((x[s + j - 4] >> 6) << 4); M[g0 + j] = (x[s + j + 4] >> 4) | ((x[s + j] >> 6) << 4); }
  }
}
function packK4(S: Int32Array, M: Int32Array, g0: number, x: Uint8Array, s: number) {
  for (let j = 0; j < 4; j++) { x[s + j] = S[g0 + j] & 63; x[s + j + 4] = M[g0 + j] & 63; }
  for (let j = 4; j < 8; j++) {
    const sc = S[g0 + j], m = M[g0 + j];
    x[s + j + 4] = (sc & 0xf) | ((m & 0xf) << 4);
    x[s + j - 4] |= (sc >> 4) << 6;
    x[s + j] |= (m >> 4) << 6;
  }
}

/** q4_K / q5_K 4-bit parts: value e at 32·(e >> 6) + (e & 31), high nibble when bit 5 of e is set. */
function unpackK4q(x: Uint8Array, qs: number, L: Uint8Array, l0: number) {
  for (let e = 0; e < 256; e++) { const v = x[qs + 32 * (e >> 6) + (e & 31)]; L[l0 + e] = (e >> 5) & 1 ? v >> 4 : v & 15; }
}
function packK4q(L: Uint8Array, l0: number, x: Uint8Array, qs: number) {
  for (let e = 0; e < 256; e++) {
    const at = qs + 32 * (e >> 6) + (e & 31), v = L[l0 + e] & 15;
    x[at] = (e >> 5) & 1 ? (x[at] & 0x0f) | (v << 4) : (x[at] & 0xf0) | v;
  }
}
/** q2_K / q3_K 2-bit parts: value e at 32·(e >> 7) + (e & 31), bits 2·((e >> 5) & 3). */
function unpack2(x: Uint8Array, qs: number, L: Uint8Array, l0: number) {
  for (let e = 0; e < 256; e++) L[l0 + e] = (x[qs + 32 * (e >> 7) + (e & 31)] >> (2 * ((e >> 5) & 3))) & 3;
}
function pack2(L: Uint8Array, l0: number, x: Uint8Array, qs: number) {
  for (let j = 0; j < 64; j++) x[qs + j] = 0;
  for (let e = 0; e < 256; e++) x[qs + 32 * (e >> 7) + (e & 31)] |= (L[l0 + e] & 3) << (2 * ((e >> 5) & 3));
}

const fmt32 = (type: string, bytes: number, nLev: number, lev0: number, type1: boolean, kind: 0 | 1,
  unpack: SearchFormat["unpack"], pack: SearchFormat["pack"]): SearchFormat =>
  ({ type, B: 32, bytes, G: 32, nG: 1, nLev, lev0, kind, type1, k: false, sMin: 1, sMax: 1, mMax: 0, unpack, pack });

const FORMATS: Record<string, SearchFormat> = {
  q4_0: fmt32("q4_0", 18, 16, -8, false, 0,
    (x, o, P, bi) => { P.D[bi] = u16(x, o); P.S[bi] = 1; unpackNib32(x, o + 2, P.L, 32 * bi); },
    (P, bi, x, o) => { w16(x, o, P.D[bi]); packNib32(P.L, 32 * bi, x, o + 2); }),
  iq4_nl: fmt32("iq4_nl", 18, 16, 0, false, 1,
    (x, o, P, bi) => { P.D[bi] = u16(x, o); P.S[bi] = 1; unpackNib32(x, o + 2, P.L, 32 * bi); },
    (P, bi, x, o) => { w16(x, o, P.D[bi]); packNib32(P.L, 32 * bi, x, o + 2); }),
  q4_1: fmt32("q4_1", 20, 16, 0, true, 0,
    (x, o, P, bi) => { P.D[bi] = u16(x, o); P.Dm[bi] = u16(x, o + 2); P.S[bi] = 1; unpackNib32(x, o + 4, P.L, 32 * bi); },
    (P, bi, x, o) => { w16(x, o, P.D[bi]); w16(x, o + 2, P.Dm[bi]); packNib32(P.L, 32 * bi, x, o + 4); }),
  q5_0: fmt32("q5_0", 22, 32, -16, false, 0,
    (x, o, P, bi) => { P.D[bi] = u16(x, o); P.S[bi] = 1; unpackNib32(x, o + 6, P.L, 32 * bi); unpackHigh32(x, o + 2, P.L, 32 * bi); },
    (P, bi, x, o) => { w16(x, o, P.D[bi]); packNib32(P.L, 32 * bi, x, o + 6); packHigh32(P.L, 32 * bi, x, o + 2); }),
  q5_1: fmt32("q5_1", 24, 32, 0, true, 0,
    (x, o, P, bi) => { P.D[bi] = u16(x, o); P.Dm[bi] = u16(x, o + 2); P.S[bi] = 1; unpackNib32(x, o + 8, P.L, 32 * bi); unpackHigh32(x, o + 4, P.L, 32 * bi); },
    (P, bi, x, o) => { w16(x, o, P.D[bi]); w16(x, o + 2, P.Dm[bi]); packNib32(P.L, 32 * bi, x, o + 8); packHigh32(P.L, 32 * bi, x, o + 4); }),
  q8_0: fmt32("q8_0", 34, 255, -127, false, 0,
    (x, o, P, bi) => { P.D[bi] = u16(x, o); P.S[bi] = 1; for (let i = 0; i < 32; i++) P.L[32 * bi + i] = Math.max(-127, (x[o + 2 + i] << 24) >> 24) + 127; },
    (P, bi, x, o) => { w16(x, o, P.D[bi]); for (let i = 0; i < 32; i++) x[o + 2 + i] = (P.L[32 * bi + i] - 127) & 0xff; }),
  q4_K: { type: "q4_K", B: 256, bytes: 144, G: 32, nG: 8, nLev: 16, lev0: 0, kind: 0, type1: true, k: true, sMin: 0, sMax: 63, mMax: 63,
    unpack(x, o, P, bi) { P.D[bi] = u16(x, o); P.Dm[bi] = u16(x, o + 2); unpackK4(x, o + 4, P.S, P.M, 8 * bi); unpackK4q(x, o + 16, P.L, 256 * bi); },
    pack(P, bi, x, o) { w16(x, o, P.D[bi]); w16(x, o + 2, P.Dm[bi]); packK4(P.S, P.M, 8 * bi, x, o + 4); packK4q(P.L, 256 * bi, x, o + 16); } },
  q5_K: { type: "q5_K", B: 256, bytes: 176, G: 32, nG: 8, nLev: 32, lev0: 0, kind: 0, type1: true, k: true, sMin: 0, sMax: 63, mMax: 63,
    unpack(x, o, P, bi) {
      P.D[bi] = u16(x, o); P.Dm[bi] = u16(x, o + 2); unpackK4(x, o + 4, P.S, P.M, 8 * bi); unpackK4q(x, o + 48, P.L, 256 * bi);
      for (let e = 0; e < 256; e++) if ((x[o + 16 + (e & 31)] >> (e >> 5)) & 1) P.L[256 * bi + e] |= 16;
    },
    pack(P, bi, x, o) {
      w16(x, o, P.D[bi]); w16(x, o + 2, P.Dm[bi]); packK4(P.S, P.M, 8 * bi, x, o + 4); packK4q(P.L, 256 * bi, x, o + 48);
      for (let j = 0; j < 32; j++) x[o + 16 + j] = 0;
      for (let e = 0; e < 256; e++) if (P.L[256 * bi + e] & 16) x[o + 16 + (e & 31)] |= 1 << (e >> 5);
    } },
  q6_K: { type: "q6_K", B: 256, bytes: 210, G: 16, nG: 16, nLev: 64, lev0: -32, kind: 0, type1: false, k: true, sMin: -128, sMax: 127, mMax: 0,
    unpack(x, o, P, bi) {
      P.D[bi] = u16(x, o + 208);
      for (let j = 0; j < 16; j++) P.S[16 * bi + j] = (x[o + 192 + j] << 24) >> 24;
      for (let e = 0; e < 256; e++) {
        const n = e >> 7, k = e & 127, qq = k >> 5, l = k & 31;
        const lo = x[o + n * 64 + l + (qq & 1 ? 32 : 0)], hi = (x[o + 128 + n * 32 + l] >> (2 * qq)) & 3;
        P.L[256 * bi + e] = (qq >= 2 ? lo >> 4 : lo & 15) | (hi << 4);
      }
    },
    pack(P, bi, x, o) {
      w16(x, o + 208, P.D[bi]);
      for (let j = 0; j < 16; j++) x[o + 192 + j] = P.S[16 * bi + j] & 0xff;
      for (let j = 0; j < 192; j++) x[o + j] = 0;
      for (let e = 0; e < 256; e++) {
        const n = e >> 7, k = e & 127, qq = k >> 5, l = k & 31, q = P.L[256 * bi + e];
        x[o + n * 64 + l + (qq & 1 ? 32 : 0)] |= (q & 15) << (qq >= 2 ? 4 : 0);
        x[o + 128 + n * 32 + l] |= ((q >> 4) & 3) << (2 * qq);
      }
    } },
  q3_K: { type: "q3_K", B: 256, bytes: 110, G: 16, nG: 16, nLev: 8, lev0: -4, kind: 0, type1: false, k: true, sMin: -32, sMax: 31, mMax: 0,
    unpack(x, o, P, bi) {
      P.D[bi] = u16(x, o + 108);
      const s = o + 96;
      for (let j = 0; j < 16; j++) {
        const lo = j < 8 ? x[s + j] & 0xf : x[s + j - 8] >> 4;
        P.S[16 * bi + j] = (lo | (((x[s + 8 + (j & 3)] >> (2 * (j >> 2))) & 3) << 4)) - 32;
      }
      unpack2(x, o + 32, P.L, 256 * bi);
      for (let e = 0; e < 256; e++) if ((x[o + (e & 31)] >> (e >> 5)) & 1) P.L[256 * bi + e] |= 4;
    },
    pack(P, bi, x, o) {
      w16(x, o + 108, P.D[bi]);
      const s = o + 96;
      for (let j = 0; j < 12; j++) x[s + j] = 0;
      for (let j = 0; j < 16; j++) {
        const u = P.S[16 * bi + j] + 32;
        if (j < 8) x[s + j] |= u & 0xf; else x[s + j - 8] |= (u & 0xf) << 4;
        x[s + 8 + (j & 3)] |= (u >> 4) << (2 * (j >> 2));
      }
      pack2(P.L, 256 * bi, x, o + 32);
      for (let j = 0; j < 32; j++) x[o + j] = 0;
      for (let e = 0; e < 256; e++) if (P.L[256 * bi + e] & 4) x[o + (e & 31)] |= 1 << (e >> 5);
    } },
  q2_K: { type: "q2_K", B: 256, bytes: 84, G: 16, nG: 16, nLev: 4, lev0: 0, kind: 0, type1: true, k: true, sMin: 0, sMax: 15, mMax: 15,
    unpack(x, o, P, bi) {
      P.D[bi] = u16(x, o + 80); P.Dm[bi] = u16(x, o + 82);
      for (let j = 0; j < 16; j++) { P.S[16 * bi + j] = x[o + j] & 15; P.M[16 * bi + j] = x[o + j] >> 4; }
      unpack2(x, o + 16, P.L, 256 * bi);
    },
    pack(P, bi, x, o) {
      w16(x, o + 80, P.D[bi]); w16(x, o + 82, P.Dm[bi]);
      for (let j = 0; j < 16; j++) x[o + j] = (P.S[16 * bi + j] & 15) | ((P.M[16 * bi + j] & 15) << 4);
      pack2(P.L, 256 * bi, x, o + 16);
    } },
};

/** The codec of `type`, or undefined when the search methods do not handle it. */
export function searchFormat(type: string): SearchFormat | undefined { return FORMATS[type]; }

/** Types with a search codec. */
export const SEARCH_TYPES: readonly string[] = Object.keys(FORMATS);

/** Parameter arrays for `nb` blocks of `f`. */
export function newParams(f: SearchFormat, nb: number): BlockParams {
  return { D: new Uint16Array(nb), Dm: new Uint16Array(nb), S: new Int32Array(nb * f.nG), M: new Int32Array(nb * f.nG), L: new Uint8Array(nb * f.B) };
}

let H2F: Float32Array | null = null;
/** f16 bits → f32 through a 64 Ki-entry table (built on first use, 256 KiB). */
export function h2f(h: number): number {
  if (!H2F) { H2F = new Float32Array(65536); for (let i = 0; i < 65536; i++) H2F[i] = f16ToF32(i); }
  return H2F[h];
}

/** Grid of group g (global index bi · nG + j) under the parameters: value = a · lev[L] + b. */
export function groupGrid(f: SearchFormat, D: number, Dm: number, s: number, m: number): [number, number] {
  const d = h2f(D);
  if (!f.k) return [d, f.type1 ? h2f(Dm) : 0];
  const a = Math.fround(d * s);
  return [a, f.type1 ? -Math.fround(h2f(Dm) * m) : 0];
}

/** The level table of `f` (f32, nLev entries). */
export function levels(f: SearchFormat): Float32Array {
  const t = new Float32Array(f.nLev);
  const KV = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];
  for (let i = 0; i < f.nLev; i++) t[i] = f.kind === 1 ? KV[i] : f.lev0 + i;
  return t;
}
