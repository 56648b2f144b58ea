// The fixed CPU cost of one `tensorshrink quantize` process (bench/VS-LLAMA.md "Process start-up"):
// child processes, alternating between builds (`--dists A,B`: dist/ directories, e.g. main's copied
// aside and this tree's), `--reps` rounds, medians. Per build:
//   - `cli --help` (the CLI entry and its help only) and `cli quantize` of a tiny model that has the
//     synthetic model's 16384-token vocabulary (1 layer, n_embd 64: 2.2M parameters, 8.5 MiB F32):
//     the whole process is fixed cost. CPU = user + sys of the process (perf stat's task-clock when
//     perf is installed: 0.1 ms resolution; else /usr/bin/time: 10 ms). A preloaded probe
//     (--require) records process.cpuUsage() when user code starts and at the 'exit' event, so the
//     process splits into Node's own start, the CLI (load + work), and the exit after 'exit'.
//   - the library stages in one process (process.cpuUsage, µs): import dist/index.js, init (wasm
//     compile + instantiate), openModel (GGUF header, vocabulary checks) of the tiny model.
// NODE_EXTRA_CA_CERTS is removed from the children's environment unless --keep-ca-env: where it is
// set (this machine sets it to the system CA bundle), Node parses every certificate at start-up,
// +0.08-0.11 CPU s in every Node process before any user code (measured here with `node -e 0`).
// Usage: node bench/startup.mjs [--dists dist,/tmp/main-dist] [--reps 10] [--keep-ca-env] [--json bench/startup.json]
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, loadavg } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const arg = (k, d) => { const i = process.argv.indexOf(k); return i > 0 ? process.argv[i + 1] : d; };
const dists = arg("--dists", "dist").split(",").map((d) => path.resolve(ROOT, d));
const reps = +arg("--reps", "10");
for (const d of dists) if (!existsSync(path.join(d, "cli.js"))) { console.log(`SKIP: ${d}/cli.js missing (npm run build)`); process.exit(0); }
const env = { ...process.env };
if (!process.argv.includes("--keep-ca-env")) delete env.NODE_EXTRA_CA_CERTS;
const havePerf = spawnSync("perf", ["stat", "-x,", "-e", "task-clock", "true"], { encoding: "utf8" }).status === 0;
const tmp = mkdtempSync(path.join(tmpdir(), "ts-bench-startup-"));
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };

/** Runs cmd; CPU s (task-clock or user+sys), sys s, wall s, peak RSS MiB, stdout, stderr. */
function timed(cmd, extraEnv = {}) {
  const pre = havePerf ? ["perf", "stat", "-x,", "-e", "task-clock", "--"] : [];
  const r = spawnSync(pre[0] ?? "/usr/bin/time", [...pre.slice(1), ...(havePerf ? ["/usr/bin/time"] : []), "-f", "TIME %e %U %S %M", ...cmd], { encoding: "utf8", cwd: tmp, env: { ...env, ...extraEnv }, maxBuffer: 64 << 20 });
  const m = /TIME ([\d.]+) ([\d.]+) ([\d.]+) (\d+)/.exec(r.stderr);
  if (r.status !== 0 || !m) throw new Error(`${cmd.join(" ")} failed:\n${r.stderr.slice(-2000)}`);
  const tc = /([\d.]+),msec,task-clock/.exec(r.stderr);
  return { cpu: tc ? +tc[1] / 1000 : +m[2] + +m[3], sys: +m[3], wall: +m[1], rssMiB: Math.round(+m[4] / 1024), stdout: r.stdout, stderr: r.stderr };
}

try {
  // the tiny model with the full 16384-token vocabulary
  const small = path.join(tmp, "tiny-16k-vocab.gguf");
  const gen = path.join(tmp, "gen.mts");
  writeFileSync(gen, `
import { init, syntheticModel, quantizeModel, openFileSink } from ${JSON.stringify(path.join(ROOT, "src/index.ts"))};
const e = await init({ threads: 1 });
const m = syntheticModel({ nLayer: 1, nEmbd: 64, nFf: 128, nHead: 2, nHeadKv: 1, nVocab: 16384, seed: 9 });
await quantizeModel(e, m, await openFileSink(${JSON.stringify(small)}), { ftype: "F32", order: "input", stats: false });
e.dispose();
`);
  const g = spawnSync(process.execPath, ["--import", "tsx", gen], { encoding: "utf8", cwd: ROOT });
  if (g.status !== 0) throw new Error(g.stderr);
  const probe = path.join(tmp, "probe.cjs");
  writeFileSync(probe, `
const u = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1e6; };
const t0 = u();
process.on("exit", () => { require("node:fs").writeSync(2, "PROBE " + JSON.stringify({ start: t0, exit: u() }) + "\\n"); });
`);
  const stages = path.join(tmp, "stages.mjs");
  writeFileSync(stages, `
const u = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1e6; };
const t0 = u();
const ts = await import(process.argv[2]);
const t1 = u();
const e = await ts.init({ threads: 1 });
const t2 = u();
const m = await ts.openModel(${JSON.stringify(small)}, e);
const t3 = u();
await m.close?.(); e.dispose();
console.log(JSON.stringify({ start: t0, import: t1 - t0, init: t2 - t1, openModel: t3 - t2 }));
`);
  const out = path.join(tmp, "out.gguf");
  const rows = dists.map(() => ({ node0: [], help: [], q: [], qStart: [], qExit: [], lib: [] }));
  const probeOf = (s) => JSON.parse(/PROBE (.*)/.exec(s)?.[1] ?? "null");
  for (let r = 0; r < reps; r++) {
    dists.forEach((d, i) => {
      const x = rows[i];
      x.node0.push(timed([process.execPath, "-e", "0"]));
      x.help.push(timed([process.execPath, path.join(d, "cli.js"), "--help"]));
      const t = timed([process.execPath, "--require", probe, path.join(d, "cli.js"), "quantize", small, out, "Q8_0", "--threads", "1", "--no-stats", "--json"]);
      rmSync(out, { force: true });
      x.q.push(t);
      const pr = probeOf(t.stderr);
      x.lib.push(JSON.parse(timed([process.execPath, stages, pathToFileURL(path.join(d, "index.js")).href]).stdout.trim().split("\n").pop()));
      if (pr) { x.qStart.push(pr.start); x.qExit.push(pr.exit); }
    });
  }
  const load = loadavg().map((v) => v.toFixed(1)).join(" ");
  const f = (v) => v.toFixed(3);
  console.log(`\nProcess start-up, ${reps} alternating rounds, medians (CPU ${havePerf ? "task-clock" : "user+sys"}; NODE_EXTRA_CA_CERTS ${env.NODE_EXTRA_CA_CERTS ? "kept" : "removed"}; load ${load}):\n`);
  console.log(`| build | node -e 0 | cli --help | cli quantize tiny (16384-token vocab) Q8_0 | of which before user code | user code to 'exit' | after 'exit' | peak RSS MiB | lib: import dist/index.js | init | openModel tiny |`);
  console.log(`|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|`);
  const rec = dists.map((d, i) => {
    const x = rows[i];
    const q = median(x.q.map((t) => t.cpu)), st = median(x.qStart), ex = median(x.qExit);
    const o = {
      dist: path.relative(ROOT, d) || d, node0: median(x.node0.map((t) => t.cpu)), help: median(x.help.map((t) => t.cpu)), quantizeTiny: q,
      beforeUserCode: st, userCodeToExit: ex - st, afterExit: q - ex, rssMiB: Math.max(...x.q.map((t) => t.rssMiB)),
      libImport: median(x.lib.map((l) => l.import)), libInit: median(x.lib.map((l) => l.init)), libOpenModel: median(x.lib.map((l) => l.openModel)),
    };
    console.log(`| ${o.dist} | ${f(o.node0)} | ${f(o.help)} | ${f(o.quantizeTiny)} | ${f(o.beforeUserCode)} | ${f(o.userCodeToExit)} | ${f(o.afterExit)} | ${o.rssMiB} | ${f(o.libImport)} | ${f(o.libInit)} | ${f(o.libOpenModel)} |`);
    return o;
  });
  const jsonOut = path.resolve(ROOT, arg("--json", "bench/startup.json"));
  const prev = existsSync(jsonOut) ? JSON.parse(readFileSync(jsonOut, "utf8")) : [];
  prev.push({ reps, cpuClock: havePerf ? "task-clock" : "user+sys", caEnv: !!env.NODE_EXTRA_CA_CERTS, builds: rec, loadavg: loadavg().map((v) => +v.toFixed(1)), node: process.version, date: new Date().toISOString() });
  writeFileSync(jsonOut, JSON.stringify(prev, null, 1) + "\n");
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
