// Tokenizer identity with llama.cpp (issue 9, item 2): our ids equal node-llama-cpp's `model.tokenize(text,
// parseSpecial)` (llama_tokenize with add_special = false, both parseSpecial settings) and our decode equals
// its `detokenize` (both unparse settings) on
//  - kjv3M and stories260K (llama2.c checkpoints converted to GGUF F32 with the project's converter; SPM
//    with byte fallback) over calib.txt, eval.txt (whole and per line), tinystories_sample.txt and a
//    unicode / whitespace / digits / emoji / CJK / combining-marks / control-characters torture text;
//  - llama.cpp's own vocabulary fixtures from the llama.cpp source bundle inside node-llama-cpp
//    (ggml-vocab-{llama-spm,phi-3,gpt-2,llama-bpe,qwen2,starcoder,refact,mpt}.gguf): all 8 against the
//    expected ids llama.cpp's test-tokenizer-0 stores beside them (.inp/.out), and llama-spm and gpt-2
//    against node-llama-cpp on the torture text and the fixture texts (TENSORSHRINK_TOKENIZER_FULL=1:
//    all 8 on every text, ~2 min);
//  - synthetic byte-level BPE vocabularies (300 merges learned on calib.txt with the llama-bpe and the
//    qwen2 pre-tokenizers) written as vocab-only GGUFs, on every text.
// Models load with vocabOnly (no weights, no context). Skips with a message when node-llama-cpp, the
// models or the bundle are absent. ~30 s on 2 cores.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { convertToGguf } from "../src/model/convert";
import { openFileSink, openFileSource } from "../src/formats/source";
import { readGguf, writeGguf } from "../src/formats/gguf";
import { Tokenizer } from "../src/tokenizer/tokenizer";
import { SHARED } from "./_util";
import { llamaVocabDir, vocabCases, TORTURE, TORTURE_CASES } from "./_llama-vocab";
import { syntheticBpeMetadata } from "./_bpe-synth";

const spec = process.env.TENSORSHRINK_NODE_LLAMA_CPP || "node-llama-cpp";
const nlc: any = await import(spec).catch((e) => { console.log(`SKIP: node-llama-cpp cannot be imported (${(e as Error).message})`); return null; });
const VOCABS = ["llama-spm", "phi-3", "gpt-2", "llama-bpe", "qwen2", "starcoder", "refact", "mpt"];
const FULL = process.env.TENSORSHRINK_TOKENIZER_FULL === "1";
const VS_LLAMA_CPP = FULL ? VOCABS : ["llama-spm", "gpt-2"];
const read = (p: string) => (existsSync(p) ? readFileSync(p, "utf8") : null);
const STORIES = path.join(SHARED, "models/stories260K"), KJV = path.join(SHARED, "models/kjv3M");
const tiny = read(path.join(STORIES, "tinystories_sample.txt"));
const calib = read(path.join(KJV, "calib.txt"));
const evalTxt = read(path.join(KJV, "eval.txt"));

if (!nlc) {
  test.run();
} else {
  const llama = await nlc.getLlama({ gpu: false, build: "never", skipDownload: true, logLevel: "error" });
  const tmp = mkdtempSync(path.join(tmpdir(), "ts-tok-"));
  const models: any[] = [];
  test.after(async () => { for (const m of models) await m.dispose(); rmSync(tmp, { recursive: true, force: true }); });

  const load = async (file: string) => {
    const tok = Tokenizer.fromGguf(await readGguf(await openFileSource(file)));
    const model = await llama.loadModel({ modelPath: file, vocabOnly: true });
    models.push(model);
    return { tok, model };
  };

  const firstDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => { let i = 0; while (i < a.length && i < b.length && a[i] === b[i]) i++; return i === a.length && i === b.length ? -1 : i; };

  /** Compare encode (both parseSpecial settings) and decode with llama.cpp; returns the number of ids compared. */
  const compare = (label: string, tok: Tokenizer, model: any, texts: [string, string][]) => {
    let n = 0;
    for (const [name, text] of texts) {
      for (const parseSpecial of [false, true]) {
        const want: number[] = Array.from(model.tokenize(text, parseSpecial));
        const got = tok.encode(text, { addBos: false, parseSpecial });
        const d = firstDiff(got, want);
        if (d >= 0) {
          assert.unreachable(`${label} / ${name} (parseSpecial ${parseSpecial}): ids differ at ${d} of ${want.length}: ours ${JSON.stringify(Array.from(got.slice(Math.max(0, d - 3), d + 5)))} llama.cpp ${JSON.stringify(want.slice(Math.max(0, d - 3), d + 5))} near ${JSON.stringify(tok.decode(want.slice(Math.max(0, d - 5), d + 5)))}`);
        }
        n += want.length;
        for (const unparse of [false, true]) {
          const w = model.detokenize(want, unparse), g = tok.decode(want, { unparseSpecial: unparse });
          if (w !== g) {
            let i = 0; while (i < w.length && w[i] === g[i]) i++;
            assert.unreachable(`${label} / ${name}: decode(unparseSpecial ${unparse}) differs at char ${i}: ours ${JSON.stringify(g.slice(i, i + 20))} llama.cpp ${JSON.stringify(w.slice(i, i + 20))}`);
          }
        }
      }
    }
    return n;
  };

  const texts = (full = true): [string, string][] => {
    const t: [string, string][] = [["torture", TORTURE], ...TORTURE_CASES.map((c, i): [string, string] => [`torture[${i}]`, c])];
    if (tiny) t.push(["tinystories_sample.txt", tiny]);
    if (calib && full) t.push(["calib.txt", calib]);
    if (evalTxt) t.push(["eval.txt", evalTxt], ...evalTxt.split("\n").slice(0, full ? 100 : 20).map((l, i): [string, string] => [`eval.txt line ${i + 1}`, l]));
    return t;
  };

  for (const [name, dir, ckpt] of [["stories260K", STORIES, "stories260K.bin"], ["kjv3M", KJV, "kjv3M.bin"]] as const) {
    const bin = path.join(dir, ckpt), tokBin = path.join(dir, "tok512.bin");
    test(`${name} (llama2.c → GGUF F32, SPM with byte fallback): ids and text equal llama.cpp`, async () => {
      if (!existsSync(bin) || !existsSync(tokBin)) { console.log(`  SKIP: ${bin} not found`); return; }
      const file = path.join(tmp, `${name}.gguf`);
      await convertToGguf({ llama2c: bin, tokenizer: tokBin, name }, await openFileSink(file), { ftype: "F32" });
      const { tok, model } = await load(file);
      assert.is(tok.model, "llama");
      assert.is(tok.nVocab, 512);
      assert.is(tok.bos, 1); assert.is(tok.eos, 2);
      assert.is(tok.bos, model.tokens.bos); assert.is(tok.eos, model.tokens.eos);
      const n = compare(name, tok, model, name === "kjv3M" || FULL ? texts() : [["torture", TORTURE], ...(tiny ? [["tinystories_sample.txt", tiny] as [string, string]] : [])]);
      console.log(`  ${name}: ${n} ids identical`);
      assert.ok(n > 1000);
    });
  }

  const vd = llamaVocabDir(VOCABS);
  for (const v of VOCABS) {
    const vs = VS_LLAMA_CPP.includes(v);
    test(`llama.cpp fixture ggml-vocab-${v}.gguf: test-tokenizer-0's expected ids${vs ? ", and node-llama-cpp on the texts" : ""}`, async () => {
      if ("skip" in vd) { console.log(`  SKIP: ${vd.skip}`); return; }
      const file = path.join(vd.dir, `ggml-vocab-${v}.gguf`);
      if (!existsSync(file)) { console.log(`  SKIP: ${file} not in the bundle`); return; }
      const tok = Tokenizer.fromGguf(await readGguf(await openFileSource(file)));
      const cases = vocabCases(vd.dir, v);
      assert.ok(cases.length >= 40, `${cases.length} cases`);
      for (const [i, c] of cases.entries()) {
        const got = Array.from(tok.encode(c.text, { addBos: false }));
        assert.equal(got, c.ids, `${v} case ${i} ${JSON.stringify(c.text)}`);
      }
      let n = 0;
      if (vs) {
        const model = await llama.loadModel({ modelPath: file, vocabOnly: true });
        models.push(model);
        const extra: [string, string][] = cases.map((c, i) => [`case ${i}`, c.text]);
        n = compare(v, tok, model, FULL ? [...texts(), ...extra] : [["torture", TORTURE], ...TORTURE_CASES.map((c, i): [string, string] => [`torture[${i}]`, c]), ...extra]);
      }
      console.log(`  ${v} (${tok.model}, pre ${tok.pre}, ${tok.nVocab} tokens): ${cases.length} fixture cases identical${vs ? `, ${n} ids identical to node-llama-cpp` : ""}`);
    });
  }

  for (const pre of ["llama-bpe", "qwen2"]) {
    test(`synthetic byte-level BPE (300 merges learned on calib.txt, ${pre} pre-tokenizer): ids and text equal llama.cpp`, async () => {
      if (!calib) { console.log("  SKIP: kjv3M/calib.txt not found"); return; }
      const file = path.join(tmp, `synthetic-bpe-${pre}.gguf`);
      await writeGguf(await openFileSink(file), syntheticBpeMetadata(calib, 300, pre), [], () => new Uint8Array(0));
      const { tok, model } = await load(file);
      assert.is(tok.model, "gpt2"); assert.is(tok.pre, pre);
      assert.ok(tok.nVocab > 500);
      assert.is(tok.bos, model.tokens.bos); assert.is(tok.eos, model.tokens.eos);
      const n = compare(`synthetic-bpe-${pre}`, tok, model, texts());
      console.log(`  synthetic BPE ${pre} (${tok.nVocab} tokens): ${n} ids identical`);
      assert.ok(n > 100000);
    });
  }

  test.run();
}
