/**
 * Opens any supported model input as a ModelSource — GGUF, llama2.c checkpoint, Hugging Face
 * directory — from a local path (Node/Deno/Bun), an http(s) URL (read with range requests; a URL
 * ending in "/" is a Hugging Face directory), a Blob/File (browsers) or any ByteSource. The format
 * is detected from the content (magic bytes) or, for directories, from config.json; a file that is
 * none of them is refused saying so. Every model is checked against llama.cpp's shape rules before it
 * is returned, and every file handle is closed again on every failure.
 */
import { nodeBuiltin } from "../engine/node-builtin";
import { TensorshrinkError } from "../errors";
import type { Engine } from "../engine/engine";
import { closingOnError, openFileSource, openSource, urlResolver, type ByteSource, type FileResolver, type SourceInput, type UrlSourceOptions } from "../formats/source";
import { readGguf } from "../formats/gguf";
import { ggufModelSource, type ModelSource } from "./source";
import { checkLlamaModel } from "./validate";

/** What {@link openModel} accepts. `{ dir: resolver }` is a Hugging Face directory given as a FileResolver. */
export type ModelInput = string | URL | Blob | ByteSource | { dir: FileResolver };

/** Options of {@link openModel}. */
export interface OpenModelOptions extends UrlSourceOptions {
  /**
   * llama2.c tokenizer.bin: a path, URL, Blob or ByteSource (default for a local checkpoint:
   * tokenizer.bin / tok*.bin beside it; required for other llama2.c inputs).
   */
  tokenizer?: SourceInput;
  /** general.name for a converted llama2.c checkpoint (default: from its file name). */
  name?: string;
}

const isUrl = (x: unknown): x is string | URL => x instanceof URL || (typeof x === "string" && /^https?:\/\//i.test(x));

/**
 * Opens a model for {@link quantizeModel}. Nothing is read beyond the headers until tensors are read.
 * The model's `files` lists every local file it reads (protect them: `openFileSink(out, { inputs: model.files })`).
 * @throws TensorshrinkError `E_IO` (cannot open, not a regular file), `E_FORMAT` / `E_TRUNCATED` (bad
 *   header, with the byte offset; a file that is no model), `E_SHAPE` (tensors that do not fit the
 *   hyperparameters), `E_UNSUPPORTED` (HF architecture, a lone safetensors file), `E_ARG_TYPE`.
 */
export async function openModel(input: ModelInput, engine: Engine, opts: OpenModelOptions = {}): Promise<ModelSource> {
  if (input && typeof input === "object" && "dir" in input && typeof (input as any).dir === "function") return openHf((input as { dir: FileResolver }).dir);
  if (isUrl(input)) {
    if (String(input).endsWith("/")) return openHf(urlResolver(input, opts));
    return openBytes(await openSource(input, opts), engine, opts);
  }
  if (typeof input === "string") return openPath(input, engine, opts);
  if ((typeof Blob !== "undefined" && input instanceof Blob) || (input && typeof (input as ByteSource).read === "function")) {
    return openBytes(await openSource(input as Blob | ByteSource), engine, opts);
  }
  throw new TensorshrinkError("E_ARG_TYPE", "openModel needs a path, an http(s) URL, a Blob, a ByteSource or { dir: FileResolver }");
}

/** What the first bytes of a file say it is. */
export type SniffedFormat = "gguf" | "safetensors" | "llama2c" | null;

/**
 * Detects the format from the first bytes: GGUF magic; a safetensors u64 header length followed by
 * `{`; a llama2.c checkpoint ("ak42" version header, or seven plausible int32 hyperparameters). Null
 * when it is none of them.
 */
export async function sniffModelFormat(src: ByteSource): Promise<SniffedFormat> {
  const head = await src.read(0, Math.min(src.size, 32));
  if (head.length >= 4 && head[0] === 0x47 && head[1] === 0x47 && head[2] === 0x55 && head[3] === 0x46) return "gguf";
  const dv = new DataView(head.buffer, head.byteOffset, head.byteLength);
  if (head.length >= 9 && head[8] === 0x7b) {
    const n = dv.getBigUint64(0, true);
    if (n >= 2n && n <= 100_000_000n && 8n + n <= BigInt(src.size)) return "safetensors";
  }
  if (head.length >= 8 && dv.getUint32(0, true) === 0x616b3432) return "llama2c";
  if (head.length >= 28) {
    const v = Array.from({ length: 7 }, (_, i) => dv.getInt32(4 * i, true));
    const [dim, hidden, layers, heads, kv, vocab, seq] = v as [number, number, number, number, number, number, number];
    if (dim > 0 && dim <= 1 << 16 && hidden > 0 && hidden <= 1 << 18 && layers > 0 && layers <= 1 << 10 && heads > 0 && heads <= 1 << 12 &&
      kv > 0 && kv <= heads && vocab !== 0 && Math.abs(vocab) <= 1 << 22 && seq > 0 && seq <= 1 << 22) return "llama2c";
  }
  return null;
}

function notAModel(src: ByteSource): TensorshrinkError {
  return new TensorshrinkError("E_FORMAT", `${src.name}: ${src.size} bytes: not a GGUF (magic 'GGUF'), safetensors or llama2.c checkpoint (at byte offset 0)`, { file: src.name, offset: 0, size: src.size });
}

function loneSafetensors(src: ByteSource): TensorshrinkError {
  return new TensorshrinkError("E_UNSUPPORTED", `${src.name} is a safetensors file: pass the Hugging Face directory holding it (with config.json and tokenizer.json) instead`, { file: src.name });
}

/** A GGUF source as a checked model source; the source is closed when anything fails. */
async function ggufModel(src: ByteSource, engine: Engine): Promise<ModelSource> {
  return closingOnError(src, async () => {
    const m = ggufModelSource(await readGguf(src), engine);
    checkLlamaModel(m, src.name);
    return m;
  });
}

async function openPath(path: string, engine: Engine, opts: OpenModelOptions): Promise<ModelSource> {
  const fs = await nodeBuiltin<typeof import("node:fs/promises")>("node:fs/promises");
  let st;
  try { st = await fs.stat(path); } catch (e) { throw new TensorshrinkError("E_IO", `cannot open ${path}: ${(e as Error).message}`, { file: path }); }
  if (st.isDirectory()) return openHf(path);
  const src = await openFileSource(path); // refuses FIFOs, devices, sockets
  const kind: SniffedFormat = await closingOnError(src, () => sniffModelFormat(src));
  if (kind === "gguf") return ggufModel(src, engine);
  await src.close?.();
  if (kind === "safetensors") throw loneSafetensors(src);
  if (kind === null) throw notAModel(src);
  const m = await import("./convert");
  return m.openLlama2cModel(path, typeof opts.tokenizer === "string" ? opts.tokenizer : undefined);
}

async function openBytes(src: ByteSource, engine: Engine, opts: OpenModelOptions): Promise<ModelSource> {
  const kind: SniffedFormat = await closingOnError(src, () => sniffModelFormat(src));
  if (kind === "gguf") return ggufModel(src, engine);
  if (kind !== "llama2c") {
    await src.close?.();
    throw kind === "safetensors" ? loneSafetensors(src) : notAModel(src);
  }
  if (opts.tokenizer === undefined) {
    await src.close?.();
    throw new TensorshrinkError("E_ARG_TYPE", `${src.name} looks like a llama2.c checkpoint: it needs its tokenizer (options.tokenizer)`, { file: src.name });
  }
  const m = await import("./convert");
  const tok = await closingOnError(src, () => openSource(opts.tokenizer!, opts));
  return m.planAsModelSource(await m.llamaFromLlama2c(src, tok, { name: opts.name }));
}

async function openHf(dir: string | FileResolver): Promise<ModelSource> {
  const m = await import("./convert");
  return m.openHfModel(dir);
}
