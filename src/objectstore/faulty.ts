/**
 * @module
 * A fault-injecting `ObjectStore` wrapper for tests of the uploader and of
 * recovery: it fails a share of calls as `unavailable`, adds latency, and can
 * "crash" after N successful puts, so a test can stop a process between two
 * writes (say, a segment and the manifest naming it) and restart from there.
 */

import { assert } from "../assert.ts";
import { StreamError } from "../errors.ts";
import type { ListPage, ObjectHead, ObjectStore } from "./object_store.ts";

/** What `FaultyObjectStore` injects. */
export interface FaultOptions {
  /** Share of calls (0..1) that fail with `unavailable` before running. */
  failureRate?: number;
  /** Delay added before every call. @default {0} */
  latencyMs?: number;
  /** After this many successful puts, every later call throws. */
  crashAfterPuts?: number;
  /** Uniform [0, 1) source; pass `seededRandom(seed)` for repeatable runs. */
  random?: () => number;
}

/** Names of the wrapped calls, for `FaultyObjectStore.calls`. */
export type ObjectStoreOp =
  | "put"
  | "get"
  | "getRange"
  | "head"
  | "list"
  | "delete";

/** A small seeded PRNG (mulberry32), so failing runs can be replayed. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** Wraps a store and injects failures; counters show what happened. */
export class FaultyObjectStore implements ObjectStore {
  readonly #inner: ObjectStore;
  readonly #random: () => number;
  #failureRate: number;
  #latencyMs: number;
  #crashAfterPuts: number | undefined;
  #puts = 0;
  #crashed = false;
  /** Calls attempted, by operation. */
  readonly calls: Record<ObjectStoreOp, number> = {
    put: 0,
    get: 0,
    getRange: 0,
    head: 0,
    list: 0,
    delete: 0,
  };
  /** Calls failed on purpose. */
  injectedFailures = 0;

  /** Wraps `inner` with the faults in `options`. */
  constructor(inner: ObjectStore, options: FaultOptions = {}) {
    this.#inner = inner;
    this.#random = options.random ?? Math.random;
    this.#failureRate = 0;
    this.#latencyMs = 0;
    this.setFaults(options);
  }

  /** Changes failure rate, latency or crash point mid-test. */
  setFaults(options: Omit<FaultOptions, "random">): void {
    const rate = options.failureRate ?? this.#failureRate;
    const latency = options.latencyMs ?? this.#latencyMs;
    assert(rate >= 0 && rate <= 1, "failureRate must be in 0..1");
    assert(latency >= 0 && latency <= 60_000, "latencyMs must be 0..60000");
    this.#failureRate = rate;
    this.#latencyMs = latency;
    if ("crashAfterPuts" in options) {
      this.#crashAfterPuts = options.crashAfterPuts;
    }
  }

  /** True once the crash point was passed. */
  get crashed(): boolean {
    return this.#crashed;
  }

  /** Successful puts so far. */
  get puts(): number {
    return this.#puts;
  }

  /** Puts unless a fault fires; counts toward the crash point. */
  async put(key: string, bytes: Uint8Array): Promise<void> {
    await this.#enter("put", key);
    if (this.#crashAfterPuts !== undefined) {
      if (this.#puts >= this.#crashAfterPuts) {
        this.#crashed = true;
        throw this.#crashError(key);
      }
    }
    await this.#inner.put(key, bytes);
    this.#puts++;
  }

  /** Gets unless a fault fires. */
  async get(key: string): Promise<Uint8Array | undefined> {
    await this.#enter("get", key);
    return await this.#inner.get(key);
  }

  /** Reads a range unless a fault fires. */
  async getRange(
    key: string,
    offset: number,
    length: number,
  ): Promise<Uint8Array | undefined> {
    await this.#enter("getRange", key);
    return await this.#inner.getRange(key, offset, length);
  }

  /** Heads unless a fault fires. */
  async head(key: string): Promise<ObjectHead | undefined> {
    await this.#enter("head", key);
    return await this.#inner.head(key);
  }

  /** Lists unless a fault fires. */
  async list(prefix: string, continuation?: string): Promise<ListPage> {
    await this.#enter("list", prefix);
    return await this.#inner.list(prefix, continuation);
  }

  /** Deletes unless a fault fires. */
  async delete(key: string): Promise<void> {
    await this.#enter("delete", key);
    await this.#inner.delete(key);
  }

  async #enter(op: ObjectStoreOp, key: string): Promise<void> {
    this.calls[op]++;
    if (this.#crashed) throw this.#crashError(key);
    if (this.#latencyMs > 0) {
      await new Promise((resolve) => setTimeout(resolve, this.#latencyMs));
    }
    if (this.#failureRate > 0 && this.#random() < this.#failureRate) {
      this.injectedFailures++;
      throw new StreamError(
        "unavailable",
        `Cannot ${op} object "${key}": injected failure`,
        { key, injected: true },
      );
    }
  }

  #crashError(key: string): StreamError {
    return new StreamError(
      "unavailable",
      `Cannot use object "${key}": store crashed after ${this.#puts} puts`,
      { key, crashed: true },
    );
  }
}
