import { TensorshrinkError } from "../errors";
import { lookupType, type TypeInfo, type QuantTypeName } from "../quant/types";
import { WorkerPool, availableCores, workersAvailable, type PoolJob, type FileRange, type PoolCall, type PoolCallResult, type RunPlacement } from "./pool";
import { WasmTensor, TensorScope } from "./tensor";
import { StreamQuantizer } from "./stream-quantizer";

export { StreamQuantizer };
import { splitRows, checksFinite, requireImatrix, xArray, nonFinite, nonFiniteValue, describe, fusedCheck, quantKernelName } from "./engine-checks";
export { describe };
import type { QuantizeOptions, DequantizeOptions, ErrorStats, UnitResult } from "./engine-types";
export type { QuantizeOptions, DequantizeOptions, ErrorStats, UnitResult };


type Exports = Record<string, any> & { memory: WebAssembly.Memory };

const DEFAULT_CHUNK_BYTES = 16 << 20;
/**
 * Largest single wasm allocation in bytes: the AssemblyScript TLSF heap's block limit (2^30 minus its
 * block header) inside the 4 GiB wasm32 address space. Larger requests are refused with E_OOM.
 */
export const MAX_ALLOC_BYTES = 0x40000000 - 16;
/** Lattice (assembly/quant/iq_grids.ts grid id) each i-quant type needs. */
const IQ_GRID: Record<string, number> = { iq2_xxs: 0, iq2_xs: 1, iq1_s: 2, iq1_m: 2, iq2_s: 3, iq3_xxs: 4, iq3_s: 5 };
/** Values per slice of a pool quantize job / quantizeUnit (1 MiB of f32: one read syscall and a few kernel calls per slice, the slice and its dequantized copy still in L2/L3). */
const SLICE_VALUES = 262144;
const sliceRowsFor = (cols: number) => Math.max(1, Math.floor(SLICE_VALUES / cols));


/**
 * An initialized tensorshrink engine: one wasm instance (SIMD128) plus an optional worker pool.
 * Sync methods run on the calling thread; `...Async` methods may spread rows over the pool.
 * Memory: each call holds at most ~`chunkBytes` (default 16 MiB) of input in wasm memory and releases
 * everything it allocated before returning.
 */
export class Engine {
  /** @internal Raw wasm exports (kernels take pointers; prefer the typed methods). */
  readonly exports: Exports;
  /** Largest f32 input (bytes) one call keeps in wasm memory at once. */
  readonly chunkBytes: number;
  private readonly module: WebAssembly.Module;
  private readonly bytes: Uint8Array | null;
  private readonly threads: number | undefined;
  private pool: WorkerPool | null = null;
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

  private u8(): Uint8Array {
    return new Uint8Array(this.exports.memory.buffer);
  }

  private check(): void {
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

  private kernelFor(prefix: string, t: TypeInfo, kernel: "simd" | "ref" | undefined, fullName?: string): Function {
    if (kernel !== undefined && kernel !== "simd" && kernel !== "ref") throw new TensorshrinkError("E_RANGE", `kernel must be "simd" or "ref", got ${String(kernel)}`);
    // i-quant lattices: built once per instance here, before any buffer is allocated (kernels never grow memory)
    const g = IQ_GRID[t.name];
    if (g !== undefined && typeof this.exports.iq_grid_for_kernel === "function") this.exports.iq_grid_for_kernel(g);
    const name = fullName ?? `${prefix}${t.name}${kernel === "ref" ? "_ref" : ""}`;
    const f = this.exports[name];
    if (typeof f !== "function") throw new TensorshrinkError("E_UNSUPPORTED", `no ${prefix.replace(/_$/, "")} kernel for type ${t.name} in this build`, { type: t.name });
    return f;
  }

  private validate(n: number, opts: QuantizeOptions | DequantizeOptions, t: TypeInfo): void {
    const { rows, cols } = opts;
    const where = opts.name ? ` (tensor "${opts.name}")` : "";
    if (!Number.isSafeInteger(rows) || rows < 0) throw new TensorshrinkError("E_SHAPE", `rows must be a non-negative integer, got ${rows}${where}`, { name: opts.name });
    if (!Number.isSafeInteger(cols) || cols < 0) throw new TensorshrinkError("E_SHAPE", `cols must be a non-negative integer, got ${cols}${where}`, { name: opts.name });
    if (cols % t.blockSize !== 0) throw new TensorshrinkError("E_BLOCK", `cols = ${cols} is not a multiple of the ${t.name} block size ${t.blockSize}${where}`, { name: opts.name, cols, blockSize: t.blockSize });
    if (cols > 0x7fffffff / 4) throw new TensorshrinkError("E_SHAPE", `cols = ${cols} is too large${where}`);
    if (rows * cols !== n) throw new TensorshrinkError("E_SHAPE", `rows * cols = ${rows} * ${cols} = ${rows * cols} does not match the input length ${n}${where}`, { name: opts.name, rows, cols, length: n });
  }

  private validateImatrix(im: unknown, t: TypeInfo, cols: number, name?: string): Float32Array | null {
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

  private rowBytes(t: TypeInfo, cols: number): number {
    return (cols / t.blockSize) * t.bytesPerBlock;
  }

  // ---------------------------------------------------------------- quantize

  /**
   * Quantizes a row-major f32 matrix (`rows` x `cols`) to ggml blocks, bytes identical to llama.cpp
   * (`ggml_quantize_chunk`). Input: a Float32Array or a WasmTensor (zero-copy). Returns
   * rows * cols / blockSize * bytesPerBlock bytes (q8_0: 34 per 32 values = 8.5 bits/weight).
   * NaN/Inf in block formats -> E_NONFINITE naming row and column.
   */
  quantize(x: Float32Array | WasmTensor, opts: QuantizeOptions): Uint8Array {
    this.check();
    const { t, kernel, im, finite, fused } = this.prepareQuantize(x, opts);
    const { rows, cols } = opts;
    const rb = this.rowBytes(t, cols);
    const dst = this.outTarget(opts, rows * rb, x);
    const mem = () => this.exports.memory.buffer;
    // Inputs / outputs already in this engine's wasm memory (a WasmTensor, or a view of the memory such
    // as tensor.f32) are used in place, by address: the views may detach when scratch allocations grow
    // the memory, the addresses stay valid.
    const inPtr = x instanceof WasmTensor ? x.ptr : x.buffer === mem() ? x.byteOffset : -1;
    const o = opts.out;
    const outPtr = o instanceof WasmTensor ? o.ptr : o instanceof Uint8Array && o.buffer === mem() ? o.byteOffset : -1;
    const out = outPtr >= 0 ? null : dst ?? new Uint8Array(rows * rb);
    const result = () => (outPtr >= 0 ? new Uint8Array(mem(), outPtr, rows * rb) : out!.subarray(0, rows * rb));
    if (rows === 0 || cols === 0) return result(); // an empty tensor is valid: empty output for every type
    const n = rows * cols;
    if (t.name === "f32") {
      if (finite) {
        const bad = inPtr >= 0 ? this.exports.find_nonfinite(inPtr, n) : this.findNonFinite(x);
        if (bad >= 0) throw nonFiniteValue(opts, bad, inPtr >= 0 ? new Float32Array(mem(), inPtr, n)[bad] : (x as Float32Array)[bad]);
      }
      const xs = inPtr >= 0 ? new Uint8Array(mem(), inPtr, n * 4) : new Uint8Array((x as Float32Array).buffer, (x as Float32Array).byteOffset, n * 4);
      (outPtr >= 0 ? new Uint8Array(mem(), outPtr, n * 4) : out!).set(xs);
      return result();
    }
    const inWasm = inPtr >= 0;
    const outWasm = outPtr >= 0;
    // zero-copy: input and output both in wasm memory -> one kernel call over all rows
    const rpc = inWasm && outWasm ? rows : Math.max(1, Math.floor(this.chunkBytes / (cols * 4)));
    const chunkRows = Math.min(rows, rpc);
    const pin = inWasm ? 0 : this.alloc(chunkRows * cols * 4);
    const pout = outWasm ? 0 : this.alloc(chunkRows * rb + 16);
    const pim = im ? this.alloc(cols * 4) : 0;
    const take = this.exports.quant_nonfinite_take;
    try {
      if (im) new Float32Array(this.exports.memory.buffer, pim, cols).set(im);
      for (let r0 = 0; r0 < rows; r0 += chunkRows) {
        const nr = Math.min(chunkRows, rows - r0);
        let src: number;
        if (inWasm) src = inPtr + r0 * cols * 4;
        else {
          src = pin;
          new Float32Array(this.exports.memory.buffer, pin, nr * cols).set((x as Float32Array).subarray(r0 * cols, (r0 + nr) * cols));
        }
        if (finite && !fused) {
          const bad = this.exports.find_nonfinite(src, nr * cols);
          if (bad >= 0) throw nonFinite(opts, r0 * cols + bad, this.u8(), src + bad * 4);
        }
        if (fused) take();
        this.callKernel(kernel, t, outWasm ? outPtr + r0 * rb : pout, src, nr, cols, pim);
        if (fused && take()) {
          // the kernel's first pass saw a value that may be NaN/Inf: locate it (none: an f32 overflow, fine)
          const bad = this.exports.find_nonfinite(src, nr * cols);
          if (bad >= 0) throw nonFinite(opts, r0 * cols + bad, this.u8(), src + bad * 4);
        }
        if (!outWasm) out!.set(this.u8().subarray(pout, pout + nr * rb), r0 * rb);
      }
    } finally {
      if (pin) this.free(pin);
      if (pout) this.free(pout);
      if (pim) this.free(pim);
    }
    return result();
  }

  /** Validates `opts.out` (quantize into a caller buffer): null when absent, else the Uint8Array to fill (a WasmTensor is written in place). */
  private outTarget(opts: QuantizeOptions, bytes: number, x: Float32Array | WasmTensor): Uint8Array | null {
    const o = opts.out;
    if (o === undefined || o === null) return null;
    const where = opts.name ? ` (tensor "${opts.name}")` : "";
    const isTensor = o instanceof WasmTensor;
    if (isTensor) {
      o.check(this);
      if (o === x) throw new TensorshrinkError("E_RANGE", `out must not be the input tensor${where}`, { name: opts.name });
    } else if (!(o instanceof Uint8Array)) throw new TensorshrinkError("E_ARG_TYPE", `out must be a Uint8Array or WasmTensor, got ${describe(o)}${where}`, { name: opts.name });
    const have = o.byteLength;
    if (have < bytes) throw new TensorshrinkError("E_RANGE", `out has ${have} bytes; the ${lookupType(opts.type).name} output of ${opts.rows} x ${opts.cols} needs ${bytes}${where}`, { name: opts.name, bytes: have, needed: bytes });
    return isTensor ? null : o;
  }

  /** Index of the first NaN/Inf in x (the SIMD find_nonfinite kernel, chunk by chunk for JS arrays), or -1. */
  private findNonFinite(x: Float32Array | WasmTensor): number {
    if (x instanceof WasmTensor) return this.exports.find_nonfinite(x.ptr, x.length);
    const n = x.length, chunk = Math.min(n, Math.max(256, Math.floor(this.chunkBytes / 4)));
    if (n === 0) return -1;
    const p = this.alloc(chunk * 4);
    try {
      for (let i = 0; i < n; i += chunk) {
        const m = Math.min(chunk, n - i);
        new Float32Array(this.exports.memory.buffer, p, m).set(x.subarray(i, i + m));
        const bad = this.exports.find_nonfinite(p, m);
        if (bad >= 0) return i + bad;
      }
      return -1;
    } finally {
      this.free(p);
    }
  }

  private prepareQuantize(x: unknown, opts: QuantizeOptions) {
    if (!opts || typeof opts !== "object") throw new TensorshrinkError("E_ARG_TYPE", "quantize needs options { type, rows, cols }");
    const t = lookupType(opts.type);
    if (!(x instanceof Float32Array) && !(x instanceof WasmTensor)) throw new TensorshrinkError("E_ARG_TYPE", `quantize input must be a Float32Array or WasmTensor, got ${describe(x)}${opts.name ? ` (tensor "${opts.name}")` : ""}`);
    if (x instanceof WasmTensor) x.check(this);
    this.validate(x.length, opts, t);
    let kernel = t.name === "f32" ? null : this.kernelFor("quantize_", t, opts.kernel, quantKernelName(t, opts));
    if (opts.algorithm !== undefined && opts.algorithm !== "chunk") {
      if (opts.algorithm !== "ref") throw new TensorshrinkError("E_RANGE", `algorithm must be "chunk" or "ref", got ${String(opts.algorithm)}`);
      const row = this.exports[`quantize_row_${t.name}_ref`];
      if (t.name !== "f32" && typeof row === "function") kernel = (dst: number, src: number, nr: number, nc: number) => row(dst, src, nr * nc);
    }
    const im = this.validateImatrix(opts.imatrix, t, opts.cols, opts.name);
    requireImatrix(t, im, opts.name);
    const finite = checksFinite(t, opts);
    return { t, kernel, im, finite, fused: finite && t.name !== "f32" && fusedCheck(t, this.exports, opts) };
  }

  private callKernel(kernel: Function | null, t: TypeInfo, dst: number, src: number, nrows: number, cols: number, im: number): void {
    try {
      kernel!(dst, src, nrows, cols, im);
    } catch (e) {
      throw new TensorshrinkError("E_WASM_ABORT", `the ${t.name} kernel failed: ${(e as Error).message}`, { type: t.name }, { cause: e });
    }
  }

  /**
   * Dequantizes ggml blocks back to f32 (bit-identical to ggml's dequantize_row_*).
   * `bytes` must hold exactly rows * cols / blockSize * bytesPerBlock bytes.
   */
  dequantize(bytes: Uint8Array, opts: DequantizeOptions): Float32Array {
    this.check();
    const { t, kernel } = this.prepareDequantize(bytes, opts);
    const { rows, cols } = opts;
    const rb = this.rowBytes(t, cols);
    const out = new Float32Array(rows * cols);
    if (rows === 0 || cols === 0) return out;
    if (t.name === "f32") {
      new Uint8Array(out.buffer).set(bytes);
      return out;
    }
    const rpc = Math.max(1, Math.floor(this.chunkBytes / (cols * 4)));
    const chunkRows = Math.min(rows, rpc);
    if (rows === 0) return out;
    const pin = this.alloc(chunkRows * rb + 16);
    const pout = this.alloc(chunkRows * cols * 4);
    try {
      for (let r0 = 0; r0 < rows; r0 += chunkRows) {
        const nr = Math.min(chunkRows, rows - r0);
        this.u8().set(bytes.subarray(r0 * rb, (r0 + nr) * rb), pin);
        try {
          kernel(pout, pin, nr * cols);
        } catch (e) {
          throw new TensorshrinkError("E_WASM_ABORT", `the ${t.name} dequantize kernel failed: ${(e as Error).message}`, {}, { cause: e });
        }
        out.set(new Float32Array(this.exports.memory.buffer, pout, nr * cols), r0 * cols);
      }
    } finally {
      this.free(pin);
      this.free(pout);
    }
    return out;
  }

  private prepareDequantize(bytes: unknown, opts: DequantizeOptions) {
    if (!opts || typeof opts !== "object") throw new TensorshrinkError("E_ARG_TYPE", "dequantize needs options { type, rows, cols }");
    const t = lookupType(opts.type);
    if (!(bytes instanceof Uint8Array)) throw new TensorshrinkError("E_ARG_TYPE", `dequantize input must be a Uint8Array of ${t.name} blocks, got ${describe(bytes)}`);
    const { rows, cols } = opts;
    this.validate(rows * cols, opts, t);
    const need = rows * this.rowBytes(t, cols);
    if (bytes.length !== need) throw new TensorshrinkError("E_SHAPE", `${t.name} data for ${rows} x ${cols} must be ${need} bytes, got ${bytes.length}${opts.name ? ` (tensor "${opts.name}")` : ""}`, { expected: need, got: bytes.length });
    const kernel = t.name === "f32" ? (null as any) : this.kernelFor("dequantize_row_", t, opts.kernel);
    return { t, kernel };
  }

  // ---------------------------------------------------------------- async (worker pool)

  private async getPool(): Promise<WorkerPool | null> {
    if (this.pool) return this.pool;
    if (this.threads === 0 || !workersAvailable()) return null;
    const n = this.threads ?? (await availableCores());
    if (n <= 1 && this.threads === undefined) return null;
    this.pool ??= new WorkerPool(this.module, this.bytes, Math.max(1, n));
    return this.pool;
  }

  /**
   * Like `quantize`, but row ranges run in parallel on the worker pool (worker_threads in Node, Web
   * Workers elsewhere; single-threaded where workers do not exist). Same bytes as `quantize`.
   */
  async quantizeAsync(x: Float32Array, opts: QuantizeOptions): Promise<Uint8Array> {
    this.check();
    const { t, im, finite, fused } = this.prepareQuantize(x, opts);
    const pool = await this.getPool();
    if (!pool || t.name === "f32" || opts.rows === 0 || opts.cols === 0 || x instanceof WasmTensor || (opts.algorithm ?? "chunk") !== "chunk") return this.quantize(x, opts);
    const { rows, cols } = opts;
    const rb = this.rowBytes(t, cols);
    const kernel = quantKernelName(t, opts);
    const out = new Uint8Array(rows * rb);
    const ranges = splitRows(rows, cols, pool.size, this.chunkBytes);
    await Promise.all(ranges.map(async ([r0, nr]) => {
      const data = x.slice(r0 * cols, (r0 + nr) * cols).buffer;
      const job: PoolJob = { op: "quantize", kernel, rows: nr, cols, rowBytes: rb, data, imatrix: im, checkFinite: finite, fusedCheck: fused, sliceRows: sliceRowsFor(cols) };
      const res = await pool.run(job);
      if (res.nonfinite !== undefined) throw nonFiniteValue(opts, r0 * cols + res.nonfinite, res.value!);
      out.set(new Uint8Array(res.data!), r0 * rb);
    }));
    return out;
  }

  /**
   * @internal One generic kernel call (see PoolCall) on a pool worker, or on this thread when there
   * is no pool: same bytes either way. Input `data` buffers may be transferred (detached).
   */
  async poolCall(job: Omit<PoolCall, "op">): Promise<PoolCallResult> {
    this.check();
    const pool = await this.getPool();
    if (pool) return pool.call({ op: "call", ...job });
    const ptrs: number[] = [];
    try {
      for (const b of job.buffers) ptrs.push(this.alloc(b.bytes + 16));
      job.buffers.forEach((b, i) => { if (b.data) this.u8().set(new Uint8Array(b.data), ptrs[i]); });
      const args = job.args.map((a) => (typeof a === "number" ? a : ptrs[a.buf]));
      let ret: number;
      try {
        ret = Number(this.exports[job.kernel](...args));
      } catch (e) {
        throw new TensorshrinkError("E_WASM_ABORT", `the ${job.kernel} kernel failed: ${(e as Error).message}`, { kernel: job.kernel }, { cause: e });
      }
      const outputs = job.outputs.map((i) => this.u8().slice(ptrs[i], ptrs[i] + job.buffers[i].bytes).buffer);
      return { outputs, ret };
    } finally {
      for (const p of ptrs) this.free(p);
    }
  }

  /** @internal Number of pool workers `...Async` calls use (0: they run on the calling thread). Starts no worker. */
  async poolSize(): Promise<number> {
    this.check();
    return (await this.getPool())?.size ?? 0;
  }

  /**
   * @internal One work unit of a streaming pipeline (quantizeModel): quantizes `x` (rows x cols, same
   * bytes as `quantize`) and, with `stats`, measures the error of its dequantized blocks (se = sum of
   * (x - x')^2, sa = sum of x^2, f64) where the quantization ran, with no second pass on this thread.
   * Work goes slice by slice (1 MiB of f32, whole rows: copy in, check, quantize, copy out, dequantize,
   * compare while the slice is in cache); the sums are added slice by slice in order, so they are the
   * same with and without the pool. With `pool` (and a pool), the job runs on a worker and x's buffer is
   * transferred to it when x spans the whole buffer (x is then detached: the caller hands it over),
   * else x is copied once. With `out` and a pool that can access files, the worker writes the bytes
   * into that file range itself and `bytes` is null. wasm memory used: about 2 slices + the output.
   */
  async quantizeUnit(x: Float32Array, opts: QuantizeOptions, o: { stats: boolean; pool: boolean; out?: FileRange | null; at?: RunPlacement }): Promise<UnitResult> {
    this.check();
    const { t, kernel, im, finite, fused } = this.prepareQuantize(x, opts);
    const pool = o.pool ? await this.getPool() : null;
    const { rows, cols } = opts;
    if (t.name === "f32" || rows === 0 || cols === 0) return { bytes: this.quantize(x, opts), se: 0, sa: 0 };
    const rb = this.rowBytes(t, cols);
    const sliceRows = Math.min(rows, sliceRowsFor(cols));
    const dq = o.stats ? `dequantize_row_${t.name}` : undefined;
    if (dq && typeof this.exports[dq] !== "function") throw new TensorshrinkError("E_UNSUPPORTED", `no dequantize kernel for type ${t.name} in this build`, { type: t.name });
    if (pool && (opts.algorithm ?? "chunk") === "chunk" && !(x instanceof WasmTensor)) {
      const whole = x.byteOffset === 0 && x.byteLength === x.buffer.byteLength && !(typeof SharedArrayBuffer !== "undefined" && x.buffer instanceof SharedArrayBuffer);
      const data = whole ? (x.buffer as ArrayBuffer) : x.slice().buffer;
      const kname = quantKernelName(t, opts);
      const out = pool.readsFiles ? o.out ?? undefined : undefined;
      const res = await pool.run({ op: "quantize", kernel: kname, rows, cols, rowBytes: rb, data, imatrix: im, checkFinite: finite, fusedCheck: fused, statsKernel: dq, sliceRows, out }, o.at);
      if (res.nonfinite !== undefined) throw nonFiniteValue(opts, res.nonfinite, res.value!);
      return { bytes: res.data ? new Uint8Array(res.data) : null, se: res.stats?.[0] ?? 0, sa: res.stats?.[1] ?? 0 };
    }
    const xs = xArray(x);
    const bytes = new Uint8Array(rows * rb);
    const pin = this.alloc(sliceRows * cols * 4), pout = this.alloc(sliceRows * rb + 16), pim = im ? this.alloc(cols * 4) : 0;
    const pdq = dq ? this.alloc(sliceRows * cols * 4) : 0, pst = dq ? this.alloc(48) : 0;
    const dqk = dq ? this.exports[dq] : null, es = this.exports.error_sums, take = this.exports.quant_nonfinite_take;
    let se = 0, sa = 0;
    try {
      const mem = this.exports.memory.buffer;
      if (im) new Float32Array(mem, pim, cols).set(im);
      for (let r0 = 0; r0 < rows; r0 += sliceRows) {
        const nr = Math.min(sliceRows, rows - r0), m = nr * cols;
        new Float32Array(mem, pin, m).set(xs.subarray(r0 * cols, r0 * cols + m));
        if (finite && !fused) {
          const bad = this.exports.find_nonfinite(pin, m);
          if (bad >= 0) throw nonFinite(opts, r0 * cols + bad, this.u8(), pin + bad * 4);
        }
        if (fused) take();
        this.callKernel(kernel, t, pout, pin, nr, cols, pim);
        if (fused && take()) {
          const bad = this.exports.find_nonfinite(pin, m);
          if (bad >= 0) throw nonFinite(opts, r0 * cols + bad, this.u8(), pin + bad * 4);
        }
        bytes.set(new Uint8Array(mem, pout, nr * rb), r0 * rb);
        if (dqk) {
          dqk(pdq, pout, m);
          es(pst, pin, pdq, m);
          const r = new Float64Array(mem, pst, 2);
          se += r[0]; sa += r[1];
        }
      }
      return { bytes, se, sa };
    } finally {
      this.free(pin); this.free(pout);
      if (pim) this.free(pim);
      if (pdq) this.free(pdq);
      if (pst) this.free(pst);
    }
  }

  /**
   * @internal Whether {@link quantizeFileUnit} can hand units to pool workers that read the file
   * themselves (Node worker_threads with node:fs). Starts no worker.
   */
  async poolReadsFiles(): Promise<boolean> {
    this.check();
    return !!(await this.getPool())?.readsFiles;
  }

  /**
   * @internal Like {@link quantizeUnit} for f32 rows stored in a local file: a pool worker reads the
   * `rows * cols * 4` bytes at `file.offset` itself, slice by slice straight into its wasm memory (after
   * checking the file's dev/ino), so the calling thread neither reads nor copies the input. Same bytes
   * and sums as quantizeUnit over the same values. Needs a pool that reads files (poolReadsFiles).
   */
  async quantizeFileUnit(file: FileRange, opts: QuantizeOptions, o: { stats: boolean; out?: FileRange | null; at?: RunPlacement }): Promise<UnitResult> {
    const job = this.prepareFileUnit(file, opts, o.stats);
    if (!job) return { bytes: new Uint8Array(0), se: 0, sa: 0 };
    const pool = await this.getPool();
    if (!pool?.readsFiles) throw new TensorshrinkError("E_UNSUPPORTED", "this engine has no worker pool that can read files");
    const res = await pool.run({ ...job, out: o.out ?? undefined }, o.at);
    if (res.nonfinite !== undefined) throw nonFiniteValue(opts, res.nonfinite, res.value!);
    return { bytes: res.data ? new Uint8Array(res.data) : null, se: res.stats?.[0] ?? 0, sa: res.stats?.[1] ?? 0 };
  }

  /**
   * @internal The checks of {@link quantizeFileUnit} (type, shape, importance vector, stored type and
   * row bytes) and the job they give, without running it: the pool job, or (src/engine/file-units.ts)
   * the same work on the calling thread. Null for an empty unit.
   */
  prepareFileUnit(file: FileRange, opts: QuantizeOptions, stats: boolean): (PoolJob & { file: FileRange; sliceRows: number }) | null {
    this.check();
    const t = lookupType(opts.type);
    const { rows, cols } = opts;
    this.validate(rows * cols, opts, t);
    const im = this.validateImatrix(opts.imatrix, t, cols, opts.name);
    const finite = checksFinite(t, opts);
    const fused = finite && fusedCheck(t, this.exports, opts);
    if (rows === 0 || cols === 0) return null;
    if (t.name === "f32") throw new TensorshrinkError("E_UNSUPPORTED", "quantizeFileUnit does not copy f32 rows");
    if (file.type && file.type !== "f32") {
      const st = lookupType(file.type);
      if (typeof this.exports[`dequantize_row_${st.name}`] !== "function") throw new TensorshrinkError("E_UNSUPPORTED", `no dequantize kernel for stored type ${st.name}`, { type: st.name });
      if (file.rowBytes !== this.rowBytes(st, cols)) throw new TensorshrinkError("E_SHAPE", `stored ${st.name} rows of ${cols} values are ${this.rowBytes(st, cols)} bytes, got ${file.rowBytes}`);
    }
    const rb = this.rowBytes(t, cols);
    const dq = stats ? `dequantize_row_${t.name}` : undefined;
    if (dq && typeof this.exports[dq] !== "function") throw new TensorshrinkError("E_UNSUPPORTED", `no dequantize kernel for type ${t.name} in this build`, { type: t.name });
    const kname = quantKernelName(t, opts);
    return { op: "quantize", kernel: kname, rows, cols, rowBytes: rb, file, imatrix: im, checkFinite: finite, fusedCheck: fused, statsKernel: dq, sliceRows: Math.min(rows, sliceRowsFor(cols)) };
  }

  /** Like `dequantize`, spread over the worker pool. Same values as `dequantize`. */
  async dequantizeAsync(bytes: Uint8Array, opts: DequantizeOptions): Promise<Float32Array> {
    this.check();
    const { t } = this.prepareDequantize(bytes, opts);
    const pool = await this.getPool();
    if (!pool || t.name === "f32" || opts.rows === 0 || opts.cols === 0) return this.dequantize(bytes, opts);
    const { rows, cols } = opts;
    const rb = this.rowBytes(t, cols);
    const kernel = `dequantize_row_${t.name}${opts.kernel === "ref" ? "_ref" : ""}`;
    const out = new Float32Array(rows * cols);
    await Promise.all(splitRows(rows, cols, pool.size, this.chunkBytes).map(async ([r0, nr]) => {
      const data = bytes.slice(r0 * rb, (r0 + nr) * rb).buffer;
      const res = await pool.run({ op: "dequantize", kernel, rows: nr, cols, rowBytes: rb, data });
      out.set(new Float32Array(res.data!), r0 * cols);
    }));
    return out;
  }

  // ---------------------------------------------------------------- streaming

  /**
   * Streaming quantizer: push f32 chunks of any length (rows may be split across chunks); each push
   * returns the blocks of the rows it completed. `end()` checks that no partial row is left.
   * Memory: one row of carry-over plus one chunk.
   */
  createQuantizer(opts: Omit<QuantizeOptions, "rows"> & { rows?: number }): StreamQuantizer {
    this.check();
    const t = lookupType(opts.type);
    this.validate(opts.cols, { ...opts, rows: 1 }, t);
    requireImatrix(t, this.validateImatrix(opts.imatrix, t, opts.cols, opts.name), opts.name);
    checksFinite(t, { ...opts, rows: 1 });
    quantKernelName(t, opts);
    if (opts.rows !== undefined && (!Number.isSafeInteger(opts.rows) || opts.rows < 0)) throw new TensorshrinkError("E_SHAPE", `rows must be a non-negative integer, got ${opts.rows}`);
    return new StreamQuantizer(this, opts);
  }

  /** A web TransformStream: Float32Array chunks in, ggml block bytes out (see createQuantizer). */
  quantizeStream(opts: Omit<QuantizeOptions, "rows"> & { rows?: number }): TransformStream<Float32Array, Uint8Array> {
    const q = this.createQuantizer(opts);
    return new TransformStream<Float32Array, Uint8Array>({
      transform(chunk, ctl) {
        const out = q.push(chunk);
        if (out.length) ctl.enqueue(out);
      },
      flush() {
        q.end();
      },
    });
  }

  // ---------------------------------------------------------------- metrics

  /**
   * Reconstruction error of `b` against `a` (same length), computed in wasm with f64 accumulation:
   * MSE, SQNR in dB, max abs error, cosine similarity.
   */
  error(a: Float32Array, b: Float32Array): ErrorStats {
    const acc = this.errorSums(a, b);
    const n = a.length;
    const mse = n ? acc.se / n : 0;
    const sqnrDb = acc.se === 0 ? Infinity : 10 * Math.log10(acc.sa / acc.se);
    const den = Math.sqrt(acc.na) * Math.sqrt(acc.nb);
    const cosine = den === 0 ? (acc.na === acc.nb ? 1 : 0) : acc.dot / den;
    return { mse, sqnrDb, maxAbs: acc.maxAbs, cosine };
  }

  /**
   * Raw f64 sums behind `error`: se = sum (a-b)^2, sa = sum a^2, maxAbs, dot = sum a*b,
   * na = sum a^2, nb = sum b^2. Sums of chunks add up, so large tensors can be measured piecewise.
   */
  errorSums(a: Float32Array, b: Float32Array): { se: number; sa: number; maxAbs: number; dot: number; na: number; nb: number } {
    this.check();
    if (!(a instanceof Float32Array) || !(b instanceof Float32Array)) throw new TensorshrinkError("E_ARG_TYPE", `error(a, b) needs two Float32Arrays, got ${describe(a)} and ${describe(b)}`);
    if (a.length !== b.length) throw new TensorshrinkError("E_SHAPE", `error(a, b): lengths differ (${a.length} vs ${b.length})`);
    const n = a.length;
    const acc = { se: 0, sa: 0, maxAbs: 0, dot: 0, na: 0, nb: 0 };
    const f = this.exports.error_stats;
    if (typeof f !== "function") throw new TensorshrinkError("E_UNSUPPORTED", "error_stats kernel missing from this build");
    const chunk = Math.max(1024, Math.floor(this.chunkBytes / 8));
    const pa = this.alloc(Math.min(n, chunk) * 4), pb = this.alloc(Math.min(n, chunk) * 4), po = this.alloc(6 * 8);
    try {
      for (let i = 0; i < n; i += chunk) {
        const m = Math.min(chunk, n - i);
        new Float32Array(this.exports.memory.buffer, pa, m).set(a.subarray(i, i + m));
        new Float32Array(this.exports.memory.buffer, pb, m).set(b.subarray(i, i + m));
        f(po, pa, pb, m);
        const r = new Float64Array(this.exports.memory.buffer, po, 6);
        acc.se += r[0]; acc.sa += r[1]; acc.maxAbs = Math.max(acc.maxAbs, r[2]); acc.dot += r[3]; acc.na += r[4]; acc.nb += r[5];
      }
    } finally {
      this.free(pa); this.free(pb); this.free(po);
    }
    return acc;
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
