// Plain-JS ports of ggml's 32-value block quantizers q4_0 / q5_0 (symmetric) and q4_1 / q5_1
// (min + scale), each pair written once with the width `bits` (4 or 5) as a parameter: without an
// imatrix quantize_row_q*_ref, with one quantize_row_q*_impl. Layout A: byte j of qs holds element j
// (low nibble) and j + 16 (high nibble); 5-bit codes keep their fifth bits in the u32 qh (bit j =
// element j). Benchmark baseline; same bytes as llama.cpp.
import { fp32_to_fp16, cvt_f32_i8, make_qx_quants } from "./common_sym.js";
import { make_qkx2_quants } from "./common_asym.js";

const fr = Math.fround;
const QK = 32;

/** Layout-A packing of the 32 codes C[0..31] of one block: qs at out[qs..qs+15], qh (5 bits) at out[qh..qh+3]. */
function pack32(out, qs, qh, C, bits) {
  let h = 0;
  for (let j = 0; j < 16; j++) {
    const xi0 = C[j], xi1 = C[j + 16];
    if (bits === 4) { out[qs + j] = xi0 | (xi1 << 4); continue; }
    out[qs + j] = (xi0 & 0x0F) | ((xi1 & 0x0F) << 4);
    h |= ((xi0 & 0x10) >> 4) << j;
    h |= ((xi1 & 0x10) >> 4) << (j + 16);
  }
  if (bits === 5) { out[qh] = h & 0xFF; out[qh + 1] = (h >>> 8) & 0xFF; out[qh + 2] = (h >>> 16) & 0xFF; out[qh + 3] = h >>> 24; }
}

/** sigma2 of ggml's _impl quantizers: mean square of row r (f32, sequential). */
function row_sigma2(x, r, n_per_row) {
  let sum_x2 = 0;
  for (let j = 0; j < n_per_row; j++) sum_x2 = fr(sum_x2 + fr(x[r * n_per_row + j] * x[r * n_per_row + j]));
  return fr(sum_x2 / n_per_row);
}

/** imatrix weights of block ib of row r: imatrix * sqrt(sigma2 + x^2). */
function block_weights(weight, x, xo, imatrix, ib, sigma2) {
  for (let j = 0; j < QK; j++) weight[j] = fr(imatrix[ib * QK + j] * fr(Math.sqrt(fr(sigma2 + fr(x[xo + j] * x[xo + j])))));
}

/**
 * ggml quantize_q4_0 (bits = 4) / quantize_q5_0 (bits = 5). x: Float32Array (nrows * n_per_row),
 * imatrix: Float32Array(n_per_row) | null -> Uint8Array (18 / 22 bytes per 32 values).
 */
export function quantize_sym32(x, nrows, n_per_row, imatrix, bits) {
  const BLOCK = bits === 4 ? 18 : 22, QS = bits === 4 ? 2 : 6;
  const nmax = bits === 4 ? 8 : 16, off = nmax + 0.5, top = 2 * nmax - 1;
  const nb = n_per_row / QK;
  const out = new Uint8Array(nrows * nb * BLOCK);
  const L = new Int8Array(QK), C = new Int32Array(QK), weight = new Float32Array(QK);
  for (let r = 0; r < nrows; r++) {
    const xr = r * n_per_row;
    const sigma2 = imatrix ? row_sigma2(x, r, n_per_row) : 0;
    for (let ib = 0; ib < nb; ib++) {
      const xo = xr + ib * QK, yo = (r * nb + ib) * BLOCK;
      if (imatrix) {
        block_weights(weight, x, xo, imatrix, ib, sigma2);
        const d = make_qx_quants(QK, nmax, x, xo, L, 0, 1, weight, 0);
        const h = fp32_to_fp16(d);
        out[yo] = h & 0xFF; out[yo + 1] = h >> 8;
        pack32(out, yo + QS, yo + 2, L, bits);
        continue;
      }
      let amax = 0, max = 0;
      for (let j = 0; j < QK; j++) {
        const v = x[xo + j];
        if (amax < Math.abs(v)) { amax = Math.abs(v); max = v; }
      }
      const d = fr(max / -nmax);
      const id = d !== 0 ? fr(1 / d) : 0;
      const h = fp32_to_fp16(d);
      out[yo] = h & 0xFF; out[yo + 1] = h >> 8;
      for (let j = 0; j < QK; j++) C[j] = Math.min(top, cvt_f32_i8(fr(fr(x[xo + j] * id) + off))) & 0xFF;
      pack32(out, yo + QS, yo + 2, C, bits);
    }
  }
  return out;
}

/**
 * ggml quantize_q4_1 (bits = 4) / quantize_q5_1 (bits = 5). x: Float32Array (nrows * n_per_row,
 * n_per_row % 32 == 0), imatrix: Float32Array(n_per_row) | null -> Uint8Array (20 / 24 bytes per 32 values).
 */
export function quantize_asym32(x, nrows, n_per_row, imatrix, bits) {
  const BLOCK = bits === 4 ? 20 : 24, QS = bits === 4 ? 4 : 8, nmax = bits === 4 ? 15 : 31;
  const nb = n_per_row / QK;
  const out = new Uint8Array(nrows * nb * BLOCK);
  const dv = new DataView(out.buffer);
  const L = new Uint8Array(QK), Laux = new Uint8Array(QK), weight = new Float32Array(QK);
  for (let r = 0; r < nrows; r++) {
    const sigma2 = imatrix ? row_sigma2(x, r, n_per_row) : 0;
    for (let ib = 0; ib < nb; ib++) {
      const xo = r * n_per_row + QK * ib, yo = (r * nb + ib) * BLOCK;
      if (!imatrix) {
        let mn = 3.4028234663852886e38, mx = -3.4028234663852886e38;
        for (let j = 0; j < QK; j++) { const v = x[xo + j]; if (v < mn) mn = v; if (v > mx) mx = v; }
        const d = fr(fr(mx - mn) / nmax);
        const id = d !== 0 ? fr(1 / d) : 0;
        dv.setUint16(yo, fp32_to_fp16(d), true);
        dv.setUint16(yo + 2, fp32_to_fp16(mn), true);
        // q4_1: MIN(15, (int8_t)(t + 0.5f)), q5_1: (uint8_t)(t + 0.5f)
        for (let j = 0; j < QK; j++) {
          const t = Math.trunc(fr(fr(fr(x[xo + j] - mn) * id) + 0.5));
          L[j] = bits === 4 ? Math.min(15, (t << 24) >> 24) : t & 255;
        }
      } else {
        block_weights(weight, x, xo, imatrix, ib, sigma2);
        const [d, the_min] = make_qkx2_quants(QK, nmax, x, xo, weight, 0, L, 0, Laux, fr(-0.9), fr(0.05), 36, false);
        dv.setUint16(yo, fp32_to_fp16(d), true);
        dv.setUint16(yo + 2, fp32_to_fp16(-the_min), true);
      }
      pack32(out, yo + QS, yo + 4, L, bits);
    }
  }
  return out;
}
