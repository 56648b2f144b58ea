// Signals during `tensorshrink quantize`: the first SIGINT / SIGTERM / SIGHUP / SIGQUIT aborts the job
// (the sink deletes its temporary file, exit 128 + the signal number); a second one while that abort
// runs exits at once, after unlinking the temporary file synchronously. No partial file either way.
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

/** What {@link installSignalHandlers} returns. */
export interface SignalGuard {
  /** Aborted by the first signal. */
  readonly signal: AbortSignal;
  /** The first signal received, or null. */
  readonly received: Sig | null;
  /** The temporary output file to unlink on a forced exit (set once the sink is open). */
  tempPath: string | null;
  /** After a signal: throws E_ABORTED with details.exitCode = 128 + its number (else does nothing). */
  rethrowIfSignalled(cause?: unknown): void;
  /** Removes the handlers. Idempotent. */
  uninstall(): void;
}

/** Installs handlers for {@link HANDLED_SIGNALS} that stay in place until `uninstall()`. */
export function installSignalHandlers(): SignalGuard {
  const ac = new AbortController();
  let received: Sig | null = null;
  const installed: [Sig, () => void][] = [];
  const guard: SignalGuard = {
    signal: ac.signal,
    get received() { return received; },
    tempPath: null,
    rethrowIfSignalled(cause?: unknown) {
      if (!received) return;
      throw new TensorshrinkError("E_ABORTED", `interrupted by ${received}: stopped, the partial output was removed`, { signal: received, exitCode: signalExitCode(received) }, { cause });
    },
    uninstall() {
      for (const [s, h] of installed.splice(0)) process.off(s, h);
    },
  };
  for (const s of HANDLED_SIGNALS) {
    const h = () => {
      if (!received) {
        received = s;
        ac.abort(new TensorshrinkError("E_ABORTED", `interrupted by ${s}`, { signal: s }));
        return;
      }
      // A second signal while the abort runs: leave now, without the partial file.
      if (guard.tempPath) {
        try { unlinkSync(guard.tempPath); } catch { /* not created yet, or already gone */ }
      }
      try { process.stderr.write(`\ntensorshrink: interrupted by ${received} then ${s}: exiting now, the partial output was removed\n`); } catch { /* closed */ }
      process.exit(signalExitCode(s));
    };
    try {
      process.on(s, h);
      installed.push([s, h]);
    } catch { /* a signal this platform cannot handle (Windows: SIGQUIT) */ }
  }
  return guard;
}
