/**
 * @module
 * Which streams a tiering loop must look at, so a pass costs the streams
 * with work rather than every stream: ids marked for the next pass (a
 * commit, a delete, a schema change) and ids scheduled for a time (a seal
 * due by age or idleness, a retry after a failure), in a binary min-heap.
 * An id may sit in both or in the heap more than once; a pass takes it once.
 */

import { setImmediate } from "node:timers";
import { TimeHeap } from "../time_heap.ts";

/** Ids due now and ids due at a time. */
export class DueQueue {
  readonly #next = new Set<number>();
  readonly #scheduled = new TimeHeap<number>();

  /** Looks at `id` on the next pass. */
  mark(id: number): void {
    this.#next.add(id);
  }

  /** Looks at `id` on the first pass at or after `atMs`. */
  at(id: number, atMs: number): void {
    this.#scheduled.push(id, atMs);
  }

  /** Ids marked plus ids whose time came by `nowMs`, each once; removes them. */
  take(nowMs: number): number[] {
    const out = new Set(this.#next);
    this.#next.clear();
    const scheduled = this.#scheduled;
    while (scheduled.size > 0 && scheduled.nextAtMs <= nowMs) {
      out.add(scheduled.pop());
    }
    return [...out];
  }

  /** Entries held (marked plus scheduled; for tests and figures). */
  get size(): number {
    return this.#next.size + this.#scheduled.size;
  }
}

/**
 * Schedules `id` on `due` at `atMs` unless a look at or before it is
 * already scheduled (`currentMs`, `Infinity` for none); returns the time of
 * the earliest look now scheduled. A stream so holds one live entry
 * however often a pass sees it; the look it gets schedules the next one.
 */
export function lookAt(
  due: DueQueue,
  id: number,
  atMs: number,
  currentMs: number,
): number {
  if (atMs >= currentMs) return currentMs;
  due.at(id, atMs);
  return atMs;
}

/** Lets requests and timers run between streams of a long pass. */
export function yieldToEvents(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
