/**
 * The `tensorshrink` command.
 *   tensorshrink quantize <input> <output.gguf> <FTYPE> [--imatrix F] [--threads N] [--rule P=T]... [--pure] [--keep-order] [--json]
 *   tensorshrink inspect <file> [--json]
 *   tensorshrink eval <base> <other> --text <file> [--backend engine|llama.cpp] [--save-logits F | --base-logits F] [--json]
 *   tensorshrink imatrix <model> --text <file> [-o out.gguf] [--ctx 512] [--chunks N] [--legacy]
 *   tensorshrink demo [--json]
 *   tensorshrink teacher <model> --text F -o F [--top-k K] [--ctx N] [--threads N] [--json]
 */
import { TensorshrinkError, isTensorshrinkError } from "../errors";
import { runQuantize, runInspect, runDemo } from "./commands";
import { safeText } from "./escape";
import { runImatrix, runEvaluate } from "./calib";
import { runTeacher } from "./teacher";
import { FTYPES } from "../model/recipes";

/** The FTYPE list of the help text, from FTYPES, wrapped at ~100 columns. */
function ftypeLines(): string {
  const lines: string[] = [];
  let cur = "";
  for (const f of Object.keys(FTYPES)) {
    if (cur && cur.length + 1 + f.length > 82) { lines.push(cur); cur = ""; }
    cur = cur ? `${cur} ${f}` : f;
  }
  lines.push(cur);
  return lines.join("\n             ");
}

const HELP = `tensorshrink — compress LLM weights to GGUF in any JavaScript runtime

Usage:
  tensorshrink demo [--json]
      Builds a small llama-shaped model in memory and quantizes it with several ftypes (no download).
      --ftypes A,B,...  (default Q8_0,Q6_K,Q4_K_M,Q4_0); ftypes that need an imatrix are skipped with a note
  tensorshrink quantize <input> <output.gguf> <FTYPE> [options]
      input: a GGUF file, a llama2.c checkpoint (.bin, tokenizer.bin beside it or --tokenizer),
             or a Hugging Face directory (config.json + *.safetensors + tokenizer.json).
      FTYPE: ${ftypeLines()}
      --imatrix F       llama.cpp importance matrix (GGUF imatrix or legacy .dat); required (E_IMATRIX)
                        by IQ1_S IQ1_M IQ2_XXS IQ2_XS IQ2_S IQ2_M IQ3_XXS IQ3_XS Q2_K_S, as llama.cpp
      --threads N, -t N worker threads (default: all cores; a plain decimal integer >= 1, capped at
                        4 x the cores with a note on stderr)
      --rule P=T        tensors matching regex P get type T (or "skip"); first match wins; repeatable
      --tokenizer F     tokenizer.bin for a llama2.c checkpoint
      --pure            no per-tensor bumps: every quantizable tensor gets the base type
      --keep-order      keep the input's tensor order (default: llama-quantize's order, byte-identical files)
      --allow-nonfinite let NaN/Inf through into f32/f16/bf16 outputs and copies (default: refused, as
                        llama-quantize does; block types always refuse them)
      --json            print one JSON document instead of the table
      Ctrl-C / SIGTERM / SIGHUP / SIGQUIT stop the job and delete the partial output (exit 128 + the
      signal number: 130, 143, 129, 131); a second signal exits at once, also deleting it.
  tensorshrink inspect <file> [--json]
      control characters, C1 controls and bidi overrides in names and values are printed escaped (\x1b)
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
  tensorshrink teacher <model> --text <file> -o <out.tskd> [--top-k 32] [--ctx N] [--threads N] [--tokenizer F] [--json]
      runs the engine's forward pass over the text (windows of --ctx tokens, default 512) and records every
      position's top-k next-token log-probs + the log of the remaining mass (teacher file, README "Distillation losses")
`;

/** Parsed command line: positionals plus repeated/single options. */
export interface Args { _: string[]; opts: Map<string, string[]>; flags: Set<string> }

const WITH_VALUE = new Set(["--imatrix", "--threads", "--rule", "--text", "--tokenizer", "--ctx", "--ftypes", "--output", "--chunks", "--backend", "--save-logits", "--base-logits", "--top-k"]);
const FLAGS = new Set(["--json", "--pure", "--keep-order", "--help", "--allow-nonfinite", "--legacy", "--process-output", "--kv-f16"]);

/** Single-dash aliases: -t N is --threads N, -o F is --output F, -h is --help. */
const SHORT = new Map<string, string>([["-t", "--threads"], ["-h", "--help"], ["-o", "--output"]]);

/**
 * Parses argv (without node and script). Throws E_RANGE, naming it, on an unknown option (long or
 * single-dash) or a missing option value. `--` ends the options; a lone `-` is a positional.
 */
export function parseArgs(argv: string[]): Args {
  const a: Args = { _: [], opts: new Map(), flags: new Set() };
  let onlyPositionals = false;
  for (let i = 0; i < argv.length; i++) {
    const s = argv[i];
    if (onlyPositionals || s === "-" || !s.startsWith("-")) {
      a._.push(s);
      continue;
    }
    if (s === "--") {
      onlyPositionals = true;
      continue;
    }
    if (!s.startsWith("--")) {
      const long = SHORT.get(s);
      if (!long) throw new TensorshrinkError("E_RANGE", `unknown option ${safeText(s)} (see tensorshrink --help)`);
      if (FLAGS.has(long)) a.flags.add(long);
      else {
        const v = argv[++i];
        if (v === undefined) throw new TensorshrinkError("E_RANGE", `option ${s} needs a value`);
        if (!a.opts.has(long)) a.opts.set(long, []);
        a.opts.get(long)!.push(v);
      }
      continue;
    }
    {
      const eq = s.indexOf("=");
      const k = eq > 0 ? s.slice(0, eq) : s;
      if (WITH_VALUE.has(k)) {
        const v = eq > 0 ? s.slice(eq + 1) : argv[++i];
        if (v === undefined) throw new TensorshrinkError("E_RANGE", `option ${k} needs a value`);
        if (!a.opts.has(k)) a.opts.set(k, []);
        a.opts.get(k)!.push(v);
      } else if (FLAGS.has(k) && eq < 0) a.flags.add(k);
      else throw new TensorshrinkError("E_RANGE", `unknown option ${safeText(s)} (see tensorshrink --help)`);
    }
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
    case "teacher": return runTeacher(args);
    default:
      process.stderr.write(`unknown command "${safeText(cmd)}"\n\n${HELP}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (e) => {
    if (isTensorshrinkError(e)) {
      process.stderr.write(`tensorshrink: ${safeText(e.message)}\n`);
      // interrupted by a signal: 128 + its number (SIGINT 130, SIGTERM 143, SIGHUP 129, SIGQUIT 131)
      const sigExit = e.details.exitCode;
      process.exitCode = e.code === "E_ABORTED" ? (typeof sigExit === "number" ? sigExit : 130) : 1;
    } else {
      process.stderr.write(`tensorshrink: unexpected error: ${safeText(String((e as Error)?.stack ?? e), true)}\n`);
      process.exitCode = 1;
    }
  },
);
