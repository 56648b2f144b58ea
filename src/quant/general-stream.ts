/**
 * Streaming forms of the general-purpose quantizers: push f32 chunks of any length, get back the
 * packed result for every whole unit completed so far (rows for intN, blocks for NF4 / MXFP4, values
 * for FP8); `end()` returns what is left (NF4: a last, shorter block) or refuses an incomplete row or
 * block. Concatenating the pieces gives the sync function's bytes for the whole input. Memory: one unit
 * of carry-over plus the chunk. Per-tensor parameters cannot stream (intN group "tensor", FP8 scale
 * "auto" need the whole tensor first): those are refused with E_UNSUPPORTED.
 */
import { TensorshrinkError } from "../errors";
import {
  checkFP8Options, checkNF4Options, fixedFP8Scale, fp8Inverse, quantizeFP8, quantizeIntN, quantizeMXFP4, quantizeNF4, resolveGroup,
  type FP8Format, type FP8Tensor, type IntNOptions, type IntNTensor, type KernelChoice, type KernelHost, type MXFP4Tensor, type NF4Tensor,
} from "./general";

/** A push/end streaming quantizer producing pieces of type T. */
export interface GeneralStreamQuantizer<T> {
  /** Adds values; returns the packed form of every whole unit completed (possibly empty). */
  push(chunk: Float32Array): T;
  /** Finishes: returns the rest (may be empty); throws E_SHAPE / E_BLOCK on an incomplete unit. Afterwards push()/end() throw E_DISPOSED. */
  end(): T;
  /** Values pushed so far. */
  readonly valuesIn: number;
}

/**
 * Wraps a stream so that push() / end() after end() (or after a push/end that threw: its carry-over is
 * then unknown) throw E_DISPOSED instead of returning bytes.
 */
function guarded<T>(what: string, q: GeneralStreamQuantizer<T>): GeneralStreamQuantizer<T> {
  let state: "open" | "ended" | "failed" = "open";
  const run = <R>(op: string, f: () => R, last: boolean): R => {
    if (state !== "open") throw new TensorshrinkError("E_DISPOSED", `${what}: ${op} on a stream that ${state === "ended" ? "already ended" : "failed earlier"}`);
    try {
      const r = f();
      if (last) state = "ended";
      return r;
    } catch (e) {
      state = last ? "ended" : "failed";
      throw e;
    }
  };
  return {
    get valuesIn() { return q.valuesIn; },
    push: (chunk) => {
      if (!(chunk instanceof Float32Array) && state === "open") throw new TensorshrinkError("E_ARG_TYPE", `${what}: push() needs a Float32Array`);
      return run("push()", () => q.push(chunk), false);
    },
    end: () => run("end()", () => q.end(), true),
  };
}

/** Keeps the values that do not yet fill a whole unit; hands out whole units. */
class Carry {
  private buf: Float32Array;
  private used = 0;
  total = 0;
  constructor(private readonly unit: number, private readonly what: string) {
    this.buf = new Float32Array(unit);
  }
  take(chunk: Float32Array): Float32Array {
    if (!(chunk instanceof Float32Array)) throw new TensorshrinkError("E_ARG_TYPE", `${this.what}: push() needs a Float32Array`);
    this.total += chunk.length;
    const all = this.used + chunk.length;
    const whole = all - (all % this.unit);
    if (whole === 0) {
      this.buf.set(chunk, this.used);
      this.used = all;
      return new Float32Array(0);
    }
    const out = new Float32Array(whole);
    out.set(this.buf.subarray(0, this.used));
    out.set(chunk.subarray(0, whole - this.used), this.used);
    const rest = chunk.subarray(whole - this.used);
    this.buf.set(rest);
    this.used = rest.length;
    return out;
  }
  rest(): Float32Array {
    const r = this.buf.slice(0, this.used);
    this.used = 0;
    return r;
  }
}

/**
 * Streaming intN ({@link quantizeIntN}): values arrive row-major, `cols` per row; each push returns the
 * rows it completed as an IntNTensor (rows = completed rows). group must be a number or "row".
 */
export function createIntNQuantizer(host: KernelHost, opts: Omit<IntNOptions, "rows">): GeneralStreamQuantizer<IntNTensor> {
  if (!opts || typeof opts !== "object") throw new TensorshrinkError("E_ARG_TYPE", "createIntNQuantizer needs options { cols, bits, group?, symmetric? }");
  if (!Number.isSafeInteger(opts.cols) || opts.cols <= 0) throw new TensorshrinkError("E_SHAPE", `cols must be a positive integer, got ${opts.cols}`);
  if (opts.group === "tensor") throw new TensorshrinkError("E_UNSUPPORTED", 'a per-tensor scale (group "tensor") needs the whole tensor first: stream with a group size or "row", or use quantizeIntN');
  resolveGroup(opts.group, opts.cols, opts.name);
  // validate bits / symmetric once, on an empty input
  quantizeIntN(host, new Float32Array(0), { ...opts, rows: 0 });
  const carry = new Carry(opts.cols, "createIntNQuantizer");
  const run = (x: Float32Array) => quantizeIntN(host, x, { ...opts, rows: x.length / opts.cols });
  return guarded("createIntNQuantizer", {
    get valuesIn() { return carry.total; },
    push: (chunk) => run(carry.take(chunk)),
    end: () => {
      const r = carry.rest();
      if (r.length) throw new TensorshrinkError("E_SHAPE", `stream ended inside a row: ${r.length} of ${opts.cols} values${opts.name ? ` (tensor "${opts.name}")` : ""}`, { left: r.length, cols: opts.cols });
      return run(r);
    },
  });
}

/** Streaming NF4 ({@link quantizeNF4}): each push returns the whole blocks completed; end() the last, possibly shorter block. */
export function createNF4Quantizer(host: KernelHost, opts: { blockSize?: number; kernel?: KernelChoice; name?: string } = {}): GeneralStreamQuantizer<NF4Tensor> {
  const bs = checkNF4Options(new Float32Array(0), opts, "createNF4Quantizer");
  const carry = new Carry(bs, "createNF4Quantizer");
  const run = (x: Float32Array) => quantizeNF4(host, x, { ...opts, blockSize: bs });
  return guarded("createNF4Quantizer", { get valuesIn() { return carry.total; }, push: (chunk) => run(carry.take(chunk)), end: () => run(carry.rest()) });
}

/** Streaming FP8 ({@link quantizeFP8}) with a fixed scale (default 1; "auto" cannot stream): codes for every value pushed. */
export function createFP8Quantizer(host: KernelHost, opts: { format?: FP8Format; scale?: number; kernel?: KernelChoice; name?: string } = {}): GeneralStreamQuantizer<FP8Tensor> {
  const format = checkFP8Options(new Float32Array(0), opts, "createFP8Quantizer");
  if ((opts.scale as unknown) === "auto") throw new TensorshrinkError("E_UNSUPPORTED", 'FP8 scale "auto" needs max|x| of the whole tensor first: stream with a fixed scale, or use quantizeFP8');
  const scale = fp8Inverse(fixedFP8Scale(opts.scale), false, opts.scale).scale;
  let total = 0;
  const run = (x: Float32Array) => {
    if (!(x instanceof Float32Array)) throw new TensorshrinkError("E_ARG_TYPE", "createFP8Quantizer: push() needs a Float32Array");
    total += x.length;
    return quantizeFP8(host, x, { ...opts, format, scale });
  };
  return guarded("createFP8Quantizer", { get valuesIn() { return total; }, push: run, end: () => ({ codes: new Uint8Array(0), format, scale }) });
}

/** Streaming MXFP4 ({@link quantizeMXFP4}): each push returns the whole 32-value blocks completed. */
export function createMXFP4Quantizer(host: KernelHost, opts: { kernel?: KernelChoice; name?: string } = {}): GeneralStreamQuantizer<MXFP4Tensor> {
  const carry = new Carry(32, "createMXFP4Quantizer");
  const run = (x: Float32Array) => quantizeMXFP4(host, x, opts);
  return guarded("createMXFP4Quantizer", {
    get valuesIn() { return carry.total; },
    push: (chunk) => run(carry.take(chunk)),
    end: () => {
      const r = carry.rest();
      if (r.length) throw new TensorshrinkError("E_BLOCK", `MXFP4 stream ended inside a block: ${r.length} of 32 values${opts.name ? ` (tensor "${opts.name}")` : ""}`, { left: r.length, blockSize: 32 });
      return run(r);
    },
  });
}
