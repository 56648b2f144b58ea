import { TensorshrinkError } from "../errors";
import { GGML_TYPES } from "../formats/ggml-types";

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
  /**
   * Whether the ggml quantizer itself cannot take NaN/Inf (all block formats). The engine refuses
   * non-finite input for every type by default anyway (E_NONFINITE, as llama-quantize does); only
   * types with `rejectsNonFinite === false` (f32, f16, bf16) accept the `allowNonFinite` opt-out.
   */
  rejectsNonFinite: boolean;
  /**
   * Whether quantizing needs an importance matrix (ggml_quantize_requires_imatrix: iq2_xxs, iq2_xs,
   * iq1_s); quantize without one throws E_IMATRIX, as llama.cpp refuses.
   */
  requiresImatrix: boolean;
}

// Ids and block geometry come from the one ggml type table (formats/ggml-types); this adds what the
// quantization engine needs to know about each type it has kernels for.
const T = (name: keyof typeof GGML_TYPES, usesImatrix: boolean, rejectsNonFinite = true, requiresImatrix = false): TypeInfo => {
  const g = GGML_TYPES[name];
  return Object.freeze({ name: g.name, ggmlTypeId: g.id, blockSize: g.blockSize, bytesPerBlock: g.bytesPerBlock, bitsPerWeight: g.bitsPerWeight, usesImatrix, rejectsNonFinite, requiresImatrix });
};

/** The ggml types the engine quantizes/dequantizes, keyed by ggml spelling. */
export const QUANT_TYPES: Readonly<Record<string, TypeInfo>> = Object.freeze({
  f32: T("f32", false, false),
  f16: T("f16", false, false),
  bf16: T("bf16", false, false),
  q8_0: T("q8_0", false),
  q4_0: T("q4_0", true),
  q4_1: T("q4_1", true),
  q5_0: T("q5_0", true),
  q5_1: T("q5_1", true),
  q2_K: T("q2_K", true),
  q3_K: T("q3_K", true),
  q4_K: T("q4_K", true),
  q5_K: T("q5_K", true),
  q6_K: T("q6_K", true),
  iq4_nl: T("iq4_nl", true),
  tq1_0: T("tq1_0", false),
  tq2_0: T("tq2_0", false),
  mxfp4: T("mxfp4", false),
  // i-quants (lattice / non-linear, 256-value super-blocks)
  iq4_xs: T("iq4_xs", true),
  iq3_s: T("iq3_s", true),
  iq3_xxs: T("iq3_xxs", true),
  iq2_s: T("iq2_s", true),
  iq2_xs: T("iq2_xs", true, true, true),
  iq2_xxs: T("iq2_xxs", true, true, true),
  iq1_m: T("iq1_m", true),
  iq1_s: T("iq1_s", true, true, true),
});

// A Map, not an object: "__proto__" / "constructor" must not resolve through the prototype chain.
const LOWER = new Map<string, TypeInfo>();
for (const t of Object.values(QUANT_TYPES)) LOWER.set(t.name.toLowerCase(), t);

/** Names accepted by quantize/dequantize: ggml spellings (case-insensitive). */
export type QuantTypeName = keyof typeof QUANT_TYPES | (string & {});

/** Looks a type up by name (case-insensitive, ggml spelling). Throws E_UNKNOWN_TYPE. */
export function lookupType(type: unknown): TypeInfo {
  if (typeof type !== "string") throw new TensorshrinkError("E_ARG_TYPE", `type must be a string such as "q8_0", got ${typeof type}`);
  const t = LOWER.get(type.toLowerCase());
  if (!t) throw new TensorshrinkError("E_UNKNOWN_TYPE", `unknown quantization type "${type}"; known: ${Object.keys(QUANT_TYPES).join(", ")}`, { type });
  return t;
}
