// Hostile-tester regressions, CLI parsing and output (issue 8, items 11 and 12): unknown single-dash
// options and extra positionals refused by name, -t alias, strict numbers, a thread cap, the output
// path checked before any work, prototype-chain names refused, control characters escaped in everything
// printed. Runs dist/cli.js (node scripts/build.mjs).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readdirSync, rmSync, existsSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { init, syntheticModel, quantizeModel, type ModelSource } from "../src/index";
import { openFileSink } from "../src/formats/source";
import { ggufKV } from "../src/formats/gguf";
import { ROOT } from "./_util";
import { safeText, safeJson } from "../src/cli/escape";

const CLI = path.join(ROOT, "dist/cli.js");
const run = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: 120_000 });
const dir = mkdtempSync(path.join(tmpdir(), "ts-hcli-"));
const input = path.join(dir, "model-f32.gguf");
const EVIL = "blk.0.attn_q\x1b[2J\x1b]0;pwned\x07\x9b31m\u202eweight\u0085";
{
  const engine = await init({ threads: 0 });
  const base = syntheticModel({ nLayer: 1, nEmbd: 64, nFf: 128, nVocab: 300, nHead: 2, nHeadKv: 1 });
  await quantizeModel(engine, base, await openFileSink(input), { ftype: "F32", order: "input" });
  // A model whose tensor name and metadata carry terminal escapes, C1 controls and a bidi override.
  const evil: ModelSource = {
    ...base,
    metadata: [...base.metadata, ggufKV("general.description", "str", "line1\nline2\x1b[31mred\r\x00nul")],
    tensors: base.tensors.map((t) => (t.name === "blk.0.attn_q.weight" ? { ...t, name: EVIL } : t)),
  };
  await quantizeModel(engine, evil, await openFileSink(path.join(dir, "evil.gguf")), { ftype: "F32", order: "input" });
  // A NaN in one weight, written as F32 with the opt-out.
  const nan: ModelSource = {
    ...base,
    tensors: base.tensors.map((t) => (t.name !== "blk.0.ffn_up.weight" ? t : { ...t, fileRows: undefined, readRawRows: async (r: number, n: number) => { const a = await t.readRawRows(r, n); if (r === 0) a.set([0, 0, 0xc0, 0x7f], 4 * 70); return a; } })),
  };
  await quantizeModel(engine, nan, await openFileSink(path.join(dir, "nan.gguf")), { ftype: "F32", order: "input", allowNonFinite: true });
  engine.dispose();
}
const noTmp = () => assert.equal(readdirSync(dir).filter((f) => f.includes(".tmp")), []);
const fails = (args: string[], re: RegExp) => {
  const r = run(args);
  assert.is(r.status, 1, `${args.join(" ")}: exit ${r.status}\n${r.stderr}`);
  assert.match(r.stderr, re, args.join(" "));
  assert.not.match(r.stderr, /unexpected error|\n\s+at /, args.join(" "));
  assert.is(r.stdout, "", `${args.join(" ")}: no work may start`);
  return r;
};

test("unknown single-dash options and extra positionals are refused by name; -t is --threads", () => {
  const out = path.join(dir, "x.gguf");
  fails(["quantize", input, out, "Q8_0", "-x"], /E_RANGE.*unknown option -x/);
  fails(["quantize", input, out, "Q8_0", "-json"], /E_RANGE.*unknown option -json/);
  fails(["quantize", input, out, "Q8_0", "extra"], /E_RANGE.*unexpected argument "extra"/);
  fails(["inspect", input, "more"], /E_RANGE.*unexpected argument "more"/);
  fails(["demo", "stray"], /E_RANGE.*unexpected argument "stray"/);
  fails(["eval", "a.gguf", "b.gguf", "c.gguf", "--text", input], /E_RANGE.*unexpected argument "c.gguf"/);
  assert.not.ok(existsSync(out));
  const ok = run(["quantize", input, out, "Q8_0", "-t", "1", "--json"]);
  assert.is(ok.status, 0, ok.stderr);
  assert.is(JSON.parse(ok.stdout).ftype, "Q8_0");
  fails(["quantize", input, out, "Q8_0", "-t"], /E_RANGE.*-t needs a value/);
  rmSync(out);
  noTmp();
});

test("numbers: --threads / -t / --ctx accept only plain decimal integers; threads capped at 4x the cores", () => {
  const out = path.join(dir, "x.gguf");
  for (const v of ["1e2", "0x2", " 2 ", "2.0", "+2", "-1", "0", "", "2abc", "Infinity", "NaN", "１"]) {
    fails(["quantize", input, out, "Q8_0", "--threads", v], /E_RANGE.*--threads/);
    fails(["quantize", input, out, "Q8_0", `--threads=${v}`], /E_RANGE.*--threads/);
  }
  fails(["demo", "-t", "0x2"], /E_RANGE.*-t|E_RANGE.*--threads/);
  for (const v of ["abc", "1e3", "0", "-5", "99999999999"]) fails(["eval", input, input, "--text", input, "--ctx", v], /E_RANGE.*--ctx/);
  const big = run(["quantize", input, out, "Q8_0", "--threads", "256", "--json"]);
  assert.is(big.status, 0, big.stderr);
  assert.match(big.stderr, /--threads 256 capped to \d+ \(4 x \d+ cores\)/);
  rmSync(out);
  noTmp();
});

test("the output path is checked before any work: a directory or a missing directory fails at once", () => {
  const sub = path.join(dir, "adir");
  mkdirSync(sub);
  fails(["quantize", input, sub, "Q8_0"], /E_IO.*adir.*is a directory/);
  fails(["quantize", input, path.join(dir, "missing", "x.gguf"), "Q8_0"], /E_IO.*missing/);
  // even when the input is bad too: the output is checked first, nothing is read
  fails(["quantize", path.join(dir, "no-such-input.gguf"), sub, "Q8_0"], /E_IO.*is a directory/);
  assert.equal(readdirSync(sub), []);
  noTmp();
});

test("prototype-chain names are unknown types/ftypes; demo checks --ftypes before working", () => {
  const out = path.join(dir, "x.gguf");
  fails(["quantize", input, out, "__proto__"], /E_UNKNOWN_TYPE/);
  fails(["quantize", input, out, "constructor"], /E_UNKNOWN_TYPE/);
  fails(["quantize", input, out, "Q8_0", "--rule", "x=__proto__"], /E_UNKNOWN_TYPE/);
  fails(["quantize", input, out, "Q8_0", "--rule", "x=toString"], /E_UNKNOWN_TYPE/);
  fails(["demo", "--ftypes", "Q8_0,__proto__"], /E_UNKNOWN_TYPE/);
  const r = run(["__proto__"]);
  assert.is(r.status, 2);
  assert.match(r.stderr, /unknown command "__proto__"/);
  noTmp();
});

test("NaN in the input: refused for F16/F32/Q8_0 by default; --allow-nonfinite lets F16 and F32 through", () => {
  const nan = path.join(dir, "nan.gguf"), out = path.join(dir, "nan-out.gguf");
  for (const f of ["F16", "F32", "BF16", "Q8_0"]) {
    const r = fails(["quantize", nan, out, f], /E_NONFINITE.*blk\.0\.ffn_up\.weight.*row 1, column 6/);
    assert.ok(r.stderr.length > 0);
  }
  fails(["quantize", nan, out, "Q8_0", "--allow-nonfinite"], /E_NONFINITE/);
  for (const f of ["F16", "F32"]) {
    const r = run(["quantize", nan, out, f, "--allow-nonfinite", "--json"]);
    assert.is(r.status, 0, r.stderr);
    rmSync(out);
  }
  noTmp();
});

const RAW = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

test("inspect escapes control characters, C1 controls and bidi overrides in everything it prints", () => {
  const evil = path.join(dir, "evil.gguf");
  const r = run(["inspect", evil]);
  assert.is(r.status, 0, r.stderr);
  assert.not.ok(RAW.test(r.stdout), `raw control character in: ${JSON.stringify(r.stdout.match(new RegExp(`.{0,20}${RAW.source}.{0,20}`))?.[0])}`);
  assert.ok(r.stdout.includes("blk.0.attn_q\\x1b[2J\\x1b]0;pwned\\x07\\x9b31m\\u202eweight\\x85"), r.stdout);
  const j = run(["inspect", evil, "--json"]);
  assert.is(j.status, 0, j.stderr);
  assert.not.ok(RAW.test(j.stdout), "raw control characters in --json output");
  const doc = JSON.parse(j.stdout);
  assert.ok(doc.tensors.some((t: any) => t.name === EVIL), "--json keeps the exact name (escaped as JSON)");
  assert.is(doc.metadata["general.description"], "line1\nline2\x1b[31mred\r\x00nul");
  // quantize refuses the tensor (llama.cpp's loader would: not a llama tensor name), and its error
  // message names it escaped
  const q = run(["quantize", evil, path.join(dir, "evil-q.gguf"), "Q8_0"]);
  assert.is(q.status, 1, q.stderr);
  assert.match(q.stderr, /E_SHAPE.*unexpected tensor blk\.0\.attn_q\\x1b\[2J/);
  assert.not.ok(RAW.test(q.stderr.replace(/\n/g, "")), `raw control character in the error: ${JSON.stringify(q.stderr)}`);
  const bad = run(["quantize", evil, path.join(dir, "evil-q2.gguf"), "Q8_0", "--rule", "(\x1b[2J=q8_0"]);
  assert.is(bad.status, 1);
  assert.not.ok(RAW.test(bad.stderr.replace(/\n/g, "")), `raw control character in the error: ${JSON.stringify(bad.stderr)}`);
  noTmp();
});

test("safeText / safeJson: every unsafe code point escaped, emoji and backslashes kept, JSON round-trips", () => {
  let all = "";
  for (let c = 0; c < 0x100; c++) all += String.fromCharCode(c);
  all += "\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufffd\ud800x\udc00🙂\\";
  const t = safeText(all);
  assert.not.ok(RAW.test(t) || /[\ud800-\udfff]/.test(t.replace("🙂", "")), JSON.stringify(t));
  assert.ok(t.includes("🙂") && t.includes("\\x1b") && t.includes("\\x9b") && t.includes("\\u202e") && t.includes("\\ud800") && t.includes("\\n"));
  assert.is(safeText("plain ascii: blk.0.attn_q.weight"), "plain ascii: blk.0.attn_q.weight");
  assert.is(safeText("a\nb", true), "a\nb");
  const j = safeJson(JSON.stringify({ k: all }));
  assert.not.ok(RAW.test(j));
  assert.is(JSON.parse(j).k, all);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
