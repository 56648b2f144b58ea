/**
 * Runs a method list over a model's plan before the GGUF writer starts (used by quantizeModel): decides
 * which tensors each method handles (typed errors before any byte is written), runs the calibrated sweep
 * when a method needs statistics, and keeps each handled tensor's output bytes in memory.
 * Memory: ≈ the handled tensors' output bytes + one tensor (or one block, with a layer method) as f32 +
 * the sweep's streams and statistics (see calibratedSweep) + the model's resident f32 weights.
 */
import { TensorshrinkError } from "../errors";
import type { Engine } from "../engine/engine";
import type { ActInput, ActStats } from "../calib/stats";
import type { ModelSource, ModelTensor } from "../model/source";
import { rtnBytes, rtnMethod, rowsOf, bytesOf } from "./rtn";
import { gptqMethod } from "./gptq";
import { awqMethod } from "./awq";
import { searchMethod } from "./search";
import { hqqMethod } from "./hqq";
import { calibratedSweep, type SweepReport } from "./sweep";
import { isLayerMethod, type ExtraTensorSpec, type LayerMethod, type MethodNeeds, type MethodSpec, type TensorInfo, type TensorMethod, type TensorMethodResult } from "./types";

/** Built-in methods by name. */
export const BUILTIN_METHODS: Record<string, () => TensorMethod | LayerMethod> = {
  rtn: () => rtnMethod,
  gptq: () => gptqMethod(),
  awq: () => awqMethod(),
  search: () => searchMethod(),
  hqq: () => hqqMethod(),
};

/** Resolves names ("gptq") and objects into method objects; E_RANGE naming an unknown name. */
export function resolveMethods(specs: readonly MethodSpec[]): (TensorMethod | LayerMethod)[] {
  return specs.map((s) => {
    if (typeof s !== "string") return s;
    const f = BUILTIN_METHODS[s.toLowerCase()];
    if (!f) throw new TensorshrinkError("E_RANGE", `unknown method "${s}" (known: ${Object.keys(BUILTIN_METHODS).join(", ")})`, { method: s });
    return f();
  });
}

/** Calibration for methods that need statistics: tokens for a sweep, or statistics already collected. */
export type CalibrationInput = { tokens: Int32Array; ctx?: number; chunks?: number; dataset?: string } | { stats: ActStats };

/** One planned tensor as runMethods sees it. */
export interface PlannedTensor { tensor: ModelTensor; type: string; quantize: boolean }

/** Result of {@link runMethods}. */
export interface MethodsOutput {
  /** Output bytes by tensor name (handled tensors only). */
  bytes: Map<string, Uint8Array>;
  /** Extra tensors by the tensor they follow, with their data. */
  extra: Map<string, { spec: ExtraTensorSpec; data: Uint8Array }[]>;
  /** Which methods produced each handled tensor (e.g. "gptq"). */
  by: Map<string, string>;
  /** Masks returned by methods (pruning), by tensor name. */
  masks: Map<string, Uint8Array>;
  /** Per-tensor info methods returned. */
  info: Map<string, Record<string, number | string>>;
  sweep: SweepReport | null;
  seconds: number;
}

/** Block index of a tensor name (-1 for non-block tensors). */
export const layerOf = (name: string): number => { const m = /^blk\.(\d+)\./.exec(name); return m ? Number(m[1]) : -1; };

/** What runMethods decided before data flows (see {@link planMethods}). */
export interface MethodPlan {
  methods: (TensorMethod | LayerMethod)[];
  /** Tensor name -> tensor methods applying to it, in list order. */
  chains: Map<string, TensorMethod[]>;
  /** Extra tensor specs by the tensor they follow. */
  extras: Map<string, ExtraTensorSpec[]>;
  needs: MethodNeeds;
  layerMethods: LayerMethod[];
}

/**
 * Decides, before any data flows, which tensors each method handles and what extra tensors appear.
 * @throws TensorshrinkError E_UNSUPPORTED when a tensor method applies to no tensor of the plan (naming the
 *   method and the reasons), E_RANGE (unknown method name, a method list with no method).
 */
export function planMethods(specs: readonly MethodSpec[], planned: readonly PlannedTensor[]): MethodPlan {
  if (!Array.isArray(specs) || specs.length === 0) throw new TensorshrinkError("E_RANGE", "methods must be a non-empty list", {});
  const methods = resolveMethods(specs);
  const tensorMethods = methods.filter((m): m is TensorMethod => !isLayerMethod(m));
  const layerMethods = methods.filter(isLayerMethod);
  const chains = new Map<string, TensorMethod[]>(), extras = new Map<string, ExtraTensorSpec[]>();
  const needs: MethodNeeds = {};
  const addNeeds = (n?: MethodNeeds) => { if (n?.sumSq) needs.sumSq = true; if (n?.sumAbs) needs.sumAbs = true; if (n?.gram) needs.gram = true; };
  for (const m of layerMethods) addNeeds(m.needs);
  for (const m of tensorMethods) {
    const reasons = new Map<string, string[]>();
    let hits = 0;
    for (const p of planned) {
      if (!p.quantize) continue;
      const info: TensorInfo = { name: p.tensor.name, ne: p.tensor.ne, targetType: p.type, layer: layerOf(p.tensor.name) };
      const ok = m.appliesTo(info);
      if (ok === true) {
        hits++;
        if (!chains.has(info.name)) chains.set(info.name, []);
        chains.get(info.name)!.push(m);
        const ex = m.outputShapes?.(info) ?? [];
        if (ex.length) extras.set(info.name, [...(extras.get(info.name) ?? []), ...ex]);
      } else {
        const r = String(ok);
        if (!reasons.has(r)) reasons.set(r, []);
        reasons.get(r)!.push(`${info.name} (${info.targetType})`);
      }
    }
    if (hits === 0) {
      const why = [...reasons].map(([r, ts]) => `${r}: ${ts.slice(0, 3).join(", ")}${ts.length > 3 ? `, +${ts.length - 3} more` : ""}`).join("; ");
      throw new TensorshrinkError("E_UNSUPPORTED", `method ${m.name} applies to no tensor of this plan${why ? ` (${why})` : ""}`, { method: m.name });
    }
    addNeeds(m.needs);
  }
  return { methods, chains, extras, needs, layerMethods };
}

const DENSE_TYPES = new Set(["f32", "f16", "bf16"]);

/** Mean x² per column of an input (llama.cpp's importance; 1 where no rows were seen), f32. */
function meanSqOf(inp: ActInput): Float32Array {
  const out = new Float32Array(inp.sumSq.length);
  for (let m = 0; m < inp.nMat; m++) { const c = inp.counts[m]; for (let j = 0; j < inp.cols; j++) out[m * inp.cols + j] = c > 0 ? inp.sumSq[m * inp.cols + j] / c : 1; }
  return out;
}

/** Statistics of x / s (per column): Σx²/s², Σ|x|/s, D⁻¹ XᵀX D⁻¹ (a new ActInput; the original is not changed). */
export function rescaledInput(inp: ActInput, s: Float32Array): ActInput {
  const C = inp.cols;
  if (s.length !== C || inp.nMat !== 1) throw new TensorshrinkError("E_SHAPE", `rescaling the input of ${inp.tensors.join(", ")}: ${s.length} scales for ${C} columns × ${inp.nMat} matrices`, { tensors: inp.tensors.join(",") });
  const sumSq = inp.sumSq.map((v, j) => v / (s[j] * s[j])), sumAbs = inp.sumAbs.map((v, j) => v / s[j]);
  let gram: Float64Array | null = null;
  if (inp.gram) { gram = new Float64Array(C * C); for (let i = 0; i < C; i++) for (let j = 0; j < C; j++) gram[i * C + j] = inp.gram[i * C + j] / (s[i] * s[j]); }
  return { ...inp, tensors: [...inp.tensors], sumSq, sumAbs, counts: Float64Array.from(inp.counts), gram };
}

const needsStats = (n: MethodNeeds) => !!(n.sumSq || n.sumAbs || n.gram);

/**
 * Checks calibration before anything is written: a method that needs statistics without `calibration`
 * is E_RANGE naming it.
 */
export function checkCalibration(mp: MethodPlan, calibration: CalibrationInput | undefined): void {
  if (!needsStats(mp.needs)) return;
  if (!calibration) {
    const who = mp.methods.filter((m) => needsStats(m.needs ?? {})).map((m) => m.name).join(", ");
    throw new TensorshrinkError("E_RANGE", `method ${who} needs calibration (tokens of a calibration text, or collected statistics)`, { methods: who });
  }
  if ("stats" in calibration) {
    if (mp.needs.gram && !calibration.stats.inputs.some((i) => i.gram)) throw new TensorshrinkError("E_RANGE", "the given statistics have no Gram matrices (XᵀX), which the method list needs: collect them with gram, or pass calibration tokens", {});
  } else if (!(calibration.tokens instanceof Int32Array)) throw new TensorshrinkError("E_ARG_TYPE", "calibration.tokens must be an Int32Array", {});
}

/**
 * Runs the method plan: per block through the calibrated sweep when statistics are needed (and tokens were
 * given), otherwise tensor by tensor. Returns the bytes of every handled tensor.
 */
export async function runMethods(engine: Engine, source: ModelSource, planned: readonly PlannedTensor[], mp: MethodPlan, o: {
  imatrix?: ReadonlyMap<string, Float32Array> | null; calibration?: CalibrationInput; signal?: AbortSignal;
  onLayer?(p: { layer: number; layers: number; seconds: number }): void;
}): Promise<MethodsOutput> {
  const t0 = Date.now();
  const out: MethodsOutput = { bytes: new Map(), extra: new Map(), by: new Map(), masks: new Map(), info: new Map(), sweep: null, seconds: 0 };
  const byName = new Map(planned.map((p) => [p.tensor.name, p]));
  const read = async (name: string) => { const p = byName.get(name)!; return p.tensor.readRows(0, rowsOf(p.tensor.ne)); };

  // Inputs a layer method rescaled (AWQ: x -> x / s): the rescaled statistics by tensor, and the cumulative
  // per-column scale by tensor (the user's imatrix entries are divided by s² for those tensors).
  const statsOverride = new Map<string, ActInput>(), inputScale = new Map<string, Float32Array>();
  const statsFor = (stats: ActStats | undefined, name: string): ActInput | undefined => statsOverride.get(name) ?? stats?.get(name);
  const imatrixFor = (stats: ActStats | undefined, name: string): Float32Array | null => {
    const u = o.imatrix?.get(name);
    if (u) { const sc = inputScale.get(name); return sc && sc.length === u.length ? u.map((v, j) => v / (sc[j] * sc[j])) : u; }
    const st = statsFor(stats, name);
    return st && st.counts[0] > 0 ? meanSqOf(st) : null;
  };
  const scaleInputs = (stats: ActStats | undefined, tensors: readonly string[], sc: Float32Array) => {
    const st = statsFor(stats, tensors[0]);
    if (st) { const r = rescaledInput(st, sc); for (const t of st.tensors) statsOverride.set(t, r); }
    for (const t of tensors) { const c = inputScale.get(t); inputScale.set(t, c ? c.map((v, j) => v * sc[j]) : Float32Array.from(sc)); }
  };

  /** Runs the chain on one tensor; returns the reconstruction (f32) of what will be written. */
  const runTensor = async (name: string, w: Float32Array, stats: ActStats | undefined, by: string[] = []): Promise<Float32Array> => {
    if (o.signal?.aborted) throw new TensorshrinkError("E_ABORTED", `aborted before tensor ${name}`, { name });
    const p = byName.get(name)!, ne = p.tensor.ne, type = p.type;
    if (!p.quantize) {
      // a copied dense tensor (a norm) that a layer method changed: written in its own type
      const b = type === "f32" ? new Uint8Array(Float32Array.from(w).buffer) : engine.quantize(w, { type, rows: rowsOf(ne), cols: ne[0], name });
      out.bytes.set(name, b); out.by.set(name, by.join("+"));
      return type === "f32" ? Float32Array.from(w) : engine.dequantize(b, { type, rows: rowsOf(ne), cols: ne[0], name } as any);
    }
    const st = statsFor(stats, name);
    const im = imatrixFor(stats, name);
    const chain = mp.chains.get(name) ?? [];
    let bytes: Uint8Array | undefined, weight = w, names: string[] = [...by];
    for (const m of chain) {
      const r: TensorMethodResult = await m.apply({ engine, name, layer: layerOf(name), ne, targetType: type, weight, stats: st, imatrix: im, signal: o.signal, bytes });
      names.push(m.name);
      if (r.mask) out.masks.set(name, r.mask);
      if (r.info) out.info.set(name, { ...(out.info.get(name) ?? {}), ...r.info });
      if (r.extra) {
        const decl = mp.extras.get(name) ?? [];
        for (const e of r.extra) {
          const d = decl.find((s) => s.name === e.name);
          if (!d || d.type !== e.type || d.ne.join(",") !== e.ne.join(",")) throw new TensorshrinkError("E_SHAPE", `method ${m.name} returned extra tensor ${e.name} [${e.ne}] ${e.type}, which its outputShapes did not declare so`, { name, extra: e.name });
          if (!out.extra.has(name)) out.extra.set(name, []);
          out.extra.get(name)!.push({ spec: d, data: e.data });
        }
      }
      if (r.bytes) { bytes = r.bytes; weight = r.weight ?? weight; }
      else if (r.weight) { bytes = undefined; weight = r.weight; }
    }
    if (!bytes) { bytes = rtnBytes(engine, weight, ne, type, im, name); if (!chain.length) names.push("rtn"); }
    const want = bytesOf(type, rowsOf(ne), ne[0]);
    if (bytes.byteLength !== want) throw new TensorshrinkError("E_SHAPE", `method ${names.join("+")} returned ${bytes.byteLength} bytes for tensor ${name}, ${type} needs ${want}`, { name });
    out.bytes.set(name, bytes);
    out.by.set(name, names.join("+"));
    return type === "f32" ? new Float32Array(bytes.slice().buffer) : engine.dequantize(bytes, { type, rows: rowsOf(ne), cols: ne[0], name } as any);
  };

  const cal = o.calibration;
  const blockNames = (l: number) => planned.filter((p) => layerOf(p.tensor.name) === l).map((p) => p.tensor.name);
  const runLayer = async (l: number, stats: ActStats | undefined, inputs?: Float32Array[]): Promise<Map<string, Float32Array>> => {
    const names = blockNames(l), rec = new Map<string, Float32Array>();
    const modified = new Map<string, string[]>();
    const current = new Map<string, Float32Array>();
    if (mp.layerMethods.length) {
      for (const n of names) current.set(n, await read(n));
      for (const lm of mp.layerMethods) {
        const res = await lm.applyLayer({
          engine, layer: l, weights: current, shapes: new Map(names.map((n) => [n, byName.get(n)!.tensor.ne])), targetTypes: new Map(names.map((n) => [n, byName.get(n)!.type])), stats, inputs, signal: o.signal,
          statsFor: (n) => statsFor(stats, n), imatrixFor: (n) => imatrixFor(stats, n), scaleInputs: (ts, sc) => scaleInputs(stats, ts, sc),
          tensorChain: (n) => (mp.chains.get(n) ?? []).map((m) => m.name),
        });
        for (const [n, w] of res) { current.set(n, w); if (!modified.has(n)) modified.set(n, []); if (!modified.get(n)!.includes(lm.name)) modified.get(n)!.push(lm.name); }
      }
    }
    for (const n of names) {
      const p = byName.get(n)!;
      if (!mp.chains.has(n) && !modified.has(n)) continue;
      if (!p.quantize && modified.has(n) && !DENSE_TYPES.has(p.type)) throw new TensorshrinkError("E_UNSUPPORTED", `a layer method modified ${n}, which the plan copies unchanged in ${p.type} (only f32/f16/bf16 copies can be rewritten)`, { name: n });
      rec.set(n, await runTensor(n, current.get(n) ?? (await read(n)), stats, modified.get(n) ?? []));
    }
    return rec;
  };

  let nonBlockDone = false;
  if (needsStats(mp.needs) && cal && "tokens" in cal) {
    out.sweep = await calibratedSweep(engine, source, {
      tokens: cal.tokens, ctx: cal.ctx, chunks: cal.chunks, gram: !!mp.needs.gram, signal: o.signal,
      processLayer: (l, stats, inputs) => runLayer(l, stats, inputs),
      onLayer: (p) => o.onLayer?.(p),
    });
  } else {
    const stats = cal && "stats" in cal ? cal.stats : undefined;
    const layers = [...new Set(planned.map((p) => layerOf(p.tensor.name)).filter((l) => l >= 0))].sort((a, b) => a - b);
    for (const l of layers) { const t = Date.now(); await runLayer(l, stats); o.onLayer?.({ layer: l, layers: layers.length, seconds: (Date.now() - t) / 1000 }); }
    for (const n of blockNames(-1)) if (mp.chains.has(n)) await runTensor(n, await read(n), stats);
    nonBlockDone = true;
  }
  if (!nonBlockDone) for (const n of blockNames(-1)) if (mp.chains.has(n)) await runTensor(n, await read(n), undefined);
  out.seconds = (Date.now() - t0) / 1000;
  return out;
}
