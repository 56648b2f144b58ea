/**
 * safetensors reader (single file and sharded through `model.safetensors.index.json`) and a small
 * writer for fixtures.
 *
 * Layout: u64 little-endian header length N, N bytes of UTF-8 JSON
 * `{ "name": { "dtype": "F32", "shape": [rows, cols], "data_offsets": [begin, end] }, "__metadata__": {...} }`,
 * then the data section (offsets relative to its start, row-major, little-endian).
 * Tensors are read lazily by row range and decoded to Float32Array (F32, F16, BF16; F64 too).
 */
import { TensorshrinkError } from "../errors";
import { decodeBf16, decodeF16, decodeF32, encodeBf16, encodeF16 } from "./half";
import type { ByteSource, FileResolver } from "./source";
import { findDuplicateJsonKey } from "./json-keys";

/** Element sizes in bytes of the safetensors dtypes. */
export const SAFETENSORS_DTYPE_BYTES: Readonly<Record<string, number>> = Object.freeze({
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U64: 8, U32: 4, U16: 2, U8: 1, BOOL: 1,
  F8_E4M3: 1, F8_E5M2: 1,
});

/** dtypes {@link SafetensorsTensor.read} can decode to float32. */
export const SAFETENSORS_FLOAT_DTYPES = Object.freeze(["F32", "F16", "BF16", "F64"] as const);

/** One tensor of a safetensors file, read lazily. */
export interface SafetensorsTensor {
  readonly name: string;
  readonly dtype: string;
  /** Shape, outermost first (PyTorch order; ggml `ne` is the reverse). */
  readonly shape: readonly number[];
  /** Absolute byte offset of the data in its file. */
  readonly offset: number;
  readonly nbytes: number;
  /** Values per row (last dimension; 1 for scalars). */
  readonly rowLength: number;
  /** Rows = product of all dimensions but the last. */
  readonly rows: number;
  readonly source: ByteSource;
  /** Raw bytes of rows [start, start+count). */
  readBytes(start?: number, count?: number): Promise<Uint8Array>;
  /** Rows [start, start+count) decoded to float32 (`count * rowLength` values). */
  readRows(start: number, count: number): Promise<Float32Array>;
  /** The whole tensor decoded to float32 (allocates 4 bytes per value). */
  read(): Promise<Float32Array>;
}

/** A parsed safetensors file. */
export interface SafetensorsFile {
  readonly source: ByteSource;
  /** Header JSON length in bytes (N). */
  readonly headerBytes: number;
  /** Start of the data section (8 + N). */
  readonly dataOffset: number;
  readonly metadata: Readonly<Record<string, string>>;
  readonly tensors: readonly SafetensorsTensor[];
}

/** Options of {@link readSafetensors}. */
export interface SafetensorsReadOptions {
  /** Largest accepted header in bytes (default 100 MB, the format's own limit). */
  maxHeaderBytes?: number;
}

function fmt(offset: number, msg: string, extra: Record<string, unknown> = {}) {
  return new TensorshrinkError("E_FORMAT", `${msg} (at byte offset ${offset})`, { offset, ...extra });
}

function decodeTo(dtype: string, bytes: Uint8Array, name: string): Float32Array {
  switch (dtype) {
    case "F32": return decodeF32(bytes);
    case "F16": return decodeF16(bytes);
    case "BF16": return decodeBf16(bytes);
    case "F64": {
      const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const out = new Float32Array(bytes.byteLength >>> 3);
      for (let i = 0; i < out.length; i++) out[i] = dv.getFloat64(i * 8, true);
      return out;
    }
    default:
      throw new TensorshrinkError("E_UNSUPPORTED", `tensor ${name}: dtype ${dtype} cannot be decoded to float32 (F32, F16, BF16, F64 can)`, { tensor: name, dtype });
  }
}

function makeTensor(source: ByteSource, name: string, dtype: string, shape: number[], offset: number, nbytes: number): SafetensorsTensor {
  const rowLength = shape.length ? shape[shape.length - 1]! : 1;
  const numel = shape.reduce((a, b) => a * b, 1);
  const rows = rowLength === 0 ? 0 : numel / rowLength;
  const es = SAFETENSORS_DTYPE_BYTES[dtype]!;
  const t: SafetensorsTensor = {
    name, dtype, shape, offset, nbytes, rowLength, rows, source,
    async readBytes(start = 0, count = rows - start) {
      if (!Number.isSafeInteger(start) || !Number.isSafeInteger(count) || start < 0 || count < 0 || start + count > rows) {
        throw new TensorshrinkError("E_RANGE", `tensor ${name}: rows [${start}, ${start + count}) outside [0, ${rows})`, { tensor: name });
      }
      return source.read(offset + start * rowLength * es, count * rowLength * es);
    },
    async readRows(start: number, count: number) {
      return decodeTo(dtype, await t.readBytes(start, count), name);
    },
    async read() {
      return decodeTo(dtype, await t.readBytes(0, rows), name);
    },
  };
  return t;
}

/**
 * Parse a safetensors header and return lazily readable tensors. Reads only the header.
 * @throws TensorshrinkError `E_FORMAT` (header length over the limit, bad JSON/UTF-8, unknown dtype,
 *   offsets that do not match the shape, overlap) or `E_TRUNCATED` (data past end of file), with `details.offset`.
 */
export async function readSafetensors(source: ByteSource, opts: SafetensorsReadOptions = {}): Promise<SafetensorsFile> {
  const maxHeader = opts.maxHeaderBytes ?? 100_000_000;
  if (source.size < 8) throw new TensorshrinkError("E_TRUNCATED", `${source.name}: ${source.size} bytes is too short for a safetensors header length (at byte offset 0)`, { offset: 0 });
  const lenBytes = await source.read(0, 8);
  const n64 = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8).getBigUint64(0, true);
  if (n64 > BigInt(maxHeader)) throw fmt(0, `${source.name}: header length ${n64} exceeds the limit of ${maxHeader} bytes`);
  const n = Number(n64);
  if (8 + n > source.size) throw new TensorshrinkError("E_TRUNCATED", `${source.name}: header of ${n} bytes runs past the end of the file (${source.size} bytes) (at byte offset 0)`, { offset: 0 });
  const hb = await source.read(8, n);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(hb);
  } catch {
    throw fmt(8, `${source.name}: header is not valid UTF-8`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw fmt(8, `${source.name}: header is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw fmt(8, `${source.name}: header is not a JSON object`);
  const dup = findDuplicateJsonKey(text);
  if (dup) throw fmt(8 + dup.byteOffset, `${source.name}: duplicate key ${JSON.stringify(dup.key)} in the header (readers disagree on which one counts)`, { key: dup.key });
  const dataOffset = 8 + n;
  const dataSize = source.size - dataOffset;
  const tensors: SafetensorsTensor[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, e] of Object.entries(json as Record<string, any>)) {
    if (name === "__metadata__") {
      if (typeof e !== "object" || e === null || Array.isArray(e)) throw fmt(8, `${source.name}: __metadata__ is not an object`);
      metadata = e;
      continue;
    }
    if (typeof e !== "object" || e === null) throw fmt(8, `${source.name}: entry ${name} is not an object`, { tensor: name });
    const { dtype, shape, data_offsets: off } = e;
    if (typeof dtype !== "string" || !(dtype in SAFETENSORS_DTYPE_BYTES)) throw fmt(8, `${source.name}: tensor ${name} has unknown dtype ${JSON.stringify(dtype)}`, { tensor: name });
    if (!Array.isArray(shape) || shape.length > 8 || shape.some((x) => !Number.isSafeInteger(x) || x < 0)) throw fmt(8, `${source.name}: tensor ${name} has a bad shape ${JSON.stringify(shape)}`, { tensor: name });
    if (!Array.isArray(off) || off.length !== 2 || off.some((x) => !Number.isSafeInteger(x) || x < 0) || off[0] > off[1]) throw fmt(8, `${source.name}: tensor ${name} has bad data_offsets ${JSON.stringify(off)}`, { tensor: name });
    let numel = 1;
    for (const x of shape) { numel *= x; if (numel > Number.MAX_SAFE_INTEGER) throw fmt(8, `${source.name}: tensor ${name} shape overflows`, { tensor: name }); }
    const nbytes = numel * SAFETENSORS_DTYPE_BYTES[dtype]!;
    if (off[1] - off[0] !== nbytes) throw fmt(8, `${source.name}: tensor ${name} has ${off[1] - off[0]} bytes of data, its shape [${shape.join(", ")}] ${dtype} needs ${nbytes}`, { tensor: name });
    if (off[1] > dataSize) {
      throw new TensorshrinkError("E_TRUNCATED", `${source.name}: tensor ${name} data ends at byte ${dataOffset + off[1]} past the end of the file (${source.size} bytes) (at byte offset ${dataOffset + off[0]})`, { offset: dataOffset + off[0], tensor: name });
    }
    tensors.push(makeTensor(source, name, dtype, shape, dataOffset + off[0], nbytes));
  }
  const sorted = [...tensors].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const p = sorted[i - 1]!, t = sorted[i]!;
    if (t.nbytes > 0 && p.nbytes > 0 && t.offset < p.offset + p.nbytes) throw fmt(t.offset, `${source.name}: tensor ${t.name} overlaps ${p.name}`, { tensor: t.name, other: p.name });
  }
  return { source, headerBytes: n, dataOffset, metadata, tensors };
}

/** A set of safetensors files seen as one model. */
export interface SafetensorsModel {
  readonly files: readonly SafetensorsFile[];
  /** All tensors by name. */
  readonly tensors: ReadonlyMap<string, SafetensorsTensor>;
  /** Close every file source. */
  close(): Promise<void>;
}

/**
 * Open a Hugging Face model's weights: `model.safetensors.index.json` (sharded; every shard named
 * in `weight_map` is opened) or else `model.safetensors`.
 * @param resolve opens a file name relative to the model directory (see `directoryResolver`, `filesResolver`, `urlResolver` in ./source.ts).
 * @throws TensorshrinkError `E_FORMAT` on a bad index or a tensor missing from its shard, `E_IO` when no weights exist.
 */
export async function openSafetensorsModel(resolve: FileResolver, opts: SafetensorsReadOptions = {}): Promise<SafetensorsModel> {
  const files: SafetensorsFile[] = [];
  const tensors = new Map<string, SafetensorsTensor>();
  const opened: ByteSource[] = [];
  const close = async () => { for (const f of opened) await f.close?.().catch(() => undefined); };
  // every source is registered before it is parsed, so a failure closes it too
  const open = async (name: string) => { const src = await resolve(name); opened.push(src); return src; };
  try {
    let index: ByteSource | undefined;
    try {
      index = await open("model.safetensors.index.json");
    } catch (e) {
      if (!isMissing(e)) throw e;
    }
    if (index) {
      const IDX = "model.safetensors.index.json";
      if (index.size > 64 << 20) throw fmt(0, `${IDX} is ${index.size} bytes, more than 64 MiB`);
      let j: any, text: string;
      try {
        text = new TextDecoder("utf-8", { fatal: true }).decode(await index.read(0, index.size));
        j = JSON.parse(text);
      } catch (e) {
        if ((e as any)?.name === "TensorshrinkError") throw e;
        throw fmt(0, `${IDX} is not valid JSON: ${(e as Error).message}`);
      } finally {
        await index.close?.();
      }
      const dup = findDuplicateJsonKey(text);
      if (dup) throw fmt(dup.byteOffset, `${IDX}: duplicate key ${JSON.stringify(dup.key)} (a tensor listed twice, or in two shards?)`, { key: dup.key, file: IDX });
      const wm = j?.weight_map;
      if (typeof wm !== "object" || wm === null || Array.isArray(wm)) throw fmt(0, `${IDX} has no weight_map object`);
      const shardNames = [...new Set(Object.values(wm as Record<string, unknown>))];
      if (shardNames.length === 0) throw fmt(0, `${IDX}: weight_map is empty`);
      if (shardNames.length > 100_000) throw fmt(0, `${IDX}: ${shardNames.length} shards is not plausible`);
      for (const s of shardNames) {
        if (typeof s !== "string" || s === "" || s.includes("..") || s.startsWith("/") || s.includes("\\") || s.includes("\0")) throw fmt(0, `bad shard name ${JSON.stringify(s)} in ${IDX}`);
      }
      const byShard = new Map<string, Map<string, SafetensorsTensor>>();
      for (const s of shardNames as string[]) {
        const f = await readSafetensors(await open(s), opts);
        files.push(f);
        byShard.set(s, new Map(f.tensors.map((t) => [t.name, t])));
      }
      for (const [name, s] of Object.entries(wm as Record<string, string>)) {
        const t = byShard.get(s)!.get(name);
        if (!t) throw new TensorshrinkError("E_FORMAT", `tensor ${name} is listed in ${IDX} under ${s} but is not in that file`, { tensor: name, file: s });
        tensors.set(name, t);
      }
    } else {
      const f = await readSafetensors(await open("model.safetensors"), opts);
      files.push(f);
      for (const t of f.tensors) tensors.set(t.name, t);
    }
  } catch (e) {
    await close();
    throw e;
  }
  return { files, tensors, close };
}

/** True for the "no such file" errors of the resolvers (ENOENT, HTTP 404, a name not among the files). */
export function isMissing(e: unknown): boolean {
  const d = (e as any)?.details ?? {};
  return d.errno === "ENOENT" || d.status === 404 || /^E_IO: no file named /.test(String((e as any)?.message ?? ""));
}

/** A tensor for {@link encodeSafetensors}. */
export interface SafetensorsInput {
  name: string;
  /** "F32", "F16" or "BF16". */
  dtype: "F32" | "F16" | "BF16";
  /** Shape, outermost first. */
  shape: number[];
  data: Float32Array;
}

/**
 * Write a safetensors file in memory (for fixtures and small models). The header is padded with
 * spaces to a multiple of 8 bytes, as the reference implementation does.
 */
export function encodeSafetensors(tensors: SafetensorsInput[], metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  const payloads: Uint8Array[] = [];
  let off = 0;
  for (const t of tensors) {
    const numel = t.shape.reduce((a, b) => a * b, 1);
    if (numel !== t.data.length) throw new TensorshrinkError("E_SHAPE", `tensor ${t.name}: shape [${t.shape.join(", ")}] has ${numel} values, data has ${t.data.length}`, { tensor: t.name });
    const bytes = t.dtype === "F32" ? new Uint8Array(t.data.slice().buffer) : t.dtype === "F16" ? encodeF16(t.data) : encodeBf16(t.data);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + bytes.byteLength] };
    payloads.push(bytes);
    off += bytes.byteLength;
  }
  let hj = new TextEncoder().encode(JSON.stringify(header));
  const pad = (8 - (hj.byteLength % 8)) % 8;
  if (pad) {
    const p = new Uint8Array(hj.byteLength + pad).fill(0x20);
    p.set(hj);
    hj = p;
  }
  const out = new Uint8Array(8 + hj.byteLength + off);
  new DataView(out.buffer).setBigUint64(0, BigInt(hj.byteLength), true);
  out.set(hj, 8);
  let o = 8 + hj.byteLength;
  for (const p of payloads) { out.set(p, o); o += p.byteLength; }
  return out;
}
