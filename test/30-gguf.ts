// GGUF v3 reader/writer: byte-identical round trip of llama.cpp's sample.gguf, every value type,
// the ggml type table, file sinks, and hostile headers (code + byte offset asserted).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { TensorshrinkError } from "../src/errors";
import { GGML_TYPES, ggmlType, findGgmlType, ggmlTypeList, ggmlRowBytes } from "../src/formats/ggml-types";
import {
  readGguf, writeGguf, readGgufTensorBytes, readGgufTensorRows, encodeGgufHeader, ggufKV, ggufArray, ggufGet, ggufValueToJSON,
  GGUF_TYPE, type GgufKV, type GgufArray,
} from "../src/formats/gguf";
import { memorySource, memorySink, blobSource, openFileSource, openFileSink, openUrlSource, openSource, writableStreamSink, type ByteSource } from "../src/formats/source";
import { createServer } from "node:http";
import { FIXTURES, firstDiff } from "./_util";

const SAMPLE = path.join(FIXTURES, "gguf/sample.gguf");
const sampleBytes = new Uint8Array(readFileSync(SAMPLE));
const sampleJson = JSON.parse(readFileSync(path.join(FIXTURES, "gguf/sample.json"), "utf8"));

async function sha256(b: Uint8Array): Promise<string> {
  const h = new Uint8Array(await crypto.subtle.digest("SHA-256", new Uint8Array(b)));
  return [...h].map((x) => x.toString(16).padStart(2, "0")).join("");
}

async function roundTrip(src: ByteSource): Promise<Uint8Array> {
  const f = await readGguf(src);
  const sink = memorySink();
  await writeGguf(sink, f.metadata, f.tensors, (t) => readGgufTensorBytes(f, t.name));
  return sink.bytes();
}

test("ggml type table: ids, names, block sizes (ggml.h / ggml.c type_traits)", () => {
  const expect: [string, number, number, number][] = [
    ["f32", 0, 1, 4], ["f16", 1, 1, 2], ["q4_0", 2, 32, 18], ["q4_1", 3, 32, 20], ["q5_0", 6, 32, 22], ["q5_1", 7, 32, 24],
    ["q8_0", 8, 32, 34], ["q8_1", 9, 32, 36], ["q2_K", 10, 256, 84], ["q3_K", 11, 256, 110], ["q4_K", 12, 256, 144],
    ["q5_K", 13, 256, 176], ["q6_K", 14, 256, 210], ["q8_K", 15, 256, 292], ["iq2_xxs", 16, 256, 66], ["iq2_xs", 17, 256, 74],
    ["iq3_xxs", 18, 256, 98], ["iq1_s", 19, 256, 50], ["iq4_nl", 20, 32, 18], ["iq3_s", 21, 256, 110], ["iq2_s", 22, 256, 82],
    ["iq4_xs", 23, 256, 136], ["i8", 24, 1, 1], ["i16", 25, 1, 2], ["i32", 26, 1, 4], ["i64", 27, 1, 8], ["f64", 28, 1, 8],
    ["iq1_m", 29, 256, 56], ["bf16", 30, 1, 2], ["tq1_0", 34, 256, 54], ["tq2_0", 35, 256, 66], ["mxfp4", 39, 32, 17],
  ];
  assert.is(ggmlTypeList().length, expect.length);
  for (const [name, id, bs, bpb] of expect) {
    const t = ggmlType(id);
    assert.equal([t.name, t.id, t.blockSize, t.bytesPerBlock], [name, id, bs, bpb], name);
    assert.is(ggmlType(name.toUpperCase()), t);
    assert.is((GGML_TYPES as any)[name], t);
  }
  assert.is(ggmlType("Q4_k").name, "q4_K");
  assert.is(ggmlType("q4_K").bitsPerWeight, 4.5);
  for (const removed of [4, 5, 31, 32, 33, 36, 37, 38, 40]) assert.is(findGgmlType(removed), undefined, String(removed));
  try { ggmlType("q9_9"); assert.unreachable(); } catch (e) { assert.is((e as TensorshrinkError).code, "E_UNKNOWN_TYPE"); }
  assert.is(ggmlRowBytes("q6_K", 512), 420);
  try { ggmlRowBytes("q4_0", 33); assert.unreachable(); } catch (e) { assert.is((e as TensorshrinkError).code, "E_BLOCK"); }
});

test("sample.gguf: header matches sample.json", async () => {
  assert.is(await sha256(sampleBytes), sampleJson.file_sha256);
  const f = await readGguf(memorySource(sampleBytes));
  assert.is(f.version, 3);
  assert.is(f.alignment, 32);
  assert.is(f.tensorInfoEnd, sampleJson.tensor_info_end);
  assert.is(f.dataOffset, sampleJson.data_offset);
  assert.is(f.metadata.length, sampleJson.kv.length);
  for (let i = 0; i < f.metadata.length; i++) {
    const kv = f.metadata[i]!, j = sampleJson.kv[i];
    assert.is(kv.key, j.key);
    assert.is(kv.type, j.type_id, j.key);
    if (j.type === "arr") assert.is((kv.value as GgufArray).itemType, j.array_type_id);
    if (j.type === "f32") assert.ok(Math.abs((kv.value as number) - j.value) < 1e-6);
    else if (j.type === "arr" && j.array_type === "f32") (kv.value as GgufArray).items.forEach((v, k) => assert.ok(Math.abs((v as number) - j.value[k]) < 1e-9));
    else assert.equal(ggufValueToJSON(kv.value), j.value, j.key);
  }
  assert.is(typeof ggufGet(f, "test.u64"), "bigint");
  assert.is(ggufGet(f, "test.u64"), 18000000000000000000n);
  assert.is(ggufGet(f, "test.i64"), -9000000000000000000n);
  assert.is(f.tensors.length, 7);
  for (let i = 0; i < 7; i++) {
    const t = f.tensors[i]!, j = sampleJson.tensors[i];
    assert.equal([t.name, t.type.id, [...t.ne], t.offset, t.absOffset, t.nbytes], [j.name, j.type_id, j.ne, j.offset, j.abs_offset, j.nbytes]);
    assert.is(await sha256(await readGgufTensorBytes(f, t)), j.sha256, t.name);
  }
  // rows of the 3-D Q8_0 tensor: 12 rows of 32 values = 34 bytes each
  const g = f.tensors[5]!;
  assert.is(g.rows, 12);
  const r = await readGgufTensorRows(f, g, 3, 2);
  assert.equal(r, (await readGgufTensorBytes(f, g)).subarray(3 * 34, 5 * 34));
});

test("sample.gguf round trip is byte-identical (memory, Blob and file sources)", async () => {
  for (const src of [memorySource(sampleBytes), blobSource(new Blob([sampleBytes]), "sample.gguf"), await openFileSource(SAMPLE)]) {
    const out = await roundTrip(src);
    await src.close?.();
    assert.is(out.byteLength, sampleBytes.byteLength);
    assert.is(firstDiff(out, sampleBytes), -1, `first difference at byte ${firstDiff(out, sampleBytes)}`);
  }
  // and through a tiny read window (header crossing window boundaries)
  const f = await readGguf(memorySource(sampleBytes), { chunkBytes: 7 });
  const sink = memorySink();
  await writeGguf(sink, f.metadata, f.tensors, async function* (t: any) {
    const b = await readGgufTensorBytes(f, t.name);
    for (let o = 0; o < b.length; o += 50) yield b.subarray(o, o + 50);
  } as any);
  assert.is(firstDiff(sink.bytes(), sampleBytes), -1);
});

test("HTTP range requests: round trip over a URL, 206 verified, a server ignoring Range is refused", async () => {
  let requests = 0;
  const server = createServer((req, res) => {
    requests++;
    const m = /bytes=(\d+)-(\d+)/.exec(String(req.headers.range ?? ""));
    if (!m || req.url === "/norange.gguf") { res.writeHead(200, { "content-length": sampleBytes.length }); res.end(Buffer.from(sampleBytes)); return; }
    const a = Number(m[1]), b = Math.min(Number(m[2]), sampleBytes.length - 1);
    if (a >= sampleBytes.length) { res.writeHead(416); res.end(); return; }
    res.writeHead(206, { "content-range": `bytes ${a}-${b}/${sampleBytes.length}`, "content-length": b - a + 1 });
    res.end(Buffer.from(sampleBytes.subarray(a, b + 1)));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as any).port;
  try {
    const src = await openSource(`http://127.0.0.1:${port}/sample.gguf`);
    assert.is(src.size, sampleBytes.length);
    const out = await roundTrip(src);
    assert.is(firstDiff(out, sampleBytes), -1);
    assert.ok(requests >= 2 && requests < 40, `${requests} requests`);
    try { await src.read(4440, 16); assert.unreachable(); } catch (e) { assert.is((e as TensorshrinkError).code, "E_TRUNCATED"); }
    try { await openUrlSource(`http://127.0.0.1:${port}/norange.gguf`); assert.unreachable(); } catch (e) {
      assert.is((e as TensorshrinkError).code, "E_IO");
      assert.match((e as Error).message, /206/);
    }
  } finally {
    server.close();
  }
});

function allTypesMetadata(): GgufKV[] {
  return [
    ggufKV("general.architecture", "str", "test"),
    ggufKV("general.alignment", "u32", 64),
    ggufKV("t.u8", "u8", 255), ggufKV("t.i8", "i8", -128), ggufKV("t.u16", "u16", 65535), ggufKV("t.i16", "i16", -32768),
    ggufKV("t.u32", "u32", 4294967295), ggufKV("t.i32", "i32", -2147483648), ggufKV("t.f32", "f32", -1.5),
    ggufKV("t.bool", "bool", true), ggufKV("t.str", "str", "ünïcødé ✓ 🦙"), ggufKV("t.empty", "str", ""),
    ggufKV("t.u64", "u64", 18446744073709551615n), ggufKV("t.i64", "i64", -9223372036854775808n), ggufKV("t.f64", "f64", Math.PI),
    ggufKV("t.arr_u8", "arr", ggufArray("u8", [0, 1, 255])),
    ggufKV("t.arr_i8", "arr", ggufArray("i8", [-1, 127])),
    ggufKV("t.arr_u16", "arr", ggufArray("u16", [65535])),
    ggufKV("t.arr_i16", "arr", ggufArray("i16", [-2, 2])),
    ggufKV("t.arr_u32", "arr", ggufArray("u32", [7, 4000000000])),
    ggufKV("t.arr_f64", "arr", ggufArray("f64", [0.1, -1e300])),
    ggufKV("t.arr_bool", "arr", ggufArray("bool", [true, false, true])),
    ggufKV("t.arr_u64", "arr", ggufArray("u64", [0n, 1n << 63n])),
    ggufKV("t.arr_i64", "arr", ggufArray("i64", [-1n, 5n])),
    ggufKV("t.arr_empty", "arr", ggufArray("str", [])),
    ggufKV("t.nested", "arr", ggufArray("arr", [ggufArray("i32", [1, 2]), ggufArray("i32", []), ggufArray("i32", [-3])])),
    ggufKV("t.nested_str", "arr", ggufArray("arr", [ggufArray("str", ["a", "bc"]), ggufArray("arr", [ggufArray("u8", [9])])])),
  ];
}

test("every value type, nested arrays and alignment 64: write → read → write is stable", async () => {
  const md = allTypesMetadata();
  const tensors = [
    { name: "a", ne: [32, 3], type: "q8_0" },
    { name: "b", ne: [5], type: "f32" },
    { name: "c", ne: [256, 1, 2], type: "Q4_K" },
  ];
  const data = tensors.map((t, i) => {
    const n = t.ne.slice(1).reduce((a, b) => a * b, 1) * ggmlRowBytes(t.type, t.ne[0]!);
    return new Uint8Array(n).map((_, k) => (k * 7 + i) & 255);
  });
  const sink = memorySink();
  const layout = await writeGguf(sink, md, tensors, (_t, i) => data[i]!);
  const bytes = sink.bytes();
  assert.is(bytes.byteLength, layout.fileSize);
  assert.is(bytes.byteLength % 64, 0);
  const f = await readGguf(memorySource(bytes));
  assert.is(f.alignment, 64);
  assert.is(f.dataOffset % 64, 0);
  assert.equal(f.metadata, md);
  assert.equal(f.tensors.map((t) => [t.name, t.type.name, [...t.ne], t.offset % 64]), [["a", "q8_0", [32, 3], 0], ["b", "f32", [5], 0], ["c", "q4_K", [256, 1, 2], 0]]);
  for (let i = 0; i < 3; i++) assert.equal(await readGgufTensorBytes(f, f.tensors[i]!), data[i]);
  // padding is zeros
  const b = f.tensors[1]!;
  assert.ok(bytes.subarray(b.absOffset + b.nbytes, f.tensors[2]!.absOffset).every((x) => x === 0));
  const again = memorySink();
  await writeGguf(again, f.metadata, f.tensors, (t) => readGgufTensorBytes(f, t.name));
  assert.is(firstDiff(again.bytes(), bytes), -1);
});

test("writer rejects bad values, wrong data sizes, duplicates; nothing committed", async () => {
  const bad = (md: GgufKV[], tensors: any[] = [], code = "E_RANGE") => {
    try { encodeGgufHeader(md, tensors); assert.unreachable(); } catch (e) { assert.is((e as TensorshrinkError).code, code, (e as Error).message); }
  };
  bad([ggufKV("x", "u8", 256)]);
  bad([ggufKV("x", "i32", 1.5)]);
  bad([ggufKV("x", "u64", -1n)]);
  bad([ggufKV("x", "str", 5 as any)]);
  bad([ggufKV("x", "u32", 1), ggufKV("x", "u32", 2)]);
  bad([ggufKV("general.alignment", "u32", 24)]);
  bad([], [{ name: "t", ne: [33], type: "q4_0" }], "E_BLOCK");
  bad([], [{ name: "t", ne: [4], type: "f32" }, { name: "t", ne: [4], type: "f32" }]);
  bad([], [{ name: "x".repeat(64), ne: [4], type: "f32" }]);
  const sink = memorySink();
  let aborted = false;
  const s2 = { ...sink, write: sink.write, get bytesWritten() { return sink.bytesWritten; }, commit: sink.commit, abort: async () => { aborted = true; } };
  try {
    await writeGguf(s2, [], [{ name: "t", ne: [4], type: "f32" }], () => new Uint8Array(12));
    assert.unreachable();
  } catch (e) {
    assert.is((e as TensorshrinkError).code, "E_SHAPE");
  }
  assert.ok(aborted, "sink aborted");
});

test("file sink: temp file + rename, abort removes it, refuses to overwrite the input", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "ts-gguf-"));
  try {
    const out = path.join(dir, "out.gguf");
    const s = await openFileSink(out, { bufferBytes: 4096 });
    await s.write(new Uint8Array([1, 2, 3]));
    assert.equal(readdirSync(dir), [], "nothing on disk while the data fits the buffer");
    await s.write(new Uint8Array(5000).fill(7));
    assert.not.ok(existsSync(out), "not visible before commit");
    assert.is(readdirSync(dir).filter((n) => n.startsWith("out.gguf.tmp-")).length, 1);
    await s.commit();
    const got = readFileSync(out);
    assert.is(got.length, 5003);
    assert.equal([...got.subarray(0, 4)], [1, 2, 3, 7]);
    assert.equal(readdirSync(dir), ["out.gguf"]);
    // an empty output is still created on commit
    const e = await openFileSink(path.join(dir, "empty.gguf"));
    await e.commit();
    assert.is(readFileSync(path.join(dir, "empty.gguf")).length, 0);
    rmSync(path.join(dir, "empty.gguf"));
    // a sink opened and abandoned before any flush leaves nothing
    await openFileSink(path.join(dir, "abandoned.gguf"));
    assert.equal(readdirSync(dir), ["out.gguf"]);
    try { await openFileSink(path.join(dir, "no/such/dir/x.gguf")); assert.unreachable(); } catch (e) { assert.is((e as TensorshrinkError).code, "E_IO"); }
    const s2 = await openFileSink(path.join(dir, "b.gguf"), { bufferBytes: 4096 });
    await s2.write(new Uint8Array(5000));
    assert.is(readdirSync(dir).length, 2);
    await s2.abort();
    assert.equal(readdirSync(dir), ["out.gguf"]);
    const inp = path.join(dir, "in.gguf");
    writeFileSync(inp, sampleBytes);
    const src = await openFileSource(inp);
    for (const p of [inp, path.join(dir, ".", "in.gguf")]) {
      try { await openFileSink(p, { inputs: [src] }); assert.unreachable(); } catch (e) { assert.is((e as TensorshrinkError).code, "E_EXISTS"); }
    }
    try { await openFileSink(out, { overwrite: false }); assert.unreachable(); } catch (e) { assert.is((e as TensorshrinkError).code, "E_EXISTS"); }
    // a failing writeGguf leaves nothing behind
    const s3 = await openFileSink(path.join(dir, "fail.gguf"), { inputs: [src] });
    await assert.not.ok(await writeGguf(s3, [], [{ name: "t", ne: [8], type: "f32" }], () => { throw new Error("boom"); }).then(() => true, () => false));
    await src.close!();
    assert.equal(readdirSync(dir).sort(), ["in.gguf", "out.gguf"]);
    assert.equal(new Uint8Array(readFileSync(inp)), sampleBytes);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("WritableStream sink (browsers): the round trip streams through, abort aborts the stream", async () => {
  const chunks: Uint8Array[] = [];
  let closed = false, abortedWith: unknown = null;
  const ws = new WritableStream<Uint8Array>({ write(c) { chunks.push(c); }, close() { closed = true; }, abort(r) { abortedWith = r; } });
  const f = await readGguf(memorySource(sampleBytes));
  await writeGguf(writableStreamSink(ws), f.metadata, f.tensors, (t) => readGgufTensorBytes(f, t.name));
  assert.ok(closed);
  const all = new Uint8Array(await new Blob(chunks as BlobPart[]).arrayBuffer());
  assert.is(firstDiff(all, sampleBytes), -1);
  const ws2 = new WritableStream<Uint8Array>({ abort(r) { abortedWith = r; } });
  const ok = await writeGguf(writableStreamSink(ws2), [], [{ name: "t", ne: [4], type: "f32" }], () => new Uint8Array(3)).then(() => true, () => false);
  assert.not.ok(ok);
  assert.instance(abortedWith, TensorshrinkError);
});

// ---------------------------------------------------------------------------------------------
// Hostile headers. A tiny raw writer records the offset of the field each case lies in.

class Raw {
  b: number[] = [];
  get pos() { return this.b.length; }
  u8(v: number) { this.b.push(v & 255); return this; }
  u32(v: number) { for (let i = 0; i < 4; i++) this.b.push((v >>> (8 * i)) & 255); return this; }
  u64(v: bigint | number) { let x = BigInt.asUintN(64, BigInt(v)); for (let i = 0; i < 8; i++) { this.b.push(Number(x & 255n)); x >>= 8n; } return this; }
  bytes(a: ArrayLike<number>) { for (let i = 0; i < a.length; i++) this.b.push(a[i]!); return this; }
  str(s: string) { const e = new TextEncoder().encode(s); return this.u64(e.length).bytes(e); }
  zeros(n: number) { for (let i = 0; i < n; i++) this.b.push(0); return this; }
  pad(a = 32) { while (this.b.length % a) this.b.push(0); return this; }
  out() { return new Uint8Array(this.b); }
}

function head(nT: number | bigint, nKV: number | bigint, version = 3) {
  return new Raw().bytes([0x47, 0x47, 0x55, 0x46]).u32(version).u64(nT).u64(nKV);
}

function tensorInfo(w: Raw, name: string, ne: (number | bigint)[], type: number, off: number | bigint) {
  w.str(name).u32(ne.length);
  for (const x of ne) w.u64(x);
  return w.u32(type).u64(off);
}

async function expectErr(bytes: Uint8Array, code: string, offset: number | undefined, re?: RegExp) {
  try {
    await readGguf(memorySource(bytes));
  } catch (e) {
    assert.instance(e, TensorshrinkError, `expected TensorshrinkError, got ${e}`);
    const err = e as TensorshrinkError;
    assert.is(err.code, code, err.message);
    if (offset !== undefined) {
      assert.is(err.details.offset, offset, err.message);
      assert.match(err.message, new RegExp(`byte offset ${offset}\\b`));
    }
    if (re) assert.match(err.message, re);
    return;
  }
  assert.unreachable(`expected ${code}`);
}

const cases: [string, () => Promise<void>][] = [];
const hc = (name: string, fn: () => Promise<void>) => cases.push([name, fn]);

hc("empty file", () => expectErr(new Uint8Array(0), "E_TRUNCATED", 0));
hc("3 bytes", () => expectErr(new Uint8Array([0x47, 0x47, 0x55]), "E_TRUNCATED", 0));
hc("bad magic GGML", () => expectErr(new Raw().bytes([0x47, 0x47, 0x4d, 0x4c]).u32(3).u64(0).u64(0).out(), "E_FORMAT", 0, /magic/));
hc("version 1", () => expectErr(head(0, 0, 1).out(), "E_FORMAT", 4, /version 1/));
hc("version 4", () => expectErr(head(0, 0, 4).out(), "E_FORMAT", 4, /version 4/));
hc("big-endian version", () => expectErr(head(0, 0, 0x03000000).out(), "E_FORMAT", 4, /big-endian/));
hc("truncated in the counts", () => expectErr(head(0, 0).out().subarray(0, 12), "E_TRUNCATED", 8));
hc("tensor count 2^63", () => expectErr(head(1n << 63n, 0).out(), "E_FORMAT", 8, /tensor count/));
hc("kv count 2^40", () => expectErr(head(0, 1n << 40n).out(), "E_FORMAT", 16, /key\/value count/));
hc("kv count 1000 in a tiny file", () => expectErr(head(0, 1000).zeros(64).out(), "E_TRUNCATED", 16));
hc("tensor count 100000 in a tiny file", () => expectErr(head(100000, 0).zeros(64).out(), "E_TRUNCATED", 8));
hc("key length 2^62", () => expectErr(head(0, 1).u64(1n << 62n).zeros(16).out(), "E_FORMAT", 24, /length/));
hc("key length past EOF", () => expectErr(head(0, 1).u64(1000).bytes([97, 98]).zeros(20).out(), "E_TRUNCATED", 24));
hc("key not UTF-8", () => expectErr(head(0, 1).u64(2).bytes([0xc0, 0x80]).u32(0).u8(1).out(), "E_FORMAT", 32, /UTF-8/));
hc("duplicate key", async () => {
  const w = head(0, 2).str("a.b").u32(GGUF_TYPE.UINT8).u8(1);
  const at = w.pos;
  await expectErr(w.str("a.b").u32(GGUF_TYPE.UINT8).u8(2).out(), "E_FORMAT", at, /duplicate key/);
});
hc("unknown value type 13", async () => {
  const w = head(0, 1).str("k");
  const at = w.pos;
  await expectErr(w.u32(13).u32(0).out(), "E_FORMAT", at, /unknown value type 13/);
});
hc("bool byte 2", async () => {
  const w = head(0, 1).str("k").u32(GGUF_TYPE.BOOL);
  const at = w.pos;
  await expectErr(w.u8(2).out(), "E_FORMAT", at, /bool/);
});
hc("string value length 2^40 (would allocate a terabyte)", async () => {
  const w = head(0, 1).str("k").u32(GGUF_TYPE.STRING);
  const at = w.pos;
  await expectErr(w.u64(1n << 40n).zeros(8).out(), "E_FORMAT", at, /exceeds the limit/);
});
hc("string value not UTF-8 (lone surrogate)", async () => {
  const w = head(0, 1).str("k").u32(GGUF_TYPE.STRING);
  const at = w.pos;
  await expectErr(w.u64(3).bytes([0xed, 0xa0, 0x80]).out(), "E_FORMAT", at + 8, /UTF-8/);
});
hc("array count 2^60", async () => {
  const w = head(0, 1).str("k").u32(GGUF_TYPE.ARRAY);
  const at = w.pos;
  await expectErr(w.u32(GGUF_TYPE.UINT32).u64(1n << 60n).zeros(16).out(), "E_FORMAT", at + 4, /array of/);
});
hc("array of 1e6 u32 in a tiny file", async () => {
  const w = head(0, 1).str("k").u32(GGUF_TYPE.ARRAY);
  const at = w.pos;
  await expectErr(w.u32(GGUF_TYPE.UINT32).u64(1_000_000).zeros(40).out(), "E_TRUNCATED", at + 4);
});
hc("array of 1e6 strings in a tiny file", async () => {
  const w = head(0, 1).str("k").u32(GGUF_TYPE.ARRAY);
  const at = w.pos;
  await expectErr(w.u32(GGUF_TYPE.STRING).u64(1_000_000).zeros(400).out(), "E_TRUNCATED", at + 4);
});
hc("array element type 99", async () => {
  const w = head(0, 1).str("k").u32(GGUF_TYPE.ARRAY);
  const at = w.pos;
  await expectErr(w.u32(99).u64(1).zeros(8).out(), "E_FORMAT", at, /element type 99/);
});
hc("arrays nested 10 deep", async () => {
  const w = head(0, 1).str("k").u32(GGUF_TYPE.ARRAY);
  let at = 0;
  for (let d = 1; d <= 10; d++) { if (d === 9) at = w.pos; w.u32(GGUF_TYPE.ARRAY).u64(1); }
  await expectErr(w.u32(GGUF_TYPE.UINT8).u64(0).out(), "E_FORMAT", at, /nested/);
});
hc("general.alignment as u64", async () => {
  const w = head(0, 1).str("general.alignment");
  const at = w.pos;
  await expectErr(w.u32(GGUF_TYPE.UINT64).u64(32).out(), "E_FORMAT", at, /alignment must be a u32/);
});
hc("general.alignment 3", async () => {
  const w = head(0, 1).str("general.alignment");
  const at = w.pos;
  await expectErr(w.u32(GGUF_TYPE.UINT32).u32(3).out(), "E_FORMAT", at + 4, /power of two/);
});
hc("general.alignment 0", async () => {
  const w = head(0, 1).str("general.alignment");
  const at = w.pos;
  await expectErr(w.u32(GGUF_TYPE.UINT32).u32(0).out(), "E_FORMAT", at + 4, /power of two/);
});
hc("file ends inside a u64 value", async () => {
  const w = head(0, 1).str("k").u32(GGUF_TYPE.UINT64);
  const at = w.pos;
  await expectErr(w.bytes([1, 2, 3]).out(), "E_TRUNCATED", at);
});
hc("tensor with 0 dims", async () => {
  const w = head(1, 0).str("t");
  const at = w.pos;
  await expectErr(w.u32(0).u32(0).u64(0).zeros(64).out(), "E_FORMAT", at, /0 dimensions/);
});
hc("tensor with 5 dims", async () => {
  const w = head(1, 0).str("t");
  const at = w.pos;
  await expectErr(w.u32(5).u64(1).u64(1).u64(1).u64(1).u64(1).u32(0).u64(0).zeros(64).out(), "E_FORMAT", at, /5 dimensions/);
});
hc("negative extent", async () => {
  const w = head(1, 0).str("t").u32(2).u64(4);
  const at = w.pos;
  await expectErr(w.u64(-1n).u32(0).u64(0).zeros(64).out(), "E_FORMAT", at, /ne\[1\]/);
});
hc("element count overflow", async () => {
  const w = head(1, 0).str("t").u32(3).u64(1n << 30n).u64(1n << 20n);
  const at = w.pos;
  await expectErr(w.u64(1n << 20n).u32(0).u64(0).zeros(64).out(), "E_FORMAT", at, /overflow/);
});
hc("tensor bigger than the file", async () => {
  const w = head(1, 0).str("t");
  const at = w.pos;
  await expectErr(w.u32(2).u64(1n << 20n).u64(1n << 10n).u32(0).u64(0).pad().zeros(64).out(), "E_FORMAT", at, /more than the whole file/);
});
hc("removed ggml type id 4 (q4_2)", async () => {
  const w = head(1, 0).str("t").u32(1).u64(32);
  const at = w.pos;
  await expectErr(w.u32(4).u64(0).pad().zeros(64).out(), "E_FORMAT", at, /unknown ggml type id 4/);
});
hc("ggml type id 1000", async () => {
  const w = head(1, 0).str("t").u32(1).u64(32);
  const at = w.pos;
  await expectErr(w.u32(1000).u64(0).pad().zeros(64).out(), "E_FORMAT", at, /1000/);
});
hc("q4_0 row of 33 values", async () => {
  const w = head(1, 0).str("t").u32(2).u64(33).u64(1);
  const at = w.pos;
  await expectErr(w.u32(2).u64(0).pad().zeros(64).out(), "E_FORMAT", at, /block size/);
});
hc("tensor name of 64 bytes", () => expectErr(tensorInfo(head(1, 0), "n".repeat(64), [4], 0, 0).pad().zeros(32).out(), "E_FORMAT", 24, /at most 63/));
hc("duplicate tensor name", async () => {
  const w = tensorInfo(head(2, 0), "t", [4], 0, 0);
  const at = w.pos;
  await expectErr(tensorInfo(w, "t", [4], 0, 32).pad().zeros(64).out(), "E_FORMAT", at, /duplicate tensor name/);
});
hc("misaligned tensor offset", async () => {
  const w = head(1, 0).str("t").u32(1).u64(4).u32(0);
  const at = w.pos;
  await expectErr(w.u64(8).pad().zeros(64).out(), "E_FORMAT", at, /not a multiple of the alignment/);
});
hc("tensor offset past EOF", async () => {
  const w = head(1, 0).str("t").u32(1).u64(4).u32(0);
  const at = w.pos;
  await expectErr(w.u64(4096).pad().zeros(64).out(), "E_TRUNCATED", at, /past the end/);
});
hc("tensor offset 2^60", async () => {
  const w = head(1, 0).str("t").u32(1).u64(4).u32(0);
  const at = w.pos;
  await expectErr(w.u64(1n << 60n).pad().zeros(64).out(), "E_FORMAT", at, /out of range/);
});
hc("overlapping tensors", async () => {
  const w = tensorInfo(head(2, 0), "a", [16], 0, 0).str("b").u32(1).u64(16).u32(0);
  const at = w.pos;
  await expectErr(w.u64(32).pad().zeros(192).out(), "E_FORMAT", at, /overlaps tensor a/);
});
hc("data section missing entirely", async () => {
  const w = tensorInfo(head(1, 0), "a", [1], 0, 0);
  const end = w.pos;
  await expectErr(w.out(), "E_TRUNCATED", end);
});
hc("sample.gguf cut inside the last tensor's data", async () => {
  try { await readGguf(memorySource(sampleBytes.subarray(0, 4100))); assert.unreachable(); } catch (e) {
    const err = e as TensorshrinkError;
    assert.is(err.code, "E_TRUNCATED");
    assert.is(err.details.tensor, "output.weight");
    assert.is(err.details.offset, sampleJson.tensor_info_end - 8); // the offset field of the last tensor info
  }
});
hc("sample.gguf cut inside the metadata", () => expectErr(sampleBytes.subarray(0, 300), "E_TRUNCATED", undefined));

for (const [name, fn] of cases) test(`hostile: ${name}`, fn);

test(`hostile header count ≥ 30 (${cases.length})`, () => { assert.ok(cases.length >= 30); });

const FUZZ_N = Number(process.env.TENSORSHRINK_FUZZ_N ?? 100_000);
test(`fuzz: ${FUZZ_N} random header mutations of sample.gguf never crash, hang or throw an untyped error`, async () => {
  let s = 12345;
  const rnd = () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s; };
  let ok = 0, typed = 0;
  for (let i = 0; i < FUZZ_N; i++) {
    const b = sampleBytes.slice();
    const k = 1 + (rnd() % 4);
    for (let j = 0; j < k; j++) {
      const at = rnd() % 1152;
      b[at] = rnd() % 5 === 0 ? 0xff : rnd() & 255;
    }
    const cut = rnd() % 7 === 0 ? rnd() % b.length : b.length;
    try {
      await readGguf(memorySource(b.subarray(0, cut)));
      ok++;
    } catch (e) {
      assert.instance(e, TensorshrinkError, `case ${i}: ${e}`);
      assert.ok(["E_FORMAT", "E_TRUNCATED"].includes((e as TensorshrinkError).code), (e as Error).message);
      assert.is(typeof (e as TensorshrinkError).details.offset, "number", (e as Error).message);
      typed++;
    }
  }
  assert.is(ok + typed, FUZZ_N);
  assert.ok(typed > FUZZ_N / 3, `${typed} rejected`);
});

test.run();
