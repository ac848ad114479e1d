/**
 * @module
 * The streams that can expire, ordered by when they may: a binary min-heap
 * on each stream's expiry time as it was when queued. A read moves a sliding
 * TTL later and never earlier, so an entry that comes due is checked again
 * and, when the stream was read meanwhile, queued again at its new time.
 * A sweep thus visits the streams due, not every stream with a TTL.
 */

import type { StreamState } from "./stream_state.ts";

/** Stale heap entries tolerated beyond the members before a rebuild. */
const STALE_ENTRIES_MIN = 1024;

/** Streams with a TTL or an expiry time, by the time they may expire. */
export class ExpiryQueue {
  /** Members; a heap entry of a stream no longer here is skipped. */
  readonly #members = new Set<StreamState>();
  /** Min-heap on `atMs`: parallel arrays, no object per entry. */
  readonly #atMs: number[] = [];
  readonly #states: StreamState[] = [];

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
    if (this.#atMs.length > 2 * this.#members.size + STALE_ENTRIES_MIN) {
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
    return this.#atMs.length;
  }

  /**
   * Removes and returns the members whose queued time came by `nowMs`,
   * each once; the caller expires them or queues them again with `requeue`.
   */
  take(nowMs: number): StreamState[] {
    const out = new Set<StreamState>();
    while (this.#atMs.length > 0 && this.#atMs[0] <= nowMs) {
      const state = this.#pop();
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
    this.#atMs.length = 0;
    this.#states.length = 0;
    for (const state of members) this.add(state);
  }

  #push(state: StreamState, atMs: number): void {
    if (atMs === Infinity) return; // cannot expire: nothing to check
    const atList = this.#atMs;
    const states = this.#states;
    let i = atList.length;
    atList.push(atMs);
    states.push(state);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (atList[parent] <= atMs) break;
      atList[i] = atList[parent];
      states[i] = states[parent];
      i = parent;
    }
    atList[i] = atMs;
    states[i] = state;
  }

  #pop(): StreamState {
    const atList = this.#atMs;
    const states = this.#states;
    const top = states[0];
    const lastAt = atList.pop()!;
    const lastState = states.pop()!;
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
      states[i] = states[child];
      i = child;
    }
    atList[i] = lastAt;
    states[i] = lastState;
    return top;
  }
}
