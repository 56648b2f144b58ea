// Phi-3 Hugging Face directories → GGUF as llama.cpp's convert_hf_to_gguf.py writes them (Phi3MiniModel):
// arch phi3, fused attn_qkv [n_embd, q+k+v] and ffn_up [n_embd, 2·n_ff] (gate rows first) stored as HF has
// them, no q/k permutation (NEOX rope), the phi3.* keys (rope.dimension_count, original context length,
// sliding_window), the SentencePiece vocabulary with Phi-3's added tokens (tokenizer_config.json's
// added_tokens_decoder) and padding to vocab_size. llama.cpp runs the converted F32 file (tied and untied)
// and its logits match a float64 HF-semantics forward pass; llama-quantize's recipes (attn_qkv takes the
// attn_v rules) are byte-identical; LongRoPE, fused shapes that disagree with config.json and a model named
// phi3 without the tokens llama.cpp looks up are typed errors before anything is written.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { init, TensorshrinkError, FTYPES } from "../src/index";
import { filesResolver, memorySink, memorySource, openFileSink } from "../src/formats/source";
import { readGguf, ggufGet } from "../src/formats/gguf";
import { convertToGguf, llamaFromHf, planAsModelSource, planShapeParams } from "../src/model/convert";
import { checkLlamaTensors } from "../src/model/validate";
import { llamaConfigFromMetadata } from "../src/nn/config";
import { gemmaPhiLayout, gemmaPhiTensorsCached, gemmaPhiReference, PHI3_ADDED, vocabSizeOf, type GemmaPhiOptions } from "./_hf-gemma-phi";
import { assertRecipesIdentical, buildQuantizeHarness } from "./_quantize-harness";
import { hfPlanError, assertConvertFailsCleanly, loadLlamaCpp, checkLlamaCppLogits } from "./_hf-archs";

const THREADS = 2;
const tmp = mkdtempSync(path.join(tmpdir(), "ts-archs-phi3-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

export const PHI3: Record<string, GemmaPhiOptions> = {
  "phi3 (untied, 2 KV heads)": { arch: "phi3", nLayer: 3, nEmbd: 128, nFf: 256, nHead: 4, nHeadKv: 2, tied: false, seed: 31 },
  "phi3 (tied, MHA)": { arch: "phi3", nLayer: 2, nEmbd: 128, nFf: 192, nHead: 2, nHeadKv: 2, tied: true, seed: 32 },
};
const O = PHI3["phi3 (untied, 2 KV heads)"]!;

test("phi3: fused attn_qkv / ffn_up as stored, metadata keys in Phi3MiniModel's order, added tokens, vocab_size padding", async () => {
  const plan = await llamaFromHf(filesResolver(gemmaPhiLayout(O)));
  try {
    assert.is(plan.arch, "phi3");
    const names = plan.tensors.map((t) => t.name);
    assert.equal(names.slice(0, 7), ["token_embd.weight", "blk.0.attn_norm.weight", "blk.0.attn_qkv.weight", "blk.0.attn_output.weight", "blk.0.ffn_norm.weight", "blk.0.ffn_down.weight", "blk.0.ffn_up.weight"]);
    assert.not.ok(names.some((n) => /attn_[qkv]\.weight|ffn_gate/.test(n)));
    assert.ok(names.includes("output.weight"));
    const hd = O.nEmbd / O.nHead, qkv = plan.tensors.find((t) => t.name === "blk.1.attn_qkv.weight")!;
    assert.equal([...qkv.ne], [O.nEmbd, O.nEmbd + 2 * hd * O.nHeadKv]);
    assert.equal([...plan.tensors.find((t) => t.name === "blk.1.ffn_up.weight")!.ne], [O.nEmbd, 2 * O.nFf]);
    const st = gemmaPhiTensorsCached(O);
    assert.equal(await qkv.read(), st.find((e) => e.name === "model.layers.1.self_attn.qkv_proj.weight")!.data, "rows as HF stores them");
    const n = O.nVocab ?? 320;
    assert.is(plan.vocab.tokens.length, vocabSizeOf(O));
    assert.equal(plan.vocab.tokens.slice(n, n + 4), PHI3_ADDED);
    assert.equal(plan.vocab.tokenTypes.slice(n, n + 5), [3, 3, 3, 3, 5], "added special tokens are CONTROL, the rest UNUSED padding");
    assert.equal(plan.vocab.scores!.slice(n + 3, n + 5), [-1000, -10000]);
    assert.is(plan.vocab.tokens[n + 4], `[PAD${n + 4}]`);
    assert.is(plan.vocab.eosId, n, "eos_token <|endoftext|>");
    const sink = memorySink();
    await convertToGguf(plan, sink, { ftype: "F16" });
    const g = await readGguf(memorySource(sink.bytes()));
    const keys = g.metadata.map((k) => k.key);
    assert.equal(keys.slice(3, 16), ["phi3.context_length", "phi3.rope.scaling.original_context_length", "phi3.embedding_length", "phi3.feed_forward_length", "phi3.block_count",
      "phi3.attention.head_count", "phi3.attention.head_count_kv", "phi3.attention.layer_norm_rms_epsilon", "phi3.rope.dimension_count", "phi3.rope.freq_base", "general.file_type", "phi3.attention.sliding_window", "tokenizer.ggml.model"]);
    assert.is(ggufGet(g, "phi3.rope.dimension_count"), hd);
    assert.is(ggufGet(g, "phi3.attention.sliding_window"), 2047);
    assert.is(ggufGet(g, "phi3.rope.scaling.original_context_length"), 4096);
    assert.not.ok(keys.includes("tokenizer.ggml.add_space_prefix"));
    assert.is(g.tensors.find((t) => t.name === "blk.0.attn_qkv.weight")!.type.name, "f16");
  } finally {
    await plan.close();
  }
});

test("errors: LongRoPE, fused shapes against config.json, Phi-3 names without llama.cpp's tokens — typed, before writing", async () => {
  const e1 = await hfPlanError(gemmaPhiLayout(O, undefined, (c) => { c.rope_scaling = { type: "longrope", long_factor: [1], short_factor: [1] }; }));
  assert.instance(e1, TensorshrinkError);
  assert.is(e1.code, "E_UNSUPPORTED");
  assert.match(e1.message, /longrope.*LongRoPE/);
  const e2 = await hfPlanError(gemmaPhiLayout(O, (st) => { const e = st.find((x) => x.name === "model.layers.0.mlp.gate_up_proj.weight")!; e.shape = [O.nFf, O.nEmbd]; e.data = e.data.subarray(0, O.nFf * O.nEmbd); }));
  assert.is(e2.code, "E_SHAPE");
  assert.match(e2.message, /blk\.0\.ffn_up\.weight.*\[128, 256\].*\[128, 512\]/);
  const e3 = await hfPlanError(gemmaPhiLayout(O, undefined, (c) => { c.num_key_value_heads = 4; }));
  assert.is(e3.code, "E_SHAPE");
  assert.match(e3.message, /blk\.0\.attn_qkv\.weight/);
  const e4 = await hfPlanError(gemmaPhiLayout(O, (st) => { st.splice(st.findIndex((e) => e.name === "model.layers.2.self_attn.qkv_proj.weight"), 1); }));
  assert.is(e4.code, "E_FORMAT");
  assert.match(e4.message, /model\.layers\.2\.self_attn\.qkv_proj\.weight/);
  const e5 = await hfPlanError(gemmaPhiLayout(O, undefined, (c) => { c.partial_rotary_factor = 0.5; }));
  assert.is(e5.code, "E_UNSUPPORTED");
  // llama.cpp looks up <|endoftext|> in any model named phi3 and aborts the load when it is missing
  const files = gemmaPhiLayout(O);
  const tc = JSON.parse(new TextDecoder().decode(files["tokenizer_config.json"]));
  delete tc.added_tokens_decoder; tc.eos_token = "</s>";
  files["tokenizer_config.json"] = new TextEncoder().encode(JSON.stringify(tc));
  const e6 = await hfPlanError(files);
  assert.is(e6.code, "E_FORMAT");
  assert.match(e6.message, /Phi-3.*<\|endoftext\|>/);
  // a llama.cpp Phi-3 128k GGUF: rope_factors_long / _short pass the loader's shape check, the forward pass refuses them by name
  const plan = await llamaFromHf(filesResolver(gemmaPhiLayout(O)));
  try {
    const hd = O.nEmbd / O.nHead, extra = ["rope_factors_long.weight", "rope_factors_short.weight"].map((name) => ({ name, ne: [hd / 2] }));
    const tensors = [...plan.tensors.map((t) => ({ name: t.name, ne: t.ne })), ...extra];
    checkLlamaTensors(planShapeParams(plan), tensors, "phi3-128k.gguf");
    const meta = planAsModelSource(plan).metadata;
    assert.is(llamaConfigFromMetadata(meta, plan.tensors.map((t) => ({ name: t.name, ne: t.ne }))).fusedQkv, true);
    const e7 = (() => { try { llamaConfigFromMetadata(meta, tensors); } catch (e) { return e as TensorshrinkError; } })();
    assert.is(e7?.code, "E_UNSUPPORTED");
    assert.match(e7!.message, /LongRoPE/);
  } finally {
    await plan.close();
  }
  await assertConvertFailsCleanly(files, path.join(tmp, "bad.gguf"), "E_FORMAT");
});

test("llama.cpp runs the converted F32 files; logits match a float64 forward pass with the HF semantics", async () => {
  const llama = await loadLlamaCpp();
  for (const [name, o] of Object.entries(PHI3)) {
    const { V } = await checkLlamaCppLogits(llama, {
      name, files: gemmaPhiLayout(o), file: path.join(tmp, "phi3.gguf"), tol: 1e-4, threads: THREADS,
      tokens: () => Array.from({ length: 40 }, (_, i) => 3 + ((i * 37 + 11) % 300)),
      reference: (tokens) => gemmaPhiReference(o, gemmaPhiTensorsCached(o), tokens),
    });
    assert.is(V, vocabSizeOf(o));
  }
});

const harness = buildQuantizeHarness(tmp);
test("llama-quantize recipes: whole files byte-identical (Q8_0 Q2_K Q3_K_M Q4_K_M Q5_K_M Q6_K; attn_qkv follows the attn_v rules)", async () => {
  if (typeof harness === "string") { console.log(`  SKIP: ${harness}; the byte-for-byte comparison with llama.cpp needs it`); return; }
  const engine = await init({ threads: 2 });
  try {
    // 256-wide rows so every k-quant applies; 4 layers (Q4_K_M / Q5_K_M "more bits" layers 2, 3; Q3_K_M's first two attn_qkv)
    const o: GemmaPhiOptions = { arch: "phi3", nLayer: 4, nEmbd: 256, nFf: 512, nHead: 4, nHeadKv: 2, tied: false, seed: 33 };
    const input = path.join(tmp, "phi3-F32.gguf");
    await convertToGguf({ hf: filesResolver(gemmaPhiLayout(o)) }, await openFileSink(input), { ftype: "F32" });
    const ftypes = process.env.TS_ARCHS_ALL_FTYPES ? Object.keys(FTYPES).filter((k) => !/^(IQ[123]|Q2_K_S)/.test(k)) : ["Q8_0", "Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K"];
    const done = await assertRecipesIdentical(harness.exe, engine, input, tmp, "phi3", ftypes, async (f, mine) => {
      if (f !== "Q4_K_M") return;
      const g = await readGguf(memorySource(new Uint8Array(readFileSync(mine))));
      assert.equal(g.tensors.filter((t) => t.name.endsWith("attn_qkv.weight")).map((t) => t.type.name), ["q4_K", "q4_K", "q6_K", "q6_K"]);
    });
    console.log(`  phi3: ${done.length} ftypes identical (${done.join(" ")})`);
  } finally {
    engine.dispose();
  }
});

test.run();
