// Test helper: a synthetic model (syntheticModel) written out in Hugging Face layout — config.json,
// tokenizer.json, model.safetensors — with the q/k rotate-half permutation and, for MoE models,
// Mixtral's split experts. Converting it back must give the original model's tensors.
import { encodeSafetensors } from "../src/formats/safetensors";
import type { ModelSource } from "../src/model/source";

export interface HfOptions { nLayer: number; nEmbd: number; nFf: number; nHead: number; nHeadKv: number; nVocab: number; nExpert?: number; nExpertUsed?: number }
export type StEntry = { name: string; dtype: "F32" | "F16" | "BF16"; shape: number[]; data: Float32Array };

const rowsOf = (ne: readonly number[]) => ne.slice(1).reduce((a, b) => a * b, 1);

/** HF stores q/k with halves rotated: HF row h*D + j*D/2 + i holds GGUF row h*D + 2i + j. */
export function toHfRotation(x: Float32Array, rows: number, cols: number, heads: number): Float32Array {
  const d = rows / heads, half = d / 2, out = new Float32Array(x.length);
  for (let h = 0; h < heads; h++) for (let i = 0; i < half; i++) for (let j = 0; j < 2; j++) {
    out.set(x.subarray((h * d + 2 * i + j) * cols, (h * d + 2 * i + j + 1) * cols), (h * d + j * half + i) * cols);
  }
  return out;
}

/** The HF directory's files (name -> bytes); `mutate` may edit the safetensors entries first; `dtype`: how the weights are stored. */
export async function hfLayout(model: ModelSource, H: HfOptions, mutate?: (st: StEntry[]) => void, dtype: StEntry["dtype"] = "F32"): Promise<Record<string, Uint8Array>> {
  const byName = new Map(model.tensors.map((t) => [t.name, t]));
  const all = async (name: string) => { const t = byName.get(name)!; return t.readRows(0, rowsOf(t.ne)); };
  const st: StEntry[] = [];
  const add = async (hf: string, gg: string, shape?: number[], data?: Float32Array) => {
    const t = byName.get(gg)!;
    st.push({ name: hf, dtype: "F32", shape: shape ?? (t.ne.length === 1 ? [t.ne[0]] : [rowsOf(t.ne), t.ne[0]]), data: data ?? (await all(gg)) });
  };
  const E = H.nExpert ?? 0, ff = H.nFf, d = H.nEmbd, kv = (d / H.nHead) * H.nHeadKv;
  await add("model.embed_tokens.weight", "token_embd.weight");
  for (let l = 0; l < H.nLayer; l++) {
    const p = `model.layers.${l}.`, b = `blk.${l}.`;
    await add(p + "input_layernorm.weight", b + "attn_norm.weight");
    await add(p + "self_attn.q_proj.weight", b + "attn_q.weight", [d, d], toHfRotation(await all(b + "attn_q.weight"), d, d, H.nHead));
    await add(p + "self_attn.k_proj.weight", b + "attn_k.weight", [kv, d], toHfRotation(await all(b + "attn_k.weight"), kv, d, H.nHeadKv));
    await add(p + "self_attn.v_proj.weight", b + "attn_v.weight");
    await add(p + "self_attn.o_proj.weight", b + "attn_output.weight");
    await add(p + "post_attention_layernorm.weight", b + "ffn_norm.weight");
    if (E > 1) {
      await add(p + "block_sparse_moe.gate.weight", b + "ffn_gate_inp.weight");
      const gate = await all(b + "ffn_gate_exps.weight"), down = await all(b + "ffn_down_exps.weight"), up = await all(b + "ffn_up_exps.weight");
      for (let e = 0; e < E; e++) {
        st.push({ name: `${p}block_sparse_moe.experts.${e}.w1.weight`, dtype: "F32", shape: [ff, d], data: gate.slice(e * ff * d, (e + 1) * ff * d) });
        st.push({ name: `${p}block_sparse_moe.experts.${e}.w2.weight`, dtype: "F32", shape: [d, ff], data: down.slice(e * d * ff, (e + 1) * d * ff) });
        st.push({ name: `${p}block_sparse_moe.experts.${e}.w3.weight`, dtype: "F32", shape: [ff, d], data: up.slice(e * ff * d, (e + 1) * ff * d) });
      }
    } else {
      await add(p + "mlp.gate_proj.weight", b + "ffn_gate.weight");
      await add(p + "mlp.down_proj.weight", b + "ffn_down.weight");
      await add(p + "mlp.up_proj.weight", b + "ffn_up.weight");
    }
  }
  await add("model.norm.weight", "output_norm.weight");
  await add("lm_head.weight", "output.weight");
  for (const e of st) e.dtype = dtype;
  mutate?.(st);
  const tokens: string[] = (model.metadata.find((k) => k.key === "tokenizer.ggml.tokens")!.value as any).items;
  const vocab: Record<string, number> = {};
  tokens.forEach((t, i) => { vocab[t] = i; });
  const tokenizer = { version: "1.0", added_tokens: [0, 1, 2].map((id) => ({ id, content: tokens[id], special: true })), model: { type: "BPE", byte_fallback: true, unk_token: "<unk>", vocab, merges: [] } };
  const config = {
    architectures: [E > 1 ? "MixtralForCausalLM" : "LlamaForCausalLM"], hidden_size: d, intermediate_size: ff, num_hidden_layers: H.nLayer, num_attention_heads: H.nHead, num_key_value_heads: H.nHeadKv,
    max_position_embeddings: 2048, rms_norm_eps: 1e-5, rope_theta: 10000, vocab_size: H.nVocab, tie_word_embeddings: false,
    ...(E > 1 ? { num_local_experts: E, num_experts_per_tok: H.nExpertUsed ?? 2 } : {}),
  };
  const enc = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));
  return { "config.json": enc(config), "tokenizer.json": enc(tokenizer), "model.safetensors": encodeSafetensors(st) };
}
