/**
 * @module
 * The streams that can expire, ordered by when they may: a binary min-heap
 * on each stream's expiry time as it was when queued. A read moves a sliding
 * TTL later and never earlier, so an entry that comes due is checked again
 * and, when the stream was read meanwhile, queued again at its new time.
 * A sweep thus visits the streams due, not every stream with a TTL.
 */

import { TimeHeap } from "../time_heap.ts";
import type { StreamState } from "./stream_state.ts";

/** Stale heap entries tolerated beyond the members before a rebuild. */
const STALE_ENTRIES_MIN = 1024;

/** Streams with a TTL or an expiry time, by the time they may expire. */
export class ExpiryQueue {
  /** Members; a heap entry of a stream no longer here is skipped. */
  readonly #members = new Set<StreamState>();
  /** Each member at its queued time; stale entries are skipped when due. */
  readonly #heap = new TimeHeap<StreamState>();

  /** Queues `state` at its expiry time (once while it is a member). */
  add(state: StreamState): void {
    if (this.#members.has(state)) return;
    this.#members.add(state);
    this.#push(state, state.expiryAtMs());
  }

  /**
   * Forgets `state`. Its heap entry goes when it comes due, or sooner when
   * stale entries outnumber members (the heap is then rebuilt, amortized).
   */
  delete(state: StreamState): void {
    if (!this.#members.delete(state)) return;
    if (this.#heap.size > 2 * this.#members.size + STALE_ENTRIES_MIN) {
      this.#rebuild();
    }
  }

  /** Whether `state` is queued. */
  has(state: StreamState): boolean {
    return this.#members.has(state);
  }

  /** Streams queued. */
  get size(): number {
    return this.#members.size;
  }

  /** Heap entries, stale ones included (for tests: they stay bounded). */
  get entries(): number {
    return this.#heap.size;
  }

  /**
   * Removes and returns the members whose queued time came by `nowMs`,
   * each once; the caller expires them or queues them again with `requeue`.
   */
  take(nowMs: number): StreamState[] {
    const out = new Set<StreamState>();
    const heap = this.#heap;
    while (heap.size > 0 && heap.nextAtMs <= nowMs) {
      const state = heap.pop();
      if (this.#members.delete(state)) out.add(state);
    }
    return [...out];
  }

  /** Queues `state` again, at its expiry time or `notBeforeMs` if later. */
  requeue(state: StreamState, notBeforeMs: number): void {
    if (this.#members.has(state)) return;
    this.#members.add(state);
    this.#push(state, Math.max(state.expiryAtMs(), notBeforeMs));
  }

  #rebuild(): void {
    const members = [...this.#members];
    this.#members.clear();
    this.#heap.clear();
    for (const state of members) this.add(state);
  }

  #push(state: StreamState, atMs: number): void {
    if (atMs === Infinity) return; // cannot expire: nothing to check
    this.#heap.push(state, atMs);
  }
}
