// `tensorshrink tt`: argument handling and files (Node/Deno/Bun). The work lives in src/tt.
import { TensorshrinkError } from "../errors";
import { init } from "../engine/init";
import { openFileSink } from "../formats/source";
import { openModel } from "../model/open";
import { ttCompressTensor, writeRebuiltModel, writeTtFile } from "../tt/model";
import { tokenFrequencyOrder, type TtMode } from "../tt/embedding";
import { roundTtCores, ttStoredBytes, type TtCoreType } from "../tt/gguf";
import { decodeText } from "../eval/text";
import { Tokenizer } from "../tokenizer/tokenizer";
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
  const usage = "usage: tensorshrink tt <model> <out.tt.gguf> [--tensor token_embd.weight] (--eps 0.1 | --rank R) [--mode matrix|mps] [--d 3] [--row-dims 8x8x8] [--col-dims 8x8x4] [--round] [--rebuilt F] [--untie] [--calib F [--weight-power P] [--dense-rows K] [--permute]] [--core-type f32|f16|q8_0] [--json]";
  if (!input || !out || a._.length > 2) throw new TensorshrinkError("E_RANGE", usage);
  const eps = num(a, "--eps", (n) => Number.isFinite(n) && n > 0, "a finite number > 0");
  const maxRank = num(a, "--rank", (n) => Number.isInteger(n) && n >= 1, "an integer >= 1");
  if (eps === undefined && maxRank === undefined) throw new TensorshrinkError("E_RANGE", `give --eps (relative error bound) or --rank; ${usage}`);
  const mode = (one(a, "--mode") ?? "matrix") as TtMode;
  if (mode !== "matrix" && mode !== "mps") throw new TensorshrinkError("E_RANGE", `--mode must be matrix or mps, got "${mode}"`);
  const d = num(a, "--d", (n) => Number.isInteger(n) && n >= 2 && n <= 8, "an integer from 2 to 8");
  const power = num(a, "--weight-power", (n) => Number.isFinite(n) && n >= 0 && n <= 4, "a number from 0 to 4");
  const denseRows = num(a, "--dense-rows", (n) => Number.isInteger(n) && n >= 0, "an integer >= 0");
  const permute = a.flags.has("--permute"), calib = one(a, "--calib");
  if ((power !== undefined || denseRows || permute) && !calib) throw new TensorshrinkError("E_RANGE", "--weight-power, --dense-rows and --permute need --calib (a text to count tokens on)");
  const coreType = (one(a, "--core-type") ?? "f32") as TtCoreType;
  if (coreType !== "f32" && coreType !== "f16" && coreType !== "q8_0") throw new TensorshrinkError("E_RANGE", `--core-type must be f32, f16 or q8_0, got "${coreType}"`);
  const rebuilt = one(a, "--rebuilt") ?? rebuiltPath(out);
  if (rebuilt === out) throw new TensorshrinkError("E_RANGE", `--rebuilt must differ from the TT output ${out}`);
  const engine = await init({ threads: num(a, "--threads", (n) => Number.isInteger(n) && n >= 1 && n <= 256, "an integer from 1 to 256") });
  const src = await openModel(input, engine, { tokenizer: one(a, "--tokenizer") });
  try {
    const t0 = Date.now();
    let freq: { rowWeights?: Float64Array; order?: Int32Array } = {};
    if (calib) {
      const fs = await import("node:fs/promises");
      let text: string;
      try { text = decodeText(new Uint8Array(await fs.readFile(calib)), calib); } catch (e) {
        if (e instanceof TensorshrinkError) throw e;
        throw new TensorshrinkError("E_IO", `cannot read --calib ${calib}: ${(e as Error).message}`, { file: calib });
      }
      const tok = Tokenizer.fromGguf({ kv: new Map(src.metadata.map((kv) => [kv.key, kv])) });
      const t = src.tensors.find((x) => x.name === (one(a, "--tensor") ?? "token_embd.weight"));
      const fr = tokenFrequencyOrder(tok.encode(text, { addBos: true }), t?.ne[1] ?? tok.nVocab);
      freq = { rowWeights: power !== undefined ? fr.weights(power, 1) : undefined, order: denseRows || permute ? fr.order : undefined };
    }
    const r0 = await ttCompressTensor(engine, src, {
      tensor: one(a, "--tensor"), eps, maxRank, mode, d, rowDims: dimsOpt(a, "--row-dims"), colDims: dimsOpt(a, "--col-dims"), round: a.flags.has("--round"),
      ...freq, denseRows, permute,
    });
    // the rebuilt model uses exactly the values the TT file gives back (f16 / q8_0 cores rounded)
    const stored = roundTtCores(engine, r0.tt, coreType, engine);
    const r = stored === r0.tt ? r0 : { ...r0, tt: stored, relError: stored.relError(r0.original) };
    const inputs = [...(src.files ?? [input]), ...(calib ? [calib] : [])];
    const ttBytes = await writeTtFile(await openFileSink(out, { inputs }), src, r, { eps, maxRank, coreType, codec: engine });
    const modelBytes = await writeRebuiltModel(await openFileSink(rebuilt, { inputs: [...inputs, out] }), src, r, { untie: a.flags.has("--untie") });
    const p = r.tt.parts;
    const rep = {
      tt: out, rebuilt, tensor: r.tensor, mode, rows: p.rows, cols: p.cols, rowDims: p.rowDims, colDims: p.colDims,
      ranks: mode === "matrix" ? Array.from(p.ranks) : undefined, maxRank: r.tt.maxRank, params: r.params,
      compression: r.compression, relError: r.relError, coreType, denseRows: p.denseRows ?? 0, storedBytes: ttStoredBytes(r.tt, coreType), byteRatio: (4 * p.rows * p.cols) / ttStoredBytes(r.tt, coreType),
      ttBytes, modelBytes, seconds: (Date.now() - t0) / 1000,
    };
    process.stdout.write(a.flags.has("--json") ? JSON.stringify(rep, null, 1) + "\n" :
      `${out}: ${r.tensor} [${p.rows}, ${p.cols}] as a TT-${mode} (digits ${mode === "matrix" ? `[${p.rowDims.join("x")}] x ` : ""}[${p.colDims.join("x")}], ` +
      `${mode === "matrix" ? `ranks ${Array.from(p.ranks).join(",")}` : `max rank ${r.tt.maxRank}`}${p.denseRows ? `, ${p.denseRows} dense rows` : ""}): ${r.params} values, compression ${r.compression.toFixed(2)}x (values), ` +
      `${ttStoredBytes(r.tt, coreType)} payload bytes in ${coreType} = ${((4 * p.rows * p.cols) / ttStoredBytes(r.tt, coreType)).toFixed(2)}x fewer than f32, ` +
      `relative error ${r.relError.toPrecision(4)}; ${ttBytes} bytes\n${rebuilt}: the model with ${r.tensor} rebuilt from the cores, ${modelBytes} bytes\n`);
    return 0;
  } finally {
    await src.close?.();
    engine.dispose();
  }
}
