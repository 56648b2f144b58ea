// Pruning on kjv3M judged by llama.cpp (node-llama-cpp), in parts that merge into bench/prune.json (rows keyed by
// label) and regenerate bench/PRUNE.md from all rows, so the whole table can be built in several short runs:
//   --part sparse      magnitude / Wanda / SparseGPT at 50%, 2:4, 4:8 (F16 with exact zeros), and each F16 file
//                      quantized to Q4_K_M afterwards (prune, then quantize the pruned file)
//   --part joint       SparseGPT at 50% / 2:4 / 4:8 straight to Q4_K_M in one calibrated sweep: RTN of the pruned
//                      weights in the sweep, and the joint prune + quantize (--joint)
//   --part structured  FFN -10/-25% (per layer; -25% global = deci), heads -25% (per layer; global = deci),
//                      FFN / heads -25% with FLAP bias compensation, 1 and 2 layers removed (Block Influence): file
//                      size, PPL, KLD
// Models are judged several at a time against one run of the dense base (evaluateGgufMany).
//   --part speed       llama.cpp load time and generation tokens/s, dense F16 vs the structured files, alternating
//                      A/B in the same run (same threads), --gen tokens each
//   --part time        SparseGPT time on kjv3M (from the sparse part) and on a >= 100M-parameter synthetic model,
//                      beside RTN Q4_K_M of the same model
//   --part render      only regenerate PRUNE.md from prune.json
// Usage: node --import tsx bench/prune.mjs --part sparse [--threads 2] [--chunks 16] [--docs 263] [--gen 256] [--only RE] [--out DIR]
// KLD = KL(P_dense F16 || P_model) over every scored token of the first --docs documents of eval.txt (context 512).
// PRUNE.md is regenerated on every save; its "## Notes" section (to the end of the file) is written by hand and kept.
import { writeFileSync, existsSync, mkdtempSync, rmSync, statSync, readFileSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { tmpdir } from "node:os";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..");
const D = path.resolve(root, "../shared/models/kjv3M");
const argS = (k, d) => { const i = process.argv.indexOf(k); return i > 0 ? process.argv[i + 1] : d; };
const arg = (k, d) => Number(argS(k, d));
const THREADS = arg("--threads", 2), CHUNKS = arg("--chunks", 16), NDOCS = arg("--docs", 263), GEN = arg("--gen", 256);
const PART = argS("--part", "sparse");
const TARGETS = (argS("--targets", "0.5,2:4,4:8")).split(",");
if (!["kjv3M.bin", "tok512.bin", "calib.txt", "eval.txt"].every((f) => existsSync(path.join(D, f)))) {
  console.log(`SKIP: ${D} not found; nothing written`);
  process.exit(0);
}
// --out DIR: write prune.json / PRUNE.md there instead of bench/ (trial runs)
const outDir = argS("--out") ? path.resolve(argS("--out")) : here;
const jsonPath = path.join(outDir, "prune.json");
const prev = existsSync(jsonPath) ? JSON.parse(readFileSync(jsonPath, "utf8")) : {};
const state = { rows: Array.isArray(prev.rows) && prev.version === 2 ? prev.rows : [], speed: prev.version === 2 ? prev.speed ?? [] : [], timing: prev.version === 2 ? prev.timing ?? {} : {}, runs: prev.version === 2 ? prev.runs ?? [] : [] };
const ts = await import(pathToFileURL(path.join(root, "src/index.ts")).href);
const { evaluateGgufMany } = await import(pathToFileURL(path.join(root, "src/eval/llama.ts")).href);
const tmp = mkdtempSync(path.join(tmpdir(), "ts-prune-"));
const t0 = Date.now();
let paramCounts = null;
const tname = (t) => (t === "0.5" ? "50%" : t);
try {
  const engine = await ts.init({ threads: 0 });
  const src = await ts.openLlama2cModel(path.join(D, "kjv3M.bin"), path.join(D, "tok512.bin"));
  const nParams = (t) => t.ne.reduce((a, b) => a * b, 1);
  paramCounts = { blocks: src.tensors.filter((t) => /^blk\.\d+\.(attn_q|attn_k|attn_v|attn_output|ffn_gate|ffn_up|ffn_down)\.weight$/.test(t.name)).reduce((a, t) => a + nParams(t), 0), total: src.tensors.reduce((a, t) => a + nParams(t), 0), nLayer: src.hparams.nLayer };
  const tok = ts.Tokenizer.fromGguf({ kv: new Map(src.metadata.map((kv) => [kv.key, kv])) });
  const tokens = Int32Array.from(tok.encode(readFileSync(path.join(D, "calib.txt"), "utf8").trimEnd(), { addBos: true }));
  const docs = ts.splitDocuments(readFileSync(path.join(D, "eval.txt"), "utf8")).slice(0, NDOCS);
  const base = path.join(tmp, "dense-F16.gguf");
  await ts.quantizeModel(engine, src, await ts.openFileSink(base), { ftype: "F16" });
  const calib = { tokens, ctx: 128, chunks: CHUNKS, dataset: "calib.txt" };
  // several models against the dense F16 base in one llama.cpp pass (the base runs once): items [group, label, file, extra]
  const judgeMany = async (items) => {
    if (!items.length) return [];
    const rs = await evaluateGgufMany(base, items.map((x) => x[2]), docs, { threads: THREADS, contextSize: 512 });
    return items.map(([group, label, file, extra = {}], k) => record(group, label, file, extra, rs[k]));
  };
  const record = (group, label, file, extra, r) => {
    const row = { group, label, bytes: statSync(file).size, perplexity: r.other.perplexity, kld: r.kl.mean, top1: r.top1Agreement, basePerplexity: r.base.perplexity, tokens: r.base.tokens ?? r.base.count, docs: docs.length, ...extra };
    state.rows = state.rows.filter((x) => x.label !== label).concat([row]);
    save();
    console.log(`${label.padEnd(34)} ${String(row.bytes).padStart(8)} B  ppl ${row.perplexity.toFixed(4)}  KLD ${row.kld.toFixed(5)}  top1 ${(100 * row.top1).toFixed(2)}%${extra.seconds ? `  (${extra.seconds.toFixed(1)} s)` : ""}`);
    return row;
  };
  const write = async (s, file, opts) => { const t = Date.now(); const rep = await ts.quantizeModel(engine, s, await ts.openFileSink(file), opts); return { seconds: (Date.now() - t) / 1000, rep }; };
  const specOf = (method, target, joint) => (target.includes(":") ? { method, nm: target, joint } : { method, sparsity: Number(target), joint });

  if (PART === "sparse") {
    const baseQ = path.join(tmp, "dense-Q4_K_M.gguf");
    { const s = await ts.openModel(base, engine); await write(s, baseQ, { ftype: "Q4_K_M" }); await s.close?.(); }
    for (const [ti, target] of TARGETS.entries()) {
      // one llama.cpp pass per target: its 6 files (and dense Q4_K_M with the first)
      const items = ti === 0 ? [["dense", "dense Q4_K_M", baseQ]] : [];
      for (const method of ["magnitude", "wanda", "sparsegpt"]) {
        const f = path.join(tmp, `${method}-${target.replace(":", "_")}-F16.gguf`);
        const { seconds } = await write(src, f, { ftype: "F16", methods: [ts.pruneMethod(specOf(method, target))], calibration: method === "magnitude" ? undefined : calib });
        items.push(["sparse", `${method} ${tname(target)}`, f, { seconds }]);
        const fq = f.replace("-F16", "-Q4_K_M");
        { const s = await ts.openModel(f, engine); await write(s, fq, { ftype: "Q4_K_M" }); await s.close?.(); }
        items.push(["sparse+q", `${method} ${tname(target)}, then Q4_K_M of the file`, fq]);
      }
      await judgeMany(items);
    }
  } else if (PART === "joint") {
    const items = [];
    for (const target of TARGETS) for (const joint of [false, true]) {
      const f = path.join(tmp, `sgpt-${target.replace(":", "_")}-${joint}.gguf`);
      const { seconds } = await write(src, f, { ftype: "Q4_K_M", methods: [ts.pruneMethod(specOf("sparsegpt", target, joint))], calibration: calib });
      items.push(["joint", `sparsegpt ${tname(target)} -> Q4_K_M, ${joint ? "joint prune + quantize" : "RTN in the sweep"}`, f, { seconds }]);
    }
    await judgeMany(items);
  } else if (PART === "structured" || PART === "speed") {
    const m = await ts.LlamaModel.open(engine, src, { nCtx: 128 });
    const stats = await ts.collectStats(engine, m, tokens, { ctx: 128, chunks: CHUNKS });
    const means = await ts.collectInputMeans(engine, m, tokens, { ctx: 128, chunks: CHUNKS }); // FLAP bias compensation
    m.dispose();
    const st = [
      ["FFN -10%", () => ts.pruneFfnChannels(src, 0.10, stats)],
      ["FFN -25%", () => ts.pruneFfnChannels(src, 0.25, stats)],
      ["FFN -25% + bias compensation", () => ts.pruneFfnChannels(src, 0.25, stats, { biasCompensation: means })],
      ["FFN -25% global (deci)", () => ts.pruneFfnChannels(src, 0.25, stats, { scope: "global" })],
      ["heads -25%", () => ts.pruneHeads(src, 0.25, stats)],
      ["heads -25% + bias compensation", () => ts.pruneHeads(src, 0.25, stats, { biasCompensation: means })],
      ["heads -25% global (deci)", () => ts.pruneHeads(src, 0.25, stats, { scope: "global" })],
      ["heads -25% global (deci) + bias compensation", () => ts.pruneHeads(src, 0.25, stats, { scope: "global", biasCompensation: means })],
      ["1 layer removed (BI)", () => ts.pruneLayers(src, 1, stats.blockInfluence)],
      ["2 layers removed (BI)", () => ts.pruneLayers(src, 2, stats.blockInfluence)],
    ];
    const files = [], items = [];
    const only = argS("--only"); // a regular expression selecting structured rows (e.g. "heads|layer")
    for (const [label, make] of only ? st.filter(([l]) => new RegExp(only).test(l)) : st) {
      const r = await make();
      const f = path.join(tmp, label.replace(/[^a-z0-9]+/gi, "_") + ".gguf");
      await write(r.source, f, { ftype: "F16" });
      const arch = String(r.source.metadata.find((k) => k.key === "general.architecture").value);
      files.push([label, f, arch, r.paramsAfter]);
      if (PART === "structured") items.push(["structured", `${label} (F16)`, f, { arch, params: r.paramsAfter }]);
    }
    if (PART === "structured") await judgeMany(items);
    if (PART === "speed") {
      const nlc = await import("node-llama-cpp");
      const llama = await nlc.getLlama({ gpu: false, build: "never", skipDownload: true, logLevel: "error" });
      const prompt = "And God said";
      const once = async (file) => {
        let t = Date.now();
        const model = await llama.loadModel({ modelPath: file, gpuLayers: 0 });
        const ctx = await model.createContext({ contextSize: GEN + 16, threads: THREADS, batchSize: 64 });
        const load = (Date.now() - t) / 1000;
        const seq = ctx.getSequence();
        const ptoks = Array.from(model.tokenize(prompt));
        t = Date.now();
        const c0 = process.cpuUsage();
        let n = 0;
        for await (const _ of seq.evaluate([model.tokens.bos, ...ptoks], { temperature: 0 })) { if (++n >= GEN) break; }
        const secs = (Date.now() - t) / 1000, cpu = process.cpuUsage(c0);
        await ctx.dispose(); await model.dispose();
        return { load, tokPerS: n / secs, cpuMsPerTok: (cpu.user + cpu.system) / 1000 / n, n };
      };
      const speed = [];
      for (const [label, f] of [["dense F16", base, "llama"], ...files]) speed.push({ label, file: f, runs: [] });
      await once(base); // warm-up
      for (let k = 0; k < 3; k++) for (const s of speed) s.runs.push(await once(s.file));
      state.speed = speed.map((s) => {
        const med = (xs) => xs.slice().sort((a, b) => a - b)[xs.length >> 1];
        const r = { label: s.label, bytes: statSync(s.file).size, loadS: med(s.runs.map((x) => x.load)), tokPerS: med(s.runs.map((x) => x.tokPerS)), cpuMsPerTok: med(s.runs.map((x) => x.cpuMsPerTok)), tokens: s.runs[0].n, threads: THREADS };
        console.log(`${s.label.padEnd(28)} load ${r.loadS.toFixed(3)} s  ${r.tokPerS.toFixed(1)} tok/s  ${r.cpuMsPerTok.toFixed(2)} ms CPU/token (${s.runs.map((x) => x.tokPerS.toFixed(0)).join(", ")})`);
        return r;
      });
      save();
    }
  } else if (PART === "time") {
    // >= 100M-parameter synthetic llama: SparseGPT 50% through the calibrated sweep vs plain RTN Q4_K_M
    const big = ts.syntheticModel({ nLayer: 10, nEmbd: 1024, nFf: 2048, nHead: 16, nHeadKv: 16, nVocab: 4096, seed: 7 });
    const params = big.tensors.reduce((s, t) => s + t.ne.reduce((a, b) => a * b, 1), 0);
    const btoks = Int32Array.from({ length: 4 * 128 + 1 }, (_, i) => (i === 0 ? 1 : 3 + ((i * 2654435761) >>> 0) % 4000));
    const c0 = process.cpuUsage();
    const rtn = await write(big, path.join(tmp, "big-q4km.gguf"), { ftype: "Q4_K_M" });
    const rtnCpu = process.cpuUsage(c0);
    const c1 = process.cpuUsage();
    const sg = await write(big, path.join(tmp, "big-sgpt.gguf"), { ftype: "Q4_K_M", methods: [ts.pruneMethod({ method: "sparsegpt", sparsity: 0.5 })], calibration: { tokens: btoks, ctx: 128, chunks: 4 }, onLayer: (p) => console.log(`  layer ${p.layer + 1}/${p.layers} ${p.seconds.toFixed(1)} s`) });
    const sgCpu = process.cpuUsage(c1);
    state.timing.big = { shape: "10 x 1024, n_ff 2048, vocab 4096", params, calibTokens: 4 * 128, rtnQ4KMSeconds: rtn.seconds, rtnCpuSeconds: (rtnCpu.user + rtnCpu.system) / 1e6, sparseGptQ4KMSeconds: sg.seconds, sparseGptCpuSeconds: (sgCpu.user + sgCpu.system) / 1e6, layerSeconds: sg.rep.methods?.sweep?.layerSeconds };
    console.log(state.timing.big);
    save();
  } else if (PART === "render") {
    save(); // only regenerate PRUNE.md from prune.json
  } else throw new Error(`unknown --part ${PART}`);
  await src.close?.();
  if (PART !== "render") state.runs = state.runs.filter((r) => r.part !== PART).concat([{ part: PART, date: new Date().toISOString(), seconds: (Date.now() - t0) / 1000, threads: THREADS, chunks: CHUNKS, docs: NDOCS, load: (await import("node:os")).loadavg()[0] }]);
  save();
  console.log(`part ${PART} done in ${((Date.now() - t0) / 1000).toFixed(0)} s; wrote ${jsonPath} and PRUNE.md beside it`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
process.exit(0);

function save() {
  // merge with what other parts wrote meanwhile (parts may run concurrently): this run's rows / runs / timing win
  const cur = existsSync(jsonPath) ? JSON.parse(readFileSync(jsonPath, "utf8")) : {};
  if (cur.version === 2) {
    const mine = new Set(state.rows.map((r) => r.label)), parts = new Set(state.runs.map((r) => r.part));
    state.rows = (cur.rows ?? []).filter((r) => !mine.has(r.label)).concat(state.rows);
    state.runs = (cur.runs ?? []).filter((r) => !parts.has(r.part)).concat(state.runs);
    state.timing = { ...(cur.timing ?? {}), ...state.timing };
    if (!state.speed.length) state.speed = cur.speed ?? [];
  }
  writeFileSync(jsonPath, JSON.stringify({ version: 2, rows: state.rows, speed: state.speed, timing: state.timing, runs: state.runs }, null, 1) + "\n");
  const order = ["dense", "sparse", "sparse+q", "joint", "structured"];
  // within a group: by target (50%, 2:4, 4:8), method, then the structured list's order; stable otherwise
  const idx = (list, l) => { const i = list.findIndex((x) => l.includes(x)); return i < 0 ? list.length : i; };
  // [label part, rank]: the more specific part first (matching is by substring)
  const STRUCT_R = [["FFN -10%", 0], ["FFN -25% +", 2], ["FFN -25% global", 3], ["FFN -25%", 1], ["heads -25% +", 5], ["heads -25% global (deci) +", 7], ["heads -25% global", 6], ["heads -25%", 4], ["1 layer", 8], ["2 layers", 9]];
  const STRUCT = STRUCT_R.map((x) => x[0]), structRank = (l) => { const i = idx(STRUCT, l); return i < STRUCT_R.length ? STRUCT_R[i][1] : 99; };
  const key = (r) => [order.indexOf(r.group), idx(["50%", "2:4", "4:8"], r.label), idx(["magnitude", "wanda", "sparsegpt"], r.label), idx(["RTN", "joint"], r.label), structRank(r.label)];
  const cmp = (a, b) => { const x = key(a), y = key(b); for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i] - y[i]; return 0; };
  const rows = state.rows.slice().sort(cmp);
  const fmt = (r) => `| ${r.label} | ${r.bytes} | ${r.perplexity.toFixed(4)} | ${r.kld.toFixed(5)} | ${(100 * r.top1).toFixed(2)} | ${r.docs} / ${r.tokens} | ${r.seconds == null ? "" : r.seconds.toFixed(1)} |`;
  const runs = state.runs.map((r) => `\`--part ${r.part}\` ${r.date.slice(0, 16)} UTC (${r.seconds.toFixed(0)} s, --threads ${r.threads} --chunks ${r.chunks} --docs ${r.docs}, load average ${r.load?.toFixed?.(1)})`).join("; ");
  const base = rows.find((r) => r.basePerplexity)?.basePerplexity;
  let md = `# Pruning on kjv3M, judged by llama.cpp\n\n` +
    `Generated by \`node --import tsx bench/prune.mjs --part P\` for each part: ${runs || "(no run yet)"}. ` +
    (paramCounts ? `Every attention and FFN matrix of the ${paramCounts.nLayer} blocks is pruned (token_embd / output and the norms kept: ${paramCounts.blocks.toLocaleString("en-US")} of ${paramCounts.total.toLocaleString("en-US")} parameters). ` : "") +
    `Wanda and SparseGPT are calibrated by quantizeModel's sweep (each block on the outputs of the already-pruned blocks) over ${state.runs.find((r) => r.part === "sparse")?.chunks ?? CHUNKS} chunks of 128 tokens of calib.txt. ` +
    `llama.cpp (node-llama-cpp, context 512) scores documents of eval.txt (BOS + document; the "docs / tokens" column); KLD = KL(P_dense F16 ‖ P_model), mean over scored tokens; top-1 = same argmax as dense F16. ` +
    `Dense F16 perplexity: ${base?.toFixed(4) ?? "?"}. "s" = wall seconds of prune + write (shared 2-core machine: compare within a part only).\n\n` +
    `| model | file bytes | PPL | mean KLD | top-1 % | docs / tokens | s |\n|---|---:|---:|---:|---:|---:|---:|\n` + rows.map(fmt).join("\n") + "\n";
  if (state.speed.length) {
    md += `\n## llama.cpp load and generation speed\n\n\`--part speed\`: node-llama-cpp, ${state.speed[0].threads} threads, greedy generation of ${state.speed[0].tokens} tokens from "And God said" (after BOS) per run, three runs per model alternating over all models (A/B/C/... in the same run), median shown; load = loadModel + createContext seconds. CPU ms/token = this process's user+system CPU per generated token.\n\n` +
      `| model | file bytes | load s | tokens/s | vs dense | CPU ms/token |\n|---|---:|---:|---:|---:|---:|\n` +
      state.speed.map((s) => `| ${s.label} | ${s.bytes} | ${s.loadS.toFixed(3)} | ${s.tokPerS.toFixed(1)} | ${(s.tokPerS / state.speed[0].tokPerS).toFixed(2)}x | ${s.cpuMsPerTok.toFixed(2)} |`).join("\n") + "\n";
  }
  const sg = state.rows.find((r) => r.label === "sparsegpt 50%"), mg = state.rows.find((r) => r.label === "magnitude 50%");
  if (state.timing.big || sg) {
    md += `\n## SparseGPT time\n\n`;
    if (sg) md += `- kjv3M, 50%, calibrated sweep over ${state.runs.find((r) => r.part === "sparse")?.chunks ?? CHUNKS} × 128 tokens, F16 out: ${sg.seconds.toFixed(1)} s (magnitude, no calibration: ${mg?.seconds?.toFixed(1) ?? "?"} s), from \`--part sparse\`.\n`;
    const b = state.timing.big;
    if (b) md += `- Synthetic llama ${b.shape} (${(b.params / 1e6).toFixed(1)} M parameters), \`--part time\`: RTN Q4_K_M ${b.rtnQ4KMSeconds.toFixed(1)} s wall (${b.rtnCpuSeconds.toFixed(1)} s CPU); SparseGPT 50% + Q4_K_M through the calibrated sweep (${b.calibTokens} random tokens) ${b.sparseGptQ4KMSeconds.toFixed(1)} s wall (${b.sparseGptCpuSeconds.toFixed(1)} s CPU): ${(b.sparseGptCpuSeconds / b.rtnCpuSeconds).toFixed(1)}× RTN's CPU time${b.layerSeconds ? `; per block ${b.layerSeconds.map((x) => x.toFixed(1)).join(", ")} s` : ""}.\n`;
  }
  // keep the hand-written notes: everything from the "## Notes" heading of the current PRUNE.md to its end
  const mdPath = path.join(outDir, "PRUNE.md");
  const prevMd = existsSync(mdPath) ? readFileSync(mdPath, "utf8") : "";
  const at = prevMd.search(/^## Notes/m);
  if (at >= 0) md += "\n" + prevMd.slice(at);
  writeFileSync(mdPath, md);
}
