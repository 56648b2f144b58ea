// Qwen2 / Qwen3 Hugging Face directories → GGUF as llama.cpp's convert_hf_to_gguf.py writes them:
// arch qwen2 / qwen3, `<arch>.*` keys (key_length when config.json has head_dim), q/k rows as stored
// (NEOX rope: no permutation), Qwen2's attn_{q,k,v}.bias, Qwen3's attn_{q,k}_norm, tied output,
// tokenizer.ggml.pre "qwen2", tokenizer.chat_template. The converted F32 file runs in llama.cpp
// (node-llama-cpp) and its logits match a float64 reference forward pass over the HF tensors, so the
// conversion keeps the model's function. Unsupported architectures and configs that disagree with the
// tensors are typed errors before anything is written.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { TensorshrinkError } from "../src/index";
import { filesResolver, memorySink, memorySource, openFileSink } from "../src/formats/source";
import { readGguf, ggufGet } from "../src/formats/gguf";
import { convertToGguf, llamaFromHf } from "../src/model/convert";
import { archLayout, archTensors, referenceForward, CHAT_TEMPLATE, type ArchOptions } from "./_hf-archs";

const THREADS = 2;
const tmp = mkdtempSync(path.join(tmpdir(), "ts-archs-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

export const SHAPES: Record<string, ArchOptions> = {
  qwen2: { arch: "qwen2", nLayer: 2, nEmbd: 256, nFf: 512, nHead: 4, nHeadKv: 2, tied: true, seed: 2 },
  qwen3: { arch: "qwen3", nLayer: 2, nEmbd: 256, nFf: 512, nHead: 4, nHeadKv: 2, headDim: 128, tied: false, seed: 3 },
};
const kvs = (g: Awaited<ReturnType<typeof readGguf>>) => g.metadata.map((k) => k.key);

for (const [name, o] of Object.entries(SHAPES)) {
  test(`${name}: tensors, names, no q/k permutation, metadata keys, tokenizer pre, chat template`, async () => {
    const plan = await llamaFromHf(filesResolver(archLayout(o)));
    try {
      assert.is(plan.arch, name);
      const names = plan.tensors.map((t) => t.name);
      const hd = o.headDim ?? o.nEmbd / o.nHead;
      if (name === "qwen2") {
        assert.ok(names.includes("blk.1.attn_q.bias") && names.includes("blk.1.attn_k.bias") && names.includes("blk.1.attn_v.bias"));
        assert.equal([...plan.tensors.find((t) => t.name === "blk.0.attn_k.bias")!.ne], [hd * o.nHeadKv]);
        assert.not.ok(names.includes("output.weight"), "tied: no output.weight");
      } else {
        assert.equal([...plan.tensors.find((t) => t.name === "blk.1.attn_q_norm.weight")!.ne], [hd]);
        assert.equal([...plan.tensors.find((t) => t.name === "blk.0.attn_q.weight")!.ne], [o.nEmbd, hd * o.nHead]);
        assert.ok(names.includes("output.weight"));
      }
      // rows exactly as HF stores them (llama would be permuted)
      const st = archTensors(o);
      const hfq = st.find((e) => e.name === "model.layers.1.self_attn.k_proj.weight")!.data;
      assert.equal(await plan.tensors.find((t) => t.name === "blk.1.attn_k.weight")!.read(), hfq);
      const sink = memorySink();
      await convertToGguf(plan, sink, { ftype: "F16" });
      const g = await readGguf(memorySource(sink.bytes()));
      const keys = kvs(g);
      assert.is(ggufGet(g, "general.architecture"), name);
      for (const k of ["block_count", "context_length", "embedding_length", "feed_forward_length", "attention.head_count", "attention.head_count_kv", "rope.freq_base", "attention.layer_norm_rms_epsilon"]) assert.ok(keys.includes(`${name}.${k}`), k);
      assert.not.ok(keys.some((k) => k.startsWith("llama.")));
      assert.not.ok(keys.includes(`${name}.vocab_size`), "Qwen2Model writes no vocab_size");
      assert.is(ggufGet(g, `${name}.attention.key_length`), name === "qwen3" ? hd : undefined);
      assert.is(ggufGet(g, `${name}.rope.freq_base`), 1e6);
      assert.is(ggufGet(g, "tokenizer.ggml.model"), "gpt2");
      assert.is(ggufGet(g, "tokenizer.ggml.pre"), "qwen2");
      assert.is(ggufGet(g, "tokenizer.ggml.add_bos_token"), false);
      assert.is(ggufGet(g, "tokenizer.chat_template"), CHAT_TEMPLATE);
      assert.is(keys.indexOf("tokenizer.chat_template"), keys.indexOf("tokenizer.ggml.add_eos_token") + 1);
      assert.is(g.tensors.find((t) => t.name === "blk.0.attn_q.weight")!.type.name, "f16");
      assert.is(g.tensors.find((t) => t.name === (name === "qwen2" ? "blk.0.attn_q.bias" : "blk.0.attn_q_norm.weight"))!.type.name, "f32");
    } finally {
      await plan.close();
    }
  });
}

test("errors: an unsupported architecture lists the supported ones; config vs tensors disagreements are typed, before writing", async () => {
  const o = SHAPES.qwen2!;
  const err = async (files: Record<string, Uint8Array>) => llamaFromHf(filesResolver(files)).then(() => assert.unreachable("no error"), (e) => e as TensorshrinkError) as Promise<TensorshrinkError>;
  const e1 = await err(archLayout(o, undefined, (c) => { c.architectures = ["FalconForCausalLM"]; }));
  assert.instance(e1, TensorshrinkError);
  assert.is(e1.code, "E_UNSUPPORTED");
  assert.match(e1.message, /FalconForCausalLM.*Qwen2ForCausalLM.*Qwen3ForCausalLM/);
  const e2 = await err(archLayout(o, (st) => { st.splice(st.findIndex((e) => e.name === "model.layers.1.self_attn.v_proj.bias"), 1); }));
  assert.is(e2.code, "E_FORMAT");
  assert.match(e2.message, /model\.layers\.1\.self_attn\.v_proj\.bias/);
  const e3 = await err(archLayout(o, (st) => { const e = st.find((x) => x.name === "model.layers.0.self_attn.k_proj.bias")!; e.shape = [64]; e.data = e.data.subarray(0, 64); }));
  assert.is(e3.code, "E_SHAPE");
  assert.match(e3.message, /blk\.0\.attn_k\.bias/);
  const e4 = await err(archLayout(SHAPES.qwen3!, undefined, (c) => { c.head_dim = 64; }));
  assert.is(e4.code, "E_SHAPE");
  const e5 = await err(archLayout(SHAPES.qwen3!, (st) => { const e = st.find((x) => x.name === "model.layers.1.self_attn.q_norm.weight")!; e.shape = [64]; e.data = e.data.subarray(0, 64); }));
  assert.is(e5.code, "E_SHAPE");
  assert.match(e5.message, /blk\.1\.attn_q_norm\.weight/);
  // nothing written: the sink is aborted, the file never appears
  const out = path.join(tmp, "bad.gguf");
  await convertToGguf({ hf: filesResolver(archLayout(o, undefined, (c) => { c.num_key_value_heads = 4; })) }, await openFileSink(out), { ftype: "F32" }).then(() => assert.unreachable(), (e) => assert.is(e.code, "E_SHAPE"));
  assert.not.ok(existsSync(out));
});

test("llama.cpp runs the converted F32 files; logits match a float64 reference forward pass over the HF tensors", async () => {
  const nlc: any = await import(process.env.TENSORSHRINK_NODE_LLAMA_CPP || "node-llama-cpp");
  const llama = await nlc.getLlama({ gpu: false, build: "never", skipDownload: true, logLevel: "error" });
  for (const [name, o] of Object.entries(SHAPES)) {
    const file = path.join(tmp, `${name}.gguf`);
    await convertToGguf({ hf: filesResolver(archLayout(o)) }, await openFileSink(file), { ftype: "F32" });
    const model = await llama.loadModel({ modelPath: file, gpuLayers: 0 });
    const ctx = await model.createContext({ contextSize: 64, batchSize: 64, threads: THREADS, flashAttention: false, experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32" });
    try {
      const seq = ctx.getSequence();
      const tokens = model.tokenize("The quick brown fox jumps over the lazy dog.");
      assert.ok(tokens.length >= 8, `tokenized to ${tokens.length}`);
      const V = model.fileInfo.metadata.tokenizer.ggml.tokens.length;
      const res = await seq.controlledEvaluate(tokens.map((t: number) => [t, { generateNext: { logits: true } }]));
      const ref = referenceForward(o as ArchOptions & { arch: "qwen2" | "qwen3" }, archTensors(o), tokens);
      let dmax = 0, agree = 0, scale = 0;
      for (let i = 0; i < tokens.length; i++) {
        const got = new Float64Array(V);
        for (const [k, v] of res[i].next.logits as Map<number, number>) got[k] = v;
        let ag = 0, ar = 0;
        for (let j = 0; j < V; j++) { dmax = Math.max(dmax, Math.abs(got[j]! - ref[i]![j]!)); scale = Math.max(scale, Math.abs(ref[i]![j]!)); if (got[j]! > got[ag]!) ag = j; if (ref[i]![j]! > ref[i]![ar]!) ar = j; }
        if (ag === ar) agree++;
      }
      console.log(`  ${name}: ${tokens.length} positions, max |Δlogit| ${dmax.toExponential(2)} (logits up to ${scale.toFixed(2)}), argmax agree ${agree}/${tokens.length}`);
      assert.ok(scale > 1, "logits are not trivially small");
      assert.ok(dmax < 1e-3 * Math.max(1, scale), `${name}: max |Δlogit| ${dmax}`);
      assert.is(agree, tokens.length);
    } finally {
      await ctx.dispose();
      await model.dispose();
    }
  }
});

test.run();
