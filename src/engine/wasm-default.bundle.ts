// Used by the package build in place of wasm-default.ts: the bundler inlines the wasm bytes as base64
// text (esbuild "base64" loader), so Node, Deno, Bun and browsers need no file lookup. The text is
// decoded natively (Uint8Array.fromBase64, Node's Buffer, else atob): esbuild's own "binary" loader
// decodes in JS, ~10 ms of CPU per process start for the 300 KB module.
// @ts-ignore: resolved by the bundler
import base64 from "../../build/tensorshrink.wasm";

/** Returns the inlined wasm bytes (decoded once per call; init caches the compiled module). */
export async function defaultWasmBytes(): Promise<Uint8Array | null> {
  return decodeBase64(base64 as string);
}

/** base64 text -> bytes with the runtime's native decoder. */
export function decodeBase64(s: string): Uint8Array {
  const U8 = Uint8Array as unknown as { fromBase64?: (s: string) => Uint8Array };
  if (typeof U8.fromBase64 === "function") return U8.fromBase64(s);
  const B = (globalThis as any).Buffer;
  if (B && typeof B.from === "function") {
    const b = B.from(s, "base64") as Uint8Array;
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  }
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
