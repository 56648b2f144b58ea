// The worker cost model (src/engine/work-estimate.ts): with the calling thread taking a share,
// quantizeModel starts a pool worker only when the kernels' estimated CPU time gives every thread at
// least `minWorkerSeconds` (default 0.1 s); cheaper jobs run on the calling thread alone, workers
// already started are used. `threads` stays the maximum; the bytes and the report never change.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { init, syntheticModel, quantizeModel, TensorshrinkError } from "../src/index";
import { openFileSink } from "../src/formats/source";
import { FileUnitRunner } from "../src/engine/file-units";
import { estimateKernelSeconds, workersWorthStarting, WORKER_MIN_SECONDS } from "../src/engine/work-estimate";
import type { Engine } from "../src/engine/engine";
import { fileRun } from "./_file-run";

const model = syntheticModel({ nLayer: 2, nEmbd: 256, nFf: 512, nVocab: 300, nHead: 4, nHeadKv: 2 });
const dir = mkdtempSync(path.join(tmpdir(), "ts-worker-cost-"));
const input = path.join(dir, "in-f32.gguf");
const one = await init({ threads: 1 });
await quantizeModel(one, model, await openFileSink(input), { ftype: "F32", order: "input", stats: false });
const started = (e: Engine) => ((e as any).pool?.started ?? 0) as number;

/** Units each side ran: the calling thread (FileUnitRunner.run) and the pool (engine.quantizeFileUnit). */
async function counted(e: Engine, f: () => Promise<unknown>) {
  const n = { local: 0, pool: 0 };
  const run = FileUnitRunner.prototype.run, fu = e.quantizeFileUnit.bind(e);
  FileUnitRunner.prototype.run = function (this: FileUnitRunner, ...a: Parameters<typeof run>) { n.local++; return run.apply(this, a); };
  e.quantizeFileUnit = (...a: Parameters<typeof fu>) => { n.pool++; return fu(...a); };
  try { await f(); } finally { FileUnitRunner.prototype.run = run; delete (e as any).quantizeFileUnit; }
  return n;
}

test("estimateKernelSeconds: per-type ns per value, the imatrix path where the type uses one, f32 free, unknown types slowest", () => {
  const M = 100e6;
  const q8 = estimateKernelSeconds([{ type: "q8_0", values: M, imatrix: false }]);
  assert.ok(q8 > 0.03 && q8 < 0.15, String(q8));
  assert.is(estimateKernelSeconds([{ type: "q8_0", values: M, imatrix: true }]), q8); // q8_0 ignores the imatrix
  const q40 = estimateKernelSeconds([{ type: "q4_0", values: M, imatrix: false }]);
  const q40im = estimateKernelSeconds([{ type: "q4_0", values: M, imatrix: true }]);
  assert.ok(q40im > 5 * q40, `${q40} ${q40im}`);
  assert.is(estimateKernelSeconds([{ type: "f32", values: M, imatrix: false }]), 0);
  assert.ok(estimateKernelSeconds([{ type: "iq2_xxs", values: M, imatrix: true }]) >= estimateKernelSeconds([{ type: "iq4_nl", values: M, imatrix: true }]));
  const k = estimateKernelSeconds([{ type: "q4_K", values: M / 2, imatrix: false }, { type: "q6_K", values: M / 2, imatrix: false }]);
  assert.ok(k > 1, String(k));
});

test("workersWorthStarting: every thread gets minSeconds, started workers are used, at most max", () => {
  const m = WORKER_MIN_SECONDS;
  assert.is(workersWorthStarting(1.5 * m, 1, 0), 0);
  assert.is(workersWorthStarting(2 * m, 1, 0), 1);
  assert.is(workersWorthStarting(100, 1, 0), 1);
  assert.is(workersWorthStarting(100, 3, 0), 3);
  assert.is(workersWorthStarting(3.5 * m, 7, 0), 2);
  assert.is(workersWorthStarting(0, 3, 1), 1); // warm: the running worker costs nothing to start
  assert.is(workersWorthStarting(0, 3, 0, 0), 3); // minSeconds 0: all allowed
  assert.is(workersWorthStarting(100, 0, 2), 0);
});

test("threads: 2, a cheap job (small model): no worker starts, the calling thread runs every unit; same bytes and report as 1 thread", async () => {
  const e = await init({ threads: 2 });
  const a = path.join(dir, "a.gguf"), b = path.join(dir, "b.gguf");
  try {
    const ra = await fileRun(one, input, "Q4_K_M", a);
    let rb: Awaited<ReturnType<typeof fileRun>> | null = null;
    const n = await counted(e, async () => { rb = await fileRun(e, input, "Q4_K_M", b, { minWorkerSeconds: undefined }); });
    assert.is(started(e), 0);
    assert.ok(n.local > 0 && n.pool === 0, JSON.stringify(n));
    assert.ok(readFileSync(a).equals(readFileSync(b)));
    assert.equal(rb!.tensors.map((t) => [t.name, t.type, t.sqnrDb]), ra.tensors.map((t) => [t.name, t.type, t.sqnrDb]));
  } finally { e.dispose(); rmSync(a, { force: true }); rmSync(b, { force: true }); }
});

test("minWorkerSeconds: 0 starts threads - 1 workers; once started, a cheap job uses it too", async () => {
  const e = await init({ threads: 2 });
  const a = path.join(dir, "a.gguf"), b = path.join(dir, "b.gguf");
  try {
    await fileRun(one, input, "Q8_0", a);
    const n0 = await counted(e, () => fileRun(e, input, "Q8_0", b, { minWorkerSeconds: 0 }));
    assert.is(started(e), 1);
    assert.ok(n0.pool > 0, JSON.stringify(n0));
    assert.ok(readFileSync(a).equals(readFileSync(b)));
    rmSync(b);
    const n1 = await counted(e, () => fileRun(e, input, "Q8_0", b, { minWorkerSeconds: undefined }));
    assert.is(started(e), 1);
    assert.ok(n1.pool > 0 && n1.local > 0, JSON.stringify(n1));
    assert.ok(readFileSync(a).equals(readFileSync(b)));
  } finally { e.dispose(); rmSync(a, { force: true }); rmSync(b, { force: true }); }
});

test("a large minWorkerSeconds keeps even a slow job on the calling thread; a bad value is E_RANGE", async () => {
  const e = await init({ threads: 3 });
  const b = path.join(dir, "b.gguf");
  try {
    const n = await counted(e, () => fileRun(e, input, "IQ4_NL", b, { minWorkerSeconds: 1e9 }));
    assert.is(started(e), 0);
    assert.is(n.pool, 0);
    for (const bad of [-1, NaN, Infinity, "1"]) {
      const err = await fileRun(e, input, "Q8_0", b, { minWorkerSeconds: bad }).then(() => null, (x) => x);
      assert.ok(err instanceof TensorshrinkError && err.code === "E_RANGE", String(err));
    }
  } finally { e.dispose(); rmSync(b, { force: true }); }
});

test.after(() => {
  one.dispose();
  rmSync(dir, { recursive: true, force: true });
});
test.run();
