// Tokenizer unit tests without llama.cpp: SPM merges / byte fallback / BOS-EOS / space prefix, special
// tokens, BPE merges and pre-tokenizers, decode(encode(x)) round trips, empty text, typed errors,
// determinism. Vocabularies are built in memory. (Identity with llama.cpp itself: test/75.)
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ggufArray, ggufKV, type GgufKV } from "../src/formats/gguf";
import { Tokenizer } from "../src/tokenizer/tokenizer";
import { preTokenize, preTokenizerFor } from "../src/tokenizer/pretokenize";
import { firstInvalidUtf8, maskNewCodepoints } from "../src/tokenizer/unicode";
import { isTensorshrinkError } from "../src/errors";
import { TORTURE_CASES, TORTURE } from "./_llama-vocab";
import { BigramHeap, BigramHeapWide, f32SortKey } from "../src/tokenizer/heap";
import { rng } from "./_util";
import { learnBpe } from "./_bpe-synth";

const gguf = (kvs: GgufKV[]) => ({ kv: new Map(kvs.map((k) => [k.key, k])) });
const hex = (b: number) => `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`;

/** A SentencePiece vocabulary: <unk> <s> </s>, 256 byte tokens, then `pieces` (score = -index). */
function spm(pieces: string[], extra: GgufKV[] = [], types?: Record<string, number>): Tokenizer {
  const tokens = ["<unk>", "<s>", "</s>", ...Array.from({ length: 256 }, (_, b) => hex(b)), ...pieces];
  const tt = tokens.map((t, i) => types?.[t] ?? (i === 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : 1));
  return Tokenizer.fromGguf(gguf([
    ggufKV("tokenizer.ggml.model", "str", "llama"),
    ggufKV("tokenizer.ggml.tokens", "arr", ggufArray("str", tokens)),
    ggufKV("tokenizer.ggml.scores", "arr", ggufArray("f32", tokens.map((_, i) => (i < 259 ? 0 : -(i - 259))))),
    ggufKV("tokenizer.ggml.token_type", "arr", ggufArray("i32", tt)),
    ...extra,
  ]));
}
const P = 259; // id of the first piece

function bpe(text: string, nMerges: number, pre: string): Tokenizer {
  const { tokens, types, merges } = learnBpe(text, nMerges, pre);
  return Tokenizer.fromGguf(gguf([
    ggufKV("tokenizer.ggml.model", "str", "gpt2"),
    ggufKV("tokenizer.ggml.pre", "str", pre),
    ggufKV("tokenizer.ggml.tokens", "arr", ggufArray("str", tokens)),
    ggufKV("tokenizer.ggml.token_type", "arr", ggufArray("i32", types)),
    ggufKV("tokenizer.ggml.merges", "arr", ggufArray("str", merges)),
    ggufKV("tokenizer.ggml.bos_token_id", "u32", tokens.indexOf("<|begin_of_text|>")),
    ggufKV("tokenizer.ggml.eos_token_id", "u32", tokens.indexOf("<|end_of_text|>")),
  ]));
}

const code = (fn: () => unknown): string => {
  try { fn(); } catch (e) { assert.ok(isTensorshrinkError(e), `not a TensorshrinkError: ${e}`); return (e as any).code; }
  assert.unreachable("did not throw");
  return "";
};

test("SPM: highest score merges first, leading ▁, BOS by default, EOS when add_eos", () => {
  const t = spm(["▁", "a", "b", "ab", "▁a", "▁ab", "▁abab", "ba"]);
  assert.is(t.nVocab, P + 8);
  assert.is(t.bos, 1); assert.is(t.eos, 2); assert.is(t.unk, 0);
  assert.equal(Array.from(t.encode("ab")), [1, P + 5]); // BOS ▁ab
  assert.equal(Array.from(t.encode("ab ab", { addBos: false })), [P + 5, P + 5]);
  assert.equal(Array.from(t.encode("abab", { addBos: false })), [P + 6]); // ▁abab, built from ▁ab + ab
  assert.equal(Array.from(t.encode("bab", { addBos: false })), [P, P + 2, P + 3]); // ▁ + b + ab: "ab" (score -3) beats "▁b" (absent) and "ba" (-7)
  const e = spm(["▁", "a"], [ggufKV("tokenizer.ggml.add_eos_token", "bool", true)]);
  assert.equal(Array.from(e.encode("a")), [1, P, P + 1, 2]);
  assert.equal(Array.from(e.encode("a", { addBos: false })), [P, P + 1]);
});

test("SPM: ties merge the leftmost pair; add_space_prefix = false", () => {
  const t = spm(["aa"], [ggufKV("tokenizer.ggml.add_space_prefix", "bool", false)]);
  assert.is(t.addSpacePrefix, false);
  assert.equal(Array.from(t.encode("aaa", { addBos: false })), [P, 3 + 0x61]);
  assert.equal(Array.from(t.encode(" a", { addBos: false })), [3 + 0xe2, 3 + 0x96, 3 + 0x81, 3 + 0x61]); // "▁" by bytes, then 'a'
});

test("SPM: byte fallback for text outside the vocabulary (UTF-8 bytes as <0xXX>)", () => {
  const t = spm(["▁"]);
  const ids = Array.from(t.encode("é😀", { addBos: false }));
  assert.equal(ids, [P, ...[0xc3, 0xa9, 0xf0, 0x9f, 0x98, 0x80].map((b) => 3 + b)]);
  assert.is(t.decode(ids), "é😀");
  assert.is(t.piece(3 + 0x41), "A");
  assert.equal(Array.from(t.pieceBytes(3 + 0xc3)), [0xc3]);
});

test("special tokens: parseSpecial splits on CONTROL texts, USER_DEFINED always; decode renders them only when asked", () => {
  const t = spm(["▁", "<", "s", ">", "<s", "<s>", "x", "<tool>"], [], { "<tool>": 4 });
  const tool = P + 7;
  // parseSpecial: <s> is BOS; the text after a special token gets the ▁ prefix again
  assert.equal(Array.from(t.encode("x<s>x", { addBos: false, parseSpecial: true })), [P, P + 6, 1, P, P + 6]);
  // not parsed: the merges may still build the vocabulary's "<s>" piece text (as llama.cpp does)
  const plain = Array.from(t.encode("x<s>x", { addBos: false }));
  assert.not.ok(plain.includes(1));
  // USER_DEFINED tokens are always split out
  assert.equal(Array.from(t.encode("x<tool>x", { addBos: false })), [P, P + 6, tool, P, P + 6]);
  assert.is(t.decode([1, P, P + 6]), " x");
  assert.is(t.decode([1, P, P + 6], { unparseSpecial: true }), "<s> x");
  assert.is(t.decode([1, P, P + 6], { removeSpecial: true }), " x");
  assert.is(t.decode([P, P + 6]), "x"); // without BOS the prefix space is removed
});

test("empty text: [] or [BOS]; decode([]) is empty", () => {
  const t = spm(["▁"]);
  assert.equal(Array.from(t.encode("")), [1]);
  assert.equal(Array.from(t.encode("", { addBos: false })), []);
  assert.is(t.decode([]), "");
  const b = bpe("hello hello world", 5, "llama-bpe");
  assert.equal(Array.from(b.encode("")), [b.bos]); // llama-bpe sets add_bos
  assert.equal(Array.from(b.encode("", { addBos: false })), []);
});

test("decode(encode(x)) === x on the torture text (SPM with byte fallback; BPE with qwen2 pre, no space cleaning)", () => {
  const s = spm(["▁", "▁the", "th", "he", "▁a", "in", "an"]);
  const b = bpe("the quick brown fox jumps over the lazy dog. The end, 123 don't ".repeat(4) + TORTURE, 200, "qwen2");
  for (const x of [...TORTURE_CASES, TORTURE]) {
    assert.is(s.decode(s.encode(x, { addBos: false })), x, `SPM ${JSON.stringify(x)}`);
    assert.is(b.decode(b.encode(x, { addBos: false })), x, `BPE ${JSON.stringify(x)}`);
  }
});

test("BPE: lowest-rank merges, byte-level encoding, ignore_merges (llama-bpe), BOS from add_bos", () => {
  const b = bpe("aaab aaab aaab abab", 4, "llama-bpe");
  assert.is(b.model, "gpt2");
  assert.is(b.addBos, true);
  const ids = b.encode("aaab é", { addBos: false });
  assert.is(b.decode(ids), "aaab é");
  assert.equal(b.decode(b.encode(" \t\n")), " \t\n");
  // gpt-2 pre-tokenizer: no BOS by default
  const g = bpe("aaab aaab", 2, "gpt-2");
  assert.is(g.addBos, false);
  assert.equal(Array.from(g.encode("")), []);
});

test("pre-tokenizers split like llama.cpp's matchers (llama-bpe, qwen2, gpt-2, default)", () => {
  const words = (t: string, p: string) => preTokenize(t, preTokenizerFor(p));
  assert.equal(words("Hello world 12345 don't  x\n\n y", "llama-bpe"), ["Hello", " world", " ", "123", "45", " don", "'t", " ", " x", "\n\n", " y"]);
  assert.equal(words("12345 I'M", "qwen2"), ["1", "2", "3", "4", "5", " I", "'M"]);
  assert.equal(words("Hello world 12345 I'M", "gpt-2"), ["Hello", " world", " 12345", " I", "'", "M"]);
  assert.equal(words("a...b 1234", "default"), ["a", "...", "b", " ", "123", "4"]);
  // U+0085 is whitespace to llama.cpp (JS \s says no), U+FEFF is not (JS \s says yes)
  assert.equal(words("a\u0085\u0085b", "llama-bpe"), ["a", "\u0085", "\u0085b"]);
  assert.equal(words("a\ufeff\ufeffb", "llama-bpe"), ["a", "\ufeff\ufeff", "b"]);
  // a Unicode 17 letter is no letter to llama.cpp: it splits like punctuation
  assert.equal(maskNewCodepoints("a\u{105C0}b"), "a\u{1F600}b");
  assert.equal(words("a\u{105C0}b", "llama-bpe"), ["a", "\u{105C0}b"]);
  assert.equal(words("", "llama-bpe"), []);
  for (const p of ["default", "gpt-2", "llama-bpe", "qwen2", "starcoder"]) assert.is(words(TORTURE, p).join(""), TORTURE);
});

test("typed errors: invalid UTF-8, lone surrogate, unsupported model / pre, missing keys, bad ids, no byte token", () => {
  const t = spm(["▁"]);
  assert.is(code(() => t.encode(Uint8Array.of(0x61, 0xc3, 0x28))), "E_ENCODING");
  try { t.encode(Uint8Array.of(0x61, 0x62, 0xed, 0xa0, 0x80)); } catch (e) { assert.is((e as any).details.offset, 2); }
  assert.is(firstInvalidUtf8(Uint8Array.of(0xe2, 0x82)), 0);
  assert.is(firstInvalidUtf8(Uint8Array.of(0xc0, 0x80)), 0); // overlong
  assert.is(firstInvalidUtf8(new TextEncoder().encode("ok é 😀")), -1);
  assert.is(code(() => t.encode("a\ud800b")), "E_ENCODING");
  assert.is(code(() => t.encode(42 as any)), "E_ARG_TYPE");
  assert.equal(Array.from(t.encode(new TextEncoder().encode("é"))), Array.from(t.encode("é")));
  const base = [ggufKV("tokenizer.ggml.tokens", "arr", ggufArray("str", ["a"]))];
  let msg = "";
  try { Tokenizer.fromGguf(gguf([ggufKV("tokenizer.ggml.model", "str", "bert"), ...base])); } catch (e) { msg = (e as Error).message; assert.is((e as any).code, "E_UNSUPPORTED"); }
  assert.match(msg, /"bert"/);
  assert.is(code(() => Tokenizer.fromGguf(gguf([ggufKV("tokenizer.ggml.model", "str", "gpt2"), ggufKV("tokenizer.ggml.pre", "str", "falcon"), ...base, ggufKV("tokenizer.ggml.merges", "arr", ggufArray("str", []))]))), "E_UNSUPPORTED");
  assert.is(code(() => Tokenizer.fromGguf(gguf([ggufKV("tokenizer.ggml.model", "str", "gpt2"), ...base]))), "E_FORMAT"); // no merges
  assert.is(code(() => Tokenizer.fromGguf(gguf([ggufKV("tokenizer.ggml.model", "str", "llama")]))), "E_FORMAT"); // no tokens
  assert.is(code(() => Tokenizer.fromGguf(gguf([]))), "E_FORMAT");
  assert.is(code(() => t.decode([t.nVocab])), "E_RANGE");
  assert.is(code(() => t.decode([-1])), "E_RANGE");
  const noBytes = Tokenizer.fromGguf(gguf([ggufKV("tokenizer.ggml.model", "str", "llama"), ggufKV("tokenizer.ggml.tokens", "arr", ggufArray("str", ["<unk>", "<s>", "</s>", "▁"]))]));
  assert.is(code(() => noBytes.encode("x", { addBos: false })), "E_UNSUPPORTED");
});

test("determinism: same ids from repeated calls and from a second instance", () => {
  const mk = () => bpe("the cat sat on the mat, the cat ate. ".repeat(8) + TORTURE, 120, "llama-bpe");
  const a = mk(), b = mk();
  const x = a.encode(TORTURE, { parseSpecial: true });
  assert.equal(Array.from(a.encode(TORTURE, { parseSpecial: true })), Array.from(x));
  assert.equal(Array.from(b.encode(TORTURE, { parseSpecial: true })), Array.from(x));
  assert.ok(x.length > 50);
});

test("BigramHeap (packed keys) pops in the same (key, left) order as BigramHeapWide, with ties and interleaved pushes", () => {
  const r = rng(7);
  const a = new BigramHeap(4), b = new BigramHeapWide(4);
  const scores = new Float32Array(64);
  for (let i = 0; i < 64; i++) scores[i] = (r.next() % 40) - 20 + (r.next() % 3) / 4; // many equal scores
  const pushBoth = (tok: number, left: number) => {
    a.push(f32SortKey(-scores[tok]!), left, left + 1, tok, left * 3);
    b.push(-scores[tok]!, left, left + 1, tok, left * 3);
  };
  for (let i = 0; i < 3000; i++) pushBoth(r.next() % 64, r.next() % 5000);
  let n = 0;
  while (b.size > 0) {
    assert.is(a.size, b.size);
    a.pop(); b.pop();
    const ka = -scores[a.curAux()]!, kb = -scores[b.curAux()]!;
    assert.is(ka, kb, `pop ${n}`);
    assert.is(a.curLeft(), b.curLeft(), `pop ${n}`);
    assert.is(a.curAux2(), b.curAux2());
    if (n++ < 1500 && n % 3 === 0) pushBoth(r.next() % 64, r.next() % 5000);
  }
  assert.is(a.size, 0);
  assert.ok(n > 3000);
  // f32SortKey keeps the float order, including negatives and zero
  const xs = [-Infinity, -1e30, -2.5, -1, -1e-30, 0, 1e-30, 1, 2.5, 1e30, Infinity];
  for (let i = 1; i < xs.length; i++) assert.ok(f32SortKey(xs[i - 1]!) < f32SortKey(xs[i]!), `${xs[i - 1]} < ${xs[i]}`);
  assert.is(f32SortKey(-0), f32SortKey(0)); // C++ compares -0 == 0: a score of 0 and of -0 tie
});

test.run();
