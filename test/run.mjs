// Runs every numbered uvu test file (test/NN-*.ts) in its own Node process (tsx for TypeScript),
// prints their output, and ends with the line `N passed, N failed` (uvu's counts summed).
// Usage: node test/run.mjs [filter-substring ...]
import { spawnSync } from "node:child_process";
import { readdirSync, existsSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..");
const filters = process.argv.slice(2);
const files = readdirSync(here).filter((f) => /^\d\d-.*\.ts$/.test(f)).filter((f) => !filters.length || filters.some((s) => f.includes(s))).sort();
if (!existsSync(path.join(root, "build/tensorshrink.wasm"))) {
  console.error("build/tensorshrink.wasm is missing: run `npm run build` (npm install/ci runs it) first");
  process.exit(1);
}
let passed = 0, failed = 0, skipped = 0;
const t0 = Date.now();
for (const f of files) {
  const t = Date.now();
  console.log(`\n# ${f}`);
  const r = spawnSync(process.execPath, ["--import", "tsx", "--import", pathToFileURL(path.join(here, "_uvu-details.mjs")).href, path.join(here, f)], { cwd: root, encoding: "utf8", env: { ...process.env, FORCE_COLOR: "0" }, maxBuffer: 256 << 20, timeout: 30 * 60 * 1000 });
  const out = (r.stdout || "") + (r.stderr || "");
  process.stdout.write(out);
  const num = (k) => { const m = out.match(new RegExp(`^\\s*${k}:\\s+(\\d+)`, "m")); return m ? Number(m[1]) : null; };
  const total = num("Total"), ok = num("Passed"), sk = num("Skipped") ?? 0;
  if (total === null || ok === null) {
    console.log(`!! ${f}: no uvu summary (exit ${r.status}${r.signal ? ", " + r.signal : ""}) — counted as 1 failure`);
    failed += 1;
    continue;
  }
  passed += ok; skipped += sk;
  failed += total - ok; // uvu's Total does not count skipped tests
  if (r.status !== 0 && total - ok === 0) { console.log(`!! ${f}: exit code ${r.status}`); failed += 1; }
  console.log(`# ${f}: ${ok}/${total} passed in ${((Date.now() - t) / 1000).toFixed(1)} s`);
}
console.log(`\ntests done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(failed ? 1 : 0);
