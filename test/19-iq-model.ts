// I-quant types in the model pipeline: quantizeModel with user rules writes iq4_xs / iq3_s / iq3_xxs /
// iq2_s / iq1_m tensors (and, with an importance matrix, iq2_xxs / iq2_xs / iq1_s) whose bytes equal
// engine.quantize on the same rows, through the 2-worker pool; without an imatrix the types that need
// one stop the run with E_IMATRIX naming the tensor, and nothing is written.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { init, syntheticModel, quantizeModel, parseRule, llamaCppTensorOrder, TensorshrinkError } from "../src/index";
import { memorySink, memorySource } from "../src/formats/source";
import { readGguf, readGgufTensorBytes } from "../src/formats/gguf";
import { rng } from "./_util";

const engine = await init({ threads: 2 });
const model = syntheticModel({ nLayer: 2, nEmbd: 256, nFf: 512, nVocab: 300, nHead: 4, nHeadKv: 2 });

async function check(rules: string[], imatrix?: Map<string, Float32Array>) {
  const sink = memorySink();
  await quantizeModel(engine, model, sink, { ftype: "Q8_0", rules: rules.map(parseRule), imatrix, chunkBytes: 64 * 1024 });
  const g = await readGguf(memorySource(sink.bytes()));
  const ordered = llamaCppTensorOrder(model.tensors);
  const seen = new Set<string>();
  for (let i = 0; i < g.tensors.length; i++) {
    const t = g.tensors[i], src = ordered[i];
    const rule = rules.map(parseRule).find((r) => r.pattern.test(t.name));
    if (!rule || rule.type === "skip") continue;
    assert.is(t.type.name, rule.type, t.name);
    seen.add(rule.type);
    const x = await src.readRows(0, t.rows);
    const want = engine.quantize(x, { type: rule.type, rows: t.rows, cols: t.ne[0], imatrix: imatrix?.get(t.name) });
    const got = await readGgufTensorBytes(g, t);
    assert.equal(got, want, t.name);
    const dq = engine.dequantize(got, { type: rule.type, rows: t.rows, cols: t.ne[0] });
    assert.ok(engine.error(x, dq).sqnrDb > 1, t.name);
  }
  return seen;
}

// llama.cpp's tensor_requires_imatrix: iq3_xxs, iq2_s, iq1_m (like iq2_xxs/iq2_xs/iq1_s) are refused
// in a file without an importance matrix, even by rule; iq4_xs and iq3_s are not.
test("rules to the i-quants that need no imatrix: types and bytes as engine.quantize (pool)", async () => {
  assert.is(await engine.poolSize(), 2);
  const seen = await check(["attn_q=iq4_xs", "attn_k=iq3_s", "ffn_gate=iq4_xs", "ffn_down=iq3_s", "token_embd=iq3_s"]);
  assert.equal([...seen].sort(), ["iq3_s", "iq4_xs"]);
});

test("with an importance matrix: iq2_xxs / iq2_xs / iq2_s / iq1_s / iq1_m / iq3_xxs tensors, bytes as engine.quantize with the same vectors", async () => {
  const r = rng(4, 2), im = new Map<string, Float32Array>();
  for (const t of model.tensors) if (t.ne.length >= 2) im.set(t.name, new Float32Array(t.ne[0]).map(() => 0.05 + r.uniform() * 3));
  const seen = await check(["attn_q=iq2_xxs", "attn_k=iq2_xs", "attn_v=iq1_s", "attn_output=iq2_s", "ffn_up=iq1_m", "ffn_gate=iq3_xxs", "ffn_down=iq2_xs"], im);
  assert.equal([...seen].sort(), ["iq1_m", "iq1_s", "iq2_s", "iq2_xs", "iq2_xxs", "iq3_xxs"]);
});

test("iq2_xxs by rule without an imatrix: E_IMATRIX naming the tensor, no bytes written", async () => {
  const sink = memorySink();
  const err = await quantizeModel(engine, model, sink, { ftype: "Q8_0", rules: [parseRule("ffn_down=iq2_xxs")] }).catch((e) => e);
  assert.instance(err, TensorshrinkError);
  assert.is(err.code, "E_IMATRIX");
  assert.match(err.message, "ffn_down");
  assert.is(sink.bytes().length, 0);
});

test.run();
