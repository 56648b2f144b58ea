// The Engine's synchronous quantize / dequantize entry points on the calling thread, and their
// streaming forms (createQuantizer, quantizeStream).
import { TensorshrinkError } from "../errors";
import { lookupType, type TypeInfo } from "../quant/types";
import { WasmTensor } from "./tensor";
import { StreamQuantizer } from "./stream-quantizer";
import { checksFinite, requireImatrix, nonFinite, nonFiniteValue, describe, fusedCheck, quantKernelName } from "./engine-checks";
import type { QuantizeOptions, DequantizeOptions } from "./engine-types";
import { EngineMetrics } from "./engine-metrics";

/** @internal The sync quantize/dequantize layer of {@link Engine} (src/engine/engine.ts). */
export class EngineQuantize extends EngineMetrics {
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

  protected prepareQuantize(x: unknown, opts: QuantizeOptions) {
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

  protected callKernel(kernel: Function | null, t: TypeInfo, dst: number, src: number, nrows: number, cols: number, im: number): void {
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

  protected prepareDequantize(bytes: unknown, opts: DequantizeOptions) {
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
}
