// Plain-JS baseline: ggml quantize_q2_K (quantize_row_q2_K_ref without imatrix, quantize_row_q2_K_impl with).
import { f, fp32_to_fp16, fp16_to_fp32, nearest_int, make_qkx2_quants, make_qp_quants } from "./common_asym.js";
/** x: Float32Array (nrows * n_per_row, n_per_row % 256 == 0), imatrix: Float32Array(n_per_row) | null -> q2_K bytes (84 / 256 values). */
export function quantize_q2_K(x, nrows, n_per_row, imatrix = null) {
  const nb = n_per_row / 256;
  const out = new Uint8Array(nrows * nb * 84);
  const dv = new DataView(out.buffer);
  const L = new Uint8Array(256), Laux = new Uint8Array(16), weights = new Float32Array(16);
  const scales = new Float32Array(16), mins = new Float32Array(16), sw = new Float32Array(16);
  const Ls = new Uint8Array(16), Lm = new Uint8Array(16);
  for (let r = 0; r < nrows; r++) {
    for (let i = 0; i < nb; i++) {
      const xo = (r * nb + i) * 256, yo = (r * nb + i) * 84;
      if (!imatrix) {
        let max_scale = 0, max_min = 0;
        for (let j = 0; j < 16; j++) {
          for (let l = 0; l < 16; l++) weights[l] = Math.abs(x[xo + 16 * j + l]);
          const [sc, mn] = make_qkx2_quants(16, 3, x, xo + 16 * j, weights, 0, L, 16 * j, Laux, f(-0.5), f(0.1), 15, true);
          scales[j] = sc; mins[j] = mn;
          if (sc > max_scale) max_scale = sc;
          if (mins[j] > max_min) max_min = mins[j];
        }
        if (max_scale > 0) {
          const iscale = f(15 / max_scale);
          for (let j = 0; j < 16; j++) out[yo + j] = nearest_int(f(iscale * scales[j]));
          dv.setUint16(yo + 80, fp32_to_fp16(f(max_scale / 15)), true);
        } else {
          for (let j = 0; j < 16; j++) out[yo + j] = 0;
          dv.setUint16(yo + 80, 0, true);
        }
        if (max_min > 0) {
          const iscale = f(15 / max_min);
          for (let j = 0; j < 16; j++) out[yo + j] |= nearest_int(f(iscale * mins[j])) << 4;
          dv.setUint16(yo + 82, fp32_to_fp16(f(max_min / 15)), true);
        } else {
          dv.setUint16(yo + 82, 0, true);
        }
      } else {
        let sumx2 = 0;
        for (let j = 0; j < 256; j++) sumx2 = f(sumx2 + f(x[xo + j] * x[xo + j]));
        const sigma2 = f(sumx2 / 256);
        for (let j = 0; j < 16; j++) {
          for (let l = 0; l < 16; l++) {
            const v = x[xo + 16 * j + l];
            weights[l] = f(imatrix[256 * i + 16 * j + l] * f(Math.sqrt(f(sigma2 + f(v * v)))));
          }
          let s = 0;
          for (let l = 0; l < 16; l++) s = f(s + weights[l]);
          sw[j] = s;
          const [sc, mn] = make_qkx2_quants(16, 3, x, xo + 16 * j, weights, 0, L, 16 * j, Laux, f(-0.9), f(0.05), 36, false);
          scales[j] = sc; mins[j] = mn;
        }
        const dm = make_qp_quants(16, 15, scales, Ls, sw);
        const mm = make_qp_quants(16, 15, mins, Lm, sw);
        dv.setUint16(yo + 80, fp32_to_fp16(dm), true);
        dv.setUint16(yo + 82, fp32_to_fp16(mm), true);
        for (let j = 0; j < 16; j++) out[yo + j] = Ls[j] | (Lm[j] << 4);
      }
      const dd = fp16_to_fp32(dv.getUint16(yo + 80, true)), dmn = fp16_to_fp32(dv.getUint16(yo + 82, true));
      for (let j = 0; j < 16; j++) {
        const d = f(dd * (out[yo + j] & 0xF));
        if (d === 0) continue; // C: !d is false for NaN
        const dm = f(dmn * (out[yo + j] >> 4));
        for (let ii = 0; ii < 16; ii++) {
          L[16 * j + ii] = Math.max(0, Math.min(3, nearest_int(f(f(x[xo + 16 * j + ii] + dm) / d))));
        }
      }
      for (let j = 0; j < 256; j += 128) {
        for (let l = 0; l < 32; l++) {
          out[yo + 16 + j / 4 + l] = L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6);
        }
      }
    }
  }
  return out;
}
