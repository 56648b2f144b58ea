// I-quant benchmark: quantization throughput (MB of f32 input per second) of the eight i-quant types,
// wasm SIMD kernel beside its scalar _ref twin and the plain-JS port (bench/js/iq*.js, Math.fround
// float32, the same bytes), all in the same run on the same seeded input; dequantization throughput
// (SIMD and _ref); the one-time lattice construction per module instance. Writes bench/iq.json and
// bench/IQ.md. Runs the raw kernels of build/tensorshrink.wasm (node scripts/build.mjs --wasm-only).
// Usage: npm run bench:iq [-- --quick] [-- --only iq4_xs,iq2_s]
import { writeFileSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import os from "node:os";
import path from "node:path";
import { benchData } from "./_bench-data.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const quick = process.argv.includes("--quick");
const onlyArg = process.argv.find((a) => a.startsWith("--only="))?.slice(7) ?? (process.argv.includes("--only") ? process.argv[process.argv.indexOf("--only") + 1] : null);
const only = onlyArg ? new Set(onlyArg.split(",")) : null;
const ROWS = quick ? 8 : 32, COLS = 4096, N = ROWS * COLS, BYTES = N * 4;

const { x, imatrix } = benchData(N, COLS); // gaussian-ish weights with 1% outliers, heavy-tailed importance (bench/_bench-data.mjs)

const time = (fn, reps = 1) => { let best = Infinity; for (let r = 0; r < reps; r++) { const t = performance.now(); fn(); best = Math.min(best, (performance.now() - t) / 1000); } return best; };
const mbps = (sec) => BYTES / sec / 1e6;

const TYPES = ["iq4_xs", "iq3_s", "iq3_xxs", "iq2_s", "iq2_xs", "iq2_xxs", "iq1_m", "iq1_s"];
const JS = { iq4_xs: "iq4_xs", iq3_s: "iq3", iq3_xxs: "iq3", iq2_s: "iq2", iq2_xs: "iq2", iq2_xxs: "iq2", iq1_m: "iq1", iq1_s: "iq1" };
const GRID = { iq2_xxs: 0, iq2_xs: 1, iq1_s: 2, iq1_m: 2, iq2_s: 3, iq3_xxs: 4, iq3_s: 5 };

const wasm = readFileSync(path.join(here, "../build/tensorshrink.wasm"));
const instance = async () => (await WebAssembly.instantiate(wasm, { env: { abort: () => { throw new Error("wasm abort"); }, seed: () => 0 } })).instance.exports;
const INFO = { iq4_xs: [136, false], iq3_s: [110, false], iq3_xxs: [98, false], iq2_s: [82, false], iq2_xs: [74, true], iq2_xxs: [66, true], iq1_m: [56, false], iq1_s: [50, true] };
const e = await instance();
// lattice construction, once per module instance (fresh instance: nothing built yet)
const fresh = await instance();
const build = {};
for (const [name, g] of [["iq2_xxs", 0], ["iq2_xs", 1], ["iq1_s / iq1_m", 2], ["iq2_s", 3], ["iq3_xxs", 4], ["iq3_s", 5]]) build[name] = time(() => fresh.iq_grid_for_kernel(g)) * 1000;
for (const g of Object.values(GRID)) e.iq_grid_for_kernel(g);
const pin = e.ts_alloc(BYTES), pout = e.ts_alloc(BYTES), pim = e.ts_alloc(COLS * 4), pdq = e.ts_alloc(BYTES);
new Float32Array(e.memory.buffer, pin, N).set(x);
new Float32Array(e.memory.buffer, pim, COLS).set(imatrix);

const rows = [];
const reps = quick ? 1 : 3;
for (const type of TYPES) {
  if (only && !only.has(type)) continue;
  const info = { bytesPerBlock: INFO[type][0], requiresImatrix: INFO[type][1], bitsPerWeight: (8 * INFO[type][0]) / 256 };
  const js = (await import(`./js/${JS[type]}.js`))[`quantize_${type}`];
  js(x.subarray(0, 2 * 256), 2, 256, imatrix.subarray(0, 256)); // builds the JS port's lattice, outside the timing
  for (const variant of info.requiresImatrix ? ["imatrix"] : ["", "imatrix"]) {
    const im = variant ? pim : 0;
    for (let w = 0; w < 3; w++) { e[`quantize_${type}`](pout, pin, 1, COLS, im); e[`quantize_${type}_ref`](pout, pin, 1, COLS, im); } // JIT warm-up
    js(x.subarray(0, COLS), 1, COLS, variant ? imatrix : null);
    const simd = time(() => e[`quantize_${type}`](pout, pin, ROWS, COLS, im), reps);
    const ref = time(() => e[`quantize_${type}_ref`](pout, pin, ROWS, COLS, im), reps);
    let out;
    const jsSec = time(() => { out = js(x, ROWS, COLS, variant ? imatrix : null); });
    const nbytes = e[`quantize_${type}`](pout, pin, ROWS, COLS, im);
    const w = new Uint8Array(e.memory.buffer, pout, nbytes).slice();
    const same = out.length === w.length && out.every((v, i) => v === w[i]);
    const nb = (N / 256) * info.bytesPerBlock;
    const dqs = time(() => e[`dequantize_row_${type}`](pdq, pout, N), 5), dqr = time(() => e[`dequantize_row_${type}_ref`](pdq, pout, N), 5);
    rows.push({ type, variant, bitsPerWeight: info.bitsPerWeight, simdMBs: mbps(simd), refMBs: mbps(ref), jsMBs: mbps(jsSec), simdVsRef: ref / simd, simdVsJs: jsSec / simd, jsSameBytes: same, dequantSimdMBs: mbps(dqs), dequantRefMBs: mbps(dqr), outBytes: nb });
    console.error(`${type}${variant ? " +imatrix" : ""}: SIMD ${mbps(simd).toFixed(2)} MB/s, _ref ${mbps(ref).toFixed(2)}, JS ${mbps(jsSec).toFixed(2)} (${(jsSec / simd).toFixed(1)}x), same ${same}`);
  }
}

const meta = { date: new Date().toISOString(), cpu: os.cpus()[0]?.model ?? "?", cores: os.cpus().length, node: process.version, load: os.loadavg(), rows: ROWS, cols: COLS, quick };
writeFileSync(path.join(here, "iq.json"), JSON.stringify({ meta, build, rows }, null, 1));
const f2 = (v) => v.toFixed(2);
let md = `# I-quant benchmark\n\nMeasured ${meta.date} on ${meta.cpu} (${meta.cores} cores, load average ${meta.load.map((l) => l.toFixed(1)).join(" / ")} — the machine is shared), Node ${meta.node}.\n`;
md += `Input: ${ROWS} x ${COLS} f32 (${(BYTES / 1048576).toFixed(1)} MiB), seeded gaussian with 1% outliers; imatrix seeded (\`npm run bench:iq\`). MB/s = MB of f32 input per second, best of ${reps} (JS: one run), single thread.\n`;
md += `"SIMD" and "_ref" are the raw wasm kernels (data already in wasm memory); "JS" is the plain-JS port of the same algorithm (bench/js/iq*.js, float32 via Math.fround), "JS same" says whether it wrote the same bytes. All columns of a row come from the same run.\n\n`;
md += `| type | variant | bits/w | SIMD MB/s | _ref MB/s | JS MB/s | SIMD / _ref | SIMD / JS | JS same | dequant SIMD MB/s | dequant _ref MB/s |\n|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|\n`;
for (const r of rows) md += `| ${r.type} | ${r.variant} | ${r.bitsPerWeight.toFixed(4)} | ${f2(r.simdMBs)} | ${f2(r.refMBs)} | ${f2(r.jsMBs)} | ${f2(r.simdVsRef)}× | ${r.simdVsJs.toFixed(1)}× | ${r.jsSameBytes} | ${r.dequantSimdMBs.toFixed(0)} | ${r.dequantRefMBs.toFixed(0)} |\n`;
md += `\nLattice construction (kmap + neighbour lists, once per module instance, i.e. per engine and per pool worker, on first use of a type of that lattice), ms:\n\n| lattice | ms |\n|---|---:|\n`;
for (const [k, v] of Object.entries(build)) md += `| ${k} | ${v.toFixed(0)} |\n`;
writeFileSync(path.join(here, "IQ.md"), md);
console.log(md);
