/**
 * TensorGPT-style embedding tables in tensor-train form, with row lookup without decompression
 * (wasm kernel `tt_rows_forward`, assembly/tt/tt.ts):
 * - "matrix": the [rows, cols] table as one TT-matrix, rows = Π m_k and cols = Π n_k (mixed-radix digits,
 *   zero padding up to the products), cores [r_k, m_k, n_k, r_{k+1}]: the tensor with modes (i_k, j_k)
 *   interleaved is TT-SVD'd. One row costs about Σ_k (Π_{k'<k} n_k') r_k n_k r_{k+1} multiply-adds.
 * - "mps": TensorGPT's per-token variant (Xu et al. 2023): each row (padded to Π n_k) is reshaped into a
 *   d-way tensor and TT-SVD'd on its own (its own ranks, bound ε relative to the row's norm).
 * Both keep ‖A − Â‖_F ≤ ε‖A‖_F when ε is the truncation (matrix: TT-SVD bound; mps: per row).
 */
import { TensorshrinkError } from "../errors";
import type { KernelHost, KernelChoice } from "../quant/general";
import { checkMatrix, type Matrix } from "../linalg/matrix";
import { checkTruncation, frobenius, ttRound, ttSvd, type TensorTrain, type TtTruncation } from "./ttsvd";
import { checkDims, factorDims } from "./factorize";

/** "matrix" (one TT-matrix) or "mps" (one tensor train per row). */
export type TtMode = "matrix" | "mps";

/** Options of {@link TtEmbedding.decompose}. */
export interface TtEmbeddingOptions extends TtTruncation {
  /** Default "matrix". */
  mode?: TtMode;
  /** Number of digits d (cores) when rowDims / colDims are not given: default 3. */
  d?: number;
  /** Row digits m_k (matrix mode; product ≥ rows, ≤ 1.5 rows). Default {@link factorDims}(rows, d). */
  rowDims?: number[];
  /** Column digits n_k (product ≥ cols, ≤ 1.5 cols). Default {@link factorDims}(cols, d). */
  colDims?: number[];
  /**
   * Matrix mode: TT-SVD at ε/2 (ranks up to 2·maxRank), then TT-rounding (QR right-to-left, SVD left-to-right)
   * at ε/2 and maxRank; the total error stays ≤ ε‖A‖_F (triangle inequality).
   */
  round?: boolean;
}

/** Parts of a TT embedding (what the GGUF file stores). */
export interface TtEmbeddingParts {
  mode: TtMode;
  rows: number;
  cols: number;
  /** Matrix mode: m_k; mps: all 1. */
  rowDims: number[];
  colDims: number[];
  /** Matrix mode: the d + 1 ranks. mps: [rows × (d + 1)] ranks, token t's at t·(d+1). */
  ranks: Int32Array;
  /** Matrix mode: core k [r_k, m_k, n_k, r_{k+1}]. mps: one flat array, token t's d cores in order, tokens in order. */
  cores: Float32Array[];
}

const ROWS_PER_CALL = 4096;

/** A TT embedding table bound to a kernel host; {@link dispose} frees its wasm copy. */
export class TtEmbedding {
  private ptrCores = 0;
  private ptrDesc = 0;
  private wmax = 1;
  private constructor(private readonly host: KernelHost, readonly parts: TtEmbeddingParts) {}

  get mode(): TtMode { return this.parts.mode; }
  /** Rows of the table (tokens). */
  get numRows(): number { return this.parts.rows; }
  /** Columns of the table (embedding width). */
  get numCols(): number { return this.parts.cols; }
  /** Stored values (all cores). */
  get params(): number { return this.parts.cores.reduce((s, c) => s + c.length, 0); }
  /** rows·cols / stored values (f32 to f32). */
  get compression(): number { return (this.parts.rows * this.parts.cols) / this.params; }
  /** Largest TT rank. */
  get maxRank(): number { return Math.max(...this.parts.ranks); }

  /**
   * Decomposes a [rows, cols] table (e.g. token_embd.weight read as f32).
   * Matrix mode memory: 3–4 copies of the padded table in f32 during the TT-SVD; mps: one row at a time.
   * @throws TensorshrinkError `E_RANGE` (eps ≤ 0 / non-finite, maxRank < 1, d, mode), `E_SHAPE` (digits: product too small or padding > 1.5×, with a proposal), `E_NONFINITE`.
   */
  static decompose(host: KernelHost, a: Matrix, opts: TtEmbeddingOptions): TtEmbedding {
    checkTruncation(opts, "tt embedding");
    const mode = opts.mode ?? "matrix";
    if (mode !== "matrix" && mode !== "mps") throw new TensorshrinkError("E_RANGE", `tt mode must be "matrix" or "mps", got ${String(mode)}`, { mode });
    checkMatrix(a, "tt embedding", opts.name);
    const d = opts.d ?? (opts.colDims?.length ?? opts.rowDims?.length ?? 3);
    if (!Number.isInteger(d) || d < 2 || d > 8) throw new TensorshrinkError("E_RANGE", `tt: d must be an integer in 2..8, got ${d}`, { d });
    const colDims = opts.colDims ?? factorDims(a.cols, d, opts.name);
    checkDims(colDims, a.cols, "tt colDims", opts.name);
    if (mode === "mps") return new TtEmbedding(host, decomposeMps(host, a, colDims, opts));
    const rowDims = opts.rowDims ?? factorDims(a.rows, colDims.length, opts.name);
    checkDims(rowDims, a.rows, "tt rowDims", opts.name);
    if (rowDims.length !== colDims.length) throw new TensorshrinkError("E_SHAPE", `tt: ${rowDims.length} row digits but ${colDims.length} column digits`, { rowDims, colDims });
    return new TtEmbedding(host, decomposeMatrix(host, a, rowDims, colDims, opts));
  }

  /** Wraps stored parts (e.g. read from GGUF by readTtGguf); checks their consistency (E_SHAPE). */
  static fromParts(host: KernelHost, parts: TtEmbeddingParts): TtEmbedding {
    checkParts(parts);
    return new TtEmbedding(host, parts);
  }

  /** The train of matrix mode (dims m_k n_k), null in mps mode. */
  train(): TensorTrain | null {
    const p = this.parts;
    if (p.mode !== "matrix") return null;
    return { dims: p.rowDims.map((m, k) => m * p.colDims[k]!), ranks: Array.from(p.ranks), cores: p.cores };
  }

  private upload(): void {
    if (this.ptrDesc) return;
    const p = this.parts, d = p.colDims.length, h = this.host;
    const total = this.params;
    const pc = h.alloc(Math.max(16, 4 * total));
    const nDesc = p.mode === "matrix" ? d : d * p.rows;
    const pd = h.alloc(Math.max(16, 20 * nDesc));
    const mem = h.exports.memory.buffer;
    const cf = new Float32Array(mem, pc, total), di = new Int32Array(mem, pd, 5 * nDesc);
    let off = 0, wmax = 1;
    for (const c of p.cores) { cf.set(c, off); off += c.length; }
    if (p.mode === "matrix") {
      let o = 0, nn = 1;
      for (let k = 0; k < d; k++) {
        const r0 = p.ranks[k]!, m = p.rowDims[k]!, n = p.colDims[k]!, r1 = p.ranks[k + 1]!;
        di.set([pc + 4 * o, r0, m, n, r1], 5 * k);
        o += r0 * m * n * r1; nn *= n; wmax = Math.max(wmax, nn * r1);
      }
    } else {
      let o = 0;
      for (let t = 0; t < p.rows; t++) {
        let nn = 1;
        for (let k = 0; k < d; k++) {
          const r0 = p.ranks[t * (d + 1) + k]!, n = p.colDims[k]!, r1 = p.ranks[t * (d + 1) + k + 1]!;
          di.set([pc + 4 * o, r0, 1, n, r1], 5 * (t * d + k));
          o += r0 * n * r1; nn *= n; wmax = Math.max(wmax, nn * r1);
        }
      }
    }
    this.ptrCores = pc; this.ptrDesc = pd; this.wmax = wmax;
  }

  /** Row `id` (cols f32 values) computed from the cores. */
  row(id: number, opts: { kernel?: KernelChoice } = {}): Float32Array {
    return this.rows([id], opts);
  }

  /**
   * Rows `ids` (ids.length × cols f32, row-major), computed from the cores in wasm (batches of 4096 rows).
   * Wasm scratch: 4 (ids + 4096·cols + 2·wmax) bytes per call.
   * @throws TensorshrinkError `E_RANGE` (an id not an integer in [0, rows)), `E_WASM_ABORT`.
   */
  rows(ids: ArrayLike<number>, opts: { kernel?: KernelChoice } = {}): Float32Array {
    const k = opts.kernel ?? "simd";
    if (k !== "simd" && k !== "ref") throw new TensorshrinkError("E_RANGE", `kernel must be "simd" or "ref", got ${String(k)}`);
    const n = ids.length, cols = this.parts.cols, rows = this.parts.rows;
    for (let i = 0; i < n; i++) {
      const v = ids[i]!;
      if (!Number.isInteger(v) || v < 0 || v >= rows) throw new TensorshrinkError("E_RANGE", `tt row id ${v} (position ${i}) is outside 0..${rows - 1}`, { id: v, position: i, rows });
    }
    this.upload();
    const out = new Float32Array(n * cols);
    const h = this.host, fn = h.exports[k === "ref" ? "tt_rows_forward_ref" : "tt_rows_forward"];
    const batch = Math.min(n, ROWS_PER_CALL);
    if (!n) return out;
    const pi = h.alloc(4 * batch), po = h.alloc(Math.max(16, 4 * batch * cols)), pw = h.alloc(8 * this.wmax);
    try {
      for (let s = 0; s < n; s += batch) {
        const c = Math.min(batch, n - s), mem = h.exports.memory.buffer;
        const iv = new Int32Array(mem, pi, c);
        for (let i = 0; i < c; i++) iv[i] = ids[s + i]!;
        try {
          fn(po, pi, c, this.ptrDesc, this.parts.colDims.length, this.mode === "mps" ? 1 : 0, pw, this.wmax, cols);
        } catch (e) {
          throw new TensorshrinkError("E_WASM_ABORT", `the tt_rows_forward kernel failed: ${(e as Error).message}`, {}, { cause: e });
        }
        out.set(new Float32Array(h.exports.memory.buffer, po, c * cols), s * cols);
      }
    } finally {
      h.free(pi); h.free(po); h.free(pw);
    }
    return out;
  }

  /** The whole table rebuilt from the cores ([rows, cols]). */
  full(opts: { kernel?: KernelChoice } = {}): Matrix {
    const ids = new Int32Array(this.parts.rows);
    for (let i = 0; i < ids.length; i++) ids[i] = i;
    return { data: this.rows(ids, opts), rows: this.parts.rows, cols: this.parts.cols };
  }

  /** Relative Frobenius error ‖A − Â‖_F / ‖A‖_F against the original table. */
  relError(a: Matrix): number {
    const f = this.full().data;
    let e = 0;
    for (let i = 0; i < f.length; i++) e += (f[i]! - a.data[i]!) ** 2;
    const n = frobenius(a.data);
    return n > 0 ? Math.sqrt(e) / n : Math.sqrt(e);
  }

  /** Frees the wasm copy (the object stays usable: the next lookup uploads again). */
  dispose(): void {
    if (this.ptrDesc) { this.host.free(this.ptrCores); this.host.free(this.ptrDesc); this.ptrCores = this.ptrDesc = 0; }
  }
}

function decomposeMatrix(host: KernelHost, a: Matrix, rowDims: number[], colDims: number[], opts: TtEmbeddingOptions): TtEmbeddingParts {
  const d = rowDims.length;
  // tensor with modes (i_k, j_k): flat index Σ_k (i_k n_k + j_k) · stride_k, stride_k = Π_{k'>k} m_k' n_k'
  const dims = rowDims.map((m, k) => m * colDims[k]!);
  const stride = new Array<number>(d);
  for (let k = d - 1, s = 1; k >= 0; k--) { stride[k] = s; s *= dims[k]!; }
  const offsets = (n: number, digits: number[], isRow: boolean) => {
    const o = new Float64Array(n);
    for (let x = 0; x < n; x++) {
      let rem = x, acc = 0;
      for (let k = d - 1; k >= 0; k--) {
        const dig = rem % digits[k]!; rem = Math.floor(rem / digits[k]!);
        acc += (isRow ? dig * colDims[k]! : dig) * stride[k]!;
      }
      o[x] = acc;
    }
    return o;
  };
  const ro = offsets(a.rows, rowDims, true), co = offsets(a.cols, colDims, false);
  const total = dims.reduce((x, y) => x * y, 1);
  const t = new Float32Array(total);
  for (let i = 0; i < a.rows; i++) for (let j = 0; j < a.cols; j++) t[ro[i]! + co[j]!] = a.data[i * a.cols + j]!;
  // with round: TT-SVD at ε/2 (rank cap 2·maxRank), then TT-rounding at ε/2 and maxRank: ‖A − R‖ ≤ ‖A − T‖ + ‖T − R‖ ≤ ε‖A‖
  const half = opts.eps !== undefined ? opts.eps / 2 : undefined;
  const tt = opts.round
    ? ttRound(host, ttSvd(host, t, dims, { eps: half, maxRank: opts.maxRank !== undefined ? 2 * opts.maxRank : undefined, name: opts.name }), { eps: half, maxRank: opts.maxRank, name: opts.name })
    : ttSvd(host, t, dims, opts);
  return { mode: "matrix", rows: a.rows, cols: a.cols, rowDims: [...rowDims], colDims: [...colDims], ranks: Int32Array.from(tt.ranks), cores: tt.cores };
}

function decomposeMps(host: KernelHost, a: Matrix, colDims: number[], opts: TtEmbeddingOptions): TtEmbeddingParts {
  const d = colDims.length, q = colDims.reduce((x, y) => x * y, 1);
  const ranks = new Int32Array(a.rows * (d + 1));
  const chunks: Float32Array[] = [];
  let total = 0;
  const v = new Float32Array(q);
  for (let t = 0; t < a.rows; t++) {
    v.fill(0);
    v.set(a.data.subarray(t * a.cols, (t + 1) * a.cols));
    const tt = ttSvd(host, v, colDims, { eps: opts.eps, maxRank: opts.maxRank, name: opts.name ? `${opts.name} row ${t}` : `row ${t}` });
    ranks.set(tt.ranks, t * (d + 1));
    for (const c of tt.cores) { chunks.push(c); total += c.length; }
  }
  const flat = new Float32Array(total);
  let o = 0;
  for (const c of chunks) { flat.set(c, o); o += c.length; }
  return { mode: "mps", rows: a.rows, cols: a.cols, rowDims: colDims.map(() => 1), colDims: [...colDims], ranks, cores: [flat] };
}

/** @internal Consistency of stored parts (E_SHAPE naming what is off). */
export function checkParts(p: TtEmbeddingParts): void {
  const bad = (msg: string) => new TensorshrinkError("E_SHAPE", `tt parts: ${msg}`, {});
  if (p.mode !== "matrix" && p.mode !== "mps") throw bad(`mode ${String(p.mode)}`);
  const d = p.colDims.length;
  if (!(d >= 1 && d <= 8) || p.rowDims.length !== d) throw bad(`${p.rowDims.length} row digits, ${d} column digits`);
  if (!(Number.isInteger(p.rows) && p.rows >= 1 && Number.isInteger(p.cols) && p.cols >= 1)) throw bad(`shape ${p.rows} x ${p.cols}`);
  const P = p.rowDims.reduce((x, y) => x * y, 1), Q = p.colDims.reduce((x, y) => x * y, 1);
  if (Q < p.cols || (p.mode === "matrix" && P < p.rows) || [...p.rowDims, ...p.colDims].some((x) => !Number.isInteger(x) || x < 1)) throw bad(`digits [${p.rowDims}] x [${p.colDims}] do not cover ${p.rows} x ${p.cols}`);
  if (Q > 1e8 || P > 1e9) throw bad(`digits too large`);
  const rk = (t: number, k: number) => p.ranks[t * (d + 1) + k]!;
  const tokens = p.mode === "matrix" ? 1 : p.rows;
  if (p.ranks.length !== tokens * (d + 1)) throw bad(`${p.ranks.length} ranks, expected ${tokens * (d + 1)}`);
  let need = 0, wmax = 1;
  for (let t = 0; t < tokens; t++) {
    if (rk(t, 0) !== 1 || rk(t, d) !== 1) throw bad(`first and last rank must be 1 (token ${t})`);
    let nn = 1;
    for (let k = 0; k < d; k++) {
      const r0 = rk(t, k), r1 = rk(t, k + 1);
      if (!(Number.isInteger(r0) && r0 >= 1 && r0 <= 65536)) throw bad(`rank ${r0} (token ${t}, core ${k})`);
      need += r0 * p.rowDims[k]! * p.colDims[k]! * r1; nn *= p.colDims[k]!; wmax = Math.max(wmax, nn * r1);
    }
  }
  if (wmax > 2 ** 26) throw bad(`intermediate rows of ${wmax} values are too large`);
  if (p.mode === "matrix") {
    if (p.cores.length !== d) throw bad(`${p.cores.length} cores, expected ${d}`);
    for (let k = 0; k < d; k++) if (p.cores[k]!.length !== rk(0, k) * p.rowDims[k]! * p.colDims[k]! * rk(0, k + 1)) throw bad(`core ${k} holds ${p.cores[k]!.length} values`);
  } else if (p.cores.length !== 1 || p.cores[0]!.length !== need) throw bad(`mps cores hold ${p.cores.map((c) => c.length).join("+")} values, the ranks need ${need}`);
  for (const c of p.cores) for (let i = 0; i < c.length; i++) if (c[i]! - c[i]! !== 0) throw new TensorshrinkError("E_NONFINITE", `tt parts: non-finite core value ${c[i]} at ${i}`, {});
}
