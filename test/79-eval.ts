// evaluate(): the engine-side evaluator. Part 1 (always): metrics against the independent float64 metrics
// of src/eval/metrics.ts on fake models, windows with BOS, --save-logits / --base-logits round trip with
// identical numbers, typed errors. Part 2 (when ../shared/models/kjv3M and the forward pass are present):
// kjv3M F32 vs its Q4_K_M on eval.txt, the engine's forward pass vs the llama.cpp backend.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import path from "node:path";
import { evaluate, evalWindows, memorySink, memorySource, EvalAccumulator, decodeText, splitDocuments, TensorshrinkError, init, quantizeModel, openFileSink, openFileSource, readGguf, LlamaModel, Tokenizer } from "../src/index";
import { openModel } from "../src/model/open";
import { evaluateGguf } from "../src/eval/llama";
import { FakeLM } from "./_fake-logits";
import { ROOT, SHARED } from "./_util";

const code = (c: string) => (e: unknown) => e instanceof TensorshrinkError && e.code === c;
async function rejects(f: () => Promise<unknown>, ok: (e: unknown) => boolean, msg = "") {
  try { await f(); } catch (e) { assert.ok(ok(e), `${msg}: ${e}`); return; }
  assert.unreachable(`${msg}: did not throw`);
}
const docs = [[5, 9, 2, 33, 7], [3], [8, 8, 8, 12, 30, 31, 2, 2, 6, 17, 22, 4, 9, 9, 10], [11, 19]];

test("windows: BOS first, long documents split into ctx-1 pieces, empty documents skipped", () => {
  const w = evalWindows([[4, 5, 6, 7, 8], [], [9]], 1, 3, 10);
  assert.equal(w.map((x) => Array.from(x)), [[1, 4, 5], [1, 6, 7], [1, 8], [1, 9]]);
  assert.throws(() => evalWindows([[4, 10]], 1, 3, 10), code("E_RANGE"));
  assert.throws(() => evalWindows([[4, -1]], 1, 3, 10), code("E_RANGE"));
});

test("metrics equal the float64 reference (EvalAccumulator) on the same logits", async () => {
  const base = new FakeLM(40), other = new FakeLM(40, 0.3, 7);
  const r = await evaluate({ base, other, documents: docs, ctx: 6 });
  const acc = new EvalAccumulator();
  let dp = 0, n = 0;
  for (const w of evalWindows(docs, 1, 6, 40)) {
    const lb = await base.forward(w), lo = await other.forward(w);
    for (let i = 0; i + 1 < w.length; i++) {
      const b = lb.subarray(i * 40, (i + 1) * 40), o = lo.subarray(i * 40, (i + 1) * 40);
      acc.add(b, w[i + 1]!, o);
      const sm = (x: Float32Array, t: number) => { let m = -Infinity; for (const v of x) m = Math.max(m, v); let s = 0; for (const v of x) s += Math.exp(v - m); return Math.exp(x[t]! - m) / s; };
      dp += sm(o, w[i + 1]!) - sm(b, w[i + 1]!); n++;
    }
  }
  const s = acc.summary();
  const near = (a: number, b: number, tol = 1e-5) => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} vs ${b}`);
  assert.is(r.tokens, s.base.tokens);
  assert.is(r.windows, 6);
  near(r.base.perplexity, s.base.perplexity); near(r.other!.perplexity, s.other!.perplexity);
  near(r.kld!.mean, s.kl!.mean); near(r.kld!.p99, s.kl!.p99); near(r.kld!.max, s.kl!.max); near(r.kld!.median, s.kl!.median);
  near(r.kld!.stderr, s.kl!.stderr, 1e-4);
  assert.is(r.top1Agreement, s.top1Agreement);
  assert.is(r.base.top1Accuracy, s.baseTop1Accuracy);
  near(r.deltaP!.mean, dp / n);
  assert.ok(r.kld!.mean > 1e-4 && r.base.perplexityStderr > 0 && r.deltaP!.rms > 0);
  // a model against itself: KLD 0, agreement 1, Δp 0
  const self = await evaluate({ base, other: new FakeLM(40), documents: docs, ctx: 6 });
  assert.ok(self.kld!.max < 1e-6 && self.top1Agreement === 1 && Math.abs(self.deltaP!.mean) < 1e-7);
});

test("saveLogits -> baseLogits round trip: identical numbers without running the base", async () => {
  const base = new FakeLM(40), other = new FakeLM(40, 0.3, 7);
  const sink = memorySink();
  const live = await evaluate({ base, other, documents: docs, ctx: 6, saveLogits: sink, modelInfo: { name: "fake" } });
  const bytes = sink.bytes();
  const positions = live.tokens;
  assert.ok(bytes.length > 4 * 40 * positions && bytes.length < 4 * 40 * positions + 4096, `file ${bytes.length} bytes`);
  const b0 = base.calls;
  const saved = await evaluate({ other, documents: docs, ctx: 6, baseLogits: memorySource(bytes, "base.logp") });
  assert.is(base.calls, b0, "base not run");
  const strip = (x: any) => ({ ...x, millis: 0 });
  assert.equal(strip(saved), strip(live));
  // ctx defaults to the saved file's
  assert.equal(strip(await evaluate({ other, documents: docs, baseLogits: memorySource(bytes, "base.logp") })), strip(live));
  // base only (what `eval base --save-logits F` does)
  const only = await evaluate({ base, documents: docs, ctx: 6 });
  assert.is(only.kld, undefined); assert.is(only.base.perplexity, live.base.perplexity);
});

test("typed errors: other vocabulary, other text, not a log-prob file, truncated, not UTF-8, no base", async () => {
  const base = new FakeLM(40), sink = memorySink();
  await evaluate({ base, documents: docs, ctx: 6, saveLogits: sink });
  const bytes = sink.bytes();
  await rejects(() => evaluate({ other: new FakeLM(41), documents: docs, baseLogits: memorySource(bytes, "b") }), code("E_SHAPE"), "vocab");
  await rejects(() => evaluate({ base, other: new FakeLM(41), documents: docs }), code("E_SHAPE"), "vocab live");
  await rejects(() => evaluate({ other: new FakeLM(40), documents: [[5, 9, 2, 33, 8], ...docs.slice(1)], baseLogits: memorySource(bytes, "b") }), (e: any) => code("E_FORMAT")(e) && /window 0 position 5: token 7 saved, 8 here/.test(e.message), "text");
  await rejects(() => evaluate({ other: new FakeLM(40), documents: docs, ctx: 5, baseLogits: memorySource(bytes, "b") }), code("E_FORMAT"), "ctx");
  await rejects(() => evaluate({ other: new FakeLM(40), documents: docs, baseLogits: memorySource(bytes.slice(0, bytes.length - 4), "b") }), code("E_TRUNCATED"), "truncated");
  await rejects(() => evaluate({ other: new FakeLM(40), documents: docs, baseLogits: memorySource(new Uint8Array(64), "b") }), code("E_FORMAT"), "magic");
  await rejects(() => evaluate({ other: new FakeLM(40), documents: docs }), code("E_RANGE"), "no base");
  await rejects(() => evaluate({ base, documents: [[3, 40]] }), code("E_RANGE"), "token out of range");
  const ac = new AbortController(); ac.abort();
  const s2 = memorySink();
  await rejects(() => evaluate({ base, documents: docs, saveLogits: s2, signal: ac.signal }), code("E_ABORTED"), "abort");
  assert.is(s2.bytesWritten, 0, "aborted sink holds nothing");
  assert.throws(() => decodeText(Uint8Array.from([0x41, 0x42, 0xc3, 0x28, 0x43]), "t.txt"), (e: any) => code("E_ENCODING")(e) && e.details.offset === 2 && /t\.txt/.test(e.message));
  assert.is(decodeText(new TextEncoder().encode("\ufeffé ok")), "é ok");
});

const K = path.join(SHARED, "models/kjv3M");
const NDOCS = 12;
if (!existsSync(path.join(K, "kjv3M.bin"))) {
  console.log(`SKIP part 2: ${K}/kjv3M.bin not found (engine vs llama.cpp on a real model)`);
} else {
  const tmp = mkdtempSync(path.join(tmpdir(), "ts-eval-"));
  const engine = await init({ threads: 2 });
  const f32 = path.join(tmp, "kjv3M-f32.gguf"), q4 = path.join(tmp, "kjv3M-Q4_K_M.gguf");
  const src = await openModel(path.join(K, "kjv3M.bin"), engine, { tokenizer: path.join(K, "tok512.bin") });
  await quantizeModel(engine, src, await openFileSink(f32), { ftype: "F32" });
  await src.close?.();
  const s2 = await openModel(f32, engine);
  await quantizeModel(engine, s2, await openFileSink(q4), { ftype: "Q4_K_M" });
  await s2.close?.();
  const docsText = splitDocuments(readFileSync(path.join(K, "eval.txt"), "utf8")).slice(0, NDOCS);
  const textFile = path.join(tmp, "eval-part.txt");
  writeFileSync(textFile, docsText.join("\n<|endoftext|>\n") + "\n");

  test(`kjv3M F32 vs Q4_K_M on ${NDOCS} eval.txt documents: engine forward pass vs the llama.cpp backend`, async () => {
    const gs = await openFileSource(f32);
    const tok = Tokenizer.fromGguf(await readGguf(gs));
    await gs.close?.();
    const base = await LlamaModel.open(engine, f32, { nCtx: 128 }), other = await LlamaModel.open(engine, q4, { nCtx: 128 });
    const mine = await evaluate({ base, other, documents: docsText.map((d) => tok.encode(d, { addBos: false })), ctx: 128 });
    base.dispose(); other.dispose();
    const ref = await evaluateGguf(f32, q4, docsText, { threads: 2, contextSize: 128 });
    const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
    console.log(`  engine:    PPL ${mine.base.perplexity.toFixed(4)} / ${mine.other!.perplexity.toFixed(4)}, KLD ${mine.kld!.mean.toFixed(6)} (p99 ${mine.kld!.p99.toFixed(5)}), top-1 ${(100 * mine.top1Agreement!).toFixed(2)}%, ${mine.tokens} tokens`);
    console.log(`  llama.cpp: PPL ${ref.base.perplexity.toFixed(4)} / ${ref.other!.perplexity.toFixed(4)}, KLD ${ref.kl!.mean.toFixed(6)} (p99 ${ref.kl!.p99.toFixed(5)}), top-1 ${(100 * ref.top1Agreement!).toFixed(2)}%`);
    assert.is(mine.tokens, ref.base.tokens, "same tokens scored (our tokenizer = llama.cpp's)");
    // measured on all 263 documents: F32 PPL 9.4559 both; Q4_K_M 9.4853 vs 9.4896, KLD 0.003637 vs 0.003774
    // (llama.cpp multiplies q4_K weights with q8_K-quantized activations and keeps K/V in f16; we do f32)
    assert.ok(rel(mine.base.perplexity, ref.base.perplexity) < 1e-3, "F32 perplexity");
    assert.ok(rel(mine.other!.perplexity, ref.other!.perplexity) < 2e-3, "Q4_K_M perplexity");
    assert.ok(rel(mine.kld!.mean, ref.kl!.mean) < 0.12, "mean KLD within 12%");
    assert.ok(Math.abs(mine.top1Agreement! - ref.top1Agreement!) < 0.01, "top-1 agreement within 1 point");
  });

  const cli = (...args: string[]) => spawnSync(process.execPath, ["--import", "tsx", path.join(ROOT, "src/cli/main.ts"), "eval", ...args, "--threads", "2"], { encoding: "utf8", cwd: ROOT, timeout: 300_000 });
  test("CLI: --save-logits then --base-logits give identical numbers; mismatched text and non-UTF-8 text are typed errors", () => {
    const few = path.join(tmp, "few.txt"), logp = path.join(tmp, "base.logp");
    writeFileSync(few, docsText.slice(0, 3).join("\n<|endoftext|>\n"));
    const a = cli(f32, q4, "--text", few, "--save-logits", logp, "--json");
    assert.is(a.status, 0, a.stderr);
    const b = cli(q4, "--base-logits", logp, "--text", few, "--json");
    assert.is(b.status, 0, b.stderr);
    const strip = (o: any) => { const { millis, baseModel, baseLogits, savedLogits, ...rest } = o; return rest; };
    const ja = JSON.parse(a.stdout), jb = JSON.parse(b.stdout);
    assert.equal(strip(ja), strip(jb));
    assert.ok(ja.kld.mean > 0 && ja.tokens > 50, String(ja.tokens));
    writeFileSync(few, docsText.slice(1, 4).join("\n<|endoftext|>\n"));
    const c = cli(q4, "--base-logits", logp, "--text", few);
    assert.is(c.status, 1);
    assert.match(c.stderr, /do not match this text/);
    writeFileSync(few, Uint8Array.from([0x41, 0xff, 0x42]));
    const d = cli(f32, q4, "--text", few);
    assert.is(d.status, 1);
    assert.match(d.stderr, /not UTF-8 text: invalid byte 0xff at byte offset 1/);
  });
  test.after(() => { rmSync(tmp, { recursive: true, force: true }); engine.dispose(); });
}

test.run();
