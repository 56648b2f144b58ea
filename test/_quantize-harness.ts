// Test helper: llama.cpp's own quantizer (llama_model_quantize from node-llama-cpp's prebuilt libllama,
// driven by test/tools/llama-quantize-ref.cpp, compiled with the system C++ compiler) and a byte
// comparison that explains the first difference. Shared by test/61, 62, 65, 69 and 73.
import { existsSync, readFileSync, rmSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import path from "node:path";
import * as assert from "uvu/assert";
import { FTYPES, quantizeModel, type Engine } from "../src/index";
import { openFileSink, openFileSource } from "../src/formats/source";
import { openModel } from "../src/model/open";
import { readGguf, readGgufTensorBytes } from "../src/formats/gguf";
import { ROOT } from "./_util";

function libllamaDir(): string | null {
  const req = createRequire(path.join(ROOT, "package.json"));
  const plat = `${process.platform}-${process.arch}`;
  const candidates = [path.join(ROOT, "node_modules/@node-llama-cpp", plat)];
  try { candidates.unshift(path.resolve(path.dirname(req.resolve(`@node-llama-cpp/${plat}`)), "..")); } catch { /* not resolvable */ }
  for (const pkg of candidates) {
    const dir = path.join(pkg, "bins", plat);
    if (existsSync(path.join(dir, "libllama.v0.5.0.so")) && existsSync(path.join(dir, "libllama-common.so"))) return dir;
  }
  return null;
}

/** The compiled harness, or a string saying why there is none (skip). */
export function buildQuantizeHarness(tmp: string): { exe: string } | string {
  const lib = libllamaDir();
  if (!lib) return `no prebuilt libllama (@node-llama-cpp/${process.platform}-${process.arch}) installed`;
  const exe = path.join(tmp, "llama-quantize-ref");
  const r = spawnSync("c++", ["-std=c++17", "-O1", "-o", exe, path.join(ROOT, "test/tools/llama-quantize-ref.cpp"), `-L${lib}`, "-l:libllama.v0.5.0.so", "-l:libllama-common.so", `-Wl,-rpath,${lib}`], { encoding: "utf8" });
  if (r.error) return `no C++ compiler (c++): ${r.error.message}`;
  if (r.status !== 0) throw new Error(`compiling test/tools/llama-quantize-ref.cpp failed:\n${r.stderr}`);
  return { exe };
}

/** llama.cpp's quantization of `input` into `out` with ftype `ftype` (a FTYPES name); `extra`: more harness arguments (e.g. `--imatrix file`). */
export function llamaQuantize(exe: string, input: string, out: string, ftype: string, threads = 2, extra: readonly string[] = []): { ok: boolean; log: string } {
  const r = spawnSync(exe, [input, out, String(FTYPES[ftype as keyof typeof FTYPES].id), String(threads), ...extra], { encoding: "utf8", timeout: 300_000 });
  return { ok: r.status === 0, log: `${r.stdout}\n${r.stderr}` };
}

/** First difference between two GGUF files (KV keys/values, tensor order, types, bytes). */
export async function explainGgufDiff(a: string, b: string): Promise<string> {
  const [sa, sb] = [await openFileSource(a), await openFileSource(b)];
  try {
    const [A, B] = [await readGguf(sa), await readGguf(sb)];
    const ka = A.metadata.map((k) => k.key), kb = B.metadata.map((k) => k.key);
    if (ka.join() !== kb.join()) return `KV keys differ: llama.cpp [${ka.join(", ")}] vs ours [${kb.join(", ")}]`;
    const js = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? String(x) : x));
    for (let i = 0; i < ka.length; i++) if (js(A.metadata[i]) !== js(B.metadata[i])) return `KV ${ka[i]} differs`;
    const na = A.tensors.map((t) => t.name), nb = B.tensors.map((t) => t.name);
    if (na.join() !== nb.join()) return `tensor order differs: llama.cpp ${na.slice(0, 5).join(", ")}... vs ours ${nb.slice(0, 5).join(", ")}...`;
    for (let i = 0; i < A.tensors.length; i++) {
      const [x, y] = [A.tensors[i]!, B.tensors[i]!];
      if (x.type.name !== y.type.name) return `${x.name}: llama.cpp ${x.type.name}, ours ${y.type.name}`;
      const [bx, by] = [await readGgufTensorBytes(A, x), await readGgufTensorBytes(B, y)];
      if (Buffer.compare(Buffer.from(bx), Buffer.from(by)) !== 0) { let k = 0; while (bx[k] === by[k]) k++; return `${x.name} (${x.type.name}): bytes differ from byte ${k}`; }
    }
    return "files differ outside the header and tensor data (padding?)";
  } finally {
    await sa.close?.(); await sb.close?.();
  }
}

/** Asserts two files are byte-identical, explaining the first difference otherwise. */
export async function assertSameFile(ref: string, mine: string, what: string): Promise<void> {
  const [a, b] = [readFileSync(ref), readFileSync(mine)];
  if (!a.equals(b)) assert.unreachable(`${what}: not byte-identical to llama.cpp (${a.length} vs ${b.length} bytes): ${await explainGgufDiff(ref, mine)}`);
}

/**
 * For each ftype: llama.cpp quantizes `input` and so do we (openModel + quantizeModel, 2 files in `dir`
 * named after `tag`), and the two files must be byte-identical; `check(ftype, ours)` may look at ours
 * before both are removed. Returns the ftypes done (all of them: a llama.cpp failure fails the test).
 */
export async function assertRecipesIdentical(exe: string, engine: Engine, input: string, dir: string, tag: string, ftypes: readonly string[], check?: (ftype: string, mine: string) => Promise<void>): Promise<string[]> {
  const done: string[] = [];
  for (const f of ftypes) {
    const ref = path.join(dir, `ref-${tag}-${f}.gguf`), mine = path.join(dir, `ours-${tag}-${f}.gguf`);
    const r = llamaQuantize(exe, input, ref, f);
    assert.ok(r.ok, `llama.cpp failed on ${tag} ${f}:\n${r.log.slice(-600)}`);
    const m = await openModel(input, engine);
    try { await quantizeModel(engine, m, await openFileSink(mine, { inputs: [input] }), { ftype: f }); } finally { await m.close?.(); }
    await assertSameFile(ref, mine, `${tag} ${f}`);
    await check?.(f, mine);
    done.push(f);
    rmSync(ref); rmSync(mine);
  }
  return done;
}
