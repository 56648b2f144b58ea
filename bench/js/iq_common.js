// Plain-JS baseline helpers for the i-quant ports (bench/js/iq4_xs.js, iq3.js, iq2.js, iq1.js): float32
// emulated with Math.fround after every operation, ggml's nearest_int, and the lattices built as ggml's
// iq2xs_init_impl / iq3xs_init_impl build them (points ordered by (distance, index) per code), from the index
// lists of assembly/quant/iq_kgrid_data.ts (read from the repo at first use; Node only).
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";
export { fp32_to_fp16 } from "./f16.js";
export const f = Math.fround;
/** ggml nearest_int (round half to even for |v| < 2^22). */
export const nint = (v) => f(v + 12582912) - 12582912;
export const FLT_MAX = 3.4028234663852886e38;

let lists = null;
function kgrids() {
  if (lists) return lists;
  const src = readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), "../../assembly/quant/iq_kgrid_data.ts"), "utf8");
  lists = {};
  for (const m of src.matchAll(/export const (\w+): usize = memory\.data<u16>\(\[([^\]]*)\]\)/g)) lists[m[1]] = m[2].split(",").map((v) => v.trim()).filter(Boolean).map(Number);
  return lists;
}
const SPEC = {
  iq2xxs: ["KGRID_2BIT_256", 8, 2, 2], iq2xs: ["KGRID_2BIT_512", 8, 2, 2], iq2s: ["KGRID_2BIT_1024", 8, 2, 1],
  iq1s: ["KGRID_1BIT_2048", 8, 2, 3], iq3xxs: ["KGRID_3BIT_256", 4, 3, 2], iq3s: ["KGRID_3BIT_512", 4, 3, 3],
};
const cache = {};
/** { grid: Int8Array (odd levels 2L+1, nel per point), kmap: Int32Array, nb: Uint16Array, nel } as ggml builds them. */
export function lattice(name) {
  if (cache[name]) return cache[name];
  const [list, nel, bits, nwant] = SPEC[name];
  const kg = kgrids()[list], n = kg.length, mask = (1 << bits) - 1;
  const grid = new Int8Array(n * nel);
  for (let k = 0; k < n; k++) for (let i = 0; i < nel; i++) grid[k * nel + i] = 2 * ((kg[k] >> (bits * i)) & mask) + 1;
  const ks = nel === 8 ? 43692 : 4096;
  const kmap = new Int32Array(ks).fill(-1);
  for (let k = 0; k < n; k++) kmap[kg[k]] = k;
  const out = [];
  const d2 = new Int32Array(n);
  for (let i = 0; i < ks; i++) {
    if (kmap[i] >= 0) continue;
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < nel; k++) { const e = grid[j * nel + k] - (2 * ((i >> (bits * k)) & mask) + 1); s += e * e; }
      d2[j] = s;
    }
    // all points within the nwant smallest distinct distances, ordered by (distance, index) = ggml's qsort order
    const levels = [...new Set(d2)].sort((a, b) => a - b).slice(0, nwant);
    kmap[i] = -(out.length + 1);
    const at = out.length;
    out.push(0);
    for (const m of levels) for (let j = 0; j < n; j++) if (d2[j] === m) out.push(j);
    out[at] = out.length - at - 1;
  }
  return (cache[name] = { grid, kmap, nb: Uint16Array.from(out), nel });
}
