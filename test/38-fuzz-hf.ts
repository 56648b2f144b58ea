// Fuzzing Hugging Face directories (issue 8): seeded hostile variants of a small model's config.json
// (sizes, types, negative, float, huge, missing, extra fields), tokenizer.json (ids, added tokens,
// merges), tokenizer_config.json, the shard index (missing shards, a tensor in two shards, unknown
// shards, bad names) and the safetensors headers (offsets beyond the file, shapes, dtypes), plus cut
// or flipped JSON. Every case must end, within 2 s and +200 MB of peak RSS, in a typed
// TensorshrinkError or in a GGUF that passes llama.cpp's shape checks.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { init, quantizeModel, openModel, TensorshrinkError } from "../src/index";
import { filesResolver, memorySink, memorySource } from "../src/formats/source";
import { readGguf } from "../src/formats/gguf";
import { checkLlamaModel } from "../src/model/validate";
import { hostileHfDir, seedFuzz, single } from "./_hf-fuzz";

const N = Number(process.env.TENSORSHRINK_FUZZ_HF_N ?? 3000);
const engine = await init({ threads: 0 });
seedFuzz(Number(process.env.TENSORSHRINK_FUZZ_SEED ?? 0x5eed1234));

test(`${N} hostile Hugging Face directories: typed errors or valid files, each within 2 s and +200 MB`, async () => {
  const maxRssKB = () => process.resourceUsage().maxRSS;
  // warm up (lazy imports, JIT) so the first case is not measured with them
  for (let i = 0; i < 3; i++) await quantizeModel(engine, await openModel({ dir: filesResolver(single) }, engine), memorySink(), { ftype: "Q8_0" });
  const rss0 = maxRssKB();
  const t0 = Date.now();
  let ok = 0, worstMs = 0;
  const codes = new Map<string, number>();
  for (let i = 0; i < N; i++) {
    const { files, kinds } = hostileHfDir();
    const c0 = Date.now();
    let err: unknown = null;
    try {
      const m = await openModel({ dir: filesResolver(files) }, engine);
      try {
        const sink = memorySink();
        await quantizeModel(engine, m, sink, { ftype: "Q8_0" });
        const g = await readGguf(memorySource(sink.bytes()));
        checkLlamaModel({ metadata: g.metadata, tensors: g.tensors }, `case ${i} output`);
      } finally {
        await m.close?.();
      }
    } catch (e) {
      err = e;
    }
    const ms = Date.now() - c0;
    worstMs = Math.max(worstMs, ms);
    if (err === null) ok++;
    else {
      if (!(err instanceof TensorshrinkError)) assert.unreachable(`case ${i} (${kinds.join(", ")}): untyped ${(err as Error)?.stack ?? err}`);
      codes.set((err as TensorshrinkError).code, (codes.get((err as TensorshrinkError).code) ?? 0) + 1);
    }
    assert.ok(ms < 2000, `case ${i} (${kinds.join(", ")}): ${ms} ms`);
    const grew = (maxRssKB() - rss0) / 1024;
    assert.ok(grew < 200, `case ${i} (${kinds.join(", ")}): peak RSS +${grew.toFixed(0)} MB`);
  }
  const rejected = N - ok;
  console.log(`  ${N} cases in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${ok} valid files, ${rejected} typed errors (${[...codes].sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} ${n}`).join(", ")}); slowest case ${worstMs} ms, peak RSS +${((maxRssKB() - rss0) / 1024).toFixed(0)} MB`);
  assert.ok(rejected > N / 3, `only ${rejected} of ${N} rejected: the mutations do not bite`);
  assert.ok(ok > 0, "no case produced a file: the fuzzer only tests error paths");
});

test.after(() => engine.dispose());
test.run();
