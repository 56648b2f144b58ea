// Plain-JavaScript port of ggml's q6_K quantizer (quantize_q6_K: quantize_row_q6_K_ref without an
// imatrix, quantize_row_q6_K_impl with one). Benchmark baseline; same bytes as llama.cpp.
import { fp32_to_fp16, fp16_to_fp32, nearest_int, make_qx_quants, GROUP_MAX_EPS } from "./common_sym.js";

const fr = Math.fround;
const QK_K = 256, BLOCK = 210;

/** x: Float32Array (nrows * n_per_row), imatrix: Float32Array(n_per_row) | null -> Uint8Array. */
export function quantize_q6_K(x, nrows, n_per_row, imatrix) {
  const nb = n_per_row / QK_K;
  const out = new Uint8Array(nrows * nb * BLOCK);
  const L = new Int8Array(QK_K), scales = new Float32Array(16);
  for (let r = 0; r < nrows; r++) {
    for (let i = 0; i < nb; i++) {
      const xo = r * n_per_row + i * QK_K, y = (r * nb + i) * BLOCK;
      let max_scale = 0, max_abs_scale = 0;
      for (let ib = 0; ib < 16; ib++) {
        const scale = make_qx_quants(16, 32, x, xo + 16 * ib, L, 16 * ib, 1, imatrix, QK_K * i + 16 * ib);
        scales[ib] = scale;
        if (Math.abs(scale) > max_abs_scale) { max_abs_scale = Math.abs(scale); max_scale = scale; }
      }
      if (max_abs_scale < GROUP_MAX_EPS) continue; // all-zero block (out is zero-filled; fp16(0) = 0)
      const iscale = fr(-128 / max_scale);
      const dh = fp32_to_fp16(fr(1 / iscale));
      out[y + 208] = dh & 0xFF; out[y + 209] = dh >> 8;
      const sc = new Int8Array(out.buffer, out.byteOffset + y + 192, 16);
      for (let ib = 0; ib < 16; ib++) sc[ib] = Math.min(127, nearest_int(fr(iscale * scales[ib])));
      const dd = fp16_to_fp32(dh);
      for (let j = 0; j < 16; j++) {
        const d = fr(dd * sc[j]);
        if (d === 0) continue;
        for (let ii = 0; ii < 16; ii++) {
          const l = nearest_int(fr(x[xo + 16 * j + ii] / d));
          L[16 * j + ii] = Math.max(-32, Math.min(31, l)) + 32;
        }
      }
      for (let j = 0, ql = y, qh = y + 128; j < QK_K; j += 128, ql += 64, qh += 32) {
        for (let l = 0; l < 32; l++) {
          const L0 = L[j + l], L1 = L[j + l + 32], L2 = L[j + l + 64], L3 = L[j + l + 96];
          out[ql + l] = (L0 & 0xF) | ((L2 & 0xF) << 4);
          out[ql + l + 32] = (L1 & 0xF) | ((L3 & 0xF) << 4);
          out[qh + l] = (L0 >> 4) | ((L1 >> 4) << 2) | ((L2 >> 4) << 4) | ((L3 >> 4) << 6);
        }
      }
    }
  }
  return out;
}
