/**
 * The `tensorshrink` command.
 *   tensorshrink quantize <input> <output.gguf> <FTYPE> [--imatrix F] [--threads N] [--rule P=T]... [--pure] [--keep-order] [--json]
 *   tensorshrink inspect <file> [--json]
 *   tensorshrink eval <base> <other> --text <file> [--backend engine|llama.cpp] [--save-logits F | --base-logits F] [--json]
 *   tensorshrink imatrix <model> --text <file> [-o out.gguf] [--ctx 512] [--chunks N] [--legacy]
 *   tensorshrink demo [--json]
 *   tensorshrink teacher <model> --text F -o F [--top-k K] [--ctx N] [--threads N] [--json]
 *   tensorshrink web [--port N]
 */
import { TensorshrinkError, isTensorshrinkError } from "../errors";
import { safeText } from "./escape";
import { allOptions, commandSpec, globalHelp, commandHelp } from "./options";

/**
 * Each command's module is imported when that command runs (the package build splits the CLI into
 * chunks, scripts/build.mjs): `tensorshrink quantize` compiles and initializes only the quantize
 * path, not the tokenizer, evaluation, pruning, low-rank, teacher or web server modules (./more).
 */
const COMMANDS: Record<string, (a: Args) => Promise<number>> = {
  quantize: async (a) => (a.opts.has("--prune") ? (await import("./more")).runPrune({ ...a, _: a._.slice(0, 2) }, { ftype: a._[2] ?? "" }) : (await import("./commands")).runQuantize(a)),
  prune: async (a) => (await import("./more")).runPrune(a),
  inspect: async (a) => (await import("./commands")).runInspect(a),
  demo: async (a) => (await import("./commands")).runDemo(a),
  eval: async (a) => (await import("./more")).runEvaluate(a),
  imatrix: async (a) => (await import("./more")).runImatrix(a),
  teacher: async (a) => (await import("./more")).runTeacher(a),
  web: async (a) => (await import("./more")).runWeb(a),
  eora: async (a) => (await import("./more")).runEora(a),
  lowrank: async (a) => (await import("./more")).runLowrank(a),
  tt: async (a) => (await import("./more")).runTt(a),
};

/** Parsed command line: positionals plus repeated/single options. */
export interface Args { _: string[]; opts: Map<string, string[]>; flags: Set<string> }

// Options outside the tables in options.ts (COMMANDS) still parse when listed here.
const WITH_VALUE = new Set(["--imatrix", "--threads", "--rule", "--text", "--tokenizer", "--ctx", "--ftypes", "--output", "--chunks", "--backend", "--save-logits", "--base-logits", "--top-k", "--port", "--calib", "--rank", "--peft", "--method", "--ratio", "--factors", "--calib-tokens", "--sparsity", "--nm", "--keep", "--mask-out", "--prune", "--eval", "--ftype", "--ffn", "--heads", "--layers"]);
const FLAGS = new Set(["--json", "--pure", "--keep-order", "--help", "--allow-nonfinite", "--legacy", "--process-output", "--kv-f16"]);

/** Single-dash aliases: -t N is --threads N, -o F is --output F, -h is --help. */
const SHORT = new Map<string, string>([["-t", "--threads"], ["-h", "--help"], ["-o", "--output"]]);
// every option of every command's table (options.ts): valued ones take a value, the rest are flags
for (const o of allOptions().values()) {
  (o.value ? WITH_VALUE : FLAGS).add(o.name);
  if (o.short && !SHORT.has(o.short)) SHORT.set(o.short, o.name);
}

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
  const spec = cmd ? commandSpec(cmd === "help" ? args._[0] ?? "" : cmd) : undefined;
  if (spec && (args.flags.has("--help") || cmd === "help")) {
    process.stdout.write(`Usage:\n${commandHelp(spec)}`);
    return 0;
  }
  if (!cmd || args.flags.has("--help") || cmd === "help") {
    process.stdout.write(globalHelp());
    return cmd || args.flags.has("--help") ? 0 : 2;
  }
  const run = Object.hasOwn(COMMANDS, cmd) ? COMMANDS[cmd] : undefined;
  if (!run) {
    process.stderr.write(`unknown command "${safeText(cmd)}"\n\n${globalHelp()}`);
    return 2;
  }
  return run(args);
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (e) => {
    if (isTensorshrinkError(e)) {
      // the code once, in front: wrapped errors' own "E_XXX: " prefixes are dropped from the text
      const msg = e.message.replace(/\bE_[A-Z0-9_]+: /g, "");
      process.stderr.write(`tensorshrink: ${e.code}: ${safeText(msg)}\n`);
      // interrupted by a signal: 128 + its number (SIGINT 130, SIGTERM 143, SIGHUP 129, SIGQUIT 131)
      const sigExit = e.details.exitCode;
      process.exitCode = e.code === "E_ABORTED" ? (typeof sigExit === "number" ? sigExit : 130) : 1;
    } else {
      process.stderr.write(`tensorshrink: unexpected error: ${safeText(String((e as Error)?.stack ?? e), true)}\n`);
      process.exitCode = 1;
    }
  },
);
