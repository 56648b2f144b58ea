/**
 * TensorGPT-style embedding tables in tensor-train form, with row lookup without decompression
 * (wasm kernel `tt_rows_forward`, assembly/tt/tt.ts):
 * - "matrix": the [rows, cols] table as one TT-matrix, rows = Π m_k and cols = Π n_k (mixed-radix digits,
 *   zero padding up to the products), cores [r_k, m_k, n_k, r_{k+1}]: the tensor with modes (i_k, j_k)
 *   interleaved is TT-SVD'd. One row costs about Σ_k (Π_{k'<k} n_k') r_k n_k r_{k+1} multiply-adds.
 * - "mps": TensorGPT's per-token variant (Xu et al. 2023): each row (padded to Π n_k) is reshaped into a
 *   d-way tensor and TT-SVD'd on its own (its own ranks, bound ε relative to the row's norm).
 * Both keep ‖A − Â‖_F ≤ ε‖A‖_F when ε is the truncation (matrix: TT-SVD bound; mps: per row).
 *
 * Matrix mode also takes three row-side options (for token tables whose rows matter unequally, e.g. by
 * token frequency on a calibration text; see {@link tokenFrequencyOrder}):
 * - `rowWeights` w_t: the TT approximates diag(w)·A, so row t's squared error is weighted by w_t²; the
 *   inverse scales 1/w_t (rows f32 values) are stored and applied at lookup (row = (1/w_t) · TT row).
 * - `order` (a permutation of the rows, most important first) + `denseRows` k: the first k rows of the order
 *   are stored dense (k·cols values); the TT-matrix holds the other rows only (TensorGPT-style hybrid).
 * - `permute`: the TT-matrix rows follow `order` (token ids sorted by frequency, so the mixed-radix digits
 *   carry a structure), with the token → slot map (rows i32) stored.
 * A lookup stays a cores-only O(d·r²) contraction plus one scale, or a copy of a dense row.
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
  /** Matrix mode: per-row weights w_t > 0 (finite, length rows); see the file comment. Default none (all 1, nothing stored). */
  rowWeights?: ArrayLike<number>;
  /** Matrix mode: row order, a permutation of 0 … rows−1, most important first (for `denseRows` and `permute`). */
  order?: ArrayLike<number>;
  /** Matrix mode: the first k rows of `order` stored dense (0 ≤ k < rows; default 0). */
  denseRows?: number;
  /** Matrix mode: TT rows in `order` (default false: the TT rows keep ascending row ids). */
  permute?: boolean;
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
  /**
   * Matrix mode, optional: row → slot (rows i32, a permutation). Slots below `denseRows` are dense rows,
   * slot s ≥ denseRows is TT-matrix row s − denseRows. Absent: slot = row.
   */
  map?: Int32Array;
  /** Matrix mode: number of dense rows k (default 0); the TT-matrix has rows − k rows (Π m_k ≥ rows − k). */
  denseRows?: number;
  /** Matrix mode: the dense rows, [denseRows, cols] f32 (slot order). */
  dense?: Float32Array;
  /** Matrix mode, optional: per-row factor (rows f32, by row id) applied to the TT row at lookup; absent: 1. */
  rowScale?: Float32Array;
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
  /** Stored values: all cores, plus the dense rows, the row scales and the row map when present (each counted as one value). */
  get params(): number { return this.coreParams + this.extraParams; }
  /** Values in the TT cores only. */
  get coreParams(): number { return this.parts.cores.reduce((s, c) => s + c.length, 0); }
  /** Values outside the cores: dense rows (k·cols) + row scales (rows) + row map (rows). */
  get extraParams(): number { const p = this.parts; return (p.dense?.length ?? 0) + (p.rowScale?.length ?? 0) + (p.map?.length ?? 0); }
  /** Rows held by the TT-matrix (rows − denseRows; mps: rows). */
  get ttRows(): number { return this.parts.rows - (this.parts.denseRows ?? 0); }
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
    const extras = opts.rowWeights !== undefined || opts.order !== undefined || !!opts.denseRows || !!opts.permute;
    if (mode === "mps") {
      if (extras) throw new TensorshrinkError("E_RANGE", "tt: rowWeights / order / denseRows / permute apply to matrix mode only (mps rows are decomposed one by one)", { tensor: opts.name });
      return new TtEmbedding(host, decomposeMps(host, a, colDims, opts));
    }
    const rs = rowSide(a.rows, opts);
    const rowDims = opts.rowDims ?? factorDims(a.rows - rs.k, colDims.length, opts.name);
    checkDims(rowDims, a.rows - rs.k, "tt rowDims", opts.name);
    if (rowDims.length !== colDims.length) throw new TensorshrinkError("E_SHAPE", `tt: ${rowDims.length} row digits but ${colDims.length} column digits`, { rowDims, colDims });
    if (!extras) return new TtEmbedding(host, decomposeMatrix(host, a, rowDims, colDims, opts));
    // the TT part: rows in slot order (slots ≥ k), each scaled by its weight
    const tail = a.rows - rs.k, b = new Float32Array(tail * a.cols);
    const dense = new Float32Array(rs.k * a.cols);
    for (let t = 0; t < a.rows; t++) {
      const slot = rs.map[t]!, src = a.data.subarray(t * a.cols, (t + 1) * a.cols);
      if (slot < rs.k) { dense.set(src, slot * a.cols); continue; }
      const w = rs.w ? rs.w[t]! : 1, o = (slot - rs.k) * a.cols;
      for (let c = 0; c < a.cols; c++) b[o + c] = w * src[c]!;
    }
    const parts = decomposeMatrix(host, { data: b, rows: tail, cols: a.cols }, rowDims, colDims, opts);
    parts.rows = a.rows;
    if (rs.k) { parts.denseRows = rs.k; parts.dense = dense; }
    if (rs.k || opts.permute) parts.map = rs.map;
    if (rs.w) parts.rowScale = Float32Array.from(rs.w, (w, t) => (rs.map[t]! < rs.k ? 1 : 1 / w));
    return new TtEmbedding(host, parts);
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
    const total = this.coreParams;
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
    const p = this.parts;
    if (!p.map && !p.rowScale && !p.denseRows) return this.ttRowsRaw(ids, k);
    // row → slot; dense slots are copied, the others looked up in the TT (compacted), then scaled
    const k0 = p.denseRows ?? 0, out = new Float32Array(n * cols);
    const pos: number[] = [], ttIds: number[] = [];
    for (let i = 0; i < n; i++) {
      const id = ids[i]!, slot = p.map ? p.map[id]! : id;
      if (slot < k0) out.set(p.dense!.subarray(slot * cols, (slot + 1) * cols), i * cols);
      else { pos.push(i); ttIds.push(slot - k0); }
    }
    const t = this.ttRowsRaw(ttIds, k);
    for (let j = 0; j < pos.length; j++) {
      const i = pos[j]!, o = i * cols, s = p.rowScale ? p.rowScale[ids[i]!]! : 1;
      if (s === 1) out.set(t.subarray(j * cols, (j + 1) * cols), o);
      else for (let c = 0; c < cols; c++) out[o + c] = s * t[j * cols + c]!;
    }
    return out;
  }

  /** TT-matrix rows by TT row index (no map, no scale); ids already checked. */
  private ttRowsRaw(ids: ArrayLike<number>, k: KernelChoice): Float32Array {
    const n = ids.length, cols = this.parts.cols;
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

/** Validates the row-side options: slot map (row → slot), dense count k, weights (E_RANGE / E_SHAPE). */
function rowSide(rows: number, opts: TtEmbeddingOptions): { map: Int32Array; k: number; w: Float64Array | null } {
  const k = opts.denseRows ?? 0, nm = opts.name;
  if (!Number.isInteger(k) || k < 0 || k >= rows) throw new TensorshrinkError("E_RANGE", `tt: denseRows must be an integer in 0..${rows - 1}, got ${k}`, { denseRows: k, tensor: nm });
  let order: Int32Array | null = null;
  if (opts.order !== undefined) {
    const o = opts.order;
    if (o.length !== rows) throw new TensorshrinkError("E_SHAPE", `tt: order has ${o.length} entries, the table ${rows} rows`, { length: o.length, rows, tensor: nm });
    const seen = new Uint8Array(rows);
    order = new Int32Array(rows);
    for (let i = 0; i < rows; i++) {
      const v = o[i]!;
      if (!Number.isInteger(v) || v < 0 || v >= rows || seen[v]) throw new TensorshrinkError("E_RANGE", `tt: order is not a permutation of 0..${rows - 1} (entry ${i} = ${v})`, { index: i, value: v, tensor: nm });
      seen[v] = 1; order[i] = v;
    }
  } else if (k || opts.permute) throw new TensorshrinkError("E_RANGE", "tt: denseRows and permute need an order (rows, most important first)", { tensor: nm });
  // slots: the first k of the order dense; the rest in order (permute) or ascending row ids
  const map = new Int32Array(rows);
  if (order) {
    const isDense = new Uint8Array(rows);
    for (let i = 0; i < k; i++) { map[order[i]!] = i; isDense[order[i]!] = 1; }
    let s = k;
    if (opts.permute) { for (let i = k; i < rows; i++) map[order[i]!] = s++; } else for (let t = 0; t < rows; t++) if (!isDense[t]) map[t] = s++;
  } else for (let t = 0; t < rows; t++) map[t] = t;
  let w: Float64Array | null = null;
  if (opts.rowWeights !== undefined) {
    const rw = opts.rowWeights;
    if (rw.length !== rows) throw new TensorshrinkError("E_SHAPE", `tt: rowWeights has ${rw.length} entries, the table ${rows} rows`, { length: rw.length, rows, tensor: nm });
    w = new Float64Array(rows);
    for (let t = 0; t < rows; t++) {
      const v = rw[t]!;
      if (!(typeof v === "number" && Number.isFinite(v) && v > 0 && Number.isFinite(1 / v))) throw new TensorshrinkError("E_RANGE", `tt: rowWeights[${t}] = ${v} is not a finite number > 0`, { row: t, value: v, tensor: nm });
      w[t] = Math.fround(v);
    }
  }
  return { map, k, w };
}

/**
 * Token counts and a frequency order for the row-side options, from token ids of a calibration text
 * (never the evaluation text). `counts[t]` = occurrences of token t; `order` = token ids by descending count
 * (ties: ascending id); `weights(power, floor)` = (counts + floor)^power (e.g. power 0.5, floor 1).
 * @throws TensorshrinkError `E_RANGE` (vocab not a positive integer, a token outside 0..vocab−1).
 */
export function tokenFrequencyOrder(tokens: ArrayLike<number>, vocab: number): { counts: Float64Array; order: Int32Array; weights(power: number, floor?: number): Float64Array } {
  if (!Number.isInteger(vocab) || vocab < 1) throw new TensorshrinkError("E_RANGE", `tokenFrequencyOrder: vocab must be a positive integer, got ${vocab}`, { vocab });
  const counts = new Float64Array(vocab);
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (!Number.isInteger(t) || t < 0 || t >= vocab) throw new TensorshrinkError("E_RANGE", `tokenFrequencyOrder: token ${t} at position ${i} is outside 0..${vocab - 1}`, { position: i, token: t });
    counts[t]++;
  }
  const order = Int32Array.from({ length: vocab }, (_, i) => i).sort((a, b) => counts[b]! - counts[a]! || a - b);
  return { counts, order, weights: (power, floor = 1) => Float64Array.from(counts, (c) => Math.pow(c + floor, power)) };
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
  const k0 = p.denseRows ?? 0;
  if (p.mode === "mps" && (p.map || p.dense || p.rowScale || k0)) throw bad("map / dense rows / row scales are for matrix mode only");
  if (!Number.isInteger(k0) || k0 < 0 || k0 >= p.rows) throw bad(`denseRows ${k0} for ${p.rows} rows`);
  if ((p.dense?.length ?? 0) !== k0 * p.cols) throw bad(`dense rows hold ${p.dense?.length ?? 0} values, expected ${k0} x ${p.cols}`);
  if (k0 && !p.map) throw bad("dense rows need a row map");
  if (p.map) {
    if (p.map.length !== p.rows) throw bad(`row map has ${p.map.length} entries, expected ${p.rows}`);
    const seen = new Uint8Array(p.rows);
    for (let i = 0; i < p.rows; i++) { const v = p.map[i]!; if (!(v >= 0 && v < p.rows) || seen[v]) throw bad(`row map is not a permutation (entry ${i} = ${v})`); seen[v] = 1; }
  }
  if (p.rowScale && p.rowScale.length !== p.rows) throw bad(`${p.rowScale.length} row scales, expected ${p.rows}`);
  if (Q < p.cols || (p.mode === "matrix" && P < p.rows - k0) || [...p.rowDims, ...p.colDims].some((x) => !Number.isInteger(x) || x < 1)) throw bad(`digits [${p.rowDims}] x [${p.colDims}] do not cover ${p.rows} x ${p.cols}`);
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
  for (const c of [...p.cores, ...(p.dense ? [p.dense] : []), ...(p.rowScale ? [p.rowScale] : [])]) for (let i = 0; i < c.length; i++) if (c[i]! - c[i]! !== 0) throw new TensorshrinkError("E_NONFINITE", `tt parts: non-finite value ${c[i]} at ${i}`, {});
}
