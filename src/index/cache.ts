/**
 * @module
 * The run cache: decoded runs (and key lexicons) by object key, least
 * recently used evicted first once their bytes pass the budget. Concurrent
 * misses on one key share one load. A value larger than the whole budget
 * is returned uncached.
 */

import { assert } from "../assert.ts";
import type { RoutingRun } from "./run.ts";

/** What the cache holds: anything that says its size. */
export interface Sized {
  /** Bytes charged against the budget. */
  readonly memoryBytes: number;
}

/** Counters of a `RunCache`. */
export interface RunCacheStats {
  /** Bytes of cached runs. */
  bytes: number;
  /** Cached runs. */
  entries: number;
  /** Lookups served from the cache. */
  hits: number;
  /** Lookups that loaded the run. */
  misses: number;
  /** Runs dropped to stay within the budget. */
  evictions: number;
}

/** A byte-bounded LRU of decoded runs. */
export class RunCache {
  /** Budget for decoded runs, in bytes. */
  readonly bytesMax: number;
  // Map iteration order is insertion order: re-inserting on a hit keeps the
  // least recently used entry first.
  #runs = new Map<string, Sized>();
  #loading = new Map<string, Promise<Sized>>();
  #stats: RunCacheStats = {
    bytes: 0,
    entries: 0,
    hits: 0,
    misses: 0,
    evictions: 0,
  };

  /** An empty cache holding at most `bytesMax` bytes of runs. */
  constructor(bytesMax: number) {
    assert(
      Number.isSafeInteger(bytesMax) && bytesMax >= 0,
      "cache budget is a byte count",
    );
    this.bytesMax = bytesMax;
  }

  /**
   * The value under `key`, loading it with `load` on a miss. One key holds
   * one kind of value (runs end in `.run`, lexicons in `.lex`).
   */
  async get<T extends Sized = RoutingRun>(
    key: string,
    load: () => Promise<T>,
  ): Promise<T> {
    const cached = this.#runs.get(key);
    if (cached !== undefined) {
      this.#stats.hits++;
      this.#runs.delete(key);
      this.#runs.set(key, cached);
      return cached as T;
    }
    const pending = this.#loading.get(key);
    if (pending !== undefined) {
      this.#stats.hits++;
      return await pending as T;
    }
    this.#stats.misses++;
    const loading = load();
    this.#loading.set(key, loading);
    try {
      const run = await loading;
      this.#insert(key, run);
      return run;
    } finally {
      this.#loading.delete(key);
    }
  }

  /** Drops `key` (its object was deleted). */
  delete(key: string): void {
    const run = this.#runs.get(key);
    if (run === undefined) return;
    this.#runs.delete(key);
    this.#stats.bytes -= run.memoryBytes;
  }

  /** A copy of the counters. */
  stats(): RunCacheStats {
    return { ...this.#stats, entries: this.#runs.size };
  }

  #insert(key: string, run: Sized): void {
    const size = run.memoryBytes;
    if (size > this.bytesMax || this.#runs.has(key)) return;
    this.#runs.set(key, run);
    this.#stats.bytes += size;
    for (const [oldKey, old] of this.#runs) {
      if (this.#stats.bytes <= this.bytesMax) break;
      this.#runs.delete(oldKey);
      this.#stats.bytes -= old.memoryBytes;
      this.#stats.evictions++;
    }
    assert(this.#stats.bytes <= this.bytesMax, "run cache within its budget");
  }
}
