// Wanda checked against an independent reference, and FLAP bias compensation of structured pruning.
// 1. Wanda through quantizeModel's calibrated sweep on kjv3M (50% per row and 2:4) selects exactly the mask of the
//    paper's rule (Sun et al. 2023, wanda/lib/prune.py: W_metric = |W| · sqrt(scaler_row), scaler_row = Σ_t x_tj²,
//    per output row sort ascending and prune the first cols·sparsity; N:M: in every group of M input columns prune
//    the N lowest), computed here in float64 from the calibration inputs X dumped through the forward pass's hooks
//    (block l sees the outputs of the already-pruned blocks < l: a model made of the pruned file's blocks < l and
//    the dense blocks >= l). Prints the activation-norm spread max/median ‖X_j‖₂ per input.
// 2. Bias compensation: the bias written is W_down[:, removed] · E[h_removed] (recomputed here); with it block 0's
//    mean output over the calibration tokens equals the dense model's (the defining property), without it not;
//    llama.cpp (node-llama-cpp, f32 KV cache) loads the biased FFN -25% (llama) and heads -25% global (deci) files
//    and the engine's forward pass (which adds the biases) matches its logits. Typed errors. ../shared: SKIP. ~12 s.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { init, quantizeModel, openFileSink, openModel, LlamaModel, pruneMethod, pruneFfnChannels, pruneHeads, collectInputMeans, collectStats, Tokenizer, TensorshrinkError, syntheticModel, type ModelSource } from "../src/index";
import { openLlama2cModel } from "../src/model/convert";
import { SHARED } from "./_util";

const KJV = path.join(SHARED, "models/kjv3M");
const engine = await init({ threads: 1 });
const CTX = 128, CHUNKS = 2;
const code = (c: string) => (e: unknown) => e instanceof TensorshrinkError && e.code === c;
async function rejects(f: () => unknown, c: string, msg: string) { try { await f(); } catch (e) { assert.ok(code(c)(e), `${msg}: ${e}`); return; } assert.unreachable(`${msg}: did not throw`); }

/** Calibration chunks cut here (not with the library's helper): chunk i = tokens [i·ctx, (i+1)·ctx), first token BOS. */
const chunksOf = (tokens: Int32Array, bos: number) => Array.from({ length: CHUNKS }, (_, i) => { const c = tokens.slice(i * CTX, (i + 1) * CTX); c[0] = bos; return c; });

/** The paper's mask (1 = kept) in float64: per row the cols·sp lowest |W|·sqrt(Σx²) pruned, or per group of m the n lowest. */
function wandaRef(w: Float32Array, rows: number, cols: number, sumSq: Float64Array, sp: number | null, n = 0, m = 0): { mask: Uint8Array; nearTie: (r: number) => boolean } {
  const mask = new Uint8Array(rows * cols).fill(1), metric = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let j = 0; j < cols; j++) metric[r * cols + j] = Math.abs(w[r * cols + j]) * Math.sqrt(sumSq[j]);
  // prune the k lowest of metric[o .. o + len): everything at or below the k-th smallest value (exact f64 ties do not occur here)
  const pruneLowest = (o: number, len: number, k: number) => {
    if (k === 0) return;
    const kth = Float64Array.from(metric.subarray(o, o + len)).sort()[k - 1];
    for (let j = o; j < o + len; j++) if (metric[j] <= kth) mask[j] = 0;
  };
  for (let r = 0; r < rows; r++) {
    if (sp !== null) pruneLowest(r * cols, cols, Math.floor(cols * sp));
    else for (let g = 0; g < cols; g += m) pruneLowest(r * cols + g, m, n);
  }
  // a row whose k-th and (k+1)-th smallest metrics (of the row or of a group) agree to f32 precision may legitimately differ
  const nearTie = (r: number) => {
    const close = (v: number[], k: number) => Math.abs(v[k] - v[k - 1]) <= 1e-6 * Math.max(v[k], 1e-30);
    if (sp !== null) { const v = Array.from(metric.subarray(r * cols, (r + 1) * cols)).sort((a, b) => a - b); return close(v, Math.floor(cols * sp)); }
    for (let g = 0; g < cols; g += m) { const v = Array.from(metric.subarray(r * cols + g, r * cols + g + m)).sort((a, b) => a - b); if (close(v, n)) return true; }
    return false;
  };
  return { mask, nearTie };
}

if (!existsSync(path.join(KJV, "kjv3M.bin"))) {
  console.log("SKIP: ../shared/models/kjv3M not found (the Wanda reference and bias-compensation tests need it)");
} else {
  const src = await openLlama2cModel(path.join(KJV, "kjv3M.bin"), path.join(KJV, "tok512.bin"));
  const tok = Tokenizer.fromGguf({ kv: new Map(src.metadata.map((kv) => [kv.key, kv])) });
  const tokens = Int32Array.from(tok.encode(readFileSync(path.join(KJV, "calib.txt"), "utf8"), { addBos: true }));
  const tmp = mkdtempSync(path.join(tmpdir(), "ts-wanda-ref-"));

  test("Wanda = the paper's |W|·sqrt(Σx²) per-row (50%) and N:M (2:4) masks, on the sweep's own inputs", async () => {
    for (const [label, sp] of [["50%", 0.5], ["2:4", null]] as [string, number | null][]) {
      const target = sp !== null ? { sparsity: sp } : { nm: "2:4" };
      const masks = new Map<string, Uint8Array>();
      const f = path.join(tmp, "wanda.gguf");
      await quantizeModel(engine, src, await openFileSink(f), { ftype: "F16", methods: [pruneMethod({ method: "wanda", ...target, onMask: (name, mk) => masks.set(name, mk.slice()) })], calibration: { tokens, ctx: CTX, chunks: CHUNKS } });
      const pruned = await openModel(f, engine);
      const prunedBy = new Map(pruned.tensors.map((t) => [t.name, t]));
      const nLayer = src.hparams.nLayer;
      let checked = 0, weights = 0, tieRows = 0;
      const spread: string[] = [];
      // block l sees what the sweep fed it: the embeddings through the pruned blocks < l; its inputs X are those of the
      // dense block l on that stream (dumped through the forward pass's linearInput hook, Σx² per column in f64)
      const denseM = await LlamaModel.open(engine, src, { nCtx: CTX }), prunedM = await LlamaModel.open(engine, pruned, { nCtx: CTX });
      const streams = await Promise.all(chunksOf(tokens, denseM.config.bos).map((c) => denseM.embed(c)));
      for (let l = 0; l < nLayer; l++) {
        const sums = new Map<string, Float64Array>();
        for (let k = 0; k < streams.length; k++) {
          await denseM.runBlock(l, streams[k], { hooks: { linearInput(ev) {
            let s = sums.get(ev.tensors[0]);
            if (!s) { s = new Float64Array(ev.cols); for (const t of ev.tensors) sums.set(t, s); }
            for (let r = 0; r < ev.rows; r++) for (let j = 0; j < ev.cols; j++) { const v = ev.x[r * ev.cols + j]; s[j] += v * v; }
          } } });
          streams[k] = await prunedM.runBlock(l, streams[k]);
        }
        for (const t of src.tensors) {
          if (!t.name.startsWith(`blk.${l}.`) || t.ne.length !== 2) continue;
          const cols = t.ne[0], rows = t.ne[1], w = await t.readRows(0, rows), ss = sums.get(t.name)!;
          const got = masks.get(t.name)!;
          assert.ok(got && ss, `${t.name}: mask and inputs`);
          const ref = wandaRef(w, rows, cols, ss, sp, 2, 4);
          for (let r = 0; r < rows; r++) {
            let diff = 0;
            for (let j = 0; j < cols; j++) if (got[r * cols + j] !== ref.mask[r * cols + j]) diff++;
            if (diff) { assert.ok(ref.nearTie(r), `${t.name} row ${r}: ${diff} mask entries differ from the reference without a near-tie`); tieRows++; }
          }
          // the pruned (F16) file holds W ⊙ mask: exact zeros where pruned, f16(W) where kept
          const pw = await prunedBy.get(t.name)!.readRows(0, rows);
          for (let i = 0; i < w.length; i++) {
            const ok = got[i] ? Math.abs(pw[i] - w[i]) <= 1e-3 * Math.abs(w[i]) + 6e-8 : pw[i] === 0;
            if (!ok) assert.unreachable(`${t.name}[${i}]: file ${pw[i]}, W ${w[i]}, mask ${got[i]}`);
          }
          checked++; weights += w.length;
          if (/attn_q|attn_output|ffn_gate|ffn_down/.test(t.name) && sp !== null) {
            const nrm = Array.from(ss, Math.sqrt).sort((a, b) => a - b);
            spread.push(`${t.name.replace(/\.weight$/, "").replace(/attn_q$/, "attn_qkv").replace(/ffn_gate$/, "ffn_gate_up")} ${(nrm[cols - 1] / nrm[cols >> 1]).toFixed(2)}`);
          }
        }
      }
      denseM.dispose(); prunedM.dispose();
      await pruned.close?.();
      console.log(`  wanda ${label}: ${checked} tensors, ${weights} weights equal to the float64 reference (${tieRows} rows with f32 near-ties)`);
      if (spread.length) console.log(`  max/median ‖X_j‖₂: ${spread.join(", ")}`);
      assert.is(checked, 7 * nLayer);
      assert.ok(tieRows <= 2, `near-tie rows ${tieRows}`);
    }
  });

  let calib: Promise<{ stats: Awaited<ReturnType<typeof collectStats>>; means: Awaited<ReturnType<typeof collectInputMeans>> }> | null = null;
  const statsAndMeans = () => (calib ??= (async () => {
    const m = await LlamaModel.open(engine, src, { nCtx: CTX });
    try { return { stats: await collectStats(engine, m, tokens, { ctx: CTX, chunks: CHUNKS }), means: await collectInputMeans(engine, m, tokens, { ctx: CTX, chunks: CHUNKS }) }; } finally { m.dispose(); }
  })());

  test("bias compensation: the bias is W_removed · E[x_removed]; block 0 keeps the dense mean output; typed errors", async () => {
    const { stats, means } = await statsAndMeans();
    const plain = await pruneFfnChannels(src, 0.25, stats), comp = await pruneFfnChannels(src, 0.25, stats, { biasCompensation: means });
    assert.equal(comp.kept.map((k) => k.length), plain.kept.map((k) => k.length));
    const d = src.tensors.find((t) => t.name === "blk.0.ffn_down.weight")!, nFf = d.ne[0], C = d.ne[1], D = await d.readRows(0, C), mu = means.get(d.name)!;
    const b = await comp.source.tensors.find((t) => t.name === "blk.0.ffn_down.bias")!.readRows(0, 1);
    const keep = new Set(comp.kept[0]);
    let maxErr = 0, norm = 0;
    for (let i = 0; i < C; i++) { let s = 0; for (let c = 0; c < nFf; c++) if (!keep.has(c)) s += D[i * nFf + c] * mu[c]; maxErr = Math.max(maxErr, Math.abs(s - b[i])); norm = Math.max(norm, Math.abs(s)); }
    assert.ok(maxErr <= 1e-5 * norm && norm > 1e-3, `bias vs W_removed·mean: ${maxErr} (max |b| ${norm})`);
    assert.is(comp.source.tensors.filter((t) => t.name.endsWith(".ffn_down.bias")).length, src.hparams.nLayer);
    // block 0: E[output] of the compensated model = dense (same attention; the FFN output mean is kept by construction)
    const meanOut0 = async (s: ModelSource) => {
      const mm = await LlamaModel.open(engine, s, { nCtx: CTX }), acc = new Float64Array(C);
      let rows = 0;
      for (const c of chunksOf(tokens, mm.config.bos)) await mm.forward(c, { pos: 0, logits: "none", hooks: { layer(ev) { if (ev.layer !== 0) return; for (let t = 0; t < ev.T; t++) for (let j = 0; j < C; j++) acc[j] += ev.output[t * C + j]; rows += ev.T; } } });
      mm.dispose();
      return acc.map((v) => v / rows);
    };
    const dense = await meanOut0(src), withB = await meanOut0(comp.source), without = await meanOut0(plain.source);
    const dist = (a: Float64Array) => Math.sqrt(a.reduce((s, v, j) => s + (v - dense[j]) ** 2, 0));
    console.log(`  block 0 mean output vs dense: ‖Δ‖ ${dist(withB).toExponential(2)} with bias, ${dist(without).toExponential(2)} without`);
    assert.ok(dist(withB) < 1e-3 * dist(without), `bias keeps the mean: ${dist(withB)} vs ${dist(without)}`);
    // typed errors: no means, wrong length, an architecture llama.cpp loads no such bias for
    await rejects(() => pruneFfnChannels(src, 0.25, stats, { biasCompensation: new Map() }), "E_IMATRIX", "no means");
    await rejects(() => pruneHeads(src, 0.25, stats, { biasCompensation: new Map([["blk.0.attn_output.weight", new Float64Array(3)]]) }), "E_IMATRIX", "short means");
    const syn = syntheticModel({ nLayer: 1, nEmbd: 32, nFf: 64, nHead: 4, nHeadKv: 4, nVocab: 40 });
    const qwen: ModelSource = { ...syn, metadata: syn.metadata.map((kv) => (kv.key === "general.architecture" ? { ...kv, value: "qwen3" } : kv)) };
    await rejects(() => pruneFfnChannels(qwen, 0.25, null, { biasCompensation: new Map() }), "E_UNSUPPORTED", "qwen3");
  });

  test("llama.cpp loads the biased FFN -25% (llama) and heads -25% global (deci) files; our forward matches its logits", async () => {
    const nlc: any = await import("node-llama-cpp");
    const llama = await nlc.getLlama({ gpu: false, build: "never", skipDownload: true, logLevel: "error" });
    const { stats, means } = await statsAndMeans();
    const variants: [string, string, ModelSource, ModelSource][] = [
      ["ffn25", "llama", (await pruneFfnChannels(src, 0.25, stats, { biasCompensation: means })).source, (await pruneFfnChannels(src, 0.25, stats)).source],
      ["heads25g", "deci", (await pruneHeads(src, 0.25, stats, { scope: "global", biasCompensation: means })).source, (await pruneHeads(src, 0.25, stats, { scope: "global" })).source],
    ];
    for (const [label, arch, biased, plain] of variants) {
      assert.is(String(biased.metadata.find((k) => k.key === "general.architecture")!.value), arch);
      const f = path.join(tmp, `${label}.gguf`);
      await quantizeModel(engine, biased, await openFileSink(f), { ftype: "F32" });
      const model = await llama.loadModel({ modelPath: f, gpuLayers: 0 });
      const ctx = await model.createContext({ contextSize: CTX, batchSize: CTX, threads: 2, flashAttention: false, experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32" });
      const seq = ctx.getSequence();
      const ours = await LlamaModel.open(engine, f, { nCtx: CTX }), noBias = await LlamaModel.open(engine, plain, { nCtx: CTX });
      assert.ok(ours.config.attnOutBias || ours.config.ffnDownBias, `${label}: the engine sees the bias`);
      const V = ours.config.nVocab;
      let dmax = 0, dBias = 0, agree = 0, n = 0;
      for (let s = 0; s < 2; s++) {
        const toks = [1, ...Array.from({ length: 40 }, (_, i) => 3 + ((i * 37 + s * 101) % 500))];
        await seq.clearHistory();
        const res = await seq.controlledEvaluate(toks.map((t) => [t, { generateNext: { logits: true } }]));
        const mine = await ours.forward(toks), other = await noBias.forward(toks);
        for (let i = 0; i < toks.length; i++) {
          const ref = new Float32Array(V);
          for (const [k, v] of res[i].next.logits as Map<number, number>) ref[k] = v;
          let am = 0, bm = 0;
          for (let j = 0; j < V; j++) {
            dmax = Math.max(dmax, Math.abs(ref[j] - mine[i * V + j])); dBias = Math.max(dBias, Math.abs(other[i * V + j] - mine[i * V + j]));
            if (ref[j] > ref[am]) am = j; if (mine[i * V + j] > mine[i * V + bm]) bm = j;
          }
          if (am === bm) agree++;
          n++;
        }
      }
      ours.dispose(); noBias.dispose(); await ctx.dispose(); await model.dispose();
      console.log(`  ${label} (${arch}) + bias: max |Δlogit| vs llama.cpp ${dmax.toExponential(2)}, argmax ${agree}/${n}; the bias moves logits by up to ${dBias.toFixed(3)}`);
      assert.ok(dmax <= 2e-3, `${label}: max |Δlogit| ${dmax}`);
      assert.ok(agree >= n - 1, `${label}: argmax ${agree}/${n}`);
      assert.ok(dBias > 50 * dmax, `${label}: the bias must matter (${dBias} vs tolerance ${dmax})`);
    }
  });

  test.after(async () => { await src.close?.(); rmSync(tmp, { recursive: true, force: true }); });
}

test.run();
