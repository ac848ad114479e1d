/**
 * @module
 * One pass of the upload loop: for every committed stream, put its sealed
 * segments into the object store, publish its manifest (the commit point:
 * docs/segments.md "Manifests"), then delete the WAL rows below what is
 * published and the local files. A stream whose upload failed backs off on
 * its own; a segment whose file is gone is rebuilt from the WAL.
 */

import { assert } from "../assert.ts";
import type { StreamInfo } from "../engine/types.ts";
import {
  buildManifest,
  encodeManifest,
  manifestKey,
  segmentKey,
} from "../objectstore/manifest.ts";
import type { SegmentRow } from "../storage/wal_store.ts";
import type { TierContext } from "./_context.ts";
import { encodeRange } from "./_seal.ts";
import { retryLater, warnFailed } from "./retry.ts";
import { removeSegmentFile, segmentFilePath } from "./segment_files.ts";
import { publishedSummary, type TierStream } from "./streams.ts";

/** Uploads and publishes what is due in `infos` (committed streams). */
export async function uploadPass(
  ctx: TierContext,
  infos: StreamInfo[],
): Promise<void> {
  for (const info of infos) {
    if (ctx.closed()) return;
    const s = ctx.streams.ensure(info.id, info.fork?.position ?? 0);
    ctx.streams.noteTail(s, info.tailPos);
    if (ctx.clock.now() < s.upload.retryAtMs) continue;
    try {
      await uploadDue(ctx, s, info);
    } catch (error) {
      const { uploadRetryMinMs, uploadRetryMaxMs } = ctx.config;
      retryLater(
        s.upload,
        ctx.clock,
        ctx.random,
        uploadRetryMinMs,
        uploadRetryMaxMs,
      );
      warnFailed(ctx.log, "uploading", s.id, s.upload, error);
    }
  }
}

async function uploadDue(
  ctx: TierContext,
  s: TierStream,
  info: StreamInfo,
): Promise<void> {
  const last = s.segments[s.segments.length - 1];
  const pending = last !== undefined && !last.uploaded;
  const closed = info.closed && s.sealedThrough === info.tailPos;
  if (
    !pending && s.walStart >= s.sealedThrough &&
    s.published === publishedSummary(s.sealedThrough, closed, info.softDeleted)
  ) return; // nothing new to publish
  let through = s.basePos;
  const done: SegmentRow[] = [];
  for (const row of s.segments) {
    if (ctx.closed()) return;
    if (!row.uploaded && !s.put.has(row.startPos)) {
      await putSegment(ctx, s, row);
    }
    done.push(row);
    through = row.endPos;
  }
  const manifest = buildManifest(info, done, through);
  const summary = publishedSummary(
    through,
    manifest.closed,
    manifest.softDeleted,
  );
  if (!ctx.streams.isCurrent(s)) return; // deleted meanwhile: no manifest
  if (summary !== s.published) {
    await ctx.objects.put(manifestKey(s.id), encodeManifest(manifest));
    ctx.crashPoint("after_manifest_publish");
    s.published = summary;
  }
  if (through > s.walStart) await truncateBelow(ctx, s, done, through);
  s.upload.failures = 0;
}

/** Puts one sealed segment into the object store and the cache. */
async function putSegment(
  ctx: TierContext,
  s: TierStream,
  row: SegmentRow,
): Promise<void> {
  const bytes = await segmentBytes(ctx, row);
  const key = segmentKey(s.id, row.startPos, row.endPos);
  await ctx.objects.put(key, bytes);
  ctx.crashPoint("after_segment_upload");
  s.put.add(row.startPos);
  await ctx.cache.put(key, bytes);
}

/**
 * A manifest now names `done` up to `through`: readers switch to segments
 * before the WAL rows below go, then the local files go.
 */
async function truncateBelow(
  ctx: TierContext,
  s: TierStream,
  done: SegmentRow[],
  through: number,
): Promise<void> {
  ctx.streams.publishedThrough(s, through);
  await ctx.store.truncate(s.id, through);
  ctx.crashPoint("after_wal_truncate");
  if (!ctx.streams.isCurrent(s)) return; // released: counted there
  for (const row of done) {
    if (row.uploaded) continue;
    ctx.streams.markUploaded(row);
    await removeSegmentFile(ctx.segmentDir, row);
  }
  s.put.clear();
}

/** A sealed segment's bytes: its file, else rebuilt from the WAL. */
async function segmentBytes(
  ctx: TierContext,
  row: SegmentRow,
): Promise<Uint8Array> {
  try {
    return await Deno.readFile(segmentFilePath(ctx.segmentDir, row));
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const rebuilt = await encodeRange(
    (id, from, end, bytesMax) => ctx.store.readChunks(id, from, end, bytesMax),
    ctx.codec,
    row.streamId,
    row.startPos,
    row.endPos,
    { endPosExact: row.endPos },
  );
  assert(rebuilt !== undefined, "a sealed range is never empty");
  return rebuilt.bytes;
}
