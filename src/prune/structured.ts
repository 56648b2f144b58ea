/**
 * Structured pruning that makes the file smaller and llama.cpp faster, as {@link ModelSource} transforms (the
 * result goes through quantizeModel like any model):
 * - {@link pruneFfnChannels}: removes the same number of FFN channels from every block (rows of ffn_gate / ffn_up,
 *   columns of ffn_down) and lowers `llama.feed_forward_length`. Channel c of block l is scored
 *   ‖W_down[:, c]‖₂ · ‖h_c‖₂ with h = silu(gate·x) ⊙ (up·x) the down projection's input (its Σx² from
 *   calibration statistics; without statistics ‖W_down[:, c]‖₂ · ‖W_gate[c]‖₂ · ‖W_up[c]‖₂, a magnitude proxy).
 *   The lowest-scored channels go; the kept ones stay in their order.
 * - {@link pruneLayers}: removes whole blocks with the lowest Block Influence (ShortGPT: mean 1 − cos(x_in, x_out)),
 *   renumbers `blk.N` and lowers `llama.block_count`.
 * Every block keeps the same sizes, so the GGUF needs no per-layer arrays and loads in the llama.cpp of
 * node-llama-cpp as plain `llama` (per-layer `feed_forward_length` arrays / the `deci` architecture are NOT
 * written by this build). Errors before anything is written: E_RANGE (fraction outside [0, 1), removing every
 * channel or every layer, a layer count out of range, missing Block Influence).
 */
import { TensorshrinkError } from "../errors";
import { ggufKV, type GgufKV } from "../formats/gguf";
import type { ModelSource, ModelTensor } from "../model/source";
import type { ActStats } from "../calib/stats";

function memTensor(name: string, ne: number[], data: Float32Array): ModelTensor {
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

/** Result of a structured transform. */
export interface StructuredResult {
  source: ModelSource;
  /** Per block: the kept FFN channels (pruneFfnChannels) or, for pruneLayers, the original index of each kept block. */
  kept: number[][];
  /** Parameters before and after. */
  paramsBefore: number;
  paramsAfter: number;
}

const paramsOf = (ts: readonly ModelTensor[]) => ts.reduce((s, t) => s + t.ne.reduce((a, b) => a * b, 1), 0);

/**
 * Removes ⌊fraction · n_ff⌋ FFN channels from every block (see the file header). `stats` (from collectStats over
 * a calibration text) gives the activation-weighted score; without it a weight-only proxy is used.
 */
export async function pruneFfnChannels(source: ModelSource, fraction: number, stats?: ActStats | null): Promise<StructuredResult> {
  if (!(typeof fraction === "number" && fraction >= 0 && fraction < 1)) throw new TensorshrinkError("E_RANGE", `FFN fraction must be in [0, 1), got ${fraction}`, { fraction });
  const arch = archOf(source);
  const byName = new Map(source.tensors.map((t) => [t.name, t]));
  const nLayer = source.hparams.nLayer;
  const replaced = new Map<string, ModelTensor>();
  const kept: number[][] = [];
  let nFfNew = -1;
  for (let l = 0; l < nLayer; l++) {
    const g = byName.get(`blk.${l}.ffn_gate.weight`), u = byName.get(`blk.${l}.ffn_up.weight`), d = byName.get(`blk.${l}.ffn_down.weight`);
    if (!g || !u || !d || g.ne.length !== 2 || d.ne.length !== 2) throw new TensorshrinkError("E_UNSUPPORTED", `block ${l} has no dense SwiGLU FFN (ffn_gate/ffn_up/ffn_down): FFN channel pruning needs one`, { layer: l });
    const nEmbd = g.ne[0], nFf = g.ne[1];
    if (d.ne[0] !== nFf || u.ne[1] !== nFf) throw new TensorshrinkError("E_SHAPE", `block ${l}: ffn_down is [${d.ne}], ffn_gate [${g.ne}]`, { layer: l });
    const remove = Math.floor(fraction * nFf), keepN = nFf - remove;
    if (keepN < 1) throw new TensorshrinkError("E_RANGE", `FFN fraction ${fraction} would remove every channel of block ${l}`, { layer: l });
    if (nFfNew >= 0 && keepN !== nFfNew) throw new TensorshrinkError("E_UNSUPPORTED", `blocks have different FFN widths; per-layer feed_forward_length is not written by this build`, { layer: l });
    nFfNew = keepN;
    const G = await g.readRows(0, nFf), U = await u.readRows(0, nFf), Dn = await d.readRows(0, nEmbd);
    const score = new Float64Array(nFf);
    const st = stats?.get(d.name);
    for (let c = 0; c < nFf; c++) {
      let dn = 0; for (let r = 0; r < nEmbd; r++) dn += Dn[r * nFf + c] ** 2;
      if (st) score[c] = Math.sqrt(dn) * Math.sqrt(st.sumSq[c]);
      else { let gn = 0, un = 0; for (let j = 0; j < nEmbd; j++) { gn += G[c * nEmbd + j] ** 2; un += U[c * nEmbd + j] ** 2; } score[c] = Math.sqrt(dn * gn * un); }
    }
    const order = Array.from(score.keys()).sort((a, b) => (score[a] - score[b]) || (a - b));
    const keepSet = order.slice(remove).sort((a, b) => a - b);
    kept.push(keepSet);
    const G2 = new Float32Array(keepN * nEmbd), U2 = new Float32Array(keepN * nEmbd), D2 = new Float32Array(nEmbd * keepN);
    keepSet.forEach((c, i) => { G2.set(G.subarray(c * nEmbd, (c + 1) * nEmbd), i * nEmbd); U2.set(U.subarray(c * nEmbd, (c + 1) * nEmbd), i * nEmbd); });
    for (let r = 0; r < nEmbd; r++) keepSet.forEach((c, i) => { D2[r * keepN + i] = Dn[r * nFf + c]; });
    replaced.set(g.name, memTensor(g.name, [nEmbd, keepN], G2));
    replaced.set(u.name, memTensor(u.name, [nEmbd, keepN], U2));
    replaced.set(d.name, memTensor(d.name, [keepN, nEmbd], D2));
  }
  const tensors = source.tensors.map((t) => replaced.get(t.name) ?? t);
  const metadata = nLayer ? setKV(source.metadata, `${arch}.feed_forward_length`, nFfNew) : [...source.metadata];
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
  const metadata = setKV(source.metadata, `${arch}.block_count`, keepL.length);
  return { source: { ...source, metadata, tensors, hparams: { ...source.hparams, nLayer: keepL.length }, close: () => source.close?.() ?? Promise.resolve() }, kept: [keepL], paramsBefore: paramsOf(source.tensors), paramsAfter: paramsOf(tensors) };
}
