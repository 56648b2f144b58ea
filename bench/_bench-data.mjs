// The deterministic benchmark input shared by bench/run.mjs, bench/iq.mjs and bench/iq-kernels-ab.mjs:
// gaussian-ish weights (sum of 4 uniforms, scaled) with ~1/128 outliers ×15, and an importance vector with
// a heavy tail, both from xorshift32 seeded 0x12345678. Same values as the scripts generated inline before.

/**
 * @param {number} n values of the weight array (f32)
 * @param {number} cols length of the importance vector (one per column)
 * @returns {{ x: Float32Array, imatrix: Float32Array }}
 */
export function benchData(n, cols) {
  let s = 0x12345678;
  const next = () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s; };
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) { let g = 0; for (let k = 0; k < 4; k++) g += (next() >>> 8) / 16777216; g = (g - 2) * 0.05 * 1.7; if ((next() & 127) === 0) g *= 15; x[i] = g; }
  const imatrix = new Float32Array(cols);
  for (let j = 0; j < cols; j++) { const u = (next() >>> 8) / 16777216; imatrix[j] = 0.02 + 4 * u * u * u * ((next() & 15) === 0 ? 25 : 1); }
  return { x, imatrix };
}
