// llama-quantize parity on `tensorshrink quantize` (dist/cli.js): every llama.cpp-shared flag is
// byte-identical to llama.cpp's own llama_model_quantize (the test/61 harness, test/tools/
// llama-quantize-ref.cpp, with the params passed through), plus the new-user fixes: default output
// name, ftype aliases and numbers, COPY, generated --help, fallback notes, one error code per message,
// inspect's ftype names, URLs and named HTTP errors. The byte-identity part skips, saying so, without
// a C++ compiler or a prebuilt libllama.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync, spawn } from "node:child_process";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, readdirSync, copyFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { init, syntheticModel, quantizeModel, lookupFtype, FTYPES, encodeLegacyImatrix } from "../src/index";
import { openFileSink, openFileSource } from "../src/formats/source";
import { readGguf } from "../src/formats/gguf";
import { parseKvOverride } from "../src/model/kv-override";
import { COMMANDS } from "../src/cli/options";
import { defaultOutputName } from "../src/cli/commands";
import { lookupType } from "../src/quant/types";
import { ROOT } from "./_util";

const CLI = path.join(ROOT, "dist/cli.js");
const run = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: 120_000 });
const ok = (args: string[]) => { const r = run(args); assert.is(r.status, 0, `${args.join(" ")}: ${r.stderr}`); return r; };
const dir = mkdtempSync(path.join(tmpdir(), "ts-cliparity-"));
const input = path.join(dir, "model-f32.gguf"); // untied output, 256-wide rows: every k-quant fits
const tied = path.join(dir, "tied-f32.gguf");
const narrow = path.join(dir, "narrow-f32.gguf"); // 64-wide rows: k-quants fall back
{
  const engine = await init({ threads: 0 });
  await quantizeModel(engine, syntheticModel({ nLayer: 3, nEmbd: 256, nFf: 512, nVocab: 512, nHead: 4, nHeadKv: 2, seed: 11 }), await openFileSink(input), { ftype: "F32", order: "input" });
  await quantizeModel(engine, syntheticModel({ nLayer: 2, nEmbd: 256, nFf: 512, nVocab: 512, nHead: 4, nHeadKv: 2, seed: 12, untiedOutput: false }), await openFileSink(tied), { ftype: "F32", order: "input" });
  await quantizeModel(engine, syntheticModel({ nLayer: 2, nEmbd: 64, nFf: 128, nVocab: 300, nHead: 4, nHeadKv: 4, seed: 13 }), await openFileSink(narrow), { ftype: "F32", order: "input" });
  engine.dispose();
}
const header = async (file: string) => {
  const src = await openFileSource(file);
  try { return await readGguf(src); } finally { await src.close?.(); }
};
const kv = (g: Awaited<ReturnType<typeof header>>, k: string) => g.metadata.find((m) => m.key === k);

test("ftype aliases and LLAMA_FTYPE numbers resolve as llama-quantize's", () => {
  assert.is(lookupFtype("Q4_K").name, "Q4_K_M");
  assert.is(lookupFtype("q5_k").name, "Q5_K_M");
  assert.is(lookupFtype("Q3_K").name, "Q3_K_M");
  for (const [n, f] of Object.entries(FTYPES)) assert.is(lookupFtype(String(f.id)).name, n);
  assert.throws(() => lookupFtype("4"), /E_UNKNOWN_TYPE.*LLAMA_FTYPE number/); // 4 was Q4_1_SOME_F16, gone
  assert.throws(() => lookupFtype("Q4_K_X"), /unknown ftype/);
});

test("--override-kv KEY=TYPE:VALUE parses as llama.cpp writes it", () => {
  assert.equal(parseKvOverride("general.name=str:tiny"), { key: "general.name", type: 8, value: "tiny" });
  assert.equal(parseKvOverride("a.b=int:-7"), { key: "a.b", type: 4, value: 7 }); // u32 of |v|
  assert.equal(parseKvOverride("a.b=int:4294967297"), { key: "a.b", type: 4, value: 1 });
  assert.equal(parseKvOverride("a.f=float:0.1"), { key: "a.f", type: 6, value: Math.fround(0.1) });
  assert.equal(parseKvOverride("a.t=bool:true"), { key: "a.t", type: 7, value: true });
  assert.equal(parseKvOverride("a.s=str:x=y:z"), { key: "a.s", type: 8, value: "x=y:z" });
  for (const bad of ["novalue", "=int:1", "k=int", "k=int:1.5", "k=bool:yes", "k=float:abc", "k=u8:1", `k=str:${"x".repeat(128)}`, `${"k".repeat(128)}=int:1`]) {
    assert.throws(() => parseKvOverride(bad), /E_RANGE.*--override-kv/, bad);
  }
});

test("--help lists every command, every option of every table and every ftype; per-command help too", () => {
  const g = ok(["--help"]).stdout;
  for (const c of COMMANDS) {
    assert.ok(g.includes(c.usage), c.name);
    for (const o of c.options) assert.ok(g.includes(o.name), `${c.name} ${o.name}`);
  }
  for (const [n, f] of Object.entries(FTYPES)) assert.ok(g.includes(`${n}=${f.id}`), n);
  assert.match(g, /Q4_K=Q4_K_M/);
  assert.match(g, /COPY/);
  const q = ok(["quantize", "--help"]).stdout;
  for (const o of COMMANDS.find((c) => c.name === "quantize")!.options) assert.ok(q.includes(o.name), o.name);
  assert.not.match(q, /tensorshrink imatrix/);
  assert.match(ok(["help", "inspect"]).stdout, /tensorshrink inspect/);
});

test("default output name, numeric ftype, alias, nthreads positional; errors carry the code once", async () => {
  const d = mkdtempSync(path.join(dir, "def-"));
  const inp = path.join(d, "m.gguf");
  copyFileSync(input, inp);
  ok(["quantize", inp, "Q8_0"]);
  assert.ok(existsSync(path.join(d, "ggml-model-Q8_0.gguf")));
  ok(["quantize", inp, "q4_k", "2"]); // alias, named as given (llama-quantize: ggml-model-Q4_K.gguf), nthreads positional
  const g = await header(path.join(d, "ggml-model-Q4_K.gguf"));
  assert.is(kv(g, "general.file_type")!.value, 15);
  ok(["quantize", inp, path.join(d, "n15.gguf"), "15"]);
  ok(["quantize", inp, path.join(d, "byname.gguf"), "Q4_K_M"]);
  assert.ok(readFileSync(path.join(d, "n15.gguf")).equals(readFileSync(path.join(d, "byname.gguf"))), "15 = Q4_K_M");
  assert.is(defaultOutputName("a/b/c.gguf", "Q8_0"), "a/b/ggml-model-Q8_0.gguf");
  assert.is(defaultOutputName("c.gguf", "Q8_0"), "ggml-model-Q8_0.gguf");
  const bad = run(["quantize", inp, path.join(d, "x.gguf"), "Q9_9"]);
  assert.is(bad.status, 1);
  assert.is(bad.stderr.match(/E_UNKNOWN_TYPE/g)?.length, 1, bad.stderr);
  assert.match(bad.stderr, /^tensorshrink: E_UNKNOWN_TYPE: unknown ftype "Q9_9"/);
  assert.ok(!existsSync(path.join(d, "x.gguf")));
});

test("text output: fallbacks summarized, degenerate recipes warned about, a line before the first tensor", () => {
  const r = ok(["quantize", narrow, path.join(dir, "narrow-q2.gguf"), "Q2_K"]);
  // every 64-wide k-quant row falls back: q2_K -> q4_0 (layers), q3_K -> q4_0 (ffn_down, attn bumps)
  assert.match(r.stdout, /\d+ of \d+ quantized tensors fell back: q2_K → q4_0 \(cols 64 % 256\)/);
  assert.match(r.stdout, /warning: Q2_K degenerated on this model/);
  assert.match(r.stderr, /quantizing \d+ tensors .* to Q2_K/);
  const clean = ok(["quantize", input, path.join(dir, "clean-q4.gguf"), "Q4_K_M"]);
  assert.not.match(clean.stdout, /fell back|degenerated/);
  const j = JSON.parse(ok(["quantize", narrow, path.join(dir, "narrow-q4.gguf"), "Q4_K_M", "--json"]).stdout);
  assert.ok(j.fallbacks.some((s: string) => /q4_K → q5_0/.test(s)), JSON.stringify(j.fallbacks));
});

test("inspect: ftype by name; URLs; HTTP errors named", async () => {
  const q = path.join(dir, "clean-q4.gguf");
  assert.match(ok(["inspect", q]).stdout, /general\.file_type = 15 \(Q4_K_M\)/);
  const bytes = readFileSync(q);
  const server = createServer((req, res) => {
    if (req.url !== "/m.gguf") { res.writeHead(404); res.end("no"); return; }
    const m = /bytes=(\d+)-(\d+)/.exec(req.headers.range ?? "");
    if (!m) { res.writeHead(200); res.end(bytes); return; }
    const a = Number(m[1]), b = Math.min(Number(m[2]), bytes.length - 1);
    res.writeHead(206, { "content-range": `bytes ${a}-${b}/${bytes.length}` });
    res.end(bytes.subarray(a, b + 1));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as any).port;
  try {
    const runAsync = (args: string[]) => new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const p = spawn(process.execPath, [CLI, ...args]);
      let stdout = "", stderr = "";
      p.stdout.on("data", (d) => (stdout += d));
      p.stderr.on("data", (d) => (stderr += d));
      p.on("close", (status) => resolve({ status, stdout, stderr }));
    });
    const r = await runAsync(["inspect", `http://127.0.0.1:${port}/m.gguf`]);
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stdout, /Q4_K_M/);
    const nf = await runAsync(["inspect", `http://127.0.0.1:${port}/missing.gguf`]);
    assert.is(nf.status, 1);
    assert.match(nf.stderr, /not found: http:\/\/127\.0\.0\.1:\d+\/missing\.gguf \(HTTP 404\)/);
  } finally {
    server.close();
  }
  const miss = run(["inspect", path.join(dir, "nope.gguf")]);
  assert.match(miss.stderr, /E_IO: not found: /);
});

test("requantizing is refused without --allow-requantize (as llama-quantize); same-type tensors are copied", () => {
  const q8 = path.join(dir, "q8.gguf");
  ok(["quantize", input, q8, "Q8_0"]);
  const r = run(["quantize", q8, path.join(dir, "rq.gguf"), "Q4_0"]);
  assert.is(r.status, 1);
  assert.match(r.stderr, /E_UNSUPPORTED: tensor "[^"]+" is already quantized \(q8_0\); requantizing from type q8_0 to \w+ is disabled/);
  assert.ok(!existsSync(path.join(dir, "rq.gguf")));
  ok(["quantize", q8, path.join(dir, "same.gguf"), "Q8_0"]); // nothing changes type: fine without the flag
  ok(["quantize", q8, path.join(dir, "rq.gguf"), "Q4_0", "--allow-requantize"]);
});

test("--prune-layers: renumbers, sets block_count, refuses layers the model does not have", async () => {
  const out = path.join(dir, "pruned.gguf");
  ok(["quantize", input, out, "Q8_0", "--prune-layers", "1"]);
  const g = await header(out);
  assert.is(kv(g, "llama.block_count")!.value, 2);
  assert.is(g.metadata.at(-1)!.key, "llama.block_count");
  assert.ok(g.tensors.some((t) => t.name === "blk.1.attn_q.weight") && !g.tensors.some((t) => t.name.startsWith("blk.2.")));
  for (const bad of ["3", "a", "1,-1", "0,1,2"]) {
    const r = run(["quantize", input, path.join(dir, "pr-bad.gguf"), "Q8_0", "--prune-layers", bad]);
    assert.is(r.status, 1, bad);
    assert.match(r.stderr, /E_RANGE: .*(--prune-layers|pruneLayers)/, bad);
  }
  assert.ok(!existsSync(path.join(dir, "pr-bad.gguf")));
});

test("a shard of a split GGUF is refused by name (split models are not read yet), no output left", () => {
  const shard = path.join(dir, "m-00001-of-00002.gguf");
  ok(["quantize", input, shard, "F32", "--override-kv", "split.count=int:2"]);
  const r = run(["quantize", shard, path.join(dir, "from-shard.gguf"), "Q8_0"]);
  assert.is(r.status, 1);
  assert.match(r.stderr, /E_UNSUPPORTED: .*split GGUF \(split\.count = 2\)/);
  assert.ok(!existsSync(path.join(dir, "from-shard.gguf")));
});

test("--include-weights / --exclude-weights filter the imatrix by name (entries_count says how many)", async () => {
  const g = await header(input);
  const m = new Map<string, Float32Array>();
  for (const t of g.tensors) if (t.ne.length > 1) m.set(t.name, new Float32Array(t.ne[0]).fill(1.5));
  const dat = path.join(dir, "w.dat");
  writeFileSync(dat, encodeLegacyImatrix(m, { chunkCount: 3, dataset: "x.txt" }));
  const ffn = [...m.keys()].filter((k) => k.includes("ffn_")).length;
  ok(["quantize", input, path.join(dir, "inc.gguf"), "Q4_K_M", "--imatrix", dat, "--include-weights", "ffn_"]);
  assert.is(kv(await header(path.join(dir, "inc.gguf")), "quantize.imatrix.entries_count")!.value, ffn);
  ok(["quantize", input, path.join(dir, "exc.gguf"), "Q4_K_M", "--imatrix", dat, "--exclude-weights", "ffn_"]);
  assert.is(kv(await header(path.join(dir, "exc.gguf")), "quantize.imatrix.entries_count")!.value, m.size - ffn);
  assert.match(run(["quantize", input, path.join(dir, "ie.gguf"), "Q4_K_M", "--imatrix", dat, "--include-weights", "a", "--exclude-weights", "b"]).stderr, /cannot be used together/);
});

// --- byte identity with llama.cpp's llama_model_quantize for the shared options
function libllamaDir(): string | null {
  const req = createRequire(path.join(ROOT, "package.json"));
  const plat = `${process.platform}-${process.arch}`;
  const candidates = [path.join(ROOT, "node_modules/@node-llama-cpp", plat)];
  try { candidates.unshift(path.resolve(path.dirname(req.resolve(`@node-llama-cpp/${plat}`)), "..")); } catch { /* the folder */ }
  for (const pkg of candidates) {
    const d = path.join(pkg, "bins", plat);
    if (existsSync(path.join(d, "libllama.v0.5.0.so")) && existsSync(path.join(d, "libllama-common.so"))) return d;
  }
  return null;
}
function buildHarness(): string | { exe: string } {
  const lib = libllamaDir();
  if (!lib) return `no prebuilt libllama (@node-llama-cpp/${process.platform}-${process.arch}) installed`;
  const exe = path.join(dir, "llama-quantize-ref");
  const r = spawnSync("c++", ["-std=c++17", "-O1", "-o", exe, path.join(ROOT, "test/tools/llama-quantize-ref.cpp"), `-L${lib}`, "-l:libllama.v0.5.0.so", "-l:libllama-common.so", `-Wl,-rpath,${lib}`], { encoding: "utf8" });
  if (r.error) return `no C++ compiler (c++): ${r.error.message}`;
  if (r.status !== 0) throw new Error(`compiling test/tools/llama-quantize-ref.cpp failed:\n${r.stderr}`);
  return { exe };
}
const harness = buildHarness();
if (typeof harness === "string") console.log(`SKIP (byte identity): ${harness}`);
else {
  const llama = (inp: string, out: string, ftypeId: number, extra: string[] = []) => {
    const r = spawnSync(harness.exe, [inp, out, String(ftypeId), "2", ...extra], { encoding: "utf8", timeout: 120_000 });
    return { ok: r.status === 0, log: `${r.stdout}\n${r.stderr}` };
  };
  const tid = (t: string) => String(lookupType(t).ggmlTypeId);
  const same = (ref: string, mine: string, what: string) => {
    const [a, b] = [readFileSync(ref), readFileSync(mine)];
    assert.ok(a.equals(b), `${what}: not byte-identical to llama.cpp (${a.length} vs ${b.length} bytes)`);
  };
  // [tag, input, ftype, our CLI flags, harness flags]
  const cases: [string, string, string, string[], string[]][] = [
    ["--leave-output-tensor", input, "Q4_K_M", ["--leave-output-tensor"], ["--leave-output-tensor"]],
    ["--output-tensor-type q8_0", input, "Q4_K_M", ["--output-tensor-type", "q8_0"], ["--output-tensor-type", tid("q8_0")]],
    ["--output-tensor-type f16 --pure", input, "Q3_K_S", ["--output-tensor-type", "f16", "--pure"], ["--output-tensor-type", tid("f16"), "--pure"]],
    ["--token-embedding-type q4_K", input, "Q5_K_M", ["--token-embedding-type", "q4_K"], ["--token-embedding-type", tid("q4_K")]],
    ["tied: --output-tensor-type q5_K", tied, "Q4_0", ["--output-tensor-type", "q5_K"], ["--output-tensor-type", tid("q5_K")]],
    ["tied: both types", tied, "Q6_K", ["--output-tensor-type", "q5_K", "--token-embedding-type", "q8_0"], ["--output-tensor-type", tid("q5_K"), "--token-embedding-type", tid("q8_0")]],
    ["--override-kv int, float, bool, str (new and replaced keys)", input, "Q8_0",
      ["--override-kv", "general.name=str:renamed", "--override-kv", "tensorshrink.test.i=int:-42", "--override-kv", "tensorshrink.test.f=float:0.3", "--override-kv", "tensorshrink.test.b=bool:true"],
      ["--override-kv", "general.name=str:renamed", "--override-kv", "tensorshrink.test.i=int:-42", "--override-kv", "tensorshrink.test.f=float:0.3", "--override-kv", "tensorshrink.test.b=bool:true"]],
    ["numeric ftype 17 + alias semantics", input, "17", [], []],
    ["--prune-layers 2,0 (renumbered, block_count last, recipe on the input's layer count)", input, "Q4_K_M", ["--prune-layers", "2,0"], ["--prune-layers", "0,2"]],
    ["narrow rows, --output-tensor-type q8_0 (fallbacks elsewhere)", narrow, "Q4_K_S", ["--output-tensor-type", "q8_0"], ["--output-tensor-type", tid("q8_0")]],
  ];
  for (const [tag, inp, ftype, ours, theirs] of cases) {
    test(`byte-identical to llama.cpp: ${tag}`, () => {
      const ref = path.join(dir, "ref.gguf"), mine = path.join(dir, "mine.gguf");
      rmSync(ref, { force: true }); rmSync(mine, { force: true });
      const r = llama(inp, ref, lookupFtype(ftype).id, theirs);
      assert.ok(r.ok, r.log.slice(-800));
      ok(["quantize", inp, mine, ftype, "-t", "2", ...ours]);
      same(ref, mine, tag);
    });
  }
  test("byte-identical to llama.cpp: COPY (file_type kept from the input), and --allow-requantize q8_0 -> Q4_K_M", () => {
    const q8 = path.join(dir, "q8-src.gguf");
    ok(["quantize", input, q8, "Q8_0"]);
    for (const [tag, inp, ftype, ours, theirs, id] of [
      ["COPY of a Q8_0 file", q8, "COPY", [], ["--copy"], 0],
      ["COPY of an f32 file", input, "COPY", [], ["--copy"], 0],
      ["--allow-requantize", q8, "Q4_K_M", ["--allow-requantize"], ["--allow-requantize"], 15],
    ] as [string, string, string, string[], string[], number][]) {
      const ref = path.join(dir, "ref.gguf"), mine = path.join(dir, "mine.gguf");
      rmSync(ref, { force: true }); rmSync(mine, { force: true });
      const r = llama(inp, ref, id, theirs);
      assert.ok(r.ok, `${tag}: ${r.log.slice(-800)}`);
      ok(["quantize", inp, mine, ftype, ...ours]);
      same(ref, mine, tag);
    }
    // and llama.cpp refuses the requantization without the flag, as we do
    assert.not.ok(llama(q8, path.join(dir, "ref-no.gguf"), 15).ok);
  });
}

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
