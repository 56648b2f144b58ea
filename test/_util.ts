// Test helpers: seeded PRNG (the vectors' xorshift32), fixtures, byte comparison.
import { readFileSync, existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const FIXTURES = path.join(ROOT, "test/fixtures");
/** ../shared beside the repo (models live there, never in git). */
export const SHARED = path.resolve(ROOT, "../shared");

/** xorshift32 stream as in shared/vectors/ggml/README.md. */
export function rng(seed: number, stream = 0) {
  let s = (Math.imul(seed, 0x9e3779b9) ^ ((Math.imul(stream, 0x85ebca6b) + 0x6a09e667) | 0)) >>> 0;
  if (s === 0) s = 0x6a09e667;
  const next = () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s; };
  for (let i = 0; i < 8; i++) next();
  const uniform = () => (next() >>> 8) / 16777216;
  const gauss = () => { let a = 0; for (let i = 0; i < 12; i++) a += uniform(); return a - 6; };
  return { next, uniform, gauss };
}

/** n gaussian values * scale, with a few outliers. */
export function randn(n: number, seed = 1, scale = 0.05): Float32Array {
  const r = rng(seed, 7);
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) { let v = r.gauss() * scale; if (r.uniform() < 0.01) v *= 20; x[i] = v; }
  return x;
}

export function readF32(p: string): Float32Array {
  const b = readFileSync(p);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}
export function readU8(p: string): Uint8Array {
  return new Uint8Array(readFileSync(p));
}

/** Index of the first differing byte, or -1. */
export function firstDiff(a: ArrayBufferView, b: ArrayBufferView): number {
  const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength), y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  if (x.length !== y.length) return Math.min(x.length, y.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i;
  return -1;
}

export function hasShared(p: string): boolean {
  return existsSync(path.join(SHARED, p));
}
