// Used by the CLI build (dist/cli-*.js) in place of wasm-default.ts: the CLI runs in Node (or Bun /
// Deno's Node mode) from dist/, where the build puts tensorshrink.wasm beside it, so the bytes are read
// from that file (fs.readFileSync, ~0.1 ms) instead of being inlined: the quantize bundle is then
// ~400 KB smaller to read and compile at every start, and there is no base64 to decode. (The file is
// in the published package: "files": ["dist"].)
import { nodeBuiltin } from "./node-builtin";

/** Returns the bytes of tensorshrink.wasm beside this bundle, or null (init then says E_WASM_LOAD). */
export async function defaultWasmBytes(): Promise<Uint8Array | null> {
  try {
    const fs = await nodeBuiltin<typeof import("node:fs")>("node:fs");
    return new Uint8Array(fs.readFileSync(new URL("./tensorshrink.wasm", import.meta.url)));
  } catch {
    return null;
  }
}
