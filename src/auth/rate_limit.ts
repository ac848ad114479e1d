/**
 * @module
 * Per-key rate limits: one token bucket per key id that names a rate. A
 * request takes one token; an empty bucket answers how long until the next
 * token, which becomes the 429's `Retry-After`. The clock is injected so
 * tests step time instead of sleeping.
 */

import type { ApiKey, Rate } from "./keys.ts";

interface Bucket {
  rate: Rate;
  tokens: number;
  atMs: number;
}

/** Token buckets by key id. */
export class RateLimiter {
  #buckets = new Map<string, Bucket>();
  #now: () => number;

  /** `now` gives milliseconds (`Date.now` by default). */
  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /**
   * Takes a token for `key`: 0 when the request may go, else the seconds
   * (at least 1) until a token is back. Keys without a rate always go.
   */
  take(key: ApiKey): number {
    const rate = key.rate;
    if (rate === undefined) return 0;
    const now = this.#now();
    let bucket = this.#buckets.get(key.id);
    if (
      bucket === undefined || bucket.rate.rps !== rate.rps ||
      bucket.rate.burst !== rate.burst
    ) {
      bucket = { rate, tokens: rate.burst, atMs: now };
      this.#buckets.set(key.id, bucket);
    }
    const elapsedS = Math.max(0, now - bucket.atMs) / 1000;
    bucket.tokens = Math.min(rate.burst, bucket.tokens + elapsedS * rate.rps);
    bucket.atMs = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / rate.rps));
  }

  /** Forgets buckets of keys no longer listed (after a reload). */
  retain(ids: ReadonlySet<string>): void {
    for (const id of this.#buckets.keys()) {
      if (!ids.has(id)) this.#buckets.delete(id);
    }
  }
}
