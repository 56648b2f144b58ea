// Gemma 2 / Gemma 3 Hugging Face directories → GGUF as llama.cpp's convert_hf_to_gguf.py writes them
// (Gemma2Model / Gemma3Model): arch gemma2 / gemma3, norm weights + 1 (in the checkpoint's dtype), the
// post-attention / pre- and post-FFN norms, Gemma 3's q/k norms, no q/k permutation, tied output
// (Gemma 2 drops lm_head), the gemma2.* / gemma3.* keys (soft-capping, sliding window, local rope base,
// key_length), the SentencePiece vocabulary with add_space_prefix false and the chat template. llama.cpp
// (node-llama-cpp) runs the converted F32 files and its logits match a float64 forward pass with the HF
// semantics over the HF tensors (√n_embd embedding scale, soft-capping, sliding-window layers crossed by
// 40-token sequences with an 8-token window, GELU(tanh)); llama-quantize's recipes are byte-identical;
// bad configs are typed errors before anything is written.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { init, TensorshrinkError, FTYPES } from "../src/index";
import { filesResolver, memorySink, memorySource, openFileSink } from "../src/formats/source";
import { readGguf, ggufGet } from "../src/formats/gguf";
import { bf16ToF32, f32ToBf16 } from "../src/formats/half";
import { convertToGguf, llamaFromHf } from "../src/model/convert";
import { gemmaPhiLayout, gemmaPhiTensorsCached, gemmaPhiReference, CHAT_TEMPLATE_G, type GemmaPhiOptions } from "./_hf-gemma-phi";
import { assertRecipesIdentical, buildQuantizeHarness } from "./_quantize-harness";
import { hfPlanError, assertConvertFailsCleanly, loadLlamaCpp, checkLlamaCppLogits } from "./_hf-archs";

const THREADS = 2;
const tmp = mkdtempSync(path.join(tmpdir(), "ts-archs-gemma-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

// Small shapes for the plan / error checks; for llama.cpp's logits, Gemma 2 with 4 layers (local, global,
// local, global) and Gemma 3 with 6 (5 local, then a global one) over 40 tokens with an 8-token window;
// for the recipes 256-wide rows (every k-quant applies) and 4 layers (Q4_K_M's "more bits" layers 2, 3).
// Small caps so tanh bends the values.
export const GEMMA: Record<string, GemmaPhiOptions> = {
  gemma2: { arch: "gemma2", nLayer: 4, nEmbd: 128, nFf: 256, nHead: 4, nHeadKv: 2, headDim: 32, tied: true, attnSoftcap: 5, finalSoftcap: 10, window: 8, seed: 21 },
  gemma3: { arch: "gemma3", nLayer: 6, nEmbd: 128, nFf: 256, nHead: 2, nHeadKv: 1, headDim: 128, tied: true, finalSoftcap: 10, window: 8, ropeLinear: 8, seed: 22 },
};
const SMALL: Record<string, GemmaPhiOptions> = {
  gemma2: { ...GEMMA.gemma2!, nLayer: 2 },
  gemma3: { ...GEMMA.gemma3!, nLayer: 2 },
};
const QUANT: Record<string, GemmaPhiOptions> = {
  gemma2: { ...GEMMA.gemma2!, nEmbd: 256, nFf: 512, headDim: undefined },
  gemma3: { ...GEMMA.gemma3!, nLayer: 4, nEmbd: 256, nFf: 512 },
};
const kvs = (g: Awaited<ReturnType<typeof readGguf>>) => g.metadata.map((k) => k.key);

const T0 = { t: 0 };
test.before.each(() => { T0.t = performance.now(); });
test.after.each(() => { if (process.env.TS_TIMES) console.log(`  (${((performance.now() - T0.t) / 1000).toFixed(1)} s)`); });

for (const [name, o] of Object.entries(SMALL)) {
  test(`${name}: tensors, norms + 1, post norms, tied output, metadata keys, SentencePiece vocabulary, chat template`, async () => {
    // Gemma 2 ignores a lm_head; give it one to check it is dropped
    const plan = await llamaFromHf(filesResolver(gemmaPhiLayout(o, (st) => { if (name === "gemma2") st.push({ name: "lm_head.weight", dtype: "F32", shape: [320, o.nEmbd], data: new Float32Array(320 * o.nEmbd) }); })));
    try {
      assert.is(plan.arch, name);
      const names = plan.tensors.map((t) => t.name);
      assert.not.ok(names.includes("output.weight"), "tied: no output.weight");
      for (const n of ["blk.1.attn_norm.weight", "blk.1.post_attention_norm.weight", "blk.1.ffn_norm.weight", "blk.1.post_ffw_norm.weight", "blk.1.ffn_gate.weight"]) assert.ok(names.includes(n), n);
      assert.is(names.includes("blk.0.attn_q_norm.weight"), name === "gemma3");
      const st = gemmaPhiTensorsCached(o), hf = (n: string) => st.find((e) => e.name === n)!.data;
      const plus1 = (x: Float32Array) => x.map((v) => Math.fround(v + 1));
      const read = (n: string) => plan.tensors.find((t) => t.name === n)!.read();
      assert.equal(await read("blk.1.ffn_norm.weight"), plus1(hf("model.layers.1.pre_feedforward_layernorm.weight")));
      assert.equal(await read("blk.1.post_attention_norm.weight"), plus1(hf("model.layers.1.post_attention_layernorm.weight")));
      assert.equal(await read("output_norm.weight"), plus1(hf("model.norm.weight")));
      assert.equal(await read("blk.1.attn_k.weight"), hf("model.layers.1.self_attn.k_proj.weight"), "no q/k permutation");
      if (name === "gemma3") assert.equal(await read("blk.1.attn_q_norm.weight"), plus1(hf("model.layers.1.self_attn.q_norm.weight")));
      const sink = memorySink();
      await convertToGguf(plan, sink, { ftype: "F16" });
      const g = await readGguf(memorySource(sink.bytes()));
      const keys = kvs(g), get = (k: string) => ggufGet(g, k);
      assert.not.ok(keys.some((k) => k.startsWith("llama.")));
      assert.is(get(`${name}.attention.sliding_window`), 8);
      assert.is(get(`${name}.attention.key_length`), o.headDim ?? o.nEmbd / o.nHead);
      if (name === "gemma2") {
        assert.is(get("gemma2.attn_logit_softcapping"), 5);
        assert.is(get("gemma2.final_logit_softcapping"), 10);
        assert.not.ok(keys.includes("gemma2.rope.freq_base"), "Gemma2Model writes no rope.freq_base (llama.cpp default 10000)");
        assert.is(keys[3], "gemma2.context_length");
      } else {
        assert.is(get("gemma3.rope.freq_base"), 1e6);
        assert.is(get("gemma3.rope.freq_base_swa"), 1e4);
        assert.is(get("gemma3.rope.scaling.type"), "linear");
        assert.is(get("gemma3.rope.scaling.factor"), 8);
        assert.is(keys.indexOf("gemma3.rope.scaling.factor") + 1, keys.indexOf("gemma3.rope.freq_base"), "TextModel writes rope scaling before the base");
        assert.is(get("gemma3.final_logit_softcapping"), 10);
        assert.not.ok(keys.includes("gemma3.attn_logit_softcapping"));
        assert.is(keys[3], "gemma3.block_count");
      }
      assert.is(keys.indexOf("general.file_type") + 1, keys.indexOf(name === "gemma2" ? "gemma2.attn_logit_softcapping" : "gemma3.final_logit_softcapping"));
      assert.is(get("tokenizer.ggml.model"), "llama");
      assert.is(get("tokenizer.ggml.add_space_prefix"), false);
      assert.is(get("tokenizer.chat_template"), CHAT_TEMPLATE_G);
      assert.is(keys.indexOf("tokenizer.ggml.add_space_prefix"), keys.indexOf("tokenizer.chat_template") + 1);
      assert.is(g.tensors.find((t) => t.name === "blk.0.attn_q.weight")!.type.name, "f16");
      assert.is(g.tensors.find((t) => t.name === "blk.0.post_ffw_norm.weight")!.type.name, "f32");
    } finally {
      await plan.close();
    }
  });
}

test("gemma2 BF16 checkpoint: norm + 1 rounded to bf16 as torch does in the converter", async () => {
  const o = { ...SMALL.gemma2!, dtype: "BF16" as const };
  const plan = await llamaFromHf(filesResolver(gemmaPhiLayout(o)));
  try {
    const hf = gemmaPhiTensorsCached(o).find((e) => e.name === "model.layers.0.input_layernorm.weight")!.data;
    const want = hf.map((v) => bf16ToF32(f32ToBf16(bf16ToF32(f32ToBf16(v)) + 1)));
    const got = await plan.tensors.find((t) => t.name === "blk.0.attn_norm.weight")!.read();
    assert.equal(got, want);
    assert.ok(got.some((v, i) => v !== Math.fround(bf16ToF32(f32ToBf16(hf[i]!)) + 1)), "the rounding matters for some values");
  } finally {
    await plan.close();
  }
});

test("errors: unsupported architectures list the supported ones; configs llama.cpp cannot express and config/tensor disagreements are typed, before writing", async () => {
  const o = SMALL.gemma2!, o3 = GEMMA.gemma3!;
  const e1 = await hfPlanError(gemmaPhiLayout(o, undefined, (c) => { c.architectures = ["FalconForCausalLM"]; }));
  assert.instance(e1, TensorshrinkError);
  assert.is(e1.code, "E_UNSUPPORTED");
  assert.match(e1.message, /FalconForCausalLM.*Gemma2ForCausalLM, Gemma3ForCausalLM, Phi3ForCausalLM/);
  const e2 = await hfPlanError(gemmaPhiLayout(o3, undefined, (c) => { c.architectures = ["Gemma3ForConditionalGeneration"]; }));
  assert.is(e2.code, "E_UNSUPPORTED");
  assert.match(e2.message, /vision.*Gemma3ForCausalLM/);
  const e3 = await hfPlanError(gemmaPhiLayout(o, undefined, (c) => { c.query_pre_attn_scalar = 144; }));
  assert.is(e3.code, "E_UNSUPPORTED");
  assert.match(e3.message, /query_pre_attn_scalar/);
  const e4 = await hfPlanError(gemmaPhiLayout(o3, undefined, (c) => { c.sliding_window_pattern = 4; }));
  assert.is(e4.code, "E_UNSUPPORTED");
  assert.match(e4.message, /sliding_window_pattern/);
  const e5 = await hfPlanError(gemmaPhiLayout(o3, undefined, (c) => { c.layer_types = Array.from({ length: o3.nLayer }, (_, i) => (i % 2 ? "full_attention" : "sliding_attention")); }));
  assert.is(e5.code, "E_UNSUPPORTED");
  assert.match(e5.message, /layer 1 is full_attention/);
  const e6 = await hfPlanError(gemmaPhiLayout(o, (st) => { st.splice(st.findIndex((e) => e.name === "model.layers.1.post_feedforward_layernorm.weight"), 1); }));
  assert.is(e6.code, "E_FORMAT");
  assert.match(e6.message, /model\.layers\.1\.post_feedforward_layernorm\.weight/);
  const e7 = await hfPlanError(gemmaPhiLayout(o3, (st) => { const e = st.find((x) => x.name === "model.layers.1.self_attn.k_norm.weight")!; e.shape = [64]; e.data = e.data.subarray(0, 64); }));
  assert.is(e7.code, "E_SHAPE");
  assert.match(e7.message, /blk\.1\.attn_k_norm\.weight/);
  const e8 = await hfPlanError(gemmaPhiLayout(o3, undefined, (c) => { c.attn_logit_softcapping = 50; }));
  assert.is(e8.code, "E_UNSUPPORTED");
  await assertConvertFailsCleanly(gemmaPhiLayout(o, undefined, (c) => { c.num_key_value_heads = 4; }), path.join(tmp, "bad.gguf"), "E_SHAPE");
});

test("llama.cpp runs the converted F32 files; logits match a float64 forward pass with the HF semantics", async () => {
  const llama = await loadLlamaCpp();
  for (const [name, o] of Object.entries(GEMMA)) {
    // llama.cpp's CPU GEGLU looks gelu up in an f16 table: the reference does the same
    const { tokens, ref, V, dmax } = await checkLlamaCppLogits(llama, {
      name, files: gemmaPhiLayout(o), file: path.join(tmp, `${name}.gguf`), tol: 1e-3, threads: THREADS,
      tokens: () => Array.from({ length: 40 }, (_, i) => 3 + ((i * 37 + 11) % 300)),
      reference: (tokens) => gemmaPhiReference(o, gemmaPhiTensorsCached(o), tokens, { geluF16: true }),
    });
    // without the sliding window (or the +1, or the soft-caps) the reference is far off: the check has teeth
    const wide = gemmaPhiReference({ ...o, window: 4096 }, gemmaPhiTensorsCached(o), tokens, { geluF16: true });
    let dw = 0;
    for (let i = 0; i < tokens.length; i++) for (let j = 0; j < V; j++) dw = Math.max(dw, Math.abs(wide[i]![j]! - ref[i]![j]!));
    assert.ok(dw > 100 * dmax, `${name}: the window changes the logits (${dw})`);
  }
});

const harness = buildQuantizeHarness(tmp);
test("llama-quantize recipes: whole files byte-identical (Q8_0 Q2_K Q4_K_M Q6_K; tied token_embd takes the output rule)", async () => {
  if (typeof harness === "string") { console.log(`  SKIP: ${harness}; the byte-for-byte comparison with llama.cpp needs it`); return; }
  const engine = await init({ threads: 2 });
  try {
    for (const [name, o] of Object.entries(QUANT)) {
      const input = path.join(tmp, `${name}-F32.gguf`);
      await convertToGguf({ hf: filesResolver(gemmaPhiLayout(o)) }, await openFileSink(input), { ftype: "F32" });
      const ftypes = process.env.TS_ARCHS_ALL_FTYPES ? Object.keys(FTYPES).filter((k) => !/^(IQ[123]|Q2_K_S)/.test(k)) : ["Q8_0", "Q2_K", "Q4_K_M", "Q6_K"];
      const done = await assertRecipesIdentical(harness.exe, engine, input, tmp, name, ftypes, async (f, mine) => {
        if (f !== "Q4_K_M") return;
        const g = await readGguf(memorySource(new Uint8Array(readFileSync(mine))));
        assert.is(g.tensors.find((t) => t.name === "token_embd.weight")!.type.name, "q6_K", "tied token_embd takes output.weight's q6_K");
      });
      console.log(`  ${name}: ${done.length} ftypes identical (${done.join(" ")})`);
    }
  } finally {
    engine.dispose();
  }
});

test.run();
