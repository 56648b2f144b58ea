// Plain-JS baseline: ggml quantize_row_tq1_0_ref (same bytes). imatrix ignored, as in ggml.
import { fp32_to_fp16 } from "./f16.js";
const roundf = (v) => { const t = Math.trunc(v); return Math.abs(v - t) >= 0.5 ? t + Math.sign(v) : t; };
// lroundf(v) + 1 as x86 ggml computes it: non-finite v (only when max|x| < 2^-128) gives 1.
const code = (v) => { const r = roundf(v); return Number.isFinite(r) ? r + 1 : 1; };
/** x: Float32Array (n_per_row % 256 == 0) -> Uint8Array of tq1_0 blocks (54 bytes / 256 values). */
export function quantize_tq1_0(x, nrows, n_per_row) {
  const nb = (nrows * n_per_row) / 256;
  const out = new Uint8Array(nb * 54);
  for (let i = 0; i < nb; i++) {
    const o = i * 256, y = i * 54;
    let amax = 0;
    for (let j = 0; j < 256; j++) { const v = Math.abs(x[o + j]); if (v > amax) amax = v; }
    const id = amax ? Math.fround(1 / amax) : 0;
    const t = (e) => code(Math.fround(x[o + e] * id));
    const h = fp32_to_fp16(amax);
    out[y + 52] = h & 255; out[y + 53] = h >> 8;
    for (let m = 0; m < 32; m++) {
      let q = 0;
      for (let n = 0; n < 5; n++) q = q * 3 + t(m + n * 32);
      out[y + m] = Math.floor((q * 256 + 242) / 243);
    }
    for (let m = 0; m < 16; m++) {
      let q = 0;
      for (let n = 0; n < 5; n++) q = q * 3 + t(160 + m + n * 16);
      out[y + 32 + m] = Math.floor((q * 256 + 242) / 243);
    }
    for (let j = 0; j < 4; j++) {
      let q = 0;
      for (let m = 0; m < 4; m++) q = q * 3 + t(240 + j + m * 4);
      out[y + 48 + j] = Math.floor((q * 3 * 256 + 242) / 243);
    }
  }
  return out;
}
