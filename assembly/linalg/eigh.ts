// f64 symmetric eigendecomposition: Householder tridiagonalization (tred2) + implicit QL with
// Wilkinson-style shifts (tql2), the EISPACK/JAMA algorithms, on the transposed eigenvector matrix
// so that every inner loop runs over a contiguous row (f64x2 dots, axpys and plane rotations).
//   dsyev(W, n, d, e, rot, cap) -> 0, or -1 when QL did not converge (60 iterations for one eigenvalue).
//     In: W (n x n, row-major) holds the symmetric matrix (both triangles). Out: d[n] eigenvalues in
//     ascending order, row i of W the unit eigenvector of d[i] (W = V^T). e: n f64 scratch.
//     rot: scratch for `cap` recorded plane rotations (24 bytes each, cap >= 1): the SIMD form
//     records the QL rotations and applies them to W in 32-column strips whenever the buffer
//     fills (each strip stays in cache for the whole batch instead of W streaming from memory once
//     per QL sweep); every element sees the same operations in the same order as rotating at once.
//   dsytrd_reduce(W, n, d, e, h) + dsterf_stage(n, d, e) + dstein (stein.ts) + dormtr_rows(Z, n, W, h):
//     the faster path eigh uses by default: reduction without forming Q, eigenvalues by QL without
//     vectors, eigenvectors of the tridiagonal by inverse iteration, then the reflectors applied.
import { dot64, dot64_ref, axpy64, axpy64_ref, rot64, rot64_ref, dot_axpy64, rank2_64, at64 } from "./vec64";

// @ts-ignore: decorator
@inline function ld(p: usize, i: i32): f64 { return load<f64>(p + (<usize>i << 3)); }
// @ts-ignore: decorator
@inline function st(p: usize, i: i32, v: f64): void { store<f64>(p + (<usize>i << 3), v); }

// @ts-ignore: decorator
@inline function tred2(w: usize, n: i32, d: usize, e: usize, simd: bool, hout: usize = 0): void {
  // JAMA tred2 with V[a][b] read as W[b][a]
  for (let j = 0; j < n; j++) st(d, j, load<f64>(at64(w, j, n - 1, n)));
  for (let i = n - 1; i > 0; i--) {
    let scale: f64 = 0, h: f64 = 0;
    for (let k = 0; k < i; k++) scale += abs(ld(d, k));
    if (scale == 0) {
      st(e, i, ld(d, i - 1));
      for (let j = 0; j < i; j++) {
        st(d, j, load<f64>(at64(w, j, i - 1, n)));
        store<f64>(at64(w, j, i, n), 0);
        store<f64>(at64(w, i, j, n), 0);
      }
    } else {
      for (let k = 0; k < i; k++) { const v = ld(d, k) / scale; st(d, k, v); h += v * v; }
      let f = ld(d, i - 1);
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      st(e, i, scale * g);
      h = h - f * g;
      st(d, i - 1, f - g);
      memory.fill(e, 0, <usize>i << 3);
      for (let j = 0; j < i; j++) {
        f = ld(d, j);
        store<f64>(at64(w, i, j, n), f);
        const wj = at64(w, j, 0, n);
        // g = e[j] + W[j][j] f + sum_{k=j+1}^{i-1} W[j][k] d[k];  e[k] += W[j][k] f
        const cnt = i - 1 - j;
        if (simd) {
          g = ld(e, j) + ld(wj, j) * f + dot_axpy64(wj + (<usize>(j + 1) << 3), d + (<usize>(j + 1) << 3), e + (<usize>(j + 1) << 3), f, cnt);
        } else {
          g = ld(e, j) + ld(wj, j) * f + dot64_ref(wj + (<usize>(j + 1) << 3), d + (<usize>(j + 1) << 3), cnt);
          axpy64_ref(e + (<usize>(j + 1) << 3), wj + (<usize>(j + 1) << 3), f, cnt);
        }
        st(e, j, g);
      }
      f = 0;
      for (let j = 0; j < i; j++) { const v = ld(e, j) / h; st(e, j, v); f += v * ld(d, j); }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) st(e, j, ld(e, j) - hh * ld(d, j));
      for (let j = 0; j < i; j++) {
        f = ld(d, j); g = ld(e, j);
        const wj = at64(w, j, 0, n);
        // W[j][k] -= f e[k] + g d[k], k = j..i-1
        if (simd) {
          rank2_64(wj + (<usize>j << 3), e + (<usize>j << 3), d + (<usize>j << 3), f, g, i - j);
        } else {
          for (let k = j; k < i; k++) st(wj, k, ld(wj, k) - (f * ld(e, k) + g * ld(d, k)));
        }
        st(d, j, ld(wj, i - 1));
        st(wj, i, 0);
      }
    }
    st(d, i, h);
  }
  if (hout) {
    // reduction only: h_i of the reflectors to hout, the tridiagonal's diagonal (W[i][i]) to d
    for (let i = 0; i < n; i++) { st(hout, i, ld(d, i)); st(d, i, load<f64>(at64(w, i, i, n))); }
    st(e, 0, 0);
    return;
  }
  // accumulate the transformations
  for (let i = 0; i < n - 1; i++) {
    const wi = at64(w, i, 0, n), wi1 = at64(w, i + 1, 0, n);
    st(wi, n - 1, ld(wi, i));
    st(wi, i, 1.0);
    const h = ld(d, i + 1);
    if (h != 0) {
      for (let k = 0; k <= i; k++) st(d, k, ld(wi1, k) / h);
      for (let j = 0; j <= i; j++) {
        const wj = at64(w, j, 0, n);
        if (simd) axpy64(wj, d, -dot64(wi1, wj, i + 1), i + 1);
        else axpy64_ref(wj, d, -dot64_ref(wi1, wj, i + 1), i + 1);
      }
    }
    memory.fill(wi1, 0, <usize>(i + 1) << 3);
  }
  for (let j = 0; j < n; j++) {
    const q = at64(w, j, n - 1, n);
    st(d, j, load<f64>(q));
    store<f64>(q, 0);
  }
  store<f64>(at64(w, n - 1, n - 1, n), 1.0);
  st(e, 0, 0);
}

// @ts-ignore: decorator
@inline function tql2(w: usize, n: i32, d: usize, e: usize, rot: usize, cap: i32, simd: bool, vec: bool = true): i32 {
  let nrot = 0;
  for (let i = 1; i < n; i++) st(e, i - 1, ld(e, i));
  st(e, n - 1, 0);
  let f: f64 = 0, tst1: f64 = 0;
  const eps: f64 = 2.220446049250313e-16;
  for (let l = 0; l < n; l++) {
    tst1 = max(tst1, abs(ld(d, l)) + abs(ld(e, l)));
    let m = l;
    while (m < n - 1) {
      if (abs(ld(e, m)) <= eps * tst1) break;
      m++;
    }
    if (m > l) {
      let iter = 0;
      do {
        if (++iter > 60) return -1;
        let g = ld(d, l);
        let p = (ld(d, l + 1) - g) / (2.0 * ld(e, l));
        let r = Math.hypot(p, 1.0);
        if (p < 0) r = -r;
        st(d, l, ld(e, l) / (p + r));
        st(d, l + 1, ld(e, l) * (p + r));
        const dl1 = ld(d, l + 1);
        let h = g - ld(d, l);
        for (let i = l + 2; i < n; i++) st(d, i, ld(d, i) - h);
        f += h;
        p = ld(d, m);
        let c: f64 = 1, c2: f64 = 1, c3: f64 = 1, s: f64 = 0, s2: f64 = 0;
        const el1 = ld(e, l + 1);
        for (let i = m - 1; i >= l; i--) {
          c3 = c2; c2 = c; s2 = s;
          g = c * ld(e, i);
          h = c * p;
          r = Math.hypot(p, ld(e, i));
          st(e, i + 1, s * r);
          s = ld(e, i) / r;
          c = p / r;
          p = c * ld(d, i) - s * g;
          st(d, i + 1, h + s * (c * g + s * ld(d, i)));
          // rows i, i+1 of W: (W_i, W_i1) <- (c W_i - s W_i1, s W_i + c W_i1)
          if (!vec) {
            // eigenvalues only
          } else if (simd) {
            // recorded, applied in column blocks when the buffer is full (same operations per element)
            const q = rot + <usize>nrot * 24;
            store<f64>(q, <f64>i); store<f64>(q, c, 8); store<f64>(q, s, 16);
            if (++nrot == cap) { flush_rotations(w, n, rot, nrot); nrot = 0; }
          } else rot64_ref(at64(w, i, 0, n), at64(w, i + 1, 0, n), c, s, n);
        }
        p = -s * s2 * c3 * el1 * ld(e, l) / dl1;
        st(e, l, s * p);
        st(d, l, c * p);
      } while (abs(ld(e, l)) > eps * tst1);
    }
    st(d, l, ld(d, l) + f);
    st(e, l, 0);
  }
  if (nrot > 0) flush_rotations(w, n, rot, nrot);
  // ascending order, rows of W follow
  for (let i = 0; i < n - 1; i++) {
    let k = i;
    let p = ld(d, i);
    for (let j = i + 1; j < n; j++) if (ld(d, j) < p) { k = j; p = ld(d, j); }
    if (k != i) {
      st(d, k, ld(d, i));
      st(d, i, p);
      if (!vec) continue;
      const a = at64(w, i, 0, n), b = at64(w, k, 0, n);
      for (let j = 0; j < n; j++) { const t = ld(a, j); st(a, j, ld(b, j)); st(b, j, t); }
    }
  }
  return 0;
}

/** Column block width of the deferred rotations (a 32-column strip of W stays in L2). */
// @ts-ignore: decorator
@inline const ROT_CB: i32 = 32;

/** Applies `count` recorded rotations (row i, c, s) in order to W, one 32-column strip at a time. */
function flush_rotations(w: usize, n: i32, rot: usize, count: i32): void {
  for (let c0 = 0; c0 < n; c0 += ROT_CB) {
    const cb = min(ROT_CB, n - c0);
    for (let r = 0; r < count; r++) {
      const q = rot + <usize>r * 24;
      const i = <i32>load<f64>(q);
      rot64(at64(w, i, c0, n), at64(w, i + 1, c0, n), load<f64>(q, 8), load<f64>(q, 16), cb);
    }
  }
}

/** SIMD symmetric eigensolver (see the file header). About 9 n^3 flops (4/3 + 4/3 for tred2, ~6 n^3 for the QL rotations). */
export function dsyev(w: usize, n: i32, d: usize, e: usize, rot: usize, cap: i32): i32 {
  if (n <= 0) return 0;
  if (n == 1) { st(d, 0, load<f64>(w)); store<f64>(w, 1.0); return 0; }
  tred2(w, n, d, e, true);
  return tql2(w, n, d, e, rot, cap, true);
}

/** Scalar twin of dsyev (same algorithm, plain scalar loops). */
export function dsyev_ref(w: usize, n: i32, d: usize, e: usize, rot: usize, cap: i32): i32 {
  if (n <= 0) return 0;
  if (n == 1) { st(d, 0, load<f64>(w)); store<f64>(w, 1.0); return 0; }
  tred2(w, n, d, e, false);
  return tql2(w, n, d, e, rot, cap, false);
}

/** Eigenvalues only (ascending into d) of the tridiagonal (d, e) from dsytrd_reduce, by the same QL iteration; e is overwritten. Scalar code (no SIMD form): it is its own reference. O(n^2). */
export function dsterf_stage(n: i32, d: usize, e: usize): i32 {
  if (n <= 1) return 0;
  return tql2(0, n, d, e, 0, 1, false, false);
}

/**
 * Householder reduction of dsyev (tred2) without forming Q: d = diagonal of T, e[i] couples i-1 and
 * i (e[0] = 0); reflector i (1 <= i < n) is u_i = W[i][0..i-1] with h[i] (skipped when 0), and
 * Q = H_{n-1} ... H_1 with H_i = I - u_i u_i^T / h_i (acting on coordinates 0..i-1).
 */
export function dsytrd_reduce(w: usize, n: i32, d: usize, e: usize, h: usize): void {
  tred2(w, n, d, e, true, h);
}

/** Scalar twin of dsytrd_reduce. */
export function dsytrd_reduce_ref(w: usize, n: i32, d: usize, e: usize, h: usize): void {
  tred2(w, n, d, e, false, h);
}

// @ts-ignore: decorator
@inline const ORM_RB: i32 = 32;

/** Rows z, z+n, z+2n, z+3n (length k) each <- (I - u u^T / h) row: four independent dot products sharing the loads of u, then four axpys. */
// @ts-ignore: decorator
@inline function reflect4(z: usize, n: i32, u: usize, h: f64, k: i32): void {
  const ls = <usize>n << 3;
  const z0 = z, z1 = z + ls, z2 = z + 2 * ls, z3 = z + 3 * ls;
  let s0 = f64x2.splat(0), s1 = f64x2.splat(0), s2 = f64x2.splat(0), s3 = f64x2.splat(0);
  let j = 0;
  for (; j + 2 <= k; j += 2) {
    const o = <usize>j << 3, x = v128.load(u + o);
    s0 = f64x2.add(s0, f64x2.mul(x, v128.load(z0 + o)));
    s1 = f64x2.add(s1, f64x2.mul(x, v128.load(z1 + o)));
    s2 = f64x2.add(s2, f64x2.mul(x, v128.load(z2 + o)));
    s3 = f64x2.add(s3, f64x2.mul(x, v128.load(z3 + o)));
  }
  let t0 = f64x2.extract_lane(s0, 0) + f64x2.extract_lane(s0, 1), t1 = f64x2.extract_lane(s1, 0) + f64x2.extract_lane(s1, 1);
  let t2 = f64x2.extract_lane(s2, 0) + f64x2.extract_lane(s2, 1), t3 = f64x2.extract_lane(s3, 0) + f64x2.extract_lane(s3, 1);
  if (j < k) {
    const o = <usize>j << 3, x = load<f64>(u + o);
    t0 += x * load<f64>(z0 + o); t1 += x * load<f64>(z1 + o); t2 += x * load<f64>(z2 + o); t3 += x * load<f64>(z3 + o);
  }
  const g0 = f64x2.splat(-t0 / h), g1 = f64x2.splat(-t1 / h), g2 = f64x2.splat(-t2 / h), g3 = f64x2.splat(-t3 / h);
  j = 0;
  for (; j + 2 <= k; j += 2) {
    const o = <usize>j << 3, x = v128.load(u + o);
    v128.store(z0 + o, f64x2.add(v128.load(z0 + o), f64x2.mul(g0, x)));
    v128.store(z1 + o, f64x2.add(v128.load(z1 + o), f64x2.mul(g1, x)));
    v128.store(z2 + o, f64x2.add(v128.load(z2 + o), f64x2.mul(g2, x)));
    v128.store(z3 + o, f64x2.add(v128.load(z3 + o), f64x2.mul(g3, x)));
  }
  if (j < k) {
    const o = <usize>j << 3, x = load<f64>(u + o);
    store<f64>(z0 + o, load<f64>(z0 + o) - t0 / h * x); store<f64>(z1 + o, load<f64>(z1 + o) - t1 / h * x);
    store<f64>(z2 + o, load<f64>(z2 + o) - t2 / h * x); store<f64>(z3 + o, load<f64>(z3 + o) - t3 / h * x);
  }
}

// @ts-ignore: decorator
@inline function ormtr_impl(z: usize, n: i32, w: usize, h: usize, simd: bool): void {
  // each row z of Z: z <- Q z, i.e. H_1 first, ..., H_{n-1} last; 32 rows of Z at a time stay in L2
  for (let r0 = 0; r0 < n; r0 += ORM_RB) {
    const r1 = min(n, r0 + ORM_RB);
    for (let i = 1; i < n; i++) {
      const hi = ld(h, i);
      if (hi == 0) continue;
      const u = at64(w, i, 0, n);
      let r = r0;
      if (simd) for (; r + 4 <= r1; r += 4) reflect4(at64(z, r, 0, n), n, u, hi, i);
      for (; r < r1; r++) {
        const zr = at64(z, r, 0, n);
        if (simd) axpy64(zr, u, -dot64(u, zr, i) / hi, i);
        else axpy64_ref(zr, u, -dot64_ref(u, zr, i) / hi, i);
      }
    }
  }
}

/** SIMD: multiplies every row of Z (n x n) by Q from dsytrd_reduce (W, h): row j becomes the eigenvector Q z_j. 2 n^3 flops. */
export function dormtr_rows(z: usize, n: i32, w: usize, h: usize): void {
  ormtr_impl(z, n, w, h, true);
}

/** Scalar twin of dormtr_rows. */
export function dormtr_rows_ref(z: usize, n: i32, w: usize, h: usize): void {
  ormtr_impl(z, n, w, h, false);
}
