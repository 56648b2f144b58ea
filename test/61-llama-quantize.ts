// tensorshrink's output against llama.cpp's own quantizer, byte for byte, whole files: header (KV
// order, quantize.imatrix.* keys, alignment), tensor order, per-tensor types and block bytes.
// llama.cpp = the libllama that node-llama-cpp ships prebuilt (a devDependency), driven by
// test/tools/llama-quantize-ref.cpp (compiled here with the system C++ compiler; test/_quantize-harness.ts), which calls
// llama_model_quantize as llama.cpp's tools/quantize does, importance matrices loaded by llama.cpp's
// own common_imatrix_load (legacy .dat and GGUF imatrix files). Inputs: a synthetic llama model whose
// dimensions are multiples of 256 (every k-quant applies as such), and stories260K converted by
// tensorshrink (64 / 172-wide rows: the fallbacks), when ../shared/models is present.
// Skips with a message when there is no C++ compiler or no prebuilt libllama for this platform.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { init, syntheticModel, quantizeModel, readImatrix, encodeLegacyImatrix, FTYPES } from "../src/index";
import { openLlama2cModel } from "../src/model/convert";
import { openModel } from "../src/model/open";
import { openFileSink, openFileSource } from "../src/formats/source";
import { readGguf, writeGguf, ggufKV, ggufArray, type GgufTensorSpec } from "../src/formats/gguf";
import { SHARED } from "./_util";
import { buildQuantizeHarness, llamaQuantize as harnessQuantize, assertSameFile } from "./_quantize-harness";

const THREADS = 2;
const tmp = mkdtempSync(path.join(tmpdir(), "ts-llama-quantize-"));
const log = (s: string) => console.log(`  ${s}`);

const harness = buildQuantizeHarness(tmp);
if (typeof harness === "string") {
  console.log(`SKIP: ${harness}; the byte-for-byte comparison with llama.cpp needs it`);
  test.run();
} else {
  const { exe } = harness;
  const engine = await init({ threads: THREADS });

  /** llama.cpp's quantization of `input` (ftype by id) into `out`; extra = harness options. */
  const llamaQuantize = (input: string, out: string, ftype: string, extra: string[] = []) => harnessQuantize(exe, input, out, ftype, THREADS, extra);
  const ours = async (input: string, out: string, ftype: string, o: { imatrix?: Map<string, Float32Array>; pure?: boolean } = {}) => {
    const model = await openModel(input, engine);
    try {
      return await quantizeModel(engine, model, await openFileSink(out, { inputs: [input] }), { ftype, ...o });
    } finally {
      await model.close?.();
    }
  };
  const same = (ref: string, mine: string, what: string) => assertSameFile(ref, mine, what);

  // Every ftype tensorshrink offers; llama.cpp's library refuses Q2_K_S without an imatrix, as we do not.
  // (the i-quant ftypes and MXFP4_MOE, most of which need an imatrix, are compared in test/62)
  const ALL = (Object.keys(FTYPES) as (keyof typeof FTYPES)[]).filter((f) => f === "IQ4_NL" || !(f.startsWith("IQ") || f === "MXFP4_MOE"));
  const IMATRIX_TYPES = ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q2_K_S", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K", "IQ4_NL"];

  const inputs: { tag: string; file: string }[] = [];
  const syn = path.join(tmp, "synthetic-F32.gguf");
  await quantizeModel(engine, syntheticModel({ nLayer: 8, nEmbd: 256, nFf: 768, nHead: 4, nHeadKv: 2, nVocab: 512, seed: 3 }), await openFileSink(syn), { ftype: "F32", order: "input" });
  inputs.push({ tag: "synthetic (8 layers, 256 x 768, untied output)", file: syn });
  const moe = path.join(tmp, "moe-F32.gguf");
  await quantizeModel(engine, syntheticModel({ nLayer: 4, nEmbd: 256, nFf: 512, nHead: 4, nHeadKv: 2, nVocab: 512, seed: 5, nExpert: 8, nExpertUsed: 2 }), await openFileSink(moe), { ftype: "F32", order: "input" });
  inputs.push({ tag: "synthetic MoE (4 layers, 8 experts: 3D ffn_*_exps, per-expert imatrix)", file: moe });
  const CKPT = path.join(SHARED, "models/stories260K/stories260K.bin"), TOK = path.join(SHARED, "models/stories260K/tok512.bin");
  if (existsSync(CKPT) && existsSync(TOK)) {
    const s260 = path.join(tmp, "stories260K-F32.gguf");
    const m = await openLlama2cModel(CKPT, TOK);
    await quantizeModel(engine, m, await openFileSink(s260), { ftype: "F32" });
    await m.close?.();
    inputs.push({ tag: "stories260K", file: s260 });
  } else console.log("SKIP (part): ../shared/models/stories260K not found: compared on the synthetic model only");

  for (const { tag, file } of inputs) {
    test(`${tag}: every ftype byte-identical to llama.cpp's llama_model_quantize`, async () => {
      const done: string[] = [];
      for (const f of ALL) {
        const ref = path.join(tmp, `ref-${f}.gguf`), mine = path.join(tmp, `ours-${f}.gguf`);
        const r = llamaQuantize(file, ref, f);
        if (!r.ok) {
          assert.is(f, "Q2_K_S", `llama.cpp failed on ${f}:\n${r.log.slice(-600)}`);
          continue;
        }
        await ours(file, mine, f);
        await same(ref, mine, `${tag} ${f}`);
        done.push(f);
        rmSync(ref); rmSync(mine);
      }
      assert.ok(done.length >= ALL.length - 1);
      log(`${tag}: ${done.length} ftypes identical (${done.join(" ")})`);
    });

    test(`${tag}: with importance matrices (legacy .dat and GGUF imatrix, read by llama.cpp's own loader): identical, quantize.imatrix.* keys included`, async () => {
      const src = await openFileSource(file);
      const g = await readGguf(src);
      await src.close?.();
      let seed = 7;
      const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
      // one vector per matrix: ne[0] values, times ne[2] experts for the 3D expert tensors
      const mats = (t: { ne: readonly number[] }) => t.ne[2] ?? 1;
      const m = new Map<string, Float32Array>();
      for (const t of g.tensors) if (t.ne.length > 1) m.set(t.name, Float32Array.from({ length: t.ne[0] * mats(t) }, () => 0.01 + rnd() * rnd() * 5));
      m.set("blk.99.unused.weight", new Float32Array(8).fill(1)); // entries the model does not have still count
      // legacy .dat with the optional trailer (chunk count, dataset)
      const dat = path.join(tmp, "im.dat");
      writeFileSync(dat, encodeLegacyImatrix(m, { chunkCount: 10, dataset: "tinystories_sample.txt" }));
      // GGUF imatrix: <name>.in_sum2 [ne0, n_mat] and <name>.counts [1, n_mat]; counts that are not
      // integers (llama.cpp rounds them) and a zero count (importance 1 for that matrix)
      const gg = path.join(tmp, "im.gguf");
      const specs: GgufTensorSpec[] = [], blobs: Uint8Array[] = [];
      let k = 0;
      for (const [name, v] of m) {
        const n = name.includes("_exps") ? 8 : 1, ne0 = v.length / n;
        const counts = Float32Array.from({ length: n }, (_, j) => [3, 2.5, 0.3, 7.49][(k + j) % 4]);
        const sums = Float32Array.from(v, (x, i) => x * Math.max(1, Math.round(counts[Math.floor(i / ne0)])));
        specs.push({ name: `${name}.in_sum2`, ne: [ne0, n], type: "f32" }, { name: `${name}.counts`, ne: [1, n], type: "f32" });
        blobs.push(new Uint8Array(sums.buffer), new Uint8Array(counts.buffer));
        k++;
      }
      const ggSink = await openFileSink(gg);
      await writeGguf(ggSink, [
        ggufKV("general.type", "str", "imatrix"),
        ggufKV("imatrix.datasets", "arr", ggufArray("str", ["wiki.train.raw", "tinystories_sample.txt"])),
        ggufKV("imatrix.chunk_count", "u32", 42),
        ggufKV("imatrix.chunk_size", "u32", 512),
      ], specs, (_s, i) => blobs[i]);
      for (const imFile of [dat, gg]) {
        const imSrc = await openFileSource(imFile);
        const im = await readImatrix(imSrc).finally(() => imSrc.close?.());
        assert.is(im.file, imFile);
        assert.is(im.size, m.size);
        for (const f of IMATRIX_TYPES) {
          const ref = path.join(tmp, `ref-im-${f}.gguf`), mine = path.join(tmp, `ours-im-${f}.gguf`);
          const r = llamaQuantize(file, ref, f, ["--imatrix", imFile]);
          assert.ok(r.ok, `llama.cpp failed on ${f} with imatrix ${imFile}:\n${r.log.slice(-600)}`);
          await ours(file, mine, f, { imatrix: im });
          await same(ref, mine, `${tag} ${f} + ${path.basename(imFile)}`);
          rmSync(ref); rmSync(mine);
        }
      }
      log(`${tag}: ${IMATRIX_TYPES.length} ftypes x 2 imatrix formats identical`);
    });

    test(`${tag}: --pure identical`, async () => {
      for (const f of ["Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M"]) {
        const ref = path.join(tmp, `ref-pure-${f}.gguf`), mine = path.join(tmp, `ours-pure-${f}.gguf`);
        const r = llamaQuantize(file, ref, f, ["--pure"]);
        assert.ok(r.ok, r.log.slice(-600));
        await ours(file, mine, f, { pure: true });
        await same(ref, mine, `${tag} ${f} --pure`);
        rmSync(ref); rmSync(mine);
      }
    });
  }

  test.after(() => {
    engine.dispose();
    rmSync(tmp, { recursive: true, force: true });
  });
  test.run();
}
