/**
 * The per-layer tensors of Gemma 2 / Gemma 3 / Phi-3 Hugging Face checkpoints in llama.cpp's GGUF
 * naming, as convert_hf_to_gguf.py maps them (gguf-py tensor_mapping.py):
 *
 * | HF (model.layers.N.)                         | GGUF (blk.N.)                 | note                     |
 * |----------------------------------------------|-------------------------------|--------------------------|
 * | input_layernorm                              | attn_norm                     | Gemma: + 1               |
 * | self_attn.{q,k,v,o}_proj                     | attn_{q,k,v,output}           | no permutation (NEOX)    |
 * | self_attn.{q,k}_norm (Gemma 3)               | attn_{q,k}_norm               | + 1                      |
 * | post_attention_layernorm (Gemma)             | post_attention_norm           | + 1                      |
 * | pre_feedforward_layernorm (Gemma)            | ffn_norm                      | + 1                      |
 * | mlp.{gate,up,down}_proj                      | ffn_{gate,up,down}            |                          |
 * | post_feedforward_layernorm (Gemma)           | post_ffw_norm                 | + 1                      |
 * | self_attn.qkv_proj (Phi-3)                   | attn_qkv [n_embd, q+k+v rows] | stored fused, as is      |
 * | post_attention_layernorm (Phi-3)             | ffn_norm                      |                          |
 * | mlp.gate_up_proj (Phi-3)                     | ffn_up [n_embd, 2·n_ff]       | gate rows first, as is   |
 *
 * Gemma's "+ 1" (its RMSNorm multiplies by 1 + w) is computed as torch does it in the converter: in
 * the checkpoint's dtype (a bf16 norm weight + 1 is rounded to bf16), then written as f32.
 */
import { TensorshrinkError } from "../errors";
import { bf16ToF32, encodeBf16, encodeF16, encodeF32, f16ToF32, f32ToBf16, f32ToF16 } from "../formats/half";
import type { SafetensorsTensor } from "../formats/safetensors";
import type { ModelTensor } from "./plan";
import type { HfArchInfo } from "./archs";

/** Rounds v to the precision of a safetensors dtype ("F32", "F16", "BF16"). */
function roundTo(dtype: string, v: number): number {
  if (dtype === "BF16") return bf16ToF32(f32ToBf16(v));
  if (dtype === "F16") return f16ToF32(f32ToF16(v));
  return Math.fround(v);
}

/**
 * A 1-D tensor (norm weight) read as `w + shift`, rounded to its stored dtype as the converter's torch
 * arithmetic does; raw rows are the shifted values in that dtype. Not readable by pool workers from the
 * file (no fileRows: the stored bytes are not the values).
 */
export function shiftedTensor(name: string, st: SafetensorsTensor, shift: number): ModelTensor {
  if (st.shape.length > 1) throw new TensorshrinkError("E_SHAPE", `${st.name}: a norm weight must be a vector, got shape [${st.shape.join(", ")}]`, { tensor: st.name });
  const n = st.rowLength;
  const readRows = async (s: number, c: number) => {
    const v = await st.readRows(s, c);
    for (let i = 0; i < v.length; i++) v[i] = roundTo(st.dtype, v[i]! + shift);
    return v;
  };
  const readRawRows = async (s: number, c: number) => {
    const v = await readRows(s, c);
    return st.dtype === "BF16" ? encodeBf16(v) : st.dtype === "F16" ? encodeF16(v) : encodeF32(v);
  };
  return { name, ne: [n], sourceDtype: st.dtype, type: st.dtype.toLowerCase(), rowLength: n, rows: 1, readRows, readRawRows, read: () => readRows(0, 1) };
}

/** The first `rows` rows of a matrix tensor (Gemma 3: token_embd without the rows beyond the vocabulary). */
export function truncatedRows(t: ModelTensor, rows: number): ModelTensor {
  if (rows >= t.rows) return t;
  const check = (s: number, c: number) => {
    if (!Number.isSafeInteger(s) || !Number.isSafeInteger(c) || s < 0 || c < 0 || s + c > rows) throw new TensorshrinkError("E_RANGE", `tensor ${t.name}: rows [${s}, ${s + c}) outside [0, ${rows})`, { tensor: t.name });
  };
  return {
    name: t.name, ne: [t.rowLength, rows], sourceDtype: t.sourceDtype, type: t.type, rowLength: t.rowLength, rows,
    readRows: (s, c) => { check(s, c); return t.readRows(s, c); },
    readRawRows: (s, c) => { check(s, c); return t.readRawRows(s, c); },
    read: () => t.readRows(0, rows),
    ...(t.fileRows ? { fileRows: (s: number, c: number) => (s >= 0 && c >= 0 && s + c <= rows ? t.fileRows!(s, c) : null) } : {}),
  };
}

/**
 * The GGUF tensors of layer `l` of a Gemma 2 / Gemma 3 / Phi-3 checkpoint (table above), in the order
 * the plan writes them.
 * @param get the safetensors tensor of an HF name (throws `E_FORMAT` naming a missing one).
 * @param plain wraps a safetensors tensor under a GGUF name, as stored.
 */
export function gemmaPhiLayerTensors(info: HfArchInfo, l: number, get: (n: string) => SafetensorsTensor, plain: (name: string, st: SafetensorsTensor) => ModelTensor): ModelTensor[] {
  const p = `model.layers.${l}.`, b = `blk.${l}.`;
  if (info.fused) {
    return [
      plain(b + "attn_norm.weight", get(p + "input_layernorm.weight")),
      plain(b + "attn_qkv.weight", get(p + "self_attn.qkv_proj.weight")),
      plain(b + "attn_output.weight", get(p + "self_attn.o_proj.weight")),
      plain(b + "ffn_norm.weight", get(p + "post_attention_layernorm.weight")),
      plain(b + "ffn_down.weight", get(p + "mlp.down_proj.weight")),
      plain(b + "ffn_up.weight", get(p + "mlp.gate_up_proj.weight")),
    ];
  }
  const norm = (name: string, hf: string) => shiftedTensor(b + name, get(p + hf), 1);
  return [
    norm("attn_norm.weight", "input_layernorm.weight"),
    plain(b + "attn_q.weight", get(p + "self_attn.q_proj.weight")),
    plain(b + "attn_k.weight", get(p + "self_attn.k_proj.weight")),
    plain(b + "attn_v.weight", get(p + "self_attn.v_proj.weight")),
    plain(b + "attn_output.weight", get(p + "self_attn.o_proj.weight")),
    ...(info.qkNorm ? [norm("attn_q_norm.weight", "self_attn.q_norm.weight"), norm("attn_k_norm.weight", "self_attn.k_norm.weight")] : []),
    norm("post_attention_norm.weight", "post_attention_layernorm.weight"),
    norm("ffn_norm.weight", "pre_feedforward_layernorm.weight"),
    plain(b + "ffn_gate.weight", get(p + "mlp.gate_proj.weight")),
    plain(b + "ffn_down.weight", get(p + "mlp.down_proj.weight")),
    plain(b + "ffn_up.weight", get(p + "mlp.up_proj.weight")),
    norm("post_ffw_norm.weight", "post_feedforward_layernorm.weight"),
  ];
}
