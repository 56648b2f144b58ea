// Benchmark: whole-file i-quant quantization (IQ2_XS, IQ3_M, IQ4_XS by default) of a >= 100M-parameter
// synthetic llama (F32 GGUF), tensorshrink's `quantize` CLI beside llama.cpp's llama_model_quantize
// (node-llama-cpp's prebuilt libllama through test/tools/llama-quantize-ref.cpp, as test/61/62 use it),
// both with 1 thread and the same legacy .dat importance matrix, as child processes under
// /usr/bin/time (wall, user, sys seconds), one after the other per ftype so machine load hits both
// alike. Compares CPU time (user + sys) and checks the two files are byte-identical.
// Usage: node bench/iq-file.mjs [--ftypes IQ2_XS,IQ3_M,IQ4_XS] [--layers 12] [--embd 768] [--ff 2048] [--vocab 16384]
//        [--root DIR] [--base-root DIR]
// --root: the tensorshrink tree whose CLI runs (default this one; a snapshot with src/ and
// build/tensorshrink.wasm keeps a long run independent of rebuilds here). --base-root: a second tree
// (e.g. the previous kernels) run right after, per ftype: llama.cpp, base, new, so a before/after
// comparison comes from the same run. Both outputs must be byte-identical to llama.cpp's.
// Appends to bench/iq-file.json (one record per ftype); bench/IQ-FILE.md holds the figures of a run.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir, cpus, loadavg } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const arg = (k, d) => { const i = process.argv.indexOf(k); return i > 0 ? process.argv[i + 1] : d; };
const ftypes = arg("--ftypes", "IQ2_XS,IQ3_M,IQ4_XS").split(",");
const dims = { nLayer: +arg("--layers", "12"), nEmbd: +arg("--embd", "768"), nFf: +arg("--ff", "2048"), nHead: 12, nHeadKv: 4, nVocab: +arg("--vocab", "16384") };
const plat = `${process.platform}-${process.arch}`;
let lib = null;
for (const pkg of [path.join(ROOT, "node_modules/@node-llama-cpp", plat)]) {
  try { createRequire(path.join(ROOT, "package.json")).resolve(`@node-llama-cpp/${plat}`); } catch { /* folder probe below */ }
  const d = path.join(pkg, "bins", plat);
  if (existsSync(path.join(d, "libllama.v0.5.0.so"))) lib = d;
}
if (!lib) { console.log(`SKIP: no prebuilt libllama for ${plat}`); process.exit(0); }
const tmp = mkdtempSync(path.join(tmpdir(), "ts-bench-iq-file-"));
const exe = path.join(tmp, "llama-quantize-ref");
const cc = spawnSync("c++", ["-std=c++17", "-O1", "-o", exe, path.join(ROOT, "test/tools/llama-quantize-ref.cpp"), `-L${lib}`, "-l:libllama.v0.5.0.so", "-l:libllama-common.so", `-Wl,-rpath,${lib}`], { encoding: "utf8" });
if (cc.status !== 0) { console.log(`SKIP: cannot compile the harness: ${cc.stderr || cc.error}`); process.exit(0); }
const timed = (cmd) => {
  const r = spawnSync("/usr/bin/time", ["-f", "TIME %e %U %S %M", ...cmd], { encoding: "utf8", cwd: ROOT, maxBuffer: 256 << 20 });
  const m = /TIME ([\d.]+) ([\d.]+) ([\d.]+) (\d+)/.exec(r.stderr);
  if (r.status !== 0 || !m) throw new Error(`${cmd.join(" ")} failed:\n${r.stderr.slice(-3000)}`);
  return { wall: +m[1], user: +m[2], sys: +m[3], cpu: +m[2] + +m[3], maxRssMiB: Math.round(+m[4] / 1024) };
};
// Input model + imatrix, written by a small tsx script from src/.
const input = path.join(tmp, "synthetic-F32.gguf"), im = path.join(tmp, "im.dat");
const gen = path.join(tmp, "gen.mts");
writeFileSync(gen, `
import { init, syntheticModel, quantizeModel, encodeLegacyImatrix } from ${JSON.stringify(path.join(ROOT, "src/index.ts"))};
import { openFileSink } from ${JSON.stringify(path.join(ROOT, "src/formats/source.ts"))};
import { writeFileSync } from "node:fs";
const e = await init({ threads: 2 });
const m = syntheticModel(${JSON.stringify({ ...dims, seed: 9 })});
await quantizeModel(e, m, await openFileSink(${JSON.stringify(input)}), { ftype: "F32", order: "input", stats: false });
let s = 5; const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
const map = new Map();
for (const t of m.tensors) if (t.ne.length > 1) map.set(t.name, Float32Array.from({ length: t.ne[0] }, () => 0.01 + rnd() * rnd() * 5));
writeFileSync(${JSON.stringify(im)}, encodeLegacyImatrix(map, { chunkCount: 10, dataset: "synthetic" }));
console.log(m.tensors.reduce((a, t) => a + t.ne.reduce((x, y) => x * y, 1), 0));
e.dispose();
`);
const g = spawnSync(process.execPath, ["--import", "tsx", gen], { encoding: "utf8", cwd: ROOT });
if (g.status !== 0) throw new Error(g.stderr);
const params = +g.stdout.trim().split("\n").pop();
console.log(`input: synthetic llama ${JSON.stringify(dims)}, ${(params / 1e6).toFixed(1)}M parameters, ${(statSync(input).size / 2 ** 20).toFixed(0)} MiB F32`);
const cliOf = (root) => [process.execPath, "--import", "tsx", path.join(root, "src/cli/main.ts")];
const cli = cliOf(arg("--root", ROOT)), baseRoot = arg("--base-root", null);
const records = [];
try {
  for (const f of ftypes) {
    const ref = path.join(tmp, `ref-${f}.gguf`), mine = path.join(tmp, `ours-${f}.gguf`);
    const ids = { IQ2_XXS: 19, IQ2_XS: 20, IQ3_XS: 22, IQ3_XXS: 23, IQ1_S: 24, IQ3_S: 26, IQ3_M: 27, IQ2_S: 28, IQ2_M: 29, IQ4_XS: 30, IQ1_M: 31 };
    const l = timed([exe, input, ref, String(ids[f]), "1", "--imatrix", im]);
    let base = null, baseIdentical = null;
    if (baseRoot) {
      base = timed([...cliOf(baseRoot), "quantize", input, mine, f, "--imatrix", im, "--threads", "1", "--json"]);
      baseIdentical = readFileSync(ref).equals(readFileSync(mine));
      rmSync(mine);
    }
    const o = timed([...cli, "quantize", input, mine, f, "--imatrix", im, "--threads", "1", "--json"]);
    const identical = readFileSync(ref).equals(readFileSync(mine));
    const rec = { ftype: f, params, dims, llamaCpp: l, tensorshrink: o, cpuRatio: +(o.cpu / l.cpu).toFixed(2), identical, loadavg: loadavg().map((x) => +x.toFixed(1)), cpu: cpus()[0]?.model, date: new Date().toISOString() };
    if (base) Object.assign(rec, { base, baseCpuRatio: +(base.cpu / l.cpu).toFixed(2), baseIdentical });
    records.push(rec);
    console.log(`${f}: llama.cpp cpu ${l.cpu.toFixed(1)} s (wall ${l.wall} s),${base ? ` base cpu ${base.cpu.toFixed(1)} s (${rec.baseCpuRatio}x, identical ${baseIdentical}),` : ""} tensorshrink cpu ${o.cpu.toFixed(1)} s (wall ${o.wall} s), ratio ${rec.cpuRatio}x, byte-identical ${identical}`);
    rmSync(ref); rmSync(mine);
  }
} finally {
  const out = path.join(ROOT, "bench/iq-file.json");
  const prev = existsSync(out) ? JSON.parse(readFileSync(out, "utf8")) : [];
  writeFileSync(out, JSON.stringify([...prev, ...records], null, 1) + "\n");
  rmSync(tmp, { recursive: true, force: true });
}
