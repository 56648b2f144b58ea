// openModel's inputs: a local path, an http(s) URL read with range requests (a GGUF file, a Hugging
// Face directory when the URL ends in "/"), a Blob, a ByteSource, { dir: FileResolver }, a llama2.c
// checkpoint from a Blob with its tokenizer; the CLI with a URL. Every way in quantizes to the same
// bytes. A server without range support is a typed error, never a whole download.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { init, syntheticModel, quantizeModel, openModel, TensorshrinkError } from "../src/index";
import { memorySink, memorySource, openFileSink, filesResolver } from "../src/formats/source";
import { readGguf, readGgufTensorBytes } from "../src/formats/gguf";
import { hfLayout } from "./_hf";
import { ROOT, SHARED } from "./_util";

const engine = await init({ threads: 2 });
const H = { nLayer: 2, nEmbd: 256, nFf: 512, nHead: 4, nHeadKv: 2, nVocab: 300, seed: 4 };
const model = syntheticModel(H);
const dir = mkdtempSync(path.join(tmpdir(), "ts-inputs-"));
const gguf = path.join(dir, "model-f32.gguf");
await quantizeModel(engine, model, await openFileSink(gguf), { ftype: "F32" });
const hfDir = path.join(dir, "hf");
mkdirSync(hfDir);
for (const [name, bytes] of Object.entries(await hfLayout(model, H))) writeFileSync(path.join(hfDir, name), bytes);
const want = memorySink();
await quantizeModel(engine, model, want, { ftype: "Q4_K_M" });

// A static file server over `dir`; `ranges: false` answers 200 with the whole file (no range support).
let ranges = true, rangeRequests = 0, fullRequests = 0;
const server: Server = createServer((req, res) => {
  const name = decodeURIComponent(new URL(req.url || "/", "http://x").pathname).slice(1);
  const file = path.join(dir, name);
  if (name.includes("..") || !existsSync(file) || !statSync(file).isFile()) { res.writeHead(404).end(); return; }
  const body = readFileSync(file);
  const m = /^bytes=(\d+)-(\d+)$/.exec(String(req.headers.range ?? ""));
  if (m && ranges) {
    const a = Number(m[1]), b = Math.min(Number(m[2]), body.length - 1);
    rangeRequests++;
    res.writeHead(206, { "content-range": `bytes ${a}-${b}/${body.length}`, "content-length": String(b - a + 1) }).end(body.subarray(a, b + 1));
    return;
  }
  fullRequests++;
  res.writeHead(200, { "content-length": String(body.length) }).end(body);
});
await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
const base = `http://127.0.0.1:${(server.address() as any).port}/`;

async function q4(input: Parameters<typeof openModel>[0], opts: Parameters<typeof openModel>[2] = {}) {
  const m = await openModel(input, engine, opts);
  try {
    const s = memorySink();
    await quantizeModel(engine, m, s, { ftype: "Q4_K_M" });
    return s.bytes();
  } finally {
    await m.close?.();
  }
}

test("path, URL (range requests), Blob, ByteSource: the same Q4_K_M bytes", async () => {
  assert.equal(await q4(gguf), want.bytes());
  rangeRequests = 0;
  assert.equal(await q4(base + "model-f32.gguf"), want.bytes());
  assert.ok(rangeRequests > 20, `${rangeRequests} range requests`);
  assert.is(fullRequests, 0);
  assert.equal(await q4(new URL(base + "model-f32.gguf")), want.bytes());
  assert.equal(await q4(new Blob([readFileSync(gguf)])), want.bytes());
  assert.equal(await q4(memorySource(new Uint8Array(readFileSync(gguf)))), want.bytes());
});

/** Tensor names, types and bytes of a GGUF (the header of a converted HF model has its own tokenizer metadata). */
async function tensorsOf(bytes: Uint8Array) {
  const g = await readGguf(memorySource(bytes));
  return Promise.all(g.tensors.map(async (t) => [t.name, t.type.name, await readGgufTensorBytes(g, t)]));
}

test("Hugging Face directory: path, URL ending in /, { dir: resolver }: the original model's tensors", async () => {
  const ref = await tensorsOf(want.bytes());
  const viaPath = await q4(hfDir);
  assert.equal(await tensorsOf(viaPath), ref);
  assert.equal(await q4(base + "hf/"), viaPath);
  const files: Record<string, Uint8Array> = {};
  for (const n of ["config.json", "tokenizer.json", "model.safetensors"]) files[n] = new Uint8Array(readFileSync(path.join(hfDir, n)));
  assert.equal(await q4({ dir: filesResolver(files) }), viaPath);
});

test("a server that ignores Range: E_IO saying so, nothing downloaded whole", async () => {
  ranges = false;
  try {
    const err = await openModel(base + "model-f32.gguf", engine).catch((e) => e);
    assert.instance(err, TensorshrinkError);
    assert.is(err.code, "E_IO");
    assert.match(err.message, /ignores Range/, err.message);
  } finally {
    ranges = true;
  }
});

test("bad inputs: typed errors", async () => {
  const e1 = await openModel(123 as any, engine).catch((e) => e);
  assert.is(e1.code, "E_ARG_TYPE");
  // 64 zero bytes are no model at all (issue 8: said so, not "a llama2.c file needing a tokenizer")
  const e2 = await openModel(new Blob([new Uint8Array(64)]), engine).catch((e) => e);
  assert.is(e2.code, "E_FORMAT");
  assert.match(e2.message, /64 bytes: not a GGUF/);
  const e3 = await openModel(path.join(dir, "missing.gguf"), engine).catch((e) => e);
  assert.is(e3.code, "E_IO");
  const e4 = await openModel(base + "missing.gguf", engine).catch((e) => e);
  assert.is(e4.code, "E_IO");
});

const CKPT = path.join(SHARED, "models/stories260K/stories260K.bin"), TOK = path.join(SHARED, "models/stories260K/tok512.bin");
test("llama2.c checkpoint from a Blob with its tokenizer Blob = from the path", async () => {
  if (!existsSync(CKPT)) { console.log("  (skipped: ../shared/models/stories260K not found)"); return; }
  const a = await q4(CKPT);
  const b = await q4(new Blob([readFileSync(CKPT)]), { tokenizer: new Blob([readFileSync(TOK)]), name: "stories260K" });
  assert.equal(a, b);
});

test("CLI: quantize from a URL", async () => {
  const out = path.join(dir, "from-url.gguf");
  const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const p = spawn(process.execPath, [path.join(ROOT, "dist/cli.js"), "quantize", base + "model-f32.gguf", out, "Q4_K_M", "--json"], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    p.stderr!.on("data", (d) => (stderr += d));
    p.on("close", (code) => resolve({ code, stderr }));
  });
  assert.is(r.code, 0, r.stderr);
  assert.equal(new Uint8Array(readFileSync(out)), want.bytes());
});

test.after(async () => {
  engine.dispose();
  await new Promise((r) => server.close(r));
  server.closeAllConnections?.();
  rmSync(dir, { recursive: true, force: true });
});
test.run();
