// Plain-JS baseline: ggml quantize_iq3_xxs / quantize_iq3_s (quantize_row_iq3_xxs_impl(256) /
// quantize_row_iq3_s_impl(32), optional imatrix), same bytes. Float32 emulated with Math.fround.
import { f, nint, FLT_MAX, fp32_to_fp16, lattice } from "./iq_common.js";

function quantize(x, nrows, n_per_row, imatrix, xxs) {
  const { grid, kmap, nb } = lattice(xxs ? "iq3xxs" : "iq3s");
  const bsz = xxs ? 98 : 110, nbl = n_per_row / 256, out = new Uint8Array(nrows * nbl * bsz);
  const weight = new Float64Array(32), waux = new Float64Array(32), xval = new Float64Array(32), scales = new Float64Array(8);
  const L = new Int8Array(32), Laux = new Int8Array(32), ong = new Uint8Array(8), ongAux = new Uint8Array(8), signs = new Uint8Array(4);
  const q3 = new Uint8Array(96), q3v = new DataView(q3.buffer);
  const neighbour = (u, k, scale, Lp) => {
    const at = -kmap[u] - 1, n = nb[at];
    let best = FLT_MAX, gi = -1;
    for (let j = 1; j <= n; j++) {
      const idx = nb[at + j];
      let d2 = 0;
      for (let i = 0; i < 4; i++) { const diff = f(f(scale * grid[idx * 4 + i]) - xval[4 * k + i]); d2 = f(d2 + f(f(waux[4 * k + i] * diff) * diff)); }
      if (d2 < best) { best = d2; gi = idx; }
    }
    for (let i = 0; i < 4; i++) Lp[4 * k + i] = (grid[gi * 4 + i] - 1) >> 1;
    return gi;
  };
  const codes = (k, id, Lp) => {
    let u = 0;
    for (let i = 0; i < 4; i++) { const l = Math.max(0, Math.min(7, nint(f(0.5 * f(f(id * xval[4 * k + i]) - 1))))); Lp[4 * k + i] = l; u |= l << (3 * i); }
    return u;
  };
  const sums = (Lp) => {
    let sx = 0, s2 = 0;
    for (let i = 0; i < 32; i++) { const q = 2 * Lp[i] + 1, w = weight[i]; sx = f(sx + f(f(w * xval[i]) * q)); s2 = f(s2 + f(f(w * q) * q)); }
    return [sx, s2];
  };
  for (let b = 0; b < nrows * nbl; b++) {
    const o = b * 256, qo = (b % nbl) * 256, y = b * bsz;
    q3.fill(0);
    let sumx2 = 0;
    for (let i = 0; i < 256; i++) sumx2 = f(sumx2 + f(x[o + i] * x[o + i]));
    const sigma2 = f(f(2 * sumx2) / 256);
    let maxScale = 0, nw = 0;
    for (let ib = 0; ib < 8; ib++) {
      const xb = o + 32 * ib;
      for (let i = 0; i < 32; i++) { const v = x[xb + i]; weight[i] = imatrix ? f(imatrix[qo + 32 * ib + i] * f(Math.sqrt(f(sigma2 + f(v * v))))) : f(v * v); }
      for (let i = 0; i < 32; i++) waux[i] = f(Math.sqrt(weight[i]));
      for (let k = 0; k < 4; k++) {
        let nflip = 0, s = 0;
        for (let i = 0; i < 8; i++) { const v = x[xb + 8 * k + i]; if (v >= 0) xval[8 * k + i] = v; else { xval[8 * k + i] = -v; nflip++; s |= 1 << i; } }
        if (xxs && nflip % 2) {
          let imin = 0, mn = f(f(weight[8 * k] * x[xb + 8 * k]) * x[xb + 8 * k]);
          for (let i = 1; i < 8; i++) { const ax = f(f(weight[8 * k + i] * x[xb + 8 * k + i]) * x[xb + 8 * k + i]); if (ax < mn) { mn = ax; imin = i; } }
          xval[8 * k + imin] = -xval[8 * k + imin]; s ^= 1 << imin;
        }
        signs[k] = xxs ? s & 127 : s;
      }
      let max = xval[0];
      for (let i = 1; i < 32; i++) max = max > xval[i] ? max : xval[i];
      L.fill(0);
      if (xxs ? max < 9.99999993922529e-9 : max === 0) { scales[ib] = 0; continue; }
      let best = 0, scale = f(max / 15);
      ong.fill(xxs ? 1 : 0);
      const nis = xxs ? 15 : 9;
      for (let is = -nis; is <= nis; is++) {
        const id = f(f(15 + f(is * 0.20000000298023224)) / max), thisScale = f(1 / id);
        for (let k = 0; k < 8; k++) {
          const u = codes(k, id, Laux);
          ongAux[k] = 1;
          if (kmap[u] < 0) { ongAux[k] = 0; neighbour(u, k, thisScale, Laux); }
        }
        const [sx, s2] = sums(Laux);
        if (s2 > 0 && f(sx * sx) > f(best * s2)) { scale = f(sx / s2); best = f(scale * sx); L.set(Laux); ong.set(ongAux); }
      }
      let nnot = 0;
      for (let k = 0; k < 8; k++) if (!ong[k]) nnot++;
      if (nnot > 0 && scale > 0) {
        const id = f(1 / scale);
        for (let k = 0; k < 8; k++) {
          if (xxs && ong[k]) continue;
          const u = codes(k, id, Laux);
          const gi = kmap[u] >= 0 ? kmap[u] : neighbour(u, k, scale, L);
          for (let i = 0; i < 4; i++) L[4 * k + i] = (grid[gi * 4 + i] - 1) >> 1;
        }
        const [sx, s2] = sums(L);
        if (s2 > 0) scale = f(sx / s2);
      }
      for (let k = 0; k < 8; k++) {
        const gi = kmap[L[4 * k] | (L[4 * k + 1] << 3) | (L[4 * k + 2] << 6) | (L[4 * k + 3] << 9)];
        if (xxs) q3[8 * ib + k] = gi;
        else { out[y + 2 + 8 * nw + k] = gi & 255; out[y + 66 + ib] |= (gi >> 8) << k; }
      }
      if (xxs) q3v.setUint32(64 + 4 * ib, signs[0] | (signs[1] << 7) | (signs[2] << 14) | (signs[3] << 21), true);
      else for (let k = 0; k < 4; k++) out[y + 74 + 4 * nw + k] = signs[k];
      nw++;
      scales[ib] = scale;
      maxScale = maxScale > scale ? maxScale : scale;
    }
    if (maxScale === 0) continue;
    const d = f(maxScale / 31), h = fp32_to_fp16(f(d * (xxs ? 1.0125000476837158 : 1.0329999923706055))), id = f(1 / d);
    out[y] = h & 255; out[y + 1] = h >> 8;
    for (let ib = 0; ib < 8; ib++) {
      const l = Math.max(0, Math.min(15, nint(f(0.5 * f(f(id * scales[ib]) - 1)))));
      if (xxs) q3v.setUint32(64 + 4 * ib, (q3v.getUint32(64 + 4 * ib, true) | (l << 28)) >>> 0, true);
      else out[y + 106 + (ib >> 1)] |= l << (4 * (ib & 1));
    }
    if (xxs) out.set(q3, y + 2);
  }
  return out;
}
/** x: Float32Array (nrows * n_per_row), imatrix: Float32Array(n_per_row) | null -> Uint8Array (98 bytes / 256 values). */
export const quantize_iq3_xxs = (x, nrows, n_per_row, imatrix) => quantize(x, nrows, n_per_row, imatrix, true);
/** Same for iq3_s (110 bytes / 256 values). */
export const quantize_iq3_s = (x, nrows, n_per_row, imatrix) => quantize(x, nrows, n_per_row, imatrix, false);
