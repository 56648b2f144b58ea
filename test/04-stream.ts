import { test } from "uvu";
import * as assert from "uvu/assert";
import { init, TensorshrinkError } from "../src/index";
import { randn, rng } from "./_util";

const engine = await init();

test("streaming: rows split across irregular chunks give the same bytes", () => {
  const rows = 37, cols = 96;
  const x = randn(rows * cols, 4);
  const whole = engine.quantize(x, { type: "q8_0", rows, cols });
  const q = engine.createQuantizer({ type: "q8_0", cols, rows });
  const r = rng(5);
  const parts: Uint8Array[] = [];
  for (let o = 0; o < x.length;) {
    const n = 1 + (r.next() % 300);
    parts.push(q.push(x.subarray(o, o + n)));
    o += n;
  }
  q.end();
  const got = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) { got.set(p, o); o += p.length; }
  assert.equal(got, whole);
});

test("streaming: web TransformStream form", async () => {
  const rows = 10, cols = 64;
  const x = randn(rows * cols, 8);
  const ts = engine.quantizeStream({ type: "f16", cols });
  const chunks: Uint8Array[] = [];
  const done = ts.readable.pipeTo(new WritableStream({ write(c) { chunks.push(c); } }));
  const w = ts.writable.getWriter();
  for (let i = 0; i < x.length; i += 100) await w.write(x.slice(i, i + 100));
  await w.close();
  await done;
  assert.equal(Buffer.concat(chunks), Buffer.from(engine.quantize(x, { type: "f16", rows, cols })));
});

test("streaming: partial row at the end and NaN rows are typed errors", () => {
  const q = engine.createQuantizer({ type: "q8_0", cols: 32 });
  q.push(new Float32Array(40));
  try { q.end(); assert.unreachable(); } catch (e) { assert.is((e as TensorshrinkError).code, "E_SHAPE"); }
  const q2 = engine.createQuantizer({ type: "q8_0", cols: 32, name: "w" });
  q2.push(new Float32Array(64));
  const y = new Float32Array(32); y[9] = NaN;
  try { q2.push(y); assert.unreachable(); } catch (e) { assert.match((e as Error).message, /row 2, column 9/); }
});

test.run();
