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

/**
 * The k-quant kernels' input of bench/kquant-kernels.mjs and bench/kernel-builds-ab.mjs (`--data kk`):
 * ~normal values (sum of 4 uniforms) with 0.1% ×6 tail values and every 199th column ×10, divided by
 * 64, then an importance vector 0.01 + 5 u², from an LCG seeded 1 (x first, then the importance).
 * @param {number} rows
 * @param {number} cols
 * @returns {{ x: Float32Array, imatrix: Float32Array }}
 */
export function kquantKernelData(rows, cols) {
  const n = rows * cols, x = new Float32Array(n), imatrix = new Float32Array(cols);
  let s = 1;
  const u = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const colScale = Float32Array.from({ length: cols }, (_, j) => (j % 199 === 0 ? 10 : 1));
  for (let i = 0; i < n; i++) { let g = (u() + u() + u() + u() - 2) * 1.7320508; if (u() < 0.001) g *= 6; x[i] = g * colScale[i % cols] / 64; }
  for (let j = 0; j < cols; j++) imatrix[j] = 0.01 + u() * u() * 5;
  return { x, imatrix };
}
