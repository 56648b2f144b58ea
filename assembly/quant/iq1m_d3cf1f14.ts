// iq1_m's split search as ggml d99724f2 (llama.cpp d3cf1f14) wrote it: the ggml-iq vector set's
// version. For every split (i1 <= i2) of the sorted 16-block into the groups -1 / 0 / +1 it re-adds
// the four sign combinations' sums from zero in sorted-element order:
//   sumqx[k] += w[i] xs[g] x[i],  sumq2[k] += w[i] xs[g] xs[g]   (xs = x_p or x_m per 8-half and k)
// llama.cpp de3ff81 (node-llama-cpp's libggml-base; the default, iq1.ts) instead scores a split from
// per-half prefix sums as T v2 - px[i1] - px[i2]; the two round differently and pick a different split
// on 5 of the 66 iq1_m vector cases (const-imat seeds 1-3, ternary seeds 1 and 3). Everything else in
// quantize_row_iq1_m_impl is the same in both versions (iq1.ts runs it, this file only searches).
// The comparison of a candidate with the best stays sequential in ggml's order (i1, i2, then k).

// @ts-ignore: decorator
@inline const FLT_MAX: f32 = 3.4028234663852886e38;

/** SIMD scratch: per sorted element j and group g, the four combinations' sumqx terms, then their sumq2 terms (2 x f32x4). */
const TERMS: usize = memory.data(16 * 3 * 32, 16);

// @ts-ignore: decorator
@inline function f(p: usize, i: i32): f32 { return load<f32>(p + (<usize>i << 2)); }

/**
 * ggml d3cf1f14's iq1_m split search over one 16-block. xb: the 16 values (f32), weight: their 16
 * weights, si: the sort permutation (16 i32, ascending values), xp / xm: the shifted levels {-1, 0, 1}
 * +- 0.125 (3 f32 each). A candidate (sumqx, sumq2) replaces the best when sumq2 > 0 and
 * sumqx^2 > best_score sumq2 (the first of equal scores wins). Writes the winning scale sumqx / sumq2
 * (f32) at res and returns i1 | i2 << 8 | k << 16 (k: 0 ++, 1 +-, 2 -+, 3 --), or -1 when no split
 * has sumq2 > 0. simd: the four combinations in the lanes of one f32x4 per sum (the same float
 * operations in the same order per lane); bit-identical to the scalar form.
 */
export function iq1m_search_d3cf1f14(xb: usize, weight: usize, si: usize, xp: usize, xm: usize, res: usize, simd: bool): i32 {
  let best_score: f32 = -FLT_MAX, scale: f32 = 0;
  let b1 = -1, b2 = -1, bk = -1;
  if (simd) {
    for (let j = 0; j < 16; j++) {
      const i = load<i32>(si + (<usize>j << 2));
      const w = f(weight, i), xv = f(xb, i);
      for (let g = 0; g < 3; g++) {
        const vp = f(xp, g), vm = f(xm, g);
        const tp: f32 = w * vp * xv, tm: f32 = w * vm * xv;
        const up: f32 = w * vp * vp, um: f32 = w * vm * vm;
        const o = TERMS + (<usize>(j * 3 + g) << 5);
        if (i < 8) {
          v128.store(o, f32x4(tp, tp, tm, tm));
          v128.store(o, f32x4(up, up, um, um), 16);
        } else {
          v128.store(o, f32x4(tp, tm, tp, tm));
          v128.store(o, f32x4(up, um, up, um), 16);
        }
      }
    }
    for (let i1 = 0; i1 <= 16; i1++) {
      for (let i2 = i1; i2 <= 16; i2++) {
        let ax = f32x4.splat(0), aq = f32x4.splat(0);
        for (let j = 0; j < 16; j++) {
          const g = j < i1 ? 0 : j < i2 ? 1 : 2;
          const o = TERMS + (<usize>(j * 3 + g) << 5);
          ax = f32x4.add(ax, v128.load(o));
          aq = f32x4.add(aq, v128.load(o, 16));
        }
        for (let k = 0; k < 4; k++) {
          const sqx = k == 0 ? f32x4.extract_lane(ax, 0) : k == 1 ? f32x4.extract_lane(ax, 1) : k == 2 ? f32x4.extract_lane(ax, 2) : f32x4.extract_lane(ax, 3);
          const sq2 = k == 0 ? f32x4.extract_lane(aq, 0) : k == 1 ? f32x4.extract_lane(aq, 1) : k == 2 ? f32x4.extract_lane(aq, 2) : f32x4.extract_lane(aq, 3);
          if (sq2 > 0 && sqx * sqx > best_score * sq2) {
            scale = sqx / sq2; best_score = scale * sqx;
            b1 = i1; b2 = i2; bk = k;
          }
        }
      }
    }
  } else {
    for (let i1 = 0; i1 <= 16; i1++) {
      for (let i2 = i1; i2 <= 16; i2++) {
        let qx0: f32 = 0, qx1: f32 = 0, qx2: f32 = 0, qx3: f32 = 0;
        let qq0: f32 = 0, qq1: f32 = 0, qq2: f32 = 0, qq3: f32 = 0;
        for (let j = 0; j < 16; j++) {
          const i = load<i32>(si + (<usize>j << 2));
          const g = j < i1 ? 0 : j < i2 ? 1 : 2;
          const w = f(weight, i), xv = f(xb, i);
          const vp = f(xp, g), vm = f(xm, g);
          const tp: f32 = w * vp * xv, tm: f32 = w * vm * xv;
          const up: f32 = w * vp * vp, um: f32 = w * vm * vm;
          if (i < 8) {
            qx0 += tp; qx1 += tp; qx2 += tm; qx3 += tm;
            qq0 += up; qq1 += up; qq2 += um; qq3 += um;
          } else {
            qx0 += tp; qx2 += tp; qx1 += tm; qx3 += tm;
            qq0 += up; qq2 += up; qq1 += um; qq3 += um;
          }
        }
        for (let k = 0; k < 4; k++) {
          const sqx: f32 = k == 0 ? qx0 : k == 1 ? qx1 : k == 2 ? qx2 : qx3;
          const sq2: f32 = k == 0 ? qq0 : k == 1 ? qq1 : k == 2 ? qq2 : qq3;
          if (sq2 > 0 && sqx * sqx > best_score * sq2) {
            scale = sqx / sq2; best_score = scale * sqx;
            b1 = i1; b2 = i2; bk = k;
          }
        }
      }
    }
  }
  store<f32>(res, scale);
  return b1 < 0 ? -1 : b1 | (b2 << 8) | (bk << 16);
}
