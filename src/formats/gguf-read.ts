/**
 * GGUF reader (see gguf.ts for the layout): the header through a bounded window (reads of 64 KiB, doubling up to 1 MiB), every
 * count and length validated against limits and the file size before allocating; `TensorshrinkError`
 * (`E_FORMAT` / `E_TRUNCATED`) with `details.offset` = the byte offset of the offending field.
 */
import { TensorshrinkError } from "../errors";
import { nodeBuiltin } from "../engine/node-builtin";
import { findGgmlType } from "./ggml-types";
import type { ByteSource } from "./source";
import { decodeShortUtf8, isWellFormedUtf8, SHORT_UTF8 } from "./utf8-short";
import { decodeStringTable } from "./gguf-strings";
import { GGUF_TYPE, GGUF_TYPE_NAMES, GGUF_MAGIC, GGML_MAX_DIMS, GGML_MAX_NAME, GGUF_DEFAULT_ALIGNMENT, ggufRawArrays, type GgufArray, type GgufRawArray, type GgufStringTable, type GgufFile, type GgufKV, type GgufReadLimits, type GgufTensorInfo, type GgufValue, type GgufValueType } from "./gguf-types";

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
  /** The next read's length: `chunk` first, doubled after each read up to 16 x `chunk` (a vocabulary of a few 100 KiB in 3-4 reads, a small header in one). */
  private next: number;
  constructor(readonly src: ByteSource, pos: number, readonly chunk: number) {
    this.pos = pos;
    this.next = chunk;
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
    const len = Math.min(Math.max(n, this.next), this.src.size - this.pos);
    this.next = Math.min(this.next * 2, this.chunk * 16);
    if (this.rec) this.keep();
    this.buf = await this.src.read(this.pos, len);
    this.dv = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    this.bufStart = this.pos;
  }
  private rec: Uint8Array[] | null = null;
  private recPos = 0;
  /** Copies the bytes consumed since the last keep() (all in the current window) to the recording. */
  private keep() {
    this.rec!.push(this.buf.slice(this.recPos - this.bufStart, this.pos - this.bufStart));
    this.recPos = this.pos;
  }
  /** Starts recording the bytes consumed from here on (the reads stay the same). */
  record() { this.rec = []; this.recPos = this.pos; }
  /** The bytes consumed since record(), in one array, recording on (for error paths). */
  recordedSoFar(): Uint8Array {
    const parts = [...this.rec!, this.buf.subarray(this.recPos - this.bufStart, this.pos - this.bufStart)];
    const out = new Uint8Array(parts.reduce((a, p) => a + p.byteLength, 0));
    let o = 0;
    for (const p of parts) { out.set(p, o); o += p.byteLength; }
    return out;
  }
  /** Stops recording: the bytes consumed since record(), in one array. */
  recorded(): Uint8Array {
    this.keep();
    const parts = this.rec!;
    this.rec = null;
    if (parts.length === 1) return parts[0];
    const out = new Uint8Array(parts.reduce((a, p) => a + p.byteLength, 0));
    let o = 0;
    for (const p of parts) { out.set(p, o); o += p.byteLength; }
    return out;
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
  /** The current window and pos's index in it (for scanning bytes in place; then advance pos). */
  get window(): Uint8Array { return this.buf; }
  /** The file offset of window[0]. */
  get windowStart(): number { return this.bufStart; }
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

/** Typed arrays of the number element types (u8 … f32, f64), read in the host's byte order. */
const NUMBER_VIEWS: Partial<Record<number, { new (b: ArrayBuffer, o: number, n: number): ArrayLike<number> }>> = {
  0: Uint8Array, 1: Int8Array, 2: Uint16Array, 3: Int16Array, 4: Uint32Array, 5: Int32Array, 6: Float32Array, 12: Float64Array,
};
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Top-level arrays of at least this many scalars or strings keep their encoded bytes (ggufRawArrays)
 * and are decoded lazily: `items` is made from the bytes the first time it is read. Every check the
 * eager path makes still happens while reading (string lengths against the limit and the file end,
 * well-formed UTF-8), with the same errors at the same byte offsets.
 */
const RAW_ARRAY_ITEMS = 64;

/** What readArrayBody found for a lazily decoded array: its count and, for strings, their offsets. */
interface LazyBody { lazy: true; itemType: number; count: number; starts?: Float64Array; lens?: Uint32Array; maxLen?: number }

async function readArray(c: Cursor, lim: Lim, depth: number, key: string): Promise<GgufArray> {
  const at = c.pos;
  if (depth > lim.maxArrayDepth) throw fmt(at, `key ${key}: arrays nested deeper than ${lim.maxArrayDepth}`, { key });
  // a top-level array is recorded as it is read: its bytes are kept only when it is long enough
  const recording = depth === 1;
  if (recording) c.record();
  const a = await readArrayBody(c, lim, depth, key, at, recording);
  if (!recording) return a as GgufArray;
  const bytes = c.recorded();
  if ("lazy" in a) {
    if (a.itemType === 8) checkUtf8(key, bytes, a, at);
    return lazyArray(bytes, a);
  }
  if (a.itemType !== 9 && a.items.length >= RAW_ARRAY_ITEMS) ggufRawArrays.set(a, { bytes, itemType: a.itemType, count: a.items.length, items: a.items.slice() });
  return a;
}

/**
 * A GgufArray whose `items` is decoded from `bytes` on first read (then a plain writable property);
 * assigning `items` before that replaces them (and the writer re-encodes them).
 */
function lazyArray(bytes: Uint8Array, body: LazyBody): GgufArray {
  const strings: GgufStringTable | undefined = body.starts && body.lens ? { bytes, starts: body.starts, lens: body.lens } : undefined;
  const raw: GgufRawArray = { bytes, itemType: body.itemType, count: body.count, items: null, ...(strings ? { strings } : {}) };
  const a = { itemType: body.itemType as GgufValueType } as { itemType: GgufValueType; items: GgufValue[] };
  const settle = (items: GgufValue[]) => Object.defineProperty(a, "items", { value: items, writable: true, enumerable: true, configurable: true });
  Object.defineProperty(a, "items", {
    enumerable: true,
    configurable: true,
    get() {
      const items = strings ? decodeStringTable(strings) : decodeNumbers(bytes, body.itemType, body.count);
      raw.items = items.slice();
      settle(items);
      return items;
    },
    set(v: GgufValue[]) {
      ggufRawArrays.delete(a);
      settle(v);
    },
  });
  ggufRawArrays.set(a, raw);
  return a;
}

/** The elements of an encoded number array (12 header bytes: element type u32, count u64). */
function decodeNumbers(bytes: Uint8Array, itemType: number, n: number): GgufValue[] {
  return decodeNumbersInto(new Array(n), 0, bytes.subarray(12, 12 + n * ELEM_SIZE[itemType]!), itemType, n);
}

/** Decodes `k` little-endian elements of number type `itemType` from `b` into items[i..i+k); returns items. */
function decodeNumbersInto(items: GgufValue[], i: number, b: Uint8Array, itemType: number, k: number): GgufValue[] {
  const View = LITTLE_ENDIAN ? NUMBER_VIEWS[itemType] : undefined;
  if (View) {
    // one copy into an aligned typed array instead of a DataView call per element
    const v = new View(b.slice(0, k * ELEM_SIZE[itemType]!).buffer, 0, k);
    for (let j = 0; j < k; j++) items[i + j] = v[j]!;
    return items;
  }
  const es = ELEM_SIZE[itemType]!;
  const dv = new DataView(b.buffer, b.byteOffset, k * es);
  for (let j = 0; j < k; j++) {
    const o = j * es;
    switch (itemType) {
      case 0: items[i + j] = dv.getUint8(o); break;
      case 1: items[i + j] = dv.getInt8(o); break;
      case 2: items[i + j] = dv.getUint16(o, true); break;
      case 3: items[i + j] = dv.getInt16(o, true); break;
      case 4: items[i + j] = dv.getUint32(o, true); break;
      case 5: items[i + j] = dv.getInt32(o, true); break;
      case 6: items[i + j] = dv.getFloat32(o, true); break;
      case 10: items[i + j] = dv.getBigUint64(o, true); break;
      case 11: items[i + j] = dv.getBigInt64(o, true); break;
      case 12: items[i + j] = dv.getFloat64(o, true); break;
    }
  }
  return items;
}

/**
 * Reads past the strings of a string array, recording where each one is, with the checks readString
 * makes (length within the limit and the file, well-formed UTF-8) and its errors, in file order.
 * The walk over the length fields is a sync loop over the read window (walkStrings: V8 does not
 * optimize a long loop inside an async function while it runs, so the 16384 iterations of a
 * vocabulary ran interpreted, ~40 ms cold); UTF-8 is checked after it by one native TextDecoder pass
 * over all the strings' bytes when every string is shorter than 128 bytes (the length fields are then
 * ASCII bytes, so the whole run is well-formed exactly when every string is), else string by string.
 */
async function scanStrings(c: Cursor, lim: Lim, key: string, n: number, at: number): Promise<LazyBody> {
  const starts = new Float64Array(n), lens = new Uint32Array(n);
  const st = new Float64Array([c.pos, 0]); // [next string's file offset, longest string so far]
  /** Throws the error readString gives for string i (at file offset sAt), after any invalid UTF-8 before it. */
  const fail = async (i: number, sAt: number): Promise<never> => {
    c.pos = sAt;
    checkUtf8Each(key, starts, lens, i, at, c.recordedSoFar());
    await readString(c, lim, `value of ${key}[${i}]`);
    throw fmt(sAt, `value of ${key}[${i}]: unreadable`); // not reached: readString threw
  };
  const size = c.src.size;
  let i = 0;
  for (;;) {
    i = walkStrings(c.window, c.windowStart, st, i, n, starts, lens, at, lim.maxStringBytes, size);
    if (i >= n) break;
    // string i is not all in the window, or fails a check
    const p = st[0]!;
    c.pos = p;
    if (p + 8 > size) await fail(i, p);
    if (!c.has(8)) await c.ensure(8, `the length of value of ${key}[${i}]`);
    const len = Number(c.u64());
    c.pos = p;
    if (!(len <= lim.maxStringBytes && len <= size - p - 8)) await fail(i, p);
    await c.ensure(8 + len, `value of ${key}[${i}]`);
  }
  c.pos = st[0]!;
  return { lazy: true, itemType: 8, count: n, starts, lens, maxLen: st[1]! };
}

/**
 * The sync part of scanStrings: strings i.. that are whole in `buf` (file offset `base`) and pass the
 * length checks; returns the first string that is not (n when all are done), st = [offset, longest].
 */
function walkStrings(buf: Uint8Array, base: number, st: Float64Array, i: number, n: number, starts: Float64Array, lens: Uint32Array, at: number, maxBytes: number, size: number): number {
  let p = st[0]!, maxLen = st[1]!;
  const end = base + buf.length;
  // two u32 reads per length field rather than eight byte loads: fewer bytecodes while this loop
  // still runs in the interpreter (cold, it does for most of a 16384-token vocabulary)
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  for (; i < n; i++) {
    if (p + 8 > end) break;
    const r = p - base;
    if (dv.getUint32(r + 4, true) !== 0) break; // >= 4 GiB: over any limit, the caller reports it
    const len = dv.getUint32(r, true);
    const s = p + 8;
    if (len > maxBytes || len > size - s || s + len > end) break;
    starts[i] = s - at;
    lens[i] = len;
    if (len > maxLen) maxLen = len;
    p = s + len;
  }
  st[0] = p;
  st[1] = maxLen;
  return i;
}

const utf8Check = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * node:buffer's isUtf8 (Node >= 18.14, Deno, Bun): validation without building the decoded string.
 * It accepts exactly what a fatal TextDecoder decodes (well-formed UTF-8: no overlong forms, no
 * surrogates, nothing above U+10FFFF, no truncated sequence). Null elsewhere (browsers, workerd).
 */
type IsUtf8 = (b: Uint8Array) => boolean;
let isUtf8Native: Promise<IsUtf8 | null> | null = null;
let isUtf8: IsUtf8 | null = null;
function loadIsUtf8(): Promise<IsUtf8 | null> {
  const p = (globalThis as any).process;
  isUtf8Native ??= p?.versions?.node
    ? nodeBuiltin<{ isUtf8?: IsUtf8 }>("node:buffer").then((m) => (typeof m.isUtf8 === "function" ? m.isUtf8 : null), () => null)
    : Promise.resolve(null);
  return isUtf8Native;
}

/** Whether `b` is well-formed UTF-8 (isUtf8 where the runtime has it, else a fatal TextDecoder). */
function wellFormed(b: Uint8Array): boolean {
  if (isUtf8) return isUtf8(b);
  try { utf8Check.decode(b); return true; } catch { return false; }
}

/** Checks the UTF-8 of a scanned string array (see scanStrings); throws readString's error for the first bad string. */
function checkUtf8(key: string, bytes: Uint8Array, body: LazyBody, at: number): void {
  // strings shorter than 128 bytes: their u64 length fields are ASCII, so the whole body is checked at once
  if (body.maxLen! < 128 && wellFormed(bytes.subarray(12))) return;
  checkUtf8Each(key, body.starts!, body.lens!, body.count, at, bytes);
}

/** Checks strings 0..end-1 one by one in `bytes` (the array's bytes from its start at file offset `at`). */
function checkUtf8Each(key: string, starts: Float64Array, lens: Uint32Array, end: number, at: number, bytes: Uint8Array): void {
  for (let i = 0; i < end; i++) {
    if (!isWellFormedUtf8(bytes, starts[i]!, lens[i]!)) throw fmt(at + starts[i]!, `value of ${key}[${i}]: invalid UTF-8`);
  }
}

async function readArrayBody(c: Cursor, lim: Lim, depth: number, key: string, at: number, lazyOk = false): Promise<GgufArray | LazyBody> {
  await c.ensure(12, `array header of ${key}`);
  const itemType = c.u32();
  if (itemType > 12) throw fmt(at, `key ${key}: unknown array element type ${itemType}`, { key, valueType: itemType });
  const count = c.u64();
  if (count > BigInt(lim.maxArrayItems)) throw fmt(at + 4, `key ${key}: array of ${count} elements exceeds the limit of ${lim.maxArrayItems}`, { key, count: count.toString() });
  const n = Number(count);
  const minBytes = n * ELEM_SIZE[itemType]!;
  if (minBytes > c.remaining) throw trunc(at + 4, `key ${key}: array of ${n} elements needs at least ${minBytes} bytes but the file ends at byte ${c.src.size}`, { key, count: n, end: c.src.size });
  const lazy = lazyOk && n >= RAW_ARRAY_ITEMS && itemType !== 9 && itemType !== 7;
  if (lazy && itemType === 8) return scanStrings(c, lim, key, n, at);
  const items: GgufValue[] = new Array(lazy ? 0 : n);
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
      if (lazy) {
        c.pos += k * es; // decoded from the recorded bytes when items is first read
        i += k;
        continue;
      }
      decodeNumbersInto(items, i, c.bytes(k * es), itemType, k);
      i += k;
    }
  }
  if (lazy) return { lazy: true, itemType, count: n };
  return { itemType: itemType as GgufValueType, items };
}

/**
 * Read and validate a GGUF header (key/values and tensor infos) without reading tensor data.
 * Memory used is bounded by the header's real content (plus one 64 KiB window); every declared
 * count and length is checked against `limits` and the file size first. A top-level array of 64 or
 * more items (a vocabulary: tokens, scores, token types, merges) keeps its encoded bytes and decodes
 * `items` the first time it is read (all its strings are checked while reading: lengths, bounds,
 * well-formed UTF-8); {@link ggufArrayLength} counts without decoding.
 * @throws TensorshrinkError `E_FORMAT` (bad magic/version, unknown value or ggml type, duplicate key or
 *   tensor name, bad UTF-8, misaligned or overlapping tensor data, absurd counts/dims) or `E_TRUNCATED`;
 *   `details.offset` is the byte offset of the offending field.
 */
export async function readGguf(source: ByteSource, limits?: GgufReadLimits): Promise<GgufFile> {
  const lim = limitsOf(limits);
  isUtf8 ??= await loadIsUtf8();
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
