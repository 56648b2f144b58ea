// A/B of two builds of the CLI on the same file (bench/VS-LLAMA.md "Two threads"): e.g. main's dist/
// (copied aside before the change) against this tree's, `quantize IN OUT FTYPE --threads N --no-stats`
// as child processes under /usr/bin/time, alternating A, B, A, B, ... `--reps` of each, for every
// (ftype, threads); CPU time (user + sys), wall and peak RSS, medians (RSS: max); outputs compared
// byte for byte between the builds. No llama.cpp: bench/vs-llama.mjs compares against it.
// Usage: node bench/two-threads-ab.mjs --dists /tmp/before/dist,dist --model FILE.gguf [--imatrix FILE.dat]
//        [--ftypes Q8_0,Q4_0,Q4_K_M,Q6_K] (an ftype "X+im" runs with --imatrix) [--threads 1,2] [--reps 3]
//        [--out bench/two-threads-ab.json] (records are appended)
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, loadavg } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { timed } from "./_llama-ref.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const arg = (k, d) => { const i = process.argv.indexOf(k); return i > 0 ? process.argv[i + 1] : d; };
const dists = arg("--dists", "").split(",").filter(Boolean).map((d) => path.resolve(ROOT, d));
const model = arg("--model", null), im = arg("--imatrix", null);
if (dists.length !== 2 || !model) { console.error("usage: --dists A,B --model FILE.gguf [--imatrix FILE.dat] [--ftypes ...] [--threads 1,2] [--reps 3]"); process.exit(2); }
for (const d of dists) if (!existsSync(path.join(d, "cli.js"))) { console.log(`SKIP: ${d}/cli.js missing`); process.exit(0); }
const ftypes = arg("--ftypes", "Q8_0,Q4_0,Q4_K_M,Q6_K").split(",");
const threads = arg("--threads", "1,2").split(",").map(Number);
const reps = +arg("--reps", "3");
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const outJson = path.resolve(ROOT, arg("--out", "bench/two-threads-ab.json"));
const prev = existsSync(outJson) ? JSON.parse(readFileSync(outJson, "utf8")) : [];
const records = [];
const tmp = mkdtempSync(path.join(tmpdir(), "ts-bench-ab-"));
console.log(`A = ${dists[0]}, B = ${dists[1]}; ${model}; ${reps} alternating runs each\n`);
console.log("| ftype | threads | A CPU s | B CPU s | **B / A CPU** | A wall s | B wall s | A / B peak RSS MiB | identical | load avg before / after |\n|---|---:|---:|---:|---:|---:|---:|---|---|---|");
try {
  for (const spec of ftypes) {
    const f = spec.replace(/\+im$/, ""), useIm = spec.endsWith("+im");
    if (useIm && !im) { console.log(`| ${spec} | (no --imatrix) |`); continue; }
    for (const nt of threads) {
      const l0 = loadavg()[0];
      const R = [[], []];
      let identical = true;
      for (let r = 0; r < reps; r++) {
        const outs = dists.map((_d, k) => path.join(tmp, `out${k}.gguf`));
        dists.forEach((d, k) => R[k].push(timed([process.execPath, path.join(d, "cli.js"), "quantize", model, outs[k], f, ...(useIm ? ["--imatrix", im] : []), "--threads", String(nt), "--no-stats", "--json"])));
        identical &&= readFileSync(outs[0]).equals(readFileSync(outs[1]));
        for (const o of outs) rmSync(o);
      }
      const m = (k, x) => median(R[k].map((v) => v[x]));
      const rec = { ftype: spec, threads: nt, reps, A: dists[0], B: dists[1], cpu: [m(0, "cpu"), m(1, "cpu")].map((x) => +x.toFixed(2)), wall: [m(0, "wall"), m(1, "wall")].map((x) => +x.toFixed(2)), maxRssMiB: R.map((v) => Math.max(...v.map((x) => x.maxRssMiB))), identical, runs: R, loadavg: [+l0.toFixed(1), +loadavg()[0].toFixed(1)], node: process.version, date: new Date().toISOString() };
      records.push(rec);
      writeFileSync(outJson, JSON.stringify([...prev, ...records], null, 1) + "\n");
      console.log(`| ${spec} | ${nt} | ${rec.cpu[0].toFixed(2)} | ${rec.cpu[1].toFixed(2)} | **${(rec.cpu[1] / rec.cpu[0]).toFixed(2)}x** | ${rec.wall[0].toFixed(2)} | ${rec.wall[1].toFixed(2)} | ${rec.maxRssMiB[0]} / ${rec.maxRssMiB[1]} | ${identical ? "yes" : "**no**"} | ${rec.loadavg[0]} / ${rec.loadavg[1]} |`);
    }
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
