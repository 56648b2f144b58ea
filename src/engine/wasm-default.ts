// Default wasm bytes when running from source (tsx/ts-node/Deno on src/): read build/tensorshrink.wasm.
// The package build replaces this module with wasm-default.bundle.ts (bytes inlined by the bundler).
import { nodeBuiltin } from "./node-builtin";

/** Returns the wasm bytes of the default build, or null when this host cannot find them. */
export async function defaultWasmBytes(): Promise<Uint8Array | null> {
  try {
    const fs = await nodeBuiltin<typeof import("node:fs/promises")>("node:fs/promises");
    const url = new URL("../../build/tensorshrink.wasm", import.meta.url);
    return new Uint8Array(await fs.readFile(url));
  } catch {
    return null;
  }
}
