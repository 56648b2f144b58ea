// The web app's methods (src/web/methods.ts), in Node, without a browser: the page lists exactly the
// engine's method registry and pruning methods; a job's methods and calibration are built as the CLI
// builds them, so GPTQ through them writes the CLI's bytes (test/52 checks the same in Chromium);
// bad options are E_RANGE / E_ENCODING before anything runs. Also the CLI's one progress bar
// (commands.ts stderrBar, used by quantize, imatrix and eval): the lines it draws are the ones the
// two bars drew before they were merged.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { init, quantizeModel, openModel, memorySink, openFileSink, type Engine } from "../src/index";
import { convertToGguf } from "../src/model/convert";
import type { ModelSource } from "../src/model/source";
import { BUILTIN_METHODS } from "../src/methods/pipeline";
import { PRUNE_METHODS } from "../src/prune/methods";
import { Tokenizer } from "../src/tokenizer/tokenizer";
import { methodInfo, methodsOf } from "../src/web/methods";
import { progressBar, stderrBar } from "../src/cli/commands";
import { ROOT, SHARED } from "./_util";

const S260 = path.join(SHARED, "models/stories260K");
const CKPT = path.join(S260, "stories260K.bin"), TOK = path.join(S260, "tok512.bin"), TEXT = path.join(S260, "tinystories_sample.txt");
const HAVE = existsSync(CKPT) && existsSync(TOK) && existsSync(TEXT);
if (!HAVE) console.error(`-- skipped: the calibration tests need ${CKPT}, ${TOK} and ${TEXT} (../shared/models/stories260K).`);
const T = HAVE ? test : test.skip;
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
let tmp = "", gguf = "";
let engine: Engine | null = null;
let model: ModelSource | null = null;

test.before(async () => {
  if (!HAVE) return;
  tmp = mkdtempSync(path.join(tmpdir(), "tensorshrink-webmethods-"));
  gguf = path.join(tmp, "s.gguf");
  await convertToGguf({ llama2c: CKPT, tokenizer: TOK, name: "stories260K" }, await openFileSink(gguf), { ftype: "F32" });
  writeFileSync(path.join(tmp, "calib.txt"), readFileSync(TEXT));
  engine = await init({ threads: 0 });
  model = await openModel(gguf, engine);
});

test.after(async () => {
  await model?.close?.();
  engine?.dispose();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const file = (bytes: Uint8Array | string, name: string) => new File([bytes as BlobPart], name);
const base = { ftype: "Q4_K_M", rules: [], pure: false };

test("methodInfo: the registry's methods and the pruning methods, each with whether it needs calibration", () => {
  const { methods, pruneMethods } = methodInfo();
  assert.equal(methods.map((m) => m.name), Object.keys(BUILTIN_METHODS));
  assert.equal(pruneMethods.map((m) => m.name), [...PRUNE_METHODS]);
  const needs = Object.fromEntries([...methods, ...pruneMethods].map((m) => [m.name, m.needsCalibration]));
  assert.is(needs.rtn, false);
  assert.is(needs.gptq, true);
  assert.is(needs.magnitude, false);
  assert.is(needs.wanda, true);
  assert.is(needs.sparsegpt, true);
});

T("methodsOf: the CLI's tokenization (--method: one trailing newline dropped, ctx 512; --prune: the whole text, ctx 128)", async () => {
  const text = readFileSync(TEXT, "utf8");
  assert.ok(text.endsWith("\n"), "the sample ends with a newline (the case that differs)");
  const tok = Tokenizer.fromGguf({ kv: new Map(model!.metadata.map((kv) => [kv.key, kv])) } as any);
  const g = await methodsOf(model!, { ...base, method: "gptq", calib: file(text, "calib.txt") });
  assert.equal(g.methods, ["gptq"]);
  assert.is(g.label, "gptq");
  assert.equal({ ctx: g.calibration!.ctx, dataset: g.calibration!.dataset }, { ctx: 512, dataset: "calib.txt" });
  assert.equal(Array.from(g.calibration!.tokens), Array.from(tok.encode(text.slice(0, -1), { addBos: true })));
  const p = await methodsOf(model!, { ...base, prune: { method: "wanda", target: " 2:4 " }, calib: file(text, "calib.txt"), ctx: 64 });
  assert.is(p.label, "prune wanda");
  assert.is((p.methods![0] as any).name, "prune-wanda");
  assert.is(p.calibration!.ctx, 64);
  assert.equal(Array.from(p.calibration!.tokens), Array.from(tok.encode(text, { addBos: true })));
  assert.is((await methodsOf(model!, { ...base, prune: { method: "sparsegpt", target: "0.5" }, calib: file(text, "c.txt") })).calibration!.ctx, 128);
  assert.equal(await methodsOf(model!, base), { methods: undefined, label: "" }, "no method: llama-quantize's plain path");
});

T("methodsOf: bad options are E_RANGE / E_ENCODING, before anything runs", async () => {
  const bad: [Parameters<typeof methodsOf>[1], string, RegExp][] = [
    [{ ...base, method: "awq-nope" }, "E_RANGE", /unknown method "awq-nope" \(known: rtn, gptq/],
    [{ ...base, prune: { method: "sparsegpt", target: "" } }, "E_RANGE", /needs a target: a sparsity such as 0\.5, or N:M/],
    [{ ...base, prune: { method: "sparsegpt", target: "half" } }, "E_RANGE", /sparsity must be a number in \[0, 1\), got NaN/],
    [{ ...base, prune: { method: "magnitude", target: "1.5" } }, "E_RANGE", /sparsity must be a number in \[0, 1\)/],
    [{ ...base, prune: { method: "wanda", target: "4:2" } }, "E_RANGE", /N:M/],
    [{ ...base, prune: { method: "lottery", target: "0.5" } }, "E_RANGE", /prune method must be magnitude, wanda or sparsegpt/],
    [{ ...base, method: "gptq", calib: file("x", "c.txt"), ctx: 1 }, "E_RANGE", /context must be an integer >= 2 tokens, got 1/],
    [{ ...base, method: "gptq", calib: file(new Uint8Array([0x41, 0xff, 0x42]), "latin1.txt") }, "E_ENCODING", /latin1\.txt is not UTF-8 text: invalid byte 0xff at byte offset 1/],
  ];
  for (const [o, code, re] of bad) {
    try {
      await methodsOf(model!, o);
      assert.unreachable(`accepted ${JSON.stringify({ method: o.method, prune: o.prune, ctx: o.ctx })}`);
    } catch (e: any) {
      if (e?.name === "Assertion") throw e;
      assert.is(e.code, code, e.message);
      assert.match(e.message, re);
    }
  }
});

T("GPTQ through methodsOf (as the page runs it) = `tensorshrink quantize --method gptq --calib` bytes", async () => {
  execFileSync(process.execPath, [path.join(ROOT, "dist/cli.js"), "quantize", "s.gguf", "cli.gguf", "Q4_K_M", "--method", "gptq", "--calib", "calib.txt", "--json"], { cwd: tmp, stdio: "pipe", timeout: 60_000 });
  const { methods, calibration } = await methodsOf(model!, { ...base, method: "gptq", calib: file(readFileSync(path.join(tmp, "calib.txt")), "calib.txt") });
  const layers: number[] = [];
  const out = memorySink();
  await quantizeModel(engine!, model!, out, { ftype: "Q4_K_M", rules: [], pure: false, methods, calibration, onLayer: (p) => layers.push(p.layer) });
  assert.equal(layers, [0, 1, 2, 3, 4], "one progress call per block");
  assert.is(sha(out.bytes()), sha(readFileSync(path.join(tmp, "cli.gguf"))));
});

test("the CLI's one progress bar: quantize (MB/s) and imatrix/eval (tok/s) lines as before the merge; throttled; off when not a TTY", () => {
  const writes: string[] = [];
  const orig = process.stderr.write.bind(process.stderr);
  const cols = Object.getOwnPropertyDescriptor(process.stderr, "columns");
  (process.stderr as any).write = (s: string) => { writes.push(String(s)); return true; };
  Object.defineProperty(process.stderr, "columns", { value: 200, configurable: true });
  try {
    const q = progressBar(true);
    q.update({ tensor: "blk.0.attn_q.weight", tensorIndex: 2, tensorCount: 10, doneBytes: 25e6, totalBytes: 100e6, elapsedMs: 1000 });
    q.update({ tensor: "blk.0.attn_k.weight", tensorIndex: 3, tensorCount: 10, doneBytes: 30e6, totalBytes: 100e6, elapsedMs: 1020 }); // < 100 ms later: not drawn
    q.update({ tensor: "output.weight", tensorIndex: 9, tensorCount: 10, doneBytes: 100e6, totalBytes: 100e6, elapsedMs: 1030 }); // the end: drawn
    q.done();
    const e = stderrBar(true, "eval");
    e.draw(512, 2048, () => "window 1/4 300 tok/s ETA 5s");
    e.done();
    progressBar(false).update({ tensor: "x", tensorIndex: 0, tensorCount: 1, doneBytes: 1, totalBytes: 2, elapsedMs: 1 });
  } finally {
    (process.stderr as any).write = orig;
    if (cols) Object.defineProperty(process.stderr, "columns", cols); else delete (process.stderr as any).columns;
  }
  assert.equal(writes, [
    `\r[######..................]  25% 3/10 ${"blk.0.attn_q.weight".padEnd(32)} 25 MB/s ETA 3s`,
    `\r[########################] 100% 10/10 ${"output.weight".padEnd(32)} 97 MB/s ETA 0s`,
    "\r\x1b[K",
    "\reval [######..................]  25% window 1/4 300 tok/s ETA 5s",
    "\r\x1b[K",
  ]);
});

test.run();
