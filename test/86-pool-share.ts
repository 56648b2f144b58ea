// Two threads = one pool worker + the calling thread (src/model/quantize.ts, `callingThread`): with
// `threads: N`, a file sink and a local input file, quantizeModel starts N - 1 workers and runs units
// on the calling thread too (FileUnitRunner), whoever is free taking the next unit. Same bytes and
// per-tensor SQNR report as 1 thread, as N workers alone (callingThread: false) and as 3 threads. A
// unit failing on either side (a worker's own read, the calling thread's read, a NaN, a worker that
// dies) is the same typed error, leaves no output or temporary file, and no job running on a worker;
// the engine works afterwards.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { init, syntheticModel, quantizeModel, ggufModelSource, TensorshrinkError } from "../src/index";
import { openFileSink, openFileSource, memorySink } from "../src/formats/source";
import { readGguf } from "../src/formats/gguf";
import { FileUnitRunner } from "../src/engine/file-units";
import type { Engine } from "../src/engine/engine";
import { fileRun as fileRunFrom } from "./_file-run";

const one = await init({ threads: 1 });
const two = await init({ threads: 2 });
const three = await init({ threads: 3 });
const model = syntheticModel({ nLayer: 2, nEmbd: 256, nFf: 512, nVocab: 300, nHead: 4, nHeadKv: 2 });
const dir = mkdtempSync(path.join(tmpdir(), "ts-pool-share-"));
const input = path.join(dir, "in-f32.gguf");
await quantizeModel(one, model, await openFileSink(input), { ftype: "F32", order: "input", stats: false });
const outputs = () => readdirSync(dir).filter((f) => !f.startsWith("in-")).sort();
const pool = (e: Engine) => (e as any).pool as { started: number; busy: number; slots: { h: { terminate(): void } }[] } | null;
// importance vectors for every matrix (seeded)
let seed = 3;
const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
const imatrix = new Map(model.tensors.filter((t) => t.ne.length > 1).map((t) => [t.name, Float32Array.from({ length: t.ne[0] }, () => 0.05 + rnd() * 3)]));

/** Counts the units each side ran: the calling thread (FileUnitRunner.run) and the pool (engine.quantizeFileUnit). */
function sides(e: Engine) {
  const n = { local: 0, pool: 0 };
  const run = FileUnitRunner.prototype.run, fu = e.quantizeFileUnit.bind(e);
  FileUnitRunner.prototype.run = function (this: FileUnitRunner, ...a: Parameters<typeof run>) { n.local++; return run.apply(this, a); };
  e.quantizeFileUnit = (...a: Parameters<typeof fu>) => { n.pool++; return fu(...a); };
  return { n, restore: () => { FileUnitRunner.prototype.run = run; delete (e as any).quantizeFileUnit; } };
}

/** test/_file-run.ts's fileRun with this file's input by default. */
const fileRun = (e: Engine, ftype: string, out: string, opts: Record<string, unknown> = {}, from = input) => fileRunFrom(e, from, ftype, out, opts);

for (const [ftype, im] of [["Q8_0", false], ["Q4_K_M", true], ["Q6_K", false], ["F16", false]] as const) {
  test(`${ftype}${im ? " + imatrix" : ""}: 1 thread = 1 worker + calling thread = 2 workers = 2 workers + calling thread (bytes, SQNR report)`, async () => {
    const o = im ? { imatrix } : {};
    const a = path.join(dir, "a.gguf"), b = path.join(dir, "b.gguf"), c = path.join(dir, "c.gguf"), d = path.join(dir, "d.gguf");
    try {
      const ra = await fileRun(one, ftype, a, o);
      const s = sides(two);
      let rb;
      try { rb = await fileRun(two, ftype, b, o); } finally { s.restore(); }
      assert.ok(s.n.local > 0 && s.n.pool > 0, `both sides ran units: ${JSON.stringify(s.n)}`);
      const rc = await fileRun(two, ftype, c, { ...o, callingThread: false });
      const rd = await fileRun(three, ftype, d, o);
      const A = readFileSync(a);
      assert.is(A.length, ra.fileSize);
      for (const [f, r] of [[b, rb], [c, rc], [d, rd]] as const) {
        assert.ok(A.equals(readFileSync(f)), `${path.basename(f)} differs from the 1-thread file`);
        assert.equal(r.tensors.map((t) => [t.name, t.type, t.sqnrDb]), ra.tensors.map((t) => [t.name, t.type, t.sqnrDb]));
      }
      assert.ok(ra.tensors.some((t) => t.sqnrDb !== null && Number.isFinite(t.sqnrDb)));
    } finally {
      for (const f of [a, b, c, d]) rmSync(f, { force: true });
    }
  });
}

test("threads: 2 starts one worker (the calling thread is the other), callingThread: false two", async () => {
  const e = await init({ threads: 2 });
  try {
    const a = path.join(dir, "a.gguf");
    const s = sides(e);
    try { await fileRun(e, "Q4_K_M", a); } finally { s.restore(); }
    assert.is(pool(e)!.started, 1);
    assert.ok(s.n.local > 0 && s.n.pool > 0, JSON.stringify(s.n));
    await fileRun(e, "Q4_K_M", a, { callingThread: false });
    assert.is(pool(e)!.started, 2);
    rmSync(a);
  } finally { e.dispose(); }
});

/** Expect `p` to reject with `code`, then: no output or temporary file, no job left on a worker, and the engine still works. */
async function failsCleanly(e: Engine, p: Promise<unknown>, code: string, check?: (err: TensorshrinkError) => void) {
  const err = await p.then(() => null, (x) => x);
  assert.ok(err instanceof TensorshrinkError, String(err));
  assert.is(err.code, code, err.message);
  check?.(err);
  assert.equal(outputs(), [], "an output or temporary file was left");
  assert.is(pool(e)?.busy ?? 0, 0, "a job is still running on a worker");
  const ok = path.join(dir, "after.gguf"), ref = path.join(dir, "ref.gguf");
  await fileRun(e, "Q4_0", ok);
  await fileRun(one, "Q4_0", ref);
  assert.ok(readFileSync(ok).equals(readFileSync(ref)), "the engine works after the error");
  rmSync(ok); rmSync(ref);
}

test("a memory sink on 2 threads keeps the pool path: two workers take every unit, the calling thread none", async () => {
  const e = await init({ threads: 2 });
  const run = FileUnitRunner.prototype.run;
  let local = 0;
  FileUnitRunner.prototype.run = function (this: FileUnitRunner, ...a: Parameters<typeof run>) { local++; return run.apply(this, a); };
  try {
    const src = await openFileSource(input);
    const mem = memorySink();
    await quantizeModel(e, ggufModelSource(await readGguf(src), e), mem, { ftype: "Q8_0", chunkBytes: 16 * 1024 });
    await src.close?.();
    assert.is(local, 0);
    assert.is(pool(e)!.started, 2);
    const ref = path.join(dir, "ref-mem.gguf");
    await fileRun(one, "Q8_0", ref);
    assert.ok(readFileSync(ref).equals(Buffer.from(mem.bytes())));
    rmSync(ref);
  } finally { FileUnitRunner.prototype.run = run; e.dispose(); }
});

test("a read failing on the calling thread: E_TRUNCATED naming the tensor, no temp file, the worker idle", async () => {
  const run = FileUnitRunner.prototype.run;
  let k = 0;
  const size = statSync(input).size;
  // the calling thread's 3rd unit reads past the end of the input (as if the file had shrunk)
  FileUnitRunner.prototype.run = function (this: FileUnitRunner, file, ...rest) { return run.call(this, ++k === 3 ? { ...file, offset: size - 8 } : file, ...rest); };
  try {
    await failsCleanly(two, fileRun(two, "Q4_K_M", path.join(dir, "x.gguf")), "E_TRUNCATED", (err) => {
      assert.ok(typeof err.details.name === "string" && err.message.includes(`tensor "${err.details.name}"`), err.message);
      assert.ok(err.message.includes(`byte offset ${size}`), err.message);
    });
  } finally { FileUnitRunner.prototype.run = run; }
  assert.ok(k >= 3);
});

test("a read failing on the worker: E_TRUNCATED naming the tensor and rows, no temp file, the worker idle", async () => {
  const fu = two.quantizeFileUnit.bind(two);
  let k = 0;
  const size = statSync(input).size;
  two.quantizeFileUnit = (file, ...rest) => fu(++k === 3 ? { ...file, offset: size - 8 } : file, ...rest);
  try {
    await failsCleanly(two, fileRun(two, "Q8_0", path.join(dir, "y.gguf")), "E_TRUNCATED", (err) => {
      assert.match(err.message, /tensor "[^"]+" \(rows \d+ to \d+\)/);
      assert.ok(err.message.includes(`at byte offset ${size}`), err.message);
    });
  } finally { delete (two as any).quantizeFileUnit; }
  assert.ok(k >= 3);
});

test("a NaN in the input: E_NONFINITE at its row and column on 2 threads as on 1", async () => {
  const bad = path.join(dir, "in-nan.gguf");
  const bytes = new Uint8Array(readFileSync(input));
  const src = await openFileSource(input);
  const t = (await readGguf(src)).tensors.find((x) => x.name === "blk.1.ffn_down.weight")!;
  await src.close?.();
  const [row, col] = [37, 101];
  new DataView(bytes.buffer).setFloat32(t.absOffset + (row * t.ne[0] + col) * 4, NaN, true);
  writeFileSync(bad, bytes);
  for (const e of [one, two, three]) {
    await failsCleanly(e, fileRun(e, "Q4_K_M", path.join(dir, "z.gguf"), {}, bad), "E_NONFINITE", (err) => {
      assert.is(err.details.row, row); assert.is(err.details.column, col);
      assert.match(err.message, /blk\.1\.ffn_down\.weight/);
    });
  }
  rmSync(bad);
});

test("the worker dies mid-run: E_WORKER, no temp file; the next run starts a new worker", async () => {
  const run = FileUnitRunner.prototype.run;
  let k = 0;
  FileUnitRunner.prototype.run = function (this: FileUnitRunner, ...a: Parameters<typeof run>) { if (++k === 2) pool(two)!.slots[0].h.terminate(); return run.apply(this, a); };
  try {
    await failsCleanly(two, fileRun(two, "Q6_K", path.join(dir, "w.gguf")), "E_WORKER");
  } finally { FileUnitRunner.prototype.run = run; }
  assert.ok(pool(two)!.started >= 1);
});

test("abort mid-run on 2 threads: E_ABORTED, no output, no temp file, the worker idle", async () => {
  const ac = new AbortController();
  let n = 0;
  await failsCleanly(two, fileRun(two, "Q4_0", path.join(dir, "ab.gguf"), { signal: ac.signal, onProgress: () => { if (++n === 5) ac.abort(); } }), "E_ABORTED");
});

test.after(() => {
  one.dispose(); two.dispose(); three.dispose();
  rmSync(dir, { recursive: true, force: true });
});
test.run();
