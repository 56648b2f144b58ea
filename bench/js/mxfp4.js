// Plain-JS baseline: ggml quantize_row_mxfp4_ref (same bytes). imatrix ignored, as in ggml.
const f = Math.fround;
const KV = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12];
const f32 = new Float32Array(1), u32 = new Uint32Array(f32.buffer);
const e8m0Half = (e) => { u32[0] = e < 2 ? 0x00200000 << e : (e - 1) << 23; return f32[0]; };
/** x: Float32Array (n_per_row % 32 == 0) -> Uint8Array of mxfp4 blocks (17 bytes / 32 values). */
export function quantize_mxfp4(x, nrows, n_per_row) {
  const nb = (nrows * n_per_row) / 32;
  const out = new Uint8Array(nb * 17);
  for (let i = 0; i < nb; i++) {
    const o = i * 32, y = i * 17;
    let amax = 0;
    for (let j = 0; j < 32; j++) { const v = Math.abs(x[o + j]); if (amax < v) amax = v; }
    // floorf(log2f(amax)) - 2 + 127, cast to uint8 (wraps like x86 for amax < 2^-125)
    const e = amax > 0 ? (Math.floor(f(Math.log2(amax))) + 125) & 255 : 0;
    const d = e8m0Half(e);
    out[y] = e;
    for (let j = 0; j < 32; j++) {
      const v = x[o + j];
      let bi = 0, be = Math.abs(f(f(KV[0] * d) - v));
      for (let k = 1; k < 16; k++) { const err = Math.abs(f(f(KV[k] * d) - v)); if (err < be) { bi = k; be = err; } }
      if (j < 16) out[y + 1 + j] = bi; else out[y + 1 + j - 16] |= bi << 4;
    }
  }
  return out;
}
