/**
 * @module
 * Live readers waiting for a stream to change (long-poll and SSE), counted
 * against `--waiters-max`: beyond it a wait is refused with 503 instead of
 * holding another timer and promise. A commit, close or delete wakes a
 * stream's waiters (`StreamState.wakeAll`).
 */

import { fail, ok, type Result, type StreamError } from "../errors.ts";
import { WAITERS_RETRY_AFTER_SECONDS } from "../limits.ts";
import type { StreamState } from "./stream_state.ts";
import type { WaitOutcome } from "./types.ts";

/** Bounded waiting on stream changes. */
export class Waiters {
  readonly #waitersMax: number;
  #waiting = 0;
  /** Streams with readers waiting here, and how many each. */
  readonly #streams = new Map<StreamState, number>();

  /** At most `waitersMax` waits at once. */
  constructor(waitersMax: number) {
    this.#waitersMax = waitersMax;
  }

  /** Readers waiting now. */
  get count(): number {
    return this.#waiting;
  }

  /** The streams readers wait on now (not touch waits, which hold no stream). */
  streams(): IterableIterator<StreamState> {
    return this.#streams.keys();
  }

  /**
   * Takes one slot of the budget for a wait the engine does not run itself
   * (a touch wait): the returned function gives it back (once). `overloaded`
   * when `waitersMax` readers wait already.
   */
  reserve(): Result<() => void> {
    if (this.#waiting >= this.#waitersMax) return overloaded();
    this.#waiting++;
    let released = false;
    return ok(() => {
      if (released) return;
      released = true;
      this.#waiting--;
    });
  }

  /**
   * Waits until `state` is woken, `timeoutMs` passes or `signal` aborts;
   * `overloaded` when `waitersMax` readers wait already.
   */
  wait(
    state: StreamState,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<Result<WaitOutcome>> {
    if (this.#waiting >= this.#waitersMax) {
      return Promise.resolve(overloaded());
    }
    this.#waiting++;
    return new Promise((resolve) => {
      const finish = (outcome: WaitOutcome) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        state.removeWaiter(wake);
        this.#waiting--;
        const left = this.#streams.get(state)! - 1;
        if (left === 0) this.#streams.delete(state);
        else this.#streams.set(state, left);
        resolve(ok(outcome));
      };
      const wake = () => finish("changed");
      const onAbort = () => finish("aborted");
      const timer = setTimeout(() => finish("timeout"), timeoutMs);
      state.addWaiter(wake);
      this.#streams.set(state, (this.#streams.get(state) ?? 0) + 1);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }
}

function overloaded(): { ok: false; error: StreamError } {
  return fail("overloaded", "Too many live readers are waiting", {
    retryAfterSeconds: WAITERS_RETRY_AFTER_SECONDS,
    overload: "waiters",
  });
}
