// The i-quants beyond the reference vectors: the lattice tables the module builds (dequantization
// tables against llama.cpp's own, kmap and neighbour lists against an independent construction
// following ggml's iq2xs_init_impl / iq3xs_init_impl), SIMD kernels == scalar _ref twins on inputs
// with several super-blocks per row, several rows, zero / constant / tiny / huge blocks and imatrix
// zeros, typed errors, reconstruction quality, and the async (pool) and streaming forms.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createHash } from "node:crypto";
import { init, TensorshrinkError } from "../src/index";
import { randn, rng, firstDiff } from "./_util";

const engine = await init({ threads: 0 });
const e = engine.exports;
const TYPES = ["iq4_xs", "iq3_s", "iq3_xxs", "iq2_s", "iq2_xs", "iq2_xxs", "iq1_m", "iq1_s"];
const BYTES: Record<string, number> = { iq4_xs: 136, iq3_s: 110, iq3_xxs: 98, iq2_s: 82, iq2_xs: 74, iq2_xxs: 66, iq1_m: 56, iq1_s: 50 };
const u8 = (p: number, n: number) => new Uint8Array(e.memory.buffer, p, n).slice();
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

// grid id, size, elements per point, bits per code, nwant, sha256 of llama.cpp's dequantization table
// (ggml-common.h iq2xxs_grid ... iq1s_grid, as compiled into llama.cpp's llama-quantize c392e50)
const GRIDS: [string, number, number, number, number, number, string][] = [
  ["iq2xxs", 0, 256, 8, 2, 2, "05826b5d3e472a3a78f196be62ac78acf81df0f909626e12ab9fa2a5d490dd54"],
  ["iq2xs", 1, 512, 8, 2, 2, "06e47aaca60b4dc1d9b5a3f34540437058a6b142b4d7a59d5ded769b4d1bf1de"],
  ["iq1s", 2, 2048, 8, 2, 3, "07540ffc1aeaf6ad4d97e96b0fcc765aae39671d4ae4a27bbd0e796fde167c6a"],
  ["iq2s", 3, 1024, 8, 2, 1, "e1aa1473412b0552c2174c30ef22ab4073f6a181b85a17056e8249bd2932fd88"],
  ["iq3xxs", 4, 256, 4, 3, 2, "46e35f5a997efdee6c99ce57854c8a0d4f0ff8ca57e5e8a60c0793ea580acf5d"],
  ["iq3s", 5, 512, 4, 3, 3, "bd1af4945a1717c65610b0284e4628b9a1ba3b306fae3a06f6e5f597356e349f"],
];

for (const [name, g, n, nel, bits, nwant, want] of GRIDS) {
  test(`lattice ${name}: dequantization table = llama.cpp's, kmap and neighbour lists = ggml's construction`, () => {
    assert.is(e.iq_grid_size(g), n);
    assert.is(sha(u8(e.iq_grid_table(g, 0), n * nel)), want, "dequantization table");
    const qg = new Int8Array(u8(e.iq_grid_table(g, 1), n * nel).buffer);
    const ks = e.iq_kmap_size(g);
    const kmap = new Int32Array(u8(e.iq_grid_table(g, 2), ks * 4).buffer);
    const nbLen = e.iq_grid_table(g, 4);
    const nb = new Uint16Array(u8(e.iq_grid_table(g, 3), nbLen * 2).buffer);
    // lattice codes from the quantizer grid (odd levels 2L + 1), every point is in kmap at its index
    const codes = new Int32Array(n);
    for (let k = 0; k < n; k++) {
      let c = 0;
      for (let i = 0; i < nel; i++) { const v = qg[k * nel + i]; assert.ok(v % 2 === 1 && v >= 1, "odd level"); c |= ((v - 1) / 2) << (bits * i); }
      codes[k] = c;
      assert.is(kmap[c], k);
    }
    // neighbour lists: every code off the lattice, in code order, laid out back to back as ggml does
    // (n, then the indices); the expected list sorts (squared distance of the odd levels, index).
    const step = n >= 1024 ? 97 : n >= 512 && nel === 8 ? 23 : nel === 8 ? 11 : 1; // lists checked in full (all offsets are checked)
    let off = 0, checked = 0;
    const d2 = new Int32Array(n), order = Array.from({ length: n }, (_, j) => j);
    for (let i = 0; i < ks; i++) {
      if (kmap[i] >= 0) continue;
      assert.is(kmap[i], -(off + 1), `offset of code ${i}`);
      const cnt = nb[off];
      if ((i % step) === 0) {
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let k = 0; k < nel; k++) { const p = 2 * ((i >> (bits * k)) & ((1 << bits) - 1)) + 1; const q = qg[j * nel + k]; s += (q - p) * (q - p); }
          d2[j] = s;
        }
        order.sort((a, b) => d2[a] - d2[b] || a - b);
        const exp: number[] = [];
        let have = 1, dist = d2[order[0]];
        for (const j of order) { if (d2[j] > dist) { if (have === nwant) break; dist = d2[j]; have++; } exp.push(j); }
        assert.equal(Array.from(nb.subarray(off + 1, off + 1 + cnt)), exp, `neighbours of code ${i}`);
        checked++;
      }
      off += 1 + cnt;
    }
    assert.is(off, nbLen);
    assert.ok(checked > 100);
  });
}

// Wasm memory of a fresh instance after one grid build (its pages, once touched, are never returned):
// the neighbour table is allocated once at its exact size. Growing it by doubling left the outgrown
// copies behind (iq1 8.6 MiB, iq2_xs 5 MiB, iq2_xxs 2.5 MiB for tables of 3.0 / 1.2 / 1.0 MB; the
// +5 MiB peak RSS of the IQ1 files against llama.cpp's).
for (const [name, g, bound] of [["iq1s", 2, 3.5], ["iq2xs", 1, 1.5], ["iq2xxs", 0, 1.25]] as [string, number, number][]) {
  test(`lattice ${name}: a fresh instance's wasm memory after the build <= ${bound} MiB`, async () => {
    const fresh = (await init({ threads: 0 })).exports;
    fresh.iq_grid_for_kernel(g);
    const mib = fresh.memory.buffer.byteLength / 1048576;
    assert.ok(mib <= bound, `${mib} MiB`);
  });
}

/** Test matrix: rows x cols with zero, constant, tiny and huge 32-blocks mixed into gaussian data. */
function special(rows: number, cols: number, seed: number): Float32Array {
  const r = rng(seed, 3), x = randn(rows * cols, seed, 0.05);
  for (let b = 0; b < (rows * cols) / 32; b++) {
    const k = r.next() % 12, o = b * 32;
    if (k === 0) x.fill(0, o, o + 32);
    else if (k === 1) x.fill(b % 2 ? -0.25 : 0.125, o, o + 32);
    else if (k === 2) for (let j = 0; j < 32; j++) x[o + j] *= 1e-7;
    else if (k === 3) for (let j = 0; j < 32; j++) x[o + j] = (r.uniform() * 2 - 1) * 60000;
    else if (k === 4) x[o + (r.next() % 32)] = 0;
  }
  return x;
}
function imat(cols: number, seed: number, zeros: boolean): Float32Array {
  const r = rng(seed, 9), im = new Float32Array(cols);
  for (let j = 0; j < cols; j++) { const u = r.uniform(); im[j] = 0.02 + 4 * u * u * u; }
  if (zeros) for (let j = 0; j < cols; j++) if (r.next() % 5 === 0 || (j >= 64 && j < 96)) im[j] = 0;
  return im;
}

for (const type of TYPES) {
  test(`${type}: SIMD == _ref (quantize, dequantize) on 3 x 768 and 2 x 1280 with special blocks, with / without imatrix`, () => {
    for (const [rows, cols, seed] of [[3, 768, 1], [2, 1280, 2]]) {
      const x = special(rows, cols, seed);
      for (const im of [undefined, imat(cols, seed, false), imat(cols, seed, true)]) {
        if (!im && engine.typeInfo(type).requiresImatrix) continue;
        const a = engine.quantize(x, { type, rows, cols, imatrix: im });
        const b = engine.quantize(x, { type, rows, cols, imatrix: im, kernel: "ref" });
        assert.is(a.length, (rows * cols / 256) * BYTES[type]);
        assert.is(firstDiff(a, b), -1, `${type} ${rows}x${cols} im=${!!im}`);
        const da = engine.dequantize(a, { type, rows, cols }), db = engine.dequantize(a, { type, rows, cols, kernel: "ref" });
        assert.is(firstDiff(da, db), -1, "dequantize");
        for (let i = 0; i < da.length; i++) if (!Number.isFinite(da[i])) assert.unreachable(`non-finite at ${i}`);
        // rows are independent: quantizing row by row gives the same bytes
        const rb = (cols / 256) * BYTES[type];
        const r1 = engine.quantize(x.subarray(cols, 2 * cols), { type, rows: 1, cols, imatrix: im });
        assert.is(firstDiff(r1, a.subarray(rb, 2 * rb)), -1, "row 1 alone");
      }
    }
  });
}

test("4-lane neighbour scans (iq2, iq1: lists of many lengths, tail steps) and the iq1_s / iq1_m split searches (4 i2 per step, tails): SIMD == _ref on 48 rows at 6 scales", () => {
  const rows = 48, cols = 256, r = rng(77, 3);
  const x = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    const sc = [1e-3, 0.02, 0.3, 1, 7, 300][i % 6];
    for (let j = 0; j < cols; j++) x[i * cols + j] = sc * (r.uniform() * 2 - 1) * (j % 37 === 0 ? 6 : 1);
  }
  const im = imat(cols, 5, true);
  for (const type of ["iq1_s", "iq1_m", "iq2_xxs", "iq2_xs", "iq2_s"]) {
    const a = engine.quantize(x, { type, rows, cols, imatrix: im });
    const b = engine.quantize(x, { type, rows, cols, imatrix: im, kernel: "ref" });
    assert.is(firstDiff(a, b), -1, type);
  }
});

test("iq1 rank sort (SIMD) == the stable insertion sort (_ref): blocks of few distinct values (ties, -0 / +0), and NaN blocks at the kernel level", () => {
  const rows = 8, cols = 512, r = rng(91, 2);
  const x = new Float32Array(rows * cols);
  const vals = [-2, -1, -0, 0, 0.5, 1, 2];
  for (let i = 0; i < x.length; i++) x[i] = vals[r.next() % (i % 512 < 256 ? 3 : vals.length)] * [1e-3, 1, 40][i % 3];
  const im = imat(cols, 7, true);
  for (const type of ["iq1_s", "iq1_m"]) {
    const a = engine.quantize(x, { type, rows, cols, imatrix: im });
    const b = engine.quantize(x, { type, rows, cols, imatrix: im, kernel: "ref" });
    assert.is(firstDiff(a, b), -1, type);
  }
  for (const search of ["d3cf1f14", undefined] as const) {
    const a = engine.quantize(x, { type: "iq1_m", rows, cols, iq1mSearch: search });
    const b = engine.quantize(x, { type: "iq1_m", rows, cols, iq1mSearch: search, kernel: "ref" });
    assert.is(firstDiff(a, b), -1, `iq1_m ${search} no imatrix`);
  }
  // NaN in a block (the facade refuses NaN input; the kernels themselves fall back to the insertion sort)
  const y = x.slice(0, 2 * 256);
  y[5] = NaN; y[256 + 31] = NaN; y[256 + 40] = NaN;
  const px = e.ts_alloc(y.length * 4), pim = e.ts_alloc(256 * 4), pa = e.ts_alloc(2 * 56), pb = e.ts_alloc(2 * 56);
  new Float32Array(e.memory.buffer, px, y.length).set(y);
  new Float32Array(e.memory.buffer, pim, 256).set(im.subarray(0, 256));
  for (const [k, kr, nb] of [["quantize_iq1_s", "quantize_iq1_s_ref", 50], ["quantize_iq1_m", "quantize_iq1_m_ref", 56]] as [string, string, number][]) {
    e[k](pa, px, 2, 256, pim); e[kr](pb, px, 2, 256, pim);
    assert.is(firstDiff(u8(pa, 2 * nb), u8(pb, 2 * nb)), -1, `${k} NaN`);
  }
  for (const p of [px, pim, pa, pb]) e.ts_free(p);
});

test("iq1_m with iq1mSearch d3cf1f14 (the vector set's split search): SIMD == _ref on 2 x 1280 with special blocks, with / without imatrix", () => {
  const [rows, cols] = [2, 1280], x = special(rows, cols, 3);
  for (const im of [undefined, imat(cols, 3, false), imat(cols, 3, true)]) {
    const a = engine.quantize(x, { type: "iq1_m", rows, cols, imatrix: im, iq1mSearch: "d3cf1f14" });
    const b = engine.quantize(x, { type: "iq1_m", rows, cols, imatrix: im, iq1mSearch: "d3cf1f14", kernel: "ref" });
    assert.is(a.length, (rows * cols / 256) * 56);
    assert.is(firstDiff(a, b), -1, `im=${!!im}`);
  }
});

test("reconstruction quality on gaussian weights (SQNR dB, with imatrix): ordered by bits per weight", () => {
  const rows = 16, cols = 1024, r = rng(5, 4), im = imat(cols, 5, false);
  const x = new Float32Array(rows * cols).map(() => r.gauss() * 0.05);
  const db: Record<string, number> = {};
  for (const type of TYPES) {
    const q = engine.quantize(x, { type, rows, cols, imatrix: im });
    db[type] = engine.error(x, engine.dequantize(q, { type, rows, cols })).sqnrDb;
  }
  // 4.25 > 3.44 > 3.06 > 2.56 > 2.31 > 2.06 > 1.75 > 1.56 bits per weight
  const min: Record<string, number> = { iq4_xs: 17, iq3_s: 13, iq3_xxs: 11, iq2_s: 8, iq2_xs: 7, iq2_xxs: 5, iq1_m: 3, iq1_s: 2 };
  console.log("  SQNR dB:", Object.entries(db).map(([t, v]) => `${t} ${v.toFixed(2)}`).join(", "));
  for (const t of TYPES) assert.ok(db[t] > min[t], `${t}: ${db[t].toFixed(2)} dB`);
  assert.ok(db.iq4_xs > db.iq3_s && db.iq3_s > db.iq3_xxs && db.iq3_xxs > db.iq2_s && db.iq2_s > db.iq2_xxs && db.iq2_xxs > db.iq1_s, JSON.stringify(db));
});

test("typed errors: cols not a multiple of 256, NaN input, wrong byte count", () => {
  for (const type of TYPES) {
    const im = new Float32Array(128).fill(1);
    try { engine.quantize(new Float32Array(256), { type, rows: 2, cols: 128, imatrix: im }); assert.unreachable(); } catch (err) { assert.is((err as TensorshrinkError).code, "E_BLOCK"); }
    const x = randn(512, 3);
    x[300] = NaN;
    try { engine.quantize(x, { type, rows: 2, cols: 256, imatrix: new Float32Array(256).fill(1) }); assert.unreachable(); } catch (err) {
      assert.is((err as TensorshrinkError).code, "E_NONFINITE");
      assert.is((err as TensorshrinkError).details.row, 1);
      assert.is((err as TensorshrinkError).details.column, 44);
    }
    try { engine.dequantize(new Uint8Array(BYTES[type] + 1), { type, rows: 1, cols: 256 }); assert.unreachable(); } catch (err) { assert.is((err as TensorshrinkError).code, "E_SHAPE"); }
  }
});

test("async (2-worker pool, small chunks) and streaming forms give the same bytes as quantize", async () => {
  const pooled = await init({ threads: 2, chunkBytes: 8192 });
  try {
    assert.is(await pooled.poolSize(), 2);
    const rows = 12, cols = 512, x = special(rows, cols, 7), im = imat(cols, 7, true);
    for (const type of TYPES) {
      const want = engine.quantize(x, { type, rows, cols, imatrix: im });
      const a = await pooled.quantizeAsync(x, { type, rows, cols, imatrix: im });
      assert.is(firstDiff(a, want), -1, `${type} async`);
      const dq = await pooled.dequantizeAsync(want, { type, rows, cols });
      assert.is(firstDiff(dq, engine.dequantize(want, { type, rows, cols })), -1, `${type} dequantizeAsync`);
      const q = engine.createQuantizer({ type, cols, rows, imatrix: im });
      const parts: Uint8Array[] = [];
      for (let i = 0; i < x.length; i += 700) parts.push(q.push(x.subarray(i, Math.min(x.length, i + 700))));
      q.end();
      const s = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      let o = 0;
      for (const p of parts) { s.set(p, o); o += p.length; }
      assert.is(firstDiff(s, want), -1, `${type} stream`);
    }
  } finally {
    pooled.dispose();
  }
});

test.run();
