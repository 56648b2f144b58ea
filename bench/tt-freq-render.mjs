// Renders bench/tt-freq.json (bench/tt.mjs --set freq) as bench/TT-FREQ.md; `node bench/tt-freq-render.mjs` re-renders a partial run.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** Writes bench/TT-FREQ.md from bench/tt-freq.json; returns the markdown. */
export function renderTtFreq() {
  const j = JSON.parse(readFileSync(path.join(ROOT, "bench/tt-freq.json"), "utf8"));
  const f = (x, n = 4) => x.toFixed(n);
  const F = j.rows[0]?.pplF32 ?? 0;
  const cov = Object.entries(j.coverage ?? {}).map(([k, v]) => `${k}: ${(100 * v).toFixed(1)} %`).join(", ");
  let md = `# TT embeddings with token frequencies on kjv3M (judged by llama.cpp)\n\n` +
    `\`node --import tsx bench/tt.mjs --set freq --docs ${j.docs} --threads ${j.threads ?? 1}\` — token_embd.weight [512, 256] of kjv3M, **input only** (the original table kept ` +
    `as output.weight, \`--untie\`); ${j.rows[0]?.tokens ?? 0} scored tokens of ${j.docs} eval.txt documents (context 128, BOS + document); F32 PPL ${f(F)}. ` +
    `${j.partial ? "**Partial run** (cut short): " : ""}${f(j.seconds, 0)} s on the shared 2-core machine.\n\n` +
    `Frequencies: ${j.calibTokens} tokens of calib.txt (never eval.txt), ${j.distinct} distinct of 512; the most frequent k tokens cover ${cov} of them.\n\n` +
    `**values** = every stored value: TT cores + dense rows + row scales + row map (each map entry counted as a value); ` +
    `**compression** = 131072 / values. **bytes** = payload in the listed storage (cores and dense rows f32 / f16 / q8_0, scales f32, map i32), ` +
    `**byte ratio** = 524288 (the F32 table) / bytes — a byte ratio, not a parameter ratio.\n\n` +
    `| configuration | storage | ranks | values (cores + other) | compression (values) | bytes | byte ratio vs F32 | rel. error | PPL | PPL vs F32 | mean KLD | top-1 % |\n` +
    `|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n`;
  for (const r of j.rows) {
    md += `| ${r.label} | ${r.coreType} | ${r.ranks.join(",")} | ${r.values} (${r.coreValues} + ${r.extraValues}) | ${f(r.compression, 2)}× | ${r.bytes} | ${f(r.byteRatio, 2)}× | ${f(r.relError, 4)} | ${f(r.ppl)} | ${r.ppl >= F ? "+" : ""}${f(100 * (r.ppl / F - 1), 1)} % | ${f(r.kld, 5)} | ${f(100 * r.top1, 2)} |\n`;
  }
  const full = existsSync(path.join(ROOT, "bench/tt-freq-263.json")) ? JSON.parse(readFileSync(path.join(ROOT, "bench/tt-freq-263.json"), "utf8")) : null;
  if (full && full.rows.length) {
    const F2 = full.rows[0].pplF32;
    md += `\n## The decisive rows on all ${full.docs} documents\n\n\`node --import tsx bench/tt.mjs --set freq --docs ${full.docs} --threads ${full.threads ?? 1} --only … --out tt-freq-263\` — ` +
      `${full.rows[0].tokens} scored tokens, F32 PPL ${f(F2)}; ${f(full.seconds, 0)} s${full.partial ? " (**partial run**)" : ""}.\n\n` +
      `| configuration | storage | values | compression (values) | bytes | byte ratio vs F32 | PPL | PPL vs F32 | mean KLD | top-1 % |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n`;
    for (const r of full.rows) md += `| ${r.label} | ${r.coreType} | ${r.values} | ${f(r.compression, 2)}× | ${r.bytes} | ${f(r.byteRatio, 2)}× | ${f(r.ppl)} | ${r.ppl >= F2 ? "+" : ""}${f(100 * (r.ppl / F2 - 1), 1)} % | ${f(r.kld, 5)} | ${f(100 * r.top1, 2)} |\n`;
  }
  const best = (xs) => xs.reduce((b, r) => (!b || r.ppl < b.ppl ? r : b), null);
  const bv = best(j.rows.filter((r) => r.compression >= 10)), bb = best(j.rows.filter((r) => r.byteRatio >= 10));
  const say = (r, what) => r ? `${r.label} (${r.coreType}): ${f(r.compression, 2)}× in values, ${f(r.byteRatio, 2)}× in bytes, PPL ${f(r.ppl)} = ${f(100 * (r.ppl / F - 1), 1)} % above F32 — target (within 5 %) ${r.ppl <= 1.05 * F ? "**met**" : "**not met**"} ${what}` : `no configuration at ≥ 10× ${what}`;
  md += `\n## At ≥ 10× (${j.docs} documents)\n\n- Best at ≥ 10× in stored values: ${say(bv, "in values")}.\n- Best at ≥ 10× in bytes vs F32: ${say(bb, "in bytes")}.\n`;
  if (full && full.rows.length) {
    const F2 = full.rows[0].pplF32, say2 = (r, what) => r ? `${r.label} (${r.coreType}): ${f(r.compression, 2)}× in values, ${f(r.byteRatio, 2)}× in bytes, PPL ${f(r.ppl)} = ${f(100 * (r.ppl / F2 - 1), 1)} % above F32 — target (within 5 %) ${r.ppl <= 1.05 * F2 ? "**met**" : "**not met**"} ${what}` : `no configuration at ≥ 10× ${what} in this run`;
    md += `- On all ${full.docs} documents, at ≥ 10× in values: ${say2(best(full.rows.filter((r) => r.compression >= 10)), "in values")}.\n- On all ${full.docs} documents, at ≥ 10× in bytes: ${say2(best(full.rows.filter((r) => r.byteRatio >= 10)), "in bytes")}.\n`;
  }
  const out = path.join(ROOT, "bench/TT-FREQ.md");
  const keep = existsSync(out) ? readFileSync(out, "utf8").split("\n## Notes (written by hand")[1] : undefined;
  if (keep !== undefined) md += `\n## Notes (written by hand${keep}`; // hand-written notes survive a re-render
  writeFileSync(out, md);
  return md;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) console.log(renderTtFreq());
