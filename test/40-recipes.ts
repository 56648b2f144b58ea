// llama-quantize's per-tensor type choices (llama_tensor_get_type, llama arch).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { planModel, parseRule, lookupFtype, TensorshrinkError } from "../src/index";

function llama(nLayer: number, nEmbd: number, nFf: number, nVocab: number, kvDim: number, tied = false) {
  const t: { name: string; shape: number[]; type: string }[] = [{ name: "token_embd.weight", shape: [nEmbd, nVocab], type: "f16" }];
  for (let l = 0; l < nLayer; l++) {
    const p = `blk.${l}.`;
    t.push({ name: p + "attn_norm.weight", shape: [nEmbd], type: "f32" });
    t.push({ name: p + "attn_q.weight", shape: [nEmbd, nEmbd], type: "f16" });
    t.push({ name: p + "attn_k.weight", shape: [nEmbd, kvDim], type: "f16" });
    t.push({ name: p + "attn_v.weight", shape: [nEmbd, kvDim], type: "f16" });
    t.push({ name: p + "attn_output.weight", shape: [nEmbd, nEmbd], type: "f16" });
    t.push({ name: p + "ffn_norm.weight", shape: [nEmbd], type: "f32" });
    t.push({ name: p + "ffn_gate.weight", shape: [nEmbd, nFf], type: "f16" });
    t.push({ name: p + "ffn_down.weight", shape: [nFf, nEmbd], type: "f16" });
    t.push({ name: p + "ffn_up.weight", shape: [nEmbd, nFf], type: "f16" });
  }
  t.push({ name: "output_norm.weight", shape: [nEmbd], type: "f32" });
  if (!tied) t.push({ name: "output.weight", shape: [nEmbd, nVocab], type: "f16" });
  return t;
}
const types = (plan: { name: string; type: string }[]) => Object.fromEntries(plan.map((p) => [p.name, p.type]));

test("Llama-2-7B Q4_K_M: q6_K for output, half of attn_v/ffn_down (use_more_bits), q4_K elsewhere", () => {
  const plan = types(planModel(llama(32, 4096, 11008, 32000, 4096), "Q4_K_M", { nLayer: 32, nHead: 32, nHeadKv: 32 }));
  const more = [0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31];
  for (let l = 0; l < 32; l++) {
    assert.is(plan[`blk.${l}.ffn_down.weight`], more.includes(l) ? "q6_K" : "q4_K", `ffn_down ${l}`);
    assert.is(plan[`blk.${l}.attn_v.weight`], more.includes(l) ? "q6_K" : "q4_K", `attn_v ${l}`);
    assert.is(plan[`blk.${l}.attn_q.weight`], "q4_K");
    assert.is(plan[`blk.${l}.attn_norm.weight`], "f32");
  }
  assert.is(plan["output.weight"], "q6_K");
  assert.is(plan["token_embd.weight"], "q4_K");
});

test("Q2_K / Q3_K_M / Q3_K_L / Q4_K_S / Q5_K_M / IQ4_NL bumps", () => {
  const t = llama(32, 4096, 11008, 32000, 1024); // n_gqa = 4
  const hp = { nLayer: 32, nHead: 32, nHeadKv: 8 };
  let p = types(planModel(t, "Q2_K", hp));
  assert.is(p["blk.5.attn_v.weight"], "q4_K");
  assert.is(p["blk.5.ffn_down.weight"], "q3_K");
  assert.is(p["blk.5.attn_output.weight"], "q3_K");
  assert.is(p["blk.5.attn_q.weight"], "q2_K");
  p = types(planModel(t, "Q3_K_M", hp));
  assert.is(p["blk.0.attn_v.weight"], "q5_K");
  assert.is(p["blk.2.attn_v.weight"], "q4_K");
  assert.is(p["blk.1.ffn_down.weight"], "q5_K");
  assert.is(p["blk.2.ffn_down.weight"], "q4_K");
  assert.is(p["blk.7.attn_output.weight"], "q4_K");
  p = types(planModel(t, "Q3_K_L", hp));
  assert.is(p["blk.9.attn_v.weight"], "q5_K");
  assert.is(p["blk.9.ffn_down.weight"], "q5_K");
  assert.is(p["blk.9.attn_output.weight"], "q5_K");
  assert.is(p["blk.9.ffn_up.weight"], "q3_K");
  p = types(planModel(t, "Q4_K_S", hp));
  assert.is(p["blk.3.attn_v.weight"], "q5_K");
  assert.is(p["blk.4.attn_v.weight"], "q4_K");
  assert.is(p["blk.3.ffn_down.weight"], "q5_K");
  assert.is(p["blk.4.ffn_down.weight"], "q4_K");
  p = types(planModel(t, "Q5_K_M", hp));
  assert.is(p["blk.0.ffn_down.weight"], "q6_K");
  assert.is(p["blk.4.ffn_down.weight"], "q5_K");
  p = types(planModel(t, "IQ4_NL", hp));
  assert.is(p["blk.4.attn_v.weight"], "q5_K");
  assert.is(p["blk.0.ffn_down.weight"], "q5_K");
  assert.is(p["blk.4.ffn_down.weight"], "iq4_nl");
  p = types(planModel(t, "IQ4_NL", hp, { hasImatrix: true }));
  assert.is(p["blk.0.ffn_down.weight"], "iq4_nl");
  p = types(planModel(t, "Q4_0", hp, { hasImatrix: true }));
  assert.is(p["blk.0.ffn_down.weight"], "q4_1");
  assert.is(p["output.weight"], "q6_K");
});

test("stories260K shapes: fallbacks when rows are not multiples of 256 / 32, tied output", () => {
  const t = llama(5, 64, 172, 512, 32, true);
  const hp = { nLayer: 5, nHead: 8, nHeadKv: 4 };
  const p = types(planModel(t, "Q4_K_M", hp));
  assert.is(p["token_embd.weight"], "q8_0"); // tied output: 64 % 256 != 0 -> q8_0
  assert.is(p["blk.0.attn_q.weight"], "q5_0"); // q4_K -> q5_0
  assert.is(p["blk.0.attn_v.weight"], "q5_0"); // use_more_bits(0, 5) is false: q4_K -> q5_0
  assert.is(p["blk.2.attn_v.weight"], "q8_0"); // (2 - 0) % 3 == 2: q6_K -> q8_0
  assert.is(p["blk.0.ffn_down.weight"], "f16"); // 172 % 32 != 0
  assert.is(p["blk.1.ffn_gate.weight"], "q5_0");
  const q6 = types(planModel(t, "Q6_K", hp));
  assert.is(q6["blk.1.ffn_gate.weight"], "q8_0");
  const q2 = types(planModel(t, "Q2_K", hp));
  assert.is(q2["blk.1.ffn_gate.weight"], "q4_0"); // q2_K -> q4_0 (llama.cpp of node-llama-cpp 3.22)
  const f16 = types(planModel(t, "F16", hp));
  assert.is(f16["blk.1.ffn_down.weight"], "f16");
  assert.is(f16["blk.1.ffn_norm.weight"], "f32");
  const q80 = types(planModel(t, "Q8_0", hp));
  assert.is(q80["blk.1.ffn_down.weight"], "f16");
});

test("user rules: first match wins, skip keeps the input type, bad rules are typed errors", () => {
  const t = llama(8, 4096, 11008, 32000, 4096);
  const rules = [parseRule("blk\\.[0-3]\\..*=q8_0"), parseRule("ffn_.*=skip")];
  const p = types(planModel(t, "Q4_K_M", { nLayer: 8, nHead: 32, nHeadKv: 32 }, { rules }));
  assert.is(p["blk.2.ffn_up.weight"], "q8_0");
  assert.is(p["blk.5.ffn_up.weight"], "f16");
  assert.is(p["blk.5.attn_q.weight"], "q4_K");
  for (const bad of ["nope", "x=q9_9", "(=q8_0", "=q8_0"]) {
    try { parseRule(bad); assert.unreachable(bad); } catch (e) { assert.instance(e, TensorshrinkError, bad); }
  }
  assert.is(lookupFtype("q4_k_m").id, 15);
  assert.throws(() => lookupFtype("Q7_K"), (e: any) => e.code === "E_UNKNOWN_TYPE");
});

test.run();
