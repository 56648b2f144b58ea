// Plain-JavaScript port of ggml's q4_0 quantizer (quantize_q4_0: quantize_row_q4_0_ref without an
// imatrix, quantize_row_q4_0_impl with one). Benchmark baseline; same bytes as llama.cpp.
import { fp32_to_fp16, cvt_f32_i8, make_qx_quants } from "./common_sym.js";

const fr = Math.fround;
const QK = 32, BLOCK = 18;

/** x: Float32Array (nrows * n_per_row), imatrix: Float32Array(n_per_row) | null -> Uint8Array. */
export function quantize_q4_0(x, nrows, n_per_row, imatrix) {
  const nb = n_per_row / QK;
  const out = new Uint8Array(nrows * nb * BLOCK);
  const L = new Int8Array(QK), weight = new Float32Array(QK);
  for (let r = 0; r < nrows; r++) {
    const xr = r * n_per_row;
    let sigma2 = 0;
    if (imatrix) {
      let sum_x2 = 0;
      for (let j = 0; j < n_per_row; j++) sum_x2 = fr(sum_x2 + fr(x[xr + j] * x[xr + j]));
      sigma2 = fr(sum_x2 / n_per_row);
    }
    for (let ib = 0; ib < nb; ib++) {
      const xo = xr + ib * QK, yo = (r * nb + ib) * BLOCK;
      if (imatrix) {
        for (let j = 0; j < QK; j++) weight[j] = fr(imatrix[ib * QK + j] * fr(Math.sqrt(fr(sigma2 + fr(x[xo + j] * x[xo + j])))));
        const d = make_qx_quants(QK, 8, x, xo, L, 0, 1, weight, 0);
        const h = fp32_to_fp16(d);
        out[yo] = h & 0xFF; out[yo + 1] = h >> 8;
        for (let j = 0; j < 16; j++) out[yo + 2 + j] = L[j] | (L[j + 16] << 4);
        continue;
      }
      let amax = 0, max = 0;
      for (let j = 0; j < QK; j++) {
        const v = x[xo + j];
        if (amax < Math.abs(v)) { amax = Math.abs(v); max = v; }
      }
      const d = fr(max / -8);
      const id = d !== 0 ? fr(1 / d) : 0;
      const h = fp32_to_fp16(d);
      out[yo] = h & 0xFF; out[yo + 1] = h >> 8;
      for (let j = 0; j < 16; j++) {
        const x0 = fr(x[xo + j] * id), x1 = fr(x[xo + 16 + j] * id);
        const xi0 = Math.min(15, cvt_f32_i8(fr(x0 + 8.5))), xi1 = Math.min(15, cvt_f32_i8(fr(x1 + 8.5)));
        out[yo + 2 + j] = (xi0 & 0xFF) | (xi1 << 4);
      }
    }
  }
  return out;
}
