// SentencePiece tokenizer.model (ModelProto protobuf) → GGUF vocabulary, and Hugging Face directories that
// ship tokenizer.model without tokenizer.json (convert_hf_to_gguf.py's _set_vocab_sentencepiece): pieces,
// scores and types in id order, vocab_size padding, special ids from tokenizer_config.json / config.json /
// TrainerSpec; unknown fields skipped by wire type; truncated files E_TRUNCATED and non-SentencePiece
// bytes E_FORMAT, with the byte offset.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { syntheticModel, TensorshrinkError } from "../src/index";
import { filesResolver } from "../src/formats/source";
import { llamaFromHf } from "../src/model/convert";
import { readSentencePieceModel, vocabFromSentencePiece } from "../src/model/sentencepiece";
import { hfLayout } from "./_hf";

// ---- a protobuf writer for the test's ModelProto files
const varint = (v: number): number[] => { const o: number[] = []; while (v >= 128) { o.push((v % 128) | 128); v = Math.floor(v / 128); } o.push(v); return o; };
const key = (f: number, w: number) => varint(f * 8 + w);
const ld = (f: number, body: number[]) => [...key(f, 2), ...varint(body.length), ...body];
const f32 = (v: number) => Array.from(new Uint8Array(Float32Array.of(v).buffer));
const neg1 = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]; // int32 -1, sign-extended
function encodeModelProto(pieces: { piece: string; score: number; type: number }[], trainer: { unk?: number; bos?: number; eos?: number; pad?: number } = {}): Uint8Array {
  const out: number[] = [];
  // trainer_spec first (as spm_train writes it after the pieces; order must not matter), with an unknown string field 1
  out.push(...ld(2, [...ld(1, Array.from(new TextEncoder().encode("input.txt"))), ...key(3, 0), ...varint(2),
    ...key(40, 0), ...varint(trainer.unk ?? 0), ...key(41, 0), ...varint(trainer.bos ?? 1), ...key(42, 0), ...varint(trainer.eos ?? 2), ...key(43, 0), ...(trainer.pad === undefined ? neg1 : varint(trainer.pad))]));
  for (const p of pieces) {
    const body = [...ld(1, Array.from(new TextEncoder().encode(p.piece))), ...key(2, 5), ...f32(p.score), ...(p.type === 1 ? [] : [...key(3, 0), ...varint(p.type)])];
    out.push(...ld(1, body));
  }
  out.push(...ld(3, [...key(1, 2), ...varint(4), 110, 109, 102, 99])); // normalizer_spec { name: "nmfc" }: skipped
  return Uint8Array.from(out);
}

const H = { nLayer: 1, nEmbd: 64, nFf: 128, nHead: 2, nHeadKv: 2, nVocab: 300, seed: 4 };
const syn = syntheticModel(H);
const meta = (k: string) => (syn.metadata.find((e) => e.key === k)!.value as any).items as any[];
const tokens = meta("tokenizer.ggml.tokens") as string[], scores = meta("tokenizer.ggml.scores") as number[], types = meta("tokenizer.ggml.token_type") as number[];
const proto = encodeModelProto(tokens.map((piece, i) => ({ piece, score: scores[i]!, type: types[i]! })));

test("readSentencePieceModel: pieces, scores, types, trainer ids; unknown fields skipped", () => {
  const m = readSentencePieceModel(proto);
  assert.equal(m.pieces, tokens);
  assert.equal(Array.from(m.scores), Array.from(Float32Array.from(scores)));
  assert.equal(Array.from(m.types), types);
  assert.equal([m.modelType, m.unkId, m.bosId, m.eosId, m.padId], [2, 0, 1, 2, -1]);
  const v = vocabFromSentencePiece(m, { add_bos_token: false }, {}, { vocabSize: 304 });
  assert.is(v.model, "llama");
  assert.is(v.tokens.length, 304);
  assert.is(v.tokens[302], "[PAD302]");
  assert.is(v.tokenTypes[303], 5);
  assert.is(v.scores![301], -10000, "padding inside vocab_size: score -10000 (_create_vocab_sentencepiece)");
  assert.equal([v.bosId, v.eosId, v.unkId, v.padId, v.addBos, v.addEos], [1, 2, 0, undefined, false, false]);
  // tokenizer_config.json contents win over the trainer's ids
  assert.is(vocabFromSentencePiece(m, { eos_token: { content: tokens[5] } }).eosId, 5);
  assert.is(vocabFromSentencePiece(m, {}, { bos_token_id: 7 }).bosId, 7);
});

test("malformed tokenizer.model: truncated → E_TRUNCATED at an offset; not SentencePiece → E_FORMAT", () => {
  for (const cut of [1, 7, proto.length - 3, Math.floor(proto.length / 2)]) {
    try { readSentencePieceModel(proto.subarray(0, cut)); assert.unreachable(`cut ${cut}`); } catch (e) {
      assert.instance(e, TensorshrinkError);
      assert.ok(["E_TRUNCATED", "E_FORMAT"].includes((e as TensorshrinkError).code), `cut ${cut}: ${(e as Error).message}`);
      assert.match((e as Error).message, /byte offset \d+/);
    }
  }
  const t = (() => { try { readSentencePieceModel(proto.subarray(0, proto.length - 3)); } catch (e) { return e as TensorshrinkError; } })()!;
  assert.is(t.code, "E_TRUNCATED");
  for (const junk of [new TextEncoder().encode('{"model": {"type": "BPE"}}'), Uint8Array.of(0x0f, 1, 2, 3), new Uint8Array(0), Uint8Array.from(encodeModelProto([{ piece: "a", score: 0, type: 9 }]))]) {
    try { readSentencePieceModel(junk); assert.unreachable(); } catch (e) { assert.is((e as TensorshrinkError).code, "E_FORMAT", (e as Error).message); }
  }
  // a piece that is not UTF-8
  const badUtf8 = Uint8Array.from(ld(1, [...ld(1, [0xff, 0xfe]), ...key(2, 5), ...f32(0)]));
  try { readSentencePieceModel(badUtf8); assert.unreachable(); } catch (e) { assert.match((e as Error).message, /UTF-8/); }
});

test("HF directory with tokenizer.model and no tokenizer.json converts; vocabulary = the model's", async () => {
  const files = await hfLayout(syn, H);
  delete files["tokenizer.json"];
  files["tokenizer.model"] = proto;
  files["tokenizer_config.json"] = new TextEncoder().encode(JSON.stringify({ add_bos_token: true, chat_template: "{{ messages }}" }));
  const plan = await llamaFromHf(filesResolver(files));
  try {
    assert.equal(plan.vocab.tokens, tokens);
    assert.equal(plan.vocab.scores, Array.from(Float32Array.from(scores)));
    assert.equal(plan.vocab.tokenTypes, types);
    assert.equal([plan.vocab.bosId, plan.vocab.eosId, plan.vocab.unkId, plan.vocab.addBos], [1, 2, 0, true]);
    assert.is(plan.vocab.chatTemplate, "{{ messages }}");
  } finally {
    await plan.close();
  }
  delete files["tokenizer.model"];
  const e = await llamaFromHf(filesResolver(files)).catch((x) => x);
  assert.is(e.code, "E_IO");
  assert.match(e.message, /neither tokenizer\.json nor tokenizer\.model/);
  files["tokenizer.model"] = proto.subarray(0, 100);
  const e2 = await llamaFromHf(filesResolver(files)).catch((x) => x);
  assert.is(e2.code, "E_TRUNCATED");
});

test.run();
