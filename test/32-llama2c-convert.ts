// llama2.c checkpoint + tokenizer → GGUF (F32/F16), the Hugging Face path with the q/k permutation,
// and (when node-llama-cpp is available) the proof that llama.cpp runs the result:
// greedy "Once upon a time" and perplexity 3.548 ± 0.01 on tinystories_sample.txt.
// Reads ../shared/models/stories260K; prints SKIP and passes when it is absent.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { TensorshrinkError } from "../src/errors";
import { readLlama2cCheckpoint, readLlama2cTokenizer } from "../src/formats/llama2c";
import { readGguf, readGgufTensorBytes, ggufGet, type GgufArray } from "../src/formats/gguf";
import { memorySource, memorySink, filesResolver, openFileSink } from "../src/formats/source";
import { encodeSafetensors } from "../src/formats/safetensors";
import { f16ToF32, f32ToF16 } from "../src/formats/half";
import { convertToGguf, llamaFromLlama2c, llamaFromHf, hfPermuteSourceRow, openLlama2cModel, llama3RopeFactors } from "../src/model/convert";
import { vocabFromHfTokenizer, vocabMetadata } from "../src/model/vocab";
import { writeGguf } from "../src/formats/gguf";
import { SHARED, firstDiff } from "./_util";

const DIR = path.join(SHARED, "models/stories260K");
const CKPT = path.join(DIR, "stories260K.bin");
const TOK = path.join(DIR, "tok512.bin");
const TEXT = path.join(DIR, "tinystories_sample.txt");
const have = existsSync(CKPT) && existsSync(TOK) && existsSync(TEXT);

// --- tests that need no model files -----------------------------------------------------------

function header(v: number[]): Uint8Array {
  const b = new Uint8Array(28);
  const dv = new DataView(b.buffer);
  v.forEach((x, i) => dv.setInt32(i * 4, x, true));
  return b;
}

test("llama2.c: implausible header and truncated file", async () => {
  const cases: [number[], string, number][] = [
    [[0, 172, 5, 8, 4, 512, 512], "E_FORMAT", 0],
    [[64, 172, 5, 7, 4, 512, 512], "E_FORMAT", 12],
    [[64, 172, 5, 8, 3, 512, 512], "E_FORMAT", 16],
    [[64, 172, 5, 8, 4, 1 << 30, 512], "E_FORMAT", 20],
    [[64, 172, 5, 8, 4, 512, 512], "E_TRUNCATED", 28],
  ];
  for (const [h, code, off] of cases) {
    try { await readLlama2cCheckpoint(memorySource(header(h))); assert.unreachable(); } catch (e) {
      assert.instance(e, TensorshrinkError);
      assert.is((e as TensorshrinkError).code, code, (e as Error).message);
      assert.is((e as TensorshrinkError).details.offset, off, (e as Error).message);
    }
  }
  try { await readLlama2cTokenizer(memorySource(new Uint8Array([7, 0, 0, 0, 0, 0, 0, 0, 200, 0, 0, 0])), 1); assert.unreachable(); } catch (e) {
    assert.is((e as TensorshrinkError).code, "E_FORMAT");
    assert.is((e as TensorshrinkError).details.offset, 8);
  }
});

test("hfPermuteSourceRow matches convert_hf_to_gguf.py's reshape/swapaxes", () => {
  // H=2 heads of D=6 rows: out row h*6 + 2i + j ← in row h*6 + 3j + i
  const perm = Array.from({ length: 12 }, (_, r) => hfPermuteSourceRow(r, 12, 2));
  assert.equal(perm, [0, 3, 1, 4, 2, 5, 6, 9, 7, 10, 8, 11]);
});

test("llama3 rope factors (Llama 3.1: theta 5e5, head 128, factor 8, 1/4, 8192)", () => {
  const f = llama3RopeFactors(500000, 128, { rope_type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 });
  assert.is(f.length, 64);
  assert.is(f[0], 1);
  assert.is(f[63], 8);
  for (let i = 1; i < 64; i++) assert.ok(f[i]! >= f[i - 1]!, `monotone at ${i}`);
  const mid = [...f].filter((x) => x > 1 && x < 8);
  assert.ok(mid.length > 0 && mid.length < 20, `${mid.length} transitional factors`);
  // a frequency whose wavelength is exactly between the two thresholds gets 1 / ((1 - s) / 8 + s)
  const k = f.findIndex((x) => x > 1 && x < 8);
  const freq = Math.fround(1 / Math.fround(Math.pow(500000, Math.fround(2 * k / 128))));
  const smooth = (8192 / (2 * Math.PI / freq) - 1) / 3;
  assert.ok(Math.abs(f[k]! - 1 / ((1 - smooth) / 8 + smooth)) < 1e-6);
});

test("tokenizer.json vocabularies: SentencePiece-BPE (byte fallback) and byte-level BPE (gpt2)", () => {
  const spm = vocabFromHfTokenizer(
    {
      added_tokens: [{ id: 0, content: "<unk>", special: true }, { id: 1, content: "<s>", special: true }, { id: 2, content: "</s>", special: true }, { id: 7, content: "<extra>", special: false }],
      model: { type: "BPE", byte_fallback: true, unk_token: "<unk>", vocab: { "<unk>": 0, "<s>": 1, "</s>": 2, "<0x00>": 3, "<0x01>": 4, "\u2581a": 5, "b": 6 }, merges: ["\u2581 a"] },
    },
    { bos_token: { content: "<s>" }, eos_token: "</s>", add_bos_token: true },
    {},
    { vocabSize: 9 },
  );
  assert.is(spm.model, "llama");
  assert.equal(spm.tokens, ["<unk>", "<s>", "</s>", "<0x00>", "<0x01>", "\u2581a", "b", "<extra>", "[PAD8]"]);
  assert.equal(spm.tokenTypes, [2, 3, 3, 6, 6, 1, 1, 4, 5]);
  assert.equal(spm.scores!.slice(5, 7), [-0, -1]);
  assert.equal([spm.bosId, spm.eosId, spm.unkId, spm.addBos, spm.addEos], [1, 2, 0, true, false]);
  const bpe = vocabFromHfTokenizer(
    {
      added_tokens: [{ id: 3, content: "<|begin_of_text|>", special: true }, { id: 4, content: "<|end_of_text|>", special: true }],
      model: { type: "BPE", vocab: { "a": 0, "b": 1, "ab": 2 }, merges: [["a", "b"]] },
    },
    { bos_token: "<|begin_of_text|>" },
    { eos_token_id: [4] },
  );
  assert.is(bpe.model, "gpt2");
  assert.is(bpe.pre, "default");
  assert.equal(bpe.tokens, ["a", "b", "ab", "<|begin_of_text|>", "<|end_of_text|>"]);
  assert.equal(bpe.tokenTypes, [1, 1, 1, 3, 3]);
  assert.equal(bpe.merges, ["a b"]);
  assert.equal([bpe.bosId, bpe.eosId, bpe.scores], [3, 4, undefined]);
  const keys = vocabMetadata(bpe).map((k) => k.key);
  assert.ok(keys.includes("tokenizer.ggml.merges") && !keys.includes("tokenizer.ggml.scores"));
  try { vocabFromHfTokenizer({ model: { type: "Unigram", vocab: {} } }); assert.unreachable(); } catch (e) { assert.is((e as TensorshrinkError).code, "E_UNSUPPORTED"); }
});

if (!have) {
  console.log("SKIP: ../shared/models/stories260K not found (stories260K.bin, tok512.bin, tinystories_sample.txt); model tests not run");
  test.run();
} else {
  const ckBytes = new Uint8Array(readFileSync(CKPT));
  const f32At = (off: number, n: number) => new Float32Array(ckBytes.slice(off, off + 4 * n).buffer);

  test("stories260K: checkpoint header and tokenizer", async () => {
    const ck = await readLlama2cCheckpoint(memorySource(ckBytes));
    assert.equal(ck.config, { dim: 64, hiddenDim: 172, nLayers: 5, nHeads: 8, nKvHeads: 4, vocabSize: 512, seqLen: 512, sharedClassifier: true, version: 0, headerBytes: 28 });
    assert.equal(ck.tensors.map((t) => t.offset).filter((_, i, a) => i === 0 || a[i - 1] !== _).slice(0, 2), [28, 131100]);
    assert.is(ck.get("wq", 0).offset, 132380);
    assert.is(ck.get("wk", 0).offset, 214300);
    assert.is(ck.get("w2", 0).offset, 599580);
    assert.is(ck.get("rms_final_weight").offset, 1039900);
    const tok = await readLlama2cTokenizer(memorySource(new Uint8Array(readFileSync(TOK))), 512);
    assert.is(tok.maxTokenLength, 7);
    assert.is(new TextDecoder().decode(tok.tokens[259]), " t");
    assert.is(tok.scores[260], -1);
    // truncating the checkpoint by 4 bytes is caught
    try { await readLlama2cCheckpoint(memorySource(ckBytes.subarray(0, ckBytes.length - 4))); assert.unreachable(); } catch (e) {
      assert.is((e as TensorshrinkError).code, "E_TRUNCATED");
    }
  });

  let f32Gguf: Uint8Array;

  test("stories260K → GGUF F32: metadata, tensor names/shapes, bytes equal the checkpoint (no permutation)", async () => {
    const sink = memorySink();
    const r = await convertToGguf({ llama2c: CKPT, tokenizer: TOK, name: "stories260K" }, sink, { ftype: "F32" });
    f32Gguf = sink.bytes();
    assert.is(f32Gguf.byteLength, r.layout.fileSize);
    const f = await readGguf(memorySource(f32Gguf));
    const g = (k: string) => ggufGet(f, k);
    assert.is(g("general.architecture"), "llama");
    assert.is(g("general.name"), "stories260K");
    assert.is(g("general.file_type"), 0);
    assert.is(g("general.quantization_version"), 2);
    assert.equal([g("llama.context_length"), g("llama.embedding_length"), g("llama.block_count"), g("llama.feed_forward_length"), g("llama.attention.head_count"), g("llama.attention.head_count_kv"), g("llama.rope.dimension_count"), g("llama.vocab_size")], [512, 64, 5, 172, 8, 4, 8, 512]);
    assert.is(g("llama.rope.freq_base"), 10000);
    assert.ok(Math.abs((g("llama.attention.layer_norm_rms_epsilon") as number) - 1e-5) < 1e-12);
    assert.is(g("tokenizer.ggml.model"), "llama");
    const tokens = (g("tokenizer.ggml.tokens") as GgufArray).items as string[];
    const types = (g("tokenizer.ggml.token_type") as GgufArray).items as number[];
    const scores = (g("tokenizer.ggml.scores") as GgufArray).items as number[];
    assert.is(tokens.length, 512);
    assert.equal(tokens.slice(0, 4), ["<unk>", "<s>", "</s>", "<0x00>"]);
    assert.is(tokens[258], "<0xFF>");
    assert.is(tokens[259], "\u2581t");
    assert.ok(!tokens.some((t) => t.includes(" ")), "no ASCII spaces left");
    assert.equal(types.slice(0, 4), [2, 3, 3, 6]);
    assert.is(types[258], 6);
    assert.is(types[259], 1);
    assert.is(scores[261], -2);
    assert.equal([g("tokenizer.ggml.bos_token_id"), g("tokenizer.ggml.eos_token_id"), g("tokenizer.ggml.unknown_token_id")], [1, 2, 0]);
    assert.is(f.tensors.length, 1 + 5 * 9 + 1);
    assert.not.ok(f.tensors.some((t) => t.name === "output.weight"), "classifier is shared");
    const by = new Map(f.tensors.map((t) => [t.name, t]));
    assert.equal([...by.get("token_embd.weight")!.ne], [64, 512]);
    assert.equal([...by.get("blk.0.attn_k.weight")!.ne], [64, 32]);
    assert.equal([...by.get("blk.4.ffn_down.weight")!.ne], [172, 64]);
    assert.equal([...by.get("blk.2.ffn_gate.weight")!.ne], [64, 172]);
    assert.equal([...by.get("blk.0.attn_norm.weight")!.ne], [64]);
    assert.ok(f.tensors.every((t) => t.type.name === "f32"));
    const same = async (name: string, off: number) => {
      const t = by.get(name)!;
      assert.is(firstDiff(await readGgufTensorBytes(f, t), ckBytes.subarray(off, off + t.nbytes)), -1, name);
    };
    await same("token_embd.weight", 28);
    await same("blk.0.attn_q.weight", 132380);
    await same("blk.0.attn_k.weight", 214300);
    await same("blk.1.attn_q.weight", 132380 + 64 * 64 * 4);
    await same("blk.0.ffn_down.weight", 599580);
    await same("output_norm.weight", 1039900);
  });

  test("the converted GGUF re-reads and re-writes byte-identically", async () => {
    const f = await readGguf(memorySource(f32Gguf));
    const sink = memorySink();
    await writeGguf(sink, f.metadata, f.tensors, (t) => readGgufTensorBytes(f, t.name));
    assert.is(firstDiff(sink.bytes(), f32Gguf), -1);
  });

  test("stories260K → GGUF F16: matrices f16 (RNE), norms f32", async () => {
    const sink = memorySink();
    await convertToGguf({ llama2c: CKPT, tokenizer: TOK }, sink, { ftype: "F16" });
    const f = await readGguf(memorySource(sink.bytes()));
    assert.is(ggufGet(f, "general.file_type"), 1);
    for (const t of f.tensors) assert.is(t.type.name, t.ne.length === 1 ? "f32" : "f16", t.name);
    const t = f.tensors.find((x) => x.name === "blk.0.attn_q.weight")!;
    const b = await readGgufTensorBytes(f, t);
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const src = f32At(132380, 64 * 64);
    for (let i = 0; i < src.length; i++) assert.is(dv.getUint16(i * 2, true), f32ToF16(src[i]!));
    assert.ok(Math.abs(f16ToF32(dv.getUint16(0, true)) - src[0]!) < 1e-3);
  });

  test("Hugging Face layout (rotate-half q/k, safetensors, tokenizer.json) converts to the same GGUF bytes", async () => {
    const plan = await llamaFromLlama2c(CKPT, TOK, { name: "stories260K" });
    const h = plan.hparams;
    const unpermute = async (t: (typeof plan.tensors)[number], heads: number) => {
      // HF row h*D + j*D/2 + i holds llama2.c row h*D + 2i + j
      const x = await t.read();
      const rows = t.rows, cols = t.rowLength, d = rows / heads, half = d / 2;
      const out = new Float32Array(x.length);
      for (let hh = 0; hh < heads; hh++) for (let i = 0; i < half; i++) for (let j = 0; j < 2; j++) {
        out.set(x.subarray((hh * d + 2 * i + j) * cols, (hh * d + 2 * i + j + 1) * cols), (hh * d + j * half + i) * cols);
      }
      return out;
    };
    const hfName: Record<string, string> = { attn_norm: "input_layernorm", attn_q: "self_attn.q_proj", attn_k: "self_attn.k_proj", attn_v: "self_attn.v_proj", attn_output: "self_attn.o_proj", ffn_norm: "post_attention_layernorm", ffn_gate: "mlp.gate_proj", ffn_down: "mlp.down_proj", ffn_up: "mlp.up_proj" };
    const st: { name: string; dtype: "F32"; shape: number[]; data: Float32Array }[] = [];
    for (const t of plan.tensors) {
      let name: string;
      let data = await t.read();
      if (t.name === "token_embd.weight") name = "model.embed_tokens.weight";
      else if (t.name === "output_norm.weight") name = "model.norm.weight";
      else {
        const m = /^blk\.(\d+)\.(\w+)\.weight$/.exec(t.name)!;
        name = `model.layers.${m[1]}.${hfName[m[2]!]}.weight`;
        if (m[2] === "attn_q") data = await unpermute(t, h.headCount);
        if (m[2] === "attn_k") data = await unpermute(t, h.headCountKv);
      }
      st.push({ name, dtype: "F32", shape: t.ne.length === 1 ? [t.ne[0]!] : [t.rows, t.rowLength], data });
    }
    // split into two shards to exercise the index too
    const half = Math.floor(st.length / 2);
    const shard1 = encodeSafetensors(st.slice(0, half)), shard2 = encodeSafetensors(st.slice(half));
    const weightMap: Record<string, string> = {};
    st.forEach((t, i) => { weightMap[t.name] = i < half ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors"; });
    const vocab: Record<string, number> = {};
    plan.vocab.tokens.forEach((t, i) => { vocab[t] = i; });
    const merges: string[] = [];
    for (let id = 259; id < 512; id++) {
      const t = plan.vocab.tokens[id]!;
      for (let k = 1; k < t.length; k++) if (vocab[t.slice(0, k)] !== undefined && vocab[t.slice(k)] !== undefined) { merges.push(`${t.slice(0, k)} ${t.slice(k)}`); break; }
    }
    const tokenizer = {
      version: "1.0",
      added_tokens: [0, 1, 2].map((id) => ({ id, content: plan.vocab.tokens[id], special: true })),
      model: { type: "BPE", byte_fallback: true, unk_token: "<unk>", vocab, merges },
    };
    const config = {
      architectures: ["LlamaForCausalLM"], hidden_size: h.embeddingLength, intermediate_size: h.feedForwardLength, num_hidden_layers: h.blockCount,
      num_attention_heads: h.headCount, num_key_value_heads: h.headCountKv, max_position_embeddings: h.contextLength, rms_norm_eps: 1e-5,
      rope_theta: 10000, vocab_size: 512, tie_word_embeddings: true, bos_token_id: 1, eos_token_id: 2,
    };
    const enc = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));
    const files = {
      "config.json": enc(config),
      "tokenizer.json": enc(tokenizer),
      "tokenizer_config.json": enc({ bos_token: "<s>", eos_token: "</s>", unk_token: "<unk>", add_bos_token: true, add_eos_token: false }),
      "model.safetensors.index.json": enc({ metadata: {}, weight_map: weightMap }),
      "model-00001-of-00002.safetensors": shard1,
      "model-00002-of-00002.safetensors": shard2,
    };
    const hf = await llamaFromHf(filesResolver(files), { name: "stories260K" });
    // partial row reads across head boundaries come back in llama.cpp order
    const q = hf.tensors.find((t) => t.name === "blk.3.attn_q.weight")!;
    const q0 = plan.tensors.find((t) => t.name === "blk.3.attn_q.weight")!;
    assert.equal(await q.readRows(5, 13), await q0.readRows(5, 13));
    assert.equal(new Float32Array((await q.readRawRows(7, 3)).slice().buffer), await q0.readRows(7, 3));
    const sink = memorySink();
    await convertToGguf(hf, sink, { ftype: "F32" });
    await hf.close();
    await plan.close();
    const out = sink.bytes();
    assert.is(out.byteLength, f32Gguf.byteLength);
    assert.is(firstDiff(out, f32Gguf), -1, `first difference at byte ${firstDiff(out, f32Gguf)}`);
  });

  test("openLlama2cModel finds tok512.bin beside the checkpoint and exposes the pipeline's model source", async () => {
    const m = await openLlama2cModel(CKPT);
    assert.equal(m.hparams, { nLayer: 5, nHead: 8, nHeadKv: 4, nExpert: 0 });
    assert.is(m.tensors[0]!.type, "f32");
    assert.is(m.metadata.find((k) => k.key === "general.file_type")!.value, 0);
    assert.equal(await m.tensors[1]!.readRows(0, 1), f32At(131100, 64));
    await m.close();
  });

  // --- llama.cpp proof through node-llama-cpp (optional dependency) ---------------------------
  const spec = process.env.TENSORSHRINK_NODE_LLAMA_CPP || "node-llama-cpp";
  let nlc: any = null;
  try { nlc = await import(spec); } catch { nlc = null; }
  if (!nlc) {
    console.log(`SKIP: node-llama-cpp not importable (${spec}); set TENSORSHRINK_NODE_LLAMA_CPP to its dist/index.js to run the llama.cpp proof`);
  } else {
    test("llama.cpp (node-llama-cpp) loads the F32 GGUF: greedy text and perplexity 3.548 ± 0.01", async () => {
      const { greedyComplete, evaluateGguf, splitDocuments } = await import("../src/eval/llama");
      const dir = mkdtempSync(path.join(tmpdir(), "ts-l2c-"));
      try {
        const file = path.join(dir, "stories260K-F32.gguf");
        await convertToGguf({ llama2c: CKPT, tokenizer: TOK }, await openFileSink(file), { ftype: "F32" });
        const opts = { module: nlc, threads: 2 };
        const g = await greedyComplete(file, "Once upon a time", 40, opts);
        console.log(`  greedy: ${JSON.stringify(g.text)}`);
        assert.match(g.text, /^Once upon a time, there was a little girl named Lily\. She loved to play outside in the park\./);
        const docs = splitDocuments(readFileSync(TEXT, "utf8"));
        assert.is(docs.length, 5);
        const r = await evaluateGguf(file, null, docs, opts);
        console.log(`  perplexity ${r.base.perplexity.toFixed(4)} over ${r.base.tokens} tokens (mean NLL ${r.base.meanNll.toFixed(4)} nats)`);
        assert.is(r.base.tokens, 1804);
        assert.ok(Math.abs(r.base.perplexity - 3.548) <= 0.01, `perplexity ${r.base.perplexity}`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
  test.run();
}
