/**
 * Lazily loaded f32 weights of a llama model in wasm memory. Each tensor is read from its ModelSource
 * (dequantized by the engine's dequantizers: f16, bf16 and every ggml block type it supports) when a
 * block first needs it. "resident" keeps every tensor loaded after first use (fast repeated forwards);
 * "stream" frees a block's weights after the block ran, so peak wasm memory is about
 * 4 × max(one block's weights, token_embd / output) bytes + KV cache + activations.
 * A weight provider can replace any tensor (modified weights for layer-by-layer calibration).
 */
import { TensorshrinkError } from "../errors";
import type { Engine } from "../engine/engine";
import type { ModelSource, ModelTensor } from "../model/source";
import { nodeBuiltin } from "../engine/node-builtin";

/** Bytes per read slice (f32 values or stored blocks). */
const SLICE_BYTES = 16 << 20;

/**
 * Replaces weights: called with a GGUF tensor name and its ggml extents; return f32 values (row-major,
 * ne[0] per row, the same count as the tensor) to use instead of the file's, or undefined to keep them.
 */
export type WeightProvider = (name: string, ne: readonly number[]) => Float32Array | undefined | Promise<Float32Array | undefined>;

interface Loaded { ptr: number; n: number; provided: boolean }

/** @internal The store of one LlamaModel. */
export class WeightStore {
  private readonly byName = new Map<string, ModelTensor>();
  private readonly loaded = new Map<string, Loaded>();
  private readonly fds = new Map<string, number>();
  private fs: typeof import("node:fs") | null | undefined;
  provider: WeightProvider | undefined;

  constructor(private readonly engine: Engine, source: ModelSource, readonly mode: "resident" | "stream") {
    for (const t of source.tensors) this.byName.set(t.name, t);
  }

  has(name: string): boolean { return this.byName.has(name); }

  /** The source tensor, or a typed error naming it. */
  tensor(name: string): ModelTensor {
    const t = this.byName.get(name);
    if (!t) throw new TensorshrinkError("E_FORMAT", `the model has no tensor "${name}", which the llama forward pass needs`, { tensor: name });
    return t;
  }

  /** Checks the extents of `name` against `ne` (ggml order). */
  expect(name: string, ne: readonly number[]): ModelTensor {
    const t = this.tensor(name);
    const got = t.ne.length > ne.length && t.ne.slice(ne.length).every((x) => x === 1) ? t.ne.slice(0, ne.length) : t.ne;
    if (got.length !== ne.length || got.some((x, i) => x !== ne[i])) {
      throw new TensorshrinkError("E_SHAPE", `tensor "${name}" has extents [${t.ne.join(", ")}], the config needs [${ne.join(", ")}]`, { tensor: name, ne: [...t.ne], expected: [...ne] });
    }
    return t;
  }

  /** Byte address of the f32 values of `name` in wasm memory (loads it when needed). */
  async get(name: string): Promise<number> {
    const have = this.loaded.get(name);
    if (have) return have.ptr;
    const t = this.tensor(name);
    const n = t.ne.reduce((a, b) => a * b, 1);
    const data: Float32Array | undefined = this.provider ? await this.provider(name, t.ne) : undefined;
    const provided = data !== undefined;
    if (data !== undefined && (!(data instanceof Float32Array) || data.length !== n)) {
      throw new TensorshrinkError("E_SHAPE", `the weight provider returned ${data instanceof Float32Array ? data.length + " values" : "a non-Float32Array"} for "${name}", which has ${n}`, { tensor: name });
    }
    const ptr = this.engine.alloc(n * 4);
    try {
      if (data !== undefined) new Float32Array(this.engine.exports.memory.buffer, ptr, n).set(data);
      else if (!(await this.readFromFile(t, ptr, n))) {
        // read in slices of ~16 MiB of f32 so the JS-side copy stays small
        const cols = t.ne[0], rows = n / cols, step = Math.max(1, Math.floor((16 << 20) / (cols * 4)));
        for (let r = 0; r < rows; r += step) {
          const cnt = Math.min(step, rows - r);
          let part: Float32Array;
          try {
            part = await t.readRows(r, cnt);
          } catch (e) {
            if ((e as any)?.name === "TensorshrinkError") throw e;
            throw new TensorshrinkError("E_IO", `cannot read tensor "${name}" rows ${r}..${r + cnt - 1}: ${(e as Error)?.message ?? e}`, { tensor: name, row: r }, { cause: e });
          }
          new Float32Array(this.engine.exports.memory.buffer, ptr + r * cols * 4, cnt * cols).set(part);
        }
      }
    } catch (e) {
      this.engine.free(ptr);
      throw e;
    }
    this.loaded.set(name, { ptr, n, provided });
    return ptr;
  }

  /**
   * Local GGUF files: reads the tensor straight into wasm memory (f32) or through a reused wasm slice and
   * the engine's dequantize_row_<type> kernel — no JS-side copies, so RSS stays at the wasm formula.
   * Returns false when the tensor is not in a local file (the caller then uses readRows).
   */
  private async readFromFile(t: ModelTensor, ptr: number, n: number): Promise<boolean> {
    const cols = t.ne[0], rows = n / cols;
    const fr = t.fileRows?.(0, rows);
    if (!fr) return false;
    if (this.fs === undefined) this.fs = await nodeBuiltin<typeof import("node:fs")>("node:fs").catch(() => null);
    const fs = this.fs;
    if (!fs || typeof fs.readSync !== "function") return false;
    let fd = this.fds.get(fr.path);
    if (fd === undefined) {
      try { fd = fs.openSync(fr.path, "r"); } catch { return false; }
      const st = fs.fstatSync(fd);
      if (st.dev !== fr.dev || st.ino !== fr.ino) { fs.closeSync(fd); return false; }
      this.fds.set(fr.path, fd);
    }
    const type = fr.type ?? "f32", rb = fr.rowBytes ?? cols * 4;
    const kernel = type === "f32" ? null : this.engine.exports[`dequantize_row_${type}`];
    if (type !== "f32" && typeof kernel !== "function") return false;
    const step = Math.max(1, Math.floor(SLICE_BYTES / Math.max(rb, cols * 4)));
    const scratch = kernel ? this.engine.alloc(Math.min(step, rows) * rb + 16) : 0;
    try {
      for (let r = 0; r < rows; r += step) {
        const cnt = Math.min(step, rows - r), bytes = cnt * rb;
        const dst = kernel ? scratch : ptr + r * cols * 4;
        let got = 0;
        while (got < bytes) {
          const k = fs.readSync(fd, new Uint8Array(this.engine.exports.memory.buffer, dst + got, bytes - got), 0, bytes - got, fr.offset + r * rb + got);
          if (k <= 0) throw new TensorshrinkError("E_TRUNCATED", `tensor "${t.name}" ends early at byte ${fr.offset + r * rb + got} of ${fr.path}`, { tensor: t.name, offset: fr.offset + r * rb + got });
          got += k;
        }
        if (kernel) kernel(ptr + r * cols * 4, scratch, cnt * cols);
      }
    } finally {
      if (scratch) this.engine.free(scratch);
    }
    return true;
  }

  /** Closes the files opened for direct reads. */
  close(): void {
    for (const fd of this.fds.values()) try { this.fs?.closeSync(fd); } catch { /* already closed */ }
    this.fds.clear();
  }

  /** Stored type of a loaded tensor as the matmul sees it: "f32" when the provider supplied it. */
  typeOf(name: string): string {
    return this.loaded.get(name)?.provided ? "f32" : this.tensor(name).type;
  }

  /** Frees `names` (stream mode after a block, or after an override changed them). */
  drop(names: Iterable<string>): void {
    for (const name of names) {
      const l = this.loaded.get(name);
      if (l) { this.engine.free(l.ptr); this.loaded.delete(name); }
    }
  }

  /** Frees every loaded tensor. */
  clear(): void { this.drop([...this.loaded.keys()]); }

  /** Bytes of f32 weights currently in wasm memory. */
  get residentBytes(): number { let s = 0; for (const l of this.loaded.values()) s += l.n * 4; return s; }
}
