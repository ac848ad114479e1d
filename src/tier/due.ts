/**
 * @module
 * Which streams a tiering loop must look at, so a pass costs the streams
 * with work rather than every stream: ids marked for the next pass (a
 * commit, a delete, a schema change) and ids scheduled for a time (a seal
 * due by age or idleness, a retry after a failure), in a binary min-heap.
 * An id may sit in both or in the heap more than once; a pass takes it once.
 */

import { setImmediate } from "node:timers";

/** Ids due now and ids due at a time. */
export class DueQueue {
  readonly #next = new Set<number>();
  /** Min-heap on `atMs`: parallel arrays, no object per entry. */
  readonly #atMs: number[] = [];
  readonly #ids: number[] = [];

  /** Looks at `id` on the next pass. */
  mark(id: number): void {
    this.#next.add(id);
  }

  /** Looks at `id` on the first pass at or after `atMs`. */
  at(id: number, atMs: number): void {
    const atList = this.#atMs;
    const ids = this.#ids;
    let i = atList.length;
    atList.push(atMs);
    ids.push(id);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (atList[parent] <= atMs) break;
      atList[i] = atList[parent];
      ids[i] = ids[parent];
      i = parent;
    }
    atList[i] = atMs;
    ids[i] = id;
  }

  /** Ids marked plus ids whose time came by `nowMs`, each once; removes them. */
  take(nowMs: number): number[] {
    const out = new Set(this.#next);
    this.#next.clear();
    while (this.#atMs.length > 0 && this.#atMs[0] <= nowMs) {
      out.add(this.#pop());
    }
    return [...out];
  }

  /** Entries held (marked plus scheduled; for tests and figures). */
  get size(): number {
    return this.#next.size + this.#atMs.length;
  }

  #pop(): number {
    const atList = this.#atMs;
    const ids = this.#ids;
    const top = ids[0];
    const lastAt = atList.pop()!;
    const lastId = ids.pop()!;
    const n = atList.length;
    if (n === 0) return top;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && atList[right] < atList[left] ? right : left;
      if (atList[child] >= lastAt) break;
      atList[i] = atList[child];
      ids[i] = ids[child];
      i = child;
    }
    atList[i] = lastAt;
    ids[i] = lastId;
    return top;
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
