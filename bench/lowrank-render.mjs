// Renders bench/lowrank.json → bench/LOWRANK.md and bench/lowrank-eora.json → bench/LOWRANK-EORA.md (bench/lowrank.mjs
// calls it at the end; `node bench/lowrank-render.mjs [lowrank|lowrank-eora]` re-renders, e.g. a partial run).
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** Writes bench/<BASE>.md from bench/<base>.json (base "lowrank" or "lowrank-eora"); returns the markdown. */
export function renderLowrank(base) {
  const j = JSON.parse(readFileSync(path.join(ROOT, `bench/${base}.json`), "utf8"));
  // extra EoRA runs of other adapter types (bench/lowrank.mjs --eora-only --adapter-types f16 --out lowrank-eora-f16)
  const extra = base === "lowrank-eora" ? ["lowrank-eora-f16"].filter((b) => existsSync(path.join(ROOT, `bench/${b}.json`))).map((b) => JSON.parse(readFileSync(path.join(ROOT, `bench/${b}.json`), "utf8"))) : [];
  const rows = [...j.rows, ...extra.flatMap((x) => x.rows.filter((r) => r.part === "eora"))], f = (x, d = 4) => x.toFixed(d);
  const lr = rows.filter((r) => r.part === "lowrank"), ft = rows.filter((r) => r.part === "ftype"), eo = rows.filter((r) => r.part === "eora");
  const types = [...new Set(eo.map((r) => r.adapterType.toLowerCase()))];
  const types0 = [...new Set(j.rows.filter((r) => r.part === "eora").map((r) => r.adapterType.toLowerCase()))];
  const fts = ft.map((r) => r.ftype).filter((x) => x !== "SPARSEGPT24");
  let md = `# ${base === "lowrank" ? "Low-rank compression and EoRA" : "EoRA: compact adapters, Q2_K / Q3_K_M / 2:4-pruned bases"} on kjv3M (judged by llama.cpp)\n\n`;
  md += `\`node --import tsx bench/lowrank.mjs --docs ${j.docs} --chunks ${j.chunks}${types0.length ? ` --adapter-types ${types0.join(",")}` : ""}${base === "lowrank-eora" ? " --eora-only" : ""}${base === "lowrank" && !ft.length ? " --lowrank-only" : ""}${fts.length ? ` --ftypes ${fts.join(",")}` : ""} --threads ${j.threads ?? 1}\` — `;
  md += `${rows[0]?.tokens ?? 0} scored tokens of the first ${j.docs} eval.txt documents (context 128, BOS + document); statistics from ${j.chunks} chunks × 128 tokens of calib.txt; `;
  md += `F32 PPL ${f(rows[0]?.pplF32 ?? 0)} on this set. ${f(j.seconds, 0)} s on the shared 2-core machine${j.partial ? ` — **partial run: ${j.rows.length} models judged before it was stopped**` : ""}.\n\n`;
  for (const x of extra) md += `Adapter rows of type ${[...new Set(x.rows.filter((r) => r.part === "eora").map((r) => r.adapterType))].join(", ")} from a second run (same command with \`--adapter-types ${[...new Set(x.rows.filter((r) => r.part === "eora").map((r) => r.adapterType.toLowerCase()))].join(",")} --out lowrank-eora-f16\`, same documents and calibration, ${x.docs} documents, ${f(x.seconds, 0)} s${x.partial ? `, partial: ${x.rows.length} models judged` : ""}).\n\n`;
  if (lr.length) {
    md += `## SVD / ASVD / SVD-LLM (block linear weights replaced by B·A, rebuilt in F32)\n\n| method | param. reduction | linear params kept | PPL | mean KLD | top-1 % |\n|---|---:|---:|---:|---:|---:|\n`;
    for (const r of lr) md += `| ${r.method} | ${r.reduction * 100}% | ${f(r.linearParamsKept, 3)} | ${f(r.ppl)} | ${f(r.kld, 5)} | ${f(100 * r.top1, 2)} |\n`;
    md += "\n";
  }
  if (ft.length || eo.length) {
    md += `## EoRA adapters (GGUF LoRA loaded by llama.cpp on the compressed base; adapter bytes counted into bits per weight)\n\n`;
    md += `SPARSEGPT24 = SparseGPT 2:4 on the block linear weights (F16 storage with exact zeros, so its bpw is not a size claim). `;
    md += `"next larger ftype": the smallest plain k-quant of kjv3M judged here that is at least as large as base + adapter; "wins" = the adapted base has the lower mean KLD at no more bytes.\n\n`;
    md += `| base | adapter | rank | total bytes | bpw (base + adapter) | PPL | mean KLD | top-1 % | next larger ftype (bytes, KLD) | adapted base wins? |\n|---|---|---:|---:|---:|---:|---:|---:|---|---|\n`;
    const plain = ft.filter((r) => r.ftype !== "SPARSEGPT24").sort((a, b) => a.bytes - b.bytes);
    for (const r of ft) md += `| ${r.ftype} | – | – | ${r.bytes} | ${f(r.bpw, 3)} | ${f(r.ppl)} | ${f(r.kld, 5)} | ${f(100 * r.top1, 2)} | | |\n`;
    const cmp = [];
    for (const r of eo) {
      const nx = r.ftype === "SPARSEGPT24" ? null : plain.find((p) => p.bytes >= r.totalBytes);
      if (nx) cmp.push({ r, nx, win: r.kld < nx.kld });
      // no plain ftype as large: the smallest one that is smaller and has a lower KLD, if any
      const sm = nx || r.ftype === "SPARSEGPT24" ? null : plain.find((p) => p.bytes <= r.totalBytes && p.kld <= r.kld);
      md += `| ${r.ftype} + EoRA | ${r.adapterType} | ${r.rank} | ${r.totalBytes} | ${f(r.bpw, 3)} | ${f(r.ppl)} | ${f(r.kld, 5)} | ${f(100 * r.top1, 2)} | ${nx ? `${nx.ftype} (${nx.bytes}, ${f(nx.kld, 5)})` : r.ftype === "SPARSEGPT24" ? "(F16 base)" : sm ? `none as large; ${sm.ftype} is smaller (${sm.bytes}, ${f(sm.kld, 5)})` : "none as large"} | ${nx ? (r.kld < nx.kld ? "yes" : "no") : sm ? "no (a smaller ftype is better)" : "–"} |\n`;
    }
    md += `\n## Answers from this run (computed from the table)\n\n`;
    const q2 = ft.find((r) => r.ftype === "Q2_K"), q3 = ft.find((r) => r.ftype === "Q3_K_M");
    for (const t of types.map((x) => x.toUpperCase())) {
      const e32 = eo.find((r) => r.ftype === "Q2_K" && r.rank === 32 && r.adapterType === t);
      if (q2 && e32) md += `- EoRA rank 32 (${t}) on Q2_K: mean KLD ${f(q2.kld, 5)} → ${f(e32.kld, 5)} (${f(100 * (e32.kld / q2.kld - 1), 1)} %; target ≤ −30 %: ${e32.kld <= 0.7 * q2.kld ? "met" : "not met"}).\n`;
    }
    const q2c = cmp.filter((c) => c.r.ftype === "Q2_K");
    if (q2c.length) md += `- Q2_K + adapter vs the next larger ftype at equal or more bytes: ${q2c.filter((c) => c.win).length} of ${q2c.length} adapted configurations win (${q2c.map((c) => `r${c.r.rank} ${c.r.adapterType}: ${f(c.r.kld, 4)} vs ${c.nx.ftype} ${f(c.nx.kld, 4)}`).join("; ")}).\n`;
    if (q2 && q3) {
      const atQ3 = eo.filter((r) => r.ftype === "Q2_K" && r.totalBytes <= q3.bytes);
      md += `- Does Q2_K + adapter beat Q3_K_M (${q3.bytes} bytes, KLD ${f(q3.kld, 5)}) at equal total bytes? ${atQ3.length ? atQ3.map((r) => `r${r.rank} ${r.adapterType} (${r.totalBytes} B): KLD ${f(r.kld, 5)} → ${r.kld < q3.kld ? "yes" : "no"}`).join("; ") : `no adapted Q2_K fits in Q3_K_M's bytes (smallest: ${Math.min(...eo.filter((r) => r.ftype === "Q2_K").map((r) => r.totalBytes))} B)`}; `;
      const bigger = eo.filter((r) => r.ftype === "Q2_K" && r.kld < q3.kld).sort((a, b) => a.totalBytes - b.totalBytes)[0];
      md += bigger ? `Q2_K + adapter first reaches Q3_K_M's KLD at r${bigger.rank} ${bigger.adapterType}, ${bigger.totalBytes} B (${f(bigger.totalBytes / q3.bytes, 2)}× Q3_K_M's bytes).\n` : `no adapted Q2_K reaches Q3_K_M's KLD in this run.\n`;
    }
    const sp = ft.find((r) => r.ftype === "SPARSEGPT24");
    if (sp) md += `- SparseGPT 2:4: mean KLD ${f(sp.kld, 5)}${eo.filter((r) => r.ftype === "SPARSEGPT24").map((r) => ` → ${f(r.kld, 5)} (r${r.rank} ${r.adapterType})`).join("")}.\n`;
  }
  const out = path.join(ROOT, `bench/${base.toUpperCase()}.md`);
  const keep = existsSync(out) ? readFileSync(out, "utf8").split("\n## Notes (written by hand")[1] : undefined;
  if (keep !== undefined) md += `\n## Notes (written by hand${keep}`; // hand-written notes survive a re-render
  writeFileSync(out, md);
  return md;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) console.log(renderLowrank(process.argv[2] ?? "lowrank"));
