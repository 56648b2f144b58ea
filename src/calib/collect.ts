/**
 * collectStats: one pass of a model over calibration tokens, gathering {@link ActStats} from the forward
 * pass's hooks, the way llama.cpp's llama-imatrix does:
 * - the tokens are the whole text's tokenization (llama-imatrix tokenizes with BOS first); chunk i is
 *   tokens [i·ctx, (i+1)·ctx), its first token replaced by BOS (when the model adds BOS), evaluated from an
 *   empty KV cache; chunks = min(opts.chunks, ⌊tokens / ctx⌋); every token of a chunk (BOS included) counts;
 * - every `blk.*` linear weight (the MoE router `ffn_gate_inp` included) gets Σx² per column and the row
 *   count; `output.weight` only with `processOutput` (llama-imatrix's --process-output; off by default; a
 *   tied head is reported as `token_embd.weight`, which llama-imatrix never collects);
 * - MoE experts: statistics per expert ([cols × nExpert]), each expert counting the rows routed to it.
 * Beyond llama.cpp: Σ|x| per column (AWQ), the Gram matrix XᵀX for requested tensors (memory checked against
 * `memoryBudget` before anything is allocated), and per block Block Influence.
 * Differences from llama.cpp: sums are f64 (llama.cpp adds f32), and llama.cpp ignores matmuls over fewer
 * than 16 rows (only matters for ctx < 16).
 */
import { TensorshrinkError } from "../errors";
import { eventYielder } from "../engine/events";
import type { Engine } from "../engine/engine";
import { ActStats, type ActInput } from "./stats";

/** The part of a forward-pass model collectStats uses (LlamaModel satisfies it). */
export interface StatsModel {
  readonly config: { nLayer: number; nEmbd: number; nVocab: number; bos: number; addBos: boolean; nExpert?: number };
  forward(tokens: Int32Array | number[], opts?: { pos?: number; logits?: "all" | "last" | "none"; hooks?: StatsHooks; signal?: AbortSignal }): Promise<Float32Array>;
}

/** The forward-pass hooks collectStats installs (the ForwardHooks contract). */
export interface StatsHooks {
  linearInput?(ev: { layer: number; tensors: string[]; x: Float32Array; ptr: number; rows: number; cols: number; expert?: number }): void;
  layer?(ev: { layer: number; input: Float32Array; output: Float32Array; T: number; C: number }): void;
}

/** Progress of {@link collectStats}, reported after each chunk. */
export interface CollectProgress {
  chunk: number;
  chunks: number;
  tokensDone: number;
  tokensTotal: number;
  elapsedMs: number;
  /** Tokens per second so far. */
  tokensPerSecond: number;
  /** Estimated seconds left. */
  etaSeconds: number;
}

/** Options of {@link collectStats}. */
export interface CollectOptions {
  /** Tokens per chunk (default 512, llama-imatrix's -c). */
  ctx?: number;
  /** At most this many chunks (default: all whole chunks). */
  chunks?: number;
  /** Weights whose input Gram matrix XᵀX to accumulate (cols² × 8 bytes per distinct input, per expert), or "all". */
  gram?: readonly string[] | "all";
  /** Bytes the Gram matrices may take in all (default 1 GiB); checked before any allocation. */
  memoryBudget?: number;
  /** Rows summed in f32 before each add into the f64 Gram accumulator (default 64, 1..256). */
  gramBatch?: number;
  /** Also collect output.weight's input (default false, as llama-imatrix). */
  processOutput?: boolean;
  /** Measure Block Influence per layer (default true). */
  blockInfluence?: boolean;
  /** Dataset name recorded in the statistics (imatrix.datasets). */
  dataset?: string;
  onProgress?(p: CollectProgress): void;
  signal?: AbortSignal;
}

interface Slot { inp: ActInput; pSq: number; pAbs: number; pGram: number }

/**
 * Runs `model` over `tokens` in chunks and returns the statistics. wasm memory used beyond the model's own:
 * 16 bytes per column per input and expert, the requested Gram matrices, and 8·ctx + (2·ctx·nEmbd·4 when the
 * layer hook's views are not in wasm memory) bytes of scratch; all freed before returning.
 * @throws TensorshrinkError `E_RANGE` (ctx, chunks, a token out of the vocabulary, fewer tokens than one chunk,
 *   an unknown Gram tensor, Gram matrices over `memoryBudget` — naming the tensors and bytes), `E_OOM`,
 *   `E_ABORTED` (signal), `E_UNSUPPORTED` (the forward pass reported an input it did not report in the probe).
 */
export async function collectStats(engine: Engine, model: StatsModel, tokens: Int32Array | readonly number[], opts: CollectOptions = {}): Promise<ActStats> {
  const cfg = model.config;
  const ctx = opts.ctx ?? 512;
  if (!Number.isInteger(ctx) || ctx < 1) throw new TensorshrinkError("E_RANGE", `ctx must be a positive integer, got ${ctx}`, { ctx });
  const maxChunks = Math.floor(tokens.length / ctx);
  if (maxChunks < 1) throw new TensorshrinkError("E_RANGE", `the text has ${tokens.length} tokens, fewer than one chunk of ${ctx}`, { tokens: tokens.length, ctx });
  if (opts.chunks !== undefined && !(Number.isInteger(opts.chunks) && opts.chunks >= 1)) throw new TensorshrinkError("E_RANGE", `chunks must be a positive integer, got ${opts.chunks}`, { chunks: opts.chunks });
  const nChunks = Math.min(opts.chunks ?? maxChunks, maxChunks);
  const nTok = nChunks * ctx;
  for (let i = 0; i < nTok; i++) {
    const t = tokens[i]!;
    if (!Number.isInteger(t) || t < 0 || t >= cfg.nVocab) throw new TensorshrinkError("E_RANGE", `token ${t} at index ${i} is outside the vocabulary (0..${cfg.nVocab - 1})`, { index: i, token: t });
  }
  const gramBatch = opts.gramBatch ?? 64;
  if (!Number.isInteger(gramBatch) || gramBatch < 1 || gramBatch > 256) throw new TensorshrinkError("E_RANGE", `gramBatch must be 1..256, got ${gramBatch}`, { gramBatch });
  const budget = opts.memoryBudget ?? 1 << 30;
  const wantBI = opts.blockInfluence !== false;
  const processOutput = !!opts.processOutput;
  if (opts.signal?.aborted) throw new TensorshrinkError("E_ABORTED", "collectStats aborted before it started", {});

  // 1. probe: which inputs exist and how wide they are (one BOS token; nothing allocated in the hooks)
  const isOut = (t: string[]) => t.includes("output.weight") || t.includes("token_embd.weight");
  const seen = new Map<string, { tensors: string[]; layer: number; cols: number; moe: boolean }>();
  await model.forward([cfg.bos], {
    pos: 0, logits: "last",
    hooks: { linearInput(ev) { const k = ev.tensors.join("|"); if (!seen.has(k)) seen.set(k, { tensors: [...ev.tensors], layer: isOut(ev.tensors) ? -1 : ev.layer, cols: ev.cols, moe: ev.expert !== undefined }); } },
  });
  const groups = [...seen.values()].filter((g) => processOutput || !isOut(g.tensors));
  const nExpert = Math.max(1, cfg.nExpert ?? 1);

  // 2. Gram selection and the budget, before any allocation
  const gramSet = new Set<string>();
  if (opts.gram === "all") for (const g of groups) gramSet.add(g.tensors.join("|"));
  else if (opts.gram) {
    const byName = new Map<string, string>();
    for (const g of groups) for (const t of g.tensors) byName.set(t, g.tensors.join("|"));
    for (const t of opts.gram) {
      const k = byName.get(t);
      if (!k) throw new TensorshrinkError("E_RANGE", `gram: tensor ${t} is not a linear weight this pass collects (known: ${[...byName.keys()].slice(0, 6).join(", ")}, ...)`, { tensor: t });
      gramSet.add(k);
    }
  }
  const gramGroups = groups.filter((g) => gramSet.has(g.tensors.join("|")));
  const gramBytes = gramGroups.reduce((s, g) => s + g.cols * g.cols * 8 * (g.moe ? nExpert : 1), 0);
  if (gramBytes > budget) {
    const names = gramGroups.map((g) => `${g.tensors.join("+")} (${g.cols}² × 8${g.moe ? ` × ${nExpert} experts` : ""} = ${g.cols * g.cols * 8 * (g.moe ? nExpert : 1)} B)`);
    throw new TensorshrinkError("E_RANGE", `Gram matrices need ${gramBytes} bytes, over the memory budget of ${budget} bytes: ${names.join(", ")}`, { bytes: gramBytes, budget, tensors: gramGroups.flatMap((g) => g.tensors) });
  }
  const statBytes = groups.reduce((s, g) => s + g.cols * 16 * (g.moe ? nExpert : 1), 0);
  const maxCols = Math.max(4, ...groups.map((g) => g.cols));
  const scratchBytes = 8 * ctx + 4 * maxCols + (wantBI ? 8 * ctx * cfg.nEmbd : 0);
  if (engine.memoryBytes + gramBytes + statBytes + scratchBytes > 4 * 1024 ** 3 - (64 << 20)) {
    throw new TensorshrinkError("E_OOM", `statistics need ${gramBytes + statBytes + scratchBytes} bytes of wasm memory beside the ${engine.memoryBytes} in use, over wasm32's 4 GiB`, { bytes: gramBytes + statBytes + scratchBytes });
  }

  // 3. allocate and zero
  const X = engine.exports;
  const ptrs: number[] = [];
  const alloc = (n: number) => { const p = engine.alloc(Math.max(16, n)); ptrs.push(p); new Uint8Array(X.memory.buffer, p, n).fill(0); return p; };
  const stats = new ActStats();
  stats.chunkCount = nChunks; stats.chunkSize = ctx; stats.tokens = nTok;
  if (opts.dataset) stats.datasets = [opts.dataset];
  const slots = new Map<string, Slot>();
  let pBi = 0, pScratch = 0, pCopy = 0;
  try {
    for (const g of groups) {
      const nMat = g.moe ? nExpert : 1;
      const wantGram = gramSet.has(g.tensors.join("|"));
      const slot: Slot = { inp: { tensors: g.tensors, layer: g.layer, cols: g.cols, nMat, sumSq: new Float64Array(0), sumAbs: new Float64Array(0), counts: new Float64Array(nMat), gram: null }, pSq: alloc(g.cols * nMat * 8), pAbs: alloc(g.cols * nMat * 8), pGram: wantGram ? alloc(g.cols * g.cols * 8 * nMat) : 0 };
      slots.set(g.tensors.join("|"), slot);
    }
    pScratch = alloc(4 * maxCols + 16);
    pBi = alloc(8 * ctx);
    const biSum = new Float64Array(cfg.nLayer), biCnt = new Float64Array(cfg.nLayer);
    let hookError: unknown = null;
    const hooks: StatsHooks = {
      linearInput(ev) {
        const slot = slots.get(ev.tensors.join("|"));
        if (!slot) {
          if (isOut(ev.tensors) && !processOutput) return;
          hookError ??= new TensorshrinkError("E_UNSUPPORTED", `the forward pass reported an input for ${ev.tensors.join(", ")} (layer ${ev.layer}) that its probe did not`, { tensors: ev.tensors });
          return;
        }
        const inp = slot.inp;
        const m = ev.expert ?? 0;
        if (ev.cols !== inp.cols || m < 0 || m >= inp.nMat) { hookError ??= new TensorshrinkError("E_SHAPE", `input of ${ev.tensors.join(", ")}: ${ev.cols} columns, expert ${m} (expected ${inp.cols} columns, ${inp.nMat} matrices)`, { tensors: ev.tensors }); return; }
        if (ev.rows <= 0) return;
        const off = m * inp.cols * 8;
        X.colstats_forward(slot.pSq + off, slot.pAbs + off, ev.ptr, ev.rows, ev.cols);
        if (slot.pGram) X.gram_forward(slot.pGram + off * inp.cols, ev.ptr, ev.rows, ev.cols, pScratch, gramBatch);
        inp.counts[m] += ev.rows;
      },
    };
    if (wantBI) {
      hooks.layer = (ev) => {
        if (ev.layer < 0 || ev.layer >= cfg.nLayer || ev.T <= 0) return;
        const buf = X.memory.buffer;
        let pi: number, po: number;
        if (ev.input.buffer === buf && ev.output.buffer === buf) { pi = ev.input.byteOffset; po = ev.output.byteOffset; }
        else {
          if (!pCopy) { hookError ??= new TensorshrinkError("E_UNSUPPORTED", "layer hook views are outside wasm memory and no copy buffer was reserved", {}); return; }
          const f = new Float32Array(buf, pCopy, 2 * ev.T * ev.C);
          f.set(ev.input.subarray(0, ev.T * ev.C)); f.set(ev.output.subarray(0, ev.T * ev.C), ev.T * ev.C);
          pi = pCopy; po = pCopy + ev.T * ev.C * 4;
        }
        X.block_influence_forward(pBi, pi, po, ev.T, ev.C);
        const r = new Float64Array(X.memory.buffer, pBi, ev.T);
        let s = 0;
        for (let t = 0; t < ev.T; t++) s += r[t]!;
        biSum[ev.layer] += s; biCnt[ev.layer] += ev.T;
      };
      pCopy = alloc(8 * ctx * cfg.nEmbd);
    }

    // 4. the pass
    const t0 = Date.now();
    const chunk = new Int32Array(ctx);
    const tick = eventYielder(); // a signal's handler runs between chunks (the forward awaits only microtasks)
    for (let c = 0; c < nChunks; c++) {
      await tick();
      if (opts.signal?.aborted) throw new TensorshrinkError("E_ABORTED", `collectStats aborted after ${c} of ${nChunks} chunks`, { chunk: c });
      for (let i = 0; i < ctx; i++) chunk[i] = tokens[c * ctx + i]!;
      if (cfg.addBos) chunk[0] = cfg.bos;
      await model.forward(chunk, { pos: 0, logits: "none", hooks, signal: opts.signal });
      if (hookError) throw hookError;
      const ms = Date.now() - t0, done = (c + 1) * ctx;
      const tps = done / Math.max(ms / 1000, 1e-3);
      opts.onProgress?.({ chunk: c + 1, chunks: nChunks, tokensDone: done, tokensTotal: nTok, elapsedMs: ms, tokensPerSecond: tps, etaSeconds: (nTok - done) / tps });
    }

    // 5. copy out
    const mem = X.memory.buffer;
    for (const slot of slots.values()) {
      const inp = slot.inp, n = inp.cols * inp.nMat;
      inp.sumSq = new Float64Array(mem, slot.pSq, n).slice();
      inp.sumAbs = new Float64Array(mem, slot.pAbs, n).slice();
      if (slot.pGram) {
        const g = new Float64Array(mem, slot.pGram, inp.cols * inp.cols * inp.nMat).slice();
        const C = inp.cols;
        for (let m = 0; m < inp.nMat; m++) { const o = m * C * C; for (let i = 0; i < C; i++) for (let j = 0; j < i; j++) g[o + i * C + j] = g[o + j * C + i]!; }
        inp.gram = g;
      }
      stats.add(inp);
    }
    if (wantBI) {
      stats.blockInfluence = biSum.map((s, l) => (biCnt[l]! > 0 ? s / biCnt[l]! : 0));
      stats.blockInfluenceTokens = biCnt;
    }
    return stats;
  } finally {
    for (const p of ptrs) engine.free(p);
  }
}
