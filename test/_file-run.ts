// Shared by test/83 and test/86: quantize a GGUF file into a file sink the way the CLI does (file
// source → ggufModelSource → quantizeModel → openFileSink with the input registered), small units.
import { quantizeModel, ggufModelSource } from "../src/index";
import { openFileSink, openFileSource } from "../src/formats/source";
import { readGguf } from "../src/formats/gguf";
import type { Engine } from "../src/engine/engine";

/**
 * Quantizes the GGUF file `from` to `out` as `ftype` in 16 KiB units; `opts` go to quantizeModel.
 * Every worker the engine's threads allow runs (minWorkerSeconds: 0): these small models would
 * otherwise stay on the calling thread (src/engine/work-estimate.ts), and the tests are about the pool.
 */
export async function fileRun(e: Engine, from: string, ftype: string, out: string, opts: Record<string, unknown> = {}) {
  const src = await openFileSource(from);
  try {
    const m = ggufModelSource(await readGguf(src), e);
    return await quantizeModel(e, m, await openFileSink(out, { inputs: [src] }), { ftype, chunkBytes: 16 * 1024, minWorkerSeconds: 0, ...opts });
  } finally {
    await src.close?.();
  }
}
