// Signals during `tensorshrink imatrix`, `teacher` and `eval` (src/cli/signals.ts, as quantize/prune in
// test/46): the handlers stay installed until the process exits, the output sinks are tracked, so a
// second signal during the abort (widened by TENSORSHRINK_TEST_SIGNAL_DELAYS=cleanup=MS) exits at once
// with 128 + its number and no temp file, and a signal after the job ended (exit=MS) is still handled
// and keeps the committed output; SIGHUP/SIGQUIT are handled too. Before, these commands used
// process.once(SIGINT/SIGTERM): a second SIGINT, any SIGHUP, or a signal after the job met Node's
// default action (killed by the signal). On kjv3M (../shared/models/kjv3M); runs dist/cli.js
// (node scripts/build.mjs), TS_CLI=<path> runs another build.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, existsSync, writeFileSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ROOT, SHARED } from "./_util";

const CLI = process.env.TS_CLI ?? path.join(ROOT, "dist/cli.js");
const K = path.join(SHARED, "models/kjv3M");
const MODEL = path.join(K, "kjv3M.bin"), TOK = path.join(K, "tok512.bin");

if (!existsSync(MODEL) || !existsSync(TOK) || !existsSync(path.join(K, "calib.txt"))) {
  console.log("SKIP: ../shared/models/kjv3M (kjv3M.bin, tok512.bin, calib.txt) not found; CLI signal tests not run");
} else {
  const dir = mkdtempSync(path.join(tmpdir(), "ts-clisig-"));
  // 20 kB of text: ~11k tokens, far more than a test lets run; 1 kB for the runs that finish
  const calib = readFileSync(path.join(K, "calib.txt"), "utf8");
  const long = path.join(dir, "long.txt"), short = path.join(dir, "short.txt");
  writeFileSync(long, calib.slice(0, 20_000));
  writeFileSync(short, calib.slice(0, 1_000));
  const tmpFiles = () => readdirSync(dir).filter((f) => f.includes(".tmp"));
  const model = ["--tokenizer", TOK, "--threads", "1"];

  /** The CLI with `args` and `env` added; `io` grows as it writes. */
  const start = (args: string[], env: Record<string, string> = {}) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
    const io = { stdout: "", stderr: "" };
    child.stdout.on("data", (d) => (io.stdout += d));
    child.stderr.on("data", (d) => (io.stderr += d));
    const exited = new Promise<{ code: number | null; signal: string | null; at: number }>((r) => child.on("exit", (code, signal) => r({ code, signal, at: Date.now() })));
    return { child, io, exited };
  };
  /** Waits (up to 60 s, or until the child exits) for `ok()`. */
  const until = async (child: ReturnType<typeof spawn>, ok: () => boolean) => {
    const t0 = Date.now();
    while (Date.now() - t0 < 60_000 && child.exitCode === null && child.signalCode === null) {
      if (ok()) return true;
      await new Promise((r) => setTimeout(r, 2));
    }
    return ok();
  };
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  /**
   * A job interrupted by `first`, then (its abort held 8 s by the cleanup hook) `second` 300 ms later:
   * it must exit at once with 128 + second's number, say so, and leave neither output nor temp file.
   */
  async function twoSignals(args: string[], out: string, ready: (io: { stderr: string }) => boolean, first: NodeJS.Signals, second: NodeJS.Signals, code: number) {
    const { child, io, exited } = start(args, { TENSORSHRINK_TEST_SIGNAL_DELAYS: "cleanup=8000" });
    assert.ok(await until(child, () => ready(io)), `the job started: ${io.stderr}`);
    child.kill(first);
    await sleep(300);
    assert.is(child.exitCode, null, `still in the (held) abort after ${first}: ${io.stderr}`);
    const t = Date.now();
    child.kill(second);
    const r = await exited;
    assert.is(r.signal, null, `killed by ${r.signal}: the second signal was not handled`);
    assert.is(r.code, code, io.stderr);
    assert.match(io.stderr, new RegExp(`interrupted by ${first} then ${second}: exiting now`));
    assert.ok(r.at - t < 6000, `exited ${r.at - t} ms after the second signal: it waited for the cleanup`);
    assert.not.ok(existsSync(out), "no output");
    assert.equal(tmpFiles(), [], "no temp file");
  }

  /** A job run to its end (exit hook: the process stays 8 s): `sig` then exits 128 + n, the output is kept whole. */
  async function afterTheJob(args: string[], out: string, sig: NodeJS.Signals, code: number) {
    const { child, io, exited } = start(args, { TENSORSHRINK_TEST_SIGNAL_DELAYS: "exit=8000" });
    assert.ok(await until(child, () => /test hook: the job ended/.test(io.stderr)), `the job ended, the process is exiting: ${io.stderr}`);
    const report = JSON.parse(io.stdout);
    const t = Date.now();
    child.kill(sig);
    const r = await exited;
    assert.is(r.signal, null, `killed by ${r.signal}: no handler after the job ended`);
    assert.is(r.code, code, io.stderr);
    assert.match(io.stderr, new RegExp(`interrupted by ${sig} after the job ended`));
    assert.ok(r.at - t < 6000, `exited ${r.at - t} ms after the signal`);
    assert.is(statSync(out).size, report.bytes, "the committed output is whole");
    assert.equal(tmpFiles(), []);
    rmSync(out);
  }

  test("imatrix: SIGINT mid-collection, SIGINT again during the abort: exit 130 at once, no output", async () => {
    const out = path.join(dir, "im.gguf");
    await twoSignals(["imatrix", MODEL, ...model, "--text", long, "--ctx", "64", "-o", out], out, (io) => /tensorshrink: imatrix: \d+ tokens/.test(io.stderr), "SIGINT", "SIGINT", 130);
  });

  test("imatrix --threads 1: SIGTERM a second into the collection stops it: exit 143 within 5 s, no output", async () => {
    // the forward over cached weights resolves only microtasks: without a yield between chunks the
    // handler ran after the whole collection (exit 0, the imatrix written)
    const out = path.join(dir, "im1.gguf");
    const { child, io, exited } = start(["imatrix", MODEL, ...model, "--text", long, "--ctx", "64", "-o", out]);
    assert.ok(await until(child, () => /tensorshrink: imatrix: \d+ tokens/.test(io.stderr)), io.stderr);
    await sleep(1000);
    const t = Date.now();
    child.kill("SIGTERM");
    const r = await exited;
    assert.is(r.signal, null, `killed by ${r.signal}`);
    assert.is(r.code, 143, io.stderr);
    assert.match(io.stderr, /E_ABORTED.*interrupted by SIGTERM/);
    assert.ok(r.at - t < 5000, `exited ${r.at - t} ms after the signal`);
    assert.not.ok(existsSync(out));
    assert.equal(tmpFiles(), []);
  });

  test("teacher: SIGINT while writing, SIGTERM during the abort: exit 143 at once, the temp file unlinked", async () => {
    const out = path.join(dir, "t.tskd");
    // top-512 records are ~4 kB a position: the temp file gets data within a few windows
    const wrote = () => tmpFiles().some((f) => { try { return f.startsWith("t.tskd.tmp-") && statSync(path.join(dir, f)).size > 0; } catch { return false; } });
    await twoSignals(["teacher", MODEL, ...model, "--text", long, "--ctx", "64", "--top-k", "512", "-o", out], out, wrote, "SIGINT", "SIGTERM", 143);
  });

  test("eval --save-logits: SIGHUP mid-run: exit 129, no saved log-probs, no temp file", async () => {
    const out = path.join(dir, "base.logits");
    const { child, io, exited } = start(["eval", MODEL, ...model, "--text", long, "--ctx", "64", "--save-logits", out]);
    assert.ok(await until(child, () => /tensorshrink: eval: \d+ tokens/.test(io.stderr)), io.stderr);
    child.kill("SIGHUP");
    const r = await exited;
    assert.is(r.signal, null, `killed by ${r.signal}: SIGHUP was not handled`);
    assert.is(r.code, 129, io.stderr);
    assert.match(io.stderr, /E_ABORTED.*interrupted by SIGHUP/);
    assert.not.ok(existsSync(out));
    assert.equal(tmpFiles(), []);
  });

  test("imatrix: a signal after the job ended (hook: exit=8000) exits 129, the imatrix is kept", async () => {
    const out = path.join(dir, "im-ok.gguf");
    await afterTheJob(["imatrix", MODEL, ...model, "--text", short, "--ctx", "32", "--chunks", "1", "-o", out, "--json"], out, "SIGHUP", 129);
  });

  test("teacher: a signal after the job ended (hook: exit=8000) exits 131, the teacher file is kept", async () => {
    const out = path.join(dir, "t-ok.tskd");
    await afterTheJob(["teacher", MODEL, ...model, "--text", short, "--ctx", "32", "--top-k", "4", "-o", out, "--json"], out, "SIGQUIT", 131);
  });

  test.after(() => rmSync(dir, { recursive: true, force: true }));
}
test.run();
