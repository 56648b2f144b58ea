// safetensors reader (F32/F16/BF16, single and sharded) + f16/bf16 conversions + hostile headers.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { TensorshrinkError } from "../src/errors";
import { readSafetensors, encodeSafetensors, openSafetensorsModel } from "../src/formats/safetensors";
import { memorySource, filesResolver } from "../src/formats/source";
import { f16ToF32, f32ToF16, bf16ToF32, f32ToBf16, decodeF16, encodeF16, decodeBf16 } from "../src/formats/half";
import { randn } from "./_util";

test("f16: exact values, rounding to nearest even, overflow, subnormals", () => {
  const cases: [number, number][] = [
    [0, 0x0000], [-0, 0x8000], [1, 0x3c00], [-2, 0xc000], [0.5, 0x3800], [65504, 0x7bff], [65520, 0x7c00], [1e9, 0x7c00],
    [-Infinity, 0xfc00], [2 ** -24, 0x0001], [2 ** -25, 0x0000], [3 * 2 ** -26, 0x0001], [2 ** -14, 0x0400],
    [1 + 2 ** -11, 0x3c00], // tie → even
    [1 + 3 * 2 ** -11, 0x3c02], // tie → even (up)
    [1 + 2 ** -11 + 2 ** -20, 0x3c01], // above tie
    [0.1, 0x2e66], [65519, 0x7bff],
  ];
  for (const [v, h] of cases) assert.is(f32ToF16(v), h, `f32ToF16(${v})`);
  assert.is(f32ToF16(NaN) & 0x7c00, 0x7c00);
  assert.ok((f32ToF16(NaN) & 0x3ff) !== 0);
  // every finite f16 round-trips exactly
  for (let h = 0; h < 0x10000; h++) {
    const v = f16ToF32(h);
    if (Number.isNaN(v)) continue;
    assert.is(f32ToF16(v), h, `h=${h.toString(16)}`);
  }
});

test("bf16: round to nearest even, NaN stays NaN", () => {
  assert.is(f32ToBf16(1), 0x3f80);
  assert.is(f32ToBf16(-2), 0xc000);
  assert.is(bf16ToF32(0x3f80), 1);
  assert.is(f32ToBf16(1 + 2 ** -8), 0x3f80); // tie → even
  assert.is(f32ToBf16(1 + 3 * 2 ** -8), 0x3f82);
  assert.ok(Number.isNaN(bf16ToF32(f32ToBf16(NaN))));
  assert.is(f32ToBf16(Infinity), 0x7f80);
});

test("decodeF16 / decodeBf16 (table / shift, aligned and unaligned views) = the scalar conversions for all 65536 patterns", () => {
  const buf = new Uint8Array(65536 * 2 + 1);
  const dv = new DataView(buf.buffer, 1);
  for (let h = 0; h < 65536; h++) dv.setUint16(h * 2, h, true);
  const unaligned = buf.subarray(1), aligned = unaligned.slice();
  for (const bytes of [aligned, unaligned]) {
    const f = decodeF16(bytes), b = decodeBf16(bytes);
    const fb = new Uint32Array(f.buffer), bb = new Uint32Array(b.buffer);
    for (let h = 0; h < 65536; h++) {
      const r = f16ToF32(h);
      if (Number.isNaN(r)) assert.is((fb[h] & 0x7fffffff) >>> 0, (0x7f800000 | ((h & 0x3ff) << 13)) >>> 0, `f16 NaN 0x${h.toString(16)} keeps its payload`);
      else assert.ok(Object.is(f[h], r), `f16 0x${h.toString(16)}`);
      assert.is(bb[h], (h << 16) >>> 0, `bf16 0x${h.toString(16)}`);
      if (!Number.isNaN(b[h])) assert.ok(Object.is(b[h], bf16ToF32(h)));
    }
  }
});

test("single file: F32 exact, F16/BF16 decoded, rows read lazily", async () => {
  const a = randn(6 * 10, 3, 1);
  const b = randn(4 * 8, 4, 1);
  const c = randn(5, 5, 1);
  const bytes = encodeSafetensors([
    { name: "a", dtype: "F32", shape: [6, 10], data: a },
    { name: "b", dtype: "F16", shape: [4, 8], data: b },
    { name: "c", dtype: "BF16", shape: [5], data: c },
  ], { format: "pt" });
  const f = await readSafetensors(memorySource(bytes));
  assert.is((8 + f.headerBytes) % 8, 0);
  assert.equal(f.metadata, { format: "pt" });
  assert.equal(f.tensors.map((t) => [t.name, t.dtype, [...t.shape], t.rows, t.rowLength]), [["a", "F32", [6, 10], 6, 10], ["b", "F16", [4, 8], 4, 8], ["c", "BF16", [5], 1, 5]]);
  assert.equal(await f.tensors[0]!.read(), a);
  assert.equal(await f.tensors[0]!.readRows(2, 3), a.subarray(20, 50));
  const bb = await f.tensors[1]!.read();
  for (let i = 0; i < b.length; i++) assert.is(bb[i], f16ToF32(f32ToF16(b[i]!)));
  assert.ok(bb.some((x, i) => x !== b[i]), "f16 rounding happened");
  const cc = await f.tensors[2]!.read();
  for (let i = 0; i < c.length; i++) assert.is(cc[i], bf16ToF32(f32ToBf16(c[i]!)));
  assert.equal(decodeF16(encodeF16(bb)), bb);
  try { await f.tensors[0]!.readRows(5, 2); assert.unreachable(); } catch (e) { assert.is((e as TensorshrinkError).code, "E_RANGE"); }
});

test("sharded model via model.safetensors.index.json", async () => {
  const x = randn(12, 9, 1), y = randn(6, 10, 1), z = randn(3, 11, 1);
  const s1 = encodeSafetensors([{ name: "x", dtype: "F32", shape: [3, 4], data: x }, { name: "y", dtype: "F32", shape: [6], data: y }]);
  const s2 = encodeSafetensors([{ name: "z", dtype: "BF16", shape: [1, 3], data: z }]);
  const index = new TextEncoder().encode(JSON.stringify({ metadata: { total_size: 0 }, weight_map: { x: "m-00001-of-00002.safetensors", y: "m-00001-of-00002.safetensors", z: "m-00002-of-00002.safetensors" } }));
  const m = await openSafetensorsModel(filesResolver({ "model.safetensors.index.json": index, "m-00001-of-00002.safetensors": s1, "m-00002-of-00002.safetensors": s2 }));
  assert.equal([...m.tensors.keys()].sort(), ["x", "y", "z"]);
  assert.is(m.files.length, 2);
  assert.equal(await m.tensors.get("x")!.read(), x);
  assert.equal(await m.tensors.get("y")!.read(), y);
  assert.is(m.tensors.get("z")!.dtype, "BF16");
  // single file fallback
  const m2 = await openSafetensorsModel(filesResolver({ "model.safetensors": s1 }));
  assert.equal([...m2.tensors.keys()], ["x", "y"]);
  // index naming a tensor its shard lacks
  const bad = new TextEncoder().encode(JSON.stringify({ weight_map: { q: "m-00001-of-00002.safetensors" } }));
  try { await openSafetensorsModel(filesResolver({ "model.safetensors.index.json": bad, "m-00001-of-00002.safetensors": s1 })); assert.unreachable(); } catch (e) {
    assert.is((e as TensorshrinkError).code, "E_FORMAT");
    assert.match((e as Error).message, /tensor q/);
  }
  // shard names escaping the directory are refused
  const evil = new TextEncoder().encode(JSON.stringify({ weight_map: { x: "../../etc/passwd" } }));
  try { await openSafetensorsModel(filesResolver({ "model.safetensors.index.json": evil })); assert.unreachable(); } catch (e) { assert.is((e as TensorshrinkError).code, "E_FORMAT"); }
});

function withHeader(json: string, data = 0, lenOverride?: bigint): Uint8Array {
  const h = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + h.length + data);
  new DataView(out.buffer).setBigUint64(0, lenOverride ?? BigInt(h.length), true);
  out.set(h, 8);
  return out;
}

async function expectErr(bytes: Uint8Array, code: string, offset: number, re?: RegExp) {
  try {
    await readSafetensors(memorySource(bytes));
  } catch (e) {
    assert.instance(e, TensorshrinkError, String(e));
    assert.is((e as TensorshrinkError).code, code, (e as Error).message);
    assert.is((e as TensorshrinkError).details.offset, offset, (e as Error).message);
    if (re) assert.match((e as Error).message, re);
    return;
  }
  assert.unreachable(`expected ${code}`);
}

const T = (o: object) => JSON.stringify(o);
test("hostile: short file, huge header length, header past EOF", async () => {
  await expectErr(new Uint8Array(5), "E_TRUNCATED", 0);
  await expectErr(withHeader("{}", 0, 1n << 50n), "E_FORMAT", 0, /exceeds the limit/);
  await expectErr(withHeader("{}", 0, 1000n), "E_TRUNCATED", 0);
});
test("hostile: bad JSON, not an object, bad UTF-8", async () => {
  await expectErr(withHeader("{\"a\":"), "E_FORMAT", 8, /JSON/);
  await expectErr(withHeader("[1,2]"), "E_FORMAT", 8, /object/);
  const b = withHeader("{\"\u00e9\":1}");
  b[10] = 0xff;
  await expectErr(b, "E_FORMAT", 8, /UTF-8/);
});
test("hostile: unknown dtype, bad shape, offsets not matching the shape", async () => {
  await expectErr(withHeader(T({ a: { dtype: "F13", shape: [1], data_offsets: [0, 4] } }), 4), "E_FORMAT", 8, /dtype/);
  await expectErr(withHeader(T({ a: { dtype: "F32", shape: [-1], data_offsets: [0, 4] } }), 4), "E_FORMAT", 8, /shape/);
  await expectErr(withHeader(T({ a: { dtype: "F32", shape: [2], data_offsets: [0, 4] } }), 8), "E_FORMAT", 8, /needs 8/);
  await expectErr(withHeader(T({ a: { dtype: "F32", shape: [1], data_offsets: [4, 0] } }), 8), "E_FORMAT", 8, /data_offsets/);
  await expectErr(withHeader(T({ a: { dtype: "F32", shape: [1e8, 1e8, 1e8], data_offsets: [0, 4] } }), 8), "E_FORMAT", 8, /overflow/);
});
test("hostile: data past EOF, overlapping tensors", async () => {
  const j1 = T({ a: { dtype: "F32", shape: [4], data_offsets: [0, 16] } });
  await expectErr(withHeader(j1, 8), "E_TRUNCATED", 8 + j1.length, /past the end/);
  const j2 = T({ a: { dtype: "F32", shape: [4], data_offsets: [0, 16] }, b: { dtype: "F32", shape: [2], data_offsets: [8, 16] } });
  await expectErr(withHeader(j2, 16), "E_FORMAT", 8 + j2.length + 8, /overlaps/);
});
test("decoding an integer dtype is E_UNSUPPORTED", async () => {
  const f = await readSafetensors(memorySource(withHeader(T({ a: { dtype: "I32", shape: [2], data_offsets: [0, 8] } }), 8)));
  try { await f.tensors[0]!.read(); assert.unreachable(); } catch (e) { assert.is((e as TensorshrinkError).code, "E_UNSUPPORTED"); }
});

test.run();
