// `tensorshrink imatrix` against llama.cpp's own llama-imatrix (release c392e50 in ../shared/tools) on kjv3M
// F32: same GGUF, text (calib.txt), chunking (-c 128 -b 128) and chunk count; every importance value within
// 1e-3 relative (llama.cpp: f16 KV cache, f32 sums; ours: --kv-f16 and f64 sums). Then the files are used:
// our legacy .dat by that release's llama-quantize, our GGUF imatrix by current llama.cpp's
// common_imatrix_load (the test/61 harness over node-llama-cpp's libllama), whose Q4_K_M output must be
// byte-identical to tensorshrink's quantize reading the same file. Skips (with a message) without the files.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { init, quantizeModel, readImatrix, openFileSink, openFileSource, collectStats, LlamaModel, Tokenizer, readGguf, type Imatrix } from "../src/index";
import { openModel } from "../src/model/open";
import { ROOT, SHARED } from "./_util";

const K = path.join(SHARED, "models/kjv3M"), TOOLS = path.join(SHARED, "tools/llama.cpp-c392e50");
const CHUNKS = 4, CTX = 128;
const log = (s: string) => console.log(`  ${s}`);

async function readIm(p: string) { const s = await openFileSource(p); try { return await readImatrix(s); } finally { await s.close?.(); } }
async function gguf(p: string) { const s = await openFileSource(p); try { return await readGguf(s); } finally { await s.close?.(); } }

function compare(ours: Imatrix, ref: Imatrix) {
  let worst = 0, where = "";
  for (const [name, v] of ref) {
    const o = ours.get(name);
    assert.ok(o, `ours lacks ${name}`);
    assert.is(o!.length, v.length, name);
    for (let i = 0; i < v.length; i++) { const d = Math.abs(o![i]! - v[i]!) / Math.abs(v[i]!); if (d > worst) { worst = d; where = `${name}[${i}]`; } }
  }
  assert.equal([...ours.keys()].sort(), [...ref.keys()].sort(), "same entries");
  return { worst, where };
}

if (!existsSync(path.join(K, "kjv3M.bin")) || !existsSync(path.join(TOOLS, "llama-imatrix"))) {
  console.log(`SKIP: needs ${K}/kjv3M.bin and ${TOOLS}/llama-imatrix`);
  test.run();
} else {
  const tmp = mkdtempSync(path.join(tmpdir(), "ts-imatrix-"));
  const engine = await init({ threads: 2 });
  const f32 = path.join(tmp, "kjv3M-f32.gguf");
  const src = await openModel(path.join(K, "kjv3M.bin"), engine, { tokenizer: path.join(K, "tok512.bin") });
  await quantizeModel(engine, src, await openFileSink(f32), { ftype: "F32" });
  await src.close?.();
  const calib = path.join(K, "calib.txt");

  test(`llama-imatrix vs tensorshrink imatrix (CLI): ${CHUNKS} chunks of ${CTX}, every value within 1e-3`, async () => {
    const lc = path.join(tmp, "llama.dat");
    const r = spawnSync(path.join(TOOLS, "llama-imatrix"), ["-m", f32, "-f", calib, "-o", lc, "-c", String(CTX), "-b", String(CTX), "-t", "2", "--chunks", String(CHUNKS)], { encoding: "utf8", timeout: 300_000 });
    assert.is(r.status, 0, r.stderr.slice(-2000));
    const ours = path.join(tmp, "ours.gguf");
    const c = spawnSync(process.execPath, ["--import", "tsx", path.join(ROOT, "src/cli/main.ts"), "imatrix", f32, "--text", calib, "--ctx", String(CTX), "--chunks", String(CHUNKS), "--kv-f16", "-o", ours, "--threads", "2"], { encoding: "utf8", cwd: ROOT, timeout: 300_000 });
    assert.is(c.status, 0, c.stderr + c.stdout);
    assert.match(c.stdout, /GGUF imatrix, 28 entries/);
    const ref = await readIm(lc), mine = await readIm(ours);
    assert.is(mine.chunkCount, ref.chunkCount);
    assert.is(ref.chunkCount, CHUNKS);
    assert.equal(mine.datasets, [calib]);
    const { worst, where } = compare(mine, ref);
    log(`f16 KV cache (as llama.cpp): worst relative difference ${worst.toExponential(2)} at ${where}`);
    assert.ok(worst <= 1e-3, `${worst} at ${where}`);
    // GGUF layout as current llama.cpp writes it
    const g = await gguf(ours);
    assert.is(g.kv.get("general.type")?.value, "imatrix");
    assert.is(g.kv.get("imatrix.chunk_size")?.value, CTX);
    const t = g.tensors.find((x) => x.name === "blk.0.ffn_down.weight.in_sum2")!, n = g.tensors.find((x) => x.name === "blk.0.ffn_down.weight.counts")!;
    assert.equal([t.ne, n.ne], [[768, 1], [1, 1]]);
  });

  test("f32 KV cache: still within 1e-3; our legacy .dat has llama-imatrix's layout (ncall, nval, trailer)", async () => {
    const tok = Tokenizer.fromGguf(await gguf(f32));
    let text = readFileSync(calib, "utf8");
    if (text.endsWith("\n")) text = text.slice(0, -1);
    const model = await LlamaModel.open(engine, f32, { nCtx: CTX });
    const s = await collectStats(engine, model, tok.encode(text, { addBos: true }), { ctx: CTX, chunks: CHUNKS, dataset: path.join(K, "calib.txt") });
    model.dispose();
    const ref = await readIm(path.join(tmp, "llama.dat"));
    const { worst, where } = compare(s.toImatrix(), ref);
    log(`f32 KV cache: worst relative difference ${worst.toExponential(2)} at ${where}`);
    assert.ok(worst <= 1e-3);
    const dat = s.encodeImatrix("legacy");
    const lc = readFileSync(path.join(tmp, "llama.dat"));
    // header of the first entry: i32 n_entries, i32 len, name, i32 ncall, i32 nval — same numbers
    const dv = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);
    const head = (b: Uint8Array) => { const d = dv(b); const len = d.getInt32(4, true); return { n: d.getInt32(0, true), ncall: d.getInt32(8 + len, true) }; };
    assert.equal(head(dat), head(lc));
    assert.is(dat.length, lc.length, "same size (same dataset name length, same entries)");
    const tail = (b: Uint8Array) => dv(b).getInt32(b.length - 8 - path.join(K, "calib.txt").length, true);
    assert.is(tail(dat), CHUNKS, "trailer chunk count"); assert.is(tail(lc), CHUNKS);
    const { writeFileSync } = await import("node:fs");
    writeFileSync(path.join(tmp, "ours.dat"), dat);
  });

  test("our legacy .dat is accepted by llama-quantize c392e50", () => {
    const out = path.join(tmp, "q4km-old.gguf");
    const r = spawnSync(path.join(TOOLS, "llama-quantize"), ["--imatrix", path.join(tmp, "ours.dat"), f32, out, "Q4_K_M", "2"], { encoding: "utf8", timeout: 300_000 });
    assert.is(r.status, 0, r.stderr.slice(-1500));
    assert.match(r.stdout + r.stderr, /loaded 28 importance matrix entries from .*ours\.dat computed on 4 chunks/);
    assert.ok(existsSync(out));
  });

  test("our GGUF imatrix through current llama.cpp's common_imatrix_load: Q4_K_M byte-identical to tensorshrink's", async () => {
    const req = createRequire(path.join(ROOT, "package.json"));
    const plat = `${process.platform}-${process.arch}`;
    const cands = [path.join(ROOT, "node_modules/@node-llama-cpp", plat)];
    try { cands.unshift(path.resolve(path.dirname(req.resolve(`@node-llama-cpp/${plat}`)), "..")); } catch { /* folder */ }
    const lib = cands.map((p) => path.join(p, "bins", plat)).find((d) => existsSync(path.join(d, "libllama.v0.5.0.so")) && existsSync(path.join(d, "libllama-common.so")));
    if (!lib) { log(`SKIP part: no prebuilt libllama for ${plat}`); return; }
    const exe = path.join(tmp, "llama-quantize-ref");
    const cc = spawnSync("c++", ["-std=c++17", "-O1", "-o", exe, path.join(ROOT, "test/tools/llama-quantize-ref.cpp"), `-L${lib}`, "-l:libllama.v0.5.0.so", "-l:libllama-common.so", `-Wl,-rpath,${lib}`], { encoding: "utf8" });
    if (cc.error) { log(`SKIP part: no C++ compiler (${cc.error.message})`); return; }
    assert.is(cc.status, 0, cc.stderr);
    const im = path.join(tmp, "ours.gguf");
    const a = path.join(tmp, "q4km-llama.gguf"), b = path.join(tmp, "q4km-ours.gguf");
    const r = spawnSync(exe, [f32, a, "15", "2", "--imatrix", im], { encoding: "utf8", timeout: 300_000 });
    assert.is(r.status, 0, r.stdout + r.stderr);
    const src = await openModel(f32, engine);
    await quantizeModel(engine, src, await openFileSink(b), { ftype: "Q4_K_M", imatrix: await readIm(im) });
    await src.close?.();
    assert.ok(readFileSync(a).equals(readFileSync(b)), "Q4_K_M files differ");
  });

  test.after(() => { rmSync(tmp, { recursive: true, force: true }); engine.dispose(); });
  test.run();
}
