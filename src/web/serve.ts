/**
 * `tensorshrink web [--port N]`: serves the web app's static files (dist/web) on 127.0.0.1 only. No
 * other route exists: the page needs nothing from the server but its own files (models are opened
 * from disk in the browser, or fetched from their URL by the page itself).
 */
import { TensorshrinkError } from "../errors";
import { nodeBuiltin } from "../engine/node-builtin";

const TYPES: Record<string, string> = { ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".wasm": "application/wasm", ".png": "image/png" };

/** A running server: its URL and a way to stop it. */
export interface WebServer { url: string; port: number; close(): Promise<void> }

/**
 * Finds the built web app: `dir` if given, else `web/` beside the running bundle (dist/cli.js →
 * dist/web), else `dist/web` from the package root when running from source.
 * @throws TensorshrinkError `E_IO` when no built app (index.html) is found.
 */
export async function webRoot(dir?: string): Promise<string> {
  const fs = await nodeBuiltin<typeof import("node:fs")>("node:fs");
  const path = await nodeBuiltin<typeof import("node:path")>("node:path");
  const { fileURLToPath } = await nodeBuiltin<typeof import("node:url")>("node:url");
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = dir ? [dir] : [path.join(here, "web"), path.join(here, "../../dist/web"), path.join(here, "../dist/web")];
  for (const c of candidates) if (fs.existsSync(path.join(c, "index.html"))) return path.resolve(c);
  throw new TensorshrinkError("E_IO", `the built web app was not found (looked in ${candidates.join(", ")}): run npm run build`, {});
}

/**
 * Starts the static server on 127.0.0.1:`port` (0 = any free port).
 * @throws TensorshrinkError `E_IO` when the port is taken or the app is not built.
 */
export async function serveWeb(opts: { port?: number; dir?: string } = {}): Promise<WebServer> {
  const root = await webRoot(opts.dir);
  const http = await nodeBuiltin<typeof import("node:http")>("node:http");
  const fs = await nodeBuiltin<typeof import("node:fs")>("node:fs");
  const path = await nodeBuiltin<typeof import("node:path")>("node:path");
  const files = new Map<string, string>();
  for (const n of fs.readdirSync(root)) if (TYPES[path.extname(n)]) files.set("/" + n, path.join(root, n));
  files.set("/", path.join(root, "index.html"));
  const server = http.createServer((req, res) => {
    const u = new URL(req.url || "/", "http://127.0.0.1");
    const file = files.get(u.pathname);
    if ((req.method !== "GET" && req.method !== "HEAD") || !file) { res.writeHead(404, { "content-type": "text/plain" }).end("not found"); return; }
    const body = fs.readFileSync(file);
    res.writeHead(200, { "content-type": TYPES[path.extname(file)] ?? "application/octet-stream", "content-length": body.length, "cache-control": "no-cache", "x-content-type-options": "nosniff" });
    res.end(req.method === "HEAD" ? undefined : body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e: any) => reject(new TensorshrinkError("E_IO", `cannot listen on 127.0.0.1:${opts.port ?? 0}: ${e?.message ?? e}`, { port: opts.port }, { cause: e })));
    server.listen(opts.port ?? 0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/`, port,
    close: () => new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections?.(); }),
  };
}
