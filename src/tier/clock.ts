/**
 * @module
 * Time for the tiering loops, injectable so tests can run them pass by pass
 * instead of waiting on timers.
 */

/** Time and waits, injectable so tests can run the loops pass by pass. */
export interface TierClock {
  /** Now, in epoch ms. */
  now(): number;
  /** Resolves after `ms`, or as soon as `signal` aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

/** The real clock: `Date.now` and an unref'd timer. */
export const SYSTEM_CLOCK: TierClock = {
  now: Date.now,
  sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const wake = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      Deno.unrefTimer(timer);
      signal.addEventListener("abort", wake);
    });
  },
};
