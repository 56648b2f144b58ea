// Test helper shared by the methods tests (test/54, 56): seeded random matrices, a Hessian H = XᵀX of
// correlated inputs, the H-weighted output error tr(ΔW H ΔWᵀ) GPTQ minimizes, and kjv3M (from
// ../shared/models/kjv3M) converted to an in-memory F32 GGUF with its tokenizer.
import { existsSync } from "node:fs";
import path from "node:path";
import { openModel, quantizeModel, memorySink, memorySource, readGguf, Tokenizer, type Engine } from "../src/index";
import { rng, SHARED } from "./_util";

/** rows × cols gaussian values · scale (row-major), from seed. */
export function randMat(rows: number, cols: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed, 3), x = new Float32Array(rows * cols);
  for (let i = 0; i < x.length; i++) x[i] = r.gauss() * scale;
  return x;
}

/**
 * H = XᵀX [cols × cols] of T inputs X [T, cols], X[t, j] = `correlate(z, t, j)` over gaussian z [T, cols]
 * (each test file correlates its columns its own way).
 */
export function hessian(T: number, cols: number, seed: number, correlate: (z: Float32Array, t: number, j: number) => number): Float64Array {
  const z = randMat(T, cols, seed), h = new Float64Array(cols * cols), x = new Float64Array(T * cols);
  for (let t = 0; t < T; t++) for (let j = 0; j < cols; j++) x[t * cols + j] = correlate(z, t, j);
  for (let t = 0; t < T; t++) for (let i = 0; i < cols; i++) { const xi = x[t * cols + i]; for (let j = 0; j < cols; j++) h[i * cols + j] += xi * x[t * cols + j]; }
  return h;
}

/** tr(ΔW H ΔWᵀ), ΔW = w − q ([rows, cols] row-major), H [cols × cols]. */
export function outErr(w: Float32Array, q: ArrayLike<number>, rows: number, cols: number, h: Float64Array): number {
  let s = 0;
  const d = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < cols; j++) d[j] = w[r * cols + j] - q[r * cols + j];
    for (let i = 0; i < cols; i++) { let t = 0; for (let j = 0; j < cols; j++) t += h[i * cols + j] * d[j]; s += d[i] * t; }
  }
  return s;
}

/** ../shared/models/kjv3M (kjv3M.bin, tok512.bin, calib.txt, eval.txt). */
export const KJV3M = path.join(SHARED, "models/kjv3M");
/** Whether kjv3M.bin is there (tests that need it skip, saying so, when not). */
export const HAVE_KJV3M = existsSync(path.join(KJV3M, "kjv3M.bin"));

/** kjv3M converted to an F32 GGUF in memory: its bytes, its tokenizer and the model opened on them. */
export async function kjv3MFloat(engine: Engine) {
  const src = await openModel(path.join(KJV3M, "kjv3M.bin"), engine, { tokenizer: path.join(KJV3M, "tok512.bin") });
  const f32 = memorySink();
  await quantizeModel(engine, src, f32, { ftype: "F32" });
  await src.close?.();
  const tok = Tokenizer.fromGguf(await readGguf(memorySource(f32.bytes())));
  const base = await openModel(memorySource(f32.bytes(), "kjv3M-f32.gguf"), engine);
  return { bytes: f32.bytes(), tok, base };
}
