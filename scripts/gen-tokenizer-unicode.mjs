// Regenerates the LLAMA_CPP_UNASSIGNED ranges in src/tokenizer/unicode.ts: codepoints that this JS
// engine's Unicode assigns but llama.cpp's unicode-data.cpp (an older Unicode) marks UNDEFINED.
// Usage: node scripts/gen-tokenizer-unicode.mjs <llama.cpp>/src/unicode-data.cpp
// (llama.cpp's sources ship inside node-llama-cpp: `git clone node_modules/node-llama-cpp/llama/gitRelease.bundle`).
import fs from "node:fs";
const file = process.argv[2];
if (!file) { console.error("usage: node scripts/gen-tokenizer-unicode.mjs <llama.cpp>/src/unicode-data.cpp"); process.exit(2); }
const src = fs.readFileSync(file, "utf8");
const part = src.slice(src.indexOf("unicode_ranges_flags"), src.indexOf("unicode_set_whitespace"));
const ranges = [...part.matchAll(/\{0x([0-9A-Fa-f]+), 0x([0-9A-Fa-f]+)\}/g)].map((m) => [parseInt(m[1], 16), parseInt(m[2], 16)]);
const N = 0x110000;
const fl = new Uint16Array(N);
for (let i = 0; i + 1 < ranges.length; i++) for (let c = ranges[i][0]; c < ranges[i + 1][0]; c++) fl[c] = ranges[i][1];
const cats = { 2: /\p{N}/u, 4: /\p{L}/u, 8: /\p{Z}/u, 0x10: /\p{M}/u, 0x20: /\p{P}/u, 0x40: /\p{S}/u, 0x80: /[\p{Cc}\p{Cf}\p{Cs}\p{Co}]/u };
const cn = /\p{Cn}/u;
const out = [];
let other = 0;
for (let c = 0; c < N; c++) {
  const s = String.fromCodePoint(c);
  if (fl[c] & 1) { if (!cn.test(s)) out.push(c); continue; }
  for (const [bit, re] of Object.entries(cats)) if (!!(fl[c] & Number(bit)) !== re.test(s)) { other++; if (other < 10) console.error(`category differs at U+${c.toString(16)}`); }
}
const rs = [];
for (const c of out) { const last = rs[rs.length - 1]; if (last && last[1] === c - 1) last[1] = c; else rs.push([c, c]); }
const hex = (c) => c.toString(16);
console.log(`// ${out.length} codepoints in ${rs.length} ranges; ${other} codepoints differ in category otherwise (JS Unicode ${process.versions.unicode})`);
console.log(`export const LLAMA_CPP_UNASSIGNED = "${rs.map(([a, b]) => (a === b ? hex(a) : `${hex(a)}-${hex(b)}`)).join(",")}";`);
