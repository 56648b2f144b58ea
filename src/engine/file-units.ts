/**
 * Whole-file work units on the calling thread (Node): f32 (or f16/bf16/quantized, converted in wasm)
 * rows stored in a local file are read with `fs.readSync` straight into wasm memory, quantized there
 * and written with one `fs.writeSync` per unit from wasm memory into the output file at their final
 * offset. No JS array, no copy, no worker: what a pool worker does for a `PoolJob` with `file`/`out`
 * (src/engine/pool.ts), the same bytes and error sums, for single-threaded jobs where a worker's start
 * (a Node isolate, ~10 MB RSS and tens of ms of CPU) and the messages cost more than they save.
 */
import { TensorshrinkError } from "../errors";
import type { Engine } from "./engine";
import type { FileRange } from "./pool";
import type { QuantizeOptions, UnitResult } from "./engine-types";
import { nonFiniteValue } from "./engine-checks";
import { nodeBuiltin } from "./node-builtin";

const IQ_GRID: Record<string, number> = { "2_xxs": 0, "2_xs": 1, "1_s": 2, "1_m": 2, "2_s": 3, "3_xxs": 4, "3_s": 5 };
type Fs = typeof import("node:fs");
let fsModule: Promise<Fs | null> | null = null;

/** node:fs with its sync calls where this runtime is Node (Deno and Bun included), else null. */
export function localFs(): Promise<Fs | null> {
  const p = (globalThis as any).process;
  if (!p?.versions?.node) return Promise.resolve(null);
  fsModule ??= nodeBuiltin<Fs>("node:fs").then((m) => (typeof m.readSync === "function" && typeof m.writeSync === "function" ? m : null), () => null);
  return fsModule;
}

/**
 * Runs file work units on the calling thread. Each file is opened once (and checked to be the file
 * the caller identified by dev/ino, so a file replaced meanwhile is an error, not other data); the
 * wasm scratch buffers grow to the largest unit and are reused. `close()` closes the files and frees
 * the buffers (call it in a `finally`).
 */
export class FileUnitRunner {
  private fds = new Map<string, number>();
  private scratch: { p: number; bytes: number }[] = [];
  private closed = false;

  /** @param fs node:fs (see {@link localFs}). */
  constructor(private readonly engine: Engine, private readonly fs: Fs) {}

  private open(f: FileRange, write: boolean): number {
    const key = `${write ? "w" : "r"}:${f.path}`;
    const known = this.fds.get(key);
    if (known !== undefined) return known;
    let fd: number;
    try {
      fd = this.fs.openSync(f.path, write ? "r+" : "r");
    } catch (e: any) {
      throw new TensorshrinkError("E_IO", `cannot open ${f.path}: ${e?.message}`, { file: f.path, errno: e?.code });
    }
    this.fds.set(key, fd);
    const st = this.fs.fstatSync(fd);
    if (Number(st.dev) !== f.dev || Number(st.ino) !== f.ino) throw new TensorshrinkError("E_IO", `${f.path} was replaced by another file while tensorshrink was using it`, { file: f.path });
    return fd;
  }

  /** Address of scratch buffer `i`, at least `bytes` long (regrown when smaller; memory may grow). */
  private buf(i: number, bytes: number): number {
    const s = this.scratch[i];
    if (s && s.bytes >= bytes) return s.p;
    if (s) this.engine.free(s.p);
    const n = Math.max(bytes, 64);
    this.scratch[i] = { p: this.engine.alloc(n), bytes: n };
    return this.scratch[i].p;
  }

  /**
   * Quantizes `opts.rows` rows of `opts.cols` values stored at `file` (same checks as
   * `engine.quantizeFileUnit`), slice by slice (1 MiB of f32: read, convert when not f32, check,
   * quantize, and with `stats` dequantize + error sums), then writes the unit's bytes to `out` in one
   * write (bytes: null), or returns them when `out` is null. Throws E_TRUNCATED naming the tensor and
   * byte offset when the input file ends early, E_IO on a failed read or write, E_NONFINITE.
   */
  run(file: FileRange, opts: QuantizeOptions, o: { stats: boolean; out?: FileRange | null }): UnitResult {
    if (this.closed) throw new TensorshrinkError("E_DISPOSED", "this FileUnitRunner was closed");
    const job = this.engine.prepareFileUnit(file, opts, o.stats);
    if (!job) return { bytes: new Uint8Array(0), se: 0, sa: 0 };
    const e = this.engine.exports, fs = this.fs;
    const { rows, cols, rowBytes: rb, sliceRows } = job;
    const srcType = file.type && file.type !== "f32" ? file.type : null;
    const srb = srcType ? file.rowBytes! : cols * 4;
    const where = opts.name ? `tensor "${opts.name}": ` : "";
    const fdIn = this.open(file, false);
    const fdOut = o.out ? this.open(o.out, true) : -1;
    // i-quant lattices are built once per instance before any buffer is allocated (kernels never grow memory)
    if (e.iq_grid_for_kernel) for (const k of [job.kernel, job.statsKernel, srcType]) {
      const g = k ? /iq(1_s|1_m|2_xxs|2_xs|2_s|3_xxs|3_s)(?![a-z0-9])/.exec(k) : null;
      if (g) e.iq_grid_for_kernel(IQ_GRID[g[1]]);
    }
    // Every allocation first; views of the memory are taken after the last possible growth.
    const pstage = srcType ? this.buf(0, sliceRows * srb + 16) : 0;
    const pin = this.buf(1, sliceRows * cols * 4);
    const pout = this.buf(2, rows * rb + 16);
    const pim = job.imatrix ? this.buf(3, job.imatrix.byteLength) : 0;
    const pdq = job.statsKernel ? this.buf(4, sliceRows * cols * 4) : 0;
    const pst = job.statsKernel ? this.buf(5, 48) : 0;
    const mem = e.memory.buffer;
    if (pim) new Float32Array(mem, pim, job.imatrix!.length).set(job.imatrix!);
    const kernel = e[job.kernel], dq = job.statsKernel ? e[job.statsKernel] : null, conv = srcType ? e[`dequantize_row_${srcType}`] : null;
    const fused = !!(job.checkFinite && job.fusedCheck && typeof e.quant_nonfinite_take === "function");
    const locate = (r0: number, m: number) => {
      const bad = e.find_nonfinite(pin, m);
      if (bad >= 0) throw nonFiniteValue(opts, r0 * cols + bad, new Float32Array(mem, pin + bad * 4, 1)[0]);
    };
    let se = 0, sa = 0;
    for (let r0 = 0; r0 < rows; r0 += sliceRows) {
      const nr = Math.min(sliceRows, rows - r0), m = nr * cols;
      const want = nr * srb, dst = new Uint8Array(mem, srcType ? pstage : pin, want), at = file.offset + r0 * srb;
      for (let done = 0; done < want;) {
        let n: number;
        try {
          n = fs.readSync(fdIn, dst, done, want - done, at + done);
        } catch (err: any) {
          throw new TensorshrinkError("E_IO", `${where}cannot read ${file.path} at byte offset ${at + done}: ${err?.message}`, { name: opts.name, offset: at + done, file: file.path, errno: err?.code });
        }
        if (n === 0) throw new TensorshrinkError("E_TRUNCATED", `${where}${file.path} ends at byte offset ${at + done} while reading ${want} bytes at ${at} (the file shrank after it was opened?)`, { name: opts.name, offset: at + done, file: file.path });
        done += n;
      }
      if (conv) conv(pin, pstage, m);
      if (job.checkFinite && !fused) locate(r0, m);
      if (fused) e.quant_nonfinite_take();
      try {
        kernel(pout + r0 * rb, pin, nr, cols, pim);
      } catch (err) {
        throw new TensorshrinkError("E_WASM_ABORT", `${where}the ${opts.type} kernel failed: ${(err as Error).message}`, { name: opts.name, type: opts.type }, { cause: err });
      }
      if (fused && e.quant_nonfinite_take()) locate(r0, m);
      if (dq) {
        dq(pdq, pout + r0 * rb, m);
        e.error_sums(pst, pin, pdq, m);
        const r = new Float64Array(mem, pst, 2);
        se += r[0]; sa += r[1];
      }
    }
    const all = new Uint8Array(mem, pout, rows * rb);
    if (!o.out) return { bytes: all.slice(), se, sa };
    for (let done = 0; done < all.length;) {
      try {
        done += fs.writeSync(fdOut, all, done, all.length - done, o.out.offset + done);
      } catch (err: any) {
        throw new TensorshrinkError("E_IO", `${where}cannot write ${o.out.path} at byte offset ${o.out.offset + done}: ${err?.message}`, { name: opts.name, offset: o.out.offset + done, file: o.out.path, errno: err?.code });
      }
    }
    return { bytes: null, se, sa };
  }

  /** Closes the files and frees the wasm buffers. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const fd of this.fds.values()) { try { this.fs.closeSync(fd); } catch { /* closed */ } }
    this.fds.clear();
    if (!this.engine.isDisposed) for (const s of this.scratch) if (s) this.engine.free(s.p);
    this.scratch = [];
  }
}
