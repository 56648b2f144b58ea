// Signals during `tensorshrink quantize` / `prune` / `imatrix` / `teacher` / `eval`: the first SIGINT / SIGTERM / SIGHUP / SIGQUIT aborts
// the job (the sink deletes its temporary file, exit 128 + the signal number); a second one while that
// abort runs exits at once, after unlinking the temporary files synchronously. No partial file either way.
//
// The handlers stay installed until the process exits: `finish()` (the job is over, committed or
// aborted) only switches them to "exit now". Removing them there left a window — the engine's workers
// terminating, stdout draining — in which a late or second signal found no handler and Node's default
// action killed the process (test/46 saw "killed by SIGINT" under load, and with SIGQUIT a core dump).
import { unlinkSync } from "node:fs";
import { constants } from "node:os";
import { TensorshrinkError } from "../errors";

/** The signals the CLI turns into a clean abort. */
export const HANDLED_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"] as const;
type Sig = (typeof HANDLED_SIGNALS)[number];

/** 128 + the signal's number (SIGINT 130, SIGTERM 143, SIGHUP 129, SIGQUIT 131), as shells report it. */
export function signalExitCode(sig: string): number {
  const n = (constants.signals as Record<string, number | undefined>)[sig];
  return 128 + (typeof n === "number" ? n : 2);
}

/**
 * Test hook (tests only; README "Reliability: hostile callers and signals"):
 * `TENSORSHRINK_TEST_SIGNAL_DELAYS=cleanup=MS,exit=MS` widens two windows so test/46 hits them every run:
 * - `cleanup`: a sink given to {@link SignalGuard.track} waits MS milliseconds, after a signal, before
 *   it deletes its temporary file (a second signal must then unlink it itself and exit at once);
 * - `exit`: after {@link SignalGuard.finish} the process stays alive MS milliseconds more (a late
 *   signal must still find a handler) and prints `tensorshrink: test hook: the job ended` on stderr.
 *   Unset (the default): no delay anywhere, nothing printed.
 */
export function testSignalDelay(phase: "cleanup" | "exit"): number {
  const v = typeof process !== "undefined" ? process.env.TENSORSHRINK_TEST_SIGNAL_DELAYS : undefined;
  const m = v ? new RegExp(`(?:^|,)\\s*${phase}=([0-9]{1,6})\\s*(?:,|$)`).exec(v) : null;
  return m ? Number(m[1]) : 0;
}

/** What {@link installSignalHandlers} returns. */
export interface SignalGuard {
  /** Aborted by the first signal. */
  readonly signal: AbortSignal;
  /** The first signal received, or null. */
  readonly received: Sig | null;
  /** Whether {@link finish} ran: the job is over, a signal now exits at once. */
  readonly finished: boolean;
  /**
   * Registers a file sink's temporary file (`<out>.tmp-<pid>-<random>`) to unlink synchronously on a
   * forced exit. Several may be registered (quantize --eora, prune --mask-out). With the `cleanup`
   * test delay ({@link testSignalDelay}) set, the sink's first `abort()` after a signal waits first.
   */
  track<S extends { readonly tempPath: string; abort(reason?: unknown): Promise<void> }>(sink: S): S;
  /** After a signal: throws E_ABORTED with details.exitCode = 128 + its number (else does nothing). */
  rethrowIfSignalled(cause?: unknown): void;
  /**
   * The job is over (its output committed or aborted). The handlers stay until the process exits:
   * a signal from now on unlinks any registered temp file still there and exits at once with
   * 128 + its number. Idempotent.
   */
  finish(): void;
  /** Removes the handlers (in-process callers that go on running, e.g. tests). Idempotent. */
  dispose(): void;
}

// The finished guard whose handlers are still installed: the next install replaces it, so calling
// a command in-process many times (test/36) keeps one set of handlers, not one per call.
let lingering: SignalGuard | null = null;

/**
 * Installs handlers for {@link HANDLED_SIGNALS}, in place until the process exits (or `dispose()`):
 * first signal → `signal` aborts; a signal while the abort runs, or after `finish()` → synchronous
 * unlink of the registered temp files, a line on stderr, `process.exit(128 + n)`.
 */
export function installSignalHandlers(): SignalGuard {
  if (lingering) { lingering.dispose(); lingering = null; }
  const ac = new AbortController();
  let received: Sig | null = null;
  let finished = false;
  let exiting = false;
  const temps = new Set<string>();
  const installed: [Sig, () => void][] = [];
  /** The one exit path for a signal that cannot wait: synchronous, idempotent, never returns. */
  const exitNow = (s: Sig) => {
    if (exiting) return;
    exiting = true;
    let removed = 0;
    for (const t of temps) {
      try { unlinkSync(t); removed++; } catch { /* not created yet, committed, or already removed */ }
    }
    const what = finished
      ? `${s} after the job ended: exiting now${removed ? ", its leftover temporary file was removed" : ""}`
      : `${received} then ${s}: exiting now, the partial output was removed`;
    try { process.stderr.write(`\ntensorshrink: interrupted by ${what}\n`); } catch { /* closed */ }
    process.exit(signalExitCode(s));
  };
  const guard: SignalGuard = {
    signal: ac.signal,
    get received() { return received; },
    get finished() { return finished; },
    track(sink) {
      temps.add(sink.tempPath);
      const ms = testSignalDelay("cleanup");
      if (ms > 0) {
        const abort = sink.abort.bind(sink);
        let waited = false;
        sink.abort = async (reason?: unknown) => {
          if (received && !waited) { waited = true; await new Promise((r) => setTimeout(r, ms)); }
          return abort(reason);
        };
      }
      return sink;
    },
    rethrowIfSignalled(cause?: unknown) {
      if (!received) return;
      throw new TensorshrinkError("E_ABORTED", `interrupted by ${received}: stopped, the partial output was removed`, { signal: received, exitCode: signalExitCode(received) }, { cause });
    },
    finish() {
      if (finished) return;
      finished = true;
      lingering = guard;
      const ms = testSignalDelay("exit");
      if (ms > 0) {
        // keeps the event loop (so the process) alive, and says so: test/46 signals after this line
        setTimeout(() => {}, ms);
        try { process.stderr.write(`tensorshrink: test hook: the job ended, exiting in ${ms} ms\n`); } catch { /* closed */ }
      }
    },
    dispose() {
      for (const [s, h] of installed.splice(0)) process.off(s, h);
      if (lingering === guard) lingering = null;
    },
  };
  for (const s of HANDLED_SIGNALS) {
    const h = () => {
      if (!received && !finished) {
        received = s;
        ac.abort(new TensorshrinkError("E_ABORTED", `interrupted by ${s}`, { signal: s }));
        return;
      }
      // a second signal while the abort runs, or any after the job: leave now, without a partial file
      exitNow(s);
    };
    try {
      process.on(s, h);
      installed.push([s, h]);
    } catch { /* a signal this platform cannot handle (Windows: SIGQUIT) */ }
  }
  return guard;
}

/**
 * Runs one CLI job under {@link installSignalHandlers} (quantize, prune, imatrix, teacher, eval): the handlers go in
 * before `job` starts; an error while a signal was received is reported as that signal's E_ABORTED
 * (exit 128 + its number); when the job settles (its own `finally` has released engine and files)
 * the guard is finished, its handlers staying until the process exits. `job` registers each output
 * sink with `sig.track(sink)` and aborts it on failure.
 */
export async function guardSignals<T>(job: (sig: SignalGuard) => Promise<T>): Promise<T> {
  const sig = installSignalHandlers();
  try {
    return await job(sig);
  } catch (e) {
    sig.rethrowIfSignalled(e);
    throw e;
  } finally {
    sig.finish(); // the handlers stay until exit: a late signal exits at once
  }
}
