// The engine's forward pass against llama.cpp (node-llama-cpp, same GGUF, same tokens): stories260K and
// kjv3M converted to F32 GGUF, plus Q8_0 and Q4_K_M quantized from it (byte-identical to llama-quantize),
// and an 8-expert synthetic MoE. Per file: perplexity (same tokens), argmax agreement over every position,
// max |Δlogit|. Two llama.cpp set-ups:
//   exact:   f32 KV cache, no flash attention  vs ours with the f32 cache; quantized files with
//            activations: "llama.cpp" (activations rounded to q8_0 / q8_K / f16 as ggml's vec_dot does)
//   default: llama.cpp's defaults (f16 KV cache, flash attention auto)  vs ours with kvF16
// and greedy "Once upon a time" on stories260K reproduces llama.cpp's text. Bounds = measured × ~2
// (figures in README "Running models"). Reads ../shared/models; prints SKIP when absent. ~40 s on 2 cores.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { init, syntheticModel, quantizeModel, openFileSink, openModel, LlamaModel, type LlamaOpenOptions } from "../src/index";
import { openLlama2cModel } from "../src/model/convert";
import { splitDocuments } from "../src/eval/llama";
import { SHARED } from "./_util";

const S260 = path.join(SHARED, "models/stories260K"), KJV = path.join(SHARED, "models/kjv3M");
const have = existsSync(path.join(S260, "stories260K.bin")) && existsSync(path.join(KJV, "kjv3M.bin"));
const THREADS = 2;
const REFERENCE = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park.";

/**
 * Bounds per (model, ftype, set-up): max |Δlogit|, |ppl ratio - 1|, argmax agreement.
 * exact F32: only summation order differs (f32 everywhere) → 1e-4-level logits, ppl 1e-6.
 * quantized exact: ggml sums integer block products then scales; ours sums f32 products of the same
 * values → 1e-3-level. default: llama.cpp's f16 flash-attention accumulation is not emulated → 1e-2-level.
 */
const BOUNDS: Record<string, { dlogit: number; ppl: number; top1: number; exact?: number }> = {
  "exact F32": { dlogit: 2e-4, ppl: 1e-5, top1: 0.999, exact: 0.99 },
  "exact Q8_0": { dlogit: 0.6, ppl: 5e-3, top1: 0.98, exact: 0.1 },
  "exact Q4_K_M": { dlogit: 0.6, ppl: 5e-3, top1: 0.98, exact: 0.1 },
  "exact Q8_0 f32 act": { dlogit: 0.8, ppl: 8e-3, top1: 0.98 },
  "exact Q4_K_M f32 act": { dlogit: 0.8, ppl: 8e-3, top1: 0.98 },
  "default F32": { dlogit: 0.05, ppl: 5e-4, top1: 0.995 },
  "exact MoE": { dlogit: 2e-4, ppl: 1e-5, top1: 0.999, exact: 0.99 },
};

if (!have) {
  console.log("SKIP: ../shared/models/stories260K and kjv3M not found (the llama.cpp agreement test needs them)");
  test.run();
} else {
  const nlc: any = await import(process.env.TENSORSHRINK_NODE_LLAMA_CPP || "node-llama-cpp");
  const llama = await nlc.getLlama({ gpu: false, build: "never", skipDownload: true, logLevel: "error" });
  const engine = await init({ threads: 1 });
  const tmp = mkdtempSync(path.join(tmpdir(), "ts-forward-"));
  test.after(() => { engine.dispose(); rmSync(tmp, { recursive: true, force: true }); });
  const file = (m: string, f: string) => path.join(tmp, `${m}-${f}.gguf`);
  const results: string[] = [];

  async function convert(name: string, dir: string) {
    const src = await openLlama2cModel(path.join(dir, `${name}.bin`), path.join(dir, "tok512.bin"));
    try { await quantizeModel(engine, src, await openFileSink(file(name, "F32")), { ftype: "F32" }); } finally { await src.close(); }
    for (const f of ["Q8_0", "Q4_K_M"]) {
      const s = await openModel(file(name, "F32"), engine);
      try { await quantizeModel(engine, s, await openFileSink(file(name, f)), { ftype: f }); } finally { await s.close?.(); }
    }
  }

  async function llamaCpp(p: string, ctx: number, exact: boolean) {
    const model = await llama.loadModel({ modelPath: p, gpuLayers: 0 });
    const context = await model.createContext({ contextSize: ctx, batchSize: ctx, threads: THREADS, ...(exact ? { flashAttention: false, experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32" } : {}) });
    const seq = context.getSequence();
    const V = model.tokens && model.fileInfo.metadata.tokenizer.ggml.tokens.length;
    return {
      model, V,
      async logits(tokens: number[]): Promise<Float32Array> {
        await seq.clearHistory();
        const res = await seq.controlledEvaluate(tokens.map((t) => [t, { generateNext: { logits: true } }]));
        const out = new Float32Array(tokens.length * V);
        for (let i = 0; i < tokens.length; i++) for (const [k, v] of res[i].next.logits as Map<number, number>) out[i * V + k] = v;
        return out;
      },
      async dispose() { await context.dispose(); await model.dispose(); },
    };
  }

  /**
   * Scores every position of every sequence with llama.cpp and with ours under each option set; returns one
   * comparison per option set. llama.cpp's context is 512 (larger than any sequence: a full context makes
   * node-llama-cpp shift it at the last token).
   */
  async function compare(label: string, p: string, seqs: number[][], ctx: number, exact: boolean, variants: [string, LlamaOpenOptions][]) {
    const ref = await llamaCpp(p, 512, exact);
    const refLogits: Float32Array[] = [];
    for (const s of seqs) refLogits.push(await ref.logits(s));
    await ref.dispose();
    const out: Record<string, ReturnType<typeof score>> = {};
    for (const [vname, opts] of variants) {
      const ours = await LlamaModel.open(engine, p, { nCtx: ctx, ...opts });
      assert.is(ref.V, ours.config.nVocab);
      const ourLogits: Float32Array[] = [];
      for (const s of seqs) ourLogits.push(await ours.forward(s));
      ours.dispose();
      const r = score(seqs, refLogits, ourLogits, ref.V);
      out[vname] = r;
      results.push(`${label} ${vname}: ppl llama.cpp ${r.pplLlama.toFixed(5)} ours ${r.pplOurs.toFixed(5)} (rel ${r.pplRel.toExponential(2)}), argmax ${(100 * r.top1).toFixed(2)}% of ${r.positions}, max |Δlogit| ${r.dlogit.toExponential(2)}, positions with max |Δ| <= 1e-4: ${(100 * r.exactFrac).toFixed(1)}%`);
      console.log("  " + results[results.length - 1]);
    }
    return out;
  }
  function score(seqs: number[][], A: Float32Array[], B: Float32Array[], V: number) {
    let nllA = 0, nllB = 0, n = 0, agree = 0, pos = 0, dmax = 0, exact = 0;
    const lse = (x: Float32Array, o: number) => { let m = -Infinity; for (let j = 0; j < V; j++) m = Math.max(m, x[o + j]); let s = 0; for (let j = 0; j < V; j++) s += Math.exp(x[o + j] - m); return m + Math.log(s); };
    const am = (x: Float32Array, o: number) => { let b = 0; for (let j = 1; j < V; j++) if (x[o + j] > x[o + b]) b = j; return b; };
    seqs.forEach((s, k) => {
      const a = A[k], b = B[k];
      for (let i = 0; i < s.length; i++) {
        const o = i * V;
        let d = 0;
        for (let j = 0; j < V; j++) d = Math.max(d, Math.abs(a[o + j] - b[o + j]));
        dmax = Math.max(dmax, d);
        if (d <= 1e-4) exact++;
        if (am(a, o) === am(b, o)) agree++;
        pos++;
        if (i + 1 < s.length) { nllA += lse(a, o) - a[o + s[i + 1]]; nllB += lse(b, o) - b[o + s[i + 1]]; n++; }
      }
    });
    const pa = Math.exp(nllA / n), pb = Math.exp(nllB / n);
    return { pplLlama: pa, pplOurs: pb, pplRel: Math.abs(pb / pa - 1), top1: agree / pos, dlogit: dmax, exactFrac: exact / pos, positions: pos };
  }
  function within(r: ReturnType<typeof score>, key: string) {
    const b = BOUNDS[key];
    assert.ok(r.dlogit <= b.dlogit, `${key}: max |Δlogit| ${r.dlogit} > ${b.dlogit}`);
    assert.ok(r.pplRel <= b.ppl, `${key}: perplexity rel ${r.pplRel} > ${b.ppl}`);
    assert.ok(r.top1 >= b.top1, `${key}: argmax ${r.top1} < ${b.top1}`);
    if (b.exact !== undefined) assert.ok(r.exactFrac >= b.exact, `${key}: positions within 1e-4 ${r.exactFrac} < ${b.exact}`);
  }

  let s260Seqs: number[][] = [], kjvSeqs: number[][] = [];

  test("convert stories260K and kjv3M to F32 / Q8_0 / Q4_K_M GGUF; tokenize with llama.cpp", async () => {
    await convert("stories260K", S260);
    await convert("kjv3M", KJV);
    const tok = await llama.loadModel({ modelPath: file("stories260K", "F32"), gpuLayers: 0 });
    const bos = tok.tokens.bos;
    s260Seqs = splitDocuments(readFileSync(path.join(S260, "tinystories_sample.txt"), "utf8")).slice(0, 2).map((d) => [bos, ...tok.tokenize(d)].slice(0, 200));
    kjvSeqs = splitDocuments(readFileSync(path.join(KJV, "eval.txt"), "utf8")).slice(0, 12).map((d) => [bos, ...tok.tokenize(d)].slice(0, 128));
    await tok.dispose();
    assert.ok(s260Seqs.length === 2 && kjvSeqs.length === 12);
  });

  for (const [name, ctx] of [["stories260K", 256], ["kjv3M", 128]] as const) {
    const seqs = () => (name === "kjv3M" ? kjvSeqs : s260Seqs);
    test(`${name} F32: exact set-up (f32 KV) and llama.cpp defaults (f16 KV, flash attention) vs kvF16`, async () => {
      within((await compare(`${name} F32`, file(name, "F32"), seqs(), ctx, true, [["exact", {}]])).exact, "exact F32");
      const d = await compare(`${name} F32`, file(name, "F32"), seqs(), ctx, false, [["default vs kvF16", { kvF16: true }], ["default vs f32 KV", {}]]);
      within(d["default vs kvF16"], "default F32");
    });
    test(`${name} Q8_0 and Q4_K_M: activations rounded as llama.cpp's quantized dot products`, async () => {
      for (const f of ["Q8_0", "Q4_K_M"]) {
        const r = await compare(`${name} ${f}`, file(name, f), seqs(), ctx, true, [["exact, activations llama.cpp", { activations: "llama.cpp" }], ["exact, activations f32", {}]]);
        within(r["exact, activations llama.cpp"], `exact ${f}`);
        within(r["exact, activations f32"], `exact ${f} f32 act`);
      }
    });
  }

  test("8-expert synthetic MoE (Mixtral layout, llama arch): llama.cpp loads it; logits agree", async () => {
    const p = file("moe", "F32");
    await quantizeModel(engine, syntheticModel({ nLayer: 2, nEmbd: 256, nFf: 256, nHead: 8, nHeadKv: 4, nVocab: 512, nExpert: 8, nExpertUsed: 2, seed: 7 }), await openFileSink(p), { ftype: "F32" });
    const seqs = [Array.from({ length: 64 }, (_, i) => 1 + ((i * 37 + 11) % 500))];
    within((await compare("synthetic MoE F32", p, seqs, 64, true, [["exact", {}]])).exact, "exact MoE");
  });

  test("greedy \"Once upon a time\" on stories260K reproduces llama.cpp's text", async () => {
    const ref = await llamaCpp(file("stories260K", "F32"), 512, false);
    const prompt = [ref.model.tokens.bos, ...ref.model.tokenize("Once upon a time")];
    // llama.cpp greedy: argmax of its logits, token by token
    const seq = [...prompt], lc: number[] = [];
    for (let i = 0; i < 32; i++) {
      const l = await ref.logits(seq);
      const o = (seq.length - 1) * ref.V;
      let b = 0; for (let j = 1; j < ref.V; j++) if (l[o + j] > l[o + b]) b = j;
      lc.push(b); seq.push(b);
    }
    const m = await LlamaModel.open(engine, file("stories260K", "F32"), { nCtx: 256 });
    const ours = await m.generate(prompt, 32, { stopAtEos: false });
    const text = "Once upon a time" + ref.model.detokenize(ours);
    console.log(`  ours: ${JSON.stringify(text)}`);
    assert.equal(ours, lc, "same tokens as llama.cpp");
    assert.ok(text.startsWith(REFERENCE), text);
    m.dispose(); await ref.dispose();
  });

  test.run();
}
