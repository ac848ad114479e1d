/**
 * @module
 * One pass of the upload loop: for every committed stream, put its sealed
 * segments into the object store (those sealed when the pass began, at most
 * `UPLOAD_PASS_SEGMENTS_MAX` / `UPLOAD_PASS_BYTES_MAX` per stream), publish
 * its manifest (the commit point: docs/segments.md "Manifests"), then delete
 * the WAL rows below what is published and the local files. After every
 * stream's uploads, the routing-key index steps over the uploaded segments. A stream whose upload failed backs off on
 * its own; a segment whose file is gone is rebuilt from the WAL.
 */

import { StreamError } from "../errors.ts";
import type { StreamInfo } from "../engine/types.ts";
import {
  buildManifest,
  encodeManifest,
  manifestGenerationKey,
  manifestKey,
  schemaRegistryKey,
  type SchemaRegistryRef,
  segmentKey,
} from "../objectstore/manifest.ts";
import type { SegmentRow } from "../storage/wal_store.ts";
import type { TierContext } from "./_context.ts";
import { type DueQueue, lookAt, yieldToEvents } from "./due.ts";
import { retryLater, warnFailed } from "./retry.ts";
import { isTiny } from "./seal_loop.ts";
import { removeSegmentFile } from "./segment_files.ts";
import { packText, publishedSummary, type TierStream } from "./streams.ts";
import { holdForPack, packPass, sealedBytes } from "./packs.ts";
import { batchable } from "./manifest_batch.ts";
import { holdsLease } from "./seal_loop.ts";
import { uploadedCount } from "./reader.ts";
import {
  INDEX_STEP_RETRY_MS,
  ROUTING_RUN_RETIRED_GRACE_MS,
  SEAL_BLOCKED_RECHECK_MS,
  TIER_PASS_YIELD_STREAMS,
  UPLOAD_PASS_BYTES_MAX,
  UPLOAD_PASS_SEGMENTS_MAX,
} from "../limits.ts";

/**
 * Uploads and publishes what is due among `ids` (streams marked or
 * scheduled). A stream whose upload failed is scheduled for its retry time;
 * one whose routing-key index moved is looked at again on the next pass.
 */
export async function uploadPass(
  ctx: TierContext,
  ids: number[],
  hooks: UploadPassHooks,
): Promise<void> {
  const uploaded: TierStream[] = [];
  // Tiny streams' segments go into a shared pack first; the streams packed
  // (some held from earlier passes) publish below.
  const packed = await packPass(ctx, ids, hooks);
  if (packed.length > 0) {
    const listed = new Set(ids);
    ids = [...ids, ...packed.filter((id) => !listed.has(id))];
  }
  for (const [i, id] of ids.entries()) {
    if (ctx.closed()) {
      for (const rest of ids.slice(i)) hooks.due.mark(rest);
      return;
    }
    if (i > 0 && i % TIER_PASS_YIELD_STREAMS === 0) await yieldToEvents();
    const info = hooks.info(id);
    if (info === undefined) {
      hooks.gone(id);
      continue;
    }
    const s = ctx.streams.ensure(info.id, info.fork?.position ?? 0);
    const now = ctx.clock.now();
    ctx.streams.noteTail(s, info.tailPos, now);
    if (now >= s.uploadLookAtMs) s.uploadLookAtMs = Infinity; // this look
    const later = (atMs: number) =>
      s.uploadLookAtMs = lookAt(hooks.due, id, atMs, s.uploadLookAtMs);
    if (now < s.upload.retryAtMs) {
      later(s.upload.retryAtMs);
      continue;
    }
    try {
      // After a restart or --bootstrap: the companions the manifest lists.
      await ctx.companions?.restore(s, info);
      // Another node holds the lease: look again later (index builds are
      // the holder's too).
      if (!await uploadDue(ctx, s, info, hooks.due)) {
        later(now + SEAL_BLOCKED_RECHECK_MS);
        continue;
      }
    } catch (error) {
      uploadFailed(ctx, s, error);
      later(s.upload.retryAtMs);
      continue;
    }
    // A pass puts a bounded batch: what is left is looked at next pass.
    if (s.segments.some((row) => !row.uploaded)) hooks.due.mark(id);
    uploaded.push(s);
    // Search companions of the uploaded segments, a few per pass; new
    // ones are listed by the next pass's manifest.
    const listed = companionsText(ctx, s);
    if (
      ctx.streams.isCurrent(s) &&
      (await ctx.companions?.catchUp(
            s,
            info,
            COMPANION_STEPS_PER_PASS,
            ctx.closed,
          ) === true || companionsText(ctx, s) !== listed)
    ) hooks.due.mark(id);
  }
  // Every stream's uploads come first; then the index catches up, up to
  // `indexConcurrency` streams at once (the builder has as many Workers).
  let next = 0;
  const worker = async () => {
    while (next < uploaded.length && !ctx.closed()) {
      const s = uploaded[next++];
      const again = await indexStep(ctx, s);
      if (again !== undefined) {
        s.uploadLookAtMs = lookAt(hooks.due, s.id, again, s.uploadLookAtMs);
      }
      noteIndexLag(ctx, s);
    }
  };
  const lanes = Math.min(ctx.indexConcurrency, uploaded.length);
  await Promise.all(Array.from({ length: lanes }, worker));
}

/** What an upload pass needs besides the context. */
export interface UploadPassHooks {
  /** Committed state of stream `id`; undefined once it is gone. */
  info(id: number): StreamInfo | undefined;
  /** Stream `id` is gone: release it. */
  gone(id: number): void;
  /** The upload loop's own queue. */
  due: DueQueue;
}

/** Keeps `ctx.indexLagging` (the streams `indexLagMax` looks at) current for `s`. */
function noteIndexLag(ctx: TierContext, s: TierStream): void {
  const index = ctx.routingIndex;
  if (index === undefined) return;
  const uploaded = uploadedCount(s);
  if (uploaded === 0 && !ctx.indexLagging.has(s.id)) return; // nothing to index
  const through = index.manifest(s.id)?.indexedThrough ?? 0;
  if (ctx.streams.isCurrent(s) && uploaded > through) {
    ctx.indexLagging.add(s.id);
  } else ctx.indexLagging.delete(s.id);
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
  // The lease or the generation moved, or another node's publication took
  // WAL rows a rebuild needed: ask for the lease and the segments again.
  ctx.leases?.forget(s.id);
  s.adoptedToken = undefined;
  warnFailed(ctx.log, "uploading", s.id, s.upload, error);
}

/** Index build steps per stream and upload pass (each one run file). */
const INDEX_STEPS_PER_PASS = 4;

/**
 * Brings the stream's routing-key index up to its uploaded segments, a few
 * steps per pass (off the request path). When the index changed, the
 * stream's manifest is published again on the next pass with the new
 * `routingIndex` section. Retired runs are deleted here too. A failed step
 * is logged and retried. Returns when the stream needs another look (more
 * steps, a publish of the new index, retired runs waiting for their grace
 * time), or undefined when its index is up to date.
 */
async function indexStep(
  ctx: TierContext,
  s: TierStream,
): Promise<number | undefined> {
  const index = ctx.routingIndex;
  if (index === undefined || !ctx.streams.isCurrent(s)) return undefined;
  const uploaded = uploadedCount(s);
  if (uploaded === 0) return undefined;
  const now = ctx.clock.now();
  let changed = false;
  let again: number | undefined;
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
    if (retired.configured && retired.retired_run_count > 0) {
      const graceEndMs = s.manifestAtMs[1] + ROUTING_RUN_RETIRED_GRACE_MS;
      if (graceEndMs <= now) changed = true;
      else again = graceEndMs;
    }
  } catch (error) {
    ctx.log.warn(
      `stream ${s.id}: routing-key index step failed; will retry: ${
        (error as Error).message
      }`,
    );
    again = now + INDEX_STEP_RETRY_MS;
  }
  if (changed) {
    s.published = undefined; // publish the new index section
    return now; // the next pass publishes it and takes further steps
  }
  return again;
}

async function uploadDue(
  ctx: TierContext,
  s: TierStream,
  info: StreamInfo,
  due: DueQueue,
): Promise<boolean> {
  // Sealed after this pass's pack step, or waiting: goes into a pack.
  if (holdForPack(ctx, s, info, due)) return true;
  const last = s.segments[s.segments.length - 1];
  const pending = last !== undefined && !last.uploaded;
  const closed = info.closed && s.sealedThrough === info.tailPos;
  const schema = await preparedSchema(s, info);
  const profile = manifestProfile(info);
  const profileText = profile === undefined
    ? undefined
    : JSON.stringify(profile);
  if (
    s.segments.length === 0 && schema === undefined &&
    info.tailPos > s.basePos && isTiny(ctx, s, info)
  ) return true; // a tiny stream is first published with its first segment
  if (
    !pending && s.walStart >= s.sealedThrough &&
    s.published ===
      publishedSummary(
          s.sealedThrough,
          closed,
          info.softDeleted,
          schema?.key,
          profileText,
        ) + companionsText(ctx, s) + packText(s.segments)
  ) return true; // nothing new to publish
  // Asked only when there is work: a lease costs a query when due.
  if (!holdsLease(ctx, s)) return false; // another node publishes it
  let through = s.basePos;
  const done: SegmentRow[] = [];
  // The rows sealed when the pass began (the seal loop appends to the live
  // list meanwhile), in batches: with tiny segments sealed faster than they
  // upload, iterating the live list would never reach the manifest.
  const rows = s.segments.slice();
  let putCount = 0;
  let putBytes = 0;
  for (const row of rows) {
    if (ctx.closed()) return true;
    if (!row.uploaded && s.put?.has(row.startPos) !== true) {
      if (
        putCount >= UPLOAD_PASS_SEGMENTS_MAX ||
        (putCount > 0 && putBytes + row.sizeBytes > UPLOAD_PASS_BYTES_MAX)
      ) break; // publish this batch; the next pass puts the rest
      await putSegment(ctx, s, row);
      putCount++;
      putBytes += row.sizeBytes;
    }
    done.push(row);
    through = row.endPos;
  }
  const manifest = buildManifest(info, done, through, schema);
  const routingIndex = ctx.routingIndex?.manifest(s.id);
  if (routingIndex !== undefined) manifest.routingIndex = routingIndex;
  if (profile !== undefined) manifest.profile = profile;
  const companions = ctx.companions?.manifest(s.id);
  if (companions !== undefined) manifest.companions = companions;
  const summary = publishedSummary(
    through,
    manifest.closed,
    manifest.softDeleted,
    schema?.key,
    profileText,
  ) + companionsText(ctx, s) + packText(done);
  if (!ctx.streams.isCurrent(s)) return true; // deleted meanwhile: no manifest
  if (summary !== s.published && ctx.batches !== undefined) {
    if (batchable(manifest)) {
      // Published with many others' (docs/segments.md "Many small streams").
      ctx.batches.add(manifest, () => {
        s.published = summary;
        s.manifestAtMs = [s.manifestAtMs[1], ctx.clock.now()];
        // Packed segments: the next pass marks them uploaded and truncates.
        if (through > s.walStart) due.mark(s.id);
      });
      s.upload.failures = 0;
      return true;
    }
    ctx.batches.drop(s.id); // its own object supersedes a queued entry
  }
  if (summary !== s.published) {
    // The registry object first: a published manifest names only objects
    // that exist (`put` of the same content again is harmless).
    if (schema !== undefined && schema.key !== s.schemaPublishedKey) {
      await ctx.objects.put(schema.key, encoder.encode(s.schema!.text));
    }
    claimGeneration(ctx, s);
    const encoded = encodeManifest(manifest);
    if (s.generation !== undefined) {
      // Its own key first: only the publisher that claimed this generation
      // writes it, so a late write can never replace a newer manifest
      // (bootstrap takes the highest complete generation).
      await ctx.objects.put(manifestGenerationKey(s.id, s.generation), encoded);
      await dropOldGeneration(ctx, s.id, s.generation);
    }
    await ctx.objects.put(manifestKey(s.id), encoded);
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
  return true;
}

/** Generation manifests kept besides the newest. */
const MANIFEST_GENERATIONS_KEPT = 2;

/**
 * Deletes the generation manifest that `generation` retires (the newest
 * and `MANIFEST_GENERATIONS_KEPT` before it stay); a failure is only
 * logged (bootstrap takes the highest generation anyway).
 */
async function dropOldGeneration(
  ctx: TierContext,
  id: number,
  generation: number,
): Promise<void> {
  const old = generation - MANIFEST_GENERATIONS_KEPT - 1;
  if (old < 1) return;
  try {
    await ctx.objects.delete(manifestGenerationKey(id, old));
  } catch (error) {
    ctx.log.warn(`stream id ${id}: old manifest ${old} not deleted: ${error}`);
  }
}

/** The companion listing of `s`'s manifest, compactly (for `s.published`). */
function companionsText(ctx: TierContext, s: TierStream): string {
  const listed = ctx.companions?.manifest(s.id);
  return listed === undefined
    ? ""
    : `|companions:${listed.hash}:${listed.objects.length}`;
}

/**
 * With manifest generations kept, moves the stream's from the one this node
 * published last (read afresh after a lost race) to the next; throws
 * `fenced` if another publisher moved it first, so no manifest is written.
 */
function claimGeneration(ctx: TierContext, s: TierStream): void {
  if (ctx.generations === undefined) return;
  const expected = s.generation ?? ctx.generations.current(s.id);
  const now = ctx.clock.now();
  if (!ctx.generations.advance(s.id, expected, now, s.leaseToken)) {
    s.generation = undefined;
    ctx.leases?.forget(s.id); // ask again: the lease may have moved
    throw new StreamError(
      "fenced",
      `the manifest of stream id ${s.id} moved past generation ${expected} or its lease (token ${s.leaseToken}) moved elsewhere; not publishing over it`,
    );
  }
  s.generation = expected + 1;
}

/**
 * The profile a manifest carries: the stream's options, unless it is plain
 * `generic` (what a restored stream without one gets anyway).
 */
function manifestProfile(
  info: StreamInfo,
): { kind: string; [option: string]: unknown } | undefined {
  const profile = info.profile;
  return profile === undefined || profile.kind === "generic"
    ? undefined
    : profile;
}

/** Puts one sealed segment into the object store and the cache. */
async function putSegment(
  ctx: TierContext,
  s: TierStream,
  row: SegmentRow,
): Promise<void> {
  const bytes = await sealedBytes(ctx, row);
  const key = segmentKey(s.id, row.startPos, row.endPos);
  await ctx.objects.put(key, bytes);
  ctx.crashPoint("after_segment_upload");
  (s.put ??= new Set()).add(row.startPos);
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
  // A packed segment's place in its pack is recorded before it counts as
  // uploaded (rows sealed here recorded none).
  for (const row of done) {
    if (row.pack !== undefined && !row.uploaded) {
      await ctx.store.addSegment(row, s.leaseToken);
    }
  }
  await ctx.store.truncate(s.id, through, s.leaseToken);
  ctx.crashPoint("after_wal_truncate");
  if (!ctx.streams.isCurrent(s)) return; // released: counted there
  for (const row of done) {
    // A row no longer listed was dropped when the segments were taken from
    // the database meanwhile (counted there).
    if (row.uploaded || !s.segments.includes(row)) continue;
    ctx.streams.markUploaded(row, ctx.clock.now());
    await removeSegmentFile(ctx.segmentDir, row);
  }
  s.put = undefined;
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
