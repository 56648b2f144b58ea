/**
 * The ggml tensor type table: ids, names, block sizes and bytes per block, as in llama.cpp's
 * `ggml.h` (`enum ggml_type`) and `ggml.c` (`type_traits[]`). Names are spelled as ggml spells
 * them (`q4_K` with a capital K, `iq2_xxs`, `bf16`), lookups are case-insensitive.
 *
 * Ids 4, 5 (q4_2, q4_3), 31..33 (q4_0_4_4 ...) and 36..38 (iq4_nl_4_4 ...) were removed from
 * ggml and are rejected by GGUF readers, as llama.cpp does.
 */
import { TensorshrinkError } from "../errors";

/** One ggml tensor type. A row of `n` values of this type occupies `n / blockSize * bytesPerBlock` bytes. */
export interface GgmlTypeInfo {
  /** ggml's name, e.g. `"q4_K"`. */
  readonly name: string;
  /** ggml's enum value, stored in GGUF tensor infos. */
  readonly id: number;
  /** Values per block (1 for plain types, 32 for q4_0/q8_0/iq4_nl/mxfp4, 256 = QK_K for k-/i-/t-quants). */
  readonly blockSize: number;
  /** Bytes per block (e.g. q8_0 = 34, q4_0 = 18, q4_K = 144, q6_K = 210). */
  readonly bytesPerBlock: number;
  /** Bits per weight = 8 * bytesPerBlock / blockSize (e.g. q4_K = 4.5). */
  readonly bitsPerWeight: number;
  /** True for block-quantized types (blockSize > 1 or not a plain int/float). */
  readonly quantized: boolean;
}

const QK_K = 256;

function t(name: string, id: number, blockSize: number, bytesPerBlock: number, quantized: boolean): GgmlTypeInfo {
  return Object.freeze({ name, id, blockSize, bytesPerBlock, bitsPerWeight: (8 * bytesPerBlock) / blockSize, quantized });
}

/** Every ggml type usable in a GGUF file, keyed by ggml's name. Sizes verified against ggml's `type_traits`. */
export const GGML_TYPES = Object.freeze({
  f32: t("f32", 0, 1, 4, false),
  f16: t("f16", 1, 1, 2, false),
  q4_0: t("q4_0", 2, 32, 2 + 16, true),
  q4_1: t("q4_1", 3, 32, 2 + 2 + 16, true),
  q5_0: t("q5_0", 6, 32, 2 + 4 + 16, true),
  q5_1: t("q5_1", 7, 32, 2 + 2 + 4 + 16, true),
  q8_0: t("q8_0", 8, 32, 2 + 32, true),
  q8_1: t("q8_1", 9, 32, 4 + 32, true),
  q2_K: t("q2_K", 10, QK_K, 2 * 2 + QK_K / 16 + QK_K / 4, true),
  q3_K: t("q3_K", 11, QK_K, 2 + QK_K / 4 + QK_K / 8 + 12, true),
  q4_K: t("q4_K", 12, QK_K, 2 * 2 + 12 + QK_K / 2, true),
  q5_K: t("q5_K", 13, QK_K, 2 * 2 + 12 + QK_K / 8 + QK_K / 2, true),
  q6_K: t("q6_K", 14, QK_K, 2 + QK_K / 16 + 3 * QK_K / 4, true),
  q8_K: t("q8_K", 15, QK_K, 4 + QK_K + (QK_K / 16) * 2, true),
  iq2_xxs: t("iq2_xxs", 16, QK_K, 2 + QK_K / 4, true),
  iq2_xs: t("iq2_xs", 17, QK_K, 2 + QK_K / 4 + QK_K / 32, true),
  iq3_xxs: t("iq3_xxs", 18, QK_K, 2 + QK_K / 4 + QK_K / 8, true),
  iq1_s: t("iq1_s", 19, QK_K, 2 + QK_K / 8 + QK_K / 16, true),
  iq4_nl: t("iq4_nl", 20, 32, 2 + 16, true),
  iq3_s: t("iq3_s", 21, QK_K, 2 + QK_K / 4 + QK_K / 8 + QK_K / 32 + 4, true),
  iq2_s: t("iq2_s", 22, QK_K, 2 + QK_K / 4 + QK_K / 16, true),
  iq4_xs: t("iq4_xs", 23, QK_K, 2 + 2 + QK_K / 2 + QK_K / 64, true),
  i8: t("i8", 24, 1, 1, false),
  i16: t("i16", 25, 1, 2, false),
  i32: t("i32", 26, 1, 4, false),
  i64: t("i64", 27, 1, 8, false),
  f64: t("f64", 28, 1, 8, false),
  iq1_m: t("iq1_m", 29, QK_K, QK_K / 8 + QK_K / 16 + QK_K / 32, true),
  bf16: t("bf16", 30, 1, 2, false),
  tq1_0: t("tq1_0", 34, QK_K, 2 + 4 * 13, true),
  tq2_0: t("tq2_0", 35, QK_K, 2 + 64, true),
  mxfp4: t("mxfp4", 39, 32, 1 + 16, true),
} as const);

/** A ggml type name as ggml spells it (`"q4_K"`, `"f16"`, ...). */
export type GgmlTypeName = keyof typeof GGML_TYPES;

const byId = new Map<number, GgmlTypeInfo>();
const byLower = new Map<string, GgmlTypeInfo>();
for (const info of Object.values(GGML_TYPES)) {
  byId.set(info.id, info);
  byLower.set(info.name.toLowerCase(), info);
}

/**
 * Look up a ggml type by id (`12`) or name, case-insensitively (`"q4_K"`, `"Q4_K"`, `"q4_k"`).
 * Returns `undefined` when unknown (including the removed ids 4, 5, 31..33, 36..38).
 */
export function findGgmlType(nameOrId: string | number): GgmlTypeInfo | undefined {
  if (typeof nameOrId === "number") return byId.get(nameOrId);
  return byLower.get(String(nameOrId).toLowerCase());
}

/**
 * Look up a ggml type by id or case-insensitive name.
 * @throws TensorshrinkError `E_UNKNOWN_TYPE` when the type does not exist.
 */
export function ggmlType(nameOrId: string | number | GgmlTypeInfo): GgmlTypeInfo {
  if (typeof nameOrId === "object" && nameOrId !== null) return nameOrId;
  const info = findGgmlType(nameOrId);
  if (!info) throw new TensorshrinkError("E_UNKNOWN_TYPE", `unknown ggml type ${JSON.stringify(nameOrId)}`, { type: nameOrId });
  return info;
}

/** All ggml types, ordered by id. */
export function ggmlTypeList(): GgmlTypeInfo[] {
  return [...byId.values()].sort((a, b) => a.id - b.id);
}

/**
 * Bytes of one row of `n` values of type `type` (`n / blockSize * bytesPerBlock`).
 * @throws TensorshrinkError `E_BLOCK` when `n` is not a multiple of the block size.
 */
export function ggmlRowBytes(type: string | number | GgmlTypeInfo, n: number): number {
  const info = ggmlType(type);
  if (!Number.isSafeInteger(n) || n < 0 || n % info.blockSize !== 0) {
    throw new TensorshrinkError("E_BLOCK", `row length ${n} is not a multiple of ${info.name}'s block size ${info.blockSize}`, { type: info.name, n });
  }
  return (n / info.blockSize) * info.bytesPerBlock;
}

/**
 * Bytes of a whole tensor of extents `ne` (ggml order, `ne[0]` = row length) and type `type`.
 * @throws TensorshrinkError `E_BLOCK` when `ne[0]` is not a multiple of the block size.
 */
export function ggmlTensorBytes(type: string | number | GgmlTypeInfo, ne: readonly number[]): number {
  let rows = 1;
  for (let i = 1; i < ne.length; i++) rows *= ne[i]!;
  return ggmlRowBytes(type, ne.length ? ne[0]! : 1) * rows;
}
