/**
 * The CLI's option tables: one per command, the single source of `--help` (global and per command)
 * and of which options take a value. Other commands add their table to COMMANDS; parseArgs (main.ts)
 * knows every option any table lists.
 */
import { FTYPES, FTYPE_ALIASES } from "../model/recipes";

/** One option of a command. */
export interface OptionSpec {
  /** Long name with the dashes: "--threads". */
  name: string;
  /** Single-dash alias: "-t". */
  short?: string;
  /** Name of the value (e.g. "N", "F"); absent for a flag. */
  value?: string;
  /** What it does (one or more lines, no trailing newline). */
  help: string;
  /** Can be given more than once (each value kept, in order). */
  repeatable?: boolean;
}

/** One command: its usage line, a description and its options. */
export interface CommandSpec {
  name: string;
  usage: string;
  summary: string;
  options: OptionSpec[];
}

const THREADS: OptionSpec = { name: "--threads", short: "-t", value: "N", help: "worker threads (default: all cores; a plain decimal integer >= 1, capped at 4 x the cores with a note on stderr)" };
const JSON_OPT: OptionSpec = { name: "--json", help: "print one JSON document instead of text" };
const TOKENIZER: OptionSpec = { name: "--tokenizer", value: "F", help: "tokenizer.bin for a llama2.c checkpoint" };
const HELP_OPT: OptionSpec = { name: "--help", short: "-h", help: "this help" };

/** Every ftype `quantize` takes, with llama-quantize's LLAMA_FTYPE numbers, plus COPY and the aliases. */
export function ftypeHelp(): string {
  const names = Object.keys(FTYPES) as (keyof typeof FTYPES)[];
  const list = names.map((n) => `${n}=${FTYPES[n].id}`).join(" ");
  const aliases = Object.entries(FTYPE_ALIASES).map(([a, n]) => `${a}=${n}`).join(" ");
  return `FTYPE (name or LLAMA_FTYPE number): ${list}\n  aliases: ${aliases}; COPY = copy every tensor as stored (only the header changes)`;
}

/** The commands and their options (README "Command line" describes the same). */
export const COMMANDS: CommandSpec[] = [
  {
    name: "demo", usage: "tensorshrink demo [--ftypes A,B,...] [--json]",
    summary: "Builds a small llama-shaped model in memory and quantizes it with several ftypes (no download).",
    options: [{ name: "--ftypes", value: "A,B", help: "ftypes to run (default Q8_0,Q6_K,Q4_K_M,Q4_0)" }, THREADS, JSON_OPT],
  },
  {
    name: "quantize", usage: "tensorshrink quantize [options] <input> [<output.gguf>] <FTYPE> [<nthreads>]",
    summary: "input: a GGUF file, a llama2.c checkpoint\n" +
      "(.bin, tokenizer.bin beside it or --tokenizer), a Hugging Face directory, or an http(s) URL.\n" +
      "Without <output.gguf>: ggml-model-<FTYPE>.gguf next to the input, as llama-quantize.",
    options: [
      { name: "--imatrix", value: "F", help: "llama.cpp importance matrix (GGUF imatrix or legacy .dat); required (E_IMATRIX) by IQ1_S IQ1_M IQ2_XXS\nIQ2_XS IQ2_S IQ2_M IQ3_XXS IQ3_XS Q2_K_S, as in llama.cpp" },
      { name: "--include-weights", value: "NAME", repeatable: true, help: "use the imatrix only for tensors whose name contains NAME (repeatable; not with --exclude-weights)" },
      { name: "--exclude-weights", value: "NAME", repeatable: true, help: "do not use the imatrix for tensors whose name contains NAME (repeatable)" },
      THREADS,
      { name: "--eora", value: "R", help: "also write an EoRA adapter of rank R for the quantized block linear weights (needs --calib;\nwraps the first --method, default rtn; README \"Low-rank\")" },
      { name: "--eora-out", value: "F", help: "the EoRA adapter (default <output without .gguf>.eora.gguf)" },
      { name: "--rule", value: "P=T", repeatable: true, help: 'tensors matching regex P get type T (or "skip"); first match wins; repeatable' },
      { name: "--output-tensor-type", value: "T", help: "ggml type of output.weight (e.g. q8_0, f16), as llama-quantize" },
      { name: "--token-embedding-type", value: "T", help: "ggml type of token_embd.weight, as llama-quantize" },
      { name: "--leave-output-tensor", help: "copy output.weight unquantized, as llama-quantize" },
      { name: "--allow-requantize", help: "allow re-quantizing tensors that are already quantized (refused otherwise, as llama-quantize)" },
      { name: "--prune-layers", value: "L,L", help: "drop these layers (0-based), renumber the rest and set block_count, as llama-quantize" },
      { name: "--override-kv", value: "KEY=TYPE:VALUE", repeatable: true, help: "set a metadata key in the output; TYPE int (u32), float (f32), bool or str; repeatable" },
      TOKENIZER,
      { name: "--pure", help: "no per-tensor bumps: every quantizable tensor gets the base type" },
      { name: "--keep-order", help: "keep the input's tensor order (default: llama-quantize's order, byte-identical files)" },
      { name: "--allow-nonfinite", help: "let NaN/Inf through into f32/f16/bf16 outputs and copies (default: refused, as\nllama-quantize does; block types always refuse them)" },
      { name: "--method", value: "M[,M]", help: "methods (gptq, awq, search, hqq, rtn; README \"Calibrated quantization\"): gptq and awq need\n--calib; search (imatrix-weighted scale search) and hqq (zero points, formats with a min) need no data;\nlayer methods (awq) run first, then the tensor methods in order (awq,gptq = AWQ's scale fold, then\nGPTQ; gptq,search = search refits gptq's scales); default: llama.cpp-identical RTN" },
      { name: "--act-order", help: "GPTQ with act-order (columns by diag H descending, static block scales; the layout is unchanged)" },
      { name: "--calib", value: "F", help: "calibration text for --method (the statistics are computed on the engine's forward pass)" },
      { name: "--calib-tokens", value: "N", help: "calibration tokens to use (default: the whole text, whole --ctx chunks)" },
      { name: "--no-stats", help: "skip the per-tensor SQNR measurement (a dequantize + compare pass; llama-quantize\nmeasures nothing): faster, same bytes, sqnrDb null in the report" },
      JSON_OPT,
    ],
  },
  {
    name: "inspect", usage: "tensorshrink inspect <file|URL> [--json]",
    summary: "GGUF header, metadata (general.file_type by name: Q4_K_M) and tensors; safetensors; a llama2.c\ncheckpoint or HF directory as the GGUF it converts to. Control characters are printed escaped (\\x1b).",
    options: [TOKENIZER, JSON_OPT],
  },
  {
    name: "eval", usage: "tensorshrink eval <base> <other> --text <file> [options]",
    summary: "perplexity ± error of both, KL divergence (mean, median, p99, max), top-1 agreement and Δp of other\n" +
      "vs base, each document scored from a BOS (documents split on <|endoftext|>), on tensorshrink's own\n" +
      "forward pass. Models: anything quantize takes (GGUF, llama2.c + --tokenizer, HF directory, URL).",
    options: [
      { name: "--text", value: "F", help: "the text to score" },
      { name: "--backend", value: "B", help: "engine (default) or llama.cpp (node-llama-cpp, an optional peer dependency)" },
      { name: "--ctx", value: "N", help: "window length in tokens (default min(training context, 2048))" },
      { name: "--save-logits", value: "F", help: "also store the base run's log-probs in F (4 bytes x vocab per scored token)" },
      { name: "--base-logits", value: "F", help: "score <other> against saved base log-probs: tensorshrink eval <other> --base-logits F --text T" },
      { name: "--kv-f16", help: "round the KV cache to f16 as llama.cpp's default cache does" },
      TOKENIZER, THREADS, JSON_OPT,
    ],
  },
  {
    name: "imatrix", usage: "tensorshrink imatrix <model> --text <file> [options]",
    summary: "llama-imatrix's importance matrix on tensorshrink's forward pass (chunks of --ctx tokens, BOS first)",
    options: [
      { name: "--text", value: "F", help: "calibration text" },
      { name: "--output", short: "-o", value: "F", help: "output (default imatrix.gguf; GGUF imatrix as current llama.cpp writes it)" },
      { name: "--ctx", value: "N", help: "tokens per chunk (default 512)" },
      { name: "--chunks", value: "N", help: "at most N chunks" },
      { name: "--legacy", help: "legacy .dat format (also chosen by an -o ending in .dat)" },
      { name: "--process-output", help: "also collect output.weight" },
      { name: "--kv-f16", help: "f16 KV cache" },
      TOKENIZER, THREADS, JSON_OPT,
    ],
  },
  {
    name: "teacher", usage: "tensorshrink teacher <model> --text <file> -o <out.tskd> [options]",
    summary: "runs the engine's forward pass over the text (windows of --ctx tokens, default 512) and records every\n" +
      "position's top-k next-token log-probs + the log of the remaining mass (teacher file, README \"Distillation losses\")",
    options: [
      { name: "--text", value: "F", help: "the text" },
      { name: "--output", short: "-o", value: "F", help: "the teacher file to write" },
      { name: "--top-k", value: "K", help: "log-probs kept per position (default 32)" },
      { name: "--ctx", value: "N", help: "window length (default 512)" },
      TOKENIZER, THREADS, JSON_OPT,
    ],
  },
  {
    name: "eora", usage: "tensorshrink eora <base> <quantized.gguf> --calib text.txt --rank 32 -o adapter.gguf [options]",
    summary: "EoRA: a low-rank correction of the quantized weights from calibration activations, written as a GGUF LoRA\n" +
      "adapter llama.cpp loads on top of the quantized model (README \"Low-rank\")",
    options: [
      { name: "--calib", value: "F", help: "calibration text" },
      { name: "--rank", value: "R", help: "adapter rank (default 32)" },
      { name: "--output", short: "-o", value: "F", help: "the GGUF adapter to write" },
      { name: "--peft", value: "DIR", help: "also write a PEFT adapter (adapter_model.safetensors + adapter_config.json) into DIR" },
      { name: "--adapter-type", value: "T", help: "GGUF adapter factors in f32 (default), f16 or q8_0 (q8_0 rows not a multiple of 32 in f16)" },
      { name: "--chunks", value: "N", help: "calibration chunks" },
      { name: "--ctx", value: "N", help: "tokens per calibration chunk" },
      TOKENIZER, THREADS, JSON_OPT,
    ],
  },
  {
    name: "lowrank", usage: "tensorshrink lowrank <model> -o out.gguf [--method svd|asvd|svdllm] (--ratio 0.8 | --rank R) [options]",
    summary: "low-rank compression of the linear layers (SVD, ASVD, SVD-LLM); writes a GGUF with the weights rebuilt\n" +
      "from the factors (for llama.cpp to judge) and optionally the factors",
    options: [
      { name: "--output", short: "-o", value: "F", help: "the GGUF to write" },
      { name: "--method", value: "M", help: "svd, asvd or svdllm (default svd)" },
      { name: "--ratio", value: "X", help: "target parameter ratio per tensor" },
      { name: "--rank", value: "R", help: "fixed rank" },
      { name: "--calib", value: "F", help: "calibration text (asvd, svdllm)" },
      { name: "--factors", value: "F", help: "also write the factors (safetensors)" },
      { name: "--chunks", value: "N", help: "calibration chunks" },
      TOKENIZER, THREADS, JSON_OPT,
    ],
  },
  {
    name: "tt", usage: "tensorshrink tt <model> <out.tt.gguf> [--tensor token_embd.weight] (--eps 0.1 | --rank R) [--mode matrix|mps] [options]",
    summary: "tensor-train (TensorGPT) compression of one matrix, by default the token embedding: writes the TT cores\n" +
      "(GGUF, tensorshrink.tt.* keys) and a GGUF of the model with the tensor rebuilt from them, for llama.cpp to judge (README \"Tensor-train\")",
    options: [
      { name: "--tensor", value: "T", help: "the tensor to decompose (default token_embd.weight)" },
      { name: "--eps", value: "E", help: "relative Frobenius error bound (> 0): ||A - TT||_F <= E ||A||_F" },
      { name: "--rank", value: "R", help: "largest TT rank (with --eps the smaller rank wins)" },
      { name: "--mode", value: "M", help: "matrix (one TT-matrix, default) or mps (each row its own tensor train)" },
      { name: "--d", value: "N", help: "number of digits / cores (default 3)" },
      { name: "--row-dims", value: "AxB", help: "row digits, e.g. 8x8x8 (product >= rows, <= 1.5 x rows)" },
      { name: "--col-dims", value: "AxB", help: "column digits, e.g. 8x8x4" },
      { name: "--round", help: "TT-round after the TT-SVD (matrix mode)" },
      { name: "--rebuilt", value: "F", help: "the rebuilt model (default <out>.rebuilt.gguf)" },
      { name: "--untie", help: "tied classifier: keep the original table as output.weight (only the input lookup uses the TT)" },
      { name: "--calib", value: "F", help: "text whose token counts drive --weight-power, --dense-rows, --permute (token tables; never the eval text)" },
      { name: "--weight-power", value: "P", help: "matrix mode: rows weighted by (count + 1)^P before the TT (inverse scales stored)" },
      { name: "--dense-rows", value: "K", help: "matrix mode: the K most frequent tokens stored dense, the TT holds the others" },
      { name: "--permute", help: "matrix mode: TT rows in frequency order (token -> slot map stored)" },
      { name: "--core-type", value: "T", help: "storage of the cores and dense rows: f32 (default), f16 or q8_0" },
      TOKENIZER, THREADS, JSON_OPT,
    ],
  },
  {
    name: "prune", usage: "tensorshrink prune <in> <out.gguf> --method magnitude|wanda|sparsegpt (--sparsity 0.5 | --nm 2:4) [options]\n  tensorshrink prune <in> <out.gguf> --ffn 0.25 | --heads 0.25 | --layers 2 [--scope layer|global] [options]",
    summary: "pruning: unstructured / N:M sparsity as dense weights with exact zeros (+ masks), or structured FFN-channel and\n" +
      "head and layer pruning that makes the file smaller (README \"Pruning\"); quantize ... --prune sparsegpt:0.5 --calib F prunes first",
    options: [
      { name: "--method", value: "M", help: "magnitude, wanda or sparsegpt" },
      { name: "--sparsity", value: "F", help: "fraction of weights set to zero per row, in [0, 1)" },
      { name: "--nm", value: "N:M", help: "N:M sparsity along the input dimension (2:4, 4:8, any N < M <= 32)" },
      { name: "--ffn", value: "F", help: "structured: remove this fraction of FFN channels" },
      { name: "--layers", value: "N", help: "structured: remove the N blocks of lowest Block Influence" },
      { name: "--heads", value: "F", help: "structured: remove this fraction of attention heads (whole KV groups)" },
      { name: "--scope", value: "S", help: "structured --ffn/--heads: layer (same count per block, default) or global (per-layer sizes: deci)" },
      { name: "--bias-compensation", help: "structured --ffn/--heads: FLAP bias, the removed channels' mean output kept as ffn_down.bias / attn_output.bias (needs --calib; llama/deci)" },
      { name: "--calib", value: "F", help: "calibration text (wanda, sparsegpt, structured scores)" },
      { name: "--keep", value: "RE", help: "tensors left dense (default ^(output|token_embd)\\.)" },
      { name: "--mask-out", value: "F", help: "write the masks (safetensors, one packed bitmask per tensor)" },
      { name: "--ftype", value: "T", help: "output ftype of prune (default F16)" },
      { name: "--prune", value: "M:S", help: "(on quantize) prune first, e.g. sparsegpt:0.5, wanda:2:4, sparsegpt-joint:0.5" },
      { name: "--joint", help: "sparsegpt: round every kept weight to the target type in the same sweep (joint prune + quantize)" },
      { name: "--eval", value: "F", help: "(on quantize --prune) score both models on the engine's forward pass" },
      TOKENIZER, THREADS, JSON_OPT,
    ],
  },
  {
    name: "web", usage: "tensorshrink web [--port N]",
    summary: "serves the web app (compress a model in a browser tab) on http://127.0.0.1:N/ (default 8080; 0 = any free port)",
    options: [
      { name: "--port", value: "N", help: "TCP port on 127.0.0.1 (default 8080; 0 = any free port)" },
    ],
  },
];

/** The command's spec, or undefined. */
export function commandSpec(name: string): CommandSpec | undefined {
  return COMMANDS.find((c) => c.name === name);
}

/** Every option of every command (plus --help), by long name. */
export function allOptions(): Map<string, OptionSpec> {
  const m = new Map<string, OptionSpec>([[HELP_OPT.name, HELP_OPT]]);
  for (const c of COMMANDS) for (const o of c.options) if (!m.has(o.name)) m.set(o.name, o);
  return m;
}

const indent = (s: string, n: number) => s.split("\n").join("\n" + " ".repeat(n));

/** `tensorshrink <command> --help`: usage, description and every option. */
export function commandHelp(c: CommandSpec): string {
  let s = `  ${c.usage}\n      ${indent(c.summary, 6)}\n`;
  if (c.name === "quantize") s += `      ${indent(ftypeHelp(), 6)}\n`;
  for (const o of c.options) {
    const head = `${o.short ? `${o.short}, ` : ""}${o.name}${o.value ? ` ${o.value}` : ""}`;
    s += head.length <= 22 ? `      ${head.padEnd(23)}${indent(o.help, 29)}\n` : `      ${head}\n${" ".repeat(29)}${indent(o.help, 29)}\n`;
  }
  if (c.name === "quantize") s += "      Ctrl-C / SIGTERM / SIGHUP / SIGQUIT stop the job and delete the partial output (exit 128 + the\n      signal number: 130, 143, 129, 131); a second signal exits at once, also deleting it.\n";
  return s;
}

/** `tensorshrink --help`: every command with every option. */
export function globalHelp(): string {
  return `tensorshrink — compress LLM weights to GGUF in any JavaScript runtime\n\nUsage:\n${COMMANDS.map(commandHelp).join("")}  tensorshrink <command> --help   one command's options\n`;
}
