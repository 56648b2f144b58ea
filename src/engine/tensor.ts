import { TensorshrinkError } from "../errors";
import type { Engine } from "./engine";

/**
 * A Float32 tensor stored in wasm memory (4 bytes per value). Views are re-taken on every access,
 * so they stay valid after the memory grows. Free with `dispose()` (or allocate inside `engine.scope`).
 */
export class WasmTensor {
  private freed = false;
  /** @internal */
  constructor(private readonly engine: Engine, /** byte address in wasm memory */ readonly ptr: number, /** number of f32 values */ readonly length: number) {}
  /** A fresh Float32Array view of the tensor's values (invalid after memory growth: re-read it). */
  get f32(): Float32Array {
    if (this.freed || this.engine.isDisposed) throw new TensorshrinkError("E_DISPOSED", "this tensor was disposed");
    return new Float32Array(this.engine.exports.memory.buffer, this.ptr, this.length);
  }
  /** Size in bytes (4 * length). */
  get byteLength(): number {
    return this.length * 4;
  }
  /** @internal */
  check(engine: Engine): void {
    if (this.freed || this.engine.isDisposed) throw new TensorshrinkError("E_DISPOSED", "this tensor was disposed");
    if (engine !== this.engine) throw new TensorshrinkError("E_ARG_TYPE", "this tensor belongs to another engine");
  }
  /** Releases the memory. Idempotent. */
  dispose(): void {
    if (this.freed) return;
    this.freed = true;
    this.engine.free(this.ptr);
  }
}
