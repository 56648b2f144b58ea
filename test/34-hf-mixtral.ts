// Hugging Face Mixtral layout (MixtralForCausalLM: block_sparse_moe.gate + experts.E.w1/w2/w3) →
// llama GGUF with 3D expert tensors, as llama.cpp's converter writes them. The reference is the
// synthetic MoE model itself: written out in HF layout (q/k rotate-half permuted, experts split), the
// converted model must quantize to the very bytes of the original; expert_count / expert_used_count
// in the metadata; mismatched or missing experts are typed errors.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { init, syntheticModel, quantizeModel, TensorshrinkError } from "../src/index";
import { memorySink, memorySource, filesResolver } from "../src/formats/source";
import { readGguf, readGgufTensorBytes, ggufGet } from "../src/formats/gguf";
import { openHfModel, llamaFromHf } from "../src/model/convert";
import { hfLayout, type StEntry } from "./_hf";

const engine = await init({ threads: 2 });
const H = { nLayer: 2, nEmbd: 256, nFf: 256, nHead: 4, nHeadKv: 2, nVocab: 300, seed: 21, nExpert: 4, nExpertUsed: 2 };
const moe = syntheticModel(H);
const byName = new Map(moe.tensors.map((t) => [t.name, t]));

const hfFiles = async (mutate?: (st: StEntry[]) => void) => filesResolver(await hfLayout(moe, H, mutate));

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
