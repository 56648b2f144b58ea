/**
 * Knowledge-distillation losses with their gradient with respect to the student logits, computed by
 * the wasm kernels in assembly/nn/loss.ts (full teacher logits) and assembly/nn/loss_topk.ts (teacher
 * known through its top-k log-probs, as a teacher file stores it).
 *
 * Conventions (all quantities in nats):
 * - p_t = softmax(teacher / tau), p_s = softmax(student / tau), tau = `temperature` (default 1).
 * - "fkl": KL(p_t || p_s) = sum p_t (ln p_t - ln p_s) (forward KL, classic distillation).
 * - "rkl": KL(p_s || p_t) (reverse KL, MiniLLM).
 * - "jsd": generalized Jensen-Shannon (GKD): beta KL(p_t || m) + (1 - beta) KL(p_s || m),
 *   m = beta p_t + (1 - beta) p_s, beta in [0, 1] (default 0.5; 0 and 1 give 0). Bounded by
 *   H(beta) = -beta ln beta - (1 - beta) ln(1 - beta) <= ln 2.
 * - "tv": total variation 0.5 sum |p_s - p_t|, in [0, 1]. Its gradient uses sign(0) = 0.
 * - Temperature: the loss is the divergence of the tempered distributions, NOT multiplied by tau^2,
 *   and `grad` is its exact derivative (so it carries a 1/tau factor). `scaleTau2: true` multiplies
 *   loss, mean and grad by tau^2 (Hinton et al.'s convention, which keeps gradient magnitudes
 *   comparable across temperatures).
 * - `grad` row t is d loss[t] / d student[t, :]: the gradient of the SUM of the per-position losses.
 *   For the mean's gradient divide by `count`. Masked positions have loss 0 and a zero grad row.
 */
import { TensorshrinkError } from "../errors";
import type { Engine } from "../engine/engine";
import { describe } from "../engine/engine";

/** Which divergence: forward KL, reverse KL, generalized JSD (beta), total variation. */
export type DistillKind = "fkl" | "rkl" | "jsd" | "tv";

const KIND_CODE: Record<DistillKind, number> = { fkl: 0, rkl: 1, jsd: 2, tv: 3 };

/**
 * A teacher known only through its top-k tokens per position (temperature 1), e.g. read from a teacher
 * file: row t holds k distinct token ids, their log-probs, and ln(1 - their total probability).
 */
export interface TeacherTopK {
  /** Tokens kept per position, 1..V. */
  k: number;
  /** [T * k] token ids, each < V, distinct within a row. */
  ids: Uint32Array;
  /** [T * k] teacher log-probs of those ids (finite, nats, temperature 1). */
  logprobs: Float32Array;
  /** [T] ln of the probability mass outside the row's top-k (-Infinity when none). */
  rest: Float32Array;
}

/** Options of {@link distillLoss}. */
export interface DistillLossOptions {
  /** Teacher logits [T, V] row-major f32, or its top-k log-probs. */
  teacher: Float32Array | TeacherTopK;
  /** Student logits [T, V] row-major f32. */
  student: Float32Array;
  /** Positions (rows). */
  T: number;
  /** Vocabulary size (columns). */
  V: number;
  kind: DistillKind;
  /** JSD weight of the teacher in the mixture, in [0, 1] (default 0.5). Ignored by other kinds. */
  beta?: number;
  /** Softmax temperature tau > 0 (default 1). */
  temperature?: number;
  /** [T]: positions with 0 / false are skipped (loss 0, zero grad row). Default: all kept. */
  mask?: Uint8Array | ArrayLike<boolean | number>;
  /** Multiply loss, mean and grad by tau^2 (default false). */
  scaleTau2?: boolean;
  /** "simd" (default) or "ref" (the scalar f64 twin; slower, for testing). */
  kernel?: "simd" | "ref";
  /** Optional output buffer for grad (length T * V), reused instead of allocating. */
  gradOut?: Float32Array;
}

/** Result of {@link distillLoss}. */
export interface DistillLossResult {
  /** [T] per-position loss in nats (0 at masked positions). */
  loss: Float32Array;
  /** Mean loss over the kept positions (0 when none is kept). */
  mean: number;
  /** Number of kept positions. */
  count: number;
  /** [T * V] d loss[t] / d student[t, v]. */
  grad: Float32Array;
}

const isTopK = (t: unknown): t is TeacherTopK => typeof t === "object" && t !== null && !(t instanceof Float32Array) && "ids" in (t as any);

/**
 * Distillation loss per position, its mean and the gradient with respect to the student logits
 * (see the module comment for the conventions). Work is split into chunks of rows that fit the
 * engine's `chunkBytes` (default 16 MiB of wasm memory; at V = 32000 that is ~43 rows per chunk).
 * Cost: ~2 exp per logit pair for fkl, ~3 for rkl/tv, ~4 exp + 1 log for jsd (bench/DISTILL.md).
 * @throws TensorshrinkError E_ARG_TYPE (wrong array types), E_SHAPE (lengths vs T, V, k), E_RANGE
 *   (temperature, beta, kind, k, token ids, duplicate ids), E_NONFINITE (NaN/Inf logits, naming the
 *   tensor, position and token), E_DISPOSED.
 */
export function distillLoss(engine: Engine, opts: DistillLossOptions): DistillLossResult {
  const v = prepare(opts);
  const { T, V, student, teacher, topk, keep, grad, loss } = v;
  let sum = 0;
  if (T > 0) {
    const k = topk ? (teacher as TeacherTopK).k : 0;
    const perRow = V * 4 * (topk ? 2 : 3) + k * 8 + 9;
    const rows = Math.max(1, Math.min(T, Math.floor(engine.chunkBytes / perRow)));
    const ex = engine.exports;
    const pS = engine.alloc(rows * V * 4), pG = engine.alloc(rows * V * 4), pL = engine.alloc(rows * 4), pM = engine.alloc(rows);
    const pT = topk ? 0 : engine.alloc(rows * V * 4);
    const pScr = topk ? 0 : engine.alloc(V * 8);
    const pI = topk ? engine.alloc(rows * k * 4) : 0, pP = topk ? engine.alloc(rows * k * 4) : 0, pR = topk ? engine.alloc(rows * 4) : 0;
    try {
      const f = ex[v.kernelName];
      if (typeof f !== "function") throw new TensorshrinkError("E_UNSUPPORTED", "distillation kernels missing from this wasm build");
      for (let r0 = 0; r0 < T; r0 += rows) {
        const nr = Math.min(rows, T - r0);
        const buf = ex.memory.buffer;
        const m8 = new Uint8Array(buf, pM, nr);
        for (let i = 0; i < nr; i++) m8[i] = !keep || keep[r0 + i] ? 1 : 0;
        new Float32Array(buf, pS, nr * V).set(student.subarray(r0 * V, (r0 + nr) * V));
        checkFinite(engine, pS, nr, V, r0, m8, "student");
        let s: number;
        if (topk) {
          new Uint32Array(buf, pI, nr * k).set((teacher as TeacherTopK).ids.subarray(r0 * k, (r0 + nr) * k));
          new Float32Array(buf, pP, nr * k).set((teacher as TeacherTopK).logprobs.subarray(r0 * k, (r0 + nr) * k));
          new Float32Array(buf, pR, nr).set((teacher as TeacherTopK).rest.subarray(r0, r0 + nr));
          s = f(pL, pG, pI, pP, pR, pS, pM, nr, V, k, v.kind, v.invTau, v.beta);
        } else {
          new Float32Array(buf, pT, nr * V).set((teacher as Float32Array).subarray(r0 * V, (r0 + nr) * V));
          checkFinite(engine, pT, nr, V, r0, m8, "teacher");
          s = f(pL, pG, pT, pS, pM, nr, V, v.kind, v.invTau, v.beta, pScr);
        }
        sum += s;
        const b2 = ex.memory.buffer;
        loss.set(new Float32Array(b2, pL, nr), r0);
        grad.set(new Float32Array(b2, pG, nr * V), r0 * V);
      }
    } finally {
      for (const p of [pS, pG, pL, pM, pT, pScr, pI, pP, pR]) if (p) engine.free(p);
    }
  }
  return finishResult(v, sum);
}

/**
 * {@link distillLoss} on the engine's worker pool (on the calling thread when it has none): the
 * positions are cut into pieces of whole rows (at most ~chunkBytes of input each, about two per
 * worker), each piece one kernel call. Same values as the sync form, bit for bit (rows are
 * independent). Non-finite logits are found in JS before any piece runs (same E_NONFINITE error).
 */
export async function distillLossAsync(engine: Engine, opts: DistillLossOptions): Promise<DistillLossResult> {
  const v = prepare(opts);
  const { T, V, student, teacher, topk, keep, grad, loss } = v;
  let sum = 0;
  if (T > 0) {
    for (let r = 0; r < T; r++) {
      if (keep && !keep[r]) continue;
      findNonFiniteJs(student, r, V, "student");
      if (!topk) findNonFiniteJs(teacher as Float32Array, r, V, "teacher");
    }
    const k = topk ? (teacher as TeacherTopK).k : 0;
    const workers = await engine.poolSize();
    const perRow = V * 4 * (topk ? 2 : 3) + k * 8 + 9;
    const byMemory = Math.max(1, Math.floor(engine.chunkBytes / perRow));
    const per = Math.max(1, Math.min(byMemory, workers > 0 ? Math.ceil(T / (2 * workers)) : T));
    const starts: number[] = [];
    for (let r0 = 0; r0 < T; r0 += per) starts.push(r0);
    const limit = 2 * Math.max(1, workers) + 2;
    const sums: number[] = new Array(starts.length).fill(0);
    let next = 0;
    const run = async () => {
      while (next < starts.length) {
        const j = next++, r0 = starts[j]!, nr = Math.min(per, T - r0);
        const m8 = new Uint8Array(nr);
        for (let i = 0; i < nr; i++) m8[i] = !keep || keep[r0 + i] ? 1 : 0;
        const sl = (a: Float32Array | Uint32Array, f: number, t: number) => a.slice(f, t).buffer as ArrayBuffer;
        const res = topk
          ? await engine.poolCall({
              kernel: v.kernelName,
              buffers: [{ bytes: nr * 4 }, { bytes: nr * V * 4 }, { bytes: nr * k * 4, data: sl((teacher as TeacherTopK).ids, r0 * k, (r0 + nr) * k) }, { bytes: nr * k * 4, data: sl((teacher as TeacherTopK).logprobs, r0 * k, (r0 + nr) * k) }, { bytes: nr * 4, data: sl((teacher as TeacherTopK).rest, r0, r0 + nr) }, { bytes: nr * V * 4, data: sl(student, r0 * V, (r0 + nr) * V) }, { bytes: nr, data: m8.buffer as ArrayBuffer }],
              args: [{ buf: 0 }, { buf: 1 }, { buf: 2 }, { buf: 3 }, { buf: 4 }, { buf: 5 }, { buf: 6 }, nr, V, k, v.kind, v.invTau, v.beta],
              outputs: [0, 1],
            })
          : await engine.poolCall({
              kernel: v.kernelName,
              buffers: [{ bytes: nr * 4 }, { bytes: nr * V * 4 }, { bytes: nr * V * 4, data: sl(teacher as Float32Array, r0 * V, (r0 + nr) * V) }, { bytes: nr * V * 4, data: sl(student, r0 * V, (r0 + nr) * V) }, { bytes: nr, data: m8.buffer as ArrayBuffer }, { bytes: V * 8 }],
              args: [{ buf: 0 }, { buf: 1 }, { buf: 2 }, { buf: 3 }, { buf: 4 }, nr, V, v.kind, v.invTau, v.beta, { buf: 5 }],
              outputs: [0, 1],
            });
        loss.set(new Float32Array(res.outputs[0]!, 0, nr), r0);
        grad.set(new Float32Array(res.outputs[1]!, 0, nr * V), r0 * V);
        sums[j] = res.ret;
      }
    };
    await Promise.all(Array.from({ length: Math.min(limit, starts.length) }, run));
    // sum in piece order, as the sync form sums in chunk order (same value when the cuts agree)
    for (const s of sums) sum += s;
  }
  return finishResult(v, sum);
}

interface Prepared {
  T: number; V: number; n: number; student: Float32Array; teacher: Float32Array | TeacherTopK; topk: boolean;
  keep: ArrayLike<boolean | number> | null; grad: Float32Array; loss: Float32Array; count: number;
  kind: number; tau: number; invTau: number; beta: number; kernelName: string; scaleTau2: boolean;
}

function prepare(opts: DistillLossOptions): Prepared {
  if (!opts || typeof opts !== "object") throw new TensorshrinkError("E_ARG_TYPE", "distillLoss needs options { teacher, student, T, V, kind }");
  const { T, V, student, teacher } = opts;
  if (!Number.isSafeInteger(T) || T < 0) throw new TensorshrinkError("E_SHAPE", `T must be a non-negative integer, got ${T}`, { T });
  if (!Number.isSafeInteger(V) || V < 1 || V > 0x7fffffff / 8) throw new TensorshrinkError("E_SHAPE", `V must be a positive integer (< 2^28), got ${V}`, { V });
  const kind = opts.kind;
  if (!(kind in KIND_CODE)) throw new TensorshrinkError("E_RANGE", `kind must be "fkl", "rkl", "jsd" or "tv", got ${String(kind)}`);
  const tau = opts.temperature ?? 1;
  if (typeof tau !== "number" || !Number.isFinite(tau) || tau <= 0) throw new TensorshrinkError("E_RANGE", `temperature must be a finite number > 0, got ${tau}`, { temperature: tau });
  const beta = opts.beta ?? 0.5;
  if (typeof beta !== "number" || !(beta >= 0 && beta <= 1)) throw new TensorshrinkError("E_RANGE", `beta must be in [0, 1], got ${beta}`, { beta });
  const kernel = opts.kernel ?? "simd";
  if (kernel !== "simd" && kernel !== "ref") throw new TensorshrinkError("E_RANGE", `kernel must be "simd" or "ref", got ${String(kernel)}`);
  if (!(student instanceof Float32Array)) throw new TensorshrinkError("E_ARG_TYPE", `student logits must be a Float32Array, got ${describe(student)}`);
  const n = T * V;
  if (student.length !== n) throw new TensorshrinkError("E_SHAPE", `student has ${student.length} values, expected T * V = ${T} * ${V} = ${n}`, { tensor: "student", length: student.length, T, V });
  const topk = isTopK(teacher);
  if (!topk) {
    if (!(teacher instanceof Float32Array)) throw new TensorshrinkError("E_ARG_TYPE", `teacher must be a Float32Array of logits or a TeacherTopK, got ${describe(teacher)}`);
    if (teacher.length !== n) throw new TensorshrinkError("E_SHAPE", `teacher has ${teacher.length} values, expected T * V = ${T} * ${V} = ${n}`, { tensor: "teacher", length: teacher.length, T, V });
  }
  const keep = maskOf(opts.mask, T);
  if (topk) validateTopK(teacher, T, V, keep);
  const grad = opts.gradOut ?? new Float32Array(n);
  if (!(grad instanceof Float32Array) || grad.length !== n) throw new TensorshrinkError("E_SHAPE", `gradOut must be a Float32Array of T * V = ${n} values`, { T, V });
  let count = 0;
  for (let r = 0; r < T; r++) if (!keep || keep[r]) count++;
  return {
    T, V, n, student, teacher, topk, keep, grad, loss: new Float32Array(T), count, kind: KIND_CODE[kind], tau, invTau: 1 / tau, beta,
    kernelName: `distill_${topk ? "topk" : "loss"}_forward${kernel === "ref" ? "_ref" : ""}`, scaleTau2: !!opts.scaleTau2,
  };
}

function finishResult(v: Prepared, sum: number): DistillLossResult {
  const { loss, grad, count, tau, T, n } = v;
  let mean = count ? sum / count : 0;
  if (v.scaleTau2 && tau !== 1) {
    const t2 = tau * tau;
    mean *= t2;
    for (let i = 0; i < T; i++) loss[i] *= t2;
    for (let i = 0; i < n; i++) grad[i] *= t2;
  }
  return { loss, mean, count, grad };
}

function findNonFiniteJs(x: Float32Array, r: number, V: number, tensor: string): void {
  const o = r * V;
  for (let j = 0; j < V; j++) {
    const value = x[o + j]!;
    if (value - value !== 0) throw new TensorshrinkError("E_NONFINITE", `${tensor} logit ${value} at position ${r}, token ${j}; logits must be finite`, { tensor, position: r, token: j, value });
  }
}

function maskOf(mask: DistillLossOptions["mask"], T: number): ArrayLike<boolean | number> | null {
  if (mask === undefined || mask === null) return null;
  if (typeof mask !== "object" || typeof (mask as any).length !== "number") throw new TensorshrinkError("E_ARG_TYPE", `mask must be a Uint8Array or an array of booleans, got ${describe(mask)}`);
  if (mask.length !== T) throw new TensorshrinkError("E_SHAPE", `mask has ${mask.length} entries, expected one per position (${T})`, { length: mask.length, T });
  return mask;
}

function checkFinite(engine: Engine, p: number, nr: number, V: number, r0: number, m8: Uint8Array, tensor: string): void {
  const ex = engine.exports;
  for (let i = 0; i < nr; i++) {
    if (!m8[i]) continue;
    const bad = ex.find_nonfinite(p + i * V * 4, V);
    if (bad >= 0) {
      const value = new Float32Array(ex.memory.buffer, p + (i * V + bad) * 4, 1)[0];
      throw new TensorshrinkError("E_NONFINITE", `${tensor} logit ${value} at position ${r0 + i}, token ${bad}; logits must be finite`, { tensor, position: r0 + i, token: bad, value });
    }
  }
}

function validateTopK(t: TeacherTopK, T: number, V: number, keep: ArrayLike<boolean | number> | null): void {
  const k = t.k;
  if (!Number.isSafeInteger(k) || k < 1 || k > V) throw new TensorshrinkError("E_RANGE", `top-k teacher: k must be an integer from 1 to V = ${V}, got ${k}`, { k, V });
  if (!(t.ids instanceof Uint32Array)) throw new TensorshrinkError("E_ARG_TYPE", `top-k teacher ids must be a Uint32Array, got ${describe(t.ids)}`);
  if (!(t.logprobs instanceof Float32Array)) throw new TensorshrinkError("E_ARG_TYPE", `top-k teacher logprobs must be a Float32Array, got ${describe(t.logprobs)}`);
  if (!(t.rest instanceof Float32Array)) throw new TensorshrinkError("E_ARG_TYPE", `top-k teacher rest must be a Float32Array, got ${describe(t.rest)}`);
  if (t.ids.length !== T * k || t.logprobs.length !== T * k) throw new TensorshrinkError("E_SHAPE", `top-k teacher: ids and logprobs must hold T * k = ${T} * ${k} values, got ${t.ids.length} and ${t.logprobs.length}`, { T, k });
  if (t.rest.length !== T) throw new TensorshrinkError("E_SHAPE", `top-k teacher: rest must hold T = ${T} values, got ${t.rest.length}`, { T });
  const seen = new Int32Array(V).fill(-1);
  for (let r = 0; r < T; r++) {
    if (keep && !keep[r]) continue;
    const rest = t.rest[r]!;
    if (Number.isNaN(rest) || rest === Infinity || rest > 1e-3) throw new TensorshrinkError(Number.isNaN(rest) || rest === Infinity ? "E_NONFINITE" : "E_RANGE", `top-k teacher: rest log-mass ${rest} at position ${r} must be <= 0 or -Infinity`, { tensor: "teacher", position: r, value: rest });
    for (let i = 0; i < k; i++) {
      const id = t.ids[r * k + i]!, lp = t.logprobs[r * k + i]!;
      if (id >= V) throw new TensorshrinkError("E_RANGE", `top-k teacher: token id ${id} at position ${r}, slot ${i} is >= V = ${V}`, { tensor: "teacher", position: r, slot: i, id, V });
      if (seen[id] === r) throw new TensorshrinkError("E_RANGE", `top-k teacher: token id ${id} appears twice at position ${r}`, { tensor: "teacher", position: r, slot: i, id });
      seen[id] = r;
      if (!Number.isFinite(lp)) throw new TensorshrinkError("E_NONFINITE", `top-k teacher: log-prob ${lp} at position ${r}, slot ${i} (token ${id}) must be finite`, { tensor: "teacher", position: r, slot: i, id, value: lp });
    }
  }
}
