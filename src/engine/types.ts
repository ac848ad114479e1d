/**
 * @module
 * Request and outcome shapes the HTTP layer exchanges with the engine, the
 * committed stream state its observers (tiering, subscriptions) see, and the
 * hooks `server.ts` plugs into it (listeners, the admission gate).
 */

import type { Result, StreamError } from "../errors.ts";
import type { ProducerHeaders } from "../protocol/headers.ts";
import type { ProfileOptions } from "../profiles/profile.ts";
import type { Registry } from "../schema/registry.ts";

/** A fork request (`Stream-Forked-From` and friends). */
export interface ForkRequest {
  /** Source stream name. */
  source: string;
  /** Byte position in the source; the source tail when absent. */
  position: number | undefined;
  /** Messages (JSON) or bytes past `position`. */
  subOffset: number | undefined;
}

/** A create (PUT). */
export interface CreateRequest {
  /** `Content-Type`, if sent. */
  contentType: string | undefined;
  /** `Stream-TTL`, seconds. */
  ttlSeconds: number | undefined;
  /** `Stream-Expires-At`, epoch ms. */
  expiresAtMs: number | undefined;
  /** `Stream-Closed: true`. */
  closed: boolean;
  /** Initial data (may be empty). */
  body: Uint8Array;
  /** Fork parameters. */
  fork: ForkRequest | undefined;
  /** `Stream-Key`: routing key of every record of the initial body. */
  routingKey: Uint8Array | undefined;
  /** `Stream-Timestamp`: the append time asked for, ms (clamped). */
  timestampMs: number | undefined;
}

/** An append and/or close (POST). */
export interface AppendRequest {
  /** `Content-Type`, if sent. */
  contentType: string | undefined;
  /** The body (empty for close-only). */
  body: Uint8Array;
  /** `Stream-Closed: true`. */
  close: boolean;
  /** `Stream-Seq`. */
  streamSeq: string | undefined;
  /** Producer headers. */
  producer: ProducerHeaders | undefined;
  /** `Stream-Key`: routing key of every record of this request. */
  routingKey: Uint8Array | undefined;
  /** `Stream-Timestamp`: the append time asked for, ms (clamped). */
  timestampMs: number | undefined;
  /**
   * JSON records already parsed (an ingest route built them), appended
   * instead of parsing `body`, which is then ignored.
   */
  records?: readonly unknown[];
  /**
   * The profile options `records` are canonical for: while they are still
   * the stream's (the same object), the records are only keyed by the
   * profile, not normalized again.
   */
  preparedFor?: ProfileOptions;
}

/**
 * Routing keys taken from the records themselves by a rule that does not
 * live in the schema registry (a registry's `routingKey` pointer is applied
 * first, by the engine itself). Called for every JSON append and create with
 * a body to a stream whose registry has no pointer, synchronously, before
 * anything is assigned; an error rejects the whole request and nothing is
 * written.
 */
export interface KeyExtractor {
  /**
   * One key (or null) per element of a JSON append to `stream`, or
   * `undefined` when the stream has no key rule (then `Stream-Key`, if
   * sent, keys every record). `elements` are the parsed JSON messages;
   * `headerKey` is `Stream-Key`, which a stream with a key rule refuses.
   */
  keysFor(
    stream: StreamView,
    elements: readonly unknown[],
    headerKey: Uint8Array | undefined,
  ): Result<(Uint8Array | null)[] | undefined>;
}

/** What a client may see of a stream. */
export interface StreamView {
  /** Internal id (used in ETags). */
  id: number;
  /** URL name. */
  name: string;
  /** Content type. */
  contentType: string;
  /** Committed tail position. */
  tailPos: number;
  /** Committed closure. */
  closed: boolean;
  /** Sliding TTL seconds. */
  ttlSeconds: number | null;
  /** Absolute expiry, epoch ms. */
  expiresAtMs: number | null;
  /** Creation time, epoch ms. */
  createdAtMs: number;
  /** The committed profile's options (`{kind: "generic"}` when none was declared). */
  profile?: ProfileOptions;
}

/**
 * Committed state of a stream beyond what clients see: whether it is
 * soft-deleted and what it was forked from. Tiering publishes it in
 * manifests.
 */
export interface StreamInfo extends StreamView {
  /** Soft-deleted (forks still read it). */
  softDeleted: boolean;
  /** Fork source, if any. */
  fork: { sourceId: number; sourceName: string; position: number } | null;
  /**
   * The committed schema registry, or `null`; a new object after each
   * change (tiering publishes it beside the manifest).
   */
  schemaRegistry: Registry | null;
  /**
   * The committed profile's options, defaults filled in (`{kind:
   * "generic"}` when none was declared); a new object after each change.
   * Tiering publishes it in the manifest; other parts read their settings
   * from it (a `state-protocol` stream's `touch` options).
   */
  profile: ProfileOptions;
}

/** Result of a create. */
export interface CreateOutcome {
  /** False when the stream already existed with the same config. */
  created: boolean;
  /** The stream after the request. */
  stream: StreamView;
}

/** Result of an append or close. */
export interface AppendOutcome {
  /** `accepted` wrote data or closed; `duplicate` was a producer retry. */
  kind: "accepted" | "duplicate" | "close_only";
  /** Position after the request's data (the new tail). */
  nextPos: number;
  /** Whether the stream is closed now. */
  closed: boolean;
  /** Producer state to echo, when producer headers were sent. */
  producer: { epoch: number; seq: number } | undefined;
  /** True when the producer headers opened a new producer or epoch. */
  producerNew: boolean;
}

/** Result of a read. */
export interface ReadOutcome {
  /** The stream read. */
  stream: StreamView;
  /** Position of the first returned byte. */
  startPos: number;
  /** Where the next read continues. */
  nextPos: number;
  /** Stored bytes (JSON streams: messages each followed by a comma). */
  data: Uint8Array;
  /** True when the response reaches the committed tail. */
  upToDate: boolean;
  /** True when the stream is closed and the response reaches its end. */
  closed: boolean;
}

/** Result of a key-filtered read. */
export interface KeyedReadOutcome extends ReadOutcome {
  /** Stored bytes examined (or ruled out by a filter) for this answer. */
  scannedBytes: number;
  /** True when the scan budget ran out before the tail. */
  scanLimitReached: boolean;
}

/**
 * Finds the position of the first record of stream `streamId` in
 * `[fromPos, endPos)` whose append time is at least `timeMs`.
 */
export type TimeSeeker = (
  streamId: number,
  fromPos: number,
  endPos: number,
  timeMs: number,
) => Promise<number | undefined>;

/**
 * What an index knows of one stream's routing keys below a position
 * (`Engine.setKeyLexicon`): position ranges whose distinct keys it lists,
 * so a key listing reads only the rest.
 */
export interface KeyLexiconCover {
  /** Covered position ranges, ascending and disjoint. */
  ranges: readonly { startPos: number; endPos: number }[];
  /** Segments the ranges span. */
  indexedSegments: number;
  /** Stored segments outside the ranges (a listing reads these). */
  unindexed: readonly { startPos: number; endPos: number }[];
  /** At most `limit` distinct keys of the ranges after `after`, ascending. */
  keysAfter(after: Uint8Array | undefined, limit: number): Uint8Array[];
}

/** The cover of stream `streamId`'s positions below `endPos`, if any. */
export type KeyLexiconSource = (
  streamId: number,
  endPos: number,
) => Promise<KeyLexiconCover | undefined>;

/** How a live wait ended. */
export type WaitOutcome = "changed" | "timeout" | "aborted";

/**
 * Observes committed changes (subscriptions and tiering build on this).
 * Called after the commit, synchronously; listeners must not throw or block.
 */
export interface StreamListener {
  /** A stream was created (its creation committed). */
  created?(stream: StreamView): void;
  /** Data was appended and/or the stream closed; `stream` is the new state. */
  appended?(stream: StreamView): void;
  /** A stream's schema registry changed (the change committed). */
  schemaChanged?(stream: StreamView): void;
  /**
   * A stream's profile changed (the change committed; `stream.profile` is
   * the new one, `previous` the one it replaced).
   */
  profileChanged?(stream: StreamView, previous: ProfileOptions): void;
  /**
   * A stream was deleted, soft-deleted or expired (the change committed);
   * `ids` are the streams it changed: itself, and soft-deleted sources
   * deleted with it.
   */
  deleted?(name: string, ids: number[]): void;
}

/**
 * Admits or refuses writes that add bytes to the WAL, beyond the writer's own
 * queue limits (tiered storage refuses while its local backlog is over
 * budget). Must be cheap: it runs on every append.
 */
export interface AdmissionGate {
  /** `undefined` admits a write of `bytes` new WAL bytes; an error refuses it. */
  admit(bytes: number): StreamError | undefined;
}
