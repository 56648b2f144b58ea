/**
 * Opens any supported model input as a ModelSource — GGUF, llama2.c checkpoint, Hugging Face
 * directory — from a local path (Node/Deno/Bun), an http(s) URL (read with range requests; a URL
 * ending in "/" is a Hugging Face directory), a Blob/File (browsers) or any ByteSource. The format
 * is detected from the content (GGUF magic) or, for directories, from config.json.
 */
import { nodeBuiltin } from "../engine/node-builtin";
import { TensorshrinkError } from "../errors";
import type { Engine } from "../engine/engine";
import { openFileSource, openSource, urlResolver, type ByteSource, type FileResolver, type SourceInput, type UrlSourceOptions } from "../formats/source";
import { readGguf } from "../formats/gguf";
import { ggufModelSource, type ModelSource } from "./source";

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
 * @throws TensorshrinkError `E_IO` (cannot open), `E_FORMAT` / `E_TRUNCATED` (bad header, with the
 *   byte offset), `E_UNSUPPORTED` (HF architecture), `E_ARG_TYPE` (unsupported input).
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

async function openPath(path: string, engine: Engine, opts: OpenModelOptions): Promise<ModelSource> {
  const fs = await nodeBuiltin<typeof import("node:fs/promises")>("node:fs/promises");
  let st;
  try { st = await fs.stat(path); } catch (e) { throw new TensorshrinkError("E_IO", `cannot open ${path}: ${(e as Error).message}`, { file: path }); }
  if (st.isDirectory()) return openHf(path);
  const src = await openFileSource(path);
  if (await isGguf(src)) return ggufModelSource(await readGguf(src), engine);
  await src.close?.();
  const m = await import("./convert");
  return m.openLlama2cModel(path, typeof opts.tokenizer === "string" ? opts.tokenizer : undefined);
}

async function openBytes(src: ByteSource, engine: Engine, opts: OpenModelOptions): Promise<ModelSource> {
  if (await isGguf(src)) return ggufModelSource(await readGguf(src), engine);
  if (opts.tokenizer === undefined) {
    await src.close?.();
    throw new TensorshrinkError("E_ARG_TYPE", `${src.name} is not a GGUF file; as a llama2.c checkpoint it needs its tokenizer (options.tokenizer)`, { file: src.name });
  }
  const m = await import("./convert");
  return m.planAsModelSource(await m.llamaFromLlama2c(src, await openSource(opts.tokenizer, opts), { name: opts.name }));
}

async function openHf(dir: string | FileResolver): Promise<ModelSource> {
  const m = await import("./convert");
  return m.openHfModel(dir);
}

async function isGguf(src: ByteSource): Promise<boolean> {
  const magic = await src.read(0, Math.min(4, src.size));
  return magic.length === 4 && magic[0] === 0x47 && magic[1] === 0x47 && magic[2] === 0x55 && magic[3] === 0x46;
}
