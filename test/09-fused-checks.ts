// Issue 15: the NaN/Inf check fused into the first pass of the 32-block quantizers (q8_0, q4_0, q4_1,
// q5_0, q5_1) and f16 / bf16 (assembly/quant/finite_flag.ts). The kernels' flag (SIMD and _ref twins)
// fires for a NaN/Inf at the first, a middle, the last and a tail-block position, with and without an
// importance matrix, never for ordinary finite input; the facade then names the same row and column as
// the separate find_nonfinite scan (the first non-finite value in row-major order) on every path
// (sync, WasmTensor in/out, async pool, pipeline unit), and a false alarm (f32 sums overflowing) gives
// the normal bytes, no error.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { init, isTensorshrinkError } from "../src/index";
import { randn } from "./_util";

const engine = await init({ threads: 2 });
const ex = engine.exports;
const TYPES = ["q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "f16", "bf16"];
const IM_TYPES = new Set(["q4_0", "q4_1", "q5_0", "q5_1"]);
const BAD = [NaN, Infinity, -Infinity];
const errOf = async (f: () => unknown): Promise<any> => { try { await f(); } catch (e) { return e; } return null; };

/** Runs quantize_<type>[_ref] on x (rows x cols) in wasm memory and returns the kernel's flag. */
function kernelFlag(type: string, ref: boolean, x: Float32Array, rows: number, cols: number, im: Float32Array | null): number {
  const t = engine.typeInfo(type);
  const px = engine.alloc(x.length * 4), py = engine.alloc((rows * cols / t.blockSize) * t.bytesPerBlock + 16), pim = im ? engine.alloc(cols * 4) : 0;
  try {
    new Float32Array(ex.memory.buffer, px, x.length).set(x);
    if (im) new Float32Array(ex.memory.buffer, pim, cols).set(im);
    ex.quant_nonfinite_take();
    ex[`quantize_${type}${ref ? "_ref" : ""}`](py, px, rows, cols, pim);
    return ex.quant_nonfinite_take();
  } finally {
    engine.free(px); engine.free(py); if (pim) engine.free(pim);
  }
}

// cols: 9 blocks (two 4-block SIMD steps + a tail block), 5 blocks; f16/bf16 also 37 (8-wide SIMD + scalar tail)
const shapes = (type: string) => (type === "f16" || type === "bf16" ? [[3, 288], [2, 37], [1, 160]] : [[3, 288], [2, 160], [1, 32]]);
const positions = (rows: number, cols: number) => {
  const n = rows * cols;
  return [0, Math.floor(n / 2) + 3, n - 1, (rows - 1) * cols + cols - 5 /* last (tail) block of the last row */, cols + 1].filter((p) => p < n);
};

test("kernel flag: fires for NaN/Inf at first/middle/last/tail positions (SIMD and _ref, with and without imatrix), silent on finite input", () => {
  let checked = 0;
  for (const type of TYPES) {
    for (const [rows, cols] of shapes(type)) {
      const ims: (Float32Array | null)[] = IM_TYPES.has(type) ? [null, Float32Array.from({ length: cols }, (_, i) => 0.5 + (i % 7))] : [null];
      for (const im of ims) {
        const base = randn(rows * cols, rows * 31 + cols);
        for (const ref of [false, true]) {
          assert.is(kernelFlag(type, ref, base, rows, cols, im), 0, `${type} ${ref ? "ref" : "simd"} ${rows}x${cols} finite${im ? " imatrix" : ""}`);
          for (const p of positions(rows, cols)) {
            for (const bad of BAD) {
              const x = base.slice();
              x[p] = bad;
              assert.is(kernelFlag(type, ref, x, rows, cols, im), 1, `${type} ${ref ? "ref" : "simd"} ${rows}x${cols} ${bad} at ${p}${im ? " imatrix" : ""}`);
              checked++;
            }
          }
        }
      }
    }
  }
  assert.ok(checked > 300);
});

test("engine.quantize names the first non-finite value's row and column, as the separate scan did (every type, simd/ref, imatrix, WasmTensor in and out)", async () => {
  for (const type of TYPES) {
    const [rows, cols] = shapes(type)[0];
    for (const p of positions(rows, cols)) {
      for (const bad of BAD) {
        const x = randn(rows * cols, p + 7);
        x[p] = bad;
        if (p + 40 < x.length) x[p + 40] = NaN; // a second one after it: the first is named
        const want = { row: Math.floor(p / cols), column: p % cols };
        for (const kernel of ["simd", "ref"] as const) {
          for (const im of IM_TYPES.has(type) ? [null, new Float32Array(cols).fill(1.5)] : [null]) {
            const e = await errOf(() => engine.quantize(x, { type, rows, cols, kernel, imatrix: im, name: "w" }));
            assert.ok(isTensorshrinkError(e) && e.code === "E_NONFINITE", `${type} ${kernel} ${bad} at ${p}: ${e}`);
            assert.equal({ row: e.details.row, column: e.details.column }, want, `${type} ${kernel} ${bad} at ${p}`);
            assert.ok(Object.is(e.details.value, bad), `${type} value`);
            assert.match(e.message, /"w"/);
          }
        }
        // zero-copy: input and output in wasm memory (one kernel call)
        await engine.scope(async (s) => {
          const xt = s.tensor(x), ot = s.tensor(Math.ceil(x.length * 4 / 4));
          const e = await errOf(() => engine.quantize(xt, { type, rows, cols, out: ot }));
          assert.ok(isTensorshrinkError(e) && e.code === "E_NONFINITE", `${type} zero-copy`);
          assert.equal({ row: e.details.row, column: e.details.column }, want, `${type} zero-copy ${bad} at ${p}`);
        });
        // pool worker (quantizeAsync) and pipeline unit (with and without the pool, stats on)
        const ea = await errOf(() => engine.quantizeAsync(x, { type, rows, cols }));
        assert.ok(isTensorshrinkError(ea) && ea.code === "E_NONFINITE", `${type} async`);
        assert.equal({ row: ea.details.row, column: ea.details.column }, want, `${type} async ${bad} at ${p}`);
        for (const pool of [false, true]) {
          const eu = await errOf(() => engine.quantizeUnit(x.slice(), { type, rows, cols }, { stats: true, pool }));
          assert.ok(isTensorshrinkError(eu) && eu.code === "E_NONFINITE", `${type} unit pool=${pool}`);
          assert.equal({ row: eu.details.row, column: eu.details.column }, want, `${type} unit pool=${pool} ${bad} at ${p}`);
        }
      }
    }
  }
});

test("a false alarm (finite values whose f32 sums overflow) quantizes normally: same bytes as the _ref kernel, no error", async () => {
  for (const type of ["q4_0", "q4_1", "q5_0", "q5_1"]) {
    const rows = 2, cols = 160;
    const x = randn(rows * cols, 3).map((v) => v * 3e37);
    x[5] = 3.3e38; x[6] = 3.3e38; x[7] = 3.3e38; // one block's lane sum overflows to Inf
    for (const im of [null, new Float32Array(cols).fill(1)]) {
      const a = engine.quantize(x, { type, rows, cols, imatrix: im });
      const b = engine.quantize(x, { type, rows, cols, imatrix: im, kernel: "ref" });
      assert.equal(a, b, `${type}${im ? " imatrix" : ""}`);
      const u = await engine.quantizeUnit(x.slice(), { type, rows, cols, imatrix: im }, { stats: false, pool: true });
      assert.equal(u.bytes, a, `${type} unit`);
    }
  }
});

test("allowNonFinite: f16/bf16 flags are ignored, NaN/Inf pass through with the same bits as the _ref kernel", () => {
  for (const type of ["f16", "bf16"]) {
    const x = randn(2 * 37, 4);
    x[3] = NaN; x[40] = Infinity; x[73] = -Infinity;
    const a = engine.quantize(x, { type, rows: 2, cols: 37, allowNonFinite: true });
    const b = engine.quantize(x, { type, rows: 2, cols: 37, allowNonFinite: true, kernel: "ref" });
    assert.equal(a, b, type);
    const y = engine.dequantize(a, { type, rows: 2, cols: 37 });
    assert.ok(Number.isNaN(y[3]) && y[40] === Infinity && y[73] === -Infinity, `${type} passes NaN/Inf through`);
  }
});

test.after(() => engine.dispose());
test.run();
