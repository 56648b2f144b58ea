// Helpers for driving the web app (dist/web) in Debian's Chromium through playwright-core
// (test/52-webapp.ts, bench/webapp.mjs): the browser, a model server with range requests and CORS
// switches, and the probes the page gets before its own scripts run.
import { createServer, type Server } from "node:http";
import { existsSync, mkdtempSync, openSync, readSync, closeSync, fstatSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

/** Debian's chromium; TENSORSHRINK_CHROMIUM overrides the path. Never downloaded. */
export const CHROMIUM = process.env.TENSORSHRINK_CHROMIUM || "/usr/bin/chromium";
export const CHROMIUM_MSG = `Chromium is not installed at ${CHROMIUM}: install Debian's package (apt-get install -y chromium; .ci/run does this). Never download a browser.`;

export function withTimeout<T>(label: string, p: Promise<T>, ms: number): Promise<T> {
  let timer: any;
  return Promise.race([p, new Promise<T>((_, rej) => { timer = setTimeout(() => rej(new Error(`${label}: timed out after ${ms} ms`)), ms); })]).finally(() => clearTimeout(timer));
}

/** Launches headless Chromium with a fresh profile (removed by close()). */
export async function launch(): Promise<{ ctx: any; page: any; logs: string[]; close(): Promise<void> }> {
  const profile = mkdtempSync(path.join(tmpdir(), "tensorshrink-webapp-"));
  const { chromium } = await import("playwright-core");
  const ctx = await withTimeout("chromium launch", chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    acceptDownloads: true,
    viewport: { width: 1040, height: 900 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    timeout: 20_000,
  }), 25_000);
  const page = ctx.pages()[0] ?? (await ctx.newPage());
  const logs: string[] = [];
  page.on("console", (m: any) => logs.push(`console.${m.type()}: ${m.text()}`));
  page.on("pageerror", (e: any) => logs.push(`pageerror: ${e?.stack || e}`));
  return {
    ctx, page, logs,
    async close() {
      await withTimeout("chromium close", ctx.close(), 10_000).catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * Runs in the page before its scripts: records long tasks (PerformanceObserver "longtask") in
 * window.__longTasks, and replaces showSaveFilePicker (a dialog headless Chromium cannot answer) by
 * one returning a file in the origin private file system, so the page's streaming-to-file path runs
 * for real (FileSystemFileHandle.createWritable in the worker).
 */
export const PROBES = `
window.__longTasks = [];
try { new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__longTasks.push({ start: e.startTime, duration: e.duration }); }).observe({ type: "longtask", buffered: true }); } catch {}
window.showSaveFilePicker = async (o) => { const d = await navigator.storage.getDirectory(); return d.getFileHandle((o && o.suggestedName) || "out.gguf", { create: true }); };
`;

/** How a served model path behaves. */
export type ServeMode = "range" | "norange" | "nocors";

/**
 * A model server on 127.0.0.1 (another origin than the page): `range` answers Range with 206 and
 * CORS headers (Allow-Origin *, Expose-Headers Content-Range, preflight for Range); `norange` ignores
 * Range (200, whole file) with CORS; `nocors` sends no CORS headers. Files are read per request.
 */
export async function modelServer(files: Record<string, { file: string; mode: ServeMode }>): Promise<{ url: string; requests: string[]; close(): Promise<void> }> {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const name = new URL(req.url || "/", "http://x").pathname;
    requests.push(`${req.method} ${name} ${req.headers.range ?? ""}`);
    const f = files[name];
    const cors: Record<string, string> = f?.mode === "nocors" ? {} : { "access-control-allow-origin": "*", "access-control-expose-headers": "content-range, content-length", "access-control-allow-headers": "range" };
    if (req.method === "OPTIONS") { res.writeHead(204, cors).end(); return; }
    if (!f || !existsSync(f.file)) { res.writeHead(404, cors).end("not found"); return; }
    const fd = openSync(f.file, "r");
    try {
      const size = fstatSync(fd).size;
      const m = /^bytes=(\d+)-(\d+)$/.exec(String(req.headers.range ?? ""));
      if (m && f.mode !== "norange") {
        const a = Number(m[1]), b = Math.min(Number(m[2]), size - 1);
        if (a >= size || a > b) { res.writeHead(416, { ...cors, "content-range": `bytes */${size}` }).end(); return; }
        const buf = Buffer.alloc(b - a + 1);
        readSync(fd, buf, 0, buf.length, a);
        res.writeHead(206, { ...cors, "content-type": "application/octet-stream", "accept-ranges": "bytes", "content-range": `bytes ${a}-${b}/${size}` }).end(buf);
        return;
      }
      const buf = Buffer.alloc(size);
      readSync(fd, buf, 0, size, 0);
      res.writeHead(200, { ...cors, "content-type": "application/octet-stream" }).end(buf);
    } finally {
      closeSync(fd);
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as any).port;
  return {
    url: `http://127.0.0.1:${port}`, requests,
    close: () => new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections?.(); }),
  };
}

/** Waits until document.body.dataset.state is one of `states`; returns it. */
export async function waitState(page: any, states: string[], timeout = 30_000): Promise<string> {
  await page.waitForFunction((s: string[]) => s.includes(document.body.dataset.state || ""), states, { timeout });
  return page.evaluate(() => document.body.dataset.state);
}
