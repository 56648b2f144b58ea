// Plain-JavaScript port of ggml's q3_K quantizer (quantize_q3_K: quantize_row_q3_K_ref without an
// imatrix, quantize_row_q3_K_impl with one). Benchmark baseline; same bytes as llama.cpp.
import { fp32_to_fp16, fp16_to_fp32, nearest_int, make_qx_quants, make_q3_quants } from "./common_sym.js";

const fr = Math.fround;
const QK_K = 256, BLOCK = 110;

function put_scale(out, s, j, l) {
  if (j < 8) out[s + j] = l & 0xF;
  else out[s + j - 8] |= (l & 0xF) << 4;
  out[s + 8 + (j % 4)] |= (l >> 4) << (2 * (j >> 2));
}

/** x: Float32Array (nrows * n_per_row), imatrix: Float32Array(n_per_row) | null -> Uint8Array. */
export function quantize_q3_K(x, nrows, n_per_row, imatrix) {
  const nb = n_per_row / QK_K;
  const out = new Uint8Array(nrows * nb * BLOCK);
  const L = new Int8Array(QK_K), Ls = new Int8Array(16);
  const scales = new Float32Array(16), sw = new Float32Array(16), weight = new Float32Array(16);
  for (let r = 0; r < nrows; r++) {
    for (let i = 0; i < nb; i++) {
      const xo = r * n_per_row + i * QK_K, y = (r * nb + i) * BLOCK, s = y + 96;
      let dh;
      if (imatrix) {
        let sumx2 = 0;
        for (let j = 0; j < QK_K; j++) sumx2 = fr(sumx2 + fr(x[xo + j] * x[xo + j]));
        const sigma2 = fr(fr(2 * sumx2) / QK_K);
        for (let j = 0; j < 16; j++) {
          let sumw = 0;
          for (let l = 0; l < 16; l++) {
            const v = x[xo + 16 * j + l];
            weight[l] = fr(imatrix[QK_K * i + 16 * j + l] * fr(Math.sqrt(fr(sigma2 + fr(v * v)))));
          }
          for (let l = 0; l < 16; l++) sumw = fr(sumw + weight[l]);
          sw[j] = sumw;
          scales[j] = make_qx_quants(16, 4, x, xo + 16 * j, L, 16 * j, 1, weight, 0);
        }
        const d_block = make_qx_quants(16, 32, scales, 0, Ls, 0, 1, sw, 0);
        for (let j = 0; j < 16; j++) put_scale(out, s, j, Ls[j]);
        dh = fp32_to_fp16(d_block);
      } else {
        let max_scale = 0, amax = 0;
        for (let j = 0; j < 16; j++) {
          scales[j] = make_q3_quants(16, 4, x, xo + 16 * j, L, 16 * j, true);
          if (Math.abs(scales[j]) > amax) { amax = Math.abs(scales[j]); max_scale = scales[j]; }
        }
        if (max_scale !== 0) {
          const iscale = fr(-32 / max_scale);
          for (let j = 0; j < 16; j++) {
            let l = (nearest_int(fr(iscale * scales[j])) << 24) >> 24; // int8_t
            l = Math.max(-32, Math.min(31, l)) + 32;
            put_scale(out, s, j, l);
          }
          dh = fp32_to_fp16(fr(1 / iscale));
        } else dh = 0;
      }
      out[y + 108] = dh & 0xFF; out[y + 109] = dh >> 8;
      const dd = fp16_to_fp32(dh);
      for (let j = 0; j < 16; j++) {
        const sc = ((j < 8 ? out[s + j] & 0xF : out[s + j - 8] >> 4) | (((out[s + 8 + (j % 4)] >> (2 * (j >> 2))) & 3) << 4)) - 32;
        const d = fr(dd * sc);
        if (d === 0) continue;
        for (let ii = 0; ii < 16; ii++) {
          const l = nearest_int(fr(x[xo + 16 * j + ii] / d));
          L[16 * j + ii] = Math.max(-4, Math.min(3, l)) + 4;
        }
      }
      for (let j = 0; j < QK_K; j++) {
        if (L[j] > 3) { out[y + (j & 31)] |= 1 << (j >> 5); L[j] -= 4; }
      }
      for (let j = 0; j < QK_K; j += 128) {
        for (let l = 0; l < 32; l++) {
          out[y + 32 + (j >> 2) + l] = L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6);
        }
      }
    }
  }
  return out;
}
