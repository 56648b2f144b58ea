// `tensorshrink eora` and `tensorshrink lowrank`: argument handling and files (Node/Deno/Bun). The work lives in src/lowrank.
import { TensorshrinkError } from "../errors";
import { init } from "../engine/init";
import { openFileSink } from "../formats/source";
import { openModel } from "../model/open";
import { decodeText } from "../eval/text";
import { hparamsFromMetadata } from "../model/source";
import { ggufGet } from "../formats/gguf";
import { calibrateModel, compressModelLowRank, eoraModel } from "../lowrank/model";
import { writeGgufLora, encodePeftAdapter, encodeLowRankFactors, type AdapterTensorType } from "../lowrank/adapter";
import type { LowRankMethod } from "../lowrank/factor";
import type { Args } from "./main";

const one = (a: Args, k: string) => a.opts.get(k)?.at(-1);

async function readText(file: string): Promise<string> {
  const fs = await import("node:fs/promises");
  try { return decodeText(new Uint8Array(await fs.readFile(file)), file); } catch (e) {
    if (e instanceof TensorshrinkError) throw e;
    throw new TensorshrinkError("E_IO", `cannot read --calib ${file}: ${(e as Error).message}`, { file });
  }
}

function num(a: Args, k: string, ok: (n: number) => boolean, what: string): number | undefined {
  const t = one(a, k);
  if (t === undefined) return undefined;
  const n = Number(t);
  if (!ok(n)) throw new TensorshrinkError("E_RANGE", `${k} must be ${what}, got "${t}"`);
  return n;
}

export { adapterTypeOpt } from "./adapter-type";
import { adapterTypeOpt } from "./adapter-type";

/** `tensorshrink eora <base> <quantized.gguf> --calib text.txt --rank 32 -o adapter.gguf [--peft dir] [--chunks N] [--ctx N]` */
export async function runEora(a: Args): Promise<number> {
  const [basePath, quantPath] = a._;
  const calib = one(a, "--calib"), out = one(a, "--output");
  if (!basePath || !quantPath || !calib || !out) throw new TensorshrinkError("E_RANGE", "usage: tensorshrink eora <base> <quantized.gguf> --calib text.txt --rank 32 -o adapter.gguf [--peft dir] [--chunks 64] [--ctx 128] [--threads N] [--tokenizer F]");
  const rank = num(a, "--rank", (n) => Number.isInteger(n) && n >= 1, "a positive integer") ?? 32;
  const adapterType = adapterTypeOpt(a);
  const chunks = num(a, "--chunks", (n) => Number.isInteger(n) && n >= 1, "a positive integer");
  const ctx = num(a, "--ctx", (n) => Number.isInteger(n) && n >= 1, "a positive integer");
  const engine = await init({ threads: num(a, "--threads", (n) => Number.isInteger(n) && n >= 1 && n <= 256, "an integer from 1 to 256") });
  const base = await openModel(basePath, engine, { tokenizer: one(a, "--tokenizer") });
  let quant;
  try {
    quant = await openModel(quantPath, engine);
    const stats = await calibrateModel(engine, base, await readText(calib), { ctx, chunks, gram: "all" });
    const { layers, report } = await eoraModel(engine, base, quant, stats, { rank });
    const arch = String(ggufGet({ kv: new Map(quant.metadata.map((kv) => [kv.key, kv])) }, "general.architecture") ?? "llama");
    const bytes = await writeGgufLora(await openFileSink(out, { inputs: [basePath, quantPath, calib] }), layers, { architecture: arch, base: quant.tensors, tensorType: adapterType, quantizer: engine });
    const peft = one(a, "--peft");
    if (peft) {
      const fs = await import("node:fs/promises"), p = await import("node:path");
      const hp = hparamsFromMetadata(base.metadata);
      const { safetensors, config } = encodePeftAdapter(layers, { baseModel: basePath, nHead: hp.nHead, nHeadKv: hp.nHeadKv });
      await fs.mkdir(peft, { recursive: true });
      for (const [name, data] of [["adapter_model.safetensors", safetensors], ["adapter_config.json", new TextEncoder().encode(config)]] as const) {
        const s = await openFileSink(p.join(peft, name));
        try { await s.write(data); await s.commit(); } catch (e) { await s.abort(e); throw e; }
      }
    }
    let before = 0, after = 0;
    for (const r of report) { before += r.outputErrorBefore ** 2; after += r.outputErrorAfter ** 2; }
    const rep = { output: out, bytes, rank, adapterType, tensors: report.length, outputErrorShareLeft: Math.sqrt(after / before), peft: peft ?? null };
    process.stdout.write(a.flags.has("--json") ? JSON.stringify(rep, null, 1) + "\n" : `${out}: EoRA rank ${rank} on ${report.length} tensors, ${bytes} bytes (${adapterType}); calibration output error left ${(100 * rep.outputErrorShareLeft).toFixed(1)} %${peft ? `; PEFT adapter in ${peft}` : ""}\n`);
    return 0;
  } finally {
    await quant?.close?.();
    await base.close?.();
    engine.dispose();
  }
}

/** `tensorshrink lowrank <model> -o out.gguf [--method svd|asvd|svdllm] (--ratio 0.8 | --rank R) [--calib F] [--factors F.safetensors]` */
export async function runLowrank(a: Args): Promise<number> {
  const [input] = a._;
  const out = one(a, "--output");
  const usage = "usage: tensorshrink lowrank <model> -o out.gguf [--method svd|asvd|svdllm] (--ratio 0.8 | --rank R) [--calib F] [--factors F.safetensors] [--chunks N] [--threads N]";
  if (!input || !out) throw new TensorshrinkError("E_RANGE", usage);
  const method = (one(a, "--method") ?? "svd") as LowRankMethod;
  if (!["svd", "asvd", "svdllm"].includes(method)) throw new TensorshrinkError("E_RANGE", `--method must be svd, asvd or svdllm, got "${method}"`);
  const ratio = num(a, "--ratio", (n) => n > 0 && n <= 1, "in (0, 1]");
  const rank = num(a, "--rank", (n) => Number.isInteger(n) && n >= 1, "a positive integer");
  const calib = one(a, "--calib");
  if (method !== "svd" && !calib) throw new TensorshrinkError("E_RANGE", `--method ${method} needs --calib text`);
  const engine = await init({ threads: num(a, "--threads", (n) => Number.isInteger(n) && n >= 1 && n <= 256, "an integer from 1 to 256") });
  const src = await openModel(input, engine, { tokenizer: one(a, "--tokenizer") });
  try {
    const stats = calib ? await calibrateModel(engine, src, await readText(calib), { chunks: num(a, "--chunks", (n) => Number.isInteger(n) && n >= 1, "a positive integer"), gram: method === "svdllm" ? "all" : [] }) : undefined;
    const r = await compressModelLowRank(engine, src, await openFileSink(out, { inputs: [...(src.files ?? [input])] }), { method, ratio: ratio ?? (rank === undefined ? 0.8 : undefined), rank, stats });
    const fac = one(a, "--factors");
    if (fac) {
      const s = await openFileSink(fac, { inputs: [input, out] });
      try { await s.write(encodeLowRankFactors(r.layers, { method })); await s.commit(); } catch (e) { await s.abort(e); throw e; }
    }
    process.stdout.write(`${out}: ${method}, ${r.report.length} tensors, linear parameters ${r.paramsBefore} → ${r.paramsAfter} (${(100 * r.paramsAfter / r.paramsBefore).toFixed(1)} %)${fac ? `; factors in ${fac}` : ""}\n`);
    return 0;
  } finally {
    await src.close?.();
    engine.dispose();
  }
}
