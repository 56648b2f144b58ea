// Plain-JS baseline: ggml quantize_iq1_s (imatrix required) / quantize_iq1_m (optional imatrix), same
// bytes. Float32 emulated with Math.fround, llama.cpp order; stable sort as glibc's qsort.
import { f, nint, FLT_MAX, fp32_to_fp16, lattice } from "./iq_common.js";
const XP = [-0.875, 0.125, 1.125], XM = [-1.125, -0.125, 0.875];

function sortIdx(x, o, n) {
  const idx = Array.from({ length: n }, (_, j) => j);
  return idx.sort((a, b) => x[o + a] - x[o + b] || a - b); // stable by value, ties by index
}
function neighbour2(grid, kmap, nb, u, x, xo, w, wo, scale, xx, L, Lo) {
  const at = -kmap[u] - 1, n = nb[at];
  let best = FLT_MAX, gi = -1;
  for (let j = 1; j <= n; j++) {
    const idx = nb[at + j];
    let d2 = 0;
    for (let i = 0; i < 8; i++) { const diff = f(f(scale * xx[(grid[idx * 8 + i] - 1) >> 1]) - x[xo + i]); d2 = f(d2 + f(f(w[wo + i] * diff) * diff)); }
    if (d2 < best) { best = d2; gi = idx; }
  }
  for (let i = 0; i < 8; i++) L[Lo + i] = (grid[gi * 8 + i] - 1) >> 1;
  return gi;
}

/** x: Float32Array (nrows * n_per_row), imatrix: Float32Array(n_per_row) (required) -> Uint8Array (50 bytes / 256 values). */
export function quantize_iq1_s(x, nrows, n_per_row, imatrix) {
  if (!imatrix) throw new Error("imatrix required");
  const { grid, kmap, nb } = lattice("iq1s");
  const nbl = n_per_row / 256, out = new Uint8Array(nrows * nbl * 50), dv = new DataView(out.buffer);
  const weight = new Float64Array(32), L = new Int8Array(32), sumx = new Float64Array(33), sumw = new Float64Array(33);
  const scales = new Float64Array(8), shifts = new Int8Array(8), index = new Int32Array(4);
  for (let b = 0; b < nrows * nbl; b++) {
    const o = b * 256, qo = (b % nbl) * 256, y = b * 50;
    let sumx2 = 0;
    for (let i = 0; i < 256; i++) sumx2 = f(sumx2 + f(x[o + i] * x[o + i]));
    const sigma2 = f(f(2 * sumx2) / 256);
    let maxScale = 0;
    for (let ib = 0; ib < 8; ib++) {
      const xb = o + 32 * ib;
      for (let i = 0; i < 32; i++) { const v = x[xb + i]; weight[i] = f(imatrix[qo + 32 * ib + i] * f(Math.sqrt(f(sigma2 + f(v * v))))); }
      let max = Math.abs(x[xb]);
      for (let i = 1; i < 32; i++) { const a = Math.abs(x[xb + i]); max = max > a ? max : a; }
      if (max < 9.999999960041972e-13) { scales[ib] = 0; shifts[ib] = 1; continue; }
      const idx = sortIdx(x, xb, 32);
      sumx[0] = sumw[0] = 0;
      for (let j = 0; j < 32; j++) { const i = idx[j]; sumx[j + 1] = f(sumx[j] + f(weight[i] * x[xb + i])); sumw[j + 1] = f(sumw[j] + weight[i]); }
      let bestScore = -FLT_MAX, scale = max, b1 = -1, b2 = -1, bshift = 0;
      for (let i1 = 0; i1 <= 32; i1++) for (let i2 = i1; i2 <= 32; i2++) {
        for (const [xv, sh] of [[XP, 1], [XM, -1]]) {
          const sqx = f(f(f(f(sumx[i1] - sumx[0]) * xv[0]) + f(f(sumx[i2] - sumx[i1]) * xv[1])) + f(f(sumx[32] - sumx[i2]) * xv[2]));
          const sq2 = f(f(f(f(f(sumw[i1] - sumw[0]) * xv[0]) * xv[0]) + f(f(f(sumw[i2] - sumw[i1]) * xv[1]) * xv[1])) + f(f(f(sumw[32] - sumw[i2]) * xv[2]) * xv[2]));
          if (sq2 > 0 && f(sqx * sqx) > f(bestScore * sq2)) { scale = f(sqx / sq2); bestScore = f(scale * sqx); b1 = i1; b2 = i2; bshift = sh; }
        }
      }
      if (b1 < 0 || b2 < 0 || bshift === 0) { scales[ib] = 0; shifts[ib] = 1; continue; }
      for (let j = 0; j < 32; j++) L[idx[j]] = j < b1 ? 0 : j < b2 ? 1 : 2;
      if (scale < 0) { for (let j = 0; j < 32; j++) L[j] = 2 - L[j]; scale = -scale; bshift = -bshift; }
      const xx = bshift === 1 ? XP : XM;
      let allOn = true;
      for (let k = 0; k < 4; k++) {
        let u = 0;
        for (let j = 0; j < 8; j++) u |= L[8 * k + j] << (2 * j);
        let gi = kmap[u];
        if (gi < 0) { allOn = false; gi = neighbour2(grid, kmap, nb, u, x, xb + 8 * k, weight, 8 * k, scale, xx, L, 8 * k); }
        index[k] = gi;
      }
      if (!allOn) {
        let sx = 0, s2 = 0;
        for (let k = 0; k < 4; k++) for (let j = 0; j < 8; j++) {
          const w = weight[8 * k + j], q = xx[(grid[index[k] * 8 + j] - 1) >> 1];
          sx = f(sx + f(f(w * q) * x[xb + 8 * k + j])); s2 = f(s2 + f(f(w * q) * q));
        }
        if (sx > 0 && s2 > 0) scale = f(sx / s2);
      }
      let h = 0;
      for (let k = 0; k < 4; k++) { out[y + 2 + 4 * ib + k] = index[k] & 255; h |= (index[k] >> 8) << (3 * k); }
      dv.setUint16(y + 34 + 2 * ib, h, true);
      scales[ib] = scale; shifts[ib] = bshift;
      maxScale = maxScale > scale ? maxScale : scale;
    }
    if (maxScale === 0) continue;
    const d = f(maxScale / 15), hd = fp32_to_fp16(f(d * 1.125)), id = f(1 / d);
    out[y] = hd & 255; out[y + 1] = hd >> 8;
    for (let ib = 0; ib < 8; ib++) {
      let l = Math.max(0, Math.min(7, nint(f(0.5 * f(f(id * scales[ib]) - 1)))));
      if (shifts[ib] === -1) l |= 8;
      dv.setUint16(y + 34 + 2 * ib, dv.getUint16(y + 34 + 2 * ib, true) | (l << 12), true);
    }
  }
  return out;
}

const xxm = (s, k) => (k === 0 ? (s < 2 ? XP : XM) : s % 2 === 0 ? XP : XM);
/** x: Float32Array (nrows * n_per_row), imatrix: Float32Array(n_per_row) | null -> Uint8Array (56 bytes / 256 values). */
export function quantize_iq1_m(x, nrows, n_per_row, imatrix) {
  const { grid, kmap, nb } = lattice("iq1s");
  const nbl = n_per_row / 256, out = new Uint8Array(nrows * nbl * 56), dv = new DataView(out.buffer);
  const weight = new Float64Array(16), L = new Int8Array(16), scales = new Float64Array(16), shifts = new Int8Array(16), index = new Int32Array(2);
  const wfor = (xb, qo, sigma2) => { for (let i = 0; i < 16; i++) { const v = x[xb + i]; weight[i] = imatrix ? f(imatrix[qo + i] * f(Math.sqrt(f(sigma2 + f(v * v))))) : f(v * v); } };
  for (let b = 0; b < nrows * nbl; b++) {
    const o = b * 256, qo = (b % nbl) * 256, y = b * 56;
    let sumx2 = 0;
    for (let i = 0; i < 256; i++) sumx2 = f(sumx2 + f(x[o + i] * x[o + i]));
    const sigma2 = f(f(2 * sumx2) / 256);
    let maxScale = 0;
    for (let ib = 0; ib < 16; ib++) {
      const xb = o + 16 * ib;
      wfor(xb, qo + 16 * ib, sigma2);
      let max = Math.abs(x[xb]);
      for (let i = 1; i < 16; i++) { const a = Math.abs(x[xb + i]); max = max > a ? max : a; }
      if (max < 1.0000000116860974e-7) { scales[ib] = 0; shifts[ib] = 0; continue; }
      const idx = sortIdx(x, xb, 16);
      // llama.cpp's per-half prefix sums: a split scores T v2 - px[i1] - px[i2] (q^2 likewise)
      const px = [new Float64Array(17), new Float64Array(17)], pw = [new Float64Array(17), new Float64Array(17)];
      for (let j = 0; j < 16; j++) {
        const i = idx[j], h = i < 8 ? 0 : 1;
        px[h][j + 1] = f(px[h][j] + f(weight[i] * x[xb + i])); px[1 - h][j + 1] = px[1 - h][j];
        pw[h][j + 1] = f(pw[h][j] + weight[i]); pw[1 - h][j + 1] = pw[1 - h][j];
      }
      const p2 = XP[2], m2 = XM[2];
      const cp1 = f(f(XP[0] * XP[0]) - f(XP[1] * XP[1])), cp2 = f(f(XP[1] * XP[1]) - f(XP[2] * XP[2]));
      const cm1 = f(f(XM[0] * XM[0]) - f(XM[1] * XM[1])), cm2 = f(f(XM[1] * XM[1]) - f(XM[2] * XM[2]));
      let bestScore = -FLT_MAX, scale = max, b1 = -1, b2 = -1, bk = -1;
      const qxp = [0, 0], qxm = [0, 0], q2p = [0, 0], q2m = [0, 0], sqx = [0, 0, 0, 0], sq2 = [0, 0, 0, 0];
      for (let i1 = 0; i1 <= 16; i1++) for (let i2 = i1; i2 <= 16; i2++) {
        for (let h = 0; h < 2; h++) {
          const sx = f(px[h][i1] + px[h][i2]), tx = px[h][16], tw = pw[h][16];
          qxp[h] = f(f(tx * p2) - sx); qxm[h] = f(f(tx * m2) - sx);
          q2p[h] = f(f(f(f(tw * p2) * p2) + f(pw[h][i1] * cp1)) + f(pw[h][i2] * cp2));
          q2m[h] = f(f(f(f(tw * m2) * m2) + f(pw[h][i1] * cm1)) + f(pw[h][i2] * cm2));
        }
        sqx[0] = f(qxp[0] + qxp[1]); sqx[1] = f(qxp[0] + qxm[1]); sqx[2] = f(qxm[0] + qxp[1]); sqx[3] = f(qxm[0] + qxm[1]);
        sq2[0] = f(q2p[0] + q2p[1]); sq2[1] = f(q2p[0] + q2m[1]); sq2[2] = f(q2m[0] + q2p[1]); sq2[3] = f(q2m[0] + q2m[1]);
        for (let k = 0; k < 4; k++) if (sq2[k] > 0 && f(sqx[k] * sqx[k]) > f(bestScore * sq2[k])) { scale = f(sqx[k] / sq2[k]); bestScore = f(scale * sqx[k]); b1 = i1; b2 = i2; bk = k; }
      }
      if (b1 < 0 || b2 < 0 || bk < 0) { scales[ib] = 0; shifts[ib] = 0; continue; }
      for (let j = 0; j < 16; j++) L[idx[j]] = j < b1 ? 0 : j < b2 ? 1 : 2;
      if (scale < 0) { for (let j = 0; j < 16; j++) L[j] = 2 - L[j]; scale = -scale; bk = 3 - bk; }
      let allOn = true;
      for (let k = 0; k < 2; k++) {
        let u = 0;
        for (let j = 0; j < 8; j++) u |= L[8 * k + j] << (2 * j);
        let gi = kmap[u];
        if (gi < 0) { allOn = false; gi = neighbour2(grid, kmap, nb, u, x, xb + 8 * k, weight, 8 * k, scale, xxm(bk, k), L, 8 * k); }
        index[k] = gi;
      }
      if (!allOn) {
        let sx = 0, s2 = 0;
        for (let k = 0; k < 2; k++) { const xx = xxm(bk, k); for (let j = 0; j < 8; j++) { const w = weight[8 * k + j], q = xx[(grid[index[k] * 8 + j] - 1) >> 1]; sx = f(sx + f(f(w * q) * x[xb + 8 * k + j])); s2 = f(s2 + f(f(w * q) * q)); } }
        if (sx > 0 && s2 > 0) scale = f(sx / s2);
      }
      out[y + 2 * ib] = index[0] & 255; out[y + 2 * ib + 1] = index[1] & 255;
      out[y + 32 + ib] = (index[0] >> 8) | ((index[1] >> 8) << 4);
      scales[ib] = scale; shifts[ib] = bk;
      maxScale = maxScale > scale ? maxScale : scale;
    }
    if (maxScale === 0) continue;
    let d = f(maxScale / 15);
    const id = f(1 / d);
    let sx = 0, s2 = 0;
    for (let ib = 0; ib < 16; ib++) {
      const l = Math.max(0, Math.min(7, nint(f(0.5 * f(f(id * scales[ib]) - 1)))));
      dv.setUint16(y + 48 + 2 * (ib >> 2), dv.getUint16(y + 48 + 2 * (ib >> 2), true) | (l << (3 * (ib & 3))), true);
      out[y + 32 + ib] |= [0, 0x80, 0x08, 0x88][shifts[ib]];
      const xb = o + 16 * ib, qh = out[y + 32 + ib];
      wfor(xb, qo + 16 * ib, sigma2);
      for (let k = 0; k < 2; k++) {
        const xx = xxm(shifts[ib], k), gi = out[y + 2 * ib + k] + ((qh << (8 - 4 * k)) & 0x700);
        for (let j = 0; j < 8; j++) { const w = weight[8 * k + j], q = f(xx[(grid[gi * 8 + j] - 1) >> 1] * (2 * l + 1)); sx = f(sx + f(f(w * q) * x[xb + 8 * k + j])); s2 = f(s2 + f(f(w * q) * q)); }
      }
    }
    if (s2 > 0) d = f(sx / s2);
    const s = fp32_to_fp16(f(d * 1.1124999523162842));
    const or16 = (off, v) => dv.setUint16(y + off, dv.getUint16(y + off, true) | v, true);
    or16(48, (s & 0xf) << 12); or16(50, (s & 0xf0) << 8); or16(52, (s & 0xf00) << 4); or16(54, s & 0xf000);
  }
  return out;
}
