/**
 * @module
 * A binary min-heap of items keyed by a time in milliseconds, kept in two
 * parallel arrays so an entry costs no object. The tier's due queues and the
 * engine's expiry queue schedule work on it; items of equal time come out
 * in no promised order.
 */

import { assert } from "./assert.ts";

/** Items ordered by a time, earliest first. */
export class TimeHeap<T> {
  readonly #atMs: number[] = [];
  readonly #items: T[] = [];

  /** Entries held. */
  get size(): number {
    return this.#atMs.length;
  }

  /** The earliest time held, `Infinity` when empty. */
  get nextAtMs(): number {
    return this.#atMs.length > 0 ? this.#atMs[0] : Infinity;
  }

  /** Adds `item` at `atMs`; an item may be held more than once. */
  push(item: T, atMs: number): void {
    const atList = this.#atMs;
    const items = this.#items;
    let i = atList.length;
    atList.push(atMs);
    items.push(item);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (atList[parent] <= atMs) break;
      atList[i] = atList[parent];
      items[i] = items[parent];
      i = parent;
    }
    atList[i] = atMs;
    items[i] = item;
  }

  /** Removes and returns the item of the earliest time; the heap must not be empty. */
  pop(): T {
    const atList = this.#atMs;
    const items = this.#items;
    assert(atList.length > 0, "pop() on an empty TimeHeap");
    const top = items[0];
    const lastAt = atList.pop()!;
    const lastItem = items.pop()!;
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
      items[i] = items[child];
      i = child;
    }
    atList[i] = lastAt;
    items[i] = lastItem;
    return top;
  }

  /** Removes every entry. */
  clear(): void {
    this.#atMs.length = 0;
    this.#items.length = 0;
  }
}
