import { init, svd, eigh, syrk } from "../src/index";
const e = await init();
const n = Number(process.argv[2] ?? 512);
const a = { data: Float32Array.from({ length: n * n }, () => Math.random() - 0.5), rows: n, cols: n };
for (const method of ["stein", "ql"] as const) {
  const t = performance.now(); const r = svd(e, a, { method }); console.log(method, ((performance.now() - t) / 1000).toFixed(2), "s", r.S[0], r.S[n - 1]);
}
