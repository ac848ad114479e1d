/**
 * @module
 * `--bootstrap`: rebuilds the WAL of a node with an empty data dir from the
 * manifests in the object store, in one transaction: every published stream
 * comes back with its id, name, content type, TTL, fork link and segments,
 * its tail at the manifest's `uploadedThrough`, and its schema registry if
 * the manifest names one, its profile, and its routing-key index catalog (`indexCatalog`)
 * from the manifest's `routingIndex` section. What was never published
 * (the WAL tail, producer states, `Stream-Seq`) is not restored.
 */

import { StreamError } from "../errors.ts";
import { BOOTSTRAP_LIST_PAGES_MAX } from "../limits.ts";
import { openSegment } from "../segment/reader.ts";
import type { Logger } from "../log.ts";
import {
  decodeManifest,
  generationOfKey,
  type Manifest,
  STREAMS_PREFIX,
} from "../objectstore/manifest.ts";
import type { ObjectStore } from "../objectstore/object_store.ts";
import {
  batchable,
  type BatchEntry,
  newestEntries,
  readBatches,
} from "./manifest_batch.ts";
import type { StreamRow, WalOp, WalStore } from "../storage/wal_store.ts";
import {
  parseRoutingIndexManifest,
  type RunCatalog,
} from "../index/catalog.ts";

/**
 * Restores every stream named by a manifest when `store` holds no streams;
 * returns how many were restored (0 when the WAL already had streams).
 */
export async function bootstrapFromObjects(
  store: WalStore,
  objects: ObjectStore,
  log: Logger,
  now: number = Date.now(),
  indexCatalog?: RunCatalog,
): Promise<number> {
  const snapshot = await store.load();
  if (snapshot.streams.length > 0) {
    log.warn("--bootstrap ignored: the WAL already holds streams");
    return 0;
  }
  const manifests = await readManifests(objects);
  const ops: WalOp[] = [];
  const restored = new Map<number, Manifest>();
  const byName = new Map<string, number>();
  const lastTimes = new Map<number, number>();
  const sources = new Set(manifests.flatMap((m) => m.fork?.sourceId ?? []));
  for (const m of manifests) {
    if (m.softDeleted && !sources.has(m.id)) continue; // its forks are gone too
    if (m.fork !== null && !restored.has(m.fork.sourceId)) {
      log.warn(`bootstrap: skipping fork "${m.name}": its source is missing`);
      continue;
    }
    const previous = byName.get(m.name);
    if (previous !== undefined) {
      // A deleted and re-created name whose old objects were not released
      // yet: the newer id wins.
      log.warn(
        `bootstrap: "${m.name}" has an older manifest; using id ${m.id}`,
      );
      removeStream(ops, previous);
    }
    byName.set(m.name, m.id);
    restored.set(m.id, m);
    const floorMs = m.fork === null ? 0 : lastTimes.get(m.fork.sourceId) ?? 0;
    const lastTimeMs = Math.max(floorMs, await lastSegmentTime(objects, m));
    lastTimes.set(m.id, lastTimeMs);
    ops.push({ op: "create", stream: rowOf(m, now, lastTimeMs) });
    const registry = await schemaRegistryOf(objects, m);
    if (registry !== undefined) {
      ops.push({ op: "schema_registry", streamId: m.id, registry });
    }
    if (m.profile !== undefined) {
      // Stored as published; the engine checks it with the profile's module
      // when it loads the WAL.
      ops.push({
        op: "profile",
        streamId: m.id,
        kind: m.profile.kind,
        options: JSON.stringify(m.profile),
      });
    }
    for (const s of m.segments) {
      ops.push({
        op: "segment",
        streamId: m.id,
        segment: {
          streamId: m.id,
          startPos: s.startPos,
          endPos: s.endPos,
          sizeBytes: s.bytes,
          uploaded: true,
          ...(s.packOffset === undefined
            ? {}
            : { pack: { key: s.key, offset: s.packOffset } }),
        },
      });
    }
  }
  const nextStreamId = manifests.reduce((n, m) => Math.max(n, m.id + 1), 1);
  if (ops.length > 0) await store.commit(ops, nextStreamId);
  if (indexCatalog !== undefined) {
    for (const m of restored.values()) restoreIndex(indexCatalog, m, now, log);
  }
  const count = ops.filter((op) => op.op === "create").length;
  log.info(`bootstrap: restored ${count} streams from the object store`);
  return count;
}

/**
 * Puts the manifest's routing-key index section into the catalog; without
 * one (or with a malformed one) the stream's index is dropped and rebuilt
 * from its segments by the upload loop.
 */
function restoreIndex(
  catalog: RunCatalog,
  m: Manifest,
  now: number,
  log: Logger,
): void {
  catalog.drop(m.id);
  if (m.routingIndex === undefined) return;
  try {
    const { state, rows } = parseRoutingIndexManifest(m.routingIndex, now);
    catalog.replace(m.id, state, rows);
  } catch (error) {
    if (!(error instanceof StreamError)) throw error;
    log.warn(
      `bootstrap: "${m.name}": routing-key index not restored, will rebuild: ${error.message}`,
    );
  }
}

/**
 * The schema registry a manifest names, checked against its hash; a missing
 * or altered object is `corrupt` (the manifest was published after it).
 */
async function schemaRegistryOf(
  objects: ObjectStore,
  m: Manifest,
): Promise<string | undefined> {
  const ref = m.schemaRegistry;
  if (ref === undefined) return undefined;
  const bytes = await objects.get(ref.key);
  if (bytes === undefined) {
    throw new StreamError(
      "corrupt",
      `Stream "${m.name}": its manifest names schema registry "${ref.key}", which is missing`,
    );
  }
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>),
  );
  const sha256 = [...digest].map((b) => b.toString(16).padStart(2, "0"))
    .join("");
  if (sha256 !== ref.sha256) {
    throw new StreamError(
      "corrupt",
      `Stream "${m.name}": schema registry "${ref.key}" does not match its hash`,
    );
  }
  return new TextDecoder().decode(bytes);
}

function removeStream(ops: WalOp[], id: number): void {
  for (let i = ops.length - 1; i >= 0; i--) {
    const op = ops[i];
    const opId = op.op === "create"
      ? op.stream.id
      : "streamId" in op
      ? op.streamId
      : -1;
    if (opId === id) ops.splice(i, 1);
  }
}

/**
 * Each stream's newest manifest: of the generation manifests, the highest
 * whose segments all exist (a publisher that lost its lease may have left
 * a stale `manifest.json` or an incomplete newer generation behind), else
 * `manifest.json`.
 */
async function readManifests(objects: ObjectStore): Promise<Manifest[]> {
  const keys: string[] = [];
  let next: string | undefined;
  for (let page = 0; page < BOOTSTRAP_LIST_PAGES_MAX; page++) {
    const listed = await objects.list(STREAMS_PREFIX, next);
    keys.push(...listed.keys);
    next = listed.next;
    if (next === undefined) break;
  }
  const present = new Set(keys);
  const byStream = new Map<string, string[]>(); // prefix -> candidates
  for (const key of keys) {
    const generation = generationOfKey(key);
    if (generation === undefined && !key.endsWith("/manifest.json")) continue;
    const prefix = generation === undefined
      ? key.slice(0, -"manifest.json".length)
      : key.slice(0, key.lastIndexOf("/manifests/") + 1);
    const list = byStream.get(prefix) ?? [];
    list.push(key);
    byStream.set(prefix, list);
  }
  const own = new Map<number, Manifest>();
  for (const candidates of byStream.values()) {
    // Highest generation first; the plain manifest.json last.
    candidates.sort((a, b) =>
      (generationOfKey(b) ?? -1) - (generationOfKey(a) ?? -1)
    );
    for (const key of candidates) {
      const bytes = await objects.get(key);
      if (bytes === undefined) continue;
      const m = decodeManifest(bytes, key);
      const complete = m.segments.every((row) => present.has(row.key));
      if (complete || generationOfKey(key) === undefined) {
        own.set(m.id, m);
        break;
      }
    }
  }
  const manifests = withBatched(own, newestEntries(await readBatches(objects)));
  // A fork's source always has a smaller id.
  return manifests.sort((a, b) => a.id - b.id);
}

/**
 * Each stream's manifest: none after a tombstone (ids are never reused, so
 * a deleted stream whose own objects were left behind stays deleted); its
 * own object when that is not batchable (it names segments, a schema
 * registry or an index: later than any batched one); else its newest batch
 * entry; else its own object (an empty stream published before batching).
 */
export function withBatched(
  own: ReadonlyMap<number, Manifest>,
  batched: ReadonlyMap<number, BatchEntry>,
): Manifest[] {
  const manifests: Manifest[] = [];
  for (const [id, m] of own) {
    const entry = batched.get(id);
    if (entry?.manifest === null) continue;
    manifests.push(batchable(m) && entry !== undefined ? entry.manifest : m);
  }
  for (const [id, entry] of batched) {
    if (!own.has(id) && entry.manifest !== null) manifests.push(entry.manifest);
  }
  return manifests;
}

/**
 * Append time of the last published record of `m` (0 when it has no
 * segments or they predate append times), from the last segment's footer,
 * so appends after the bootstrap keep times increasing.
 */
async function lastSegmentTime(
  objects: ObjectStore,
  m: Manifest,
): Promise<number> {
  const last = m.segments[m.segments.length - 1];
  if (last === undefined) return 0;
  // A packed segment: its range of the pack only.
  const bytes = last.packOffset === undefined
    ? await objects.get(last.key)
    : await objects.getRange(last.key, last.packOffset, last.bytes);
  if (
    bytes === undefined ||
    (last.packOffset !== undefined && bytes.length !== last.bytes)
  ) {
    throw new StreamError("corrupt", `Segment object "${last.key}" is missing`);
  }
  const segment = await openSegment(bytes, { codec: null });
  return segment.blocks[segment.blocks.length - 1].maxTimeMs;
}

function rowOf(m: Manifest, now: number, lastTimeMs: number): StreamRow {
  return {
    id: m.id,
    name: m.name,
    contentType: m.contentType,
    createdAtMs: m.createdAtMs,
    accessedAtMs: now,
    ttlSeconds: m.ttlSeconds,
    expiresAtMs: m.expiresAtMs,
    tailPos: m.uploadedThrough,
    closed: m.closed,
    closedBy: null,
    streamSeq: null,
    forkedFrom: m.fork?.sourceId ?? null,
    forkPos: m.fork?.position ?? null,
    softDeleted: m.softDeleted,
    lastTimeMs,
  };
}
