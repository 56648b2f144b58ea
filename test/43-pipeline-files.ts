// File -> file with the worker pool: workers read their f32 rows from the input file and write their
// quantized units into the temporary output file by offset. Same bytes and report as the
// single-threaded path; a file replaced, truncated or deleted under the workers is a typed error
// and leaves no output.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, truncateSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { init, syntheticModel, quantizeModel, ggufModelSource, openModel, TensorshrinkError } from "../src/index";
import { hfLayout } from "./_hf";
import { memorySink, openFileSink, openFileSource } from "../src/formats/source";
import { readGguf } from "../src/formats/gguf";

const engine = await init({ threads: 2 });
const model = syntheticModel({ nLayer: 2, nEmbd: 256, nFf: 512, nVocab: 300, nHead: 4, nHeadKv: 2 });
const dir = mkdtempSync(path.join(tmpdir(), "ts-pipe-files-"));
const input = path.join(dir, "in-f32.gguf");
{
  const s = await openFileSink(input);
  await quantizeModel(engine, model, s, { ftype: "F32", parallel: false });
}
const inputBytes = readFileSync(input);
const outputs = () => readdirSync(dir).filter((f) => f !== "in-f32.gguf").sort();

async function run(ftype: string, out: string, opts: { parallel: boolean; chunkBytes?: number; onProgress?: (p: any) => void; imatrix?: Map<string, Float32Array> }) {
  const src = await openFileSource(input);
  try {
    const m = ggufModelSource(await readGguf(src), engine);
    const sink = await openFileSink(out, { inputs: [src] });
    // minWorkerSeconds 0: the pool's worker takes units of this small model too (the tests are about it)
    return await quantizeModel(engine, m, sink, { ftype, chunkBytes: 16 * 1024, minWorkerSeconds: 0, ...opts });
  } finally {
    await src.close?.();
  }
}

test("the pool path really is the file path here (Node worker_threads)", async () => {
  assert.ok(await engine.poolReadsFiles());
  assert.is(await engine.poolSize(), 2);
});

for (const ftype of ["Q8_0", "Q4_K_M", "Q5_0"]) {
  test(`${ftype}: file -> file on the pool = single thread = memory sink, same report`, async () => {
    const a = path.join(dir, `a-${ftype}.gguf`), b = path.join(dir, `b-${ftype}.gguf`);
    const ra = await run(ftype, a, { parallel: true });
    const rb = await run(ftype, b, { parallel: false });
    const mem = memorySink();
    await quantizeModel(engine, model, mem, { ftype, parallel: false });
    const A = readFileSync(a);
    assert.ok(A.equals(readFileSync(b)), "pool and single-threaded files differ");
    assert.ok(A.equals(Buffer.from(mem.bytes())), "file differs from the in-memory result");
    assert.is(A.length, ra.fileSize);
    assert.equal(ra.tensors.map((t) => [t.name, t.type, t.sqnrDb]), rb.tensors.map((t) => [t.name, t.type, t.sqnrDb]));
    assert.ok(ra.tensors.some((t) => t.sqnrDb !== null && t.sqnrDb > 10));
    rmSync(a); rmSync(b);
  });
}

test("imatrix units on the file path: same bytes as single thread", async () => {
  const im = new Map<string, Float32Array>();
  for (const t of model.tensors) if (t.ne.length > 1) im.set(t.name, Float32Array.from({ length: t.ne[0] }, (_, j) => 0.25 + ((j * 7) % 11)));
  const a = path.join(dir, "im-a.gguf"), b = path.join(dir, "im-b.gguf");
  await run("Q4_K_M", a, { parallel: true, imatrix: im });
  await run("Q4_K_M", b, { parallel: false, imatrix: im });
  assert.ok(readFileSync(a).equals(readFileSync(b)));
  rmSync(a); rmSync(b);
});

test("stored f16 / bf16 / q8_0 GGUF and f16 / bf16 safetensors (HF directory, MoE experts too): workers read and convert them; same bytes as single thread", async () => {
  const check = async (inp: string, what: string) => {
    for (const ftype of ["Q4_K_M", "Q8_0"]) {
      const outs: Buffer[] = [];
      for (const parallel of [true, false]) {
        const o = path.join(dir, `conv-${parallel}.gguf`);
        const m = await openModel(inp, engine);
        try { await quantizeModel(engine, m, await openFileSink(o), { ftype, parallel, chunkBytes: 16 * 1024, allowRequantize: true }); } finally { await m.close?.(); }
        outs.push(readFileSync(o));
        rmSync(o);
      }
      assert.ok(outs[0].equals(outs[1]), `${what} -> ${ftype}: pool and single thread differ`);
    }
  };
  for (const ft of ["F16", "BF16", "Q8_0"]) {
    const f = path.join(dir, `in-${ft}.gguf`);
    await quantizeModel(engine, model, await openFileSink(f), { ftype: ft, parallel: false });
    await check(f, `${ft} GGUF`);
    rmSync(f);
  }
  const moe = syntheticModel({ nLayer: 1, nEmbd: 256, nFf: 256, nVocab: 300, nHead: 4, nHeadKv: 2, nExpert: 4 });
  for (const dtype of ["F16", "BF16"] as const) {
    const hf = path.join(dir, `hf-${dtype}`);
    mkdirSync(hf);
    for (const [n, b] of Object.entries(await hfLayout(moe, { nLayer: 1, nEmbd: 256, nFf: 256, nVocab: 300, nHead: 4, nHeadKv: 2, nExpert: 4 }, undefined, dtype))) writeFileSync(path.join(hf, n), b);
    await check(hf, `${dtype} safetensors MoE`);
    rmSync(hf, { recursive: true });
  }
});

test("input replaced by another file mid-run: E_IO naming the file; no output; the new file untouched", async () => {
  const other = path.join(dir, "other.gguf");
  copyFileSync(input, other);
  const out = path.join(dir, "out.gguf");
  let swapped = false;
  const err = await run("Q8_0", out, {
    parallel: true,
    onProgress: (p) => { if (!swapped && p.tensorIndex >= 2) { swapped = true; renameSync(other, input); } },
  }).catch((e) => e);
  // the copy now sits at the input's path (same bytes), so later tests read an equal file
  assert.ok(swapped);
  assert.instance(err, TensorshrinkError);
  assert.is(err.code, "E_IO");
  assert.match(err.message, /in-f32\.gguf was replaced/);
  assert.equal(outputs(), []);
  assert.ok(readFileSync(input).equals(inputBytes));
});

test("input truncated mid-run: E_TRUNCATED with the byte offset; no output", async () => {
  const out = path.join(dir, "out.gguf");
  const cut = Math.floor(inputBytes.length * 0.6);
  let done = false;
  try {
    const err = await run("Q8_0", out, {
      parallel: true,
      onProgress: (p) => { if (!done && p.tensorIndex >= 1) { done = true; truncateSync(input, cut); } },
    }).catch((e) => e);
    assert.instance(err, TensorshrinkError);
    assert.is(err.code, "E_TRUNCATED");
    assert.is(err.details.offset, cut);
    assert.match(err.message, new RegExp(`byte offset ${cut}`));
    assert.equal(outputs(), []);
  } finally {
    // restore the input for the tests after this one
    const s = await openFileSink(input);
    await s.write(inputBytes);
    await s.commit();
  }
});

test("temporary output deleted under the workers: E_IO, nothing left", async () => {
  const out = path.join(dir, "out.gguf");
  let done = false;
  const err = await run("Q8_0", out, {
    parallel: true,
    onProgress: (p) => {
      if (done || p.tensorIndex < 1) return;
      done = true;
      for (const f of readdirSync(dir)) if (f.startsWith("out.gguf.tmp-")) unlinkSync(path.join(dir, f));
    },
  }).catch((e) => e);
  assert.ok(done);
  assert.instance(err, TensorshrinkError);
  assert.is(err.code, "E_IO");
  assert.equal(outputs(), []);
});

test("file sink: skipped bytes nobody wrote -> commit refuses (size check), nothing left", async () => {
  const out = path.join(dir, "skip.gguf");
  const sink = await openFileSink(out);
  await sink.write(new Uint8Array([1, 2, 3]));
  const tgt = await sink.target!();
  assert.ok(tgt.path.startsWith(out + ".tmp-"));
  assert.ok(tgt.ino > 0);
  await sink.skip!(1000);
  assert.is(sink.bytesWritten, 1003);
  const err = await sink.commit().catch((e) => e);
  assert.instance(err, TensorshrinkError);
  assert.is(err.code, "E_IO");
  assert.match(err.message, /has 3 bytes, 1003 were written/);
  assert.equal(outputs(), []);
});

test("file sink: positional writes by another writer land where skip says", async () => {
  const out = path.join(dir, "pos.gguf");
  const sink = await openFileSink(out);
  await sink.write(new Uint8Array([1, 2, 3]));
  const tgt = await sink.target!();
  const fs = await import("node:fs");
  const fd = fs.openSync(tgt.path, "r+");
  fs.writeSync(fd, new Uint8Array([9, 9]), 0, 2, 3);
  fs.closeSync(fd);
  await sink.skip!(2);
  await sink.write(new Uint8Array([4]));
  await sink.commit();
  assert.equal([...readFileSync(out)], [1, 2, 3, 9, 9, 4]);
  rmSync(out);
});

test.after(() => {
  engine.dispose();
  rmSync(dir, { recursive: true, force: true });
});

test.run();
