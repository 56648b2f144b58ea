/**
 * A bump allocator over one wasm allocation: the forward pass takes all its activations from it and
 * releases them to a mark, so wasm memory does not grow across calls (it is only re-made larger when a
 * call needs more than any call before).
 */
import { TensorshrinkError } from "../errors";
import type { Engine } from "../engine/engine";

/** Per-forward arena: `take(bytes)` (16-byte aligned), `mark()` / `release(mark)`, `reserve(bytes)`. */
export class Arena {
  private base = 0;
  private cap = 0;
  private top = 0;
  constructor(private readonly engine: Engine) {}

  /** Capacity in bytes. */
  get capacity(): number { return this.cap; }

  /** Ensures at least `bytes` of capacity; only allowed when nothing is taken (top = 0). */
  reserve(bytes: number): void {
    if (bytes <= this.cap) return;
    if (this.top !== 0) throw new TensorshrinkError("E_RANGE", "arena: reserve while allocations are live (a bug)");
    if (this.base) this.engine.free(this.base);
    this.base = 0; this.cap = 0;
    const want = Math.ceil(bytes / 65536) * 65536;
    this.base = this.engine.alloc(want);
    this.cap = want;
  }

  /** `bytes` from the arena (16-byte aligned), zero-filled only if `zero`. Byte address in wasm memory. */
  take(bytes: number, zero = false): number {
    const n = (bytes + 15) & ~15;
    if (this.top + n > this.cap) throw new TensorshrinkError("E_OOM", `arena: ${bytes} bytes requested, ${this.cap - this.top} of ${this.cap} left (a sizing bug)`, { bytes, capacity: this.cap });
    const p = this.base + this.top;
    this.top += n;
    if (zero) new Uint8Array(this.engine.exports.memory.buffer, p, n).fill(0);
    return p;
  }

  mark(): number { return this.top; }
  release(mark: number): void { this.top = mark; }

  /** Frees the backing allocation. */
  dispose(): void {
    if (this.base) this.engine.free(this.base);
    this.base = 0; this.cap = 0; this.top = 0;
  }
}
