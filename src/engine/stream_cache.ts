/**
 * @module
 * The stream cache: which streams hold their producer states in memory, in
 * least recently used order, within a byte budget (`--stream-cache-bytes`).
 * Producer states are loaded from the WAL on a stream's first producer
 * append (not at start-up) and dropped again when the budget is exceeded.
 * A stream with a producer request in flight is pinned: its states include
 * an uncommitted step the WAL does not hold yet, so it is never evicted.
 */

import { assert } from "../assert.ts";
import {
  STREAM_CACHE_ENTRY_BYTES,
  STREAM_CACHE_PRODUCER_BYTES,
} from "../limits.ts";
import type { StreamState } from "./stream_state.ts";

/** The cache's figures, for `/v1/server/_details` and `/metrics`. */
export interface StreamCacheStats {
  /** Streams whose producer states are held. */
  entries: number;
  /** Estimated bytes they take. */
  bytes: number;
  /** The budget (`--stream-cache-bytes`). */
  bytesMax: number;
  /** Streams pinned by a producer request in flight. */
  pinned: number;
  /** Producer requests that found their stream's states in memory. */
  hits: number;
  /** Producer requests that loaded them from the WAL first. */
  misses: number;
  /** Streams whose states were dropped to stay within the budget. */
  evictions: number;
}

/** Estimated heap bytes of a stream's producer states. */
export function producerBytes(state: StreamState): number {
  let bytes = STREAM_CACHE_ENTRY_BYTES;
  for (const id of state.producers.keys()) {
    bytes += STREAM_CACHE_PRODUCER_BYTES + 2 * id.length;
  }
  return bytes;
}

/** Loaded producer states by stream, least recently used first. */
export class StreamCache {
  readonly #bytesMax: number;
  /** Entries in use order: a `Map` iterates in insertion order. */
  readonly #entries = new Map<StreamState, number>();
  readonly #pins = new Map<StreamState, number>();
  #bytes = 0;
  #hits = 0;
  #misses = 0;
  #evictions = 0;

  /** A cache holding about `bytesMax` bytes of producer states. */
  constructor(bytesMax: number) {
    assert(bytesMax > 0, "stream cache needs a positive budget");
    this.#bytesMax = bytesMax;
  }

  /** Counts a producer request: `hit` when its states were in memory. */
  count(hit: boolean): void {
    if (hit) this.#hits++;
    else this.#misses++;
  }

  /**
   * Notes that `state`'s producer states are loaded (or changed): it moves
   * to the most recently used end, its size is taken again, and the least
   * recently used unpinned streams are dropped while over the budget.
   */
  use(state: StreamState): void {
    assert(state.producersLoaded, `stream "${state.name}" is not loaded`);
    this.#remove(state);
    const bytes = producerBytes(state);
    this.#entries.set(state, bytes);
    this.#bytes += bytes;
    this.#evict();
  }

  /** Keeps `state` loaded until as many `unpin` calls. */
  pin(state: StreamState): void {
    this.#pins.set(state, (this.#pins.get(state) ?? 0) + 1);
  }

  /** Ends one `pin`; the budget is enforced again. */
  unpin(state: StreamState): void {
    const pins = this.#pins.get(state);
    assert(pins !== undefined, `stream "${state.name}" is not pinned`);
    if (pins > 1) this.#pins.set(state, pins - 1);
    else {
      this.#pins.delete(state);
      this.#evict();
    }
  }

  /** Whether `state` is pinned. */
  pinned(state: StreamState): boolean {
    return this.#pins.has(state);
  }

  /** Drops `state`'s entry (its stream was deleted). */
  forget(state: StreamState): void {
    this.#remove(state);
  }

  /**
   * Drops entries whose stream was deleted or whose states were reset
   * (a reload from the WAL unloads them): O(entries), within the budget.
   */
  prune(): void {
    for (const state of [...this.#entries.keys()]) {
      if (state.deleted || !state.producersLoaded) this.#remove(state);
    }
  }

  /** The cache's figures. */
  stats(): StreamCacheStats {
    return {
      entries: this.#entries.size,
      bytes: this.#bytes,
      bytesMax: this.#bytesMax,
      pinned: this.#pins.size,
      hits: this.#hits,
      misses: this.#misses,
      evictions: this.#evictions,
    };
  }

  #remove(state: StreamState): void {
    const bytes = this.#entries.get(state);
    if (bytes === undefined) return;
    this.#entries.delete(state);
    this.#bytes -= bytes;
  }

  #evict(): void {
    if (this.#bytes <= this.#bytesMax) return;
    // Deleting from a Map while iterating it is well defined.
    for (const [state, bytes] of this.#entries) {
      if (this.#bytes <= this.#bytesMax) break;
      if (this.#pins.has(state)) continue;
      this.#entries.delete(state);
      this.#bytes -= bytes;
      if (state.deleted || !state.producersLoaded) continue;
      state.unloadProducers();
      this.#evictions++;
    }
  }
}
