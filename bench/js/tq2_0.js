// Plain-JS baseline: ggml quantize_row_tq2_0_ref (same bytes). imatrix ignored, as in ggml.
import { fp32_to_fp16 } from "./f16.js";
const roundf = (v) => { const t = Math.trunc(v); return Math.abs(v - t) >= 0.5 ? t + Math.sign(v) : t; };
// lroundf(v) + 1 as x86 ggml computes it: non-finite v (only when max|x| < 2^-128) gives 1.
const code = (v) => { const r = roundf(v); return Number.isFinite(r) ? r + 1 : 1; };
/** x: Float32Array (n_per_row % 256 == 0) -> Uint8Array of tq2_0 blocks (66 bytes / 256 values). */
export function quantize_tq2_0(x, nrows, n_per_row) {
  const nb = (nrows * n_per_row) / 256;
  const out = new Uint8Array(nb * 66);
  for (let i = 0; i < nb; i++) {
    const o = i * 256, y = i * 66;
    let amax = 0;
    for (let j = 0; j < 256; j++) { const v = Math.abs(x[o + j]); if (v > amax) amax = v; }
    const id = amax ? Math.fround(1 / amax) : 0;
    const h = fp32_to_fp16(amax);
    out[y + 64] = h & 255; out[y + 65] = h >> 8;
    for (let j = 0; j < 64; j += 32) {
      const xo = o + j * 4;
      for (let m = 0; m < 32; m++) {
        let q = 0;
        for (let n = 0; n < 4; n++) q += (code(Math.fround(x[xo + m + n * 32] * id)) & 3) << (2 * n);
        out[y + j + m] = q;
      }
    }
  }
  return out;
}
