/**
 * AWQ (Lin et al. 2023, "Activation-aware Weight Quantization") as a {@link LayerMethod}, folded into
 * the GGUF so no runtime change is needed (the file stays an ordinary llama GGUF that llama.cpp loads):
 *
 * 1. Scale search, per input a block's linears share: s_j = mean|x_j|^α (clamped ≥ 1e-4, normalized by
 *    √(max s · min s) as llm-awq / AutoAWQ do), α on a grid of 20 points 0, 0.05, …, 0.95. The readers'
 *    columns are multiplied by s, the producer of the input divided by s:
 *      attn_norm → attn_q/k/v      (norm weight / s, q/k/v columns · s)
 *      attn_v    → attn_output     (v rows / s, o columns · s; only without GQA: rows(v) = cols(o))
 *      ffn_norm  → ffn_gate/up     (norm weight / s)
 *      ffn_up    → ffn_down        (up rows / s: silu(gate)·up scales with up)
 *    The objective for each α is the output error of the readers on the calibration rows,
 *    Σ_t ‖X (W_t − Ŵ_t)ᵀ‖² = Σ_t tr(E_t G E_tᵀ) with G = XᵀX (the sweep's Gram matrix) and
 *    Ŵ_t = RTN_type(W_t · diag s) · diag(1/s) quantized exactly as the tensor path will (its target type, its
 *    importance vector rescaled by 1/s²). α = 0 is s = 1 (no change), so the chosen α never raises it.
 *    (This is AutoAWQ's per-module loss for o / down; for q/k/v and gate/up it is the linear outputs'
 *    error rather than the attention / MLP output — exact, and cheap: no forward pass per α.)
 * 2. Clipping search, per output row r of every linear (except attn_q / attn_k, as AutoAWQ, and tensors GPTQ
 *    quantizes next: GPTQ compensates towards the weights it is given, so a clip would become permanent error): the row is
 *    clamped to [c · min_r, c · max_r] for c ∈ {1, 0.95, …, 0.55}, quantized, and the c with the lowest
 *    row output error (w_r − ŵ_r)ᵀ G (w_r − ŵ_r) kept (rows quantize independently, so the per-row choices
 *    are exactly the final bytes' errors; c = 1 is the unclipped row).
 * The folded scales reach the later steps through `scaleInputs`: the statistics the tensor methods see
 * (GPTQ's H, the imatrix) are those of x / s. Combination: `awq,gptq` = AWQ's fold and clip, then GPTQ
 * quantizes the folded (unclipped) weights; `awq` alone = fold + clip + imatrix-weighted RTN (the sweep's Σx²).
 * Cost per block: 20 · (quantize + 2 rows cols² flops, sgemm) per shared input + 10 · the same per
 * clipped linear; memory a few copies of the largest group (rows × cols × 4 bytes) + cols² × 4 (G).
 */
import { TensorshrinkError } from "../errors";
import type { Engine } from "../engine/engine";
import type { ActInput } from "../calib/stats";
import { gemm } from "../linalg/gemm";
import { lookupType } from "../quant/types";
import { rowsOf } from "./rtn";
import type { LayerMethod, LayerMethodContext } from "./types";

/** Options of {@link awqMethod}. */
export interface AwqOptions {
  /** Points of the α grid over [0, 1) (default 20: α = i / 20). */
  grid?: number;
  /** Run the clipping search (default true). */
  clip?: boolean;
  /** Clip ratios tried: c = 1 − i / clipGrid for i < maxShrink · clipGrid (defaults 20 and 0.5: 1 … 0.55). */
  clipGrid?: number;
  maxShrink?: number;
  /** Fold v → o when the shapes allow (default true). */
  foldVO?: boolean;
}

const DENSE = new Set(["f32", "f16", "bf16"]);

/** One scale fold: `prev` (a norm vector, or a matrix whose rows produce the input) and the readers. */
export interface AwqPair {
  prev: string;
  /** "norm": prev is the norm weight [C]; "rows": prev's rows j are the input's channel j. */
  kind: "norm" | "rows";
  targets: string[];
}

/**
 * The scale folds possible in block `layer` of a llama-style block, given its tensor shapes (ggml ne:
 * [cols, rows]): attn_norm → q/k/v, v → o (only when rows(v) = cols(o), i.e. no GQA), ffn_norm → gate/up,
 * up → down (when rows(up) = cols(down)). Pairs whose tensors are missing are left out.
 */
export function awqPairs(layer: number, shapes: ReadonlyMap<string, readonly number[]>, opts: { foldVO?: boolean } = {}): AwqPair[] {
  const p = `blk.${layer}.`, has = (n: string) => shapes.has(p + n);
  const out: AwqPair[] = [];
  const qkv = ["attn_q.weight", "attn_k.weight", "attn_v.weight"].filter(has);
  if (has("attn_norm.weight") && qkv.length === 3) out.push({ prev: p + "attn_norm.weight", kind: "norm", targets: qkv.map((n) => p + n) });
  const v = shapes.get(p + "attn_v.weight"), o = shapes.get(p + "attn_output.weight");
  if (opts.foldVO !== false && v && o && v.length === 2 && rowsOf(v) === o[0] && !shapes.has(p + "attn_v.bias")) out.push({ prev: p + "attn_v.weight", kind: "rows", targets: [p + "attn_output.weight"] });
  const gu = ["ffn_gate.weight", "ffn_up.weight"].filter(has);
  if (has("ffn_norm.weight") && gu.length === 2) out.push({ prev: p + "ffn_norm.weight", kind: "norm", targets: gu.map((n) => p + n) });
  const up = shapes.get(p + "ffn_up.weight"), down = shapes.get(p + "ffn_down.weight");
  if (up && down && up.length === 2 && down.length === 2 && rowsOf(up) === down[0] && !shapes.has(p + "ffn_up.bias")) out.push({ prev: p + "ffn_up.weight", kind: "rows", targets: [p + "ffn_down.weight"] });
  return out;
}

/**
 * Folds per-channel scales `s` (length = the input width C) into the weights in place: the readers'
 * columns × s, the producer ÷ s (norm values, or rows of `prev`). The float block computes the same
 * function afterwards (up to f32 rounding).
 */
export function awqFold(weights: Map<string, Float32Array>, shapes: ReadonlyMap<string, readonly number[]>, pair: AwqPair, s: Float32Array): void {
  const C = s.length;
  const pw = weights.get(pair.prev);
  if (!pw) throw new TensorshrinkError("E_RANGE", `awq: tensor ${pair.prev} is missing`, { name: pair.prev });
  if (pair.kind === "norm") {
    if (pw.length !== C) throw new TensorshrinkError("E_SHAPE", `awq: ${pair.prev} has ${pw.length} values, the scales ${C}`, { name: pair.prev });
    for (let j = 0; j < C; j++) pw[j] = pw[j] / s[j];
  } else {
    const cols = shapes.get(pair.prev)![0];
    if (pw.length !== C * cols) throw new TensorshrinkError("E_SHAPE", `awq: ${pair.prev} has ${pw.length / cols} rows, the scales ${C}`, { name: pair.prev });
    for (let j = 0; j < C; j++) { const inv = 1 / s[j]; for (let k = 0; k < cols; k++) pw[j * cols + k] *= inv; }
  }
  for (const t of pair.targets) {
    const w = weights.get(t)!, ne = shapes.get(t)!;
    if (ne[0] !== C) throw new TensorshrinkError("E_SHAPE", `awq: ${t} has ${ne[0]} columns, the scales ${C}`, { name: t });
    const rows = rowsOf(ne);
    for (let r = 0; r < rows; r++) for (let j = 0; j < C; j++) w[r * C + j] *= s[j];
  }
}

/** f32 copy of an f64 Gram matrix (with a tiny diagonal floor so dead inputs still count a little). */
function gramF32(inp: ActInput): Float32Array {
  const C = inp.cols, g = inp.gram!, out = new Float32Array(C * C);
  for (let i = 0; i < C * C; i++) out[i] = g[i];
  return out;
}

/** Per-row output error e_r = (w_r − q_r)ᵀ G (w_r − q_r) of rows × cols weights (E G by sgemm). */
export function rowOutputErrors(engine: Engine, w: Float32Array, q: Float32Array, rows: number, cols: number, g: Float32Array): Float64Array {
  const e = new Float32Array(rows * cols);
  for (let i = 0; i < e.length; i++) e[i] = w[i] - q[i];
  const eg = gemm(engine, { data: e, rows, cols }, { data: g, rows: cols, cols }).data;
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) { let s = 0; for (let j = 0; j < cols; j++) s += e[r * cols + j] * eg[r * cols + j]; out[r] = s; }
  return out;
}

const quantDequant = (engine: Engine, w: Float32Array, rows: number, cols: number, type: string, im: Float32Array | null, name: string) =>
  engine.dequantize(engine.quantize(w, { type, rows, cols, imatrix: lookupType(type).usesImatrix ? im : null, name }), { type, rows, cols, name } as any) as Float32Array;

/** What {@link awqMethod} did in one block (also returned in the method's report through onBlock). */
export interface AwqBlockReport {
  layer: number;
  /** Per fold: the producer, α chosen, output error at α = 0 and at the chosen α. */
  folds: { prev: string; alpha: number; errBefore: number; errAfter: number }[];
  /** Per clipped tensor: mean clip ratio over rows, output error before and after clipping. */
  clips: { tensor: string; meanRatio: number; errBefore: number; errAfter: number }[];
}

/**
 * The AWQ layer method (needs the sweep's Gram matrices and Σ|x|). Leaves tensors whose target type is
 * dense (f32/f16) unscaled in the objective (their error is counted as 0) and never folds into a pair
 * whose readers are not all quantized-or-dense block matrices.
 * @throws TensorshrinkError E_RANGE when the statistics (Gram matrix) of a reader's input are missing.
 */
export function awqMethod(opts: AwqOptions & { onBlock?(r: AwqBlockReport): void } = {}): LayerMethod {
  const nGrid = opts.grid ?? 20, clipGrid = opts.clipGrid ?? 20, maxShrink = opts.maxShrink ?? 0.5;
  if (!(Number.isInteger(nGrid) && nGrid >= 1)) throw new TensorshrinkError("E_RANGE", `awq: grid must be a positive integer, got ${nGrid}`, {});
  return {
    kind: "layer",
    name: "awq",
    needs: { gram: true, sumAbs: true, sumSq: true },
    async applyLayer(ctx: LayerMethodContext): Promise<Map<string, Float32Array>> {
      const { engine, weights, shapes, targetTypes } = ctx;
      const statsFor = (n: string) => ctx.statsFor?.(n) ?? ctx.stats?.get(n);
      const imFor = (n: string) => ctx.imatrixFor?.(n) ?? null;
      const changed = new Map<string, Float32Array>();
      const rep: AwqBlockReport = { layer: ctx.layer, folds: [], clips: [] };
      const quantized = (n: string) => { const t = targetTypes.get(n); return !!t && !DENSE.has(t); };
      for (const pair of awqPairs(ctx.layer, shapes, opts)) {
        if (ctx.signal?.aborted) throw new TensorshrinkError("E_ABORTED", `awq aborted in block ${ctx.layer}`, { layer: ctx.layer });
        const inp = statsFor(pair.targets[0]);
        if (!inp || !inp.gram) throw new TensorshrinkError("E_RANGE", `awq: no Gram matrix (XᵀX) for the input of ${pair.targets[0]}`, { name: pair.targets[0] });
        // every reader of this input must be scaled, or the fold changes the function
        if (inp.tensors.some((t) => !pair.targets.includes(t))) continue;
        if (!pair.targets.some(quantized)) continue;
        const C = inp.cols, G = gramF32(inp), count = inp.counts[0] || 1;
        const xm = new Float64Array(C);
        for (let j = 0; j < C; j++) xm[j] = Math.max(inp.sumAbs[j] / count, 1e-4);
        const err = (s: Float32Array) => {
          let tot = 0;
          for (const t of pair.targets) {
            if (!quantized(t)) continue;
            const w = weights.get(t)!, rows = rowsOf(shapes.get(t)!), type = targetTypes.get(t)!;
            const ws = new Float32Array(w.length);
            for (let r = 0; r < rows; r++) for (let j = 0; j < C; j++) ws[r * C + j] = w[r * C + j] * s[j];
            const im0 = imFor(t), im = im0 ? im0.map((v, j) => v / (s[j] * s[j])) : null;
            const q = quantDequant(engine, ws, rows, C, type, im, t);
            for (let r = 0; r < rows; r++) for (let j = 0; j < C; j++) q[r * C + j] /= s[j];
            const e = rowOutputErrors(engine, w, q, rows, C, G);
            for (let r = 0; r < rows; r++) tot += e[r];
          }
          return tot;
        };
        const ones = new Float32Array(C).fill(1);
        const e0 = err(ones);
        let best = { alpha: 0, err: e0, s: ones };
        for (let i = 1; i < nGrid; i++) {
          const alpha = i / nGrid, s = new Float32Array(C);
          let mx = 0, mn = Infinity;
          for (let j = 0; j < C; j++) { s[j] = Math.pow(xm[j], alpha); mx = Math.max(mx, s[j]); mn = Math.min(mn, s[j]); }
          const norm = Math.sqrt(mx * mn);
          for (let j = 0; j < C; j++) s[j] = s[j] / norm;
          const e = err(s);
          if (e < best.err && Number.isFinite(e)) best = { alpha, err: e, s };
        }
        rep.folds.push({ prev: pair.prev, alpha: best.alpha, errBefore: e0, errAfter: best.err });
        if (best.alpha === 0) continue;
        awqFold(weights, shapes, pair, best.s);
        for (const n of [pair.prev, ...pair.targets]) changed.set(n, weights.get(n)!);
        ctx.scaleInputs?.(pair.targets, best.s);
      }
      if (opts.clip !== false) {
        const nRatio = Math.max(1, Math.floor(maxShrink * clipGrid));
        for (const [t, ne] of shapes) {
          if (!/\.(attn_v|attn_output|ffn_gate|ffn_up|ffn_down)\.weight$/.test(t) || !quantized(t) || ne.length !== 2) continue;
          // GPTQ after AWQ compensates towards the weights it is given: clipped weights would make the clip error permanent
          if (ctx.tensorChain?.(t).includes("gptq")) continue;
          if (ctx.signal?.aborted) throw new TensorshrinkError("E_ABORTED", `awq aborted in block ${ctx.layer}`, { layer: ctx.layer });
          const inp = statsFor(t);
          if (!inp || !inp.gram) continue;
          const w = weights.get(t)!, cols = ne[0], rows = rowsOf(ne), type = targetTypes.get(t)!, im = imFor(t), G = gramF32(inp);
          const lo = new Float32Array(rows), hi = new Float32Array(rows);
          for (let r = 0; r < rows; r++) { let a = 0, b = 0; for (let j = 0; j < cols; j++) { const v = w[r * cols + j]; if (v < a) a = v; if (v > b) b = v; } lo[r] = a; hi[r] = b; }
          const bestErr = new Float64Array(rows).fill(Infinity), bestC = new Float32Array(rows).fill(1);
          let before = 0;
          const wc = new Float32Array(w.length);
          for (let i = 0; i < nRatio; i++) {
            const c = 1 - i / clipGrid;
            for (let r = 0; r < rows; r++) { const a = c * lo[r], b = c * hi[r]; for (let j = 0; j < cols; j++) { const v = w[r * cols + j]; wc[r * cols + j] = v < a ? a : v > b ? b : v; } }
            const q = quantDequant(engine, wc, rows, cols, type, im, t);
            const e = rowOutputErrors(engine, w, q, rows, cols, G);
            for (let r = 0; r < rows; r++) { if (i === 0) before += e[r]; if (e[r] < bestErr[r]) { bestErr[r] = e[r]; bestC[r] = c; } }
          }
          let after = 0, sumC = 0, any = false;
          for (let r = 0; r < rows; r++) {
            after += bestErr[r]; sumC += bestC[r];
            if (bestC[r] < 1) { any = true; const a = bestC[r] * lo[r], b = bestC[r] * hi[r]; for (let j = 0; j < cols; j++) { const v = w[r * cols + j]; w[r * cols + j] = v < a ? a : v > b ? b : v; } }
          }
          rep.clips.push({ tensor: t, meanRatio: sumC / rows, errBefore: before, errAfter: after });
          if (any) changed.set(t, w);
        }
      }
      opts.onBlock?.(rep);
      return changed;
    },
  };
}
