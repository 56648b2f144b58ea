// workerd bundle: the module is imported by src/index.workerd.ts, no bytes are inlined.
/** Always null: workerd cannot compile wasm from bytes. */
export async function defaultWasmBytes(): Promise<Uint8Array | null> {
  return null;
}
