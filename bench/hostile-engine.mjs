// What the hostile-engine safety checks cost, measured in one run (ratios only, same process):
//  1. the default NaN/Inf scan on f32 / f16 / bf16 outputs: quantize MB/s with the check (default) vs
//     `allowNonFinite: true`, alternating A/B reps on the same 64 MiB of f32;
//  2. how fast an interrupted `tensorshrink quantize` is gone, temp file removed: ms from the signal
//     to the process exit, for one SIGINT (graceful abort) and for SIGINT + SIGINT 5 ms apart (forced).
// Writes bench/hostile-engine.json. Usage: node bench/hostile-engine.mjs [--reps 5] [--mb 64]
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import os from "node:os";
import path from "node:path";
import { init, syntheticModel, quantizeModel, openFileSink } from "../dist/index.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const arg = (k, d) => { const i = argv.indexOf(`--${k}`); return i >= 0 ? Number(argv[i + 1]) : d; };
const reps = arg("reps", 5), mb = arg("mb", 64);
const cols = 4096, rows = Math.floor((mb * 1048576) / 4 / cols);
const x = new Float32Array(rows * cols);
for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.7) * 0.05;
const engine = await init({ threads: 0, chunkBytes: 16 << 20 });
const result = { machine: `${os.cpus()[0]?.model ?? "?"} x ${os.availableParallelism()}`, node: process.version, inputMB: (x.byteLength / 1e6), scan: {}, signals: {} };
for (const type of ["f32", "f16", "bf16"]) {
  const t = { on: [], off: [] };
  for (let r = 0; r < reps + 1; r++) {
    for (const mode of r % 2 ? ["off", "on"] : ["on", "off"]) {
      const t0 = performance.now();
      engine.quantize(x, { type, rows, cols, allowNonFinite: mode === "off" });
      const s = (performance.now() - t0) / 1000;
      if (r > 0) t[mode].push(x.byteLength / 1e6 / s); // rep 0 warms up
    }
  }
  const med = (a) => a.sort((p, q) => p - q)[a.length >> 1];
  result.scan[type] = { checkedMBps: Math.round(med(t.on)), uncheckedMBps: Math.round(med(t.off)), ratio: Number((med(t.on) / med(t.off)).toFixed(3)) };
  console.log(`${type}: ${result.scan[type].checkedMBps} MB/s checked (default) vs ${result.scan[type].uncheckedMBps} MB/s allowNonFinite -> ${result.scan[type].ratio}x`);
}
engine.dispose();

// Signals: a ~60 MB f32 model to Q6_K on one worker, interrupted once its temp file has data.
const dir = mkdtempSync(path.join(os.tmpdir(), "ts-bench-hostile-"));
const input = path.join(dir, "m.gguf"), out = path.join(dir, "o.gguf");
{
  const e = await init({ threads: 0 });
  await quantizeModel(e, syntheticModel({ nLayer: 4, nEmbd: 512, nFf: 1536, nVocab: 4000, nHead: 8, nHeadKv: 4 }), await openFileSink(input), { ftype: "F32", order: "input" });
  e.dispose();
}
const cli = path.join(here, "../dist/cli.js");
for (const [name, sigs] of [["SIGINT", ["SIGINT"]], ["SIGINT+SIGINT 5ms", ["SIGINT", "SIGINT"]], ["SIGTERM", ["SIGTERM"]]]) {
  const ms = [];
  let left = 0, codes = new Set();
  for (let r = 0; r < reps; r++) {
    const child = spawn(process.execPath, [cli, "quantize", input, out, "Q6_K", "--threads", "1"], { stdio: "ignore" });
    const exited = new Promise((res) => child.on("exit", (c) => res(c)));
    for (;;) {
      const f = readdirSync(dir).find((n) => n.startsWith("o.gguf.tmp-"));
      let size = 0;
      try { size = f ? statSync(path.join(dir, f)).size : 0; } catch { /* renamed */ }
      if (size > 0 || child.exitCode !== null) break;
      await new Promise((res) => setTimeout(res, 2));
    }
    const t0 = performance.now();
    child.kill(sigs[0]);
    if (sigs[1]) { await new Promise((res) => setTimeout(res, 5)); child.kill(sigs[1]); }
    codes.add(await exited);
    ms.push(performance.now() - t0);
    left += readdirSync(dir).filter((n) => n.startsWith("o.gguf")).length;
    rmSync(out, { force: true });
  }
  ms.sort((a, b) => a - b);
  result.signals[name] = { medianMs: Math.round(ms[ms.length >> 1]), maxMs: Math.round(ms.at(-1)), exitCodes: [...codes], filesLeft: left, runs: reps };
  console.log(`${name}: exit ${[...codes].join("/")} in ${result.signals[name].medianMs} ms median (max ${result.signals[name].maxMs}), files left ${left} of ${reps} runs`);
}
rmSync(dir, { recursive: true, force: true });
writeFileSync(path.join(here, "hostile-engine.json"), JSON.stringify(result, null, 1) + "\n");
