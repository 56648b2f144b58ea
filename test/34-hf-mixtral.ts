// Hugging Face Mixtral layout (MixtralForCausalLM: block_sparse_moe.gate + experts.E.w1/w2/w3) →
// llama GGUF with 3D expert tensors, as llama.cpp's converter writes them. The reference is the
// synthetic MoE model itself: written out in HF layout (q/k rotate-half permuted, experts split), the
// converted model must quantize to the very bytes of the original; expert_count / expert_used_count
// in the metadata; mismatched or missing experts are typed errors.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { init, syntheticModel, quantizeModel, TensorshrinkError } from "../src/index";
import { memorySink, memorySource, filesResolver } from "../src/formats/source";
import { encodeSafetensors } from "../src/formats/safetensors";
import { readGguf, readGgufTensorBytes, ggufGet } from "../src/formats/gguf";
import { openHfModel, llamaFromHf } from "../src/model/convert";

const engine = await init({ threads: 2 });
const H = { nLayer: 2, nEmbd: 256, nFf: 256, nHead: 4, nHeadKv: 2, nVocab: 300, seed: 21, nExpert: 4, nExpertUsed: 2 };
const moe = syntheticModel(H);
const byName = new Map(moe.tensors.map((t) => [t.name, t]));
const rowsOf = (ne: readonly number[]) => ne.slice(1).reduce((a, b) => a * b, 1);
const all = async (name: string) => { const t = byName.get(name)!; return t.readRows(0, rowsOf(t.ne)); };

/** HF stores q/k with halves rotated: HF row h*D + j*D/2 + i holds GGUF row h*D + 2i + j. */
function toHfRotation(x: Float32Array, rows: number, cols: number, heads: number): Float32Array {
  const d = rows / heads, half = d / 2, out = new Float32Array(x.length);
  for (let h = 0; h < heads; h++) for (let i = 0; i < half; i++) for (let j = 0; j < 2; j++) {
    out.set(x.subarray((h * d + 2 * i + j) * cols, (h * d + 2 * i + j + 1) * cols), (h * d + j * half + i) * cols);
  }
  return out;
}

async function hfFiles(mutate?: (st: { name: string; dtype: "F32"; shape: number[]; data: Float32Array }[]) => void) {
  const st: { name: string; dtype: "F32"; shape: number[]; data: Float32Array }[] = [];
  const add = async (hf: string, gg: string, shape?: number[], data?: Float32Array) => {
    const t = byName.get(gg)!;
    st.push({ name: hf, dtype: "F32", shape: shape ?? (t.ne.length === 1 ? [t.ne[0]] : [rowsOf(t.ne), t.ne[0]]), data: data ?? (await all(gg)) });
  };
  const E = H.nExpert, ff = H.nFf, d = H.nEmbd, kv = (d / H.nHead) * H.nHeadKv;
  await add("model.embed_tokens.weight", "token_embd.weight");
  for (let l = 0; l < H.nLayer; l++) {
    const p = `model.layers.${l}.`, b = `blk.${l}.`;
    await add(p + "input_layernorm.weight", b + "attn_norm.weight");
    await add(p + "self_attn.q_proj.weight", b + "attn_q.weight", [d, d], toHfRotation(await all(b + "attn_q.weight"), d, d, H.nHead));
    await add(p + "self_attn.k_proj.weight", b + "attn_k.weight", [kv, d], toHfRotation(await all(b + "attn_k.weight"), kv, d, H.nHeadKv));
    await add(p + "self_attn.v_proj.weight", b + "attn_v.weight");
    await add(p + "self_attn.o_proj.weight", b + "attn_output.weight");
    await add(p + "post_attention_layernorm.weight", b + "ffn_norm.weight");
    await add(p + "block_sparse_moe.gate.weight", b + "ffn_gate_inp.weight");
    const gate = await all(b + "ffn_gate_exps.weight"), down = await all(b + "ffn_down_exps.weight"), up = await all(b + "ffn_up_exps.weight");
    for (let e = 0; e < E; e++) {
      st.push({ name: `${p}block_sparse_moe.experts.${e}.w1.weight`, dtype: "F32", shape: [ff, d], data: gate.slice(e * ff * d, (e + 1) * ff * d) });
      st.push({ name: `${p}block_sparse_moe.experts.${e}.w2.weight`, dtype: "F32", shape: [d, ff], data: down.slice(e * d * ff, (e + 1) * d * ff) });
      st.push({ name: `${p}block_sparse_moe.experts.${e}.w3.weight`, dtype: "F32", shape: [ff, d], data: up.slice(e * ff * d, (e + 1) * ff * d) });
    }
  }
  await add("model.norm.weight", "output_norm.weight");
  await add("lm_head.weight", "output.weight");
  mutate?.(st);
  const tokens: string[] = (moe.metadata.find((k) => k.key === "tokenizer.ggml.tokens")!.value as any).items;
  const vocab: Record<string, number> = {};
  tokens.forEach((t, i) => { vocab[t] = i; });
  const tokenizer = { version: "1.0", added_tokens: [0, 1, 2].map((id) => ({ id, content: tokens[id], special: true })), model: { type: "BPE", byte_fallback: true, unk_token: "<unk>", vocab, merges: [] } };
  const config = {
    architectures: ["MixtralForCausalLM"], hidden_size: d, intermediate_size: ff, num_hidden_layers: H.nLayer, num_attention_heads: H.nHead, num_key_value_heads: H.nHeadKv,
    max_position_embeddings: 2048, rms_norm_eps: 1e-5, rope_theta: 10000, vocab_size: H.nVocab, tie_word_embeddings: false, num_local_experts: E, num_experts_per_tok: H.nExpertUsed,
  };
  const enc = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));
  return filesResolver({ "config.json": enc(config), "tokenizer.json": enc(tokenizer), "model.safetensors": encodeSafetensors(st) });
}

test("Mixtral directory → 3D expert tensors: quantizes to the original model's bytes; expert counts in the metadata", async () => {
  const m = await openHfModel(await hfFiles());
  try {
    assert.equal(m.hparams, { nLayer: 2, nHead: 4, nHeadKv: 2, nExpert: 4 });
    const exps = m.tensors.find((t) => t.name === "blk.1.ffn_down_exps.weight")!;
    assert.equal([...exps.ne], [256, 256, 4]);
    // rows across an expert boundary come from two expert tensors
    const want = await byName.get("blk.1.ffn_down_exps.weight")!.readRows(250, 12);
    assert.equal(await exps.readRows(250, 12), want);
    assert.equal(new Float32Array((await exps.readRawRows(250, 12)).slice().buffer), want);
    for (const ftype of ["Q4_K_M", "Q8_0"]) {
      const a = memorySink(), b = memorySink();
      await quantizeModel(engine, m, a, { ftype });
      await quantizeModel(engine, moe, b, { ftype });
      const ga = await readGguf(memorySource(a.bytes())), gb = await readGguf(memorySource(b.bytes()));
      assert.is(ggufGet(ga, "llama.expert_count"), 4);
      assert.is(ggufGet(ga, "llama.expert_used_count"), 2);
      assert.equal(ga.tensors.map((t) => [t.name, t.type.name, t.ne.join("x")]), gb.tensors.map((t) => [t.name, t.type.name, t.ne.join("x")]));
      for (let i = 0; i < ga.tensors.length; i++) assert.equal(await readGgufTensorBytes(ga, ga.tensors[i]), await readGgufTensorBytes(gb, gb.tensors[i]), `${ftype} ${ga.tensors[i].name}`);
    }
  } finally {
    await m.close();
  }
});

test("Mixtral: an expert of another shape or a missing expert is a typed error naming it", async () => {
  const r1 = await hfFiles((st) => {
    const i = st.findIndex((t) => t.name === "model.layers.1.block_sparse_moe.experts.2.w3.weight");
    st[i] = { ...st[i], shape: [128, 512] };
  });
  const e1 = await llamaFromHf(r1).catch((e) => e);
  assert.instance(e1, TensorshrinkError);
  assert.is(e1.code, "E_SHAPE");
  assert.match(e1.message, /experts\.2\.w3\.weight/);
  const r2 = await hfFiles((st) => { st.splice(st.findIndex((t) => t.name === "model.layers.0.block_sparse_moe.experts.3.w1.weight"), 1); });
  const e2 = await llamaFromHf(r2).catch((e) => e);
  assert.is(e2.code, "E_FORMAT");
  assert.match(e2.message, /experts\.3\.w1\.weight/);
});

test.after(() => engine.dispose());
test.run();
