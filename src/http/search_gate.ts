/**
 * @module
 * The admission gate `_search` and `_aggregate` share (specs/search.md §6):
 * at most `concurrency` run at once, up to `queueMax` wait their turn in
 * arrival order, and one more is refused with 503 `overloaded` (and
 * `Retry-After`) instead of piling up scans.
 */

import { assert } from "../assert.ts";
import { fail, type Result } from "../errors.ts";

/** Runs at most `concurrency` tasks at once with a bounded wait queue. */
export class SearchGate {
  readonly #concurrency: number;
  readonly #queueMax: number;
  readonly #queue: (() => void)[] = [];
  #running = 0;

  /** A gate of `concurrency` slots and `queueMax` waiting places. */
  constructor(concurrency: number, queueMax: number) {
    assert(concurrency >= 1, "search gate needs a slot");
    assert(queueMax >= 0, "search gate queue bound is not negative");
    this.#concurrency = concurrency;
    this.#queueMax = queueMax;
  }

  /** Tasks running now. */
  get running(): number {
    return this.#running;
  }

  /** Tasks waiting now. */
  get waiting(): number {
    return this.#queue.length;
  }

  /** Runs `task` when a slot is free; `overloaded` when the queue is full. */
  async run<T>(task: () => Promise<T>): Promise<Result<T>> {
    if (this.#running >= this.#concurrency) {
      if (this.#queue.length >= this.#queueMax) {
        return fail(
          "overloaded",
          `Too many searches in progress (${this.#running} running, ${this.#queue.length} waiting); retry later`,
        );
      }
      await new Promise<void>((resolve) => this.#queue.push(resolve));
    } else {
      this.#running++;
    }
    try {
      return { ok: true, value: await task() };
    } finally {
      const next = this.#queue.shift();
      // The slot passes straight to the next waiter (running stays the same).
      if (next !== undefined) next();
      else this.#running--;
    }
  }
}
