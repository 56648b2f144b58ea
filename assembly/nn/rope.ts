// rope_forward(x, T, nHead, headDim, nRot, pos0, freqBase, freqScale, neox): rotary position embedding
// in place on x[T, nHead, headDim] for positions pos0 .. pos0+T-1, as ggml_rope_ext with ext_factor 0:
//   theta_i = p · freqScale · freqBase^(-2i/nRot) (computed as llama.cpp does: f32, theta *= theta_scale),
//   "norm" (neox = 0): rotates adjacent pairs (x[2i], x[2i+1]);  "neox" (neox = 1): (x[i], x[i + nRot/2]).
// Only the first nRot dims of each head rotate; the rest pass through. freqScale = 1 / linear scaling factor.
// cos / sin are computed once per (position, pair) in a scratch of nRot floats at `cs` (nRot f32).
// ff: 0, or nRot/2 frequency factors (GGUF rope_freqs.weight, llama 3.1 style): theta_i /= ff[i].
// The SIMD and _ref forms do the same arithmetic per value: results are bit-identical.

// @ts-ignore: decorator
@inline function fill_cs(cs: usize, ff: usize, p: i32, nRot: i32, freqBase: f32, freqScale: f32): void {
  const thetaScale: f32 = Mathf.pow(freqBase, <f32>-2.0 / <f32>nRot);
  let theta: f32 = <f32>p;
  for (let i = 0; i < (nRot >> 1); i++) {
    const th: f32 = freqScale * (ff != 0 ? theta / load<f32>(ff + (<usize>i << 2)) : theta);
    store<f32>(cs + (<usize>i << 3), <f32>Math.cos(<f64>th));
    store<f32>(cs + (<usize>i << 3), <f32>Math.sin(<f64>th), 4);
    theta *= thetaScale;
  }
}

export function rope_forward_ref(x: usize, cs: usize, ff: usize, T: i32, nHead: i32, headDim: i32, nRot: i32, pos0: i32, freqBase: f32, freqScale: f32, neox: i32): void {
  const half = nRot >> 1;
  for (let t = 0; t < T; t++) {
    fill_cs(cs, ff, pos0 + t, nRot, freqBase, freqScale);
    for (let h = 0; h < nHead; h++) {
      const base = x + ((<usize>t * <usize>nHead + <usize>h) * <usize>headDim << 2);
      for (let i = 0; i < half; i++) {
        const c = load<f32>(cs + (<usize>i << 3)), s = load<f32>(cs + (<usize>i << 3), 4);
        const ia = neox ? i : 2 * i, ib = neox ? i + half : 2 * i + 1;
        const a = load<f32>(base + (<usize>ia << 2)), b = load<f32>(base + (<usize>ib << 2));
        store<f32>(base + (<usize>ia << 2), a * c - b * s);
        store<f32>(base + (<usize>ib << 2), a * s + b * c);
      }
    }
  }
}

export function rope_forward(x: usize, cs: usize, ff: usize, T: i32, nHead: i32, headDim: i32, nRot: i32, pos0: i32, freqBase: f32, freqScale: f32, neox: i32): void {
  const half = nRot >> 1;
  for (let t = 0; t < T; t++) {
    fill_cs(cs, ff, pos0 + t, nRot, freqBase, freqScale);
    for (let h = 0; h < nHead; h++) {
      const base = x + ((<usize>t * <usize>nHead + <usize>h) * <usize>headDim << 2);
      let i = 0;
      if (neox) {
        for (; i + 4 <= half; i += 4) {
          const c0 = v128.load(cs + (<usize>i << 3)), c1 = v128.load(cs + (<usize>i << 3), 16);
          const c = v128.shuffle<u32>(c0, c1, 0, 2, 4, 6), s = v128.shuffle<u32>(c0, c1, 1, 3, 5, 7);
          const pa = base + (<usize>i << 2), pb = base + (<usize>(i + half) << 2);
          const a = v128.load(pa), b = v128.load(pb);
          v128.store(pa, f32x4.sub(f32x4.mul(a, c), f32x4.mul(b, s)));
          v128.store(pb, f32x4.add(f32x4.mul(a, s), f32x4.mul(b, c)));
        }
      } else {
        for (; i + 2 <= half; i += 2) {
          // v = (a0, b0, a1, b1), cs = (c0, s0, c1, s1)
          const p = base + (<usize>i << 3);
          const v = v128.load(p), k = v128.load(cs + (<usize>i << 3));
          const c = v128.shuffle<u32>(k, k, 0, 0, 2, 2), s = v128.shuffle<u32>(k, k, 1, 1, 3, 3);
          const sw = v128.shuffle<u32>(v, v, 1, 0, 3, 2); // (b0, a0, b1, a1)
          const m1 = f32x4.mul(v, c), m2 = f32x4.mul(sw, s);
          // lane 0: a c - b s; lane 1: b c + a s
          v128.store(p, v128.shuffle<u32>(f32x4.sub(m1, m2), f32x4.add(m1, m2), 0, 5, 2, 7));
        }
      }
      for (; i < half; i++) {
        const c = load<f32>(cs + (<usize>i << 3)), s = load<f32>(cs + (<usize>i << 3), 4);
        const ia = neox ? i : 2 * i, ib = neox ? i + half : 2 * i + 1;
        const a = load<f32>(base + (<usize>ia << 2)), b = load<f32>(base + (<usize>ib << 2));
        store<f32>(base + (<usize>ia << 2), a * c - b * s);
        store<f32>(base + (<usize>ib << 2), a * s + b * c);
      }
    }
  }
}
