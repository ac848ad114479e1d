/**
 * @module
 * Capped exponential backoff with jitter for retry loops (segment sealing,
 * uploads and object releases in tiered storage). Pure: the caller keeps the
 * attempt count and passes the random source, so tests can pin the delays.
 */

import { assert } from "./assert.ts";
import { BACKOFF_JITTER } from "./limits.ts";

/**
 * The delay before retry `attempt` (1 after the first failure), in ms:
 * `minMs * 2^(attempt-1)` capped at `maxMs`, less up to `BACKOFF_JITTER` of
 * it drawn from `random()` (uniform in [0, 1)), so retries of many callers
 * that failed together spread out. Never above `maxMs`; `() => 0` gives the
 * plain capped doubling.
 */
export function backoff(
  attempt: number,
  minMs: number,
  maxMs: number,
  random: () => number,
): number {
  assert(Number.isInteger(attempt) && attempt >= 1, "attempts count from 1");
  assert(minMs >= 0 && maxMs >= minMs, "backoff needs 0 <= minMs <= maxMs");
  const r = random();
  assert(r >= 0 && r < 1, "random() must be in [0, 1)");
  const cappedMs = Math.min(maxMs, minMs * 2 ** Math.min(attempt - 1, 52));
  return Math.round(cappedMs * (1 - BACKOFF_JITTER * r));
}
