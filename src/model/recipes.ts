/**
 * Recipes: llama-quantize's ftypes and the per-tensor type choices llama.cpp makes for them
 * (llama_tensor_get_type in src/llama-quant.cpp, llama architecture), so that for the same input
 * and ftype our tensors get the same types as llama.cpp's. Plus user rules by tensor-name pattern.
 */
import { TensorshrinkError } from "../errors";
import { lookupType } from "../quant/types";

/** llama_ftype values as stored in `general.file_type`. */
export const FTYPES = {
  F32: { id: 0, base: "f32" },
  F16: { id: 1, base: "f16" },
  Q4_0: { id: 2, base: "q4_0" },
  Q4_1: { id: 3, base: "q4_1" },
  Q8_0: { id: 7, base: "q8_0" },
  Q5_0: { id: 8, base: "q5_0" },
  Q5_1: { id: 9, base: "q5_1" },
  Q2_K: { id: 10, base: "q2_K" },
  Q3_K_S: { id: 11, base: "q3_K" },
  Q3_K_M: { id: 12, base: "q3_K" },
  Q3_K_L: { id: 13, base: "q3_K" },
  Q4_K_S: { id: 14, base: "q4_K" },
  Q4_K_M: { id: 15, base: "q4_K" },
  Q5_K_S: { id: 16, base: "q5_K" },
  Q5_K_M: { id: 17, base: "q5_K" },
  Q6_K: { id: 18, base: "q6_K" },
  Q2_K_S: { id: 21, base: "q2_K" },
  IQ4_NL: { id: 25, base: "iq4_nl" },
  BF16: { id: 32, base: "bf16" },
  TQ1_0: { id: 36, base: "tq1_0" },
  TQ2_0: { id: 37, base: "tq2_0" },
  // i-quant ftypes (llama_ftype ids; base = llama_ftype_get_default_type)
  IQ2_XXS: { id: 19, base: "iq2_xxs" },
  IQ2_XS: { id: 20, base: "iq2_xs" },
  IQ3_XS: { id: 22, base: "iq3_s" },
  IQ3_XXS: { id: 23, base: "iq3_xxs" },
  IQ1_S: { id: 24, base: "iq1_s" },
  IQ3_S: { id: 26, base: "iq3_s" },
  IQ3_M: { id: 27, base: "iq3_s" },
  IQ2_S: { id: 28, base: "iq2_xs" },
  IQ2_M: { id: 29, base: "iq2_s" },
  IQ4_XS: { id: 30, base: "iq4_xs" },
  IQ1_M: { id: 31, base: "iq1_m" },
  MXFP4_MOE: { id: 38, base: "mxfp4" },
} as const;

/** An ftype name as llama-quantize spells it (case-insensitive on input). */
export type FtypeName = keyof typeof FTYPES;

/** llama-quantize's ftype aliases: Q3_K = Q3_K_M, Q4_K = Q4_K_M, Q5_K = Q5_K_M. */
export const FTYPE_ALIASES: Readonly<Record<string, FtypeName>> = Object.freeze({ Q3_K: "Q3_K_M", Q4_K: "Q4_K_M", Q5_K: "Q5_K_M" });

/**
 * Resolves an ftype: a name ("Q4_K_M", "q8_0", case-insensitive), an alias (Q4_K = Q4_K_M, Q5_K =
 * Q5_K_M, Q3_K = Q3_K_M, as llama-quantize) or llama.cpp's LLAMA_FTYPE number as decimal digits
 * ("15" = Q4_K_M, "7" = Q8_0). Throws E_UNKNOWN_TYPE listing the known ones.
 */
export function lookupFtype(name: string): { name: FtypeName; id: number; base: string } {
  let key = String(name).toUpperCase() as FtypeName;
  if (Object.hasOwn(FTYPE_ALIASES, key)) key = FTYPE_ALIASES[key];
  else if (/^[0-9]{1,4}$/.test(key)) {
    const byId = (Object.keys(FTYPES) as FtypeName[]).find((k) => FTYPES[k].id === Number(key));
    if (byId) key = byId;
  }
  const f = Object.hasOwn(FTYPES, key) ? FTYPES[key] : undefined; // never through the prototype chain
  if (!f) throw new TensorshrinkError("E_UNKNOWN_TYPE", `unknown ftype "${name}"; known: ${Object.keys(FTYPES).join(", ")}, aliases ${Object.keys(FTYPE_ALIASES).join(", ")}, or a LLAMA_FTYPE number (${(Object.keys(FTYPES) as FtypeName[]).map((k) => `${FTYPES[k].id}=${k}`).join(" ")})`, { ftype: name });
  return { name: key, ...f };
}

/** What the planner needs to know about one tensor. */
export interface PlanTensor {
  name: string;
  /** ggml ne order: ne[0] is the row length. */
  shape: number[];
  /** Current storage type (ggml name), e.g. "f32" or "f16". */
  type: string;
}

/** Llama hyperparameters that affect the choices. */
export interface PlanHparams {
  nLayer: number;
  nHead: number;
  nHeadKv: number;
  nExpert?: number;
}

/** A user rule: tensors whose name matches `pattern` (regex search) get `type`, or are kept as they are ("skip"). */
export interface TensorRule {
  pattern: RegExp;
  type: string | "skip";
}

/** Parses `--rule 'blk\.[0-3]\..*=q8_0'` / `'ffn_.*=skip'`. Throws E_RANGE / E_UNKNOWN_TYPE. */
export function parseRule(s: string): TensorRule {
  const i = s.lastIndexOf("=");
  if (i <= 0 || i === s.length - 1) throw new TensorshrinkError("E_RANGE", `rule "${s}" must look like PATTERN=TYPE (e.g. 'blk\\.[0-3]\\..*=q8_0' or 'ffn_.*=skip')`);
  let pattern: RegExp;
  try {
    pattern = new RegExp(s.slice(0, i));
  } catch (e) {
    throw new TensorshrinkError("E_RANGE", `rule "${s}": invalid pattern: ${(e as Error).message}`);
  }
  const t = s.slice(i + 1);
  if (t.toLowerCase() === "skip") return { pattern, type: "skip" };
  return { pattern, type: lookupType(t).name };
}

/** The decision for one tensor. */
export interface TensorPlan {
  name: string;
  /** Type to write (ggml name). Equal to the input type when the tensor is copied as it is. */
  type: string;
  /** False when the tensor is copied unchanged (1D, norms, rule "skip", same type). */
  quantize: boolean;
  /** Why: "1d", "norm", "rule", "fallback", "output", ... (for the report). */
  reason: string;
  /**
   * True when llama.cpp needs an importance-matrix entry for this tensor to write `type`
   * ({@link tensorRequiresImatrix}, quantized tensors only); quantizeModel refuses with E_IMATRIX
   * before anything is written when it has none.
   */
  requiresImatrix: boolean;
}

/** Options of {@link planModel}. */
export interface PlanOptions {
  rules?: TensorRule[];
  hasImatrix?: boolean;
  /** Like llama-quantize --pure: every quantizable tensor gets the base type (fallbacks still apply). */
  pure?: boolean;
  /** llama-quantize --leave-output-tensor: output.weight is copied as it is stored. */
  leaveOutputTensor?: boolean;
  /**
   * llama-quantize --output-tensor-type: ggml type of output.weight (and of token_embd.weight when
   * the model ties them and tokenEmbeddingType is not given). Applied last, as llama.cpp does: no fallback.
   */
  outputTensorType?: string;
  /** llama-quantize --token-embedding-type: ggml type of token_embd.weight (applied last, no fallback). */
  tokenEmbeddingType?: string;
  /** llama-quantize COPY: every tensor is copied as it is stored. */
  onlyCopy?: boolean;
}

const FALLBACK: Record<string, string> = {
  iq1_s: "iq4_nl", iq1_m: "iq4_nl", iq2_xxs: "iq4_nl", iq2_xs: "iq4_nl", iq2_s: "iq4_nl", iq3_xxs: "iq4_nl", iq3_s: "iq4_nl", iq4_xs: "iq4_nl",
  tq1_0: "q4_0", tq2_0: "q4_0", q2_K: "q4_0", q3_K: "q4_0", q4_K: "q5_0", q5_K: "q5_1", q6_K: "q8_0",
};

/**
 * Decides each tensor's output type for an ftype, as llama-quantize does for the llama architecture:
 * only 2D+ tensors whose name ends in "weight" and that are not norms are quantized; output /
 * tied token_embd -> q6_K (q8_0 when ne[0] is not a multiple of 256); attn_v / ffn_down bumps for
 * Q2_K, Q3_K_*, Q4_K_*, Q5_K_M, IQ4_NL; rows whose length is not a multiple of the block size fall
 * back (q4_K -> q5_0, q5_K -> q5_1, q6_K -> q8_0, q2_K/q3_K/tq* -> q4_0; a 32-block type that still
 * does not fit -> f16), as in the llama.cpp release node-llama-cpp ships (test/61 compares the files).
 */
export function planModel(tensors: PlanTensor[], ftypeName: string, hp: PlanHparams, opts: PlanOptions = {}): TensorPlan[] {
  const ftype = lookupFtype(ftypeName).name;
  const base = FTYPES[ftype].base;
  const baseQuantized = lookupType(base).blockSize > 1;
  const nExpert = hp.nExpert ?? 0;
  const nGqa = hp.nHeadKv > 0 ? Math.floor(hp.nHead / hp.nHeadKv) : 1;
  const is70B = hp.nLayer === 80 && hp.nHead !== hp.nHeadKv;
  const qs = { nAttnV: 0, iAttnV: 0, iFfnDown: 0, iFfnGate: 0, iFfnUp: 0, hasOutput: false };
  for (const t of tensors) {
    if (t.name.includes("attn_v.weight") || t.name.includes("attn_qkv.weight") || t.name.includes("attn_kv_b.weight")) qs.nAttnV++;
    else if (t.name === "output.weight") qs.hasOutput = true;
  }
  const nLayer = hp.nLayer;
  const outType = opts.outputTensorType !== undefined ? lookupType(opts.outputTensorType).name : null;
  const embType = opts.tokenEmbeddingType !== undefined ? lookupType(opts.tokenEmbeddingType).name : null;
  const moreBits = (i: number, n: number) => i < Math.trunc(n / 8) || i >= Math.trunc((7 * n) / 8) || (i - Math.trunc(n / 8)) % 3 === 2;
  const layerOf = (i: number, name: string): number => {
    if (nExpert > 1) {
      // llama.cpp: sscanf(name, "blk.%d.") and a range check, as experts are not consecutive
      const m = /^blk\.(\d+)\./.exec(name);
      if (!m) throw new TensorshrinkError("E_FORMAT", `cannot determine the layer of tensor "${name}"`, { name });
      const l = Number(m[1]);
      if (l >= nLayer) throw new TensorshrinkError("E_FORMAT", `bad layer ${l} for tensor "${name}": must be in [0, ${nLayer})`, { name });
      return l;
    }
    return i;
  };
  const f = (...names: FtypeName[]) => names.includes(ftype);
  const IQ2_FAMILY = f("IQ2_XXS", "IQ2_XS", "IQ1_S", "IQ2_S", "IQ2_M", "IQ1_M");

  // llama_tensor_get_type_impl, llama architecture (no Falcon), no output/token-embedding overrides
  const getType = (t: PlanTensor, newType: string): string => {
    const name = t.name;
    const cat = categoryOf(name);
    const attnV = cat === "attn_v" || cat === "attn_qkv" || cat === "attn_kv_b";
    if (cat === "output" || (!qs.hasOutput && cat === "token_embd")) {
      if (outType) return outType;
      const nx = t.shape[0];
      if (ftype === "MXFP4_MOE") newType = "q8_0";
      else if (nx % lookupType(newType).blockSize !== 0) newType = "q8_0";
      else if (f("IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ2_S", "IQ2_M", "IQ1_M")) newType = "q5_K";
      else if (newType !== "q8_0") newType = "q6_K";
    } else if (ftype === "MXFP4_MOE") {
      // expert tensors (3D) -> mxfp4, everything else -> q8_0
      newType = (t.shape[2] ?? 1) > 1 ? "mxfp4" : "q8_0";
    } else if (cat === "token_embd") {
      if (embType) newType = embType;
      else if (f("IQ2_XXS", "IQ2_XS", "IQ1_S", "IQ1_M")) newType = "q2_K";
      else if (f("IQ2_S", "IQ2_M", "IQ3_XXS")) newType = "iq3_s";
      else if (f("TQ1_0", "TQ2_0")) newType = "q4_K";
    } else if (IQ2_FAMILY) {
      if (attnV) {
        if (nGqa >= 4 || nExpert >= 4) newType = "q4_K";
        else newType = f("IQ2_S", "IQ2_M") ? "iq3_s" : "q2_K";
        qs.iAttnV++;
      } else if (nExpert === 8 && cat === "attn_k") {
        newType = "q4_K";
      } else if (cat === "ffn_down") {
        // the raw counter, not the layer parsed from the name (as llama.cpp does in this branch)
        if (qs.iFfnDown < Math.trunc(nLayer / 8)) newType = f("IQ2_S", "IQ2_M") ? "iq3_s" : "q2_K";
        qs.iFfnDown++;
      } else if (cat === "attn_output") {
        if (nExpert === 8) newType = "q5_K";
        else if (f("IQ1_S", "IQ1_M")) newType = "iq2_xxs";
        else if (f("IQ2_S", "IQ2_M")) newType = "iq3_s";
      }
    } else if (attnV) {
      if (ftype === "Q2_K") newType = nGqa >= 4 ? "q4_K" : "q3_K";
      else if (ftype === "Q2_K_S" && nGqa >= 4) newType = "q4_K";
      else if (ftype === "IQ3_XXS") newType = nGqa >= 4 ? "q4_K" : !opts.hasImatrix ? "iq3_s" : "iq3_xxs";
      else if (f("IQ3_XS", "IQ3_S") && nGqa >= 4) newType = "q4_K";
      else if (ftype === "IQ3_M") newType = "q4_K";
      else if (ftype === "Q3_K_M") newType = qs.iAttnV < 2 ? "q5_K" : "q4_K";
      else if (ftype === "Q3_K_L") newType = "q5_K";
      else if (f("IQ4_NL", "IQ4_XS") && nGqa >= 4) newType = "q5_K";
      else if (f("Q4_K_M", "Q5_K_M") && moreBits(qs.iAttnV, qs.nAttnV)) newType = "q6_K";
      else if (ftype === "Q4_K_S" && qs.iAttnV < 4) newType = "q5_K";
      if (is70B && (newType === "q3_K" || newType === "q4_K")) newType = "q5_K";
      if (nExpert === 8) newType = "q8_0";
      qs.iAttnV++;
    } else if (cat === "attn_k") {
      if (nExpert === 8) newType = "q8_0";
      else if (ftype === "IQ3_XS") newType = "iq3_xxs";
      else if (ftype === "IQ3_XXS") newType = "iq2_s";
    } else if (cat === "attn_q") {
      if (ftype === "IQ3_XS") newType = "iq3_xxs";
      else if (ftype === "IQ3_XXS") newType = "iq2_s";
    } else if (cat === "ffn_down") {
      const iLayer = layerOf(qs.iFfnDown, name);
      if (ftype === "Q2_K") newType = "q3_K";
      else if (ftype === "Q2_K_S") { if (iLayer < Math.trunc(nLayer / 8)) newType = "q4_K"; }
      else if (ftype === "IQ3_XXS" && !opts.hasImatrix) newType = iLayer < Math.trunc(nLayer / 8) ? "q4_K" : "q3_K";
      else if (ftype === "Q3_K_M") newType = iLayer < Math.trunc(nLayer / 16) ? "q5_K" : "q4_K"; // non-Falcon: always >= q4_K
      else if (ftype === "IQ3_M" && (iLayer < Math.trunc(nLayer / 8) || (nExpert === 8 && moreBits(iLayer, nLayer)))) newType = "q4_K";
      else if (ftype === "Q3_K_L") newType = "q5_K";
      else if (ftype === "Q4_K_M") { if (moreBits(iLayer, nLayer)) newType = "q6_K"; }
      else if (iLayer < Math.trunc(nLayer / 8) && f("IQ4_NL", "IQ4_XS") && !opts.hasImatrix) newType = "q5_K";
      else if (ftype === "Q5_K_M" && moreBits(iLayer, nLayer)) newType = "q6_K";
      else if (ftype === "Q4_K_S" && iLayer < Math.trunc(nLayer / 8)) newType = "q5_K";
      else if (f("Q4_0", "Q5_0") && opts.hasImatrix && iLayer < Math.trunc(nLayer / 8)) newType = ftype === "Q4_0" ? "q4_1" : "q5_1";
      qs.iFfnDown++;
    } else if (cat === "attn_output") {
      if (nExpert === 8) {
        if (f("Q2_K", "IQ3_XS", "IQ3_XXS", "Q3_K_S", "Q3_K_M", "IQ4_NL", "Q4_K_S", "Q4_K_M", "IQ3_S", "IQ3_M", "IQ4_XS")) newType = "q5_K";
      } else {
        if (ftype === "Q2_K") newType = "q3_K";
        else if (ftype === "IQ3_XXS") newType = "iq3_s";
        else if (ftype === "Q3_K_M") newType = "q4_K";
        else if (ftype === "Q3_K_L") newType = "q5_K";
        else if (ftype === "IQ3_M") newType = "q4_K";
      }
    } else if (cat === "ffn_gate" || cat === "ffn_up") {
      const iLayer = layerOf(cat === "ffn_gate" ? qs.iFfnGate : qs.iFfnUp, name);
      if (ftype === "IQ3_XS" && iLayer >= Math.trunc(nLayer / 8) && iLayer < Math.trunc((7 * nLayer) / 8)) newType = "iq3_xxs";
      if (cat === "ffn_gate") qs.iFfnGate++;
      else qs.iFfnUp++;
    }
    // (llama.cpp's separate attn_qkv branch is unreachable: attn_qkv is attn_v-like and taken above)
    return newType;
  };

  const fallback = (t: PlanTensor, type: string): { type: string; fell: boolean } => {
    const nx = t.shape[0];
    if (nx % lookupType(type).blockSize === 0) return { type, fell: false };
    // 32-block types (q8_0, q4_0, ...) have no smaller block to demote to: f16, as llama.cpp does
    // (e.g. stories260K's 172-wide ffn_down rows under Q8_0 / Q4_0).
    let nt = FALLBACK[type] ?? type;
    if (nx % lookupType(nt).blockSize !== 0) nt = "f16";
    return { type: nt, fell: true };
  };

  return tensors.map((t): TensorPlan => {
    const name = t.name;
    const inType = lookupType(t.type).name;
    const rule = opts.rules?.find((r) => r.pattern.test(name));
    let quantize = name.endsWith("weight") && countDims(t.shape) >= 2;
    let reason = "";
    if (!quantize) reason = countDims(t.shape) < 2 ? "1d" : "not a weight";
    if (quantize && name.includes("_norm.weight")) { quantize = false; reason = "norm"; }
    if (quantize && name.includes("ffn_gate_inp.weight")) { quantize = false; reason = "expert gate"; }
    if (quantize && opts.leaveOutputTensor && name === "output.weight") { quantize = false; reason = "leave output tensor"; }
    if (opts.onlyCopy) return { name, type: inType, quantize: false, reason: "copy", requiresImatrix: false };
    if (rule?.type === "skip") return { name, type: inType, quantize: false, reason: "rule: skip", requiresImatrix: false };
    if (!quantize) return { name, type: inType, quantize: false, reason, requiresImatrix: false };
    let type: string = base;
    reason = "ftype";
    if (baseQuantized) {
      if (!opts.pure) {
        const got = getType(t, type);
        if (got !== type) reason = name === "output.weight" || name === "token_embd.weight" ? "output" : "layer rule";
        type = got;
      }
      // incompatible row lengths fall back with or without --pure, as in llama.cpp
      const fb = fallback(t, type);
      if (fb.fell) reason = `fallback ${type} → ${fb.type} (cols ${t.shape[0]} % ${lookupType(type).blockSize})`;
      type = fb.type;
    }
    if (rule) {
      const fb = fallback(t, lookupType(rule.type).name);
      type = fb.type;
      reason = fb.fell ? `rule, fallback (ne[0]=${t.shape[0]})` : "rule";
    }
    // explicit output / token-embedding types win over everything, without a fallback (llama.cpp order)
    const forced = name === "token_embd.weight" ? embType : name === "output.weight" ? outType : null;
    if (forced) {
      if (t.shape[0] % lookupType(forced).blockSize !== 0) throw new TensorshrinkError("E_BLOCK", `${name === "output.weight" ? "--output-tensor-type" : "--token-embedding-type"} ${forced}: tensor "${name}" has rows of ${t.shape[0]} values, not a multiple of ${forced}'s block of ${lookupType(forced).blockSize}`, { name, type: forced });
      type = forced;
      reason = name === "output.weight" ? "output tensor type" : "token embedding type";
    }
    return { name, type, quantize: type !== inType, reason: type === inType ? "same type" : reason, requiresImatrix: tensorRequiresImatrix(name, type, ftype) };
  });
}

/** Tensor categories of llama.cpp's recipe (tensor_get_category: first match in this order). */
type Category = "output" | "token_embd" | "attn_qkv" | "attn_kv_b" | "attn_v" | "attn_k" | "attn_q" | "attn_output" | "ffn_up" | "ffn_gate" | "ffn_down" | "other";
function categoryOf(name: string): Category {
  if (name === "output.weight") return "output";
  if (name === "token_embd.weight" || name === "per_layer_token_embd.weight") return "token_embd";
  for (const [k, c] of CATEGORY_PARTS) if (name.includes(k)) return c;
  return "other";
}
const CATEGORY_PARTS: [string, Category][] = [
  ["attn_qkv.weight", "attn_qkv"], ["attn_kv_b.weight", "attn_kv_b"], ["attn_v.weight", "attn_v"], ["attn_k.weight", "attn_k"],
  ["attn_q.weight", "attn_q"], ["attn_output.weight", "attn_output"], ["ffn_up", "ffn_up"], ["ffn_gate", "ffn_gate"], ["ffn_down", "ffn_down"],
];

const IMATRIX_ONLY = new Set(["iq3_xxs", "iq2_xxs", "iq2_xs", "iq2_s", "iq1_m", "iq1_s"]);
/**
 * Whether llama-quantize refuses to write `type` for this tensor without an importance matrix
 * (tensor_requires_imatrix in llama.cpp's src/llama-quant.cpp): iq3_xxs, iq2_xxs, iq2_xs, iq2_s,
 * iq1_m, iq1_s, and q2_K inside a Q2_K_S file; never token_embd / per_layer_token_embd / output.
 */
export function tensorRequiresImatrix(name: string, type: string, ftypeName: string): boolean {
  if (name === "token_embd.weight" || name === "per_layer_token_embd.weight" || name === "output.weight") return false;
  const t = lookupType(type).name;
  if (IMATRIX_ONLY.has(t)) return true;
  return t === "q2_K" && lookupFtype(ftypeName).name === "Q2_K_S";
}

function countDims(shape: number[]): number {
  // ggml_n_dims: index of the last extent > 1, plus one (at least 1)
  let n = 1;
  for (let i = shape.length - 1; i >= 1; i--) if (shape[i] > 1) { n = i + 1; break; }
  return n;
}

const utf8 = new TextEncoder();
/** Layer number as llama.cpp's loader reads it: `sscanf(name, "blk.%d.")`, -1 when the name has none. */
function layerOf(name: string): number {
  const m = /^blk\.\s*([+-]?\d+)/.exec(name);
  if (!m) return -1;
  const v = Number(m[1]);
  return Number.isSafeInteger(v) && v >= -2147483648 && v <= 2147483647 ? v : -1;
}

/**
 * Tensors in the order llama-quantize writes them (and walks them when it picks types): llama.cpp's
 * loader keeps weights in a map ordered by layer number (`blk.N.`; other tensors, layer -1, first),
 * then by name compared bytewise (UTF-8). So token_embd/output tensors come first, then blk.0.*
 * alphabetically (attn_k, attn_norm, attn_output, attn_q, attn_v, ffn_down, ...), blk.1.*, ...,
 * blk.10.* after blk.9.*. Returns a new array; stable for equal keys.
 */
export function llamaCppTensorOrder<T extends { readonly name: string }>(tensors: readonly T[]): T[] {
  const keyed = tensors.map((t, i) => ({ t, i, layer: layerOf(t.name), bytes: utf8.encode(t.name) }));
  keyed.sort((a, b) => {
    if (a.layer !== b.layer) return a.layer - b.layer;
    const n = Math.min(a.bytes.length, b.bytes.length);
    for (let k = 0; k < n; k++) if (a.bytes[k] !== b.bytes[k]) return a.bytes[k] - b.bytes[k];
    return a.bytes.length - b.bytes.length || a.i - b.i;
  });
  return keyed.map((k) => k.t);
}
