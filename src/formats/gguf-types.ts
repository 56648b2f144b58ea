/**
 * GGUF value types, key/value and tensor-info shapes, and format constants (shared by
 * gguf-read.ts and gguf-write.ts; src/formats/gguf.ts re-exports everything).
 */
import type { GgmlTypeInfo } from "./ggml-types";
import type { ByteSource } from "./source";

/** GGUF value type ids. */
export const GGUF_TYPE = Object.freeze({
  UINT8: 0, INT8: 1, UINT16: 2, INT16: 3, UINT32: 4, INT32: 5, FLOAT32: 6, BOOL: 7,
  STRING: 8, ARRAY: 9, UINT64: 10, INT64: 11, FLOAT64: 12,
} as const);

/** A GGUF value type id (0..12). */
export type GgufValueType = (typeof GGUF_TYPE)[keyof typeof GGUF_TYPE];

/** Short names of the value types, index = type id (as in llama.cpp's gguf_type_name / sample.json). */
export const GGUF_TYPE_NAMES = Object.freeze(["u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "str", "arr", "u64", "i64", "f64"] as const);

/** A short value type name: `"u32"`, `"str"`, `"arr"`, ... */
export type GgufTypeName = (typeof GGUF_TYPE_NAMES)[number];

/** An array value: element type and elements (nested arrays are `GgufArray` elements). */
export interface GgufArray {
  readonly itemType: GgufValueType;
  readonly items: GgufValue[];
}

/** A metadata value: number (8/16/32-bit ints, f32, f64), bigint (u64, i64), boolean, string or array. */
export type GgufValue = number | bigint | boolean | string | GgufArray;

/** One key/value pair with its exact type (kept so files round-trip byte-identically). */
export interface GgufKV {
  readonly key: string;
  readonly type: GgufValueType;
  readonly value: GgufValue;
}

/** A tensor info as read from a file. Offsets and sizes in bytes. */
export interface GgufTensorInfo {
  readonly name: string;
  /** Extents in ggml order: `ne[0]` is the contiguous row length. */
  readonly ne: readonly number[];
  readonly type: GgmlTypeInfo;
  /** Offset relative to the data section (a multiple of the alignment). */
  readonly offset: number;
  /** Absolute byte offset of the data in the file. */
  readonly absOffset: number;
  /** Size of the data without padding. */
  readonly nbytes: number;
  /** Number of values (product of `ne`). */
  readonly nelements: number;
  /** Rows = nelements / ne[0]. */
  readonly rows: number;
  /** Bytes per row. */
  readonly rowBytes: number;
}

/** A parsed GGUF header plus the source to read tensor data from. */
export interface GgufFile {
  readonly source: ByteSource;
  readonly version: number;
  /** Data alignment in bytes (`general.alignment`, default 32). */
  readonly alignment: number;
  /** Key/values in file order. */
  readonly metadata: readonly GgufKV[];
  /** Key/values by key. */
  readonly kv: ReadonlyMap<string, GgufKV>;
  readonly tensors: readonly GgufTensorInfo[];
  /** Byte offset just after the last tensor info. */
  readonly tensorInfoEnd: number;
  /** Absolute byte offset of the data section (tensorInfoEnd rounded up to the alignment). */
  readonly dataOffset: number;
}

/** Limits protecting the reader from hostile headers. Defaults in brackets. */
export interface GgufReadLimits {
  /** Longest string in bytes [16 MiB]. */
  maxStringBytes?: number;
  /** Most elements in one array [16 Mi]. */
  maxArrayItems?: number;
  /** Deepest array nesting [8]. */
  maxArrayDepth?: number;
  /** Most tensors [1 Mi]. */
  maxTensors?: number;
  /** Most key/values [1 Mi]. */
  maxKV?: number;
  /** Header read window in bytes [64 KiB]. */
  chunkBytes?: number;
}

/** GGUF magic, "GGUF" read as a little-endian u32. */
export const GGUF_MAGIC = 0x46554747;
/** ggml's GGML_MAX_DIMS. */
export const GGML_MAX_DIMS = 4;
/** ggml's GGML_MAX_NAME: a tensor name must be shorter (in bytes) than this. */
export const GGML_MAX_NAME = 64;
/** The default data alignment (GGUF_DEFAULT_ALIGNMENT). */
export const GGUF_DEFAULT_ALIGNMENT = 32;

/**
 * @internal The strings of a string array as read: string i is the UTF-8 (checked well-formed when
 * read) `bytes[starts[i], starts[i] + lens[i])`, `bytes` being the array's encoded bytes.
 */
export interface GgufStringTable {
  readonly bytes: Uint8Array;
  readonly starts: Float64Array;
  readonly lens: Uint32Array;
}

/**
 * @internal An array as the reader found it: the encoded bytes (element type, count, elements), the
 * element count and, once `items` was first read, a copy of the decoded items (null before: a long
 * array's items are decoded on first access, see gguf-read.ts). The writer emits the bytes unchanged
 * when the array still holds exactly those items (a 16384-token vocabulary: no re-encoding;
 * llama-quantize copies them the same way). `strings`: the string offsets of a string array.
 */
export interface GgufRawArray {
  readonly bytes: Uint8Array;
  readonly itemType: number;
  readonly count: number;
  items: readonly unknown[] | null;
  readonly strings?: GgufStringTable;
}

/** @internal See {@link GgufRawArray}; keyed by the GgufArray object the reader returned. */
export const ggufRawArrays = new WeakMap<object, GgufRawArray>();

/**
 * The element count of an array value without decoding its items (a vocabulary read from a file
 * keeps its 16384 strings undecoded until something reads `items`).
 */
export function ggufArrayLength(a: GgufArray): number {
  const raw = ggufRawArrays.get(a);
  return raw && raw.items === null ? raw.count : a.items.length;
}

/**
 * @internal The undecoded strings of a string array exactly as read from a file (items never read
 * or replaced), else undefined.
 */
export function ggufStringTable(a: GgufArray): GgufStringTable | undefined {
  const raw = ggufRawArrays.get(a);
  return raw && raw.items === null && raw.itemType === 8 ? raw.strings : undefined;
}
