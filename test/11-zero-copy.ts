// Issue 15: engine.quantize(x, { ..., out }) writes into a caller buffer (a Uint8Array, or a WasmTensor:
// the kernel writes straight into wasm memory, one call with no copy when x is a WasmTensor too).
// Views of wasm memory (tensor.f32, a Uint8Array over a tensor) are used in place by address.
// The bytes are those of the allocating path for every form and type (also across many chunks),
// the result is a view of exactly the output bytes, nothing is allocated or leaked, and a buffer too
// small / of the wrong kind / the input itself / disposed / from another engine is a typed error
// thrown before anything is written.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { init, isTensorshrinkError } from "../src/index";
import { randn, rng } from "./_util";
import { decodeShortUtf8, encodeShortUtf8 } from "../src/formats/utf8-short";

const engine = await init({ threads: 0 });
const small = await init({ threads: 0, chunkBytes: 4096 }); // many chunks per call
const codeOf = (f: () => unknown): string => {
  try { f(); } catch (e) { return isTensorshrinkError(e) ? e.code : `raw ${(e as Error)?.name}: ${(e as Error)?.message}`; }
  return "no error";
};
const TYPES = ["q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "f16", "bf16", "f32", "q4_K", "q6_K", "q2_K", "iq4_nl", "tq2_0"];

test("out: Uint8Array or WasmTensor, same bytes as the allocating path (every type, WasmTensor / array input, many chunks, imatrix)", () => {
  for (const e of [engine, small]) {
    for (const type of TYPES) {
      const t = e.typeInfo(type);
      const cols = t.blockSize === 256 ? 512 : 160, rows = 13;
      const x = randn(rows * cols, cols + rows, 0.3);
      const im = t.usesImatrix ? Float32Array.from({ length: cols }, (_, i) => 0.2 + (i % 5)) : null;
      const want = e.quantize(x, { type, rows, cols, imatrix: im });
      const bytes = want.length;
      // Uint8Array out, larger than needed: the result is a view of its first `bytes` bytes, the rest untouched
      const buf = new Uint8Array(bytes + 9).fill(0xa5);
      const r1 = e.quantize(x, { type, rows, cols, imatrix: im, out: buf });
      assert.is(r1.buffer, buf.buffer, `${type}: a view of out`);
      assert.is(r1.length, bytes);
      assert.equal(r1, want, `${type} array -> Uint8Array`);
      assert.ok(buf.subarray(bytes).every((b) => b === 0xa5), `${type}: bytes past the output untouched`);
      const live = e.liveAllocations;
      e.scope((s) => {
        const xt = s.tensor(x), ot = s.tensor(Math.ceil(bytes / 4) + 3);
        const r2 = e.quantize(xt, { type, rows, cols, imatrix: im, out: ot });
        assert.is(r2.buffer, e.exports.memory.buffer, `${type}: a view of wasm memory`);
        assert.is(r2.byteOffset, ot.ptr);
        assert.equal(new Uint8Array(r2), want, `${type} tensor -> tensor (zero-copy)`);
        const r3 = e.quantize(xt, { type, rows, cols, imatrix: im, out: new Uint8Array(bytes) });
        assert.equal(r3, want, `${type} tensor -> Uint8Array`);
        const r4 = e.quantize(x, { type, rows, cols, imatrix: im, out: ot });
        assert.equal(new Uint8Array(r4), want, `${type} array -> tensor`);
        // views of wasm memory are used in place (they detach when scratch allocations grow the memory)
        const r5 = e.quantize(xt.f32, { type, rows, cols, imatrix: im, out: new Uint8Array(bytes) });
        assert.equal(r5, want, `${type} tensor.f32 view -> Uint8Array`);
        const r6 = e.quantize(xt.f32, { type, rows, cols, imatrix: im, out: new Uint8Array(e.exports.memory.buffer, ot.ptr, bytes) });
        assert.is(r6.byteOffset, ot.ptr);
        assert.equal(new Uint8Array(r6), want, `${type} view -> view of wasm memory`);
      });
      assert.is(e.liveAllocations, live, `${type}: no allocation left behind`);
    }
  }
});

test("the same out buffer reused across calls (pooled output) gives each call's bytes", () => {
  const rows = 64, cols = 256;
  engine.scope((s) => {
    const ot = s.tensor(rows * cols);
    for (let k = 0; k < 4; k++) {
      const x = randn(rows * cols, 100 + k);
      const xt = s.tensor(x);
      for (const type of ["q8_0", "q4_0", "f16"]) assert.equal(new Uint8Array(engine.quantize(xt, { type, rows, cols, out: ot })), engine.quantize(x, { type, rows, cols }), `${type} call ${k}`);
      xt.dispose();
    }
  });
});

test("out too small, wrong kind, the input itself, disposed or from another engine: typed errors before anything is written", () => {
  const rows = 4, cols = 64, x = randn(rows * cols, 9);
  const need = (rows * cols / 32) * 34; // q8_0
  const tooSmall = new Uint8Array(need - 1).fill(7);
  assert.is(codeOf(() => engine.quantize(x, { type: "q8_0", rows, cols, out: tooSmall })), "E_RANGE");
  assert.ok(tooSmall.every((b) => b === 7), "a too small out is not written");
  const err = (() => { try { engine.quantize(x, { type: "q8_0", rows, cols, out: tooSmall, name: "blk.0.w" }); } catch (e) { return e as any; } })();
  assert.match(err.message, /needs 272/);
  assert.match(err.message, /blk\.0\.w/);
  assert.is(codeOf(() => engine.quantize(x, { type: "q8_0", rows, cols, out: new Float32Array(need) as any })), "E_ARG_TYPE");
  assert.is(codeOf(() => engine.quantize(x, { type: "q8_0", rows, cols, out: [] as any })), "E_ARG_TYPE");
  engine.scope((s) => {
    const xt = s.tensor(x);
    assert.is(codeOf(() => engine.quantize(xt, { type: "q8_0", rows, cols, out: s.tensor(Math.floor((need - 1) / 4)) })), "E_RANGE");
    assert.is(codeOf(() => engine.quantize(xt, { type: "q8_0", rows, cols, out: xt })), "E_RANGE");
    const gone = s.tensor(need);
    gone.dispose();
    assert.is(codeOf(() => engine.quantize(xt, { type: "q8_0", rows, cols, out: gone })), "E_DISPOSED");
    const other = small.tensor(need);
    assert.is(codeOf(() => engine.quantize(xt, { type: "q8_0", rows, cols, out: other })), "E_ARG_TYPE");
    other.dispose();
  });
  // an empty tensor: an empty view of out
  const r = engine.quantize(new Float32Array(0), { type: "q8_0", rows: 0, cols: 64, out: new Uint8Array(5) });
  assert.is(r.length, 0);
});

test("GGUF header strings without TextDecoder/TextEncoder (short UTF-8): the WHATWG bytes and strings, malformed input refused", () => {
  const g = rng(11), r = () => g.uniform();
  const dec = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }), enc = new TextEncoder();
  const pieces = ["a", "▁", "é", "\u0000", "\ufeff", "😀", "\ud800", "\udfff", "中", "\u07ff", "\u0800", "\uffff", "\u{10ffff}", "<0xF7>"];
  const out = new Uint8Array(256);
  let malformed = 0;
  for (let k = 0; k < 4000; k++) {
    let s = "";
    const m = Math.floor(r() * 12);
    for (let j = 0; j < m; j++) s += pieces[Math.floor(r() * pieces.length)];
    if (s.length > 64) continue;
    const n = encodeShortUtf8(s, out, 3);
    const want = enc.encode(s);
    assert.equal(out.slice(3, 3 + n), want, `encode ${JSON.stringify(s)}`);
    assert.is(decodeShortUtf8(want, 0, want.length), dec.decode(want), `decode ${JSON.stringify(s)}`);
    // random bytes: decoded exactly when TextDecoder accepts them, undefined when it throws
    const b = Uint8Array.from({ length: 1 + Math.floor(r() * 8) }, () => (r() < 0.5 ? 0x80 + Math.floor(r() * 0x80) : Math.floor(r() * 256)));
    let ok: string | undefined;
    try { ok = dec.decode(b); } catch { ok = undefined; malformed++; }
    assert.is(decodeShortUtf8(b, 0, b.length), ok, `bytes ${Array.from(b, (x) => x.toString(16))}`);
  }
  assert.ok(malformed > 500, "enough malformed samples");
  for (const bad of [[0xc0, 0x80], [0xe0, 0x80, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xf5, 0x80, 0x80, 0x80], [0xe2, 0x96]]) assert.is(decodeShortUtf8(Uint8Array.from(bad), 0, bad.length), undefined, `${bad}`);
});

test.after(() => { engine.dispose(); small.dispose(); });
test.run();
