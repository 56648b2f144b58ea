/**
 * Activation statistics as data (DESIGN.md "Statistics are data"): per distinct linear-layer input, Σx² and
 * Σ|x| per column, the rows (tokens) seen, and optionally the Gram matrix XᵀX; per transformer block the
 * Block Influence (ShortGPT: mean over tokens of 1 − cos(x_in, x_out)). The Σx² part converts to and from
 * llama.cpp's importance matrix (see {@link ActStats.toImatrix}, {@link ActStats.encodeImatrix}).
 */
import { TensorshrinkError } from "../errors";
import { Imatrix, encodeImatrixGguf, encodeImatrixLegacy, type ImatrixSums } from "../formats/imatrix";

/** Statistics of one linear-layer input x [rows, cols] (shared by every weight that reads it). */
export interface ActInput {
  /** GGUF names of the weights reading this input, e.g. ["blk.0.attn_q.weight", "blk.0.attn_k.weight", "blk.0.attn_v.weight"]. */
  tensors: string[];
  /** Transformer block (-1 for output.weight). */
  layer: number;
  /** Row length of x = the weights' input width (ne0). */
  cols: number;
  /** Matrices: 1, or the expert count for MoE inputs (statistics per expert, back to back). */
  nMat: number;
  /** Σx² per column, `cols * nMat` values (f64 sums of exact f32 squares). */
  sumSq: Float64Array;
  /** Σ|x| per column, `cols * nMat` values (AWQ's activation magnitude: divide by counts). */
  sumAbs: Float64Array;
  /** Rows (tokens) accumulated per matrix, `nMat` values. */
  counts: Float64Array;
  /** XᵀX, `nMat` full symmetric `cols × cols` matrices row-major (cols² × 8 bytes each), when requested. */
  gram: Float64Array | null;
}

/** Everything one calibration pass measured. Build with collectStats or {@link ActStats.fromImatrix}. */
export class ActStats {
  /** Distinct inputs, in the order the forward pass first reached them. */
  readonly inputs: ActInput[] = [];
  /** Weight name -> its input's statistics. */
  readonly byTensor = new Map<string, ActInput>();
  /** Per block: mean over tokens of 1 − cos(block input, block output) (0 = the block changes nothing); empty when not measured. */
  blockInfluence = new Float64Array(0);
  /** Tokens the Block Influence averages are over (per block). */
  blockInfluenceTokens = new Float64Array(0);
  /** Chunks evaluated. */
  chunkCount = 0;
  /** Tokens per chunk (the context). */
  chunkSize = 0;
  /** Tokens evaluated in all (chunkCount × chunkSize). */
  tokens = 0;
  /** Names of the texts the statistics come from (`imatrix.datasets`). */
  datasets: string[] = [];

  /** Adds an input and indexes its tensors. */
  add(input: ActInput): ActInput {
    for (const t of input.tensors) {
      if (this.byTensor.has(t)) throw new TensorshrinkError("E_RANGE", `tensor ${t} already has statistics`, { tensor: t });
      this.byTensor.set(t, input);
    }
    this.inputs.push(input);
    return input;
  }

  /** The statistics of the input a weight reads, or undefined. */
  get(tensor: string): ActInput | undefined {
    return this.byTensor.get(tensor);
  }

  /** Mean x² per column of `tensor`'s input (= llama.cpp's importance), `cols * nMat` f32; 1 where a matrix saw no rows. */
  meanSq(tensor: string): Float32Array {
    return meanOf(this.need(tensor), "sumSq");
  }

  /** Mean |x| per column of `tensor`'s input (AWQ's scale statistic), `cols * nMat` f32. */
  meanAbs(tensor: string): Float32Array {
    return meanOf(this.need(tensor), "sumAbs");
  }

  /**
   * The importance matrix llama-quantize would read from llama.cpp's imatrix of the same pass: every weight
   * with statistics -> Σx² / count per column. MoE inputs whose experts did not all see rows are left out (as
   * llama-imatrix skips entries with partial data).
   */
  toImatrix(opts: { includeOutput?: boolean } = {}): Imatrix {
    const im = new Imatrix();
    im.datasets = [...this.datasets];
    im.chunkCount = this.chunkCount;
    for (const [name, inp] of this.imatrixEntries(opts)) im.set(name, meanOf(inp, "sumSq"));
    return im;
  }

  /**
   * Encodes an imatrix file: "gguf" (current llama.cpp: raw in_sum2 + counts) or "legacy" (.dat as
   * llama-imatrix c392e50 writes it, ncall = chunks × ceil(chunkSize / batch), default batch = chunkSize).
   * output.weight is left out unless `includeOutput` (llama-imatrix's --process-output).
   */
  encodeImatrix(format: "gguf" | "legacy" = "gguf", opts: { includeOutput?: boolean; batch?: number } = {}): Uint8Array {
    const entries = new Map<string, ImatrixSums>();
    for (const [name, inp] of this.imatrixEntries(opts)) entries.set(name, { sums: inp.sumSq, counts: inp.counts });
    if (!entries.size) throw new TensorshrinkError("E_RANGE", "no statistics to write (no linear-layer input was seen)", {});
    const info = { datasets: this.datasets, chunkCount: this.chunkCount, chunkSize: this.chunkSize };
    if (format === "gguf") return encodeImatrixGguf(entries, info);
    const perChunk = Math.ceil(this.chunkSize / Math.max(1, Math.min(opts.batch ?? this.chunkSize, this.chunkSize)));
    return encodeImatrixLegacy(entries, { ...info, ncall: Math.max(1, this.chunkCount * perChunk) });
  }

  /**
   * Statistics from an importance matrix (llama.cpp's, or one of ours read back): sumSq = importance ×
   * `rowsPerMatrix` with counts = rowsPerMatrix (default 1: the file keeps only means), no Σ|x|, no Gram.
   * Every tensor is its own input (the file does not say which share one). `cols` per entry needs the
   * expert count for MoE entries: pass `nMat` (default 1, or the value's length / `cols[tensor]`).
   */
  static fromImatrix(im: Imatrix, opts: { rowsPerMatrix?: number; cols?: Record<string, number> } = {}): ActStats {
    const s = new ActStats();
    s.datasets = [...im.datasets];
    s.chunkCount = im.chunkCount;
    const n = opts.rowsPerMatrix ?? 1;
    for (const [name, v] of im) {
      const cols = opts.cols?.[name] ?? v.length;
      if (v.length % cols !== 0) throw new TensorshrinkError("E_SHAPE", `imatrix entry ${name}: ${v.length} values are not a multiple of ${cols} columns`, { tensor: name });
      const nMat = v.length / cols;
      const m = /^blk\.(\d+)\./.exec(name);
      s.add({ tensors: [name], layer: m ? Number(m[1]) : -1, cols, nMat, sumSq: Float64Array.from(v, (x) => x * n), sumAbs: new Float64Array(v.length), counts: new Float64Array(nMat).fill(n), gram: null });
    }
    return s;
  }

  private need(tensor: string): ActInput {
    const e = this.byTensor.get(tensor);
    if (!e) throw new TensorshrinkError("E_RANGE", `no statistics for tensor ${tensor}`, { tensor });
    return e;
  }

  private *imatrixEntries(opts: { includeOutput?: boolean }): Iterable<[string, ActInput]> {
    for (const inp of this.inputs) {
      if (inp.layer < 0 && !opts.includeOutput) continue;
      let full = true;
      for (let m = 0; m < inp.nMat; m++) if (!(inp.counts[m]! > 0)) full = false;
      if (!full) continue;
      for (const t of inp.tensors) yield [t, inp];
    }
  }
}

function meanOf(inp: ActInput, k: "sumSq" | "sumAbs"): Float32Array {
  const src = inp[k], out = new Float32Array(src.length);
  for (let m = 0; m < inp.nMat; m++) {
    const c = inp.counts[m]!;
    for (let j = 0; j < inp.cols; j++) out[m * inp.cols + j] = c > 0 ? src[m * inp.cols + j]! / c : 1;
  }
  return out;
}
