import { Engine } from "./engine";
import { loadModule, instantiate, type InitOptions } from "./load";

/**
 * Creates an engine: finds and compiles the wasm module (cached: one compile per realm), then
 * instantiates it. Works unchanged in Node (ESM/CJS), Deno, Bun, browsers and workerd.
 * Rejects with `TensorshrinkError` E_NO_SIMD where WebAssembly SIMD128 is missing.
 *
 * ```ts
 * import { init } from "tensorshrink";
 * const engine = await init();
 * const q = engine.quantize(x, { type: "q8_0", rows: 4096, cols: 4096 }); // 8.5 bits/weight
 * ```
 */
export async function init(opts: InitOptions = {}): Promise<Engine> {
  const { module, bytes } = await loadModule(opts);
  const instance = await instantiate(module);
  return new Engine(instance, module, bytes, opts);
}
