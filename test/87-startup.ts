// Process start-up (bench/VS-LLAMA.md "Process start-up"): the split CLI bundle (dist/cli.js loads
// dist/cli-commands.js or dist/cli-more.js when a command runs; quantize never loads cli-more.js),
// and the GGUF reader's lazily decoded long arrays: a vocabulary read from a file is checked for
// duplicate tokens and byte tokens on its raw bytes (ByteStringIndex), with the errors the decoded
// check gives; its items decode on first read to the strings written; the writer copies the bytes of
// an untouched array and re-encodes a replaced or changed one; invalid UTF-8, an over-long string and
// a truncated vocabulary are still refused at their byte offsets.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, truncateSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { init, syntheticModel, quantizeModel, openModel, checkLlamaVocab, encodeGgufHeader, ggufKV, ggufArray, TensorshrinkError } from "../src/index";
import { openFileSink, openFileSource, memorySource } from "../src/formats/source";
import { readGguf, ggufArrayLength, ggufStringTable, type GgufArray } from "../src/formats/gguf";
import { ggufRawArrays } from "../src/formats/gguf-types";
import { ByteStringIndex } from "../src/formats/gguf-strings";
import { isWellFormedUtf8 } from "../src/formats/utf8-short";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const dir = mkdtempSync(path.join(tmpdir(), "ts-startup-"));
const engine = await init({ threads: 1 });
const model = syntheticModel({ nLayer: 1, nEmbd: 64, nFf: 128, nVocab: 400, nHead: 2, nHeadKv: 1 });
const input = path.join(dir, "in.gguf");
await quantizeModel(engine, model, await openFileSink(input), { ftype: "F32", order: "input", stats: false });
const arrOf = (kvs: readonly { key: string; value: unknown }[], k: string) => kvs.find((x) => x.key === k)!.value as GgufArray;
const tokensWritten = arrOf(model.metadata, "tokenizer.ggml.tokens").items as string[];

/** The file offset of token `id`'s bytes (after its u64 length) in a GGUF file's bytes. */
function tokenOffset(bytes: Uint8Array, id: number): number {
  const needle = Buffer.from(`\u2581t${id}`);
  const at = Buffer.from(bytes).indexOf(needle);
  assert.ok(at > 0, `token ${id} found`);
  return at;
}

async function errorOf(p: Promise<unknown>): Promise<TensorshrinkError> {
  try { await p; } catch (e) { return e as TensorshrinkError; }
  assert.unreachable("should have thrown");
  throw new Error();
}

async function readFileGguf(file: string) {
  const src = await openFileSource(file);
  try { return await readGguf(src); } finally { await src.close?.(); }
}

test("a vocabulary read from a file stays undecoded through openModel and quantizeModel; the output is the same bytes", async () => {
  const m = await openModel(input, engine);
  const tok = arrOf(m.metadata, "tokenizer.ggml.tokens");
  assert.ok(ggufStringTable(tok), "raw string table present");
  assert.is(ggufRawArrays.get(tok)!.items, null, "tokens not decoded by openModel");
  assert.is(ggufRawArrays.get(arrOf(m.metadata, "tokenizer.ggml.scores"))!.items, null, "scores not decoded");
  assert.is(ggufArrayLength(tok), 400);
  const out = path.join(dir, "q8.gguf");
  await quantizeModel(engine, m, await openFileSink(out), { ftype: "Q8_0", stats: false });
  assert.is(ggufRawArrays.get(tok)!.items, null, "tokens not decoded by quantizeModel");
  await m.close?.();
  // the same job from the in-memory model (decoded strings, encoded by the writer): identical file
  const ref = path.join(dir, "q8-ref.gguf");
  await quantizeModel(engine, model, await openFileSink(ref), { ftype: "Q8_0", stats: false });
  assert.ok(readFileSync(out).equals(readFileSync(ref)), "same bytes as from the in-memory model");
});

test("lazy items decode to what was written (strings, f32 scores, i32 types); reading them once settles a plain property", async () => {
  const g = await readFileGguf(input);
  const tok = arrOf(g.metadata, "tokenizer.ggml.tokens");
  assert.equal(tok.items, tokensWritten);
  assert.is(ggufRawArrays.get(tok)!.items!.length, 400, "snapshot taken at first read");
  assert.ok(Object.getOwnPropertyDescriptor(tok, "items")!.writable, "now a data property");
  assert.equal(arrOf(g.metadata, "tokenizer.ggml.scores").items, (arrOf(model.metadata, "tokenizer.ggml.scores").items as number[]).map(Math.fround));
  assert.equal(arrOf(g.metadata, "tokenizer.ggml.token_type").items, arrOf(model.metadata, "tokenizer.ggml.token_type").items);
  assert.equal(JSON.parse(JSON.stringify(tok)), { itemType: 8, items: tokensWritten });
});

test("the writer: raw bytes for an untouched array, re-encoded after items are replaced or changed", async () => {
  const specs = (g: Awaited<ReturnType<typeof readFileGguf>>) => g.tensors.map((t) => ({ name: t.name, ne: t.ne, type: t.type.name as "f32" }));
  const g0 = await readFileGguf(input);
  const h0 = Buffer.from(encodeGgufHeader(g0.metadata, specs(g0)).header);
  const fileHead = readFileSync(input).subarray(0, h0.length);
  assert.ok(h0.equals(fileHead), "untouched header re-encodes to the file's bytes");
  const changed = tokensWritten.slice();
  changed[300] = "\u2581x300"; // same byte length
  // replaced before any read
  const g1 = await readFileGguf(input);
  (arrOf(g1.metadata, "tokenizer.ggml.tokens") as { items: unknown[] }).items = changed;
  const h1 = Buffer.from(encodeGgufHeader(g1.metadata, specs(g1)).header);
  // changed in place after a read
  const g2 = await readFileGguf(input);
  (arrOf(g2.metadata, "tokenizer.ggml.tokens").items as string[])[300] = "\u2581x300";
  const h2 = Buffer.from(encodeGgufHeader(g2.metadata, specs(g2)).header);
  const want = Buffer.from(fileHead);
  const at = tokenOffset(want, 300);
  Buffer.from("\u2581x300").copy(want, at);
  assert.ok(h1.equals(want), "replaced items are encoded");
  assert.ok(h2.equals(want), "changed items are encoded");
});

test("a duplicate token in a file: E_FORMAT naming the token and both ids, as the decoded check says", async () => {
  const bytes = new Uint8Array(readFileSync(input));
  const at = tokenOffset(bytes, 301);
  Buffer.from("\u2581t300").copy(Buffer.from(bytes.buffer), at); // token 301 := "▁t300"
  const bad = path.join(dir, "dup.gguf");
  writeFileSync(bad, bytes);
  const e = await errorOf(openModel(bad, engine));
  assert.instance(e, TensorshrinkError);
  assert.is(e.code, "E_FORMAT");
  assert.match(e.message, /token "▁t300" is both id 300 and id 301/);
  assert.is(e.details.token, 301);
  assert.is(e.details.other, 300);
  // the decoded (Map) check on the same strings gives the same message
  const decoded = tokensWritten.slice();
  decoded[301] = "\u2581t300";
  let e2: TensorshrinkError | null = null;
  try { checkLlamaVocab({ model: "llama", tokens: decoded }, bad); } catch (x) { e2 = x as TensorshrinkError; }
  assert.ok(e2);
  assert.is(e.message, e2!.message);
});

test("a vocabulary without a byte token in a file: the same error as the decoded check", async () => {
  const bytes = new Uint8Array(readFileSync(input));
  const at = Buffer.from(bytes).indexOf(Buffer.from("<0x41>"));
  Buffer.from("<0x4G>").copy(Buffer.from(bytes.buffer), at);
  const bad = path.join(dir, "nobyte.gguf");
  writeFileSync(bad, bytes);
  const e = await errorOf(openModel(bad, engine));
  assert.is(e.code, "E_FORMAT");
  assert.match(e.message, /<0x41> is missing/);
});

test("invalid UTF-8, an over-long string and a truncated vocabulary are refused at their byte offsets", async () => {
  const bytes = new Uint8Array(readFileSync(input));
  const at = tokenOffset(bytes, 350);
  const b1 = bytes.slice();
  b1[at + 3] = 0xff; // "▁t350" -> "▁" 0xff ...
  const e1 = await errorOf(readGguf(memorySource(b1, "utf8.gguf")));
  assert.is(e1.code, "E_FORMAT");
  assert.is(e1.message, `E_FORMAT: value of tokenizer.ggml.tokens[350]: invalid UTF-8 (at byte offset ${at})`);
  assert.is(e1.details.offset, at);
  const b2 = bytes.slice();
  new DataView(b2.buffer).setUint32(at - 8, 17 << 20, true); // length 17 MiB > the 16 MiB limit
  const e2 = await errorOf(readGguf(memorySource(b2, "long.gguf")));
  assert.is(e2.code, "E_FORMAT");
  assert.is(e2.message, `E_FORMAT: value of tokenizer.ggml.tokens[350]: string length ${17 << 20} exceeds the limit of ${16 << 20} bytes (at byte offset ${at - 8})`);
  const cut = path.join(dir, "cut.gguf");
  writeFileSync(cut, bytes);
  truncateSync(cut, at + 2);
  const e3 = await errorOf(openModel(cut, engine));
  assert.is(e3.code, "E_TRUNCATED");
  assert.match(e3.message, /tokenizer\.ggml\.tokens\[350\]/);
  assert.ok(statSync(cut).size === at + 2);
});

// A vocabulary of short tokens is checked in one call over its bytes (node:buffer's isUtf8 where the
// runtime has it): it must accept exactly what a fatal TextDecoder accepts, on every hostile form.
test("short-token vocabularies: the one-call UTF-8 check accepts exactly what a fatal TextDecoder does", async () => {
  const seqs = [
    [0xc0, 0x80], [0xc1, 0xbf], [0xe0, 0x80, 0x80], [0xe0, 0x9f, 0xbf], [0xf0, 0x80, 0x80, 0x80], [0xf0, 0x8f, 0xbf, 0xbf], // overlong
    [0xed, 0xa0, 0x80], [0xed, 0xbf, 0xbf], [0xed, 0x9f, 0xbf], // surrogates; the last one below them
    [0xf4, 0x90, 0x80, 0x80], [0xf4, 0x8f, 0xbf, 0xbf], [0xf5, 0x80, 0x80, 0x80], [0xf8, 0x88, 0x80, 0x80], [0xfe], [0xff], // above U+10FFFF, bad leads
    [0xe2, 0x82], [0xf0, 0x9f, 0x98], [0xc3], [0x80], [0xbf], [0xc3, 0xa9, 0x80], // truncated, lone continuations
    [0xf0, 0x9f, 0x98, 0x80], [0xef, 0xbb, 0xbf], [0xc2, 0x80], [0xef, 0xbf, 0xbf], [0x00], [0x7f], // valid (BOM, U+FFFF, NUL)
  ];
  const toks = Array.from({ length: 100 }, (_v, i) => (i === 50 ? "aaaaaa" : `tok${i}`));
  const h = new Uint8Array(encodeGgufHeader([ggufKV("tokenizer.ggml.tokens", "arr", ggufArray("str", toks))], []).header);
  const at = Buffer.from(h).indexOf(Buffer.from("aaaaaa"));
  const fatal = new TextDecoder("utf-8", { fatal: true });
  let rejected = 0;
  for (const q of seqs) {
    const b = h.slice();
    b.set(q, at + 1); // "a" + sequence + "a"...
    const tok = b.subarray(at, at + 6);
    let ok = true;
    try { fatal.decode(tok); } catch { ok = false; }
    assert.is(isWellFormedUtf8(b, at, 6), ok, `isWellFormedUtf8 ${q.map((x) => x.toString(16))}`);
    const e = await readGguf(memorySource(b, "seq.gguf")).then(() => null, (x) => x as TensorshrinkError);
    if (ok) assert.is(e, null, `accepted by TextDecoder: ${q.map((x) => x.toString(16))}`);
    else {
      rejected++;
      assert.ok(e, `refused by TextDecoder: ${q.map((x) => x.toString(16))}`);
      assert.is(e!.message, `E_FORMAT: value of tokenizer.ggml.tokens[50]: invalid UTF-8 (at byte offset ${at})`);
    }
  }
  assert.is(rejected, seqs.length - 8); // 8 valid ones
});

test("string arrays with a token of 128+ bytes; errors in file order (invalid UTF-8 before a later truncation)", async () => {
  const toks = Array.from({ length: 100 }, (_v, i) => (i === 70 ? "x".repeat(200) : i === 71 ? "\u00e9\u4e2d\u{1F600}" : `tok${i}`));
  const h = new Uint8Array(encodeGgufHeader([ggufKV("tokenizer.ggml.tokens", "arr", ggufArray("str", toks))], []).header);
  const g = await readGguf(memorySource(h, "long.gguf"));
  assert.equal((g.metadata[0]!.value as GgufArray).items, toks);
  const at70 = Buffer.from(h).indexOf(Buffer.from("x".repeat(200)));
  const at20 = Buffer.from(h).indexOf(Buffer.from("tok20"));
  const b1 = h.slice();
  b1[at70 + 150] = 0xc3; // a lead byte followed by 'x': invalid
  const e1 = await errorOf(readGguf(memorySource(b1, "bad70.gguf")));
  assert.is(e1.message, `E_FORMAT: value of tokenizer.ggml.tokens[70]: invalid UTF-8 (at byte offset ${at70})`);
  b1[at20 + 1] = 0x80; // and an earlier one: a lone continuation byte
  const e2 = await errorOf(readGguf(memorySource(b1, "bad20.gguf")));
  assert.is(e2.message, `E_FORMAT: value of tokenizer.ggml.tokens[20]: invalid UTF-8 (at byte offset ${at20})`);
  const e3 = await errorOf(readGguf(memorySource(b1.subarray(0, at70 + 10), "cut.gguf")));
  assert.is(e3.code, "E_FORMAT", "the invalid token 20 comes before the truncation in token 70");
  assert.match(e3.message, /tokens\[20\]: invalid UTF-8/);
  const e4 = await errorOf(readGguf(memorySource(h.subarray(0, at70 + 10), "cut2.gguf")));
  assert.is(e4.code, "E_TRUNCATED");
  assert.match(e4.message, /tokens\[70\]/);
});

test("ByteStringIndex = a Map of the decoded strings (first duplicate pair, membership), with collisions and non-ASCII", () => {
  let seed = 7;
  const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const alphabet = ["a", "b", "é", "ß", "中", "\u{1F600}", "\u2581", "<", ">", "0"];
  for (let round = 0; round < 20; round++) {
    const n = 50 + Math.floor(rnd() * 3000);
    const strs: string[] = [];
    for (let i = 0; i < n; i++) {
      const len = 1 + Math.floor(rnd() * (round % 2 ? 3 : 8)); // short strings: duplicates likely in odd rounds
      let s = "";
      for (let k = 0; k < len; k++) s += alphabet[Math.floor(rnd() * alphabet.length)];
      strs.push(s);
    }
    const enc = new TextEncoder();
    const parts = strs.map((s) => enc.encode(s));
    const total = parts.reduce((a, p) => a + p.length, 0);
    const bytes = new Uint8Array(total + 5);
    const starts = new Float64Array(n), lens = new Uint32Array(n);
    let o = 5;
    parts.forEach((p, i) => { bytes.set(p, o); starts[i] = o; lens[i] = p.length; o += p.length; });
    const idx = new ByteStringIndex({ bytes, starts, lens });
    const seen = new Map<string, number>();
    let dup: [number, number] | null = null;
    for (let i = 0; i < n && !dup; i++) { const j = seen.get(strs[i]!); if (j !== undefined) dup = [j, i]; else seen.set(strs[i]!, i); }
    assert.equal(idx.firstDuplicate, dup, `round ${round}`);
    if (!dup) {
      for (let i = 0; i < n; i += 7) { assert.is(idx.id(strs[i]!), i); assert.is(idx.text(i), strs[i]); }
      assert.not.ok(idx.has("not-there"));
      assert.not.ok(idx.has(""));
    }
  }
});

test("isWellFormedUtf8 accepts exactly what a fatal TextDecoder accepts", () => {
  const dec = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  let seed = 11;
  const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const pick = [0x41, 0x7f, 0x80, 0xbf, 0xc0, 0xc2, 0xdf, 0xe0, 0xa0, 0xed, 0x9f, 0xa0, 0xef, 0xf0, 0x90, 0xf4, 0x8f, 0x90, 0xf5, 0xff, 0xbb, 0xbf];
  let ok = 0;
  for (let t = 0; t < 20000; t++) {
    const n = 1 + Math.floor(rnd() * 6);
    const b = new Uint8Array(n + 2);
    for (let i = 0; i < b.length; i++) b[i] = rnd() < 0.7 ? pick[Math.floor(rnd() * pick.length)]! : Math.floor(rnd() * 256);
    let want = true;
    try { dec.decode(b.subarray(1, 1 + n)); } catch { want = false; }
    assert.is(isWellFormedUtf8(b, 1, n), want, `bytes ${Array.from(b.subarray(1, 1 + n), (x) => x.toString(16)).join(" ")}`);
    if (want) ok++;
  }
  assert.ok(ok > 1000 && ok < 19000, `both outcomes exercised (${ok} valid)`);
});

const dist = path.join(ROOT, "dist");
const haveDist = existsSync(path.join(dist, "cli.js")) && existsSync(path.join(dist, "cli-commands.js")) && existsSync(path.join(dist, "cli-more.js"));
if (!haveDist) console.log("SKIP split CLI part: dist/cli.js, dist/cli-commands.js or dist/cli-more.js missing (node scripts/build.mjs)");

test("split CLI: quantize and inspect run without dist/cli-more.js; the other commands load it", () => {
  if (!haveDist) return;
  const d = path.join(dir, "dist");
  cpSync(dist, d, { recursive: true, filter: (f) => !f.endsWith(".d.ts") && !f.endsWith(".d.cts") && !f.endsWith("index.cjs") });
  writeFileSync(path.join(dir, "package.json"), JSON.stringify({ type: "module" }));
  const cli = (args: string[]) => spawnSync(process.execPath, [path.join(d, "cli.js"), ...args], { encoding: "utf8", cwd: dir, timeout: 60_000 });
  // every command's module loads: a usage error comes from inside it, not a missing module
  for (const [cmd, want] of [["eval", /usage: tensorshrink eval/], ["tt", /tensorshrink tt|usage/i], ["web", /--port must be/]] as const) {
    const r = cli(cmd === "web" ? ["web", "--port", "http"] : [cmd]);
    assert.is(r.status, 1, `${cmd}: ${r.stderr}`);
    assert.match(r.stderr, want);
    assert.not.match(r.stderr, /ERR_MODULE_NOT_FOUND|Cannot find module/);
  }
  rmSync(path.join(d, "cli-more.js"));
  const out = path.join(dir, "cli-q8.gguf");
  const q = cli(["quantize", input, out, "Q8_0", "--threads", "1", "--no-stats", "--json"]);
  assert.is(q.status, 0, q.stderr);
  assert.ok(readFileSync(out).equals(readFileSync(path.join(dir, "q8-ref.gguf"))), "CLI output = the library's");
  const i = cli(["inspect", input, "--json"]);
  assert.is(i.status, 0, i.stderr);
  assert.is(JSON.parse(i.stdout).metadata["tokenizer.ggml.tokens"].length, 400);
  const h = cli(["--help"]);
  assert.is(h.status, 0);
  assert.match(h.stdout, /quantize/);
  const e = cli(["eval"]);
  assert.is(e.status, 1);
  assert.match(e.stderr, /cli-more\.js/, "eval needs the file just removed");
});

test.after(() => {
  engine.dispose();
  rmSync(dir, { recursive: true, force: true });
});
test.run();
