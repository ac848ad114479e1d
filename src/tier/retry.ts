/**
 * @module
 * Per-step retry state of the tiering loops: sealing, uploading and
 * releasing each fail and back off on their own (capped doubling with
 * jitter, `backoff.ts`), and failures are logged sparsely.
 */

import { backoff } from "../backoff.ts";
import type { Logger } from "../log.ts";
import type { TierClock } from "./clock.ts";

/** When a failing step may run again. */
export interface Retry {
  /** Failures in a row; 0 after a success. */
  failures: number;
  /** No attempt before this time (epoch ms). */
  retryAtMs: number;
}

/** A step that has not failed. */
export function freshRetry(): Retry {
  return { failures: 0, retryAtMs: 0 };
}

/** Counts a failure of `retry` and schedules the next attempt. */
export function retryLater(
  retry: Retry,
  clock: TierClock,
  random: () => number,
  minMs: number,
  maxMs: number,
): void {
  retry.failures++;
  retry.retryAtMs = clock.now() +
    backoff(retry.failures, minMs, maxMs, random);
}

/** Warns on the first failure in a row and every 20th after. */
export function warnFailed(
  log: Logger,
  step: "sealing" | "uploading",
  id: number,
  { failures }: Retry,
  error: unknown,
): void {
  if (failures !== 1 && failures % 20 !== 0) return;
  log.warn(
    `${step} stream id ${id} failed (attempt ${failures}); will retry: ${
      error instanceof Error ? error.message : String(error)
    }`,
  );
}
