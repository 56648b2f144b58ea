// KL divergence / perplexity / top-1 arithmetic from logits (src/eval/metrics.ts).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { TensorshrinkError } from "../src/errors";
import { logSumExp, logSoftmax, softmax, tokenNll, perplexity, klDivergence, argmax, EvalAccumulator } from "../src/eval/metrics";
import { splitDocuments } from "../src/eval/llama";
import { rng } from "./_util";

const close = (a: number, b: number, tol = 1e-12, msg?: string) => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), msg ?? `${a} vs ${b}`);

test("logSumExp is stable for large and tiny logits", () => {
  close(logSumExp([0, 0]), Math.LN2);
  close(logSumExp([1000, 1000]), 1000 + Math.LN2);
  close(logSumExp([-1000, -1000, -1000]), -1000 + Math.log(3));
  close(logSumExp(new Float32Array([1, 2, 3])), Math.log(Math.E + Math.E ** 2 + Math.E ** 3));
  assert.is(logSumExp([-Infinity, -Infinity]), -Infinity);
  close(logSumExp([-Infinity, 5]), 5);
});

test("softmax sums to 1, logSoftmax = log(softmax)", () => {
  const r = rng(1);
  const x = Float32Array.from({ length: 300 }, () => r.gauss() * 5);
  const p = softmax(x);
  close(p.reduce((a, b) => a + b, 0), 1, 1e-12);
  const lp = logSoftmax(x);
  for (let i = 0; i < x.length; i += 37) close(Math.exp(lp[i]!), p[i]!, 1e-12);
});

test("token NLL and perplexity: uniform over V gives ln V and perplexity V", () => {
  const V = 512;
  const u = new Float32Array(V).fill(3.25);
  close(tokenNll(u, 17), Math.log(V));
  close(perplexity(tokenNll(u, 0)), V, 1e-9);
  // two-class: logits [0, ln 3] → p = [1/4, 3/4]
  close(tokenNll([0, Math.log(3)], 0), Math.log(4));
  close(tokenNll([0, Math.log(3)], 1), Math.log(4 / 3));
  for (const bad of [-1, 2, 0.5]) {
    try { tokenNll([0, 1], bad); assert.unreachable(); } catch (e) { assert.is((e as TensorshrinkError).code, "E_RANGE"); }
  }
});

test("KL divergence: known value, zero for shifted logits, non-negative, asymmetric", () => {
  // P = [1/2, 1/2], Q = [1/4, 3/4]: KL = 1/2 ln(2) + 1/2 ln(2/3)
  close(klDivergence([0, 0], [0, Math.log(3)]), 0.5 * Math.log(2) + 0.5 * Math.log(2 / 3));
  // KL(Q‖P) = 1/4 ln(1/2) + 3/4 ln(3/2)
  close(klDivergence([0, Math.log(3)], [0, 0]), 0.25 * Math.log(0.5) + 0.75 * Math.log(1.5));
  const r = rng(2);
  for (let k = 0; k < 50; k++) {
    const a = Float32Array.from({ length: 64 }, () => r.gauss() * 3);
    const b = Float32Array.from(a, (x) => x + 0.3 * r.gauss());
    const shifted = Float32Array.from(a, (x) => x + 7.5);
    assert.ok(klDivergence(a, b) > 0);
    assert.ok(klDivergence(a, shifted) < 1e-12);
    // brute force in float64
    const p = softmax(a), q = softmax(b);
    let kl = 0;
    for (let i = 0; i < 64; i++) kl += p[i]! * Math.log(p[i]! / q[i]!);
    close(klDivergence(a, b), kl, 1e-9);
  }
  assert.is(klDivergence([0, 0], [0, -Infinity]), Infinity);
  assert.is(klDivergence([0, -Infinity], [0, -Infinity]), 0);
  try { klDivergence([0, 1], [0, 1, 2]); assert.unreachable(); } catch (e) { assert.is((e as TensorshrinkError).code, "E_SHAPE"); }
});

test("argmax picks the first maximum", () => {
  assert.is(argmax([1, 3, 3, 2]), 1);
  assert.is(argmax(new Float32Array([-5, -1, -7])), 1);
  assert.is(argmax([-Infinity, -Infinity]), 0);
});

test("EvalAccumulator: perplexities, mean/median/p99 KL, top-1 agreement", () => {
  const acc = new EvalAccumulator();
  // position 1: base = other → KL 0, agree; target is the argmax
  acc.add([0, 5, 0], 1, [1, 6, 1]);
  // position 2: other flips the argmax
  acc.add([0, Math.log(3)], 1, [Math.log(3), 0]);
  // position 3: KL of the known pair
  acc.add([0, 0], 0, [0, Math.log(3)]);
  const s = acc.summary();
  assert.is(acc.count, 3);
  assert.is(s.base.tokens, 3);
  const nllB = [tokenNll([0, 5, 0], 1), Math.log(4 / 3), Math.LN2];
  const nllO = [tokenNll([1, 6, 1], 1), Math.log(4), Math.log(4)];
  close(s.base.meanNll, (nllB[0]! + nllB[1]! + nllB[2]!) / 3);
  close(s.base.perplexity, Math.exp(s.base.meanNll));
  close(s.other!.meanNll, (nllO[0]! + nllO[1]! + nllO[2]!) / 3);
  const kls = [0, klDivergence([0, Math.log(3)], [Math.log(3), 0]), 0.5 * Math.log(2) + 0.5 * Math.log(2 / 3)];
  close(s.kl!.mean, (kls[0]! + kls[1]! + kls[2]!) / 3, 1e-9);
  close(s.kl!.max, Math.max(...kls), 1e-12);
  close(s.kl!.median, [...kls].sort((a, b) => a - b)[1]!, 1e-12);
  assert.ok(s.kl!.p99 <= s.kl!.max && s.kl!.p99 >= s.kl!.median);
  assert.ok(s.kl!.stderr > 0);
  // argmax base/other: pos 1: 1/1 (agree), pos 2: 1/0, pos 3: 0/1 → 1 of 3 agree
  close(s.top1Agreement!, 1 / 3);
  // the base's argmax equals the target at all three positions
  close(s.baseTop1Accuracy, 1);
});

test("EvalAccumulator without another model reports the base only", () => {
  const acc = new EvalAccumulator();
  for (let i = 0; i < 10; i++) acc.add(new Float32Array(8), i % 8);
  const s = acc.summary();
  close(s.base.perplexity, 8, 1e-9);
  assert.is(s.other, undefined);
  assert.is(s.kl, undefined);
  assert.is(s.top1Agreement, undefined);
  close(s.baseTop1Accuracy, 2 / 10); // argmax of a flat vector is 0; targets 0 at i = 0, 8
});

test("splitDocuments splits on <|endoftext|>, trims, drops empties", () => {
  assert.equal(splitDocuments("\nOne.\n<|endoftext|>\nTwo  \n<|endoftext|>\n\n"), ["One.", "Two"]);
  assert.equal(splitDocuments("just text"), ["just text"]);
});

test.run();
