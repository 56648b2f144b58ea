// Argument checks and small helpers of the Engine (engine.ts): row splitting for the pool, the
// non-finite policy, the importance-matrix requirement, typed non-finite errors, describe().
import { TensorshrinkError } from "../errors";
import type { TypeInfo } from "../quant/types";
import type { QuantizeOptions } from "./engine-types";
import { WasmTensor } from "./tensor";

export function splitRows(rows: number, cols: number, workers: number, chunkBytes: number): [number, number][] {
  const maxRows = Math.max(1, Math.floor(chunkBytes / (cols * 4)));
  const per = Math.max(1, Math.min(maxRows, Math.ceil(rows / workers)));
  const r: [number, number][] = [];
  for (let r0 = 0; r0 < rows; r0 += per) r.push([r0, Math.min(per, rows - r0)]);
  return r;
}

/**
 * The non-finite policy: true when the input must be checked for NaN/Inf (always, unless
 * `allowNonFinite: true` for f32/f16/bf16). Throws E_ARG_TYPE (not a boolean) or E_RANGE (block type).
 */
export function checksFinite(t: TypeInfo, opts: QuantizeOptions): boolean {
  const a = opts.allowNonFinite;
  if (a === undefined || a === false) return true;
  if (a !== true) throw new TensorshrinkError("E_ARG_TYPE", `allowNonFinite must be a boolean, got ${describe(a)}`);
  if (t.rejectsNonFinite) throw new TensorshrinkError("E_RANGE", `allowNonFinite is only for f32, f16 and bf16 outputs: ${t.name} blocks cannot hold NaN/Inf${opts.name ? ` (tensor "${opts.name}")` : ""}`, { type: t.name, name: opts.name });
  return false;
}

/**
 * Types whose quantize kernels check for NaN/Inf in their first pass (assembly/quant/finite_flag.ts):
 * the facade then runs no separate scan, only find_nonfinite to locate a value when the flag fires.
 */
const FUSED_CHECK = new Set(["q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "f16", "bf16"]);

/** Whether `t`'s chunk kernels (quantize_<t> and _ref) carry the fused non-finite check in this build. */
export function fusedCheck(t: TypeInfo, exports: Record<string, unknown>, opts: QuantizeOptions): boolean {
  return FUSED_CHECK.has(t.name) && typeof exports.quant_nonfinite_take === "function" && (opts.algorithm ?? "chunk") === "chunk";
}

/** iq2_xxs / iq2_xs / iq1_s without an importance matrix: E_IMATRIX (ggml_quantize_requires_imatrix). */
export function requireImatrix(t: TypeInfo, im: Float32Array | null, name?: string): void {
  if (t.requiresImatrix && !im) throw new TensorshrinkError("E_IMATRIX", `${t.name} needs an importance matrix (llama.cpp refuses to quantize it without one)${name ? ` (tensor "${name}")` : ""}`, { name, type: t.name });
}

/**
 * The wasm quantize kernel name for `t` and the options: quantize_<type>[_d3cf1f14][_ref]
 * (`_d3cf1f14` for iq1_m with iq1mSearch "d3cf1f14"). E_RANGE for an unknown iq1mSearch.
 */
export function quantKernelName(t: TypeInfo, opts: Pick<QuantizeOptions, "kernel" | "iq1mSearch">): string {
  const s = opts.iq1mSearch;
  if (s !== undefined && s !== "de3ff81" && s !== "d3cf1f14") throw new TensorshrinkError("E_RANGE", `iq1mSearch must be "de3ff81" or "d3cf1f14", got ${String(s)}`);
  return `quantize_${t.name}${s === "d3cf1f14" && t.name === "iq1_m" ? "_d3cf1f14" : ""}${opts.kernel === "ref" ? "_ref" : ""}`;
}

export function xArray(x: Float32Array | WasmTensor): Float32Array {
  return x instanceof WasmTensor ? x.f32 : x;
}

export function nonFinite(opts: QuantizeOptions, flat: number, mem: Uint8Array, byteOff: number): TensorshrinkError {
  return nonFiniteValue(opts, flat, new DataView(mem.buffer, mem.byteOffset).getFloat32(byteOff, true));
}

export function nonFiniteValue(opts: QuantizeOptions, flat: number, value: number): TensorshrinkError {
  const row = Math.floor(flat / opts.cols), column = flat % opts.cols;
  return new TensorshrinkError("E_NONFINITE", `non-finite value ${value} at row ${row}, column ${column}${opts.name ? ` of tensor "${opts.name}"` : ""}; NaN/Inf are refused for every output type (allowNonFinite lets them through for f32/f16/bf16)`, { name: opts.name, row, column, value });
}

/** Short description of a value's type for error messages. */
export function describe(v: unknown): string {
  if (v === null) return "null";
  if (typeof v !== "object") return typeof v;
  return (v as object).constructor?.name ?? "object";
}
