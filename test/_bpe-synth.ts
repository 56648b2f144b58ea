// Test helper: a deterministic synthetic byte-level BPE vocabulary (GPT-2 style, llama-bpe pre-tokenizer),
// learned on a text: 256 byte tokens, `nMerges` merges chosen by pair frequency (ties: smaller pair
// string), then special tokens. Returned as GGUF tokenizer metadata for a tiny llama header.
import { ggufArray, ggufKV, type GgufKV } from "../src/formats/gguf";
import { preTokenize, preTokenizerFor } from "../src/tokenizer/pretokenize";
import { BYTE_TO_UNICODE, byteEncode } from "../src/tokenizer/unicode";

export function learnBpe(text: string, nMerges: number, pre = "llama-bpe"): { tokens: string[]; types: number[]; merges: string[] } {
  const counts = new Map<string, number>();
  for (const w of preTokenize(text, preTokenizerFor(pre))) { const e = byteEncode(w); counts.set(e, (counts.get(e) ?? 0) + 1); }
  let words = [...counts].map(([w, c]) => ({ sym: Array.from(w), c }));
  const tokens: string[] = [...BYTE_TO_UNICODE];
  const merges: string[] = [];
  for (let m = 0; m < nMerges; m++) {
    const pairs = new Map<string, number>();
    for (const { sym, c } of words) for (let i = 0; i + 1 < sym.length; i++) { const k = sym[i] + " " + sym[i + 1]; pairs.set(k, (pairs.get(k) ?? 0) + c); }
    let best = "", bc = 0;
    for (const [k, c] of pairs) if (c > bc || (c === bc && k < best)) { best = k; bc = c; }
    if (bc < 2) break;
    merges.push(best);
    const [a, b] = best.split(" ") as [string, string];
    tokens.push(a + b);
    words = words.map(({ sym, c }) => {
      const out: string[] = [];
      for (let i = 0; i < sym.length; i++) {
        if (i + 1 < sym.length && sym[i] === a && sym[i + 1] === b) { out.push(a + b); i++; } else out.push(sym[i]!);
      }
      return { sym: out, c };
    });
  }
  const types = tokens.map(() => 1);
  for (const s of ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"]) { tokens.push(s); types.push(3); }
  tokens.push("<|user_defined|>"); types.push(4);
  return { tokens, types, merges };
}

/** GGUF metadata of a tiny llama whose tokenizer is `learnBpe(text, nMerges)` (vocab-only: no tensors). */
export function syntheticBpeMetadata(text: string, nMerges: number, pre = "llama-bpe"): GgufKV[] {
  const { tokens, types, merges } = learnBpe(text, nMerges, pre);
  const bos = tokens.indexOf("<|begin_of_text|>"), eos = tokens.indexOf("<|end_of_text|>");
  return [
    ggufKV("general.architecture", "str", "llama"),
    ggufKV("general.name", "str", "tensorshrink synthetic bpe"),
    ggufKV("llama.context_length", "u32", 256),
    ggufKV("llama.embedding_length", "u32", 64),
    ggufKV("llama.block_count", "u32", 1),
    ggufKV("llama.feed_forward_length", "u32", 128),
    ggufKV("llama.rope.dimension_count", "u32", 16),
    ggufKV("llama.attention.head_count", "u32", 4),
    ggufKV("llama.attention.head_count_kv", "u32", 4),
    ggufKV("llama.attention.layer_norm_rms_epsilon", "f32", 1e-5),
    ggufKV("llama.vocab_size", "u32", tokens.length),
    ggufKV("general.file_type", "u32", 0),
    ggufKV("tokenizer.ggml.model", "str", "gpt2"),
    ggufKV("tokenizer.ggml.pre", "str", pre),
    ggufKV("tokenizer.ggml.tokens", "arr", ggufArray("str", tokens)),
    ggufKV("tokenizer.ggml.token_type", "arr", ggufArray("i32", types)),
    ggufKV("tokenizer.ggml.merges", "arr", ggufArray("str", merges)),
    ggufKV("tokenizer.ggml.bos_token_id", "u32", bos),
    ggufKV("tokenizer.ggml.eos_token_id", "u32", eos),
  ];
}
