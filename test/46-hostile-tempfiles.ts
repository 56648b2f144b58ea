// Hostile-tester regressions, temp files and signals (issue 8, item 6): a wrong-length importance
// matrix (legacy or GGUF) leaves no empty temp file; SIGINT, SIGTERM, SIGHUP, SIGQUIT and a second
// signal within milliseconds leave no partial file and exit 128 + the signal number; a later run
// removes the temp files of a killed (dead-pid) run for the same output and nothing else; a signal
// after the job ended (the process still exiting) is handled too, and a second signal during the
// abort's cleanup exits at once (both windows widened by TENSORSHRINK_TEST_SIGNAL_DELAYS).
// Runs dist/cli.js (node scripts/build.mjs); TS_CLI=<path> runs another build of the CLI.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, existsSync, writeFileSync, statSync } from "node:fs";
import { tmpdir, constants as osConstants } from "node:os";
import path from "node:path";
import { init, syntheticModel, quantizeModel, encodeLegacyImatrix, writeGguf, ggufKV } from "../src/index";
import { openFileSink } from "../src/formats/source";
import { ROOT } from "./_util";

const CLI = process.env.TS_CLI ?? path.join(ROOT, "dist/cli.js");
const run = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: 120_000 });
const dir = mkdtempSync(path.join(tmpdir(), "ts-htmp-"));
const small = path.join(dir, "small-f32.gguf"), big = path.join(dir, "big-f32.gguf");
{
  const engine = await init({ threads: 0 });
  await quantizeModel(engine, syntheticModel({ nLayer: 1, nEmbd: 256, nFf: 512, nVocab: 300, nHead: 4, nHeadKv: 2 }), await openFileSink(small), { ftype: "F32", order: "input" });
  // ~60 MB of f32: quantizing it to Q6_K on one worker takes long enough to be interrupted
  await quantizeModel(engine, syntheticModel({ nLayer: 4, nEmbd: 512, nFf: 1536, nVocab: 4000, nHead: 8, nHeadKv: 4 }), await openFileSink(big), { ftype: "F32", order: "input" });
  engine.dispose();
}
const tmpFiles = () => readdirSync(dir).filter((f) => f.includes(".tmp"));

test("a wrong-length importance matrix (legacy .dat and GGUF) fails with E_IMATRIX and leaves no temp file", async () => {
  const bad = new Map([["blk.0.attn_q.weight", new Float32Array(255).fill(1)], ["blk.0.ffn_down.weight", new Float32Array(512).fill(1)]]);
  const dat = path.join(dir, "bad.dat");
  writeFileSync(dat, encodeLegacyImatrix(bad, { chunkCount: 1 }));
  const gg = path.join(dir, "bad-imatrix.gguf");
  const specs: { name: string; ne: number[]; type: string }[] = [], blobs: Uint8Array[] = [];
  for (const [name, v] of bad) {
    specs.push({ name: `${name}.in_sum2`, ne: [v.length, 1], type: "f32" }, { name: `${name}.counts`, ne: [1, 1], type: "f32" });
    blobs.push(new Uint8Array(v.buffer), new Uint8Array(new Float32Array([1]).buffer));
  }
  await writeGguf(await openFileSink(gg), [ggufKV("general.type", "str", "imatrix")], specs as any, (_s, i) => blobs[i]);
  for (const im of [dat, gg]) {
    for (const threads of ["1", "2"]) {
      const out = path.join(dir, "im-out.gguf");
      const r = run(["quantize", small, out, "Q4_K_M", "--imatrix", im, "--threads", threads]);
      assert.is(r.status, 1, r.stderr);
      assert.match(r.stderr, /E_IMATRIX.*blk\.0\.attn_q\.weight.*255/);
      assert.not.ok(existsSync(out));
      assert.equal(tmpFiles(), [], `${path.basename(im)} --threads ${threads}`);
    }
  }
});

/** The exit code a handled signal gives: 128 + its number (as in src/cli/signals.ts). */
const sigCode = (s: string) => 128 + (osConstants.signals as Record<string, number>)[s];

/** A quantize of the big model (or `args`), with `env` added; `stdout`/`stderr` grow as it writes. */
function startQuantize(env: Record<string, string> = {}, args = [big, path.join(dir, "sig-out.gguf"), "Q6_K", "--threads", "1"]) {
  const child = spawn(process.execPath, [CLI, "quantize", ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
  const io = { stdout: "", stderr: "" };
  child.stdout.on("data", (d) => (io.stdout += d));
  child.stderr.on("data", (d) => (io.stderr += d));
  const exited = new Promise<{ code: number | null; signal: string | null; at: number }>((r) => child.on("exit", (code, signal) => r({ code, signal, at: Date.now() })));
  return { child, io, exited };
}

/** Waits (up to 60 s, or until the child exits) for `ok()`. */
async function until(child: ReturnType<typeof spawn>, ok: () => boolean): Promise<boolean> {
  const t0 = Date.now();
  while (Date.now() - t0 < 60_000 && child.exitCode === null && child.signalCode === null) {
    if (ok()) return true;
    await new Promise((r) => setTimeout(r, 2));
  }
  return ok();
}

/** Waits until the run's temp file exists and holds data, sends `signals` `gapMs` apart. */
async function interrupt(signals: NodeJS.Signals[], gapMs: number, env: Record<string, string> = {}): Promise<{ code: number | null; signal: string | null; stderr: string; sawTemp: boolean }> {
  const out = path.join(dir, "sig-out.gguf");
  const { child, io, exited } = startQuantize(env);
  const sawTemp = await until(child, () => {
    const f = tmpFiles().find((n) => n.startsWith("sig-out.gguf.tmp-"));
    try { return !!f && statSync(path.join(dir, f)).size > 0; } catch { return false; /* just renamed or removed */ }
  });
  for (let i = 0; i < signals.length; i++) {
    if (i) await new Promise((r) => setTimeout(r, gapMs));
    child.kill(signals[i]);
  }
  const res = await exited;
  assert.not.ok(existsSync(out), "no output after an interrupted run");
  return { code: res.code, signal: res.signal, stderr: io.stderr, sawTemp };
}

// Signals sent within a few ms can reach the CLI together: Linux then delivers pending signals by
// number (SIGINT 2 before SIGTERM 15), and merges two of the same kind. So with two signals the exit
// code is 128 + the last signal the CLI says it handled ("interrupted by A then B", "B after the job
// ended", or only "interrupted by A" when the second was merged or came after the exit).
for (const [signals, gap, want] of [
  [["SIGINT"], 0, 130],
  [["SIGTERM"], 0, 143],
  [["SIGHUP"], 0, 129],
  [["SIGQUIT"], 0, 131],
  [["SIGINT", "SIGINT"], 5, 130],
  [["SIGTERM", "SIGINT"], 1, 0],
] as [NodeJS.Signals[], number, number][]) {
  test(`${signals.join(" + ")}${gap ? ` ${gap} ms apart` : ""} mid-run: exit ${want || "128 + the last signal handled"}, no partial temp file`, async () => {
    const r = await interrupt(signals, gap);
    assert.ok(r.sawTemp, "the run was interrupted while writing its temp file");
    assert.is(r.signal, null, `killed by ${r.signal}: the signal was not handled`);
    const named = /interrupted by (SIG[A-Z]+)(?: then (SIG[A-Z]+)| (after the job ended))?/.exec(r.stderr);
    assert.ok(named, r.stderr);
    for (const s of [named![1], named![2]]) if (s) assert.ok(signals.includes(s as NodeJS.Signals), `${s} was not sent`);
    assert.is(r.code, want || sigCode(named![2] ?? named![1]), r.stderr);
    assert.equal(tmpFiles(), []);
  });
}

// The windows widened by the test hook TENSORSHRINK_TEST_SIGNAL_DELAYS (src/cli/signals.ts), so each
// is hit on every run rather than by luck under load.
test("a second signal while the abort's cleanup runs (hook: cleanup=8000): it unlinks the temp file and exits at once", async () => {
  const { child, io, exited } = startQuantize({ TENSORSHRINK_TEST_SIGNAL_DELAYS: "cleanup=8000" });
  assert.ok(await until(child, () => tmpFiles().some((n) => n.startsWith("sig-out.gguf.tmp-"))), "the temp file appeared");
  child.kill("SIGINT"); // SIGINT first: if both are pending, Linux delivers SIGINT (2) before SIGTERM (15) anyway
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(tmpFiles().some((n) => n.startsWith("sig-out.gguf.tmp-")), "the cleanup waits: the temp file is still there");
  const t = Date.now();
  child.kill("SIGTERM");
  const r = await exited;
  assert.is(r.signal, null, `killed by ${r.signal}`);
  assert.is(r.code, 143, io.stderr);
  assert.match(io.stderr, /interrupted by SIGINT then SIGTERM: exiting now/);
  assert.ok(r.at - t < 6000, `exited ${r.at - t} ms after the second signal: it waited for the cleanup`);
  assert.equal(tmpFiles(), []);
  assert.not.ok(existsSync(path.join(dir, "sig-out.gguf")));
});

test("a signal after an aborted job ended, while the process exits (hook: exit=8000): still handled, exit 128 + n", async () => {
  const { child, io, exited } = startQuantize({ TENSORSHRINK_TEST_SIGNAL_DELAYS: "exit=8000" });
  assert.ok(await until(child, () => tmpFiles().some((n) => n.startsWith("sig-out.gguf.tmp-"))), "the temp file appeared");
  child.kill("SIGINT");
  // the hook's line: the job ended (finish()), the process is exiting
  assert.ok(await until(child, () => /test hook: the job ended/.test(io.stderr)), io.stderr);
  assert.equal(tmpFiles(), [], "the abort removed the temp file");
  const t = Date.now();
  child.kill("SIGTERM");
  const r = await exited;
  assert.is(r.signal, null, `killed by ${r.signal}: no handler after the job ended`);
  assert.is(r.code, 143, io.stderr);
  assert.match(io.stderr, /interrupted by SIGTERM after the job ended: exiting now/);
  assert.ok(r.at - t < 6000, `exited ${r.at - t} ms after the signal`);
  assert.equal(tmpFiles(), []);
});

test("a signal after a successful job ended (hook: exit=8000): exit 128 + n, the complete output is kept", async () => {
  const out = path.join(dir, "late-ok.gguf");
  const { child, io, exited } = startQuantize({ TENSORSHRINK_TEST_SIGNAL_DELAYS: "exit=8000" }, [small, out, "Q8_0", "--json"]);
  // a signal before finish() (after the commit) would be a harmless first one: exit 0; wait for the hook's line
  assert.ok(await until(child, () => /test hook: the job ended/.test(io.stderr)), io.stderr);
  const report = JSON.parse(io.stdout);
  child.kill("SIGHUP");
  const r = await exited;
  assert.is(r.signal, null, `killed by ${r.signal}: no handler after the job ended`);
  assert.is(r.code, 129, io.stderr);
  assert.match(io.stderr, /interrupted by SIGHUP after the job ended/);
  assert.is(statSync(out).size, report.fileSize, "the committed output is whole");
  assert.equal(tmpFiles(), []);
  rmSync(out);
});

test("after a SIGKILL, the next run for the same output removes the dead run's temp files, and only those", () => {
  const dead = spawnSync(process.execPath, ["-e", "0"]).pid!;
  assert.not.ok((() => { try { process.kill(dead, 0); return true; } catch { return false; } })(), "the pid must be dead");
  const out = path.join(dir, "x.gguf");
  const stale = `x.gguf.tmp-${dead}-abc123`, live = `x.gguf.tmp-${process.pid}-live01`, other = `y.gguf.tmp-${dead}-abc123`, odd = "x.gguf.tmp-notapid";
  for (const f of [stale, live, other, odd]) writeFileSync(path.join(dir, f), "partial");
  // a real SIGKILL mid-run leaves its temp file behind ...
  const child = spawn(process.execPath, [CLI, "quantize", big, out, "Q6_K", "--threads", "1"], { stdio: "ignore" });
  const exited = new Promise((r) => child.on("exit", r));
  return (async () => {
    const t0 = Date.now();
    while (!tmpFiles().some((n) => n.startsWith(`x.gguf.tmp-${child.pid}-`)) && Date.now() - t0 < 60_000 && child.exitCode === null) await new Promise((r) => setTimeout(r, 2));
    child.kill("SIGKILL");
    await exited;
    const killed = tmpFiles().find((n) => n.startsWith(`x.gguf.tmp-${child.pid}-`));
    assert.ok(killed, `the killed run's temp file (pid ${child.pid}) is there: ${tmpFiles()}`);
    // ... which the next run for the same output removes, with the other dead-pid file
    const r = run(["quantize", small, out, "Q8_0", "--json"]);
    assert.is(r.status, 0, r.stderr);
    assert.ok(existsSync(out));
    assert.equal(tmpFiles().sort(), [live, odd, other].sort());
    for (const f of [live, odd, other]) rmSync(path.join(dir, f));
    rmSync(out);
  })();
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
