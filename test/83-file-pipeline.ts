// The single-threaded file pipeline (src/engine/file-units.ts): with one thread and a file sink,
// quantizeModel reads the input's rows straight into wasm memory and writes each unit from there at
// its final offset, with no worker and no JS copy. Same bytes and report as the pool and the
// in-memory path; scratch buffers survive memory growth; a truncated input is E_TRUNCATED naming the
// tensor and byte offset, with no temporary file left. Also the GGUF header's raw array copy and the
// short UTF-8 decoder the header reader uses.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { init, syntheticModel, quantizeModel, ggufModelSource, TensorshrinkError, encodeGgufHeader, ggufKV, ggufArray } from "../src/index";
import { memorySink, openFileSink, openFileSource, memorySource } from "../src/formats/source";
import { readGguf } from "../src/formats/gguf";
import { FileUnitRunner, localFs } from "../src/engine/file-units";
import { decodeShortUtf8 } from "../src/formats/utf8-short";
import { randn } from "./_util";
import { fileRun } from "./_file-run";

const one = await init({ threads: 1 });
const two = await init({ threads: 2 });
const model = syntheticModel({ nLayer: 2, nEmbd: 256, nFf: 512, nVocab: 300, nHead: 4, nHeadKv: 2 });
const dir = mkdtempSync(path.join(tmpdir(), "ts-file-pipe-"));
const input = path.join(dir, "in-f32.gguf"), inputF16 = path.join(dir, "in-f16.gguf");
await quantizeModel(one, model, await openFileSink(input), { ftype: "F32", order: "input", stats: false });
await quantizeModel(one, model, await openFileSink(inputF16), { ftype: "F16", order: "input", stats: false, pure: true });
const others = () => readdirSync(dir).filter((f) => !f.startsWith("in-")).sort();

/** Counts the engine's unit calls (the local path makes none). */
function spy(e: typeof one) {
  const n = { unit: 0, fileUnit: 0 };
  const u = e.quantizeUnit.bind(e), f = e.quantizeFileUnit.bind(e);
  e.quantizeUnit = (...a: Parameters<typeof u>) => { n.unit++; return u(...a); };
  e.quantizeFileUnit = (...a: Parameters<typeof f>) => { n.fileUnit++; return f(...a); };
  return { n, restore: () => { delete (e as any).quantizeUnit; delete (e as any).quantizeFileUnit; } };
}


test("one thread + file sink: the local path runs (no unit goes through quantizeUnit / the pool)", async () => {
  assert.ok(await localFs(), "node:fs with readSync");
  const s = spy(one);
  try {
    await fileRun(one, input, "Q8_0", path.join(dir, "spy.gguf"));
  } finally { s.restore(); }
  assert.is(s.n.unit + s.n.fileUnit, 0, `units went elsewhere: ${JSON.stringify(s.n)}`);
  // the pool path of a two-thread engine does use the workers
  const t = spy(two);
  try { await fileRun(two, input, "Q8_0", path.join(dir, "spy2.gguf")); } finally { t.restore(); }
  assert.ok(t.n.fileUnit > 0);
  assert.ok(readFileSync(path.join(dir, "spy.gguf")).equals(readFileSync(path.join(dir, "spy2.gguf"))));
  rmSync(path.join(dir, "spy.gguf")); rmSync(path.join(dir, "spy2.gguf"));
});

for (const ftype of ["Q8_0", "Q4_0", "Q5_1", "F16", "BF16", "Q4_K_M"]) {
  test(`${ftype}: local file path = pool file path = in-memory path, same SQNR report`, async () => {
    const a = path.join(dir, `a-${ftype}.gguf`), b = path.join(dir, `b-${ftype}.gguf`);
    const ra = await fileRun(one, input, ftype, a);
    const rb = await fileRun(two, input, ftype, b);
    const mem = memorySink();
    await quantizeModel(one, ggufModelSource(await readGguf(memorySource(new Uint8Array(readFileSync(input)))), one), mem, { ftype, chunkBytes: 16 * 1024 });
    const A = readFileSync(a);
    assert.ok(A.equals(readFileSync(b)), "local and pool files differ");
    assert.ok(A.equals(Buffer.from(mem.bytes())), "local file differs from the in-memory result");
    assert.is(A.length, ra.fileSize);
    assert.equal(ra.tensors.map((t) => [t.name, t.type, t.sqnrDb]), rb.tensors.map((t) => [t.name, t.type, t.sqnrDb]));
    rmSync(a); rmSync(b);
  });
}

test("rows not in a local file (syntheticModel) into a file sink on 2 threads: the calling thread and the worker each quantize units, same bytes and report as 1 thread", async () => {
  const a = path.join(dir, "syn-a.gguf"), b = path.join(dir, "syn-b.gguf");
  const ra = await quantizeModel(one, model, await openFileSink(a), { ftype: "Q4_K_M", chunkBytes: 16 * 1024 });
  const n = { local: 0, pool: 0 };
  const u = two.quantizeUnit.bind(two);
  two.quantizeUnit = (x, q, o) => { if (o.pool) n.pool++; else n.local++; return u(x, q, o); };
  let rb;
  try { rb = await quantizeModel(two, model, await openFileSink(b), { ftype: "Q4_K_M", chunkBytes: 16 * 1024, minWorkerSeconds: 0 }); } finally { delete (two as any).quantizeUnit; }
  assert.ok(n.local > 0 && n.pool > 0, JSON.stringify(n));
  assert.ok(readFileSync(a).equals(readFileSync(b)));
  assert.equal(rb.tensors.map((t) => [t.name, t.sqnrDb]), ra.tensors.map((t) => [t.name, t.sqnrDb]));
  rmSync(a); rmSync(b);
});

test("stored f16 rows are converted in wasm on the local path: same bytes as the pool", async () => {
  const a = path.join(dir, "f16-a.gguf"), b = path.join(dir, "f16-b.gguf");
  await fileRun(one, inputF16, "Q8_0", a, { allowRequantize: true });
  await fileRun(two, inputF16, "Q8_0", b, { allowRequantize: true });
  assert.ok(readFileSync(a).equals(readFileSync(b)));
  rmSync(a); rmSync(b);
});

test("FileUnitRunner: buffers regrown after the wasm memory grew give the same bytes as engine.quantize", async () => {
  const fs = (await localFs())!;
  const src = await openFileSource(input);
  const file = await readGguf(src);
  const m = ggufModelSource(file, one);
  const t = m.tensors.find((x) => x.name === "blk.0.ffn_up.weight")!;
  const r = new FileUnitRunner(one, fs);
  try {
    const cols = t.ne[0];
    const small = r.run(t.fileRows!(0, 2)!, { type: "q4_0", rows: 2, cols }, { stats: false });
    assert.ok(Buffer.from(small.bytes!).equals(Buffer.from(one.quantize(await t.readRows(0, 2), { type: "q4_0", rows: 2, cols }))));
    const before = one.memoryBytes;
    const big = one.alloc(64 << 20); // the memory grows: views taken before would be detached
    assert.ok(one.memoryBytes > before);
    one.free(big);
    const rows = t.ne[1];
    const all = r.run(t.fileRows!(0, rows)!, { type: "q5_1", rows, cols }, { stats: true });
    assert.ok(Buffer.from(all.bytes!).equals(Buffer.from(one.quantize(await t.readRows(0, rows), { type: "q5_1", rows, cols }))));
    assert.ok(all.sa > 0 && all.se > 0 && all.se < all.sa);
  } finally {
    r.close();
    await src.close?.();
  }
  assert.throws(() => r.run(t.fileRows!(0, 1)!, { type: "q8_0", rows: 1, cols: t.ne[0] }, { stats: false }), (e: unknown) => e instanceof TensorshrinkError && e.code === "E_DISPOSED");
});

test("input truncated after it was opened: E_TRUNCATED naming the tensor and byte offset, no output, no temp file", async () => {
  const cut = path.join(dir, "in-cut.gguf");
  const { copyFileSync } = await import("node:fs");
  copyFileSync(input, cut);
  const src = await openFileSource(cut);
  const out = path.join(dir, "cut-out.gguf");
  try {
    const m = ggufModelSource(await readGguf(src), one);
    const size = statSync(cut).size;
    truncateSync(cut, Math.floor(size * 0.6));
    const err = await quantizeModel(one, m, await openFileSink(out, { inputs: [src] }), { ftype: "Q8_0", order: "input" }).then(() => null, (e) => e);
    assert.ok(err instanceof TensorshrinkError, String(err));
    assert.is(err.code, "E_TRUNCATED", err.message);
    assert.ok(typeof err.details.name === "string" && err.message.includes(`tensor "${err.details.name}"`), err.message);
    assert.type(err.details.offset, "number");
    assert.ok(err.message.includes(`byte offset ${err.details.offset}`), err.message);
    assert.ok((err.details.offset as number) <= Math.floor(size * 0.6));
  } finally {
    await src.close?.();
  }
  assert.equal(others(), [], "an output or temporary file was left");
  rmSync(cut);
});

test("abort between units on the local path: E_ABORTED, no output, no temp file", async () => {
  const ac = new AbortController();
  const err = await fileRun(one, input, "Q4_0", path.join(dir, "ab.gguf"), { signal: ac.signal, onProgress: () => ac.abort() }).then(() => null, (e) => e);
  assert.ok(err instanceof TensorshrinkError && err.code === "E_ABORTED", String(err));
  assert.equal(others(), []);
});

test("GGUF header: long arrays are copied as read when unchanged, re-encoded when an item changed", async () => {
  const bytes = new Uint8Array(readFileSync(input));
  const f = await readGguf(memorySource(bytes));
  const specs = f.tensors.map((t) => ({ name: t.name, ne: t.ne, type: t.type }));
  const h = encodeGgufHeader(f.metadata, specs).header;
  assert.ok(Buffer.from(h).equals(Buffer.from(bytes.subarray(0, h.length))), "unchanged header differs from the input's");
  // the same metadata as fresh arrays (no recorded bytes) encodes to the same header
  const fresh = f.metadata.map((kv) => (typeof kv.value === "object" ? ggufKV(kv.key, kv.type, ggufArray((kv.value as any).itemType, [...(kv.value as any).items])) : kv));
  assert.ok(Buffer.from(encodeGgufHeader(fresh, specs).header).equals(Buffer.from(h)));
  // an item changed in place: re-encoded, and read back with the new value
  const tok = f.metadata.find((kv) => kv.key === "tokenizer.ggml.tokens")!;
  const items = (tok.value as any).items as string[];
  assert.ok(items.length >= 64);
  items[5] = "changé";
  const scores = f.metadata.find((kv) => kv.key === "tokenizer.ggml.scores")!;
  const sc = (scores.value as any).items as number[];
  sc[7] = Object.is(sc[7], 0.25) ? -0.5 : 0.25;
  const h2 = encodeGgufHeader(f.metadata, specs);
  const back = await readGguf(memorySource(new Uint8Array([...h2.header, ...new Uint8Array(h2.fileSize - h2.header.length)])));
  assert.is((back.kv.get("tokenizer.ggml.tokens")!.value as any).items[5], "changé");
  assert.ok(Object.is((back.kv.get("tokenizer.ggml.scores")!.value as any).items[7], sc[7]));
});

test("decodeShortUtf8 = a fatal TextDecoder on random short byte strings (valid and not)", () => {
  const td = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  const x = randn(40000, 3, 1);
  let k = 0, bad = 0;
  const samples = ["a", "é", "€", "😀", "\uFEFFx", "ŝŝ", "abc"].map((s) => new TextEncoder().encode(s));
  for (let t = 0; t < 4000; t++) {
    const len = t % 70;
    const b = new Uint8Array(len + 2);
    for (let i = 0; i < b.length; i++) { const v = Math.abs(x[k++ % x.length] * 97) | 0; b[i] = t % 3 === 0 ? v & 0x7f : v & 0xff; }
    if (t % 5 === 1 && len > 4) b.set(samples[t % samples.length].subarray(0, len - 1), 1);
    let ref: string | undefined;
    try { ref = td.decode(b.subarray(1, 1 + len)); } catch { ref = undefined; }
    const got = decodeShortUtf8(b, 1, len);
    if (len <= 64 ? got !== ref : got !== undefined) bad++;
  }
  assert.is(bad, 0);
});

test.after(() => {
  one.dispose(); two.dispose();
  rmSync(dir, { recursive: true, force: true });
});
test.run();
