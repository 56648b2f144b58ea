import { TensorshrinkError } from "../errors";
import { defaultWasmBytes } from "./wasm-default";
import { instantiate as asInstantiate, instantiateSync as asInstantiateSync } from "@assemblyscript/loader";

/** How to find the wasm module. At most one of `module`, `bytes`, `url` is used (in that order). */
export interface InitOptions {
  /** An already compiled module (workerd / Cloudflare Workers: `import wasm from "tensorshrink/tensorshrink.wasm"`). */
  module?: WebAssembly.Module;
  /** The raw bytes of tensorshrink.wasm. */
  bytes?: ArrayBuffer | Uint8Array;
  /** A URL to fetch tensorshrink.wasm from (browsers, CDNs). */
  url?: string | URL;
  /**
   * Worker pool size for the async API (default: available cores; 0 = no workers, run async work
   * on the calling thread). Workers are created lazily on the first async call.
   */
  threads?: number;
  /** Largest f32 input held in wasm memory at once by one call, in bytes (default 16 MiB). */
  chunkBytes?: number;
}

// wasm-feature-detect's SIMD probe: (func (result v128) i32.const 0 i8x16.splat i8x16.popcnt)
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]);

/** True when this runtime validates WebAssembly SIMD128. */
export function hasSimd(): boolean {
  try {
    return typeof WebAssembly === "object" && WebAssembly.validate(SIMD_PROBE);
  } catch {
    return false;
  }
}

let injected: WebAssembly.Module | null = null;
/** @internal Used by the workerd entry: registers the module imported as a Worker module. */
export function setDefaultModule(m: WebAssembly.Module): void {
  injected = m;
}

let cached: Promise<{ module: WebAssembly.Module; bytes: Uint8Array | null }> | null = null;

/**
 * Compiles (once per realm) and returns the tensorshrink module. Rejects with E_NO_SIMD when the
 * runtime lacks WebAssembly SIMD128, E_WASM_LOAD when no module can be found or compiled.
 */
export async function loadModule(opts: InitOptions = {}): Promise<{ module: WebAssembly.Module; bytes: Uint8Array | null }> {
  if (!hasSimd()) {
    throw new TensorshrinkError("E_NO_SIMD", "this runtime's WebAssembly lacks the SIMD128 feature (fixed-width SIMD) that tensorshrink requires", { feature: "simd128" });
  }
  if (opts.module) return { module: opts.module, bytes: null };
  if (opts.bytes) return { module: await compile(toU8(opts.bytes)), bytes: toU8(opts.bytes) };
  if (opts.url) {
    let bytes: Uint8Array;
    try {
      const res = await fetch(opts.url);
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      bytes = new Uint8Array(await res.arrayBuffer());
    } catch (e) {
      throw new TensorshrinkError("E_WASM_LOAD", `could not fetch the wasm module from ${String(opts.url)}: ${(e as Error).message}`, { url: String(opts.url) }, { cause: e });
    }
    return { module: await compile(bytes), bytes };
  }
  if (!cached) {
    cached = (async () => {
      if (injected) return { module: injected, bytes: null };
      const bytes = await defaultWasmBytes();
      if (!bytes) throw new TensorshrinkError("E_WASM_LOAD", "tensorshrink.wasm was not found: build the package (npm run build) or pass init({ module | bytes | url })");
      return { module: await compile(bytes), bytes };
    })();
    cached.catch(() => { cached = null; });
  }
  return cached;
}

async function compile(bytes: Uint8Array): Promise<WebAssembly.Module> {
  try {
    return await WebAssembly.compile(bytes as BufferSource);
  } catch (e) {
    throw new TensorshrinkError("E_WASM_LOAD", `could not compile tensorshrink.wasm (${bytes.byteLength} bytes): ${(e as Error).message}`, {}, { cause: e });
  }
}

function toU8(b: ArrayBuffer | Uint8Array): Uint8Array {
  return b instanceof Uint8Array ? b : new Uint8Array(b);
}

/**
 * Instantiates the module through @assemblyscript/loader (it accepts a compiled Module and decodes
 * abort messages into `Error("abort: <msg> at <file>:<line>:<col>")`, which the engine turns into
 * E_WASM_ABORT).
 */
export async function instantiate(module: WebAssembly.Module): Promise<WebAssembly.Instance> {
  // Node (and runtimes that say they are): the sync form. The async one tests `src instanceof
  // Response`, and touching globalThis.Response makes Node load its whole fetch stack (undici:
  // ~0.2 s of CPU per process, more than quantizing 100 MB to Q8_0). Browsers keep the async form
  // (they may refuse a synchronous instantiation on the main thread).
  const p = (globalThis as any).process;
  if (p && p.versions && typeof p.versions.node === "string") return asInstantiateSync(module, { env: { seed: () => 0x9e3779b9 } }).instance;
  const { instance } = await asInstantiate(module, { env: { seed: () => 0x9e3779b9 } });
  return instance;
}
