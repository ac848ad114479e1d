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
  schemaRegistryKey,
  type SchemaRegistryRef,
  segmentKey,
} from "../objectstore/manifest.ts";
import type { SegmentRow } from "../storage/wal_store.ts";
import type { TierContext } from "./_context.ts";
import { encodeRange } from "./_seal.ts";
import { retryLater, warnFailed } from "./retry.ts";
import { removeSegmentFile, segmentFilePath } from "./segment_files.ts";
import { publishedSummary, type TierStream } from "./streams.ts";
import { uploadedCount } from "./reader.ts";
import { ROUTING_RUN_RETIRED_GRACE_MS } from "../limits.ts";

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
      uploadFailed(ctx, s, error);
      continue;
    }
    await indexStep(ctx, s);
    if (ctx.streams.isCurrent(s)) {
      await ctx.companions?.catchUp(
        s,
        info,
        COMPANION_STEPS_PER_PASS,
        ctx.closed,
      );
    }
  }
}

/** Companion builds per stream and upload pass (each one segment). */
const COMPANION_STEPS_PER_PASS = 4;

/** Backs the stream's uploads off after `error`. */
function uploadFailed(ctx: TierContext, s: TierStream, error: unknown): void {
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

/** Index build steps per stream and upload pass (each one run file). */
const INDEX_STEPS_PER_PASS = 4;

/**
 * Brings the stream's routing-key index up to its uploaded segments, a few
 * steps per pass (off the request path). When the index changed, the
 * stream's manifest is published again on the next pass with the new
 * `routingIndex` section. Retired runs are deleted here too. A failed step
 * is logged; the next pass retries.
 */
async function indexStep(ctx: TierContext, s: TierStream): Promise<void> {
  const index = ctx.routingIndex;
  if (index === undefined || !ctx.streams.isCurrent(s)) return;
  const uploaded = uploadedCount(s);
  if (uploaded === 0) return;
  let changed = false;
  try {
    for (let i = 0; i < INDEX_STEPS_PER_PASS && !ctx.closed(); i++) {
      if (await index.step(s.id, uploaded) === undefined) break;
      ctx.indexBuilds.count++;
      changed = true;
    }
    // Runs compacted away, once two manifests not naming them are out.
    const forgotten = await index.collectRetired(s.id, s.manifestAtMs[0]);
    if (forgotten > 0) changed = true;
    // Manifests are published on change only: when retired runs wait and
    // the latest manifest is older than the grace time, publish it again so
    // a second manifest without them exists.
    const retired = index.status(s.id, {
      configured: true,
      uploadedCount: uploaded,
      oldestUnindexedUploadedAtMs: undefined,
    });
    if (
      retired.configured && retired.retired_run_count > 0 &&
      s.manifestAtMs[1] <= ctx.clock.now() - ROUTING_RUN_RETIRED_GRACE_MS
    ) changed = true;
  } catch (error) {
    ctx.log.warn(
      `stream ${s.id}: routing-key index step failed; will retry: ${
        (error as Error).message
      }`,
    );
  }
  if (changed) s.published = undefined; // publish the new index section
}

async function uploadDue(
  ctx: TierContext,
  s: TierStream,
  info: StreamInfo,
): Promise<void> {
  const last = s.segments[s.segments.length - 1];
  const pending = last !== undefined && !last.uploaded;
  const closed = info.closed && s.sealedThrough === info.tailPos;
  const schema = await preparedSchema(s, info);
  if (
    !pending && s.walStart >= s.sealedThrough &&
    s.published ===
      publishedSummary(s.sealedThrough, closed, info.softDeleted, schema?.key)
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
  const manifest = buildManifest(info, done, through, schema);
  const routingIndex = ctx.routingIndex?.manifest(s.id);
  if (routingIndex !== undefined) manifest.routingIndex = routingIndex;
  const summary = publishedSummary(
    through,
    manifest.closed,
    manifest.softDeleted,
    schema?.key,
  );
  if (!ctx.streams.isCurrent(s)) return; // deleted meanwhile: no manifest
  if (summary !== s.published) {
    // The registry object first: a published manifest names only objects
    // that exist (`put` of the same content again is harmless).
    if (schema !== undefined && schema.key !== s.schemaPublishedKey) {
      await ctx.objects.put(schema.key, encoder.encode(s.schema!.text));
    }
    await ctx.objects.put(manifestKey(s.id), encodeManifest(manifest));
    ctx.crashPoint("after_manifest_publish");
    s.published = summary;
    s.manifestAtMs = [s.manifestAtMs[1], ctx.clock.now()];
    if (info.schemaRegistry !== null) {
      ctx.schemaPublished(s.id, info.schemaRegistry.revision);
    }
    await dropOldSchema(ctx, s, schema?.key);
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
    ctx.streams.markUploaded(row, ctx.clock.now());
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

const encoder = new TextEncoder();

/**
 * The registry object `info`'s manifest should name: its key and hash,
 * computed once per registry change (the engine hands out a new object
 * after each one).
 */
async function preparedSchema(
  s: TierStream,
  info: StreamInfo,
): Promise<SchemaRegistryRef | undefined> {
  const registry = info.schemaRegistry;
  if (registry === null) return undefined;
  if (s.schema?.source === registry) return s.schema.ref;
  const text = JSON.stringify(registry);
  const digest = await crypto.subtle.digest("SHA-256", encoder.encode(text));
  const sha256 = [...new Uint8Array(digest)]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
  const ref = { key: schemaRegistryKey(s.id, sha256), sha256 };
  s.schema = { source: registry, text, ref };
  return ref;
}

/**
 * After a manifest naming `current` is published, the registry object the
 * previous one named is garbage; deleting it may fail (it goes with the
 * stream's other objects at the latest).
 */
async function dropOldSchema(
  ctx: TierContext,
  s: TierStream,
  current: string | undefined,
): Promise<void> {
  const old = s.schemaPublishedKey;
  s.schemaPublishedKey = current;
  if (old === undefined || old === current) return;
  try {
    await ctx.objects.delete(old);
  } catch (error) {
    ctx.log.warn(
      `stream ${s.id}: old schema registry object not deleted: ${
        (error as Error).message
      }`,
    );
  }
}
