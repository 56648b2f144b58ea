/**
 * A model as the quantization pipeline sees it: metadata plus tensors that can be read by row range,
 * so a whole model streams through in bounded memory.
 */
import { TensorshrinkError } from "../errors";
import type { Engine } from "../engine/engine";
import type { GgufKV, GgufFile } from "../formats/gguf";
import { readGgufTensorRows, ggufGet } from "../formats/gguf";
import type { PlanHparams } from "./recipes";
import { fileIdentityOf } from "../formats/source";
import type { FileRange } from "../engine/pool";

/** One tensor of a model source. */
export interface ModelTensor {
  /** GGUF tensor name (token_embd.weight, blk.0.attn_q.weight, ...). */
  readonly name: string;
  /** Extents in ggml order (ne[0] = row length). */
  readonly ne: readonly number[];
  /** ggml type name of the stored data ("f32", "f16", "bf16", "q8_0", ...). */
  readonly type: string;
  /**
   * Reads `count` rows from row `start` as f32 (dequantized/converted when needed). The caller owns
   * the returned array: the pipeline may transfer its buffer to a pool worker, so return a fresh one.
   */
  readRows(start: number, count: number): Promise<Float32Array>;
  /** Reads `count` rows from row `start` as stored bytes (for tensors copied unchanged). */
  readRawRows(start: number, count: number): Promise<Uint8Array>;
  /**
   * @internal For f32 tensors stored in a local file (openFileSource): where the bytes of rows
   * [start, start + count) are, so a pool worker can read them itself; null when not available.
   */
  fileRows?(start: number, count: number): FileRange | null;
}


/** A model: GGUF-style metadata (in order) plus tensors (in file order). */
export interface ModelSource {
  readonly name: string;
  readonly metadata: readonly GgufKV[];
  readonly tensors: readonly ModelTensor[];
  /** Llama hyperparameters used by the recipes. */
  readonly hparams: PlanHparams;
  /**
   * Absolute paths of every local file the model reads (the GGUF; the checkpoint and its tokenizer,
   * found or given; config.json, tokenizer files, the shard index and every shard), so that an output
   * sink can refuse to replace any of them: `openFileSink(out, { inputs: model.files })`.
   */
  readonly files?: readonly string[];
  close?(): Promise<void>;
}

/** Rows of a tensor: product of ne[1..]. */
export function tensorRows(ne: readonly number[]): number {
  let r = 1;
  for (let i = 1; i < ne.length; i++) r *= ne[i];
  return r;
}

/** Reads llama hyperparameters from GGUF metadata (`<arch>.block_count`, head counts, expert count). */
export function hparamsFromMetadata(kv: ReadonlyMap<string, GgufKV> | readonly GgufKV[]): PlanHparams {
  const map = kv instanceof Map ? kv : new Map((kv as readonly GgufKV[]).map((e) => [e.key, e]));
  const get = (k: string) => ggufGet({ kv: map as ReadonlyMap<string, GgufKV> }, k);
  const arch = String(get("general.architecture") ?? "llama");
  const num = (k: string, d: number) => {
    const v = get(`${arch}.${k}`);
    if (typeof v === "number") return v;
    if (typeof v === "bigint") return Number(v);
    if (v && typeof v === "object" && (v as any).items?.length) return Number((v as any).items[0]);
    return d;
  };
  const nHead = num("attention.head_count", 1);
  return { nLayer: num("block_count", 0), nHead, nHeadKv: num("attention.head_count_kv", nHead), nExpert: num("expert_count", 0) };
}

/**
 * A GGUF file as a model source. Quantized tensors are dequantized with the engine when read as f32
 * (requantization), f16/bf16 are converted exactly.
 */
export function ggufModelSource(file: GgufFile, engine: Engine): ModelSource {
  const tensors: ModelTensor[] = file.tensors.map((t) => ({
    name: t.name,
    ne: t.ne,
    type: t.type.name,
    readRawRows: (start: number, count: number) => readGgufTensorRows(file, t, start, count),
    fileRows(start: number, count: number): FileRange | null {
      // f32 rows as they are; other stored types (f16, bf16, quantized) converted by the worker's kernel
      const id = t.type.name === "f32" || engine.supports(t.type.name) ? fileIdentityOf(file.source) : null;
      if (!id || !Number.isSafeInteger(start) || !Number.isSafeInteger(count) || start < 0 || count < 0 || start + count > t.rows) return null;
      const offset = t.absOffset + start * t.rowBytes;
      if (offset + count * t.rowBytes > id.size) return null; // let the regular read report the truncation
      return { path: id.path, dev: id.dev, ino: id.ino, offset, type: t.type.name, rowBytes: t.rowBytes };
    },
    async readRows(start: number, count: number) {
      const raw = await readGgufTensorRows(file, t, start, count);
      if (t.type.name === "f32") {
        // A fresh read fills its own buffer: use it directly (the caller owns it); else copy once.
        if (raw.byteOffset === 0 && raw.byteLength === raw.buffer.byteLength) return new Float32Array(raw.buffer, 0, raw.byteLength / 4);
        return new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
      }
      if (!engine.supports(t.type.name)) throw new TensorshrinkError("E_UNSUPPORTED", `tensor "${t.name}" is stored as ${t.type.name}, which tensorshrink cannot dequantize`, { name: t.name });
      return engine.dequantize(raw, { type: t.type.name, rows: count, cols: t.ne[0], name: t.name });
    },
  }));
  return {
    name: file.source.name, metadata: file.metadata, tensors, hparams: hparamsFromMetadata(file.kv),
    files: file.source.path ? [file.source.path] : [], close: async () => file.source.close?.(),
  };
}
