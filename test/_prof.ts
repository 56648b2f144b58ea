import { init } from "../src/index";
const e = await init();
const n = Number(process.argv[2] ?? 1024);
const ex = e.exports as any;
const f64 = (p: number, k: number) => new Float64Array(ex.memory.buffer, p, k);
const pa = e.alloc(8 * n * n), pt = e.alloc(8 * n * n), pg = e.alloc(8 * n * n), pz = e.alloc(8 * n * n), py = e.alloc(8 * n * n);
const pd = e.alloc(8 * n), pe = e.alloc(8 * n), dt = e.alloc(8 * n), et = e.alloc(8 * n), wk = e.alloc(56 * n);
{ const a = f64(pa, n * n), t = f64(pt, n * n); for (let i = 0; i < n * n; i++) a[i] = Math.random() - 0.5; for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) t[j * n + i] = a[i * n + j]; }
const T: Record<string, number> = {};
const tm = (k: string, f: () => void) => { const t = performance.now(); f(); T[k] = Math.round(performance.now() - t); };
tm("gram", () => ex.dgemm_nt(pg, pt, pt, n, n, n, n, n, n, 1));
{ const g = f64(pg, n * n); for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) g[j * n + i] = g[i * n + j]; }
const ph = e.alloc(8 * n);
tm("reduce", () => ex.dsytrd_reduce(pg, n, pd, pe, ph));
f64(dt, n).set(f64(pd, n)); f64(et, n).set(f64(pe, n));
tm("sterf", () => ex.dsterf_stage(n, pd, pe));
tm("stein", () => ex.dstein(pz, n, pd, dt, et, wk));
tm("ormtr", () => ex.dormtr_rows(pz, n, pg, ph));
tm("B", () => ex.dgemm_nt(py, pz, pa, n, n, n, n, n, n, 0));
console.log(n, T);
