// The `tensorshrink` command (dist/cli.js, built by npm install): demo, quantize, inspect, errors, Ctrl-C.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { init, syntheticModel, quantizeModel } from "../src/index";
import { openFileSink } from "../src/formats/source";
import { ROOT } from "./_util";

const CLI = path.join(ROOT, "dist/cli.js");
const run = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: 120_000 });
const dir = mkdtempSync(path.join(tmpdir(), "ts-cli-"));
const input = path.join(dir, "model-f32.gguf");
{
  const engine = await init({ threads: 0 });
  await quantizeModel(engine, syntheticModel({ nLayer: 2, nEmbd: 256, nFf: 512, nVocab: 300, nHead: 4, nHeadKv: 2 }), await openFileSink(input), { ftype: "F32", order: "input" });
  engine.dispose();
}

test("demo --json: the built-in model through several ftypes", () => {
  const r = run(["demo", "--ftypes", "Q8_0,Q4_K_M", "--json"]);
  assert.is(r.status, 0, r.stderr);
  const doc = JSON.parse(r.stdout);
  assert.equal(doc.reports.map((x: any) => x.ftype), ["Q8_0", "Q4_K_M"]);
  assert.ok(doc.reports[0].bitsPerWeight > 8.4 && doc.reports[0].bitsPerWeight < 8.6);
  assert.ok(doc.reports[1].tensors.some((t: any) => t.type === "q6_K"));
});

test("quantize: table by default, --json document, rules; inspect reads the result", () => {
  const out = path.join(dir, "q.gguf");
  const r = run(["quantize", input, out, "Q4_K_M", "--rule", "blk\\.0\\..*=q8_0", "--threads", "2"]);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /blk\.0\.attn_q\.weight\s+f32→q8_0/);
  assert.match(r.stdout, /blk\.1\.attn_q\.weight\s+f32→q4_K/);
  assert.match(r.stdout, /bits\/weight/);
  const j = run(["quantize", input, path.join(dir, "q2.gguf"), "q8_0", "--json"]);
  assert.is(j.status, 0, j.stderr);
  const doc = JSON.parse(j.stdout);
  assert.is(doc.ftype, "Q8_0");
  assert.is(doc.fileSize, readFileSync(path.join(dir, "q2.gguf")).length);
  const ins = run(["inspect", out, "--json"]);
  assert.is(ins.status, 0, ins.stderr);
  const g = JSON.parse(ins.stdout);
  assert.is(g.metadata["general.file_type"], 15);
  assert.is(g.tensors.find((t: any) => t.name === "blk.1.ffn_down.weight").type, "q6_K");
});

test("bad input: typed one-line errors, non-zero exit, no output file, input untouched", () => {
  const before = readFileSync(input);
  for (const args of [
    ["quantize", input, path.join(dir, "x.gguf"), "Q7_K"],
    ["quantize", input, input, "Q8_0"],
    ["quantize", path.join(dir, "missing.gguf"), path.join(dir, "x.gguf"), "Q8_0"],
    ["quantize", input, path.join(dir, "x.gguf"), "Q8_0", "--threads", "zero"],
    ["quantize", input, path.join(dir, "x.gguf"), "Q8_0", "--rule", "(=q8_0"],
    ["inspect", path.join(dir, "nope")],
    ["frobnicate"],
    ["quantize", input, path.join(dir, "x.gguf"), "Q8_0", "--pur"],
  ]) {
    const r = run(args);
    assert.ok(r.status !== 0, args.join(" "));
    assert.not.match(r.stderr, /unexpected error|\n\s+at /, args.join(" "));
  }
  const trunc = path.join(dir, "trunc.gguf");
  writeFileSync(trunc, before.subarray(0, 700));
  const r = run(["quantize", trunc, path.join(dir, "x.gguf"), "Q8_0"]);
  assert.match(r.stderr, /E_(TRUNCATED|FORMAT)/);
  assert.equal(readFileSync(input), before);
  assert.not.ok(existsSync(path.join(dir, "x.gguf")));
  assert.equal(readdirSync(dir).filter((f) => f.includes(".tmp")), []);
});

test("unknown options are refused by name; --keep-order keeps the input's tensor order", async () => {
  const r = run(["quantize", input, path.join(dir, "x.gguf"), "Q8_0", "--jsno"]);
  assert.is(r.status, 1);
  assert.match(r.stderr, /E_RANGE.*unknown option --jsno/);
  const { readGguf } = await import("../src/formats/gguf");
  const { openFileSource } = await import("../src/formats/source");
  const names = async (f: string) => { const s = await openFileSource(f); try { return (await readGguf(s)).tensors.map((t) => t.name); } finally { await s.close?.(); } };
  const a = path.join(dir, "keep.gguf"), b = path.join(dir, "sorted.gguf");
  assert.is(run(["quantize", input, a, "Q8_0", "--keep-order", "--json"]).status, 0);
  assert.is(run(["quantize", input, b, "Q8_0", "--json"]).status, 0);
  const inNames = await names(input), an = await names(a), bn = await names(b);
  assert.equal(an, inNames);
  assert.not.equal(bn, inNames);
  assert.equal([...bn].sort(), [...inNames].sort());
  rmSync(a); rmSync(b);
});

test("Ctrl-C during quantize leaves no partial file", async () => {
  const big = path.join(dir, "big.gguf");
  {
    const engine = await init({ threads: 0 });
    await quantizeModel(engine, syntheticModel({ nLayer: 8, nEmbd: 1024, nFf: 2816, nVocab: 8000 }), await openFileSink(big), { ftype: "F32" });
    engine.dispose();
  }
  const out = path.join(dir, "big-q.gguf");
  const child = spawn(process.execPath, [CLI, "quantize", big, out, "Q6_K", "--threads", "1"], { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  child.stderr.on("data", (d) => (err += d));
  await new Promise((r) => setTimeout(r, 700));
  child.kill("SIGINT");
  const code = await new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
  assert.ok(code !== 0, `exit ${code}`);
  assert.not.ok(existsSync(out));
  assert.equal(readdirSync(dir).filter((f) => f.startsWith("big-q")), []);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
