/**
 * @module
 * Live-read cursors (PROTOCOL.md §10). A cursor is the number of fixed
 * intervals since an epoch. Responses never hand back a cursor at or below
 * the client's, so a CDN cannot bounce a client between two cached replies.
 */

/** Cursor epoch: 2024-10-09T00:00:00Z, as PROTOCOL.md suggests. */
export const CURSOR_EPOCH_MS: number = Date.UTC(2024, 9, 9);
/** Default cursor interval length. */
export const CURSOR_INTERVAL_MS = 20_000;

const JITTER_SECONDS_MIN = 1;
const JITTER_SECONDS_MAX = 3600;

/** The interval number containing `nowMs`. */
export function currentInterval(
  nowMs: number,
  intervalMs: number = CURSOR_INTERVAL_MS,
): number {
  return Math.floor((nowMs - CURSOR_EPOCH_MS) / intervalMs);
}

/**
 * The cursor for a live response: the current interval, or, when the client
 * already holds that interval or a later one, its cursor plus 1-3600 s of
 * jitter expressed in intervals (at least one).
 */
export function responseCursor(
  clientCursor: string | null,
  nowMs: number,
  random: () => number = Math.random,
  intervalMs: number = CURSOR_INTERVAL_MS,
): string {
  const current = currentInterval(nowMs, intervalMs);
  const client = parseCursor(clientCursor);
  if (client === undefined || client < current) return String(current);
  const jitterSeconds = JITTER_SECONDS_MIN +
    Math.floor(random() * (JITTER_SECONDS_MAX - JITTER_SECONDS_MIN + 1));
  const jitterIntervals = Math.max(
    1,
    Math.ceil(jitterSeconds * 1000 / intervalMs),
  );
  return String(client + jitterIntervals);
}

/** A client cursor as an integer; `undefined` when absent or not a number. */
function parseCursor(value: string | null): number | undefined {
  if (value === null || !/^\d{1,15}$/.test(value)) return undefined;
  return Number(value);
}
