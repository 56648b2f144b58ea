// Test helper: the hostile Hugging Face directory generator of test/38 (and test/39): a small model in
// HF layout, single-file or sharded, and seeded mutations of config.json, tokenizer.json,
// tokenizer_config.json, the shard index and the safetensors headers, plus cut or flipped bytes.
import { syntheticModel } from "../src/index";
import { hfLayout } from "./_hf";

export const H = { nLayer: 1, nEmbd: 32, nFf: 64, nHead: 2, nHeadKv: 1, nVocab: 300 };
export const model = syntheticModel(H);
export const single = await hfLayout(model, H);
const dec = (b: Uint8Array) => JSON.parse(new TextDecoder().decode(b));
const enc = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));

/** safetensors bytes -> header object + data section, and back. */
function splitSt(b: Uint8Array): { header: Record<string, any>; data: Uint8Array } {
  const n = Number(new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true));
  return { header: dec(b.subarray(8, 8 + n)), data: b.subarray(8 + n) };
}
function joinSt(header: unknown, data: Uint8Array, headerText?: string): Uint8Array {
  const hj = new TextEncoder().encode(headerText ?? JSON.stringify(header));
  const out = new Uint8Array(8 + hj.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(hj.length), true);
  out.set(hj, 8);
  out.set(data, 8 + hj.length);
  return out;
}

/** The same model in two shards with model.safetensors.index.json. */
function sharded(): Record<string, Uint8Array> {
  const { header, data } = splitSt(single["model.safetensors"]!);
  const names = Object.keys(header).filter((k) => k !== "__metadata__");
  const half = Math.ceil(names.length / 2);
  const files: Record<string, Uint8Array> = { "config.json": single["config.json"]!, "tokenizer.json": single["tokenizer.json"]! };
  const wm: Record<string, string> = {};
  [names.slice(0, half), names.slice(half)].forEach((part, i) => {
    const shard = `model-0000${i + 1}-of-00002.safetensors`;
    const h: Record<string, any> = {};
    const chunks: Uint8Array[] = [];
    let off = 0;
    for (const k of part) {
      const [a, b] = header[k].data_offsets as [number, number];
      h[k] = { ...header[k], data_offsets: [off, off + b - a] };
      chunks.push(data.subarray(a, b));
      off += b - a;
      wm[k] = shard;
    }
    const d = new Uint8Array(off);
    let o = 0;
    for (const c of chunks) { d.set(c, o); o += c.length; }
    files[shard] = joinSt(h, d);
  });
  files["model.safetensors.index.json"] = enc({ metadata: { total_size: data.length }, weight_map: wm });
  return files;
}
export const shardedBase = sharded();

let seed = 0x5eed1234;
const rnd = () => { seed ^= seed << 13; seed >>>= 0; seed ^= seed >>> 17; seed ^= seed << 5; seed >>>= 0; return seed; };
const pick = <T>(xs: readonly T[]): T => xs[rnd() % xs.length]!;

const HOSTILE = [0, -1, -64, 1, 2, 3, 1.5, 40.5, 1e12, 2 ** 40, 2 ** 31, 2 ** 32 + 1, 1e308, 4_000_000, 2_000_000, "64", "", true, false, [], [1, 2], {}, null, -0, Number.MAX_SAFE_INTEGER];
const CONFIG_KEYS = ["hidden_size", "num_attention_heads", "num_key_value_heads", "num_hidden_layers", "head_dim", "vocab_size", "intermediate_size",
  "max_position_embeddings", "rope_theta", "rms_norm_eps", "tie_word_embeddings", "num_local_experts", "num_experts_per_tok", "rope_scaling",
  "architectures", "_name_or_path", "bos_token_id", "eos_token_id", "torch_dtype", "model_type"];

function hostileValue(orig: unknown): unknown {
  const r = rnd() % 6;
  if (typeof orig === "number" && r === 0) return orig * 2;
  if (typeof orig === "number" && r === 1) return Math.floor(orig / 2);
  if (typeof orig === "number" && r === 2) return orig + 1;
  return pick(HOSTILE);
}

export type Files = Record<string, Uint8Array>;
const mutations: Record<string, (f: Files) => void> = {
  configField(f) {
    const c = dec(f["config.json"]!);
    const k = pick(CONFIG_KEYS);
    if (rnd() % 5 === 0) delete c[k]; else c[k] = hostileValue(c[k]);
    if (k === "rope_scaling" && rnd() % 2) c[k] = { rope_type: pick(["llama3", "linear", "yarn", "default", 5]), factor: hostileValue(8), low_freq_factor: hostileValue(1), high_freq_factor: hostileValue(4), original_max_position_embeddings: hostileValue(8192) };
    f["config.json"] = enc(c);
  },
  configExtra(f) {
    const c = dec(f["config.json"]!);
    c[`extra_${rnd() % 100}`] = pick(HOSTILE);
    if (rnd() % 3 === 0) c.num_local_experts = pick([2, 4, 8]);
    f["config.json"] = enc(c);
  },
  configWhole(f) { f["config.json"] = enc(pick([null, [], 5, "x", {}])); },
  tokenizerVocabId(f) {
    const t = dec(f["tokenizer.json"]!);
    const keys = Object.keys(t.model.vocab);
    t.model.vocab[rnd() % 3 ? pick(keys) : `new${rnd() % 50}`] = hostileValue(rnd() % 300);
    f["tokenizer.json"] = enc(t);
  },
  tokenizerAdded(f) {
    const t = dec(f["tokenizer.json"]!);
    const r = rnd() % 4;
    if (r === 0) t.added_tokens = pick(HOSTILE);
    else if (r === 1) t.added_tokens.push({ id: hostileValue(299), content: pick(["<x>", 5, null, ""]), special: pick([true, false, "yes"]) });
    else if (r === 2) t.added_tokens.push(pick(HOSTILE));
    else t.added_tokens[0].id = hostileValue(0);
    f["tokenizer.json"] = enc(t);
  },
  tokenizerMerges(f) {
    const t = dec(f["tokenizer.json"]!);
    if (rnd() % 2) { t.model.byte_fallback = false; delete t.model.vocab["<0x00>"]; }
    t.model.merges = rnd() % 3 === 0 ? pick(HOSTILE) : [pick(["a b", ["a", "b"], ["a"], [1, 2], 5, null, ["a", "b", "c"]]), "x y"];
    f["tokenizer.json"] = enc(t);
  },
  tokenizerModel(f) {
    const t = dec(f["tokenizer.json"]!);
    const r = rnd() % 4;
    if (r === 0) t.model = pick(HOSTILE);
    else if (r === 1) t.model.type = pick(["Unigram", "WordPiece", 5, null]);
    else if (r === 2) t.model.vocab = pick(HOSTILE);
    else t.model.unk_token = pick(HOSTILE);
    f["tokenizer.json"] = enc(t);
  },
  tokenizerConfig(f) {
    const r = rnd() % 3;
    f["tokenizer_config.json"] = r === 0 ? enc(pick(HOSTILE)) : enc({ add_bos_token: pick(HOSTILE), add_eos_token: pick([true, false, "no"]), bos_token: pick(["<s>", { content: "<s>" }, 5, null]), eos_token: pick(["</s>", "<nope>", 7]) });
  },
  safetensorsHeader(f) {
    const shard = pick(Object.keys(f).filter((n) => n.endsWith(".safetensors")));
    if (!shard) return;
    const { header, data } = splitSt(f[shard]!);
    const names = Object.keys(header).filter((k) => k !== "__metadata__");
    const k = pick(names);
    const e = header[k];
    const r = rnd() % 6;
    if (r === 0) e.data_offsets = [e.data_offsets[0], e.data_offsets[1] + pick([4, 1024, 2 ** 40])];
    else if (r === 1) e.data_offsets = [e.data_offsets[0] + 4, e.data_offsets[1] + 4];
    else if (r === 2) e.shape = pick([[e.shape.reduce((a: number, b: number) => a * b, 1)], [...e.shape].reverse(), [1, ...e.shape], [], [0, 32]]);
    else if (r === 3) e.dtype = pick(["F16", "I8", "F64", "Q4", 5]);
    else if (r === 4) delete header[k];
    else header[k.replace("layers.0", "layers.1")] = e;
    f[shard] = joinSt(header, data);
  },
  shardIndex(f) {
    if (!f["model.safetensors.index.json"]) return;
    const idx = dec(f["model.safetensors.index.json"]!);
    const names = Object.keys(idx.weight_map);
    const r = rnd() % 7;
    if (r === 0) delete f[pick(Object.keys(f).filter((n) => n.endsWith(".safetensors")))]; // a missing shard
    else if (r === 1) {
      // a tensor listed under both shards: a duplicate key in the JSON text
      const k = pick(names);
      const text = JSON.stringify(idx).replace(`"weight_map":{`, `"weight_map":{"${k}":"model-00002-of-00002.safetensors",`);
      f["model.safetensors.index.json"] = new TextEncoder().encode(text);
      return;
    } else if (r === 2) idx.weight_map[pick(names)] = pick(["missing.safetensors", "../x.safetensors", "/etc/passwd", "", 5]);
    else if (r === 3) idx.weight_map = pick(HOSTILE);
    else if (r === 4) idx.weight_map[`model.layers.0.extra${rnd() % 9}.weight`] = "model-00001-of-00002.safetensors";
    else if (r === 5) delete idx.weight_map[pick(names)];
    else { const k = pick(names); idx.weight_map[k] = idx.weight_map[k] === "model-00001-of-00002.safetensors" ? "model-00002-of-00002.safetensors" : "model-00001-of-00002.safetensors"; }
    f["model.safetensors.index.json"] = enc(idx);
  },
  duplicateKey(f) {
    const name = pick(["config.json", "tokenizer_config.json", ...Object.keys(f).filter((n) => n.endsWith(".safetensors"))]);
    if (name.endsWith(".safetensors")) {
      const { header, data } = splitSt(f[name]!);
      const names = Object.keys(header).filter((k) => k !== "__metadata__");
      const k = pick(names);
      const text = JSON.stringify(header);
      f[name] = joinSt(null, data, text.slice(0, -1) + `,${JSON.stringify(k)}:${JSON.stringify(header[pick(names)])}}`);
    } else {
      const text = new TextDecoder().decode(f[name] ?? enc({ add_bos_token: true }));
      f[name] = new TextEncoder().encode(text.replace(/^\{/, `{"hidden_size":${pick([32, 4096])},`));
    }
  },
  cutOrFlip(f) {
    const name = pick(Object.keys(f));
    const b = f[name]!.slice();
    if (rnd() % 2) f[name] = b.subarray(0, rnd() % Math.max(1, b.length));
    else { for (let i = 0; i < 1 + (rnd() % 3); i++) b[rnd() % Math.min(b.length, 400)] = rnd() & 255; f[name] = b; }
  },
};
const KINDS = Object.keys(mutations);


/** Seeds the generator (xorshift32; 0 is replaced by 1). */
export function seedFuzz(s: number): void { seed = s >>> 0 || 1; }

/** The next hostile directory (files by name) and the mutations applied to it. */
export function hostileHfDir(): { files: Files; kinds: string[] } {
  const files: Files = { ...(rnd() % 3 === 0 ? shardedBase : single) };
  if (rnd() % 2) files["tokenizer_config.json"] = enc({ add_bos_token: true, add_eos_token: false, bos_token: "<s>", eos_token: "</s>" });
  const kinds: string[] = [];
  for (let k = 0; k < 1 + (rnd() % 3); k++) {
    const kind = pick(KINDS);
    kinds.push(kind);
    try { mutations[kind]!(files); } catch { /* an earlier mutation made this one inapplicable */ }
  }
  return { files, kinds };
}
