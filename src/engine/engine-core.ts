// The Engine's base (engine.ts builds on it): the wasm instance, allocations, tensors and scopes,
// type lookups and the argument checks every entry point shares, and dispose().
import { TensorshrinkError } from "../errors";
import { lookupType, type TypeInfo, type QuantTypeName } from "../quant/types";
import type { WorkerPool } from "./pool";
import { WasmTensor, TensorScope } from "./tensor";
import { describe } from "./engine-checks";
import type { QuantizeOptions, DequantizeOptions } from "./engine-types";

type Exports = Record<string, any> & { memory: WebAssembly.Memory };

const DEFAULT_CHUNK_BYTES = 16 << 20;
/**
 * Largest single wasm allocation in bytes: the AssemblyScript TLSF heap's block limit (2^30 minus its
 * block header) inside the 4 GiB wasm32 address space. Larger requests are refused with E_OOM.
 */
export const MAX_ALLOC_BYTES = 0x40000000 - 16;
/** Lattice (assembly/quant/iq_grids.ts grid id) each i-quant type needs. */
const IQ_GRID: Record<string, number> = { iq2_xxs: 0, iq2_xs: 1, iq1_s: 2, iq1_m: 2, iq2_s: 3, iq3_xxs: 4, iq3_s: 5 };

/**
 * @internal The memory, scope, type and argument-check layer of {@link Engine} (src/engine/engine.ts);
 * use the Engine from `init()`.
 */
export class EngineCore {
  /** @internal Raw wasm exports (kernels take pointers; prefer the typed methods). */
  readonly exports: Exports;
  /** Largest f32 input (bytes) one call keeps in wasm memory at once. */
  readonly chunkBytes: number;
  protected readonly module: WebAssembly.Module;
  protected readonly bytes: Uint8Array | null;
  protected readonly threads: number | undefined;
  protected pool: WorkerPool | null = null;
  private live = new Set<number>();
  /** Scopes whose function is running synchronously right now (innermost last). */
  private syncScopes: TensorScope[] = [];
  private disposed = false;

  /** @internal Use `init()`. */
  constructor(instance: WebAssembly.Instance, module: WebAssembly.Module, bytes: Uint8Array | null, opts: { threads?: number; chunkBytes?: number } = {}) {
    this.exports = instance.exports as Exports;
    this.module = module;
    this.bytes = bytes;
    this.threads = opts.threads;
    const cb = opts.chunkBytes ?? DEFAULT_CHUNK_BYTES;
    if (!(Number.isFinite(cb) && cb >= 1024)) throw new TensorshrinkError("E_RANGE", `chunkBytes must be >= 1024, got ${cb}`);
    this.chunkBytes = cb;
  }

  /** Current size of the wasm linear memory, in bytes (it grows in 64 KiB pages and never shrinks). */
  get memoryBytes(): number {
    return this.exports.memory.buffer.byteLength;
  }

  /** True after `dispose()`. */
  get isDisposed(): boolean {
    return this.disposed;
  }

  /** Number of allocations made through this engine and not yet freed (tensors, scratch). */
  get liveAllocations(): number {
    return this.live.size;
  }

  // ---------------------------------------------------------------- memory

  /**
   * @internal Allocates `bytes` (16-byte aligned) in wasm memory. Throws E_OOM (naming the bytes) when
   * the size is not a byte count the wasm32 heap can hold (one block is at most {@link MAX_ALLOC_BYTES},
   * the address space 4 GiB) or the memory cannot grow; never wraps to a small block.
   */
  alloc(bytes: number): number {
    this.check();
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw new TensorshrinkError("E_RANGE", `allocation size must be a non-negative integer byte count, got ${bytes}`, { bytes });
    if (bytes > MAX_ALLOC_BYTES) {
      throw new TensorshrinkError("E_OOM", `cannot allocate ${bytes} bytes in wasm memory: one allocation is at most ${MAX_ALLOC_BYTES} bytes (wasm32: 4 GiB address space, 1 GiB heap blocks); split the tensor into row ranges`, { bytes, max: MAX_ALLOC_BYTES });
    }
    let p = 0;
    try {
      p = this.exports.ts_alloc(Math.max(16, bytes)) >>> 0;
    } catch (e) {
      throw new TensorshrinkError("E_OOM", `wasm memory could not grow to allocate ${bytes} bytes (memory is ${this.memoryBytes} bytes)`, { bytes }, { cause: e });
    }
    this.live.add(p);
    return p;
  }

  /** @internal Frees a pointer from `alloc`. Double frees are ignored. */
  free(p: number): void {
    if (!this.live.delete(p)) return;
    if (!this.disposed) this.exports.ts_free(p);
  }

  /**
   * A Float32 tensor living in wasm memory (zero-copy input for quantize). `length` values (at most
   * {@link MAX_ALLOC_BYTES} / 4 = 268,435,452), or a copy of `src`. Release with `tensor.dispose()` or
   * allocate inside `engine.scope()`. Throws E_SHAPE (bad length) or E_OOM (too large, bytes named).
   */
  tensor(src: Float32Array | number, scope?: TensorScope): WasmTensor {
    this.check();
    if (typeof src !== "number" && !(src instanceof Float32Array)) throw new TensorshrinkError("E_ARG_TYPE", `tensor() needs a length or a Float32Array, got ${describe(src)}`);
    const n = typeof src === "number" ? src : src.length;
    if (!Number.isSafeInteger(n) || n < 0) throw new TensorshrinkError("E_SHAPE", `tensor length must be a non-negative integer, got ${n}`);
    const owner = scope ?? this.syncScopes[this.syncScopes.length - 1];
    if (owner?.isEnded) throw new TensorshrinkError("E_DISPOSED", "this scope has ended: its tensors were disposed");
    const t = new WasmTensor(this, this.alloc(n * 4), n);
    owner?.adopt(t);
    if (typeof src !== "number") t.f32.set(src);
    return t;
  }

  /**
   * Runs `fn(scope)`; every tensor made inside it and not disposed is disposed when it returns, throws
   * or (async) its promise settles. A tensor escaping the scope is then unusable (E_DISPOSED), never a
   * view of someone else's memory. Inside `fn`, tensors made with `scope.tensor()` always belong to
   * the scope; `engine.tensor()` joins the innermost scope only while `fn` runs synchronously, so an
   * async `fn` should use `scope.tensor()` after its first await. Tensors other callers make while an
   * async scope awaits are never captured.
   */
  scope<T>(fn: (scope: TensorScope) => T): T {
    this.check();
    const s = new TensorScope(this);
    this.syncScopes.push(s);
    let r: T;
    try {
      r = fn(s);
    } catch (e) {
      this.popScope(s);
      s.end();
      throw e;
    }
    this.popScope(s);
    if (r && typeof (r as any).then === "function") return Promise.resolve(r).finally(() => s.end()) as T;
    s.end();
    return r;
  }

  private popScope(s: TensorScope): void {
    const i = this.syncScopes.lastIndexOf(s);
    if (i >= 0) this.syncScopes.splice(i, 1);
  }

  protected u8(): Uint8Array {
    return new Uint8Array(this.exports.memory.buffer);
  }

  protected check(): void {
    if (this.disposed) throw new TensorshrinkError("E_DISPOSED", "this engine was disposed");
  }

  // ---------------------------------------------------------------- types

  /** Block size, bytes per block and bits per weight of a ggml type (q8_0: 32, 34, 8.5). */
  typeInfo(type: QuantTypeName): TypeInfo {
    return lookupType(type);
  }

  /** Whether the engine has a quantize kernel for `type`. */
  supports(type: QuantTypeName): boolean {
    const t = lookupType(type);
    return t.name === "f32" || typeof this.exports[`quantize_${t.name}`] === "function";
  }

  protected kernelFor(prefix: string, t: TypeInfo, kernel: "simd" | "ref" | undefined, fullName?: string): Function {
    if (kernel !== undefined && kernel !== "simd" && kernel !== "ref") throw new TensorshrinkError("E_RANGE", `kernel must be "simd" or "ref", got ${String(kernel)}`);
    // i-quant lattices: built once per instance here, before any buffer is allocated (kernels never grow memory)
    const g = IQ_GRID[t.name];
    if (g !== undefined && typeof this.exports.iq_grid_for_kernel === "function") this.exports.iq_grid_for_kernel(g);
    const name = fullName ?? `${prefix}${t.name}${kernel === "ref" ? "_ref" : ""}`;
    const f = this.exports[name];
    if (typeof f !== "function") throw new TensorshrinkError("E_UNSUPPORTED", `no ${prefix.replace(/_$/, "")} kernel for type ${t.name} in this build`, { type: t.name });
    return f;
  }

  protected validate(n: number, opts: QuantizeOptions | DequantizeOptions, t: TypeInfo): void {
    const { rows, cols } = opts;
    const where = opts.name ? ` (tensor "${opts.name}")` : "";
    if (!Number.isSafeInteger(rows) || rows < 0) throw new TensorshrinkError("E_SHAPE", `rows must be a non-negative integer, got ${rows}${where}`, { name: opts.name });
    if (!Number.isSafeInteger(cols) || cols < 0) throw new TensorshrinkError("E_SHAPE", `cols must be a non-negative integer, got ${cols}${where}`, { name: opts.name });
    if (cols % t.blockSize !== 0) throw new TensorshrinkError("E_BLOCK", `cols = ${cols} is not a multiple of the ${t.name} block size ${t.blockSize}${where}`, { name: opts.name, cols, blockSize: t.blockSize });
    if (cols > 0x7fffffff / 4) throw new TensorshrinkError("E_SHAPE", `cols = ${cols} is too large${where}`);
    if (rows * cols !== n) throw new TensorshrinkError("E_SHAPE", `rows * cols = ${rows} * ${cols} = ${rows * cols} does not match the input length ${n}${where}`, { name: opts.name, rows, cols, length: n });
  }

  protected validateImatrix(im: unknown, t: TypeInfo, cols: number, name?: string): Float32Array | null {
    if (im === undefined || im === null) return null;
    const where = name ? ` of tensor "${name}"` : "";
    if (!(im instanceof Float32Array)) throw new TensorshrinkError("E_ARG_TYPE", `imatrix${where} must be a Float32Array, got ${describe(im)}`);
    if (im.length !== cols) throw new TensorshrinkError("E_IMATRIX", `imatrix${where} has ${im.length} values, expected one per column (${cols})`, { name, length: im.length, cols });
    for (let i = 0; i < im.length; i++) {
      const v = im[i];
      if (!(v >= 0) || v === Infinity) throw new TensorshrinkError("E_IMATRIX", `imatrix${where} column ${i} is ${v}; importance must be finite and >= 0`, { name, column: i, value: v });
    }
    return t.usesImatrix ? im : null;
  }

  protected rowBytes(t: TypeInfo, cols: number): number {
    return (cols / t.blockSize) * t.bytesPerBlock;
  }

  /** Frees all wasm allocations and terminates the worker pool. The engine is unusable afterwards. */
  dispose(): void {
    if (this.disposed) return;
    for (const p of [...this.live]) this.free(p);
    this.pool?.close();
    this.pool = null;
    this.disposed = true;
  }
}
