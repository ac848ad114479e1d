/**
 * @module
 * One pass of the seal loop: for every committed stream whose unsealed
 * bytes passed `--segment-bytes` (or aged past `--segment-age-ms`), seal
 * WAL ranges into segment files and record them in the WAL, within a byte
 * budget per pass. Sealing pauses while uploads are behind; a stream whose
 * seal failed backs off on its own.
 */

import type { StreamInfo } from "../engine/types.ts";
import { StreamError } from "../errors.ts";
import {
  SEAL_BLOCKED_RECHECK_MS,
  SEAL_PASS_BYTES_MAX,
  SEAL_SMALL_DIVISOR,
  TIER_PASS_YIELD_STREAMS,
} from "../limits.ts";
import type { SegmentRow } from "../storage/wal_store.ts";
import type { TierContext } from "./_context.ts";
import type { Sealer } from "./_seal.ts";
import { type DueQueue, lookAt, yieldToEvents } from "./due.ts";
import { retryLater, warnFailed } from "./retry.ts";
import { removeSegmentFile } from "./segment_files.ts";
import type { TierStream } from "./streams.ts";

/**
 * Seals what is due among `ids` (streams marked or scheduled), within the
 * pass budget. `info` is a stream's committed state (undefined once it is
 * gone: `gone` releases it). A stream left waiting for a threshold is
 * scheduled on `due` for the time it passes; one sealed is handed to
 * `sealed` (the upload loop's queue).
 */
export async function sealPass(
  ctx: TierContext,
  sealer: Sealer,
  ids: number[],
  hooks: SealPassHooks,
): Promise<void> {
  let budget = SEAL_PASS_BYTES_MAX;
  for (const [i, id] of ids.entries()) {
    if (ctx.closed() || budget <= 0) {
      for (const rest of ids.slice(i)) hooks.due.mark(rest); // next pass
      return;
    }
    if (i > 0 && i % TIER_PASS_YIELD_STREAMS === 0) await yieldToEvents();
    const info = hooks.info(id);
    if (info === undefined) {
      hooks.gone(id);
      continue;
    }
    const s = ctx.streams.ensure(info.id, info.fork?.position ?? 0);
    ctx.streams.noteTail(s, info.tailPos, ctx.clock.now());
    const now = ctx.clock.now();
    if (now >= s.sealLookAtMs) s.sealLookAtMs = Infinity; // this look
    if (now < s.seal.retryAtMs) {
      s.sealLookAtMs = lookAt(hooks.due, id, s.seal.retryAtMs, s.sealLookAtMs);
      continue;
    }
    try {
      const sealed = await sealDue(ctx, sealer, s, info, budget, hooks.due);
      budget -= sealed;
      if (sealed > 0) hooks.sealed(id);
      s.seal.failures = 0;
    } catch (error) {
      const { sealRetryMinMs, sealRetryMaxMs } = ctx.config;
      retryLater(s.seal, ctx.clock, ctx.random, sealRetryMinMs, sealRetryMaxMs);
      // With leases, another node may have published and truncated the
      // rows: ask for the lease and the segments again.
      ctx.leases?.forget(s.id);
      s.adoptedToken = undefined;
      warnFailed(ctx.log, "sealing", s.id, s.seal, error);
      s.sealLookAtMs = lookAt(hooks.due, id, s.seal.retryAtMs, s.sealLookAtMs);
    }
  }
}

/**
 * True when this node may seal, upload and publish `s`: no leases are kept,
 * or it holds the stream's lease (whose token it notes on `s`).
 */
export function holdsLease(ctx: TierContext, s: TierStream): boolean {
  const leases = ctx.leases;
  if (leases === undefined) return true;
  const token = leases.hold(s.id, ctx.clock.now());
  if (token === undefined && s.leaseToken !== undefined) {
    ctx.log.warn(
      `no longer holds the lease of stream id ${s.id} (token ${s.leaseToken}): its holder seals and publishes it`,
    );
  }
  s.leaseToken = token;
  if (token === undefined) return false;
  if (token === s.adoptedToken) return true;
  // A new token: another node may have sealed and published since this
  // node last looked, so the segments are taken from the database.
  const rows = leases.takeOver(s.id, token);
  if (rows === undefined) {
    s.leaseToken = undefined;
    return false;
  }
  const dropped = ctx.streams.adopt(s, rows);
  for (const row of dropped) {
    removeSegmentFile(ctx.segmentDir, row).catch(() => {});
  }
  s.adoptedToken = token;
  ctx.adopted?.(s.id); // the rows may hold work this loop does not see
  ctx.log.info(
    `took the lease of stream id ${s.id} (token ${token}); published through position ${s.walStart}, sealed through ${s.sealedThrough}`,
  );
  return true;
}

/** What a seal pass needs besides the context. */
export interface SealPassHooks {
  /** Committed state of stream `id`; undefined once it is gone. */
  info(id: number): StreamInfo | undefined;
  /** Stream `id` is gone: release it. */
  gone(id: number): void;
  /** The seal loop's own queue (for streams waiting for a threshold). */
  due: DueQueue;
  /** Stream `id` has new sealed segments to upload. */
  sealed(id: number): void;
}

/**
 * When the unsealed bytes of `s` are due for sealing: at once when they
 * reach `--segment-bytes`; else by age (`--segment-age-ms` after they were
 * first seen), unless the stream is tiny (`isTiny`) and open: then only once
 * it has been idle (no commit) for `--segment-idle-ms`, so a tiny stream is
 * not turned into a segment and a manifest of its own every minute. While
 * the local backlog is above half its budget, age alone seals tiny streams
 * too.
 */
export function sealDueAtMs(
  ctx: TierContext,
  s: TierStream,
  info: StreamInfo,
  unsealed: number,
): number {
  const { segmentBytes, segmentAgeMs, segmentIdleMs, backlogBytesMax } =
    ctx.config;
  if (unsealed >= segmentBytes) return 0;
  const aged = (s.unsealedSinceMs ?? ctx.clock.now()) + segmentAgeMs;
  const pressed = ctx.streams.backlogBytes * 2 > backlogBytesMax;
  if (!isTiny(ctx, s, info) || info.closed || pressed) return aged;
  return Math.max(aged, s.lastCommitMs + segmentIdleMs);
}

/**
 * A stream is tiny while its own bytes (past its fork position) are under
 * `--segment-bytes` / `SEAL_SMALL_DIVISOR` (64 KiB by default).
 */
export function isTiny(
  ctx: TierContext,
  s: TierStream,
  info: StreamInfo,
): boolean {
  return (info.tailPos - s.basePos) * SEAL_SMALL_DIVISOR <
    ctx.config.segmentBytes;
}

/** Seals segments of `s` that passed a threshold; returns bytes sealed. */
async function sealDue(
  ctx: TierContext,
  sealer: Sealer,
  s: TierStream,
  info: StreamInfo,
  budget: number,
  due: DueQueue,
): Promise<number> {
  const { uploadBacklogBytesMax } = ctx.config;
  let sealed = 0;
  while (!ctx.closed()) {
    const unsealed = info.tailPos - s.sealedThrough;
    if (unsealed <= 0) {
      s.unsealedSinceMs = undefined;
      ctx.streams.holdSmall(s, false);
      break;
    }
    s.unsealedSinceMs ??= ctx.clock.now();
    const atMs = sealDueAtMs(ctx, s, info, unsealed);
    if (ctx.clock.now() < atMs) {
      ctx.streams.holdSmall(s, isTiny(ctx, s, info) && !info.closed);
      s.sealLookAtMs = lookAt(due, s.id, atMs, s.sealLookAtMs);
      break;
    }
    if (sealed >= budget) {
      due.mark(s.id); // the pass budget is spent: the next pass goes on
      break;
    }
    if (ctx.streams.uploadBacklogBytes >= uploadBacklogBytesMax) {
      const atMs = ctx.clock.now() + SEAL_BLOCKED_RECHECK_MS; // uploads are behind
      s.sealLookAtMs = lookAt(due, s.id, atMs, s.sealLookAtMs);
      break;
    }
    // Asked only when there is work: a lease costs a query when due.
    if (!holdsLease(ctx, s)) { // another node seals it
      const atMs = ctx.clock.now() + SEAL_BLOCKED_RECHECK_MS;
      s.sealLookAtMs = lookAt(due, s.id, atMs, s.sealLookAtMs);
      break;
    }
    const row = await seal(ctx, sealer, s, info.tailPos);
    if (row === undefined) break;
    sealed += row.endPos - row.startPos;
    s.unsealedSinceMs = row.endPos < info.tailPos ? ctx.clock.now() : undefined;
  }
  return sealed;
}

/** Seals one segment of `s` from `sealedThrough`, below `tailPos`. */
async function seal(
  ctx: TierContext,
  sealer: Sealer,
  s: TierStream,
  tailPos: number,
): Promise<SegmentRow | undefined> {
  const fromPos = s.sealedThrough;
  const token = s.leaseToken;
  const sealed = await sealer.seal(s.id, fromPos, tailPos);
  if (sealed === undefined) return undefined;
  const row: SegmentRow = {
    streamId: s.id,
    startPos: fromPos,
    endPos: sealed.endPos,
    sizeBytes: sealed.sizeBytes,
    uploaded: false,
  };
  ctx.crashPoint("after_segment_write");
  try {
    await ctx.store.addSegment(row, token);
  } catch (error) {
    // Fenced (another node took the lease): the file is not wanted; the
    // pass retries later, asking for the lease again.
    if (error instanceof StreamError && error.kind === "fenced") {
      await removeSegmentFile(ctx.segmentDir, row);
    }
    throw error;
  }
  ctx.crashPoint("after_segment_seal");
  // Released meanwhile, or the lease changed hands and came back (the
  // segments were taken from the database since).
  if (!ctx.streams.isCurrent(s) || s.adoptedToken !== token) {
    await removeSegmentFile(ctx.segmentDir, row);
    return undefined;
  }
  // The rows were taken from the database after this one committed (the
  // lease sweep reconciling): they list it already.
  if (s.sealedThrough >= row.endPos) return row;
  ctx.streams.addSealed(s, row);
  return row;
}
