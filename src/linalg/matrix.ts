/**
 * Row-major f32 matrices for the linear-algebra facade, input checks (type, shape, finiteness),
 * memory budgets checked before anything is allocated, and a scratch scope that frees every wasm
 * allocation it made (also on error).
 */
import { TensorshrinkError } from "../errors";
import type { KernelHost, KernelChoice } from "../quant/general";

/** A dense row-major matrix: element (i, j) is `data[i * cols + j]`; `data.length === rows * cols`. */
export interface Matrix {
  data: Float32Array;
  rows: number;
  cols: number;
}

/** Options every linear-algebra call takes. */
export interface LinalgOptions {
  /** "simd" (default) or "ref": the scalar twin kernels (same algorithm, slower; for testing). */
  kernel?: KernelChoice;
  /** Name of the matrix (e.g. a tensor name) used in error messages. */
  name?: string;
  /**
   * Largest number of wasm bytes one call may allocate (the formula of each function is in its
   * JSDoc); checked before allocating, E_OOM when exceeded. Default 2 GiB (wasm32 memory is 4 GiB).
   */
  maxBytes?: number;
}

/** Default {@link LinalgOptions.maxBytes}: 2 GiB. */
export const DEFAULT_MAX_BYTES = 2 ** 31;

/** A rows x cols matrix of zeros, or wrapping `data` (not copied; its length must be rows * cols). */
export function matrix(rows: number, cols: number, data?: Float32Array): Matrix {
  const m: Matrix = { data: data ?? new Float32Array(dims(rows, cols, "matrix")), rows, cols };
  checkShape(m, "matrix");
  return m;
}

/** The n x n identity. */
export function identity(n: number): Matrix {
  const m = matrix(n, n);
  for (let i = 0; i < n; i++) m.data[i * n + i] = 1;
  return m;
}

/** The transpose as a new matrix. */
export function transpose(a: Matrix): Matrix {
  checkShape(a, "a");
  const t = new Float32Array(a.rows * a.cols);
  for (let i = 0; i < a.rows; i++) for (let j = 0; j < a.cols; j++) t[j * a.rows + i] = a.data[i * a.cols + j];
  return { data: t, rows: a.cols, cols: a.rows };
}

const where = (name?: string) => (name ? ` of "${name}"` : "");

function dims(rows: number, cols: number, what: string): number {
  if (!Number.isSafeInteger(rows) || rows < 0 || !Number.isSafeInteger(cols) || cols < 0) throw new TensorshrinkError("E_SHAPE", `${what}: rows and cols must be non-negative integers, got ${rows} x ${cols}`, { rows, cols });
  if (rows * cols > 2 ** 31) throw new TensorshrinkError("E_SHAPE", `${what}: ${rows} x ${cols} is too large`, { rows, cols });
  return rows * cols;
}

/** @internal Checks type and shape (not values). */
export function checkShape(m: Matrix, what: string, name?: string): void {
  if (!m || typeof m !== "object") throw new TensorshrinkError("E_ARG_TYPE", `${what}${where(name)} must be a { data, rows, cols } matrix, got ${m === null ? "null" : typeof m}`);
  if (!(m.data instanceof Float32Array)) throw new TensorshrinkError("E_ARG_TYPE", `${what}${where(name)}.data must be a Float32Array, got ${Object.prototype.toString.call(m.data).slice(8, -1)}`);
  const n = dims(m.rows, m.cols, what + where(name));
  if (m.data.length !== n) throw new TensorshrinkError("E_SHAPE", `${what}${where(name)}: rows * cols = ${m.rows} * ${m.cols} = ${n} does not match data.length ${m.data.length}`, { name, rows: m.rows, cols: m.cols, length: m.data.length });
}

/** @internal Checks type, shape and that every value is finite (first offender named by row and column). */
export function checkMatrix(m: Matrix, what: string, name?: string): void {
  checkShape(m, what, name);
  const d = m.data;
  for (let i = 0; i < d.length; i++) {
    const v = d[i];
    if (v - v !== 0) {
      const row = Math.floor(i / Math.max(1, m.cols)), column = i % Math.max(1, m.cols);
      throw new TensorshrinkError("E_NONFINITE", `${what}${where(name)}: non-finite value ${v} at row ${row}, column ${column}`, { name, what, row, column, value: v });
    }
  }
}

/** @internal Throws E_SHAPE unless the matrix is square. */
export function checkSquare(m: Matrix, what: string, name?: string): number {
  if (m.rows !== m.cols) throw new TensorshrinkError("E_SHAPE", `${what}${where(name)} must be square, got ${m.rows} x ${m.cols}`, { name, rows: m.rows, cols: m.cols });
  return m.rows;
}

/** @internal Throws E_OOM when `bytes` exceeds the budget (before allocating). */
export function checkBudget(bytes: number, opts: LinalgOptions | undefined, what: string): void {
  const max = opts?.maxBytes ?? DEFAULT_MAX_BYTES;
  if (!(Number.isFinite(max) && max > 0)) throw new TensorshrinkError("E_RANGE", `maxBytes must be a positive number, got ${max}`);
  if (bytes > max) throw new TensorshrinkError("E_OOM", `${what} needs ${bytes} bytes of wasm memory, more than maxBytes = ${max}`, { bytes, maxBytes: max });
}

/** @internal Kernel export name for the simd/ref choice. */
export function kname(host: KernelHost, base: string, opts?: LinalgOptions): string {
  const k = opts?.kernel;
  if (k !== undefined && k !== "simd" && k !== "ref") throw new TensorshrinkError("E_RANGE", `kernel must be "simd" or "ref", got ${String(k)}`);
  const name = k === "ref" ? `${base}_ref` : base;
  if (typeof host.exports[name] !== "function") throw new TensorshrinkError("E_UNSUPPORTED", `kernel ${name} is missing from this build`);
  return name;
}

/** @internal wasm allocations of one call, freed together by {@link withScratch}. */
export class Scratch {
  private readonly ptrs: number[] = [];
  constructor(readonly host: KernelHost) {}
  /** Allocates `bytes` (16-byte aligned). */
  alloc(bytes: number): number {
    const p = this.host.alloc(Math.max(16, bytes));
    this.ptrs.push(p);
    return p;
  }
  /** Frees one allocation early. */
  release(p: number): void {
    const i = this.ptrs.indexOf(p);
    if (i >= 0) { this.ptrs.splice(i, 1); this.host.free(p); }
  }
  f32(p: number, n: number): Float32Array { return new Float32Array(this.host.exports.memory.buffer, p, n); }
  f64(p: number, n: number): Float64Array { return new Float64Array(this.host.exports.memory.buffer, p, n); }
  /** Copies f32 values into a new allocation. */
  putF32(x: Float32Array): number { const p = this.alloc(x.length * 4); this.f32(p, x.length).set(x); return p; }
  /** Copies values into a new f64 allocation (widening f32 exactly). */
  putF64(x: ArrayLike<number>): number { const p = this.alloc(x.length * 8); this.f64(p, x.length).set(x as any); return p; }
  /** Calls a kernel; a wasm trap becomes E_WASM_ABORT. */
  call(name: string, ...args: number[]): number {
    try {
      return Number(this.host.exports[name](...args));
    } catch (e) {
      throw new TensorshrinkError("E_WASM_ABORT", `the ${name} kernel failed: ${(e as Error).message}`, { kernel: name }, { cause: e });
    }
  }
  freeAll(): void { for (const p of this.ptrs.splice(0)) this.host.free(p); }
}

/** @internal Runs fn with a scratch scope; everything it allocated is freed afterwards. */
export function withScratch<T>(host: KernelHost, fn: (s: Scratch) => T): T {
  const s = new Scratch(host);
  try {
    return fn(s);
  } finally {
    s.freeAll();
  }
}

/** @internal Narrows f64 values to a new f32 matrix. */
export function toMatrix(x: Float64Array | Float32Array, rows: number, cols: number): Matrix {
  return { data: new Float32Array(x.subarray(0, rows * cols)), rows, cols };
}
