// Conversion + quantization of >= 1 GB Hugging Face directories per architecture, in the same run:
// a Qwen3-shaped directory (q/k norms, head_dim 128, NEOX rope: q/k rows read as stored, so the pool
// workers read every matrix) beside a llama-shaped one of about the same size (q/k rotate-half
// permuted: read on the main thread), random bf16 weights streamed to model.safetensors. Each run is a
// fresh `node` process: `openModel(dir)` + `quantizeModel` (worker pool) into a file sink; peak RSS from
// process.resourceUsage(). Writes bench/archs.json and bench/ARCHS.md.
//
// Usage: node bench/archs.mjs [--layers 16 --embd 1536 --ff 4096 --vocab 32000 --ftypes Q4_K_M,Q8_0 --reps 1 --threads 2 --keep]
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import os from "node:os";
import path from "node:path";
import { init, quantizeModel, openModel, openFileSink } from "../dist/index.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const arg = (k, d) => { const i = argv.indexOf(`--${k}`); return i >= 0 ? argv[i + 1] : d; };
const MB = 1e6;

if (argv[0] === "--child") {
  const job = JSON.parse(argv[1]);
  const engine = await init({ threads: job.threads });
  const t0 = performance.now();
  const model = await openModel(job.input, engine);
  const rep = await quantizeModel(engine, model, await openFileSink(job.output), { ftype: job.ftype, parallel: true });
  const seconds = (performance.now() - t0) / 1000;
  await model.close?.();
  const ru = process.resourceUsage();
  engine.dispose();
  process.stdout.write(JSON.stringify({ seconds, params: rep.params, fileSize: rep.fileSize, maxRssKiB: ru.maxRSS }) + "\n");
  process.exit(0);
}

const L = Number(arg("layers", 16)), D = Number(arg("embd", 1536)), FF = Number(arg("ff", 4096)), V = Number(arg("vocab", 32000));
const reps = Number(arg("reps", 1)), threads = Number(arg("threads", 2)), ftypes = String(arg("ftypes", "Q4_K_M,Q8_0")).split(",");
const SHAPES = {
  llama: { architectures: ["LlamaForCausalLM"], nHead: 24, nHeadKv: 8, headDim: 64 },
  qwen3: { architectures: ["Qwen3ForCausalLM"], nHead: 16, nHeadKv: 8, headDim: 128 },
};
const dir = mkdtempSync(path.join(arg("tmp", os.tmpdir()), "tensorshrink-archs-"));

/** A HF directory with random bf16 weights (xorshift, ~N(0, 0.02)), written one tensor at a time. */
function writeHf(name, s) {
  const hf = path.join(dir, name);
  mkdirSync(hf);
  const q = s.nHead * s.headDim, kv = s.nHeadKv * s.headDim;
  const ents = [["model.embed_tokens.weight", [V, D]]];
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}.`;
    ents.push([p + "input_layernorm.weight", [D]], [p + "self_attn.q_proj.weight", [q, D]], [p + "self_attn.k_proj.weight", [kv, D]], [p + "self_attn.v_proj.weight", [kv, D]]);
    if (name === "qwen3") ents.push([p + "self_attn.q_norm.weight", [s.headDim]], [p + "self_attn.k_norm.weight", [s.headDim]]);
    ents.push([p + "self_attn.o_proj.weight", [D, q]], [p + "post_attention_layernorm.weight", [D]], [p + "mlp.gate_proj.weight", [FF, D]], [p + "mlp.up_proj.weight", [FF, D]], [p + "mlp.down_proj.weight", [D, FF]]);
  }
  ents.push(["model.norm.weight", [D]], ["lm_head.weight", [V, D]]);
  const header = {};
  let off = 0;
  for (const [n, shape] of ents) { const c = shape.reduce((a, b) => a * b, 1); header[n] = { dtype: "BF16", shape, data_offsets: [off, off + 2 * c] }; off += 2 * c; }
  let hj = JSON.stringify(header);
  hj += " ".repeat((8 - (hj.length % 8)) % 8);
  const fd = openSync(path.join(hf, "model.safetensors"), "w");
  const len = Buffer.alloc(8); len.writeBigUInt64LE(BigInt(hj.length));
  writeSync(fd, len); writeSync(fd, Buffer.from(hj));
  let st = 0x9e3779b9;
  const f32 = new Float32Array(1), u32 = new Uint32Array(f32.buffer);
  const chunk = new Uint16Array(1 << 20);
  for (const [n, shape] of ents) {
    let c = shape.reduce((a, b) => a * b, 1);
    const norm = shape.length === 1;
    while (c > 0) {
      const k = Math.min(c, chunk.length);
      for (let i = 0; i < k; i++) {
        st ^= st << 13; st >>>= 0; st ^= st >>> 17; st ^= st << 5; st >>>= 0;
        f32[0] = (norm ? 1 : 0) + ((st >>> 8) / 16777216 - 0.5) * 0.07;
        chunk[i] = u32[0] >>> 16;
      }
      writeSync(fd, chunk.subarray(0, k));
      c -= k;
    }
  }
  closeSync(fd);
  const vocab = {};
  for (let i = 0; i < V - 1; i++) vocab[i < 94 ? String.fromCharCode(33 + i) : `t${i}`] = i;
  const added = [{ id: V - 1, content: "<|endoftext|>", special: true }];
  writeFileSync(path.join(hf, "tokenizer.json"), JSON.stringify({ version: "1.0", added_tokens: added, model: { type: "BPE", byte_fallback: false, vocab, merges: [] } }));
  writeFileSync(path.join(hf, "config.json"), JSON.stringify({
    architectures: s.architectures, hidden_size: D, intermediate_size: FF, num_hidden_layers: L, num_attention_heads: s.nHead, num_key_value_heads: s.nHeadKv,
    ...(name === "qwen3" ? { head_dim: s.headDim, rms_norm_eps: 1e-6, rope_theta: 1000000 } : { rms_norm_eps: 1e-5, rope_theta: 10000 }),
    max_position_embeddings: 4096, vocab_size: V, tie_word_embeddings: false,
  }));
  return { hf, bytes: statSync(path.join(hf, "model.safetensors")).size };
}

const runChild = (job) => new Promise((resolve, reject) => {
  const p = spawn(process.execPath, [fileURLToPath(import.meta.url), "--child", JSON.stringify(job)], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  p.stdout.on("data", (d) => (out += d));
  p.on("exit", (code) => (code === 0 ? resolve(JSON.parse(out.trim().split("\n").pop())) : reject(new Error(`child exited with ${code}`))));
});

let exitCode = 0;
try {
  const dirs = {};
  for (const [name, s] of Object.entries(SHAPES)) { dirs[name] = writeHf(name, s); console.error(`generated ${name}: ${(dirs[name].bytes / MB).toFixed(0)} MB bf16`); }
  const results = [];
  for (const ftype of ftypes) {
    const best = {};
    for (let r = 0; r < reps; r++) for (const name of Object.keys(SHAPES)) {
      const output = path.join(dir, `out-${name}.gguf`);
      const res = await runChild({ input: dirs[name].hf, output, ftype, threads });
      rmSync(output, { force: true });
      console.error(`${name} ${ftype} #${r + 1}: ${res.seconds.toFixed(2)} s, peak RSS ${((res.maxRssKiB * 1024) / MB).toFixed(0)} MB`);
      if (!best[name] || res.seconds < best[name].seconds) best[name] = res;
    }
    for (const name of Object.keys(SHAPES)) results.push({ arch: name, ftype, inputMB: dirs[name].bytes / MB, ...best[name], mbPerS: dirs[name].bytes / MB / best[name].seconds, peakRssMB: (best[name].maxRssKiB * 1024) / MB });
  }
  let md = `# Conversion + quantization per architecture (bf16 HF directory → GGUF)\n\n`;
  md += `Measured ${new Date().toISOString()} on ${os.cpus()[0]?.model ?? "?"} (${os.availableParallelism?.() ?? os.cpus().length} cores, shared with other jobs), Node ${process.version}, \`node bench/archs.mjs\`.\n\n`;
  md += `Inputs, generated in the same run: ${L} layers, n_embd ${D}, n_ff ${FF}, vocab ${V}, untied output, random bf16 weights in one model.safetensors — llama-shaped (24 heads of 64, 8 KV heads; q/k rotate-half permuted by the converter, read on the main thread) and Qwen3-shaped (16 heads of 128, 8 KV heads, q/k norms; no permutation). `;
  md += `Each run is a fresh \`node\` process: \`openModel(dir)\` + \`quantizeModel\` with the worker pool (${threads} threads) into a file sink; best of ${reps}. MB/s = MB of bf16 input per second. Compare the rows with each other (same run), and with bench/HF.md for the order of magnitude only.\n\n`;
  md += `| arch | ftype | input MB | seconds | MB/s | peak RSS MB | output MB |\n|---|---|---:|---:|---:|---:|---:|\n`;
  for (const r of results) md += `| ${r.arch} | ${r.ftype} | ${r.inputMB.toFixed(0)} | ${r.seconds.toFixed(2)} | ${r.mbPerS.toFixed(0)} | ${r.peakRssMB.toFixed(0)} | ${(r.fileSize / MB).toFixed(0)} |\n`;
  console.log(md);
  writeFileSync(path.join(here, "archs.json"), JSON.stringify({ date: new Date().toISOString(), node: process.version, layers: L, embd: D, ff: FF, vocab: V, threads, reps, results }, null, 1) + "\n");
  writeFileSync(path.join(here, "ARCHS.md"), md);
} catch (e) {
  console.error(e);
  exitCode = 1;
} finally {
  if (argv.includes("--keep")) console.error(`kept ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
}
process.exit(exitCode);
