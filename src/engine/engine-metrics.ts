// The Engine's reconstruction-error measurements (error, errorSums), computed in wasm.
import { TensorshrinkError } from "../errors";
import { describe } from "./engine-checks";
import type { ErrorStats } from "./engine-types";
import { EngineCore } from "./engine-core";

/** @internal The error-metrics layer of {@link Engine} (src/engine/engine.ts). */
export class EngineMetrics extends EngineCore {
  // ---------------------------------------------------------------- metrics

  /**
   * Reconstruction error of `b` against `a` (same length), computed in wasm with f64 accumulation:
   * MSE, SQNR in dB, max abs error, cosine similarity.
   */
  error(a: Float32Array, b: Float32Array): ErrorStats {
    const acc = this.errorSums(a, b);
    const n = a.length;
    const mse = n ? acc.se / n : 0;
    const sqnrDb = acc.se === 0 ? Infinity : 10 * Math.log10(acc.sa / acc.se);
    const den = Math.sqrt(acc.na) * Math.sqrt(acc.nb);
    const cosine = den === 0 ? (acc.na === acc.nb ? 1 : 0) : acc.dot / den;
    return { mse, sqnrDb, maxAbs: acc.maxAbs, cosine };
  }

  /**
   * Raw f64 sums behind `error`: se = sum (a-b)^2, sa = sum a^2, maxAbs, dot = sum a*b,
   * na = sum a^2, nb = sum b^2. Sums of chunks add up, so large tensors can be measured piecewise.
   */
  errorSums(a: Float32Array, b: Float32Array): { se: number; sa: number; maxAbs: number; dot: number; na: number; nb: number } {
    this.check();
    if (!(a instanceof Float32Array) || !(b instanceof Float32Array)) throw new TensorshrinkError("E_ARG_TYPE", `error(a, b) needs two Float32Arrays, got ${describe(a)} and ${describe(b)}`);
    if (a.length !== b.length) throw new TensorshrinkError("E_SHAPE", `error(a, b): lengths differ (${a.length} vs ${b.length})`);
    const n = a.length;
    const acc = { se: 0, sa: 0, maxAbs: 0, dot: 0, na: 0, nb: 0 };
    const f = this.exports.error_stats;
    if (typeof f !== "function") throw new TensorshrinkError("E_UNSUPPORTED", "error_stats kernel missing from this build");
    const chunk = Math.max(1024, Math.floor(this.chunkBytes / 8));
    const pa = this.alloc(Math.min(n, chunk) * 4), pb = this.alloc(Math.min(n, chunk) * 4), po = this.alloc(6 * 8);
    try {
      for (let i = 0; i < n; i += chunk) {
        const m = Math.min(chunk, n - i);
        new Float32Array(this.exports.memory.buffer, pa, m).set(a.subarray(i, i + m));
        new Float32Array(this.exports.memory.buffer, pb, m).set(b.subarray(i, i + m));
        f(po, pa, pb, m);
        const r = new Float64Array(this.exports.memory.buffer, po, 6);
        acc.se += r[0]; acc.sa += r[1]; acc.maxAbs = Math.max(acc.maxAbs, r[2]); acc.dot += r[3]; acc.na += r[4]; acc.nb += r[5];
      }
    } finally {
      this.free(pa); this.free(pb); this.free(po);
    }
    return acc;
  }
}
