/**
 * The `tensorshrink` command.
 *   tensorshrink quantize <input> <output.gguf> <FTYPE> [--imatrix F] [--threads N] [--rule P=T]... [--pure] [--keep-order] [--json]
 *   tensorshrink inspect <file> [--json]
 *   tensorshrink eval <base.gguf> <other.gguf> --text <file> [--threads N] [--json]
 *   tensorshrink demo [--json]
 *   tensorshrink teacher <model> --text F -o F [--top-k K] [--ctx N] [--threads N] [--json]
 */
import { TensorshrinkError, isTensorshrinkError } from "../errors";
import { runQuantize, runInspect, runDemo, runEval } from "./commands";
import { runTeacher } from "./teacher";

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
  tensorshrink eval <base.gguf> <other.gguf> --text <file> [--threads N] [--ctx N] [--json]
      perplexity of both, mean KL divergence and top-1 agreement of other vs base (llama.cpp via node-llama-cpp)
  tensorshrink teacher <model> --text <file> -o <out.tskd> [--top-k 32] [--ctx N] [--threads N] [--tokenizer F] [--json]
      runs the engine's forward pass over the text (windows of --ctx tokens, default 512) and records every
      position's top-k next-token log-probs + the log of the remaining mass (teacher file, README "Distillation losses")
`;

/** Parsed command line: positionals plus repeated/single options. */
export interface Args { _: string[]; opts: Map<string, string[]>; flags: Set<string> }

const WITH_VALUE = new Set(["--imatrix", "--threads", "--rule", "--text", "--tokenizer", "--ctx", "--ftypes", "--top-k", "--output", "-o"]);
const FLAGS = new Set(["--json", "--pure", "--keep-order", "--help"]);

/** Parses argv (without node and script). Throws E_RANGE on a missing option value. */
export function parseArgs(argv: string[]): Args {
  const a: Args = { _: [], opts: new Map(), flags: new Set() };
  for (let i = 0; i < argv.length; i++) {
    const s = argv[i];
    if (s.startsWith("--") || s === "-o") {
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
  const args = parseArgs(argv);
  const cmd = args._.shift();
  if (!cmd || args.flags.has("--help") || cmd === "help") {
    process.stdout.write(HELP);
    return cmd || args.flags.has("--help") ? 0 : 2;
  }
  switch (cmd) {
    case "quantize": return runQuantize(args);
    case "inspect": return runInspect(args);
    case "demo": return runDemo(args);
    case "eval": return runEval(args);
    case "teacher": return runTeacher(args);
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
