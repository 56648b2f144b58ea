// Tokenizer speed beside llama.cpp (node-llama-cpp's model.tokenize / detokenize), same run:
// encode and decode of kjv3M/calib.txt (187 KB of English) with kjv3M's 512-token SPM (converted from
// llama2.c) and llama.cpp's own vocabulary fixtures (llama-spm 32k SPM; gpt-2 50k, llama-bpe 128k and
// qwen2 152k byte-level BPE) from the llama.cpp bundle inside node-llama-cpp. Best of N alternating runs;
// only ratios within this run mean anything on a shared machine. Writes bench/TOKENIZER.md.
// Usage: node bench/tokenizer.mjs [--runs 5]   (needs `npm run build`)
import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, renameSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { tmpdir } from "node:os";
import os from "node:os";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..");
const ri = process.argv.indexOf("--runs");
const RUNS = ri > 0 ? Number(process.argv[ri + 1]) : 5;
const KJV = path.resolve(root, "../shared/models/kjv3M");
const CALIB = path.join(KJV, "calib.txt");
if (!existsSync(CALIB)) { console.log(`SKIP: ${CALIB} not found; nothing written`); process.exit(0); }
if (!existsSync(path.join(root, "dist/index.js"))) { console.error("dist/ is missing: run `npm run build` first"); process.exit(1); }
const ts = await import(pathToFileURL(path.join(root, "dist/index.js")).href);
const nlc = await import("node-llama-cpp");
const llama = await nlc.getLlama({ gpu: false, build: "never", skipDownload: true, logLevel: "error" });
const text = readFileSync(CALIB, "utf8");
const tmp = mkdtempSync(path.join(tmpdir(), "ts-tok-bench-"));

/** llama.cpp's ggml-vocab-<name>.gguf files from node-llama-cpp's llama.cpp source bundle (git needed). */
function vocabFiles(names) {
  const bundle = path.join(root, "node_modules/node-llama-cpp/llama/gitRelease.bundle");
  if (!existsSync(bundle)) return {};
  const heads = spawnSync("git", ["bundle", "list-heads", bundle], { encoding: "utf8" });
  if (heads.status !== 0) return {};
  const sha = heads.stdout.trim().split(/\s+/)[0];
  const dir = path.join(tmpdir(), `tensorshrink-llama-vocab-${sha.slice(0, 12)}`);
  mkdirSync(dir, { recursive: true });
  const want = names.map((n) => `ggml-vocab-${n}.gguf`);
  if (!want.every((f) => existsSync(path.join(dir, f)))) {
    const git = path.join(dir, `.git-${process.pid}`);
    spawnSync("git", ["init", "-q", "--bare", git]);
    spawnSync("git", ["--git-dir", git, "fetch", "-q", bundle, `${sha}:refs/heads/bundle`]);
    for (const f of want) {
      const r = spawnSync("git", ["--git-dir", git, "show", `${sha}:models/${f}`], { maxBuffer: 64 << 20 });
      if (r.status === 0) { writeFileSync(path.join(dir, f + ".tmp"), r.stdout); renameSync(path.join(dir, f + ".tmp"), path.join(dir, f)); }
    }
    rmSync(git, { recursive: true, force: true });
  }
  return Object.fromEntries(names.map((n) => [n, path.join(dir, `ggml-vocab-${n}.gguf`)]).filter(([, f]) => existsSync(f)));
}

const best = (fn) => { let b = Infinity, out; for (let i = 0; i < RUNS; i++) { const t = performance.now(); out = fn(); b = Math.min(b, performance.now() - t); } return [b, out]; };

const kjvGguf = path.join(tmp, "kjv3M.gguf");
await ts.convertToGguf({ llama2c: path.join(KJV, "kjv3M.bin"), tokenizer: path.join(KJV, "tok512.bin"), name: "kjv3M" }, await ts.openFileSink(kjvGguf), { ftype: "F32" });
const cases = [["kjv3M (SPM, 512)", kjvGguf], ...Object.entries(vocabFiles(["llama-spm", "gpt-2", "llama-bpe", "qwen2"])).map(([n, f]) => [`ggml-vocab-${n}`, f])];
const rows = [];
for (const [name, file] of cases) {
  let t = performance.now();
  const tok = ts.Tokenizer.fromGguf(await ts.readGguf(await ts.openFileSource(file)));
  const loadOurs = performance.now() - t;
  t = performance.now();
  const model = await llama.loadModel({ modelPath: file, vocabOnly: true });
  const loadNlc = performance.now() - t;
  let encOurs = Infinity, encNlc = Infinity, decOurs = Infinity, decNlc = Infinity, ours, theirs;
  for (let r = 0; r < RUNS; r++) { // alternate
    let t0 = performance.now(); ours = tok.encode(text, { addBos: false }); encOurs = Math.min(encOurs, performance.now() - t0);
    t0 = performance.now(); theirs = model.tokenize(text, false); encNlc = Math.min(encNlc, performance.now() - t0);
    t0 = performance.now(); tok.decode(theirs); decOurs = Math.min(decOurs, performance.now() - t0);
    t0 = performance.now(); model.detokenize(theirs); decNlc = Math.min(decNlc, performance.now() - t0);
  }
  const same = ours.length === theirs.length && ours.every((v, i) => v === theirs[i]);
  await model.dispose();
  const n = theirs.length;
  rows.push({ name, nVocab: tok.nVocab, model: tok.model, pre: tok.pre, tokens: n, identical: same, encOurs, encNlc, decOurs, decNlc, loadOurs, loadNlc });
  console.log(`${name}: ${n} tokens identical=${same} encode ours ${(n / encOurs * 1e3 / 1e3).toFixed(0)}k tok/s, llama.cpp ${(n / encNlc * 1e3 / 1e3).toFixed(0)}k tok/s`);
}
rmSync(tmp, { recursive: true, force: true });

const k = (ms, n) => `${(n / ms).toFixed(0)}k`;
const md = [
  "# Tokenizer speed: tensorshrink (TypeScript) beside llama.cpp (node-llama-cpp, native)",
  "",
  `Encode / decode of \`kjv3M/calib.txt\` (${text.length.toLocaleString("en-US")} characters) in one call, add_special off, best of ${RUNS} alternating runs in the same process.`,
  `Machine: ${os.cpus()[0]?.model ?? "?"} (${os.cpus().length} cores, shared), Node ${process.versions.node}, node-llama-cpp ${JSON.parse(readFileSync(path.join(root, "node_modules/node-llama-cpp/package.json"), "utf8")).version}, ${new Date().toISOString().slice(0, 10)}.`,
  "Reproduce: `npm run build && node bench/tokenizer.mjs`. Absolute times move with the machine's load; compare within a row.",
  "",
  "| vocabulary | type | tokens | ids identical | encode ours (tok/s) | encode llama.cpp (tok/s) | ours / llama.cpp | decode ours (tok/s) | decode llama.cpp (tok/s) | load ours (ms) | load llama.cpp (ms) |",
  "| --- | --- | ---: | :---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ...rows.map((r) => `| ${r.name} | ${r.model}${r.model === "gpt2" ? ` (${r.pre})` : ""}, ${r.nVocab.toLocaleString("en-US")} | ${r.tokens.toLocaleString("en-US")} | ${r.identical ? "yes" : "**no**"} | ${k(r.encOurs, r.tokens)} | ${k(r.encNlc, r.tokens)} | ${(r.encNlc / r.encOurs).toFixed(2)}x | ${k(r.decOurs, r.tokens)} | ${k(r.decNlc, r.tokens)} | ${r.loadOurs.toFixed(0)} | ${r.loadNlc.toFixed(0)} |`),
  "",
  "\"ours / llama.cpp\" > 1 means the TypeScript tokenizer is faster. Load = GGUF header parse + tables (ours: `readGguf` + `Tokenizer.fromGguf`; llama.cpp: `loadModel({ vocabOnly: true })`).",
  "",
].join("\n");
writeFileSync(path.join(here, "TOKENIZER.md"), md);
console.log(`wrote ${path.relative(root, path.join(here, "TOKENIZER.md"))}`);
