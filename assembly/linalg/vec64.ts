// @inline f64 vector helpers (f64x2) for the f64 linear-algebra kernels, with scalar twins used by
// the _ref kernels. Pointers are byte addresses of f64 arrays; n counts elements.

/** sum x[i] * y[i], f64x2 with two partial sums (pairs), then the tail. */
// @ts-ignore: decorator
@inline export function dot64(x: usize, y: usize, n: i32): f64 {
  let a0 = f64x2.splat(0), a1 = f64x2.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 3;
    a0 = f64x2.add(a0, f64x2.mul(v128.load(x + o), v128.load(y + o)));
    a1 = f64x2.add(a1, f64x2.mul(v128.load(x + o, 16), v128.load(y + o, 16)));
  }
  a0 = f64x2.add(a0, a1);
  let s = f64x2.extract_lane(a0, 0) + f64x2.extract_lane(a0, 1);
  for (; i < n; i++) s += load<f64>(x + (<usize>i << 3)) * load<f64>(y + (<usize>i << 3));
  return s;
}

/** Scalar twin of dot64 (plain left-to-right sum). */
// @ts-ignore: decorator
@inline export function dot64_ref(x: usize, y: usize, n: i32): f64 {
  let s: f64 = 0;
  for (let i = 0; i < n; i++) s += load<f64>(x + (<usize>i << 3)) * load<f64>(y + (<usize>i << 3));
  return s;
}

/** y[i] += a * x[i]. */
// @ts-ignore: decorator
@inline export function axpy64(y: usize, x: usize, a: f64, n: i32): void {
  const va = f64x2.splat(a);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 3;
    v128.store(y + o, f64x2.add(v128.load(y + o), f64x2.mul(va, v128.load(x + o))));
    v128.store(y + o, f64x2.add(v128.load(y + o, 16), f64x2.mul(va, v128.load(x + o, 16))), 16);
  }
  for (; i < n; i++) { const o = <usize>i << 3; store<f64>(y + o, load<f64>(y + o) + a * load<f64>(x + o)); }
}

/** Scalar twin of axpy64. */
// @ts-ignore: decorator
@inline export function axpy64_ref(y: usize, x: usize, a: f64, n: i32): void {
  for (let i = 0; i < n; i++) { const o = <usize>i << 3; store<f64>(y + o, load<f64>(y + o) + a * load<f64>(x + o)); }
}

/** x[i] *= a. */
// @ts-ignore: decorator
@inline export function scal64(x: usize, a: f64, n: i32): void {
  const va = f64x2.splat(a);
  let i = 0;
  for (; i + 2 <= n; i += 2) { const o = <usize>i << 3; v128.store(x + o, f64x2.mul(v128.load(x + o), va)); }
  for (; i < n; i++) { const o = <usize>i << 3; store<f64>(x + o, load<f64>(x + o) * a); }
}

/** Scalar twin of scal64. */
// @ts-ignore: decorator
@inline export function scal64_ref(x: usize, a: f64, n: i32): void {
  for (let i = 0; i < n; i++) { const o = <usize>i << 3; store<f64>(x + o, load<f64>(x + o) * a); }
}

/** Plane rotation of rows x, y: (x, y) <- (c x - s y, s x + c y). */
// @ts-ignore: decorator
@inline export function rot64(x: usize, y: usize, c: f64, s: f64, n: i32): void {
  const vc = f64x2.splat(c), vs = f64x2.splat(s);
  let i = 0;
  for (; i + 2 <= n; i += 2) {
    const o = <usize>i << 3;
    const a = v128.load(x + o), b = v128.load(y + o);
    v128.store(y + o, f64x2.add(f64x2.mul(vs, a), f64x2.mul(vc, b)));
    v128.store(x + o, f64x2.sub(f64x2.mul(vc, a), f64x2.mul(vs, b)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 3;
    const a = load<f64>(x + o), b = load<f64>(y + o);
    store<f64>(y + o, s * a + c * b);
    store<f64>(x + o, c * a - s * b);
  }
}

/** Scalar twin of rot64. */
// @ts-ignore: decorator
@inline export function rot64_ref(x: usize, y: usize, c: f64, s: f64, n: i32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 3;
    const a = load<f64>(x + o), b = load<f64>(y + o);
    store<f64>(y + o, s * a + c * b);
    store<f64>(x + o, c * a - s * b);
  }
}

/** Address of element (i, j) of a row-major f64 matrix with leading dimension ld. */
// @ts-ignore: decorator
@inline export function at64(a: usize, i: i32, j: i32, ld: i32): usize {
  return a + ((<usize>i * <usize>ld + <usize>j) << 3);
}

/** One pass over w: returns sum w[k] d[k] and does e[k] += f w[k] (the symmetric matvec of tred2). */
// @ts-ignore: decorator
@inline export function dot_axpy64(w: usize, d: usize, e: usize, f: f64, n: i32): f64 {
  const vf = f64x2.splat(f);
  let a0 = f64x2.splat(0), a1 = f64x2.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 3;
    const x = v128.load(w + o), y = v128.load(w + o, 16);
    a0 = f64x2.add(a0, f64x2.mul(x, v128.load(d + o)));
    a1 = f64x2.add(a1, f64x2.mul(y, v128.load(d + o, 16)));
    v128.store(e + o, f64x2.add(v128.load(e + o), f64x2.mul(vf, x)));
    v128.store(e + o, f64x2.add(v128.load(e + o, 16), f64x2.mul(vf, y)), 16);
  }
  a0 = f64x2.add(a0, a1);
  let s = f64x2.extract_lane(a0, 0) + f64x2.extract_lane(a0, 1);
  for (; i < n; i++) {
    const o = <usize>i << 3, x = load<f64>(w + o);
    s += x * load<f64>(d + o);
    store<f64>(e + o, load<f64>(e + o) + f * x);
  }
  return s;
}

/** w[k] -= f e[k] + g d[k] (the rank-2 update of tred2), one pass. */
// @ts-ignore: decorator
@inline export function rank2_64(w: usize, e: usize, d: usize, f: f64, g: f64, n: i32): void {
  const vf = f64x2.splat(f), vg = f64x2.splat(g);
  let i = 0;
  for (; i + 2 <= n; i += 2) {
    const o = <usize>i << 3;
    v128.store(w + o, f64x2.sub(v128.load(w + o), f64x2.add(f64x2.mul(vf, v128.load(e + o)), f64x2.mul(vg, v128.load(d + o)))));
  }
  for (; i < n; i++) { const o = <usize>i << 3; store<f64>(w + o, load<f64>(w + o) - (f * load<f64>(e + o) + g * load<f64>(d + o))); }
}
