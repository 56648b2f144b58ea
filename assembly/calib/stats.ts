// Calibration statistics over linear-layer inputs x [rows, cols] f32 row-major (llm.c style: out first).
//
// colstats_forward(sum2, sumabs, x, rows, cols): sum2[j] += x[r,j]^2, sumabs[j] += |x[r,j]| for every row r,
//   accumulated in f64 (sum2/sumabs are cols f64 each). Products of f32 are exact in f64 and both twins add
//   rows in the same order per column, so colstats_forward and colstats_forward_ref agree bit for bit.
// gram_forward(acc, x, rows, cols, scratch, batch): acc[i*cols + j] += sum_r x[r,i] * x[r,j] for j >= i (the
//   upper triangle incl. the diagonal; the facade mirrors it). Rows go in batches of `batch` (<= 256): each
//   batch's product is summed in f32 (cols f32 of scratch), then added into the f64 accumulator, so the f32
//   rounding error stays ~batch * 2^-24 relative per batch and does not grow with the token count.
//   SIMD and _ref add in the same order (f32 mul then add, no FMA), so they agree bit for bit.
// block_influence_forward(out, inp, outp, T, C): out[t] = 1 - cos(inp[t], outp[t]) in f64 (ShortGPT's BI);
//   0 when either row is all zeros. SIMD keeps 2 f64 lanes x 2 accumulators, so it differs from _ref in the
//   last bits (~1e-15).

// ------------------------------------------------------------------------------ column sums

export function colstats_forward_ref(sum2: usize, sumabs: usize, x: usize, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) {
    const row = x + ((<usize>r * <usize>cols) << 2);
    for (let j = 0; j < cols; j++) {
      const v = <f64>load<f32>(row + (<usize>j << 2));
      const ps = sum2 + (<usize>j << 3), pa = sumabs + (<usize>j << 3);
      store<f64>(ps, load<f64>(ps) + v * v);
      store<f64>(pa, load<f64>(pa) + abs<f64>(v));
    }
  }
}

export function colstats_forward(sum2: usize, sumabs: usize, x: usize, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) {
    const row = x + ((<usize>r * <usize>cols) << 2);
    let j = 0;
    for (; j + 4 <= cols; j += 4) {
      const v = v128.load(row + (<usize>j << 2));
      const lo = f64x2.promote_low_f32x4(v);
      const hi = f64x2.promote_low_f32x4(v128.shuffle<u32>(v, v, 2, 3, 2, 3));
      const ps = sum2 + (<usize>j << 3), pa = sumabs + (<usize>j << 3);
      v128.store(ps, f64x2.add(v128.load(ps), f64x2.mul(lo, lo)));
      v128.store(ps, f64x2.add(v128.load(ps, 16), f64x2.mul(hi, hi)), 16);
      v128.store(pa, f64x2.add(v128.load(pa), f64x2.abs(lo)));
      v128.store(pa, f64x2.add(v128.load(pa, 16), f64x2.abs(hi)), 16);
    }
    for (; j < cols; j++) {
      const v = <f64>load<f32>(row + (<usize>j << 2));
      const ps = sum2 + (<usize>j << 3), pa = sumabs + (<usize>j << 3);
      store<f64>(ps, load<f64>(ps) + v * v);
      store<f64>(pa, load<f64>(pa) + abs<f64>(v));
    }
  }
}

// ------------------------------------------------------------------------------ Gram matrix

export function gram_forward_ref(acc: usize, x: usize, rows: i32, cols: i32, scratch: usize, batch: i32): void {
  const stride = <usize>cols << 2;
  for (let r0 = 0; r0 < rows; r0 += batch) {
    const nb = min<i32>(batch, rows - r0);
    const xb = x + <usize>r0 * stride;
    for (let i = 0; i < cols; i++) {
      for (let j = i; j < cols; j++) store<f32>(scratch + (<usize>j << 2), 0);
      for (let r = 0; r < nb; r++) {
        const row = xb + <usize>r * stride;
        const xi = load<f32>(row + (<usize>i << 2));
        for (let j = i; j < cols; j++) {
          const p = scratch + (<usize>j << 2);
          store<f32>(p, load<f32>(p) + xi * load<f32>(row + (<usize>j << 2)));
        }
      }
      const arow = acc + ((<usize>i * <usize>cols) << 3);
      for (let j = i; j < cols; j++) {
        const p = arow + (<usize>j << 3);
        store<f64>(p, load<f64>(p) + <f64>load<f32>(scratch + (<usize>j << 2)));
      }
    }
  }
}

export function gram_forward(acc: usize, x: usize, rows: i32, cols: i32, scratch: usize, batch: i32): void {
  const stride = <usize>cols << 2;
  for (let r0 = 0; r0 < rows; r0 += batch) {
    const nb = min<i32>(batch, rows - r0);
    const xb = x + <usize>r0 * stride;
    for (let i = 0; i < cols; i++) {
      // columns j in [i, cols): scalar head up to a multiple of 4, then f32x4
      const j4 = min<i32>((i + 3) & ~3, cols);
      for (let j = i; j < cols; j++) store<f32>(scratch + (<usize>j << 2), 0);
      for (let r = 0; r < nb; r++) {
        const row = xb + <usize>r * stride;
        const xi = load<f32>(row + (<usize>i << 2));
        let j = i;
        for (; j < j4; j++) {
          const p = scratch + (<usize>j << 2);
          store<f32>(p, load<f32>(p) + xi * load<f32>(row + (<usize>j << 2)));
        }
        const vx = f32x4.splat(xi);
        for (; j + 8 <= cols; j += 8) {
          const p = scratch + (<usize>j << 2), q = row + (<usize>j << 2);
          v128.store(p, f32x4.add(v128.load(p), f32x4.mul(vx, v128.load(q))));
          v128.store(p, f32x4.add(v128.load(p, 16), f32x4.mul(vx, v128.load(q, 16))), 16);
        }
        for (; j + 4 <= cols; j += 4) {
          const p = scratch + (<usize>j << 2);
          v128.store(p, f32x4.add(v128.load(p), f32x4.mul(vx, v128.load(row + (<usize>j << 2)))));
        }
        for (; j < cols; j++) {
          const p = scratch + (<usize>j << 2);
          store<f32>(p, load<f32>(p) + xi * load<f32>(row + (<usize>j << 2)));
        }
      }
      const arow = acc + ((<usize>i * <usize>cols) << 3);
      let j = i;
      for (; j < j4; j++) {
        const p = arow + (<usize>j << 3);
        store<f64>(p, load<f64>(p) + <f64>load<f32>(scratch + (<usize>j << 2)));
      }
      for (; j + 4 <= cols; j += 4) {
        const s = v128.load(scratch + (<usize>j << 2));
        const p = arow + (<usize>j << 3);
        v128.store(p, f64x2.add(v128.load(p), f64x2.promote_low_f32x4(s)));
        v128.store(p, f64x2.add(v128.load(p, 16), f64x2.promote_low_f32x4(v128.shuffle<u32>(s, s, 2, 3, 2, 3))), 16);
      }
      for (; j < cols; j++) {
        const p = arow + (<usize>j << 3);
        store<f64>(p, load<f64>(p) + <f64>load<f32>(scratch + (<usize>j << 2)));
      }
    }
  }
}

// ------------------------------------------------------------------------------ Block Influence

export function block_influence_forward_ref(out: usize, inp: usize, outp: usize, T: i32, C: i32): void {
  for (let t = 0; t < T; t++) {
    const a = inp + ((<usize>t * <usize>C) << 2), b = outp + ((<usize>t * <usize>C) << 2);
    let dot: f64 = 0, na: f64 = 0, nb: f64 = 0;
    for (let c = 0; c < C; c++) {
      const x = <f64>load<f32>(a + (<usize>c << 2)), y = <f64>load<f32>(b + (<usize>c << 2));
      dot += x * y; na += x * x; nb += y * y;
    }
    store<f64>(out + (<usize>t << 3), na > 0 && nb > 0 ? 1.0 - dot / Math.sqrt(na * nb) : 0.0);
  }
}

export function block_influence_forward(out: usize, inp: usize, outp: usize, T: i32, C: i32): void {
  const z = f64x2.splat(0);
  for (let t = 0; t < T; t++) {
    const a = inp + ((<usize>t * <usize>C) << 2), b = outp + ((<usize>t * <usize>C) << 2);
    let d0 = z, d1 = z, a0 = z, a1 = z, b0 = z, b1 = z;
    let c = 0;
    for (; c + 4 <= C; c += 4) {
      const va = v128.load(a + (<usize>c << 2)), vb = v128.load(b + (<usize>c << 2));
      const x0 = f64x2.promote_low_f32x4(va), y0 = f64x2.promote_low_f32x4(vb);
      const x1 = f64x2.promote_low_f32x4(v128.shuffle<u32>(va, va, 2, 3, 2, 3));
      const y1 = f64x2.promote_low_f32x4(v128.shuffle<u32>(vb, vb, 2, 3, 2, 3));
      d0 = f64x2.add(d0, f64x2.mul(x0, y0)); d1 = f64x2.add(d1, f64x2.mul(x1, y1));
      a0 = f64x2.add(a0, f64x2.mul(x0, x0)); a1 = f64x2.add(a1, f64x2.mul(x1, x1));
      b0 = f64x2.add(b0, f64x2.mul(y0, y0)); b1 = f64x2.add(b1, f64x2.mul(y1, y1));
    }
    const d2 = f64x2.add(d0, d1), a2 = f64x2.add(a0, a1), b2 = f64x2.add(b0, b1);
    let dot = f64x2.extract_lane(d2, 0) + f64x2.extract_lane(d2, 1);
    let na = f64x2.extract_lane(a2, 0) + f64x2.extract_lane(a2, 1);
    let nb = f64x2.extract_lane(b2, 0) + f64x2.extract_lane(b2, 1);
    for (; c < C; c++) {
      const x = <f64>load<f32>(a + (<usize>c << 2)), y = <f64>load<f32>(b + (<usize>c << 2));
      dot += x * y; na += x * x; nb += y * y;
    }
    store<f64>(out + (<usize>t << 3), na > 0 && nb > 0 ? 1.0 - dot / Math.sqrt(na * nb) : 0.0);
  }
}
