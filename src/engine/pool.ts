import { TensorshrinkError } from "../errors";
import { nodeBuiltin } from "./node-builtin";


/** A job for a pool worker: run one quantize/dequantize kernel over whole rows. */
export interface PoolJob {
  op: "quantize" | "dequantize";
  /** Export name of the kernel, e.g. "quantize_q8_0". */
  kernel: string;
  rows: number;
  cols: number;
  /** Output bytes per row (quantize) or input bytes per row (dequantize). */
  rowBytes: number;
  /** Input: f32 values (quantize) or block bytes (dequantize). Transferred to the worker. */
  data: ArrayBuffer;
  imatrix?: Float32Array | null;
  /** Check for NaN/Inf before quantizing (reported as the flat index). */
  checkFinite?: boolean;
}
export interface PoolResult { data?: ArrayBuffer; nonfinite?: number; error?: string }

// The worker body: self-contained (no imports), turned into source text with Function.toString so it
// runs from a Blob URL (Web Workers: Deno, Bun, browsers) or `eval: true` (Node worker_threads) and
// needs no separate file next to the bundle. One wasm instance per worker.
function workerMain(nodePort: any) {
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
      const inBytes = job.data.byteLength;
      const outBytes = job.op === "quantize" ? job.rows * job.rowBytes : job.rows * job.cols * 4;
      const pin = e.ts_alloc(inBytes);
      const pout = e.ts_alloc(outBytes + 16);
      let pim = 0;
      try {
        new Uint8Array(e.memory.buffer, pin, inBytes).set(new Uint8Array(job.data));
        if (job.checkFinite) {
          const bad = e.find_nonfinite(pin, job.rows * job.cols);
          if (bad >= 0) { post({ id, nonfinite: bad }); return; }
        }
        if (job.imatrix) {
          pim = e.ts_alloc(job.imatrix.byteLength);
          new Float32Array(e.memory.buffer, pim, job.imatrix.length).set(job.imatrix);
        }
        if (job.op === "quantize") e[job.kernel](pout, pin, job.rows, job.cols, pim);
        else e[job.kernel](pout, pin, job.rows * job.cols);
        const out = new Uint8Array(outBytes);
        out.set(new Uint8Array(e.memory.buffer, pout, outBytes));
        post({ id, data: out.buffer }, [out.buffer]);
      } finally {
        e.ts_free(pin); e.ts_free(pout); if (pim) e.ts_free(pim);
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
 * A pool of workers, one wasm instance each. Jobs are independent (whole rows) so the results are the
 * same bytes as the single-threaded path. Workers start lazily; `close()` terminates them.
 */
export class WorkerPool {
  private workers: WorkerHandle[] = [];
  private idle: WorkerHandle[] = [];
  private queue: { job: PoolJob; resolve: (r: PoolResult) => void; reject: (e: unknown) => void }[] = [];
  private waiting = new Map<number, { w: WorkerHandle; resolve: (r: PoolResult) => void; reject: (e: unknown) => void }>();
  private nextId = 1;
  private starting: Promise<void> | null = null;
  private closed = false;

  constructor(private readonly module: WebAssembly.Module, private readonly bytes: Uint8Array | null, readonly size: number) {}

  private async start(): Promise<void> {
    // The port lookup is plain text here so that no bundler rewrites `require`.
    const port = isNodeLike() ? 'require("node:worker_threads").parentPort' : "null";
    const src = `var __name = (f) => f;\n(${workerMain.toString()})(${port});`;
    for (let i = 0; i < this.size; i++) {
      let h: WorkerHandle;
      if (isNodeLike()) {
        const wt: any = await nodeBuiltin("node:worker_threads");
        const w = new wt.Worker(src, { eval: true });
        w.on("message", (m: any) => this.onResult(h, m));
        w.on("error", (e: unknown) => this.onCrash(h, e));
        // Idle workers never keep the process alive; a worker with a job in flight does (see pump/onResult).
        w.unref?.();
        h = { post: (m, t) => w.postMessage(m, t as any), terminate: () => void w.terminate(), ref: () => w.ref?.(), unref: () => w.unref?.() };
      } else {
        const url = URL.createObjectURL(new Blob([src], { type: "text/javascript" }));
        const w = new (globalThis as any).Worker(url, { type: "module" });
        w.onmessage = (ev: any) => this.onResult(h, ev.data);
        w.onerror = (ev: any) => { ev.preventDefault?.(); this.onCrash(h, ev.message || ev); };
        h = { post: (m, t) => w.postMessage(m, t as any), terminate: () => w.terminate() };
      }
      // Send the compiled module where it can be cloned, else bytes.
      try { h.post({ init: this.module }); } catch { h.post({ init: this.bytes }); }
      this.workers.push(h);
      this.idle.push(h);
    }
  }

  /** Runs one job on the next idle worker. */
  async run(job: PoolJob): Promise<PoolResult> {
    if (this.closed) throw new TensorshrinkError("E_DISPOSED", "the worker pool was closed");
    if (!this.starting) this.starting = this.start();
    await this.starting;
    return new Promise((resolve, reject) => {
      this.queue.push({ job, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.idle.length && this.queue.length) {
      const w = this.idle.pop()!;
      const { job, resolve, reject } = this.queue.shift()!;
      const id = this.nextId++;
      this.waiting.set(id, { w, resolve, reject });
      w.ref?.();
      w.post({ id, job }, [job.data]);
    }
  }

  private onResult(w: WorkerHandle, m: any): void {
    const p = this.waiting.get(m.id);
    if (!p) return;
    this.waiting.delete(m.id);
    w.unref?.();
    this.idle.push(w);
    if (m.error) p.reject(new TensorshrinkError("E_WORKER", `pool worker failed: ${m.error}`));
    else p.resolve(m);
    this.pump();
  }

  private onCrash(w: WorkerHandle, e: unknown): void {
    for (const [id, p] of this.waiting) if (p.w === w) { this.waiting.delete(id); p.reject(new TensorshrinkError("E_WORKER", `pool worker crashed: ${String((e as any)?.message ?? e)}`)); }
  }

  /** Terminates every worker. Pending jobs reject with E_DISPOSED. */
  close(): void {
    this.closed = true;
    for (const w of this.workers) w.terminate();
    for (const q of this.queue) q.reject(new TensorshrinkError("E_DISPOSED", "the worker pool was closed"));
    for (const p of this.waiting.values()) p.reject(new TensorshrinkError("E_DISPOSED", "the worker pool was closed"));
    this.queue = []; this.waiting.clear(); this.workers = []; this.idle = [];
  }
}
