/**
 * GGUF writer (see gguf.ts for the layout): the header, then tensor data streamed in tensor by tensor,
 * so a whole model is never in memory.
 */
import { TensorshrinkError, isTensorshrinkError } from "../errors";
import { ggmlType, type GgmlTypeInfo } from "./ggml-types";
import type { ByteSink } from "./source";
import { encodeShortUtf8, SHORT_UTF8 } from "./utf8-short";
import { GGUF_TYPE, GGUF_TYPE_NAMES, GGUF_MAGIC, GGML_MAX_DIMS, GGML_MAX_NAME, GGUF_DEFAULT_ALIGNMENT, ggufRawArrays, type GgufArray, type GgufKV, type GgufTypeName, type GgufValue, type GgufValueType } from "./gguf-types";

const utf8Enc = new TextEncoder();


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
      if (typeof v !== "object" || v === null) throw badValue(key, type, v);
      // an array exactly as read (its items never decoded, or unchanged since): its bytes as they were
      const raw = ggufRawArrays.get(v);
      if (raw && (v as GgufArray).itemType === raw.itemType && (raw.items === null || unchanged(v as GgufArray, raw as { itemType: number; items: readonly unknown[] }))) { w.bytes(raw.bytes); break; }
      if (!Array.isArray((v as GgufArray).items)) throw badValue(key, type, v);
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

/** Whether an array still holds exactly the items it was read with (same element type, SameValue items). */
function unchanged(a: GgufArray, raw: { itemType: number; items: readonly unknown[] }): boolean {
  if (a.itemType !== raw.itemType || a.items.length !== raw.items.length) return false;
  const x = a.items, y = raw.items;
  for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) return false;
  return true;
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
