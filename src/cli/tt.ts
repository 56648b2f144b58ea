// `tensorshrink tt`: argument handling and files (Node/Deno/Bun). The work lives in src/tt.
import { TensorshrinkError } from "../errors";
import { init } from "../engine/init";
import { openFileSink } from "../formats/source";
import { openModel } from "../model/open";
import { ttCompressTensor, writeRebuiltModel, writeTtFile } from "../tt/model";
import type { TtMode } from "../tt/embedding";
import type { Args } from "./main";

const one = (a: Args, k: string) => a.opts.get(k)?.at(-1);

function dimsOpt(a: Args, k: string): number[] | undefined {
  const t = one(a, k);
  if (t === undefined) return undefined;
  const ds = t.split(/[x,]/).map((s) => Number(s));
  if (!ds.length || ds.some((n) => !Number.isInteger(n) || n < 1)) throw new TensorshrinkError("E_RANGE", `${k} must be positive integers joined by x (e.g. 8x8x8), got "${t}"`);
  return ds;
}

function num(a: Args, k: string, ok: (n: number) => boolean, what: string): number | undefined {
  const t = one(a, k);
  if (t === undefined) return undefined;
  const n = Number(t);
  if (t.trim() === "" || !ok(n)) throw new TensorshrinkError("E_RANGE", `${k} must be ${what}, got "${t}"`);
  return n;
}

/** The rebuilt model's default path: `<out without .gguf>.rebuilt.gguf`. */
export const rebuiltPath = (out: string) => out.replace(/(\.tt)?\.gguf$/i, "") + ".rebuilt.gguf";

/** `tensorshrink tt <in> <out.tt.gguf> [--tensor T] (--eps E | --rank R) [--mode matrix|mps] [--d N] [--row-dims AxB] [--col-dims AxB] [--round] [--rebuilt F] [--untie]` */
export async function runTt(a: Args): Promise<number> {
  const [input, out] = a._;
  const usage = "usage: tensorshrink tt <model> <out.tt.gguf> [--tensor token_embd.weight] (--eps 0.1 | --rank R) [--mode matrix|mps] [--d 3] [--row-dims 8x8x8] [--col-dims 8x8x4] [--round] [--rebuilt F] [--untie] [--json]";
  if (!input || !out || a._.length > 2) throw new TensorshrinkError("E_RANGE", usage);
  const eps = num(a, "--eps", (n) => Number.isFinite(n) && n > 0, "a finite number > 0");
  const maxRank = num(a, "--rank", (n) => Number.isInteger(n) && n >= 1, "an integer >= 1");
  if (eps === undefined && maxRank === undefined) throw new TensorshrinkError("E_RANGE", `give --eps (relative error bound) or --rank; ${usage}`);
  const mode = (one(a, "--mode") ?? "matrix") as TtMode;
  if (mode !== "matrix" && mode !== "mps") throw new TensorshrinkError("E_RANGE", `--mode must be matrix or mps, got "${mode}"`);
  const d = num(a, "--d", (n) => Number.isInteger(n) && n >= 2 && n <= 8, "an integer from 2 to 8");
  const rebuilt = one(a, "--rebuilt") ?? rebuiltPath(out);
  if (rebuilt === out) throw new TensorshrinkError("E_RANGE", `--rebuilt must differ from the TT output ${out}`);
  const engine = await init({ threads: num(a, "--threads", (n) => Number.isInteger(n) && n >= 1 && n <= 256, "an integer from 1 to 256") });
  const src = await openModel(input, engine, { tokenizer: one(a, "--tokenizer") });
  try {
    const t0 = Date.now();
    const r = await ttCompressTensor(engine, src, {
      tensor: one(a, "--tensor"), eps, maxRank, mode, d, rowDims: dimsOpt(a, "--row-dims"), colDims: dimsOpt(a, "--col-dims"), round: a.flags.has("--round"),
    });
    const inputs = [...(src.files ?? [input])];
    const ttBytes = await writeTtFile(await openFileSink(out, { inputs }), src, r, { eps, maxRank });
    const modelBytes = await writeRebuiltModel(await openFileSink(rebuilt, { inputs: [...inputs, out] }), src, r, { untie: a.flags.has("--untie") });
    const p = r.tt.parts;
    const rep = {
      tt: out, rebuilt, tensor: r.tensor, mode, rows: p.rows, cols: p.cols, rowDims: p.rowDims, colDims: p.colDims,
      ranks: mode === "matrix" ? Array.from(p.ranks) : undefined, maxRank: r.tt.maxRank, params: r.params,
      compression: r.compression, relError: r.relError, ttBytes, modelBytes, seconds: (Date.now() - t0) / 1000,
    };
    process.stdout.write(a.flags.has("--json") ? JSON.stringify(rep, null, 1) + "\n" :
      `${out}: ${r.tensor} [${p.rows}, ${p.cols}] as a TT-${mode} (digits ${mode === "matrix" ? `[${p.rowDims.join("x")}] x ` : ""}[${p.colDims.join("x")}], ` +
      `${mode === "matrix" ? `ranks ${Array.from(p.ranks).join(",")}` : `max rank ${r.tt.maxRank}`}): ${r.params} values, compression ${r.compression.toFixed(2)}x, ` +
      `relative error ${r.relError.toPrecision(4)}; ${ttBytes} bytes\n${rebuilt}: the model with ${r.tensor} rebuilt from the cores, ${modelBytes} bytes\n`);
    return 0;
  } finally {
    await src.close?.();
    engine.dispose();
  }
}
