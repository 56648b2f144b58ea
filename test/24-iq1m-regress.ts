// iq1_m regression: rows where an earlier kernel (ggml's old iq1_m split search, sums re-added in
// element order per split) wrote different bytes than the llama.cpp that test/62 compares against
// (node-llama-cpp's libggml-base, llama.cpp de3ff81, whose quantize_row_iq1_m_impl keeps prefix sums
// per 8-half and scores a split as T v2 - px[i1] - px[i2]). Expected bytes were written by that
// library's own ggml_quantize_chunk(GGML_TYPE_IQ1_M, ...) (fixtures in test/fixtures/iq1m):
// - blk.0.ffn_gate_exps row 536 (expert 2, row 24, with expert 2's imatrix slice) and blk.1.attn_q
//   row 116 of test/62's synthetic 8-expert MoE, with the legacy .dat importance matrix test/62 loads;
// - the five ggml-iq vector cases where that llama.cpp differs from the (older) vector set's bytes.
// SIMD kernel and scalar _ref twin, through engine.quantize and the streaming quantizer.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { init } from "../src/index";
import { FIXTURES, readF32, readU8, firstDiff } from "./_util";

const dir = `${FIXTURES}/iq1m`;
const engine = await init({ threads: 0 });
const manifest = JSON.parse(readFileSync(`${FIXTURES}/ggml-iq/manifest.json`, "utf8"));

const ROWS = ["blk_0_ffn_gate_exps_r536", "blk_1_attn_q_r116"];
for (const name of ROWS) {
  test(`iq1_m ${name} (synthetic MoE, imatrix): bytes = llama.cpp's, SIMD and _ref`, () => {
    const x = readF32(`${dir}/${name}.input.f32`), imatrix = readF32(`${dir}/${name}.imatrix.f32`);
    const want = readU8(`${dir}/${name}.llama.quant.bin`);
    assert.is(x.length, 256);
    assert.is(want.length, 56);
    for (const kernel of ["simd", "ref"] as const) {
      const got = engine.quantize(x, { type: "iq1_m", rows: 1, cols: 256, kernel, imatrix });
      const d = firstDiff(got, want);
      assert.is(d, -1, `${kernel}: byte ${d} differs (got ${got[d]}, want ${want[d]})`);
    }
    // the same row inside a larger matrix (other rows before it) and through the streaming form
    const big = new Float32Array(3 * 256);
    big.set(x.map((v) => -v), 0); big.set(x, 256); big.set(x.map((v) => v * 0.5), 512);
    const q = engine.quantize(big, { type: "iq1_m", rows: 3, cols: 256, imatrix });
    assert.is(firstDiff(q.subarray(56, 112), want), -1, "row 2 of 3");
    const sq = engine.createQuantizer({ type: "iq1_m", cols: 256, imatrix });
    const parts = [sq.push(big.subarray(0, 256)), sq.push(big.subarray(256))];
    sq.end();
    const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of parts) { all.set(p, o); o += p.length; }
    assert.is(firstDiff(all, q), -1, "streaming == sync");
  });
}

test("iq1_m: the five ggml-iq vector cases where llama.cpp de3ff81 differs from the vector set", () => {
  for (const c of ["iq1_m_const-imat_1", "iq1_m_const-imat_2", "iq1_m_const-imat_3", "iq1_m_ternary_1", "iq1_m_ternary_3"]) {
    const m = manifest.cases.find((k: { name: string }) => k.name === c);
    const x = readF32(`${FIXTURES}/ggml-iq/${m.input}`);
    const imatrix = m.imatrix ? readF32(`${FIXTURES}/ggml-iq/${m.imatrix}`) : undefined;
    const want = readU8(`${dir}/${c}.llama.quant.bin`), old = readU8(`${FIXTURES}/ggml-iq/${m.quant}`);
    assert.ok(firstDiff(want, old) >= 0, `${c}: the fixture differs from the vector set`);
    for (const kernel of ["simd", "ref"] as const) {
      const got = engine.quantize(x, { type: "iq1_m", rows: x.length / 256, cols: 256, kernel, imatrix });
      const d = firstDiff(got, want);
      assert.is(d, -1, `${c} ${kernel}: byte ${d} differs (got ${got[d]}, want ${want[d]})`);
    }
  }
});

test.after(() => engine.dispose());
test.run();
