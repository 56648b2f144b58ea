// LlamaModel on synthetic models (dense and 8-expert MoE): config parsing, agreement with the plain-JS
// reference forward (bench/js/forward.js), shapes, hooks (tensor names, shapes, MoE experts), KV-cache
// incremental decoding == full recompute, layer-granular API with a weight provider, stream == resident,
// flat memory over 100 forwards, typed errors.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { init, syntheticModel, ggufKV, quantizeModel, openFileSink, openModel, type ModelSource } from "../src/index";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { LlamaModel, llamaConfigFromMetadata, type LlamaConfig } from "../src/index";
// @ts-ignore: plain JS module
import { jsForward } from "../bench/js/forward.js";

const engine = await init({ threads: 1 });
const DENSE = { nLayer: 2, nEmbd: 64, nFf: 96, nHead: 4, nHeadKv: 2, nVocab: 300, seed: 3 };
const MOE = { ...DENSE, nFf: 48, nExpert: 8, nExpertUsed: 2, seed: 4 };

async function weightsOf(src: ModelSource): Promise<Map<string, Float32Array>> {
  const W = new Map<string, Float32Array>();
  for (const t of src.tensors) W.set(t.name, await t.readRows(0, t.ne.slice(1).reduce((a, b) => a * b, 1)));
  return W;
}
function maxDiff(a: Float32Array, b: Float32Array): number {
  assert.is(a.length, b.length, "lengths");
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}
const toks = (n: number, seed = 1, V = 300) => Array.from({ length: n }, (_, i) => (i * 7919 + seed * 104729) % V);
async function throwsCode(fn: () => unknown, code: string, re?: RegExp) {
  try { await fn(); } catch (e: any) {
    assert.is(e.name, "TensorshrinkError", String(e));
    assert.is(e.code, code, e.message);
    if (re) assert.match(e.message, re);
    return e;
  }
  assert.unreachable(`expected ${code}`);
}
/** A ModelSource with its metadata edited and tensors filtered. */
function edit(src: ModelSource, kv: (m: typeof src.metadata) => typeof src.metadata, drop: string[] = []): ModelSource {
  return { ...src, metadata: kv(src.metadata), tensors: src.tensors.filter((t) => !drop.includes(t.name)) };
}

test("llamaConfigFromMetadata: every hyperparameter, tied output, linear rope scaling, typed errors", async () => {
  const src = syntheticModel(DENSE);
  const c = llamaConfigFromMetadata(src.metadata, src.tensors);
  const want: Partial<LlamaConfig> = { arch: "llama", nLayer: 2, nEmbd: 64, nHead: 4, nHeadKv: 2, headDim: 16, nFf: 96, nVocab: 300, nCtxTrain: 2048, ropeType: "norm", ropeFreqBase: 10000, ropeScaleLinear: 1, nExpert: 0, nExpertUsed: 0, tiedOutput: false, bos: 1, eos: 2, addBos: true, nRot: 16, ropeFreqs: false };
  for (const [k, v] of Object.entries(want)) assert.equal((c as any)[k], v, k);
  assert.ok(Math.abs(c.normEps - 1e-5) < 1e-9);
  const m = llamaConfigFromMetadata(syntheticModel(MOE).metadata, syntheticModel(MOE).tensors);
  assert.is(m.nExpert, 8); assert.is(m.nExpertUsed, 2);
  const tied = syntheticModel({ ...DENSE, untiedOutput: false });
  assert.is(llamaConfigFromMetadata(tied.metadata, tied.tensors).tiedOutput, true);
  const scaled = [...src.metadata, ggufKV("llama.rope.scaling.type", "str", "linear"), ggufKV("llama.rope.scaling.factor", "f32", 4)];
  assert.is(llamaConfigFromMetadata(scaled, src.tensors).ropeScaleLinear, 4);
  const withKey = (k: string, t: any, v: any) => [...src.metadata.filter((e) => e.key !== k), ggufKV(k, t, v)];
  await throwsCode(() => llamaConfigFromMetadata(withKey("general.architecture", "str", "gpt2"), src.tensors), "E_UNSUPPORTED", /architecture "gpt2"/);
  await throwsCode(() => llamaConfigFromMetadata(withKey("llama.rope.scaling.type", "str", "yarn"), src.tensors), "E_UNSUPPORTED", /rope scaling type "yarn"/);
  await throwsCode(() => llamaConfigFromMetadata(src.metadata.filter((e) => e.key !== "llama.embedding_length"), src.tensors), "E_FORMAT", /llama\.embedding_length/);
  await throwsCode(() => llamaConfigFromMetadata(withKey("llama.attention.head_count_kv", "u32", 3), src.tensors), "E_FORMAT", /head_count_kv/);
});

test("dense forward == plain-JS reference (logits all / last / none), SIMD == ref kernels", async () => {
  const src = syntheticModel(DENSE), W = await weightsOf(src);
  const m = await LlamaModel.open(engine, src, { nCtx: 64 });
  const t = toks(37);
  const all = await m.forward(t);
  assert.is(all.length, 37 * 300);
  const ref = jsForward(m.config, (n: string) => W.get(n), t);
  const d = maxDiff(all, ref);
  assert.ok(d < 2e-4, `max |Δlogit| vs JS ${d}`);
  const last = await m.forward(t, { logits: "last" });
  assert.is(last.length, 300);
  assert.ok(maxDiff(last, all.subarray(36 * 300)) === 0, "last row == row T-1 of all");
  assert.is((await m.forward(t, { logits: "none" })).length, 0);
  const r = await LlamaModel.open(engine, src, { nCtx: 64, kernel: "ref" });
  assert.ok(maxDiff(await r.forward(t), all) < 2e-4, "ref kernels");
  r.dispose(); m.dispose();
});

test("MoE (8 experts, top-2) forward == plain-JS reference; hooks see each routed expert with its rows", async () => {
  const src = syntheticModel(MOE), W = await weightsOf(src);
  const m = await LlamaModel.open(engine, src, { nCtx: 64 });
  const t = toks(29, 2);
  const calls: { layer: number; tensors: string[]; rows: number; cols: number; expert?: number }[] = [];
  const out = await m.forward(t, { hooks: { linearInput: (ev) => calls.push({ layer: ev.layer, tensors: ev.tensors, rows: ev.rows, cols: ev.cols, expert: ev.expert }) } });
  const d = maxDiff(out, jsForward(m.config, (n: string) => W.get(n), t));
  assert.ok(d < 2e-4, `max |Δlogit| vs JS ${d}`);
  for (let l = 0; l < 2; l++) {
    const ups = calls.filter((c) => c.layer === l && c.tensors[0] === `blk.${l}.ffn_gate_exps.weight`);
    const downs = calls.filter((c) => c.layer === l && c.tensors[0] === `blk.${l}.ffn_down_exps.weight`);
    assert.equal(ups[0].tensors, [`blk.${l}.ffn_gate_exps.weight`, `blk.${l}.ffn_up_exps.weight`]);
    assert.ok(ups.length >= 2 && ups.length <= 8, "experts used");
    assert.is(ups.reduce((s, c) => s + c.rows, 0), 29 * 2, "every token routed to 2 experts");
    assert.equal(ups.map((c) => c.expert), downs.map((c) => c.expert));
    assert.ok(ups.every((c) => c.cols === 64) && downs.every((c, i) => c.cols === 48 && c.rows === ups[i].rows));
    assert.equal(new Set(ups.map((c) => c.expert)).size, ups.length, "one call per expert");
    assert.ok(calls.some((c) => c.layer === l && c.tensors[0] === `blk.${l}.ffn_gate_inp.weight` && c.rows === 29));
  }
  m.dispose();
});

test("hooks: linearInput once per distinct input with the right names and shapes; layer hook in/out; x is the wasm view at ptr", async () => {
  const src = syntheticModel(DENSE);
  const m = await LlamaModel.open(engine, src, { nCtx: 64 });
  const seen: string[] = [];
  let ptrOk = true;
  const layers: number[] = [];
  let res0: Float32Array | null = null;
  await m.forward(toks(9), {
    hooks: {
      linearInput(ev) {
        seen.push(`${ev.layer}:${ev.tensors.join("+")}:${ev.rows}x${ev.cols}`);
        ptrOk &&= ev.x.byteOffset === ev.ptr && ev.x.length === ev.rows * ev.cols && ev.x.buffer === (engine.exports as any).memory.buffer;
      },
      layer(ev) { layers.push(ev.layer); assert.is(ev.T, 9); assert.is(ev.C, 64); assert.is(ev.output.length, 9 * 64); if (ev.layer === 1) assert.ok(maxDiff(ev.input, res0!) === 0, "input of block 1 = output of block 0"); res0 = ev.output.slice(); },
    },
  });
  const want: string[] = [];
  for (let l = 0; l < 2; l++) {
    const p = `blk.${l}.`;
    want.push(`${l}:${p}attn_q.weight+${p}attn_k.weight+${p}attn_v.weight:9x64`, `${l}:${p}attn_output.weight:9x64`, `${l}:${p}ffn_gate.weight+${p}ffn_up.weight:9x64`, `${l}:${p}ffn_down.weight:9x96`);
  }
  want.push("2:output.weight:9x64");
  assert.equal(seen, want);
  assert.ok(ptrOk, "x is a view at ptr");
  assert.equal(layers, [0, 1]);
  const seen2: string[] = [];
  await m.forward(toks(9), { logits: "last", hooks: { linearInput: (ev) => seen2.push(`${ev.tensors[0]}:${ev.rows}`) } });
  assert.is(seen2[seen2.length - 1], "output.weight:1", "head hook sees only the last row with logits: last");
  m.dispose();
});

test("KV cache: prompt then one token at a time == full recompute; generate == argmax of full recompute", async () => {
  for (const o of [DENSE, MOE]) {
    const m = await LlamaModel.open(engine, syntheticModel(o), { nCtx: 64 });
    const t = toks(20, 5);
    const full = await m.forward(t);
    let d = maxDiff(await m.forward(t.slice(0, 12), { logits: "all" }), full.subarray(0, 12 * 300));
    for (let i = 12; i < 20; i++) d = Math.max(d, maxDiff(await m.forward([t[i]], { pos: i }), full.subarray(i * 300, (i + 1) * 300)));
    // a batch of several tokens at pos > 0
    await m.forward(t.slice(0, 5));
    d = Math.max(d, maxDiff(await m.forward(t.slice(5, 20), { pos: 5 }), full.subarray(5 * 300)));
    assert.ok(d < 1e-4, `incremental vs full ${d}`);
    const gen = await m.generate(t.slice(0, 6), 8, { stopAtEos: false });
    const seq = t.slice(0, 6);
    for (let i = 0; i < 8; i++) {
      const l = await m.forward(seq, { logits: "last" });
      let b = 0; for (let j = 1; j < l.length; j++) if (l[j] > l[b]) b = j;
      seq.push(b);
    }
    assert.equal(gen, seq.slice(6));
    m.dispose();
  }
});

test("layer-granular: embed → runBlock × nLayer → head == forward; a weight provider changes exactly what it replaces", async () => {
  const src = syntheticModel(DENSE), W = await weightsOf(src);
  const m = await LlamaModel.open(engine, src, { nCtx: 64 });
  const t = toks(11, 3);
  const full = await m.forward(t);
  let x = await m.embed(t);
  assert.is(x.length, 11 * 64);
  for (let l = 0; l < 2; l++) x = await m.runBlock(l, x);
  assert.ok(maxDiff(await m.head(x), full) === 0, "same kernels, same result");
  // zero the FFN down projection of block 1 through the provider
  const zeroName = "blk.1.ffn_down.weight";
  m.weightProvider = (name, ne) => (name === zeroName ? new Float32Array(ne[0] * ne[1]) : undefined);
  m.invalidateWeights([zeroName]);
  const mod = await m.forward(t);
  const W2 = new Map(W); W2.set(zeroName, new Float32Array(W.get(zeroName)!.length));
  assert.ok(maxDiff(mod, jsForward(m.config, (n: string) => W2.get(n), t)) < 2e-4, "modified model == JS with modified weights");
  assert.ok(maxDiff(mod, full) > 1e-2, "and differs from the original");
  m.weightProvider = undefined; m.invalidateWeights();
  assert.ok(maxDiff(await m.forward(t), full) === 0, "back to the file's weights");
  await throwsCode(() => m.runBlock(2, x), "E_RANGE", /layer 2/);
  await throwsCode(() => m.runBlock(0, new Float32Array(65)), "E_SHAPE");
  m.dispose();
});

test("stream mode (one block of weights at a time) == resident; memory flat across 100 forwards", async () => {
  const src = syntheticModel(DENSE);
  const a = await LlamaModel.open(engine, src, { nCtx: 64, weights: "stream" });
  const b = await LlamaModel.open(engine, src, { nCtx: 64, weights: "resident" });
  const t = toks(16, 9);
  const la = await a.forward(t), lb = await b.forward(t);
  assert.ok(maxDiff(la, lb) === 0);
  assert.is(a.residentWeightBytes, 0, "stream mode keeps no block weights after the call");
  assert.ok(b.residentWeightBytes > 0);
  a.dispose();
  const mem0 = engine.memoryBytes, live0 = engine.liveAllocations;
  for (let i = 0; i < 100; i++) await b.forward(toks(1 + (i % 16), i), { logits: i % 2 ? "last" : "all" });
  assert.is(engine.memoryBytes, mem0, "wasm memory did not grow");
  assert.is(engine.liveAllocations, live0, "no leaked allocations");
  b.dispose();
});

test("GGUF files: direct reads into wasm memory (f32, and q8_0 / f16 via dequantize_row) == readRows path; Q8_0 near F32 (synthetic outlier columns make q8_0 blocks coarse)", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "ts-fwd71-"));
  try {
    const t = toks(12, 4);
    const out: Record<string, Float32Array> = {};
    for (const f of ["F32", "Q8_0", "F16"]) {
      const p = path.join(dir, `m-${f}.gguf`);
      await quantizeModel(engine, syntheticModel(DENSE), await openFileSink(p), { ftype: f });
      const src = await openModel(p, engine);
      const a = await LlamaModel.open(engine, src, { nCtx: 16 });
      const la = await a.forward(t);
      // the same source without fileRows: every tensor through ModelTensor.readRows
      const b = await LlamaModel.open(engine, { ...src, tensors: src.tensors.map((x) => ({ name: x.name, ne: x.ne, type: x.type, readRows: x.readRows, readRawRows: x.readRawRows })) }, { nCtx: 16 });
      assert.ok(maxDiff(la, await b.forward(t)) === 0, `${f}: file reads == readRows`);
      a.dispose(); b.dispose(); await src.close?.();
      out[f] = la;
    }
    assert.ok(maxDiff(out.F32, await (await LlamaModel.open(engine, syntheticModel(DENSE), { nCtx: 16 })).forward(t)) < 1e-5, "F32 file == in-memory source");
    const d8 = maxDiff(out.F32, out.Q8_0), d16 = maxDiff(out.F32, out.F16);
    const range = out.F32.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    assert.ok(d8 > 0 && d8 < 0.25 * range,  `Q8_0 vs F32 ${d8} (logits up to ${range})`);
    assert.ok(d16 > 0 && d16 < d8, `F16 vs F32 ${d16}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("typed errors: token ids, context length, pos, missing tensor (named), unsupported arch, NaN in activations (layer + tensor), disposed", async () => {
  const src = syntheticModel(DENSE);
  const m = await LlamaModel.open(engine, src, { nCtx: 16 });
  await throwsCode(() => m.forward([1, 300]), "E_RANGE", /token id 300 at index 1/);
  await throwsCode(() => m.forward([1, -1]), "E_RANGE", /token id -1/);
  await throwsCode(() => m.forward([1, 2.5]), "E_RANGE");
  await throwsCode(() => m.forward([]), "E_SHAPE");
  await throwsCode(() => m.forward(toks(17)), "E_RANGE", /longer than nCtx = 16/);
  await m.forward(toks(4));
  await throwsCode(() => m.forward([5], { pos: 6 }), "E_RANGE", /beyond the 4 tokens/);
  await throwsCode(() => m.forward(toks(13), { pos: 4 }), "E_RANGE", /17 tokens.*nCtx = 16/);
  await throwsCode(() => m.generate(toks(10), 7), "E_RANGE", /exceeds nCtx/);
  const ac = new AbortController(); ac.abort();
  await throwsCode(() => m.forward(toks(3), { signal: ac.signal }), "E_ABORTED");
  await throwsCode(() => LlamaModel.open(engine, edit(src, (md) => md, ["blk.1.attn_k.weight"])), "E_FORMAT", /"blk\.1\.attn_k\.weight"/);
  await throwsCode(() => LlamaModel.open(engine, edit(src, (md) => md.map((e) => (e.key === "general.architecture" ? ggufKV(e.key, "str", "falcon") : e)))), "E_UNSUPPORTED", /falcon/);
  await throwsCode(() => LlamaModel.open(engine, edit(src, (md) => md.map((e) => (e.key === "llama.feed_forward_length" ? ggufKV(e.key, "u32", 97) : e)))), "E_SHAPE", /ffn_gate\.weight/);
  // NaN from a weight: reported at the first block output it reaches, by layer and tensor
  const bad = await LlamaModel.open(engine, src, { nCtx: 16, weightProvider: (n, ne) => (n === "blk.1.ffn_up.weight" ? new Float32Array(ne[0] * ne[1]).fill(NaN) : undefined) });
  const e = await throwsCode(() => bad.forward(toks(3)), "E_NONFINITE", /blk\.1\.ffn_down\.weight \(layer 1\)/);
  assert.is(e.details.layer, 1);
  const inf = await LlamaModel.open(engine, src, { nCtx: 16, weightProvider: (n, ne) => (n === "blk.0.attn_output.weight" ? new Float32Array(ne[0] * ne[1]).fill(3e38) : undefined) });
  await throwsCode(() => inf.forward(toks(3)), "E_NONFINITE", /attn_output\.weight \(layer 0\)/);
  bad.dispose(); inf.dispose();
  m.dispose();
  await throwsCode(() => m.forward([1]), "E_DISPOSED");
});

test.run();
