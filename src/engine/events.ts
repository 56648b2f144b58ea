// Letting the event loop run inside long async loops. A loop of awaits that never waits for real I/O
// (a forward pass over weights already in memory resolves only microtasks) starves the event loop:
// signal handlers, timers and I/O callbacks wait until the loop ends (`tensorshrink imatrix
// --threads 1` ignored Ctrl-C until its whole collection was done).

/** Lets timers, I/O callbacks and signal handlers run: setImmediate where it exists (Node, Bun, Deno), else setTimeout(0). */
export const yieldToEvents = (): Promise<void> => new Promise((r) => (typeof setImmediate === "function" ? setImmediate(r) : setTimeout(r, 0)));

/**
 * A throttled {@link yieldToEvents} for long loops: the returned `tick()` yields once `everyMs`
 * milliseconds (default 50) of wall time have passed since its last yield (or since it was made), and
 * otherwise returns undefined at once. `await tick()` between iterations bounds how long a signal
 * waits to one iteration plus `everyMs`, at a cost of one Date.now() per iteration (in browsers,
 * where setTimeout(0) takes >= 4 ms when nested, at most ~4 ms per `everyMs`).
 */
export function eventYielder(everyMs = 50): () => Promise<void> | undefined {
  let last = Date.now();
  return () => {
    const now = Date.now();
    if (now - last < everyMs) return undefined;
    last = now;
    return yieldToEvents();
  };
}
