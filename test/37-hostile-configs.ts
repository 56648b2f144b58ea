// Hostile files, part 2 (issue 8): a 300-byte config.json must not drive memory or CPU (huge
// vocab_size, head_dim, token ids), wrong types are typed errors (never a RangeError), and a config
// that lies about the tensors is refused before anything is written — for a Hugging Face directory,
// a llama2.c checkpoint and a GGUF input alike (the shape checks llama.cpp's loader makes).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { init, syntheticModel, quantizeModel, openModel, TensorshrinkError } from "../src/index";
import { memorySink, openFileSink, filesResolver } from "../src/formats/source";
import { ggufKV } from "../src/formats/gguf";
import { checkLlamaTensors, expectedLlamaTensors } from "../src/model/validate";
import type { ModelSource } from "../src/model/source";
import { hfLayout, type StEntry } from "./_hf";

const engine = await init({ threads: 0 });
const H = { nLayer: 1, nEmbd: 64, nFf: 128, nHead: 2, nHeadKv: 1, nVocab: 300 };
const model = syntheticModel(H);
const base = await hfLayout(model, H);
const dir = mkdtempSync(path.join(tmpdir(), "ts-hostile-cfg-"));
const dec = (b: Uint8Array) => JSON.parse(new TextDecoder().decode(b));
const enc = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));

/** An HF directory (as in-memory files) with config/tokenizer edits and safetensors mutations. */
async function hf(opts: { config?: (c: any) => void; tokenizer?: (t: any) => void; st?: (st: StEntry[]) => void } = {}): Promise<Record<string, Uint8Array>> {
  const files = opts.st ? await hfLayout(model, H, opts.st) : { ...base };
  const c = dec(files["config.json"]!); opts.config?.(c); files["config.json"] = enc(c);
  const t = dec(files["tokenizer.json"]!); opts.tokenizer?.(t); files["tokenizer.json"] = enc(t);
  return files;
}

/** Opens and quantizes `files`; returns the error (or null), how long it took and the RSS growth. */
async function attempt(files: Record<string, Uint8Array>): Promise<{ err: any; ms: number; rssMB: number }> {
  const rss0 = process.memoryUsage().rss, t0 = Date.now();
  let err: any = null, peak = rss0;
  const timer = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 5);
  try {
    const m = await openModel({ dir: filesResolver(files) }, engine);
    try { await quantizeModel(engine, m, memorySink(), { ftype: "Q8_0" }); } finally { await m.close?.(); }
  } catch (e) {
    err = e;
  } finally {
    clearInterval(timer);
  }
  peak = Math.max(peak, process.memoryUsage().rss);
  return { err, ms: Date.now() - t0, rssMB: (peak - rss0) / 2 ** 20 };
}

function expectTyped(what: string, r: { err: any; ms: number; rssMB: number }, codes: string[], re?: RegExp) {
  assert.ok(r.err, `${what}: accepted`);
  assert.ok(r.err instanceof TensorshrinkError, `${what}: untyped ${r.err?.stack ?? r.err}`);
  assert.ok(codes.includes(r.err.code), `${what}: ${r.err.message}`);
  if (re) assert.match(r.err.message, re, what);
  assert.ok(r.ms < 2000, `${what}: took ${r.ms} ms`);
  assert.ok(r.rssMB < 200, `${what}: RSS grew ${r.rssMB.toFixed(0)} MB`);
}

test("the valid directory converts (control)", async () => {
  const r = await attempt(await hf());
  assert.is(r.err, null, String(r.err));
});

test("huge vocab_size, head_dim and token ids: refused at once, no memory spent", async () => {
  expectTyped("vocab_size 1e9", await attempt(await hf({ config: (c) => { c.vocab_size = 1_000_000_000; } })), ["E_FORMAT", "E_SHAPE"], /vocab_size/);
  expectTyped("vocab_size 2,000,000", await attempt(await hf({ config: (c) => { c.vocab_size = 2_000_000; } })), ["E_FORMAT", "E_SHAPE"], /vocab_size/);
  expectTyped("head_dim 2^30", await attempt(await hf({ config: (c) => { c.head_dim = 2 ** 30; } })), ["E_FORMAT", "E_SHAPE"], /head_dim/);
  expectTyped("head_dim 4096 (plausible, but not the tensors)", await attempt(await hf({ config: (c) => { c.head_dim = 4096; } })), ["E_SHAPE"]);
  expectTyped("token id 4,000,000", await attempt(await hf({ tokenizer: (t) => { t.model.vocab["big"] = 4_000_000; } })), ["E_FORMAT", "E_SHAPE"], /4000000/);
  expectTyped("added token id 3,999,999", await attempt(await hf({ tokenizer: (t) => { t.added_tokens.push({ id: 3_999_999, content: "<x>", special: true }); } })), ["E_FORMAT", "E_SHAPE"], /3999999/);
  expectTyped("num_hidden_layers 1e9", await attempt(await hf({ config: (c) => { c.num_hidden_layers = 1e9; } })), ["E_FORMAT"], /num_hidden_layers/);
  expectTyped("num_local_experts 1e6", await attempt(await hf({ config: (c) => { c.num_local_experts = 1e6; } })), ["E_FORMAT"], /num_local_experts/);
});

test("wrong types and values: TensorshrinkError naming the field, never a RangeError", async () => {
  const cases: [string, (c: any) => void, RegExp][] = [
    ["vocab_size 1e12", (c) => { c.vocab_size = 1e12; }, /vocab_size/],
    ["vocab_size 40.5", (c) => { c.vocab_size = 40.5; }, /vocab_size/],
    ["vocab_size \"300\"", (c) => { c.vocab_size = "300"; }, /vocab_size/],
    ["head_dim -64", (c) => { c.head_dim = -64; }, /head_dim/],
    ["head_dim 31", (c) => { c.head_dim = 31; }, /head|odd/],
    ["hidden_size 64.5", (c) => { c.hidden_size = 64.5; }, /hidden_size/],
    ["num_attention_heads 0", (c) => { c.num_attention_heads = 0; }, /num_attention_heads/],
    ["num_key_value_heads 3", (c) => { c.num_key_value_heads = 3; }, /num_key_value_heads/],
    ["rope_theta \"x\"", (c) => { c.rope_theta = "x"; }, /rope_theta/],
    ["rms_norm_eps -1", (c) => { c.rms_norm_eps = -1; }, /rms_norm_eps/],
    ["tie_word_embeddings \"yes\"", (c) => { c.tie_word_embeddings = "yes"; }, /tie_word_embeddings/],
    ["_name_or_path 5", (c) => { c._name_or_path = 5; }, /_name_or_path/],
    ["rope_scaling llama3 with low = high", (c) => { c.rope_scaling = { rope_type: "llama3", factor: 8, low_freq_factor: 2, high_freq_factor: 2 }; }, /freq_factor/],
    ["rope_scaling 7", (c) => { c.rope_scaling = 7; }, /rope_scaling/],
    ["max_position_embeddings -5", (c) => { c.max_position_embeddings = -5; }, /max_position_embeddings/],
    ["architectures \"LlamaForCausalLM\" (not a list)", (c) => { c.architectures = "LlamaForCausalLM"; }, /architectures/],
  ];
  for (const [what, edit, re] of cases) expectTyped(what, await attempt(await hf({ config: edit })), ["E_FORMAT", "E_SHAPE"], re);
  expectTyped("config.json is null", await attempt({ ...base, "config.json": enc(null) }), ["E_FORMAT"], /config\.json/);
  const tcases: [string, (t: any) => void, RegExp][] = [
    ["added token id 2^40", (t) => { t.added_tokens.push({ id: 2 ** 40, content: "<y>", special: true }); }, /1099511627776/],
    ["added token id -1", (t) => { t.added_tokens.push({ id: -1, content: "<y>" }); }, /-1/],
    ["added token id 1.5", (t) => { t.added_tokens.push({ id: 1.5, content: "<y>" }); }, /1\.5/],
    ["added_tokens 5", (t) => { t.added_tokens = 5; }, /added_tokens/],
    ["merges 5", (t) => { t.model.byte_fallback = false; delete t.model.vocab["<0x00>"]; t.model.merges = 5; }, /merges/],
    ["merge [1, 2]", (t) => { t.model.byte_fallback = false; delete t.model.vocab["<0x00>"]; t.model.merges = [[1, 2]]; }, /merge/],
    ["vocab id \"7\"", (t) => { t.model.vocab["zz"] = "7"; }, /zz/],
  ];
  for (const [what, edit, re] of tcases) expectTyped(what, await attempt(await hf({ tokenizer: edit })), ["E_FORMAT", "E_SHAPE"], re);
});

test("a config that lies about the tensors (HF): E_SHAPE naming the tensor, nothing written", async () => {
  const out = path.join(dir, "out.gguf");
  const cases: [string, Parameters<typeof hf>[0], RegExp][] = [
    ["hidden_size 4096 with 64-wide tensors", { config: (c) => { c.hidden_size = 4096; c.num_attention_heads = 64; c.num_key_value_heads = 32; } }, /embed_tokens|token_embd/],
    ["wrong q_proj shape", { st: (st) => { const q = st.find((e) => e.name.endsWith("q_proj.weight"))!; q.shape = [32, 128]; } }, /attn_q/],
    ["1-D embedding", { st: (st) => { const e = st.find((x) => x.name === "model.embed_tokens.weight")!; e.shape = [e.data.length]; } }, /embed_tokens/],
    ["intermediate_size 256 with 128-wide FFN", { config: (c) => { c.intermediate_size = 256; } }, /ffn_gate/],
    ["num_key_value_heads 2 with a 1-head k_proj", { config: (c) => { c.num_key_value_heads = 2; } }, /attn_k/],
    ["vocab_size 200 below the embedding's 300 rows", { config: (c) => { c.vocab_size = 200; }, tokenizer: (t) => { for (const [k, v] of Object.entries(t.model.vocab)) if ((v as number) >= 200) delete t.model.vocab[k]; } }, /token_embd|output/],
    ["lm_head of another width", { st: (st) => { const e = st.find((x) => x.name === "lm_head.weight")!; e.shape = [600, 32]; } }, /output\.weight/],
    ["a norm of the wrong length", { st: (st) => { const e = st.find((x) => x.name === "model.norm.weight")!; e.shape = [32, 2]; } }, /output_norm/],
  ];
  for (const [what, o, re] of cases) {
    const files = await hf(o);
    const d = path.join(dir, what.replace(/\W+/g, "_"));
    mkdirSync(d);
    for (const [n, b] of Object.entries(files)) writeFileSync(path.join(d, n), b);
    const rss0 = process.memoryUsage().rss, t0 = Date.now();
    let err: any = null;
    try {
      const m = await openModel(d, engine);
      try { await quantizeModel(engine, m, await openFileSink(out), { ftype: "Q8_0" }); } finally { await m.close?.(); }
    } catch (e) { err = e; }
    expectTyped(what, { err, ms: Date.now() - t0, rssMB: (process.memoryUsage().rss - rss0) / 2 ** 20 }, ["E_SHAPE", "E_FORMAT"], re);
    assert.equal(readdirSync(dir).filter((n) => n.startsWith("out.gguf")), [], `${what}: an output was written`);
  }
});

/** The synthetic model with edited metadata or tensor extents, written as a GGUF in memory. */
async function ggufBlob(edit: (m: ModelSource) => ModelSource): Promise<Blob> {
  const s = memorySink();
  await quantizeModel(engine, edit(model), s, { ftype: "F32", order: "input" });
  return new Blob([s.bytes() as Uint8Array<ArrayBuffer>]);
}
const withMeta = (key: string, type: any, value: any) => (m: ModelSource): ModelSource => ({ ...m, metadata: m.metadata.map((kv) => (kv.key === key ? ggufKV(key, type, value) : kv)) });

test("vocabularies llama.cpp aborts on (duplicate token strings, byte-level BPE without its byte tokens): E_FORMAT", async () => {
  expectTyped("an added token that repeats token 100's string at id 299", await attempt(await hf({ tokenizer: (t) => {
    const name = Object.keys(t.model.vocab).find((k) => t.model.vocab[k] === 100)!;
    t.added_tokens.push({ id: 299, content: name, special: false });
  } })), ["E_FORMAT"], /both id/);
  expectTyped("gpt2 vocabulary without byte tokens", await attempt(await hf({ tokenizer: (t) => { t.model.byte_fallback = false; delete t.model.vocab["<0x00>"]; t.model.merges = []; } })), ["E_FORMAT"], /256 byte tokens/);
  // the same in a GGUF input: token_type shorter than the tokens (llama.cpp indexes it by token id)
  const m = withMeta("tokenizer.ggml.token_type", "arr", { itemType: 5, items: new Array(10).fill(1) });
  const e = await openModel(await ggufBlob(m), engine).then(async (x) => { await x.close?.(); return null; }, (e) => e);
  assert.ok(e instanceof TensorshrinkError && e.code === "E_FORMAT", String(e));
  assert.match(e.message, /10 token types for 300 tokens/);
});

test("a GGUF input that lies: refused before quantizing (llama.cpp's loader checks)", async () => {
  const ok = await openModel(await ggufBlob((m) => m), engine);
  await ok.close?.();
  const cases: [string, (m: ModelSource) => ModelSource, RegExp][] = [
    ["embedding_length 4096", withMeta("llama.embedding_length", "u32", 4096), /token_embd|n_rot/],
    ["head_count 3", withMeta("llama.attention.head_count", "u32", 3), /head|attn_q/],
    ["feed_forward_length 256", withMeta("llama.feed_forward_length", "u32", 256), /ffn_/],
    ["block_count 2 (one layer of tensors)", withMeta("llama.block_count", "u32", 2), /blk\.1\..*missing/],
    ["block_count 0", withMeta("llama.block_count", "u32", 0), /n_layer|blk\.0/],
    ["rope.dimension_count 16", withMeta("llama.rope.dimension_count", "u32", 16), /n_rot/],
    ["an extra tensor", (m) => ({ ...m, tensors: [...m.tensors, { ...m.tensors.find((t) => t.name === "output_norm.weight")!, name: "blk.0.extra.weight" }] }), /unexpected tensor blk\.0\.extra\.weight/],
    ["a 1-D token_embd", (m) => ({ ...m, tensors: m.tensors.map((t) => (t.name === "token_embd.weight" ? { ...t, ne: [t.ne[0]! * t.ne[1]!], readRows: () => t.readRows(0, t.ne[1]!), readRawRows: () => t.readRawRows(0, t.ne[1]!), fileRows: undefined } : t)) }), /token_embd/],
  ];
  for (const [what, edit, re] of cases) {
    const e = await openModel(await ggufBlob(edit), engine).then(async (m) => { await m.close?.(); return null; }, (e) => e);
    assert.ok(e instanceof TensorshrinkError, `${what}: ${e}`);
    assert.ok(["E_SHAPE", "E_FORMAT"].includes(e.code), `${what}: ${e.message}`);
    assert.match(e.message, re, what);
  }
});

test("expected llama tensors match llama.cpp's create_tensor extents; checkLlamaTensors accepts the synthetic MoE model", () => {
  const h = { nEmbd: 64, nLayer: 1, nHead: 4, nHeadKv: 2, headDimK: 16, headDimV: 16, nFf: 96, nVocab: 300, nExpert: 4, nExpertUsed: 2, nRot: 16 };
  const m = expectedLlamaTensors(h);
  assert.equal(m.get("blk.0.attn_k.weight")!.ne, [64, 32]);
  assert.equal(m.get("blk.0.attn_output.weight")!.ne, [64, 64]);
  assert.equal(m.get("blk.0.ffn_down_exps.weight")!.ne, [96, 64, 4]);
  assert.equal(m.get("rope_freqs.weight"), { ne: [8], required: false });
  const moe = syntheticModel({ nLayer: 2, nEmbd: 64, nFf: 96, nHead: 4, nHeadKv: 2, nVocab: 300, nExpert: 4 });
  checkLlamaTensors({ ...h, nLayer: 2 }, moe.tensors, "moe");
  assert.throws(() => checkLlamaTensors({ ...h, nLayer: 2, nExpertUsed: 5 }, moe.tensors, "moe"), /n_expert_used/);
});

test.after(() => engine.dispose());
test.run();
