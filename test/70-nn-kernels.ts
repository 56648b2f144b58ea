// assembly/nn kernels: every SIMD kernel against its scalar _ref twin, on sizes with tails and more
// than one SIMD iteration / micro-tile, within the bound stated in the kernel's header comment; plus
// a few exact properties (causality, softmax sums, rope norm preservation, MoE top-k).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { init } from "../src/index";
import { randn, rng } from "./_util";

const engine = await init();
const ex = engine.exports as any;
const mem = () => ex.memory.buffer as ArrayBuffer;
/** Copy `x` into fresh wasm memory; returns the pointer. */
const put = (x: Float32Array | Int32Array) => { const p = engine.alloc(x.byteLength); new Uint8Array(mem(), p, x.byteLength).set(new Uint8Array(x.buffer, x.byteOffset, x.byteLength)); return p; };
const get = (p: number, n: number) => new Float32Array(mem(), p, n).slice();
const geti = (p: number, n: number) => new Int32Array(mem(), p, n).slice();
const zeros = (n: number) => put(new Float32Array(n));

/** max |a - b| / max(1, max |b|) */
function relErr(a: Float32Array, b: Float32Array): number {
  let d = 0, m = 0;
  for (let i = 0; i < a.length; i++) { d = Math.max(d, Math.abs(a[i] - b[i])); m = Math.max(m, Math.abs(b[i])); }
  return d / Math.max(1, m);
}
const bitEqual = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));

test("matmul_forward == _ref within 1e-5 of Σ|x·w| (T, C, OC with tails; bias; 4x4 tiles and TB blocks)", () => {
  for (const [T, C, OC] of [[1, 1, 1], [3, 5, 7], [4, 4, 4], [5, 17, 9], [8, 64, 12], [67, 33, 13], [130, 96, 37], [2, 300, 5]]) {
    const x = randn(T * C, T * 7 + C, 1), w = randn(OC * C, OC + 3, 0.1), bias = randn(OC, 9, 0.5);
    const px = put(x), pw = put(w), pb = put(bias), o1 = zeros(T * OC), o2 = zeros(T * OC);
    for (const b of [0, pb]) {
      ex.matmul_forward(o1, px, pw, b, T, C, OC);
      ex.matmul_forward_ref(o2, px, pw, b, T, C, OC);
      const a = get(o1, T * OC), r = get(o2, T * OC);
      for (let t = 0; t < T; t++) for (let o = 0; o < OC; o++) {
        let abs = 0, exact = b ? bias[o] : 0;
        for (let k = 0; k < C; k++) { abs += Math.abs(x[t * C + k] * w[o * C + k]); exact += x[t * C + k] * w[o * C + k]; }
        const i = t * OC + o;
        assert.ok(Math.abs(a[i] - r[i]) <= 1e-5 * (abs + 1e-30), `T${T} C${C} OC${OC} bias${!!b} [${t},${o}] simd ${a[i]} ref ${r[i]}`);
        assert.ok(Math.abs(a[i] - exact) <= 1e-5 * (abs + Math.abs(exact) + 1e-30), `vs f64 [${t},${o}]`);
      }
    }
    for (const p of [px, pw, pb, o1, o2]) engine.free(p);
  }
});

test("rmsnorm_forward == _ref within 1e-6 relative (C with tails, in place)", () => {
  for (const [T, C] of [[1, 1], [2, 7], [3, 64], [5, 257], [2, 1000]]) {
    const x = randn(T * C, C, 2), w = randn(C, 5, 1);
    const px = put(x), pw = put(w), o1 = zeros(T * C), o2 = zeros(T * C);
    ex.rmsnorm_forward(o1, px, pw, T, C, 1e-5);
    ex.rmsnorm_forward_ref(o2, px, pw, T, C, 1e-5);
    assert.ok(relErr(get(o1, T * C), get(o2, T * C)) < 1e-6, `T${T} C${C}`);
    // value check: first row against f64
    let s = 0; for (let i = 0; i < C; i++) s += x[i] * x[i];
    const sc = 1 / Math.sqrt(s / C + 1e-5);
    assert.ok(Math.abs(get(o2, 1)[0] - x[0] * sc * w[0]) <= 1e-5 * Math.abs(x[0] * sc * w[0]) + 1e-7);
    ex.rmsnorm_forward(px, px, pw, T, C, 1e-5); // in place
    assert.ok(bitEqual(get(px, T * C), get(o1, T * C)), "in place == out of place");
    for (const p of [px, pw, o1, o2]) engine.free(p);
  }
});

test("rope_forward == _ref bit-identical (norm and neox, nRot < headDim, freq factors, linear scale); preserves pair norms", () => {
  for (const [T, H, hd, nRot] of [[1, 1, 2, 2], [3, 2, 8, 8], [5, 3, 12, 8], [4, 2, 64, 64], [2, 4, 18, 14], [3, 1, 128, 96]]) {
    for (const neox of [0, 1]) {
      for (const withFF of [false, true]) {
        const x = randn(T * H * hd, hd + neox, 1);
        const ff = Float32Array.from({ length: nRot / 2 }, (_, i) => 1 + i * 0.5);
        const pa = put(x), pb = put(x), cs = zeros(nRot), pff = withFF ? put(ff) : 0;
        ex.rope_forward(pa, cs, pff, T, H, hd, nRot, 7, 10000, 0.5, neox);
        ex.rope_forward_ref(pb, cs, pff, T, H, hd, nRot, 7, 10000, 0.5, neox);
        const a = get(pa, T * H * hd), b = get(pb, T * H * hd);
        assert.ok(bitEqual(a, b), `T${T} H${H} hd${hd} nRot${nRot} neox${neox} ff${withFF}`);
        // pass-through dims and pair norms; value of one pair against f64
        for (let t = 0; t < T; t++) for (let h = 0; h < H; h++) {
          const o = (t * H + h) * hd;
          for (let i = nRot; i < hd; i++) assert.is(a[o + i], x[o + i]);
          for (let i = 0; i < nRot / 2; i++) {
            const ia = o + (neox ? i : 2 * i), ib = o + (neox ? i + nRot / 2 : 2 * i + 1);
            const n0 = Math.hypot(x[ia], x[ib]), n1 = Math.hypot(a[ia], a[ib]);
            assert.ok(Math.abs(n0 - n1) <= 1e-5 * (n0 + 1e-6), "norm preserved");
            const th = (7 + t) * 0.5 * Math.pow(10000, (-2 * i) / nRot) / (withFF ? ff[i] : 1);
            const want = x[ia] * Math.cos(th) - x[ib] * Math.sin(th);
            assert.ok(Math.abs(a[ia] - want) <= 2e-4 * (n0 + 1e-3), `value t${t} i${i}: ${a[ia]} vs ${want}`);
          }
        }
        for (const p of [pa, pb, cs]) engine.free(p);
        if (pff) engine.free(pff);
      }
    }
  }
});

test("swiglu / softmax == _ref within 1e-6 relative, add == _ref bit-identical (tails; extreme inputs stay finite)", () => {
  for (const n of [1, 3, 4, 5, 31, 64, 1001]) {
    const g = randn(n, n, 3), u = randn(n, n + 1, 1);
    if (n > 4) { g[1] = -100; g[2] = 100; g[3] = -1e4; }
    const pg = put(g), pu = put(u), o1 = zeros(n), o2 = zeros(n);
    ex.swiglu_forward(o1, pg, pu, n); ex.swiglu_forward_ref(o2, pg, pu, n);
    const a = get(o1, n), b = get(o2, n);
    assert.ok(a.every(Number.isFinite), "finite");
    for (let i = 0; i < n; i++) assert.ok(Math.abs(a[i] - b[i]) <= 1e-6 * Math.max(Math.abs(b[i]), Math.abs(u[i]) * 1e-3) + 1e-30, `swiglu n${n} [${i}] ${a[i]} vs ${b[i]}`);
    ex.add_forward(o1, pg, pu, n); ex.add_forward_ref(o2, pg, pu, n);
    assert.ok(bitEqual(get(o1, n), get(o2, n)), `add n${n}`);
    for (const T of [1, 3]) {
      const x = randn(T * n, n + T, 4), px = put(x), s1 = zeros(T * n), s2 = zeros(T * n);
      ex.softmax_forward(s1, px, T, n); ex.softmax_forward_ref(s2, px, T, n);
      const sa = get(s1, T * n), sb = get(s2, T * n);
      assert.ok(relErr(sa, sb) < 1e-6, `softmax T${T} n${n}`);
      for (let t = 0; t < T; t++) { let s = 0; for (let i = 0; i < n; i++) s += sa[t * n + i]; assert.ok(Math.abs(s - 1) < 1e-5, `sum ${s}`); }
      for (const p of [px, s1, s2]) engine.free(p);
    }
    for (const p of [pg, pu, o1, o2]) engine.free(p);
  }
});

test("attention_forward == _ref within 1e-5 (GQA, headDim with tails, pos > 0, probsF16); causal: future cache rows are not read", () => {
  for (const [T, pos, H, HKV, hd] of [[1, 0, 1, 1, 4], [3, 0, 2, 1, 8], [5, 2, 4, 2, 6], [7, 9, 8, 4, 32], [2, 30, 6, 2, 64], [4, 0, 2, 2, 5]]) {
    const kvd = HKV * hd, nCtx = pos + T + 3;
    const q = randn(T * H * hd, T + hd, 1), k = randn(nCtx * kvd, 11, 1), v = randn(nCtx * kvd, 12, 1);
    const pq = put(q), pk = put(k), pv = put(v), att = zeros(nCtx), o1 = zeros(T * H * hd), o2 = zeros(T * H * hd);
    for (const f16 of [0, 1]) {
      ex.attention_forward(o1, pq, pk, pv, att, T, pos, H, HKV, hd, kvd, f16);
      ex.attention_forward_ref(o2, pq, pk, pv, att, T, pos, H, HKV, hd, kvd, f16);
      const a = get(o1, T * H * hd), b = get(o2, T * H * hd);
      assert.ok(relErr(a, b) < (f16 ? 2e-3 : 1e-5), `T${T} pos${pos} H${H}/${HKV} hd${hd} f16 ${f16}: ${relErr(a, b)}`);
    }
    // poison rows beyond pos+T-1: output must not change
    ex.attention_forward(o1, pq, pk, pv, att, T, pos, H, HKV, hd, kvd, 0);
    const before = get(o1, T * H * hd);
    new Float32Array(mem(), pk + (pos + T) * kvd * 4, 3 * kvd).fill(NaN);
    new Float32Array(mem(), pv + (pos + T) * kvd * 4, 3 * kvd).fill(NaN);
    ex.attention_forward(o1, pq, pk, pv, att, T, pos, H, HKV, hd, kvd, 0);
    assert.ok(bitEqual(get(o1, T * H * hd), before), "future rows ignored");
    // first token of a fresh sequence attends only to itself: out = v row 0 of its kv head
    if (pos === 0) for (let h = 0; h < H; h++) for (let i = 0; i < hd; i++) assert.ok(Math.abs(before[h * hd + i] - v[Math.floor(h / (H / HKV)) * hd + i]) < 1e-6);
    for (const p of [pq, pk, pv, att, o1, o2]) engine.free(p);
  }
});

test("moe_gate_forward == _ref (softmax, top-k, renormalized); scatter_add == _ref bit-identical; gather_rows", () => {
  for (const [T, E, K] of [[1, 2, 1], [3, 8, 2], [9, 8, 2], [5, 16, 4], [4, 3, 3]]) {
    const lo = randn(T * E, T * E, 2);
    const pl = put(lo), i1 = zeros(T * K), i2 = zeros(T * K), w1 = zeros(T * K), w2 = zeros(T * K), pr = zeros(E);
    ex.moe_gate_forward(i1, w1, pl, pr, T, E, K);
    ex.moe_gate_forward_ref(i2, w2, pl, pr, T, E, K);
    const ia = geti(i1, T * K), ib = geti(i2, T * K), wa = get(w1, T * K), wb = get(w2, T * K);
    assert.equal(Array.from(ia), Array.from(ib), `idx T${T} E${E} K${K}`);
    assert.ok(relErr(wa, wb) < 1e-6, "weights");
    for (let t = 0; t < T; t++) {
      const row = Array.from(lo.subarray(t * E, (t + 1) * E));
      const order = row.map((v, i) => [v, i]).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, K).map((p) => p[1]);
      assert.equal(Array.from(ia.subarray(t * K, (t + 1) * K)), order, `top-k of token ${t}`);
      const m = Math.max(...row), ex2 = order.map((i) => Math.exp(row[i] - m)), s = ex2.reduce((a, b) => a + b, 0);
      for (let j = 0; j < K; j++) assert.ok(Math.abs(wa[t * K + j] - ex2[j] / s) < 1e-6, "renormalized weight");
    }
    for (const p of [pl, i1, i2, w1, w2, pr]) engine.free(p);
  }
  const n = 13, rows = 3, x = randn(rows * n, 4, 1), base = randn(5 * n, 5, 1), w = Float32Array.of(0.5, -1, 2), ri = Int32Array.of(4, 0, 4);
  const px = put(x), pw = put(w), pri = put(ri), pa = put(base), pb = put(base);
  ex.moe_scatter_add(pa, px, pw, pri, rows, n); ex.moe_scatter_add_ref(pb, px, pw, pri, rows, n);
  const a = get(pa, 5 * n);
  assert.ok(bitEqual(a, get(pb, 5 * n)), "scatter_add");
  assert.ok(Math.abs(a[4 * n + 1] - (base[4 * n + 1] + 0.5 * x[1] + 2 * x[2 * n + 1])) < 1e-6);
  assert.ok(bitEqual(a.subarray(n, 4 * n), base.subarray(n, 4 * n)), "untouched rows");
  const pg = zeros(rows * n);
  ex.gather_rows(pg, pa, pri, rows, n);
  assert.ok(bitEqual(get(pg, n), a.subarray(4 * n, 5 * n)) && bitEqual(get(pg + n * 4, n), a.subarray(0, n)));
  for (const p of [px, pw, pri, pa, pb, pg]) engine.free(p);
});

test("round_f16_forward == _ref bit-identical and == f16 round trip", () => {
  const r = rng(5, 1);
  for (const n of [1, 3, 4, 9, 100]) {
    const x = Float32Array.from({ length: n }, () => (r.uniform() - 0.5) * 10 ** Math.floor(r.uniform() * 12 - 6));
    const px = put(x), o1 = zeros(n), o2 = zeros(n);
    ex.round_f16_forward(o1, px, n); ex.round_f16_forward_ref(o2, px, n);
    const a = get(o1, n);
    assert.ok(bitEqual(a, get(o2, n)), `n${n}`);
    const rt = engine.dequantize(engine.quantize(x, { type: "f16", rows: 1, cols: n }), { type: "f16", rows: 1, cols: n });
    assert.ok(bitEqual(a, rt), "f16 round trip");
    for (const p of [px, o1, o2]) engine.free(p);
  }
});

test.run();
