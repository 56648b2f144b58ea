// The proof on a real model (issue 4, item 6): stories260K (llama2.c checkpoint) → GGUF F32 with the
// real pipeline → llama.cpp (node-llama-cpp, a devDependency) loads it, greedy-decodes
// "Once upon a time" into Karpathy's reference sample, and scores perplexity 3.548 ± 0.01 on
// tinystories_sample.txt (one sequence per story, BOS prepended). Then Q8_0, Q6_K, Q5_K_M, Q4_K_M and
// Q4_0 (quantized from the F32 GGUF through the API, and Q4_K_M once more from the checkpoint through
// the CLI) each load in llama.cpp, with perplexity, KL divergence vs F32 and top-1 agreement in bounds.
// stories260K's rows are 64 and 172 wide, so no k-quant applies as such: every K type falls back
// (q6_K -> q8_0, q5_K -> q5_1, q4_K -> q5_0) and the 172-wide ffn_down tensors fall back to f16, so
// the files mix f32, f16 and block types — llama.cpp must load those.
// Reads ../shared/models/stories260K; prints SKIP and passes when it is absent. ~30 s on 2 cores.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import path from "node:path";
import { init } from "../src/engine/init";
import { openLlama2cModel } from "../src/model/convert";
import { openModel } from "../src/model/open";
import { quantizeModel, type QuantizeReport } from "../src/model/quantize";
import { openFileSink, openFileSource } from "../src/formats/source";
import { readGguf, readGgufTensorBytes, ggufGet } from "../src/formats/gguf";
import { SHARED, ROOT } from "./_util";

const DIR = path.join(SHARED, "models/stories260K");
const CKPT = path.join(DIR, "stories260K.bin");
const TOK = path.join(DIR, "tok512.bin");
const TEXT = path.join(DIR, "tinystories_sample.txt");
const have = existsSync(CKPT) && existsSync(TOK) && existsSync(TEXT);

const REFERENCE = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park.";
const THREADS = 2;

/** Bounds per ftype: perplexity relative to F32, mean KLD (nats), top-1 agreement. Measured values in bench/MODEL-EVAL.md. */
const BOUNDS: Record<string, { pplRel: number; kld: number; top1: number }> = {
  Q8_0: { pplRel: 0.005, kld: 0.003, top1: 0.97 },
  Q6_K: { pplRel: 0.005, kld: 0.003, top1: 0.97 },
  Q5_K_M: { pplRel: 0.05, kld: 0.03, top1: 0.9 },
  Q4_K_M: { pplRel: 0.15, kld: 0.04, top1: 0.9 },
  Q4_0: { pplRel: 0.15, kld: 0.15, top1: 0.8 },
};
const FTYPES = Object.keys(BOUNDS);

if (!have) {
  console.log("SKIP: ../shared/models/stories260K not found (the real-model proof needs it)");
  test.run();
} else {
  const spec = process.env.TENSORSHRINK_NODE_LLAMA_CPP || "node-llama-cpp";
  const nlc = await import(spec).catch((e) => {
    throw new Error(`node-llama-cpp (a devDependency) cannot be imported from ${spec}: ${(e as Error).message}; run npm install`);
  });
  const { greedyComplete, evaluateGguf, splitDocuments } = await import("../src/eval/llama");
  const opts = { module: nlc, threads: THREADS };
  const docs = splitDocuments(readFileSync(TEXT, "utf8"));
  const tmp = mkdtempSync(path.join(tmpdir(), "ts-llama-cpp-"));
  const f32 = path.join(tmp, "stories260K-F32.gguf");
  const file = (f: string) => path.join(tmp, `stories260K-${f}.gguf`);
  const reports = new Map<string, QuantizeReport>();
  const results = new Map<string, Awaited<ReturnType<typeof evaluateGguf>>>();
  let f32Ppl = NaN;

  test.after(() => rmSync(tmp, { recursive: true, force: true }));

  test("F32 GGUF from the checkpoint (quantizeModel F32): llama.cpp greedy text and perplexity 3.548 ± 0.01", async () => {
    const engine = await init({ threads: THREADS });
    const model = await openLlama2cModel(CKPT, TOK);
    try {
      const rep = await quantizeModel(engine, model, await openFileSink(f32), { ftype: "F32" });
      assert.is(rep.bitsPerWeight, 32);
      assert.is(statSync(f32).size, rep.fileSize);
    } finally {
      await model.close();
      engine.dispose();
    }
    const g = await greedyComplete(f32, "Once upon a time", 40, opts);
    console.log(`  F32 greedy: ${JSON.stringify(g.text)}`);
    assert.ok(g.text.startsWith(REFERENCE), `greedy text: ${JSON.stringify(g.text)}`);
    assert.is(docs.length, 5);
    const r = await evaluateGguf(f32, null, docs, opts);
    console.log(`  F32 perplexity ${r.base.perplexity.toFixed(4)} over ${r.base.tokens} tokens (${r.windows} sequences)`);
    assert.is(r.base.tokens, 1804);
    assert.is(r.windows, 5);
    assert.ok(Math.abs(r.base.perplexity - 3.548) <= 0.01, `perplexity ${r.base.perplexity}`);
    f32Ppl = r.base.perplexity;
  });

  test(`${FTYPES.join(", ")} from the F32 GGUF: mixed block/f16/f32 files with the recipe's fallbacks`, async () => {
    const engine = await init({ threads: THREADS });
    try {
      for (const f of FTYPES) {
        const src = await openModel(f32, engine);
        try {
          reports.set(f, await quantizeModel(engine, src, await openFileSink(file(f)), { ftype: f }));
        } finally {
          await src.close?.();
        }
      }
    } finally {
      engine.dispose();
    }
    const typeOf = (f: string, name: string) => reports.get(f)!.tensors.find((t) => t.name === name)!.type;
    for (const f of FTYPES) {
      // ffn_down rows are 172 wide: no 32-block type divides them -> f16; norms stay f32
      for (let l = 0; l < 5; l++) assert.is(typeOf(f, `blk.${l}.ffn_down.weight`), "f16", `${f} blk.${l}.ffn_down`);
      assert.is(typeOf(f, "blk.0.attn_norm.weight"), "f32");
      // tied output (no output.weight): 64 % 256 != 0 -> q8_0 whatever the ftype
      assert.is(typeOf(f, "token_embd.weight"), "q8_0", `${f} token_embd`);
    }
    for (const n of ["blk.0.attn_q.weight", "blk.2.ffn_up.weight"]) {
      assert.is(typeOf("Q6_K", n), "q8_0"); // q6_K -> q8_0
      assert.is(typeOf("Q5_K_M", n), "q5_1"); // q5_K -> q5_1
      assert.is(typeOf("Q4_K_M", n), "q5_0"); // q4_K -> q5_0
      assert.is(typeOf("Q4_0", n), "q4_0");
    }
    // so Q6_K's tensors are Q8_0's, byte for byte (only general.file_type differs)
    const a = await readGguf(await openFileSource(file("Q8_0")));
    const b = await readGguf(await openFileSource(file("Q6_K")));
    assert.is(Number(ggufGet(a, "general.file_type")), 7);
    assert.is(Number(ggufGet(b, "general.file_type")), 18);
    for (let i = 0; i < a.tensors.length; i++) {
      assert.equal(await readGgufTensorBytes(b, b.tensors[i]!), await readGgufTensorBytes(a, a.tensors[i]!), a.tensors[i]!.name);
    }
    await a.source.close?.();
    await b.source.close?.();
    for (const f of FTYPES) console.log(`  ${f.padEnd(6)} ${reports.get(f)!.fileSize} bytes, ${reports.get(f)!.bitsPerWeight.toFixed(3)} bits/weight`);
  });

  for (const f of FTYPES) {
    test(`${f}: llama.cpp loads it; perplexity, KLD vs F32 and top-1 agreement in bounds; greedy text`, async () => {
      assert.ok(reports.has(f), "quantized file missing (previous test failed)");
      const r = await evaluateGguf(f32, file(f), docs, opts);
      results.set(f, r);
      const ppl = r.other!.perplexity, kld = r.kl!.mean, top1 = r.top1Agreement!;
      const rel = ppl / f32Ppl - 1;
      console.log(`  ${f.padEnd(6)} ppl ${ppl.toFixed(4)} (${rel >= 0 ? "+" : ""}${(100 * rel).toFixed(2)}%), KLD ${kld.toFixed(5)}, top-1 ${(100 * top1).toFixed(2)}%`);
      assert.ok(Math.abs(r.base.perplexity - f32Ppl) < 1e-6, "base perplexity is the F32 one");
      assert.is(r.other!.tokens, 1804);
      assert.ok(Number.isFinite(ppl) && ppl > 1, `perplexity ${ppl}`);
      const b = BOUNDS[f]!;
      assert.ok(Math.abs(rel) <= b.pplRel, `${f}: perplexity ${ppl} vs F32 ${f32Ppl} (${(100 * rel).toFixed(2)}%, bound ${100 * b.pplRel}%)`);
      assert.ok(kld >= 0 && kld <= b.kld, `${f}: mean KLD ${kld} > ${b.kld}`);
      assert.ok(top1 >= b.top1, `${f}: top-1 agreement ${top1} < ${b.top1}`);
      const g = await greedyComplete(file(f), "Once upon a time", 24, opts);
      console.log(`  ${f.padEnd(6)} greedy: ${JSON.stringify(g.text)}`);
      assert.ok(g.text.startsWith("Once upon a time, there was a"), `${f} greedy text: ${JSON.stringify(g.text)}`);
    });
  }

  test("KLD ordered (roughly) by bits per weight", () => {
    assert.is(results.size, FTYPES.length, "every ftype evaluated");
    const rows = FTYPES.map((f) => ({ f, bpw: reports.get(f)!.bitsPerWeight, kld: results.get(f)!.kl!.mean })).sort((x, y) => y.bpw - x.bpw);
    for (let i = 1; i < rows.length; i++) {
      const hi = rows[i - 1]!, lo = rows[i]!;
      assert.ok(lo.kld >= 0.8 * hi.kld, `${lo.f} (${lo.bpw.toFixed(2)} bpw) KLD ${lo.kld} < ${hi.f} (${hi.bpw.toFixed(2)} bpw) KLD ${hi.kld}`);
    }
    // identical tensors give identical logits
    assert.ok(Math.abs(results.get("Q6_K")!.kl!.mean - results.get("Q8_0")!.kl!.mean) < 1e-9);
    assert.ok(results.get("Q4_0")!.kl!.mean > 2 * results.get("Q8_0")!.kl!.mean);
  });

  test("CLI: quantize the checkpoint to Q4_K_M (same bytes as from the F32 GGUF) and eval --json", () => {
    const dist = path.join(ROOT, "dist/cli.js");
    // the built CLI when present, else the same code from source
    const cli = existsSync(dist) ? [dist] : ["--import", "tsx", path.join(ROOT, "src/cli/main.ts")];
    const run = (args: string[]) => {
      const r = spawnSync(process.execPath, [...cli, ...args], { cwd: ROOT, encoding: "utf8", timeout: 300_000 });
      assert.is(r.status, 0, `tensorshrink ${args.join(" ")}: exit ${r.status}\n${r.stderr}`);
      return JSON.parse(r.stdout);
    };
    const out = path.join(tmp, "cli-Q4_K_M.gguf");
    const q = run(["quantize", CKPT, out, "Q4_K_M", "--threads", String(THREADS), "--json"]);
    assert.is(q.ftype, "Q4_K_M");
    assert.is(q.fileSize, statSync(out).size);
    assert.ok(readFileSync(out).equals(readFileSync(file("Q4_K_M"))), "CLI from the checkpoint = API from the F32 GGUF");
    const e = run(["eval", f32, out, "--text", TEXT, "--backend", "llama.cpp", "--threads", String(THREADS), "--json"]);
    const api = results.get("Q4_K_M")!;
    assert.is(e.tokens, 1804);
    assert.is(e.documents, 5);
    for (const k of ["perplexityBase", "perplexityOther", "meanKld", "meanKldStderr", "p99Kld", "top1Agreement", "millis"]) {
      assert.type(e[k], "number", k);
      assert.ok(Number.isFinite(e[k]), `${k} = ${e[k]}`);
    }
    assert.ok(Math.abs(e.perplexityBase - 3.548) <= 0.01, `perplexityBase ${e.perplexityBase}`);
    assert.ok(Math.abs(e.perplexityOther - api.other!.perplexity) < 1e-3, `perplexityOther ${e.perplexityOther} vs ${api.other!.perplexity}`);
    assert.ok(Math.abs(e.meanKld - api.kl!.mean) < 1e-4, `meanKld ${e.meanKld} vs ${api.kl!.mean}`);
    assert.ok(Math.abs(e.top1Agreement - api.top1Agreement!) < 2e-3, `top1Agreement ${e.top1Agreement} vs ${api.top1Agreement}`);
    assert.ok(e.p99Kld >= e.meanKld);
    assert.is(e.detail.base.tokens, 1804);
    console.log(`  CLI eval (${existsSync(dist) ? "dist/cli.js" : "src/cli/main.ts"}): ppl ${e.perplexityBase.toFixed(4)} -> ${e.perplexityOther.toFixed(4)}, KLD ${e.meanKld.toFixed(5)}, top-1 ${(100 * e.top1Agreement).toFixed(2)}%`);
  });

  test("llama.cpp load failures are TensorshrinkErrors naming the file (missing: E_IO; not GGUF / truncated: E_FORMAT)", async () => {
    const { writeFileSync } = await import("node:fs");
    const notGguf = path.join(tmp, "not.gguf"), trunc = path.join(tmp, "trunc.gguf");
    writeFileSync(notGguf, readFileSync(CKPT).subarray(0, 4096));
    writeFileSync(trunc, readFileSync(f32).subarray(0, 300_000));
    for (const [p, code] of [[path.join(tmp, "missing.gguf"), "E_IO"], [notGguf, "E_FORMAT"], [trunc, "E_FORMAT"]] as const) {
      try {
        await evaluateGguf(p, null, ["Once upon a time"], opts);
        assert.unreachable(`${p} loaded`);
      } catch (e: any) {
        assert.is(e?.name, "TensorshrinkError", String(e));
        assert.is(e.code, code, e.message);
        assert.ok(e.message.includes(p), e.message);
      }
    }
  });

  test.run();
}
