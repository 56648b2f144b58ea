/**
 * FLAP-style bias compensation for structured pruning (An et al., "Fluctuation-based Adaptive Structured
 * Pruning for Large Language Models", AAAI 2024): when FFN channels or attention heads are removed, the
 * removed input channels' mean contribution to the projection's output is kept as a bias,
 *   b[i] += Σ_{c removed} W[i, c] · E[x_c]
 * with W the projection that reads the removed channels (ffn_down for FFN channels, attn_output for heads) and
 * E[x_c] the mean of its input channel c over calibration tokens of the *unpruned* model. To first order the
 * output then keeps its mean and loses only the removed channels' fluctuation around it.
 *
 * The bias goes only where llama.cpp loads one: `blk.N.ffn_down.bias` and `blk.N.attn_output.bias` ([n_embd],
 * f32) are optional tensors of llama.cpp's `llama` and `deci` loaders (llama-model.cpp: ffn_down_b, wo_b,
 * TENSOR_NOT_REQUIRED, added after the matmul in the graph), and the engine's forward pass (src/nn) adds them too.
 * Other architectures: E_UNSUPPORTED.
 */
import { TensorshrinkError } from "../errors";
import type { Engine } from "../engine/engine";
import type { LlamaModel } from "../nn/model";
import { calibrationChunks } from "../methods/sweep";

/** Mean of every linear-layer input channel, keyed by each weight that reads the input (f64, one value per column). */
export type InputMeans = Map<string, Float64Array>;

/** Options of {@link collectInputMeans}. */
export interface InputMeansOptions {
  /** Tokens per chunk (default 512; kjv3M: 128). Chunks as collectStats / the calibrated sweep cut them (BOS first). */
  ctx?: number;
  /** At most this many chunks (default all whole chunks). */
  chunks?: number;
  signal?: AbortSignal;
}

/**
 * One forward pass of `model` over calibration chunks (the chunking of collectStats: chunk i = tokens
 * [i·ctx, (i+1)·ctx), its first token BOS, from an empty KV cache); returns E[x_c] of every block weight's input
 * (MoE expert inputs are skipped). Cost: one forward over chunks × ctx tokens; memory: 8 bytes per input column.
 * @throws TensorshrinkError E_RANGE (too few tokens, bad ctx / chunks), E_ABORTED.
 */
export async function collectInputMeans(_engine: Engine, model: LlamaModel, tokens: Int32Array, opts: InputMeansOptions = {}): Promise<InputMeans> {
  const cfg = model.config;
  const chunks = calibrationChunks(tokens, opts.ctx ?? 512, opts.chunks, cfg.bos, cfg.addBos);
  const sums = new Map<string, { sum: Float64Array; rows: number; tensors: string[] }>();
  const hooks = {
    linearInput(ev: { layer: number; tensors: string[]; x: Float32Array; rows: number; cols: number; expert?: number }) {
      if (ev.expert !== undefined || ev.layer >= cfg.nLayer) return;
      const key = ev.tensors[0];
      let s = sums.get(key);
      if (!s) { s = { sum: new Float64Array(ev.cols), rows: 0, tensors: ev.tensors.slice() }; sums.set(key, s); }
      const x = ev.x, C = ev.cols, sum = s.sum;
      for (let r = 0; r < ev.rows; r++) for (let c = 0, o = r * C; c < C; c++) sum[c] += x[o + c];
      s.rows += ev.rows;
    },
  };
  for (let i = 0; i < chunks.length; i++) {
    if (opts.signal?.aborted) throw new TensorshrinkError("E_ABORTED", `collectInputMeans aborted after ${i} of ${chunks.length} chunks`, { chunk: i });
    await model.forward(chunks[i], { pos: 0, logits: "none", hooks });
  }
  const out: InputMeans = new Map();
  for (const s of sums.values()) {
    const mean = s.sum.map((v) => v / Math.max(1, s.rows));
    for (const t of s.tensors) out.set(t, mean);
  }
  return out;
}

/**
 * The compensation bias of one projection W [rows, cols] (row-major, rows = outputs) whose input columns
 * `removed` go: b[i] = Σ_{c ∈ removed} W[i, c] · mean[c] (f64 sums), added to `base` (an existing bias) when given.
 */
export function compensationBias(W: Float32Array, rows: number, cols: number, removed: readonly number[], mean: ArrayLike<number>, base?: Float32Array | null): Float32Array {
  const b = new Float32Array(rows);
  for (let i = 0; i < rows; i++) {
    let s = base ? base[i] : 0;
    for (const c of removed) s += W[i * cols + c] * mean[c];
    b[i] = s;
  }
  return b;
}

/** @internal The means of `tensor`'s input with `cols` values, or E_IMATRIX naming it. */
export function meansOf(means: InputMeans, tensor: string, cols: number): Float64Array {
  const m = means.get(tensor);
  if (!m || m.length !== cols) throw new TensorshrinkError("E_IMATRIX", `bias compensation needs the mean of every input channel of ${tensor} (${cols} values; collectInputMeans over calibration text), got ${m ? m.length : "none"}`, { tensor });
  return m;
}

/** @internal E_UNSUPPORTED unless llama.cpp loads attn_output / ffn_down biases for the architecture. */
export function checkBiasArch(arch: string): void {
  if (arch !== "llama" && arch !== "deci") throw new TensorshrinkError("E_UNSUPPORTED", `bias compensation writes ffn_down.bias / attn_output.bias, which llama.cpp loads for architectures llama and deci only, not ${arch}`, { arch });
}
