// Fuzzing beyond the GGUF header reader (test/30 does 100,000 of those): random mutations and cuts of
// real files for the safetensors, llama2.c and imatrix readers, and whole-pipeline runs (read a
// mutated GGUF, header and data, then quantizeModel it) — no crash, hang or untyped error, and
// nothing written when it fails.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import path from "node:path";
import { init, TensorshrinkError, readImatrix, encodeLegacyImatrix, quantizeModel, ggufModelSource } from "../src/index";
import { readSafetensors, encodeSafetensors } from "../src/formats/safetensors";
import { readLlama2cCheckpoint } from "../src/formats/llama2c";
import { readGguf } from "../src/formats/gguf";
import { memorySource, memorySink } from "../src/formats/source";
import { FIXTURES, randn } from "./_util";

const N = Number(process.env.TENSORSHRINK_FUZZ_N ?? 100_000) / 5; // 20,000 per reader by default
let seed = 987654321;
const rnd = () => { seed ^= seed << 13; seed >>>= 0; seed ^= seed >>> 17; seed ^= seed << 5; seed >>>= 0; return seed; };

/** `n` mutated copies of `file`: 1-4 bytes changed within the first `span` bytes, sometimes cut short. */
function* mutants(file: Uint8Array, span: number, n: number): Generator<Uint8Array> {
  for (let i = 0; i < n; i++) {
    const b = file.slice();
    const k = 1 + (rnd() % 4);
    for (let j = 0; j < k; j++) b[rnd() % Math.min(span, b.length)] = rnd() % 5 === 0 ? 0xff : rnd() & 255;
    yield rnd() % 7 === 0 ? b.subarray(0, rnd() % b.length) : b;
  }
}

/** Runs `fn` on every mutant: it may succeed; a failure must be a TensorshrinkError with one of `codes`. */
async function fuzz(name: string, file: Uint8Array, span: number, n: number, codes: string[], fn: (b: Uint8Array) => Promise<unknown>) {
  let ok = 0, typed = 0, i = 0;
  for (const b of mutants(file, span, n)) {
    try {
      await fn(b);
      ok++;
    } catch (e) {
      if (!(e instanceof TensorshrinkError)) assert.unreachable(`${name} case ${i}: untyped error ${(e as Error)?.stack ?? e}`);
      const te = e as TensorshrinkError;
      assert.ok(codes.includes(te.code), `${name} case ${i}: ${te.code}: ${te.message}`);
      typed++;
    }
    i++;
  }
  assert.is(ok + typed, n);
  assert.ok(typed > n / 10, `${name}: only ${typed} of ${n} rejected: the mutations do not reach the header`);
  return { ok, typed };
}

test(`safetensors: ${N} mutations of a 3-tensor file`, async () => {
  const file = encodeSafetensors([
    { name: "a.weight", dtype: "F32", shape: [4, 8], data: randn(32, 1) },
    { name: "b.weight", dtype: "F16", shape: [16], data: randn(16, 2) },
    { name: "c.weight", dtype: "BF16", shape: [2, 3, 4], data: randn(24, 3) },
  ], { format: "pt" });
  const headerEnd = 8 + Number(new DataView(file.buffer).getBigUint64(0, true));
  await fuzz("safetensors", file, headerEnd, N, ["E_FORMAT", "E_TRUNCATED", "E_UNSUPPORTED"], async (b) => {
    const st = await readSafetensors(memorySource(b));
    for (const t of st.tensors.values()) if (["F32", "F16", "BF16"].includes(t.dtype)) await t.readRows(0, t.rows);
  });
});

test(`llama2.c checkpoint: ${N} mutations of the header of a tiny model`, async () => {
  // dim 8, hidden 16, 1 layer, 2 heads, 2 kv heads, vocab 10, seq 4 (legacy header; shared classifier)
  const cfg = [8, 16, 1, 2, 2, 10, 4];
  // embeddings, rms_att, wq wk wv wo, rms_ffn, w1 w2 w3, rms_final, freq_cis real + imag (seq x head/2 each)
  const nw = 10 * 8 + 8 + 4 * 8 * 8 + 8 + 3 * 16 * 8 + 8 + 2 * 4 * 2;
  const file = new Uint8Array(28 + 4 * nw);
  const dv = new DataView(file.buffer);
  cfg.forEach((v, i) => dv.setInt32(i * 4, v, true));
  new Float32Array(file.buffer, 28, nw).set(randn(nw, 4));
  const parsed = await readLlama2cCheckpoint(memorySource(file));
  assert.ok(parsed);
  await fuzz("llama2c", file, 28, N, ["E_FORMAT", "E_TRUNCATED"], (b) => readLlama2cCheckpoint(memorySource(b)));
});

test(`imatrix: ${N} mutations each of a legacy .dat (with trailer)`, async () => {
  const m = new Map([["blk.0.attn_q.weight", randn(64, 5)], ["blk.0.ffn_down.weight", randn(96, 6)], ["output.weight", randn(32, 7)]]);
  const dat = encodeLegacyImatrix(m, { chunkCount: 7, dataset: "wiki.txt" });
  await fuzz("imatrix.dat", dat, dat.length, N, ["E_FORMAT", "E_TRUNCATED"], (b) => readImatrix(memorySource(b)));
});

test("whole pipeline: 3,000 mutated GGUF files (header and data) through quantizeModel: typed errors, nothing written on failure", async () => {
  const engine = await init({ threads: 0 });
  const sample = new Uint8Array(readFileSync(path.join(FIXTURES, "gguf/sample.gguf")));
  let parsed = 0, quantized = 0;
  try {
    await fuzz("pipeline", sample, sample.length, 3000, ["E_FORMAT", "E_TRUNCATED", "E_NONFINITE", "E_UNSUPPORTED", "E_SHAPE", "E_BLOCK", "E_UNKNOWN_TYPE"], async (b) => {
      const g = await readGguf(memorySource(b));
      parsed++;
      const sink = memorySink();
      try {
        await quantizeModel(engine, ggufModelSource(g, engine), sink, { ftype: ["Q8_0", "Q4_K_M", "F16"][rnd() % 3], order: rnd() % 2 ? "input" : "llama.cpp", allowRequantize: true });
      } catch (e) {
        assert.is(sink.bytes().length, 0, "a failed run leaves nothing in the sink");
        throw e;
      }
      await readGguf(memorySource(sink.bytes())); // the output parses
      quantized++;
    });
  } finally {
    engine.dispose();
  }
  assert.ok(parsed > 300 && quantized > 100, `parsed ${parsed}, quantized ${quantized}`);
});

test.run();
