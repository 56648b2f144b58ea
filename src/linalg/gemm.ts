/**
 * GEMM (C = alpha op(A) op(B) + beta C) and SYRK (Gram matrices A^T A / A A^T) on row-major f32
 * matrices, through the packed SIMD kernels `sgemm` / `ssyrk` (4 x 8 f32x4 register tiles, K in
 * blocks of 256, A blocks of 128 x 256 and B panels of 256 x 1024 packed). Sums are f32 (each
 * output element is at most 256-term f32 partial sums added in f32). `gemmAsync` spreads row blocks
 * of C over the engine's worker pool.
 */
import { TensorshrinkError } from "../errors";
import type { Engine } from "../engine/engine";
import type { KernelHost } from "../quant/general";
import { checkBudget, checkMatrix, checkShape, kname, withScratch, type LinalgOptions, type Matrix } from "./matrix";

/** Options of {@link gemm}. */
export interface GemmOptions extends LinalgOptions {
  /** Use A^T (A is stored K x M). Default false. */
  transA?: boolean;
  /** Use B^T (B is stored N x K). Default false. */
  transB?: boolean;
  /** Default 1. */
  alpha?: number;
  /** Default 0 (C is not read, so it may hold anything). */
  beta?: number;
  /** Output (M x N), updated in place and returned; required when beta != 0. Default: a new matrix. */
  c?: Matrix;
}

/** Scratch bytes of sgemm/ssyrk (packing buffers, ~1.2 MiB). */
export function gemmWorkBytes(host: KernelHost): number {
  return host.exports.sgemm_work_bytes() as number;
}

interface GemmShape { M: number; N: number; K: number; ta: boolean; tb: boolean; alpha: number; beta: number }

function gemmShape(a: Matrix, b: Matrix, opts: GemmOptions): GemmShape {
  checkMatrix(a, "gemm A", opts.name);
  checkMatrix(b, "gemm B", opts.name);
  const ta = !!opts.transA, tb = !!opts.transB;
  const M = ta ? a.cols : a.rows, K = ta ? a.rows : a.cols;
  const Kb = tb ? b.cols : b.rows, N = tb ? b.rows : b.cols;
  if (K !== Kb) throw new TensorshrinkError("E_SHAPE", `gemm: op(A) is ${M} x ${K} but op(B) is ${Kb} x ${N} (inner dimensions differ)`, { M, K, Kb, N });
  const alpha = opts.alpha ?? 1, beta = opts.beta ?? 0;
  if (!Number.isFinite(alpha) || !Number.isFinite(beta)) throw new TensorshrinkError("E_NONFINITE", `gemm: alpha = ${alpha}, beta = ${beta} must be finite`);
  if (opts.c) {
    if (beta !== 0) checkMatrix(opts.c, "gemm C", opts.name);
    else checkShape(opts.c, "gemm C", opts.name);
    if (opts.c.rows !== M || opts.c.cols !== N) throw new TensorshrinkError("E_SHAPE", `gemm: C is ${opts.c.rows} x ${opts.c.cols}, expected ${M} x ${N}`, { M, N });
  } else if (beta !== 0) throw new TensorshrinkError("E_RANGE", `gemm: beta = ${beta} needs an input matrix c`);
  return { M, N, K, ta, tb, alpha, beta };
}

/**
 * C = alpha op(A) op(B) + beta C, f32 in and out (sums in f32). op(A) is M x K, op(B) K x N.
 * Wasm memory: 4 (MK + KN + MN) bytes + gemmWorkBytes (~1.2 MiB). 2 M N K flops.
 * Errors: E_SHAPE (inner dimensions / C shape), E_NONFINITE (NaN/Inf in A, B or a read C), E_OOM.
 */
export function gemm(host: KernelHost, a: Matrix, b: Matrix, opts: GemmOptions = {}): Matrix {
  const { M, N, K, ta, tb, alpha, beta } = gemmShape(a, b, opts);
  const ref = opts.kernel === "ref";
  const k = kname(host, "sgemm", opts);
  const work = ref ? 0 : gemmWorkBytes(host);
  checkBudget(4 * (M * K + K * N + M * N) + work, opts, "gemm");
  const c = opts.c ?? { data: new Float32Array(M * N), rows: M, cols: N };
  withScratch(host, (s) => {
    const pa = s.putF32(a.data), pb = s.putF32(b.data);
    const pc = beta !== 0 ? s.putF32(c.data) : s.alloc(M * N * 4);
    const lda = a.cols, ldb = b.cols;
    if (ref) s.call(k, pc, pa, pb, M, N, K, lda, ldb, N, +ta, +tb, alpha, beta);
    else s.call(k, pc, pa, pb, M, N, K, lda, ldb, N, +ta, +tb, alpha, beta, s.alloc(work));
    c.data.set(s.f32(pc, M * N));
  });
  return c;
}

/**
 * Like {@link gemm}, with C cut into row blocks that run on the engine's worker pool (on this thread
 * without a pool); same values as gemm (each output row is computed by the same kernel in the same
 * order). Every job gets a copy of op(A)'s rows and of all of B: per worker 4 (mb K + K N + mb N)
 * bytes + ~1.2 MiB, mb = rows per block (about M / (2 workers), at most so that A+C blocks fit
 * engine.chunkBytes).
 */
export async function gemmAsync(engine: Engine, a: Matrix, b: Matrix, opts: GemmOptions = {}): Promise<Matrix> {
  const { M, N, K, ta, tb, alpha, beta } = gemmShape(a, b, opts);
  const kernel = kname(engine, "sgemm", opts);
  const ref = opts.kernel === "ref";
  const workers = await engine.poolSize();
  const c = opts.c ?? { data: new Float32Array(M * N), rows: M, cols: N };
  const byMem = Math.max(1, Math.floor(engine.chunkBytes / Math.max(1, 4 * (K + N))));
  const mb = Math.max(1, Math.min(byMem, workers > 0 ? Math.ceil(M / (2 * workers)) : M));
  const work = ref ? 0 : gemmWorkBytes(engine);
  checkBudget(4 * (mb * K + K * N + mb * N) + work, opts, "gemmAsync");
  const jobs: Promise<void>[] = [];
  for (let i0 = 0; i0 < M; i0 += mb) {
    const m = Math.min(mb, M - i0);
    // rows i0..i0+m of op(A) as a contiguous block (lda = its row length)
    let ablk: Float32Array, lda: number;
    if (!ta) { ablk = a.data.slice(i0 * K, (i0 + m) * K); lda = K; }
    else {
      ablk = new Float32Array(K * m);
      for (let p = 0; p < K; p++) ablk.set(a.data.subarray(p * a.cols + i0, p * a.cols + i0 + m), p * m);
      lda = m;
    }
    const buffers = [
      { bytes: m * N * 4, data: beta !== 0 ? c.data.slice(i0 * N, (i0 + m) * N).buffer as ArrayBuffer : undefined },
      { bytes: ablk.byteLength, data: ablk.buffer as ArrayBuffer },
      { bytes: b.data.byteLength, data: b.data.slice().buffer as ArrayBuffer },
      ...(ref ? [] : [{ bytes: work }]),
    ];
    const args = [{ buf: 0 }, { buf: 1 }, { buf: 2 }, m, N, K, lda, b.cols, N, +ta, +tb, alpha, beta, ...(ref ? [] : [{ buf: 3 }])];
    jobs.push(engine.poolCall({ kernel, buffers, args, outputs: [0] }).then((r) => { c.data.set(new Float32Array(r.outputs[0]), i0 * N); }));
  }
  await Promise.all(jobs);
  return c;
}

/** Options of {@link syrk}. */
export interface SyrkOptions extends LinalgOptions {
  /** "AtA" (default): C = alpha A^T A (A is k x n, C n x n: the Gram matrix of columns, e.g. X^T X of activations). "AAt": alpha A A^T. */
  form?: "AtA" | "AAt";
  /** Which triangle to compute: "lower", "upper", or "full" (default: lower computed, then mirrored). The other triangle of C is left as it was. */
  uplo?: "lower" | "upper" | "full";
  alpha?: number;
  /** Default 0. With beta != 0, `c` is required. */
  beta?: number;
  c?: Matrix;
}

/**
 * Symmetric rank-k update: C = alpha A^T A + beta C (or A A^T), f32 sums, only one triangle computed
 * (about n^2 k flops, half a GEMM). Wasm memory: 4 (n k + n^2) bytes + ~1.2 MiB.
 */
export function syrk(host: KernelHost, a: Matrix, opts: SyrkOptions = {}): Matrix {
  checkMatrix(a, "syrk A", opts.name);
  const form = opts.form ?? "AtA";
  if (form !== "AtA" && form !== "AAt") throw new TensorshrinkError("E_RANGE", `syrk: form must be "AtA" or "AAt", got ${String(form)}`);
  const uplo = opts.uplo ?? "full";
  if (uplo !== "lower" && uplo !== "upper" && uplo !== "full") throw new TensorshrinkError("E_RANGE", `syrk: uplo must be "lower", "upper" or "full", got ${String(uplo)}`);
  const trans = form === "AtA";
  const n = trans ? a.cols : a.rows, k = trans ? a.rows : a.cols;
  const alpha = opts.alpha ?? 1, beta = opts.beta ?? 0;
  if (!Number.isFinite(alpha) || !Number.isFinite(beta)) throw new TensorshrinkError("E_NONFINITE", `syrk: alpha = ${alpha}, beta = ${beta} must be finite`);
  if (opts.c) {
    if (beta !== 0) checkMatrix(opts.c, "syrk C", opts.name); else checkShape(opts.c, "syrk C", opts.name);
    if (opts.c.rows !== n || opts.c.cols !== n) throw new TensorshrinkError("E_SHAPE", `syrk: C is ${opts.c.rows} x ${opts.c.cols}, expected ${n} x ${n}`);
  } else if (beta !== 0) throw new TensorshrinkError("E_RANGE", `syrk: beta = ${beta} needs an input matrix c`);
  const ref = opts.kernel === "ref";
  const kn = kname(host, "ssyrk", opts);
  const work = ref ? 0 : gemmWorkBytes(host);
  checkBudget(4 * (n * k + n * n) + work, opts, "syrk");
  const c = opts.c ?? { data: new Float32Array(n * n), rows: n, cols: n };
  withScratch(host, (s) => {
    const pa = s.putF32(a.data);
    const pc = s.putF32(c.data);
    const up = uplo === "upper" ? 1 : 0;
    if (ref) s.call(kn, pc, pa, n, k, a.cols, n, +trans, up, alpha, beta);
    else s.call(kn, pc, pa, n, k, a.cols, n, +trans, up, alpha, beta, s.alloc(work));
    if (uplo === "full") s.call("ssym_fill", pc, n, n, 0);
    c.data.set(s.f32(pc, n * n));
  });
  return c;
}
