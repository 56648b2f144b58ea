/**
 * General-purpose quantizers not tied to GGUF: round-to-nearest intN (N = 2..8, symmetric or
 * asymmetric, per tensor / row / group), NF4 (QLoRA), FP8 (e4m3fn / e5m2, saturating) and MXFP4
 * (OCP Microscaling v1.0). Typed wrappers over the `gq_*` wasm kernels; packed layouts are
 * documented in docs/formats.md and at the top of each assembly/quant file.
 *
 * Every function takes a {@link KernelHost} (an initialized `Engine` is one) and processes large
 * tensors in chunks, so wasm memory holds at most ~`chunkBytes` (default 16 MiB) of input at once.
 * All allocations are released before returning, also on error. Output bytes are deterministic
 * (same input -> same bytes in every runtime); `kernel: "ref"` runs the scalar twin (same bytes).
 */
import { TensorshrinkError } from "../errors";

/** What the wrappers need from an engine: raw exports and the wasm allocator. `Engine` satisfies it. */
export interface KernelHost {
  readonly exports: Record<string, any> & { memory: WebAssembly.Memory };
  alloc(bytes: number): number;
  free(ptr: number): void;
  /** Largest f32 input (bytes) held in wasm memory at once (default 16 MiB). */
  readonly chunkBytes?: number;
}

/** Scalar twin ("ref") or SIMD kernel (default). Both give identical bytes. */
export type KernelChoice = "simd" | "ref";

// ------------------------------------------------------------------ intN

/** Options of {@link quantizeIntN}. */
export interface IntNOptions {
  /** Matrix rows (1 for a vector). */
  rows: number;
  /** Values per row. */
  cols: number;
  /** Bits per code, 2..8. */
  bits: number;
  /**
   * Values sharing one scale: a group size dividing `cols` (e.g. 32, 64, 128), "row" (= cols) or
   * "tensor" (one scale for everything). Default "row".
   */
  group?: number | "row" | "tensor";
  /** true (default): codes -(2^(N-1)-1) .. 2^(N-1)-1 around 0, no zero point. false: zero point. */
  symmetric?: boolean;
  kernel?: KernelChoice;
  /** Tensor name for error messages. */
  name?: string;
}

/** A packed intN tensor (layout: docs/formats.md "intN"). */
export interface IntNTensor {
  /** rows * rowBytes bytes: each row a little-endian bit stream of N-bit codes (LSB first), padded to a byte. */
  codes: Uint8Array;
  /** One f32 scale per (row, group), row-major; a single value for per-tensor. */
  scales: Float32Array;
  /** Integer zero points (asymmetric only), same indexing as `scales`; null when symmetric. */
  zeros: Uint8Array | null;
  rows: number;
  cols: number;
  bits: number;
  /** Group size in values; 0 = per tensor. */
  group: number;
  symmetric: boolean;
  /** ceil(cols * bits / 8). */
  rowBytes: number;
}

/**
 * Round-to-nearest (ties to even) intN quantization. Symmetric: d = max|x| / (2^(N-1) - 1), stored
 * code = q + 2^(N-1). Asymmetric: range [min(x,0), max(x,0)], d = range / (2^N - 1), integer zero
 * point. Storage: N bits per value + 32 bits per group (+ 8 for the zero point); e.g. int4 with
 * group 128 = 4.25 bits/weight symmetric. Max error per value = d / 2 (inside the range).
 * Throws E_ARG_TYPE, E_SHAPE, E_BLOCK (group does not divide cols), E_RANGE (bits), E_NONFINITE.
 */
export function quantizeIntN(host: KernelHost, x: Float32Array, opts: IntNOptions): IntNTensor {
  const { rows, cols, bits, group, symmetric } = checkIntNOptions(x, opts, "quantizeIntN");
  checkFinite(host, x, cols, opts.name);
  const rowBytes = Math.ceil((cols * bits) / 8);
  const ng = group === 0 ? 1 : rows * (cols / group);
  const codes = new Uint8Array(rows * rowBytes);
  const scales = new Float32Array(ng);
  const zeros = symmetric ? null : new Uint8Array(ng);
  const k = kernelName(host, "gq_quantize_intn", opts.kernel);
  const flags0 = symmetric ? 0 : 1;
  const e = host.exports;
  const chunkRows = Math.max(1, Math.min(rows, Math.floor(chunkBytes(host) / (cols * 4))));
  const px = rows ? host.alloc(chunkRows * cols * 4) : 0;
  const pq = rows ? host.alloc(chunkRows * rowBytes + 16) : 0;
  const gpr = group === 0 ? 1 : cols / group;
  const ps = host.alloc(Math.max(1, chunkRows * gpr) * 4 + 16);
  const pz = host.alloc(Math.max(1, chunkRows * gpr) + 16);
  try {
    let flags = flags0;
    if (group === 0) {
      // per tensor: global min/max over all chunks, then the parameters, then stream rows with them
      const mm = host.alloc(8);
      try {
        let mn = Infinity, mx = -Infinity;
        for (let r0 = 0; r0 < rows; r0 += chunkRows) {
          const nr = Math.min(chunkRows, rows - r0);
          f32view(host, px, nr * cols).set(x.subarray(r0 * cols, (r0 + nr) * cols));
          e[opts.kernel === "ref" ? "gq_minmax_ref" : "gq_minmax"](mm, px, nr * cols);
          const v = f32view(host, mm, 2);
          mn = Math.min(mn, v[0]); mx = Math.max(mx, v[1]);
        }
        if (rows === 0) mn = mx = 0;
        e.gq_intn_params(ps, pz, mn, mx, bits, flags0);
      } finally {
        host.free(mm);
      }
      scales[0] = f32view(host, ps, 1)[0];
      if (zeros) zeros[0] = u8view(host, pz, 1)[0];
      flags |= 2;
    }
    for (let r0 = 0; r0 < rows; r0 += chunkRows) {
      const nr = Math.min(chunkRows, rows - r0);
      f32view(host, px, nr * cols).set(x.subarray(r0 * cols, (r0 + nr) * cols));
      callKernel(k, () => e[k](pq, ps, pz, px, nr, cols, bits, group, flags));
      codes.set(u8view(host, pq, nr * rowBytes), r0 * rowBytes);
      if (group > 0) {
        scales.set(f32view(host, ps, nr * gpr), r0 * gpr);
        if (zeros) zeros.set(u8view(host, pz, nr * gpr), r0 * gpr);
      }
    }
  } finally {
    if (px) host.free(px);
    if (pq) host.free(pq);
    host.free(ps);
    host.free(pz);
  }
  return { codes, scales, zeros, rows, cols, bits, group, symmetric, rowBytes };
}

/** @internal Validates quantizeIntN's input and options; returns the resolved parameters. */
export function checkIntNOptions(x: unknown, opts: IntNOptions, fn: string): { rows: number; cols: number; bits: number; group: number; symmetric: boolean } {
  const { rows, cols } = checkMatrix(x, opts, fn);
  const bits = opts.bits;
  if (!Number.isInteger(bits) || bits < 2 || bits > 8) throw new TensorshrinkError("E_RANGE", `bits must be an integer 2..8, got ${bits}${where(opts.name)}`);
  const group = resolveGroup(opts.group, cols, opts.name);
  const symmetric = opts.symmetric ?? true;
  if (typeof symmetric !== "boolean") throw new TensorshrinkError("E_ARG_TYPE", `symmetric must be a boolean, got ${typeof symmetric}`);
  return { rows, cols, bits, group, symmetric };
}

/** @internal Validates an IntNTensor; returns its row bytes, groups per row and scale count. */
export function checkIntNTensor(q: IntNTensor): { rowBytes: number; gpr: number; ng: number } {
  if (!q || typeof q !== "object" || !(q.codes instanceof Uint8Array) || !(q.scales instanceof Float32Array)) throw new TensorshrinkError("E_ARG_TYPE", "dequantizeIntN needs an IntNTensor { codes, scales, zeros, rows, cols, bits, group, symmetric }");
  const { rows, cols, bits, group, symmetric } = q;
  if (!Number.isSafeInteger(rows) || rows < 0 || !Number.isSafeInteger(cols) || cols <= 0) throw new TensorshrinkError("E_SHAPE", `bad shape ${rows} x ${cols}`);
  if (!Number.isInteger(bits) || bits < 2 || bits > 8) throw new TensorshrinkError("E_RANGE", `bits must be an integer 2..8, got ${bits}`);
  if (!Number.isInteger(group) || group < 0 || (group > 0 && cols % group !== 0)) throw new TensorshrinkError("E_BLOCK", `group ${group} does not divide cols ${cols}`);
  const rowBytes = Math.ceil((cols * bits) / 8);
  const gpr = group === 0 ? 1 : cols / group;
  const ng = group === 0 ? 1 : rows * gpr;
  if (q.codes.length !== rows * rowBytes) throw new TensorshrinkError("E_SHAPE", `int${bits} codes for ${rows} x ${cols} must be ${rows * rowBytes} bytes, got ${q.codes.length}`);
  if (q.scales.length !== ng) throw new TensorshrinkError("E_SHAPE", `expected ${ng} scales, got ${q.scales.length}`);
  if (!symmetric && (!(q.zeros instanceof Uint8Array) || q.zeros.length !== ng)) throw new TensorshrinkError("E_SHAPE", `asymmetric int${bits} needs ${ng} zero points`);
  return { rowBytes, gpr, ng };
}

/** Dequantizes an {@link IntNTensor}: value = (code - zero) * scale (f32). */
export function dequantizeIntN(host: KernelHost, q: IntNTensor, opts: { kernel?: KernelChoice } = {}): Float32Array {
  const { rowBytes, gpr } = checkIntNTensor(q);
  const { rows, cols, bits, group, symmetric } = q;
  const k = kernelName(host, "gq_dequantize_intn", opts.kernel);
  const e = host.exports;
  const out = new Float32Array(rows * cols);
  if (rows === 0) return out;
  const chunkRows = Math.max(1, Math.min(rows, Math.floor(chunkBytes(host) / (cols * 4))));
  const pq = host.alloc(chunkRows * rowBytes + 16), py = host.alloc(chunkRows * cols * 4);
  const cg = group === 0 ? 1 : chunkRows * gpr;
  const ps = host.alloc(cg * 4 + 16), pz = host.alloc(cg + 16);
  try {
    const flags = symmetric ? 0 : 1;
    for (let r0 = 0; r0 < rows; r0 += chunkRows) {
      const nr = Math.min(chunkRows, rows - r0);
      u8view(host, pq, nr * rowBytes).set(q.codes.subarray(r0 * rowBytes, (r0 + nr) * rowBytes));
      const g0 = group === 0 ? 0 : r0 * gpr, gn = group === 0 ? 1 : nr * gpr;
      f32view(host, ps, gn).set(q.scales.subarray(g0, g0 + gn));
      if (!symmetric) u8view(host, pz, gn).set(q.zeros!.subarray(g0, g0 + gn));
      callKernel(k, () => e[k](py, pq, ps, pz, nr, cols, bits, group, flags));
      out.set(f32view(host, py, nr * cols), r0 * cols);
    }
  } finally {
    host.free(pq); host.free(py); host.free(ps); host.free(pz);
  }
  return out;
}

// ------------------------------------------------------------------ NF4

/** A packed NF4 tensor (layout: docs/formats.md "NF4"). */
export interface NF4Tensor {
  /** ceil(length / 2) bytes, element 2i in the low nibble of byte i. */
  codes: Uint8Array;
  /** One f32 absmax per block of `blockSize` values (the last block may be shorter). */
  absmax: Float32Array;
  /** Number of values. */
  length: number;
  blockSize: number;
}

/** The 16 NF4 levels of QLoRA (exact float32 values). */
export const NF4_LEVELS: readonly number[] = Object.freeze([
  -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
  -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
  0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
  0.7229568362236023, 1.0,
]);

/**
 * NF4 (QLoRA NormalFloat4) with blockwise absmax: 4 bits per value + 32 bits per block
 * (blockSize 64 -> 4.5 bits/weight). Codes follow bitsandbytes' dQuantizeNF4 decision thresholds.
 * Throws E_ARG_TYPE, E_RANGE (blockSize not an even integer >= 2), E_NONFINITE.
 */
export function quantizeNF4(host: KernelHost, x: Float32Array, opts: { blockSize?: number; kernel?: KernelChoice; name?: string } = {}): NF4Tensor {
  const bs = checkNF4Options(x, opts, "quantizeNF4");
  checkFinite(host, x, x.length, opts.name);
  const n = x.length;
  const nblocks = Math.ceil(n / bs);
  const codes = new Uint8Array((n + 1) >> 1), absmax = new Float32Array(nblocks);
  const k = kernelName(host, "gq_quantize_nf4", opts.kernel);
  const per = Math.max(1, Math.floor(chunkBytes(host) / 4 / bs)) * bs; // whole blocks per chunk
  const cn = Math.min(per, n);
  if (n === 0) return { codes, absmax, length: 0, blockSize: bs };
  const px = host.alloc(cn * 4), pc = host.alloc((cn >> 1) + 16), pa = host.alloc(Math.ceil(cn / bs) * 4 + 16);
  try {
    for (let i0 = 0; i0 < n; i0 += per) {
      const m = Math.min(per, n - i0);
      f32view(host, px, m).set(x.subarray(i0, i0 + m));
      const nb = callKernel(k, () => host.exports[k](pc, pa, px, m, bs)) >>> 0;
      codes.set(u8view(host, pc, nb), i0 >> 1);
      absmax.set(f32view(host, pa, Math.ceil(m / bs)), i0 / bs);
    }
  } finally {
    host.free(px); host.free(pc); host.free(pa);
  }
  return { codes, absmax, length: n, blockSize: bs };
}

/** @internal Validates quantizeNF4's input; returns the block size. */
export function checkNF4Options(x: unknown, opts: { blockSize?: number; name?: string }, fn: string): number {
  if (!(x instanceof Float32Array)) throw new TensorshrinkError("E_ARG_TYPE", `${fn} input must be a Float32Array, got ${describe(x)}${where(opts.name)}`);
  const bs = opts.blockSize ?? 64;
  if (!Number.isInteger(bs) || bs < 2 || bs % 2 !== 0 || bs > 1 << 24) throw new TensorshrinkError("E_RANGE", `NF4 blockSize must be an even integer >= 2, got ${bs}${where(opts.name)}`);
  return bs;
}

/** @internal Validates an NF4Tensor. */
export function checkNF4Tensor(q: NF4Tensor): void {
  if (!q || !(q.codes instanceof Uint8Array) || !(q.absmax instanceof Float32Array)) throw new TensorshrinkError("E_ARG_TYPE", "dequantizeNF4 needs an NF4Tensor { codes, absmax, length, blockSize }");
  const { length: n, blockSize: bs } = q;
  if (!Number.isInteger(bs) || bs < 2 || bs % 2 !== 0) throw new TensorshrinkError("E_RANGE", `NF4 blockSize must be an even integer >= 2, got ${bs}`);
  if (!Number.isSafeInteger(n) || n < 0 || q.codes.length !== (n + 1) >> 1 || q.absmax.length !== Math.ceil(n / bs)) throw new TensorshrinkError("E_SHAPE", `NF4 data does not match length ${n} / blockSize ${bs}`);
}

/** Dequantizes an {@link NF4Tensor}: NF4_LEVELS[code] * absmax (f32). */
export function dequantizeNF4(host: KernelHost, q: NF4Tensor, opts: { kernel?: KernelChoice } = {}): Float32Array {
  checkNF4Tensor(q);
  const { length: n, blockSize: bs } = q;
  const out = new Float32Array(n);
  if (n === 0) return out;
  const k = kernelName(host, "gq_dequantize_nf4", opts.kernel);
  const per = Math.max(1, Math.floor(chunkBytes(host) / 4 / bs)) * bs;
  const cn = Math.min(per, n);
  const py = host.alloc(cn * 4), pc = host.alloc((cn >> 1) + 16), pa = host.alloc(Math.ceil(cn / bs) * 4 + 16);
  try {
    for (let i0 = 0; i0 < n; i0 += per) {
      const m = Math.min(per, n - i0);
      u8view(host, pc, (m + 1) >> 1).set(q.codes.subarray(i0 >> 1, (i0 + m + 1) >> 1));
      f32view(host, pa, Math.ceil(m / bs)).set(q.absmax.subarray(i0 / bs, i0 / bs + Math.ceil(m / bs)));
      callKernel(k, () => host.exports[k](py, pc, pa, m, bs));
      out.set(f32view(host, py, m), i0);
    }
  } finally {
    host.free(py); host.free(pc); host.free(pa);
  }
  return out;
}

// ------------------------------------------------------------------ FP8

export type FP8Format = "e4m3" | "e5m2";

/** FP8 codes plus the scale they were taken with (value ~= decode(code) * scale). */
export interface FP8Tensor {
  /** One byte per value (OCP FP8: e4m3fn or e5m2). */
  codes: Uint8Array;
  format: FP8Format;
  /** f32 scale; 1 for a plain conversion. */
  scale: number;
}

/** @internal Largest finite value of each FP8 format. */
export const FP8_MAX = { e4m3: 448, e5m2: 57344 } as const;

/**
 * Converts to FP8 (8 bits/weight), round to nearest even, saturating finite out-of-range values to
 * +-448 (e4m3fn) / +-57344 (e5m2). `scale`: 1 (default, plain conversion), a positive number (codes
 * of x / scale, computed as x * f32(1 / scale)), or "auto" (per tensor: scale = max|x| / max finite,
 * so the largest value maps to the format's maximum). NaN -> 0x7F (e4m3) / 0x7E (e5m2).
 */
export function quantizeFP8(host: KernelHost, x: Float32Array, opts: { format?: FP8Format; scale?: number | "auto"; kernel?: KernelChoice; name?: string } = {}): FP8Tensor {
  const format = checkFP8Options(x, opts, "quantizeFP8");
  const e = host.exports;
  const n = x.length;
  const per = Math.max(16, Math.floor(chunkBytes(host) / 4));
  const cn = Math.min(per, Math.max(1, n));
  const px = host.alloc(cn * 4), pq = host.alloc(cn + 16);
  const codes = new Uint8Array(n);
  let scale: number;
  try {
    if (opts.scale === "auto") {
      checkFinite(host, x, n, opts.name);
      let amax = 0;
      for (let i0 = 0; i0 < n; i0 += per) {
        const m = Math.min(per, n - i0);
        f32view(host, px, m).set(x.subarray(i0, i0 + m));
        amax = Math.max(amax, e[opts.kernel === "ref" ? "gq_absmax_ref" : "gq_absmax"](px, m));
      }
      scale = autoFP8Scale(amax, format);
    } else scale = fixedFP8Scale(opts.scale);
    let inv: number;
    ({ scale, inv } = fp8Inverse(scale, opts.scale === "auto", opts.scale));
    const k = kernelName(host, `gq_quantize_fp8_${format}`, opts.kernel);
    for (let i0 = 0; i0 < n; i0 += per) {
      const m = Math.min(per, n - i0);
      f32view(host, px, m).set(x.subarray(i0, i0 + m));
      callKernel(k, () => e[k](pq, px, m, inv));
      codes.set(u8view(host, pq, m), i0);
    }
  } finally {
    host.free(px); host.free(pq);
  }
  return { codes, format, scale };
}

/** @internal Validates quantizeFP8's input; returns the format. */
export function checkFP8Options(x: unknown, opts: { format?: FP8Format; name?: string }, fn: string): FP8Format {
  if (!(x instanceof Float32Array)) throw new TensorshrinkError("E_ARG_TYPE", `${fn} input must be a Float32Array, got ${describe(x)}${where(opts.name)}`);
  const format = opts.format ?? "e4m3";
  if (format !== "e4m3" && format !== "e5m2") throw new TensorshrinkError("E_RANGE", `FP8 format must be "e4m3" or "e5m2", got ${String(format)}`);
  return format;
}

/** @internal A user-given FP8 scale (default 1) as a positive float32. */
export function fixedFP8Scale(s: number | "auto" | undefined): number {
  let scale = s ?? 1;
  if (typeof scale !== "number" || !(scale > 0) || !Number.isFinite(scale)) throw new TensorshrinkError("E_RANGE", `FP8 scale must be a finite number > 0 or "auto", got ${String(s)}`);
  scale = Math.fround(scale);
  if (!(scale > 0) || !Number.isFinite(scale)) throw new TensorshrinkError("E_RANGE", `FP8 scale ${s} is not representable as a positive float32`);
  return scale;
}

/** @internal The "auto" scale from max|x|: max|x| / max finite (1 when that underflows). */
export function autoFP8Scale(amax: number, format: FP8Format): number {
  const scale = amax > 0 ? Math.fround(amax / FP8_MAX[format]) : 1;
  return !(scale > 0) || !Number.isFinite(scale) ? 1 : scale; // amax below ~1e-42: keep plain conversion
}

/** @internal The f32 inverse the kernels multiply by; an "auto" scale whose inverse overflows falls back to 1. */
export function fp8Inverse(scale: number, auto: boolean, given: unknown): { scale: number; inv: number } {
  const inv = Math.fround(1 / scale);
  if (Number.isFinite(inv)) return { scale, inv };
  if (!auto) throw new TensorshrinkError("E_RANGE", `FP8 scale ${given} is too small: its float32 inverse overflows`);
  return { scale: 1, inv: 1 };
}

/** @internal Validates an FP8Tensor; returns its scale. */
export function checkFP8Tensor(q: FP8Tensor): number {
  if (!q || !(q.codes instanceof Uint8Array)) throw new TensorshrinkError("E_ARG_TYPE", "dequantizeFP8 needs an FP8Tensor { codes, format, scale }");
  if (q.format !== "e4m3" && q.format !== "e5m2") throw new TensorshrinkError("E_RANGE", `FP8 format must be "e4m3" or "e5m2", got ${String(q.format)}`);
  const scale = q.scale ?? 1;
  if (typeof scale !== "number" || !(scale > 0) || !Number.isFinite(scale)) throw new TensorshrinkError("E_RANGE", `FP8 scale must be a finite number > 0, got ${String(q.scale)}`);
  return scale;
}

/** Decodes FP8 codes: decode(code) * scale (f32). */
export function dequantizeFP8(host: KernelHost, q: FP8Tensor, opts: { kernel?: KernelChoice } = {}): Float32Array {
  const scale = checkFP8Tensor(q);
  const n = q.codes.length;
  const out = new Float32Array(n);
  if (n === 0) return out;
  const k = kernelName(host, `gq_dequantize_fp8_${q.format}`, opts.kernel);
  const per = Math.max(16, Math.floor(chunkBytes(host) / 4));
  const cn = Math.min(per, n);
  const pq = host.alloc(cn + 16), py = host.alloc(cn * 4);
  try {
    for (let i0 = 0; i0 < n; i0 += per) {
      const m = Math.min(per, n - i0);
      u8view(host, pq, m).set(q.codes.subarray(i0, i0 + m));
      callKernel(k, () => host.exports[k](py, pq, m, Math.fround(scale)));
      out.set(f32view(host, py, m), i0);
    }
  } finally {
    host.free(pq); host.free(py);
  }
  return out;
}

// ------------------------------------------------------------------ MXFP4 (OCP MX v1.0)

/** OCP MXFP4: E2M1 codes + one E8M0 scale per 32 values. */
export interface MXFP4Tensor {
  /** length / 2 bytes, element 2i in the low nibble of byte i (bit 3 of a code = sign). */
  codes: Uint8Array;
  /** length / 32 E8M0 bytes (biased exponent, 127 = 2^0, 255 = NaN). */
  scales: Uint8Array;
  length: number;
}

/**
 * OCP MXFP4 (4.25 bits/weight): blocks of 32 consecutive values (length must be a multiple of 32 —
 * quantize a matrix whose cols is a multiple of 32 to get row-aligned blocks), shared scale
 * 2^(floor(log2 amax) - 2), elements E2M1 rounded to nearest even, saturating at +-6.
 * Throws E_ARG_TYPE, E_BLOCK, E_NONFINITE.
 */
export function quantizeMXFP4(host: KernelHost, x: Float32Array, opts: { kernel?: KernelChoice; name?: string } = {}): MXFP4Tensor {
  const n = checkMXFP4Options(x, opts, "quantizeMXFP4");
  checkFinite(host, x, n, opts.name);
  const codes = new Uint8Array(n >> 1), scales = new Uint8Array(n >> 5);
  if (n === 0) return { codes, scales, length: 0 };
  const k = kernelName(host, "gq_quantize_mxfp4", opts.kernel);
  const per = Math.max(32, Math.floor(chunkBytes(host) / 4 / 32) * 32);
  const cn = Math.min(per, n);
  const px = host.alloc(cn * 4), pc = host.alloc((cn >> 1) + 16), ps = host.alloc((cn >> 5) + 16);
  try {
    for (let i0 = 0; i0 < n; i0 += per) {
      const m = Math.min(per, n - i0);
      f32view(host, px, m).set(x.subarray(i0, i0 + m));
      callKernel(k, () => host.exports[k](pc, ps, px, m));
      codes.set(u8view(host, pc, m >> 1), i0 >> 1);
      scales.set(u8view(host, ps, m >> 5), i0 >> 5);
    }
  } finally {
    host.free(px); host.free(pc); host.free(ps);
  }
  return { codes, scales, length: n };
}

/** @internal Validates quantizeMXFP4's input; returns its length. */
export function checkMXFP4Options(x: unknown, opts: { name?: string }, fn: string): number {
  if (!(x instanceof Float32Array)) throw new TensorshrinkError("E_ARG_TYPE", `${fn} input must be a Float32Array, got ${describe(x)}${where(opts.name)}`);
  const n = x.length;
  if (n % 32 !== 0) throw new TensorshrinkError("E_BLOCK", `MXFP4 needs a multiple of 32 values, got ${n}${where(opts.name)}`, { length: n, blockSize: 32 });
  return n;
}

/** @internal Validates an MXFP4Tensor. */
export function checkMXFP4Tensor(q: MXFP4Tensor): void {
  if (!q || !(q.codes instanceof Uint8Array) || !(q.scales instanceof Uint8Array)) throw new TensorshrinkError("E_ARG_TYPE", "dequantizeMXFP4 needs an MXFP4Tensor { codes, scales, length }");
  const n = q.length;
  if (!Number.isSafeInteger(n) || n < 0 || n % 32 !== 0 || q.codes.length !== n >> 1 || q.scales.length !== n >> 5) throw new TensorshrinkError("E_SHAPE", `MXFP4 data does not match length ${n}`);
}

/** Dequantizes an {@link MXFP4Tensor}: E2M1(code) * 2^(scale - 127) (f32). */
export function dequantizeMXFP4(host: KernelHost, q: MXFP4Tensor, opts: { kernel?: KernelChoice } = {}): Float32Array {
  checkMXFP4Tensor(q);
  const n = q.length;
  const out = new Float32Array(n);
  if (n === 0) return out;
  const k = kernelName(host, "gq_dequantize_mxfp4", opts.kernel);
  const per = Math.max(32, Math.floor(chunkBytes(host) / 4 / 32) * 32);
  const cn = Math.min(per, n);
  const py = host.alloc(cn * 4), pc = host.alloc((cn >> 1) + 16), ps = host.alloc((cn >> 5) + 16);
  try {
    for (let i0 = 0; i0 < n; i0 += per) {
      const m = Math.min(per, n - i0);
      u8view(host, pc, m >> 1).set(q.codes.subarray(i0 >> 1, (i0 + m) >> 1));
      u8view(host, ps, m >> 5).set(q.scales.subarray(i0 >> 5, (i0 + m) >> 5));
      callKernel(k, () => host.exports[k](py, pc, ps, m));
      out.set(f32view(host, py, m), i0);
    }
  } finally {
    host.free(py); host.free(pc); host.free(ps);
  }
  return out;
}

// ------------------------------------------------------------------ helpers

/** @internal */
export function where(name?: string): string {
  return name ? ` (tensor "${name}")` : "";
}

/** @internal */
export function describe(v: unknown): string {
  if (v === null) return "null";
  if (typeof v !== "object") return typeof v;
  return (v as object).constructor?.name ?? "object";
}

/** @internal */
export function chunkBytes(host: KernelHost): number {
  const c = host.chunkBytes;
  return typeof c === "number" && c >= 1024 ? c : 16 << 20;
}

/** @internal */
export function f32view(host: KernelHost, p: number, n: number): Float32Array {
  return new Float32Array(host.exports.memory.buffer, p, n);
}

/** @internal */
export function u8view(host: KernelHost, p: number, n: number): Uint8Array {
  return new Uint8Array(host.exports.memory.buffer, p, n);
}

/** @internal */
export function kernelName(host: KernelHost, base: string, kernel: KernelChoice | undefined): string {
  if (kernel !== undefined && kernel !== "simd" && kernel !== "ref") throw new TensorshrinkError("E_RANGE", `kernel must be "simd" or "ref", got ${String(kernel)}`);
  const name = kernel === "ref" ? `${base}_ref` : base;
  if (typeof host.exports[name] !== "function") throw new TensorshrinkError("E_UNSUPPORTED", `kernel ${name} is missing from this build`);
  return name;
}

/** @internal */
export function callKernel(name: string, f: () => any): number {
  try {
    return Number(f());
  } catch (e) {
    throw new TensorshrinkError("E_WASM_ABORT", `the ${name} kernel failed: ${(e as Error).message}`, { kernel: name }, { cause: e });
  }
}

/** @internal */
export function checkMatrix(x: unknown, opts: { rows: number; cols: number; name?: string }, fn: string): { rows: number; cols: number } {
  if (!opts || typeof opts !== "object") throw new TensorshrinkError("E_ARG_TYPE", `${fn} needs options { rows, cols, ... }`);
  if (!(x instanceof Float32Array)) throw new TensorshrinkError("E_ARG_TYPE", `${fn} input must be a Float32Array, got ${describe(x)}${where(opts.name)}`);
  const { rows, cols } = opts;
  if (!Number.isSafeInteger(rows) || rows < 0) throw new TensorshrinkError("E_SHAPE", `rows must be a non-negative integer, got ${rows}${where(opts.name)}`);
  if (!Number.isSafeInteger(cols) || cols <= 0) throw new TensorshrinkError("E_SHAPE", `cols must be a positive integer, got ${cols}${where(opts.name)}`);
  if (rows * cols !== x.length) throw new TensorshrinkError("E_SHAPE", `rows * cols = ${rows} * ${cols} does not match the input length ${x.length}${where(opts.name)}`, { rows, cols, length: x.length });
  return { rows, cols };
}

/** @internal */
export function resolveGroup(g: IntNOptions["group"], cols: number, name?: string): number {
  if (g === undefined || g === "row") return cols;
  if (g === "tensor") return 0;
  if (!Number.isSafeInteger(g) || g <= 0) throw new TensorshrinkError("E_RANGE", `group must be a positive integer, "row" or "tensor", got ${String(g)}${where(name)}`);
  if (cols % g !== 0) throw new TensorshrinkError("E_BLOCK", `group size ${g} does not divide cols = ${cols}${where(name)}`, { group: g, cols });
  return g;
}

/** @internal Throws E_NONFINITE naming the first NaN/Inf (row and column when `cols` is the row length). */
export function checkFinite(host: KernelHost, x: Float32Array, cols: number, name?: string): void {
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (v - v !== 0) {
      const row = Math.floor(i / Math.max(1, cols)), column = i % Math.max(1, cols);
      throw new TensorshrinkError("E_NONFINITE", `non-finite value ${v} at row ${row}, column ${column}${where(name)}`, { name, row, column, value: v, index: i });
    }
  }
  void host;
}
