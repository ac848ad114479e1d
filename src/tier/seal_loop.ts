/**
 * @module
 * One pass of the seal loop: for every committed stream whose unsealed
 * bytes passed `--segment-bytes` (or aged past `--segment-age-ms`), seal
 * WAL ranges into segment files and record them in the WAL, within a byte
 * budget per pass. Sealing pauses while uploads are behind; a stream whose
 * seal failed backs off on its own.
 */

import type { StreamInfo } from "../engine/types.ts";
import { SEAL_PASS_BYTES_MAX } from "../limits.ts";
import type { SegmentRow } from "../storage/wal_store.ts";
import type { TierContext } from "./_context.ts";
import type { Sealer } from "./_seal.ts";
import { retryLater, warnFailed } from "./retry.ts";
import { removeSegmentFile } from "./segment_files.ts";
import type { TierStream } from "./streams.ts";

/** Seals what is due in `infos` (committed streams), within the pass budget. */
export async function sealPass(
  ctx: TierContext,
  sealer: Sealer,
  infos: StreamInfo[],
): Promise<void> {
  let budget = SEAL_PASS_BYTES_MAX;
  for (const info of infos) {
    if (ctx.closed() || budget <= 0) return;
    const s = ctx.streams.ensure(info.id, info.fork?.position ?? 0);
    ctx.streams.noteTail(s, info.tailPos);
    if (ctx.clock.now() < s.seal.retryAtMs) continue;
    try {
      budget -= await sealDue(ctx, sealer, s, info, budget);
      s.seal.failures = 0;
    } catch (error) {
      const { sealRetryMinMs, sealRetryMaxMs } = ctx.config;
      retryLater(s.seal, ctx.clock, ctx.random, sealRetryMinMs, sealRetryMaxMs);
      warnFailed(ctx.log, "sealing", s.id, s.seal, error);
    }
  }
}

/**
 * True when this node may seal, upload and publish `s`: no leases are kept,
 * or it holds the stream's lease (whose token it notes on `s`).
 */
export function holdsLease(ctx: TierContext, s: TierStream): boolean {
  if (ctx.leases === undefined) return true;
  s.leaseToken = ctx.leases.hold(s.id, ctx.clock.now());
  return s.leaseToken !== undefined;
}

/** Seals segments of `s` that passed a threshold; returns bytes sealed. */
async function sealDue(
  ctx: TierContext,
  sealer: Sealer,
  s: TierStream,
  info: StreamInfo,
  budget: number,
): Promise<number> {
  const { segmentBytes, segmentAgeMs, uploadBacklogBytesMax } = ctx.config;
  let sealed = 0;
  while (!ctx.closed() && sealed < budget) {
    const unsealed = info.tailPos - s.sealedThrough;
    if (unsealed <= 0) {
      s.unsealedSinceMs = undefined;
      break;
    }
    s.unsealedSinceMs ??= ctx.clock.now();
    const aged = ctx.clock.now() - s.unsealedSinceMs >= segmentAgeMs;
    if (unsealed < segmentBytes && !aged) break;
    if (ctx.streams.uploadBacklogBytes >= uploadBacklogBytesMax) break; // uploads are behind
    // Asked only when there is work: a lease costs a query when due.
    if (!holdsLease(ctx, s)) break; // another node seals it
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
  await ctx.store.addSegment(row);
  ctx.crashPoint("after_segment_seal");
  if (!ctx.streams.isCurrent(s)) { // released meanwhile
    await removeSegmentFile(ctx.segmentDir, row);
    return undefined;
  }
  ctx.streams.addSealed(s, row);
  return row;
}
