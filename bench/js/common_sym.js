// Plain-JavaScript helpers for the symmetric ggml quantizer ports (q4_0, q5_0, q3_K, q6_K):
// float32 arithmetic via Math.fround after every operation, in llama.cpp's order.
// Used by the benchmark as the "plain JS" baseline; gives the same bytes as the wasm kernels.
const fr = Math.fround;
const F = new Float32Array(1);
const U = new Uint32Array(F.buffer);
const I = new Int32Array(F.buffer);

export const GROUP_MAX_EPS = fr(1e-15);
const WQ = new Float32Array(256); // scratch: weights of one make_qx_quants call (n <= 256)

/** ggml fp32 -> fp16 bits (round to nearest even, overflow to inf, NaN -> 0x7E00). */
export function fp32_to_fp16(f) {
  U[0] = 0x77800000; const scale_to_inf = F[0];
  U[0] = 0x08800000; const scale_to_zero = F[0];
  let base = fr(fr(Math.abs(f) * scale_to_inf) * scale_to_zero);
  F[0] = f; const w = U[0];
  const shl1_w = (w + w) >>> 0;
  const sign = (w & 0x80000000) >>> 0;
  let bias = (shl1_w & 0xFF000000) >>> 0;
  if (bias < 0x71000000) bias = 0x71000000;
  U[0] = ((bias >>> 1) + 0x07800000) >>> 0;
  base = fr(F[0] + base);
  F[0] = base; const b = U[0];
  const nonsign = ((b >>> 13) & 0x7C00) + (b & 0xFFF);
  return ((sign >>> 16) | (shl1_w > 0xFF000000 ? 0x7E00 : nonsign)) & 0xFFFF;
}

/** fp16 bits -> fp32 (exact). */
export function fp16_to_fp32(h) {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1F, m = h & 0x3FF;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1024 + m) * 2 ** (e - 25);
}

/** ggml nearest_int (add 1.5*2^23, keep the low mantissa bits), for every f32 input. */
export function nearest_int(v) {
  F[0] = v + 12582912; // rounds to f32 on store
  return (I[0] & 0x007FFFFF) - 0x00400000;
}

/** C (int8_t)(float) as compiled for x86-64 (cvttss2si, low byte). */
export function cvt_f32_i8(v) {
  const t = v < 2147483648 && v >= -2147483648 ? Math.trunc(v) | 0 : 0;
  return (t << 24) >> 24;
}

/**
 * ggml make_qx_quants on x[xo .. xo+n) -> codes L[lo ..] (Int8Array), weights qw[qo ..] or null
 * (rmse_type 1: x^2). Returns the scale (a float32 value).
 */
export function make_qx_quants(n, nmax, x, xo, L, lo, rmse_type, qw, qo) {
  let max = 0, amax = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[xo + i]);
    if (ax > amax) { amax = ax; max = x[xo + i]; }
  }
  if (amax < GROUP_MAX_EPS) { L.fill(0, lo, lo + n); return 0; }
  // weights once per call (same values the C code recomputes in every pass)
  if (rmse_type !== 0) {
    const rt = rmse_type < 0 ? -rmse_type : rmse_type;
    for (let i = 0; i < n; i++) {
      const xi = x[xo + i];
      WQ[i] = qw ? qw[qo + i] : rt === 1 ? fr(xi * xi) : rt === 2 ? 1 : rt === 3 ? Math.abs(xi) : fr(Math.sqrt(Math.abs(xi)));
    }
  }
  let iscale = fr(-nmax / max);
  if (rmse_type === 0) {
    for (let i = 0; i < n; i++) {
      const l = nearest_int(fr(iscale * x[xo + i]));
      L[lo + i] = nmax + Math.max(-nmax, Math.min(nmax - 1, l));
    }
    return fr(1 / iscale);
  }
  let return_early = false;
  if (rmse_type < 0) { rmse_type = -rmse_type; return_early = true; }
  let sumlx = 0, suml2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i];
    let l = nearest_int(fr(iscale * xi));
    l = Math.max(-nmax, Math.min(nmax - 1, l));
    L[lo + i] = l + nmax;
    const w = WQ[i];
    sumlx = fr(sumlx + fr(fr(w * xi) * l));
    suml2 = fr(suml2 + fr(fr(w * l) * l));
  }
  let scale = suml2 !== 0 ? fr(sumlx / suml2) : 0;
  if (return_early) return suml2 > 0 ? fr(0.5 * fr(scale + fr(1 / iscale))) : fr(1 / iscale);
  let best = fr(scale * sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    iscale = fr(-fr(nmax + fr(fr(0.1) * is)) / max);
    sumlx = 0; suml2 = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xo + i];
      let l = nearest_int(fr(iscale * xi));
      l = Math.max(-nmax, Math.min(nmax - 1, l));
      const w = WQ[i];
      sumlx = fr(sumlx + fr(fr(w * xi) * l));
      suml2 = fr(suml2 + fr(fr(w * l) * l));
    }
    if (suml2 > 0 && fr(sumlx * sumlx) > fr(best * suml2)) {
      for (let i = 0; i < n; i++) {
        const l = nearest_int(fr(iscale * x[xo + i]));
        L[lo + i] = nmax + Math.max(-nmax, Math.min(nmax - 1, l));
      }
      scale = fr(sumlx / suml2);
      best = fr(scale * sumlx);
    }
  }
  return scale;
}

/** ggml make_q3_quants (do_rmse: weights x^2 + coordinate descent). */
export function make_q3_quants(n, nmax, x, xo, L, lo, do_rmse) {
  let max = 0, amax = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[xo + i]);
    if (ax > amax) { amax = ax; max = x[xo + i]; }
  }
  if (amax < GROUP_MAX_EPS) { L.fill(0, lo, lo + n); return 0; }
  const iscale = fr(-nmax / max);
  if (do_rmse) {
    let sumlx = 0, suml2 = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xo + i];
      let l = nearest_int(fr(iscale * xi));
      l = Math.max(-nmax, Math.min(nmax - 1, l));
      L[lo + i] = l;
      const w = fr(xi * xi);
      sumlx = fr(sumlx + fr(fr(w * xi) * l));
      suml2 = fr(suml2 + fr(fr(w * l) * l));
    }
    for (let itry = 0; itry < 5; itry++) {
      let n_changed = 0;
      for (let i = 0; i < n; i++) {
        const xi = x[xo + i];
        const w = fr(xi * xi);
        const Li = L[lo + i];
        let slx = fr(sumlx - fr(fr(w * xi) * Li));
        if (slx > 0) {
          let sl2 = fr(suml2 - fr(fr(w * Li) * Li));
          let new_l = nearest_int(fr(fr(xi * sl2) / slx));
          new_l = Math.max(-nmax, Math.min(nmax - 1, new_l));
          if (new_l !== Li) {
            slx = fr(slx + fr(fr(w * xi) * new_l));
            sl2 = fr(sl2 + fr(fr(w * new_l) * new_l));
            if (sl2 > 0 && fr(fr(slx * slx) * suml2) > fr(fr(sumlx * sumlx) * sl2)) {
              L[lo + i] = new_l; sumlx = slx; suml2 = sl2;
              ++n_changed;
            }
          }
        }
      }
      if (!n_changed) break;
    }
    for (let i = 0; i < n; i++) L[lo + i] += nmax;
    return suml2 > 0 ? fr(sumlx / suml2) : 0;
  }
  for (let i = 0; i < n; i++) {
    let l = nearest_int(fr(iscale * x[xo + i]));
    l = Math.max(-nmax, Math.min(nmax - 1, l));
    L[lo + i] = l + nmax;
  }
  return fr(1 / iscale);
}
