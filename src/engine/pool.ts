import { TensorshrinkError } from "../errors";
import { nodeBuiltin } from "./node-builtin";


/**
 * A byte range of a local file that a pool worker reads itself: it opens `path` and checks that
 * `dev`/`ino` are those of the file the caller opened (so a file replaced meanwhile is an error, not
 * other data), then reads from byte `offset`.
 */
export interface FileRange {
  path: string; dev: number; ino: number; offset: number;
  /**
   * ggml type of the stored rows (default "f32"); others ("f16", "bf16", "q8_0", ...) are read raw,
   * `rowBytes` per row, and converted with the worker's `dequantize_row_<type>` kernel.
   */
  type?: string;
  rowBytes?: number;
}

/**
 * A generic kernel call for a pool worker (op "call"): every buffer is allocated in the worker's wasm
 * memory (`bytes` long, filled from `data` when given), the export `kernel` is called with `args`
 * (numbers, or `{ buf: i }` for buffer i's address), and the buffers listed in `outputs` come back.
 */
export interface PoolCall {
  op: "call";
  kernel: string;
  buffers: { bytes: number; data?: ArrayBuffer }[];
  args: (number | { buf: number })[];
  outputs: number[];
}
/** What a "call" job returns: the output buffers (in `outputs` order) and the kernel's return value. */
export interface PoolCallResult { outputs: ArrayBuffer[]; ret: number }

/** A job for a pool worker: run one quantize/dequantize kernel over whole rows. */
export interface PoolJob {
  op: "quantize" | "dequantize";
  /** Export name of the kernel, e.g. "quantize_q8_0". */
  kernel: string;
  rows: number;
  cols: number;
  /** Output bytes per row (quantize) or input bytes per row (dequantize). */
  rowBytes: number;
  /** Input: f32 values (quantize) or block bytes (dequantize), unless `file`. Transferred to the worker. */
  data?: ArrayBuffer;
  /**
   * Quantize only, instead of `data` (pools with `readsFiles`): the worker reads the f32 input itself,
   * `rows * cols * 4` bytes at byte `offset` of the file at `path`, slice by slice straight into its
   * wasm memory, after checking that the file it opened is the one identified by `dev`/`ino`.
   */
  file?: FileRange;
  imatrix?: Float32Array | null;
  /** Check for NaN/Inf before quantizing (reported as the flat index and the value). */
  checkFinite?: boolean;
  /**
   * With checkFinite: the kernel checks while it quantizes (the 32-block types and f16/bf16, see
   * assembly/quant/finite_flag.ts); find_nonfinite runs only when its flag fires, to locate the value.
   */
  fusedCheck?: boolean;
  /**
   * Quantize only: also dequantize the result with this kernel (e.g. "dequantize_row_q4_K") and return
   * the `error_sums` (se, sa) of the input against it (SQNR without a second pass on the calling thread).
   */
  statsKernel?: string;
  /**
   * Quantize only: rows per slice (default: all). The worker runs copy-in, check, kernel, copy-out and
   * the stats slice by slice so each slice stays in cache; the stats are summed slice by slice in order.
   */
  sliceRows?: number;
  /**
   * Quantize only (pools with `readsFiles`): write the unit's `rows * rowBytes` output bytes into this
   * file at `offset` instead of returning them (the result then has no `data`).
   */
  out?: FileRange;
}
/** `stats`: [se, sa] = f64 sums of (x - dequantized)^2 and x^2, when the job asked for them. */
export interface PoolResult { data?: ArrayBuffer; nonfinite?: number; value?: number; stats?: number[]; error?: string; code?: string; details?: Record<string, unknown> }

// The worker body: self-contained (no imports), turned into source text with Function.toString so it
// runs from a Blob URL (Web Workers: Deno, Bun, browsers) or `eval: true` (Node worker_threads) and
// needs no separate file next to the bundle. One wasm instance per worker.
function workerMain(nodePort: any, fs: any) {
  const isNode = !!nodePort;
  let inst: any = null;
  let pending: Promise<any> | null = null;
  const port: any = isNode ? nodePort : globalThis;
  const post = (m: any, t?: any[]) => port.postMessage(m, t || []);
  const onMessage = async (msg: any) => {
    if (msg.init) {
      pending = WebAssembly.instantiate(msg.init, { env: { abort: () => { throw new Error("wasm abort"); }, seed: () => 0 } })
        .then((r: any) => (inst = r.instance || r));
      return;
    }
    const { id, job } = msg;
    try {
      if (!inst) await pending;
      const e = inst.exports;
      // i-quant lattices are built once per instance before any kernel runs (kernels never grow memory)
      if (e.iq_grid_for_kernel) for (const k of [job.kernel, job.statsKernel, job.file && job.file.type]) if (k) {
        const m = /iq(1_s|1_m|2_xxs|2_xs|2_s|3_xxs|3_s)(?![a-z0-9])/.exec(k);
        if (m) e.iq_grid_for_kernel(({ "2_xxs": 0, "2_xs": 1, "1_s": 2, "1_m": 2, "2_s": 3, "3_xxs": 4, "3_s": 5 } as any)[m[1]]);
      }
      if (job.op === "call") {
        const bufs = job.buffers;
        const ptrs: number[] = [];
        try {
          for (const b of bufs) ptrs.push(e.ts_alloc(b.bytes + 16));
          const mem = e.memory.buffer;
          bufs.forEach((b: any, i: number) => { if (b.data) new Uint8Array(mem, ptrs[i], b.data.byteLength).set(new Uint8Array(b.data)); });
          const args = job.args.map((a: any) => (typeof a === "number" ? a : ptrs[a.buf]));
          const ret = Number(e[job.kernel](...args));
          const outs = job.outputs.map((i: number) => {
            const o = new Uint8Array(bufs[i].bytes);
            o.set(new Uint8Array(e.memory.buffer, ptrs[i], bufs[i].bytes));
            return o.buffer;
          });
          post({ id, outputs: outs, ret }, outs);
        } finally {
          for (const p of ptrs) e.ts_free(p);
        }
        return;
      }
      if (job.op === "quantize") {
        // Slice by slice (whole rows, `sliceRows` at a time): copy (or read) in, check, quantize and
        // (with stats) dequantize + error_sums while the slice is still in cache. Rows are independent,
        // so the bytes are those of one call over all rows. The output of the whole unit collects in
        // wasm memory and leaves in one piece: copied out and transferred, or written to `job.out`.
        const { rows, cols, rowBytes: rb } = job;
        const sliceRows = Math.max(1, Math.min(rows, job.sliceRows || rows));
        const stats = !!job.statsKernel;
        const file = job.file, dest = job.out;
        const src = file ? null : new Uint8Array(job.data);
        const fds: number[] = [];
        // Opens a FileRange's file and checks it is the one the caller opened; posts E_IO and returns -1 if not.
        const open = (f: any, flags: string): number => {
          if (!fs) { post({ id, code: "E_UNSUPPORTED", error: "this worker cannot access files" }); return -1; }
          let fd = -1;
          try {
            fd = fs.openSync(f.path, flags);
            fds.push(fd);
            const st = fs.fstatSync(fd);
            if (Number(st.dev) !== f.dev || Number(st.ino) !== f.ino) {
              post({ id, code: "E_IO", error: `${f.path} was replaced by another file while tensorshrink was using it`, details: { file: f.path } });
              return -1;
            }
            return fd;
          } catch (err: any) {
            post({ id, code: "E_IO", error: `cannot open ${f.path}: ${err && err.message}`, details: { file: f.path, errno: err && err.code } });
            return -1;
          }
        };
        // Stored rows that are not f32 are read raw into a staging buffer and converted in wasm.
        const srcType = file && file.type && file.type !== "f32" ? file.type : null;
        const srb = srcType ? file.rowBytes : cols * 4;
        const fused = !!(job.checkFinite && job.fusedCheck && typeof e.quant_nonfinite_take === "function");
        // Every allocation first: views of e.memory.buffer are taken after the last possible growth.
        const pstage = srcType ? e.ts_alloc(sliceRows * srb + 16) : 0;
        const pin = e.ts_alloc(sliceRows * cols * 4);
        const pout = e.ts_alloc(rows * rb + 16);
        const pim = job.imatrix ? e.ts_alloc(job.imatrix.byteLength) : 0;
        const pdq = stats ? e.ts_alloc(sliceRows * cols * 4) : 0;
        const pst = stats ? e.ts_alloc(48) : 0;
        try {
          const fdIn = file ? open(file, "r") : -1;
          if (file && fdIn < 0) return;
          const fdOut = dest ? open(dest, "r+") : -1;
          if (dest && fdOut < 0) return;
          const mem = e.memory.buffer;
          if (pim) new Float32Array(mem, pim, job.imatrix.length).set(job.imatrix);
          let se = 0, sa = 0;
          for (let r0 = 0; r0 < rows; r0 += sliceRows) {
            const nr = Math.min(sliceRows, rows - r0), m = nr * cols;
            if (src) new Uint8Array(mem, pin, m * 4).set(src.subarray(r0 * cols * 4, (r0 * cols + m) * 4));
            else {
              const want = nr * srb, dst = new Uint8Array(mem, srcType ? pstage : pin, want), at = file.offset + r0 * srb;
              for (let done = 0; done < want;) {
                let n = 0;
                try {
                  n = fs.readSync(fdIn, dst, done, want - done, at + done);
                } catch (err: any) {
                  post({ id, code: "E_IO", error: `cannot read ${file.path} at byte offset ${at + done}: ${err && err.message}`, details: { offset: at + done, file: file.path, errno: err && err.code } });
                  return;
                }
                if (n === 0) {
                  post({ id, code: "E_TRUNCATED", error: `${file.path} ended at byte offset ${at + done} while reading ${want} bytes at ${at} (file shrank?)`, details: { offset: at + done, file: file.path } });
                  return;
                }
                done += n;
              }
              if (srcType) e["dequantize_row_" + srcType](pin, pstage, m);
            }
            if (job.checkFinite && !fused) {
              const bad = e.find_nonfinite(pin, m);
              if (bad >= 0) { post({ id, nonfinite: r0 * cols + bad, value: new Float32Array(mem, pin + bad * 4, 1)[0] }); return; }
            }
            if (fused) e.quant_nonfinite_take();
            e[job.kernel](pout + r0 * rb, pin, nr, cols, pim);
            if (fused && e.quant_nonfinite_take()) {
              const bad = e.find_nonfinite(pin, m);
              if (bad >= 0) { post({ id, nonfinite: r0 * cols + bad, value: new Float32Array(mem, pin + bad * 4, 1)[0] }); return; }
            }
            if (stats) {
              e[job.statsKernel](pdq, pout + r0 * rb, m);
              e.error_sums(pst, pin, pdq, m);
              const r = new Float64Array(mem, pst, 2);
              se += r[0]; sa += r[1];
            }
          }
          const st = stats ? [se, sa] : undefined;
          if (dest) {
            const all = new Uint8Array(mem, pout, rows * rb);
            for (let done = 0; done < all.length;) {
              try {
                done += fs.writeSync(fdOut, all, done, all.length - done, dest.offset + done);
              } catch (err: any) {
                post({ id, code: "E_IO", error: `cannot write ${dest.path} at byte offset ${dest.offset + done}: ${err && err.message}`, details: { offset: dest.offset + done, file: dest.path, errno: err && err.code } });
                return;
              }
            }
            post({ id, stats: st });
          } else {
            const out = new Uint8Array(rows * rb);
            out.set(new Uint8Array(mem, pout, rows * rb));
            post({ id, data: out.buffer, stats: st }, [out.buffer]);
          }
        } finally {
          e.ts_free(pin); e.ts_free(pout); if (pim) e.ts_free(pim); if (pdq) e.ts_free(pdq); if (pst) e.ts_free(pst); if (pstage) e.ts_free(pstage);
          for (const fd of fds) { try { fs.closeSync(fd); } catch { /* closed */ } }
        }
        return;
      }
      const inBytes = job.data.byteLength;
      const outBytes = job.rows * job.cols * 4;
      const pin = e.ts_alloc(inBytes);
      const pout = e.ts_alloc(outBytes + 16);
      try {
        new Uint8Array(e.memory.buffer, pin, inBytes).set(new Uint8Array(job.data));
        e[job.kernel](pout, pin, job.rows * job.cols);
        const out = new Uint8Array(outBytes);
        out.set(new Uint8Array(e.memory.buffer, pout, outBytes));
        post({ id, data: out.buffer }, [out.buffer]);
      } finally {
        e.ts_free(pin); e.ts_free(pout);
      }
    } catch (err: any) {
      post({ id, error: String(err && err.message || err) });
    }
  };
  if (isNode) port.on("message", onMessage);
  else (globalThis as any).onmessage = (ev: any) => onMessage(ev.data);
}

interface WorkerHandle { post(m: any, t?: Transferable[]): void; terminate(): void; ref?(): void; unref?(): void }

/** Number of logical cores, or 1 when the runtime does not say. */
export async function availableCores(): Promise<number> {
  const nav = (globalThis as any).navigator;
  if (nav && typeof nav.hardwareConcurrency === "number" && nav.hardwareConcurrency > 0) return nav.hardwareConcurrency;
  try {
    const os: any = await nodeBuiltin("node:os");
    return typeof os.availableParallelism === "function" ? os.availableParallelism() : os.cpus().length;
  } catch {
    return 1;
  }
}


/** True when this runtime can start workers (false in workerd / Cloudflare Workers). */
export function workersAvailable(): boolean {
  const g = globalThis as any;
  if (isNodeLike()) return true;
  return typeof g.Worker === "function" && typeof g.Blob === "function" && typeof g.URL?.createObjectURL === "function";
}

/** Node.js proper (worker_threads); Deno and Bun use Web Workers. */
function isNodeLike(): boolean {
  const g = globalThis as any;
  return typeof g.Deno === "undefined" && typeof g.Bun === "undefined" && !!g.process?.versions?.node;
}

/**
 * Where a job may run: `workers` = only on the first this many of the pool's workers (the others are
 * not started for it; default all), `ahead` = jobs posted to one worker at once (default 1; 2 lets a
 * worker start its next job while the thread that feeds it is busy).
 */
export interface RunPlacement { workers?: number; ahead?: number }

interface Slot { h: WorkerHandle; load: number; dead: boolean }
interface Queued { job: PoolJob; limit: number; ahead: number; resolve: (r: PoolResult) => void; reject: (e: unknown) => void }

/**
 * A pool of up to `size` workers, one wasm instance each. Jobs are independent (whole rows) so the
 * results are the same bytes as the single-threaded path. Workers start lazily, only as many as the
 * jobs' placement allows (`RunPlacement.workers`); a worker that crashed is replaced on the next job;
 * `close()` terminates them.
 */
export class WorkerPool {
  private slots: Slot[] = [];
  private queue: Queued[] = [];
  private waiting = new Map<number, { s: Slot; resolve: (r: PoolResult) => void; reject: (e: unknown) => void }>();
  private nextId = 1;
  private wt: Promise<any> | null = null;
  private closed = false;

  /** Whether jobs may name a file to read (`PoolJob.file`): Node worker_threads, which have node:fs. */
  readonly readsFiles = isNodeLike();

  constructor(private readonly module: WebAssembly.Module, private readonly bytes: Uint8Array | null, readonly size: number) {}

  /** Workers started and alive (for tests and benchmarks: a job placed on `workers: 1` starts one). */
  get started(): number { return this.slots.length; }
  /** Jobs posted to workers and not answered yet (0 once every job settled: nothing left running). */
  get busy(): number { return this.waiting.size; }
  /** @internal The started workers' handles (test/runtimes counts them). */
  get workers(): readonly WorkerHandle[] { return this.slots.map((s) => s.h); }

  private startOne(wt: any): Slot {
    // The port lookup is plain text here so that no bundler rewrites `require`.
    const port = isNodeLike() ? 'require("node:worker_threads").parentPort, require("node:fs")' : "null, null";
    const src = `var __name = (f) => f;\n(${workerMain.toString()})(${port});`;
    let h: WorkerHandle;
    const s: Slot = { h: null as any, load: 0, dead: false };
    if (wt) {
      const w = new wt.Worker(src, { eval: true });
      w.on("message", (m: any) => this.onResult(s, m));
      w.on("error", (e: unknown) => this.onCrash(s, e));
      // a worker that exits on its own (terminated, out of memory) fails its jobs instead of leaving them pending
      w.on("exit", (code: number) => this.onCrash(s, `exited with code ${code}`));
      // Idle workers never keep the process alive; a worker with a job in flight does (see pump/onResult).
      w.unref?.();
      h = { post: (m, t) => w.postMessage(m, t as any), terminate: () => void w.terminate(), ref: () => w.ref?.(), unref: () => w.unref?.() };
    } else {
      const url = URL.createObjectURL(new Blob([src], { type: "text/javascript" }));
      const w = new (globalThis as any).Worker(url, { type: "module" });
      w.onmessage = (ev: any) => this.onResult(s, ev.data);
      w.onerror = (ev: any) => { ev.preventDefault?.(); this.onCrash(s, ev.message || ev); };
      h = { post: (m, t) => w.postMessage(m, t as any), terminate: () => w.terminate() };
    }
    s.h = h;
    // Send the compiled module where it can be cloned, else bytes.
    try { h.post({ init: this.module }); } catch { h.post({ init: this.bytes }); }
    this.slots.push(s);
    return s;
  }

  /** Starts workers until `n` are alive (`wt`: node:worker_threads, or null for Web Workers). */
  private startUpTo(wt: any, n: number): void {
    while (this.slots.length < n) this.startOne(wt);
  }

  /** Runs one generic kernel call on the next idle worker (input `data` buffers are transferred). */
  async call(job: PoolCall): Promise<PoolCallResult> {
    return (await this.run(job as any)) as unknown as PoolCallResult;
  }

  /** Runs one job on the next free worker (of the first `at.workers`, see {@link RunPlacement}). */
  async run(job: PoolJob, at: RunPlacement = {}): Promise<PoolResult> {
    if (this.closed) throw new TensorshrinkError("E_DISPOSED", "the worker pool was closed");
    this.wt ??= isNodeLike() ? nodeBuiltin("node:worker_threads") : Promise.resolve(null);
    const wt = await this.wt;
    if (this.closed) throw new TensorshrinkError("E_DISPOSED", "the worker pool was closed");
    const limit = Math.max(1, Math.min(this.size, Math.floor(at.workers ?? this.size)));
    const ahead = Math.max(1, Math.floor(at.ahead ?? 1));
    this.startUpTo(wt, limit);
    return new Promise((resolve, reject) => {
      this.queue.push({ job, limit, ahead, resolve, reject });
      this.pump();
    });
  }

  /** Posts queued jobs, in order, each to the least loaded of its allowed workers that has room. */
  private pump(): void {
    while (this.queue.length) {
      const q = this.queue[0];
      let best: Slot | null = null;
      for (let i = 0; i < Math.min(q.limit, this.slots.length); i++) {
        const s = this.slots[i];
        if (s.load < q.ahead && (!best || s.load < best.load)) best = s;
      }
      if (!best) return;
      this.queue.shift();
      const id = this.nextId++;
      this.waiting.set(id, { s: best, resolve: q.resolve, reject: q.reject });
      if (best.load++ === 0) best.h.ref?.();
      const job = q.job;
      const transfer: ArrayBuffer[] = (job as any).op === "call" ? (job as any as PoolCall).buffers.flatMap((b) => (b.data ? [b.data] : [])) : job.data ? [job.data] : [];
      best.h.post({ id, job }, transfer);
    }
  }

  private onResult(s: Slot, m: any): void {
    const p = this.waiting.get(m.id);
    if (!p) return;
    this.waiting.delete(m.id);
    if (--s.load === 0) s.h.unref?.();
    if (m.error) p.reject(m.code ? new TensorshrinkError(m.code, m.error, m.details ?? {}) : new TensorshrinkError("E_WORKER", `pool worker failed: ${m.error}`));
    else p.resolve(m);
    this.pump();
  }

  private onCrash(s: Slot, e: unknown): void {
    if (s.dead || this.closed) return;
    s.dead = true;
    for (const [id, p] of this.waiting) if (p.s === s) { this.waiting.delete(id); p.reject(new TensorshrinkError("E_WORKER", `pool worker crashed: ${String((e as any)?.message ?? e)}`)); }
    // Out of the pool: the next job starts a replacement.
    this.slots = this.slots.filter((x) => x !== s);
    try { s.h.terminate(); } catch { /* gone */ }
    if (this.queue.length && !this.closed) {
      void this.wt?.then((wt) => {
        if (this.closed) return;
        this.startUpTo(wt, Math.max(...this.queue.map((q) => q.limit)));
        this.pump();
      });
    }
  }

  /** Terminates every worker. Pending jobs reject with E_DISPOSED. */
  close(): void {
    this.closed = true;
    for (const s of this.slots) s.h.terminate();
    for (const q of this.queue) q.reject(new TensorshrinkError("E_DISPOSED", "the worker pool was closed"));
    for (const p of this.waiting.values()) p.reject(new TensorshrinkError("E_DISPOSED", "the worker pool was closed"));
    this.queue = []; this.waiting.clear(); this.slots = [];
  }
}
