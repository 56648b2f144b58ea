// Input validation kernels: the facade runs these before any quantizer (llama.cpp refuses NaN/Inf).

/** Index of the first NaN/Inf among n f32 at x, or -1. SIMD, 16 values per step. */
export function find_nonfinite(x: usize, n: i32): i32 {
  let i = 0;
  const expmask = i32x4.splat(0x7F800000);
  for (; i + 16 <= n; i += 16) {
    const p = x + (<usize>i << 2);
    const a = i32x4.eq(v128.and(v128.load(p), expmask), expmask);
    const b = i32x4.eq(v128.and(v128.load(p, 16), expmask), expmask);
    const c = i32x4.eq(v128.and(v128.load(p, 32), expmask), expmask);
    const d = i32x4.eq(v128.and(v128.load(p, 48), expmask), expmask);
    if (v128.any_true(v128.or(v128.or(a, b), v128.or(c, d)))) break;
  }
  for (; i < n; i++) {
    if ((load<u32>(x + (<usize>i << 2)) & 0x7F800000) == 0x7F800000) return i;
  }
  return -1;
}

/** Scalar twin of find_nonfinite. */
export function find_nonfinite_ref(x: usize, n: i32): i32 {
  for (let i = 0; i < n; i++) {
    if ((load<u32>(x + (<usize>i << 2)) & 0x7F800000) == 0x7F800000) return i;
  }
  return -1;
}
