/**
 * The web app's compression methods (used by its worker, src/web/worker.ts): what this build offers
 * (the engine's method registry BUILTIN_METHODS and the pruning methods PRUNE_METHODS, each with
 * whether it needs a calibration text), and a job's methods + calibration built from the page's
 * options exactly as the CLI builds them, so the page writes the CLI's bytes.
 */
import { TensorshrinkError } from "../errors";
import { BUILTIN_METHODS } from "../methods/pipeline";
import type { MethodNeeds, MethodSpec } from "../methods/types";
import type { ModelSource } from "../model/source";
import { PRUNE_METHODS, pruneMethod } from "../prune/methods";
import type { PruneMethod } from "../prune/methods";
import { Tokenizer } from "../tokenizer/tokenizer";
import { decodeText } from "../eval/text";
import type { JobOptions, MethodInfo } from "./protocol";

const needsCalibration = (n: MethodNeeds | undefined) => !!(n && (n.gram || n.sumSq || n.sumAbs));

/** What this build offers: the engine's method registry and the pruning methods. */
export function methodInfo(): { methods: MethodInfo[]; pruneMethods: MethodInfo[] } {
  return {
    methods: Object.keys(BUILTIN_METHODS).map((name) => ({ name, needsCalibration: needsCalibration(BUILTIN_METHODS[name]().needs) })),
    pruneMethods: PRUNE_METHODS.map((name) => ({ name, needsCalibration: needsCalibration(pruneMethod({ method: name, sparsity: 0.5 }).needs) })),
  };
}

/**
 * The job's methods and calibration, as the CLI builds them: `quantize --method M --calib F [--ctx N]`
 * (text without one trailing newline, ctx 512) or `quantize --prune method:target --calib F [--ctx N]`
 * (the whole text, ctx 128); the calibration dataset is recorded under the file's name. `label` names
 * the pass for the progress line ("gptq", "prune sparsegpt"; "" without a method).
 * @throws TensorshrinkError E_RANGE: unknown method, empty or invalid pruning target, ctx < 2;
 *   E_ENCODING: a calibration text that is not UTF-8 (with the byte offset).
 */
export async function methodsOf(m: ModelSource, o: JobOptions): Promise<{ methods?: MethodSpec[]; calibration?: { tokens: Int32Array; ctx: number; dataset: string }; label: string }> {
  let methods: MethodSpec[] | undefined;
  const prune = o.prune ?? null;
  if (prune) {
    const target = prune.target.trim();
    if (!target) throw new TensorshrinkError("E_RANGE", `pruning with ${prune.method} needs a target: a sparsity such as 0.5, or N:M such as 2:4`, {});
    methods = [pruneMethod(target.includes(":") ? { method: prune.method as PruneMethod, nm: target } : { method: prune.method as PruneMethod, sparsity: /^[0-9.]+$/.test(target) ? Number(target) : NaN })];
  } else if (o.method) {
    if (!Object.hasOwn(BUILTIN_METHODS, o.method)) throw new TensorshrinkError("E_RANGE", `unknown method "${o.method}" (known: ${Object.keys(BUILTIN_METHODS).join(", ")})`, { method: o.method });
    methods = [o.method];
  }
  const label = prune ? `prune ${prune.method}` : o.method ?? "";
  if (!methods || !o.calib) return { methods, label };
  const ctx = o.ctx ?? (prune ? 128 : 512);
  if (!Number.isInteger(ctx) || ctx < 2) throw new TensorshrinkError("E_RANGE", `the calibration context must be an integer >= 2 tokens, got ${ctx}`, {});
  const text = decodeText(new Uint8Array(await o.calib.arrayBuffer()), o.calib.name);
  const tok = Tokenizer.fromGguf({ kv: new Map(m.metadata.map((kv) => [kv.key, kv])) } as any);
  const tokens = Int32Array.from(tok.encode(prune || !text.endsWith("\n") ? text : text.slice(0, -1), { addBos: true }));
  return { methods, calibration: { tokens, ctx, dataset: o.calib.name }, label };
}
