/**
 * Base-run log-probabilities on disk (tensorshrink's analogue of llama-perplexity's --kl-divergence-base):
 * run the base model once with `--save-logits F`, then score any number of candidates against F with
 * `--base-logits F` without running the base again. Full distributions, so KLD is exact (no top-k).
 *
 * Layout (little-endian):
 *   bytes 0..7    magic "TSLOGP\0\1"
 *   u32           header length H (bytes of UTF-8 JSON)
 *   H bytes       JSON {format:"tensorshrink-logprobs", version:1, dtype:"f32", nVocab, ctx, windows:[len,...],
 *                 positions, model:{...}}; zero-padded so the next section starts at a multiple of 4
 *   i32 × Σlen    every window's tokens (BOS first), back to back
 *   f32 × positions × nVocab   log-softmax of the base logits at each scored position (window w scores its
 *                 first len-1 positions), rounded to f32, in window order
 * Size: 12 + H + 4·Σlen + 4·nVocab·positions bytes (kjv3M on eval.txt: 512-way × 18,701 positions ≈ 38 MB;
 * a 128k vocabulary costs 512 KiB per scored token).
 */
import { TensorshrinkError } from "../errors";
import type { ByteSink, ByteSource } from "../formats/source";

const MAGIC = [0x54, 0x53, 0x4c, 0x4f, 0x47, 0x50, 0x00, 0x01];

/** The JSON header of a log-prob file. */
export interface LogitsHeader {
  format: "tensorshrink-logprobs";
  version: 1;
  dtype: "f32";
  nVocab: number;
  ctx: number;
  /** Tokens per window, BOS included (a window scores len − 1 positions). */
  windows: number[];
  /** Scored positions in all. */
  positions: number;
  /** What the base model was (free-form: name, layers, width), echoed in mismatch errors. */
  model: Record<string, unknown>;
}

/** Streams a log-prob file into a sink: header first (it needs every window's tokens), then one window at a time. */
export class LogitsWriter {
  private pending = 0;
  constructor(private readonly sink: ByteSink, readonly header: LogitsHeader) {}
  /** Writes magic, header and all windows' tokens. */
  async begin(windows: ArrayLike<number>[]): Promise<void> {
    const json = new TextEncoder().encode(JSON.stringify(this.header));
    const pad = (4 - ((12 + json.length) % 4)) % 4;
    const head = new Uint8Array(12 + json.length + pad);
    head.set(MAGIC, 0);
    new DataView(head.buffer).setUint32(8, json.length + pad, true);
    head.set(json, 12);
    head.fill(0x20, 12 + json.length); // JSON tolerates trailing spaces
    await this.sink.write(head);
    const n = windows.reduce((s, w) => s + w.length, 0);
    const toks = new Int32Array(n);
    let o = 0;
    for (const w of windows) { for (let i = 0; i < w.length; i++) toks[o + i] = w[i]!; o += w.length; }
    await this.sink.write(new Uint8Array(toks.buffer));
    this.pending = this.header.positions;
  }
  /** Appends one window's log-probs ([len − 1, nVocab] f32). */
  async window(logprobs: Float32Array): Promise<void> {
    const rows = logprobs.length / this.header.nVocab;
    if (rows > this.pending) throw new TensorshrinkError("E_SHAPE", `log-prob file: ${rows} more positions than the header's ${this.header.positions}`, {});
    this.pending -= rows;
    await this.sink.write(new Uint8Array(logprobs.buffer, logprobs.byteOffset, logprobs.byteLength));
  }
  /** Commits the sink (checks every promised position was written). */
  async end(): Promise<void> {
    if (this.pending !== 0) throw new TensorshrinkError("E_SHAPE", `log-prob file: ${this.pending} positions promised by the header were not written`, {});
    await this.sink.commit();
  }
}

/** Reads a log-prob file window by window (memory: one window's log-probs). */
export class LogitsReader {
  private constructor(private readonly src: ByteSource, readonly header: LogitsHeader, readonly tokens: Int32Array, private readonly dataOffset: number, private readonly starts: number[]) {}

  /**
   * Opens and validates a log-prob file.
   * @throws TensorshrinkError `E_FORMAT` (not a log-prob file, bad header; byte offset named), `E_TRUNCATED`.
   */
  static async open(src: ByteSource): Promise<LogitsReader> {
    const bad = (msg: string, offset: number) => new TensorshrinkError("E_FORMAT", `${src.name}: ${msg}`, { file: src.name, offset });
    if (src.size < 12) throw bad(`${src.size} bytes, too short for a log-prob file`, 0);
    const h = await src.read(0, 12);
    for (let i = 0; i < 8; i++) if (h[i] !== MAGIC[i]) throw bad("not a tensorshrink log-prob file (magic TSLOGP\\0\\1 missing; write one with --save-logits)", i);
    const hl = new DataView(h.buffer, h.byteOffset, 12).getUint32(8, true);
    if (hl > 1 << 28 || 12 + hl > src.size) throw bad(`header length ${hl} is not plausible`, 8);
    let header: LogitsHeader;
    try { header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(await src.read(12, hl))); } catch { throw bad("header is not valid UTF-8 JSON", 12); }
    const ok = header && header.format === "tensorshrink-logprobs" && header.version === 1 && header.dtype === "f32" && Number.isInteger(header.nVocab) && header.nVocab > 0 && Array.isArray(header.windows) && header.windows.every((w) => Number.isInteger(w) && w >= 2);
    if (!ok) throw bad("header is not a version 1 f32 log-prob header", 12);
    const nTok = header.windows.reduce((s, w) => s + w, 0);
    const positions = header.windows.reduce((s, w) => s + w - 1, 0);
    if (positions !== header.positions) throw bad(`header says ${header.positions} positions, its windows hold ${positions}`, 12);
    const tokOff = 12 + hl, dataOffset = tokOff + 4 * nTok;
    const want = dataOffset + 4 * header.nVocab * positions;
    if (src.size !== want) throw new TensorshrinkError(src.size < want ? "E_TRUNCATED" : "E_FORMAT", `${src.name} is ${src.size} bytes, its header describes ${want}`, { file: src.name, offset: Math.min(src.size, want) });
    const tb = await src.read(tokOff, 4 * nTok);
    const tokens = new Int32Array(tb.buffer.slice(tb.byteOffset, tb.byteOffset + tb.byteLength));
    const starts: number[] = [];
    let s = 0;
    for (const w of header.windows) { starts.push(s); s += w; }
    return new LogitsReader(src, header, tokens, dataOffset, starts);
  }

  /** Window w's tokens (BOS first). */
  windowTokens(w: number): Int32Array {
    return this.tokens.subarray(this.starts[w]!, this.starts[w]! + this.header.windows[w]!);
  }

  /** Window w's log-probs, [len − 1, nVocab] f32. */
  async windowLogprobs(w: number): Promise<Float32Array> {
    const rowsBefore = this.starts[w]! - w; // Σ (len − 1) over earlier windows
    const n = (this.header.windows[w]! - 1) * this.header.nVocab;
    const b = await this.src.read(this.dataOffset + 4 * rowsBefore * this.header.nVocab, 4 * n);
    return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  }
}
