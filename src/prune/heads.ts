/**
 * Attention-head pruning that makes the file smaller, as a {@link ModelSource} transform (the result goes
 * through quantizeModel like any model). Heads go in whole KV groups: under GQA the r = n_head / n_head_kv query
 * heads that share KV head g (q heads g·r .. g·r + r − 1, as llama.cpp's broadcast maps q head h to KV head ⌊h / r⌋)
 * leave together with it — rows of attn_q (r·head_dim per group), attn_k and attn_v (head_dim each), columns of
 * attn_output (r·head_dim), and the matching slices of qwen2's q/k/v biases.
 *
 * Score of group g in layer l (what removing it costs the residual stream, to first order):
 *   S = Σ_c ‖W_o[:, c]‖₂² · E[x_c²] over the group's attn_output columns c, x = the attention output (attn_output's
 *   input, its Σx² / tokens from calibration statistics). Without statistics: ‖W_o[:, group]‖_F · ‖W_v[group, :]‖_F.
 * Scope "layer": ⌊fraction · n_head_kv⌋ groups leave every layer (all layers stay equal: plain `llama`). Scope
 * "global": ⌊fraction · Σ n_head_kv⌋ groups with the lowest S over all layers, at least one kept per layer; layers
 * then differ and the file is written as architecture `deci` with per-layer head_count / head_count_kv arrays
 * (src/prune/layer-sizes.ts; llama.cpp's `llama` would refuse it).
 * Errors, before anything is written: E_RANGE (fraction outside [0, 1), a plan that splits a KV group, removes
 * every group of a layer, or names a head out of range), E_UNSUPPORTED (MoE or per-layer sizes on qwen*).
 */
import { TensorshrinkError } from "../errors";
import type { ModelSource, ModelTensor } from "../model/source";
import type { ActStats } from "../calib/stats";
import { llamaConfigFromMetadata } from "../nn/config";
import { withLayerSizes } from "./layer-sizes";
import { memTensor, paramsOf, withAdded, type StructuredResult } from "./structured";
import { type InputMeans, compensationBias, meansOf, checkBiasArch } from "./bias";

/** Options of {@link pruneHeads}. */
export interface PruneHeadsOptions {
  /** "layer" (default): the same number of KV groups leaves every layer; "global": lowest scores over all layers. */
  scope?: "layer" | "global";
  /**
   * FLAP bias compensation (src/prune/bias.ts): the means of attn_output's input channels (collectInputMeans on the
   * unpruned model). When given, every block gets `blk.N.attn_output.bias` [n_embd] f32 = its existing bias (if any)
   * + W_o[:, removed heads' columns] · E[attention output of those columns]. llama / deci only.
   */
  biasCompensation?: InputMeans | null;
}

/**
 * Scores of every KV group: `scores[l][g]` (see the file header). With `means` (bias compensation) E[x_c²] becomes
 * Var[x_c] = E[x_c²] − E[x_c]²: the mean is kept as attn_output.bias, so a group costs only its fluctuation (FLAP).
 */
export async function headGroupScores(source: ModelSource, stats?: ActStats | null, means?: InputMeans | null): Promise<number[][]> {
  const cfg = llamaConfigFromMetadata(source.metadata, source.tensors);
  if (cfg.nExpert > 0) throw new TensorshrinkError("E_UNSUPPORTED", "head pruning of MoE models is not supported", { arch: cfg.arch });
  const byName = new Map(source.tensors.map((t) => [t.name, t]));
  const hd = cfg.headDim, C = cfg.nEmbd, out: number[][] = [];
  for (let l = 0; l < cfg.nLayer; l++) {
    const nh = cfg.layerHeads[l], nkv = cfg.layerHeadsKv[l], r = nh / nkv, q = nh * hd;
    const o = byName.get(`blk.${l}.attn_output.weight`), v = byName.get(`blk.${l}.attn_v.weight`);
    if (!o || !v) throw new TensorshrinkError("E_FORMAT", `block ${l} has no attn_output / attn_v weight`, { layer: l });
    const W = await o.readRows(0, C);
    const colSq = new Float64Array(q);
    for (let i = 0; i < C; i++) for (let c = 0; c < q; c++) colSq[c] += W[i * q + c] ** 2;
    const st = stats?.get(o.name);
    const ms = st ? stats!.meanSq(o.name) : null;
    const mu = ms && means ? meansOf(means, o.name, q) : null; // bias compensation keeps the mean: score the variance (FLAP)
    const V = ms ? null : await v.readRows(0, nkv * hd);
    const sc: number[] = [];
    for (let g = 0; g < nkv; g++) {
      let s = 0;
      if (ms) for (let c = g * r * hd; c < (g + 1) * r * hd; c++) s += colSq[c] * (mu ? Math.max(0, ms[c] - mu[c] ** 2) : ms[c]);
      else {
        let on = 0, vn = 0;
        for (let c = g * r * hd; c < (g + 1) * r * hd; c++) on += colSq[c];
        for (let j = g * hd * C; j < (g + 1) * hd * C; j++) vn += V![j] ** 2;
        s = Math.sqrt(on * vn);
      }
      sc.push(s);
    }
    out.push(sc);
  }
  return out;
}

/**
 * Removes ⌊fraction · KV groups⌋ attention-head groups (see the file header) scored by {@link headGroupScores}.
 * `stats` (collectStats over a calibration text) gives the activation-weighted score.
 */
export async function pruneHeads(source: ModelSource, fraction: number, stats?: ActStats | null, opts: PruneHeadsOptions = {}): Promise<StructuredResult> {
  if (!(typeof fraction === "number" && fraction >= 0 && fraction < 1)) throw new TensorshrinkError("E_RANGE", `head fraction must be in [0, 1), got ${fraction}`, { fraction });
  const scope = opts.scope ?? "layer";
  if (scope !== "layer" && scope !== "global") throw new TensorshrinkError("E_RANGE", `scope must be "layer" or "global", got ${String(scope)}`);
  const scores = await headGroupScores(source, stats, opts.biasCompensation);
  const remove: number[][] = scores.map(() => []);
  if (scope === "layer") {
    scores.forEach((sc, l) => {
      const k = Math.floor(fraction * sc.length);
      remove[l] = Array.from(sc.keys()).sort((a, b) => (sc[a] - sc[b]) || (a - b)).slice(0, k);
    });
  } else {
    const all = scores.flatMap((sc, l) => sc.map((s, g) => ({ l, g, s }))).sort((a, b) => (a.s - b.s) || (a.l - b.l) || (a.g - b.g));
    let k = Math.floor(fraction * all.length);
    if (k > all.length - scores.length) throw new TensorshrinkError("E_RANGE", `head fraction ${fraction} would remove ${k} of ${all.length} KV groups; at least one per layer (${scores.length}) must stay`, { fraction });
    for (const e of all) {
      if (k === 0) break;
      if (remove[e.l].length + 1 >= scores[e.l].length) continue; // keep the layer's last group
      remove[e.l].push(e.g); k--;
    }
  }
  const cfg = llamaConfigFromMetadata(source.metadata, source.tensors);
  const r = cfg.layerHeads.map((h, l) => h / cfg.layerHeadsKv[l]);
  return removeHeads(source, remove.map((gs, l) => gs.flatMap((g) => Array.from({ length: r[l] }, (_, i) => g * r[l] + i))), { biasCompensation: opts.biasCompensation });
}

/**
 * Removes the given query heads (`qHeads[l]` = q-head indices of block l, 0-based) with their KV heads. Every
 * list must be a union of whole KV groups (E_RANGE naming the group it would split) and leave at least one.
 * Result `kept[l]` = the kept KV groups of block l (original indices).
 */
export async function removeHeads(source: ModelSource, qHeads: readonly (readonly number[])[], opts: { biasCompensation?: InputMeans | null } = {}): Promise<StructuredResult> {
  const cfg = llamaConfigFromMetadata(source.metadata, source.tensors);
  const comp = opts.biasCompensation ?? null;
  if (comp) checkBiasArch(cfg.arch);
  if (cfg.nExpert > 0) throw new TensorshrinkError("E_UNSUPPORTED", "head pruning of MoE models is not supported", { arch: cfg.arch });
  if (!Array.isArray(qHeads) || qHeads.length !== cfg.nLayer) throw new TensorshrinkError("E_RANGE", `removeHeads needs one list of q heads per layer (${cfg.nLayer}), got ${Array.isArray(qHeads) ? qHeads.length : typeof qHeads}`, {});
  const hd = cfg.headDim, C = cfg.nEmbd;
  const keptGroups: number[][] = [];
  for (let l = 0; l < cfg.nLayer; l++) {
    const nh = cfg.layerHeads[l], nkv = cfg.layerHeadsKv[l], r = nh / nkv;
    const set = new Set<number>();
    for (const h of qHeads[l]) {
      if (!Number.isInteger(h) || h < 0 || h >= nh) throw new TensorshrinkError("E_RANGE", `layer ${l}: q head ${h} is out of range 0..${nh - 1}`, { layer: l, head: h });
      set.add(h);
    }
    const kept: number[] = [];
    for (let g = 0; g < nkv; g++) {
      let n = 0;
      for (let i = 0; i < r; i++) if (set.has(g * r + i)) n++;
      if (n !== 0 && n !== r) throw new TensorshrinkError("E_RANGE", `layer ${l}: removing ${n} of the ${r} q heads of KV group ${g} (q heads ${g * r}..${g * r + r - 1}) would split the group; remove all of them or none`, { layer: l, group: g });
      if (n === 0) kept.push(g);
    }
    if (!kept.length) throw new TensorshrinkError("E_RANGE", `layer ${l}: the plan removes every attention head; at least one KV group must stay`, { layer: l });
    keptGroups.push(kept);
  }
  const byName = new Map(source.tensors.map((t) => [t.name, t]));
  const replaced = new Map<string, ModelTensor>(), added = new Map<string, ModelTensor>();
  const need = (n: string) => { const t = byName.get(n); if (!t) throw new TensorshrinkError("E_FORMAT", `the model has no tensor ${n}`, { tensor: n }); return t; };
  /** Rows [g·len, (g+1)·len) of each kept group g, of a rows × cols matrix. */
  const rowsOf = (W: Float32Array, cols: number, groups: number[], len: number) => {
    const out = new Float32Array(groups.length * len * cols);
    groups.forEach((g, i) => out.set(W.subarray(g * len * cols, (g + 1) * len * cols), i * len * cols));
    return out;
  };
  if (comp) for (let l = 0; l < cfg.nLayer; l++) meansOf(comp, `blk.${l}.attn_output.weight`, cfg.layerHeads[l] * hd); // E_IMATRIX first
  for (let l = 0; l < cfg.nLayer; l++) {
    const nh = cfg.layerHeads[l], nkv = cfg.layerHeadsKv[l], r = nh / nkv, kg = keptGroups[l];
    const p = `blk.${l}.`, qg = r * hd, q = nh * hd, q2 = kg.length * qg;
    if (comp) {
      const to = need(p + "attn_output.weight"), bName = p + "attn_output.bias", old = byName.get(bName);
      const keptSet = new Set(kg), removed: number[] = [];
      for (let g = 0; g < nkv; g++) if (!keptSet.has(g)) for (let c = g * qg; c < (g + 1) * qg; c++) removed.push(c);
      const b = compensationBias(removed.length ? await to.readRows(0, C) : new Float32Array(C * q), C, q, removed, meansOf(comp, to.name, q), old ? await old.readRows(0, 1) : null);
      (old ? replaced : added).set(old ? bName : to.name, memTensor(bName, [C], b));
    }
    if (kg.length === nkv) continue;
    const tq = need(p + "attn_q.weight"), tk = need(p + "attn_k.weight"), tv = need(p + "attn_v.weight"), to = need(p + "attn_output.weight");
    replaced.set(tq.name, memTensor(tq.name, [C, q2], rowsOf(await tq.readRows(0, q), C, kg, qg)));
    replaced.set(tk.name, memTensor(tk.name, [C, kg.length * hd], rowsOf(await tk.readRows(0, nkv * hd), C, kg, hd)));
    replaced.set(tv.name, memTensor(tv.name, [C, kg.length * hd], rowsOf(await tv.readRows(0, nkv * hd), C, kg, hd)));
    const O = await to.readRows(0, C), O2 = new Float32Array(C * q2);
    for (let i = 0; i < C; i++) kg.forEach((g, j) => O2.set(O.subarray(i * q + g * qg, i * q + (g + 1) * qg), i * q2 + j * qg));
    replaced.set(to.name, memTensor(to.name, [q2, C], O2));
    for (const [b, len] of [["attn_q.bias", qg], ["attn_k.bias", hd], ["attn_v.bias", hd]] as const) {
      const t = byName.get(p + b);
      if (t) replaced.set(t.name, memTensor(t.name, [kg.length * len], rowsOf(await t.readRows(0, 1), 1, kg, len)));
    }
  }
  const heads = cfg.layerHeads.map((h, l) => keptGroups[l].length * (h / cfg.layerHeadsKv[l]));
  const headsKv = keptGroups.map((k) => k.length);
  const { metadata } = withLayerSizes(source.metadata, cfg.arch, { heads, headsKv, ff: cfg.layerFf, headDim: hd });
  const tensors = withAdded(source.tensors.map((t) => replaced.get(t.name) ?? t), added);
  return {
    source: { ...source, metadata, tensors, hparams: { ...source.hparams, nHead: heads[0], nHeadKv: headsKv[0] }, close: () => source.close?.() ?? Promise.resolve() },
    kept: keptGroups, paramsBefore: paramsOf(source.tensors), paramsAfter: paramsOf(tensors),
  };
}
