/**
 * llama2.c checkpoints (`.bin`) and tokenizers (`tokenizer.bin`).
 *
 * Legacy (v0) checkpoint: 7 × int32 header `dim, hidden_dim, n_layers, n_heads, n_kv_heads,
 * vocab_size, seq_len` (a negative vocab_size means a separate classifier `wcls` at the end), then
 * float32 arrays: token_embedding_table [vocab, dim], rms_att_weight [L, dim], wq [L, dim, dim],
 * wk [L, kv_dim, dim], wv [L, kv_dim, dim], wo [L, dim, dim], rms_ffn_weight [L, dim],
 * w1 [L, hidden, dim], w2 [L, dim, hidden], w3 [L, hidden, dim], rms_final_weight [dim],
 * freq_cis_real / freq_cis_imag [seq_len, head_size/2] (unused), [wcls [vocab, dim]].
 * Matrices are `[out, in]` row-major. Version 1 files (magic "ak42", 256-byte header, float32) are
 * read too; version 2 (int8) is rejected.
 *
 * Tokenizer: int32 max_token_length, then per token: float32 score, int32 length, bytes.
 */
import { TensorshrinkError } from "../errors";
import { decodeF32 } from "./half";
import type { ByteSource } from "./source";

/** Hyperparameters of a llama2.c checkpoint. */
export interface Llama2cConfig {
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  vocabSize: number;
  seqLen: number;
  /** True when the output classifier is the token embedding (vocab_size > 0 in v0). */
  sharedClassifier: boolean;
  /** 0 = legacy, 1 = "ak42" float32 export. */
  version: 0 | 1;
  /** Bytes before the first weight (28 for v0, 256 for v1). */
  headerBytes: number;
}

/** One weight matrix (or vector) of a checkpoint, read lazily. */
export interface Llama2cTensor {
  /** llama2.c name: token_embedding_table, rms_att_weight, wq, wk, wv, wo, rms_ffn_weight, w1, w2, w3, rms_final_weight, wcls. */
  readonly name: string;
  /** Layer index for per-layer weights. */
  readonly layer?: number;
  /** [rows, cols] (`[out, in]`; vectors are [1, n]). */
  readonly shape: readonly [number, number];
  /** Absolute byte offset. */
  readonly offset: number;
  /** Rows [start, start+count) as float32 (`count * cols` values). */
  readRows(start: number, count: number): Promise<Float32Array>;
  /** The whole tensor. */
  read(): Promise<Float32Array>;
}

/** A parsed checkpoint. */
export interface Llama2cCheckpoint {
  readonly config: Llama2cConfig;
  readonly source: ByteSource;
  readonly tensors: readonly Llama2cTensor[];
  /** Find a tensor by llama2.c name and layer. */
  get(name: string, layer?: number): Llama2cTensor;
}

function fmt(offset: number, msg: string, extra: Record<string, unknown> = {}) {
  return new TensorshrinkError("E_FORMAT", `${msg} (at byte offset ${offset})`, { offset, ...extra });
}

function tensor(source: ByteSource, name: string, layer: number | undefined, rows: number, cols: number, offset: number): Llama2cTensor {
  const t: Llama2cTensor = {
    name, layer, shape: [rows, cols], offset,
    async readRows(start: number, count: number) {
      if (start < 0 || count < 0 || start + count > rows) throw new TensorshrinkError("E_RANGE", `${name}${layer === undefined ? "" : `[${layer}]`}: rows [${start}, ${start + count}) outside [0, ${rows})`, { tensor: name });
      return decodeF32(await source.read(offset + start * cols * 4, count * cols * 4));
    },
    read() { return t.readRows(0, rows); },
  };
  return t;
}

const V1_MAGIC = 0x616b3432;

/**
 * Parse a llama2.c checkpoint header and lay out its tensors (no weights are read).
 * @throws TensorshrinkError `E_FORMAT` (non-positive or inconsistent dims, unsupported version) or
 *   `E_TRUNCATED` (file shorter than the header implies), with `details.offset`.
 */
export async function readLlama2cCheckpoint(source: ByteSource): Promise<Llama2cCheckpoint> {
  if (source.size < 28) throw new TensorshrinkError("E_TRUNCATED", `${source.name}: ${source.size} bytes is too short for a llama2.c header (at byte offset 0)`, { offset: 0 });
  const head = await source.read(0, Math.min(source.size, 256));
  const dv = new DataView(head.buffer, head.byteOffset, head.byteLength);
  let version: 0 | 1 = 0;
  let p = 0;
  let headerBytes = 28;
  let shared: boolean | undefined;
  if (dv.getUint32(0, true) === V1_MAGIC) {
    const v = dv.getInt32(4, true);
    if (v !== 1) throw new TensorshrinkError(v === 2 ? "E_UNSUPPORTED" : "E_FORMAT", `${source.name}: llama2.c export version ${v} is not supported (legacy and version 1 are) (at byte offset 4)`, { offset: 4 });
    if (source.size < 256) throw new TensorshrinkError("E_TRUNCATED", `${source.name}: version 1 header needs 256 bytes (at byte offset 0)`, { offset: 0 });
    version = 1;
    p = 8;
    headerBytes = 256;
    shared = head[36] !== 0;
  }
  const names = ["dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"];
  const v = names.map((_, i) => dv.getInt32(p + 4 * i, true));
  let [dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize, seqLen] = v as [number, number, number, number, number, number, number];
  if (version === 0) {
    shared = vocabSize > 0;
    vocabSize = Math.abs(vocabSize);
  }
  const limits = [1 << 16, 1 << 18, 1 << 10, 1 << 12, 1 << 12, 1 << 22, 1 << 22];
  for (let i = 0; i < 7; i++) {
    const x = i === 5 ? vocabSize : v[i]!;
    if (!(x > 0) || x > limits[i]!) throw fmt(p + 4 * i, `${source.name}: ${names[i]} = ${v[i]} is not a plausible llama2.c hyperparameter (1..${limits[i]})`);
  }
  if (dim % nHeads !== 0) throw fmt(p + 12, `${source.name}: dim ${dim} is not a multiple of n_heads ${nHeads}`);
  if (nHeads % nKvHeads !== 0) throw fmt(p + 16, `${source.name}: n_heads ${nHeads} is not a multiple of n_kv_heads ${nKvHeads}`);
  const headSize = dim / nHeads;
  if (headSize % 2 !== 0) throw fmt(p + 12, `${source.name}: head size ${headSize} is odd`);
  const kvDim = headSize * nKvHeads;
  const tensors: Llama2cTensor[] = [];
  let off = headerBytes;
  const add = (name: string, rows: number, cols: number, perLayer: boolean) => {
    if (perLayer) for (let l = 0; l < nLayers; l++) { tensors.push(tensor(source, name, l, rows, cols, off)); off += rows * cols * 4; }
    else { tensors.push(tensor(source, name, undefined, rows, cols, off)); off += rows * cols * 4; }
  };
  if (version === 0) {
    add("token_embedding_table", vocabSize, dim, false);
    add("rms_att_weight", 1, dim, true);
    add("wq", dim, dim, true);
    add("wk", kvDim, dim, true);
    add("wv", kvDim, dim, true);
    add("wo", dim, dim, true);
    add("rms_ffn_weight", 1, dim, true);
    add("w1", hiddenDim, dim, true);
    add("w2", dim, hiddenDim, true);
    add("w3", hiddenDim, dim, true);
    add("rms_final_weight", 1, dim, false);
    off += 2 * seqLen * (headSize / 2) * 4; // freq_cis_real, freq_cis_imag
  } else {
    add("rms_att_weight", 1, dim, true);
    add("rms_ffn_weight", 1, dim, true);
    add("rms_final_weight", 1, dim, false);
    add("token_embedding_table", vocabSize, dim, false);
    add("wq", dim, dim, true);
    add("wk", kvDim, dim, true);
    add("wv", kvDim, dim, true);
    add("wo", dim, dim, true);
    add("w1", hiddenDim, dim, true);
    add("w2", dim, hiddenDim, true);
    add("w3", hiddenDim, dim, true);
  }
  if (!shared) add("wcls", vocabSize, dim, false);
  if (off > source.size) {
    throw new TensorshrinkError("E_TRUNCATED", `${source.name}: the header (dim ${dim}, hidden ${hiddenDim}, ${nLayers} layers, vocab ${vocabSize}${shared ? "" : ", separate classifier"}) implies ${off} bytes, the file has ${source.size} (at byte offset ${source.size})`, { offset: source.size, expected: off });
  }
  if (off < source.size) {
    throw fmt(off, `${source.name}: ${source.size - off} unexpected trailing bytes after the weights (expected ${off} bytes: wrong header or not a llama2.c checkpoint)`, { expected: off });
  }
  const config: Llama2cConfig = { dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize, seqLen, sharedClassifier: shared!, version, headerBytes };
  return {
    config,
    source,
    tensors,
    get(name: string, layer?: number) {
      const t = tensors.find((x) => x.name === name && x.layer === layer);
      if (!t) throw new TensorshrinkError("E_FORMAT", `llama2.c checkpoint has no ${name}${layer === undefined ? "" : ` for layer ${layer}`}`, { tensor: name });
      return t;
    },
  };
}

/** A llama2.c tokenizer. */
export interface Llama2cTokenizer {
  maxTokenLength: number;
  /** Raw token bytes by id. */
  tokens: Uint8Array[];
  /** Scores by id (merge priority: higher merges first). */
  scores: Float32Array;
}

/**
 * Read a llama2.c `tokenizer.bin` holding `vocabSize` tokens (the checkpoint's vocab size).
 * @throws TensorshrinkError `E_TRUNCATED` / `E_FORMAT` with `details.offset` and the token id.
 */
export async function readLlama2cTokenizer(source: ByteSource, vocabSize: number): Promise<Llama2cTokenizer> {
  if (source.size > 1 << 30) throw fmt(0, `${source.name}: ${source.size} bytes is too large for a llama2.c tokenizer`);
  if (source.size < 4) throw new TensorshrinkError("E_TRUNCATED", `${source.name}: too short for a tokenizer (at byte offset 0)`, { offset: 0 });
  const all = await source.read(0, source.size);
  const dv = new DataView(all.buffer, all.byteOffset, all.byteLength);
  const maxTokenLength = dv.getInt32(0, true);
  if (maxTokenLength <= 0 || maxTokenLength > 1 << 16) throw fmt(0, `${source.name}: max_token_length ${maxTokenLength} is not plausible`);
  if (vocabSize * 8 > source.size) throw new TensorshrinkError("E_TRUNCATED", `${source.name}: ${vocabSize} tokens need at least ${vocabSize * 8 + 4} bytes, the file has ${source.size} (at byte offset 4)`, { offset: 4 });
  const tokens: Uint8Array[] = new Array(vocabSize);
  const scores = new Float32Array(vocabSize);
  let o = 4;
  for (let i = 0; i < vocabSize; i++) {
    if (o + 8 > all.byteLength) throw new TensorshrinkError("E_TRUNCATED", `${source.name}: ends in the entry of token ${i} (at byte offset ${o})`, { offset: o, token: i });
    scores[i] = dv.getFloat32(o, true);
    const len = dv.getInt32(o + 4, true);
    if (len < 0 || len > maxTokenLength * 4 + 16) throw fmt(o + 4, `${source.name}: token ${i} has length ${len} (max_token_length ${maxTokenLength})`, { token: i });
    if (o + 8 + len > all.byteLength) throw new TensorshrinkError("E_TRUNCATED", `${source.name}: token ${i} of ${len} bytes runs past the end (at byte offset ${o + 4})`, { offset: o + 4, token: i });
    tokens[i] = all.slice(o + 8, o + 8 + len);
    o += 8 + len;
  }
  return { maxTokenLength, tokens, scores };
}
