// Plain-JS baseline: ggml quantize_iq4_nl (chunk API: ntry = 7, optional imatrix), same bytes.
// Float32 arithmetic emulated with Math.fround after every operation, llama.cpp order.
import { fp32_to_fp16 } from "./f16.js";
const f = Math.fround;
const KV = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];
function bestIndex(x) {
  if (x <= -127) return 0;
  if (x >= 113) return 15;
  let ml = 0, mu = 15;
  while (mu - ml > 1) { const mav = (ml + mu) >> 1; if (x < KV[mav]) mu = mav; else ml = mav; }
  return f(x - KV[mu - 1]) < f(KV[mu] - x) ? mu - 1 : mu;
}
/** x: Float32Array (nrows * n_per_row, n_per_row % 32 == 0), imatrix: Float32Array(n_per_row) | null
 *  -> Uint8Array of iq4_nl blocks (18 bytes / 32 values). */
export function quantize_iq4_nl(x, nrows, n_per_row, imatrix) {
  const nblock = n_per_row / 32, nb = nrows * nblock;
  const out = new Uint8Array(nb * 18);
  const w = new Float64Array(32), L = new Uint8Array(32);
  for (let b = 0; b < nb; b++) {
    const o = b * 32, qo = (b % nblock) * 32;
    let sigma2 = 0;
    for (let j = 0; j < 32; j++) sigma2 = f(sigma2 + f(x[o + j] * x[o + j]));
    sigma2 = f(sigma2 * 0.0625);
    for (let j = 0; j < 32; j++) {
      const v = x[o + j];
      w[j] = imatrix ? f(imatrix[qo + j] * f(Math.sqrt(f(sigma2 + f(v * v))))) : f(v * v);
    }
    let amax = 0, max = 0;
    for (let j = 0; j < 32; j++) { const ax = Math.abs(x[o + j]); if (ax > amax) { amax = ax; max = x[o + j]; } }
    let scale = 0;
    if (!(amax < 1.0000000036274937e-15)) { // 1e-15f
      let d = f(-max / -127);
      let id = f(1 / d);
      let sumqx = 0, sumq2 = 0;
      for (let j = 0; j < 32; j++) {
        const v = x[o + j], q = KV[bestIndex(f(id * v))], wq = f(w[j] * q);
        sumqx = f(sumqx + f(wq * v)); sumq2 = f(sumq2 + f(wq * q));
      }
      d = sumq2 > 0 ? f(sumqx / sumq2) : 0;
      let best = f(d * sumqx);
      for (let itry = -7; itry <= 7; itry++) {
        id = f((itry - 127) / max);
        sumqx = 0; sumq2 = 0;
        for (let j = 0; j < 32; j++) {
          const v = x[o + j], q = KV[bestIndex(f(id * v))], wq = f(w[j] * q);
          sumqx = f(sumqx + f(wq * v)); sumq2 = f(sumq2 + f(wq * q));
        }
        if (sumq2 > 0 && f(sumqx * sumqx) > f(best * sumq2)) { d = f(sumqx / sumq2); best = f(d * sumqx); }
      }
      scale = d;
    }
    const h = fp32_to_fp16(scale), y = b * 18;
    out[y] = h & 255; out[y + 1] = h >> 8;
    const id = scale !== 0 ? f(1 / scale) : 0;
    for (let j = 0; j < 32; j++) L[j] = bestIndex(f(id * x[o + j]));
    for (let j = 0; j < 16; j++) out[y + 2 + j] = L[j] | (L[j + 16] << 4);
  }
  return out;
}
