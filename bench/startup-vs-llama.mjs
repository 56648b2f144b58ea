// Whole files vs llama.cpp for two CLI builds in the same run (bench/VS-LLAMA.md "Process start-up"):
// for each ftype, `--reps` alternating rounds of llama.cpp (llama_model_quantize, bench/_llama-ref.mjs),
// build A's `node A/cli.js quantize IN OUT FTYPE --threads 1 --no-stats --json` and build B's, each a
// child process under /usr/bin/time; medians; every output compared byte for byte with llama.cpp's.
// `--dists A,B`: dist/ directories (e.g. main's dist copied aside before the change, and this tree's
// dist). The input is `--model FILE` (default: the synthetic 100.7M-parameter F32 GGUF of
// bench/vs-llama.mjs, generated). NODE_EXTRA_CA_CERTS is removed from the tensorshrink children's
// environment with --no-ca-env (Node parses every listed certificate at start-up; not set on a
// usual machine, set on this one).
// Usage: node bench/startup-vs-llama.mjs --dists /tmp/main-dist,dist [--ftypes Q8_0,F16,BF16] [--reps 2] [--model F] [--no-ca-env] [--out bench/startup-vs-llama.json]
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, statSync } from "node:fs";
import { tmpdir, loadavg } from "node:os";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { buildLlamaQuantizeRef, writeSyntheticInput } from "./_llama-ref.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const arg = (k, d) => { const i = process.argv.indexOf(k); return i > 0 ? process.argv[i + 1] : d; };
const IDS = { F16: 1, BF16: 32, Q8_0: 7, Q4_0: 2, Q4_1: 3, Q5_0: 8, Q5_1: 9 };
const ftypes = arg("--ftypes", "Q8_0,Q4_0,Q4_1,Q5_0,Q5_1,F16,BF16").split(",");
for (const f of ftypes) if (!IDS[f]) { console.error(`unknown ftype ${f}; known: ${Object.keys(IDS).join(",")}`); process.exit(2); }
const dists = arg("--dists", "dist").split(",").map((d) => path.resolve(ROOT, d));
for (const d of dists) if (!existsSync(path.join(d, "cli.js"))) { console.log(`SKIP: ${d}/cli.js missing`); process.exit(0); }
const reps = +arg("--reps", "2");
const env = { ...process.env };
if (process.argv.includes("--no-ca-env")) delete env.NODE_EXTRA_CA_CERTS;
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const timed = (cmd, e = process.env) => {
  const r = spawnSync("/usr/bin/time", ["-f", "TIME %e %U %S %M", ...cmd], { encoding: "utf8", cwd: ROOT, env: e, maxBuffer: 256 << 20 });
  const m = /TIME ([\d.]+) ([\d.]+) ([\d.]+) (\d+)/.exec(r.stderr);
  if (r.status !== 0 || !m) throw new Error(`${cmd.join(" ")} failed:\n${r.stderr.slice(-3000)}`);
  return { wall: +m[1], cpu: +m[2] + +m[3], sys: +m[3], rssMiB: Math.round(+m[4] / 1024) };
};
const tmp = mkdtempSync(path.join(tmpdir(), "ts-bench-startup-vs-llama-"));
try {
  const exe = buildLlamaQuantizeRef(tmp);
  if (!exe) process.exit(0);
  const input = arg("--model", null) ?? writeSyntheticInput(tmp, { nLayer: 12, nEmbd: 768, nFf: 2048, nHead: 12, nHeadKv: 4, nVocab: 16384 }).input;
  console.log(`input ${input} (${(statSync(input).size / 2 ** 20).toFixed(0)} MiB), 1 thread, ${reps} alternating rounds; NODE_EXTRA_CA_CERTS ${env.NODE_EXTRA_CA_CERTS ? "kept" : "removed"} for tensorshrink\n`);
  console.log(`| ftype | llama.cpp CPU s | ${dists.map((d) => `${path.relative(ROOT, d) || d} CPU s (sys)`).join(" | ")} | ${dists.map((d) => `ratio ${path.relative(ROOT, d) || d}`).join(" | ")} | identical | load |`);
  console.log(`|---|---:|${dists.map(() => "---:|").join("")}${dists.map(() => "---:|").join("")}---|---:|`);
  const records = [];
  for (const f of ftypes) {
    const L = [], T = dists.map(() => []);
    let identical = true;
    const ref = path.join(tmp, "ref.gguf"), mine = path.join(tmp, "ours.gguf");
    for (let r = 0; r < reps; r++) {
      L.push(timed([exe, input, ref, String(IDS[f]), "1"]));
      dists.forEach((d, i) => {
        T[i].push(timed([process.execPath, path.join(d, "cli.js"), "quantize", input, mine, f, "--threads", "1", "--no-stats", "--json"], env));
        identical &&= readFileSync(ref).equals(readFileSync(mine));
        rmSync(mine);
      });
      rmSync(ref);
    }
    const lc = median(L.map((x) => x.cpu));
    const tc = T.map((t) => median(t.map((x) => x.cpu))), ts = T.map((t) => median(t.map((x) => x.sys)));
    const rec = { ftype: f, reps, llamaCpp: { cpu: lc, runs: L }, builds: dists.map((d, i) => ({ dist: d, cpu: tc[i], sys: ts[i], ratio: +(lc / tc[i]).toFixed(2), runs: T[i] })), identical, caEnv: !!env.NODE_EXTRA_CA_CERTS, loadavg: loadavg().map((x) => +x.toFixed(1)), node: process.version, date: new Date().toISOString() };
    records.push(rec);
    console.log(`| ${f} | ${lc.toFixed(2)} | ${tc.map((c, i) => `${c.toFixed(2)} (${ts[i].toFixed(2)})`).join(" | ")} | ${tc.map((c) => `**${(lc / c).toFixed(2)}x**`).join(" | ")} | ${identical ? "yes" : "**no**"} | ${rec.loadavg[0]} |`);
  }
  const out = path.resolve(ROOT, arg("--out", "bench/startup-vs-llama.json"));
  const prev = existsSync(out) ? JSON.parse(readFileSync(out, "utf8")) : [];
  writeFileSync(out, JSON.stringify([...prev, ...records], null, 1) + "\n");
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
