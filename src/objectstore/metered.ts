/**
 * @module
 * An `ObjectStore` wrapper that counts calls by operation, artifact
 * (segment, manifest, other: from the key's shape, never the key) and
 * outcome, and times them per operation. `server.ts` wraps the configured
 * store with it; `/metrics` reads `stats()`.
 */

import { DURATION_BUCKETS_S, Histogram } from "../histogram.ts";
import type { ObjectStoreOp } from "./faulty.ts";
import type { ListPage, ObjectHead, ObjectStore } from "./object_store.ts";

/** Every wrapped operation, in `stats()` order. */
export const OBJECT_STORE_OPS: readonly ObjectStoreOp[] = [
  "put",
  "get",
  "getRange",
  "head",
  "list",
  "delete",
];
/** What a key names, judged from its shape. */
export const OBJECT_ARTIFACTS = ["segment", "manifest", "other"] as const;
/** How a call ended. */
export const OBJECT_OUTCOMES = ["ok", "error"] as const;

/** One operation's counters. */
export interface OpMeter {
  /** The operation. */
  readonly op: ObjectStoreOp;
  /** Calls by artifact then outcome: `counts[artifact * 2 + outcome]`. */
  readonly counts: Float64Array;
  /** Call durations, in seconds. */
  readonly seconds: Histogram;
}

function artifactOf(key: string): number {
  // Segments, alone or in a pack (`packs/<seq>.pack`).
  if (key.endsWith(".seg") || key.endsWith(".pack")) return 0;
  // A stream's own manifest, or a batch of them (`manifests/<seq>.json`).
  if (key.endsWith("manifest.json") || key.startsWith("manifests/")) return 1;
  return 2;
}

/** Counts and times the calls of the store it wraps. */
export class MeteredObjectStore implements ObjectStore {
  readonly #inner: ObjectStore;
  readonly #meters: Map<ObjectStoreOp, OpMeter>;

  /** Wraps `inner`. */
  constructor(inner: ObjectStore) {
    this.#inner = inner;
    this.#meters = new Map(
      OBJECT_STORE_OPS.map((op) => [op, {
        op,
        counts: new Float64Array(
          OBJECT_ARTIFACTS.length * OBJECT_OUTCOMES.length,
        ),
        seconds: new Histogram(DURATION_BUCKETS_S),
      }]),
    );
  }

  /** The live counters, one per operation (read them, do not keep them). */
  stats(): OpMeter[] {
    return [...this.#meters.values()];
  }

  async #timed<T>(
    op: ObjectStoreOp,
    key: string,
    call: () => Promise<T>,
  ): Promise<T> {
    const meter = this.#meters.get(op)!;
    const slot = artifactOf(key) * OBJECT_OUTCOMES.length;
    const startedMs = performance.now();
    try {
      const value = await call();
      meter.counts[slot]++;
      return value;
    } catch (error) {
      meter.counts[slot + 1]++;
      throw error;
    } finally {
      meter.seconds.observe((performance.now() - startedMs) / 1000);
    }
  }

  /** See `ObjectStore.put`. */
  put(key: string, bytes: Uint8Array): Promise<void> {
    return this.#timed("put", key, () => this.#inner.put(key, bytes));
  }

  /** See `ObjectStore.get`. */
  get(key: string): Promise<Uint8Array | undefined> {
    return this.#timed("get", key, () => this.#inner.get(key));
  }

  /** See `ObjectStore.getRange`. */
  getRange(
    key: string,
    offset: number,
    length: number,
  ): Promise<Uint8Array | undefined> {
    return this.#timed(
      "getRange",
      key,
      () => this.#inner.getRange(key, offset, length),
    );
  }

  /** See `ObjectStore.head`. */
  head(key: string): Promise<ObjectHead | undefined> {
    return this.#timed("head", key, () => this.#inner.head(key));
  }

  /** See `ObjectStore.list`. */
  list(prefix: string, continuation?: string): Promise<ListPage> {
    return this.#timed(
      "list",
      prefix,
      () => this.#inner.list(prefix, continuation),
    );
  }

  /** See `ObjectStore.delete`. */
  delete(key: string): Promise<void> {
    return this.#timed("delete", key, () => this.#inner.delete(key));
  }
}
