// Qwen3-MoE (Qwen3MoeForCausalLM): mlp.gate → ffn_gate_inp, mlp.experts.E.{gate,up,down}_proj stacked
// into 3D ffn_{gate,up,down}_exps, q/k norms, qwen3moe.expert_feed_forward_length = moe_intermediate_size;
// quantized files byte-identical to llama_model_quantize (8 experts: llama.cpp's n_expert == 8 rules),
// and the engine's forward pass agrees with llama.cpp on the converted F32 file.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { init, quantizeModel, openFileSink, LlamaModel } from "../src/index";
import { filesResolver, openFileSource } from "../src/formats/source";
import { readGguf, ggufGet } from "../src/formats/gguf";
import { convertToGguf, llamaFromHf } from "../src/model/convert";
import { openModel } from "../src/model/open";
import { archLayout, archTensors, type ArchOptions } from "./_hf-archs";
import { assertSameFile, buildQuantizeHarness, llamaQuantize } from "./_quantize-harness";
import { rng } from "./_util";

const THREADS = 2;
const tmp = mkdtempSync(path.join(tmpdir(), "ts-qwen3moe-"));
const engine = await init({ threads: 1 });
test.after(() => { engine.dispose(); rmSync(tmp, { recursive: true, force: true }); });
const O: ArchOptions = { arch: "qwen3moe", nLayer: 2, nEmbd: 256, nFf: 768, nHead: 4, nHeadKv: 2, headDim: 64, tied: false, seed: 21, nExpert: 8, nExpertUsed: 2, moeFf: 256 };
const f32 = path.join(tmp, "qwen3moe-F32.gguf");

test("conversion: 3D expert tensors from the split experts, expert_feed_forward_length, q/k norms", async () => {
  const plan = await llamaFromHf(filesResolver(archLayout(O)));
  try {
    assert.is(plan.arch, "qwen3moe");
    const t = plan.tensors.find((x) => x.name === "blk.1.ffn_down_exps.weight")!;
    assert.equal([...t.ne], [256, 256, 8]);
    assert.equal([...plan.tensors.find((x) => x.name === "blk.0.ffn_gate_inp.weight")!.ne], [256, 8]);
    assert.ok(plan.tensors.some((x) => x.name === "blk.1.attn_k_norm.weight"));
    // rows 250..261 of the stack: expert 0's last rows and expert 1's first
    const st = archTensors(O), e0 = st.find((x) => x.name === "model.layers.1.mlp.experts.0.down_proj.weight")!.data, e1 = st.find((x) => x.name === "model.layers.1.mlp.experts.1.down_proj.weight")!.data;
    const want = new Float32Array(12 * 256); want.set(e0.subarray(250 * 256)); want.set(e1.subarray(0, 6 * 256), 6 * 256);
    assert.equal(await t.readRows(250, 12), want);
  } finally {
    await plan.close();
  }
  await convertToGguf({ hf: filesResolver(archLayout(O)) }, await openFileSink(f32), { ftype: "F32" });
  const src = await openFileSource(f32);
  try {
    const g = await readGguf(src);
    assert.is(ggufGet(g, "general.architecture"), "qwen3moe");
    assert.is(ggufGet(g, "qwen3moe.expert_count"), 8);
    assert.is(ggufGet(g, "qwen3moe.expert_used_count"), 2);
    assert.is(ggufGet(g, "qwen3moe.expert_feed_forward_length"), 256);
    assert.is(ggufGet(g, "qwen3moe.feed_forward_length"), 768);
  } finally {
    await src.close?.();
  }
});

test("quantized files byte-identical to llama_model_quantize (Q4_K_M, Q3_K_M, Q8_0, Q2_K)", async () => {
  const h = buildQuantizeHarness(tmp);
  if (typeof h === "string") { console.log(`  SKIP: ${h}`); return; }
  for (const f of ["Q4_K_M", "Q3_K_M", "Q8_0", "Q2_K"]) {
    const ref = path.join(tmp, `ref-${f}.gguf`), mine = path.join(tmp, `ours-${f}.gguf`);
    const r = llamaQuantize(h.exe, f32, ref, f, THREADS);
    assert.ok(r.ok, `llama.cpp failed on ${f}:\n${r.log.slice(-600)}`);
    const m = await openModel(f32, engine);
    try { await quantizeModel(engine, m, await openFileSink(mine, { inputs: [f32] }), { ftype: f }); } finally { await m.close?.(); }
    await assertSameFile(ref, mine, `qwen3moe ${f}`);
  }
});

test("forward pass agrees with llama.cpp (F32)", async () => {
  const nlc: any = await import(process.env.TENSORSHRINK_NODE_LLAMA_CPP || "node-llama-cpp");
  const llama = await nlc.getLlama({ gpu: false, build: "never", skipDownload: true, logLevel: "error" });
  const model = await llama.loadModel({ modelPath: f32, gpuLayers: 0 });
  const ctx = await model.createContext({ contextSize: 128, batchSize: 128, threads: THREADS, flashAttention: false, experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32" });
  const V = model.fileInfo.metadata.tokenizer.ggml.tokens.length, r = rng(5, 1);
  const seqs = Array.from({ length: 3 }, () => Array.from({ length: 40 }, () => Math.floor(r.uniform() * V)));
  const refs: Float32Array[] = [];
  try {
    const seq = ctx.getSequence();
    for (const s of seqs) {
      await seq.clearHistory();
      const res = await seq.controlledEvaluate(s.map((t) => [t, { generateNext: { logits: true } }]));
      const out = new Float32Array(s.length * V);
      for (let i = 0; i < s.length; i++) for (const [k, v] of res[i].next.logits as Map<number, number>) out[i * V + k] = v;
      refs.push(out);
    }
  } finally { await ctx.dispose(); await model.dispose(); }
  const ours = await LlamaModel.open(engine, f32, { nCtx: 64 });
  try {
    assert.is(ours.config.nExpert, 8);
    assert.is(ours.config.nFf, 256);
    let dmax = 0, agree = 0, pos = 0, nllA = 0, nllB = 0, n = 0;
    for (let k = 0; k < seqs.length; k++) {
      const a = refs[k]!, b = await ours.forward(seqs[k]!), s = seqs[k]!;
      for (let i = 0; i < s.length; i++) {
        const o = i * V; let ia = 0, ib = 0, ma = -Infinity, mb = -Infinity;
        for (let j = 0; j < V; j++) { dmax = Math.max(dmax, Math.abs(a[o + j]! - b[o + j]!)); if (a[o + j]! > a[o + ia]!) ia = j; if (b[o + j]! > b[o + ib]!) ib = j; ma = Math.max(ma, a[o + j]!); mb = Math.max(mb, b[o + j]!); }
        if (ia === ib) agree++;
        pos++;
        if (i + 1 < s.length) {
          let sa = 0, sb = 0; for (let j = 0; j < V; j++) { sa += Math.exp(a[o + j]! - ma); sb += Math.exp(b[o + j]! - mb); }
          nllA += ma + Math.log(sa) - a[o + s[i + 1]!]!; nllB += mb + Math.log(sb) - b[o + s[i + 1]!]!; n++;
        }
      }
    }
    const rel = Math.abs(Math.exp(nllB / n) / Math.exp(nllA / n) - 1);
    console.log(`  qwen3moe F32: ppl rel ${rel.toExponential(2)}, argmax ${agree}/${pos}, max |Δlogit| ${dmax.toExponential(2)}`);
    assert.ok(rel <= 5e-4, `ppl rel ${rel}`);
    assert.ok(agree / pos >= 0.999, `argmax ${agree}/${pos}`);
  } finally {
    ours.dispose();
  }
});

test.run();
