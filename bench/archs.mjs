// Conversion + quantization of >= 1 GB Hugging Face directories per architecture, in the same run:
// a Qwen3-shaped directory (q/k norms, head_dim 128, NEOX rope: q/k rows read as stored, so the pool
// workers read every matrix) beside a llama-shaped one of about the same size (q/k rotate-half
// permuted: read on the main thread), random bf16 weights streamed to model.safetensors. Each run is a
// fresh `node` process: `openModel(dir)` + `quantizeModel` (worker pool) into a file sink; peak RSS from
// process.resourceUsage(). Writes bench/archs.json and bench/ARCHS.md.
//
// Gemma 2 / Gemma 3 / Phi-3 shapes too (--archs llama,gemma2,gemma3,phi3): tied output and a SentencePiece
// tokenizer.model for Gemma (norm weights + 1 computed on the main thread), fused qkv / gate_up for Phi-3.
//
// Usage: node bench/archs.mjs [--layers 16 --embd 1536 --ff 4096 --vocab 32000 --ftypes Q4_K_M,Q8_0 --reps 1 --threads 2 --keep]
//        [--archs llama,qwen3 (default) | llama,gemma2,gemma3,phi3] [--section NAME: update only that table of ARCHS.md]
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
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
const ALL_SHAPES = {
  llama: { architectures: ["LlamaForCausalLM"], nHead: D / 64, nHeadKv: 8, headDim: 64 },
  qwen3: { architectures: ["Qwen3ForCausalLM"], nHead: 16, nHeadKv: 8, headDim: 128 },
  // Gemma 2 / 3: head_dim = n_embd / 8, tied output (no lm_head), SentencePiece tokenizer.model; Phi-3: fused qkv / gate_up
  gemma2: { architectures: ["Gemma2ForCausalLM"], nHead: 8, nHeadKv: 4, headDim: D / 8 },
  gemma3: { architectures: ["Gemma3ForCausalLM"], nHead: 8, nHeadKv: 4, headDim: D / 8 },
  phi3: { architectures: ["Phi3ForCausalLM"], nHead: D / 64, nHeadKv: D / 128, headDim: 64 },
};
const SHAPES = Object.fromEntries(String(arg("archs", "llama,qwen3")).split(",").map((a) => [a, ALL_SHAPES[a]]));
// --section NAME: replace (or append) only the table between <!-- NAME --> markers in ARCHS.md / a key of archs.json
const section = arg("section", "");
const dir = mkdtempSync(path.join(arg("tmp", os.tmpdir()), "tensorshrink-archs-"));

/** A HF directory with random bf16 weights (xorshift, ~N(0, 0.02)), written one tensor at a time. */
function writeHf(name, s) {
  const hf = path.join(dir, name);
  mkdirSync(hf);
  const q = s.nHead * s.headDim, kv = s.nHeadKv * s.headDim;
  const ents = [["model.embed_tokens.weight", [V, D]]];
  const gemma = name.startsWith("gemma");
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}.`;
    if (name === "phi3") {
      ents.push([p + "input_layernorm.weight", [D]], [p + "self_attn.qkv_proj.weight", [q + 2 * kv, D]], [p + "self_attn.o_proj.weight", [D, q]], [p + "post_attention_layernorm.weight", [D]],
        [p + "mlp.gate_up_proj.weight", [2 * FF, D]], [p + "mlp.down_proj.weight", [D, FF]]);
      continue;
    }
    ents.push([p + "input_layernorm.weight", [D]], [p + "self_attn.q_proj.weight", [q, D]], [p + "self_attn.k_proj.weight", [kv, D]], [p + "self_attn.v_proj.weight", [kv, D]]);
    if (name === "qwen3" || name === "gemma3") ents.push([p + "self_attn.q_norm.weight", [s.headDim]], [p + "self_attn.k_norm.weight", [s.headDim]]);
    ents.push([p + "self_attn.o_proj.weight", [D, q]], [p + "post_attention_layernorm.weight", [D]]);
    if (gemma) ents.push([p + "pre_feedforward_layernorm.weight", [D]], [p + "post_feedforward_layernorm.weight", [D]]);
    ents.push([p + "mlp.gate_proj.weight", [FF, D]], [p + "mlp.up_proj.weight", [FF, D]], [p + "mlp.down_proj.weight", [D, FF]]);
  }
  ents.push(["model.norm.weight", [D]]);
  if (!gemma) ents.push(["lm_head.weight", [V, D]]);
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
  if (gemma || name === "phi3") writeFileSync(path.join(hf, "tokenizer.model"), spmModel(V));
  else {
    // byte-level BPE: the 256 byte characters first (llama.cpp needs them), then filler tokens
    const vocab = {};
    let b = 0, n256 = 0;
    for (let c = 0; c < 256; c++) { const printable = (c >= 0x21 && c <= 0x7e) || (c >= 0xa1 && c <= 0xac) || (c >= 0xae && c <= 0xff); vocab[String.fromCodePoint(printable ? c : 256 + n256++)] = b++; }
    for (let i = b; i < V - 1; i++) vocab[`t${i}`] = i;
    const added = [{ id: V - 1, content: "<|endoftext|>", special: true }];
    writeFileSync(path.join(hf, "tokenizer.json"), JSON.stringify({ version: "1.0", added_tokens: added, model: { type: "BPE", byte_fallback: false, vocab, merges: [] } }));
  }
  writeFileSync(path.join(hf, "config.json"), JSON.stringify({
    architectures: s.architectures, hidden_size: D, intermediate_size: FF, num_hidden_layers: L, num_attention_heads: s.nHead, num_key_value_heads: s.nHeadKv,
    ...(name === "qwen3" ? { head_dim: s.headDim, rms_norm_eps: 1e-6, rope_theta: 1000000 } : { rms_norm_eps: 1e-5, rope_theta: 10000 }),
    ...(gemma ? { head_dim: s.headDim, query_pre_attn_scalar: s.headDim, sliding_window: 4096, ...(name === "gemma2" ? { attn_logit_softcapping: 50, final_logit_softcapping: 30 } : { rope_theta: 1000000, rope_local_base_freq: 10000, sliding_window_pattern: 6 }) } : {}),
    max_position_embeddings: 4096, vocab_size: V, tie_word_embeddings: gemma,
  }));
  return { hf, bytes: statSync(path.join(hf, "model.safetensors")).size };
}

/** A SentencePiece ModelProto of n pieces: <unk> <s> </s>, the 256 byte tokens, ▁t<i> pieces, <|endoftext|> last (Phi-3 needs it). */
function spmModel(n) {
  const out = [];
  const varint = (v) => { while (v >= 128) { out.push((v % 128) | 128); v = Math.floor(v / 128); } out.push(v); };
  const score = new Uint8Array(4), sv = new DataView(score.buffer);
  for (let i = 0; i < n; i++) {
    const piece = i === 0 ? "<unk>" : i === 1 ? "<s>" : i === 2 ? "</s>" : i < 259 ? `<0x${(i - 3).toString(16).toUpperCase().padStart(2, "0")}>` : i === n - 1 ? "<|endoftext|>" : `\u2581t${i}`;
    const type = i === 0 ? 2 : i < 3 || i === n - 1 ? 3 : i < 259 ? 6 : 1;
    const pb = Buffer.from(piece, "utf8");
    sv.setFloat32(0, type === 1 ? -i : 0, true);
    const body = [0x0a, ...(() => { const t = []; let v = pb.length; while (v >= 128) { t.push((v % 128) | 128); v = Math.floor(v / 128); } t.push(v); return t; })(), ...pb, 0x15, ...score, ...(type === 1 ? [] : [0x18, type])];
    out.push(0x0a); varint(body.length); out.push(...body);
  }
  return Uint8Array.from(out);
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
  const run = { date: new Date().toISOString(), node: process.version, layers: L, embd: D, ff: FF, vocab: V, threads, reps, archs: Object.keys(SHAPES), results };
  if (section) {
    // keep the rest of ARCHS.md / archs.json: only this section's table and run change
    const mdPath = path.join(here, "ARCHS.md"), jsPath = path.join(here, "archs.json");
    const old = existsSync(mdPath) ? readFileSync(mdPath, "utf8") : "";
    const table = md.slice(md.indexOf("| arch |"));
    const block = `<!-- ${section} -->\nMeasured ${run.date} (\`node bench/archs.mjs ${argv.join(" ")}\`): ${L} layers, n_embd ${D}, n_ff ${FF}, vocab ${V}, ${threads} threads, best of ${reps}; architectures ${run.archs.join(", ")}.\n\n${table}<!-- /${section} -->`;
    const re = new RegExp(`<!-- ${section} -->[\\s\\S]*?<!-- /${section} -->`);
    writeFileSync(mdPath, re.test(old) ? old.replace(re, block) : `${old.trimEnd()}\n\n${block}\n`);
    const js = existsSync(jsPath) ? JSON.parse(readFileSync(jsPath, "utf8")) : {};
    js.sections = { ...(js.sections ?? {}), [section]: run };
    writeFileSync(jsPath, JSON.stringify(js, null, 1) + "\n");
  } else {
    writeFileSync(path.join(here, "archs.json"), JSON.stringify(run, null, 1) + "\n");
    writeFileSync(path.join(here, "ARCHS.md"), md);
  }
} catch (e) {
  console.error(e);
  exitCode = 1;
} finally {
  if (argv.includes("--keep")) console.error(`kept ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
}
process.exit(exitCode);
