// matmul_forward(out, inp, weight, bias, T, C, OC): out[T, OC] = inp[T, C] · weight[OC, C]ᵀ (+ bias[OC]).
// GGUF / llama.cpp weight rows are output rows, so both operands are read along C (dot-product form).
// SIMD: 2 tokens × 4 output rows per micro-tile = 8 f32x4 accumulators; each k step loads 4 weight and
// 2 input vectors for 8 mul + 8 add (SIMD128 has no FMA). 8 accumulators + 4 weights + 1 input = 13
// v128 values fit x64's 16 xmm registers; a 4×4 tile (21 live vectors) spills and measured ~30% slower
// (bench/FORWARD.md). Tokens are blocked by TB rows so the input block stays in L2 while each 4-row
// weight strip (4·C·4 bytes) stays in L1 and is reused TB/2 times.
// Accumulation order differs from the _ref twin (4 lanes then a horizontal sum): results agree to
// within a few ulp of sum |inp·w| (test/70 bounds it by 1e-5 relative to that sum).
// bias = 0 means no bias. Pointers are byte addresses of f32 arrays; no allocation.

const TB: i32 = 64;

// @ts-ignore: decorator
@inline function hsum(v: v128): f32 {
  const s = f32x4.add(v, v128.shuffle<u32>(v, v, 2, 3, 0, 1));
  return f32x4.extract_lane(f32x4.add(s, v128.shuffle<u32>(s, s, 1, 0, 3, 2)), 0);
}

/** Four horizontal sums packed in one vector: lane j = sum of the lanes of a_j. */
// @ts-ignore: decorator
@inline function hsum4(a0: v128, a1: v128, a2: v128, a3: v128): v128 {
  const t0 = f32x4.add(v128.shuffle<u32>(a0, a1, 0, 1, 4, 5), v128.shuffle<u32>(a0, a1, 2, 3, 6, 7));
  const t1 = f32x4.add(v128.shuffle<u32>(a2, a3, 0, 1, 4, 5), v128.shuffle<u32>(a2, a3, 2, 3, 6, 7));
  return f32x4.add(v128.shuffle<u32>(t0, t1, 0, 2, 4, 6), v128.shuffle<u32>(t0, t1, 1, 3, 5, 7));
}

/** Scalar dot of n f32 (the tail of a row, or a whole row when C < 4). */
// @ts-ignore: decorator
@inline function dot_tail(a: usize, b: usize, k0: i32, C: i32): f32 {
  let s: f32 = 0;
  for (let k = k0; k < C; k++) s += load<f32>(a + (<usize>k << 2)) * load<f32>(b + (<usize>k << 2));
  return s;
}

/** Dot product of two f32 rows of length C (SIMD, 2 accumulators). */
export function dot_f32(a: usize, b: usize, C: i32): f32 {
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0);
  let k = 0;
  for (; k + 8 <= C; k += 8) {
    const o = <usize>k << 2;
    s0 = f32x4.add(s0, f32x4.mul(v128.load(a + o), v128.load(b + o)));
    s1 = f32x4.add(s1, f32x4.mul(v128.load(a + o, 16), v128.load(b + o, 16)));
  }
  for (; k + 4 <= C; k += 4) {
    const o = <usize>k << 2;
    s0 = f32x4.add(s0, f32x4.mul(v128.load(a + o), v128.load(b + o)));
  }
  return hsum(f32x4.add(s0, s1)) + dot_tail(a, b, k, C);
}

export function matmul_forward_ref(out: usize, inp: usize, weight: usize, bias: usize, T: i32, C: i32, OC: i32): void {
  for (let t = 0; t < T; t++) {
    const x = inp + (<usize>t * <usize>C << 2);
    for (let o = 0; o < OC; o++) {
      const w = weight + (<usize>o * <usize>C << 2);
      let s: f32 = bias != 0 ? load<f32>(bias + (<usize>o << 2)) : 0;
      for (let k = 0; k < C; k++) s += load<f32>(x + (<usize>k << 2)) * load<f32>(w + (<usize>k << 2));
      store<f32>(out + ((<usize>t * <usize>OC + <usize>o) << 2), s);
    }
  }
}

/** One 2×4 micro-tile: tokens t, t+1 × output rows o..o+3 (8 accumulators + 4 weight vectors + 1 input: fits x64's 16 xmm). */
// @ts-ignore: decorator
@inline function tile2x4(out: usize, inp: usize, weight: usize, bias: usize, t: i32, o: i32, C: i32, OC: i32): void {
  const rs = <usize>C << 2;
  const x0 = inp + <usize>t * rs, x1 = x0 + rs;
  const w0 = weight + <usize>o * rs, w1 = w0 + rs, w2 = w1 + rs, w3 = w2 + rs;
  const z = f32x4.splat(0);
  let a00 = z, a01 = z, a02 = z, a03 = z, a10 = z, a11 = z, a12 = z, a13 = z;
  const ke = <usize>(C & ~3) << 2;
  for (let k: usize = 0; k < ke; k += 16) {
    const v0 = v128.load(w0 + k), v1 = v128.load(w1 + k), v2 = v128.load(w2 + k), v3 = v128.load(w3 + k);
    let x = v128.load(x0 + k);
    a00 = f32x4.add(a00, f32x4.mul(x, v0)); a01 = f32x4.add(a01, f32x4.mul(x, v1));
    a02 = f32x4.add(a02, f32x4.mul(x, v2)); a03 = f32x4.add(a03, f32x4.mul(x, v3));
    x = v128.load(x1 + k);
    a10 = f32x4.add(a10, f32x4.mul(x, v0)); a11 = f32x4.add(a11, f32x4.mul(x, v1));
    a12 = f32x4.add(a12, f32x4.mul(x, v2)); a13 = f32x4.add(a13, f32x4.mul(x, v3));
  }
  let r0 = hsum4(a00, a01, a02, a03), r1 = hsum4(a10, a11, a12, a13);
  const k = C & ~3;
  if (k < C) {
    r0 = f32x4.add(r0, f32x4(dot_tail(x0, w0, k, C), dot_tail(x0, w1, k, C), dot_tail(x0, w2, k, C), dot_tail(x0, w3, k, C)));
    r1 = f32x4.add(r1, f32x4(dot_tail(x1, w0, k, C), dot_tail(x1, w1, k, C), dot_tail(x1, w2, k, C), dot_tail(x1, w3, k, C)));
  }
  if (bias != 0) {
    const b = v128.load(bias + (<usize>o << 2));
    r0 = f32x4.add(r0, b); r1 = f32x4.add(r1, b);
  }
  const p = out + ((<usize>t * <usize>OC + <usize>o) << 2);
  v128.store(p, r0); v128.store(p + (<usize>OC << 2), r1);
}

/** One 1×4 tile (the odd last token of a block). */
// @ts-ignore: decorator
@inline function tile1x4(out: usize, inp: usize, weight: usize, bias: usize, t: i32, o: i32, C: i32, OC: i32): void {
  const rs = <usize>C << 2;
  const x0 = inp + <usize>t * rs;
  const w0 = weight + <usize>o * rs, w1 = w0 + rs, w2 = w1 + rs, w3 = w2 + rs;
  const z = f32x4.splat(0);
  let a0 = z, a1 = z, a2 = z, a3 = z;
  const ke = <usize>(C & ~3) << 2;
  for (let k: usize = 0; k < ke; k += 16) {
    const x = v128.load(x0 + k);
    a0 = f32x4.add(a0, f32x4.mul(x, v128.load(w0 + k))); a1 = f32x4.add(a1, f32x4.mul(x, v128.load(w1 + k)));
    a2 = f32x4.add(a2, f32x4.mul(x, v128.load(w2 + k))); a3 = f32x4.add(a3, f32x4.mul(x, v128.load(w3 + k)));
  }
  let r0 = hsum4(a0, a1, a2, a3);
  const k = C & ~3;
  if (k < C) r0 = f32x4.add(r0, f32x4(dot_tail(x0, w0, k, C), dot_tail(x0, w1, k, C), dot_tail(x0, w2, k, C), dot_tail(x0, w3, k, C)));
  if (bias != 0) r0 = f32x4.add(r0, v128.load(bias + (<usize>o << 2)));
  v128.store(out + ((<usize>t * <usize>OC + <usize>o) << 2), r0);
}

/** One output value the slow way (edges of the tiling). */
// @ts-ignore: decorator
@inline function single(out: usize, inp: usize, weight: usize, bias: usize, t: i32, o: i32, C: i32, OC: i32): void {
  let s = dot_f32(inp + (<usize>t * <usize>C << 2), weight + (<usize>o * <usize>C << 2), C);
  if (bias != 0) s += load<f32>(bias + (<usize>o << 2));
  store<f32>(out + ((<usize>t * <usize>OC + <usize>o) << 2), s);
}

export function matmul_forward(out: usize, inp: usize, weight: usize, bias: usize, T: i32, C: i32, OC: i32): void {
  const OC4 = OC & ~3;
  for (let t0 = 0; t0 < T; t0 += TB) {
    const t1 = min<i32>(T, t0 + TB);
    const t2 = t0 + ((t1 - t0) & ~1);
    for (let o = 0; o < OC4; o += 4) {
      for (let t = t0; t < t2; t += 2) tile2x4(out, inp, weight, bias, t, o, C, OC);
      if (t2 < t1) tile1x4(out, inp, weight, bias, t2, o, C, OC);
    }
    for (let o = OC4; o < OC; o++) for (let t = t0; t < t1; t++) single(out, inp, weight, bias, t, o, C, OC);
  }
}
