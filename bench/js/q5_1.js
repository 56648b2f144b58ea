// Plain-JS baseline: ggml quantize_q5_1 (quantize_row_q5_1_ref without imatrix, quantize_row_q5_1_impl with).
import { f, fp32_to_fp16, make_qkx2_quants } from "./common_asym.js";
/** x: Float32Array (nrows * n_per_row, n_per_row % 32 == 0), imatrix: Float32Array(n_per_row) | null -> q5_1 bytes (24 / 32 values). */
export function quantize_q5_1(x, nrows, n_per_row, imatrix = null) {
  const nb = n_per_row / 32;
  const out = new Uint8Array(nrows * nb * 24);
  const dv = new DataView(out.buffer);
  const L = new Uint8Array(32), Laux = new Uint8Array(32), weight = new Float32Array(32);
  for (let r = 0; r < nrows; r++) {
    let sigma2 = 0;
    if (imatrix) {
      let sum_x2 = 0;
      for (let j = 0; j < n_per_row; j++) sum_x2 = f(sum_x2 + f(x[r * n_per_row + j] * x[r * n_per_row + j]));
      sigma2 = f(sum_x2 / n_per_row);
    }
    for (let ib = 0; ib < nb; ib++) {
      const xo = r * n_per_row + 32 * ib, yo = (r * nb + ib) * 24;
      if (!imatrix) {
        let mn = 3.4028234663852886e38, mx = -3.4028234663852886e38;
        for (let j = 0; j < 32; j++) { const v = x[xo + j]; if (v < mn) mn = v; if (v > mx) mx = v; }
        const d = f(f(mx - mn) / 31);
        const id = d !== 0 ? f(1 / d) : 0;
        dv.setUint16(yo, fp32_to_fp16(d), true);
        dv.setUint16(yo + 2, fp32_to_fp16(mn), true);
        for (let j = 0; j < 32; j++) L[j] = Math.trunc(f(f(f(x[xo + j] - mn) * id) + 0.5)) & 255;
      } else {
        for (let j = 0; j < 32; j++) {
          const v = x[xo + j];
          weight[j] = f(imatrix[32 * ib + j] * f(Math.sqrt(f(sigma2 + f(v * v)))));
        }
        const [d, the_min] = make_qkx2_quants(32, 31, x, xo, weight, 0, L, 0, Laux, f(-0.9), f(0.05), 36, false);
        dv.setUint16(yo, fp32_to_fp16(d), true);
        dv.setUint16(yo + 2, fp32_to_fp16(-the_min), true);
      }
      let qh = 0;
      for (let j = 0; j < 16; j++) {
        const xi0 = L[j], xi1 = L[j + 16];
        out[yo + 8 + j] = (xi0 & 0xF) | ((xi1 & 0xF) << 4);
        qh |= ((xi0 & 0x10) >> 4) << j;
        qh |= ((xi1 & 0x10) >> 4) << (j + 16);
      }
      dv.setUint32(yo + 4, qh >>> 0, true);
    }
  }
  return out;
}
