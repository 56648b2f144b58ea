/**
 * The `tensorshrink` command.
 *   tensorshrink quantize <input> <output.gguf> <FTYPE> [--imatrix F] [--threads N] [--rule P=T]... [--pure] [--keep-order] [--json]
 *   tensorshrink inspect <file> [--json]
 *   tensorshrink eval <base> <other> --text <file> [--backend engine|llama.cpp] [--save-logits F | --base-logits F] [--json]
 *   tensorshrink imatrix <model> --text <file> [-o out.gguf] [--ctx 512] [--chunks N] [--legacy]
 *   tensorshrink demo [--json]
 */
import { TensorshrinkError, isTensorshrinkError } from "../errors";
import { runQuantize, runInspect, runDemo } from "./commands";
import { runImatrix, runEvaluate } from "./calib";

const HELP = `tensorshrink — compress LLM weights to GGUF in any JavaScript runtime

Usage:
  tensorshrink demo [--json]
      Builds a small llama-shaped model in memory and quantizes it with several ftypes (no download).
  tensorshrink quantize <input> <output.gguf> <FTYPE> [options]
      input: a GGUF file, a llama2.c checkpoint (.bin, tokenizer.bin beside it or --tokenizer),
             or a Hugging Face directory (config.json + *.safetensors + tokenizer.json).
      FTYPE: F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K IQ4_NL
      --imatrix F       llama.cpp importance matrix (GGUF imatrix or legacy .dat)
      --threads N       worker threads (default: all cores)
      --rule P=T        tensors matching regex P get type T (or "skip"); first match wins; repeatable
      --tokenizer F     tokenizer.bin for a llama2.c checkpoint
      --pure            no per-tensor bumps: every quantizable tensor gets the base type
      --keep-order      keep the input's tensor order (default: llama-quantize's order, byte-identical files)
      --json            print one JSON document instead of the table
  tensorshrink inspect <file> [--json]
  tensorshrink eval <base> <other> --text <file> [options]
      perplexity ± error of both, KL divergence (mean, median, p99, max), top-1 agreement and Δp of other
      vs base, each document scored from a BOS (documents split on <|endoftext|>), on tensorshrink's own
      forward pass. Models: anything quantize takes (GGUF, llama2.c + --tokenizer, HF directory).
      --backend B       engine (default) or llama.cpp (node-llama-cpp, an optional peer dependency)
      --ctx N           window length in tokens (default min(training context, 2048))
      --save-logits F   also store the base run's log-probs in F (4 bytes x vocab per scored token)
      --base-logits F   score <other> against saved base log-probs: tensorshrink eval <other> --base-logits F --text T
      --kv-f16          round the KV cache to f16 as llama.cpp's default cache does
      --threads N, --json
  tensorshrink imatrix <model> --text <file> [options]
      llama-imatrix's importance matrix on tensorshrink's forward pass (chunks of --ctx tokens, BOS first)
      -o F              output (default imatrix.gguf; GGUF imatrix as current llama.cpp writes it)
      --ctx N           tokens per chunk (default 512)   --chunks N   at most N chunks
      --legacy          legacy .dat format (also chosen by an -o ending in .dat)
      --process-output  also collect output.weight   --kv-f16   f16 KV cache   --threads N, --json
`;

/** Parsed command line: positionals plus repeated/single options. */
export interface Args { _: string[]; opts: Map<string, string[]>; flags: Set<string> }

const WITH_VALUE = new Set(["--imatrix", "--threads", "--rule", "--text", "--tokenizer", "--ctx", "--ftypes", "--output", "--chunks", "--backend", "--save-logits", "--base-logits"]);
const FLAGS = new Set(["--json", "--pure", "--keep-order", "--help", "--legacy", "--process-output", "--kv-f16"]);

/** Parses argv (without node and script). Throws E_RANGE on a missing option value. */
export function parseArgs(argv: string[]): Args {
  const a: Args = { _: [], opts: new Map(), flags: new Set() };
  for (let i = 0; i < argv.length; i++) {
    const s = argv[i];
    if (s.startsWith("--")) {
      const eq = s.indexOf("=");
      const k = eq > 0 ? s.slice(0, eq) : s;
      if (WITH_VALUE.has(k)) {
        const v = eq > 0 ? s.slice(eq + 1) : argv[++i];
        if (v === undefined) throw new TensorshrinkError("E_RANGE", `option ${k} needs a value`);
        if (!a.opts.has(k)) a.opts.set(k, []);
        a.opts.get(k)!.push(v);
      } else if (FLAGS.has(k) && eq < 0) a.flags.add(k);
      else throw new TensorshrinkError("E_RANGE", `unknown option ${s} (see tensorshrink --help)`);
    } else if (s === "-h") a.flags.add("--help");
    else a._.push(s);
  }
  return a;
}

async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv.map((s) => (s === "-o" ? "--output" : s))); // -o F = --output F (imatrix)
  const cmd = args._.shift();
  if (!cmd || args.flags.has("--help") || cmd === "help") {
    process.stdout.write(HELP);
    return cmd || args.flags.has("--help") ? 0 : 2;
  }
  switch (cmd) {
    case "quantize": return runQuantize(args);
    case "inspect": return runInspect(args);
    case "demo": return runDemo(args);
    case "eval": return runEvaluate(args);
    case "imatrix": return runImatrix(args);
    default:
      process.stderr.write(`unknown command "${cmd}"\n\n${HELP}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (e) => {
    if (isTensorshrinkError(e)) {
      process.stderr.write(`tensorshrink: ${e.message}\n`);
      process.exitCode = e.code === "E_ABORTED" ? 130 : 1;
    } else {
      process.stderr.write(`tensorshrink: unexpected error: ${(e as Error)?.stack ?? e}\n`);
      process.exitCode = 1;
    }
  },
);
