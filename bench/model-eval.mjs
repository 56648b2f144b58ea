// The proof on a real model, as numbers: stories260K (llama2.c checkpoint in ../shared/models) →
// GGUF F32 → Q8_0, Q6_K, Q5_K_M, Q4_K_M, Q4_0 with the built package (dist/), each run in llama.cpp
// through node-llama-cpp: perplexity on tinystories_sample.txt (one sequence per story, BOS
// prepended), mean KL(F32 ‖ quant) and top-1 agreement per token (`tensorshrink eval --json`), and
// the greedy continuation of "Once upon a time". Writes bench/model-eval.json and bench/MODEL-EVAL.md.
// Usage (after `npm run build`): npm run bench:model [-- --threads N]
import { writeFileSync, existsSync, mkdtempSync, rmSync, statSync, readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { tmpdir } from "node:os";
import os from "node:os";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..");
const DIR = path.resolve(root, "../shared/models/stories260K");
const CKPT = path.join(DIR, "stories260K.bin");
const TOK = path.join(DIR, "tok512.bin");
const TEXT = path.join(DIR, "tinystories_sample.txt");
const FTYPES = ["Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_0"];
const PROMPT = "Once upon a time";
const GREEDY_TOKENS = 60;
const ti = process.argv.indexOf("--threads");
const THREADS = ti > 0 ? Number(process.argv[ti + 1]) : 2;

if (![CKPT, TOK, TEXT].every(existsSync)) {
  console.log(`SKIP: ${path.relative(root, DIR)} not found (the real-model proof needs stories260K.bin, tok512.bin, tinystories_sample.txt); nothing written`);
  process.exit(0);
}
const CLI = path.join(root, "dist/cli.js");
if (!existsSync(path.join(root, "dist/index.js")) || !existsSync(CLI)) {
  console.error("dist/ is missing: run `npm run build` first");
  process.exit(1);
}
const ts = await import(pathToFileURL(path.join(root, "dist/index.js")).href);
const nlc = await import("node-llama-cpp");
const pkg = (p) => JSON.parse(readFileSync(path.join(root, p), "utf8"));

const tmp = mkdtempSync(path.join(tmpdir(), "ts-model-eval-"));
const file = (f) => path.join(tmp, `stories260K-${f}.gguf`);
const t0 = Date.now();
try {
  // 1. quantize with the package's API: checkpoint -> F32, then F32 GGUF -> each ftype
  const engine = await ts.init({ threads: THREADS });
  const reports = new Map();
  try {
    const model = await ts.openLlama2cModel(CKPT, TOK);
    try {
      reports.set("F32", await ts.quantizeModel(engine, model, await ts.openFileSink(file("F32")), { ftype: "F32" }));
    } finally {
      await model.close();
    }
    for (const f of FTYPES) {
      const src = await ts.openModel(file("F32"), engine);
      try {
        reports.set(f, await ts.quantizeModel(engine, src, await ts.openFileSink(file(f)), { ftype: f }));
      } finally {
        await src.close?.();
      }
    }
  } finally {
    engine.dispose();
  }

  // 2. greedy continuation in llama.cpp (node-llama-cpp directly; temperature 0 = argmax)
  const llama = await nlc.getLlama({ gpu: false, build: "never", skipDownload: true, logLevel: "error" });
  async function greedy(p) {
    const model = await llama.loadModel({ modelPath: p, gpuLayers: 0 });
    const ctx = await model.createContext({ contextSize: 512, threads: THREADS });
    try {
      const seq = ctx.getSequence();
      const out = [];
      for await (const t of seq.evaluate([model.tokens.bos, ...model.tokenize(PROMPT)], { temperature: 0 })) {
        if (t === model.tokens.eos) break;
        out.push(t);
        if (out.length >= GREEDY_TOKENS) break;
      }
      return { tokens: out, text: PROMPT + model.detokenize(out) };
    } finally {
      await ctx.dispose();
      await model.dispose();
    }
  }

  // 3. perplexity / KLD / top-1 through the CLI (`tensorshrink eval --json`), base = F32
  function evalPair(other) {
    const r = spawnSync(process.execPath, [CLI, "eval", file("F32"), other, "--text", TEXT, "--threads", String(THREADS), "--json"], { cwd: root, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`tensorshrink eval failed (exit ${r.status}): ${r.stderr}`);
    return JSON.parse(r.stdout);
  }

  const rows = [];
  const f32Greedy = await greedy(file("F32"));
  for (const f of ["F32", ...FTYPES]) {
    const rep = reports.get(f);
    const e = evalPair(file(f));
    const g = f === "F32" ? f32Greedy : await greedy(file(f));
    let same = 0;
    while (same < g.tokens.length && same < f32Greedy.tokens.length && g.tokens[same] === f32Greedy.tokens[same]) same++;
    const types = {};
    for (const t of rep.tensors) types[t.type] = (types[t.type] ?? 0) + t.ne.reduce((a, b) => a * b, 1);
    rows.push({
      ftype: f,
      fileSize: statSync(file(f)).size,
      bitsPerWeight: rep.bitsPerWeight,
      params: rep.params,
      paramsByType: types,
      perplexity: e.perplexityOther,
      perplexityDeltaPct: 100 * (e.perplexityOther / e.perplexityBase - 1),
      meanKld: e.meanKld,
      meanKldStderr: e.meanKldStderr,
      p99Kld: e.p99Kld,
      top1Agreement: e.top1Agreement,
      tokensScored: e.tokens,
      greedyText: g.text,
      greedyTokensSameAsF32: same,
      greedyTokens: g.tokens.length,
      evalMillis: e.millis,
    });
    console.log(`${f.padEnd(6)} ${String(rows.at(-1).fileSize).padStart(8)} B  ${rep.bitsPerWeight.toFixed(3)} bpw  ppl ${e.perplexityOther.toFixed(4)}  KLD ${e.meanKld.toFixed(5)}  top-1 ${(100 * e.top1Agreement).toFixed(2)}%  ${JSON.stringify(g.text.slice(0, 60))}`);
  }

  const nlcVersion = pkg("node_modules/node-llama-cpp/package.json").version;
  const doc = {
    model: "stories260K (llama2.c checkpoint + tok512.bin, ../shared/models/stories260K)",
    text: "tinystories_sample.txt: 5 stories split on <|endoftext|>, trimmed, BOS prepended, every token after BOS scored",
    prompt: PROMPT,
    greedyTokens: GREEDY_TOKENS,
    threads: THREADS,
    tensorshrink: pkg("package.json").version,
    nodeLlamaCpp: nlcVersion,
    llamaCpp: llama.llamaCppRelease,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpu: os.cpus()[0]?.model ?? "?",
    date: new Date().toISOString(),
    seconds: (Date.now() - t0) / 1000,
    rows,
  };
  writeFileSync(path.join(here, "model-eval.json"), JSON.stringify(doc, null, 1) + "\n");

  const esc = (s) => s.replace(/\|/g, "\\|").replace(/\n/g, "⏎");
  const fmtTypes = (o, n) => Object.entries(o).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${((100 * v) / n).toFixed(1)}%`).join(", ");
  let md = `# Real model: stories260K through tensorshrink → llama.cpp\n\n`;
  md += `Generated by \`npm run bench:model\` (bench/model-eval.mjs) on ${doc.date.slice(0, 10)}: tensorshrink ${doc.tensorshrink} (dist/), `;
  md += `node-llama-cpp ${nlcVersion} (llama.cpp CPU, ${THREADS} threads), Node ${process.version}, ${doc.platform}.\n\n`;
  md += `The llama2.c checkpoint is converted to an F32 GGUF with \`quantizeModel\` (ftype F32), and the F32 GGUF is quantized to each ftype. `;
  md += `Every file is loaded by llama.cpp. Perplexity is measured on \`tinystories_sample.txt\`: each of the 5 stories is one sequence with BOS prepended, and the score covers ${rows[0].tokensScored} tokens. `;
  md += `KLD is the mean KL(F32 ‖ quant) per token in nats, and top-1 is how often the argmax tokens agree; both come from \`tensorshrink eval --json\` with F32 as the base. `;
  md += `The greedy text continues BOS + "${PROMPT}" for up to ${GREEDY_TOKENS} tokens. "= F32" counts the leading greedy tokens that match F32's.\n\n`;
  md += `| ftype | file size | bits/weight | perplexity | Δ ppl | mean KLD vs F32 | top-1 agreement | greedy = F32 | greedy text (first 120 chars) |\n`;
  md += `|---|---:|---:|---:|---:|---:|---:|---:|---|\n`;
  for (const r of rows) {
    md += `| ${r.ftype} | ${(r.fileSize / 1024).toFixed(1)} KiB | ${r.bitsPerWeight.toFixed(3)} | ${r.perplexity.toFixed(4)} | ${r.ftype === "F32" ? "—" : `${r.perplexityDeltaPct >= 0 ? "+" : ""}${r.perplexityDeltaPct.toFixed(2)}%`} | `;
    md += `${r.ftype === "F32" ? "0" : `${r.meanKld.toFixed(5)} ± ${r.meanKldStderr.toFixed(5)}`} | ${(100 * r.top1Agreement).toFixed(2)}% | ${r.greedyTokensSameAsF32}/${r.greedyTokens} | ${esc(r.greedyText.slice(0, 120))} |\n`;
  }
  md += `\nParameters by stored type:\n\n`;
  for (const r of rows) md += `- ${r.ftype}: ${fmtTypes(r.paramsByType, r.params)}\n`;
  const q8 = rows.find((r) => r.ftype === "Q8_0");
  const f16Share = (100 * (q8.paramsByType.f16 ?? 0)) / q8.params;
  md += `\nAbout this model: stories260K has ${rows[0].params.toLocaleString("en-US")} parameters. Its rows are 64 (dim) and 172 (ffn_down) wide, so no row length is a multiple of 256 and every k-quant falls back the way llama.cpp's recipe does: q6_K→q8_0, q5_K→q5_1, q4_K→q5_0. `;
  md += `The tied output/token_embd takes q8_0. The 172-wide ffn_down tensors take f16 because no 32-block type divides 172. For ftypes with no named fallback (Q8_0, Q4_0), llama-quantize stops with an error on these tensors. tensorshrink writes f16 instead. `;
  md += `As a result, Q6_K holds the same tensor bytes as Q8_0, and Q5_K_M and Q4_K_M become mostly q5_1 and q5_0. In such a small model the f16 ffn_down tensors hold ${f16Share.toFixed(1)}% of the parameters and add ${(16 * f16Share / 100).toFixed(1)} bits/weight by themselves, so bits/weight stays high. `;
  md += `Every file mixes f32, f16 and block types, and llama.cpp loads all of them.\n`;
  writeFileSync(path.join(here, "MODEL-EVAL.md"), md);
  console.log(`\nwrote bench/model-eval.json and bench/MODEL-EVAL.md in ${doc.seconds.toFixed(1)} s`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
