/**
 * Teacher files: a model's top-k next-token log-probs per position of a text, recorded once and read
 * back by distillation (see {@link TeacherTopK}). Runtime-neutral: reads a ByteSource, writes a ByteSink.
 *
 * Format (version 1, little-endian; `k` and `V` from the header):
 *
 * | offset | bytes | field |
 * |---|---|---|
 * | 0  | 4  | magic "TSKD" |
 * | 4  | 4  | u32 version = 1 |
 * | 8  | 4  | u32 headerBytes (multiple of 8: 64 + meta JSON + zero padding) |
 * | 12 | 4  | u32 nVocab V |
 * | 16 | 4  | u32 k (1..V) |
 * | 20 | 4  | u32 recordBytes = 12 + 8 k |
 * | 24 | 16 | model fingerprint (16 bytes; zeros = unknown) |
 * | 40 | 16 | tokenizer fingerprint (16 bytes; zeros = unknown) |
 * | 56 | 4  | u32 metaBytes: length of the UTF-8 JSON object at 64 |
 * | 60 | 4  | u32 CRC-32 of bytes [0, headerBytes) with this field as zero |
 * | 64 | metaBytes | JSON metadata (model name, text, context, ...) |
 *
 * Then one record per position, `recordBytes` each, appended as they are produced:
 * u32 token (the input token at this position), u32 pos (its index in its context window; 0 starts a
 * window), u32 ids[k] (the teacher's most probable NEXT tokens, descending, ties to the lower id),
 * f32 logprobs[k] (their log-softmax at temperature 1, nats), f32 rest (ln of the probability of every
 * other token, -Infinity when k = V).
 *
 * Then a 16-byte trailer: magic "TSKE", u32 CRC-32 of all record bytes, u64 number of records. A file
 * without its trailer is incomplete (still being written, or truncated): the reader refuses it with
 * E_TRUNCATED unless opened with `partial: true`, which reads the complete records present.
 * At k = 32 a record is 268 bytes per position.
 */
import { TensorshrinkError } from "../errors";
import type { ByteSource, ByteSink } from "../formats/source";
import { crc32 } from "./crc32";
import type { TeacherTopK } from "./loss";
import { topKLogProbs, topKScratch, type TopKScratch } from "./topk";

/** First 4 bytes of a teacher file. */
export const TEACHER_MAGIC = "TSKD";
/** First 4 bytes of the 16-byte trailer of a complete teacher file. */
export const TEACHER_TRAILER_MAGIC = "TSKE";
/** The format version this code writes and reads. */
export const TEACHER_VERSION = 1;
const FIXED = 64;
const TRAILER = 16;
/** Largest JSON metadata accepted (1 MiB). */
const MAX_META = 1 << 20;
/** Sum of a record's probabilities must be 1 within this (ln-space) tolerance. */
const NORM_TOL = 1e-3;

/** Header of a teacher file. */
export interface TeacherFileHeader {
  version: number;
  /** Vocabulary size V. */
  nVocab: number;
  /** Tokens kept per position. */
  k: number;
  /** Bytes per record: 12 + 8 k. */
  recordBytes: number;
  /** Byte offset of the first record. */
  headerBytes: number;
  /** 32 hex digits (all zeros when unknown). */
  modelFingerprint: string;
  /** 32 hex digits (all zeros when unknown). */
  tokenizerFingerprint: string;
  /** Free-form JSON metadata. */
  meta: Record<string, unknown>;
}

/** Positions decoded from a teacher file (or to append to one). `ids/logprobs/rest/k` make it a TeacherTopK. */
export interface TeacherRecords extends TeacherTopK {
  /** Number of positions. */
  n: number;
  /** Index of the first position in the file. */
  start: number;
  /** [n] input token at each position. */
  tokens: Uint32Array;
  /** [n] position within its context window (0 starts one). */
  pos: Uint32Array;
}

const te = new TextEncoder();
const td = new TextDecoder("utf-8", { fatal: true });
const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const ZERO16 = new Uint8Array(16);

function fpBytes(fp: Uint8Array | string | undefined, what: string): Uint8Array {
  if (fp === undefined) return ZERO16;
  if (typeof fp === "string") {
    if (!/^[0-9a-fA-F]{32}$/.test(fp)) throw new TensorshrinkError("E_RANGE", `${what} fingerprint must be 32 hex digits, got "${fp}"`);
    return Uint8Array.from({ length: 16 }, (_, i) => parseInt(fp.slice(2 * i, 2 * i + 2), 16));
  }
  if (!(fp instanceof Uint8Array) || fp.length !== 16) throw new TensorshrinkError("E_RANGE", `${what} fingerprint must be 16 bytes`);
  return fp;
}

/** Options of {@link TeacherFileWriter.create}. */
export interface TeacherWriterOptions {
  /** Vocabulary size V (>= 1). */
  nVocab: number;
  /** Tokens kept per position, 1..V. */
  k: number;
  /** 16 bytes or 32 hex digits (see {@link ggufFingerprints}). */
  modelFingerprint?: Uint8Array | string;
  tokenizerFingerprint?: Uint8Array | string;
  /** JSON-serializable metadata (at most 1 MiB as JSON). */
  meta?: Record<string, unknown>;
}

/** Encodes the header bytes (with its CRC). @throws E_RANGE on bad sizes or metadata. */
export function encodeTeacherHeader(o: TeacherWriterOptions): Uint8Array {
  const { nVocab: V, k } = o;
  if (!Number.isSafeInteger(V) || V < 1 || V > 0x7fffffff) throw new TensorshrinkError("E_RANGE", `nVocab must be a positive integer, got ${V}`);
  if (!Number.isSafeInteger(k) || k < 1 || k > V || 12 + 8 * k > 0xffffffff) throw new TensorshrinkError("E_RANGE", `k must be an integer from 1 to nVocab = ${V}, got ${k}`);
  const meta = te.encode(JSON.stringify(o.meta ?? {}));
  if (meta.length > MAX_META) throw new TensorshrinkError("E_RANGE", `teacher metadata is ${meta.length} bytes as JSON, at most ${MAX_META}`);
  const hb = (FIXED + meta.length + 7) & ~7;
  const h = new Uint8Array(hb);
  const dv = new DataView(h.buffer);
  h.set(te.encode(TEACHER_MAGIC), 0);
  dv.setUint32(4, TEACHER_VERSION, true);
  dv.setUint32(8, hb, true);
  dv.setUint32(12, V, true);
  dv.setUint32(16, k, true);
  dv.setUint32(20, 12 + 8 * k, true);
  h.set(fpBytes(o.modelFingerprint, "model"), 24);
  h.set(fpBytes(o.tokenizerFingerprint, "tokenizer"), 40);
  dv.setUint32(56, meta.length, true);
  h.set(meta, FIXED);
  dv.setUint32(60, crc32(h), true);
  return h;
}

/**
 * Streaming writer: records are encoded and handed to the sink as they are appended (the sink
 * buffers; a file sink writes a temporary file and renames it on `finish`). Every record is checked
 * (ids < V and distinct, log-probs finite and descending, probabilities summing to 1).
 */
export class TeacherFileWriter {
  /** The header as written (positions are counted by {@link positions}). */
  readonly header: TeacherFileHeader;
  private crc = 0;
  private n = 0;
  private lastPos = -1;
  private state: "open" | "done" | "aborted" = "open";
  private scratch: TopKScratch | null = null;
  private seen: Int32Array;
  private stamp = 0;

  private constructor(private readonly sink: ByteSink, header: TeacherFileHeader) {
    this.header = header;
    this.seen = new Int32Array(header.nVocab).fill(-1);
  }

  /** Writes the header to `sink` and returns the writer. */
  static async create(sink: ByteSink, opts: TeacherWriterOptions): Promise<TeacherFileWriter> {
    const h = encodeTeacherHeader(opts);
    const header = parseHeader(h, "<writer>");
    await sink.write(h);
    return new TeacherFileWriter(sink, header);
  }

  /** Records written so far. */
  get positions(): number {
    return this.n;
  }

  /**
   * Appends `n` positions given as top-k records (tokens[n], pos[n], ids[n*k], logprobs[n*k], rest[n]).
   * @throws E_RANGE / E_NONFINITE naming the position, E_DISPOSED after finish/abort.
   */
  async append(r: Omit<TeacherRecords, "start" | "k"> & { k?: number }): Promise<void> {
    this.checkOpen();
    const { k, nVocab: V, recordBytes } = this.header;
    const n = r.n;
    if (r.k !== undefined && r.k !== k) throw new TensorshrinkError("E_SHAPE", `records have k = ${r.k}, the file has k = ${k}`);
    if (!Number.isSafeInteger(n) || n < 0 || r.tokens.length < n || r.pos.length < n || r.ids.length < n * k || r.logprobs.length < n * k || r.rest.length < n) {
      throw new TensorshrinkError("E_SHAPE", `append: need tokens[${n}], pos[${n}], ids[${n * k}], logprobs[${n * k}], rest[${n}]`);
    }
    const buf = new Uint8Array(n * recordBytes);
    const dv = new DataView(buf.buffer);
    for (let i = 0; i < n; i++) {
      const at = this.n + i;
      const where = { offset: this.header.headerBytes + at * recordBytes, position: at };
      const tok = r.tokens[i]!, pos = r.pos[i]!;
      if (!(tok < V)) throw new TensorshrinkError("E_RANGE", `position ${at}: input token ${tok} is >= nVocab ${V}`, where);
      if (!Number.isSafeInteger(pos) || pos < 0 || (pos !== 0 && pos !== this.lastPos + 1)) throw new TensorshrinkError("E_RANGE", `position ${at}: pos ${pos} must be 0 (a new window) or ${this.lastPos + 1}`, where);
      checkRecord(r.ids, r.logprobs, r.rest[i]!, i * k, k, V, this.seen, at, where, this.stamp++);
      const o = i * recordBytes;
      dv.setUint32(o, tok, true);
      dv.setUint32(o + 4, pos, true);
      for (let j = 0; j < k; j++) {
        dv.setUint32(o + 8 + 4 * j, r.ids[i * k + j]!, true);
        dv.setFloat32(o + 8 + 4 * k + 4 * j, r.logprobs[i * k + j]!, true);
      }
      dv.setFloat32(o + 8 + 8 * k, r.rest[i]!, true);
      this.lastPos = pos;
    }
    this.crc = crc32(buf, this.crc);
    this.n += n;
    await this.sink.write(buf);
  }

  /**
   * Appends positions from full logits [n, V] (row-major): the top-k of each row is taken in float64
   * (see {@link topKLogProbs}). `tokens[i]` is the input token at row i, `pos0` the window index of row 0.
   */
  async appendLogits(logits: Float32Array, tokens: ArrayLike<number>, pos0: number): Promise<void> {
    this.checkOpen();
    const { k, nVocab: V } = this.header;
    if (logits.length % V !== 0) throw new TensorshrinkError("E_SHAPE", `logits length ${logits.length} is not a multiple of nVocab ${V}`);
    const n = logits.length / V;
    if (tokens.length < n) throw new TensorshrinkError("E_SHAPE", `${n} logit rows but ${tokens.length} tokens`);
    this.scratch ??= topKScratch(V, k);
    const ids = new Uint32Array(n * k), lp = new Float32Array(n * k), rest = new Float32Array(n);
    for (let i = 0; i < n; i++) rest[i] = topKLogProbs(logits.subarray(i * V, (i + 1) * V), k, ids, lp, i * k, this.scratch, `position ${this.n + i}`);
    await this.append({ n, tokens: Uint32Array.from({ length: n }, (_, i) => tokens[i]!), pos: Uint32Array.from({ length: n }, (_, i) => pos0 + i), ids, logprobs: lp, rest });
  }

  /** Writes the trailer and commits the sink. Returns the record count and file size. */
  async finish(): Promise<{ positions: number; bytes: number }> {
    this.checkOpen();
    const t = new Uint8Array(TRAILER), dv = new DataView(t.buffer);
    t.set(te.encode(TEACHER_TRAILER_MAGIC), 0);
    dv.setUint32(4, this.crc, true);
    dv.setBigUint64(8, BigInt(this.n), true);
    await this.sink.write(t);
    const bytes = this.sink.bytesWritten;
    await this.sink.commit();
    this.state = "done";
    return { positions: this.n, bytes };
  }

  /** Abandons the file (the sink removes its temporary output). Idempotent. */
  async abort(reason?: unknown): Promise<void> {
    if (this.state !== "open") return;
    this.state = "aborted";
    await this.sink.abort(reason);
  }

  private checkOpen(): void {
    if (this.state !== "open") throw new TensorshrinkError("E_DISPOSED", `teacher file writer is ${this.state === "done" ? "finished" : "aborted"}`);
  }
}

/** Checks one record (ids distinct and < V, logprobs finite, non-increasing, normalized with rest). */
function checkRecord(ids: ArrayLike<number>, lp: ArrayLike<number>, rest: number, o: number, k: number, V: number, seen: Int32Array, at: number, where: Record<string, unknown>, stamp = at): void {
  if (Number.isNaN(rest) || rest === Infinity || rest > NORM_TOL) throw new TensorshrinkError(Number.isNaN(rest) || rest === Infinity ? "E_NONFINITE" : "E_FORMAT", `position ${at}: rest log-mass ${rest} must be <= 0 or -Infinity`, where);
  let prev = Infinity;
  for (let j = 0; j < k; j++) {
    const id = ids[o + j]!, l = lp[o + j]!;
    if (!(id < V)) throw new TensorshrinkError("E_FORMAT", `position ${at}, slot ${j}: token id ${id} is >= nVocab ${V}`, { ...where, slot: j });
    if (seen[id] === stamp) throw new TensorshrinkError("E_FORMAT", `position ${at}, slot ${j}: token id ${id} appears twice`, { ...where, slot: j });
    seen[id] = stamp;
    if (!Number.isFinite(l) || l > NORM_TOL) throw new TensorshrinkError(Number.isFinite(l) ? "E_FORMAT" : "E_NONFINITE", `position ${at}, slot ${j}: log-prob ${l} must be finite and <= 0`, { ...where, slot: j });
    if (l > prev) throw new TensorshrinkError("E_FORMAT", `position ${at}, slot ${j}: log-probs must be in descending order (${l} after ${prev})`, { ...where, slot: j });
    prev = l;
  }
  const m = Math.max(rest, k > 0 ? lp[o]! : -Infinity); // lp[o] is the largest (descending)
  let s = Math.exp(rest - m);
  for (let j = 0; j < k; j++) s += Math.exp(lp[o + j]! - m);
  const lse = m + Math.log(s);
  if (!(Math.abs(lse) <= NORM_TOL)) throw new TensorshrinkError("E_FORMAT", `position ${at}: probabilities sum to exp(${lse.toPrecision(4)}), not 1`, where);
}

function parseHeader(h: Uint8Array, name: string): TeacherFileHeader {
  const dv = new DataView(h.buffer, h.byteOffset, h.byteLength);
  const magic = String.fromCharCode(h[0]!, h[1]!, h[2]!, h[3]!);
  if (magic !== TEACHER_MAGIC) throw new TensorshrinkError("E_FORMAT", `${name} is not a teacher file (magic "${magic}" at byte 0, expected "${TEACHER_MAGIC}")`, { file: name, offset: 0 });
  const version = dv.getUint32(4, true);
  if (version !== TEACHER_VERSION) throw new TensorshrinkError("E_FORMAT", `${name}: teacher file version ${version} at byte 4 is not supported (only ${TEACHER_VERSION})`, { file: name, offset: 4 });
  const headerBytes = dv.getUint32(8, true), V = dv.getUint32(12, true), k = dv.getUint32(16, true), recordBytes = dv.getUint32(20, true), metaBytes = dv.getUint32(56, true);
  if (V < 1) throw new TensorshrinkError("E_FORMAT", `${name}: nVocab 0 at byte 12`, { file: name, offset: 12 });
  if (k < 1 || k > V) throw new TensorshrinkError("E_FORMAT", `${name}: k = ${k} at byte 16 must be in 1..${V}`, { file: name, offset: 16 });
  if (recordBytes !== 12 + 8 * k) throw new TensorshrinkError("E_FORMAT", `${name}: recordBytes ${recordBytes} at byte 20 must be 12 + 8 k = ${12 + 8 * k}`, { file: name, offset: 20 });
  if (metaBytes > MAX_META || headerBytes !== ((FIXED + metaBytes + 7) & ~7)) throw new TensorshrinkError("E_FORMAT", `${name}: headerBytes ${headerBytes} (byte 8) does not fit metaBytes ${metaBytes} (byte 56)`, { file: name, offset: 8 });
  if (h.length < headerBytes) throw new TensorshrinkError("E_TRUNCATED", `${name}: header needs ${headerBytes} bytes, only ${h.length} present`, { file: name, offset: h.length });
  const hh = h.slice(0, headerBytes);
  new DataView(hh.buffer).setUint32(60, 0, true);
  const want = dv.getUint32(60, true), got = crc32(hh);
  if (want !== got) throw new TensorshrinkError("E_FORMAT", `${name}: header checksum mismatch (byte 60: stored ${want.toString(16)}, computed ${got.toString(16)})`, { file: name, offset: 60 });
  let meta: Record<string, unknown>;
  try {
    meta = JSON.parse(td.decode(h.subarray(FIXED, FIXED + metaBytes)));
  } catch (e) {
    throw new TensorshrinkError("E_FORMAT", `${name}: metadata at byte ${FIXED} is not UTF-8 JSON`, { file: name, offset: FIXED }, { cause: e });
  }
  return { version, nVocab: V, k, recordBytes, headerBytes, modelFingerprint: hex(h.subarray(24, 40)), tokenizerFingerprint: hex(h.subarray(40, 56)), meta };
}

/** Options of {@link TeacherFileReader.open}. */
export interface TeacherReaderOptions {
  /** Accept a file without its trailer (being written, or cut): only complete records are read. */
  partial?: boolean;
}

/** Random-access and chunked reader of a teacher file. */
export class TeacherFileReader {
  /** Number of complete records readable. */
  readonly positions: number;
  /** True when the trailer was found and matches. */
  readonly complete: boolean;
  private readonly crcStored: number;
  private constructor(private readonly src: ByteSource, readonly header: TeacherFileHeader, positions: number, complete: boolean, crcStored: number) {
    this.positions = positions;
    this.complete = complete;
    this.crcStored = crcStored;
  }

  /**
   * Reads and checks the header (magic, version, sizes, CRC) and the trailer.
   * @throws E_FORMAT (byte offset named), E_TRUNCATED (no or partial trailer, record cut: offset of the end).
   */
  static async open(src: ByteSource, opts: TeacherReaderOptions = {}): Promise<TeacherFileReader> {
    if (src.size < FIXED) throw new TensorshrinkError("E_TRUNCATED", `${src.name}: ${src.size} bytes, a teacher file header is at least ${FIXED}`, { file: src.name, offset: src.size });
    const fixed = await src.read(0, FIXED);
    const hb = new DataView(fixed.buffer, fixed.byteOffset, FIXED).getUint32(8, true);
    if (String.fromCharCode(...fixed.subarray(0, 4)) === TEACHER_MAGIC && hb > FIXED && hb <= FIXED + MAX_META + 8 && src.size < hb) {
      throw new TensorshrinkError("E_TRUNCATED", `${src.name}: the header needs ${hb} bytes, the file has ${src.size}`, { file: src.name, offset: src.size });
    }
    const header = parseHeader(hb > FIXED && hb <= FIXED + MAX_META + 8 ? await src.read(0, hb) : fixed, src.name);
    const body = src.size - header.headerBytes;
    const rb = header.recordBytes;
    let complete = false, n = Math.floor(body / rb), crc = 0;
    if (body >= TRAILER && (body - TRAILER) % rb === 0) {
      const t = await src.read(src.size - TRAILER, TRAILER);
      const dv = new DataView(t.buffer, t.byteOffset, TRAILER);
      if (String.fromCharCode(...t.subarray(0, 4)) === TEACHER_TRAILER_MAGIC) {
        const cnt = Number(dv.getBigUint64(8, true));
        n = (body - TRAILER) / rb;
        if (cnt !== n) throw new TensorshrinkError("E_FORMAT", `${src.name}: trailer at byte ${src.size - TRAILER} counts ${cnt} records, the file holds ${n}`, { file: src.name, offset: src.size - 8 });
        complete = true;
        crc = dv.getUint32(4, true);
      }
    }
    if (!complete && !opts.partial) {
      const cut = body % rb;
      throw new TensorshrinkError("E_TRUNCATED", `${src.name}: no trailer: the file ends at byte ${src.size}${cut ? `, ${cut} bytes into record ${n}` : ` after ${n} records`} (incomplete or truncated; open with partial: true to read the complete records)`, { file: src.name, offset: src.size, records: n });
    }
    return new TeacherFileReader(src, header, n, complete, crc);
  }

  /** Decodes records [start, start + count) (checked like the writer checks them). */
  async read(start: number, count: number): Promise<TeacherRecords> {
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(count) || start < 0 || count < 0 || start + count > this.positions) {
      throw new TensorshrinkError("E_RANGE", `records [${start}, ${start + count}) are outside [0, ${this.positions}) of ${this.src.name}`, { start, count });
    }
    const bytes = await this.src.read(this.header.headerBytes + start * this.header.recordBytes, count * this.header.recordBytes);
    return this.decode(bytes, start, count);
  }

  /**
   * Iterates the whole file in chunks of `positionsPerChunk` records (default 4096 ~ 1 MiB at k = 32),
   * checking pos continuity across chunks and, for complete files, the records' CRC at the end.
   */
  async *chunks(positionsPerChunk = 4096): AsyncGenerator<TeacherRecords> {
    if (!Number.isSafeInteger(positionsPerChunk) || positionsPerChunk < 1) throw new TensorshrinkError("E_RANGE", `positionsPerChunk must be a positive integer, got ${positionsPerChunk}`);
    let crc = 0, last = -1;
    for (let s = 0; s < this.positions; s += positionsPerChunk) {
      const c = Math.min(positionsPerChunk, this.positions - s);
      const bytes = await this.src.read(this.header.headerBytes + s * this.header.recordBytes, c * this.header.recordBytes);
      crc = crc32(bytes, crc);
      const r = this.decode(bytes, s, c);
      if (c > 0 && r.pos[0] !== 0 && r.pos[0] !== last + 1) {
        throw new TensorshrinkError("E_FORMAT", `${this.src.name}: record ${s} has pos ${r.pos[0]} after ${last}`, { file: this.src.name, offset: this.header.headerBytes + s * this.header.recordBytes + 4, position: s });
      }
      if (c > 0) last = r.pos[c - 1]!;
      yield r;
    }
    if (this.complete && crc !== this.crcStored) {
      const off = this.header.headerBytes + this.positions * this.header.recordBytes + 4;
      throw new TensorshrinkError("E_FORMAT", `${this.src.name}: record checksum mismatch (trailer byte ${off}: stored ${this.crcStored.toString(16)}, computed ${crc.toString(16)})`, { file: this.src.name, offset: off });
    }
  }

  /** Every record at once (positions * (12 + 8k) bytes in memory). */
  async readAll(): Promise<TeacherRecords> {
    const parts: TeacherRecords[] = [];
    for await (const c of this.chunks()) parts.push(c);
    return concatRecords(parts, this.header.k);
  }

  private decode(bytes: Uint8Array, start: number, n: number): TeacherRecords {
    const { k, nVocab: V, recordBytes: rb, headerBytes } = this.header;
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const tokens = new Uint32Array(n), pos = new Uint32Array(n), ids = new Uint32Array(n * k), logprobs = new Float32Array(n * k), rest = new Float32Array(n);
    const seen = new Int32Array(V).fill(-1);
    for (let i = 0; i < n; i++) {
      const o = i * rb, at = start + i;
      const where = { file: this.src.name, offset: headerBytes + at * rb, position: at };
      tokens[i] = dv.getUint32(o, true);
      pos[i] = dv.getUint32(o + 4, true);
      if (tokens[i]! >= V) throw new TensorshrinkError("E_FORMAT", `${this.src.name}: record ${at} (byte ${where.offset}): input token ${tokens[i]} is >= nVocab ${V}`, where);
      if (i > 0 && pos[i] !== 0 && pos[i] !== pos[i - 1]! + 1) throw new TensorshrinkError("E_FORMAT", `${this.src.name}: record ${at} (byte ${where.offset + 4}): pos ${pos[i]} after ${pos[i - 1]}`, { ...where, offset: where.offset + 4 });
      for (let j = 0; j < k; j++) {
        ids[i * k + j] = dv.getUint32(o + 8 + 4 * j, true);
        logprobs[i * k + j] = dv.getFloat32(o + 8 + 4 * k + 4 * j, true);
      }
      rest[i] = dv.getFloat32(o + 8 + 8 * k, true);
      try {
        checkRecord(ids, logprobs, rest[i]!, i * k, k, V, seen, at, where);
      } catch (e) {
        const te2 = e as TensorshrinkError;
        throw new TensorshrinkError(te2.code, `${this.src.name}: record at byte ${where.offset}: ${te2.message.replace(/^E_\w+: /, "")}`, te2.details);
      }
    }
    return { n, start, k, tokens, pos, ids, logprobs, rest };
  }
}

/** Concatenates consecutive record chunks. */
export function concatRecords(parts: TeacherRecords[], k: number): TeacherRecords {
  const n = parts.reduce((a, p) => a + p.n, 0);
  const out: TeacherRecords = { n, start: parts[0]?.start ?? 0, k, tokens: new Uint32Array(n), pos: new Uint32Array(n), ids: new Uint32Array(n * k), logprobs: new Float32Array(n * k), rest: new Float32Array(n) };
  let o = 0;
  for (const p of parts) {
    out.tokens.set(p.tokens, o); out.pos.set(p.pos, o); out.rest.set(p.rest, o);
    out.ids.set(p.ids, o * k); out.logprobs.set(p.logprobs, o * k);
    o += p.n;
  }
  return out;
}
