// Copies what test/17 needs from ../shared/vectors/ggml-iq into test/fixtures/ggml-iq:
// every .quant.bin, each distinct input / imatrix file once (named by its sha256 prefix, identical
// content is shared by the types), and a compact manifest whose dequant entries keep only the sha256
// (the test hashes the engine's dequantized floats). Usage: node test/tools/copy-ggml-iq-fixtures.mjs
import { readFileSync, writeFileSync, mkdirSync, copyFileSync, existsSync } from "node:fs";
import { createHash } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const src = path.resolve(root, "../shared/vectors/ggml-iq");
const dst = path.join(root, "test/fixtures/ggml-iq");
mkdirSync(dst, { recursive: true });
const m = JSON.parse(readFileSync(path.join(src, "manifest.json"), "utf8"));
const sha = (p) => createHash("sha256").update(readFileSync(p)).digest("hex");
const cases = [];
let bytes = 0;
const shared = (f) => {
  const n = `${f.sha256.slice(0, 16)}.f32`;
  if (sha(path.join(src, f.name)) !== f.sha256) throw new Error(`sha mismatch ${f.name}`);
  if (!existsSync(path.join(dst, n))) { copyFileSync(path.join(src, f.name), path.join(dst, n)); bytes += f.bytes; }
  return n;
};
for (const c of m.cases) {
  copyFileSync(path.join(src, c.files.quant.name), path.join(dst, c.files.quant.name));
  bytes += c.files.quant.bytes;
  cases.push({
    name: c.name, type: c.type, variant: c.variant, api: c.api, rows: c.rows, n_per_row: c.n_per_row,
    input: shared(c.files.input), imatrix: c.files.imatrix ? shared(c.files.imatrix) : null,
    quant: c.files.quant.name, quant_sha256: c.files.quant.sha256, dequant_sha256: c.files.dequant.sha256,
  });
}
const out = { source: "shared/vectors/ggml-iq", llama_cpp_commit: m.llama_cpp_commit, ggml_commit: m.ggml_commit,
  requires_imatrix: m.requires_imatrix, has_quantize_row_ref: m.has_quantize_row_ref, n_cases: m.n_cases, cases };
writeFileSync(path.join(dst, "manifest.json"), JSON.stringify(out));
console.log(`${cases.length} cases, ${bytes} data bytes`);
