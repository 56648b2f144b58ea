/** Opens any supported model input as a ModelSource: GGUF, llama2.c checkpoint, Hugging Face directory. */
import { nodeBuiltin } from "../engine/node-builtin";
import { TensorshrinkError } from "../errors";
import type { Engine } from "../engine/engine";
import { openFileSource } from "../formats/source";
import { readGguf } from "../formats/gguf";
import { ggufModelSource, type ModelSource } from "./source";

/** Options of {@link openModel}. */
export interface OpenModelOptions {
  /** llama2.c tokenizer.bin (default: tokenizer.bin / tok*.bin beside the checkpoint). */
  tokenizer?: string;
}

/** Opens `path` (Node/Deno/Bun file system) and detects its format from the content. */
export async function openModel(path: string, engine: Engine, opts: OpenModelOptions = {}): Promise<ModelSource> {
  const fs = await nodeBuiltin<typeof import("node:fs/promises")>("node:fs/promises");
  let st;
  try { st = await fs.stat(path); } catch (e) { throw new TensorshrinkError("E_IO", `cannot open ${path}: ${(e as Error).message}`, { file: path }); }
  if (st.isDirectory()) return openHfDirectory(path, engine);
  const src = await openFileSource(path);
  const magic = await src.read(0, Math.min(4, src.size));
  if (magic.length === 4 && String.fromCharCode(...magic) === "GGUF") return ggufModelSource(await readGguf(src), engine);
  await src.close?.();
  return openLlama2c(path, opts.tokenizer);
}

async function openHfDirectory(dir: string, _engine: Engine): Promise<ModelSource> {
  const m = await import("./convert");
  return (m as any).openHfModel(dir);
}

async function openLlama2c(path: string, tokenizer?: string): Promise<ModelSource> {
  const m = await import("./convert");
  return (m as any).openLlama2cModel(path, tokenizer);
}
