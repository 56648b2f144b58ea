/**
 * llama2.c checkpoint + tokenizer.bin → a llama model plan (no q/k permutation: llama2.c already
 * rotates adjacent pairs, like llama.cpp's NORM rope), and the llama2.c model source of the
 * quantization pipeline (finding the tokenizer beside the checkpoint).
 */
import { nodeBuiltin } from "../engine/node-builtin";
import { TensorshrinkError } from "../errors";
import { readLlama2cCheckpoint, readLlama2cTokenizer, type Llama2cTensor } from "../formats/llama2c";
import { closingOnError, openSource, type SourceInput } from "../formats/source";
import { vocabFromLlama2c } from "./vocab";
import { checkLlamaTensors, checkLlamaVocab } from "./validate";
import { planAsModelSource, planShapeParams, type ModelPlan, type ModelTensor, type PlanModelSource, type PlanOptions } from "./plan";

function plainTensor(name: string, rows: number, cols: number, vector: boolean, dtype: string, readRows: (s: number, c: number) => Promise<Float32Array>, readRawRows: (s: number, c: number) => Promise<Uint8Array>): ModelTensor {
  // vectors (norm weights) are stored as a single row [1, n] and written 1-D
  if (vector && rows !== 1) throw new TensorshrinkError("E_SHAPE", `${name}: a vector must be one row, got ${rows}`, { tensor: name });
  const t: ModelTensor = {
    name, ne: vector ? [cols] : [cols, rows], sourceDtype: dtype, type: dtype.toLowerCase(), rowLength: cols, rows,
    readRows, readRawRows,
    read: () => readRows(0, rows),
  };
  return t;
}

/**
 * Plan a llama2.c checkpoint + tokenizer.bin as a llama GGUF (no q/k permutation).
 * `output.weight` is included only when the checkpoint has a separate classifier.
 * @throws TensorshrinkError from the readers (E_FORMAT / E_TRUNCATED).
 */
export async function llamaFromLlama2c(checkpoint: SourceInput, tokenizer: SourceInput, opts: PlanOptions = {}): Promise<ModelPlan> {
  const src = await openSource(checkpoint);
  const tsrc = await closingOnError(src, () => openSource(tokenizer));
  try {
    const ck = await readLlama2cCheckpoint(src);
    const tok = await readLlama2cTokenizer(tsrc, ck.config.vocabSize);
    await tsrc.close?.();
    const c = ck.config;
    const m = (gname: string, t: Llama2cTensor, vector = false) =>
      plainTensor(gname, t.shape[0], t.shape[1], vector, "F32", (s, n) => t.readRows(s, n), (s, n) => src.read(t.offset + s * t.shape[1] * 4, n * t.shape[1] * 4));
    const tensors: ModelTensor[] = [m("token_embd.weight", ck.get("token_embedding_table"))];
    for (let l = 0; l < c.nLayers; l++) {
      tensors.push(
        m(`blk.${l}.attn_norm.weight`, ck.get("rms_att_weight", l), true),
        m(`blk.${l}.attn_q.weight`, ck.get("wq", l)),
        m(`blk.${l}.attn_k.weight`, ck.get("wk", l)),
        m(`blk.${l}.attn_v.weight`, ck.get("wv", l)),
        m(`blk.${l}.attn_output.weight`, ck.get("wo", l)),
        m(`blk.${l}.ffn_norm.weight`, ck.get("rms_ffn_weight", l), true),
        m(`blk.${l}.ffn_gate.weight`, ck.get("w1", l)),
        m(`blk.${l}.ffn_down.weight`, ck.get("w2", l)),
        m(`blk.${l}.ffn_up.weight`, ck.get("w3", l)),
      );
    }
    tensors.push(m("output_norm.weight", ck.get("rms_final_weight"), true));
    if (!c.sharedClassifier) tensors.push(m("output.weight", ck.get("wcls")));
    const base = src.name.split(/[\\/]/).pop()!.replace(/\.bin$/i, "");
    const plan: ModelPlan = {
      arch: "llama",
      name: opts.name ?? base,
      hparams: {
        contextLength: c.seqLen, embeddingLength: c.dim, blockCount: c.nLayers, feedForwardLength: c.hiddenDim,
        headCount: c.nHeads, headCountKv: c.nKvHeads, ropeDimensionCount: c.dim / c.nHeads, ropeFreqBase: 10000,
        rmsEps: 1e-5, vocabSize: c.vocabSize,
      },
      vocab: vocabFromLlama2c(tok),
      tensors,
      files: [src.path, tsrc.path].filter((x): x is string => !!x),
      close: async () => { await src.close?.(); },
    };
    checkLlamaTensors(planShapeParams(plan), plan.tensors, src.name);
    checkLlamaVocab(plan.vocab, tsrc.name);
    return plan;
  } catch (e) {
    await src.close?.();
    await tsrc.close?.();
    throw e;
  }
}

/**
 * Open a llama2.c checkpoint as a model source. Without `tokenizer`, looks beside the checkpoint for
 * `tokenizer.bin`, then a single `tok*.bin` (Node/Deno/Bun).
 * @throws TensorshrinkError `E_IO` when no tokenizer is found.
 */
export async function openLlama2cModel(path: string, tokenizer?: string): Promise<PlanModelSource> {
  let tok = tokenizer;
  if (!tok) {
    const fs = await nodeBuiltin("node:fs/promises");
    const p = await nodeBuiltin("node:path");
    const dir = p.dirname(p.resolve(path));
    let names: string[];
    try { names = await fs.readdir(dir); } catch (e) { throw new TensorshrinkError("E_IO", `cannot list ${dir} to find the tokenizer of ${path}: ${(e as Error).message}`, { file: path }); }
    const cands = names.includes("tokenizer.bin") ? ["tokenizer.bin"] : names.filter((n) => /^tok.*\.bin$/i.test(n) && p.join(dir, n) !== p.resolve(path));
    if (cands.length !== 1) {
      throw new TensorshrinkError("E_IO", `${path}: need the llama2.c tokenizer: found ${cands.length ? cands.join(", ") : "no tokenizer.bin / tok*.bin"} beside it; pass --tokenizer`, { file: path });
    }
    tok = p.join(dir, cands[0]!);
  }
  return planAsModelSource(await llamaFromLlama2c(path, tok!));
}
