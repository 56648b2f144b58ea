// Benchmark: whole-file i-quant quantization (IQ2_XS, IQ3_M, IQ4_XS by default) of a >= 100M-parameter
// synthetic llama (F32 GGUF), tensorshrink's `quantize` CLI beside llama.cpp's llama_model_quantize
// (node-llama-cpp's prebuilt libllama through test/tools/llama-quantize-ref.cpp, as test/61/62 use it),
// both with 1 thread and the same legacy .dat importance matrix, as child processes under
// /usr/bin/time (wall, user, sys seconds), one after the other per ftype so machine load hits both
// alike. Compares CPU time (user + sys) and checks the two files are byte-identical.
// Usage: node bench/iq-file.mjs [--ftypes IQ2_XS,IQ3_M,IQ4_XS] [--layers 12] [--embd 768] [--ff 2048] [--vocab 16384]
//        [--root DIR] [--base-root DIR] [--cli dist|src] [--stats] [--out bench/iq-file.json]
// --cli: dist (default: the published bundle dist/cli.js of each tree, as bench/vs-llama.mjs runs it; a
// tree without dist/cli.js falls back to src under tsx) or src (src/cli/main.ts under tsx: ~1.1 s more
// start-up per process). --stats: tensorshrink also measures per-tensor SQNR (default --no-stats, as
// llama.cpp measures nothing).
// --root: the tensorshrink tree whose CLI runs (default this one; a snapshot with src/ and
// build/tensorshrink.wasm keeps a long run independent of rebuilds here). --base-root: a second tree
// (e.g. the previous kernels) run right after, per ftype: llama.cpp, base, new, so a before/after
// comparison comes from the same run. Both outputs must be byte-identical to llama.cpp's.
// Appends to bench/iq-file.json (one record per ftype); bench/IQ-FILE.md holds the figures of a run.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, statSync } from "node:fs";
import { tmpdir, cpus, loadavg } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { buildLlamaQuantizeRef, timed, writeSyntheticInput } from "./_llama-ref.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const arg = (k, d) => { const i = process.argv.indexOf(k); return i > 0 ? process.argv[i + 1] : d; };
const ftypes = arg("--ftypes", "IQ2_XS,IQ3_M,IQ4_XS").split(",");
const dims = { nLayer: +arg("--layers", "12"), nEmbd: +arg("--embd", "768"), nFf: +arg("--ff", "2048"), nHead: 12, nHeadKv: 4, nVocab: +arg("--vocab", "16384") };
const tmp = mkdtempSync(path.join(tmpdir(), "ts-bench-iq-file-"));
const exe = buildLlamaQuantizeRef(tmp);
if (!exe) { rmSync(tmp, { recursive: true, force: true }); process.exit(0); }
// Input model + legacy .dat imatrix (bench/_llama-ref.mjs).
const { input, im, params } = writeSyntheticInput(tmp, dims);
console.log(`input: synthetic llama ${JSON.stringify(dims)}, ${(params / 1e6).toFixed(1)}M parameters, ${(statSync(input).size / 2 ** 20).toFixed(0)} MiB F32`);
const cliKind = arg("--cli", "dist");
const statsArgs = process.argv.includes("--stats") ? [] : ["--no-stats"];
const cliOf = (root) => cliKind === "dist" && existsSync(path.join(root, "dist/cli.js"))
  ? [process.execPath, path.join(root, "dist/cli.js")]
  : [process.execPath, "--import", "tsx", path.join(root, "src/cli/main.ts")];
const cli = cliOf(arg("--root", ROOT)), baseRoot = arg("--base-root", null);
const records = [];
try {
  for (const f of ftypes) {
    const ref = path.join(tmp, `ref-${f}.gguf`), mine = path.join(tmp, `ours-${f}.gguf`);
    const ids = { IQ2_XXS: 19, IQ2_XS: 20, IQ3_XS: 22, IQ3_XXS: 23, IQ1_S: 24, IQ3_S: 26, IQ3_M: 27, IQ2_S: 28, IQ2_M: 29, IQ4_XS: 30, IQ1_M: 31 };
    const l = timed([exe, input, ref, String(ids[f]), "1", "--imatrix", im]);
    let base = null, baseIdentical = null;
    if (baseRoot) {
      base = timed([...cliOf(baseRoot), "quantize", input, mine, f, "--imatrix", im, "--threads", "1", "--json", ...statsArgs]);
      baseIdentical = readFileSync(ref).equals(readFileSync(mine));
      rmSync(mine);
    }
    const o = timed([...cli, "quantize", input, mine, f, "--imatrix", im, "--threads", "1", "--json", ...statsArgs]);
    const identical = readFileSync(ref).equals(readFileSync(mine));
    const rec = { ftype: f, params, dims, cli: cli.slice(1).join(" "), stats: statsArgs.length === 0, llamaCpp: l, tensorshrink: o, cpuRatio: +(o.cpu / l.cpu).toFixed(2), identical, loadavg: loadavg().map((x) => +x.toFixed(1)), cpu: cpus()[0]?.model, date: new Date().toISOString() };
    if (base) Object.assign(rec, { base, baseCpuRatio: +(base.cpu / l.cpu).toFixed(2), baseIdentical });
    records.push(rec);
    console.log(`${f}: llama.cpp cpu ${l.cpu.toFixed(1)} s (wall ${l.wall} s),${base ? ` base cpu ${base.cpu.toFixed(1)} s (${rec.baseCpuRatio}x, identical ${baseIdentical}),` : ""} tensorshrink cpu ${o.cpu.toFixed(1)} s (wall ${o.wall} s), ratio ${rec.cpuRatio}x, byte-identical ${identical}`);
    rmSync(ref); rmSync(mine);
  }
} finally {
  const out = path.resolve(ROOT, arg("--out", "bench/iq-file.json"));
  const prev = existsSync(out) ? JSON.parse(readFileSync(out, "utf8")) : [];
  writeFileSync(out, JSON.stringify([...prev, ...records], null, 1) + "\n");
  rmSync(tmp, { recursive: true, force: true });
}
