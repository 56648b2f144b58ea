/**
 * llama.cpp importance-matrix files, read the way llama-quantize reads them:
 * - GGUF imatrix (`general.type = "imatrix"`): tensors `<name>.in_sum2` [ne0, n_mat] and
 *   `<name>.counts` [1, n_mat]; importance = in_sum2 / count (1 where count is 0).
 * - legacy `.dat`: i32 n_entries, then per entry i32 name length, name bytes, i32 ncall, i32 nval,
 *   nval f32 values; importance = value / ncall (when ncall > 0). Optional trailer: i32 chunk count,
 *   i32 length + the dataset name.
 * Result: an {@link Imatrix}: tensor name -> Float32Array (ne0 * n_mat values; ne0 per matrix), plus
 * the file's datasets and chunk count, which quantizeModel records as llama-quantize does
 * (quantize.imatrix.file / dataset / entries_count / chunks_count).
 */
import { TensorshrinkError } from "../errors";
import { readGguf, encodeGgufHeader, ggufKV, ggufArray } from "./gguf";
import type { ByteSource } from "./source";
import { concatBytes } from "./bytes";

const MAX_ENTRIES = 1 << 20;
const MAX_NAME = 1 << 12;
const MAX_VALUES = 1 << 28;

/**
 * Importance vectors by tensor name (a Map), with what the file says about how they were computed.
 * quantizeModel writes `quantize.imatrix.file` = `file`, `quantize.imatrix.dataset` = datasets[0]
 * (when any), `quantize.imatrix.entries_count` = size and `quantize.imatrix.chunks_count` = chunkCount
 * (when > 0), as llama-quantize does.
 */
export class Imatrix extends Map<string, Float32Array> {
  /** The file name as given (llama-quantize records the path as typed on its command line). */
  file = "";
  /** Datasets the matrix was computed on (GGUF `imatrix.datasets`, or the legacy trailer's one name). */
  datasets: string[] = [];
  /** Chunks processed (GGUF `imatrix.chunk_count`, legacy trailer); 0 when unknown. */
  chunkCount = 0;
  /** "gguf" or "legacy" (.dat). */
  format: "gguf" | "legacy" = "gguf";
}

/** Reads an imatrix file of either format (detected by the GGUF magic). */
export async function readImatrix(src: ByteSource): Promise<Imatrix> {
  const head = await src.read(0, Math.min(4, src.size));
  const im = head.length === 4 && head[0] === 0x47 && head[1] === 0x47 && head[2] === 0x55 && head[3] === 0x46 ? await readGgufImatrix(src) : await readLegacyImatrix(src);
  im.file = src.name;
  return im;
}

// lround: half away from zero
const lround = (x: number) => (x < 0 ? -Math.round(-x) : Math.round(x));

async function readGgufImatrix(src: ByteSource): Promise<Imatrix> {
  const g = await readGguf(src);
  const out = new Imatrix();
  const ds = g.kv.get("imatrix.datasets");
  if (ds && typeof ds.value === "object" && ds.value !== null && Array.isArray((ds.value as any).items)) out.datasets = (ds.value as any).items.filter((x: unknown) => typeof x === "string");
  const cc = g.kv.get("imatrix.chunk_count");
  if (cc && (typeof cc.value === "number" || typeof cc.value === "bigint")) out.chunkCount = Number(cc.value);
  const byName = new Map(g.tensors.map((t) => [t.name, t]));
  for (const t of g.tensors) {
    if (!t.name.endsWith(".in_sum2")) continue;
    const name = t.name.slice(0, -".in_sum2".length);
    const c = byName.get(`${name}.counts`);
    if (!c) throw new TensorshrinkError("E_FORMAT", `imatrix ${src.name}: tensor ${t.name} has no ${name}.counts`, { offset: t.absOffset, name });
    if (t.type.name !== "f32" || c.type.name !== "f32") throw new TensorshrinkError("E_FORMAT", `imatrix ${src.name}: ${name} must be f32`, { offset: t.absOffset, name });
    const ne0 = t.ne[0], ne1 = t.rows;
    if (c.nelements !== ne1) throw new TensorshrinkError("E_FORMAT", `imatrix ${src.name}: ${name}.counts has ${c.nelements} values, expected ${ne1}`, { offset: c.absOffset, name });
    const sums = f32(await src.read(t.absOffset, t.nbytes));
    const counts = f32(await src.read(c.absOffset, c.nbytes));
    const e = new Float32Array(ne0 * ne1);
    for (let j = 0; j < ne1; j++) {
      // as llama.cpp: the count is rounded to an integer, then used as a float divisor
      const n = Math.fround(lround(counts[j]));
      for (let i = 0; i < ne0; i++) e[j * ne0 + i] = n > 0 ? sums[j * ne0 + i] / n : 1;
    }
    out.set(name, e);
  }
  if (!out.size) throw new TensorshrinkError("E_FORMAT", `imatrix ${src.name}: GGUF file has no *.in_sum2 tensors`, { offset: g.dataOffset });
  return out;
}

async function readLegacyImatrix(src: ByteSource): Promise<Imatrix> {
  if (src.size < 4) throw new TensorshrinkError("E_TRUNCATED", `imatrix ${src.name} is ${src.size} bytes, too short`, { offset: 0 });
  const bytes = await src.read(0, src.size > 64 << 20 ? 4 : src.size);
  let buf = bytes, base = 0;
  const need = async (off: number, n: number) => {
    if (off + n > src.size) throw new TensorshrinkError("E_TRUNCATED", `imatrix ${src.name} ends at byte ${src.size}, ${n} bytes needed at offset ${off}`, { offset: off });
    if (off < base || off + n > base + buf.length) { buf = await src.read(off, Math.min(src.size - off, Math.max(n, 1 << 20))); base = off; }
    return new DataView(buf.buffer, buf.byteOffset + (off - base), n);
  };
  let off = 0;
  const n = (await need(off, 4)).getInt32(0, true); off += 4;
  if (n <= 0 || n > MAX_ENTRIES) throw new TensorshrinkError("E_FORMAT", `imatrix ${src.name}: entry count ${n} at offset 0 is not plausible (not an imatrix file?)`, { offset: 0 });
  const out = new Imatrix();
  out.format = "legacy";
  const dec = new TextDecoder("utf-8", { fatal: true });
  for (let i = 0; i < n; i++) {
    const len = (await need(off, 4)).getInt32(0, true);
    if (len <= 0 || len > MAX_NAME) throw new TensorshrinkError("E_FORMAT", `imatrix ${src.name}: entry ${i} name length ${len} at offset ${off} is invalid`, { offset: off });
    off += 4;
    const nv = await need(off, len);
    let name: string;
    try { name = dec.decode(new Uint8Array(nv.buffer, nv.byteOffset, len)); } catch { throw new TensorshrinkError("E_FORMAT", `imatrix ${src.name}: entry ${i} name at offset ${off} is not UTF-8`, { offset: off }); }
    off += len;
    const hv = await need(off, 8);
    const ncall = hv.getInt32(0, true), nval = hv.getInt32(4, true);
    if (nval <= 0 || nval > MAX_VALUES) throw new TensorshrinkError("E_FORMAT", `imatrix ${src.name}: entry "${name}" value count ${nval} at offset ${off + 4} is invalid`, { offset: off + 4, name });
    off += 8;
    if (off + nval * 4 > src.size) throw new TensorshrinkError("E_TRUNCATED", `imatrix ${src.name}: entry "${name}" needs ${nval * 4} bytes at offset ${off}, file ends at ${src.size}`, { offset: off, name });
    const vals = f32(await src.read(off, nval * 4));
    off += nval * 4;
    if (ncall > 0) { const d = Math.fround(ncall); for (let j = 0; j < nval; j++) vals[j] = vals[j] / d; }
    if (out.has(name)) throw new TensorshrinkError("E_FORMAT", `imatrix ${src.name}: duplicate entry "${name}"`, { offset: off, name });
    out.set(name, vals);
  }
  // Optional trailer, read as leniently as llama.cpp does: i32 chunk count, i32 length, dataset name.
  if (off + 4 <= src.size) {
    out.chunkCount = Math.max(0, (await need(off, 4)).getInt32(0, true));
    off += 4;
    if (off + 4 <= src.size) {
      const len = (await need(off, 4)).getInt32(0, true);
      off += 4;
      if (len > 0 && len <= MAX_NAME && off + len <= src.size) {
        const b = await need(off, len);
        const raw = new Uint8Array(b.buffer, b.byteOffset, len);
        const z = raw.indexOf(0);
        out.datasets = [new TextDecoder("utf-8").decode(z >= 0 ? raw.subarray(0, z) : raw)];
      }
    }
  }
  return out;
}

function f32(b: Uint8Array): Float32Array {
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

/**
 * Writes the legacy .dat format (entries as given, ncall = 1), with the optional trailer (chunk count
 * and dataset name) when `trailer` is given. Used by tests and tools.
 */
export function encodeLegacyImatrix(entries: ReadonlyMap<string, Float32Array>, trailer?: { chunkCount: number; dataset?: string }): Uint8Array {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  const i32 = (v: number) => { const b = new Uint8Array(4); new DataView(b.buffer).setInt32(0, v, true); parts.push(b); };
  i32(entries.size);
  for (const [name, v] of entries) {
    const nb = enc.encode(name);
    i32(nb.length); parts.push(nb); i32(1); i32(v.length);
    parts.push(new Uint8Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength)));
  }
  if (trailer) {
    i32(trailer.chunkCount);
    const db = enc.encode(trailer.dataset ?? "");
    i32(db.length);
    parts.push(db);
  }
  return concatBytes(parts);
}

// --- calib: writers -------------------------------------------------------------------------

/**
 * One imatrix entry as llama.cpp's collector holds it before saving: raw Σx² per column of each of the
 * `counts.length` matrices (experts) back to back (`sums.length = ne0 * counts.length`), and the number of
 * activation rows (tokens) each matrix saw.
 */
export interface ImatrixSums {
  /** Σx² per column, `ne0 * nMat` f32 (f64 accepted; rounded to f32 when written). */
  sums: Float32Array | Float64Array;
  /** Rows (tokens) per matrix, `nMat` values. */
  counts: ArrayLike<number>;
}

/** Metadata of an imatrix file, as llama-imatrix writes it. */
export interface ImatrixFileInfo {
  /** Dataset names (the text files), `imatrix.datasets` / the legacy trailer's name. */
  datasets?: string[];
  /** Chunks processed (`imatrix.chunk_count`, the legacy trailer's count). */
  chunkCount: number;
  /** Tokens per chunk (`imatrix.chunk_size`; GGUF only). */
  chunkSize: number;
}

/**
 * Encodes the GGUF imatrix format current llama.cpp writes (and its quantize / common_imatrix_load read):
 * `general.type = "imatrix"`, `imatrix.datasets` (string array), `imatrix.chunk_count` and
 * `imatrix.chunk_size` (u32), and per entry the f32 tensors `<name>.in_sum2` [ne0, nMat] (raw Σx²) and
 * `<name>.counts` [1, nMat] (rows per matrix). Readers divide in_sum2 by counts. Entries are written in the
 * map's order. Size: header + per entry (ne0 + 1) * nMat * 4 bytes, each tensor padded to 32 bytes.
 * @throws TensorshrinkError `E_SHAPE` when sums.length is not a multiple of counts.length, `E_RANGE` for names
 *   longer than 54 bytes (GGUF's 63-byte tensor-name limit with the suffix).
 */
export function encodeImatrixGguf(entries: ReadonlyMap<string, ImatrixSums>, info: ImatrixFileInfo): Uint8Array {
  const md = [
    ggufKV("general.type", "str", "imatrix"),
    ggufKV("imatrix.datasets", "arr", ggufArray("str", info.datasets ?? [])),
    ggufKV("imatrix.chunk_count", "u32", info.chunkCount >>> 0),
    ggufKV("imatrix.chunk_size", "u32", info.chunkSize >>> 0),
  ];
  const specs: { name: string; ne: number[]; type: string }[] = [];
  const datas: Float32Array[] = [];
  for (const [name, e] of entries) {
    const nMat = e.counts.length;
    if (nMat < 1 || e.sums.length % nMat !== 0 || e.sums.length === 0) throw new TensorshrinkError("E_SHAPE", `imatrix entry ${name}: ${e.sums.length} sums are not ${nMat} matrices of equal width`, { name });
    specs.push({ name: `${name}.in_sum2`, ne: [e.sums.length / nMat, nMat], type: "f32" });
    datas.push(e.sums instanceof Float32Array ? e.sums : Float32Array.from(e.sums));
    specs.push({ name: `${name}.counts`, ne: [1, nMat], type: "f32" });
    datas.push(Float32Array.from(e.counts as ArrayLike<number>));
  }
  const layout = encodeGgufHeader(md, specs);
  const out = new Uint8Array(layout.fileSize);
  out.set(layout.header, 0);
  for (let i = 0; i < datas.length; i++) {
    const d = datas[i]!;
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), layout.dataOffset + layout.offsets[i]!);
  }
  return out;
}

/**
 * Encodes the legacy `.dat` format exactly as llama-imatrix (c392e50 and earlier) saves it: i32 entry count;
 * per entry i32 name length, name, i32 ncall, i32 nval, nval f32 values = (Σx² / count) * ncall; then the
 * trailer i32 chunk count and i32 length + dataset name. Readers divide by ncall, so the importance read back
 * is the per-token mean Σx² / count. `ncall` is llama.cpp's number of collector calls (one per ubatch: chunks
 * × ceil(ctx / batch)); it only scales the stored values. Entries with a zero count are refused (llama.cpp
 * skips entries with partial data; filter them first).
 * @throws TensorshrinkError `E_RANGE` when ncall < 1 or a count is 0.
 */
export function encodeImatrixLegacy(entries: ReadonlyMap<string, ImatrixSums>, info: ImatrixFileInfo & { ncall: number }): Uint8Array {
  if (!(info.ncall >= 1)) throw new TensorshrinkError("E_RANGE", `legacy imatrix: ncall must be >= 1, got ${info.ncall}`, {});
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  const i32 = (v: number) => { const b = new Uint8Array(4); new DataView(b.buffer).setInt32(0, v, true); parts.push(b); };
  i32(entries.size);
  const nc = Math.fround(info.ncall);
  for (const [name, e] of entries) {
    const nMat = e.counts.length, ne0 = e.sums.length / nMat;
    const nb = enc.encode(name);
    i32(nb.length); parts.push(nb); i32(info.ncall); i32(e.sums.length);
    const v = new Float32Array(e.sums.length);
    for (let m = 0; m < nMat; m++) {
      const c = e.counts[m]!;
      if (!(c > 0)) throw new TensorshrinkError("E_RANGE", `legacy imatrix: entry ${name} matrix ${m} has no data (count ${c})`, { name });
      const cf = Math.fround(c);
      for (let j = 0; j < ne0; j++) v[m * ne0 + j] = Math.fround(Math.fround(Math.fround(e.sums[m * ne0 + j]!) / cf) * nc);
    }
    parts.push(new Uint8Array(v.buffer));
  }
  i32(info.chunkCount);
  const db = enc.encode(info.datasets?.[0] ?? "");
  i32(db.length);
  parts.push(db);
  return concatBytes(parts);
}
