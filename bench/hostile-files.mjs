// Cost of the hostile-file checks (issue 8), measured in one run: the duplicate-key scan of a
// safetensors header / shard index the size of a 70B model's, next to the JSON.parse it follows;
// and checkLlamaModel on the same model's 723 tensor shapes. Usage: npm run bench:hostile-files
import { findDuplicateJsonKey, checkLlamaModel, ggufKV, ggufArray } from "../dist/index.js";

const L = 80, E = 8192, FF = 28672, KV = 1024, V = 128256;
const h = {};
let off = 0;
const add = (name, shape) => { h[name] = { dtype: "BF16", shape, data_offsets: [off, (off += shape.reduce((a, b) => a * b, 1) * 2)] }; };
add("model.embed_tokens.weight", [V, E]);
for (let l = 0; l < L; l++) {
  const p = `model.layers.${l}.`;
  add(p + "self_attn.q_proj.weight", [E, E]); add(p + "self_attn.k_proj.weight", [KV, E]); add(p + "self_attn.v_proj.weight", [KV, E]); add(p + "self_attn.o_proj.weight", [E, E]);
  add(p + "mlp.gate_proj.weight", [FF, E]); add(p + "mlp.up_proj.weight", [FF, E]); add(p + "mlp.down_proj.weight", [E, FF]);
  add(p + "input_layernorm.weight", [E]); add(p + "post_attention_layernorm.weight", [E]);
}
add("model.norm.weight", [E]); add("lm_head.weight", [V, E]);
const text = JSON.stringify(h);
const time = (fn, n = 30) => { fn(); const t0 = performance.now(); for (let i = 0; i < n; i++) fn(); return (performance.now() - t0) / n; };
const parse = time(() => JSON.parse(text)), dup = time(() => findDuplicateJsonKey(text));
console.log(`safetensors header of ${Object.keys(h).length} tensors (${(text.length / 1024).toFixed(0)} KiB): JSON.parse ${parse.toFixed(2)} ms, duplicate-key scan ${dup.toFixed(2)} ms (${(dup / parse).toFixed(2)}x of the parse)`);

const tensors = [{ name: "token_embd.weight", ne: [E, V] }, { name: "output_norm.weight", ne: [E] }, { name: "output.weight", ne: [E, V] }];
for (let l = 0; l < L; l++) {
  const b = `blk.${l}.`;
  tensors.push({ name: b + "attn_norm.weight", ne: [E] }, { name: b + "attn_q.weight", ne: [E, E] }, { name: b + "attn_k.weight", ne: [E, KV] }, { name: b + "attn_v.weight", ne: [E, KV] },
    { name: b + "attn_output.weight", ne: [E, E] }, { name: b + "ffn_norm.weight", ne: [E] }, { name: b + "ffn_gate.weight", ne: [E, FF] }, { name: b + "ffn_down.weight", ne: [FF, E] }, { name: b + "ffn_up.weight", ne: [E, FF] });
}
const metadata = [ggufKV("general.architecture", "str", "llama"), ggufKV("llama.embedding_length", "u32", E), ggufKV("llama.block_count", "u32", L), ggufKV("llama.feed_forward_length", "u32", FF),
  ggufKV("llama.attention.head_count", "u32", 64), ggufKV("llama.attention.head_count_kv", "u32", 8), ggufKV("llama.rope.dimension_count", "u32", 128), ggufKV("llama.vocab_size", "u32", V)];
const check = time(() => checkLlamaModel({ metadata, tensors }, "70B"), 100);
console.log(`checkLlamaModel on ${tensors.length} tensors of a 70B-shaped llama: ${check.toFixed(2)} ms`);
