/**
 * @module
 * The `WalStore` seam: what the engine needs from a write-ahead log. SQLite
 * and PostgreSQL (`pg_store.ts`) implement it.
 * A store applies a batch of operations atomically and reads chunks back.
 * It knows nothing of HTTP or of the protocol's rules.
 */

import { StreamError } from "../errors.ts";
import { DISK_FULL_RETRY_AFTER_SECONDS } from "../limits.ts";

/** The producer that closed a stream, for deduplicating its retries. */
export interface ClosedBy {
  /** `Producer-Id` of the closing request. */
  producerId: string;
  /** Its epoch. */
  epoch: number;
  /** Its seq. */
  seq: number;
}

/** A stream's durable metadata. */
export interface StreamRow {
  /** Internal id, never reused. */
  id: number;
  /** The name in the URL after `/v1/stream/`. */
  name: string;
  /** Content type as given at creation. */
  contentType: string;
  /** Creation time. */
  createdAtMs: number;
  /** Last read or write that reset the sliding TTL. */
  accessedAtMs: number;
  /** Sliding TTL in seconds, if any. */
  ttlSeconds: number | null;
  /** Absolute expiry, if any. */
  expiresAtMs: number | null;
  /** Byte position after the last record. */
  tailPos: number;
  /** Closed streams take no more appends. */
  closed: boolean;
  /** The producer tuple that closed it, if a producer did. */
  closedBy: ClosedBy | null;
  /** Last accepted `Stream-Seq`. */
  streamSeq: string | null;
  /** Source stream id, for forks. */
  forkedFrom: number | null;
  /** Position in the source where the fork branches off. */
  forkPos: number | null;
  /** Deleted while forks still read from it. */
  softDeleted: boolean;
  /** Append time of the last record, ms (0 before any timed record). */
  lastTimeMs: number;
}

/**
 * A run of records stored together. Records are back to back in `data`;
 * `lengths` gives each record's length when there is more than one; `keys`
 * and `times` give each record's routing key and append time.
 */
export interface Chunk {
  /** Position of the first byte. */
  startPos: number;
  /** Position after the last byte (`startPos + data.length`). */
  endPos: number;
  /** The records' bytes. */
  data: Uint8Array;
  /** Record lengths, or `null` for a single record. */
  lengths: Uint32Array | null;
  /**
   * Routing keys as a key table (`src/record_meta.ts`: a u32 length per
   * record, `0xFFFFFFFF` for none, then the bytes), or `null` when no record
   * has a key.
   */
  keys: Uint8Array | null;
  /**
   * Append time of each record in ms, non-decreasing; `null` for records
   * written before append times were stored, which read as time 0.
   */
  times: Float64Array | null;
}

/** A producer's persisted state on one stream. */
export interface ProducerRow {
  /** Stream id. */
  streamId: number;
  /** `Producer-Id`. */
  producerId: string;
  /** Current epoch. */
  epoch: number;
  /** Highest accepted seq. */
  seq: number;
  /** Last update, for expiry. */
  updatedAtMs: number;
}

/** The per-stream fields an append or close changes. */
export interface StreamTail {
  /** New tail position. */
  tailPos: number;
  /** New closed flag. */
  closed: boolean;
  /** Closing producer tuple. */
  closedBy: ClosedBy | null;
  /** New last `Stream-Seq`. */
  streamSeq: string | null;
  /** Access time for the sliding TTL. */
  accessedAtMs: number;
  /** Append time of the last record, ms. */
  lastTimeMs: number;
}

/**
 * A sealed segment of a stream's own records, `[startPos, endPos)`: written
 * to local disk by the segmenter, then uploaded. Segments of one stream tile
 * its positions without gaps from its first position on.
 */
export interface SegmentRow {
  /** Stream id. */
  streamId: number;
  /** Position of the first record. */
  startPos: number;
  /** Position after the last record. */
  endPos: number;
  /** Encoded segment size, in bytes. */
  sizeBytes: number;
  /** True once the segment is in the object store and a manifest names it. */
  uploaded: boolean;
  /**
   * Where the segment sits inside a shared pack object (docs/segments.md
   * "Packed segments"): the pack's key and the byte offset of the segment
   * file in it (its length is `sizeBytes`). Absent for a segment stored as
   * an object of its own.
   */
  pack?: PackRef;
}

/** A segment file's place inside a pack object. */
export interface PackRef {
  /** Object key of the pack (`packs/<16-digit seq>.pack`). */
  key: string;
  /** Byte offset of the segment file inside the pack. */
  offset: number;
}

/** One change inside an atomic batch. */
export type WalOp =
  | { op: "create"; stream: StreamRow }
  | { op: "segment"; streamId: number; segment: SegmentRow }
  | { op: "append"; streamId: number; chunk: Chunk | null; tail: StreamTail }
  | { op: "producer"; row: ProducerRow }
  | { op: "soft_delete"; streamId: number }
  | { op: "delete"; streamId: number }
  | { op: "touch"; streamId: number; accessedAtMs: number }
  | SchemaRegistryOp
  | ProfileOp;

/**
 * Replaces a stream's schema registry (a JSON document the store keeps
 * opaque); `null` removes it. It is a commit op, not a method of its own, so
 * that it is ordered with the appends around it: the registry's new version
 * starts at the tail the engine assigned, and every append assigned before
 * the change commits before it (or with it).
 */
export interface SchemaRegistryOp {
  /** Discriminator. */
  op: "schema_registry";
  /** Stream id. */
  streamId: number;
  /** The registry's JSON text, or `null` to remove it. */
  registry: string | null;
}

/**
 * Replaces a stream's profile (profiles.md §1): its kind and its options as
 * JSON text, both opaque to the store; `null` for both removes it (the
 * stream is `generic` again). A commit op like `schema_registry`, so that a
 * profile and the canonical registry it installs commit together.
 */
export interface ProfileOp {
  /** Discriminator. */
  op: "profile";
  /** Stream id. */
  streamId: number;
  /** The profile kind, or `null` to remove the profile. */
  kind: string | null;
  /** The options' JSON text (with `kind`), or `null` to remove them. */
  options: string | null;
}

/** A stream's stored profile. */
export interface ProfileRow {
  /** Stream id. */
  streamId: number;
  /** The profile kind. */
  kind: string;
  /** The options' JSON text. */
  options: string;
}

/** A stream's stored schema registry. */
export interface SchemaRegistryRow {
  /** Stream id. */
  streamId: number;
  /** The registry's JSON text. */
  registry: string;
}

/**
 * What a store holds at startup. Producer states are not part of it: the
 * engine reads a stream's with `loadProducers` on its first producer append.
 */
export interface WalSnapshot {
  /** All streams, soft-deleted ones included. */
  streams: StreamRow[];
  /** All segment rows of existing streams, by stream id then position. */
  segments: SegmentRow[];
  /** The next stream id to hand out. */
  nextStreamId: number;
  /** Schema registries of existing streams, by stream id. */
  schemaRegistries: SchemaRegistryRow[];
  /** Profiles of existing streams that declared one, by stream id. */
  profiles: ProfileRow[];
}

/**
 * The error a store throws when a write failed because the disk is full (a
 * kind of `retryableError`).
 * The store guarantees that nothing of the failed write remains (the
 * transaction rolled back) and that it stays usable: a later write may
 * succeed once space returns. Any other failed commit may have left the
 * store in an unknown state.
 */
export function diskFullError(action: string, cause: unknown): StreamError {
  return new StreamError(
    "unavailable",
    `${action}: the disk is full`,
    {
      retryAfterSeconds: DISK_FULL_RETRY_AFTER_SECONDS,
      diskFull: true,
      retryable: true,
    },
    { cause },
  );
}

/** True for errors made by `diskFullError`. */
export function isDiskFull(error: unknown): boolean {
  return error instanceof StreamError && error.detail?.diskFull === true;
}

/**
 * The error a store throws when an operation failed as a whole for a reason
 * that may pass (a full disk, a lost database connection, a statement
 * timeout): the store kept nothing of it and stays usable, so the same
 * operation may succeed later. `reason` ends the message, e.g. "PostgreSQL
 * is unreachable".
 */
export function retryableError(
  action: string,
  reason: string,
  retryAfterSeconds: number,
  cause?: unknown,
): StreamError {
  return new StreamError(
    "unavailable",
    `${action}: ${reason}`,
    { retryAfterSeconds, retryable: true },
    { cause },
  );
}

/** True for errors made by `retryableError` or `diskFullError`. */
export function isRetryable(error: unknown): boolean {
  return error instanceof StreamError && error.detail?.retryable === true;
}

/**
 * The error a shared store throws when a commit was planned from state
 * another node has changed since (a kind of `retryableError`: nothing of it
 * was kept). The engine reloads and plans the requests again.
 */
export function staleError(action: string, reason: string): StreamError {
  return new StreamError(
    "unavailable",
    `${action}: ${reason}`,
    { retryAfterSeconds: 1, retryable: true, stale: true },
  );
}

/** True for errors made by `staleError`. */
export function isStale(error: unknown): boolean {
  return error instanceof StreamError && error.detail?.stale === true;
}

/** A stream's committed tail as another node announced it. */
export interface AnnouncedTail {
  /** Stream id. */
  streamId: number;
  /** Committed tail position. */
  tailPos: number;
  /** Last access written to the store, when known (sliding TTLs). */
  accessedAtMs?: number;
}

/** What another node's subscription commit announced besides its ids. */
export interface SubscriptionChange {
  /** The shared subscription version the commit moved to. */
  version?: number;
  /** It changed the signing keys. */
  keys: boolean;
}

/** What a store shared by several nodes tells its engine. */
export interface SharedWalEvents {
  /** Another node committed appends: these tails are durable now. */
  tails(tails: AnnouncedTail[]): void;
  /**
   * Streams were created, deleted, closed or given a schema elsewhere:
   * the engine reloads the streams of `scope`. Without a scope
   * announcements may have been missed (the listener reconnected, or a
   * change touched too many streams to name them): the engine reloads
   * every stream.
   */
  changed(scope?: ReloadScope): void;
}

/** Which streams a partial reload brings up to date. */
export interface ReloadScope {
  /** Stream ids. */
  ids: number[];
  /** Stream names (a create elsewhere: this node knows no id yet). */
  names: string[];
  /** `meta_version` values of the announced changes the reload covers. */
  metaVersions?: string[];
}

/**
 * Some streams as the shared store holds them (`SharedWal.loadSome`): the
 * rows of the ids and names asked about that exist, with their fork
 * sources (up to the root), their producers and schema registries.
 */
export interface PartialSnapshot {
  /** Stream rows, by id (producer states load on demand, as at start-up). */
  streams: StreamRow[];
  /** Schema registries of those streams. */
  schemaRegistries: SchemaRegistryRow[];
  /** Profiles of those streams. */
  profiles: ProfileRow[];
  /** The next stream id to hand out. */
  nextStreamId: number;
}

/** What `SharedWal.poll` finds. */
export interface PollResult {
  /**
   * The streams asked about need a reload: one is gone or closed, a name
   * asked about exists with an id this node has not loaded, or another
   * node's create, delete, close or schema change is not applied here yet.
   */
  changed: boolean;
  /**
   * Announcements were missed (a change elsewhere stayed unapplied here
   * too long): reload every stream.
   */
  full: boolean;
  /** Committed tails of the streams asked about that still exist. */
  tails: AnnouncedTail[];
  /** The stored `meta_version` (counts creates, deletes, closes, schemas). */
  meta?: number;
}

/**
 * The extra surface of a store that several nodes share (PostgreSQL). Its
 * commits check, under the row locks, that every stream they change is
 * still as this node last loaded or committed it, and reject with a
 * `staleError` otherwise.
 */
export interface SharedWal {
  /** This node's id in the node registry. */
  readonly nodeId: string;
  /**
   * Starts delivering other nodes' announcements to `events`. Resolves once
   * announcements are being heard, or once the first attempt failed (then
   * a later success delivers `changed()`, since some may have been missed).
   */
  watch(events: SharedWalEvents): Promise<void>;
  /**
   * `<schema>/<node id>`, which starts this node's announcements (the
   * subscription store's commits send theirs with it).
   */
  readonly announcePrefix?: string;
  /**
   * Tells `listener` which subscriptions other nodes changed (`undefined`:
   * announcements may have been missed, reload every one).
   */
  watchSubscriptions?(
    listener: (ids: string[] | undefined, change?: SubscriptionChange) => void,
  ): void;
  /**
   * Whether streams `ids` are still as this node last loaded or committed
   * them, no stream named one of `names` exists that this node has not
   * loaded, and every create, delete or close elsewhere is applied here.
   */
  current(ids: number[], names?: string[]): Promise<boolean>;
  /**
   * Whether every create, delete, close, schema and profile change up to
   * `meta_version` `meta` is applied here.
   */
  metaApplied?(meta: number): boolean;
  /** Committed tails of `ids`, and whether a reload of them is due. */
  poll(ids: number[], names?: string[]): Promise<PollResult>;
  /**
   * Reads only the streams of `scope` (one snapshot, a few queries,
   * whatever the number of other streams), and notes them, and the
   * announced changes `scope.metaVersions`, as loaded.
   */
  loadSome(scope: ReloadScope): Promise<PartialSnapshot>;
}

/** A write-ahead log of streams. */
export interface WalStore {
  /** Present when several nodes share the store. */
  readonly shared?: SharedWal;
  /** Reads every stream (not their producer states), for startup. */
  load(): Promise<WalSnapshot>;
  /**
   * The committed producer states of stream `streamId` (none when it does
   * not exist): the engine loads them on a stream's first producer append.
   */
  loadProducers(streamId: number): Promise<ProducerRow[]>;
  /**
   * Applies `ops` in order, atomically and durably, then resolves. Rejects
   * with a `diskFullError` when nothing was written for lack of space.
   */
  commit(ops: WalOp[], nextStreamId: number): Promise<void>;
  /**
   * Chunks of stream `streamId` overlapping `[fromPos, endPos)`, in order,
   * stopping once `bytesMax` bytes are gathered (at least one chunk).
   */
  readChunks(
    streamId: number,
    fromPos: number,
    endPos: number,
    bytesMax: number,
  ): Promise<Chunk[]>;
  /**
   * Position of the first record of stream `streamId` in `[fromPos, endPos)`
   * whose append time is at least `timeMs`, or `undefined` when there is
   * none. Times never decrease along a stream, so this is a seek.
   */
  seekTime(
    streamId: number,
    fromPos: number,
    endPos: number,
    timeMs: number,
  ): Promise<number | undefined>;
  /**
   * Merges runs of small chunks of stream `streamId` in `[fromPos, endPos)`
   * into chunks of about `targetBytes`, atomically, keeping every byte and
   * record boundary. `fromPos` must be a chunk start. A trailing run smaller
   * than `targetBytes` is left alone. Work stops after about `bytesMax`
   * bytes. Returns the position up to which chunks are now full-size: the
   * next call's `fromPos`.
   */
  compact(
    streamId: number,
    fromPos: number,
    endPos: number,
    targetBytes: number,
    bytesMax: number,
  ): Promise<number>;
  /**
   * Records a sealed segment (replacing a row with the same start). Does
   * nothing when the stream no longer exists (it was deleted meanwhile).
   * With `leaseToken` (stores that keep stream leases), fails `fenced`
   * and records nothing unless the stream's lease still carries it.
   */
  addSegment(row: SegmentRow, leaseToken?: number): Promise<void>;
  /**
   * After a manifest naming them is published: marks the stream's segments
   * ending at or below `belowPos` uploaded and deletes its WAL chunks that
   * end at or below `belowPos`, atomically. Chunks straddling `belowPos`
   * stay (reads above `belowPos` still find them). With `leaseToken`, as
   * for `addSegment`.
   */
  truncate(
    streamId: number,
    belowPos: number,
    leaseToken?: number,
  ): Promise<void>;
  /**
   * The release log: stream ids whose delete committed (the `delete` op
   * records the id in the same transaction) and whose objects may still be
   * in the object store, above `afterId` in id order, `limit` at most.
   */
  pendingReleases(afterId: number, limit: number): Promise<number[]>;
  /**
   * Stream `streamId`'s objects are all gone: removes it from the release
   * log (nothing when it is not there).
   */
  released(streamId: number): Promise<void>;
  /** Closes the store; later calls fail. */
  close(): Promise<void>;
}
