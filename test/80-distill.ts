// Distillation losses and their gradients (src/distill/loss.ts, assembly/nn/loss.ts, loss_topk.ts):
// gradients against central finite differences of an independent float64 JS definition, SIMD vs _ref,
// properties (KL >= 0 and 0 iff equal, JSD symmetric at beta 0.5 and <= ln 2, TV in [0, 1]),
// top-k == full at k = V, masks, tau^2 scaling, chunking, typed errors.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { init, TensorshrinkError } from "../src/index";
import { distillLoss, distillLossAsync, type DistillKind, type TeacherTopK } from "../src/distill/loss";
import { rng } from "./_util";

const engine = await init();
const small = await init({ chunkBytes: 4096 });
const pooled = await init({ threads: 2, chunkBytes: 8192 });
const KINDS: DistillKind[] = ["fkl", "rkl", "jsd", "tv"];

// ---------------------------------------------------------------- float64 definitions
function lsm(x: ArrayLike<number>, tau: number): Float64Array {
  let m = -Infinity;
  for (let i = 0; i < x.length; i++) m = Math.max(m, x[i]! / tau);
  let s = 0;
  for (let i = 0; i < x.length; i++) s += Math.exp(x[i]! / tau - m);
  const l = m + Math.log(s), out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i]! / tau - l;
  return out;
}
const lae = (a: number, b: number) => { const hi = Math.max(a, b), lo = Math.min(a, b); return hi === -Infinity ? -Infinity : hi + Math.log1p(Math.exp(lo - hi)); };
/** Divergence between two distributions given as log-probs (same length). */
function divergence(kind: DistillKind, a: Float64Array, b: Float64Array, beta: number): number {
  let L = 0;
  for (let i = 0; i < a.length; i++) {
    const pt = Math.exp(a[i]!), ps = Math.exp(b[i]!);
    if (kind === "fkl") { if (pt > 0) L += pt * (a[i]! - b[i]!); }
    else if (kind === "rkl") { if (ps > 0) L += ps * (b[i]! - a[i]!); }
    else if (kind === "tv") L += 0.5 * Math.abs(ps - pt);
    else {
      const lm = lae(Math.log(beta) + a[i]!, Math.log(1 - beta) + b[i]!);
      if (pt > 0) L += beta * pt * (a[i]! - lm);
      if (ps > 0) L += (1 - beta) * ps * (b[i]! - lm);
    }
  }
  return L;
}
const fullLoss = (kind: DistillKind, t: ArrayLike<number>, s: ArrayLike<number>, tau: number, beta: number) => divergence(kind, lsm(t, tau), lsm(s, tau), beta);
/** Top-k definition: both distributions collapsed onto the k ids + "rest"; teacher rest tempered as if uniform. */
function topkLoss(kind: DistillKind, ids: ArrayLike<number>, lp: ArrayLike<number>, rest: number, s: ArrayLike<number>, tau: number, beta: number): number {
  const V = s.length, k = ids.length;
  const ls = lsm(s, tau);
  const inK = new Set(Array.from(ids));
  let rr = 0;
  for (let j = 0; j < V; j++) if (!inK.has(j)) rr += Math.exp(ls[j]!);
  const r = new Float64Array(k + 1), q = new Float64Array(k + 1);
  for (let i = 0; i < k; i++) { r[i] = ls[ids[i]!]!; q[i] = lp[i]! / tau; }
  r[k] = Math.log(rr);
  const nR = V - k;
  q[k] = nR > 0 && rest > -Infinity ? Math.log(nR) + (rest - Math.log(nR)) / tau : -Infinity;
  let m = -Infinity; for (const v of q) m = Math.max(m, v);
  let sq = 0; for (const v of q) sq += Math.exp(v - m);
  for (let i = 0; i <= k; i++) q[i] = q[i]! - (m + Math.log(sq));
  return divergence(kind, q, r, beta);
}

function logits(r: ReturnType<typeof rng>, n: number, scale: number, extreme = false): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = extreme ? (r.uniform() < 0.5 ? -50 : 50) * r.uniform() : r.gauss() * scale;
  if (extreme) for (let i = 0; i < n; i += 7) x[i] = r.uniform() < 0.5 ? 50 : -50;
  return x;
}

/** Central differences of f at s (f64), h relative to the logit scale. */
function fd(f: (s: Float64Array) => number, s: Float32Array, h: number): Float64Array {
  const x = Float64Array.from(s), g = new Float64Array(s.length);
  for (let j = 0; j < s.length; j++) {
    const v = x[j]!;
    x[j] = v + h; const up = f(x);
    x[j] = v - h; const dn = f(x);
    x[j] = v;
    g[j] = (up - dn) / (2 * h);
  }
  return g;
}

function maxErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

// ---------------------------------------------------------------- gradients
test("full-logit gradients match central finite differences (f64) for every kind, tau and beta, incl. logits of +-50", () => {
  const r = rng(80);
  let checked = 0;
  for (const V of [2, 7, 37]) {
    for (const extreme of [false, true]) {
      const T = 2;
      const t = logits(r, T * V, 3, extreme), s = logits(r, T * V, 3, extreme);
      for (const tau of [0.5, 1, 2.5]) {
        for (const kind of KINDS) {
          for (const beta of kind === "jsd" ? [0.1, 0.5, 0.9] : [0.5]) {
            for (const kernel of ["simd", "ref"] as const) {
              const res = distillLoss(engine, { teacher: t, student: s, T, V, kind, beta, temperature: tau, kernel });
              for (let row = 0; row < T; row++) {
                const tr = t.subarray(row * V, (row + 1) * V), sr = s.subarray(row * V, (row + 1) * V);
                const want = fullLoss(kind, tr, sr, tau, beta);
                const tol = 2e-5 * Math.max(1, Math.abs(want)) * (extreme ? 10 : 1);
                assert.ok(Math.abs(res.loss[row]! - Math.max(want, kind === "tv" ? -1 : 0)) <= tol, `${kind} V=${V} tau=${tau} beta=${beta} ${kernel} ${extreme ? "extreme" : ""} row ${row}: loss ${res.loss[row]} vs ${want}`);
                const g = fd((x) => fullLoss(kind, tr, x, tau, beta), sr, 1e-4 * tau);
                const e = maxErr(res.grad.subarray(row * V, (row + 1) * V), g);
                assert.ok(e <= 2e-5 * (extreme ? 5 : 1) / tau, `${kind} V=${V} tau=${tau} beta=${beta} ${kernel} ${extreme ? "extreme" : ""} row ${row}: grad error ${e}`);
                checked++;
              }
            }
          }
        }
      }
    }
  }
  assert.is(checked, 3 * 2 * 3 * 6 * 2 * 2);
});

test("top-k gradients (k < V) match finite differences of the collapsed (k + 1 outcome) definition", () => {
  const r = rng(81);
  for (const [V, k] of [[9, 3], [37, 8], [40, 1]] as const) {
    for (const tau of [0.7, 1, 2]) {
      for (const kind of KINDS) {
        for (const beta of kind === "jsd" ? [0.2, 0.5, 0.8] : [0.5]) {
          const T = 2;
          const s = logits(r, T * V, 2), tl = logits(r, T * V, 2);
          const tp = topkOf(tl, T, V, k);
          for (const kernel of ["simd", "ref"] as const) {
            const res = distillLoss(engine, { teacher: tp, student: s, T, V, kind, beta, temperature: tau, kernel });
            for (let row = 0; row < T; row++) {
              const ids = tp.ids.subarray(row * k, (row + 1) * k), lp = tp.logprobs.subarray(row * k, (row + 1) * k), rest = tp.rest[row]!;
              const sr = s.subarray(row * V, (row + 1) * V);
              const want = topkLoss(kind, ids, lp, rest, sr, tau, beta);
              assert.ok(Math.abs(res.loss[row]! - want) <= 2e-5 * Math.max(1, want), `${kind} V=${V} k=${k} tau=${tau} ${kernel}: loss ${res.loss[row]} vs ${want}`);
              const g = fd((x) => topkLoss(kind, ids, lp, rest, x, tau, beta), sr, 1e-4);
              const e = maxErr(res.grad.subarray(row * V, (row + 1) * V), g);
              assert.ok(e <= 2e-5 / tau, `${kind} V=${V} k=${k} tau=${tau} beta=${beta} ${kernel}: grad error ${e}`);
            }
          }
        }
      }
    }
  }
});

/** Top-k of teacher logits in f64 (descending, ties by id), rest computed directly. */
function topkOf(t: Float32Array, T: number, V: number, k: number): TeacherTopK {
  const ids = new Uint32Array(T * k), logprobs = new Float32Array(T * k), rest = new Float32Array(T);
  for (let row = 0; row < T; row++) {
    const l = lsm(t.subarray(row * V, (row + 1) * V), 1);
    const order = Array.from({ length: V }, (_, i) => i).sort((a, b) => l[b]! - l[a]! || a - b);
    let rr = 0;
    for (let i = 0; i < V; i++) {
      if (i < k) { ids[row * k + i] = order[i]!; logprobs[row * k + i] = l[order[i]!]!; }
      else rr += Math.exp(l[order[i]!]!);
    }
    rest[row] = k === V ? -Infinity : Math.log(rr);
  }
  return { k, ids, logprobs, rest };
}

// ---------------------------------------------------------------- SIMD vs ref
test("SIMD kernels agree with their scalar _ref twins (tails, several SIMD iterations, masks)", () => {
  const r = rng(82);
  for (const V of [1, 3, 4, 5, 17, 515]) {
    const T = 5;
    const t = logits(r, T * V, 4), s = logits(r, T * V, 4);
    const mask = Uint8Array.from([1, 0, 1, 1, 0]);
    const k = Math.max(1, Math.min(V, 6));
    const tp = topkOf(t, T, V, k);
    for (const kind of KINDS) {
      for (const tau of [0.5, 1, 3]) {
        for (const teacher of [t, tp]) {
          const a = distillLoss(engine, { teacher, student: s, T, V, kind, temperature: tau, beta: 0.3, mask });
          const b = distillLoss(engine, { teacher, student: s, T, V, kind, temperature: tau, beta: 0.3, mask, kernel: "ref" });
          for (let i = 0; i < T; i++) assert.ok(Math.abs(a.loss[i]! - b.loss[i]!) <= 1e-5 * Math.max(1, b.loss[i]!), `${kind} V=${V} tau=${tau}: ${a.loss[i]} vs ${b.loss[i]}`);
          assert.ok(Math.abs(a.mean - b.mean) <= 1e-5 * Math.max(1, b.mean));
          assert.ok(maxErr(a.grad, b.grad) <= 2e-6 / tau, `${kind} V=${V} tau=${tau} ${teacher === t ? "full" : "topk"}: grad ${maxErr(a.grad, b.grad)}`);
          assert.is(a.count, 3);
          for (const i of [1, 4]) {
            assert.is(a.loss[i], 0);
            assert.ok(a.grad.subarray(i * V, (i + 1) * V).every((v) => v === 0));
          }
        }
      }
    }
  }
});

test("near-equal teacher and student (a small KL, the usual case): SIMD keeps 3 digits of the f64 result", () => {
  const r = rng(88);
  const T = 8, V = 1000;
  const t = logits(r, T * V, 4), s = t.map((x) => x + 0.01 * r.gauss());
  for (const kind of ["fkl", "rkl", "jsd"] as const) {
    const a = distillLoss(engine, { teacher: t, student: s, T, V, kind, temperature: 1.3 });
    const b = distillLoss(engine, { teacher: t, student: s, T, V, kind, temperature: 1.3, kernel: "ref" });
    for (let i = 0; i < T; i++) {
      assert.ok(b.loss[i]! > 1e-7 && b.loss[i]! < 1e-3, `${kind}: KL ${b.loss[i]} is small`);
      assert.ok(Math.abs(a.loss[i]! - b.loss[i]!) <= 1e-3 * b.loss[i]!, `${kind}: ${a.loss[i]} vs ${b.loss[i]}`);
    }
  }
});

test("top-k with k = V equals the full-logit loss and gradient (every kind, tau)", () => {
  const r = rng(83);
  const T = 3, V = 23;
  const t = logits(r, T * V, 3), s = logits(r, T * V, 3);
  const tp = topkOf(t, T, V, V);
  for (const kind of KINDS) {
    for (const tau of [0.5, 1, 2]) {
      for (const kernel of ["simd", "ref"] as const) {
        const a = distillLoss(engine, { teacher: t, student: s, T, V, kind, temperature: tau, kernel });
        const b = distillLoss(engine, { teacher: tp, student: s, T, V, kind, temperature: tau, kernel });
        for (let i = 0; i < T; i++) assert.ok(Math.abs(a.loss[i]! - b.loss[i]!) <= 1e-5 * Math.max(1, a.loss[i]!), `${kind} tau=${tau} ${kernel}: ${a.loss[i]} vs ${b.loss[i]}`);
        assert.ok(maxErr(a.grad, b.grad) <= 2e-6, `${kind} tau=${tau} ${kernel}: grad ${maxErr(a.grad, b.grad)}`);
      }
    }
  }
});

// ---------------------------------------------------------------- properties
test("KL >= 0, and 0 exactly when teacher == student; > 0 otherwise", () => {
  const r = rng(84);
  const T = 50, V = 300;
  const t = logits(r, T * V, 5), s = logits(r, T * V, 5);
  for (const kind of ["fkl", "rkl"] as const) {
    const d = distillLoss(engine, { teacher: t, student: s, T, V, kind });
    assert.ok(d.loss.every((v) => v > 1e-3), `${kind} > 0 on different logits`);
    const same = distillLoss(engine, { teacher: t, student: t, T, V, kind, temperature: 1.7 });
    assert.ok(same.loss.every((v) => v === 0), `${kind} = 0 on equal logits`);
    assert.ok(same.grad.every((v) => Math.abs(v) < 1e-7));
    // shifted logits are the same distribution
    const sh = distillLoss(engine, { teacher: t, student: t.map((v) => v + 3), T, V, kind });
    assert.ok(sh.loss.every((v) => v < 1e-5), `${kind} ~0 under a constant shift: ${Math.max(...sh.loss)}`);
  }
  const j = distillLoss(engine, { teacher: t, student: t, T, V, kind: "jsd", beta: 0.3 });
  assert.ok(j.loss.every((v) => v < 1e-6), "jsd ~0 on equal logits");
  const tv = distillLoss(engine, { teacher: t, student: t, T, V, kind: "tv" });
  assert.ok(tv.loss.every((v) => v === 0));
  // JSD at beta = 0 and 1: m equals one of the two distributions, so the loss and gradient vanish
  for (const beta of [0, 1]) {
    for (const kernel of ["simd", "ref"] as const) {
      const z = distillLoss(engine, { teacher: t, student: s, T, V, kind: "jsd", beta, kernel });
      assert.ok(z.loss.every((v) => Math.abs(v) < 1e-6) && z.grad.every((v) => Math.abs(v) < 1e-7), `beta ${beta} ${kernel}`);
    }
  }
});

test("JSD is symmetric at beta = 0.5 and bounded by ln 2 (reached by disjoint distributions); TV in [0, 1]", () => {
  const r = rng(85);
  const T = 20, V = 130;
  const t = logits(r, T * V, 6), s = logits(r, T * V, 6);
  const a = distillLoss(engine, { teacher: t, student: s, T, V, kind: "jsd", beta: 0.5 });
  const b = distillLoss(engine, { teacher: s, student: t, T, V, kind: "jsd", beta: 0.5 });
  for (let i = 0; i < T; i++) {
    assert.ok(Math.abs(a.loss[i]! - b.loss[i]!) < 1e-6, `symmetric ${a.loss[i]} ${b.loss[i]}`);
    assert.ok(a.loss[i]! >= 0 && a.loss[i]! <= Math.LN2);
  }
  const c = distillLoss(engine, { teacher: t, student: s, T, V, kind: "jsd", beta: 0.2 });
  const d = distillLoss(engine, { teacher: s, student: t, T, V, kind: "jsd", beta: 0.8 });
  for (let i = 0; i < T; i++) assert.ok(Math.abs(c.loss[i]! - d.loss[i]!) < 1e-6, "JSD_beta(P, Q) = JSD_(1-beta)(Q, P)");
  // disjoint one-hot-like distributions: JSD -> H(beta), TV -> 1
  const V2 = 64;
  const pt = new Float32Array(V2).fill(-50), ps = new Float32Array(V2).fill(-50);
  pt[3] = 50; ps[40] = 50;
  const hb = (x: number) => -x * Math.log(x) - (1 - x) * Math.log(1 - x);
  for (const beta of [0.5, 0.25]) {
    const j = distillLoss(engine, { teacher: pt, student: ps, T: 1, V: V2, kind: "jsd", beta });
    assert.ok(Math.abs(j.loss[0]! - hb(beta)) < 1e-6 && j.loss[0]! <= Math.LN2 + 1e-7, `JSD of disjoint = H(beta): ${j.loss[0]} vs ${hb(beta)}`);
  }
  const tv = distillLoss(engine, { teacher: pt, student: ps, T: 1, V: V2, kind: "tv" });
  assert.ok(Math.abs(tv.loss[0]! - 1) < 1e-6);
  const tv2 = distillLoss(engine, { teacher: t, student: s, T, V, kind: "tv" });
  assert.ok(tv2.loss.every((v) => v > 0 && v <= 1));
  // huge logits do not overflow: 1e4 and -1e4
  const big = new Float32Array(V2).map((_, i) => (i % 2 ? 1e4 : -1e4)), big2 = big.map((v, i) => (i % 3 ? v : -v));
  for (const kind of KINDS) {
    const x = distillLoss(engine, { teacher: big, student: big2, T: 1, V: V2, kind });
    assert.ok(Number.isFinite(x.loss[0]!) && x.grad.every(Number.isFinite), `${kind} finite at +-1e4`);
  }
});

test("mask, mean over kept positions, tau^2 scaling, chunked engine and gradOut give consistent results", () => {
  const r = rng(86);
  const T = 40, V = 77;
  const t = logits(r, T * V, 2), s = logits(r, T * V, 2);
  const mask = Array.from({ length: T }, (_, i) => i % 3 !== 0);
  for (const kind of KINDS) {
    const all = distillLoss(engine, { teacher: t, student: s, T, V, kind, temperature: 2 });
    const m = distillLoss(engine, { teacher: t, student: s, T, V, kind, temperature: 2, mask });
    let sum = 0, n = 0;
    for (let i = 0; i < T; i++) if (mask[i]) { sum += all.loss[i]!; n++; assert.is(m.loss[i], all.loss[i]); }
    assert.is(m.count, n);
    assert.ok(Math.abs(m.mean - sum / n) < 1e-6);
    const c = distillLoss(small, { teacher: t, student: s, T, V, kind, temperature: 2, mask });
    assert.equal(Array.from(c.loss), Array.from(m.loss));
    assert.equal(Array.from(c.grad), Array.from(m.grad));
    const out = new Float32Array(T * V);
    const sc = distillLoss(engine, { teacher: t, student: s, T, V, kind, temperature: 2, mask, scaleTau2: true, gradOut: out });
    assert.is(sc.grad, out);
    assert.ok(Math.abs(sc.mean - 4 * m.mean) < 1e-6);
    for (let i = 0; i < T * V; i += 13) assert.ok(Math.abs(out[i]! - 4 * m.grad[i]!) < 1e-7);
  }
  assert.is(engine.liveAllocations, 0);
  assert.is(small.liveAllocations, 0);
});

test("distillLossAsync (worker pool, pieces of rows) equals the sync form bit for bit", async () => {
  const r = rng(87);
  const T = 37, V = 61;
  const t = logits(r, T * V, 3), s = logits(r, T * V, 3);
  const mask = Array.from({ length: T }, (_, i) => i % 5 !== 2);
  const tp = topkOf(t, T, V, 7);
  for (const kind of KINDS) {
    for (const teacher of [t, tp]) {
      const a = distillLoss(engine, { teacher, student: s, T, V, kind, temperature: 1.5, beta: 0.4, mask });
      const b = await distillLossAsync(pooled, { teacher, student: s, T, V, kind, temperature: 1.5, beta: 0.4, mask });
      assert.equal(Array.from(b.loss), Array.from(a.loss));
      assert.equal(Array.from(b.grad), Array.from(a.grad));
      assert.is(b.count, a.count);
      assert.ok(Math.abs(b.mean - a.mean) < 1e-12);
    }
  }
  const bad = s.slice(); bad[5 * V + 2] = Infinity;
  try { await distillLossAsync(pooled, { teacher: t, student: bad, T, V, kind: "fkl" }); assert.unreachable(); } catch (e) {
    assert.is((e as TensorshrinkError).code, "E_NONFINITE");
    assert.match((e as Error).message, /position 5, token 2/);
  }
  assert.is(pooled.liveAllocations, 0);
});

// ---------------------------------------------------------------- errors
const code = (f: () => unknown, c: string, msg?: RegExp) => {
  try { f(); assert.unreachable(`expected ${c}`); } catch (e) {
    assert.instance(e, TensorshrinkError);
    assert.is((e as TensorshrinkError).code, c, (e as Error).message);
    if (msg) assert.match((e as Error).message, msg);
  }
};

test("validation: shapes, types, ranges, non-finite logits and bad top-k teachers are typed errors", () => {
  const V = 8, T = 2;
  const t = new Float32Array(T * V), s = new Float32Array(T * V);
  code(() => distillLoss(engine, { teacher: t, student: s.subarray(1), T, V, kind: "fkl" }), "E_SHAPE", /student/);
  code(() => distillLoss(engine, { teacher: t.subarray(1), student: s, T, V, kind: "fkl" }), "E_SHAPE", /teacher/);
  code(() => distillLoss(engine, { teacher: t, student: Array.from(s) as any, T, V, kind: "fkl" }), "E_ARG_TYPE");
  code(() => distillLoss(engine, { teacher: t, student: s, T, V: 0, kind: "fkl" }), "E_SHAPE");
  code(() => distillLoss(engine, { teacher: t, student: s, T, V, kind: "kl" as any }), "E_RANGE");
  code(() => distillLoss(engine, { teacher: t, student: s, T, V, kind: "fkl", temperature: 0 }), "E_RANGE");
  code(() => distillLoss(engine, { teacher: t, student: s, T, V, kind: "jsd", beta: 1.5 }), "E_RANGE");
  code(() => distillLoss(engine, { teacher: t, student: s, T, V, kind: "jsd", beta: NaN }), "E_RANGE");
  code(() => distillLoss(engine, { teacher: t, student: s, T, V, kind: "fkl", mask: [1] }), "E_SHAPE");
  const bad = s.slice(); bad[V + 5] = NaN;
  code(() => distillLoss(engine, { teacher: t, student: bad, T, V, kind: "rkl" }), "E_NONFINITE", /student logit NaN at position 1, token 5/);
  const badT = t.slice(); badT[3] = -Infinity;
  code(() => distillLoss(engine, { teacher: badT, student: s, T, V, kind: "fkl" }), "E_NONFINITE", /teacher logit -Infinity at position 0, token 3/);
  // masked positions are not read
  assert.is(distillLoss(engine, { teacher: t, student: bad, T, V, kind: "rkl", mask: [1, 0] }).count, 1);
  const tp = topkOf(t, T, V, 3);
  code(() => distillLoss(engine, { teacher: { ...tp, k: 0 }, student: s, T, V, kind: "fkl" }), "E_RANGE");
  code(() => distillLoss(engine, { teacher: { ...tp, ids: tp.ids.map((v, i) => (i === 4 ? 9 : v)) }, student: s, T, V, kind: "fkl" }), "E_RANGE", /token id 9 at position 1/);
  code(() => distillLoss(engine, { teacher: { ...tp, ids: tp.ids.map((v, i) => (i === 1 ? tp.ids[0]! : v)) }, student: s, T, V, kind: "fkl" }), "E_RANGE", /twice/);
  code(() => distillLoss(engine, { teacher: { ...tp, logprobs: tp.logprobs.map((v, i) => (i === 2 ? NaN : v)) }, student: s, T, V, kind: "fkl" }), "E_NONFINITE");
  code(() => distillLoss(engine, { teacher: { ...tp, rest: Float32Array.from([0.5, -1]) }, student: s, T, V, kind: "fkl" }), "E_RANGE");
  code(() => distillLoss(engine, { teacher: { ...tp, ids: tp.ids.subarray(1) }, student: s, T, V, kind: "fkl" }), "E_SHAPE");
  assert.is(engine.liveAllocations, 0);
  // T = 0 is an empty result
  const e = distillLoss(engine, { teacher: new Float32Array(0), student: new Float32Array(0), T: 0, V, kind: "fkl" });
  assert.is(e.mean, 0); assert.is(e.count, 0);
});

test.after(() => pooled.dispose());
test.run();
