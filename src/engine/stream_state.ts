/**
 * @module
 * In-memory state of one stream. Two views live side by side: the *assigned*
 * fields (`tailPos`, `closed`, producers, `streamSeq`) include appends still
 * waiting for their commit and are what new requests are validated against;
 * the *visible* fields (`visibleTailPos`, `visibleClosed`) move only after a
 * commit and are all readers ever see.
 */

import type { ProducerState } from "../protocol/producer.ts";
import type { ActiveRegistry } from "../schema/registry.ts";
import { type ActiveProfile, GENERIC_PROFILE } from "./stream_profiles.ts";
import type { ClosedBy, ProducerRow, StreamRow } from "../storage/wal_store.ts";

/** What a waiting reader is woken with. */
export type Wake = () => void;

/** One stream, as the engine tracks it. */
export class StreamState {
  /** Internal id. */
  readonly id: number;
  /** URL name. */
  readonly name: string;
  /** Content type from creation. */
  readonly contentType: string;
  /** True for `application/json` streams. */
  readonly json: boolean;
  /** Creation time. */
  readonly createdAtMs: number;
  /** Sliding TTL, seconds. */
  readonly ttlSeconds: number | null;
  /** Absolute expiry. */
  readonly expiresAtMs: number | null;
  /** Source stream of a fork. */
  readonly parent: StreamState | undefined;
  /** Where a fork branches off its source (0 for plain streams). */
  readonly forkPos: number;

  /** Tail including uncommitted appends. */
  tailPos: number;
  /** Closed, including an uncommitted close. */
  closed: boolean;
  /** Producer tuple of the closing request. */
  closedBy: ClosedBy | null;
  /** Last accepted `Stream-Seq`. */
  streamSeq: string | null;
  /**
   * Append time of the last record, including uncommitted appends, ms: the
   * next append's time is above it (times strictly increase per request).
   */
  lastTimeMs: number;
  /**
   * Producer states by id, including uncommitted ones; allocated on first
   * use (most streams never see a producer: an empty Map costs ~190 bytes).
   */
  get producers(): Map<string, ProducerState> {
    return this.#producers ??= new Map();
  }
  #producers: Map<string, ProducerState> | undefined;
  /**
   * True once `producers` holds every producer state of the WAL: they are
   * loaded on a stream's first producer append, not at start-up, and
   * unloaded again by the stream cache (`stream_cache.ts`).
   */
  producersLoaded = false;

  /** Committed tail: readers never see past it. */
  visibleTailPos: number;
  /** Committed closure. */
  visibleClosed: boolean;
  /**
   * False until the creating transaction commits. Until then no reader
   * sees the stream at all (404), and `visibleTailPos`/`visibleClosed`
   * hold what that commit publishes: the create's own tail and closure.
   */
  visible = false;
  /** Deleted while forks still read from it. */
  softDeleted: boolean;
  /** Removed for good (hard delete or expiry). */
  deleted = false;
  /** Live (not hard-deleted) forks whose source this is. */
  forkCount = 0;
  /** Last access that reset the sliding TTL. */
  accessedAtMs: number;
  /** `accessedAtMs` as last written to the WAL. */
  persistedAccessMs: number;
  /** Own chunks below this position are full-size (WAL compaction). */
  compactedPos: number;
  /**
   * The last small read, shared by live readers woken at one offset. It is
   * memoised as a promise, so readers woken together share one read.
   */
  lastRead:
    | {
      fromPos: number;
      tailPos: number;
      bytesMax: number;
      result: Promise<{ startPos: number; endPos: number; data: Uint8Array }>;
    }
    | undefined;
  /** Readers waiting for this stream to change (allocated on first use). */
  get waiters(): Set<Wake> {
    return this.#waiters ??= new Set();
  }
  #waiters: Set<Wake> | undefined;
  /**
   * Schema registry, including an uncommitted change: appends validate
   * against it. `null` when the stream has none.
   */
  schema: ActiveRegistry | null = null;
  /** Committed schema registry: reads promote records with it. */
  visibleSchema: ActiveRegistry | null = null;
  /**
   * Profile, including an uncommitted change: appends are normalized by it.
   */
  profile: ActiveProfile = GENERIC_PROFILE;
  /** Committed profile: what `GET .../_profile` and listings show. */
  visibleProfile: ActiveProfile = GENERIC_PROFILE;

  /** Builds state from a durable row; `parent` must already be resolved. */
  constructor(row: StreamRow, parent: StreamState | undefined, json: boolean) {
    this.id = row.id;
    this.name = row.name;
    this.contentType = row.contentType;
    this.json = json;
    this.createdAtMs = row.createdAtMs;
    this.ttlSeconds = row.ttlSeconds;
    this.expiresAtMs = row.expiresAtMs;
    this.parent = parent;
    this.forkPos = row.forkPos ?? 0;
    this.tailPos = row.tailPos;
    this.closed = row.closed;
    this.closedBy = row.closedBy;
    this.streamSeq = row.streamSeq;
    this.lastTimeMs = row.lastTimeMs;
    this.visibleTailPos = row.tailPos;
    this.visibleClosed = row.closed;
    this.softDeleted = row.softDeleted;
    this.accessedAtMs = row.accessedAtMs;
    this.persistedAccessMs = row.accessedAtMs;
    this.compactedPos = row.forkPos ?? 0;
  }

  /**
   * When the stream expires if it is not read before (a sliding TTL moves
   * this later); `Infinity` without a TTL or expiry time.
   */
  expiryAtMs(): number {
    const ttlAtMs = this.ttlSeconds === null
      ? Infinity
      : this.accessedAtMs + this.ttlSeconds * 1000;
    return Math.min(this.expiresAtMs ?? Infinity, ttlAtMs);
  }

  /** True once a sliding TTL or absolute expiry has passed. */
  isExpired(nowMs: number): boolean {
    if (this.expiresAtMs !== null && nowMs >= this.expiresAtMs) return true;
    return this.ttlSeconds !== null &&
      nowMs >= this.accessedAtMs + this.ttlSeconds * 1000;
  }

  /** Wakes every waiting reader (after a commit, close or delete). */
  wakeAll(): void {
    const waiters = this.#waiters;
    if (waiters === undefined || waiters.size === 0) return;
    const wakes = [...waiters];
    this.#waiters = undefined;
    for (const wake of wakes) wake();
  }

  /** Adds a waiting reader. */
  addWaiter(wake: Wake): void {
    this.waiters.add(wake);
  }

  /** Removes a waiting reader; the set goes with the last one. */
  removeWaiter(wake: Wake): void {
    const waiters = this.#waiters;
    if (waiters === undefined) return;
    waiters.delete(wake);
    if (waiters.size === 0) this.#waiters = undefined;
  }

  /** Forgets every producer state; they are loaded from the WAL on next use. */
  unloadProducers(): void {
    this.#producers = undefined;
    this.producersLoaded = false;
  }

  /** Takes the WAL's producer states (`rows` of this stream) as loaded. */
  loadProducers(rows: Iterable<ProducerRow>): void {
    this.#producers = undefined;
    for (const row of rows) {
      this.producers.set(row.producerId, { epoch: row.epoch, seq: row.seq });
    }
    this.producersLoaded = true;
  }

  /** The durable row for this state's assigned view. */
  toRow(): StreamRow {
    return {
      id: this.id,
      name: this.name,
      contentType: this.contentType,
      createdAtMs: this.createdAtMs,
      accessedAtMs: this.accessedAtMs,
      ttlSeconds: this.ttlSeconds,
      expiresAtMs: this.expiresAtMs,
      tailPos: this.tailPos,
      closed: this.closed,
      closedBy: this.closedBy,
      streamSeq: this.streamSeq,
      forkedFrom: this.parent?.id ?? null,
      forkPos: this.parent === undefined ? null : this.forkPos,
      softDeleted: this.softDeleted,
      lastTimeMs: this.lastTimeMs,
    };
  }
}

/**
 * Live streams by name, with a sorted copy of the names for paging through
 * `GET /v1/streams` (a binary search per page). Names added or removed
 * since the copy was made wait in two small sets and are merged into it by
 * the next page: a page after N creates costs a sort of those N and one
 * linear merge, not a sort of every name.
 */
export class StreamsByName extends Map<string, StreamState> {
  #sorted: string[] | undefined;
  /** Names added since `#sorted` was made (not in it). */
  #added = new Set<string>();
  /** Names removed since `#sorted` was made (still in it). */
  #removed = new Set<string>();

  /** Adds or replaces; a new name waits in `#added`. */
  override set(name: string, state: StreamState): this {
    if (this.#sorted !== undefined && !this.has(name)) {
      if (!this.#removed.delete(name)) this.#added.add(name);
    }
    return super.set(name, state);
  }

  /** Removes; a name in the sorted copy waits in `#removed`. */
  override delete(name: string): boolean {
    const had = super.delete(name);
    if (had && this.#sorted !== undefined && !this.#added.delete(name)) {
      this.#removed.add(name);
    }
    return had;
  }

  /** Removes everything. */
  override clear(): void {
    super.clear();
    this.#sorted = undefined;
    this.#added.clear();
    this.#removed.clear();
  }

  /**
   * Names starting with `prefix` and ordered after `after` (if given), in
   * UTF-16 code unit order, lazily.
   */
  *namesFrom(prefix: string, after: string | undefined): Generator<string> {
    const sorted = this.#sortedNames();
    let i = firstAtLeast(sorted, prefix);
    if (after !== undefined) {
      i = Math.max(i, firstAtLeast(sorted, after));
      if (sorted[i] === after) i++;
    }
    for (; i < sorted.length && sorted[i].startsWith(prefix); i++) {
      yield sorted[i];
    }
  }

  #sortedNames(): string[] {
    if (this.#sorted === undefined) {
      this.#sorted = [...this.keys()].sort();
    } else if (this.#added.size + this.#removed.size > SPLICE_NAMES_MAX) {
      this.#sorted = mergeSorted(this.#sorted, [...this.#added], this.#removed);
      this.#added.clear();
      this.#removed.clear();
    } else {
      // A few changes: one binary search and one move of the tail each.
      const sorted = this.#sorted;
      for (const name of this.#removed) {
        sorted.splice(firstAtLeast(sorted, name), 1);
      }
      for (const name of this.#added) {
        sorted.splice(firstAtLeast(sorted, name), 0, name);
      }
      this.#added.clear();
      this.#removed.clear();
    }
    return this.#sorted;
  }
}

/** Changes applied one by one to the sorted names; more are merged. */
const SPLICE_NAMES_MAX = 256;

/**
 * `sorted` without `removed`, merged with `added` (disjoint from it). The
 * engine's sort finds the two sorted runs and merges them in one pass.
 */
function mergeSorted(
  sorted: readonly string[],
  added: readonly string[],
  removed: ReadonlySet<string>,
): string[] {
  const kept = removed.size === 0
    ? sorted.slice()
    : sorted.filter((name) => !removed.has(name));
  const out = kept.concat([...added].sort());
  return out.sort();
}

function firstAtLeast(sorted: readonly string[], key: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
