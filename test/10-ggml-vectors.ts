// Every case of llama.cpp's reference vectors (test/fixtures/ggml, copied from shared/vectors/ggml):
// quantized bytes and dequantized floats identical, for both the SIMD kernel and its _ref twin.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, existsSync } from "node:fs";
import { init } from "../src/index";
import { FIXTURES, readF32, readU8, firstDiff } from "./_util";

const dir = `${FIXTURES}/ggml`;
const manifest = JSON.parse(readFileSync(`${dir}/manifest.json`, "utf8"));
const engine = await init();
// Types the engine must cover (issue 3). Set TS_VECTORS_ALLOW_MISSING=1 to list missing ones without failing.
const REQUIRED = Object.keys(manifest.types);
const byType = new Map<string, any[]>();
for (const c of manifest.cases) {
  const k = `${c.type} ${c.variant}`;
  if (!byType.has(k)) byType.set(k, []);
  byType.get(k)!.push(c);
}

for (const [key, cases] of byType) {
  const [type, variant] = key.split(" ");
  if (!engine.supports(type) && process.env.TS_VECTORS_ALLOW_MISSING) { console.log(`  (no kernel yet for ${type})`); continue; }
  test(`${key}: ${cases.length} cases bit-identical (quant bytes + dequant floats, SIMD and _ref)`, () => {
    const failures: string[] = [];
    for (const c of cases) {
      const x = readF32(`${dir}/${c.name}.input.f32`);
      const imatrix = c.with_imatrix ? readF32(`${dir}/${c.name}.imatrix.f32`) : undefined;
      const want = readU8(`${dir}/${c.name}.quant.bin`);
      const wantDq = readU8(`${dir}/${c.name}.dequant.f32`);
      for (const kernel of ["simd", "ref"] as const) {
        const o = { type, rows: c.rows, cols: c.n_per_row, kernel, imatrix, algorithm: variant === "ref" && type === "iq4_nl" ? "ref" : undefined } as any;
        // f16/bf16 "specials" cases are ggml's conversions of Inf/NaN: by default tensorshrink refuses
        // non-finite input (as llama-quantize does), so these conversions are checked with the opt-out.
        if (type === "f16" || type === "bf16") o.allowNonFinite = true;
        let got: Uint8Array;
        try {
          got = engine.quantize(x, o);
        } catch (e) {
          failures.push(`${c.name} ${kernel}: threw ${(e as Error).message}`);
          continue;
        }
        const d = firstDiff(got, want);
        if (d >= 0) failures.push(`${c.name} ${kernel}: quant byte ${d} differs`);
        const dq = engine.dequantize(want, o);
        const dd = firstDiff(dq, wantDq);
        if (dd >= 0) failures.push(`${c.name} ${kernel}: dequant byte ${dd} differs`);
      }
    }
    assert.is(failures.length, 0, failures.slice(0, 10).join("\n"));
  });
}

test("every manifest type has kernels", () => {
  const missing = REQUIRED.filter((t) => !engine.supports(t));
  if (process.env.TS_VECTORS_ALLOW_MISSING) { if (missing.length) console.log(`  missing: ${missing.join(", ")}`); return; }
  assert.equal(missing, []);
});

test("manifest and fixtures are complete", () => {
  assert.is(manifest.cases.length, manifest.n_cases);
  for (const c of manifest.cases) for (const f of Object.values<any>(c.files)) assert.ok(existsSync(`${dir}/${f.name}`), f.name);
});

test.run();
