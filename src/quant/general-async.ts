/**
 * Async forms of the general-purpose quantizers (intN, NF4, FP8, MXFP4): the input is cut into
 * independent pieces (whole rows for intN, whole blocks for NF4 / MXFP4, runs of values for FP8) that
 * run on the engine's worker pool (on the calling thread where there is none), then reassembled.
 * Same bytes as the sync functions in ./general: every piece is exactly what the sync function
 * computes for those rows / blocks, and per-tensor parameters (intN "tensor" groups, FP8 "auto"
 * scale) come from a first pass of min/max or max|x| over all pieces, which does not depend on how
 * the input is cut. At most 2 x workers + 2 pieces are in flight; each piece is at most ~chunkBytes
 * (default 16 MiB) of f32 input.
 */
import type { Engine } from "../engine/engine";
import {
  autoFP8Scale, checkFinite, checkFP8Options, checkFP8Tensor, checkIntNOptions, checkIntNTensor, checkMXFP4Options,
  checkMXFP4Tensor, checkNF4Options, checkNF4Tensor, fixedFP8Scale, fp8Inverse, kernelName,
  type FP8Format, type FP8Tensor, type IntNOptions, type IntNTensor, type KernelChoice, type MXFP4Tensor, type NF4Tensor,
} from "./general";

/** Runs fn over items with at most `limit` in flight; results in item order. */
async function mapLimited<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}

/** Pieces of `n` units (rows / blocks), each at most `maxUnits`, at least ~2 per worker when large. */
async function pieces(engine: Engine, n: number, unitBytes: number): Promise<{ starts: [number, number][]; limit: number }> {
  const workers = await engine.poolSize();
  const byMemory = Math.max(1, Math.floor(engine.chunkBytes / Math.max(1, unitBytes)));
  const spread = workers > 0 ? Math.max(1, Math.ceil(n / (2 * workers))) : n;
  const per = Math.max(1, Math.min(byMemory, spread));
  const starts: [number, number][] = [];
  for (let i = 0; i < n; i += per) starts.push([i, Math.min(per, n - i)]);
  return { starts, limit: 2 * Math.max(1, workers) + 2 };
}

const copy = (a: Float32Array | Uint8Array, from: number, to: number): ArrayBuffer => a.slice(from, to).buffer as ArrayBuffer;

/** max|x| (or min/max pair) over the whole input, one pool call per piece. */
async function reduceOverPieces(engine: Engine, x: Float32Array, kernel: "gq_absmax" | "gq_minmax", choice: KernelChoice | undefined): Promise<[number, number]> {
  const k = kernelName(engine, kernel, choice);
  const { starts, limit } = await pieces(engine, x.length, 4);
  const parts = await mapLimited(starts, limit, async ([i0, m]) => {
    if (kernel === "gq_absmax") {
      const r = await engine.poolCall({ kernel: k, buffers: [{ bytes: m * 4, data: copy(x, i0, i0 + m) }], args: [{ buf: 0 }, m], outputs: [] });
      return [r.ret, r.ret] as [number, number];
    }
    const r = await engine.poolCall({ kernel: k, buffers: [{ bytes: 8 }, { bytes: m * 4, data: copy(x, i0, i0 + m) }], args: [{ buf: 0 }, { buf: 1 }, m], outputs: [0] });
    const v = new Float32Array(r.outputs[0]);
    return [v[0], v[1]] as [number, number];
  });
  let a = Infinity, b = -Infinity;
  for (const [p, q] of parts) { a = Math.min(a, p); b = Math.max(b, q); }
  return [a, b];
}

// ------------------------------------------------------------------ intN

/** Like {@link quantizeIntN}, spread over the worker pool. Same bytes. */
export async function quantizeIntNAsync(engine: Engine, x: Float32Array, opts: IntNOptions): Promise<IntNTensor> {
  const { rows, cols, bits, group, symmetric } = checkIntNOptions(x, opts, "quantizeIntNAsync");
  checkFinite(engine, x, cols, opts.name);
  const rowBytes = Math.ceil((cols * bits) / 8);
  const gpr = group === 0 ? 1 : cols / group;
  const ng = group === 0 ? 1 : rows * gpr;
  const codes = new Uint8Array(rows * rowBytes), scales = new Float32Array(ng), zeros = symmetric ? null : new Uint8Array(ng);
  const k = kernelName(engine, "gq_quantize_intn", opts.kernel);
  let flags = symmetric ? 0 : 1;
  let tensorParams: { s: ArrayBuffer; z: ArrayBuffer } | null = null;
  if (group === 0) {
    // per tensor: min/max over everything, then the same parameters for every piece
    let [mn, mx] = rows ? await reduceOverPieces(engine, x, "gq_minmax", opts.kernel) : [0, 0];
    if (rows === 0) mn = mx = 0;
    const r = await engine.poolCall({ kernel: "gq_intn_params", buffers: [{ bytes: 4 }, { bytes: 1 }], args: [{ buf: 0 }, { buf: 1 }, mn, mx, bits, flags], outputs: [0, 1] });
    scales[0] = new Float32Array(r.outputs[0])[0];
    if (zeros) zeros[0] = new Uint8Array(r.outputs[1])[0];
    tensorParams = { s: r.outputs[0], z: r.outputs[1] };
    flags |= 2;
  }
  const { starts, limit } = await pieces(engine, rows, cols * 4);
  await mapLimited(starts, limit, async ([r0, nr]) => {
    const g = group === 0 ? 1 : nr * gpr;
    const r = await engine.poolCall({
      kernel: k,
      buffers: [
        { bytes: nr * rowBytes },
        tensorParams ? { bytes: 4, data: tensorParams.s.slice(0) } : { bytes: g * 4 },
        tensorParams ? { bytes: 1, data: tensorParams.z.slice(0) } : { bytes: g },
        { bytes: nr * cols * 4, data: copy(x, r0 * cols, (r0 + nr) * cols) },
      ],
      args: [{ buf: 0 }, { buf: 1 }, { buf: 2 }, { buf: 3 }, nr, cols, bits, group, flags],
      outputs: [0, 1, 2],
    });
    codes.set(new Uint8Array(r.outputs[0]), r0 * rowBytes);
    if (group > 0) {
      scales.set(new Float32Array(r.outputs[1]), r0 * gpr);
      if (zeros) zeros.set(new Uint8Array(r.outputs[2]), r0 * gpr);
    }
  });
  return { codes, scales, zeros, rows, cols, bits, group, symmetric, rowBytes };
}

/** Like {@link dequantizeIntN}, spread over the worker pool. Same values. */
export async function dequantizeIntNAsync(engine: Engine, q: IntNTensor, opts: { kernel?: KernelChoice } = {}): Promise<Float32Array> {
  const { rowBytes, gpr } = checkIntNTensor(q);
  const { rows, cols, bits, group, symmetric } = q;
  const k = kernelName(engine, "gq_dequantize_intn", opts.kernel);
  const out = new Float32Array(rows * cols);
  const { starts, limit } = await pieces(engine, rows, cols * 4);
  await mapLimited(starts, limit, async ([r0, nr]) => {
    const g0 = group === 0 ? 0 : r0 * gpr, gn = group === 0 ? 1 : nr * gpr;
    const r = await engine.poolCall({
      kernel: k,
      buffers: [
        { bytes: nr * cols * 4 },
        { bytes: nr * rowBytes, data: copy(q.codes, r0 * rowBytes, (r0 + nr) * rowBytes) },
        { bytes: gn * 4, data: copy(q.scales, g0, g0 + gn) },
        symmetric ? { bytes: gn } : { bytes: gn, data: copy(q.zeros!, g0, g0 + gn) },
      ],
      args: [{ buf: 0 }, { buf: 1 }, { buf: 2 }, { buf: 3 }, nr, cols, bits, group, symmetric ? 0 : 1],
      outputs: [0],
    });
    out.set(new Float32Array(r.outputs[0]), r0 * cols);
  });
  return out;
}

// ------------------------------------------------------------------ NF4

/** Like {@link quantizeNF4}, spread over the worker pool (whole blocks per piece). Same bytes. */
export async function quantizeNF4Async(engine: Engine, x: Float32Array, opts: { blockSize?: number; kernel?: KernelChoice; name?: string } = {}): Promise<NF4Tensor> {
  const bs = checkNF4Options(x, opts, "quantizeNF4Async");
  checkFinite(engine, x, x.length, opts.name);
  const n = x.length, nblocks = Math.ceil(n / bs);
  const codes = new Uint8Array((n + 1) >> 1), absmax = new Float32Array(nblocks);
  if (n === 0) return { codes, absmax, length: 0, blockSize: bs };
  const k = kernelName(engine, "gq_quantize_nf4", opts.kernel);
  const { starts, limit } = await pieces(engine, nblocks, bs * 4);
  await mapLimited(starts, limit, async ([b0, nb]) => {
    const i0 = b0 * bs, m = Math.min(nb * bs, n - i0);
    const r = await engine.poolCall({
      kernel: k,
      buffers: [{ bytes: (m + 1) >> 1 }, { bytes: nb * 4 }, { bytes: m * 4, data: copy(x, i0, i0 + m) }],
      args: [{ buf: 0 }, { buf: 1 }, { buf: 2 }, m, bs],
      outputs: [0, 1],
    });
    codes.set(new Uint8Array(r.outputs[0]), i0 >> 1);
    absmax.set(new Float32Array(r.outputs[1]), b0);
  });
  return { codes, absmax, length: n, blockSize: bs };
}

/** Like {@link dequantizeNF4}, spread over the worker pool. Same values. */
export async function dequantizeNF4Async(engine: Engine, q: NF4Tensor, opts: { kernel?: KernelChoice } = {}): Promise<Float32Array> {
  checkNF4Tensor(q);
  const { length: n, blockSize: bs } = q;
  const out = new Float32Array(n);
  if (n === 0) return out;
  const k = kernelName(engine, "gq_dequantize_nf4", opts.kernel);
  const { starts, limit } = await pieces(engine, Math.ceil(n / bs), bs * 4);
  await mapLimited(starts, limit, async ([b0, nb]) => {
    const i0 = b0 * bs, m = Math.min(nb * bs, n - i0);
    const r = await engine.poolCall({
      kernel: k,
      buffers: [{ bytes: m * 4 }, { bytes: (m + 1) >> 1, data: copy(q.codes, i0 >> 1, (i0 + m + 1) >> 1) }, { bytes: nb * 4, data: copy(q.absmax, b0, b0 + nb) }],
      args: [{ buf: 0 }, { buf: 1 }, { buf: 2 }, m, bs],
      outputs: [0],
    });
    out.set(new Float32Array(r.outputs[0]), i0);
  });
  return out;
}

// ------------------------------------------------------------------ FP8

/** Like {@link quantizeFP8}, spread over the worker pool. Same bytes and scale. */
export async function quantizeFP8Async(engine: Engine, x: Float32Array, opts: { format?: FP8Format; scale?: number | "auto"; kernel?: KernelChoice; name?: string } = {}): Promise<FP8Tensor> {
  const format = checkFP8Options(x, opts, "quantizeFP8Async");
  const n = x.length;
  let scale: number;
  if (opts.scale === "auto") {
    checkFinite(engine, x, n, opts.name);
    const [, amax] = n ? await reduceOverPieces(engine, x, "gq_absmax", opts.kernel) : [0, 0];
    scale = autoFP8Scale(Math.max(0, amax), format);
  } else scale = fixedFP8Scale(opts.scale);
  let inv: number;
  ({ scale, inv } = fp8Inverse(scale, opts.scale === "auto", opts.scale));
  const codes = new Uint8Array(n);
  const k = kernelName(engine, `gq_quantize_fp8_${format}`, opts.kernel);
  const { starts, limit } = await pieces(engine, n, 4);
  await mapLimited(starts, limit, async ([i0, m]) => {
    const r = await engine.poolCall({ kernel: k, buffers: [{ bytes: m }, { bytes: m * 4, data: copy(x, i0, i0 + m) }], args: [{ buf: 0 }, { buf: 1 }, m, inv], outputs: [0] });
    codes.set(new Uint8Array(r.outputs[0]), i0);
  });
  return { codes, format, scale };
}

/** Like {@link dequantizeFP8}, spread over the worker pool. Same values. */
export async function dequantizeFP8Async(engine: Engine, q: FP8Tensor, opts: { kernel?: KernelChoice } = {}): Promise<Float32Array> {
  const scale = checkFP8Tensor(q);
  const n = q.codes.length;
  const out = new Float32Array(n);
  if (n === 0) return out;
  const k = kernelName(engine, `gq_dequantize_fp8_${q.format}`, opts.kernel);
  const { starts, limit } = await pieces(engine, n, 4);
  await mapLimited(starts, limit, async ([i0, m]) => {
    const r = await engine.poolCall({ kernel: k, buffers: [{ bytes: m * 4 }, { bytes: m, data: copy(q.codes, i0, i0 + m) }], args: [{ buf: 0 }, { buf: 1 }, m, Math.fround(scale)], outputs: [0] });
    out.set(new Float32Array(r.outputs[0]), i0);
  });
  return out;
}

// ------------------------------------------------------------------ MXFP4

/** Like {@link quantizeMXFP4}, spread over the worker pool (whole 32-blocks per piece). Same bytes. */
export async function quantizeMXFP4Async(engine: Engine, x: Float32Array, opts: { kernel?: KernelChoice; name?: string } = {}): Promise<MXFP4Tensor> {
  const n = checkMXFP4Options(x, opts, "quantizeMXFP4Async");
  checkFinite(engine, x, n, opts.name);
  const codes = new Uint8Array(n >> 1), scales = new Uint8Array(n >> 5);
  if (n === 0) return { codes, scales, length: 0 };
  const k = kernelName(engine, "gq_quantize_mxfp4", opts.kernel);
  const { starts, limit } = await pieces(engine, n >> 5, 128);
  await mapLimited(starts, limit, async ([b0, nb]) => {
    const i0 = b0 * 32, m = nb * 32;
    const r = await engine.poolCall({ kernel: k, buffers: [{ bytes: m >> 1 }, { bytes: nb }, { bytes: m * 4, data: copy(x, i0, i0 + m) }], args: [{ buf: 0 }, { buf: 1 }, { buf: 2 }, m], outputs: [0, 1] });
    codes.set(new Uint8Array(r.outputs[0]), i0 >> 1);
    scales.set(new Uint8Array(r.outputs[1]), b0);
  });
  return { codes, scales, length: n };
}

/** Like {@link dequantizeMXFP4}, spread over the worker pool. Same values. */
export async function dequantizeMXFP4Async(engine: Engine, q: MXFP4Tensor, opts: { kernel?: KernelChoice } = {}): Promise<Float32Array> {
  checkMXFP4Tensor(q);
  const n = q.length;
  const out = new Float32Array(n);
  if (n === 0) return out;
  const k = kernelName(engine, "gq_dequantize_mxfp4", opts.kernel);
  const { starts, limit } = await pieces(engine, n >> 5, 128);
  await mapLimited(starts, limit, async ([b0, nb]) => {
    const i0 = b0 * 32, m = nb * 32;
    const r = await engine.poolCall({ kernel: k, buffers: [{ bytes: m * 4 }, { bytes: m >> 1, data: copy(q.codes, i0 >> 1, (i0 + m) >> 1) }, { bytes: nb, data: copy(q.scales, b0, b0 + nb) }], args: [{ buf: 0 }, { buf: 1 }, { buf: 2 }, m], outputs: [0] });
    out.set(new Float32Array(r.outputs[0]), i0);
  });
  return out;
}

