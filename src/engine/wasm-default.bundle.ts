// Used by the package build in place of wasm-default.ts: the bundler inlines the wasm bytes
// (esbuild "binary" loader), so Node, Deno, Bun and browsers need no file lookup.
// @ts-ignore: resolved by the bundler
import bytes from "../../build/tensorshrink.wasm";
/** Returns the inlined wasm bytes. */
export async function defaultWasmBytes(): Promise<Uint8Array | null> {
  return bytes as Uint8Array;
}
