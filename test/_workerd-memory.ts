// The V8 isolate's own memory figures for a Worker in workerd, read over workerd's inspector
// (`workerd serve --inspector-addr 127.0.0.1:0 --control-fd N` reports the port as
// {"event":"listen-inspector","port":…}). Used by test/53 and bench/webapp.mjs.
//
// Runtime.getHeapUsage (Chrome DevTools Protocol) answers, for the isolate that runs the Worker:
//   usedSize            bytes of the V8 JS heap in use (objects not yet collected included),
//   totalSize           bytes of the V8 JS heap reserved,
//   embedderHeapUsedSize bytes of workerd's C++ objects on V8's cppgc heap,
//   backingStorageSize  bytes of ArrayBuffer backing stores (fetch bodies, Uint8Arrays, chunks in
//                       streams — again including the ones V8 has not collected yet).
// This is what an isolate holds, unlike the RSS of the workerd process, which includes the runtime
// itself (~52 MiB idle), the kernel's socket buffers and malloc's free lists.
import { createRequire } from "node:module";
import path from "node:path";
import { ROOT } from "./_util";

/** One Runtime.getHeapUsage answer, bytes. */
export interface HeapUsage { usedSize: number; totalSize: number; embedderHeapUsedSize?: number; backingStorageSize?: number }

/** Bytes an isolate holds by V8's accounting: JS heap in use + ArrayBuffer backing stores. */
export const isolateBytes = (u: HeapUsage): number => u.usedSize + (u.backingStorageSize ?? 0);

/** A connection to one Worker's isolate through workerd's inspector. */
export interface IsolateInspector {
  /** The current heap usage of the isolate. */
  usage(): Promise<HeapUsage>;
  /** A full garbage collection in the isolate (HeapProfiler.collectGarbage). */
  collectGarbage(): Promise<void>;
  /**
   * Sample {@link usage} back to back (one round trip plus `intervalMs` apart) until `stop()`; with
   * `gc`, a full collection before each sample (what is live, without garbage; slows the Worker).
   */
  sample(opts?: { intervalMs?: number; gc?: boolean }): { stop(): Promise<{ samples: number; peakBytes: number; peak: HeapUsage | null }> };
  close(): void;
}

/** Connects to the inspector at 127.0.0.1:`port`, target `service` (the workerd service name). */
export async function inspectIsolate(port: number, service = "main"): Promise<IsolateInspector> {
  // playwright-core (a devDependency) bundles the `ws` client; Node 20 has no WebSocket global.
  const { ws: WebSocketClient } = createRequire(import.meta.url)(path.join(ROOT, "node_modules/playwright-core/lib/utilsBundle.js"));
  const sock = new WebSocketClient(`ws://127.0.0.1:${port}/${service}`);
  await new Promise<void>((resolve, reject) => { sock.once("open", resolve); sock.once("error", reject); });
  let id = 0;
  const pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  sock.on("message", (d: unknown) => {
    const m = JSON.parse(String(d));
    const p = m.id !== undefined ? pending.get(m.id) : undefined;
    if (!p) return;
    pending.delete(m.id);
    if (m.error) p.reject(new Error(`inspector: ${JSON.stringify(m.error)}`)); else p.resolve(m.result);
  });
  sock.on("close", () => { for (const p of pending.values()) p.reject(new Error("inspector connection closed")); pending.clear(); });
  const call = (method: string, params: object = {}) => new Promise<any>((resolve, reject) => {
    const i = ++id;
    pending.set(i, { resolve, reject });
    sock.send(JSON.stringify({ id: i, method, params }));
  });
  const api: IsolateInspector = {
    usage: () => call("Runtime.getHeapUsage"),
    collectGarbage: async () => { await call("HeapProfiler.collectGarbage"); },
    sample({ intervalMs = 10, gc = false } = {}) {
      let running = true, samples = 0, peakBytes = 0;
      let peak: HeapUsage | null = null;
      const loop = (async () => {
        while (running) {
          if (gc) await api.collectGarbage();
          const u = await api.usage();
          samples++;
          if (isolateBytes(u) > peakBytes) { peakBytes = isolateBytes(u); peak = u; }
          await new Promise((r) => setTimeout(r, intervalMs));
        }
      })();
      return { async stop() { running = false; await loop; return { samples, peakBytes, peak }; } };
    },
    close: () => sock.close(),
  };
  return api;
}
