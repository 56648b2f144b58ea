// `tensorshrink teacher <model> --text F --top-k K -o F [--ctx N] [--threads N] [--tokenizer F] [--json]`
import { TensorshrinkError } from "../errors";
import { intOption, threadsOf, positionals } from "./commands";
import { init } from "../engine/init";
import { openFileSink } from "../formats/source";
import type { FileSink } from "../formats/sink";
import { guardSignals } from "./signals";
import { safeText } from "./escape";
import { openModel } from "../model/open";
import { LlamaModel } from "../nn/model";
import { llamaConfigFromMetadata } from "../nn/config";
import { Tokenizer } from "../tokenizer/tokenizer";
import { TeacherFileWriter } from "../distill/teacher-file";
import { recordTeacher } from "../distill/record";
import { modelFingerprints } from "../distill/fingerprint";
import type { Args } from "./main";

const one = (a: Args, k: string) => a.opts.get(k)?.at(-1);
// Numeric options: plain decimal integers only, as every command (see commands.ts).
const int = intOption;

/** Records the model's top-k next-token log-probs over a text into a teacher file (temp file + rename). */
export async function runTeacher(a: Args): Promise<number> {
  const [input] = positionals(a, 1, "usage: tensorshrink teacher <model> --text <file> -o <out.tskd> [options]");
  const textPath = one(a, "--text"), out = one(a, "-o") ?? one(a, "--output");
  if (!input || !textPath || !out) throw new TensorshrinkError("E_RANGE", "usage: tensorshrink teacher <model> --text <file> -o <out.tskd> [--top-k 32] [--ctx N] [--threads N] [--json]");
  const fs = await import("node:fs/promises");
  const path = await import("node:path");
  let text: string;
  try { text = await fs.readFile(textPath, "utf8"); } catch (e) {
    throw new TensorshrinkError("E_IO", `cannot read --text ${textPath}: ${(e as Error).message}`, { file: textPath });
  }
  // signals (src/cli/signals.ts): the handlers go in first and stay until exit; the sink is tracked
  return guardSignals(async (sig) => {
    const engine = await init({ threads: await threadsOf(a) });
    let source: Awaited<ReturnType<typeof openModel>> | null = null;
    const json = a.flags.has("--json"), tty = !!process.stderr.isTTY && !json;
    let model: LlamaModel | null = null;
    let sink: FileSink | null = null;
    let writer: TeacherFileWriter | null = null;
    try {
      source = await openModel(input, engine, { tokenizer: one(a, "--tokenizer") });
      const ctxArg = int(a, "--ctx", 2, 1 << 20);
      // the KV cache holds one window: --ctx, default min(512, the model's training context)
      const ctx = ctxArg ?? Math.min(512, llamaConfigFromMetadata(source.metadata, source.tensors).nCtxTrain);
      model = await LlamaModel.open(engine, source, { nCtx: ctx });
      const cfg = model.config;
      const k = int(a, "--top-k", 1, cfg.nVocab) ?? Math.min(32, cfg.nVocab);
      const tok = Tokenizer.fromGguf({ kv: new Map(source.metadata.map((kv) => [kv.key, kv])) });
      const tokens = tok.encode(text, { addBos: false });
      if (tokens.length === 0) throw new TensorshrinkError("E_RANGE", `--text ${textPath} has no tokens`);
      const fp = await modelFingerprints(source);
      sink = sig.track(await openFileSink(out, { inputs: [input, textPath, one(a, "--tokenizer")] }));
      if (!json) process.stderr.write(`tensorshrink: teacher: ${tokens.length} tokens of ${safeText(textPath)}, windows of <= ${ctx}, top-${k} of ${cfg.nVocab} -> ${safeText(out)}\n`);
      writer = await TeacherFileWriter.create(sink, {
        nVocab: cfg.nVocab, k, modelFingerprint: fp.model, tokenizerFingerprint: fp.tokenizer,
        meta: { model: path.basename(input), name: source.name, text: path.basename(textPath), ctx, bos: cfg.addBos, textTokens: tokens.length, temperature: 1, tool: "tensorshrink teacher" },
      });
      let last = 0;
      const r = await recordTeacher(model, tokens, writer, {
        ctx, signal: sig.signal,
        onProgress: (p) => {
          if (!tty) return;
          const now = Date.now();
          if (now - last < 100 && p.done < p.total) return;
          last = now;
          const tps = p.done / Math.max(p.elapsedMs / 1000, 1e-3), eta = (p.total - p.done) / Math.max(tps, 1e-9);
          process.stderr.write(`\r${p.done}/${p.total} positions ${(100 * p.done / p.total).toFixed(0)}% ${tps.toFixed(0)} tok/s ETA ${eta.toFixed(0)}s`);
        },
      });
      if (tty) process.stderr.write("\r\x1b[K");
      const fin = await writer.finish();
      const report = { input, text: textPath, output: out, k, ctx, windows: r.windows, positions: fin.positions, bytes: fin.bytes, modelFingerprint: writer.header.modelFingerprint, tokenizerFingerprint: writer.header.tokenizerFingerprint };
      if (a.flags.has("--json")) process.stdout.write(JSON.stringify(report, null, 1) + "\n");
      else process.stdout.write(`${out}: ${fin.positions} positions (${r.windows} windows of <= ${ctx} tokens), top-${k} of ${cfg.nVocab}, ${fin.bytes} bytes\n`);
      return 0;
    } catch (e) {
      if (tty) process.stderr.write("\r\x1b[K");
      await (writer ?? sink)?.abort(e); // the sink alone when TeacherFileWriter.create failed
      throw e;
    } finally {
      model?.dispose();
      await source?.close?.();
      engine.dispose();
    }
  });
}
