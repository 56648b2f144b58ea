/**
 * The `hqq` method (calibration-free): HQQ's half-quadratic proximal solver (Badri & Shaji 2023,
 * optimize_weights_proximal; lp norm p = 0.7, β = 10, κ = 1.01, at most 20 iterations, early stop) for
 * the zero point of every group given its scale, written into ordinary blocks of the formats that store a
 * min: q4_1 q5_1 (the f16 min of each 32-block), q2_K q4_K q5_K (integer sub-block mins under an f16
 * super-block min scale).
 * The scales are the starting bytes' (llama.cpp's RTN, with the imatrix when given, or the previous
 * method's bytes). The solver runs in wasm (hqq_zero_forward) on float zero points; they are then encoded
 * into the format — q4_1 / q5_1: min = f16(b); k-quants: Dm = f16(max(−b_g, 0) / mMax) and
 * M_g = clamp(round(−b_g / Dm), 0, mMax) (what the dequantizer reads back is −fround(Dm · M_g)) — and the
 * levels re-rounded onto the encoded grid (nearest). The reported error is the encoded one (the engine's
 * dequantizer on the written bytes). With `guard` (default false) a block is kept only when its encoded
 * weighted squared error (search's weights) is below the starting block's.
 * Symmetric formats (q4_0 q5_0 q8_0 q3_K q6_K iq4_nl ...): the method does not apply (E_UNSUPPORTED from
 * {@link hqqQuantize}, naming the tensor and type; in a model plan those tensors take RTN, and a plan where
 * hqq applies to no tensor is E_UNSUPPORTED before anything is written).
 * Cost: ≤ 20 · 15 flops per weight + one nearest rounding; memory as search (src/methods/search.ts).
 */
import { TensorshrinkError } from "../errors";
import type { Engine } from "../engine/engine";
import { f16ToF32, f32ToF16 } from "../formats/half";
import { bytesOf, rowsOf, rtnBytes } from "./rtn";
import { groupGrid, levels, newParams, searchFormat } from "./search-codec";
import { searchApplies, searchWeights } from "./search";
import type { TensorMethod, TensorMethodContext, TensorMethodResult } from "./types";

/** Types with a zero point that hqq handles. */
export const HQQ_TYPES: readonly string[] = ["q4_1", "q5_1", "q2_K", "q4_K", "q5_K"];

/** Options of {@link hqqQuantize} / {@link hqqMethod} (HQQ's defaults). */
export interface HqqOptions {
  /** lp norm of the error shrinkage (default 0.7). */
  p?: number;
  /** Initial β (default 10) and its growth per iteration κ (default 1.01). */
  beta?: number; kappa?: number;
  /** Iterations at most (default 20; stops early when the mean |error| rises). */
  iters?: number;
  /** Keep a block only when its encoded weighted error is below the start's (default false: pure HQQ). */
  guard?: boolean;
}

/** What one hqq run did: bytes, and encoded errors (Σ weighted squared, Σ absolute) before and after. */
export interface HqqResult { bytes: Uint8Array; blocks: number; kept: number; errBefore: number; errAfter: number; absBefore: number; absAfter: number }

const CHUNK_VALUES = 1 << 20;

/**
 * HQQ zero points on one tensor `w` rows × cols into `type` (a format with a min), starting from `start`
 * or llama.cpp's RTN.
 * @throws TensorshrinkError E_UNSUPPORTED (symmetric or unsupported type; tensor and type named), E_BLOCK, E_RANGE.
 */
export function hqqQuantize(engine: Engine, w: Float32Array, rows: number, cols: number, type: string, opts: HqqOptions & { imatrix?: Float32Array | null; start?: Uint8Array; name?: string; per?: number } = {}): HqqResult {
  const name = opts.name ?? "(tensor)";
  if (!HQQ_TYPES.includes(type)) throw new TensorshrinkError("E_UNSUPPORTED", `hqq: tensor ${name} is ${type}, a format without a zero point (hqq needs one of ${HQQ_TYPES.join(", ")})`, { name, type });
  const f = searchFormat(type)!;
  if (cols % f.B !== 0) throw new TensorshrinkError("E_BLOCK", `hqq: tensor ${name} has rows of ${cols} values, not a multiple of the ${type} block (${f.B})`, { name, type, cols });
  const p = opts.p ?? 0.7, beta = opts.beta ?? 10, kappa = opts.kappa ?? 1.01, iters = opts.iters ?? 20;
  if (!(p > 0 && p <= 2 && beta > 0 && kappa >= 1 && Number.isInteger(iters) && iters >= 1 && iters <= 1000)) throw new TensorshrinkError("E_RANGE", `hqq: need 0 < p <= 2, beta > 0, kappa >= 1, iters in 1..1000 (got p ${p}, beta ${beta}, kappa ${kappa}, iters ${iters})`, { p, beta, kappa, iters });
  const start = opts.start ?? rtnBytes(engine, w, opts.per && opts.per !== rows ? [cols, opts.per, rows / opts.per] : [cols, rows], type, opts.imatrix, name);
  const rb = bytesOf(type, 1, cols);
  if (start.byteLength !== rows * rb) throw new TensorshrinkError("E_SHAPE", `hqq: start bytes of ${name} are ${start.byteLength}, ${type} ${rows} × ${cols} needs ${rows * rb}`, { name });
  const X = engine.exports, lev = levels(f), bpr = cols / f.B;
  const chunkRows = Math.max(1, Math.floor(CHUNK_VALUES / cols)), cr = Math.min(rows, chunkRows), cng = cr * bpr * f.nG;
  const e = engine, pt = { x: e.alloc(4 * cr * cols), w: e.alloc(4 * cr * cols), lq: e.alloc(cr * cols + 16), a: e.alloc(4 * cng), b: e.alloc(4 * cng), b2: e.alloc(4 * cng), err: e.alloc(4 * cng), lev: e.alloc(4 * lev.length + 16) };
  const f32 = (ptr: number, n: number) => new Float32Array(X.memory.buffer, ptr, n);
  f32(pt.lev, lev.length).set(lev);
  const out = new Uint8Array(start.byteLength);
  let kept = 0, errBefore = 0, errAfter = 0, absBefore = 0, absAfter = 0;
  try {
    for (let r0 = 0; r0 < rows; r0 += chunkRows) {
      const nr = Math.min(chunkRows, rows - r0), nb = nr * bpr, ng = nb * f.nG, n = nr * cols;
      const x = w.subarray(r0 * cols, (r0 + nr) * cols), s0 = start.subarray(r0 * rb, (r0 + nr) * rb);
      const P = newParams(f, nb);
      for (let bi = 0; bi < nb; bi++) f.unpack(s0, bi * f.bytes, P, bi);
      const A = new Float32Array(ng), Bv = new Float32Array(ng);
      for (let g = 0; g < ng; g++) { const bi = (g / f.nG) | 0; [A[g], Bv[g]] = groupGrid(f, P.D[bi], P.Dm[bi], P.S[g], P.M[g]); }
      f32(pt.x, n).set(x); f32(pt.a, ng).set(A); f32(pt.b, ng).set(Bv);
      X.hqq_zero_forward(pt.b2, pt.x, pt.a, pt.b, ng, f.G, f.nLev, p, beta, kappa, iters);
      const bz = f32(pt.b2, ng).slice();
      // encode the zero points
      for (let bi = 0; bi < nb; bi++) {
        if (!f.k) { const h = f32ToF16(bz[bi]); P.Dm[bi] = ((h >> 10) & 0x1f) === 0x1f ? P.Dm[bi] : h; continue; }
        let mx = 0;
        for (let j = 0; j < f.nG; j++) mx = Math.max(mx, -bz[bi * f.nG + j]);
        const h = f32ToF16(mx / f.mMax), dm = f16ToF32(h);
        P.Dm[bi] = h;
        for (let j = 0; j < f.nG; j++) { const g = bi * f.nG + j; P.M[g] = dm > 0 ? Math.min(f.mMax, Math.max(0, Math.round(-bz[g] / dm))) : 0; }
      }
      for (let g = 0; g < ng; g++) { const bi = (g / f.nG) | 0; [A[g], Bv[g]] = groupGrid(f, P.D[bi], P.Dm[bi], P.S[g], P.M[g]); }
      const wt = searchWeights(x, nr, cols, opts.imatrix, opts.per ?? rows, r0);
      f32(pt.w, n).set(wt); f32(pt.a, ng).set(A); f32(pt.b, ng).set(Bv);
      X.search_err_forward(pt.err, pt.lq, pt.x, pt.w, pt.a, pt.b, ng, f.G, pt.lev, f.nLev, f.kind, 0);
      P.L.set(new Uint8Array(X.memory.buffer, pt.lq, n));
      const s1 = new Uint8Array(nb * f.bytes);
      for (let bi = 0; bi < nb; bi++) f.pack(P, bi, s1, bi * f.bytes);
      const y0 = engine.dequantize(s0, { type, rows: nr, cols, name } as any), y1 = engine.dequantize(s1, { type, rows: nr, cols, name } as any);
      for (let bi = 0; bi < nb; bi++) {
        let e0 = 0, e1 = 0, a0 = 0, a1 = 0;
        for (let i = bi * f.B; i < (bi + 1) * f.B; i++) {
          const d0 = x[i] - y0[i], d1 = x[i] - y1[i];
          e0 += wt[i] * d0 * d0; e1 += wt[i] * d1 * d1; a0 += Math.abs(d0); a1 += Math.abs(d1);
        }
        const take = !opts.guard || e1 < e0;
        const o = (r0 * bpr + bi) * f.bytes;
        out.set(take ? s1.subarray(bi * f.bytes, (bi + 1) * f.bytes) : s0.subarray(bi * f.bytes, (bi + 1) * f.bytes), o);
        if (take) kept++;
        errBefore += e0; absBefore += a0; errAfter += take ? e1 : e0; absAfter += take ? a1 : a0;
      }
    }
  } finally { for (const q of Object.values(pt)) engine.free(q); }
  return { bytes: out, blocks: rows * bpr, kept, errBefore, errAfter, absBefore, absAfter };
}

/** The `hqq` method (no statistics; the imatrix, when given, only shapes RTN's starting scales and the guard). */
export function hqqMethod(opts: HqqOptions = {}): TensorMethod {
  return {
    kind: "tensor",
    name: "hqq",
    appliesTo: (t) => searchApplies(t, "hqq", (ty) => HQQ_TYPES.includes(ty), "needs a format with a zero point (q4_1 q5_1 q2_K q4_K q5_K), not the symmetric"),
    async apply(ctx: TensorMethodContext): Promise<TensorMethodResult> {
      const rows = rowsOf(ctx.ne);
      const r = hqqQuantize(ctx.engine, ctx.weight, rows, ctx.ne[0], ctx.targetType, { ...opts, imatrix: ctx.imatrix, start: ctx.bytes, name: ctx.name, per: ctx.ne.length > 2 ? ctx.ne[1] : rows });
      return { bytes: r.bytes, info: { hqqKept: r.kept, hqqBlocks: r.blocks, hqqErrRatio: r.errBefore > 0 ? r.errAfter / r.errBefore : 1, hqqAbsRatio: r.absBefore > 0 ? r.absAfter / r.absBefore : 1 } };
    },
  };
}
