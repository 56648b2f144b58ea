// The engine's forward pass on Gemma 2 (√n_embd embedding scale, post-attention / post-FFN norms, GELU(tanh)
// gated FFN, attention and final logit soft-capping, sliding-window attention on even layers), Gemma 3 (q/k
// norms, 5 local : 1 global layers with a local rope base 10000 and a global 1e6, head_dim ≠ n_embd / n_head)
// and Phi-3 (fused attn_qkv, gate_up ffn_up) against llama.cpp (node-llama-cpp) on the same GGUF and tokens:
// synthetic HF directories converted to F32, and Q4_K_M quantized from it. llama.cpp set-up: f32 KV cache, no
// flash attention; sequences of 48 tokens cross the 8-token window. Bounds: F32 perplexity within 0.05% and
// argmax equal at ≥ 99.9% of positions (exact GELU; with activations "llama.cpp", llama.cpp's f16 GELU
// table, max |Δlogit| ≤ 2e-4 of the largest logit); Q4_K_M as test/66: ppl within 0.5%, argmax ≥ 98%.
// Plus the kernels against their scalar twins, and one calibration pass (collectStats) per architecture.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { init, quantizeModel, openFileSink, openModel, LlamaModel } from "../src/index";
import { collectStats } from "../src/calib/collect";
import { filesResolver } from "../src/formats/source";
import { convertToGguf } from "../src/model/convert";
import { gemmaPhiLayout, vocabSizeOf, type GemmaPhiOptions } from "./_hf-gemma-phi";
import { rng } from "./_util";
import { score } from "./_forward-score";

const THREADS = 2;
const engine = await init({ threads: 1 });
const tmp = mkdtempSync(path.join(tmpdir(), "ts-archs-fwd2-"));
test.after(() => { engine.dispose(); rmSync(tmp, { recursive: true, force: true }); });
const ex = engine.exports as any;
const C0 = { u: process.cpuUsage() };
test.before.each(() => { C0.u = process.cpuUsage(); });
test.after.each(() => { if (process.env.TS_TIMES) { const d = process.cpuUsage(C0.u); console.log(`  (cpu ${((d.user + d.system) / 1e6).toFixed(1)} s)`); } });

// ---------------------------------------------------------------- kernels vs _ref
function buf(vals: Float32Array): number { const p = engine.alloc(vals.length * 4); new Float32Array(ex.memory.buffer, p, vals.length).set(vals); return p; }
const view = (p: number, n: number) => new Float32Array(ex.memory.buffer, p, n).slice();
function relClose(a: Float32Array, b: Float32Array, tol: number, what: string) {
  let m = 0, d = 0;
  for (let i = 0; i < a.length; i++) { m = Math.max(m, Math.abs(b[i]!)); d = Math.max(d, Math.abs(a[i]! - b[i]!)); }
  assert.ok(d <= tol * Math.max(m, 1e-30), `${what}: max |Δ| ${d} vs max |v| ${m}`);
}

test("geglu / softcap / scale kernels agree with their _ref twins (tails, several SIMD iterations, both GELU modes)", () => {
  const r = rng(5, 1);
  for (const n of [1, 3, 4, 7, 37, 1030]) {
    const x = Float32Array.from({ length: n }, (_, i) => (i % 11 === 0 ? (i % 2 ? 12 : -12) : r.gauss() * 3)), u = Float32Array.from({ length: n }, () => r.gauss());
    const px = buf(x), pu = buf(u), po = engine.alloc(n * 4), pr = engine.alloc(n * 4);
    try {
      ex.geglu_forward(po, px, pu, n, 0); ex.geglu_forward_ref(pr, px, pu, n, 0);
      relClose(view(po, n), view(pr, n), 1e-6, `geglu n=${n}`);
      // the exact tanh form: 0.5 x (1 + tanh(√(2/π)(x + 0.044715 x³))) · u
      const want = Float32Array.from(x, (v, i) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3))) * u[i]!);
      relClose(view(pr, n), want, 1e-5, `geglu_ref n=${n} vs the formula`);
      ex.geglu_forward(po, px, pu, n, 1); ex.geglu_forward_ref(pr, px, pu, n, 1);
      assert.equal(view(po, n), view(pr, n), `geglu f16 n=${n}`);
      relClose(view(pr, n), want, 2e-3, `geglu f16 n=${n} close to exact`);
      ex.softcap_forward(po, px, n, 5); ex.softcap_forward_ref(pr, px, n, 5);
      relClose(view(po, n), view(pr, n), 1e-6, `softcap n=${n}`);
      relClose(view(pr, n), Float32Array.from(x, (v) => 5 * Math.tanh(v / 5)), 1e-6, `softcap_ref n=${n} vs 5·tanh(x/5)`);
      ex.scale_forward(po, px, n, 16); ex.scale_forward_ref(pr, px, n, 16);
      assert.equal(view(po, n), view(pr, n));
      assert.equal(view(po, n), Float32Array.from(x, (v) => v * 16));
    } finally { for (const p of [px, pu, po, pr]) engine.free(p); }
  }
});

test("attention_ext: = attention_forward without cap/window; _ref twin with soft-capping and a sliding window; keys outside the window do not matter", () => {
  const r = rng(6, 2);
  for (const [T, pos, nH, nKv, hd, win] of [[5, 0, 2, 1, 6, 3], [9, 4, 4, 2, 16, 5], [1, 30, 2, 2, 8, 8], [12, 0, 3, 1, 12, 0]] as const) {
    const n = pos + T, kvS = nKv * hd;
    const q = Float32Array.from({ length: T * nH * hd }, () => r.gauss()), k = Float32Array.from({ length: n * kvS }, () => r.gauss()), v = Float32Array.from({ length: n * kvS }, () => r.gauss());
    const pq = buf(q), pk = buf(k), pv = buf(v), att = engine.alloc(n * 4), o1 = engine.alloc(T * nH * hd * 4), o2 = engine.alloc(T * nH * hd * 4);
    try {
      const sc = 1 / Math.sqrt(hd), N = T * nH * hd;
      ex.attention_forward(o1, pq, pk, pv, att, T, pos, nH, nKv, hd, kvS, 0);
      ex.attention_ext_forward(o2, pq, pk, pv, att, T, pos, nH, nKv, hd, kvS, 0, sc, 0, 0);
      relClose(view(o2, N), view(o1, N), 1e-6, "ext = plain");
      ex.attention_ext_forward(o1, pq, pk, pv, att, T, pos, nH, nKv, hd, kvS, 0, sc, 1.5, win);
      ex.attention_ext_forward_ref(o2, pq, pk, pv, att, T, pos, nH, nKv, hd, kvS, 0, sc, 1.5, win);
      const a = view(o1, N);
      relClose(a, view(o2, N), 1e-5, `ext vs ref T=${T} pos=${pos} win=${win}`);
      ex.attention_ext_forward(o1, pq, pk, pv, att, T, pos, nH, nKv, hd, kvS, 1, sc, 1.5, win);
      ex.attention_ext_forward_ref(o2, pq, pk, pv, att, T, pos, nH, nKv, hd, kvS, 1, sc, 1.5, win);
      relClose(view(o1, N), view(o2, N), 1e-3, "probs f16");
      if (win > 0 && pos + 1 > win) {
        // row 0 of the keys/values is outside every window of the last token: changing it changes nothing there
        new Float32Array(ex.memory.buffer, pk, kvS).fill(9); new Float32Array(ex.memory.buffer, pv, kvS).fill(9);
        ex.attention_ext_forward(o1, pq, pk, pv, att, T, pos, nH, nKv, hd, kvS, 0, sc, 1.5, win);
        const last = (x: Float32Array) => x.subarray((T - 1) * nH * hd);
        assert.equal(last(view(o1, N)), last(a), "masked keys ignored");
      }
    } finally { for (const p of [pq, pk, pv, att, o1, o2]) engine.free(p); }
  }
});

// ---------------------------------------------------------------- the forward pass vs llama.cpp
const nlc: any = await import(process.env.TENSORSHRINK_NODE_LLAMA_CPP || "node-llama-cpp");
const llama = await nlc.getLlama({ gpu: false, build: "never", skipDownload: true, logLevel: "error" });

const SHAPES: Record<string, GemmaPhiOptions> = {
  gemma2: { arch: "gemma2", nLayer: 2, nEmbd: 256, nFf: 256, nHead: 4, nHeadKv: 2, headDim: 64, tied: true, attnSoftcap: 5, finalSoftcap: 10, window: 8, seed: 41 },
  gemma3: { arch: "gemma3", nLayer: 6, nEmbd: 256, nFf: 256, nHead: 2, nHeadKv: 1, headDim: 128, tied: true, finalSoftcap: 10, window: 8, ropeLinear: 8, seed: 42 },
  phi3: { arch: "phi3", nLayer: 2, nEmbd: 256, nFf: 256, nHead: 4, nHeadKv: 2, tied: false, seed: 43 },
};

async function llamaCppLogits(file: string, seqs: number[][]): Promise<Float32Array[]> {
  const model = await llama.loadModel({ modelPath: file, gpuLayers: 0 });
  const ctx = await model.createContext({ contextSize: 64, batchSize: 64, threads: THREADS, flashAttention: false, experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32" });
  try {
    const seq = ctx.getSequence(), V = model.fileInfo.metadata.tokenizer.ggml.tokens.length, logits: Float32Array[] = [];
    for (const s of seqs) {
      await seq.clearHistory();
      const res = await seq.controlledEvaluate(s.map((t) => [t, { generateNext: { logits: true } }]));
      const out = new Float32Array(s.length * V);
      for (let i = 0; i < s.length; i++) for (const [k, v] of res[i].next.logits as Map<number, number>) out[i * V + k] = v;
      logits.push(out);
    }
    return logits;
  } finally {
    await ctx.dispose(); await model.dispose();
  }
}


for (const [name, o] of Object.entries(SHAPES)) {
  test(`${name}: forward pass agrees with llama.cpp (F32, and Q4_K_M with llama.cpp's activation rounding)`, async () => {
    const f32 = path.join(tmp, `${name}-F32.gguf`), q4 = path.join(tmp, `${name}-Q4_K_M.gguf`);
    await convertToGguf({ hf: filesResolver(gemmaPhiLayout(o)) }, await openFileSink(f32), { ftype: "F32" });
    const src = await openModel(f32, engine);
    try { await quantizeModel(engine, src, await openFileSink(q4), { ftype: "Q4_K_M" }); } finally { await src.close?.(); }
    const r = rng(o.seed ?? 1, 5), V = vocabSizeOf(o);
    const seqs = Array.from({ length: 2 }, () => Array.from({ length: 48 }, () => Math.floor(r.uniform() * V)));
    // (activations "llama.cpp" changes nothing in F32 for Phi-3: no GELU, f32 weights)
    const cases = ([[f32, "F32", {}, 5e-4, 0.999], [f32, "F32 activations llama.cpp", { activations: "llama.cpp" }, 5e-4, 0.999], [q4, "Q4_K_M", { activations: "llama.cpp" }, 5e-3, 0.98]] as const).filter((c) => name !== "phi3" || c[1] !== "F32 activations llama.cpp");
    const ref: Record<string, Float32Array[]> = { [f32]: await llamaCppLogits(f32, seqs), [q4]: await llamaCppLogits(q4, seqs) };
    for (const [file, tag, opts, pplB, top1B] of cases) {
      const ours = await LlamaModel.open(engine, file, { nCtx: 64, ...opts });
      try {
        assert.is(ours.config.arch, name);
        assert.is(ours.config.ropeType, "neox");
        assert.is(ours.config.nVocab, V);
        if (name !== "phi3") assert.equal(ours.config.swa, Array.from({ length: o.nLayer }, (_, l) => (name === "gemma2" ? l % 2 === 0 : l % 6 < 5)));
        const mine: Float32Array[] = [];
        for (const s of seqs) mine.push(await ours.forward(s));
        const sc = score(seqs, ref[file]!, mine, V);
        console.log(`  ${name} ${tag}: ppl llama.cpp ${sc.pplLlama.toFixed(4)} ours ${sc.pplOurs.toFixed(4)} (rel ${sc.pplRel.toExponential(2)}), argmax ${(100 * sc.top1).toFixed(2)}% of ${sc.positions}, max |Δlogit| ${sc.dlogit.toExponential(2)} (largest ${sc.maxLogit.toFixed(2)})`);
        assert.ok(sc.pplRel <= pplB, `${name} ${tag}: perplexity rel ${sc.pplRel}`);
        assert.ok(sc.top1 >= top1B, `${name} ${tag}: argmax ${sc.top1}`);
        const dB = tag === "Q4_K_M" ? 0.05 : tag === "F32" && name !== "phi3" ? 2e-3 : 2e-4;
        assert.ok(sc.dlogit <= dB * sc.maxLogit, `${name} ${tag}: max |Δlogit| ${sc.dlogit} (largest logit ${sc.maxLogit})`);
        // layer by layer (embed → runBlock → head) is the same computation as forward()
        if (tag === "F32") {
          let x = await ours.embed(seqs[0]!);
          for (let l = 0; l < o.nLayer; l++) x = await ours.runBlock(l, x);
          assert.equal(await ours.head(x), mine[0]);
        }
      } finally {
        ours.dispose();
      }
    }
  });
}

test("calibration: collectStats sees every linear input of each architecture (fused attn_qkv / ffn_up for Phi-3)", async () => {
  for (const [name, o] of Object.entries(SHAPES)) {
    const m = await LlamaModel.open(engine, path.join(tmp, `${name}-F32.gguf`), { nCtx: 32 });
    try {
      const r = rng(7, 3), toks = Array.from({ length: 64 }, () => Math.floor(r.uniform() * 300));
      const st = await collectStats(engine, m, toks, { ctx: 32, gram: [`blk.0.${name === "phi3" ? "attn_qkv" : "attn_q"}.weight`] });
      const names = (name === "phi3" ? ["attn_qkv", "attn_output", "ffn_up", "ffn_down"] : ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"]);
      for (let l = 0; l < o.nLayer; l++) for (const t of names) assert.ok(st.get(`blk.${l}.${t}.weight`), `${name}: blk.${l}.${t}.weight has statistics`);
      assert.is(st.inputs.length, o.nLayer * (name === "phi3" ? 4 : 4));
      const down = st.get("blk.1.ffn_down.weight")!;
      assert.is(down.cols, o.nFf);
      assert.equal(Array.from(down.counts), [64]);
      const g = st.get(`blk.0.${name === "phi3" ? "attn_qkv" : "attn_q"}.weight`)!;
      assert.ok(g.gram && g.gram.length === o.nEmbd * o.nEmbd && g.gram.every(Number.isFinite));
      assert.ok(down.sumSq.every((v) => v > 0 && Number.isFinite(v)));
      assert.is(st.blockInfluence.length, o.nLayer);
    } finally {
      m.dispose();
    }
  }
});

test.run();
