// Hostile-tester regressions, engine memory (issue 8, items 2 and 9): tensors freed by a scope are
// unusable (E_DISPOSED) and never touch another tensor's memory; async scopes do not capture other
// callers' allocations; sizes the 4 GiB wasm address space cannot hold are refused with a typed error.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { init, isTensorshrinkError } from "../src/index";
import { randn } from "./_util";

const code = (f: () => unknown): string => {
  try { f(); } catch (e) { return isTensorshrinkError(e) ? e.code : `raw ${(e as Error)?.name}: ${(e as Error)?.message}`; }
  return "no error";
};
const codeAsync = async (f: () => Promise<unknown>): Promise<string> => {
  try { await f(); } catch (e) { return isTensorshrinkError(e) ? e.code : `raw ${(e as Error)?.name}: ${(e as Error)?.message}`; }
  return "no error";
};

test("a tensor escaping a sync scope is disposed: E_DISPOSED everywhere, dispose() frees nothing else", async () => {
  const e = await init({ threads: 0 });
  const x = randn(4 * 64, 3), y = randn(4 * 64, 4);
  const escaped = e.scope(() => e.tensor(x));
  assert.is(e.liveAllocations, 0);
  // A new tensor reuses the freed block: the escaped one must not see or touch it.
  const other = e.tensor(y);
  assert.is(code(() => escaped.f32), "E_DISPOSED");
  assert.is(code(() => e.quantize(escaped, { type: "q8_0", rows: 4, cols: 64 })), "E_DISPOSED");
  escaped.dispose();
  assert.is(e.liveAllocations, 1, "dispose() of the escaped tensor must not free the live one");
  assert.equal(other.f32, y);
  assert.equal(e.quantize(other, { type: "q8_0", rows: 4, cols: 64 }), e.quantize(y, { type: "q8_0", rows: 4, cols: 64 }));
  assert.ok(escaped.disposed);
  assert.not.ok(other.disposed);
  other.dispose();
  assert.is(e.liveAllocations, 0);
  // Nested scopes and throws: everything made inside is disposed, the outer scope's survivors live on.
  let inner: any, outer: any;
  e.scope(() => {
    outer = e.tensor(8);
    try { e.scope(() => { inner = e.tensor(8); throw new Error("boom"); }); } catch { /* expected */ }
    assert.ok(inner.disposed);
    assert.not.ok(outer.disposed);
    outer.f32.fill(2);
  });
  assert.ok(outer.disposed);
  assert.is(e.liveAllocations, 0);
  e.dispose();
});

test("async scope: frees what it made (scope object and before the first await), not other callers' tensors", async () => {
  const e = await init({ threads: 0 });
  const x = randn(64, 5);
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let mine: any, early: any;
  const p = e.scope(async (s) => {
    early = e.tensor(8); // allocated synchronously inside the scope
    await gate;
    mine = s.tensor(x); // allocated through the scope object after an await
    return mine.f32[1];
  });
  // Another caller allocates while the scope awaits: it must survive the scope's end.
  const bystander = e.tensor(x);
  release();
  assert.is(await p, x[1]);
  assert.ok(early.disposed);
  assert.ok(mine.disposed);
  assert.not.ok(bystander.disposed, "the scope freed a tensor allocated by another caller while it awaited");
  assert.equal(bystander.f32, x);
  assert.is(e.liveAllocations, 1);
  // 50 concurrent async scopes, interleaved: each frees exactly its own tensors.
  const keep = e.tensor(x);
  const res = await Promise.all(Array.from({ length: 50 }, (_, i) => e.scope(async (s) => {
    const t = s.tensor(new Float32Array(64).fill(i));
    await new Promise((r) => setTimeout(r, (i * 7) % 5));
    const u = s.tensor(new Float32Array(64).fill(i + 0.5));
    await Promise.resolve();
    return t.f32[63] + u.f32[0];
  })));
  assert.equal(res, Array.from({ length: 50 }, (_, i) => 2 * i + 0.5));
  assert.is(e.liveAllocations, 2);
  assert.equal(keep.f32, x);
  // A scope object is unusable after its scope ended.
  let leaked: any;
  e.scope((s) => { leaked = s; });
  assert.is(code(() => leaked.tensor(4)), "E_DISPOSED");
  bystander.dispose(); keep.dispose();
  assert.is(e.liveAllocations, 0);
  e.dispose();
});

test("engine.tensor(n) refuses sizes the wasm memory cannot hold (no wrap, no trap)", async () => {
  const e = await init({ threads: 0 });
  for (const n of [2 ** 30, 2 ** 30 + 1, 2 ** 31, 2 ** 32, 2 ** 40, Number.MAX_SAFE_INTEGER]) {
    let err: any;
    try { e.tensor(n); } catch (x) { err = x; }
    assert.ok(isTensorshrinkError(err), `n = ${n}: ${err}`);
    assert.ok(err.code === "E_OOM" || err.code === "E_RANGE", `n = ${n}: ${err.code}`);
    assert.match(err.message, String(n * 4), `n = ${n}: the message names the bytes: ${err.message}`);
  }
  assert.is(e.liveAllocations, 0);
  // Huge rows/cols in quantize / dequantize are typed errors too, before anything is allocated.
  assert.is(code(() => e.quantize(new Float32Array(32), { type: "q8_0", rows: 2 ** 40, cols: 2 ** 40 })), "E_SHAPE");
  assert.is(code(() => e.dequantize(new Uint8Array(34), { type: "q8_0", rows: 2 ** 27, cols: 2 ** 26 })), "E_SHAPE");
  // The engine still works afterwards.
  const t = e.tensor(randn(64, 1));
  assert.is(e.quantize(t, { type: "q8_0", rows: 1, cols: 64 }).length, 68);
  t.dispose();
  assert.is(e.liveAllocations, 0);
  e.dispose();
});

test("50 concurrent async quantize calls on one engine: same bytes as sync, nothing leaked", async () => {
  const e = await init({ threads: 2 });
  const x = randn(16 * 256, 9);
  const want = e.quantize(x, { type: "q4_K", rows: 16, cols: 256 });
  const got = await Promise.all(Array.from({ length: 50 }, () => e.quantizeAsync(x, { type: "q4_K", rows: 16, cols: 256 })));
  for (const g of got) assert.equal(g, want);
  assert.is(await codeAsync(() => e.quantizeAsync(x, { type: "q4_K", rows: 16, cols: 255 })), "E_BLOCK");
  assert.is(e.liveAllocations, 0);
  e.dispose();
});

test.run();
