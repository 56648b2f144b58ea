// Benchmark: importance matrix of kjv3M (F32) over calib.txt, tensorshrink's `imatrix` CLI beside
// llama.cpp's llama-imatrix (release c392e50, ../shared/tools; built without AVX: see its README), same run,
// same threads, same chunking (-c 128 -b 128). Both run as child processes under /usr/bin/time (wall, user,
// sys seconds), alternating, so machine load hits both alike; the agreement of the two files is printed too.
// Usage: node bench/imatrix.mjs [--chunks N (default: all, 785 = 100,480 tokens)] [--llama-chunks N] [--threads 2]
// Writes bench/imatrix.json; bench/IMATRIX.md holds the figures of a run.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const SHARED = path.resolve(ROOT, "../shared");
const K = path.join(SHARED, "models/kjv3M"), TOOLS = path.join(SHARED, "tools/llama.cpp-c392e50");
const arg = (k, d) => { const i = process.argv.indexOf(k); return i > 0 ? process.argv[i + 1] : d; };
const threads = arg("--threads", "2");
const chunks = arg("--chunks", "785");
const llamaChunks = arg("--llama-chunks", chunks);
if (!existsSync(path.join(K, "kjv3M.bin")) || !existsSync(path.join(TOOLS, "llama-imatrix"))) { console.log(`SKIP: needs ${K} and ${TOOLS}`); process.exit(0); }
const tmp = mkdtempSync(path.join(tmpdir(), "ts-bench-imatrix-"));
const cli = [process.execPath, "--import", "tsx", path.join(ROOT, "src/cli/main.ts")];
const timed = (cmd) => {
  const r = spawnSync("/usr/bin/time", ["-f", "TIME %e %U %S", ...cmd], { encoding: "utf8", cwd: ROOT, maxBuffer: 64 << 20 });
  const m = /TIME ([\d.]+) ([\d.]+) ([\d.]+)/.exec(r.stderr);
  if (r.status !== 0 || !m) throw new Error(`${cmd.join(" ")} failed:\n${r.stderr.slice(-3000)}`);
  return { wall: +m[1], user: +m[2], sys: +m[3] };
};
const f32 = path.join(tmp, "kjv3M-f32.gguf");
timed([...cli, "quantize", path.join(K, "kjv3M.bin"), f32, "F32", "--tokenizer", path.join(K, "tok512.bin"), "--json"]);
const calib = path.join(K, "calib.txt");
const res = { threads: +threads, ctx: 128, runs: [] };
const run = (who, n) => {
  const out = path.join(tmp, `${who}-${n}.dat`);
  const t = who === "llama.cpp"
    ? timed([path.join(TOOLS, "llama-imatrix"), "-m", f32, "-f", calib, "-o", out, "-c", "128", "-b", "128", "-t", threads, "--chunks", String(n)])
    : timed([...cli, "imatrix", f32, "--text", calib, "--ctx", "128", "--chunks", String(n), "--kv-f16", "--threads", threads, "-o", out]);
  const r = { who, chunks: +n, tokens: 128 * n, ...t, tokensPerSecond: (128 * n) / t.wall, out };
  res.runs.push(r);
  console.log(`${who.padEnd(12)} ${n} chunks (${128 * n} tokens): wall ${t.wall.toFixed(1)} s, CPU ${(t.user + t.sys).toFixed(1)} s, ${r.tokensPerSecond.toFixed(0)} tokens/s (wall)`);
  return r;
};
const a = run("tensorshrink", llamaChunks);
const b = run("llama.cpp", llamaChunks);
if (chunks !== llamaChunks) run("tensorshrink", chunks);
// agreement of the two files over the same chunks
const cmp = spawnSync(process.execPath, ["--import", "tsx", "-e", `
  import("${path.join(ROOT, "src/index.ts").replace(/\\/g, "/")}").then(async (m) => {
    const rd = async (p) => { const s = await m.openFileSource(p); try { return await m.readImatrix(s); } finally { await s.close(); } };
    const [x, y] = [await rd(${JSON.stringify(a.out)}), await rd(${JSON.stringify(b.out)})];
    let w = 0; for (const [k, v] of y) { const o = x.get(k); for (let i = 0; i < v.length; i++) w = Math.max(w, Math.abs(o[i] - v[i]) / Math.abs(v[i])); }
    console.log(JSON.stringify({ entries: y.size, worstRelative: w }));
  });`], { encoding: "utf8", cwd: ROOT });
const agree = JSON.parse(cmp.stdout.trim().split("\n").pop());
res.agreement = agree;
res.speedupWall = b.wall / a.wall;
console.log(`same ${llamaChunks} chunks: tensorshrink ${res.speedupWall.toFixed(2)}x llama-imatrix's wall time; ${agree.entries} entries, worst relative difference ${agree.worstRelative.toExponential(2)}`);
for (const r of res.runs) delete r.out;
writeFileSync(path.join(ROOT, "bench/imatrix.json"), JSON.stringify(res, null, 1) + "\n");
rmSync(tmp, { recursive: true, force: true });
