// Linear-algebra benchmark (one run, all ratios measured in it): GEMM GFLOPS beside numpy sgemm,
// SVD 1024 x 1024 against LAPACK (numpy, OpenBLAS single-threaded) and a plain-JS one-sided Jacobi
// SVD, randomized SVD rank 64 of 4096 x 4096 against the full SVD and the optimal rank-64 error,
// Cholesky / choleskyInverseUpper / eigh timings. Writes bench/LINALG.md and bench/linalg.json.
// Usage: node scripts/build.mjs && node bench/linalg.mjs [--quick]
// numpy: /usr/bin/python3 with python3-numpy (and libopenblas0) from Debian; skipped when missing.
import { writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import os from "node:os";
import path from "node:path";
import { init, gemm, gemmAsync, svd, randomizedSvd, qr, cholesky, choleskyInverseUpper, eigh, syrk } from "../dist/index.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const quick = process.argv.includes("--quick");
/** --only=gemm,svd,rsvd,chol: run just those sections (nothing written). */
const only = (process.argv.find((a) => a.startsWith("--only=")) ?? "").slice(7).split(",").filter(Boolean);
const run = (name) => !only.length || only.includes(name);
const engine = await init({ threads: 2 });
const tmp = mkdtempSync(path.join(os.tmpdir(), "ts-linalg-"));
const now = () => performance.now();
/** Mean seconds over `reps` runs after one warm-up run; reps = 0: one cold run. */
const time = (fn, reps = 1) => { if (reps === 0) { const t = now(); fn(); return (now() - t) / 1000; } fn(); const t = now(); for (let i = 0; i < reps; i++) fn(); return (now() - t) / reps / 1000; };
const rng = (seed) => { let s = seed >>> 0; return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 4294967296; }; };
const gauss = (n, seed) => { const r = rng(seed), x = new Float32Array(n); for (let i = 0; i < n; i++) { let a = 0; for (let j = 0; j < 4; j++) a += r(); x[i] = (a - 2) * 1.7320508; } return x; };
const mat = (rows, cols, seed) => ({ data: gauss(rows * cols, seed), rows, cols });
const out = { date: new Date().toISOString(), node: process.version, cpu: os.cpus()[0]?.model, cores: os.cpus().length };

// ---------------------------------------------------------------- numpy helper
function numpy(script) {
  const r = spawnSync("/usr/bin/python3", ["-c", script], { encoding: "utf8", timeout: 9 * 60 * 1000,
    env: { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== "OPENBLAS_CORETYPE" && k !== "OPENBLAS_L2_SIZE")), OPENBLAS_NUM_THREADS: "1", OMP_NUM_THREADS: "1" } });
  if (r.status !== 0) { console.log("numpy unavailable:", (r.stderr || "").split("\n").slice(-2).join(" ")); return null; }
  return JSON.parse(r.stdout.trim().split("\n").pop());
}
const f32file = (name, m) => { const p = path.join(tmp, name); writeFileSync(p, Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength)); return p; };

// ---------------------------------------------------------------- GEMM
const G = quick ? 512 : 1024;
if (run("gemm")) {
  const a = mat(G, G, 1), b = mat(G, G, 2);
  const flops = 2 * G ** 3;
  const ts = time(() => gemm(engine, a, b), 3);
  const tt = time(() => gemm(engine, a, b, { transA: true, transB: true }), 2);
  const ta = await (async () => { await gemmAsync(engine, a, b); const t = now(); await gemmAsync(engine, a, b); await gemmAsync(engine, a, b); return (now() - t) / 2000; })();
  const tr = quick ? NaN : time(() => gemm(engine, { data: a.data.subarray(0, 256 * G), rows: 256, cols: G }, b, { kernel: "ref" }), 0) * G / 256;
  const np = numpy(`import numpy as np, time, json
a=np.fromfile("${f32file("ga", a)}",dtype=np.float32).reshape(${G},${G}); b=np.fromfile("${f32file("gb", b)}",dtype=np.float32).reshape(${G},${G})
c=a@b; t=time.perf_counter()
for _ in range(3): c=a@b
print(json.dumps({"t": (time.perf_counter()-t)/3}))`);
  out.gemm = { n: G, simd_s: ts, simd_gflops: flops / ts / 1e9, tt_gflops: flops / tt / 1e9, async_gflops: flops / ta / 1e9, ref_gflops: flops / tr / 1e9, numpy_s: np?.t ?? null, numpy_gflops: np ? flops / np.t / 1e9 : null };
  console.log("gemm", out.gemm);
}

// ---------------------------------------------------------------- plain-JS one-sided Jacobi SVD (baseline)
/** Hestenes one-sided Jacobi on the columns of A (f64, columns stored as rows of At); `maxSweeps` caps the work. Returns { s, sweeps, seconds }. */
function jacobiSvdJs(a, maxSweeps = 30) {
  const m = a.rows, n = a.cols, t0 = now();
  const at = new Float64Array(m * n), v = new Float64Array(n * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) at[j * m + i] = a.data[i * n + j];
  for (let j = 0; j < n; j++) v[j * n + j] = 1;
  let sweeps = 0;
  for (; sweeps < maxSweeps; ) {
    sweeps++;
    let off = 0;
    for (let p = 0; p < n - 1; p++) for (let q = p + 1; q < n; q++) {
      let alpha = 0, beta = 0, gamma = 0;
      const op = p * m, oq = q * m;
      for (let r = 0; r < m; r++) { const x = at[op + r], y = at[oq + r]; alpha += x * x; beta += y * y; gamma += x * y; }
      if (gamma === 0 || Math.abs(gamma) <= 1e-15 * Math.sqrt(alpha * beta)) continue;
      off = Math.max(off, Math.abs(gamma) / Math.sqrt(alpha * beta));
      const zeta = (beta - alpha) / (2 * gamma), t = Math.sign(zeta || 1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
      const c = 1 / Math.sqrt(1 + t * t), s = c * t;
      for (let r = 0; r < m; r++) { const x = at[op + r], y = at[oq + r]; at[op + r] = c * x - s * y; at[oq + r] = s * x + c * y; }
      const vp = p * n, vq = q * n;
      for (let r = 0; r < n; r++) { const x = v[vp + r], y = v[vq + r]; v[vp + r] = c * x - s * y; v[vq + r] = s * x + c * y; }
    }
    if (off < 1e-12) break;
  }
  const s = new Float64Array(n);
  for (let j = 0; j < n; j++) { let q = 0; for (let r = 0; r < m; r++) q += at[j * m + r] ** 2; s[j] = Math.sqrt(q); }
  s.sort((x, y) => y - x);
  return { s, sweeps, seconds: (now() - t0) / 1000 };
}

// ---------------------------------------------------------------- SVD 1024 x 1024
const S = quick ? 256 : 1024;
if (run("svd")) {
  const a = mat(S, S, 3);
  let r;
  const t = time(() => { r = svd(engine, a); }, 0);
  const np = numpy(`import numpy as np, time, json
a=np.fromfile("${f32file("sa", a)}",dtype=np.float32).reshape(${S},${S})
np.linalg.svd(a[:64,:64]); t=time.perf_counter(); u,s,vt=np.linalg.svd(a, full_matrices=False); t=time.perf_counter()-t
s64=np.linalg.svd(a.astype(np.float64), compute_uv=False)
print(json.dumps({"t": t, "s": s.tolist(), "s64": s64.tolist()}))`);
  // plain-JS baseline: full run at S/2 for the sweep count, then 1 timed sweep at S (x that count: a lower bound, since sweeps grow with n)
  const skipJs = process.argv.includes("--no-js");
  const half = skipJs ? { sweeps: NaN, seconds: NaN } : jacobiSvdJs(mat(S / 2, S / 2, 4));
  const one = skipJs ? { sweeps: NaN, seconds: NaN } : jacobiSvdJs(a, 1);
  const jsEstimate = one.seconds * half.sweeps;
  let maxDiff = null, maxDiff64 = null;
  if (np) {
    maxDiff = 0; maxDiff64 = 0;
    for (let i = 0; i < S; i++) { maxDiff = Math.max(maxDiff, Math.abs(r.S[i] - np.s[i])); maxDiff64 = Math.max(maxDiff64, Math.abs(r.S[i] - np.s64[i])); }
    maxDiff /= np.s[0]; maxDiff64 /= np.s64[0];
  }
  out.svd = { n: S, ours_s: t, numpy_s: np?.t ?? null, ratio_vs_lapack: np ? t / np.t : null, maxdiff_vs_sgesdd_rel_smax: maxDiff, maxdiff_vs_dgesdd_rel_smax: maxDiff64,
    js_half_n: S / 2, js_half_sweeps: half.sweeps, js_half_s: half.seconds, js_one_sweep_s: one.seconds, js_estimate_s: jsEstimate, speedup_vs_js: jsEstimate / t };
  console.log("svd", out.svd);
}

// ---------------------------------------------------------------- randomized SVD rank 64 of 4096 x 4096
const R = quick ? 1024 : 4096, RK = 64, TAIL = 512;
if (run("rsvd")) {
  // A = U diag(s) V^T with orthonormal U, V (R x TAIL) and s_i = 1 / (1 + i): exact spectrum known
  const u = qr(engine, mat(R, TAIL, 5)).Q, v = qr(engine, mat(R, TAIL, 6)).Q;
  const sv = Float64Array.from({ length: TAIL }, (_, i) => 1 / (1 + i));
  for (let i = 0; i < R; i++) for (let j = 0; j < TAIL; j++) u.data[i * TAIL + j] *= sv[j];
  const a = gemm(engine, u, v, { transB: true });
  let opt = 0; for (let i = RK; i < TAIL; i++) opt += sv[i] ** 2; opt = Math.sqrt(opt);
  let r;
  const t = time(() => { r = randomizedSvd(engine, a, RK); }, 0);
  // error ‖A − U S Vᵀ‖_F = sqrt(‖A‖² − ...) computed directly: E = A − (U S) Vᵀ via gemm
  const us = { data: r.U.data.slice(), rows: R, cols: RK };
  for (let i = 0; i < R; i++) for (let j = 0; j < RK; j++) us.data[i * RK + j] *= r.S[j];
  const rec = gemm(engine, us, r.V, { transB: true });
  let e = 0; for (let i = 0; i < rec.data.length; i++) e += (a.data[i] - rec.data[i]) ** 2; e = Math.sqrt(e);
  // full SVD time at R: measured at R/2 and scaled by 8 (all its steps are cubic), unless --quick
  const h = R / 2;
  const th = time(() => svd(engine, mat(h, h, 7)), 0);
  const fullEstimate = th * 8;
  out.rsvd = { n: R, rank: RK, oversample: 10, powerIters: 2, ours_s: t, err: e, optimal_err: opt, err_ratio: e / opt, full_svd_half_n: h, full_svd_half_s: th, full_svd_estimate_s: fullEstimate, speedup_vs_full: fullEstimate / t };
  console.log("rsvd", out.rsvd);
}

// ---------------------------------------------------------------- GPTQ-shaped Cholesky work
if (run("chol")) {
  const n = quick ? 256 : 1024;
  const h = syrk(engine, mat(2 * n, n, 8));
  out.chol = { n, cholesky_s: time(() => cholesky(engine, h), 1), choleskyInverseUpper_s: time(() => choleskyInverseUpper(engine, h, 0.01), 1), eigh_s: time(() => eigh(engine, h), 0) };
  console.log("chol", out.chol);
}

rmSync(tmp, { recursive: true, force: true });
if (!quick && !only.length) {
  writeFileSync(path.join(here, "linalg.json"), JSON.stringify(out, null, 1) + "\n");
  const f = (x, d = 2) => (x === null || x === undefined || Number.isNaN(x) ? "n/a" : Number(x).toFixed(d));
  const g = out.gemm, s = out.svd, r = out.rsvd, c = out.chol;
  writeFileSync(path.join(here, "LINALG.md"), `# Linear algebra benchmark

\`node scripts/build.mjs && node bench/linalg.mjs\` on ${out.cpu} (${out.cores} cores shared with other jobs), Node ${out.node}, ${out.date}.
All figures from this one run; numpy is Debian's python3-numpy on OpenBLAS with OPENBLAS_NUM_THREADS=1.
Ours: the wasm SIMD kernels on one thread (gemmAsync: 2 pool workers).

## GEMM (f32, ${g.n} x ${g.n} x ${g.n})
| | GFLOPS |
|---|---|
| gemm (SIMD, packed 4x8 tiles) | ${f(g.simd_gflops)} |
| gemm A^T B^T | ${f(g.tt_gflops)} |
| gemmAsync (2 workers) | ${f(g.async_gflops)} |
| sgemm_ref (scalar twin) | ${f(g.ref_gflops)} |
| numpy sgemm (OpenBLAS, 1 thread) | ${f(g.numpy_gflops)} |

## SVD ${s.n} x ${s.n} (f32 input, U, S, V)
| | seconds |
|---|---|
| svd (f64 Gram + eigh + refinement) | ${f(s.ours_s)} |
| numpy.linalg.svd (LAPACK sgesdd, 1 thread) | ${f(s.numpy_s)} |
| plain-JS one-sided Jacobi (estimate: ${f(s.js_one_sweep_s)} s per sweep at ${s.n} x ${s.js_half_sweeps} sweeps, the count it needed at ${s.js_half_n}) | ${f(s.js_estimate_s)} |

- time vs LAPACK: ${f(s.ratio_vs_lapack)}x (target <= 3x); speed-up vs plain JS: ${f(s.speedup_vs_js, 1)}x (target >= 20x)
- singular values: max |σ_i − σ_i(LAPACK sgesdd)| = ${s.maxdiff_vs_sgesdd_rel_smax?.toExponential(2)} σ_max; against dgesdd on the same (f32) matrix in f64: ${s.maxdiff_vs_dgesdd_rel_smax?.toExponential(2)} σ_max (target 1e-5)

## Randomized SVD, rank ${r.rank} of ${r.n} x ${r.n} (σ_i = 1/(1+i), i < 512; oversample ${r.oversample}, ${r.powerIters} power iterations)
- time ${f(r.ours_s)} s; full SVD of ${r.n} x ${r.n} estimated ${f(r.full_svd_estimate_s, 1)} s (measured ${f(r.full_svd_half_s)} s at ${r.full_svd_half_n}, x 8): ${f(r.speedup_vs_full, 1)}x faster (target >= 10x)
- error ‖A − UΣVᵀ‖_F = ${r.err.toExponential(4)}, optimal rank-${r.rank} error ${r.optimal_err.toExponential(4)}: ratio ${f(r.err_ratio, 4)} (target <= 2)

## GPTQ-shaped (n = ${c.n}, H = XᵀX)
| | seconds |
|---|---|
| cholesky (f64) | ${f(c.cholesky_s, 3)} |
| choleskyInverseUpper (f64) | ${f(c.choleskyInverseUpper_s, 3)} |
| eigh (f64) | ${f(c.eigh_s, 3)} |
`);
  console.log("wrote bench/LINALG.md");
}
await engine.dispose?.();
process.exit(0);
