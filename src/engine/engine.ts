import { TensorshrinkError } from "../errors";
import { lookupType } from "../quant/types";
import { WorkerPool, availableCores, workersAvailable, type PoolJob, type FileRange, type PoolCall, type PoolCallResult, type RunPlacement } from "./pool";
import { WasmTensor } from "./tensor";
import { StreamQuantizer } from "./stream-quantizer";

export { StreamQuantizer };
import { splitRows, checksFinite, xArray, nonFinite, nonFiniteValue, describe, fusedCheck, quantKernelName } from "./engine-checks";
export { describe };
import type { QuantizeOptions, DequantizeOptions, ErrorStats, UnitResult } from "./engine-types";
export type { QuantizeOptions, DequantizeOptions, ErrorStats, UnitResult };
import { EngineQuantize } from "./engine-quantize";
export { MAX_ALLOC_BYTES } from "./engine-core";
// The Engine is split by concern: engine-core.ts (memory, scopes, checks, dispose) <- engine-metrics.ts
// (error) <- engine-quantize.ts (sync quantize/dequantize, streams) <- this file (worker pool, pipeline units).

/** Values per slice of a pool quantize job / quantizeUnit (1 MiB of f32: one read syscall and a few kernel calls per slice, the slice and its dequantized copy still in L2/L3). */
const SLICE_VALUES = 262144;
const sliceRowsFor = (cols: number) => Math.max(1, Math.floor(SLICE_VALUES / cols));


/**
 * An initialized tensorshrink engine: one wasm instance (SIMD128) plus an optional worker pool.
 * Sync methods run on the calling thread; `...Async` methods may spread rows over the pool.
 * Memory: each call holds at most ~`chunkBytes` (default 16 MiB) of input in wasm memory and releases
 * everything it allocated before returning.
 */
export class Engine extends EngineQuantize {
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

  /** @internal Pool workers started and alive (0 without a pool). Starts no worker. */
  poolStarted(): number {
    return this.pool?.started ?? 0;
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
}
