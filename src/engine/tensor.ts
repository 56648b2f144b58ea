import { TensorshrinkError } from "../errors";
import type { EngineCore as Engine } from "./engine-core";

/**
 * A Float32 tensor stored in wasm memory (4 bytes per value). Views are re-taken on every access,
 * so they stay valid after the memory grows. Free with `dispose()` (or allocate inside `engine.scope`).
 * Once disposed (by `dispose()`, by the end of the scope that made it, or by `engine.dispose()`) every
 * use throws `E_DISPOSED`: a disposed tensor never reads or frees memory that now belongs to another.
 */
export class WasmTensor {
  private freed = false;
  /** @internal */
  constructor(private readonly engine: Engine, /** byte address in wasm memory */ readonly ptr: number, /** number of f32 values */ readonly length: number) {}
  /** True once the tensor was disposed (directly, by its scope, or with the engine). */
  get disposed(): boolean {
    return this.freed || this.engine.isDisposed;
  }
  /** A fresh Float32Array view of the tensor's values (invalid after memory growth: re-read it). */
  get f32(): Float32Array {
    if (this.disposed) throw new TensorshrinkError("E_DISPOSED", `this tensor (${this.length} values) was disposed`, { length: this.length });
    return new Float32Array(this.engine.exports.memory.buffer, this.ptr, this.length);
  }
  /** Size in bytes (4 * length). */
  get byteLength(): number {
    return this.length * 4;
  }
  /** @internal */
  check(engine: Engine): void {
    if (this.disposed) throw new TensorshrinkError("E_DISPOSED", `this tensor (${this.length} values) was disposed`, { length: this.length });
    if (engine !== this.engine) throw new TensorshrinkError("E_ARG_TYPE", "this tensor belongs to another engine");
  }
  /** Releases the memory. Idempotent: a second call (or one after its scope ended) frees nothing. */
  dispose(): void {
    if (this.freed) return;
    this.freed = true;
    this.engine.free(this.ptr);
  }
}

/**
 * The handle `engine.scope(fn)` passes to `fn`: tensors made with `scope.tensor()` are disposed when
 * the scope ends, whatever happened meanwhile. Use it in async scopes: `engine.tensor()` only joins
 * the innermost scope while that scope's function runs synchronously (before its first `await`), so
 * other callers' tensors made while a scope awaits are never captured.
 */
export class TensorScope {
  private readonly owned = new Set<WasmTensor>();
  private ended = false;
  /** @internal */
  constructor(private readonly engine: Engine) {}
  /** True once the scope ended (its tensors are disposed; `tensor()` throws E_DISPOSED). */
  get isEnded(): boolean {
    return this.ended;
  }
  /** Number of tensors this scope owns that are not yet disposed. */
  get size(): number {
    let n = 0;
    for (const t of this.owned) if (!t.disposed) n++;
    return n;
  }
  /** Like `engine.tensor(src)`, owned by this scope (disposed when it ends). */
  tensor(src: Float32Array | number): WasmTensor {
    if (this.ended) throw new TensorshrinkError("E_DISPOSED", "this scope has ended: its tensors were disposed");
    return this.engine.tensor(src, this);
  }
  /** @internal Adds a tensor to the scope. */
  adopt(t: WasmTensor): void {
    if (this.ended) throw new TensorshrinkError("E_DISPOSED", "this scope has ended");
    this.owned.add(t);
  }
  /** @internal Disposes every tensor of the scope; idempotent. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    for (const t of this.owned) t.dispose();
    this.owned.clear();
  }
}
