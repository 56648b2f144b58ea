import { TensorshrinkError } from "../errors";

/** Static facts about a ggml storage type. */
export interface TypeInfo {
  /** ggml spelling, e.g. "q4_K". */
  name: string;
  /** ggml_type id as stored in GGUF tensor infos. */
  ggmlTypeId: number;
  /** Values per block (32 for q8_0, 256 for the k-quants, 1 for f32/f16/bf16). */
  blockSize: number;
  /** Bytes per block (q8_0: 34, q4_0: 18, q4_K: 144, q6_K: 210, f16: 2). */
  bytesPerBlock: number;
  /** Storage cost in bits per weight = 8 * bytesPerBlock / blockSize (q8_0: 8.5, q4_K: 4.5). */
  bitsPerWeight: number;
  /** Whether an importance matrix changes this type's output (q8_0, tq*, mxfp4 ignore it, as in ggml). */
  usesImatrix: boolean;
  /** Whether the quantizer rejects NaN/Inf input (all block formats; f16/bf16 convert them). */
  rejectsNonFinite: boolean;
}

const T = (name: string, ggmlTypeId: number, blockSize: number, bytesPerBlock: number, usesImatrix: boolean, rejectsNonFinite = true): TypeInfo =>
  Object.freeze({ name, ggmlTypeId, blockSize, bytesPerBlock, bitsPerWeight: (8 * bytesPerBlock) / blockSize, usesImatrix, rejectsNonFinite });

/** The ggml types the engine quantizes/dequantizes, keyed by ggml spelling. */
export const QUANT_TYPES: Readonly<Record<string, TypeInfo>> = Object.freeze({
  f32: T("f32", 0, 1, 4, false, false),
  f16: T("f16", 1, 1, 2, false, false),
  bf16: T("bf16", 30, 1, 2, false, false),
  q8_0: T("q8_0", 8, 32, 34, false),
  q4_0: T("q4_0", 2, 32, 18, true),
  q4_1: T("q4_1", 3, 32, 20, true),
  q5_0: T("q5_0", 6, 32, 22, true),
  q5_1: T("q5_1", 7, 32, 24, true),
  q2_K: T("q2_K", 10, 256, 84, true),
  q3_K: T("q3_K", 11, 256, 110, true),
  q4_K: T("q4_K", 12, 256, 144, true),
  q5_K: T("q5_K", 13, 256, 176, true),
  q6_K: T("q6_K", 14, 256, 210, true),
  iq4_nl: T("iq4_nl", 20, 32, 18, true),
  tq1_0: T("tq1_0", 34, 256, 54, false),
  tq2_0: T("tq2_0", 35, 256, 66, false),
  mxfp4: T("mxfp4", 39, 32, 17, false),
});

const LOWER: Record<string, TypeInfo> = {};
for (const t of Object.values(QUANT_TYPES)) LOWER[t.name.toLowerCase()] = t;

/** Names accepted by quantize/dequantize: ggml spellings (case-insensitive). */
export type QuantTypeName = keyof typeof QUANT_TYPES | (string & {});

/** Looks a type up by name (case-insensitive, ggml spelling). Throws E_UNKNOWN_TYPE. */
export function lookupType(type: unknown): TypeInfo {
  if (typeof type !== "string") throw new TensorshrinkError("E_ARG_TYPE", `type must be a string such as "q8_0", got ${typeof type}`);
  const t = LOWER[type.toLowerCase()];
  if (!t) throw new TensorshrinkError("E_UNKNOWN_TYPE", `unknown quantization type "${type}"; known: ${Object.keys(QUANT_TYPES).join(", ")}`, { type });
  return t;
}
