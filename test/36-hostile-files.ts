// Hostile files, part 1 (issue 8): the output never replaces a file the job reads (shards,
// config.json, tokenizers found by the tool itself, hard links, symlinks); FIFOs are refused instead
// of hanging; failed opens close every file handle; a file that is no model says what it is;
// duplicate keys in a safetensors header or index are refused with the key and byte offset.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFileSync } from "node:child_process";
import { existsSync, linkSync, mkdirSync, mkdtempSync, openSync, closeSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync, constants } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import v8 from "node:v8";
import vm from "node:vm";
import { init, syntheticModel, quantizeModel, openModel, TensorshrinkError } from "../src/index";
import { openFileSink } from "../src/formats/source";
import { encodeSafetensors } from "../src/formats/safetensors";
import { runQuantize } from "../src/cli/commands";
import { hfLayout } from "./_hf";
import { randn } from "./_util";

const engine = await init({ threads: 0 });
const H = { nLayer: 1, nEmbd: 64, nFf: 128, nHead: 2, nHeadKv: 1, nVocab: 300 };
const model = syntheticModel(H);
const dir = mkdtempSync(path.join(tmpdir(), "ts-hostile-files-"));
const gguf = path.join(dir, "model-f32.gguf");
await quantizeModel(engine, model, await openFileSink(gguf), { ftype: "F32" });
const hfFiles = await hfLayout(model, H);
const hfDir = path.join(dir, "hf");
mkdirSync(hfDir);
for (const [name, bytes] of Object.entries(hfFiles)) writeFileSync(path.join(hfDir, name), bytes);

/** A tiny llama2.c checkpoint (dim 8, hidden 16, 1 layer, 2 heads, vocab 262, seq 4) and its tokenizer (256 byte tokens). */
function llama2c(): { ckpt: Uint8Array; tok: Uint8Array } {
  const V = 262, cfg = [8, 16, 1, 2, 2, V, 4];
  const nw = V * 8 + 8 + 4 * 8 * 8 + 8 + 3 * 16 * 8 + 8 + 2 * 4 * 2;
  const ckpt = new Uint8Array(28 + 4 * nw);
  const dv = new DataView(ckpt.buffer);
  cfg.forEach((v, i) => dv.setInt32(i * 4, v, true));
  new Float32Array(ckpt.buffer, 28, nw).set(randn(nw, 4));
  const parts: number[] = [];
  const i32 = (v: number) => { const b = new Uint8Array(4); new DataView(b.buffer).setInt32(0, v, true); parts.push(...b); };
  const f32 = (v: number) => { const b = new Uint8Array(4); new DataView(b.buffer).setFloat32(0, v, true); parts.push(...b); };
  i32(8);
  for (let i = 0; i < V; i++) {
    const piece = i < 3 ? "" : i < 259 ? `<0x${(i - 3).toString(16).toUpperCase().padStart(2, "0")}>` : ` w${i}`;
    const s = new TextEncoder().encode(piece);
    f32(-i); i32(s.length); parts.push(...s);
  }
  return { ckpt, tok: new Uint8Array(parts) };
}
const l2cDir = path.join(dir, "l2c");
mkdirSync(l2cDir);
{
  const { ckpt, tok } = llama2c();
  writeFileSync(path.join(l2cDir, "model.bin"), ckpt);
  writeFileSync(path.join(l2cDir, "tok512.bin"), tok);
}

/** `tensorshrink quantize ...argv` in this process (stdout muted); resolves to the error or null. */
async function cli(...argv: string[]): Promise<any> {
  const write = process.stdout.write;
  process.stdout.write = (() => true) as any;
  try {
    await runQuantize({ _: argv, opts: new Map([["--threads", ["1"]]]), flags: new Set(["--json"]) });
    return null;
  } catch (e) {
    return e;
  } finally {
    process.stdout.write = write;
  }
}
const snapshot = (p: string) => ({ bytes: readFileSync(p), ino: statSync(p).ino });
const leftovers = (d: string) => readdirSync(d).filter((n) => n.includes(".tmp-"));

test("CLI quantize refuses every output that is a file the job reads (E_EXISTS naming it), and the file is untouched", async () => {
  const cases: [string, string, string[]][] = [
    ["HF shard", path.join(hfDir, "model.safetensors"), [hfDir]],
    ["HF config.json", path.join(hfDir, "config.json"), [hfDir]],
    ["HF tokenizer.json", path.join(hfDir, "tokenizer.json"), [hfDir]],
    ["HF shard through a path with ..", path.join(hfDir, "..", "hf", "model.safetensors"), [hfDir]],
    ["llama2.c auto-found tokenizer", path.join(l2cDir, "tok512.bin"), [path.join(l2cDir, "model.bin")]],
    ["the input itself", gguf, [gguf]],
  ];
  for (const [what, out, inp] of cases) {
    const before = snapshot(out);
    const e = await cli(...inp, out, "Q8_0");
    assert.ok(e instanceof TensorshrinkError, `${what}: not refused (${e})`);
    assert.is(e.code, "E_EXISTS", `${what}: ${e.message}`);
    assert.ok(e.message.includes(path.basename(out)), `${what}: the message names the file: ${e.message}`);
    const after = snapshot(out);
    assert.is(after.ino, before.ino, `${what}: replaced`);
    assert.equal(after.bytes, before.bytes, `${what}: changed`);
    assert.equal(leftovers(path.dirname(out)), [], `${what}: temporary files left`);
  }
});

test("a hard link or a symlink to an input is refused too (same device + inode)", async () => {
  const hl = path.join(dir, "hardlink.gguf");
  linkSync(gguf, hl);
  const sl = path.join(dir, "symlink-to-shard.safetensors");
  symlinkSync(path.join(hfDir, "model.safetensors"), sl);
  for (const [out, inp] of [[hl, gguf], [sl, hfDir], [path.join(l2cDir, "tok512.bin"), path.join(l2cDir, "model.bin")]] as const) {
    const before = snapshot(out);
    const e = await cli(inp, out, "Q8_0");
    assert.ok(e instanceof TensorshrinkError && e.code === "E_EXISTS", `${out}: ${e}`);
    assert.is(snapshot(out).ino, before.ino);
  }
  // the library API: openFileSink refuses a hard link of a protected input
  const e2 = await openFileSink(hl, { inputs: [gguf] }).catch((e) => e);
  assert.is(e2?.code, "E_EXISTS");
  assert.match(e2.message, /same file|hard link|inode/);
});

test("outputs beside the inputs with new names still work", async () => {
  const out = path.join(hfDir, "out-q8_0.gguf");
  assert.is(await cli(hfDir, out, "Q8_0"), null);
  assert.ok(statSync(out).size > 0);
  const m = await openModel(hfDir, engine);
  try {
    assert.ok(Array.isArray((m as any).files), "ModelSource.files lists what it reads");
    const files: string[] = (m as any).files;
    for (const n of ["config.json", "tokenizer.json", "model.safetensors"]) assert.ok(files.includes(path.join(hfDir, n)), `${n} in ${files}`);
  } finally {
    await m.close?.();
  }
});

/** Runs `fn`; if it does not settle within `ms`, opens `fifo` for writing (unblocking a reader stuck in open) and fails. */
async function notHanging<T>(what: string, fifo: string, ms: number, fn: () => Promise<T>): Promise<T | Error> {
  let timer: NodeJS.Timeout | undefined;
  const p = fn().catch((e) => e);
  const r = await Promise.race([p, new Promise<"hang">((res) => { timer = setTimeout(() => res("hang"), ms); })]);
  clearTimeout(timer);
  if (r === "hang") {
    try { closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK)); } catch { /* no reader */ }
    await p;
    assert.unreachable(`${what}: still running after ${ms} ms (blocked on the FIFO)`);
  }
  return r as T | Error;
}

test("a FIFO as the input, as tokenizer.json in a directory or as the auto-found tokenizer: E_IO naming it, no hang", async () => {
  const fifo = path.join(dir, "fifo.gguf");
  execFileSync("mkfifo", [fifo]);
  const e1 = await notHanging("FIFO input", fifo, 3000, () => openModel(fifo, engine));
  assert.ok(e1 instanceof TensorshrinkError, String(e1));
  assert.is((e1 as TensorshrinkError).code, "E_IO");
  assert.match((e1 as Error).message, /fifo\.gguf.*not a regular file/);
  const d = path.join(dir, "hf-fifo");
  mkdirSync(d);
  for (const [name, bytes] of Object.entries(hfFiles)) if (name !== "tokenizer.json") writeFileSync(path.join(d, name), bytes);
  execFileSync("mkfifo", [path.join(d, "tokenizer.json")]);
  const e2 = await notHanging("FIFO tokenizer.json", path.join(d, "tokenizer.json"), 3000, () => openModel(d, engine));
  assert.ok(e2 instanceof TensorshrinkError, String(e2));
  assert.match((e2 as Error).message, /tokenizer\.json/);
  const d2 = path.join(dir, "l2c-fifo");
  mkdirSync(d2);
  writeFileSync(path.join(d2, "model.bin"), llama2c().ckpt);
  execFileSync("mkfifo", [path.join(d2, "tok512.bin")]);
  const e3 = await notHanging("FIFO tokenizer.bin", path.join(d2, "tok512.bin"), 3000, () => openModel(path.join(d2, "model.bin"), engine));
  assert.ok(e3 instanceof TensorshrinkError, String(e3));
  assert.match((e3 as Error).message, /tok512\.bin/);
});

const fdCount = () => readdirSync("/proc/self/fd").length;
v8.setFlagsFromString("--expose-gc");
const gc = vm.runInNewContext("gc") as () => void;

test("600 failed opens (bad GGUF, bad safetensors shard, bad index, bad llama2.c): open fd count flat, no GC warnings", async () => {
  if (!existsSync("/proc/self/fd")) { console.log("  (skipped: no /proc/self/fd)"); return; }
  const bad = path.join(dir, "bad");
  mkdirSync(bad);
  const g = readFileSync(gguf);
  const badGguf = path.join(bad, "bad.gguf");
  writeFileSync(badGguf, g.subarray(0, 200)); // header cut short
  const badHf = path.join(bad, "hf-bad-shard");
  mkdirSync(badHf);
  for (const [name, bytes] of Object.entries(hfFiles)) writeFileSync(path.join(badHf, name), name === "model.safetensors" ? bytes.subarray(0, 100) : bytes);
  const badIdx = path.join(bad, "hf-bad-index");
  mkdirSync(badIdx);
  for (const [name, bytes] of Object.entries(hfFiles)) if (name !== "model.safetensors") writeFileSync(path.join(badIdx, name), bytes);
  writeFileSync(path.join(badIdx, "a.safetensors"), hfFiles["model.safetensors"]!);
  writeFileSync(path.join(badIdx, "b.safetensors"), hfFiles["model.safetensors"]!.subarray(0, 50));
  writeFileSync(path.join(badIdx, "model.safetensors.index.json"), JSON.stringify({ weight_map: { "model.embed_tokens.weight": "a.safetensors", "model.norm.weight": "b.safetensors" } }));
  const badL2c = path.join(bad, "l2c");
  mkdirSync(badL2c);
  const { ckpt, tok } = llama2c();
  writeFileSync(path.join(badL2c, "model.bin"), ckpt.subarray(0, ckpt.length - 4));
  writeFileSync(path.join(badL2c, "tokenizer.bin"), tok);
  const inputs = [badGguf, badHf, badIdx, path.join(badL2c, "model.bin")];
  const warnings: string[] = [];
  const onWarn = (w: Error) => warnings.push(w.message);
  process.on("warning", onWarn);
  try {
    for (let i = 0; i < 5; i++) await openModel(inputs[i % 4]!, engine).catch(() => undefined); // warm up lazy imports
    gc();
    const before = fdCount();
    const codes = new Set<string>();
    for (let i = 0; i < 600; i++) {
      const e = await openModel(inputs[i % 4]!, engine).then((m) => { void m.close?.(); return null; }, (e) => e);
      assert.ok(e instanceof TensorshrinkError, `case ${i} (${inputs[i % 4]}): ${e}`);
      codes.add(e.code);
    }
    const after = fdCount();
    assert.ok(after <= before + 2, `open file descriptors grew from ${before} to ${after} over 600 failed opens`);
    gc();
    await new Promise((r) => setTimeout(r, 200));
    gc();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(warnings.filter((w) => /file descriptor|FileHandle/i.test(w)), [], "no 'closing file descriptor on garbage collection'");
    assert.ok(codes.size >= 1);
  } finally {
    process.off("warning", onWarn);
  }
});

test("a file that is none of the formats says what it is; an empty .gguf is not 'a llama2.c file needing a tokenizer'", async () => {
  for (const [name, bytes] of [["empty.gguf", new Uint8Array(0)], ["three.gguf", new Uint8Array([0x47, 0x47, 0x55])], ["text.bin", new TextEncoder().encode("hello world, this is not a model at all\n")]] as const) {
    const p = path.join(dir, name);
    writeFileSync(p, bytes);
    const e = await openModel(p, engine).catch((e) => e);
    assert.ok(e instanceof TensorshrinkError, String(e));
    assert.is(e.code, "E_FORMAT", `${name}: ${e.message}`);
    assert.ok(e.message.includes(`${bytes.length} bytes`), `${name}: ${e.message}`);
    assert.match(e.message, /not a GGUF \(magic 'GGUF'\), safetensors or llama2\.c checkpoint/);
    assert.not.match(e.message, /tokenizer/);
  }
  // bytes (Blob) too
  const e2 = await openModel(new Blob([new Uint8Array(64)]), engine).catch((e) => e);
  assert.is(e2.code, "E_FORMAT");
  assert.match(e2.message, /64 bytes: not a GGUF/);
  // a safetensors file given alone is named as one, with what to pass instead
  const st = path.join(dir, "lonely.safetensors");
  writeFileSync(st, hfFiles["model.safetensors"]!);
  const e3 = await openModel(st, engine).catch((e) => e);
  assert.ok(e3 instanceof TensorshrinkError);
  assert.match(e3.message, /safetensors file.*directory/);
});

/** A safetensors file whose header text is `header` (padded), with `data` bytes after it. */
function rawSafetensors(header: string, data: Uint8Array): Uint8Array {
  let hj = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + hj.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(hj.length), true);
  out.set(hj, 8);
  out.set(data, 8 + hj.length);
  return out;
}

test("duplicate keys in a safetensors header or index: E_FORMAT naming the key and its byte offset", async () => {
  const { readSafetensors } = await import("../src/formats/safetensors");
  const { memorySource } = await import("../src/formats/source");
  const entry = (a: number, b: number) => `{"dtype":"F32","shape":[2],"data_offsets":[${a},${b}]}`;
  const header = `{"w":${entry(0, 8)},"x":${entry(8, 16)},"w":${entry(8, 16)}}`;
  const file = rawSafetensors(header, new Uint8Array(16));
  const e = await readSafetensors(memorySource(file, "dup.safetensors")).catch((e) => e);
  assert.ok(e instanceof TensorshrinkError, `accepted: ${e}`);
  assert.is(e.code, "E_FORMAT");
  assert.match(e.message, /duplicate key "w"/);
  assert.is(e.details.offset, 8 + header.lastIndexOf(`"w"`));
  // inside an entry too
  const h2 = `{"w":{"dtype":"F32","shape":[2],"dtype":"F16","data_offsets":[0,8]}}`;
  const e2 = await readSafetensors(memorySource(rawSafetensors(h2, new Uint8Array(8)))).catch((e) => e);
  assert.is(e2?.code, "E_FORMAT");
  assert.match(e2.message, /duplicate key "dtype"/);
  // a tensor listed twice in model.safetensors.index.json ("in two shards")
  const d = path.join(dir, "hf-dup-index");
  mkdirSync(d);
  for (const [name, bytes] of Object.entries(hfFiles)) if (name !== "model.safetensors") writeFileSync(path.join(d, name), bytes);
  writeFileSync(path.join(d, "a.safetensors"), hfFiles["model.safetensors"]!);
  writeFileSync(path.join(d, "b.safetensors"), hfFiles["model.safetensors"]!);
  const st = JSON.parse(new TextDecoder().decode(hfFiles["model.safetensors"]!.subarray(8, 8 + Number(new DataView(hfFiles["model.safetensors"]!.buffer, hfFiles["model.safetensors"]!.byteOffset).getBigUint64(0, true)))));
  const wm = Object.keys(st).map((k) => `"${k}":"a.safetensors"`);
  wm.push(`"model.norm.weight":"b.safetensors"`);
  writeFileSync(path.join(d, "model.safetensors.index.json"), `{"weight_map":{${wm.join(",")}}}`);
  const e3 = await openModel(d, engine).catch((e) => e);
  assert.ok(e3 instanceof TensorshrinkError, `accepted: ${e3}`);
  assert.match(e3.message, /duplicate key "model\.norm\.weight".*model\.safetensors\.index\.json|model\.safetensors\.index\.json.*duplicate key "model\.norm\.weight"/);
});

test.after(() => engine.dispose());
test.run();
