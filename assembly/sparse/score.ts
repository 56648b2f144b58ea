// Pruning scores over a weight matrix w [rows, cols] f32 row-major (rows = outputs, cols = inputs; llm.c style,
// out first).
//
// prune_score_forward(out, w, colw, rows, cols): out[r,j] = |w[r,j]| * colw[j]. colw = 0 (null) gives plain
//   magnitude |w|; colw = ||X_j||_2 = sqrt(sum_t x[t,j]^2) gives Wanda's score. Non-negative and +0 for zeros
//   (never -0), so the f32 bit patterns order like the values (what topk.ts relies on).
// obs_score_forward(out, w, d, rows, cols): out[r,j] = w[r,j]^2 / d[j]^2 (SparseGPT / OBS saliency, d = the
//   diagonal of the upper Cholesky factor of H^-1 for the block's columns).
// SIMD and _ref do the same f32 operations in the same order, so they agree bit for bit.

export function prune_score_forward_ref(out: usize, w: usize, colw: usize, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) {
    const o = <usize>r * <usize>cols;
    for (let j = 0; j < cols; j++) {
      const a = abs<f32>(load<f32>(w + ((o + <usize>j) << 2)));
      store<f32>(out + ((o + <usize>j) << 2), colw ? a * load<f32>(colw + (<usize>j << 2)) : a);
    }
  }
}

export function prune_score_forward(out: usize, w: usize, colw: usize, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) {
    const o = <usize>r * <usize>cols;
    const pw = w + (o << 2), po = out + (o << 2);
    let j = 0;
    if (colw) {
      for (; j + 4 <= cols; j += 4) {
        const off = <usize>j << 2;
        v128.store(po + off, f32x4.mul(f32x4.abs(v128.load(pw + off)), v128.load(colw + off)));
      }
      for (; j < cols; j++) store<f32>(po + (<usize>j << 2), abs<f32>(load<f32>(pw + (<usize>j << 2))) * load<f32>(colw + (<usize>j << 2)));
    } else {
      for (; j + 4 <= cols; j += 4) {
        const off = <usize>j << 2;
        v128.store(po + off, f32x4.abs(v128.load(pw + off)));
      }
      for (; j < cols; j++) store<f32>(po + (<usize>j << 2), abs<f32>(load<f32>(pw + (<usize>j << 2))));
    }
  }
}

export function obs_score_forward_ref(out: usize, w: usize, d: usize, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) {
    const o = <usize>r * <usize>cols;
    for (let j = 0; j < cols; j++) {
      const x = load<f32>(w + ((o + <usize>j) << 2)), dd = load<f32>(d + (<usize>j << 2));
      store<f32>(out + ((o + <usize>j) << 2), (x * x) / (dd * dd));
    }
  }
}

export function obs_score_forward(out: usize, w: usize, d: usize, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) {
    const o = <usize>r * <usize>cols;
    const pw = w + (o << 2), po = out + (o << 2);
    let j = 0;
    for (; j + 4 <= cols; j += 4) {
      const off = <usize>j << 2;
      const x = v128.load(pw + off), dd = v128.load(d + off);
      v128.store(po + off, f32x4.div(f32x4.mul(x, x), f32x4.mul(dd, dd)));
    }
    for (; j < cols; j++) {
      const x = load<f32>(pw + (<usize>j << 2)), dd = load<f32>(d + (<usize>j << 2));
      store<f32>(po + (<usize>j << 2), (x * x) / (dd * dd));
    }
  }
}
