// Plain-JS baseline: ggml quantize_q5_K (quantize_row_q5_K_ref without imatrix, quantize_row_q5_K_impl with).
import { qk8_superblock, f } from "./common_asym.js";
/** x: Float32Array (nrows * n_per_row, n_per_row % 256 == 0), imatrix: Float32Array(n_per_row) | null -> q5_K bytes (176 / 256 values). */
export function quantize_q5_K(x, nrows, n_per_row, imatrix = null) {
  const nb = n_per_row / 256;
  const out = new Uint8Array(nrows * nb * 176);
  const L = new Uint8Array(256);
  for (let r = 0; r < nrows; r++) {
    for (let i = 0; i < nb; i++) {
      const xo = (r * nb + i) * 256, yo = (r * nb + i) * 176;
      if (imatrix) qk8_superblock(x, xo, imatrix, i * 256, out, yo, L, 31, 0, 0, true);
      else qk8_superblock(x, xo, null, 0, out, yo, L, 31, f(-0.5), 15, false);
      const qh = yo + 16;
      let ql = yo + 48, m1 = 1, m2 = 2;
      for (let n = 0; n < 256; n += 64) {
        for (let j = 0; j < 32; j++) {
          let l1 = L[n + j];
          if (l1 > 15) { l1 -= 16; out[qh + j] |= m1; }
          let l2 = L[n + j + 32];
          if (l2 > 15) { l2 -= 16; out[qh + j] |= m2; }
          out[ql + j] = l1 | (l2 << 4);
        }
        m1 <<= 2; m2 <<= 2; ql += 32;
      }
    }
  }
  return out;
}
