// Plain-JS llama forward pass (no wasm, no SIMD): the yardstick of bench/forward.mjs and an independent
// reference for test/71. Dense or Mixtral MoE, "norm"/"neox" rope, f32 KV cache, f32 math except the
// dot products (JS numbers, i.e. f64 accumulation).
// jsForward(cfg, W, tokens) -> Float32Array logits [T, nVocab]; W(name) -> Float32Array (row-major, ne[0] per row).

function matmul(out, x, w, T, C, OC) {
  for (let t = 0; t < T; t++) {
    const xo = t * C;
    for (let o = 0; o < OC; o++) {
      const wo = o * C;
      let s = 0;
      for (let k = 0; k < C; k++) s += x[xo + k] * w[wo + k];
      out[t * OC + o] = s;
    }
  }
}

function rmsnorm(out, x, w, T, C, eps) {
  for (let t = 0; t < T; t++) {
    let s = 0;
    for (let i = 0; i < C; i++) s += x[t * C + i] * x[t * C + i];
    const sc = 1 / Math.sqrt(s / C + eps);
    for (let i = 0; i < C; i++) out[t * C + i] = x[t * C + i] * sc * w[i];
  }
}

function rope(x, T, nHead, hd, nRot, pos, base, fscale, neox) {
  const half = nRot / 2;
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < half; i++) {
      const th = (pos + t) * fscale * Math.pow(base, (-2 * i) / nRot);
      const c = Math.cos(th), s = Math.sin(th);
      for (let h = 0; h < nHead; h++) {
        const b = (t * nHead + h) * hd;
        const ia = b + (neox ? i : 2 * i), ib = b + (neox ? i + half : 2 * i + 1);
        const a0 = x[ia], b0 = x[ib];
        x[ia] = a0 * c - b0 * s;
        x[ib] = a0 * s + b0 * c;
      }
    }
  }
}

const silu = (g) => g / (1 + Math.exp(-g));

/** The whole forward over `tokens` from position 0. */
export function jsForward(cfg, W, tokens) {
  const T = tokens.length, C = cfg.nEmbd, hd = cfg.headDim, qd = cfg.nHead * hd, kvd = cfg.nHeadKv * hd, F = cfg.nFf;
  const group = cfg.nHead / cfg.nHeadKv, neox = cfg.ropeType === "neox", fs = 1 / cfg.ropeScaleLinear;
  const emb = W("token_embd.weight");
  const x = new Float32Array(T * C), xb = new Float32Array(T * C), q = new Float32Array(T * qd), k = new Float32Array(T * kvd), v = new Float32Array(T * kvd);
  const att = new Float32Array(T * qd), tmp = new Float32Array(T * C), g = new Float32Array(T * F), u = new Float32Array(T * F);
  for (let t = 0; t < T; t++) x.set(emb.subarray(tokens[t] * C, (tokens[t] + 1) * C), t * C);
  const sc = new Float64Array(T);
  for (let l = 0; l < cfg.nLayer; l++) {
    const p = `blk.${l}.`;
    rmsnorm(xb, x, W(p + "attn_norm.weight"), T, C, cfg.normEps);
    matmul(q, xb, W(p + "attn_q.weight"), T, C, qd);
    matmul(k, xb, W(p + "attn_k.weight"), T, C, kvd);
    matmul(v, xb, W(p + "attn_v.weight"), T, C, kvd);
    rope(q, T, cfg.nHead, hd, cfg.nRot, 0, cfg.ropeFreqBase, fs, neox);
    rope(k, T, cfg.nHeadKv, hd, cfg.nRot, 0, cfg.ropeFreqBase, fs, neox);
    for (let t = 0; t < T; t++) {
      for (let h = 0; h < cfg.nHead; h++) {
        const qo = (t * cfg.nHead + h) * hd, ko = Math.floor(h / group) * hd;
        let m = -Infinity;
        for (let s = 0; s <= t; s++) {
          let d = 0;
          for (let i = 0; i < hd; i++) d += q[qo + i] * k[s * kvd + ko + i];
          sc[s] = d / Math.sqrt(hd);
          if (sc[s] > m) m = sc[s];
        }
        let sum = 0;
        for (let s = 0; s <= t; s++) { sc[s] = Math.exp(sc[s] - m); sum += sc[s]; }
        for (let i = 0; i < hd; i++) {
          let a = 0;
          for (let s = 0; s <= t; s++) a += sc[s] * v[s * kvd + ko + i];
          att[qo + i] = a / sum;
        }
      }
    }
    matmul(tmp, att, W(p + "attn_output.weight"), T, qd, C);
    for (let i = 0; i < T * C; i++) x[i] += tmp[i];
    rmsnorm(xb, x, W(p + "ffn_norm.weight"), T, C, cfg.normEps);
    if (cfg.nExpert > 0) {
      const E = cfg.nExpert, K = cfg.nExpertUsed, lo = new Float32Array(T * E);
      matmul(lo, xb, W(p + "ffn_gate_inp.weight"), T, C, E);
      const gw = W(p + "ffn_gate_exps.weight"), uw = W(p + "ffn_up_exps.weight"), dw = W(p + "ffn_down_exps.weight");
      const g1 = new Float32Array(F), u1 = new Float32Array(F), d1 = new Float32Array(C);
      for (let t = 0; t < T; t++) {
        const r = lo.subarray(t * E, (t + 1) * E), m = Math.max(...r);
        const pr = Array.from(r, (z) => Math.exp(z - m)), ps = pr.reduce((a, b) => a + b, 0);
        const order = pr.map((z, i) => [z / ps, i]).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, K);
        const wsum = order.reduce((a, b) => a + b[0], 0);
        const xr = xb.subarray(t * C, (t + 1) * C);
        for (const [pw, e] of order) {
          matmul(g1, xr, gw.subarray(e * F * C, (e + 1) * F * C), 1, C, F);
          matmul(u1, xr, uw.subarray(e * F * C, (e + 1) * F * C), 1, C, F);
          for (let i = 0; i < F; i++) g1[i] = silu(g1[i]) * u1[i];
          matmul(d1, g1, dw.subarray(e * F * C, (e + 1) * F * C), 1, F, C);
          for (let i = 0; i < C; i++) x[t * C + i] += (pw / wsum) * d1[i];
        }
      }
    } else {
      matmul(g, xb, W(p + "ffn_gate.weight"), T, C, F);
      matmul(u, xb, W(p + "ffn_up.weight"), T, C, F);
      for (let i = 0; i < T * F; i++) g[i] = silu(g[i]) * u[i];
      matmul(tmp, g, W(p + "ffn_down.weight"), T, F, C);
      for (let i = 0; i < T * C; i++) x[i] += tmp[i];
    }
  }
  rmsnorm(xb, x, W("output_norm.weight"), T, C, cfg.normEps);
  const logits = new Float32Array(T * cfg.nVocab);
  matmul(logits, xb, W(cfg.tiedOutput ? "token_embd.weight" : "output.weight"), T, C, cfg.nVocab);
  return logits;
}
