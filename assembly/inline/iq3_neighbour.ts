// @inline helpers of the iq3 (iq3_xxs / iq3_s) candidate-scale search with the candidates in lanes:
// lane c of every vector belongs to candidate scale c of a quad (4 consecutive inverse scales of
// ggml's `for (is = -nis; is <= nis; ++is)` loop). Every float a lane holds is computed with the very
// operations, operands and order ggml's scalar code uses for that candidate (IEEE f32 lane-wise ops
// round exactly as the scalar ones), so each lane reproduces ggml's result bit for bit; the lanes only
// share instructions.

/** One dimension of ggml's weighted distance: acc + (w (s q - x)) (s q - x), ggml's ops in its order (per lane). */
// @ts-ignore: decorator
@inline function d2_step(acc: v128, s: v128, q: v128, x: v128, w: v128): v128 {
  const d = f32x4.sub(f32x4.mul(s, q), x);
  return f32x4.add(acc, f32x4.mul(f32x4.mul(w, d), d));
}

/**
 * ggml iq3_find_best_neighbour for up to 4 candidate scales at once, all of them on the SAME neighbour
 * list (the candidates whose group of 4 values got the same off-lattice code). Lane c: scale lane c of
 * s4, considered only where lane c of `lanes` is all-ones. For every neighbour j in list order, lane c
 * computes d2 = 0 + t0 + t1 + t2 + t3 with t_i = (w_i (s q_i - x_i)) (s q_i - x_i) (ggml's order and
 * ops) and keeps it when d2 < best (strict: the first of equal distances wins; best starts at FLT_MAX,
 * so a lane whose distances are all inf / NaN keeps index -1, as ggml's grid_index).
 * nb: u16 count n then n lattice indices; qgf: the lattice as f32 odd levels, 4 per point (16 bytes);
 * xv, w: the group's 4 |x| and 4 weights (f32). Returns the best lattice index per lane (i32x4; lanes
 * outside `lanes` are -1).
 */
// @ts-ignore: decorator
@inline export function iq3_scan_lanes(nb: usize, qgf: usize, xv: usize, w: usize, s4: v128, lanes: v128): v128 {
  const n = <i32>load<u16>(nb);
  const x0 = v128.load32_splat(xv), x1 = v128.load32_splat(xv, 4), x2 = v128.load32_splat(xv, 8), x3 = v128.load32_splat(xv, 12);
  const w0 = v128.load32_splat(w), w1 = v128.load32_splat(w, 4), w2 = v128.load32_splat(w, 8), w3 = v128.load32_splat(w, 12);
  // lanes outside `lanes` see d2 | 0x7f800000 (inf or NaN): never < best, so they keep FLT_MAX / -1
  const nolane = v128.andnot(i32x4.splat(0x7f800000), lanes);
  let best = f32x4.splat(3.4028234663852886e38);
  let bi = i32x4.splat(-1);
  for (let j = 1; j <= n; j++) {
    const idx = <i32>load<u16>(nb + (<usize>j << 1));
    const q = v128.load(qgf + (<usize>idx << 4));
    let acc = d2_step(f32x4.splat(0), s4, i32x4.shuffle(q, q, 0, 0, 0, 0), x0, w0);
    acc = d2_step(acc, s4, i32x4.shuffle(q, q, 1, 1, 1, 1), x1, w1);
    acc = d2_step(acc, s4, i32x4.shuffle(q, q, 2, 2, 2, 2), x2, w2);
    acc = v128.or(d2_step(acc, s4, i32x4.shuffle(q, q, 3, 3, 3, 3), x3, w3), nolane);
    // strict: a lane takes d2 only when d2 < best (pmin(best, d2) = d2 < best ? d2 : best)
    bi = v128.bitselect(i32x4.splat(idx), bi, f32x4.lt(acc, best));
    best = f32x4.pmin(best, acc);
  }
  return bi;
}

/**
 * Level codes of 4 candidates for one value x (f32 at px): clamp(nearest_int(0.5 (id x - 1)), 0, 7) per lane of
 * id4 (ggml: `int l = nearest_int(0.5f*(id*xval[i]-1)); l = MAX(0, MIN(7, l));`), as i32x4.
 */
// @ts-ignore: decorator
@inline export function iq3_codes_lanes(id4: v128, px: usize): v128 {
  const t = f32x4.mul(f32x4.splat(0.5), f32x4.sub(f32x4.mul(id4, v128.load32_splat(px)), f32x4.splat(1)));
  const l = i32x4.sub(v128.and(f32x4.add(t, f32x4.splat(12582912.0)), i32x4.splat(0x007FFFFF)), i32x4.splat(0x00400000));
  return i32x4.max_s(i32x4.splat(0), i32x4.min_s(i32x4.splat(7), l));
}

/** Scratch of iq3_scan_nb4's final reduction: the 4 lanes' best distances, list positions, indices. */
const RED: usize = memory.data(48, 16);

/**
 * ggml iq3_find_best_neighbour for ONE scale, four neighbours per step (one per lane): the 4 points'
 * f32 levels (qgf, 16 bytes each) are transposed so dimension d of the 4 points sits in the lanes, and
 * each lane computes d2 = 0 + t0 + t1 + t2 + t3, t_d = (w_d (scale q_d - x_d)) (scale q_d - x_d), ggml's
 * ops in ggml's order. Each lane keeps its first strict minimum (value, list position, index); the
 * result is the smallest value, the earliest position among equal ones: ggml's first strict minimum
 * over the whole list. The tail step repeats the last neighbour (same index, so a tie with it cannot
 * change the result). Returns -1 if no distance is < FLT_MAX, as ggml's grid_index.
 */
// @ts-ignore: decorator
@inline export function iq3_scan_nb4(nb: usize, qgf: usize, xv: usize, w: usize, scale: f32): i32 {
  const n = <i32>load<u16>(nb);
  const x0 = v128.load32_splat(xv), x1 = v128.load32_splat(xv, 4), x2 = v128.load32_splat(xv, 8), x3 = v128.load32_splat(xv, 12);
  const w0 = v128.load32_splat(w), w1 = v128.load32_splat(w, 4), w2 = v128.load32_splat(w, 8), w3 = v128.load32_splat(w, 12);
  const vs = f32x4.splat(scale);
  let best = f32x4.splat(3.4028234663852886e38);
  let bidx = i32x4.splat(-1), bpos = i32x4.splat(0x7fffffff);
  for (let j = 1; j <= n; j += 4) {
    const i0 = <i32>load<u16>(nb + (<usize>j << 1));
    const i1 = <i32>load<u16>(nb + (<usize>min<i32>(j + 1, n) << 1));
    const i2 = <i32>load<u16>(nb + (<usize>min<i32>(j + 2, n) << 1));
    const i3 = <i32>load<u16>(nb + (<usize>min<i32>(j + 3, n) << 1));
    const q0 = v128.load(qgf + (<usize>i0 << 4)), q1 = v128.load(qgf + (<usize>i1 << 4));
    const q2 = v128.load(qgf + (<usize>i2 << 4)), q3 = v128.load(qgf + (<usize>i3 << 4));
    const a = i32x4.shuffle(q0, q1, 0, 4, 1, 5), b = i32x4.shuffle(q2, q3, 0, 4, 1, 5);
    const c = i32x4.shuffle(q0, q1, 2, 6, 3, 7), e = i32x4.shuffle(q2, q3, 2, 6, 3, 7);
    let acc = d2_step(f32x4.splat(0), vs, i32x4.shuffle(a, b, 0, 1, 4, 5), x0, w0);
    acc = d2_step(acc, vs, i32x4.shuffle(a, b, 2, 3, 6, 7), x1, w1);
    acc = d2_step(acc, vs, i32x4.shuffle(c, e, 0, 1, 4, 5), x2, w2);
    acc = d2_step(acc, vs, i32x4.shuffle(c, e, 2, 3, 6, 7), x3, w3);
    const m = f32x4.lt(acc, best);
    best = f32x4.pmin(best, acc);
    bidx = v128.bitselect(i32x4.replace_lane(i32x4.replace_lane(i32x4.replace_lane(i32x4.splat(i0), 1, i1), 2, i2), 3, i3), bidx, m);
    bpos = v128.bitselect(i32x4.add(i32x4.splat(j), i32x4(0, 1, 2, 3)), bpos, m);
  }
  v128.store(RED, best); v128.store(RED, bpos, 16); v128.store(RED, bidx, 32);
  let bv = load<f32>(RED), bp = load<i32>(RED, 16), gi = load<i32>(RED, 32);
  for (let l = 1; l < 4; l++) {
    const v = load<f32>(RED + (<usize>l << 2)), p = load<i32>(RED + 16 + (<usize>l << 2));
    if (v < bv || (v == bv && p < bp)) { bv = v; bp = p; gi = load<i32>(RED + 32 + (<usize>l << 2)); }
  }
  return gi;
}
