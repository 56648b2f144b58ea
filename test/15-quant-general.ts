// General-purpose quantizers (not GGUF): intN, NF4, FP8 e4m3/e5m2, OCP MXFP4, and the error_stats
// metric kernel. Known values, independent JS reference implementations, round-trip error bounds,
// SIMD == _ref bit for bit, chunked (streaming) == one-shot.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { init } from "../src/index";
import {
  quantizeIntN, dequantizeIntN, quantizeNF4, dequantizeNF4, NF4_LEVELS, quantizeFP8, dequantizeFP8,
  quantizeMXFP4, dequantizeMXFP4, type IntNTensor,
} from "../src/quant/general";
import { randn, rng, firstDiff } from "./_util";

const engine = await init();
const small = await init({ chunkBytes: 1024 }); // forces many chunks

const f = Math.fround;
const u32 = (x: Float32Array) => Array.from(new Uint32Array(x.buffer, x.byteOffset, x.length));
const rne = (v: number) => { let r = Math.round(v); if (r - v === 0.5 && r % 2 !== 0) r -= 1; return r; };

function expectCode(name: string, fn: () => unknown, code: string) {
  try {
    fn();
  } catch (e: any) {
    assert.is(e.code, code, `${name}: ${e.message}`);
    return;
  }
  assert.unreachable(`${name}: expected ${code}`);
}

// ------------------------------------------------------------------ FP8

const FP8 = [
  ["e4m3", (c: number) => { const s = c & 0x80 ? -1 : 1, E = (c >> 3) & 15, m = c & 7; if ((c & 0x7f) === 0x7f) return NaN; return s * (E === 0 ? m * 2 ** -9 : (1 + m / 8) * 2 ** (E - 7)); }, 0x7e],
  ["e5m2", (c: number) => { const s = c & 0x80 ? -1 : 1, E = (c >> 2) & 31, m = c & 3; if (E === 31) return m ? NaN : s * Infinity; return s * (E === 0 ? m * 2 ** -16 : (1 + m / 4) * 2 ** (E - 15)); }, 0x7b],
] as const;

test("fp8 known values: saturation, RNE, subnormals, specials", () => {
  const q = (fmt: "e4m3" | "e5m2", xs: number[]) => Array.from(quantizeFP8(engine, Float32Array.from(xs), { format: fmt }).codes);
  assert.equal(q("e4m3", [448, 449, 464, 1e6, -449, Infinity, -Infinity, NaN, 0.1, -0, 0, 1, -2]),
    [0x7e, 0x7e, 0x7e, 0x7e, 0xfe, 0x7e, 0xfe, 0x7f, 0x1d, 0x80, 0x00, 0x38, 0xc0]);
  // subnormals m * 2^-9: 2^-9 -> 1; 2^-10 tie -> 0 (even); 3 * 2^-10 tie -> 2; 15 * 2^-10 tie -> 8 = 2^-6
  assert.equal(q("e4m3", [2 ** -9, 2 ** -10, 3 * 2 ** -10, 15 * 2 ** -10, 2 ** -6]), [0x01, 0x00, 0x02, 0x08, 0x08]);
  // 1 + 1/16 is halfway between 1 (0x38) and 1.125 (0x39): even -> 0x38; 1 + 3/16 -> 0x3a
  assert.equal(q("e4m3", [1 + 1 / 16, 1 + 3 / 16]), [0x38, 0x3a]);
  assert.equal(q("e5m2", [57344, 60000, 61440, 1e30, Infinity, -Infinity, NaN, 0.1, 2 ** -16, 2 ** -17, -0]),
    [0x7b, 0x7b, 0x7b, 0x7b, 0x7c, 0xfc, 0x7e, 0x2e, 0x01, 0x00, 0x80]);
  const d4 = dequantizeFP8(engine, { codes: Uint8Array.from([0x7e, 0xfe, 0x1d, 0x01, 0x7f, 0x80]), format: "e4m3", scale: 1 });
  assert.equal(Array.from(d4.subarray(0, 4)), [448, -448, 0.1015625, 2 ** -9]);
  assert.ok(Number.isNaN(d4[4]));
  assert.ok(Object.is(d4[5], -0));
  const d5 = dequantizeFP8(engine, { codes: Uint8Array.from([0x7b, 0x7c, 0xfc, 0x7e, 0x01]), format: "e5m2", scale: 1 });
  assert.equal(Array.from(d5.subarray(0, 3)), [57344, Infinity, -Infinity]);
  assert.ok(Number.isNaN(d5[3]));
  assert.is(d5[4], 2 ** -16);
});

test("fp8: every code decodes as the format says and re-encodes to itself; brute-force RNE encoder", () => {
  for (const [fmt, dec, maxc] of FP8) {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    for (const kernel of ["simd", "ref"] as const) {
      const d = dequantizeFP8(engine, { codes: all, format: fmt, scale: 1 }, { kernel });
      for (let c = 0; c < 256; c++) {
        const w = dec(c);
        if (Number.isNaN(w)) assert.is(new Uint32Array(d.buffer)[c], (c & 0x80 ? 0xffc00000 : 0x7fc00000) >>> 0, `${fmt} NaN ${c}`);
        else assert.ok(Object.is(d[c], f(w)), `${fmt} code ${c}: ${d[c]} vs ${w}`);
      }
      const finite = Float32Array.from([...d].filter((v) => Number.isFinite(v)));
      const back = quantizeFP8(engine, finite, { format: fmt, kernel }).codes;
      const again = dequantizeFP8(engine, { codes: back, format: fmt, scale: 1 }, { kernel });
      assert.equal(u32(again), u32(finite), `${fmt} round trip`);
    }
    // brute force: nearest representable value, ties to the even code, saturating
    const r = rng(5, 1);
    const xs: number[] = [];
    for (let c = 0; c < maxc; c++) { const a = dec(c), b = dec(c + 1); xs.push((a + b) / 2, f(((a + b) / 2) * (1 + 1e-6)), f(((a + b) / 2) * (1 - 1e-6))); }
    for (let i = 0; i < 3000; i++) xs.push((r.uniform() - 0.5) * 2 ** (r.uniform() * 44 - 24));
    const x = Float32Array.from(xs.flatMap((v) => [v, -v]));
    const got = quantizeFP8(engine, x, { format: fmt }).codes, gref = quantizeFP8(engine, x, { format: fmt, kernel: "ref" }).codes;
    assert.is(firstDiff(got, gref), -1, `${fmt} simd == ref`);
    for (let i = 0; i < x.length; i++) {
      const a = Math.abs(x[i]);
      let best = 0, be = Infinity;
      for (let c = 0; c <= maxc; c++) { const e = Math.abs(dec(c) - a); if (e < be || (e === be && (c & 1) === 0)) { best = c; be = e; } }
      if (a >= dec(maxc)) best = maxc;
      const want = (x[i] < 0 || Object.is(x[i], -0) ? 0x80 : 0) | best;
      if (got[i] !== want) assert.is(got[i], want, `${fmt} x=${x[i]}`);
    }
  }
});

test("fp8 scaled: 'auto' maps max|x| to the format maximum; SIMD == ref with tails; chunked == one-shot", () => {
  for (const n of [1, 3, 15, 16, 17, 33, 1000, 4099]) {
    const x = randn(n, n, 3);
    for (const format of ["e4m3", "e5m2"] as const) {
      const a = quantizeFP8(engine, x, { format, scale: "auto" });
      const b = quantizeFP8(engine, x, { format, scale: "auto", kernel: "ref" });
      const c = quantizeFP8(small, x, { format, scale: "auto" });
      assert.is(firstDiff(a.codes, b.codes), -1);
      assert.is(firstDiff(a.codes, c.codes), -1);
      assert.is(a.scale, b.scale);
      let amax = 0;
      for (const v of x) amax = Math.max(amax, Math.abs(v));
      assert.is(a.scale, f(amax / (format === "e4m3" ? 448 : 57344)));
      const y = dequantizeFP8(engine, a), y2 = dequantizeFP8(engine, a, { kernel: "ref" });
      assert.is(firstDiff(y, y2), -1);
      const e = engine.error(x, y);
      assert.ok(e.maxAbs <= amax * (format === "e4m3" ? 1 / 16 : 1 / 8) * 1.0001, `${format} ${n} maxAbs ${e.maxAbs}`);
    }
  }
  expectCode("scale 0", () => quantizeFP8(engine, new Float32Array(4), { scale: 0 }), "E_RANGE");
  expectCode("bad format", () => quantizeFP8(engine, new Float32Array(4), { format: "e3m4" as any }), "E_RANGE");
});

// ------------------------------------------------------------------ NF4

test("nf4: the 16 QLoRA levels are exact; codes are the bitsandbytes decision tree", () => {
  const codes = Uint8Array.from({ length: 8 }, (_, i) => (2 * i) | ((2 * i + 1) << 4));
  const lv = dequantizeNF4(engine, { codes, absmax: Float32Array.of(1), length: 16, blockSize: 16 });
  assert.equal(u32(lv), u32(Float32Array.from(NF4_LEVELS)));
  assert.equal(u32(dequantizeNF4(engine, { codes, absmax: Float32Array.of(1), length: 16, blockSize: 16 }, { kernel: "ref" })), u32(lv));
  // quantizing the levels themselves (absmax 1) gives codes 0..15, low nibble first
  const q = quantizeNF4(engine, Float32Array.from(NF4_LEVELS), { blockSize: 16 });
  assert.equal(Array.from(q.codes), Array.from(codes));
  assert.equal(Array.from(q.absmax), [1]);
  // a value exactly on a midpoint goes to the lower level (bitsandbytes uses x > threshold)
  const mid = Float32Array.from([1, f(0.03979014977812767), f(0.8614784181118011), f(-0.8480964004993439), -0.0001, 0.0001]);
  const qm = quantizeNF4(engine, mid, { blockSize: 6 });
  assert.equal(Array.from(qm.codes), [15 | (7 << 4), 14 | (0 << 4), 7 | (7 << 4)]);
  // all-zero block: absmax 0 and the zero level (code 7)
  const z = quantizeNF4(engine, new Float32Array(5), { blockSize: 4 });
  assert.equal(Array.from(z.codes), [0x77, 0x77, 0x07]);
  assert.equal(Array.from(z.absmax), [0, 0]);
});

test("nf4: SIMD == ref (odd lengths, block sizes 2..256), chunked == one-shot, error bound", () => {
  for (const n of [1, 2, 3, 31, 32, 33, 64, 65, 129, 1000, 4097]) {
    for (const blockSize of [2, 6, 32, 64, 100, 256]) {
      const x = randn(n, n + blockSize);
      const a = quantizeNF4(engine, x, { blockSize }), b = quantizeNF4(engine, x, { blockSize, kernel: "ref" });
      const c = quantizeNF4(small, x, { blockSize });
      assert.is(firstDiff(a.codes, b.codes), -1, `codes ${n} ${blockSize}`);
      assert.is(firstDiff(a.absmax, b.absmax), -1);
      assert.is(firstDiff(a.codes, c.codes), -1, `chunked ${n} ${blockSize}`);
      assert.is(firstDiff(a.absmax, c.absmax), -1);
      const y = dequantizeNF4(engine, a), y2 = dequantizeNF4(engine, a, { kernel: "ref" }), y3 = dequantizeNF4(small, a);
      assert.is(firstDiff(y, y2), -1, `deq ${n} ${blockSize}`);
      assert.is(firstDiff(y, y3), -1);
      // each value is within half of the widest level gap (0.3038 * absmax) of its block's absmax
      for (let i = 0; i < n; i++) {
        const m = a.absmax[Math.floor(i / blockSize)];
        assert.ok(Math.abs(y[i] - x[i]) <= 0.1520 * m + 1e-12, `nf4 err ${n} ${blockSize} ${i}`);
      }
    }
  }
  const r = rng(77, 3);
  const g = Float32Array.from({ length: 64 * 1024 }, () => r.gauss()); // pure gaussian, no outliers
  const e = engine.error(g, dequantizeNF4(engine, quantizeNF4(engine, g)));
  assert.ok(e.sqnrDb > 19, `nf4 sqnr ${e.sqnrDb}`); // ~20 dB expected at 4.5 bits/weight
  expectCode("odd block", () => quantizeNF4(engine, new Float32Array(8), { blockSize: 3 }), "E_RANGE");
  expectCode("NaN", () => quantizeNF4(engine, Float32Array.of(0, NaN)), "E_NONFINITE");
});

// ------------------------------------------------------------------ intN

/** Independent JS reference of the documented intN layout (float32 via Math.fround). */
function refIntN(x: Float32Array, rows: number, cols: number, bits: number, group: number, symmetric: boolean) {
  const G = group || cols, gpr = cols / G, rowBytes = Math.ceil((cols * bits) / 8);
  const codes = new Uint8Array(rows * rowBytes), ng = group ? rows * gpr : 1;
  const scales = new Float32Array(ng), zeros = new Uint8Array(ng);
  const params = (vals: ArrayLike<number>, k: number) => {
    let mn = Infinity, mx = -Infinity;
    for (let i = 0; i < vals.length; i++) { mn = Math.min(mn, vals[i]); mx = Math.max(mx, vals[i]); }
    if (symmetric) scales[k] = f(Math.max(Math.abs(mn), Math.abs(mx)) / (2 ** (bits - 1) - 1));
    else {
      const maxq = 2 ** bits - 1, lo = Math.min(mn, 0), hi = Math.max(mx, 0);
      const d = f(f(hi - lo) / maxq), id = d ? f(1 / d) : 0;
      scales[k] = d; zeros[k] = Math.min(Math.max(rne(f(-lo * id)), 0), maxq);
    }
  };
  if (!group) params(x, 0);
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < gpr; g++) {
      const k = group ? r * gpr + g : 0;
      if (group) params(x.subarray(r * cols + g * G, r * cols + g * G + G), k);
      const d = scales[k], id = d ? f(1 / d) : 0;
      for (let i = 0; i < G; i++) {
        const e = g * G + i, v = f(x[r * cols + e] * id);
        let c: number;
        if (symmetric) { const qm = 2 ** (bits - 1) - 1; c = Math.min(Math.max(rne(v), -qm), qm) + 2 ** (bits - 1); }
        else c = Math.min(Math.max(rne(v) + zeros[k], 0), 2 ** bits - 1);
        for (let b = 0; b < bits; b++) if ((c >> b) & 1) { const bit = e * bits + b; codes[r * rowBytes + (bit >> 3)] |= 1 << (bit & 7); }
      }
    }
  }
  return { codes, scales, zeros };
}

test("intN: hand-checked codes and packing (LSB first, rows padded to a byte)", () => {
  const q4 = quantizeIntN(engine, Float32Array.of(7, -7, 3.5, 0), { rows: 1, cols: 4, bits: 4 });
  assert.equal(Array.from(q4.codes), [0x1f, 0x8c]); // q = 7, -7, 4 (3.5 -> even), 0; +8
  assert.equal(Array.from(q4.scales), [1]);
  assert.is(q4.zeros, null);
  const q3 = quantizeIntN(engine, Float32Array.of(0, 1, 2, 3, 4, 5, 6, 7), { rows: 1, cols: 8, bits: 3, symmetric: false });
  assert.equal(Array.from(q3.codes), [0x88, 0xc6, 0xfa]); // codes 0..7 as a 24-bit little-endian stream
  assert.equal(Array.from(q3.zeros!), [0]);
  const q2 = quantizeIntN(engine, Float32Array.of(1, -1, 0, 0.4, 0.6, -1, 1, 0, 0, 0), { rows: 2, cols: 5, bits: 2 });
  assert.equal(Array.from(q2.codes), [0xa7, 0x03, 0xad, 0x02]); // row 1: 3,1,2,2,3 ; row 2: 1,3,2,2,2
  const q8 = quantizeIntN(engine, Float32Array.of(127, 0.5, 1.5, 2.5, -0.5, -127), { rows: 1, cols: 6, bits: 8 });
  assert.equal(Array.from(q8.codes), [255, 128, 130, 130, 128, 1]); // ties to even
  // asymmetric: 0 is exact, zero point clamps into range
  const qa = quantizeIntN(engine, Float32Array.of(-1, 0, 2, 5), { rows: 1, cols: 4, bits: 4, symmetric: false });
  assert.is(qa.scales[0], f(6 / 15));
  assert.equal(Array.from(qa.zeros!), [rne(f(1 * f(1 / f(6 / 15))))]);
  assert.is(dequantizeIntN(engine, qa)[1], 0);
});

test("intN: matches the JS reference; SIMD == ref; error <= d/2; per tensor / row / group, N = 2..8", () => {
  const shapes: [number, number][] = [[1, 16], [3, 17], [2, 64], [4, 100], [3, 256], [1, 1000]];
  for (const bits of [2, 3, 4, 5, 6, 7, 8]) {
    for (const [rows, cols] of shapes) {
      const x = randn(rows * cols, bits * 1000 + cols, 0.5);
      for (const group of [0, cols, 1, 4, 8, 16, 32, 50, 64, 128]) {
        if (group > 0 && cols % group) continue;
        for (const symmetric of [true, false]) {
          const o = { rows, cols, bits, group: group === 0 ? ("tensor" as const) : group, symmetric };
          const a = quantizeIntN(engine, x, o), b = quantizeIntN(engine, x, { ...o, kernel: "ref" });
          const want = refIntN(x, rows, cols, bits, group, symmetric);
          const tag = `int${bits} ${rows}x${cols} g${group} ${symmetric ? "sym" : "asym"}`;
          assert.is(firstDiff(a.codes, want.codes), -1, `codes vs JS ${tag}`);
          assert.is(firstDiff(a.scales, want.scales), -1, `scales vs JS ${tag}`);
          if (!symmetric) assert.is(firstDiff(a.zeros!, want.zeros.subarray(0, a.zeros!.length)), -1, `zeros ${tag}`);
          assert.is(firstDiff(a.codes, b.codes), -1, `simd/ref ${tag}`);
          const y = dequantizeIntN(engine, a), y2 = dequantizeIntN(engine, a, { kernel: "ref" });
          assert.is(firstDiff(y, y2), -1, `deq ${tag}`);
          const G = group || cols;
          for (let i = 0; i < x.length; i++) {
            const k = group ? Math.floor(i / cols) * (cols / G) + Math.floor((i % cols) / G) : 0;
            if (Math.abs(y[i] - x[i]) > a.scales[k] * 0.50001 + 1e-30) assert.unreachable(`${tag} err at ${i}: ${x[i]} -> ${y[i]} (d ${a.scales[k]})`);
          }
        }
      }
    }
  }
});

test("intN: chunked per-tensor / per-row == one-shot; special inputs; validation", () => {
  const x = randn(37 * 64, 9, 2);
  for (const group of ["tensor", "row", 16] as const) {
    for (const symmetric of [true, false]) {
      const o = { rows: 37, cols: 64, bits: 5, group, symmetric };
      const a = quantizeIntN(engine, x, o), c = quantizeIntN(small, x, o);
      assert.is(firstDiff(a.codes, c.codes), -1, `${group} ${symmetric}`);
      assert.is(firstDiff(a.scales, c.scales), -1);
      assert.is(firstDiff(dequantizeIntN(engine, a), dequantizeIntN(small, c)), -1);
    }
  }
  for (const [name, v] of [["zeros", new Float32Array(96)], ["const", new Float32Array(96).fill(-0.3)], ["tiny", randn(96, 3, 1e-30)], ["huge", randn(96, 4, 1e4)]] as const) {
    for (const bits of [2, 4, 7]) {
      for (const symmetric of [true, false]) {
        const o = { rows: 3, cols: 32, bits, group: 8, symmetric };
        const a = quantizeIntN(engine, v, o), b = quantizeIntN(engine, v, { ...o, kernel: "ref" });
        assert.is(firstDiff(a.codes, b.codes), -1, `${name} ${bits} ${symmetric}`);
        const y = dequantizeIntN(engine, a);
        if (name === "zeros") assert.ok(y.every((t) => t === 0));
        if (name === "const" && !symmetric) assert.ok(y.every((t) => Math.abs(t + 0.3) <= 0.3 / (2 ** bits - 1) * 0.5001));
      }
    }
  }
  expectCode("bits 9", () => quantizeIntN(engine, new Float32Array(8), { rows: 1, cols: 8, bits: 9 }), "E_RANGE");
  expectCode("bits 1", () => quantizeIntN(engine, new Float32Array(8), { rows: 1, cols: 8, bits: 1 }), "E_RANGE");
  expectCode("group", () => quantizeIntN(engine, new Float32Array(8), { rows: 1, cols: 8, bits: 4, group: 3 }), "E_BLOCK");
  expectCode("shape", () => quantizeIntN(engine, new Float32Array(8), { rows: 3, cols: 4, bits: 4 }), "E_SHAPE");
  expectCode("inf", () => quantizeIntN(engine, Float32Array.of(1, Infinity), { rows: 1, cols: 2, bits: 4 }), "E_NONFINITE");
  expectCode("type", () => quantizeIntN(engine, [1, 2] as any, { rows: 1, cols: 2, bits: 4 }), "E_ARG_TYPE");
  const bad: IntNTensor = { ...quantizeIntN(engine, new Float32Array(8), { rows: 1, cols: 8, bits: 4 }), codes: new Uint8Array(3) };
  expectCode("deq shape", () => dequantizeIntN(engine, bad), "E_SHAPE");
});

// ------------------------------------------------------------------ MXFP4 (OCP)

test("mxfp4 (OCP): exact shared exponent, E2M1 ties to even, saturation, layout", () => {
  const x = new Float32Array(64);
  x.set([6, 3, 1.5, -0.75, 0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5, 5.5, -6, 0, -0.1, 0.5]);
  x[32] = f(8 * (1 - 2 ** -24)); x[33] = 7.9; x[34] = -0.24; x[35] = 4.5;
  const q = quantizeMXFP4(engine, x);
  // block 0: amax 6 -> floor(log2 6) - 2 = 0 -> E8M0 127, X = 1
  // block 1: amax just below 8 -> exact floor(log2) = 2 -> 127 too (ggml's mxfp4 would give 128)
  assert.equal(Array.from(q.scales), [127, 127]);
  const codes = [7, 5, 3, 8 | 2, 0, 2, 2, 4, 4, 6, 6, 7, 8 | 7, 0, 8 | 0, 1];
  for (let i = 0; i < 8; i++) assert.is(q.codes[i], codes[2 * i] | (codes[2 * i + 1] << 4), `byte ${i}`);
  // 8(1-2^-24) and 7.9 saturate to 6; -0.24 -> -0; 4.5 -> 4 (code 6)
  assert.equal(Array.from(q.codes.subarray(16, 18)), [7 | (7 << 4), 8 | (6 << 4)]);
  const y = dequantizeMXFP4(engine, q);
  assert.equal(Array.from(y.subarray(0, 14)), [6, 3, 1.5, -1, 0, 1, 1, 2, 2, 4, 4, 6, -6, 0]);
  assert.ok(Object.is(y[14], -0));
  // amax 8 -> 128 (X = 2); zero block -> 0; tiny amax clamps at 2^-127
  const z = new Float32Array(96);
  z[0] = 8; z[64] = 1e-40;
  assert.equal(Array.from(quantizeMXFP4(engine, z).scales), [128, 0, 0]);
  assert.equal(Array.from(dequantizeMXFP4(engine, { codes: Uint8Array.of(0x1f, ...new Array(15).fill(0)), scales: Uint8Array.of(255), length: 32 }).subarray(0, 1)).map(Number.isNaN), [true]);
  expectCode("length", () => quantizeMXFP4(engine, new Float32Array(33)), "E_BLOCK");
});

test("mxfp4 (OCP): SIMD == ref, chunked == one-shot, error bound", () => {
  for (const n of [32, 64, 96, 320, 4096, 32 * 101]) {
    for (const [name, x] of [["gauss", randn(n, n)], ["huge", randn(n, n + 1, 1e30)], ["tiny", randn(n, n + 2, 1e-38)], ["zeros", new Float32Array(n)]] as const) {
      const a = quantizeMXFP4(engine, x), b = quantizeMXFP4(engine, x, { kernel: "ref" }), c = quantizeMXFP4(small, x);
      assert.is(firstDiff(a.codes, b.codes), -1, `${name} ${n}`);
      assert.is(firstDiff(a.scales, b.scales), -1);
      assert.is(firstDiff(a.codes, c.codes), -1);
      const y = dequantizeMXFP4(engine, a), y2 = dequantizeMXFP4(engine, a, { kernel: "ref" });
      assert.is(firstDiff(y, y2), -1, `deq ${name} ${n}`);
      if (name === "gauss") {
        for (let i = 0; i < n; i++) {
          const X = 2 ** (a.scales[i >> 5] - 127);
          // step at most 2X inside [4X, 6X]; values above 6X saturate (at most 2X away as amax < 8X)
          assert.ok(Math.abs(y[i] - x[i]) <= 2 * X, `${i}`);
        }
      }
    }
  }
});

// ------------------------------------------------------------------ error_sums (pipeline SQNR)

test("error_sums: ref is sequential f64; SIMD within summation-order tolerance; equals error_stats' se, sa", () => {
  const e = engine.exports;
  for (const n of [0, 1, 3, 4, 5, 7, 1001, 65537]) {
    const a = randn(n, 1, 2), b = Float32Array.from(a, (v, i) => v * (1 + ((i % 5) - 2) * 1e-2) + ((i % 3) - 1) * 1e-4);
    const pa = engine.alloc(n * 4 + 16), pb = engine.alloc(n * 4 + 16), po = engine.alloc(16), pr = engine.alloc(16), pst = engine.alloc(48);
    try {
      new Float32Array(e.memory.buffer, pa, n).set(a);
      new Float32Array(e.memory.buffer, pb, n).set(b);
      e.error_sums(po, pa, pb, n);
      e.error_sums_ref(pr, pa, pb, n);
      e.error_stats(pst, pa, pb, n);
      const s = Array.from(new Float64Array(e.memory.buffer, po, 2)), r = Array.from(new Float64Array(e.memory.buffer, pr, 2));
      const st = Array.from(new Float64Array(e.memory.buffer, pst, 2));
      let se = 0, sa = 0;
      for (let i = 0; i < n; i++) { const d = a[i] - b[i]; se += d * d; sa += a[i] * a[i]; }
      assert.equal(r, [se, sa], `ref is sequential f64 (n=${n})`);
      if (n > 0) assert.ok(se > 0 && sa > 0);
      for (const k of [0, 1]) {
        assert.ok(Math.abs(s[k] - r[k]) <= 1e-12 * Math.abs(r[k]) + 1e-300, `sum ${k} n=${n}: ${s[k]} vs ${r[k]}`);
        assert.ok(Math.abs(st[k] - r[k]) <= 1e-12 * Math.abs(r[k]) + 1e-300, `error_stats sum ${k} n=${n}`);
      }
    } finally {
      engine.free(pa); engine.free(pb); engine.free(po); engine.free(pr); engine.free(pst);
    }
  }
});

// ------------------------------------------------------------------ error_stats

test("error_stats: SIMD vs ref within summation-order tolerance; engine.error vs f64 JS", () => {
  const e = engine.exports;
  for (const n of [0, 1, 3, 4, 5, 1001, 65537]) {
    const a = randn(n, 1, 1), b = Float32Array.from(a, (v, i) => v + ((i % 7) - 3) * 1e-3);
    const pa = engine.alloc(n * 4 + 16), pb = engine.alloc(n * 4 + 16), po = engine.alloc(48), pr = engine.alloc(48);
    try {
      new Float32Array(e.memory.buffer, pa, n).set(a);
      new Float32Array(e.memory.buffer, pb, n).set(b);
      e.error_stats(po, pa, pb, n);
      e.error_stats_ref(pr, pa, pb, n);
      const s = Array.from(new Float64Array(e.memory.buffer, po, 6)), r = Array.from(new Float64Array(e.memory.buffer, pr, 6));
      let se = 0, sa = 0, mx = 0, dot = 0, sb = 0;
      for (let i = 0; i < n; i++) { const d = a[i] - b[i]; se += d * d; sa += a[i] * a[i]; mx = Math.max(mx, Math.abs(d)); dot += a[i] * b[i]; sb += b[i] * b[i]; }
      assert.equal(r, [se, sa, mx, dot, sa, sb], `ref is sequential f64 (n=${n})`);
      assert.is(s[2], r[2], "max abs identical");
      for (const k of [0, 1, 3, 4, 5]) assert.ok(Math.abs(s[k] - r[k]) <= 1e-12 * Math.abs(r[k]) + 1e-300, `sum ${k} n=${n}: ${s[k]} vs ${r[k]}`);
    } finally {
      engine.free(pa); engine.free(pb); engine.free(po); engine.free(pr);
    }
  }
  const a = randn(10000, 3, 1), b = Float32Array.from(a, (v) => v * 0.99);
  const st = engine.error(a, b);
  let se = 0, sa = 0, sb = 0, dot = 0;
  for (let i = 0; i < a.length; i++) { se += (a[i] - b[i]) ** 2; sa += a[i] ** 2; sb += b[i] ** 2; dot += a[i] * b[i]; }
  assert.ok(Math.abs(st.mse - se / a.length) <= 1e-12 * st.mse);
  assert.ok(Math.abs(st.sqnrDb - 10 * Math.log10(sa / se)) < 1e-9);
  assert.ok(Math.abs(st.cosine - dot / Math.sqrt(sa * sb)) < 1e-12);
  assert.equal(engine.error(a, a).sqnrDb, Infinity);
});

test("no memory is leaked by the general quantizers", () => {
  const before = engine.liveAllocations;
  const x = randn(4096, 5);
  for (let i = 0; i < 50; i++) {
    dequantizeIntN(engine, quantizeIntN(engine, x, { rows: 64, cols: 64, bits: 3, group: 32, symmetric: false }));
    dequantizeNF4(engine, quantizeNF4(engine, x));
    dequantizeFP8(engine, quantizeFP8(engine, x, { scale: "auto" }));
    dequantizeMXFP4(engine, quantizeMXFP4(engine, x));
  }
  try { quantizeIntN(engine, Float32Array.of(NaN, 1), { rows: 1, cols: 2, bits: 4 }); } catch { /* expected */ }
  assert.is(engine.liveAllocations, before);
});

test.run();
