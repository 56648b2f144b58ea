/**
 * Structured pruning that makes the file smaller and llama.cpp faster, as {@link ModelSource} transforms (the
 * result goes through quantizeModel like any model):
 * - {@link pruneFfnChannels}: removes the same number of FFN channels from every block (rows of ffn_gate / ffn_up,
 *   columns of ffn_down) and lowers `llama.feed_forward_length`. Channel c of block l is scored
 *   ‖W_down[:, c]‖₂ · ‖h_c‖₂ with h = silu(gate·x) ⊙ (up·x) the down projection's input (its Σx² from
 *   calibration statistics; without statistics ‖W_down[:, c]‖₂ · ‖W_gate[c]‖₂ · ‖W_up[c]‖₂, a magnitude proxy).
 *   The lowest-scored channels go; the kept ones stay in their order. With bias compensation the score uses
 *   the fluctuation instead, ‖W_down[:, c]‖₂ · sqrt(Var[h_c]) (FLAP: the mean is kept as a bias).
 * - {@link pruneLayers}: removes whole blocks with the lowest Block Influence (ShortGPT: mean 1 − cos(x_in, x_out)),
 *   renumbers `blk.N` and lowers `llama.block_count`.
 * - attention heads: src/prune/heads.ts.
 * - FLAP bias compensation (`biasCompensation`, src/prune/bias.ts) for FFN channels and heads: the removed
 *   channels' mean contribution becomes ffn_down.bias / attn_output.bias (llama / deci only).
 * With the default scope "layer" every block keeps the same sizes and the architecture is unchanged; with scope
 * "global" blocks differ and the GGUF is written as architecture `deci` with per-layer arrays (layer-sizes.ts:
 * llama.cpp's `llama` sizes every layer like layer 0). Errors before anything is written: E_RANGE (fraction
 * outside [0, 1), removing every channel or every layer, a layer count out of range, missing Block Influence).
 */
import { TensorshrinkError } from "../errors";
import { ggufKV, type GgufKV } from "../formats/gguf";
import type { ModelSource, ModelTensor } from "../model/source";
import type { ActStats } from "../calib/stats";
import { llamaConfigFromMetadata } from "../nn/config";
import { withLayerSizes } from "./layer-sizes";
import { type InputMeans, compensationBias, meansOf, checkBiasArch } from "./bias";

/** @internal An f32 tensor held in memory. */
export function memTensor(name: string, ne: number[], data: Float32Array): ModelTensor {
  const cols = ne[0];
  return {
    name, ne, type: "f32",
    async readRows(start, count) { return data.slice(start * cols, (start + count) * cols); },
    async readRawRows(start, count) { return new Uint8Array(data.slice(start * cols, (start + count) * cols).buffer); },
  };
}

function setKV(md: readonly GgufKV[], key: string, value: number): GgufKV[] {
  let hit = false;
  const out = md.map((kv) => { if (kv.key !== key) return kv; hit = true; return ggufKV(key, kv.type, value); });
  if (!hit) out.push(ggufKV(key, "u32", value));
  return out;
}

const archOf = (s: ModelSource) => String(s.metadata.find((k) => k.key === "general.architecture")?.value ?? "llama");

/** @internal `tensors` with each tensor of `added` inserted right after the tensor named by its key. */
export function withAdded(tensors: ModelTensor[], added: ReadonlyMap<string, ModelTensor>): ModelTensor[] {
  if (!added.size) return tensors;
  return tensors.flatMap((t) => { const a = added.get(t.name); return a ? [t, a] : [t]; });
}

/** Result of a structured transform. */
export interface StructuredResult {
  source: ModelSource;
  /** Per block: the kept FFN channels (pruneFfnChannels) or, for pruneLayers, the original index of each kept block. */
  kept: number[][];
  /** Parameters before and after. */
  paramsBefore: number;
  paramsAfter: number;
}

/** @internal Parameters of a tensor list. */
export const paramsOf = (ts: readonly ModelTensor[]) => ts.reduce((s, t) => s + t.ne.reduce((a, b) => a * b, 1), 0);

/** Options of {@link pruneFfnChannels}. */
export interface PruneFfnOptions {
  /**
   * "layer" (default): ⌊fraction · n_ff⌋ channels leave every block (all blocks stay equal: the architecture is
   * unchanged). "global": the ⌊fraction · Σ n_ff⌋ lowest-scored channels over all blocks (at least one kept per
   * block); blocks then differ and the file is written as `deci` with a per-layer feed_forward_length array.
   */
  scope?: "layer" | "global";
  /**
   * FLAP bias compensation (src/prune/bias.ts): the means of ffn_down's input channels (collectInputMeans over
   * calibration text on the unpruned model). When given, every block gets `blk.N.ffn_down.bias` [n_embd] f32 =
   * its existing bias (if any) + W_down[:, removed] · E[h_removed] (zeros where nothing was removed). llama / deci only.
   */
  biasCompensation?: InputMeans | null;
}

/**
 * Removes FFN channels (see the file header). `stats` (from collectStats over a calibration text) gives the
 * activation-weighted score; without it a weight-only proxy is used.
 */
export async function pruneFfnChannels(source: ModelSource, fraction: number, stats?: ActStats | null, opts: PruneFfnOptions = {}): Promise<StructuredResult> {
  if (!(typeof fraction === "number" && fraction >= 0 && fraction < 1)) throw new TensorshrinkError("E_RANGE", `FFN fraction must be in [0, 1), got ${fraction}`, { fraction });
  const scope = opts.scope ?? "layer";
  if (scope !== "layer" && scope !== "global") throw new TensorshrinkError("E_RANGE", `scope must be "layer" or "global", got ${String(scope)}`);
  const arch = archOf(source);
  const comp = opts.biasCompensation ?? null;
  if (comp) checkBiasArch(arch);
  const byName = new Map(source.tensors.map((t) => [t.name, t]));
  const nLayer = source.hparams.nLayer;
  const replaced = new Map<string, ModelTensor>();
  const added = new Map<string, ModelTensor>(); // new bias tensors, written after the weight named by the key
  const scores: Float64Array[] = [];
  const need = (l: number) => {
    const g = byName.get(`blk.${l}.ffn_gate.weight`), u = byName.get(`blk.${l}.ffn_up.weight`), d = byName.get(`blk.${l}.ffn_down.weight`);
    if (!g || !u || !d || g.ne.length !== 2 || d.ne.length !== 2) throw new TensorshrinkError("E_UNSUPPORTED", `block ${l} has no dense SwiGLU FFN (ffn_gate/ffn_up/ffn_down): FFN channel pruning needs one`, { layer: l });
    if (d.ne[0] !== g.ne[1] || u.ne[1] !== g.ne[1]) throw new TensorshrinkError("E_SHAPE", `block ${l}: ffn_down is [${d.ne}], ffn_gate [${g.ne}]`, { layer: l });
    return { g, u, d, nEmbd: g.ne[0], nFf: g.ne[1] };
  };
  for (let l = 0; l < nLayer; l++) {
    const { g, u, d, nEmbd, nFf } = need(l);
    if (comp) meansOf(comp, d.name, nFf); // E_IMATRIX before any work
    if (nFf - Math.floor(fraction * nFf) < 1) throw new TensorshrinkError("E_RANGE", `FFN fraction ${fraction} would remove every channel of block ${l}`, { layer: l });
    const Dn = await d.readRows(0, nEmbd);
    const score = new Float64Array(nFf);
    const st = stats?.get(d.name);
    const G = st ? null : await g.readRows(0, nFf), U = st ? null : await u.readRows(0, nFf);
    for (let c = 0; c < nFf; c++) {
      let dn = 0; for (let r = 0; r < nEmbd; r++) dn += Dn[r * nFf + c] ** 2;
      // with bias compensation the mean is kept, so a channel costs only its fluctuation (FLAP): Var[h_c] = E[h²] − E[h]²
      if (st) score[c] = Math.sqrt(dn) * Math.sqrt(comp ? Math.max(0, st.sumSq[c] / Math.max(1, st.counts[0]) - meansOf(comp, d.name, nFf)[c] ** 2) : st.sumSq[c]);
      else { let gn = 0, un = 0; for (let j = 0; j < nEmbd; j++) { gn += G![c * nEmbd + j] ** 2; un += U![c * nEmbd + j] ** 2; } score[c] = Math.sqrt(dn * gn * un); }
    }
    scores.push(score);
  }
  // channels to remove per block
  const removeN = scores.map((sc) => Math.floor(fraction * sc.length));
  if (scope === "global" && nLayer) {
    const all: { l: number; c: number; s: number }[] = [];
    scores.forEach((sc, l) => sc.forEach((s, c) => all.push({ l, c, s })));
    all.sort((a, b) => (a.s - b.s) || (a.l - b.l) || (a.c - b.c));
    let k = Math.floor(fraction * all.length);
    removeN.fill(0);
    for (const e of all) { if (k === 0) break; if (removeN[e.l] + 1 >= scores[e.l].length) continue; removeN[e.l]++; k--; }
  }
  const kept: number[][] = [];
  for (let l = 0; l < nLayer; l++) {
    const { g, u, d, nEmbd, nFf } = need(l);
    const score = scores[l], remove = removeN[l], keepN = nFf - remove;
    const order = Array.from(score.keys()).sort((a, b) => (score[a] - score[b]) || (a - b));
    const keepSet = order.slice(remove).sort((a, b) => a - b);
    kept.push(keepSet);
    if (comp) {
      const keepMask = new Uint8Array(nFf); for (const c of keepSet) keepMask[c] = 1;
      const removed: number[] = []; for (let c = 0; c < nFf; c++) if (!keepMask[c]) removed.push(c);
      const bName = `blk.${l}.ffn_down.bias`, old = byName.get(bName);
      const b = compensationBias(remove ? await d.readRows(0, nEmbd) : new Float32Array(nEmbd * nFf), nEmbd, nFf, removed, meansOf(comp, d.name, nFf), old ? await old.readRows(0, 1) : null);
      (old ? replaced : added).set(old ? bName : d.name, memTensor(bName, [nEmbd], b));
    }
    if (remove === 0) continue;
    const G = await g.readRows(0, nFf), U = await u.readRows(0, nFf), Dn = await d.readRows(0, nEmbd);
    const G2 = new Float32Array(keepN * nEmbd), U2 = new Float32Array(keepN * nEmbd), D2 = new Float32Array(nEmbd * keepN);
    keepSet.forEach((c, i) => { G2.set(G.subarray(c * nEmbd, (c + 1) * nEmbd), i * nEmbd); U2.set(U.subarray(c * nEmbd, (c + 1) * nEmbd), i * nEmbd); });
    for (let r = 0; r < nEmbd; r++) keepSet.forEach((c, i) => { D2[r * keepN + i] = Dn[r * nFf + c]; });
    replaced.set(g.name, memTensor(g.name, [nEmbd, keepN], G2));
    replaced.set(u.name, memTensor(u.name, [nEmbd, keepN], U2));
    replaced.set(d.name, memTensor(d.name, [keepN, nEmbd], D2));
  }
  const tensors = withAdded(source.tensors.map((t) => replaced.get(t.name) ?? t), added);
  let metadata = [...source.metadata];
  if (nLayer) {
    const cfg = llamaConfigFromMetadata(source.metadata, source.tensors);
    metadata = withLayerSizes(source.metadata, arch, { heads: cfg.layerHeads, headsKv: cfg.layerHeadsKv, ff: kept.map((k) => k.length), headDim: cfg.headDim }).metadata;
  }
  return { source: { ...source, name: source.name, metadata, tensors, hparams: source.hparams, files: source.files, close: () => source.close?.() ?? Promise.resolve() }, kept, paramsBefore: paramsOf(source.tensors), paramsAfter: paramsOf(tensors) };
}

/**
 * Removes the `count` blocks with the lowest Block Influence (`blockInfluence[l]`, e.g. ActStats.blockInfluence;
 * ties: the later block goes first, as ShortGPT prefers deep layers), renumbers the rest and lowers block_count.
 */
export function pruneLayers(source: ModelSource, count: number, blockInfluence: ArrayLike<number> | null | undefined): StructuredResult {
  const nLayer = source.hparams.nLayer;
  if (!Number.isInteger(count) || count < 0 || count >= nLayer) throw new TensorshrinkError("E_RANGE", `layers to remove must be an integer in 0..${nLayer - 1} (the model has ${nLayer}; at least one must stay), got ${count}`, { count, nLayer });
  if (!blockInfluence || blockInfluence.length !== nLayer) throw new TensorshrinkError("E_IMATRIX", `layer pruning needs the Block Influence of all ${nLayer} blocks (calibration statistics), got ${blockInfluence ? blockInfluence.length : "none"}`, { nLayer });
  const arch = archOf(source);
  const order = Array.from({ length: nLayer }, (_, l) => l).sort((a, b) => (blockInfluence[a] - blockInfluence[b]) || (b - a));
  const drop = new Set(order.slice(0, count));
  const keepL = Array.from({ length: nLayer }, (_, l) => l).filter((l) => !drop.has(l));
  const renum = new Map(keepL.map((l, i) => [l, i]));
  const tensors: ModelTensor[] = [];
  for (const t of source.tensors) {
    const m = /^blk\.(\d+)\.(.*)$/.exec(t.name);
    if (!m) { tensors.push(t); continue; }
    const l = Number(m[1]);
    if (drop.has(l)) continue;
    const name = `blk.${renum.get(l)}.${m[2]}`;
    tensors.push(name === t.name ? t : { ...t, name, readRows: t.readRows.bind(t), readRawRows: t.readRawRows.bind(t), fileRows: t.fileRows?.bind(t) });
  }
  let metadata = setKV(source.metadata, `${arch}.block_count`, keepL.length);
  const perLayerKeys = ["feed_forward_length", "attention.head_count", "attention.head_count_kv"].map((k) => `${arch}.${k}`);
  if (source.metadata.some((kv) => perLayerKeys.includes(kv.key) && typeof kv.value === "object")) {
    // per-layer arrays (deci): keep the kept layers' entries
    const cfg = llamaConfigFromMetadata(source.metadata, source.tensors);
    metadata = withLayerSizes(metadata, arch, { heads: keepL.map((l) => cfg.layerHeads[l]), headsKv: keepL.map((l) => cfg.layerHeadsKv[l]), ff: keepL.map((l) => cfg.layerFf[l]), headDim: cfg.headDim }).metadata;
  }
  return { source: { ...source, metadata, tensors, hparams: { ...source.hparams, nLayer: keepL.length }, close: () => source.close?.() ?? Promise.resolve() }, kept: [keepL], paramsBefore: paramsOf(source.tensors), paramsAfter: paramsOf(tensors) };
}
