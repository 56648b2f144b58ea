// Qwen2 / Qwen3 Hugging Face directories → GGUF as llama.cpp's convert_hf_to_gguf.py writes them:
// arch qwen2 / qwen3, `<arch>.*` keys (key_length when config.json has head_dim), q/k rows as stored
// (NEOX rope: no permutation), Qwen2's attn_{q,k,v}.bias, Qwen3's attn_{q,k}_norm, tied output,
// tokenizer.ggml.pre "qwen2", tokenizer.chat_template. The converted F32 file runs in llama.cpp
// (node-llama-cpp) and its logits match a float64 reference forward pass over the HF tensors, so the
// conversion keeps the model's function. Unsupported architectures and configs that disagree with the
// tensors are typed errors before anything is written.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { TensorshrinkError } from "../src/index";
import { filesResolver, memorySink, memorySource } from "../src/formats/source";
import { readGguf, ggufGet } from "../src/formats/gguf";
import { convertToGguf, llamaFromHf } from "../src/model/convert";
import { archLayout, archTensors, referenceForward, CHAT_TEMPLATE, hfPlanError, assertConvertFailsCleanly, loadLlamaCpp, checkLlamaCppLogits, type ArchOptions } from "./_hf-archs";

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
  const e1 = await hfPlanError(archLayout(o, undefined, (c) => { c.architectures = ["FalconForCausalLM"]; }));
  assert.instance(e1, TensorshrinkError);
  assert.is(e1.code, "E_UNSUPPORTED");
  assert.match(e1.message, /FalconForCausalLM.*Qwen2ForCausalLM.*Qwen3ForCausalLM/);
  const e2 = await hfPlanError(archLayout(o, (st) => { st.splice(st.findIndex((e) => e.name === "model.layers.1.self_attn.v_proj.bias"), 1); }));
  assert.is(e2.code, "E_FORMAT");
  assert.match(e2.message, /model\.layers\.1\.self_attn\.v_proj\.bias/);
  const e3 = await hfPlanError(archLayout(o, (st) => { const e = st.find((x) => x.name === "model.layers.0.self_attn.k_proj.bias")!; e.shape = [64]; e.data = e.data.subarray(0, 64); }));
  assert.is(e3.code, "E_SHAPE");
  assert.match(e3.message, /blk\.0\.attn_k\.bias/);
  const e4 = await hfPlanError(archLayout(SHAPES.qwen3!, undefined, (c) => { c.head_dim = 64; }));
  assert.is(e4.code, "E_SHAPE");
  const e5 = await hfPlanError(archLayout(SHAPES.qwen3!, (st) => { const e = st.find((x) => x.name === "model.layers.1.self_attn.q_norm.weight")!; e.shape = [64]; e.data = e.data.subarray(0, 64); }));
  assert.is(e5.code, "E_SHAPE");
  assert.match(e5.message, /blk\.1\.attn_q_norm\.weight/);
  // nothing written: the sink is aborted, the file never appears
  await assertConvertFailsCleanly(archLayout(o, undefined, (c) => { c.num_key_value_heads = 4; }), path.join(tmp, "bad.gguf"), "E_SHAPE");
});

test("llama.cpp runs the converted F32 files; logits match a float64 reference forward pass over the HF tensors", async () => {
  const llama = await loadLlamaCpp();
  for (const [name, o] of Object.entries(SHAPES)) {
    await checkLlamaCppLogits(llama, {
      name, files: archLayout(o), file: path.join(tmp, `${name}.gguf`), tol: 1e-3, threads: THREADS,
      tokens: (model) => {
        const tokens = model.tokenize("The quick brown fox jumps over the lazy dog.");
        assert.ok(tokens.length >= 8, `tokenized to ${tokens.length}`);
        return tokens;
      },
      reference: (tokens) => referenceForward(o as ArchOptions & { arch: "qwen2" | "qwen3" }, archTensors(o), tokens),
    });
  }
});

test.run();
