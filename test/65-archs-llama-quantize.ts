// Recipes of the non-llama architectures against llama.cpp's own quantizer, whole files byte for byte:
// Qwen2 (q/k/v biases stay f32, tied embedding → token_embd takes the output rule) and Qwen3 (q/k norms,
// head_dim ≠ n_embd / n_head, untied output), 8 layers so the attn_v / ffn_down "more bits" layers of
// Q4_K_M / Q5_K_M / Q3_K_M land where llama_tensor_get_type puts them. Inputs: synthetic HF directories
// converted by tensorshrink to F32 GGUF. Eight ftypes by default, every one with TS_ARCHS_ALL_FTYPES=1 (Q2_K_S needs an imatrix in
// llama.cpp: skipped there as in test/61). Skips with a message without a C++ compiler / libllama.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { init, quantizeModel, FTYPES, openFileSink } from "../src/index";
import { filesResolver } from "../src/formats/source";
import { convertToGguf } from "../src/model/convert";
import { openModel } from "../src/model/open";
import { archLayout, type ArchOptions } from "./_hf-archs";
import { assertSameFile, buildQuantizeHarness, llamaQuantize } from "./_quantize-harness";

const tmp = mkdtempSync(path.join(tmpdir(), "ts-archs-quant-"));
const harness = buildQuantizeHarness(tmp);
if (typeof harness === "string") {
  console.log(`SKIP: ${harness}; the byte-for-byte comparison with llama.cpp needs it`);
  rmSync(tmp, { recursive: true, force: true });
  test.run();
} else {
  const engine = await init({ threads: 2 });
  test.after(() => { engine.dispose(); rmSync(tmp, { recursive: true, force: true }); });
  const SHAPES: Record<string, ArchOptions> = {
    "qwen2 (8 layers, tied embedding, biases)": { arch: "qwen2", nLayer: 8, nEmbd: 256, nFf: 512, nHead: 4, nHeadKv: 1, tied: true, seed: 7 },
    "qwen3 (8 layers, head_dim 128, q/k norms)": { arch: "qwen3", nLayer: 8, nEmbd: 256, nFf: 512, nHead: 4, nHeadKv: 2, headDim: 128, tied: false, seed: 8 },
  };
  // the ftypes whose per-tensor rules differ (output / token_embd, attn_v, ffn_down, attn_output,
  // fallbacks) plus F16; TS_ARCHS_ALL_FTYPES=1 runs every ftype (all 20 measured identical, ~2 min)
  const ALL = process.env.TS_ARCHS_ALL_FTYPES ? Object.keys(FTYPES) : ["F16", "Q8_0", "Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "IQ4_NL", "TQ1_0"];
  for (const [tag, o] of Object.entries(SHAPES)) {
    test(`${tag}: every ftype byte-identical to llama_model_quantize`, async () => {
      const input = path.join(tmp, `${o.arch}-F32.gguf`);
      await convertToGguf({ hf: filesResolver(archLayout(o)) }, await openFileSink(input), { ftype: "F32" });
      const done: string[] = [];
      for (const f of ALL) {
        const ref = path.join(tmp, `ref-${f}.gguf`), mine = path.join(tmp, `ours-${f}.gguf`);
        const r = llamaQuantize(harness.exe, input, ref, f);
        if (!r.ok) { assert.is(f, "Q2_K_S", `llama.cpp failed on ${f}:\n${r.log.slice(-600)}`); continue; }
        const m = await openModel(input, engine);
        try { await quantizeModel(engine, m, await openFileSink(mine, { inputs: [input] }), { ftype: f }); } finally { await m.close?.(); }
        await assertSameFile(ref, mine, `${tag} ${f}`);
        done.push(f);
        rmSync(ref); rmSync(mine);
      }
      assert.ok(done.length >= ALL.length - (ALL.includes("Q2_K_S") ? 1 : 0));
      console.log(`  ${tag}: ${done.length} ftypes identical (${done.join(" ")})`);
    });
  }
  test.run();
}
