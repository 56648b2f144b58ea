// Prints the tables of bench/KQUANT-SPEED.md from bench/kquant-speed.json (this branch's kernels) and
// bench/kquant-speed-before*.json + bench/vs-llama.json (main's kernels, same harness): records of bench/vs-llama.mjs.
// Usage: node bench/kquant-speed-table.mjs [--since 2026-12-02T07:30Z] (only records measured after that)
import { readFileSync, existsSync } from "node:fs";
const load = (f) => (existsSync(new URL(f, import.meta.url)) ? JSON.parse(readFileSync(new URL(f, import.meta.url), "utf8")) : []);
// before = main's kernels: bench/kquant-speed-before.json (1 thread, 03:33-03:57) and
// bench/kquant-speed-before-t2.json (2 threads, 04:20-04:47) first, else bench/vs-llama.json (01:12-02:03)
const since = process.argv.includes("--since") ? Date.parse(process.argv[process.argv.indexOf("--since") + 1]) : 0;
const after = load("./kquant-speed.json").filter((r) => !since || Date.parse(r.date) >= since);
const before = [...load("./vs-llama.json"), ...load("./kquant-speed-before.json"), ...load("./kquant-speed-before-t2.json")];
const key = (r) => `${r.ftype}|${r.imatrix}|${r.threads}`;
const prev = new Map(before.map((r) => [key(r), r]));
console.log("| ftype | imatrix | threads | llama.cpp CPU s | tensorshrink CPU s | **CPU ratio** | before: ts CPU s (ratio) | wall llama.cpp / ts s | peak RSS llama.cpp / ts MiB | identical | load avg |");
console.log("|---|---|---:|---:|---:|---:|---:|---:|---|---|---:|");
for (const r of [...after].sort((a, b) => a.threads - b.threads)) {
  const b = prev.get(key(r));
  console.log(`| ${r.ftype} | ${r.imatrix ? "yes" : "no"} | ${r.threads} | ${r.llamaCpp.cpu.toFixed(2)} | ${r.tensorshrink.cpu.toFixed(2)} | **${r.cpuRatio.toFixed(2)}x** | ${b ? `${b.tensorshrink.cpu.toFixed(2)} (${b.cpuRatio.toFixed(2)}x)` : "–"} | ${r.llamaCpp.wall.toFixed(0)} / ${r.tensorshrink.wall.toFixed(0)} | ${r.llamaCpp.maxRssMiB} / ${r.tensorshrink.maxRssMiB} | ${r.identical ? "yes" : "**no**"} | ${r.loadavg[0]} |`);
}
