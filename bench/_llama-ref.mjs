// Shared by bench/vs-llama.mjs and bench/iq-file.mjs: llama.cpp's own quantizer as a child process
// (llama_model_quantize of node-llama-cpp's prebuilt libllama, through test/tools/llama-quantize-ref.cpp,
// as test/61/62 use it), a /usr/bin/time runner, and the synthetic F32 GGUF + legacy .dat imatrix
// both tools quantize.
import { spawnSync } from "node:child_process";
import { existsSync, writeFileSync, openSync, readSync, closeSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/**
 * Compile the llama-quantize-ref harness into `tmp` against node-llama-cpp's prebuilt libllama.
 * @returns the executable's path, or null after printing a `SKIP:` line (no libllama for this platform,
 * or no C++ compiler).
 */
export function buildLlamaQuantizeRef(tmp) {
  const plat = `${process.platform}-${process.arch}`;
  const lib = path.join(ROOT, "node_modules/@node-llama-cpp", plat, "bins", plat);
  if (!existsSync(path.join(lib, "libllama.v0.5.0.so"))) { console.log(`SKIP: no prebuilt libllama for ${plat}`); return null; }
  const exe = path.join(tmp, "llama-quantize-ref");
  const cc = spawnSync("c++", ["-std=c++17", "-O1", "-o", exe, path.join(ROOT, "test/tools/llama-quantize-ref.cpp"), `-L${lib}`, "-l:libllama.v0.5.0.so", "-l:libllama-common.so", `-Wl,-rpath,${lib}`], { encoding: "utf8" });
  if (cc.status !== 0) { console.log(`SKIP: cannot compile the harness: ${cc.stderr || cc.error}`); return null; }
  return exe;
}

/**
 * Run `cmd` under /usr/bin/time in the repository root; throws with the tail of stderr when it fails.
 * @returns seconds of wall, user and sys time, cpu = user + sys, and peak RSS in MiB.
 */
export function timed(cmd, env = process.env) {
  const r = spawnSync("/usr/bin/time", ["-f", "TIME %e %U %S %M", ...cmd], { encoding: "utf8", cwd: ROOT, env, maxBuffer: 256 << 20 });
  const m = /TIME ([\d.]+) ([\d.]+) ([\d.]+) (\d+)/.exec(r.stderr);
  if (r.status !== 0 || !m) throw new Error(`${cmd.join(" ")} failed:\n${r.stderr.slice(-3000)}`);
  return { wall: +m[1], user: +m[2], sys: +m[3], cpu: +m[2] + +m[3], maxRssMiB: Math.round(+m[4] / 1024) };
}

/**
 * Write the synthetic llama (`syntheticModel(dims)`, seed 9) as an F32 GGUF and a seeded legacy .dat
 * importance matrix into `tmp`, by a small tsx script over src/.
 * @returns the two paths and the model's parameter count.
 */
export function writeSyntheticInput(tmp, dims) {
  const input = path.join(tmp, "synthetic-F32.gguf"), im = path.join(tmp, "im.dat");
  const gen = path.join(tmp, "gen.mts");
  writeFileSync(gen, `
import { init, syntheticModel, quantizeModel, encodeLegacyImatrix } from ${JSON.stringify(path.join(ROOT, "src/index.ts"))};
import { openFileSink } from ${JSON.stringify(path.join(ROOT, "src/formats/source.ts"))};
import { writeFileSync } from "node:fs";
const e = await init({ threads: 2 });
const m = syntheticModel(${JSON.stringify({ ...dims, seed: 9 })});
await quantizeModel(e, m, await openFileSink(${JSON.stringify(input)}), { ftype: "F32", order: "input", stats: false });
let s = 5; const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
const map = new Map();
for (const t of m.tensors) if (t.ne.length > 1) map.set(t.name, Float32Array.from({ length: t.ne[0] }, () => 0.01 + rnd() * rnd() * 5));
writeFileSync(${JSON.stringify(im)}, encodeLegacyImatrix(map, { chunkCount: 10, dataset: "synthetic" }));
console.log(m.tensors.reduce((a, t) => a + t.ne.reduce((x, y) => x * y, 1), 0));
e.dispose();
`);
  const g = spawnSync(process.execPath, ["--import", "tsx", gen], { encoding: "utf8", cwd: ROOT });
  if (g.status !== 0) throw new Error(g.stderr);
  return { input, im, params: +g.stdout.trim().split("\n").pop() };
}

/**
 * Parameter count of a GGUF file (sum over its tensors of the product of their dims), from the header.
 * Reads the first 64 MiB at most (the header and tensor infos of any model this bench writes).
 */
export function ggufParams(file) {
  const fd = openSync(file, "r"), buf = Buffer.alloc(64 << 20);
  const len = readSync(fd, buf, 0, buf.length, 0);
  closeSync(fd);
  let o = 8;
  const u32 = () => { const v = buf.readUInt32LE(o); o += 4; return v; };
  const u64 = () => { const v = Number(buf.readBigUInt64LE(o)); o += 8; return v; };
  const str = () => { const n = u64(); o += n; };
  const SIZES = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
  const skip = (t) => { if (t === 8) str(); else if (t === 9) { const it = u32(), n = u64(); for (let i = 0; i < n; i++) skip(it); } else o += SIZES[t]; };
  const nt = u64(), nkv = u64();
  for (let i = 0; i < nkv; i++) { str(); skip(u32()); }
  let params = 0;
  for (let i = 0; i < nt; i++) {
    str();
    const nd = u32();
    let n = 1;
    for (let d = 0; d < nd; d++) n *= u64();
    o += 4 + 8;
    params += n;
  }
  if (o > len) throw new Error(`${file}: GGUF header longer than 64 MiB`);
  return params;
}
