// Where the CPU time of one whole-file quantization goes (bench/VS-LLAMA.md "Where the time goes").
// On the synthetic model of bench/vs-llama.mjs (or --model FILE), for one ftype (default Q8_0), 1 thread:
//  A. child processes under /usr/bin/time (user + sys), each step adding one stage, `--reps`
//     alternating rounds, medians: node -e 0; the CLI bundle loaded (`--help`); + wasm compile and
//     instantiate (init); + the GGUF header parsed (openModel); the whole `quantize` CLI run; and
//     llama.cpp's llama_model_quantize on the same file (test/tools/llama-quantize-ref.cpp).
//  B. inside one Node process (process.cpuUsage, all threads of the process): quantizeModel (the
//     library call the CLI makes) cold and warm, and its parts measured alone: reading the tensor data
//     into wasm memory (fs.readSync, 1 MiB), the kernel over all the model's values (engine.quantize
//     on a wasm tensor), writing the output's size (fs.writeSync), the header encode.
//  C. with --scaling: pool scaling in one process, quantizeModel file -> file with 1 thread (the calling
//     thread alone), 2 threads (one pool worker + the calling thread) and 2 pool workers
//     (callingThread: false, the calling thread only schedules), alternating, wall and CPU (and on
//     Linux the CPU of the calling thread and of the worker threads, from /proc/self/task), medians;
//     the load average before and after each ftype. An ftype "X+im" runs with the importance matrix.
//  D. with --contention: does one process's CPU time grow when the other core is busy too? For each
//     ftype (--contention-ftypes, default Q4_K_M,Q6_K), alternating: the CLI with --threads 1 alone,
//     two such processes started together, the CLI with --threads 2, and the same three for llama.cpp
//     (llama_model_quantize, nthread 1 / two at once / 2); CPU s per process, medians of --reps.
// Usage: npm run bench:vs-llama-breakdown -- [options], or node bench/vs-llama-breakdown.mjs [--ftype Q8_0] [--reps 3] [--model FILE [--imatrix FILE.dat]] [--json bench/vs-llama-breakdown.json]
//        [--scaling [--scaling-ftypes Q8_0,Q4_0+im,Q4_K_M,Q6_K]] [--contention [--contention-ftypes Q4_K_M,Q6_K]]
//        [--only-inproc | --only-scaling] (--only-scaling: only C and D)
// Needs `npm run build` (dist/). Prints markdown tables; appends a record to the --json file.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, statSync, openSync, readSync, writeSync, closeSync, unlinkSync } from "node:fs";
import { tmpdir, loadavg } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { writeSyntheticInput } from "./_llama-ref.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const arg = (k, d) => { const i = process.argv.indexOf(k); return i > 0 ? process.argv[i + 1] : d; };
const ftype = arg("--ftype", "Q8_0");
const FTYPE_ID = { F16: 1, BF16: 32, Q8_0: 7, Q4_0: 2, Q4_1: 3, Q5_0: 8, Q5_1: 9 };
const reps = +arg("--reps", "3");
const DIST = path.join(ROOT, "dist/index.js"), CLI = path.join(ROOT, "dist/cli.js");
if (!existsSync(CLI)) { console.log("SKIP: dist/ missing (npm run build)"); process.exit(0); }
const tmp = mkdtempSync(path.join(tmpdir(), "ts-bench-breakdown-"));
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const noCa = { ...process.env };
delete noCa.NODE_EXTRA_CA_CERTS;
const timed = (cmd, env = process.env) => {
  const r = spawnSync("/usr/bin/time", ["-f", "TIME %e %U %S %M", ...cmd], { encoding: "utf8", cwd: ROOT, env, maxBuffer: 64 << 20 });
  const m = /TIME ([\d.]+) ([\d.]+) ([\d.]+) (\d+)/.exec(r.stderr);
  if (r.status !== 0 || !m) throw new Error(`${cmd.join(" ")} failed:\n${r.stderr.slice(-2000)}`);
  return { wall: +m[1], cpu: +m[2] + +m[3], sys: +m[3], rssMiB: Math.round(+m[4] / 1024) };
};
try {
  let input = arg("--model", null), imFile = arg("--imatrix", null);
  // the synthetic model of bench/vs-llama.mjs and its importance matrix (bench/_llama-ref.mjs)
  if (!input) ({ input, im: imFile } = writeSyntheticInput(tmp, { nLayer: 12, nEmbd: 768, nFf: 2048, nHead: 12, nHeadKv: 4, nVocab: 16384 }));
  const inMiB = statSync(input).size / 2 ** 20;
  // stage scripts: each imports the bundle and goes one stage further
  const stage = (n) => {
    const f = path.join(tmp, `stage${n}.mjs`);
    writeFileSync(f, `
import * as ts from ${JSON.stringify(pathToFileURL(DIST).href)};
${n >= 1 ? "const e = await ts.init({ threads: 1 });" : ""}
${n >= 2 ? `const m = await ts.openModel(${JSON.stringify(input)}, e); await m.close?.();` : ""}
`);
    return [process.execPath, f];
  };
  const exe = path.join(tmp, "llama-quantize-ref");
  const plat = `${process.platform}-${process.arch}`;
  const lib = path.join(ROOT, "node_modules/@node-llama-cpp", plat, "bins", plat);
  const cc = existsSync(path.join(lib, "libllama.v0.5.0.so")) ? spawnSync("c++", ["-std=c++17", "-O1", "-o", exe, path.join(ROOT, "test/tools/llama-quantize-ref.cpp"), `-L${lib}`, "-l:libllama.v0.5.0.so", "-l:libllama-common.so", `-Wl,-rpath,${lib}`], { encoding: "utf8" }) : { status: 1 };
  const out = path.join(tmp, "out.gguf");
  // NODE_EXTRA_CA_CERTS (set on this machine to the system CA bundle): Node parses every listed
  // certificate at start-up; the row without it is what a machine without the variable pays.
  const steps = [
    ["node -e 0", [process.execPath, "-e", "0"]],
    ...(process.env.NODE_EXTRA_CA_CERTS ? [["node -e 0, NODE_EXTRA_CA_CERTS unset", [process.execPath, "-e", "0"], noCa]] : []),
    ["+ CLI bundle loaded (`tensorshrink --help`)", [process.execPath, CLI, "--help"]],
    ["library bundle loaded (import dist/index.js)", stage(0)],
    ["+ init (wasm compile + instantiate)", stage(1)],
    ["+ openModel (GGUF header parsed, vocabulary checked)", stage(2)],
    [`CLI quantize ${ftype} --threads 1 --no-stats`, [process.execPath, CLI, "quantize", input, out, ftype, "--threads", "1", "--no-stats", "--json"]],
    ...(process.env.NODE_EXTRA_CA_CERTS ? [[`CLI quantize ${ftype} --threads 1 --no-stats, NODE_EXTRA_CA_CERTS unset`, [process.execPath, CLI, "quantize", input, out, ftype, "--threads", "1", "--no-stats", "--json"], noCa]] : []),
    ...(cc.status === 0 && FTYPE_ID[ftype] ? [[`llama.cpp llama_model_quantize ${ftype}, 1 thread`, [exe, input, out, String(FTYPE_ID[ftype]), "1"]]] : []),
  ];
  const runs = steps.map(() => []);
  if (process.argv.includes("--only-inproc") || process.argv.includes("--only-scaling")) steps.length = 0;
  for (let r = 0; r < reps; r++) steps.forEach(([, cmd, env], i) => { runs[i].push(timed(cmd, env)); if (existsSync(out)) rmSync(out); });
  const load = loadavg()[0].toFixed(1);
  console.log(`\nA. child processes, ${reps} alternating rounds, medians (input ${inMiB.toFixed(0)} MiB F32, load ${load}):\n`);
  console.log("| step | CPU s | sys s | peak RSS MiB |\n|---|---:|---:|---:|");
  const recA = steps.map(([label], i) => ({ label, cpu: +median(runs[i].map((x) => x.cpu)).toFixed(3), sys: +median(runs[i].map((x) => x.sys)).toFixed(3), rssMiB: Math.max(...runs[i].map((x) => x.rssMiB)) }));
  for (const s of recA) console.log(`| ${s.label} | ${s.cpu.toFixed(2)} | ${s.sys.toFixed(2)} | ${s.rssMiB} |`);

  // B. in one process
  const inproc = path.join(tmp, "inproc.mjs");
  writeFileSync(inproc, `
import * as ts from ${JSON.stringify(pathToFileURL(DIST).href)};
import { openSync, readSync, writeSync, closeSync, unlinkSync, fstatSync } from "node:fs";
const cpu = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1e6; };
const res = {};
const e = await ts.init({ threads: 1 });
for (const k of ["cold", "warm"]) {
  const c0 = cpu();
  const m = await ts.openModel(${JSON.stringify(input)}, e);
  const c1 = cpu();
  const r = await ts.quantizeModel(e, m, await ts.openFileSink(${JSON.stringify(out)}), { ftype: ${JSON.stringify(ftype)}, stats: false });
  res["openModel " + k] = c1 - c0;
  res["quantizeModel " + k] = cpu() - c1;
  if (k === "warm") {
    // parts, alone: header encode, read into wasm memory, the kernel over every value, the write
    const specs = r.tensors.map((t) => ({ name: t.name, ne: t.ne, type: t.type }));
    let c = cpu(); ts.encodeGgufHeader(m.metadata, specs); res["header encode (warm)"] = cpu() - c;
    const fd = openSync(${JSON.stringify(input)}, "r"), size = fstatSync(fd).size;
    const p = e.alloc(1 << 20);
    c = cpu();
    for (let o = 0; o < size; o += 1 << 20) readSync(fd, new Uint8Array(e.exports.memory.buffer, p, Math.min(1 << 20, size - o)), 0, Math.min(1 << 20, size - o), o);
    res["read whole input into wasm memory (1 MiB readSync)"] = cpu() - c;
    closeSync(fd);
    const q = r.tensors.find((t) => t.type !== "f32") ?? r.tensors[0];
    const cols = q.ne[0], rows = Math.max(1, Math.floor(262144 / cols));
    const x = e.tensor(rows * cols); for (let i = 0; i < x.f32.length; i++) x.f32[i] = Math.sin(i);
    const ob = new Uint8Array(e.quantize(x, { type: q.type, rows, cols }).length);
    const total = r.params;
    c = cpu();
    for (let done = 0; done < total; done += rows * cols) e.quantize(x, { type: q.type, rows, cols, out: ob });
    res["kernel over all " + (total / 1e6).toFixed(1) + "M values (" + q.type + ", engine.quantize on a wasm tensor)"] = cpu() - c;
    const fo = openSync(${JSON.stringify(out)} + ".w", "w"), buf = new Uint8Array(1 << 20);
    c = cpu();
    for (let o = 0; o < r.fileSize; o += 1 << 20) writeSync(fo, buf, 0, Math.min(1 << 20, r.fileSize - o), o);
    res["write the output's " + (r.fileSize / 2 ** 20).toFixed(0) + " MiB (1 MiB writeSync)"] = cpu() - c;
    closeSync(fo); unlinkSync(${JSON.stringify(out)} + ".w");
    e.free(p); x.dispose();
  }
  await m.close?.();
}
e.dispose();
console.log(JSON.stringify(res));
`);
  const B = [];
  for (let r = 0; r < (process.argv.includes("--only-scaling") ? 0 : reps); r++) {
    const g = spawnSync(process.execPath, [inproc], { encoding: "utf8", cwd: ROOT });
    if (g.status !== 0) throw new Error(g.stderr);
    B.push(JSON.parse(g.stdout.trim().split("\n").pop()));
    if (existsSync(out)) rmSync(out);
  }
  console.log(`\nB. inside one Node process (process.cpuUsage), ${reps} processes, medians:\n`);
  console.log("| part | CPU s |\n|---|---:|");
  const recB = Object.keys(B[0] ?? {}).map((k) => ({ label: k, cpu: +median(B.map((b) => b[k])).toFixed(3) }));
  for (const s of recB) console.log(`| ${s.label} | ${s.cpu.toFixed(3)} |`);
  // C. (--scaling) pool scaling in one process: quantizeModel file -> file with 1 thread, 2 threads
  // (one worker + the calling thread) and 2 workers (callingThread: false), alternating, medians of --reps.
  const recC = [];
  if (process.argv.includes("--scaling")) {
    const sc = path.join(tmp, "scaling.mjs");
    writeFileSync(sc, `
import * as ts from ${JSON.stringify(pathToFileURL(DIST).href)};
import { readFileSync, readdirSync } from "node:fs";
const cpu = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1e6; };
// CPU seconds of each thread of this process (Linux; {} elsewhere): the calling thread is the one whose id is the pid
const tick = 100;
const threads = () => {
  const m = {};
  try {
    for (const t of readdirSync("/proc/self/task")) {
      const s = readFileSync("/proc/self/task/" + t + "/stat", "utf8"), f = s.slice(s.lastIndexOf(")") + 2).split(" ");
      m[t] = (+f[11] + +f[12]) / tick;
    }
  } catch {}
  return m;
};
const [ftype, reps, imFile] = [process.argv[2], +process.argv[3], process.argv[4]];
const imatrix = imFile ? await ts.readImatrix(ts.memorySource(new Uint8Array(readFileSync(imFile)))) : null;
const modes = { t1: [1, true], t2: [2, true], w2: [2, false] };
const e = { t1: await ts.init({ threads: 1 }), t2: await ts.init({ threads: 2 }), w2: await ts.init({ threads: 2 }) };
const res = { t1: [], t2: [], w2: [] };
for (let r = -1; r < reps; r++) for (const k of Object.keys(modes)) {
  const m = await ts.openModel(${JSON.stringify(input)}, e[k]);
  const a = threads(), c0 = cpu(), w0 = performance.now();
  await ts.quantizeModel(e[k], m, await ts.openFileSink(${JSON.stringify(out)}), { ftype, stats: false, imatrix, callingThread: modes[k][1] });
  const wall = (performance.now() - w0) / 1e3, c = cpu() - c0, b = threads();
  let main = 0, rest = 0;
  for (const t in b) { const d = b[t] - (a[t] ?? 0); if (t === String(process.pid)) main += d; else rest += d; }
  if (r >= 0) res[k].push({ wall, cpu: c, mainCpu: main, otherCpu: rest }); // r = -1: warm-up (workers started)
  await m.close?.();
}
for (const k in e) e[k].dispose();
console.log(JSON.stringify(res));
`);
    console.log(`\nC. pool scaling inside one process (quantizeModel file -> file, warm, ${reps} alternating runs, medians; 2 threads = 1 worker + the calling thread, 2 workers = callingThread: false):\n`);
    console.log("| ftype | 1 thread wall s | 2 threads wall s | **scaling** | 2 workers wall s | scaling | 1 thread CPU s | 2 threads CPU s (calling thread + others) | 2 workers CPU s | load avg before / after |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for (const spec of arg("--scaling-ftypes", "Q8_0,Q4_0+im,Q4_K_M,Q6_K").split(",")) {
      const f = spec.replace(/\+im$/, ""), useIm = spec.endsWith("+im");
      if (useIm && !imFile) { console.log(`| ${spec} | (no --imatrix file) |`); continue; }
      const l0 = loadavg()[0];
      const g = spawnSync(process.execPath, [sc, f, String(reps), ...(useIm ? [imFile] : [])], { encoding: "utf8", cwd: ROOT, maxBuffer: 64 << 20 });
      if (g.status !== 0) throw new Error(g.stderr);
      const r = JSON.parse(g.stdout.trim().split("\n").pop());
      const md = (k, x) => median(r[k].map((v) => v[x]));
      const rec = { ftype: spec, reps, loadavg: [+l0.toFixed(1), +loadavg()[0].toFixed(1)] };
      for (const k of ["t1", "t2", "w2"]) rec[k] = { wall: +md(k, "wall").toFixed(3), cpu: +md(k, "cpu").toFixed(3), mainCpu: +md(k, "mainCpu").toFixed(2), otherCpu: +md(k, "otherCpu").toFixed(2), runs: r[k] };
      rec.scaling = +(rec.t1.wall / rec.t2.wall).toFixed(2);
      rec.scalingWorkers = +(rec.t1.wall / rec.w2.wall).toFixed(2);
      recC.push(rec);
      console.log(`| ${spec} | ${rec.t1.wall.toFixed(2)} | ${rec.t2.wall.toFixed(2)} | **${rec.scaling.toFixed(2)}x** | ${rec.w2.wall.toFixed(2)} | ${rec.scalingWorkers.toFixed(2)}x | ${rec.t1.cpu.toFixed(2)} | ${rec.t2.cpu.toFixed(2)} (${rec.t2.mainCpu.toFixed(2)} + ${rec.t2.otherCpu.toFixed(2)}) | ${rec.w2.cpu.toFixed(2)} | ${rec.loadavg[0]} / ${rec.loadavg[1]} |`);
      if (existsSync(out)) rmSync(out);
    }
  }
  // D. (--contention) CPU per process with the other core idle vs busy with the same work.
  const recD = [];
  if (process.argv.includes("--contention")) {
    const timedAsync = (cmd) => new Promise((resolve, reject) => {
      const c = spawn("/usr/bin/time", ["-f", "TIME %e %U %S %M", ...cmd], { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] });
      let err = "";
      c.stderr.on("data", (d) => (err += d));
      c.on("close", (code) => {
        const m = /TIME ([\d.]+) ([\d.]+) ([\d.]+) (\d+)/.exec(err);
        if (code !== 0 || !m) reject(new Error(`${cmd.join(" ")} failed:\n${err.slice(-2000)}`));
        else resolve({ wall: +m[1], cpu: +m[2] + +m[3] });
      });
    });
    const LL = { Q8_0: 7, Q4_0: 2, Q4_K_M: 15, Q5_K_M: 17, Q6_K: 18, Q3_K_M: 12, Q2_K: 10 };
    const outs = [path.join(tmp, "c0.gguf"), path.join(tmp, "c1.gguf")];
    const ours = (t, o) => [process.execPath, CLI, "quantize", input, o, ftypeC, "--threads", String(t), "--no-stats", "--json"];
    const theirs = (t, o) => [exe, input, o, String(LL[ftypeC]), String(t)];
    let ftypeC = "";
    console.log(`\nD. one process alone vs two at once (each --threads 1) vs one with 2 threads: CPU s per process, ${reps} alternating rounds, medians:\n`);
    console.log("| ftype | tool | 1 thread alone | each of 2 at once | **ratio** | 2 threads | ratio | load avg before / after |\n|---|---|---:|---:|---:|---:|---:|---|");
    for (const f of arg("--contention-ftypes", "Q4_K_M,Q6_K").split(",")) {
      ftypeC = f;
      const tools = [["tensorshrink", ours], ...(cc.status === 0 && LL[f] ? [["llama.cpp", theirs]] : [])];
      const l0 = loadavg()[0];
      const R = Object.fromEntries(tools.map(([n]) => [n, { alone: [], pair: [], t2: [] }]));
      for (let r = 0; r < reps; r++) {
        for (const [n, mk] of tools) {
          R[n].alone.push((await timedAsync(mk(1, outs[0]))).cpu);
          const pair = await Promise.all([timedAsync(mk(1, outs[0])), timedAsync(mk(1, outs[1]))]);
          R[n].pair.push((pair[0].cpu + pair[1].cpu) / 2);
          R[n].t2.push((await timedAsync(mk(2, outs[0]))).cpu);
          for (const o of outs) if (existsSync(o)) rmSync(o);
        }
      }
      for (const [n] of tools) {
        const a = median(R[n].alone), p = median(R[n].pair), t = median(R[n].t2);
        const rec = { ftype: f, tool: n, alone: +a.toFixed(2), pairEach: +p.toFixed(2), threads2: +t.toFixed(2), pairRatio: +(p / a).toFixed(2), threads2Ratio: +(t / a).toFixed(2), runs: R[n], loadavg: [+l0.toFixed(1), +loadavg()[0].toFixed(1)] };
        recD.push(rec);
        console.log(`| ${f} | ${n} | ${a.toFixed(2)} | ${p.toFixed(2)} | **${rec.pairRatio.toFixed(2)}x** | ${t.toFixed(2)} | ${rec.threads2Ratio.toFixed(2)}x | ${rec.loadavg[0]} / ${rec.loadavg[1]} |`);
      }
    }
  }
  const jsonOut = path.resolve(ROOT, arg("--json", "bench/vs-llama-breakdown.json"));
  const prev = existsSync(jsonOut) ? JSON.parse(readFileSync(jsonOut, "utf8")) : [];
  prev.push({ ftype, reps, inputMiB: Math.round(inMiB), childProcesses: recA, inProcess: recB, scaling: recC, contention: recD, loadavg: loadavg().map((x) => +x.toFixed(1)), node: process.version, date: new Date().toISOString() });
  writeFileSync(jsonOut, JSON.stringify(prev, null, 1) + "\n");
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
