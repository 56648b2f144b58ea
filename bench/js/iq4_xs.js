// Plain-JS baseline: ggml quantize_iq4_xs (quantize_row_iq4_nl_impl(256, 32, ..., ntry = 7), optional
// imatrix), same bytes. Float32 emulated with Math.fround after every operation, llama.cpp order.
import { f, nint, fp32_to_fp16 } from "./iq_common.js";
const KV = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];
function bestIndex(x) {
  if (x <= -127) return 0;
  if (x >= 113) return 15;
  let ml = 0, mu = 15;
  while (mu - ml > 1) { const mav = (ml + mu) >> 1; if (x < KV[mav]) mu = mav; else ml = mav; }
  return f(x - KV[mu - 1]) < f(KV[mu] - x) ? mu - 1 : mu;
}
/** x: Float32Array (nrows * n_per_row, n_per_row % 256 == 0), imatrix: Float32Array(n_per_row) | null -> Uint8Array (136 bytes / 256 values). */
export function quantize_iq4_xs(x, nrows, n_per_row, imatrix) {
  const nbl = n_per_row / 256, out = new Uint8Array(nrows * nbl * 136);
  const w = new Float64Array(32), sc = new Float64Array(8), L = new Uint8Array(32);
  for (let b = 0; b < nrows * nbl; b++) {
    const o = b * 256, qo = (b % nbl) * 256, y = b * 136;
    let sigma2 = 0;
    for (let j = 0; j < 256; j++) sigma2 = f(sigma2 + f(x[o + j] * x[o + j]));
    sigma2 = f(sigma2 * 0.0078125);
    for (let ib = 0; ib < 8; ib++) {
      const xb = o + 32 * ib;
      for (let j = 0; j < 32; j++) { const v = x[xb + j]; w[j] = imatrix ? f(imatrix[qo + 32 * ib + j] * f(Math.sqrt(f(sigma2 + f(v * v))))) : f(v * v); }
      let amax = 0, max = 0;
      for (let j = 0; j < 32; j++) { const ax = Math.abs(x[xb + j]); if (ax > amax) { amax = ax; max = x[xb + j]; } }
      if (amax < 1.0000000036274937e-15) { sc[ib] = 0; continue; }
      let d = f(-max / -127), id = f(1 / d), sumqx = 0, sumq2 = 0;
      for (let j = 0; j < 32; j++) { const v = x[xb + j], q = KV[bestIndex(f(id * v))]; sumqx = f(sumqx + f(f(w[j] * q) * v)); sumq2 = f(sumq2 + f(f(w[j] * q) * q)); }
      d = sumq2 > 0 ? f(sumqx / sumq2) : 0;
      let best = f(d * sumqx);
      for (let itry = -7; itry <= 7; itry++) {
        id = f((itry - 127) / max); sumqx = 0; sumq2 = 0;
        for (let j = 0; j < 32; j++) { const v = x[xb + j], q = KV[bestIndex(f(id * v))]; sumqx = f(sumqx + f(f(w[j] * q) * v)); sumq2 = f(sumq2 + f(f(w[j] * q) * q)); }
        if (sumq2 > 0 && f(sumqx * sumqx) > f(best * sumq2)) { d = f(sumqx / sumq2); best = f(d * sumqx); }
      }
      sc[ib] = d;
    }
    let maxs = 0, amaxs = 0;
    for (let ib = 0; ib < 8; ib++) { const a = Math.abs(sc[ib]); if (a > amaxs) { amaxs = a; maxs = sc[ib]; } }
    const d = f(-maxs / 32), h = fp32_to_fp16(d);
    out[y] = h & 255; out[y + 1] = h >> 8;
    const id = d !== 0 ? f(1 / d) : 0;
    let sh = 0;
    for (let ib = 0; ib < 8; ib++) {
      let l = nint(f(id * sc[ib]));
      l = Math.max(-32, Math.min(31, l));
      const dl = f(d * l), idl = dl !== 0 ? f(1 / dl) : 0;
      for (let j = 0; j < 32; j++) L[j] = bestIndex(f(idl * x[o + 32 * ib + j]));
      for (let j = 0; j < 16; j++) out[y + 8 + 16 * ib + j] = L[j] | (L[j + 16] << 4);
      l += 32;
      out[y + 4 + (ib >> 1)] |= (l & 15) << (4 * (ib & 1));
      sh |= (l >> 4) << (2 * ib);
    }
    out[y + 2] = sh & 255; out[y + 3] = sh >> 8;
  }
  return out;
}
