// Benchmark: whole-file quantization, tensorshrink vs llama.cpp, every ftype tensorshrink offers
// (F16 … IQ4_NL, Q2_K_S, TQ1_0/TQ2_0 and the i-quants), with and without an importance matrix (the
// i-quants with one only), on 1 and 2 threads. Each timed run is preceded by an untimed read of the input.
// Both run on the same synthetic llama F32 GGUF (syntheticModel, >= 100M parameters by default) as
// child processes under /usr/bin/time (wall, user, sys, max RSS): llama.cpp = llama_model_quantize of
// node-llama-cpp's prebuilt libllama through test/tools/llama-quantize-ref.cpp (as test/61 and
// bench/iq-file.mjs use it); tensorshrink = `node dist/cli.js quantize IN OUT FTYPE --threads N`
// (the published CLI; run `npm run build` first). A/B runs alternate (llama.cpp, tensorshrink,
// llama.cpp, tensorshrink, ...), `--reps` of each; every output is compared byte for byte with
// llama.cpp's. CPU time (user + sys) is the comparable figure on a shared machine: wall time depends
// on what the other processes do. Ratios are llama.cpp / tensorshrink (> 1: tensorshrink is faster),
// from the per-tool medians.
// Usage: node bench/vs-llama.mjs [--ftypes F16,Q8_0,...] [--threads 1,2] [--reps 2] [--imatrix both|yes|no]
//        [--no-extra-ca] (both tools run without NODE_EXTRA_CA_CERTS: Node parses that CA file at start-up,
//          0.04 CPU s on this machine, before any of our code runs; the record says which)
//        [--stats] (tensorshrink also measures per-tensor SQNR; default --no-stats, as llama.cpp measures nothing)
//        [--layers 12] [--embd 768] [--ff 2048] [--vocab 16384] [--cli dist|src]
//        [--out bench/vs-llama.json] (records are appended to this file)
//        [--input FILE.gguf --im FILE.dat] (an F32 GGUF and legacy imatrix already written, e.g. by an earlier run, instead of generating them)
//        node bench/vs-llama.mjs --table   prints bench/vs-llama.json as the markdown table of bench/VS-LLAMA.md
// Appends one record per (ftype, imatrix, threads) to bench/vs-llama.json; bench/VS-LLAMA.md holds a run's figures.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, statSync, openSync, readSync, closeSync } from "node:fs";
import { tmpdir, cpus, loadavg } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { buildLlamaQuantizeRef, timed as timedRun, writeSyntheticInput, ggufParams } from "./_llama-ref.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const arg = (k, d) => { const i = process.argv.indexOf(k); return i > 0 ? process.argv[i + 1] : d; };
if (process.argv.includes("--table")) {
  // Markdown table of bench/vs-llama.json (the figures bench/VS-LLAMA.md quotes), then exit.
  const recs = JSON.parse(readFileSync(path.join(ROOT, "bench/vs-llama.json"), "utf8"));
  console.log("| ftype | imatrix | threads | llama.cpp CPU s | tensorshrink CPU s | **CPU ratio** | llama.cpp wall s | tensorshrink wall s | wall ratio | peak RSS llama.cpp / ts MiB | identical | load avg |");
  console.log("|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|---:|");
  for (const r of recs) console.log(`| ${r.ftype} | ${r.imatrix ? "yes" : "no"} | ${r.threads} | ${r.llamaCpp.cpu.toFixed(2)} | ${r.tensorshrink.cpu.toFixed(2)} | **${r.cpuRatio.toFixed(2)}x** | ${r.llamaCpp.wall.toFixed(2)} | ${r.tensorshrink.wall.toFixed(2)} | ${r.wallRatio.toFixed(2)}x | ${r.llamaCpp.maxRssMiB} / ${r.tensorshrink.maxRssMiB} | ${r.identical ? "yes" : "**no**"} | ${r.loadavg[0]} |`);
  process.exit(0);
}
/** llama_ftype ids; `im` = the ftype's tensors use an importance matrix (false: it is ignored, so one run). */
// (the order of a full run: the issue's headline types first)
const FTYPES = {
  Q8_0: { id: 7, im: false }, Q4_0: { id: 2, im: true }, F16: { id: 1, im: false }, Q4_K_M: { id: 15, im: true },
  Q5_K_M: { id: 17, im: true }, Q3_K_M: { id: 12, im: true }, Q2_K: { id: 10, im: true }, BF16: { id: 32, im: false },
  Q4_1: { id: 3, im: true }, Q5_0: { id: 8, im: true }, Q5_1: { id: 9, im: true },
  Q3_K_S: { id: 11, im: true }, Q3_K_L: { id: 13, im: true }, Q4_K_S: { id: 14, im: true }, Q5_K_S: { id: 16, im: true },
  Q6_K: { id: 18, im: true }, IQ4_NL: { id: 25, im: true },
  Q2_K_S: { id: 21, im: true, imOnly: true }, TQ1_0: { id: 36, im: false }, TQ2_0: { id: 37, im: false },
  // imOnly: llama.cpp refuses Q2_K_S and most i-quants without an importance matrix; these run with one only
  IQ4_XS: { id: 30, im: true, imOnly: true }, IQ3_M: { id: 27, im: true, imOnly: true }, IQ3_S: { id: 26, im: true, imOnly: true },
  IQ3_XS: { id: 22, im: true, imOnly: true }, IQ3_XXS: { id: 23, im: true, imOnly: true }, IQ2_M: { id: 29, im: true, imOnly: true },
  IQ2_S: { id: 28, im: true, imOnly: true }, IQ2_XS: { id: 20, im: true, imOnly: true }, IQ2_XXS: { id: 19, im: true, imOnly: true },
  IQ1_M: { id: 31, im: true, imOnly: true }, IQ1_S: { id: 24, im: true, imOnly: true },
};
const ftypes = arg("--ftypes", Object.keys(FTYPES).join(",")).split(",");
for (const f of ftypes) if (!FTYPES[f]) { console.error(`unknown ftype ${f}; known: ${Object.keys(FTYPES).join(",")}`); process.exit(2); }
const threads = arg("--threads", "1,2").split(",").map(Number);
const reps = +arg("--reps", "2");
const imMode = arg("--imatrix", "both");
const withStats = process.argv.includes("--stats");
const cliKind = arg("--cli", "dist");
const dims = { nLayer: +arg("--layers", "12"), nEmbd: +arg("--embd", "768"), nFf: +arg("--ff", "2048"), nHead: 12, nHeadKv: 4, nVocab: +arg("--vocab", "16384") };
if (cliKind === "dist" && !existsSync(path.join(ROOT, "dist/cli.js"))) { console.log("SKIP: dist/cli.js missing (npm run build)"); process.exit(0); }
const tmp = mkdtempSync(path.join(tmpdir(), "ts-bench-vs-llama-"));
const exe = buildLlamaQuantizeRef(tmp);
if (!exe) { rmSync(tmp, { recursive: true, force: true }); process.exit(0); }
const childEnv = { ...process.env };
if (process.argv.includes("--no-extra-ca")) delete childEnv.NODE_EXTRA_CA_CERTS;
const extraCaCerts = !!childEnv.NODE_EXTRA_CA_CERTS;
const timed = (cmd) => { const t = timedRun(cmd, childEnv); return { ...t, cpu: +t.cpu.toFixed(2) }; };
/** Reads `file` once, untimed, so that the timed run that follows finds it in the page cache. */
const warm = (file) => { const fd = openSync(file, "r"), b = Buffer.allocUnsafe(8 << 20); while (readSync(fd, b, 0, b.length, null) > 0); closeSync(fd); };
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
// Input model + legacy .dat imatrix (bench/_llama-ref.mjs).
const given = arg("--input", null);
const { input, im, params } = given ? { input: path.resolve(given), im: arg("--im", null) && path.resolve(arg("--im", null)), params: ggufParams(path.resolve(given)) } : writeSyntheticInput(tmp, dims);
const inMiB = statSync(input).size / 2 ** 20;
console.log(`input: ${given ? given : `synthetic llama ${JSON.stringify(dims)}`}, ${(params / 1e6).toFixed(1)}M parameters, ${inMiB.toFixed(0)} MiB F32; ${reps} alternating runs each; tensorshrink ${withStats ? "with" : "without"} SQNR stats; NODE_EXTRA_CA_CERTS ${extraCaCerts ? "set" : "unset"}`);
const cli = cliKind === "dist" ? [process.execPath, path.join(ROOT, "dist/cli.js")] : [process.execPath, "--import", "tsx", path.join(ROOT, "src/cli/main.ts")];
const records = [];
const outJson = path.resolve(ROOT, arg("--out", "bench/vs-llama.json"));
const prev = existsSync(outJson) ? JSON.parse(readFileSync(outJson, "utf8")) : [];
const save = () => writeFileSync(outJson, JSON.stringify([...prev, ...records], null, 1) + "\n");
try {
  for (const f of ftypes) {
    const ims = (!FTYPES[f].im ? [false] : FTYPES[f].imOnly ? [true] : imMode === "both" ? [false, true] : [imMode === "yes"]).filter((x) => !x || im || (console.log(`${f} +imatrix: skipped (--input without --im)`), false));
    for (const useIm of ims) {
      for (const nt of threads) {
        const ref = path.join(tmp, "ref.gguf"), mine = path.join(tmp, "ours.gguf");
        const imArgs = useIm ? ["--imatrix", im] : [];
        const L = [], T = [];
        let identical = true;
        for (let r = 0; r < reps; r++) {
          warm(input); // both read the input from the page cache (this VM drops it between runs at times)
          L.push(timed([exe, input, ref, String(FTYPES[f].id), String(nt), ...imArgs]));
          warm(input);
          T.push(timed([...cli, "quantize", input, mine, f, ...imArgs, "--threads", String(nt), "--json", ...(withStats ? [] : ["--no-stats"])]));
          identical &&= readFileSync(ref).equals(readFileSync(mine));
          rmSync(ref); rmSync(mine);
        }
        const lc = median(L.map((x) => x.cpu)), tc = median(T.map((x) => x.cpu)), lw = median(L.map((x) => x.wall)), tw = median(T.map((x) => x.wall));
        const rec = {
          ftype: f, imatrix: useIm, threads: nt, params, inputMiB: Math.round(inMiB), reps, stats: withStats, extraCaCerts,
          llamaCpp: { cpu: lc, wall: lw, maxRssMiB: Math.max(...L.map((x) => x.maxRssMiB)), runs: L },
          tensorshrink: { cpu: tc, wall: tw, maxRssMiB: Math.max(...T.map((x) => x.maxRssMiB)), runs: T },
          cpuRatio: +(lc / tc).toFixed(2), wallRatio: +(lw / tw).toFixed(2), identical,
          loadavg: loadavg().map((x) => +x.toFixed(1)), cpu: cpus()[0]?.model, node: process.version, date: new Date().toISOString(),
        };
        records.push(rec);
        save(); // after every record: a run stopped early keeps what it measured
        console.log(`${f}${useIm ? " +imatrix" : ""} t${nt}: llama.cpp cpu ${lc.toFixed(2)} s wall ${lw.toFixed(2)} s rss ${rec.llamaCpp.maxRssMiB} MiB | tensorshrink cpu ${tc.toFixed(2)} s wall ${tw.toFixed(2)} s rss ${rec.tensorshrink.maxRssMiB} MiB | cpu ${rec.cpuRatio}x wall ${rec.wallRatio}x | identical ${identical} | load ${rec.loadavg[0]}`);
      }
    }
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
