// Plain-JS baseline: ggml quantize_iq2_xxs / quantize_iq2_xs (imatrix required) / quantize_iq2_s
// (optional imatrix), same bytes. Float32 emulated with Math.fround, llama.cpp order.
import { f, nint, FLT_MAX, fp32_to_fp16, lattice } from "./iq_common.js";

// ggml make_qp_quants(n, nmax, x, L, w) with GROUP_MAX_EPS = 1e-15 and the guarded final division
function makeQp(n, nmax, x, L, w) {
  let max = 0;
  for (let i = 0; i < n; i++) max = max > x[i] ? max : x[i];
  if (max < 1.0000000036274937e-15) { L.fill(0, 0, n); return 0; }
  let iscale = f(nmax / max);
  for (let i = 0; i < n; i++) L[i] = nint(f(iscale * x[i]));
  const scale = f(1 / iscale);
  let bestMse = 0;
  for (let i = 0; i < n; i++) { const diff = f(x[i] - f(scale * L[i])); bestMse = f(bestMse + f(f(w[i] * diff) * diff)); }
  for (let is = -4; is <= 4; is++) {
    if (is === 0) continue;
    const isc = f(f(f(0.10000000149011612 * is) + nmax) / max), sc = f(1 / isc);
    let mse = 0;
    for (let i = 0; i < n; i++) { const l = Math.min(nmax, nint(f(isc * x[i]))); const diff = f(x[i] - f(sc * l)); mse = f(mse + f(f(w[i] * diff) * diff)); }
    if (mse < bestMse) { bestMse = mse; iscale = isc; }
  }
  let sumlx = 0, suml2 = 0;
  for (let i = 0; i < n; i++) { const l = Math.min(nmax, nint(f(iscale * x[i]))); L[i] = l; sumlx = f(sumlx + f(f(w[i] * x[i]) * l)); suml2 = f(suml2 + f(f(w[i] * l) * l)); }
  for (let itry = 0; itry < 5; itry++) {
    let changed = 0;
    for (let i = 0; i < n; i++) {
      const wi = w[i];
      let slx = f(sumlx - f(f(wi * x[i]) * L[i])), sl2 = f(suml2 - f(f(wi * L[i]) * L[i]));
      if (slx > 0 && sl2 > 0) {
        const nl = Math.min(nmax, nint(f(f(x[i] * sl2) / slx)));
        if (nl !== L[i]) {
          slx = f(slx + f(f(wi * x[i]) * nl)); sl2 = f(sl2 + f(f(wi * nl) * nl));
          if (f(f(slx * slx) * suml2) > f(f(sumlx * sumlx) * sl2)) { L[i] = nl; sumlx = slx; suml2 = sl2; changed++; }
        }
      }
    }
    if (!changed) break;
  }
  return suml2 > 0 ? f(sumlx / suml2) : 0;
}

function quantize(x, nrows, n_per_row, imatrix, variant) {
  if (variant !== 2 && !imatrix) throw new Error("imatrix required");
  const { grid, kmap, nb } = lattice(variant === 0 ? "iq2xxs" : variant === 1 ? "iq2xs" : "iq2s");
  const bsz = [66, 74, 82][variant], bs = variant === 0 ? 32 : 16, nblk = 256 / bs;
  const nbl = n_per_row / 256, out = new Uint8Array(nrows * nbl * bsz), dv = new DataView(out.buffer);
  const weight = new Float64Array(32), waux = new Float64Array(32), xval = new Float64Array(32), scales = new Float64Array(16);
  const L = new Int8Array(32), Laux = new Int8Array(32), ong = [1, 1], ongAux = [1, 1], signs = new Uint8Array(4);
  const Lq = new Uint8Array(32); // make_qp_quants writes uint8_t codes (a negative code wraps, as in C)
  const neighbour = (u, k, scale, Lp) => {
    const at = -kmap[u] - 1, n = nb[at];
    let best = FLT_MAX, gi = -1;
    for (let j = 1; j <= n; j++) {
      const idx = nb[at + j];
      let d2 = 0;
      for (let i = 0; i < 8; i++) { const diff = f(f(scale * grid[idx * 8 + i]) - xval[8 * k + i]); d2 = f(d2 + f(f(waux[8 * k + i] * diff) * diff)); }
      if (d2 < best) { best = d2; gi = idx; }
    }
    for (let i = 0; i < 8; i++) Lp[8 * k + i] = (grid[gi * 8 + i] - 1) >> 1;
    return gi;
  };
  const codes = (k, id, Lp) => {
    let u = 0;
    for (let i = 0; i < 8; i++) { const l = Math.max(0, Math.min(2, nint(f(0.5 * f(f(id * xval[8 * k + i]) - 1))))); Lp[8 * k + i] = l; u |= l << (2 * i); }
    return u;
  };
  const key = (k) => { let u = 0; for (let i = 0; i < 8; i++) u |= L[8 * k + i] << (2 * i); return u; };
  const sums = (Lp, n) => {
    let sx = 0, s2 = 0;
    for (let i = 0; i < n; i++) { const q = 2 * Lp[i] + 1, w = weight[i]; sx = f(sx + f(f(w * xval[i]) * q)); s2 = f(s2 + f(f(w * q) * q)); }
    return [sx, s2];
  };
  for (let b = 0; b < nrows * nbl; b++) {
    const o = b * 256, qo = (b % nbl) * 256, y = b * bsz;
    let sumx2 = 0;
    for (let i = 0; i < 256; i++) sumx2 = f(sumx2 + f(x[o + i] * x[o + i]));
    const sigma2 = variant === 2 ? f(f(2 * sumx2) / 256) : f(sumx2 / 256);
    let maxScale = 0;
    const q2 = new Uint32Array(16);
    for (let ib = 0; ib < nblk; ib++) {
      const xb = o + bs * ib;
      for (let i = 0; i < bs; i++) { const v = x[xb + i]; weight[i] = imatrix ? f(imatrix[qo + bs * ib + i] * f(Math.sqrt(f(sigma2 + f(v * v))))) : f(f(0.25 * sigma2) + f(v * v)); }
      for (let i = 0; i < bs; i++) waux[i] = f(Math.sqrt(weight[i]));
      for (let k = 0; k < bs / 8; k++) {
        let nflip = 0, s = 0;
        for (let i = 0; i < 8; i++) { const v = x[xb + 8 * k + i]; if (v >= 0) xval[8 * k + i] = v; else { xval[8 * k + i] = -v; nflip++; s |= 1 << i; } }
        if (variant !== 2 && nflip % 2) {
          let imin = 0, mn = f(f(weight[8 * k] * x[xb + 8 * k]) * x[xb + 8 * k]);
          for (let i = 1; i < 8; i++) { const ax = f(f(weight[8 * k + i] * x[xb + 8 * k + i]) * x[xb + 8 * k + i]); if (ax < mn) { mn = ax; imin = i; } }
          xval[8 * k + imin] = -xval[8 * k + imin]; s ^= 1 << imin;
        }
        signs[k] = variant !== 2 ? s & 127 : s;
      }
      let max = xval[0];
      for (let i = 1; i < bs; i++) max = max > xval[i] ? max : xval[i];
      let scale;
      if (variant === 0) {
        if (max < 1.0000000036274937e-15) { scales[ib] = 0; continue; }
        scale = makeQp(32, 4, xval, Lq, weight);
        for (let i = 0; i < 32; i++) L[i] = Lq[i];
        const effMax = f(scale * 3);
        if (effMax <= 0) { scales[ib] = 0; continue; }
        let best = 0;
        for (let is = -6; is <= 6; is++) {
          const id = f(f(5 + f(is * 0.10000000149011612)) / effMax), ts = f(1 / id);
          for (let k = 0; k < 4; k++) { const u = codes(k, id, Laux); if (kmap[u] < 0) neighbour(u, k, ts, Laux); }
          const [sx, s2] = sums(Laux, 32);
          if (s2 > 0 && f(sx * sx) > f(best * s2)) { scale = f(sx / s2); best = f(scale * sx); L.set(Laux); }
        }
        if (scale > 0) {
          const id = f(1 / scale);
          for (let k = 0; k < 4; k++) {
            const u = codes(k, id, Laux);
            const gi = kmap[u] >= 0 ? kmap[u] : neighbour(u, k, scale, L);
            for (let i = 0; i < 8; i++) L[8 * k + i] = (grid[gi * 8 + i] - 1) >> 1;
          }
          const [sx, s2] = sums(L, 32);
          if (s2 > 0) scale = f(sx / s2);
        }
      } else {
        L.fill(0, 0, 16);
        if (max < (variant === 2 ? 9.99999993922529e-9 : 1.0000000036274937e-15)) { scales[ib] = 0; continue; }
        let best = 0;
        scale = f(max / 5);
        ong[0] = ong[1] = 1;
        for (let is = -9; is <= 9; is++) {
          const id = f(f(5 + f(is * 0.10000000149011612)) / max), ts = f(1 / id);
          for (let k = 0; k < 2; k++) { const u = codes(k, id, Laux); ongAux[k] = 1; if (kmap[u] < 0) { ongAux[k] = 0; neighbour(u, k, ts, Laux); } }
          const [sx, s2] = sums(Laux, 16);
          if (s2 > 0 && f(sx * sx) > f(best * s2)) { scale = f(sx / s2); best = f(scale * sx); L.set(Laux.subarray(0, 16)); ong[0] = ongAux[0]; ong[1] = ongAux[1]; }
        }
        if ((!ong[0] || !ong[1]) && scale > 0) {
          const id = f(1 / scale);
          for (let k = 0; k < 2; k++) {
            if (ong[k]) continue;
            const u = codes(k, id, L);
            if (kmap[u] < 0) neighbour(u, k, scale, L);
          }
          const [sx, s2] = sums(L, 16);
          if (s2 > 0) scale = f(sx / s2);
        }
      }
      for (let k = 0; k < bs / 8; k++) {
        const gi = kmap[key(k)], sg = signs[k];
        if (variant === 0) { q2[2 * ib] |= gi << (8 * k); q2[2 * ib + 1] |= sg << (7 * k); }
        else if (variant === 1) dv.setUint16(y + 2 + 2 * (2 * ib + k), gi | (sg << 9), true);
        else { const i8 = 2 * ib + k; out[y + 2 + i8] = gi & 255; out[y + 66 + (i8 >> 2)] |= (gi >> 8) << (2 * (i8 & 3)); out[y + 34 + i8] = sg; }
      }
      scales[ib] = scale;
      maxScale = maxScale > scale ? maxScale : scale;
    }
    if (maxScale === 0) { if (variant === 1) out.fill(0, y + 2, y + 66); continue; }
    const d = f(maxScale / 31), h = fp32_to_fp16(variant === 2 ? f(d * 0.987500011920929) : d), id = f(1 / d);
    out[y] = h & 255; out[y + 1] = h >> 8;
    for (let ib = 0; ib < nblk; ib++) {
      const l = Math.max(0, Math.min(15, nint(f(0.5 * f(f(id * scales[ib]) - 1)))));
      if (variant === 0) q2[2 * ib + 1] = (q2[2 * ib + 1] | (l << 28)) >>> 0;
      else out[y + (variant === 1 ? 66 : 74) + (ib >> 1)] |= l << (4 * (ib & 1));
    }
    if (variant === 0) for (let i = 0; i < 16; i++) dv.setUint32(y + 2 + 4 * i, q2[i], true);
  }
  return out;
}
/** x: Float32Array (nrows * n_per_row), imatrix: Float32Array(n_per_row) (required) -> Uint8Array (66 bytes / 256 values). */
export const quantize_iq2_xxs = (x, nrows, n_per_row, imatrix) => quantize(x, nrows, n_per_row, imatrix, 0);
/** iq2_xs (imatrix required, 74 bytes / 256 values). */
export const quantize_iq2_xs = (x, nrows, n_per_row, imatrix) => quantize(x, nrows, n_per_row, imatrix, 1);
/** iq2_s (imatrix optional, 82 bytes / 256 values). */
export const quantize_iq2_s = (x, nrows, n_per_row, imatrix) => quantize(x, nrows, n_per_row, imatrix, 2);
