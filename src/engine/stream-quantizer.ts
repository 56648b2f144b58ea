// The streaming form of engine.quantize: push chunks of any size, whole rows are quantized as they
// complete (engine.createQuantizer / engine.quantizeStream).
import { TensorshrinkError } from "../errors";
import type { EngineQuantize as Engine } from "./engine-quantize";
import type { QuantizeOptions } from "./engine-types";
import { describe } from "./engine-checks";
import { concatBytes } from "../formats/bytes";

/** Incremental quantizer returned by `engine.createQuantizer`. */
export class StreamQuantizer {
  private carry: Float32Array;
  private carryLen = 0;
  private state: "open" | "ended" | "failed" = "open";
  /** Rows completed so far. */
  rowsDone = 0;
  constructor(private readonly engine: Engine, private readonly opts: Omit<QuantizeOptions, "rows"> & { rows?: number }) {
    this.carry = new Float32Array(opts.cols);
  }
  /** Adds values (row-major); returns the quantized bytes of every row completed by this chunk. */
  push(chunk: Float32Array): Uint8Array {
    this.checkOpen("push()");
    if (!(chunk instanceof Float32Array)) throw new TensorshrinkError("E_ARG_TYPE", `stream chunks must be Float32Array, got ${describe(chunk)}`);
    if (this.opts.cols === 0) {
      if (chunk.length) throw new TensorshrinkError("E_SHAPE", `a stream of empty rows (cols = 0) takes no values, got ${chunk.length}${this.opts.name ? ` (tensor "${this.opts.name}")` : ""}`);
      return new Uint8Array(0);
    }
    try {
      return this.pushChunk(chunk);
    } catch (e) {
      this.state = "failed"; // rows may have been half consumed: the stream cannot go on
      throw e;
    }
  }
  private checkOpen(what: string): void {
    if (this.state !== "open") throw new TensorshrinkError("E_DISPOSED", `${what} on a stream quantizer that ${this.state === "ended" ? "already ended" : "failed earlier"}${this.opts.name ? ` (tensor "${this.opts.name}")` : ""}`);
  }
  private pushChunk(chunk: Float32Array): Uint8Array {
    const cols = this.opts.cols;
    const parts: Uint8Array[] = [];
    let off = 0;
    if (this.carryLen) {
      const take = Math.min(cols - this.carryLen, chunk.length);
      this.carry.set(chunk.subarray(0, take), this.carryLen);
      this.carryLen += take;
      off = take;
      if (this.carryLen === cols) {
        parts.push(this.run(this.carry, 1));
        this.carryLen = 0;
      }
    }
    const whole = Math.floor((chunk.length - off) / cols);
    if (whole) parts.push(this.run(chunk.subarray(off, off + whole * cols), whole));
    off += whole * cols;
    if (off < chunk.length) {
      this.carry.set(chunk.subarray(off), 0);
      this.carryLen = chunk.length - off;
    }
    if (parts.length === 1) return parts[0];
    return concatBytes(parts);
  }
  private run(x: Float32Array, rows: number): Uint8Array {
    if (this.opts.rows !== undefined && this.rowsDone + rows > this.opts.rows) throw new TensorshrinkError("E_SHAPE", `stream got more than the declared ${this.opts.rows} rows`);
    try {
      return this.engine.quantize(x, { ...this.opts, rows });
    } catch (e) {
      if (e instanceof TensorshrinkError && e.code === "E_NONFINITE") {
        const row = (e.details.row as number) + this.rowsDone;
        throw new TensorshrinkError("E_NONFINITE", `non-finite value ${e.details.value} at row ${row}, column ${e.details.column}${this.opts.name ? ` of tensor "${this.opts.name}"` : ""}`, { ...e.details, row });
      }
      throw e;
    } finally {
      this.rowsDone += rows;
    }
  }
  /**
   * Finishes the stream: throws E_SHAPE if a partial row or fewer than the declared rows arrived.
   * Afterwards (and after a push that threw) push() and end() throw E_DISPOSED.
   */
  end(): void {
    this.checkOpen("end()");
    this.state = "ended";
    if (this.opts.cols === 0) return;
    if (this.carryLen) throw new TensorshrinkError("E_SHAPE", `stream ended inside a row: ${this.carryLen} of ${this.opts.cols} values`);
    if (this.opts.rows !== undefined && this.rowsDone !== this.opts.rows) throw new TensorshrinkError("E_SHAPE", `stream ended after ${this.rowsDone} rows, expected ${this.opts.rows}`);
  }
}
