// Plain-JS (no wasm) helpers shared by the asymmetric ggml quantizer ports (q4_1, q5_1, q2_K,
// q4_K, q5_K). Every float operation is rounded to float32 with Math.fround, in ggml's order,
// so the ports write the same bytes as llama.cpp. Benchmark baseline only.
export const f = Math.fround;

const cvt = new DataView(new ArrayBuffer(4));
const bitsOf = (x) => { cvt.setFloat32(0, x, true); return cvt.getUint32(0, true); };
const fromBits = (u) => { cvt.setUint32(0, u >>> 0, true); return cvt.getFloat32(0, true); };

/** ggml fp32 -> fp16 bits (round to nearest even, NaN -> 0x7E00 | sign). */
export function fp32_to_fp16(x) {
  const scale_to_inf = fromBits(0x77800000), scale_to_zero = fromBits(0x08800000);
  let base = f(f(Math.abs(x) * scale_to_inf) * scale_to_zero);
  const w = bitsOf(x);
  const shl1_w = (w * 2) >>> 0;
  const sign = w & 0x80000000;
  let bias = shl1_w & 0xFF000000;
  if ((bias >>> 0) < 0x71000000) bias = 0x71000000;
  base = f(fromBits(((bias >>> 1) + 0x07800000) >>> 0) + base);
  const bits = bitsOf(base);
  const exp_bits = (bits >>> 13) & 0x00007C00;
  const mantissa_bits = bits & 0x00000FFF;
  const nonsign = exp_bits + mantissa_bits;
  return ((sign >>> 16) | (shl1_w > 0xFF000000 ? 0x7E00 : nonsign)) & 0xFFFF;
}

/** fp16 bits -> float (exact). */
export function fp16_to_fp32(h) {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1F, m = h & 0x3FF;
  if (e === 0x1F) return m ? NaN : s * Infinity;
  if (e === 0) return s * m * 2 ** -24;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** ggml nearest_int (bits of x + 1.5*2^23), exact for every finite x. */
export function nearest_int(x) {
  const t = f(x + 12582912);
  if (t >= 8388608 && t < 16777216) return t - 12582912;
  return (bitsOf(t) & 0x7FFFFF) - 0x400000;
}

/** ggml make_qkx2_quants (and make_qkx3_quants with weights). Returns [scale, the_min]. */
export function make_qkx2_quants(n, nmax, x, xo, w, wo, L, Lo, Laux, rmin, rdelta, nstep, use_mad) {
  let mn = x[xo], mx = mn;
  let sum_w = w[wo];
  let sum_x = f(sum_w * mn);
  for (let i = 1; i < n; i++) {
    const xi = x[xo + i];
    if (xi < mn) mn = xi;
    if (xi > mx) mx = xi;
    const wi = w[wo + i];
    sum_w = f(sum_w + wi);
    sum_x = f(sum_x + f(wi * xi));
  }
  if (mn > 0) mn = 0;
  if (mx === mn) {
    for (let i = 0; i < n; i++) L[Lo + i] = 0;
    return [0, -mn];
  }
  let iscale = f(nmax / f(mx - mn));
  let scale = f(1 / iscale);
  let best_error = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i];
    let l = nearest_int(f(iscale * f(xi - mn)));
    l = Math.max(0, Math.min(nmax, l));
    L[Lo + i] = l;
    let diff = f(f(f(scale * l) + mn) - xi);
    diff = use_mad ? Math.abs(diff) : f(diff * diff);
    best_error = f(best_error + f(w[wo + i] * diff));
  }
  if (nstep < 1) return [scale, -mn];
  for (let is = 0; is <= nstep; is++) {
    iscale = f(f(f(rmin + f(rdelta * is)) + nmax) / f(mx - mn));
    let sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xo + i];
      let l = nearest_int(f(iscale * f(xi - mn)));
      l = Math.max(0, Math.min(nmax, l));
      Laux[i] = l;
      const wl = f(w[wo + i] * l);
      sum_l = f(sum_l + wl);
      sum_l2 = f(sum_l2 + f(wl * l));
      sum_xl = f(sum_xl + f(wl * xi));
    }
    const D = f(f(sum_w * sum_l2) - f(sum_l * sum_l));
    if (D > 0) {
      let this_scale = f(f(f(sum_w * sum_xl) - f(sum_x * sum_l)) / D);
      let this_min = f(f(f(sum_l2 * sum_x) - f(sum_l * sum_xl)) / D);
      if (this_min > 0) {
        this_min = 0;
        this_scale = f(sum_xl / sum_l2);
      }
      let cur_error = 0;
      for (let i = 0; i < n; i++) {
        let diff = f(f(f(this_scale * Laux[i]) + this_min) - x[xo + i]);
        diff = use_mad ? Math.abs(diff) : f(diff * diff);
        cur_error = f(cur_error + f(w[wo + i] * diff));
      }
      if (cur_error < best_error) {
        for (let i = 0; i < n; i++) L[Lo + i] = Laux[i];
        best_error = cur_error;
        scale = this_scale;
        mn = this_min;
      }
    }
  }
  return [scale, -mn];
}

/** ggml make_qp_quants: n values x -> L (Uint8Array, wraps like C's uint8_t), weights qw. Returns the scale. */
export function make_qp_quants(n, nmax, x, L, qw) {
  let mx = 0;
  for (let i = 0; i < n; i++) mx = mx > x[i] ? mx : x[i];
  if (mx < f(1e-15)) {
    for (let i = 0; i < n; i++) L[i] = 0;
    return 0;
  }
  let iscale = f(nmax / mx);
  for (let i = 0; i < n; i++) L[i] = nearest_int(f(iscale * x[i]));
  const scale = f(1 / iscale);
  let best_mse = 0;
  for (let i = 0; i < n; i++) {
    const diff = f(x[i] - f(scale * L[i]));
    best_mse = f(best_mse + f(f(qw[i] * diff) * diff));
  }
  for (let is = -4; is <= 4; is++) {
    if (is === 0) continue;
    const iscale_is = f(f(f(f(0.1) * is) + nmax) / mx);
    const scale_is = f(1 / iscale_is);
    let mse = 0;
    for (let i = 0; i < n; i++) {
      const l = Math.min(nmax, nearest_int(f(iscale_is * x[i])));
      const diff = f(x[i] - f(scale_is * l));
      mse = f(mse + f(f(qw[i] * diff) * diff));
    }
    if (mse < best_mse) {
      best_mse = mse;
      iscale = iscale_is;
    }
  }
  let sumlx = 0, suml2 = 0;
  for (let i = 0; i < n; i++) {
    const l = Math.min(nmax, nearest_int(f(iscale * x[i])));
    L[i] = l;
    const w = qw[i];
    sumlx = f(sumlx + f(f(w * x[i]) * l));
    suml2 = f(suml2 + f(f(w * l) * l));
  }
  for (let itry = 0; itry < 5; itry++) {
    let n_changed = 0;
    for (let i = 0; i < n; i++) {
      const w = qw[i], xi = x[i], Li = L[i];
      let slx = f(sumlx - f(f(w * xi) * Li));
      let sl2 = f(suml2 - f(f(w * Li) * Li));
      if (slx > 0 && sl2 > 0) {
        const new_l = Math.min(nmax, nearest_int(f(f(xi * sl2) / slx)));
        if (new_l !== Li) {
          slx = f(slx + f(f(w * xi) * new_l));
          sl2 = f(sl2 + f(f(w * new_l) * new_l));
          if (f(f(slx * slx) * suml2) > f(f(sumlx * sumlx) * sl2)) {
            L[i] = new_l; sumlx = slx; suml2 = sl2;
            n_changed++;
          }
        }
      }
    }
    if (!n_changed) break;
  }
  return suml2 > 0 ? f(sumlx / suml2) : 0;
}

/** ggml get_scale_min_k4: [scale code, min code] of group j from the 12 bytes q[o..o+11]. */
export function get_scale_min_k4(j, q, o) {
  if (j < 4) return [q[o + j] & 63, q[o + j + 4] & 63];
  return [(q[o + j + 4] & 0xF) | ((q[o + j - 4] >> 6) << 4), (q[o + j + 4] >> 4) | ((q[o + j] >> 6) << 4)];
}

/** Packs 8 (scale, min) 6-bit codes into the 12 q4_K/q5_K scale bytes at y[o..o+11]. */
export function pack_scales_k4(y, o, Ls, Lm) {
  for (let j = 0; j < 8; j++) {
    const ls = Ls[j], lm = Lm[j];
    if (j < 4) {
      y[o + j] = ls;
      y[o + j + 4] = lm;
    } else {
      y[o + j + 4] = (ls & 0xF) | ((lm & 0xF) << 4);
      y[o + j - 4] |= (ls >> 4) << 6;
      y[o + j] |= (lm >> 4) << 6;
    }
  }
}

/** q4_K/q5_K: one 256-value super-block at x[xo..] -> header (d, dmin, scales) at y[yo..], codes in L (256). */
const weights = new Float32Array(32), Laux = new Uint8Array(32);
const scales = new Float32Array(8), mins = new Float32Array(8), sw = new Float32Array(8);
const Ls = new Uint8Array(8), Lm = new Uint8Array(8);
export function qk8_superblock(x, xo, qw, qo, y, yo, L, nmax, rmin, nstep, clamp63) {
  const dv = new DataView(y.buffer, y.byteOffset, y.byteLength);
  if (!qw) {
    let max_scale = 0, max_min = 0;
    for (let j = 0; j < 8; j++) {
      const xj = xo + 32 * j;
      let sum_x2 = 0;
      for (let l = 0; l < 32; l++) sum_x2 = f(sum_x2 + f(x[xj + l] * x[xj + l]));
      const av_x = f(Math.sqrt(f(sum_x2 / 32)));
      for (let l = 0; l < 32; l++) weights[l] = f(av_x + Math.abs(x[xj + l]));
      const [sc, mn] = make_qkx2_quants(32, nmax, x, xj, weights, 0, L, 32 * j, Laux, rmin, f(0.1), nstep, false);
      scales[j] = sc; mins[j] = mn;
      if (sc > max_scale) max_scale = sc;
      if (mins[j] > max_min) max_min = mins[j];
    }
    const inv_scale = max_scale > 0 ? f(63 / max_scale) : 0;
    const inv_min = max_min > 0 ? f(63 / max_min) : 0;
    for (let j = 0; j < 8; j++) {
      Ls[j] = Math.min(63, nearest_int(f(inv_scale * scales[j])) & 255);
      Lm[j] = Math.min(63, nearest_int(f(inv_min * mins[j])) & 255);
    }
    pack_scales_k4(y, yo + 4, Ls, Lm);
    dv.setUint16(yo, fp32_to_fp16(f(max_scale / 63)), true);
    dv.setUint16(yo + 2, fp32_to_fp16(f(max_min / 63)), true);
  } else {
    let sum_x2 = 0;
    for (let l = 0; l < 256; l++) sum_x2 = f(sum_x2 + f(x[xo + l] * x[xo + l]));
    const sigma2 = f(f(2 * sum_x2) / 256);
    for (let j = 0; j < 8; j++) {
      const xj = xo + 32 * j;
      for (let l = 0; l < 32; l++) weights[l] = f(qw[qo + 32 * j + l] * f(Math.sqrt(f(sigma2 + f(x[xj + l] * x[xj + l])))));
      let sumw = 0;
      for (let l = 0; l < 32; l++) sumw = f(sumw + weights[l]);
      sw[j] = sumw;
      const [sc, mn] = make_qkx2_quants(32, nmax, x, xj, weights, 0, L, 32 * j, Laux, f(-0.9), f(0.05), 36, false);
      scales[j] = sc; mins[j] = mn;
    }
    const d_block = make_qp_quants(8, 63, scales, Ls, sw);
    const m_block = make_qp_quants(8, 63, mins, Lm, sw);
    if (clamp63) for (let j = 0; j < 8; j++) { Ls[j] = Math.min(63, Ls[j]); Lm[j] = Math.min(63, Lm[j]); }
    pack_scales_k4(y, yo + 4, Ls, Lm);
    dv.setUint16(yo, fp32_to_fp16(d_block), true);
    dv.setUint16(yo + 2, fp32_to_fp16(m_block), true);
  }
  const dd = fp16_to_fp32(dv.getUint16(yo, true)), dmn = fp16_to_fp32(dv.getUint16(yo + 2, true));
  for (let j = 0; j < 8; j++) {
    const [sc, m] = get_scale_min_k4(j, y, yo + 4);
    const d = f(dd * sc);
    if (d === 0) continue; // C: !d is false for NaN
    const dm = f(dmn * m);
    for (let ii = 0; ii < 32; ii++) {
      const l = nearest_int(f(f(x[xo + 32 * j + ii] + dm) / d));
      L[32 * j + ii] = Math.max(0, Math.min(nmax, l));
    }
  }
}
