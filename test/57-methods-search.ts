// The search and hqq methods: the block codecs (pack → the engine's dequantizer gives a·lev[L] + b exactly),
// search_err_forward SIMD == _ref (bits), search's weighted error never above RTN's on any block and lower on
// average (many seeds, with and without an imatrix), the bytes decode, hqq's zero solver against a JS HQQ,
// hqq on a symmetric format → E_UNSUPPORTED naming tensor and type, and both methods through quantizeModel.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { init, syntheticModel, quantizeModel, TensorshrinkError, searchQuantize, hqqQuantize, SEARCH_TYPES, HQQ_TYPES, searchFormat } from "../src/index";
import { groupGrid, levels, newParams } from "../src/methods/search-codec";
import { memorySink, memorySource } from "../src/formats/source";
import { readGguf, readGgufTensorBytes } from "../src/formats/gguf";
import { rng } from "./_util";

const engine = await init({ threads: 2 });
const X = engine.exports;

function randMat(n: number, seed: number, scale = 0.05): Float32Array {
  const r = rng(seed, 3), x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = r.gauss() * scale * (r.uniform() < 0.02 ? 6 : 1) + (seed % 3 === 0 ? 0.01 : 0);
  return x;
}
/** The test's own weights: imatrix[c] · sqrt(Σx²/cols + x²), else x². */
function weights(x: Float32Array, rows: number, cols: number, im: Float32Array | null): Float64Array {
  const w = new Float64Array(x.length);
  for (let r = 0; r < rows; r++) {
    let s2 = 0;
    for (let c = 0; c < cols; c++) s2 += x[r * cols + c] ** 2;
    s2 /= cols;
    for (let c = 0; c < cols; c++) { const v = x[r * cols + c]; w[r * cols + c] = im ? im[c] * Math.sqrt(s2 + v * v) : v * v; }
  }
  return w;
}
function blockErr(x: Float32Array, y: Float32Array, w: Float64Array, B: number): number[] {
  const out: number[] = [];
  for (let b = 0; b < x.length / B; b++) { let s = 0; for (let i = b * B; i < (b + 1) * B; i++) s += w[i] * (x[i] - y[i]) ** 2; out.push(s); }
  return out;
}

test("codecs: random parameters packed decode (engine.dequantize) to a·lev[L] + b exactly, and unpack(pack(P)) = P", () => {
  for (const type of SEARCH_TYPES) {
    const f = searchFormat(type)!, nb = 5, r = rng(11, type.length);
    const P = newParams(f, nb), lev = levels(f);
    for (let bi = 0; bi < nb; bi++) {
      P.D[bi] = 0x2000 + (r.next() & 0x0fff); P.Dm[bi] = f.type1 ? (r.next() & 0x8fff) + 0x1000 : 0;
      for (let j = 0; j < f.nG; j++) { const g = bi * f.nG + j; P.S[g] = f.k ? f.sMin + (r.next() % (f.sMax - f.sMin + 1)) : 1; P.M[g] = f.k && f.type1 ? r.next() % (f.mMax + 1) : 0; }
      for (let i = 0; i < f.B; i++) P.L[bi * f.B + i] = r.next() % f.nLev;
    }
    const bytes = new Uint8Array(nb * f.bytes).fill(0xa5);
    for (let bi = 0; bi < nb; bi++) f.pack(P, bi, bytes, bi * f.bytes);
    const y = engine.dequantize(bytes, { type, rows: 1, cols: nb * f.B } as any);
    for (let bi = 0; bi < nb; bi++) for (let i = 0; i < f.B; i++) {
      const g = bi * f.nG + Math.floor(i / f.G), [a, b] = groupGrid(f, P.D[bi], P.Dm[bi], P.S[g], P.M[g]);
      const want = Math.fround(Math.fround(a * lev[P.L[bi * f.B + i]]) + b);
      if (y[bi * f.B + i] !== want) assert.unreachable(`${type} block ${bi} value ${i}: decoded ${y[bi * f.B + i]}, grid ${want}`);
    }
    const Q = newParams(f, nb);
    for (let bi = 0; bi < nb; bi++) f.unpack(bytes, bi * f.bytes, Q, bi);
    assert.equal(Q.L, P.L, `${type} L`); assert.equal(Q.D, P.D, `${type} D`); assert.equal(Q.S, P.S, `${type} S`);
    if (f.type1) assert.equal(Q.Dm, P.Dm, `${type} Dm`);
    if (f.k && f.type1) assert.equal(Q.M, P.M, `${type} M`);
  }
});

test("search_err_forward (SIMD) == search_err_forward_ref: errors and levels bit for bit (G 16/32, uniform and iq4_nl, fixed levels)", () => {
  const cases = [{ G: 16, nLev: 8, lev0: -4, kind: 0 }, { G: 32, nLev: 16, lev0: 0, kind: 0 }, { G: 32, nLev: 255, lev0: -127, kind: 0 }, { G: 32, nLev: 16, lev0: 0, kind: 1 }, { G: 16, nLev: 64, lev0: -32, kind: 0 }];
  for (const c of cases) for (const ng of [1, 3, 17]) for (const fixed of [0, 1]) {
    const n = ng * c.G, r = rng(ng * 7 + c.G, c.kind + fixed);
    const x = randMat(n, ng + c.nLev), w = new Float32Array(n).map(() => r.uniform() * 2);
    const a = new Float32Array(ng).map((_, g) => (g === 1 ? 0 : (r.uniform() - 0.3) * 0.02)), b = new Float32Array(ng).map(() => (c.lev0 === 0 && c.kind === 0 ? -r.uniform() * 0.1 : 0));
    const lev = new Float32Array(c.nLev).map((_, i) => c.lev0 + i);
    const L0 = new Uint8Array(n).map(() => r.next() % c.nLev);
    const px = engine.alloc(4 * n), pw = engine.alloc(4 * n), pa = engine.alloc(4 * ng), pb = engine.alloc(4 * ng), pl = engine.alloc(4 * c.nLev);
    const pe1 = engine.alloc(4 * ng), pe2 = engine.alloc(4 * ng), pq1 = engine.alloc(n + 16), pq2 = engine.alloc(n + 16);
    try {
      const m = () => X.memory.buffer;
      new Float32Array(m(), px, n).set(x); new Float32Array(m(), pw, n).set(w); new Float32Array(m(), pa, ng).set(a); new Float32Array(m(), pb, ng).set(b); new Float32Array(m(), pl, c.nLev).set(lev);
      new Uint8Array(m(), pq1, n).set(L0); new Uint8Array(m(), pq2, n).set(L0);
      X.search_err_forward(pe1, pq1, px, pw, pa, pb, ng, c.G, pl, c.nLev, c.kind, fixed);
      X.search_err_forward_ref(pe2, pq2, px, pw, pa, pb, ng, c.G, pl, c.nLev, c.kind, fixed);
      const e1 = new Float32Array(m(), pe1, ng).slice(), e2 = new Float32Array(m(), pe2, ng).slice();
      assert.equal(Array.from(e1), Array.from(e2), `errors ${JSON.stringify(c)} ng ${ng} fixed ${fixed}`);
      assert.equal(new Uint8Array(m(), pq1, n).slice(), new Uint8Array(m(), pq2, n).slice(), "levels");
      // the ref against a plain JS evaluation (f64 tolerance) for the non-iq4 uniform case
      if (c.kind === 0) {
        const Lr = new Uint8Array(m(), pq2, n);
        for (let g = 0; g < ng; g++) {
          let s = 0;
          for (let i = g * c.G; i < (g + 1) * c.G; i++) {
            const L = fixed ? L0[i] : Lr[i];
            if (!fixed) { const t = a[g] === 0 ? -c.lev0 : (x[i] - b[g]) / a[g] - c.lev0; assert.ok(Math.abs(L - Math.min(c.nLev - 1, Math.max(0, Math.round(t)))) <= (Math.abs(t % 1) > 0.499 ? 1 : 0), "nearest level"); }
            s += w[i] * (x[i] - (a[g] * lev[L] + b[g])) ** 2;
          }
          assert.ok(Math.abs(s - e2[g]) <= 1e-4 * (s + 1e-12), `ref error ${s} vs ${e2[g]}`);
        }
      }
    } finally { for (const p of [px, pw, pa, pb, pl, pe1, pe2, pq1, pq2]) engine.free(p); }
  }
});

test("search: weighted error ≤ RTN's on every block (8 seeds × with/without imatrix × every type), lower on average; bytes decode", () => {
  for (const type of SEARCH_TYPES) {
    const f = searchFormat(type)!, cols = f.B === 256 ? 512 : 128, rows = 6;
    let sumR = 0, sumS = 0, better = 0, blocks = 0;
    for (let seed = 1; seed <= 8; seed++) for (const useIm of [false, true]) {
      const x = randMat(rows * cols, seed * 13 + type.length);
      const r = rng(seed, 5), im = useIm ? new Float32Array(cols).map(() => 0.05 + r.uniform() * 4) : null;
      const rtn = engine.quantize(x, { type, rows, cols, imatrix: im });
      const res = searchQuantize(engine, x, rows, cols, type, { imatrix: im });
      assert.is(res.bytes.length, rtn.length);
      const w = weights(x, rows, cols, im);
      const er = blockErr(x, engine.dequantize(rtn, { type, rows, cols } as any), w, f.B);
      const es = blockErr(x, engine.dequantize(res.bytes, { type, rows, cols } as any), w, f.B);
      for (let b = 0; b < er.length; b++) {
        if (!(es[b] <= er[b] * (1 + 1e-12))) assert.unreachable(`${type} seed ${seed} im ${useIm} block ${b}: search ${es[b]} > rtn ${er[b]}`);
        if (es[b] < er[b]) better++;
        sumR += er[b]; sumS += es[b]; blocks++;
      }
      assert.ok(Math.abs(res.errAfter - es.reduce((s, v) => s + v, 0)) <= 1e-3 * res.errAfter, `${type}: reported error matches the decoded one`);
    }
    assert.ok(sumS < sumR * 0.999, `${type}: search Σerr ${sumS} not below RTN ${sumR}`);
    assert.ok(better > blocks / 10, `${type}: only ${better}/${blocks} blocks improved`);
  }
});

test("search after another method's bytes keeps their levels and refits only the scales (error not above the start's)", () => {
  for (const type of ["q4_K", "q4_0", "q6_K", "q2_K"]) {
    const f = searchFormat(type)!, cols = f.B === 256 ? 512 : 128, rows = 4;
    const x = randMat(rows * cols, 99);
    const start = engine.quantize(x, { type, rows, cols });
    const res = searchQuantize(engine, x, rows, cols, type, { start });
    const P = newParams(f, rows * cols / f.B), Q = newParams(f, rows * cols / f.B);
    for (let b = 0; b < rows * cols / f.B; b++) { f.unpack(start, b * f.bytes, P, b); f.unpack(res.bytes, b * f.bytes, Q, b); }
    assert.equal(Q.L, P.L, `${type}: levels kept`);
    assert.ok(res.errAfter <= res.errBefore && res.improved > 0, `${type}: ${res.errAfter} vs ${res.errBefore}, ${res.improved} improved`);
  }
});

test("search weights \"imatrix\": error under the imatrix alone not above RTN's on any block; bad option → E_RANGE", () => {
  const type = "q4_K", rows = 4, cols = 512, x = randMat(rows * cols, 31), r = rng(2, 2);
  const im = new Float32Array(cols).map(() => 0.1 + r.uniform() * 3);
  const res = searchQuantize(engine, x, rows, cols, type, { imatrix: im, weights: "imatrix" });
  const w = new Float64Array(rows * cols).map((_, i) => im[i % cols]);
  const er = blockErr(x, engine.dequantize(engine.quantize(x, { type, rows, cols, imatrix: im }), { type, rows, cols } as any), w, 256);
  const es = blockErr(x, engine.dequantize(res.bytes, { type, rows, cols } as any), w, 256);
  for (let b = 0; b < er.length; b++) assert.ok(es[b] <= er[b] * (1 + 1e-12), `block ${b}: ${es[b]} > ${er[b]}`);
  assert.ok(es.reduce((a, v) => a + v, 0) < er.reduce((a, v) => a + v, 0));
  try { searchQuantize(engine, x, rows, cols, type, { weights: "x2" as any }); assert.unreachable("no error"); }
  catch (e) { assert.is((e as TensorshrinkError).code, "E_RANGE"); }
});

/** HQQ's optimize_weights_proximal_legacy per group in f64 JS (value = a·q + b, q in 0..qmax). */
function hqqRef(x: Float32Array, a: number, b: number, qmax: number, p = 0.7, beta = 10, kappa = 1.01, iters = 20): number {
  const s = 1 / a;
  let z = -b * s, best = Infinity, bestz = z;
  for (let it = 0; it < iters; it++) {
    let err = 0, zs = 0;
    for (const w of x) {
      const q = Math.min(qmax, Math.max(0, Math.round(w * s + z))), wr = (q - z) / s, e = w - wr, ae = Math.abs(e);
      err += ae;
      const sh = ae > 0 ? Math.max(0, ae - ae ** (p - 1) / beta) : 0;
      zs += q - (w - Math.sign(e) * sh) * s;
    }
    err /= x.length;
    if (err < best) { best = err; bestz = z; } else break;
    z = zs / x.length; beta *= kappa;
  }
  return -a * bestz;
}

test("hqq_zero_forward matches a JS HQQ (optimize_weights_proximal) on random groups; hqq lowers the mean |error| of q4_1/q5_1/q4_K", () => {
  const ng = 40, G = 32, x = randMat(ng * G, 5), r = rng(3, 3);
  const a = new Float32Array(ng).map(() => 0.01 + r.uniform() * 0.01), b = new Float32Array(ng).map(() => -0.08 - r.uniform() * 0.02);
  const px = engine.alloc(4 * ng * G), pa = engine.alloc(4 * ng), pb = engine.alloc(4 * ng), po = engine.alloc(4 * ng);
  try {
    const m = () => X.memory.buffer;
    new Float32Array(m(), px, ng * G).set(x); new Float32Array(m(), pa, ng).set(a); new Float32Array(m(), pb, ng).set(b);
    X.hqq_zero_forward(po, px, pa, pb, ng, G, 16, 0.7, 10, 1.01, 20);
    const out = new Float32Array(m(), po, ng).slice();
    let moved = 0;
    for (let g = 0; g < ng; g++) {
      const want = hqqRef(x.subarray(g * G, (g + 1) * G), a[g], b[g], 15);
      assert.ok(Math.abs(out[g] - want) <= 2e-3 * a[g] * 16, `group ${g}: ${out[g]} vs JS ${want}`);
      if (Math.abs(out[g] - b[g]) > 1e-6) moved++;
    }
    assert.ok(moved > ng / 2, `the solver moved ${moved}/${ng} zero points`);
  } finally { for (const p of [px, pa, pb, po]) engine.free(p); }
  for (const type of ["q4_1", "q5_1", "q4_K"]) {
    const f = searchFormat(type)!, cols = f.B === 256 ? 512 : 128, rows = 8, xx = randMat(rows * cols, 21);
    const res = hqqQuantize(engine, xx, rows, cols, type, {});
    const y = engine.dequantize(res.bytes, { type, rows, cols } as any), y0 = engine.dequantize(engine.quantize(xx, { type, rows, cols }), { type, rows, cols } as any);
    let a0 = 0, a1 = 0;
    for (let i = 0; i < xx.length; i++) { a0 += Math.abs(xx[i] - y0[i]); a1 += Math.abs(xx[i] - y[i]); }
    assert.ok(Math.abs(a1 - res.absAfter) <= 1e-3 * a1 && Math.abs(a0 - res.absBefore) <= 1e-3 * a0, `${type}: reported encoded |error| is the decoded one`);
    assert.ok(a1 < a0, `${type}: hqq mean |error| ${a1} not below RTN ${a0}`);
    const g = hqqQuantize(engine, xx, rows, cols, type, { guard: true });
    assert.ok(g.errAfter <= g.errBefore, `${type}: guard keeps the weighted error at most RTN's`);
  }
});

test("hqq on symmetric formats: E_UNSUPPORTED naming tensor and type; in a plan where it applies to nothing too, before any byte", async () => {
  for (const type of ["q4_0", "q8_0", "q6_K", "q3_K", "iq4_nl"]) {
    try { hqqQuantize(engine, new Float32Array(256), 1, 256, type, { name: "blk.3.attn_q.weight" }); assert.unreachable("no error"); }
    catch (e) { assert.instance(e, TensorshrinkError); assert.is((e as TensorshrinkError).code, "E_UNSUPPORTED"); assert.match((e as Error).message, "blk.3.attn_q.weight"); assert.match((e as Error).message, type); }
  }
  const model = syntheticModel({ nLayer: 1, nEmbd: 256, nFf: 512, nVocab: 300, nHead: 4, nHeadKv: 2 });
  const sink = memorySink();
  try { await quantizeModel(engine, model, sink, { ftype: "Q4_0", methods: ["hqq"] }); assert.unreachable("no error"); }
  catch (e) { assert.is((e as TensorshrinkError).code, "E_UNSUPPORTED"); assert.match((e as Error).message, "hqq"); assert.match((e as Error).message, "q4_0"); }
  assert.is(sink.bytes().length, 0);
});

test("quantizeModel with methods search / hqq: same tensor types and data sizes as RTN, quantize.method recorded, bytes changed", async () => {
  const model = syntheticModel({ nLayer: 2, nEmbd: 256, nFf: 512, nVocab: 300, nHead: 4, nHeadKv: 2 });
  const base = memorySink();
  await quantizeModel(engine, model, base, { ftype: "Q4_K_M" });
  const gb = await readGguf(memorySource(base.bytes()));
  for (const methods of [["search"], ["hqq"]]) {
    const s = memorySink();
    const rep = await quantizeModel(engine, model, s, { ftype: "Q4_K_M", methods });
    const g = await readGguf(memorySource(s.bytes()));
    assert.is(g.kv.get("quantize.method")?.value, methods.join(","));
    assert.equal(g.tensors.map((t) => `${t.name}:${t.type}`), gb.tensors.map((t) => `${t.name}:${t.type}`));
    let changed = 0;
    for (let i = 0; i < g.tensors.length; i++) {
      const [ta, tb] = [await readGgufTensorBytes(g, g.tensors[i]), await readGgufTensorBytes(gb, gb.tensors[i])];
      assert.is(ta.length, tb.length, g.tensors[i].name);
      if (ta.some((v, k) => v !== tb[k])) changed++;
    }
    assert.ok(changed >= 4, `${methods}: ${changed} tensors changed`);
    assert.ok(rep.methods!.handled > 0, `${methods}: handled tensors`);
  }
});

test("methods gptq,search: search keeps GPTQ's levels and refits their scales (quantize.method gptq,search)", async () => {
  const model = syntheticModel({ nLayer: 1, nEmbd: 256, nFf: 512, nVocab: 300, nHead: 4, nHeadKv: 2 });
  const r = rng(4, 4), tokens = new Int32Array(2 * 64).map(() => r.next() % 300);
  const files: Awaited<ReturnType<typeof readGguf>>[] = [];
  for (const methods of [["gptq"], ["gptq", "search"]]) {
    const s = memorySink();
    await quantizeModel(engine, model, s, { ftype: "Q4_0", methods, calibration: { tokens, ctx: 64 } });
    files.push(await readGguf(memorySource(s.bytes())));
  }
  assert.is(files[1].kv.get("quantize.method")?.value, "gptq,search");
  const f = searchFormat("q4_0")!;
  let scalesChanged = 0;
  for (const name of ["blk.0.attn_q.weight", "blk.0.ffn_up.weight"]) {
    const ta = files[0].tensors.find((t) => t.name === name)!, tb = files[1].tensors.find((t) => t.name === name)!;
    const a = await readGgufTensorBytes(files[0], ta), b = await readGgufTensorBytes(files[1], tb);
    const nb = a.length / f.bytes, P = newParams(f, nb), Q = newParams(f, nb);
    for (let i = 0; i < nb; i++) { f.unpack(a, i * f.bytes, P, i); f.unpack(b, i * f.bytes, Q, i); }
    assert.equal(Q.L, P.L, `${name}: GPTQ's levels kept`);
    for (let i = 0; i < nb; i++) if (P.D[i] !== Q.D[i]) scalesChanged++;
  }
  assert.ok(scalesChanged > 0, "search refitted some scales");
});

test.run();
