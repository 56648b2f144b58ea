// Calibration statistics: the kernels (SIMD vs scalar _ref twins, vs float64 JS references), Gram precision
// over 1e5 rows, and collectStats over a fake forward pass (shared inputs, MoE experts, output.weight, Gram
// budget refused before allocation, Block Influence, imatrix files written and read back).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { init, collectStats, readImatrix, memorySource, ActStats, TensorshrinkError, syntheticModel, LlamaModel } from "../src/index";
import { FakeModel } from "./_fake-model";
import { randn } from "./_util";

const engine = await init({ threads: 0 });
const X = engine.exports;
const put = (a: Float32Array) => { const p = engine.alloc(a.length * 4 + 16); new Float32Array(X.memory.buffer, p, a.length).set(a); return p; };
const zeros64 = (n: number) => { const p = engine.alloc(n * 8 + 16); new Float64Array(X.memory.buffer, p, n).fill(0); return p; };
const f64 = (p: number, n: number) => new Float64Array(X.memory.buffer, p, n).slice();
async function rejects(f: () => Promise<unknown>, ok: (e: unknown) => boolean, msg = "") {
  try { await f(); } catch (e) { assert.ok(ok(e), `${msg}: ${e}`); return; }
  assert.unreachable(`${msg}: did not throw`);
}
const code = (c: string) => (e: unknown) => e instanceof TensorshrinkError && e.code === c;

test("colstats_forward == _ref bit for bit, and == float64 JS, on sizes with tails", () => {
  for (const [rows, cols] of [[1, 1], [3, 3], [5, 4], [7, 5], [9, 37], [4, 259], [33, 768]]) {
    const x = randn(rows * cols, rows * 31 + cols, 0.7);
    const px = put(x);
    const a = zeros64(cols), b = zeros64(cols), c = zeros64(cols), d = zeros64(cols);
    X.colstats_forward(a, b, px, rows, cols);
    X.colstats_forward(a, b, px, rows, cols); // accumulates
    X.colstats_forward_ref(c, d, px, rows, cols);
    X.colstats_forward_ref(c, d, px, rows, cols);
    const sa = f64(a, cols), sb = f64(b, cols), sc = f64(c, cols), sd = f64(d, cols);
    assert.equal(Array.from(sa), Array.from(sc), `sum2 ${rows}x${cols}`);
    assert.equal(Array.from(sb), Array.from(sd), `sumabs ${rows}x${cols}`);
    for (let j = 0; j < cols; j++) {
      let s2 = 0, s1 = 0;
      for (let r = 0; r < rows; r++) { const v = x[r * cols + j]!; s2 += v * v; s1 += Math.abs(v); }
      assert.ok(Math.abs(sa[j]! - 2 * s2) <= 1e-14 * s2 && Math.abs(sb[j]! - 2 * s1) <= 1e-14 * s1, `col ${j}`);
    }
    for (const p of [px, a, b, c, d]) engine.free(p);
  }
});

test("gram_forward == _ref bit for bit on sizes with tails; upper triangle only", () => {
  for (const [rows, cols, batch] of [[1, 1, 1], [5, 3, 2], [7, 9, 64], [70, 13, 16], [65, 36, 64], [10, 70, 3]]) {
    const x = randn(rows * cols, 5 * rows + cols, 0.3);
    const px = put(x), sc = engine.alloc(cols * 4 + 16);
    const a = zeros64(cols * cols), b = zeros64(cols * cols);
    X.gram_forward(a, px, rows, cols, sc, batch);
    X.gram_forward_ref(b, px, rows, cols, sc, batch);
    const ga = f64(a, cols * cols), gb = f64(b, cols * cols);
    assert.equal(Array.from(ga), Array.from(gb), `${rows}x${cols}/${batch}`);
    for (let i = 0; i < cols; i++) for (let j = 0; j < cols; j++) {
      let s = 0;
      for (let r = 0; r < rows; r++) s += x[r * cols + i]! * x[r * cols + j]!;
      if (j < i) assert.is(ga[i * cols + j], 0, "lower triangle untouched");
      else assert.ok(Math.abs(ga[i * cols + j]! - s) <= 1e-5 * Math.sqrt(ga[i * cols + i]! * ga[j * cols + j]!) + 1e-30, `(${i},${j})`);
    }
    for (const p of [px, sc, a, b]) engine.free(p);
  }
});

test("Gram over 1e5 rows: f32 batches into f64 stay within 2e-6 of a float64 reference (plain f32 would not)", () => {
  const rows = 100_000, cols = 24, step = 5000;
  const sc = engine.alloc(cols * 4 + 16), acc = zeros64(cols * cols);
  const ref = new Float64Array(cols * cols), naive = new Float32Array(cols * cols);
  const px = engine.alloc(step * cols * 4);
  for (let r0 = 0; r0 < rows; r0 += step) {
    const x = randn(step * cols, 1000 + r0, 1);
    for (let i = 0; i < x.length; i++) x[i] = x[i]! + 1; // a mean offset: sums grow ~ rows, as with real activations
    new Float32Array(X.memory.buffer, px, x.length).set(x);
    X.gram_forward(acc, px, step, cols, sc, 64);
    for (let r = 0; r < step; r++) for (let i = 0; i < cols; i++) { const xi = x[r * cols + i]!; for (let j = i; j < cols; j++) { ref[i * cols + j] += xi * x[r * cols + j]!; naive[i * cols + j] = Math.fround(naive[i * cols + j]! + Math.fround(xi * x[r * cols + j]!)); } }
  }
  const g = f64(acc, cols * cols);
  let worst = 0, worstNaive = 0;
  for (let i = 0; i < cols; i++) for (let j = i; j < cols; j++) {
    const k = i * cols + j, sc2 = Math.sqrt(ref[i * cols + i]! * ref[j * cols + j]!);
    worst = Math.max(worst, Math.abs(g[k]! - ref[k]!) / sc2);
    worstNaive = Math.max(worstNaive, Math.abs(naive[k]! - ref[k]!) / sc2);
  }
  console.log(`  Gram 1e5 x ${cols}: max relative error ${worst.toExponential(2)} (plain f32 accumulation: ${worstNaive.toExponential(2)})`);
  assert.ok(worst < 2e-6, String(worst));
  assert.ok(worstNaive > 10 * worst, "the f32-only accumulation should be visibly worse");
  for (const p of [sc, acc, px]) engine.free(p);
});

test("block_influence_forward ~ _ref ~ float64 JS; zero rows give 0", () => {
  for (const [T, C] of [[1, 1], [3, 5], [4, 8], [6, 259]]) {
    const a = randn(T * C, T + C, 1), b = randn(T * C, T * C + 1, 1);
    for (let c = 0; c < C; c++) b[c] = a[c]! * 2; // token 0: same direction -> BI 0
    if (T > 2) for (let c = 0; c < C; c++) a[2 * C + c] = 0;
    const pa = put(a), pb = put(b), o1 = zeros64(T), o2 = zeros64(T);
    X.block_influence_forward(o1, pa, pb, T, C);
    X.block_influence_forward_ref(o2, pa, pb, T, C);
    const r1 = f64(o1, T), r2 = f64(o2, T);
    for (let t = 0; t < T; t++) {
      let d = 0, na = 0, nb = 0;
      for (let c = 0; c < C; c++) { d += a[t * C + c]! * b[t * C + c]!; na += a[t * C + c]! ** 2; nb += b[t * C + c]! ** 2; }
      const want = na > 0 && nb > 0 ? 1 - d / Math.sqrt(na * nb) : 0;
      assert.ok(Math.abs(r1[t]! - want) < 1e-12 && Math.abs(r2[t]! - want) < 1e-12, `${T}x${C} t${t}: ${r1[t]} ${r2[t]} ${want}`);
    }
    assert.ok(Math.abs(r1[0]!) < 1e-12);
    if (T > 2) assert.is(r1[2], 0);
    for (const p of [pa, pb, o1, o2]) engine.free(p);
  }
});

/** Reference statistics of a fake pass: key -> {sum2, sumAbs, rows} from the recorded inputs. */
function reference(m: FakeModel, key: string, cols: number) {
  const s2 = new Float64Array(cols), s1 = new Float64Array(cols);
  let rows = 0;
  for (const { call, x } of m.log.get(key) ?? []) {
    if (call === 1) continue; // collectStats' one-token probe
    const n = x.length / cols; rows += n;
    for (let r = 0; r < n; r++) for (let j = 0; j < cols; j++) { const v = x[r * cols + j]!; s2[j] += v * v; s1[j] += Math.abs(v); }
  }
  return { s2, s1, rows };
}

test("collectStats: chunks with BOS, shared inputs, sums == JS reference, output skipped, imatrix round trips", async () => {
  const m = new FakeModel(engine, {}, 16);
  const tokens = Array.from({ length: 16 * 3 + 5 }, (_, i) => (i * 7 + 3) % 50);
  const live = engine.liveAllocations;
  let progress = 0;
  const s = await collectStats(engine, m, tokens, { ctx: 16, dataset: "fake.txt", gram: ["blk.1.attn_k.weight"], onProgress: (p) => { progress++; assert.ok(p.tokensDone === p.chunk * 16 && p.tokensTotal === 48 && p.tokensPerSecond > 0); } });
  assert.is(engine.liveAllocations, live, "everything freed");
  assert.is(m.calls, 1 + 3, "probe + 3 chunks (the 5-token tail is dropped, as llama-imatrix)");
  assert.is(progress, 3);
  assert.is(s.chunkCount, 3); assert.is(s.chunkSize, 16); assert.is(s.tokens, 48);
  assert.ok(s.get("blk.0.attn_q.weight") === s.get("blk.0.attn_v.weight"), "q/k/v share one input");
  assert.is(s.get("output.weight"), undefined, "output.weight skipped by default");
  assert.is(s.inputs.length, 2 * 4);
  // BOS replaced the first token of each chunk: the recorded rows' first token is BOS
  const q = s.get("blk.0.attn_q.weight")!;
  const ref = reference(m, "blk.0.attn_q.weight,blk.0.attn_k.weight,blk.0.attn_v.weight|", 20);
  assert.is(q.counts[0], 48); assert.is(ref.rows, 48);
  for (let j = 0; j < 20; j++) assert.ok(Math.abs(q.sumSq[j]! - ref.s2[j]!) <= 1e-12 * ref.s2[j]! && Math.abs(q.sumAbs[j]! - ref.s1[j]!) <= 1e-12 * ref.s1[j]!);
  const bosRow = m.log.get("blk.0.attn_q.weight,blk.0.attn_k.weight,blk.0.attn_v.weight|")![2]!.x;
  for (let j = 0; j < 20; j++) assert.is(bosRow[j], m.value(1, 0, 0, 0, j), "chunk starts with BOS at position 0");
  // Gram of the one requested input, symmetric, diagonal = Σx²
  const k = s.get("blk.1.attn_q.weight")!;
  assert.ok(k.gram && k.gram.length === 400 && s.get("blk.0.attn_q.weight")!.gram === null);
  for (let i = 0; i < 20; i++) { assert.ok(Math.abs(k.gram![i * 21]! - k.sumSq[i]!) <= 1e-5 * k.sumSq[i]!); for (let j = 0; j < 20; j++) assert.is(k.gram![i * 20 + j], k.gram![j * 20 + i]); }
  // imatrix (GGUF and legacy) written and read back by our reader = Σx²/count per weight
  for (const fmt of ["gguf", "legacy"] as const) {
    const bytes = s.encodeImatrix(fmt);
    const im = await readImatrix(memorySource(bytes, `x.${fmt}`));
    assert.is(im.size, 2 * 7, `${fmt}: every blk weight, no output.weight`);
    assert.equal(im.datasets, ["fake.txt"]); assert.is(im.chunkCount, 3);
    const want = s.meanSq("blk.1.ffn_up.weight"), got = im.get("blk.1.ffn_up.weight")!;
    for (let j = 0; j < want.length; j++) assert.ok(Math.abs(got[j]! - want[j]!) <= 2e-7 * want[j]!, `${fmt} col ${j}`);
    const back = ActStats.fromImatrix(im);
    assert.ok(Math.abs(back.meanSq("blk.0.ffn_down.weight")[5]! - s.meanSq("blk.0.ffn_down.weight")[5]!) <= 2e-7 * s.meanSq("blk.0.ffn_down.weight")[5]!);
  }
  // Block Influence per layer = mean of 1 - cos over the chunks' tokens
  for (let l = 0; l < 2; l++) {
    let sum = 0, n = 0;
    for (const [a, b] of m.layers[l]!) for (let t = 0; t < a.length / 20; t++) {
      let d = 0, na = 0, nb = 0;
      for (let c = 0; c < 20; c++) { d += a[t * 20 + c]! * b[t * 20 + c]!; na += a[t * 20 + c]! ** 2; nb += b[t * 20 + c]! ** 2; }
      sum += 1 - d / Math.sqrt(na * nb); n++;
    }
    assert.is(s.blockInfluenceTokens[l], 48);
    assert.ok(Math.abs(s.blockInfluence[l]! - sum / n) < 1e-12 && s.blockInfluence[l]! > 0.01, `BI ${l}: ${s.blockInfluence[l]} vs ${sum / n}`);
  }
  // processOutput collects output.weight's input too, and the imatrix includes it on request
  const s2 = await collectStats(engine, m, tokens, { ctx: 16, chunks: 1, processOutput: true, blockInfluence: false });
  assert.is(s2.get("output.weight")!.counts[0], 16);
  assert.is(s2.blockInfluence.length, 0);
  assert.ok((await readImatrix(memorySource(s2.encodeImatrix("gguf", { includeOutput: true })))).has("output.weight"));
  m.dispose();
});

test("collectStats: MoE statistics per expert; an expert with no rows is left out of the imatrix", async () => {
  const m = new FakeModel(engine, { nExpert: 4, nExpertUsed: 2 }, 16);
  const tokens = Array.from({ length: 32 }, (_, i) => (i * 5 + 2) % 50);
  const s = await collectStats(engine, m, tokens, { ctx: 16, gram: ["blk.0.ffn_down_exps.weight"] });
  const up = s.get("blk.0.ffn_up_exps.weight")!;
  assert.ok(up === s.get("blk.0.ffn_gate_exps.weight") && up.nMat === 4 && up.sumSq.length === 80);
  for (let e = 0; e < 4; e++) {
    const ref = reference(m, `blk.0.ffn_gate_exps.weight,blk.0.ffn_up_exps.weight|${e}`, 20);
    assert.is(up.counts[e], ref.rows, `expert ${e} rows`);
    for (let j = 0; j < 20; j++) assert.ok(Math.abs(up.sumSq[e * 20 + j]! - ref.s2[j]!) <= 1e-12 * (ref.s2[j]! + 1e-300));
  }
  assert.is(up.counts[3], 0, "expert 3 is never routed to");
  assert.is(up.counts[0]! + up.counts[1]! + up.counts[2]!, 2 * 32, "two experts per token");
  const down = s.get("blk.0.ffn_down_exps.weight")!;
  assert.ok(down.gram !== null && down.gram.length === 36 * 36 * 4);
  assert.ok(Math.abs(down.gram![36 * 36 + 0] - down.sumSq[36]!) <= 1e-5 * down.sumSq[36]!, "expert 1's Gram diagonal = its Σx²");
  const im = await readImatrix(memorySource(s.encodeImatrix("gguf")));
  assert.not.ok(im.has("blk.0.ffn_up_exps.weight"), "partial data skipped, as llama-imatrix");
  assert.ok(im.has("blk.0.attn_q.weight"));
  m.dispose();
});

test("collectStats on the real forward pass (synthetic MoE llama): router, per-expert counts, Gram, imatrix", async () => {
  const src = syntheticModel({ nLayer: 2, nEmbd: 64, nFf: 128, nHead: 4, nHeadKv: 2, nVocab: 300, seed: 5, nExpert: 4, nExpertUsed: 2 });
  const m = await LlamaModel.open(engine, src, { nCtx: 32 });
  const toks = Array.from({ length: 96 }, (_, i) => (i * 37 + 5) % 300);
  await m.forward(toks.slice(0, 32), { logits: "last" }); // load every weight (resident) first
  const live = engine.liveAllocations;
  const s = await collectStats(engine, m, toks, { ctx: 32, gram: ["blk.0.ffn_down_exps.weight"] });
  assert.is(engine.liveAllocations, live, "collectStats frees what it allocated");
  assert.is(s.inputs.length, 2 * 5, "qkv, attn_output, router, gate/up experts, down experts per layer");
  assert.is(s.get("blk.1.ffn_gate_inp.weight")!.counts[0], 96);
  for (const l of [0, 1]) {
    const e = s.get(`blk.${l}.ffn_up_exps.weight`)!;
    assert.ok(e === s.get(`blk.${l}.ffn_gate_exps.weight`) && e.nMat === 4 && e.cols === 64);
    assert.is(e.counts.reduce((a, b) => a + b, 0), 96 * 2, "every token routed to 2 experts");
    assert.equal(Array.from(s.get(`blk.${l}.ffn_down_exps.weight`)!.counts), Array.from(e.counts));
  }
  const d = s.get("blk.0.ffn_down_exps.weight")!;
  for (let x = 0; x < 4; x++) for (const i of [0, 77, 127]) assert.ok(Math.abs(d.gram![x * 128 * 128 + i * 129]! - d.sumSq[x * 128 + i]!) <= 1e-5 * d.sumSq[x * 128 + i]!);
  const im = await readImatrix(memorySource(s.encodeImatrix("gguf")));
  assert.is(im.size, 16);
  assert.is(im.get("blk.0.ffn_down_exps.weight")!.length, 128 * 4);
  assert.ok(s.blockInfluence.every((v) => v > 0 && v < 2));
  m.dispose();
});

test("collectStats: typed errors before any allocation (Gram over budget, bad tokens, bad options, abort)", async () => {
  const m = new FakeModel(engine, {}, 16);
  const tokens = Array.from({ length: 32 }, (_, i) => i % 50);
  const live = engine.liveAllocations, mem = engine.memoryBytes;
  try {
    await collectStats(engine, m, tokens, { ctx: 16, gram: "all", memoryBudget: 20000 });
    assert.unreachable();
  } catch (e: any) {
    assert.ok(code("E_RANGE")(e), String(e));
    assert.match(e.message, /Gram matrices need \d+ bytes, over the memory budget of 20000 bytes/);
    assert.match(e.message, /blk\.0\.ffn_down\.weight \(36² × 8 = 10368 B\)/);
  }
  assert.is(engine.liveAllocations, live); assert.is(engine.memoryBytes, mem);
  assert.is(m.calls, 1, "only the probe ran");
  await rejects(() => collectStats(engine, m, [...tokens.slice(0, 20), 50, ...tokens.slice(21)], { ctx: 16 }), code("E_RANGE"));
  await rejects(() => collectStats(engine, m, tokens, { ctx: 16, gram: ["blk.9.attn_q.weight"] }), code("E_RANGE"));
  await rejects(() => collectStats(engine, m, tokens.slice(0, 10), { ctx: 16 }), code("E_RANGE"));
  await rejects(() => collectStats(engine, m, tokens, { ctx: 0 }), code("E_RANGE"));
  const ac = new AbortController();
  await rejects(() => collectStats(engine, m, tokens, { ctx: 16, signal: ac.signal, onProgress: () => ac.abort() }), code("E_ABORTED"));
  assert.is(engine.liveAllocations, live, "freed after the abort");
  m.dispose();
});

test.run();
