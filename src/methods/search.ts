/**
 * The `search` method: imatrix-weighted improvement of llama.cpp's own blocks, no calibration data
 * (the approach ik_llama.cpp published for Q4_0 / Q3_K / Q6_K / IQ4_NL and the type-1 formats).
 * Starting from llama.cpp's RTN bytes (its initial scale / min search), per group of values sharing one
 * scale (the 32-block, or the 16/32-value sub-block of a k-quant):
 *  1. greedy coordinate steps on the levels that maximize (Σ w·x·q)² / Σ w·q² (type 0) or the 2 × 2
 *     least-squares gain (type 1, value = a·q + b): the optimal float scale (and min) of the group;
 *  2. candidate encodings, each evaluated over all groups at once in wasm (search_err_forward: nearest
 *     rounding onto the encoded grid and its weighted error): 32-blocks try the stored f16 scale and the
 *     optimal scale's f16 and its ±1, ±2 ulp neighbours (× the min's f16 and ±1 ulp for q4_1 / q5_1);
 *     k-quants try the neighbouring integers of each sub-block scale (and min), around the stored value and
 *     around the optimal one (6 × 6 candidates for q2_K / q4_K / q5_K, 6 for q3_K / q6_K);
 *  3. k-quants: the f16 super-block scale (and min scale) refitted by least squares given the chosen
 *     integers, with ±1 ulp neighbours;
 *  4. the levels re-rounded onto the final grid and packed into ordinary blocks.
 * Every group keeps the lowest weighted error among the candidates (the stored encoding is one of them),
 * and at the end each block is decoded with the engine's dequantizer and kept only when its weighted
 * error is strictly below the starting block's: the result is never worse than RTN, block by block.
 * Weights: w = imatrix[c] · sqrt(σ² + x²) (σ² = Σx²/cols of the row, llama.cpp's quant_weights) with an
 * importance matrix, else w = x².
 * After another bytes-producing method (`methods: ["gptq", "search"]`), the base method's levels are
 * kept and only the scales / mins are refitted (least squares on the given levels, the same candidate
 * encodings, error of the given levels): "search refines the scales of whatever the base method chose".
 * Types: q4_0 q4_1 q5_0 q5_1 q8_0 iq4_nl q2_K q3_K q4_K q5_K q6_K (src/methods/search-codec.ts).
 * Cost: ≈ (passes · 30 + candidates · 8) flops per weight (≈ 300–600 for k-quants); memory: the tensor's
 * output bytes twice + per chunk of ≤ 2^20 values 14 bytes per value (wasm) + the parameter arrays.
 */
import { TensorshrinkError } from "../errors";
import type { Engine } from "../engine/engine";
import { f16ToF32, f32ToF16 } from "../formats/half";
import { bytesOf, rowsOf, rtnBytes } from "./rtn";
import { groupGrid, levels, newParams, searchFormat, type BlockParams, type SearchFormat } from "./search-codec";
import type { TensorInfo, TensorMethod, TensorMethodContext, TensorMethodResult } from "./types";

/** Options of {@link searchQuantize} / {@link searchMethod}. */
export interface SearchOptions {
  /** Passes of greedy level steps per group (default 4; 0 = only the least-squares scale of RTN's levels). */
  passes?: number;
  /**
   * Weights of the objective: "llama" (default) imatrix · sqrt(σ² + x²), x² without an imatrix (llama.cpp's
   * quant_weights); "imatrix": the imatrix alone (the diagonal of the layer's output error), 1 without one.
   */
  weights?: "llama" | "imatrix";
}

/** What one search did. */
export interface SearchResult {
  bytes: Uint8Array;
  /** Blocks changed / all blocks. */
  improved: number; blocks: number;
  /** Σ weighted squared error of the starting bytes and of the result (f64, decoded by the engine). */
  errBefore: number; errAfter: number;
}

const DENSE = new Set(["f32", "f16", "bf16"]);
const CHUNK_VALUES = 1 << 20;

/** Whether f16 bits are finite (not Inf/NaN). */
const finiteH = (h: number) => ((h >> 10) & 0x1f) !== 0x1f;
/** f16 neighbours of a value: f16(v) + k ulp for k in ks (same sign, finite). */
function h16Near(v: number, ks: readonly number[]): number[] {
  if (!Number.isFinite(v)) return [];
  const h = f32ToF16(v), out: number[] = [];
  for (const k of ks) { const m = (h & 0x7fff) + k; if (m >= 0 && m < 0x7c00) out.push((h & 0x8000) | m); }
  return out;
}

/**
 * llama.cpp-style importance weights of rows × cols values: im[c] · sqrt(σ²_row + x²), or x² without an
 * imatrix. `im` holds cols values, or one vector per matrix of `per` rows (row r of the chunk is global
 * row r0 + r).
 */
export function searchWeights(x: Float32Array, rows: number, cols: number, im: Float32Array | null | undefined, per = rows, r0 = 0, out = new Float32Array(rows * cols), mode: "llama" | "imatrix" = "llama"): Float32Array {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    if (mode === "imatrix") {
      const io = im && im.length > cols ? Math.floor((r0 + r) / per) * cols : 0;
      for (let c = 0; c < cols; c++) out[o + c] = im ? im[io + c] : 1;
      continue;
    }
    if (!im) { for (let c = 0; c < cols; c++) out[o + c] = x[o + c] * x[o + c]; continue; }
    let s2 = 0;
    for (let c = 0; c < cols; c++) s2 += x[o + c] * x[o + c];
    s2 /= cols;
    const io = im.length > cols ? Math.floor((r0 + r) / per) * cols : 0;
    for (let c = 0; c < cols; c++) out[o + c] = im[io + c] * Math.sqrt(s2 + x[o + c] * x[o + c]);
  }
  return out;
}

/** Wasm scratch for one chunk: x, w (f32), levels (u8), per-group a, b, err (f32), ab (2 f32), lev table. */
class Scratch {
  readonly p: { x: number; w: number; lq: number; a: number; b: number; err: number; ab: number; lev: number };
  constructor(readonly engine: Engine, readonly n: number, readonly ng: number, lev: Float32Array) {
    const e = engine;
    this.p = { x: e.alloc(4 * n), w: e.alloc(4 * n), lq: e.alloc(n + 16), a: e.alloc(4 * ng), b: e.alloc(4 * ng), err: e.alloc(4 * ng), ab: e.alloc(8 * ng), lev: e.alloc(4 * lev.length + 16) };
    this.f32(this.p.lev, lev.length).set(lev);
  }
  f32(p: number, n: number) { return new Float32Array(this.engine.exports.memory.buffer, p, n); }
  u8(p: number, n: number) { return new Uint8Array(this.engine.exports.memory.buffer, p, n); }
  free() { for (const p of Object.values(this.p)) this.engine.free(p); }
}

/** Weighted error per block of decoded values y against x (f64). */
function blockErrors(x: Float32Array, y: Float32Array, w: Float32Array, B: number, out: Float64Array): Float64Array {
  for (let bi = 0; bi < out.length; bi++) {
    let s = 0;
    for (let i = bi * B; i < (bi + 1) * B; i++) { const e = x[i] - y[i]; s += w[i] * e * e; }
    out[bi] = s;
  }
  return out;
}

/**
 * Runs the search over one 2D chunk. `start` holds the chunk's starting bytes; returns the new bytes.
 * @internal
 */
function searchChunk(engine: Engine, f: SearchFormat, sc: Scratch, x: Float32Array, w: Float32Array, start: Uint8Array, nb: number, passes: number, fixed: boolean): Uint8Array {
  const X = engine.exports, P: BlockParams = newParams(f, nb), ng = nb * f.nG, n = nb * f.B, G = f.G;
  for (let bi = 0; bi < nb; bi++) f.unpack(start, bi * f.bytes, P, bi);
  sc.f32(sc.p.x, n).set(x); sc.f32(sc.p.w, n).set(w);
  const kernelKind = f.kind, type1 = f.type1 ? 1 : 0;
  const A = new Float32Array(ng), Bv = new Float32Array(ng);
  const evalGrid = (fix: boolean) => {
    sc.f32(sc.p.a, ng).set(A); sc.f32(sc.p.b, ng).set(Bv);
    X.search_err_forward(sc.p.err, sc.p.lq, sc.p.x, sc.p.w, sc.p.a, sc.p.b, ng, G, sc.p.lev, f.nLev, kernelKind, fix ? 1 : 0);
    return sc.f32(sc.p.err, ng).slice();
  };
  const gridOf = (g: number, D: number, Dm: number, s: number, m: number) => { const [a, b] = groupGrid(f, D, Dm, s, m); A[g] = a; Bv[g] = b; };
  // candidate 0: the stored encoding
  const curD = P.D.slice(), curDm = P.Dm.slice();
  for (let g = 0; g < ng; g++) { const bi = (g / f.nG) | 0; gridOf(g, P.D[bi], P.Dm[bi], P.S[g], P.M[g]); }
  sc.u8(sc.p.lq, n).set(P.L);
  const best = evalGrid(fixed);
  // 1. greedy steps (or, fixed, the least-squares scale of the given levels): optimal float a, b per group
  X.search_steps_forward(sc.p.ab, sc.p.lq, sc.p.x, sc.p.w, ng, G, sc.p.lev, f.nLev, kernelKind, type1, fixed ? 0 : passes);
  const ab = sc.f32(sc.p.ab, 2 * ng).slice();
  if (fixed) sc.u8(sc.p.lq, n).set(P.L);
  const tryCandidates = (fill: (g: number) => boolean, accept: (g: number) => void) => {
    let any = false;
    for (let g = 0; g < ng; g++) any = fill(g) || any;
    if (!any) return;
    const e = evalGrid(fixed);
    for (let g = 0; g < ng; g++) if (e[g] < best[g]) { best[g] = e[g]; accept(g); }
  };
  if (!f.k) {
    // 2. 32-blocks: f16 scale (and min) candidates
    const dc: number[][] = [], mc: number[][] = [];
    let nd = 0, nm = 0;
    for (let g = 0; g < ng; g++) {
      dc.push(h16Near(ab[2 * g], [-2, -1, 0, 1, 2])); nd = Math.max(nd, dc[g].length);
      mc.push(f.type1 ? [P.Dm[g], ...h16Near(ab[2 * g + 1], [-1, 0, 1])] : [0]); nm = Math.max(nm, mc[g].length);
    }
    for (let i = -1; i < nd; i++) for (let j = 0; j < nm; j++) {
      if (i < 0 && j === 0) continue;
      const cd = new Uint16Array(ng), cm = new Uint16Array(ng);
      tryCandidates((g) => {
        const d = i < 0 ? P.D[g] : dc[g][i], m = mc[g][j];
        if (d === undefined || m === undefined) { A[g] = 0; Bv[g] = 0; return false; }
        cd[g] = d; cm[g] = m; gridOf(g, d, m, 1, 0); return true;
      }, (g) => { curD[g] = cd[g]; curDm[g] = cm[g]; });
    }
  } else {
    // 2. k-quants: neighbouring integers of each sub-block scale (and min)
    const S = P.S.slice(), M = P.M.slice();
    const cs = new Int32Array(6 * ng), cm = new Int32Array(6 * ng);
    const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
    for (let g = 0; g < ng; g++) {
      const bi = (g / f.nG) | 0, d = f16ToF32(P.D[bi]), dm = f16ToF32(P.Dm[bi]);
      const r = d !== 0 && Number.isFinite(ab[2 * g] / d) ? Math.round(ab[2 * g] / d) : P.S[g];
      const rm = dm !== 0 && Number.isFinite(ab[2 * g + 1] / dm) ? Math.round(-ab[2 * g + 1] / dm) : P.M[g];
      const s0 = P.S[g], m0 = P.M[g];
      [s0, s0 - 1, s0 + 1, r - 1, r, r + 1].forEach((v, k) => { cs[6 * g + k] = clamp(v, f.sMin, f.sMax); });
      [m0, m0 - 1, m0 + 1, rm - 1, rm, rm + 1].forEach((v, k) => { cm[6 * g + k] = clamp(v, 0, f.mMax); });
    }
    for (let i = 0; i < 6; i++) for (let j = 0; j < (f.type1 ? 6 : 1); j++) {
      if (i === 0 && j === 0) continue;
      tryCandidates((g) => {
        const bi = (g / f.nG) | 0;
        gridOf(g, P.D[bi], P.Dm[bi], cs[6 * g + i], cm[6 * g + j]); return true;
      }, (g) => { S[g] = cs[6 * g + i]; M[g] = cm[6 * g + j]; });
    }
    // 3. super-block scale (and min scale) refit given the integers and the levels of the best grid
    for (let g = 0; g < ng; g++) { const bi = (g / f.nG) | 0; gridOf(g, P.D[bi], P.Dm[bi], S[g], M[g]); }
    evalGrid(fixed);
    const Lb = sc.u8(sc.p.lq, n).slice(), lev = levels(f);
    const bestB = new Float64Array(nb);
    for (let g = 0; g < ng; g++) bestB[(g / f.nG) | 0] += best[g];
    const cD: number[][] = [], cDm: number[][] = [];
    for (let bi = 0; bi < nb; bi++) {
      let s11 = 0, s12 = 0, s22 = 0, r1 = 0, r2 = 0;
      for (let j = 0; j < f.nG; j++) {
        const g = bi * f.nG + j;
        for (let i = g * G; i < (g + 1) * G; i++) {
          const f1 = S[g] * lev[Lb[i]], f2 = -M[g], wi = w[i], xi = x[i];
          s11 += wi * f1 * f1; s12 += wi * f1 * f2; s22 += wi * f2 * f2; r1 += wi * xi * f1; r2 += wi * xi * f2;
        }
      }
      let D = NaN, Dm = NaN;
      if (f.type1) { const det = s11 * s22 - s12 * s12; if (det > 1e-30 * (s11 * s22 + 1e-30)) { D = (r1 * s22 - r2 * s12) / det; Dm = (s11 * r2 - s12 * r1) / det; } }
      else if (s11 > 0) D = r1 / s11;
      cD.push(h16Near(D, [-1, 0, 1]));
      cDm.push(f.type1 ? h16Near(Dm, [-1, 0, 1]) : [P.Dm[bi]]);
    }
    for (let i = 0; i < 3; i++) for (let j = 0; j < (f.type1 ? 3 : 1); j++) {
      let any = false;
      for (let bi = 0; bi < nb; bi++) {
        const d = cD[bi][i], dm = cDm[bi][j];
        const ok = d !== undefined && dm !== undefined;
        any = any || ok;
        for (let k = 0; k < f.nG; k++) { const g = bi * f.nG + k; if (ok) gridOf(g, d, dm, S[g], M[g]); else { A[g] = 0; Bv[g] = 0; } }
      }
      if (!any) continue;
      if (fixed) sc.u8(sc.p.lq, n).set(P.L);
      const e = evalGrid(fixed);
      for (let bi = 0; bi < nb; bi++) {
        const d = cD[bi][i], dm = cDm[bi][j];
        if (d === undefined || dm === undefined) continue;
        let s = 0;
        for (let k = 0; k < f.nG; k++) s += e[bi * f.nG + k];
        if (s < bestB[bi]) { bestB[bi] = s; curD[bi] = d; curDm[bi] = dm; }
      }
    }
    P.S.set(S); P.M.set(M);
  }
  // 4. final levels on the final grid, packed
  P.D.set(curD); P.Dm.set(curDm);
  for (let g = 0; g < ng; g++) { const bi = (g / f.nG) | 0; gridOf(g, P.D[bi], P.Dm[bi], P.S[g], P.M[g]); }
  if (fixed) sc.u8(sc.p.lq, n).set(P.L);
  evalGrid(fixed);
  if (!fixed) P.L.set(sc.u8(sc.p.lq, n));
  const out = new Uint8Array(nb * f.bytes);
  for (let bi = 0; bi < nb; bi++) { if (!finiteH(P.D[bi]) || !finiteH(P.Dm[bi])) { out.set(start.subarray(bi * f.bytes, (bi + 1) * f.bytes), bi * f.bytes); continue; } f.pack(P, bi, out, bi * f.bytes); }
  return out;
}

/**
 * The search on one tensor: `w` rows × cols f32 (not modified) into `type`, starting from `start` (bytes
 * of the same type, e.g. another method's output: then only the scales are refitted, see the file
 * comment) or from llama.cpp's RTN (with `imatrix`). `per` = rows per matrix for 3D tensors whose imatrix
 * holds one vector per matrix.
 * @throws TensorshrinkError E_UNSUPPORTED (no search codec for the type, naming tensor and type), E_BLOCK.
 */
export function searchQuantize(engine: Engine, w: Float32Array, rows: number, cols: number, type: string, opts: SearchOptions & { imatrix?: Float32Array | null; start?: Uint8Array; name?: string; per?: number } = {}): SearchResult {
  const f = searchFormat(type);
  const name = opts.name ?? "(tensor)";
  if (!f) throw new TensorshrinkError("E_UNSUPPORTED", `search: no search codec for ${type} (tensor ${name}); supported: q4_0 q4_1 q5_0 q5_1 q8_0 iq4_nl q2_K q3_K q4_K q5_K q6_K`, { name, type });
  if (cols % f.B !== 0) throw new TensorshrinkError("E_BLOCK", `search: tensor ${name} has rows of ${cols} values, not a multiple of the ${type} block (${f.B})`, { name, type, cols });
  const passes = opts.passes ?? 4;
  if (opts.weights !== undefined && opts.weights !== "llama" && opts.weights !== "imatrix") throw new TensorshrinkError("E_RANGE", `search: weights must be "llama" or "imatrix", got ${String(opts.weights)}`, { weights: String(opts.weights) });
  if (!(Number.isInteger(passes) && passes >= 0 && passes <= 64)) throw new TensorshrinkError("E_RANGE", `search: passes must be an integer in 0..64, got ${passes}`, { passes });
  const fixed = !!opts.start;
  const start = opts.start ?? rtnBytes(engine, w, opts.per && opts.per !== rows ? [cols, opts.per, rows / opts.per] : [cols, rows], type, opts.imatrix, name);
  const rb = bytesOf(type, 1, cols);
  if (start.byteLength !== rows * rb) throw new TensorshrinkError("E_SHAPE", `search: start bytes of ${name} are ${start.byteLength}, ${type} ${rows} × ${cols} needs ${rows * rb}`, { name });
  const chunkRows = Math.max(1, Math.floor(CHUNK_VALUES / cols)), bpr = cols / f.B;
  const out = new Uint8Array(start.byteLength);
  const sc = new Scratch(engine, Math.min(rows, chunkRows) * cols, Math.min(rows, chunkRows) * bpr * f.nG, levels(f));
  let improved = 0, errBefore = 0, errAfter = 0;
  try {
    for (let r0 = 0; r0 < rows; r0 += chunkRows) {
      const nr = Math.min(chunkRows, rows - r0), nb = nr * bpr;
      const x = w.subarray(r0 * cols, (r0 + nr) * cols);
      const wt = searchWeights(x, nr, cols, opts.imatrix, opts.per ?? rows, r0, undefined, opts.weights ?? "llama");
      const s0 = start.subarray(r0 * rb, (r0 + nr) * rb);
      const s1 = searchChunk(engine, f, sc, x, wt, s0, nb, passes, fixed);
      // verify with the engine's dequantizer: keep a block only when its weighted error is strictly lower
      const e0 = blockErrors(x, engine.dequantize(s0, { type, rows: nr, cols, name } as any), wt, f.B, new Float64Array(nb));
      const e1 = blockErrors(x, engine.dequantize(s1, { type, rows: nr, cols, name } as any), wt, f.B, new Float64Array(nb));
      for (let bi = 0; bi < nb; bi++) {
        const o = (r0 * bpr + bi) * f.bytes;
        if (e1[bi] < e0[bi]) { out.set(s1.subarray(bi * f.bytes, (bi + 1) * f.bytes), o); improved++; errAfter += e1[bi]; }
        else { out.set(s0.subarray(bi * f.bytes, (bi + 1) * f.bytes), o); errAfter += e0[bi]; }
        errBefore += e0[bi];
      }
    }
  } finally { sc.free(); }
  return { bytes: out, improved, blocks: rows * bpr, errBefore, errAfter };
}

/** Why the search methods do not apply to a tensor (or true). */
export function searchApplies(t: TensorInfo, method: string, ok: (type: string) => boolean, why: string): true | string {
  if (DENSE.has(t.targetType)) return `target type ${t.targetType} is not quantized`;
  if (!ok(t.targetType)) return `${method} ${why} ${t.targetType}`;
  if (t.ne[0] % (searchFormat(t.targetType)!.B) !== 0) return `row length ${t.ne[0]} is not a multiple of the ${t.targetType} block`;
  return true;
}

/**
 * The `search` method (no statistics needed: uses the imatrix when one is given). First in a chain it
 * starts from llama.cpp's RTN; after a method that returned bytes (e.g. gptq) it refits their scales.
 */
export function searchMethod(opts: SearchOptions = {}): TensorMethod {
  return {
    kind: "tensor",
    name: "search",
    appliesTo: (t) => searchApplies(t, "search", (ty) => !!searchFormat(ty), "has no codec for"),
    async apply(ctx: TensorMethodContext): Promise<TensorMethodResult> {
      const rows = rowsOf(ctx.ne), cols = ctx.ne[0];
      const r = searchQuantize(ctx.engine, ctx.weight, rows, cols, ctx.targetType, { ...opts, imatrix: ctx.imatrix, start: ctx.bytes, name: ctx.name, per: ctx.ne.length > 2 ? ctx.ne[1] : rows });
      return { bytes: r.bytes, info: { searchImproved: r.improved, searchBlocks: r.blocks, searchErrRatio: r.errBefore > 0 ? r.errAfter / r.errBefore : 1 } };
    },
  };
}
