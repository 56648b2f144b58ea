// Reconstruction error statistics of b against a (n f32 values each), accumulated in f64.
// error_stats(out, a, b, n) writes 6 f64 at out:
//   out[0] = sum (a - b)^2        out[1] = sum a^2          out[2] = max |a - b|
//   out[3] = sum a * b            out[4] = norm2(a) = sum a^2   out[5] = norm2(b) = sum b^2
// (norm2 = squared Euclidean norm; the facade takes sqrt.) Products of inputs are exact in f64;
// a - b is exact unless the magnitudes differ by more than 2^29; (a - b)^2 and the sums round.
// error_stats (SIMD) keeps 2 f64 lanes x 2 accumulators (4 partial sums per quantity, combined at
// the end), error_stats_ref sums strictly sequentially, so the sums may differ in the last bits
// (relative ~1e-16 * log n); max |a - b| is identical. This metric never writes files.

export function error_stats_ref(out: usize, a: usize, b: usize, n: i32): void {
  let se: f64 = 0, sa: f64 = 0, mx: f64 = 0, dot: f64 = 0, sb: f64 = 0;
  for (let i = 0; i < n; i++) {
    const x = <f64>load<f32>(a + (<usize>i << 2));
    const y = <f64>load<f32>(b + (<usize>i << 2));
    const d = x - y;
    se += d * d;
    sa += x * x;
    mx = max<f64>(mx, abs<f64>(d));
    dot += x * y;
    sb += y * y;
  }
  store<f64>(out, se);
  store<f64>(out, sa, 8);
  store<f64>(out, mx, 16);
  store<f64>(out, dot, 24);
  store<f64>(out, sa, 32);
  store<f64>(out, sb, 40);
}

export function error_stats(out: usize, a: usize, b: usize, n: i32): void {
  const z = f64x2.splat(0);
  let se0 = z, se1 = z, sa0 = z, sa1 = z, mx0 = z, mx1 = z, dt0 = z, dt1 = z, sb0 = z, sb1 = z;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const va = v128.load(a + (<usize>i << 2)), vb = v128.load(b + (<usize>i << 2));
    const x0 = f64x2.promote_low_f32x4(va), y0 = f64x2.promote_low_f32x4(vb);
    const x1 = f64x2.promote_low_f32x4(v128.shuffle<u32>(va, va, 2, 3, 2, 3));
    const y1 = f64x2.promote_low_f32x4(v128.shuffle<u32>(vb, vb, 2, 3, 2, 3));
    const d0 = f64x2.sub(x0, y0), d1 = f64x2.sub(x1, y1);
    se0 = f64x2.add(se0, f64x2.mul(d0, d0)); se1 = f64x2.add(se1, f64x2.mul(d1, d1));
    sa0 = f64x2.add(sa0, f64x2.mul(x0, x0)); sa1 = f64x2.add(sa1, f64x2.mul(x1, x1));
    mx0 = f64x2.max(mx0, f64x2.abs(d0)); mx1 = f64x2.max(mx1, f64x2.abs(d1));
    dt0 = f64x2.add(dt0, f64x2.mul(x0, y0)); dt1 = f64x2.add(dt1, f64x2.mul(x1, y1));
    sb0 = f64x2.add(sb0, f64x2.mul(y0, y0)); sb1 = f64x2.add(sb1, f64x2.mul(y1, y1));
  }
  const se2 = f64x2.add(se0, se1), sa2 = f64x2.add(sa0, sa1), mx2 = f64x2.max(mx0, mx1);
  const dt2 = f64x2.add(dt0, dt1), sb2 = f64x2.add(sb0, sb1);
  let se = f64x2.extract_lane(se2, 0) + f64x2.extract_lane(se2, 1);
  let sa = f64x2.extract_lane(sa2, 0) + f64x2.extract_lane(sa2, 1);
  let mx = max<f64>(f64x2.extract_lane(mx2, 0), f64x2.extract_lane(mx2, 1));
  let dot = f64x2.extract_lane(dt2, 0) + f64x2.extract_lane(dt2, 1);
  let sb = f64x2.extract_lane(sb2, 0) + f64x2.extract_lane(sb2, 1);
  for (; i < n; i++) {
    const x = <f64>load<f32>(a + (<usize>i << 2));
    const y = <f64>load<f32>(b + (<usize>i << 2));
    const d = x - y;
    se += d * d;
    sa += x * x;
    mx = max<f64>(mx, abs<f64>(d));
    dot += x * y;
    sb += y * y;
  }
  store<f64>(out, se);
  store<f64>(out, sa, 8);
  store<f64>(out, mx, 16);
  store<f64>(out, dot, 24);
  store<f64>(out, sa, 32);
  store<f64>(out, sb, 40);
}

// The two sums an SQNR needs, nothing else: error_sums(out, a, b, n) writes 2 f64 at out:
//   out[0] = sum (a - b)^2        out[1] = sum a^2
// The quantization pipeline calls it on every slice it quantizes (b = the dequantized slice), so it
// skips error_stats's max, dot and norm2(b): about 2.5x less work per value. Same rounding model as
// error_stats (f64 products; error_sums keeps 4 partial sums per quantity, error_sums_ref sums
// strictly sequentially, so they may differ in the last bits).
export function error_sums_ref(out: usize, a: usize, b: usize, n: i32): void {
  let se: f64 = 0, sa: f64 = 0;
  for (let i = 0; i < n; i++) {
    const x = <f64>load<f32>(a + (<usize>i << 2));
    const d = x - <f64>load<f32>(b + (<usize>i << 2));
    se += d * d;
    sa += x * x;
  }
  store<f64>(out, se);
  store<f64>(out, sa, 8);
}

export function error_sums(out: usize, a: usize, b: usize, n: i32): void {
  const z = f64x2.splat(0);
  let se0 = z, se1 = z, sa0 = z, sa1 = z;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const va = v128.load(a + (<usize>i << 2)), vb = v128.load(b + (<usize>i << 2));
    const vh = v128.shuffle<u32>(va, va, 2, 3, 2, 3), bh = v128.shuffle<u32>(vb, vb, 2, 3, 2, 3);
    const x0 = f64x2.promote_low_f32x4(va), x1 = f64x2.promote_low_f32x4(vh);
    const d0 = f64x2.sub(x0, f64x2.promote_low_f32x4(vb)), d1 = f64x2.sub(x1, f64x2.promote_low_f32x4(bh));
    se0 = f64x2.add(se0, f64x2.mul(d0, d0)); se1 = f64x2.add(se1, f64x2.mul(d1, d1));
    sa0 = f64x2.add(sa0, f64x2.mul(x0, x0)); sa1 = f64x2.add(sa1, f64x2.mul(x1, x1));
  }
  const se2 = f64x2.add(se0, se1), sa2 = f64x2.add(sa0, sa1);
  let se = f64x2.extract_lane(se2, 0) + f64x2.extract_lane(se2, 1);
  let sa = f64x2.extract_lane(sa2, 0) + f64x2.extract_lane(sa2, 1);
  for (; i < n; i++) {
    const x = <f64>load<f32>(a + (<usize>i << 2));
    const d = x - <f64>load<f32>(b + (<usize>i << 2));
    se += d * d;
    sa += x * x;
  }
  store<f64>(out, se);
  store<f64>(out, sa, 8);
}
