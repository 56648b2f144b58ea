/**
 * How many pool workers a whole-file job should start: a cost model of the quantization kernels
 * against what a worker costs to start. A Node worker (isolate + bootstrap + wasm instance) costs
 * ~0.025 CPU s and ~10 MiB of RSS (measured 2026-12-02 on the bench machine, Node 20); a job whose
 * kernels take less than that many times over is I/O bound (reading the f32 input, writing the
 * output), and a worker then adds CPU time and memory without a wall-time gain worth it.
 * The decision depends only on the tensors' types and sizes (no timing), and never on the bytes:
 * every unit gives the same bytes on whichever thread runs it.
 */
import { lookupType } from "../quant/types";

/**
 * Kernel CPU time per f32 value in ns on one core, [without, with] an importance vector (the
 * chunk kernels on a wasm tensor of 1024 x 2048 values: `node bench/kernel-rates.mjs`, bench/VS-LLAMA.md
 * "Session 7: two threads"; Xeon Sapphire Rapids, Node 20). Only the order of magnitude matters.
 */
const NS_PER_VALUE: Readonly<Record<string, readonly [number, number]>> = {
  f16: [1.5, 1.5], bf16: [1.2, 1.2], q8_0: [0.7, 0.7],
  q4_0: [0.8, 8.8], q4_1: [0.7, 25.5], q5_0: [0.9, 8.4], q5_1: [0.7, 25.1],
  q2_K: [13.8, 29.8], q3_K: [3.4, 9.9], q4_K: [14.6, 27.4], q5_K: [13.1, 27.7], q6_K: [8.7, 9.3],
  iq4_nl: [45.4, 46.3], iq4_xs: [46.9, 48.1], tq1_0: [1.5, 1.5], tq2_0: [1.6, 1.6], mxfp4: [3.4, 3.4],
};
/** Types not in the table (the lattice i-quants): at least as slow as iq4_nl. */
const NS_UNKNOWN = 50;

/**
 * Default of {@link workersWorthStarting}'s `minSeconds`: estimated kernel CPU seconds each thread
 * (the calling thread and every worker) should get, 4x a worker's start CPU (~0.025 s).
 */
export const WORKER_MIN_SECONDS = 0.1;

/** One tensor's share of a job: its output type, number of values, and whether an importance vector applies. */
export interface WorkItem { type: string; values: number; imatrix: boolean }

/** Estimated kernel CPU seconds (one core) of quantizing `items`. Unknown types count as the slowest. */
export function estimateKernelSeconds(items: Iterable<WorkItem>): number {
  let ns = 0;
  for (const it of items) {
    const t = lookupType(it.type);
    if (t.name === "f32") continue; // copied, no kernel
    const r = NS_PER_VALUE[t.name];
    ns += it.values * (r ? r[it.imatrix && t.usesImatrix ? 1 : 0] : NS_UNKNOWN);
  }
  return ns / 1e9;
}

/**
 * Pool workers a job of `seconds` estimated kernel CPU uses beside the calling thread: as many as
 * leave every thread (this one included) at least `minSeconds` of it, and at least the `started`
 * workers already running (they cost nothing more to use), at most `max`. With `minSeconds` 0 every
 * allowed worker is used. Result in 0..max.
 */
export function workersWorthStarting(seconds: number, max: number, started: number, minSeconds = WORKER_MIN_SECONDS): number {
  if (max <= 0) return 0;
  if (!(minSeconds > 0)) return max;
  const worth = Math.floor(seconds / minSeconds) - 1;
  return Math.max(0, Math.min(max, Math.max(started, worth)));
}
