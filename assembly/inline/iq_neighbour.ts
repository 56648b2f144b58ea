// @inline helpers shared by the lattice quantizers' neighbour searches (iq1, iq2, iq3): ggml's
// iq*_find_best_neighbour* sum the weighted squared distance of a group sequentially in element
// order, so the SIMD kernels compute the terms 4 lanes at a time and add the lanes in that order.

/** acc + t[0] + t[1] + t[2] + t[3], added one lane at a time in lane order (ggml's element order). */
// @ts-ignore: decorator
@inline export function add_lanes_seq(acc: f32, t: v128): f32 {
  let s: f32 = acc + f32x4.extract_lane(t, 0);
  s += f32x4.extract_lane(t, 1);
  s += f32x4.extract_lane(t, 2);
  s += f32x4.extract_lane(t, 3);
  return s;
}

/**
 * Scalar neighbour scan of ggml iq2_find_best_neighbour / iq3_find_best_neighbour: among the n
 * neighbour indices after the count at nb (u16), the grid point (nel int8 odd levels at qg + nel idx)
 * minimizing sum w[i] (scale q[i] - x[i])^2 (x at xv, w at w, f32; strictly smaller wins, so the
 * first of equal distances). Returns its index (-1 if none is finite).
 */
// @ts-ignore: decorator
@inline export function neighbour_scan_ref(nb: usize, qg: usize, nel: i32, xv: usize, w: usize, scale: f32): i32 {
  const n = <i32>load<u16>(nb);
  let best_d2: f32 = 3.4028234663852886e38;
  let gi = -1;
  for (let j = 1; j <= n; j++) {
    const idx = <i32>load<u16>(nb + (<usize>j << 1));
    const pg = qg + <usize>(idx * nel);
    let d2: f32 = 0;
    for (let i = 0; i < nel; i++) {
      const q = <f32>load<i8>(pg + i);
      const diff = scale * q - load<f32>(xv + (<usize>i << 2));
      d2 += load<f32>(w + (<usize>i << 2)) * diff * diff;
    }
    if (d2 < best_d2) { best_d2 = d2; gi = idx; }
  }
  return gi;
}
