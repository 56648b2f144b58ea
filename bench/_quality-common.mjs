// The kjv3M setup the quality benches share (quality.mjs, quality-search.mjs, tt.mjs, tt-freq.mjs, lowrank.mjs):
// kjv3M (../shared/models/kjv3M) converted to an F32 GGUF (cached in the caller's directory), its tokenizer, calib.txt
// (text and BOS-first tokens), the first eval.txt documents, the imatrix over calib.txt (ctx 128, as `tensorshrink
// imatrix --ctx 128`; cached), the llama.cpp judge at context 128, and the command-line reader. src/ is imported
// lazily so a `--md-only` run loads none of it.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
/** ../shared/models/kjv3M beside the checkout. */
export const K = path.resolve(ROOT, "../shared/models/kjv3M");

/** The value after `--name` on the command line, or `dflt`. */
export const arg = (k, dflt) => { const i = process.argv.indexOf(k); return i > 0 ? process.argv[i + 1] : dflt; };

/** Exits (status 0, saying so) when ../shared/models/kjv3M/kjv3M.bin is absent. */
export function skipWithoutKjv3M() {
  if (!existsSync(path.join(K, "kjv3M.bin"))) { console.log(`SKIP: ${K}/kjv3M.bin not found`); process.exit(0); }
}

/**
 * The engine (`threads` workers), kjv3M as `<tmp>/kjv3M-f32.gguf` (converted once), its tokenizer, calib.txt's
 * text and tokens (a BOS first, the trailing newline dropped), eval.txt's first `nDocs` documents and, when `imatrix`,
 * the imatrix of `imChunks` chunks of 128 calib tokens (`<tmp>/imatrix-<imChunks>.gguf`, computed once).
 * `decode`: how calib.txt and eval.txt become text: "utf8" (default; Node's UTF-8 reader, as quality*.mjs) or
 * "strict" (`decodeText`: invalid UTF-8 is an error, a BOM is dropped; as tt*.mjs and lowrank.mjs). Same text for
 * the shipped files.
 */
export async function kjv3MSetup({ tmp, threads, nDocs, imChunks, imatrix, decode = "utf8" }) {
  const { init, quantizeModel, openFileSink, collectStats, LlamaModel, Tokenizer, splitDocuments, readGguf, openFileSource, readImatrix, decodeText } = await import("../src/index.ts");
  const { openModel } = await import("../src/model/open.ts");
  mkdirSync(tmp, { recursive: true });
  const engine = await init({ threads });
  const f32 = path.join(tmp, "kjv3M-f32.gguf");
  if (!existsSync(f32)) { const src = await openModel(path.join(K, "kjv3M.bin"), engine, { tokenizer: path.join(K, "tok512.bin") }); await quantizeModel(engine, src, await openFileSink(f32), { ftype: "F32" }); await src.close?.(); }
  const gs = await openFileSource(f32);
  const tok = Tokenizer.fromGguf(await readGguf(gs));
  await gs.close?.();
  const read = (name) => (decode === "strict" ? decodeText(readFileSync(path.join(K, name))) : readFileSync(path.join(K, name), "utf8"));
  const calibText = read("calib.txt");
  const calibTokens = tok.encode(calibText.endsWith("\n") ? calibText.slice(0, -1) : calibText, { addBos: true });
  const docs = splitDocuments(read("eval.txt")).slice(0, nDocs);
  const imFile = path.join(tmp, `imatrix-${imChunks}.gguf`);
  const readIm = async () => { const s = await openFileSource(imFile); try { return await readImatrix(s); } finally { await s.close?.(); } };
  const im = !imatrix ? null : existsSync(imFile) ? await readIm() : await (async () => {
    const m = await LlamaModel.open(engine, f32, { nCtx: 128, kvF16: true });
    const s = await collectStats(engine, m, calibTokens, { ctx: 128, chunks: imChunks, dataset: "calib.txt" });
    m.dispose();
    writeFileSync(imFile, s.encodeImatrix("gguf"));
    return s.toImatrix();
  })();
  return { engine, f32, tok, calibText, calibTokens, docs, im, openModel };
}

/**
 * The llama.cpp judge of tt.mjs, tt-freq.mjs and lowrank.mjs: `judge(file, lora?)` scores `file` (with the GGUF
 * LoRA adapter `lora` if given) against `f32` on `docs` (`evaluateGguf`: every document from a BOS, context
 * `contextSize`, `threads` llama.cpp threads) and returns { ppl, kld (mean, nats), top1 (fraction), tokens, pplF32 }.
 */
export async function kjv3MJudge(f32, docs, { threads, contextSize = 128 }) {
  const { evaluateGguf } = await import("../src/eval/llama.ts");
  return async (file, lora) => {
    const r = await evaluateGguf(f32, file, docs, { threads, contextSize, otherLora: lora });
    return { ppl: r.other.perplexity, kld: r.kl.mean, top1: r.top1Agreement, tokens: r.base.tokens, pplF32: r.base.perplexity };
  };
}
