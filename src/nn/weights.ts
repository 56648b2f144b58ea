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

/**
 * Replaces weights: called with a GGUF tensor name and its ggml extents; return f32 values (row-major,
 * ne[0] per row, the same count as the tensor) to use instead of the file's, or undefined to keep them.
 */
export type WeightProvider = (name: string, ne: readonly number[]) => Float32Array | undefined | Promise<Float32Array | undefined>;

interface Loaded { ptr: number; n: number }

/** @internal The store of one LlamaModel. */
export class WeightStore {
  private readonly byName = new Map<string, ModelTensor>();
  private readonly loaded = new Map<string, Loaded>();
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
    let data: Float32Array | undefined = this.provider ? await this.provider(name, t.ne) : undefined;
    if (data !== undefined) {
      if (!(data instanceof Float32Array) || data.length !== n) throw new TensorshrinkError("E_SHAPE", `the weight provider returned ${data instanceof Float32Array ? data.length + " values" : "a non-Float32Array"} for "${name}", which has ${n}`, { tensor: name });
    } else {
      const rows = n / t.ne[0];
      try {
        data = await t.readRows(0, rows);
      } catch (e) {
        if ((e as any)?.name === "TensorshrinkError") throw e;
        throw new TensorshrinkError("E_IO", `cannot read tensor "${name}": ${(e as Error)?.message ?? e}`, { tensor: name }, { cause: e });
      }
    }
    const ptr = this.engine.alloc(n * 4);
    new Float32Array(this.engine.exports.memory.buffer, ptr, n).set(data);
    this.loaded.set(name, { ptr, n });
    return ptr;
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
