// Plain-JS baseline: ggml quantize_q4_K (quantize_row_q4_K_ref without imatrix, quantize_row_q4_K_impl with).
import { qk8_superblock } from "./common_asym.js";
/** x: Float32Array (nrows * n_per_row, n_per_row % 256 == 0), imatrix: Float32Array(n_per_row) | null -> q4_K bytes (144 / 256 values). */
export function quantize_q4_K(x, nrows, n_per_row, imatrix = null) {
  const nb = n_per_row / 256;
  const out = new Uint8Array(nrows * nb * 144);
  const L = new Uint8Array(256);
  for (let r = 0; r < nrows; r++) {
    for (let i = 0; i < nb; i++) {
      const xo = (r * nb + i) * 256, yo = (r * nb + i) * 144;
      if (imatrix) qk8_superblock(x, xo, imatrix, i * 256, out, yo, L, 15, 0, 0, false);
      else qk8_superblock(x, xo, null, 0, out, yo, L, 15, -1, 20, false);
      for (let j = 0; j < 4; j++) {
        for (let l = 0; l < 32; l++) out[yo + 16 + 32 * j + l] = L[64 * j + l] | (L[64 * j + l + 32] << 4);
      }
    }
  }
  return out;
}
