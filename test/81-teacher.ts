// Teacher files (src/distill/teacher-file.ts, topk.ts, record.ts, cli/teacher.ts): format round trip,
// streaming / partial reads, truncated and corrupt files -> typed errors with byte offsets, top-k
// selection, and end to end on stories260K (top-1 = argmax of the engine's logits, log-probs =
// log-softmax within 1e-5, the CLI writes the same file through temp + rename).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, readdirSync, mkdtempSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { spawnSync } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { init, TensorshrinkError, memorySink, memorySource, openModel, LlamaModel, argmaxOf, Tokenizer } from "../src/index";
import { TeacherFileWriter, TeacherFileReader, encodeTeacherHeader, type TeacherRecords } from "../src/distill/teacher-file";
import { topKLogProbs } from "../src/distill/topk";
import { recordTeacher, teacherWindows } from "../src/distill/record";
import { distillLoss } from "../src/distill/loss";
import { crc32 } from "../src/distill/crc32";
import { rng, SHARED, ROOT } from "./_util";

const engine = await init();

async function expectCode(p: Promise<unknown> | (() => unknown), c: string, msg?: RegExp): Promise<TensorshrinkError> {
  try { await (typeof p === "function" ? p() : p); } catch (e) {
    assert.instance(e, TensorshrinkError, String(e));
    assert.is((e as TensorshrinkError).code, c, (e as Error).message);
    if (msg) assert.match((e as Error).message, msg);
    return e as TensorshrinkError;
  }
  assert.unreachable(`expected ${c}`);
  throw new Error("unreachable");
}

/** A file of random teacher records from random logits: n positions in windows of 10. */
async function makeFile(n: number, V = 50, k = 5, seed = 1) {
  const r = rng(seed);
  const logits = Float32Array.from({ length: n * V }, () => r.gauss() * 3);
  const tokens = Array.from({ length: n }, (_, i) => (i * 7) % V);
  const sink = memorySink();
  const w = await TeacherFileWriter.create(sink, { nVocab: V, k, modelFingerprint: "00112233445566778899aabbccddeeff", meta: { hello: "wörld" } });
  for (let s = 0; s < n; s += 10) {
    const c = Math.min(10, n - s);
    await w.appendLogits(logits.subarray(s * V, (s + c) * V), tokens.slice(s, s + c), 0);
  }
  const fin = await w.finish();
  return { bytes: sink.bytes(), logits, tokens, V, k, n, fin };
}

test("crc32 check value", () => {
  assert.is(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
});

test("topKLogProbs: descending, ties to the lower id, log-softmax in f64, rest = log of the other tokens' mass", () => {
  const row = Float32Array.from([1, 3, 3, -2, 0.5, 3, 2]);
  const ids = new Uint32Array(3), lp = new Float32Array(3);
  const rest = topKLogProbs(row, 3, ids, lp);
  assert.equal(Array.from(ids), [1, 2, 5]);
  const lse = Math.log(row.reduce((a, x) => a + Math.exp(x), 0));
  for (let i = 0; i < 3; i++) assert.ok(Math.abs(lp[i]! - (3 - lse)) < 1e-6);
  const other = [0, 3, 4, 6].reduce((a, j) => a + Math.exp(row[j]!), 0);
  assert.ok(Math.abs(rest - (Math.log(other) - lse)) < 1e-12);
  assert.is(topKLogProbs(row, 7, new Uint32Array(7), new Float32Array(7)), -Infinity);
  // a tiny rest mass is not lost to 1 - sum cancellation
  const peaked = Float32Array.from([60, 0, 0]);
  const r2 = topKLogProbs(peaked, 1, new Uint32Array(1), new Float32Array(1));
  assert.ok(Math.abs(r2 - (Math.log(2) - 60)) < 1e-9, String(r2));
  // random rows agree with a full sort
  const r = rng(5);
  for (let t = 0; t < 20; t++) {
    const x = Float32Array.from({ length: 97 }, () => Math.round(r.gauss() * 4));
    const order = Array.from({ length: 97 }, (_, i) => i).sort((a, b) => x[b]! - x[a]! || a - b);
    const id = new Uint32Array(10);
    topKLogProbs(x, 10, id, new Float32Array(10));
    assert.equal(Array.from(id), order.slice(0, 10));
  }
  const bad = row.slice(); bad[4] = NaN;
  expectCode(() => topKLogProbs(bad, 2, ids, lp), "E_NONFINITE", /token 4/);
});

test("writer -> reader round trip: header, metadata, fingerprints, records in chunks and at random offsets", async () => {
  const f = await makeFile(47);
  assert.is(f.fin.positions, 47);
  assert.is(f.bytes.length, f.fin.bytes);
  const rd = await TeacherFileReader.open(memorySource(f.bytes, "t.tskd"));
  assert.is(rd.complete, true);
  assert.is(rd.positions, 47);
  assert.is(rd.header.k, 5); assert.is(rd.header.nVocab, 50); assert.is(rd.header.recordBytes, 52);
  assert.is(rd.header.modelFingerprint, "00112233445566778899aabbccddeeff");
  assert.is(rd.header.tokenizerFingerprint, "0".repeat(32));
  assert.equal(rd.header.meta, { hello: "wörld" });
  assert.is(f.bytes.length, rd.header.headerBytes + 47 * 52 + 16);
  const all = await rd.readAll();
  const sizes: number[] = [];
  for await (const c of rd.chunks(8)) sizes.push(c.n);
  assert.equal(sizes, [8, 8, 8, 8, 8, 7]);
  for (let i = 0; i < 47; i++) {
    assert.is(all.tokens[i], f.tokens[i]);
    assert.is(all.pos[i], i % 10);
    const ids = new Uint32Array(5), lp = new Float32Array(5);
    const rest = topKLogProbs(f.logits.subarray(i * 50, (i + 1) * 50), 5, ids, lp);
    assert.equal(Array.from(all.ids.subarray(i * 5, i * 5 + 5)), Array.from(ids));
    assert.equal(Array.from(all.logprobs.subarray(i * 5, i * 5 + 5)), Array.from(lp));
    assert.is(all.rest[i], Math.fround(rest));
  }
  const mid = await rd.read(20, 5);
  assert.is(mid.start, 20);
  assert.equal(Array.from(mid.ids), Array.from(all.ids.subarray(100, 125)));
  await expectCode(rd.read(45, 5), "E_RANGE");
});

test("streaming: a file without its trailer is E_TRUNCATED (offset = end) unless partial; partial reads complete records", async () => {
  const f = await makeFile(30);
  const hb = (await TeacherFileReader.open(memorySource(f.bytes))).header.headerBytes;
  const noTrailer = f.bytes.subarray(0, f.bytes.length - 16);
  const e = await expectCode(TeacherFileReader.open(memorySource(noTrailer, "x")), "E_TRUNCATED", /no trailer/);
  assert.is(e.details.offset, noTrailer.length);
  const cut = f.bytes.subarray(0, hb + 12 * 52 + 20);
  const e2 = await expectCode(TeacherFileReader.open(memorySource(cut, "x")), "E_TRUNCATED", /20 bytes into record 12/);
  assert.is(e2.details.offset, cut.length);
  const p = await TeacherFileReader.open(memorySource(cut, "x"), { partial: true });
  assert.is(p.complete, false);
  assert.is(p.positions, 12);
  const recs = await p.readAll();
  const full = await (await TeacherFileReader.open(memorySource(f.bytes))).read(0, 12);
  assert.equal(Array.from(recs.logprobs), Array.from(full.logprobs));
  // header cut
  await expectCode(TeacherFileReader.open(memorySource(f.bytes.subarray(0, 40))), "E_TRUNCATED");
  await expectCode(TeacherFileReader.open(memorySource(f.bytes.subarray(0, hb - 3))), "E_TRUNCATED");
  // a cut trailer
  await expectCode(TeacherFileReader.open(memorySource(f.bytes.subarray(0, f.bytes.length - 5))), "E_TRUNCATED");
});

test("corrupt files: magic, version, header CRC, sizes, record fields and record CRC -> E_FORMAT with byte offsets", async () => {
  const f = await makeFile(20);
  const src = (b: Uint8Array) => memorySource(b, "c.tskd");
  const hb = (await TeacherFileReader.open(src(f.bytes))).header.headerBytes;
  const mut = (off: number, fn: (b: Uint8Array) => void) => { const b = f.bytes.slice(); fn(b); return b; };
  let e = await expectCode(TeacherFileReader.open(src(mut(0, (b) => { b[0] = 0x58; }))), "E_FORMAT", /magic/);
  assert.is(e.details.offset, 0);
  e = await expectCode(TeacherFileReader.open(src(mut(0, (b) => { b[4] = 2; }))), "E_FORMAT", /version 2/);
  assert.is(e.details.offset, 4);
  e = await expectCode(TeacherFileReader.open(src(mut(0, (b) => { b[70] ^= 1; }))), "E_FORMAT", /checksum/);
  assert.is(e.details.offset, 60);
  e = await expectCode(TeacherFileReader.open(src(mut(0, (b) => { b[20] = 53; }))), "E_FORMAT", /recordBytes/);
  // trailer count mismatch
  e = await expectCode(TeacherFileReader.open(src(mut(0, (b) => { b[b.length - 8] = 19; }))), "E_FORMAT", /counts 19 records/);
  // record 3: token id slot 1 >= V
  const rec3 = hb + 3 * 52;
  const b1 = mut(0, (b) => new DataView(b.buffer).setUint32(rec3 + 8 + 4, 50, true));
  const rd = await TeacherFileReader.open(src(b1));
  e = await expectCode(rd.read(0, 20), "E_FORMAT", /token id 50 is >= nVocab 50/);
  assert.is(e.details.offset, rec3);
  assert.is(e.details.position, 3);
  // duplicate id
  const b2 = mut(0, (b) => { const dv = new DataView(b.buffer); dv.setUint32(rec3 + 12, dv.getUint32(rec3 + 8, true), true); });
  await expectCode((await TeacherFileReader.open(src(b2))).read(3, 1), "E_FORMAT", /appears twice/);
  // NaN log-prob, ascending log-probs, unnormalized
  const b3 = mut(0, (b) => new DataView(b.buffer).setFloat32(rec3 + 8 + 20 + 4, NaN, true));
  await expectCode((await TeacherFileReader.open(src(b3))).read(3, 1), "E_NONFINITE");
  const b4 = mut(0, (b) => { const dv = new DataView(b.buffer); dv.setFloat32(rec3 + 28 + 16, dv.getFloat32(rec3 + 28, true) + 0.5, true); });
  await expectCode((await TeacherFileReader.open(src(b4))).read(3, 1), "E_FORMAT", /descending/);
  const b5 = mut(0, (b) => { const dv = new DataView(b.buffer); dv.setFloat32(rec3 + 48, -0.01, true); });
  await expectCode((await TeacherFileReader.open(src(b5))).read(3, 1), "E_FORMAT", /sum to/);
  // a change the per-record checks cannot see (input token) is caught by the record CRC at the end of chunks()
  const b6 = mut(0, (b) => { b[rec3] ^= 1; });
  const rd6 = await TeacherFileReader.open(src(b6));
  await rd6.read(0, 20);
  e = await expectCode(rd6.readAll(), "E_FORMAT", /record checksum mismatch/);
  assert.is(e.details.offset, f.bytes.length - 12);
  // pos discontinuity
  const b7 = mut(0, (b) => new DataView(b.buffer).setUint32(rec3 + 4, 7, true));
  await expectCode((await TeacherFileReader.open(src(b7))).read(0, 20), "E_FORMAT", /pos 7 after 2/);
});

test("fuzz: 3000 mutated / truncated files give a result or a TensorshrinkError, never anything else", async () => {
  const f = await makeFile(12, 20, 3, 9);
  const r = rng(99);
  let typed = 0, ok = 0;
  for (let it = 0; it < 3000; it++) {
    let b = f.bytes.slice();
    const flips = 1 + (r.next() % 4);
    for (let j = 0; j < flips; j++) b[r.next() % b.length] = r.next() & 255;
    if (r.uniform() < 0.3) b = b.subarray(0, r.next() % b.length);
    try {
      const rd = await TeacherFileReader.open(memorySource(b), { partial: r.uniform() < 0.5 });
      await rd.readAll();
      ok++;
    } catch (e) {
      assert.instance(e, TensorshrinkError, `iteration ${it}: ${String(e)}`);
      assert.ok(typeof (e as TensorshrinkError).details.offset === "number" || (e as TensorshrinkError).code === "E_RANGE", `iteration ${it}: no byte offset in ${(e as Error).message}`);
      typed++;
    }
  }
  assert.ok(typed > 2500, `typed ${typed}, ok ${ok}`);
});

test("writer: bad headers and records are typed errors; finish/abort lifecycle", async () => {
  await expectCode(() => encodeTeacherHeader({ nVocab: 10, k: 11 }), "E_RANGE");
  await expectCode(() => encodeTeacherHeader({ nVocab: 0, k: 1 }), "E_RANGE");
  await expectCode(() => encodeTeacherHeader({ nVocab: 10, k: 2, modelFingerprint: "xyz" }), "E_RANGE");
  const sink = memorySink();
  const w = await TeacherFileWriter.create(sink, { nVocab: 4, k: 2 });
  const rec = (pos: number, ids: number[], lp: number[], rest: number): Omit<TeacherRecords, "start" | "k"> => ({ n: 1, tokens: Uint32Array.of(1), pos: Uint32Array.of(pos), ids: Uint32Array.from(ids), logprobs: Float32Array.from(lp), rest: Float32Array.of(rest) });
  await w.append(rec(0, [2, 1], [Math.log(0.5), Math.log(0.3)], Math.log(0.2)));
  await expectCode(w.append(rec(5, [2, 1], [Math.log(0.5), Math.log(0.3)], Math.log(0.2))), "E_RANGE", /pos 5/);
  await expectCode(w.append(rec(1, [2, 9], [Math.log(0.5), Math.log(0.3)], Math.log(0.2))), "E_FORMAT", /token id 9/);
  await expectCode(w.append(rec(1, [2, 1], [Math.log(0.5), Math.log(0.1)], Math.log(0.2))), "E_FORMAT", /sum to/);
  await expectCode(w.appendLogits(new Float32Array(5), [0], 0), "E_SHAPE");
  assert.is(w.positions, 1);
  await w.finish();
  await expectCode(w.append(rec(1, [2, 1], [Math.log(0.5), Math.log(0.3)], Math.log(0.2))), "E_DISPOSED");
  const rd = await TeacherFileReader.open(memorySource(sink.bytes()));
  assert.is(rd.positions, 1);
  assert.equal(teacherWindows([5, 6, 7, 8, 9], 3, 1).map((w) => Array.from(w)), [[1, 5, 6], [1, 7, 8], [1, 9]]);
  assert.equal(teacherWindows([5, 6, 7, 8, 9], 3, null).map((w) => Array.from(w)), [[5, 6, 7], [8, 9]]);
});

// ---------------------------------------------------------------- stories260K end to end
const DIR = path.join(SHARED, "models/stories260K");
const CKPT = path.join(DIR, "stories260K.bin"), TOK = path.join(DIR, "tok512.bin"), TEXT = path.join(DIR, "tinystories_sample.txt");
if (!existsSync(CKPT) || !existsSync(TOK) || !existsSync(TEXT)) {
  console.log("SKIP: ../shared/models/stories260K (stories260K.bin, tok512.bin, tinystories_sample.txt) not found; model tests not run");
} else {
  test("stories260K: recorded top-1 = argmax of the engine's logits, log-probs = log-softmax within 1e-5; top-k FKL vs the same model ~ 0", async () => {
    const src = await openModel(CKPT, engine, { tokenizer: TOK });
    const model = await LlamaModel.open(engine, src, { nCtx: 64 });
    const V = model.config.nVocab, k = 16;
    const tok = Tokenizer.fromGguf({ kv: new Map(src.metadata.map((kv) => [kv.key, kv])) });
    const tokens = tok.encode(readFileSync(TEXT, "utf8").slice(0, 600), { addBos: false });
    const sink = memorySink();
    const w = await TeacherFileWriter.create(sink, { nVocab: V, k });
    const progress: number[] = [];
    const r = await recordTeacher(model, tokens, w, { ctx: 48, batch: 20, onProgress: (p) => progress.push(p.done) });
    await w.finish();
    assert.ok(r.windows >= 2, `windows ${r.windows}`);
    assert.is(progress.at(-1), r.positions);
    const rd = await TeacherFileReader.open(memorySource(sink.bytes()));
    const rec = await rd.readAll();
    assert.is(rec.n, r.positions);
    const wins = teacherWindows(tokens, 48, model.config.addBos ? model.config.bos : null);
    let at = 0, maxErr = 0;
    for (const win of wins) {
      const logits = await model.forward(win, { pos: 0 });
      for (let i = 0; i < win.length; i++, at++) {
        const row = logits.subarray(i * V, (i + 1) * V);
        assert.is(rec.tokens[at], win[i]);
        assert.is(rec.pos[at], i);
        assert.is(rec.ids[at * k], argmaxOf(row), `position ${at}`);
        let m = -Infinity; for (const x of row) m = Math.max(m, x);
        let s = 0; for (const x of row) s += Math.exp(x - m);
        const lse = m + Math.log(s);
        for (let j = 0; j < k; j++) maxErr = Math.max(maxErr, Math.abs(rec.logprobs[at * k + j]! - (row[rec.ids[at * k + j]!]! - lse)));
      }
      // the teacher file as a top-k teacher of the model itself: the loss is ~0 (f32 rounding only)
      const start = at - win.length;
      const sub = { k, ids: rec.ids.subarray(start * k, at * k), logprobs: rec.logprobs.subarray(start * k, at * k), rest: rec.rest.subarray(start, at) };
      const d = distillLoss(engine, { teacher: sub, student: logits, T: win.length, V, kind: "fkl" });
      assert.ok(d.mean < 1e-5, `self-distillation loss ${d.mean}`);
    }
    assert.ok(maxErr <= 1e-5, `log-prob error ${maxErr}`);
    model.dispose();
    await src.close?.();
  });

  test("stories260K: `tensorshrink teacher` CLI writes the file via temp + rename; bad input leaves nothing", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "ts-teacher-"));
    try {
      const text = path.join(dir, "t.txt");
      writeFileSync(text, readFileSync(TEXT, "utf8").slice(0, 300));
      const out = path.join(dir, "out.tskd");
      const cli = (args: string[]) => spawnSync(process.execPath, ["--import", "tsx", path.join(ROOT, "src/cli/main.ts"), ...args], { cwd: ROOT, encoding: "utf8" });
      const res = cli(["teacher", CKPT, "--tokenizer", TOK, "--text", text, "--top-k", "8", "--ctx", "32", "-o", out, "--json"]);
      assert.is(res.status, 0, res.stderr);
      const rep = JSON.parse(res.stdout);
      assert.is(rep.k, 8);
      const bytes = new Uint8Array(readFileSync(out));
      assert.is(bytes.length, rep.bytes);
      const rd = await TeacherFileReader.open(memorySource(bytes));
      assert.is(rd.positions, rep.positions);
      assert.is(rd.header.k, 8);
      assert.ok(/^[0-9a-f]{32}$/.test(rd.header.modelFingerprint) && rd.header.modelFingerprint !== "0".repeat(32));
      assert.ok(rd.header.tokenizerFingerprint !== "0".repeat(32));
      assert.is(rd.header.meta.ctx, 32);
      const recs = await rd.readAll();
      assert.is(recs.n, rep.positions);
      assert.equal(readdirSync(dir).sort(), ["out.tskd", "t.txt"]);
      const bad = cli(["teacher", CKPT, "--tokenizer", TOK, "--text", text, "--top-k", "9999", "-o", path.join(dir, "bad.tskd")]);
      assert.is(bad.status, 1);
      assert.match(bad.stderr, /E_RANGE/);
      const bad2 = cli(["teacher", CKPT, "--tokenizer", TOK, "--text", path.join(dir, "missing.txt"), "-o", path.join(dir, "bad.tskd")]);
      assert.is(bad2.status, 1);
      assert.match(bad2.stderr, /E_IO/);
      assert.equal(readdirSync(dir).sort(), ["out.tskd", "t.txt"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test.run();
