/**
 * @module
 * Time for the subscription state machine: the current time and one-shot
 * timers, behind one interface so tests drive leases and retries with a
 * manual clock instead of waiting (`_testing.ts` has `ManualClock`).
 */

/** Current time and timers. */
export interface Clock {
  /** Epoch ms. */
  now(): number;
  /**
   * Calls `fn` once, `ms` from now; returns a function that cancels it.
   * Timers must not keep the process alive.
   */
  setTimer(fn: () => void, ms: number): () => void;
}

/** The real clock: `Date.now` and unreferenced `setTimeout`s. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(fn: () => void, ms: number): () => void {
    const timer = setTimeout(fn, ms);
    Deno.unrefTimer(timer);
    return () => clearTimeout(timer);
  },
};
