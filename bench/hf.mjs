// End-to-end benchmark of the Hugging Face path: a >= 1 GB bf16 safetensors directory (config.json,
// tokenizer.json, model.safetensors, q/k rotate-half permuted as HF stores them) made from the
// synthetic llama model, quantized by `openModel(dir)` + `quantizeModel` into a GGUF file, with the
// worker pool (2 threads) and single-threaded, interleaved, each run in a fresh child process. In the
// pool the workers read the bf16 rows from the safetensors file and convert them in wasm (q/k rows,
// which need the permutation, are read by the main thread); single-threaded, the main thread reads and
// converts everything. Writes bench/hf.json and bench/HF.md.
//
// Usage: npm run bench:hf [-- --layers 16 --embd 1536 --ff 4096 --vocab 32000 --reps 3 --threads 2 --keep]
import { createHash } from "node:crypto";
import { createReadStream, mkdirSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync, writeSync, closeSync } from "node:fs";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import os from "node:os";
import path from "node:path";
import { init, syntheticModel, quantizeModel, openModel, openFileSink } from "../dist/index.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const arg = (k, d) => { const i = argv.indexOf(`--${k}`); return i >= 0 ? argv[i + 1] : d; };
const MB = 1e6;

if (argv[0] === "--child") {
  const job = JSON.parse(argv[1]);
  const engine = await init({ threads: job.parallel ? job.threads : 0 });
  const model = await openModel(job.input, engine);
  const sink = await openFileSink(job.output);
  const t1 = performance.now();
  const rep = await quantizeModel(engine, model, sink, { ftype: job.ftype, parallel: job.parallel });
  const seconds = (performance.now() - t1) / 1000;
  await model.close?.();
  const ru = process.resourceUsage();
  engine.dispose();
  process.stdout.write(JSON.stringify({ seconds, params: rep.params, fileSize: rep.fileSize, maxRssKiB: ru.maxRSS, processCpuSeconds: (ru.userCPUTime + ru.systemCPUTime) / 1e6 }) + "\n");
  process.exit(0);
}

const cfg = { nLayer: Number(arg("layers", 16)), nEmbd: Number(arg("embd", 1536)), nFf: Number(arg("ff", 4096)), nHead: 24, nHeadKv: 8, nVocab: Number(arg("vocab", 32000)), seed: 1 };
const reps = Number(arg("reps", 3)), threads = Number(arg("threads", 2));
const dir = mkdtempSync(path.join(arg("tmp", os.tmpdir()), "tensorshrink-hf-"));
const hf = path.join(dir, "hf");
mkdirSync(hf);

// ---- the HF directory (streamed: one tensor in memory at a time)
const model = syntheticModel(cfg);
const byName = new Map(model.tensors.map((t) => [t.name, t]));
const rowsOf = (ne) => ne.slice(1).reduce((a, b) => a * b, 1);
const entries = [["model.embed_tokens.weight", "token_embd.weight"]];
const hfName = { attn_norm: "input_layernorm", attn_q: "self_attn.q_proj", attn_k: "self_attn.k_proj", attn_v: "self_attn.v_proj", attn_output: "self_attn.o_proj", ffn_norm: "post_attention_layernorm", ffn_gate: "mlp.gate_proj", ffn_down: "mlp.down_proj", ffn_up: "mlp.up_proj" };
for (let l = 0; l < cfg.nLayer; l++) for (const [g, h] of Object.entries(hfName)) entries.push([`model.layers.${l}.${h}.weight`, `blk.${l}.${g}.weight`]);
entries.push(["model.norm.weight", "output_norm.weight"], ["lm_head.weight", "output.weight"]);
const header = {};
let off = 0;
for (const [h, g] of entries) {
  const t = byName.get(g);
  const n = t.ne.reduce((a, b) => a * b, 1);
  header[h] = { dtype: "BF16", shape: t.ne.length === 1 ? [t.ne[0]] : [rowsOf(t.ne), t.ne[0]], data_offsets: [off, off + 2 * n] };
  off += 2 * n;
}
let hj = JSON.stringify(header);
hj += " ".repeat((8 - (hj.length % 8)) % 8);
const fd = openSync(path.join(hf, "model.safetensors"), "w");
const len = Buffer.alloc(8);
len.writeBigUInt64LE(BigInt(hj.length));
writeSync(fd, len);
writeSync(fd, Buffer.from(hj));
const toBf16 = (x) => { const u = new Uint32Array(x.buffer, x.byteOffset, x.length), o = new Uint16Array(x.length); for (let i = 0; i < u.length; i++) o[i] = (u[i] + 0x7fff + ((u[i] >>> 16) & 1)) >>> 16; return o; };
const rotate = (x, rows, cols, heads) => { const d = rows / heads, half = d / 2, out = new Float32Array(x.length); for (let hh = 0; hh < heads; hh++) for (let i = 0; i < half; i++) for (let j = 0; j < 2; j++) out.set(x.subarray((hh * d + 2 * i + j) * cols, (hh * d + 2 * i + j + 1) * cols), (hh * d + j * half + i) * cols); return out; };
for (const [h, g] of entries) {
  const t = byName.get(g), rows = rowsOf(t.ne), cols = t.ne[0];
  if (/attn_[qk]\.weight$/.test(g)) {
    const heads = g.includes("attn_q") ? cfg.nHead : cfg.nHeadKv;
    writeSync(fd, toBf16(rotate(await t.readRows(0, rows), rows, cols, heads)));
    continue;
  }
  const per = Math.max(1, Math.floor((4 << 20) / (cols * 4)));
  for (let r = 0; r < rows; r += per) writeSync(fd, toBf16(await t.readRows(r, Math.min(per, rows - r))));
}
closeSync(fd);
const tokens = model.metadata.find((k) => k.key === "tokenizer.ggml.tokens").value.items;
const vocab = {};
tokens.forEach((t, i) => { vocab[t] = i; });
writeFileSync(path.join(hf, "tokenizer.json"), JSON.stringify({ version: "1.0", added_tokens: [0, 1, 2].map((id) => ({ id, content: tokens[id], special: true })), model: { type: "BPE", byte_fallback: true, unk_token: "<unk>", vocab, merges: [] } }));
writeFileSync(path.join(hf, "config.json"), JSON.stringify({ architectures: ["LlamaForCausalLM"], hidden_size: cfg.nEmbd, intermediate_size: cfg.nFf, num_hidden_layers: cfg.nLayer, num_attention_heads: cfg.nHead, num_key_value_heads: cfg.nHeadKv, max_position_embeddings: 2048, rms_norm_eps: 1e-5, rope_theta: 10000, vocab_size: cfg.nVocab, tie_word_embeddings: false }));
const stBytes = statSync(path.join(hf, "model.safetensors")).size;
console.error(`generated ${hf}: ${(stBytes / MB).toFixed(0)} MB of bf16 safetensors`);

const sha256 = (file) => new Promise((resolve, reject) => { const h = createHash("sha256"); createReadStream(file).on("data", (d) => h.update(d)).on("end", () => resolve(h.digest("hex"))).on("error", reject); });
const runChild = (job) => new Promise((resolve, reject) => {
  const p = spawn(process.execPath, [fileURLToPath(import.meta.url), "--child", JSON.stringify(job)], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  p.stdout.on("data", (d) => (out += d));
  p.on("exit", (code) => (code === 0 ? resolve(JSON.parse(out.trim().split("\n").pop())) : reject(new Error(`child exited with ${code}`))));
});

let exitCode = 0;
try {
  await sha256(path.join(hf, "model.safetensors")); // page cache
  const results = [];
  for (const ftype of ["Q8_0", "Q4_K_M"]) {
    const runs = { pool: [], single: [] };
    for (let r = 0; r < reps; r++) for (const mode of ["pool", "single"]) {
      const output = path.join(dir, `out-${mode}.gguf`);
      const res = await runChild({ input: hf, output, ftype, parallel: mode === "pool", threads });
      res.sha256 = await sha256(output);
      rmSync(output, { force: true });
      runs[mode].push(res);
      console.error(`${ftype} ${mode} #${r + 1}: ${res.seconds.toFixed(2)} s, peak RSS ${((res.maxRssKiB * 1024) / MB).toFixed(0)} MB, process CPU ${res.processCpuSeconds.toFixed(2)} s`);
    }
    const best = (a) => a.reduce((x, y) => (y.seconds < x.seconds ? y : x));
    const pool = best(runs.pool), single = best(runs.single);
    const same = new Set([...runs.pool, ...runs.single].map((x) => x.sha256)).size === 1;
    if (!same) exitCode = 1;
    results.push({ ftype, pool, single, speedup: single.seconds / pool.seconds, sameBytes: same, allPool: runs.pool.map((x) => x.seconds), allSingle: runs.single.map((x) => x.seconds) });
  }
  const bf16In = stBytes / MB;
  let md = `# End-to-end quantization from a Hugging Face directory (bf16 safetensors → GGUF)\n\n`;
  md += `Measured ${new Date().toISOString()} on ${os.cpus()[0]?.model ?? "?"} (${os.availableParallelism?.() ?? os.cpus().length} cores), Node ${process.version}, \`npm run bench:hf\`.\n\n`;
  md += `Input: a Hugging Face llama directory made from the synthetic model (${cfg.nLayer} layers, n_embd ${cfg.nEmbd}, n_ff ${cfg.nFf}, vocab ${cfg.nVocab}): **${bf16In.toFixed(0)} MB of bf16** in one model.safetensors, q/k stored rotate-half as HF does. `;
  md += `Each run is a fresh \`node\` process: \`openModel(dir)\` + \`quantizeModel\` into a file sink (temp file, fsync, rename); best of ${reps} interleaved runs. MB/s = MB of bf16 input per second. `;
  md += `In the pool the workers read the bf16 rows from model.safetensors and convert them in wasm; the q/k projections (permuted rows) and everything in the single-threaded runs are read and converted on the main thread.\n\n`;
  md += `| ftype | pool (${threads}) s | single s | pool MB/s | single MB/s | speedup | peak RSS MB (pool / single) | same bytes |\n|---|---:|---:|---:|---:|---:|---:|---|\n`;
  for (const r of results) md += `| ${r.ftype} | ${r.pool.seconds.toFixed(2)} | ${r.single.seconds.toFixed(2)} | ${(bf16In / r.pool.seconds).toFixed(0)} | ${(bf16In / r.single.seconds).toFixed(0)} | ${r.speedup.toFixed(2)}× | ${((r.pool.maxRssKiB * 1024) / MB).toFixed(0)} / ${((r.single.maxRssKiB * 1024) / MB).toFixed(0)} | ${r.sameBytes ? "yes" : "**NO**"} |\n`;
  console.log(md);
  writeFileSync(path.join(here, "hf.json"), JSON.stringify({ date: new Date().toISOString(), node: process.version, model: cfg, bf16Bytes: stBytes, threads, reps, results }, null, 1) + "\n");
  writeFileSync(path.join(here, "HF.md"), md);
} catch (e) {
  console.error(e);
  exitCode = 1;
} finally {
  if (argv.includes("--keep")) console.error(`kept ${hf}`);
  else rmSync(dir, { recursive: true, force: true });
}
process.exit(exitCode);
