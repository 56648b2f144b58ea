// Plain-JS baseline: ggml quantize_row_q8_0_ref (same bytes).
import { fp32_to_fp16 } from "./f16.js";
const roundf = (v) => { const t = Math.trunc(v); return Math.abs(v - t) >= 0.5 ? t + Math.sign(v) : t; };
/** x: Float32Array (nrows * n_per_row, n_per_row % 32 == 0) -> Uint8Array of q8_0 blocks (34 bytes / 32 values). */
export function quantize_q8_0(x, nrows, n_per_row) {
  const nb = (nrows * n_per_row) / 32;
  const out = new Uint8Array(nb * 34);
  const i8 = new Int8Array(out.buffer);
  for (let i = 0; i < nb; i++) {
    const o = i * 32;
    let amax = 0;
    for (let j = 0; j < 32; j++) { const v = Math.abs(x[o + j]); if (v > amax) amax = v; }
    const d = Math.fround(amax / 127);
    const id = d ? Math.fround(1 / d) : 0;
    const h = fp32_to_fp16(d);
    out[i * 34] = h & 255; out[i * 34 + 1] = h >> 8;
    for (let j = 0; j < 32; j++) i8[i * 34 + 2 + j] = roundf(Math.fround(x[o + j] * id));
  }
  return out;
}
