// `--adapter-type`, shared by `quantize --eora` and `eora` (its own module: the quantize path does not load src/cli/lowrank.ts).
import { TensorshrinkError } from "../errors";
import type { AdapterTensorType } from "../lowrank/adapter";
import type { Args } from "./main";

/** `--adapter-type f32|f16|q8_0` (default f32): the element type of the EoRA adapter's tensors. */
export function adapterTypeOpt(a: Args): AdapterTensorType {
  const t = a.opts.get("--adapter-type")?.at(-1) ?? "f32";
  if (t !== "f32" && t !== "f16" && t !== "q8_0") throw new TensorshrinkError("E_RANGE", `--adapter-type must be f32, f16 or q8_0, got "${t}"`);
  return t;
}
