// Structured pruning that shrinks the file: kjv3M with 25% of the FFN channels removed (every block) and with one
// layer removed (renumbered blk.N, lower block_count) — written as F32 GGUF, loaded by llama.cpp (node-llama-cpp,
// f32 KV cache, no flash attention), and the engine's forward pass agrees with it on the same tokens. Plus the
// typed errors (every channel / every layer, fraction out of range, no Block Influence). ../shared models: SKIP
// when absent. ~15 s.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { init, quantizeModel, openFileSink, LlamaModel, pruneFfnChannels, pruneLayers, TensorshrinkError, syntheticModel } from "../src/index";
import { openLlama2cModel } from "../src/model/convert";
import { SHARED } from "./_util";

const KJV = path.join(SHARED, "models/kjv3M");
const engine = await init({ threads: 1 });
const code = (c: string) => (e: unknown) => e instanceof TensorshrinkError && e.code === c;
async function rejects(f: () => unknown, c: string, msg: string) { try { await f(); } catch (e) { assert.ok(code(c)(e), `${msg}: ${e}`); return; } assert.unreachable(`${msg}: did not throw`); }

test("bad structured input: typed errors before anything is written", async () => {
  const src = syntheticModel({ nLayer: 2, nEmbd: 64, nFf: 128, nHead: 4, nHeadKv: 2, nVocab: 96 });
  await rejects(() => pruneFfnChannels(src, 1), "E_RANGE", "fraction 1");
  await rejects(() => pruneFfnChannels(src, -0.1), "E_RANGE", "fraction < 0");
  await rejects(() => pruneLayers(src, 2, [0.1, 0.2]), "E_RANGE", "all layers");
  await rejects(() => pruneLayers(src, 1, null), "E_IMATRIX", "no BI");
  await rejects(() => pruneLayers(src, 1, [0.1]), "E_IMATRIX", "BI length");
  const r = pruneLayers(src, 1, [0.5, 0.1]);
  assert.equal(r.kept, [[0]]);
  assert.ok(r.source.tensors.every((t) => !t.name.startsWith("blk.1.")));
  const f = await pruneFfnChannels(src, 0.25);
  assert.is(f.source.tensors.find((t) => t.name === "blk.0.ffn_down.weight")!.ne[0], 96);
  assert.is(Number(f.source.metadata.find((k) => k.key === "llama.feed_forward_length")!.value), 96);
});

if (!existsSync(path.join(KJV, "kjv3M.bin"))) {
  console.log("SKIP: ../shared/models/kjv3M not found (the structured llama.cpp test needs it)");
} else {
  test("FFN -25% and 1 layer removed: smaller GGUF, llama.cpp loads it, our forward agrees", async () => {
    const nlc: any = await import("node-llama-cpp");
    const llama = await nlc.getLlama({ gpu: false, build: "never", skipDownload: true, logLevel: "error" });
    const tmp = mkdtempSync(path.join(tmpdir(), "ts-prune-st-"));
    try {
      const src = await openLlama2cModel(path.join(KJV, "kjv3M.bin"), path.join(KJV, "tok512.bin"));
      const dense = path.join(tmp, "dense.gguf");
      await quantizeModel(engine, src, await openFileSink(dense), { ftype: "F32" });
      const variants: [string, () => Promise<any>][] = [["ffn25", () => pruneFfnChannels(src, 0.25)], ["layer1", async () => pruneLayers(src, 1, [0.3, 0.2, 0.1, 0.4])]];
      for (const [label, make] of variants) {
        const r = await make();
        const f = path.join(tmp, `${label}.gguf`);
        await quantizeModel(engine, r.source, await openFileSink(f), { ftype: "F32" });
        const ratio = statSync(f).size / statSync(dense).size;
        assert.ok(ratio < (label === "ffn25" ? 0.85 : 0.9), `${label}: file ratio ${ratio}`);
        const model = await llama.loadModel({ modelPath: f, gpuLayers: 0 });
        const ctx = await model.createContext({ contextSize: 128, batchSize: 128, threads: 2, flashAttention: false, experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32" });
        const seq = ctx.getSequence();
        const ours = await LlamaModel.open(engine, f, { nCtx: 128 });
        const V = ours.config.nVocab;
        let dmax = 0, agree = 0, n = 0;
        for (let s = 0; s < 2; s++) {
          const toks = [1, ...Array.from({ length: 40 }, (_, i) => 3 + ((i * 37 + s * 101) % 500))];
          await seq.clearHistory();
          const res = await seq.controlledEvaluate(toks.map((t) => [t, { generateNext: { logits: true } }]));
          const mine = await ours.forward(toks);
          for (let i = 0; i < toks.length; i++) {
            const ref = new Float32Array(V);
            for (const [k, v] of res[i].next.logits as Map<number, number>) ref[k] = v;
            let am = 0, bm = 0;
            for (let j = 0; j < V; j++) { dmax = Math.max(dmax, Math.abs(ref[j] - mine[i * V + j])); if (ref[j] > ref[am]) am = j; if (mine[i * V + j] > mine[i * V + bm]) bm = j; }
            if (am === bm) agree++;
            n++;
          }
        }
        ours.dispose(); await ctx.dispose(); await model.dispose();
        console.log(`  ${label}: file ${(100 * ratio).toFixed(1)}% of dense, max |Δlogit| vs llama.cpp ${dmax.toExponential(2)}, argmax ${agree}/${n}`);
        assert.ok(dmax <= 2e-3, `${label}: max |Δlogit| ${dmax}`);
        assert.ok(agree >= n - 1, `${label}: argmax ${agree}/${n}`);
      }
      await src.close();
    } finally { rmSync(tmp, { recursive: true, force: true }); }
  });
}

test.after(() => engine.dispose());
test.run();
