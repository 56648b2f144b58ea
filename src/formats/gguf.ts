/**
 * GGUF v3 reader and writer (llama.cpp's model file format), streaming and hardened.
 *
 * Layout (little-endian): magic `GGUF`, version u32, tensor count u64, key/value count u64,
 * key/values (key string, value type u32, value), tensor infos (name string, n_dims u32, n_dims
 * u64 extents in ggml `ne` order, ggml type u32, offset u64 relative to the data section),
 * zero padding to `general.alignment` (default 32), tensor data (each tensor padded to the alignment).
 *
 * The reader pulls the header through a bounded window (64 KiB reads), validates every count and
 * length against limits and the file size before allocating, and throws `TensorshrinkError`
 * (`E_FORMAT` / `E_TRUNCATED`) with `details.offset` = the byte offset of the offending field.
 * The writer emits the header, then streams tensor data in tensor by tensor, so a whole model
 * is never in memory.
 */
import { TensorshrinkError, isTensorshrinkError } from "../errors";
import { findGgmlType, ggmlType, type GgmlTypeInfo } from "./ggml-types";
import type { ByteSink, ByteSource } from "./source";
import { decodeShortUtf8, encodeShortUtf8, SHORT_UTF8 } from "./utf8-short";

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

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const MAX_SAFE_BIG = BigInt(MAX_SAFE);

function fmt(offset: number, message: string, extra: Record<string, unknown> = {}): TensorshrinkError {
  return new TensorshrinkError("E_FORMAT", `${message} (at byte offset ${offset})`, { offset, ...extra });
}

function trunc(offset: number, message: string, extra: Record<string, unknown> = {}): TensorshrinkError {
  return new TensorshrinkError("E_TRUNCATED", `${message} (at byte offset ${offset})`, { offset, ...extra });
}

const utf8Fatal = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const utf8Enc = new TextEncoder();

/** UTF-8 bytes -> string, fatal on invalid UTF-8 (short strings without TextDecoder: utf8-short.ts). */
function decodeUtf8(b: Uint8Array): string {
  return decodeShortUtf8(b, 0, b.length) ?? utf8Fatal.decode(b);
}

/** A bounded read window over a ByteSource, for sequential header parsing. */
class Cursor {
  pos: number;
  private buf: Uint8Array = new Uint8Array(0);
  private dv: DataView = new DataView(new ArrayBuffer(0));
  private bufStart = 0;
  constructor(readonly src: ByteSource, pos: number, readonly chunk: number) {
    this.pos = pos;
  }
  get remaining(): number {
    return this.src.size - this.pos;
  }
  /** Whether [pos, pos+n) is already readable synchronously (no await needed). */
  has(n: number): boolean {
    const rel = this.pos - this.bufStart;
    return rel >= 0 && rel + n <= this.buf.byteLength;
  }
  /** Make [pos, pos+n) readable synchronously. n must already be bounded by the caller. */
  async ensure(n: number, what: string): Promise<void> {
    const rel = this.pos - this.bufStart;
    if (rel >= 0 && rel + n <= this.buf.byteLength) return;
    if (this.pos + n > this.src.size) {
      throw trunc(this.pos, `file ends at byte ${this.src.size} while reading ${what} (${n} bytes)`, { end: this.src.size });
    }
    const len = Math.min(Math.max(n, this.chunk), this.src.size - this.pos);
    this.buf = await this.src.read(this.pos, len);
    this.dv = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    this.bufStart = this.pos;
  }
  private o(n: number): number {
    const r = this.pos - this.bufStart;
    this.pos += n;
    return r;
  }
  u8() { return this.dv.getUint8(this.o(1)); }
  i8() { return this.dv.getInt8(this.o(1)); }
  u16() { return this.dv.getUint16(this.o(2), true); }
  i16() { return this.dv.getInt16(this.o(2), true); }
  u32() { return this.dv.getUint32(this.o(4), true); }
  i32() { return this.dv.getInt32(this.o(4), true); }
  f32() { return this.dv.getFloat32(this.o(4), true); }
  f64() { return this.dv.getFloat64(this.o(8), true); }
  u64() { return this.dv.getBigUint64(this.o(8), true); }
  i64() { return this.dv.getBigInt64(this.o(8), true); }
  bytes(n: number) { const r = this.o(n); return this.buf.subarray(r, r + n); }
}

const ELEM_SIZE = [1, 1, 2, 2, 4, 4, 4, 1, 8, 12, 8, 8, 8]; // minimal encoded size per type

interface Lim { maxStringBytes: number; maxArrayItems: number; maxArrayDepth: number; maxTensors: number; maxKV: number; chunkBytes: number }

function limitsOf(l: GgufReadLimits = {}): Lim {
  return {
    maxStringBytes: l.maxStringBytes ?? 16 << 20,
    maxArrayItems: l.maxArrayItems ?? 16 << 20,
    maxArrayDepth: l.maxArrayDepth ?? 8,
    maxTensors: l.maxTensors ?? 1 << 20,
    maxKV: l.maxKV ?? 1 << 20,
    chunkBytes: l.chunkBytes ?? 64 << 10,
  };
}

async function readString(c: Cursor, lim: Lim, what: string, maxBytes = lim.maxStringBytes): Promise<string> {
  const at = c.pos;
  await c.ensure(8, `the length of ${what}`);
  const len = c.u64();
  if (len > BigInt(maxBytes)) throw fmt(at, `${what}: string length ${len} exceeds the limit of ${maxBytes} bytes`, { length: len.toString() });
  const n = Number(len);
  if (n > c.remaining) throw trunc(at, `${what}: string of ${n} bytes runs past the end of the file (${c.src.size} bytes)`, { length: n, end: c.src.size });
  await c.ensure(n, what);
  const b = c.bytes(n);
  try {
    return decodeUtf8(b);
  } catch {
    throw fmt(at + 8, `${what}: invalid UTF-8`);
  }
}

/**
 * readString without an await when the string is already in the cursor's window and is short
 * valid ASCII (the common vocabulary token); otherwise undefined and the cursor is unchanged.
 */
function readShortStringSync(c: Cursor, lim: Lim): string | undefined {
  if (!c.has(8)) return undefined;
  const at = c.pos;
  const len = c.u64();
  const n = Number(len);
  if (len > BigInt(SHORT_UTF8) || n > lim.maxStringBytes || !c.has(n)) {
    c.pos = at;
    return undefined;
  }
  const r = decodeShortUtf8(c.bytes(n), 0, n);
  if (r === undefined) c.pos = at; // malformed: readString reports it
  return r;
}

async function readValue(c: Cursor, lim: Lim, type: number, depth: number, key: string): Promise<GgufValue> {
  const at = c.pos;
  switch (type) {
    case 0: await c.ensure(1, key); return c.u8();
    case 1: await c.ensure(1, key); return c.i8();
    case 2: await c.ensure(2, key); return c.u16();
    case 3: await c.ensure(2, key); return c.i16();
    case 4: await c.ensure(4, key); return c.u32();
    case 5: await c.ensure(4, key); return c.i32();
    case 6: await c.ensure(4, key); return c.f32();
    case 7: {
      await c.ensure(1, key);
      const b = c.u8();
      if (b > 1) throw fmt(at, `key ${key}: bool value ${b} is neither 0 nor 1`, { key });
      return b === 1;
    }
    case 8: return readString(c, lim, `value of ${key}`);
    case 9: return readArray(c, lim, depth + 1, key);
    case 10: await c.ensure(8, key); return c.u64();
    case 11: await c.ensure(8, key); return c.i64();
    case 12: await c.ensure(8, key); return c.f64();
    default: throw fmt(at, `key ${key}: unknown value type ${type}`, { key, valueType: type });
  }
}

async function readArray(c: Cursor, lim: Lim, depth: number, key: string): Promise<GgufArray> {
  const at = c.pos;
  if (depth > lim.maxArrayDepth) throw fmt(at, `key ${key}: arrays nested deeper than ${lim.maxArrayDepth}`, { key });
  await c.ensure(12, `array header of ${key}`);
  const itemType = c.u32();
  if (itemType > 12) throw fmt(at, `key ${key}: unknown array element type ${itemType}`, { key, valueType: itemType });
  const count = c.u64();
  if (count > BigInt(lim.maxArrayItems)) throw fmt(at + 4, `key ${key}: array of ${count} elements exceeds the limit of ${lim.maxArrayItems}`, { key, count: count.toString() });
  const n = Number(count);
  const minBytes = n * ELEM_SIZE[itemType]!;
  if (minBytes > c.remaining) throw trunc(at + 4, `key ${key}: array of ${n} elements needs at least ${minBytes} bytes but the file ends at byte ${c.src.size}`, { key, count: n, end: c.src.size });
  const items: GgufValue[] = new Array(n);
  if (itemType === 8) {
    for (let i = 0; i < n; i++) items[i] = readShortStringSync(c, lim) ?? (await readString(c, lim, `value of ${key}[${i}]`));
  } else if (itemType === 9 || itemType === 7) {
    for (let i = 0; i < n; i++) items[i] = await readValue(c, lim, itemType, depth, `${key}[${i}]`);
  } else {
    const es = ELEM_SIZE[itemType]!;
    const per = Math.max(1, Math.floor(lim.chunkBytes / es));
    let i = 0;
    while (i < n) {
      const k = Math.min(per, n - i);
      await c.ensure(k * es, `elements of ${key}`);
      switch (itemType) {
        case 0: for (let j = 0; j < k; j++) items[i++] = c.u8(); break;
        case 1: for (let j = 0; j < k; j++) items[i++] = c.i8(); break;
        case 2: for (let j = 0; j < k; j++) items[i++] = c.u16(); break;
        case 3: for (let j = 0; j < k; j++) items[i++] = c.i16(); break;
        case 4: for (let j = 0; j < k; j++) items[i++] = c.u32(); break;
        case 5: for (let j = 0; j < k; j++) items[i++] = c.i32(); break;
        case 6: for (let j = 0; j < k; j++) items[i++] = c.f32(); break;
        case 10: for (let j = 0; j < k; j++) items[i++] = c.u64(); break;
        case 11: for (let j = 0; j < k; j++) items[i++] = c.i64(); break;
        case 12: for (let j = 0; j < k; j++) items[i++] = c.f64(); break;
      }
    }
  }
  return { itemType: itemType as GgufValueType, items };
}

/**
 * Read and validate a GGUF header (key/values and tensor infos) without reading tensor data.
 * Memory used is bounded by the header's real content (plus one 64 KiB window); every declared
 * count and length is checked against `limits` and the file size first.
 * @throws TensorshrinkError `E_FORMAT` (bad magic/version, unknown value or ggml type, duplicate key or
 *   tensor name, bad UTF-8, misaligned or overlapping tensor data, absurd counts/dims) or `E_TRUNCATED`;
 *   `details.offset` is the byte offset of the offending field.
 */
export async function readGguf(source: ByteSource, limits?: GgufReadLimits): Promise<GgufFile> {
  const lim = limitsOf(limits);
  const c = new Cursor(source, 0, lim.chunkBytes);
  await c.ensure(4, "the magic");
  const magic = c.u32();
  if (magic !== GGUF_MAGIC) {
    const b = [magic & 255, (magic >>> 8) & 255, (magic >>> 16) & 255, magic >>> 24];
    throw fmt(0, `not a GGUF file: magic is ${JSON.stringify(String.fromCharCode(...b))} (0x${b.map((x) => x.toString(16).padStart(2, "0")).join("")}), expected "GGUF"`);
  }
  await c.ensure(4, "the version");
  const version = c.u32();
  if (version !== 2 && version !== 3) {
    if ((version & 0xffff) === 0 && (version >>> 24 === 2 || version >>> 24 === 3)) throw fmt(4, `big-endian GGUF (version ${version >>> 24}) is not supported`, { version });
    throw fmt(4, version === 1 ? "GGUF version 1 is not supported (only 2 and 3)" : `unsupported GGUF version ${version} (only 2 and 3)`, { version });
  }
  await c.ensure(16, "the tensor and key/value counts");
  const nTensorsBig = c.u64();
  const nKVBig = c.u64();
  if (nTensorsBig > BigInt(lim.maxTensors)) throw fmt(8, `tensor count ${nTensorsBig} exceeds the limit of ${lim.maxTensors}`, { count: nTensorsBig.toString() });
  if (nKVBig > BigInt(lim.maxKV)) throw fmt(16, `key/value count ${nKVBig} exceeds the limit of ${lim.maxKV}`, { count: nKVBig.toString() });
  const nTensors = Number(nTensorsBig);
  const nKV = Number(nKVBig);
  if (nKV * 13 > c.remaining) throw trunc(16, `${nKV} key/values need at least ${nKV * 13} bytes but the file ends at byte ${source.size}`, { count: nKV, end: source.size });
  if (nTensors * 32 > c.remaining) throw trunc(8, `${nTensors} tensor infos need at least ${nTensors * 32} bytes but the file ends at byte ${source.size}`, { count: nTensors, end: source.size });

  const metadata: GgufKV[] = [];
  const kv = new Map<string, GgufKV>();
  for (let i = 0; i < nKV; i++) {
    const keyAt = c.pos;
    const key = await readString(c, lim, `key #${i}`, 1 << 16);
    if (kv.has(key)) throw fmt(keyAt, `duplicate key ${JSON.stringify(key)}`, { key });
    const typeAt = c.pos;
    await c.ensure(4, `the value type of ${key}`);
    const type = c.u32();
    if (type > 12) throw fmt(typeAt, `key ${key}: unknown value type ${type}`, { key, valueType: type });
    const value = await readValue(c, lim, type, 0, key);
    const entry: GgufKV = { key, type: type as GgufValueType, value };
    metadata.push(entry);
    kv.set(key, entry);
    if (key === "general.alignment") {
      if (type !== GGUF_TYPE.UINT32) throw fmt(typeAt, `general.alignment must be a u32, got type ${GGUF_TYPE_NAMES[type]}`, { key });
      const a = value as number;
      if (a === 0 || (a & (a - 1)) !== 0) throw fmt(typeAt + 4, `general.alignment ${a} is not a power of two`, { key, alignment: a });
    }
  }
  const alignment = (kv.get("general.alignment")?.value as number | undefined) ?? GGUF_DEFAULT_ALIGNMENT;

  const tensors: GgufTensorInfo[] = [];
  const names = new Map<string, number>();
  const offsetFieldAt: number[] = [];
  for (let i = 0; i < nTensors; i++) {
    const nameAt = c.pos;
    const name = await readString(c, lim, `tensor name #${i}`, 1 << 16);
    if (utf8Enc.encode(name).byteLength >= GGML_MAX_NAME) throw fmt(nameAt, `tensor name ${JSON.stringify(name.slice(0, 80))} is ${utf8Enc.encode(name).byteLength} bytes, ggml allows at most ${GGML_MAX_NAME - 1}`, { tensor: name });
    if (names.has(name)) throw fmt(nameAt, `duplicate tensor name ${JSON.stringify(name)}`, { tensor: name });
    names.set(name, i);
    const ndAt = c.pos;
    await c.ensure(4, `n_dims of ${name}`);
    const nd = c.u32();
    if (nd < 1 || nd > GGML_MAX_DIMS) throw fmt(ndAt, `tensor ${name}: ${nd} dimensions (1..${GGML_MAX_DIMS} allowed)`, { tensor: name });
    const ne: number[] = [];
    let nel = 1;
    for (let d = 0; d < nd; d++) {
      const neAt = c.pos;
      await c.ensure(8, `ne[${d}] of ${name}`);
      const v = c.i64();
      if (v < 0n || v > MAX_SAFE_BIG) throw fmt(neAt, `tensor ${name}: ne[${d}] = ${v} is out of range`, { tensor: name, dim: d });
      const x = Number(v);
      ne.push(x);
      nel *= x;
      if (nel > MAX_SAFE) throw fmt(neAt, `tensor ${name}: element count overflows (ne = [${ne.join(", ")}...])`, { tensor: name });
    }
    const typeAt = c.pos;
    await c.ensure(4, `type of ${name}`);
    const typeId = c.u32();
    const type = findGgmlType(typeId);
    if (!type) throw fmt(typeAt, `tensor ${name}: unknown ggml type id ${typeId}`, { tensor: name, typeId });
    if (ne[0]! % type.blockSize !== 0) throw fmt(typeAt, `tensor ${name}: row length ${ne[0]} is not a multiple of ${type.name}'s block size ${type.blockSize}`, { tensor: name });
    const offAt = c.pos;
    await c.ensure(8, `data offset of ${name}`);
    const off = c.u64();
    if (off > MAX_SAFE_BIG) throw fmt(offAt, `tensor ${name}: data offset ${off} is out of range`, { tensor: name });
    const rows = ne[0] === 0 ? 0 : nel / ne[0]!;
    const rowBytes = (ne[0]! / type.blockSize) * type.bytesPerBlock;
    const nbytes = rowBytes * rows;
    if (nbytes > source.size) throw fmt(ndAt, `tensor ${name}: ${nbytes} bytes of data is more than the whole file (${source.size} bytes)`, { tensor: name });
    offsetFieldAt.push(offAt);
    tensors.push({ name, ne, type, offset: Number(off), absOffset: 0, nbytes, nelements: nel, rows, rowBytes });
  }
  const tensorInfoEnd = c.pos;
  const dataOffset = Math.ceil(tensorInfoEnd / alignment) * alignment;
  if (nTensors > 0 && dataOffset > source.size) throw trunc(tensorInfoEnd, `the data section would start at byte ${dataOffset} but the file ends at byte ${source.size}`, { end: source.size });
  for (let i = 0; i < tensors.length; i++) {
    const t = tensors[i] as { absOffset: number } & GgufTensorInfo;
    if (t.offset % alignment !== 0) throw fmt(offsetFieldAt[i]!, `tensor ${t.name}: data offset ${t.offset} is not a multiple of the alignment ${alignment}`, { tensor: t.name });
    t.absOffset = dataOffset + t.offset;
    if (t.absOffset + t.nbytes > source.size) {
      throw trunc(offsetFieldAt[i]!, `tensor ${t.name}: data [${t.absOffset}, ${t.absOffset + t.nbytes}) runs past the end of the file (${source.size} bytes)`, { tensor: t.name, end: source.size, dataStart: t.absOffset });
    }
  }
  const order = tensors.map((_, i) => i).sort((a, b) => tensors[a]!.offset - tensors[b]!.offset);
  for (let k = 1; k < order.length; k++) {
    const p = tensors[order[k - 1]!]!;
    const t = tensors[order[k]!]!;
    if (t.nbytes > 0 && p.nbytes > 0 && t.offset < p.offset + p.nbytes) {
      throw fmt(offsetFieldAt[order[k]!]!, `tensor ${t.name}: data [${t.offset}, ${t.offset + t.nbytes}) overlaps tensor ${p.name} [${p.offset}, ${p.offset + p.nbytes})`, { tensor: t.name, other: p.name });
    }
  }
  return { source, version, alignment, metadata, kv, tensors, tensorInfoEnd, dataOffset };
}

/** The value of `key`, or `undefined`. Arrays come back as {@link GgufArray}. */
export function ggufGet(file: Pick<GgufFile, "kv">, key: string): GgufValue | undefined {
  return file.kv.get(key)?.value;
}

function tensorOf(file: GgufFile, t: string | GgufTensorInfo): GgufTensorInfo {
  if (typeof t !== "string") return t;
  const info = file.tensors.find((x) => x.name === t);
  if (!info) throw new TensorshrinkError("E_FORMAT", `no tensor named ${JSON.stringify(t)}`, { tensor: t });
  return info;
}

/**
 * Read a tensor's raw bytes (`nbytes`, no padding). Allocates `nbytes`; use
 * {@link readGgufTensorRows} to stream large tensors.
 */
export async function readGgufTensorBytes(file: GgufFile, tensor: string | GgufTensorInfo): Promise<Uint8Array> {
  const t = tensorOf(file, tensor);
  return file.source.read(t.absOffset, t.nbytes);
}

/** Read `count` rows starting at row `start` of a tensor (raw bytes, `count * rowBytes`). */
export async function readGgufTensorRows(file: GgufFile, tensor: string | GgufTensorInfo, start: number, count: number): Promise<Uint8Array> {
  const t = tensorOf(file, tensor);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(count) || start < 0 || count < 0 || start + count > t.rows) {
    throw new TensorshrinkError("E_RANGE", `tensor ${t.name}: rows [${start}, ${start + count}) outside [0, ${t.rows})`, { tensor: t.name });
  }
  return file.source.read(t.absOffset + start * t.rowBytes, count * t.rowBytes);
}

// ---------------------------------------------------------------------------------------------
// Writer

/** Build a typed key/value. `type` is a short name (`"u32"`, `"str"`, `"arr"`, ...) or id. */
export function ggufKV(key: string, type: GgufTypeName | GgufValueType, value: GgufValue): GgufKV {
  const t = typeof type === "number" ? type : (GGUF_TYPE_NAMES.indexOf(type) as GgufValueType);
  if (t < 0 || t > 12) throw new TensorshrinkError("E_RANGE", `unknown GGUF value type ${String(type)}`, { key });
  return { key, type: t, value };
}

/** Build an array value of element type `itemType` (short name or id). */
export function ggufArray(itemType: GgufTypeName | GgufValueType, items: ArrayLike<GgufValue> | Iterable<GgufValue>): GgufArray {
  const t = typeof itemType === "number" ? itemType : (GGUF_TYPE_NAMES.indexOf(itemType) as GgufValueType);
  if (t < 0 || t > 12) throw new TensorshrinkError("E_RANGE", `unknown GGUF value type ${String(itemType)}`, {});
  return { itemType: t, items: Array.from(items as ArrayLike<GgufValue>) };
}

/** What the writer needs to know about a tensor before its data arrives. */
export interface GgufTensorSpec {
  name: string;
  /** Extents in ggml order (`ne[0]` = row length). */
  ne: readonly number[];
  /** ggml type (name, id or info). */
  type: string | number | GgmlTypeInfo;
}

/** The encoded header and the layout it promises. */
export interface GgufLayout {
  /** Header bytes including the zero padding up to `dataOffset`. */
  header: Uint8Array;
  alignment: number;
  dataOffset: number;
  /** Per tensor: offset relative to the data section, and size without padding. */
  offsets: number[];
  nbytes: number[];
  /** Total file size in bytes. */
  fileSize: number;
}

class ByteWriter {
  buf = new Uint8Array(1 << 12);
  dv = new DataView(this.buf.buffer);
  n = 0;
  private grow(k: number) {
    if (this.n + k <= this.buf.byteLength) return;
    let cap = this.buf.byteLength * 2;
    while (cap < this.n + k) cap *= 2;
    const nb = new Uint8Array(cap);
    nb.set(this.buf.subarray(0, this.n));
    this.buf = nb;
    this.dv = new DataView(nb.buffer);
  }
  u8(v: number) { this.grow(1); this.dv.setUint8(this.n, v); this.n += 1; }
  i8(v: number) { this.grow(1); this.dv.setInt8(this.n, v); this.n += 1; }
  u16(v: number) { this.grow(2); this.dv.setUint16(this.n, v, true); this.n += 2; }
  i16(v: number) { this.grow(2); this.dv.setInt16(this.n, v, true); this.n += 2; }
  u32(v: number) { this.grow(4); this.dv.setUint32(this.n, v, true); this.n += 4; }
  i32(v: number) { this.grow(4); this.dv.setInt32(this.n, v, true); this.n += 4; }
  f32(v: number) { this.grow(4); this.dv.setFloat32(this.n, v, true); this.n += 4; }
  f64(v: number) { this.grow(8); this.dv.setFloat64(this.n, v, true); this.n += 8; }
  u64(v: bigint) { this.grow(8); this.dv.setBigUint64(this.n, v, true); this.n += 8; }
  i64(v: bigint) { this.grow(8); this.dv.setBigInt64(this.n, v, true); this.n += 8; }
  bytes(b: Uint8Array) { this.grow(b.byteLength); this.buf.set(b, this.n); this.n += b.byteLength; }
  str(s: string) {
    // short ASCII strings (vocabulary tokens) without TextEncoder's per-call cost
    if (s.length <= SHORT_UTF8) {
      this.grow(8 + 3 * s.length);
      const at = this.n, k = encodeShortUtf8(s, this.buf, at + 8);
      this.dv.setUint32(at, k, true);
      this.dv.setUint32(at + 4, 0, true);
      this.n = at + 8 + k;
      return;
    }
    const b = utf8Enc.encode(s); this.u64(BigInt(b.byteLength)); this.bytes(b);
  }
  zeros(k: number) { this.grow(k); this.buf.fill(0, this.n, this.n + k); this.n += k; }
  result() { return this.buf.slice(0, this.n); }
}

function badValue(key: string, type: number, v: unknown): TensorshrinkError {
  return new TensorshrinkError("E_RANGE", `key ${key}: ${String(v)} is not a valid ${GGUF_TYPE_NAMES[type] ?? type}`, { key });
}

function intIn(key: string, type: number, v: GgufValue, lo: number, hi: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < lo || v > hi) throw badValue(key, type, v);
  return v;
}

function big(key: string, type: number, v: GgufValue, lo: bigint, hi: bigint): bigint {
  let b: bigint;
  if (typeof v === "bigint") b = v;
  else if (typeof v === "number" && Number.isSafeInteger(v)) b = BigInt(v);
  else throw badValue(key, type, v);
  if (b < lo || b > hi) throw badValue(key, type, v);
  return b;
}

function writeValue(w: ByteWriter, key: string, type: number, v: GgufValue, depth: number): void {
  switch (type) {
    case 0: w.u8(intIn(key, type, v, 0, 255)); break;
    case 1: w.i8(intIn(key, type, v, -128, 127)); break;
    case 2: w.u16(intIn(key, type, v, 0, 65535)); break;
    case 3: w.i16(intIn(key, type, v, -32768, 32767)); break;
    case 4: w.u32(intIn(key, type, v, 0, 0xffffffff)); break;
    case 5: w.i32(intIn(key, type, v, -0x80000000, 0x7fffffff)); break;
    case 6: if (typeof v !== "number") throw badValue(key, type, v); w.f32(v); break;
    case 7: if (typeof v !== "boolean") throw badValue(key, type, v); w.u8(v ? 1 : 0); break;
    case 8: if (typeof v !== "string") throw badValue(key, type, v); w.str(v); break;
    case 9: {
      if (typeof v !== "object" || v === null || !Array.isArray((v as GgufArray).items)) throw badValue(key, type, v);
      if (depth > 8) throw new TensorshrinkError("E_RANGE", `key ${key}: arrays nested too deep`, { key });
      const a = v as GgufArray;
      if (!(a.itemType >= 0 && a.itemType <= 12)) throw badValue(key, type, v);
      w.u32(a.itemType);
      w.u64(BigInt(a.items.length));
      for (let i = 0; i < a.items.length; i++) writeValue(w, key, a.itemType, a.items[i]!, depth + 1);
      break;
    }
    case 10: w.u64(big(key, type, v, 0n, (1n << 64n) - 1n)); break;
    case 11: w.i64(big(key, type, v, -(1n << 63n), (1n << 63n) - 1n)); break;
    case 12: if (typeof v !== "number") throw badValue(key, type, v); w.f64(v); break;
    default: throw badValue(key, type, v);
  }
}

/**
 * Encode a GGUF v3 header: key/values in the given order, tensor infos with offsets laid out
 * back to back, each padded to the alignment (`general.alignment` when present, else 32).
 * @throws TensorshrinkError `E_RANGE` (bad value, duplicate key/tensor, bad name), `E_BLOCK` (row length vs block size).
 */
export function encodeGgufHeader(metadata: readonly GgufKV[], tensors: readonly GgufTensorSpec[]): GgufLayout {
  const w = new ByteWriter();
  w.u32(GGUF_MAGIC);
  w.u32(3);
  w.u64(BigInt(tensors.length));
  w.u64(BigInt(metadata.length));
  const keys = new Set<string>();
  let alignment = GGUF_DEFAULT_ALIGNMENT;
  for (const kv of metadata) {
    if (keys.has(kv.key)) throw new TensorshrinkError("E_RANGE", `duplicate key ${JSON.stringify(kv.key)}`, { key: kv.key });
    keys.add(kv.key);
    if (kv.key === "general.alignment") {
      const a = kv.value as number;
      if (kv.type !== GGUF_TYPE.UINT32 || typeof a !== "number" || a <= 0 || (a & (a - 1)) !== 0) {
        throw new TensorshrinkError("E_RANGE", `general.alignment must be a u32 power of two, got ${String(a)}`, { key: kv.key });
      }
      alignment = a;
    }
    w.str(kv.key);
    w.u32(kv.type);
    writeValue(w, kv.key, kv.type, kv.value, 0);
  }
  const names = new Set<string>();
  const offsets: number[] = [];
  const nbytes: number[] = [];
  let off = 0;
  for (const t of tensors) {
    const type = ggmlType(t.type);
    if (names.has(t.name)) throw new TensorshrinkError("E_RANGE", `duplicate tensor name ${JSON.stringify(t.name)}`, { tensor: t.name });
    names.add(t.name);
    if (utf8Enc.encode(t.name).byteLength >= GGML_MAX_NAME) throw new TensorshrinkError("E_RANGE", `tensor name ${t.name} is longer than ${GGML_MAX_NAME - 1} bytes`, { tensor: t.name });
    if (t.ne.length < 1 || t.ne.length > GGML_MAX_DIMS || t.ne.some((x) => !Number.isSafeInteger(x) || x < 0)) {
      throw new TensorshrinkError("E_SHAPE", `tensor ${t.name}: bad extents [${t.ne.join(", ")}]`, { tensor: t.name });
    }
    if (t.ne[0]! % type.blockSize !== 0) {
      throw new TensorshrinkError("E_BLOCK", `tensor ${t.name}: row length ${t.ne[0]} is not a multiple of ${type.name}'s block size ${type.blockSize}`, { tensor: t.name });
    }
    let rows = 1;
    for (let i = 1; i < t.ne.length; i++) rows *= t.ne[i]!;
    const nb = (t.ne[0]! / type.blockSize) * type.bytesPerBlock * rows;
    w.str(t.name);
    w.u32(t.ne.length);
    for (const x of t.ne) w.u64(BigInt(x));
    w.u32(type.id);
    w.u64(BigInt(off));
    offsets.push(off);
    nbytes.push(nb);
    off += Math.ceil(nb / alignment) * alignment;
  }
  const end = w.n;
  const dataOffset = Math.ceil(end / alignment) * alignment;
  w.zeros(dataOffset - end);
  return { header: w.result(), alignment, dataOffset, offsets, nbytes, fileSize: dataOffset + off };
}

/** Tensor data for the writer: whole bytes, or chunks (sync or async iterable) that add up to `nbytes`. */
export type TensorData = Uint8Array | Iterable<Uint8Array | SkipBytes> | AsyncIterable<Uint8Array | SkipBytes>;

/**
 * @internal A piece of tensor data that another writer puts into the sink's target file at this
 * position (a pool worker writing by offset): the sink only advances past it (ByteSink.skip).
 */
export class SkipBytes {
  constructor(readonly byteLength: number) {}
}

/** Options of {@link writeGguf}. */
export interface WriteGgufOptions {
  /** Commit the sink when done (default true). On error the sink is always aborted. */
  commit?: boolean;
  /** Called after each tensor with its index and the bytes written so far. */
  onTensor?(index: number, bytesWritten: number): void;
  /** Abort signal: checked between chunks, aborts the sink (`E_ABORTED`). */
  signal?: AbortSignal;
  /**
   * The header `encodeGgufHeader(metadata, tensors)` already returned for these same arguments
   * (callers that needed the offsets first): written as is instead of encoding it again.
   */
  layout?: GgufLayout;
}

/**
 * Write a GGUF file: the header, then each tensor's data in order, as returned by `data(spec, index)`
 * (called lazily, one tensor at a time, so memory stays bounded by one tensor's chunks), zero-padded
 * to the alignment. The sink is committed on success and aborted on any error, so no partial file remains.
 * @returns the layout that was written (file size in bytes, offsets).
 * @throws TensorshrinkError `E_SHAPE` when a tensor's data is not exactly its `nbytes`.
 */
export async function writeGguf(
  sink: ByteSink,
  metadata: readonly GgufKV[],
  tensors: readonly GgufTensorSpec[],
  data: (spec: GgufTensorSpec, index: number) => TensorData | Promise<TensorData>,
  opts: WriteGgufOptions = {},
): Promise<GgufLayout> {
  try {
    const layout = opts.layout ?? encodeGgufHeader(metadata, tensors);
    await sink.write(layout.header);
    const zeros = new Uint8Array(layout.alignment);
    for (let i = 0; i < tensors.length; i++) {
      const spec = tensors[i]!;
      const d = await data(spec, i);
      let n = 0;
      const put = async (chunk: Uint8Array | SkipBytes) => {
        if (opts.signal?.aborted) throw new TensorshrinkError("E_ABORTED", "aborted", { tensor: spec.name });
        n += chunk.byteLength;
        if (n > layout.nbytes[i]!) throw new TensorshrinkError("E_SHAPE", `tensor ${spec.name}: got more than the ${layout.nbytes[i]} bytes its shape and type need`, { tensor: spec.name });
        if (chunk instanceof SkipBytes) {
          if (!sink.skip) throw new TensorshrinkError("E_ARG_TYPE", `tensor ${spec.name}: data written elsewhere, but the sink cannot skip`, { tensor: spec.name });
          await sink.skip(chunk.byteLength);
        } else await sink.write(chunk);
      };
      if (d instanceof Uint8Array) await put(d);
      else if (Symbol.asyncIterator in (d as object)) { for await (const ch of d as AsyncIterable<Uint8Array | SkipBytes>) await put(ch); }
      else for (const ch of d as Iterable<Uint8Array | SkipBytes>) await put(ch);
      if (n !== layout.nbytes[i]) throw new TensorshrinkError("E_SHAPE", `tensor ${spec.name}: got ${n} bytes, its shape and type need ${layout.nbytes[i]}`, { tensor: spec.name });
      const pad = (layout.alignment - (n % layout.alignment)) % layout.alignment;
      if (pad) await sink.write(zeros.subarray(0, pad));
      opts.onTensor?.(i, sink.bytesWritten);
    }
    if (opts.commit !== false) await sink.commit();
    return layout;
  } catch (e) {
    await sink.abort(e);
    if (isTensorshrinkError(e)) throw e;
    throw new TensorshrinkError("E_IO", `writing GGUF failed: ${(e as Error)?.message ?? e}`, {}, { cause: e });
  }
}

/**
 * Convert a parsed value to plain JSON-friendly data (bigint → decimal string, arrays → JS arrays).
 * Useful for `inspect --json`.
 */
export function ggufValueToJSON(v: GgufValue): unknown {
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "object" && v !== null) return (v as GgufArray).items.map(ggufValueToJSON);
  return v;
}
