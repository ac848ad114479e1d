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

/** The last small read, shared by live readers woken at one offset. */
export interface LastRead {
  /** Where the read starts. */
  fromPos: number;
  /** The committed tail it was made at. */
  tailPos: number;
  /** Its byte cap. */
  bytesMax: number;
  /** The read, shared by every reader that asks for the same one. */
  result: Promise<{ startPos: number; endPos: number; data: Uint8Array }>;
}

/**
 * The fields most streams never change from their defaults: they live in
 * one object allocated on the first change, so an idle stream costs one
 * pointer for all of them (`StreamState`'s own fields are 8 bytes each).
 */
class Cold {
  closedBy: ClosedBy | null = null;
  streamSeq: string | null = null;
  producers: Map<string, ProducerState> | undefined = undefined;
  producersLoaded = false;
  forkCount = 0;
  compactedPos: number;
  lastRead: LastRead | undefined = undefined;
  waiters: Set<Wake> | undefined = undefined;
  schema: ActiveRegistry | null = null;
  visibleSchema: ActiveRegistry | null = null;
  profile: ActiveProfile = GENERIC_PROFILE;
  visibleProfile: ActiveProfile = GENERIC_PROFILE;

  constructor(compactedPos: number) {
    this.compactedPos = compactedPos;
  }
}

/** Bits of `StreamState.#flags`. */
const JSON_FLAG = 1;
const CLOSED = 2;
const VISIBLE_CLOSED = 4;
const VISIBLE = 8;
const SOFT_DELETED = 16;
const DELETED = 32;

/**
 * Content types seen, so that streams of one type share one string (a
 * million `application/json` streams would otherwise hold a million copies).
 * Bounded: past `CONTENT_TYPES_MAX` distinct types, new ones are kept as given.
 */
const contentTypes = new Map<string, string>();
const CONTENT_TYPES_MAX = 256;

function internContentType(contentType: string): string {
  const known = contentTypes.get(contentType);
  if (known !== undefined) return known;
  if (contentTypes.size < CONTENT_TYPES_MAX) {
    contentTypes.set(contentType, contentType);
  }
  return contentType;
}

/**
 * One stream, as the engine tracks it. An idle stream keeps only the fields
 * every stream needs; the rest (`Cold`) and the booleans (`#flags`) are
 * behind accessors, so an idle stream costs about half the heap it would
 * with a field each.
 */
export class StreamState {
  /** Internal id. */
  readonly id: number;
  /** URL name. */
  readonly name: string;
  /** Content type from creation. */
  readonly contentType: string;
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
  /**
   * Append time of the last record, including uncommitted appends, ms: the
   * next append's time is above it (times strictly increase per request).
   */
  lastTimeMs: number;
  /** Committed tail: readers never see past it. */
  visibleTailPos: number;
  /** Last access that reset the sliding TTL. */
  accessedAtMs: number;
  /** `accessedAtMs` as last written to the WAL. */
  persistedAccessMs: number;

  #flags: number;
  #cold: Cold | undefined;

  /** Builds state from a durable row; `parent` must already be resolved. */
  constructor(row: StreamRow, parent: StreamState | undefined, json: boolean) {
    this.id = row.id;
    this.name = row.name;
    this.contentType = internContentType(row.contentType);
    this.createdAtMs = row.createdAtMs;
    this.ttlSeconds = row.ttlSeconds;
    this.expiresAtMs = row.expiresAtMs;
    this.parent = parent;
    this.forkPos = row.forkPos ?? 0;
    this.tailPos = row.tailPos;
    this.lastTimeMs = row.lastTimeMs;
    this.visibleTailPos = row.tailPos;
    this.accessedAtMs = row.accessedAtMs;
    this.persistedAccessMs = row.accessedAtMs;
    this.#flags = (json ? JSON_FLAG : 0) |
      (row.closed ? CLOSED | VISIBLE_CLOSED : 0) |
      (row.softDeleted ? SOFT_DELETED : 0);
    this.#cold = undefined;
    if (row.closedBy !== null) this.closedBy = row.closedBy;
    if (row.streamSeq !== null) this.streamSeq = row.streamSeq;
  }

  #coldFields(): Cold {
    return this.#cold ??= new Cold(this.forkPos);
  }

  #flag(bit: number): boolean {
    return (this.#flags & bit) !== 0;
  }

  #setFlag(bit: number, on: boolean): void {
    this.#flags = on ? this.#flags | bit : this.#flags & ~bit;
  }

  /** True for `application/json` streams. */
  get json(): boolean {
    return this.#flag(JSON_FLAG);
  }

  /** Closed, including an uncommitted close. */
  get closed(): boolean {
    return this.#flag(CLOSED);
  }
  set closed(on: boolean) {
    this.#setFlag(CLOSED, on);
  }

  /** Committed closure. */
  get visibleClosed(): boolean {
    return this.#flag(VISIBLE_CLOSED);
  }
  set visibleClosed(on: boolean) {
    this.#setFlag(VISIBLE_CLOSED, on);
  }

  /**
   * False until the creating transaction commits. Until then no reader
   * sees the stream at all (404), and `visibleTailPos`/`visibleClosed`
   * hold what that commit publishes: the create's own tail and closure.
   */
  get visible(): boolean {
    return this.#flag(VISIBLE);
  }
  set visible(on: boolean) {
    this.#setFlag(VISIBLE, on);
  }

  /** Deleted while forks still read from it. */
  get softDeleted(): boolean {
    return this.#flag(SOFT_DELETED);
  }
  set softDeleted(on: boolean) {
    this.#setFlag(SOFT_DELETED, on);
  }

  /** Removed for good (hard delete or expiry). */
  get deleted(): boolean {
    return this.#flag(DELETED);
  }
  set deleted(on: boolean) {
    this.#setFlag(DELETED, on);
  }

  /** Producer tuple of the closing request. */
  get closedBy(): ClosedBy | null {
    return this.#cold?.closedBy ?? null;
  }
  set closedBy(value: ClosedBy | null) {
    if (value !== null || this.#cold !== undefined) {
      this.#coldFields().closedBy = value;
    }
  }

  /** Last accepted `Stream-Seq`. */
  get streamSeq(): string | null {
    return this.#cold?.streamSeq ?? null;
  }
  set streamSeq(value: string | null) {
    if (value !== null || this.#cold !== undefined) {
      this.#coldFields().streamSeq = value;
    }
  }

  /**
   * Producer states by id, including uncommitted ones; allocated on first
   * use (most streams never see a producer: an empty Map costs ~190 bytes).
   */
  get producers(): Map<string, ProducerState> {
    const cold = this.#coldFields();
    return cold.producers ??= new Map();
  }

  /**
   * True once `producers` holds every producer state of the WAL: they are
   * loaded on a stream's first producer append, not at start-up, and
   * unloaded again by the stream cache (`stream_cache.ts`).
   */
  get producersLoaded(): boolean {
    return this.#cold?.producersLoaded ?? false;
  }
  set producersLoaded(on: boolean) {
    if (on || this.#cold !== undefined) {
      this.#coldFields().producersLoaded = on;
    }
  }

  /** Live (not hard-deleted) forks whose source this is. */
  get forkCount(): number {
    return this.#cold?.forkCount ?? 0;
  }
  set forkCount(count: number) {
    if (count !== 0 || this.#cold !== undefined) {
      this.#coldFields().forkCount = count;
    }
  }

  /** Own chunks below this position are full-size (WAL compaction). */
  get compactedPos(): number {
    return this.#cold?.compactedPos ?? this.forkPos;
  }
  set compactedPos(pos: number) {
    if (pos !== this.forkPos || this.#cold !== undefined) {
      this.#coldFields().compactedPos = pos;
    }
  }

  /**
   * The last small read, shared by live readers woken at one offset. It is
   * memoised as a promise, so readers woken together share one read.
   */
  get lastRead(): LastRead | undefined {
    return this.#cold?.lastRead;
  }
  set lastRead(read: LastRead | undefined) {
    if (read !== undefined || this.#cold !== undefined) {
      this.#coldFields().lastRead = read;
    }
  }

  /** Readers waiting for this stream to change (allocated on first use). */
  get waiters(): Set<Wake> {
    const cold = this.#coldFields();
    return cold.waiters ??= new Set();
  }

  /**
   * Schema registry, including an uncommitted change: appends validate
   * against it. `null` when the stream has none.
   */
  get schema(): ActiveRegistry | null {
    return this.#cold?.schema ?? null;
  }
  set schema(registry: ActiveRegistry | null) {
    if (registry !== null || this.#cold !== undefined) {
      this.#coldFields().schema = registry;
    }
  }

  /** Committed schema registry: reads promote records with it. */
  get visibleSchema(): ActiveRegistry | null {
    return this.#cold?.visibleSchema ?? null;
  }
  set visibleSchema(registry: ActiveRegistry | null) {
    if (registry !== null || this.#cold !== undefined) {
      this.#coldFields().visibleSchema = registry;
    }
  }

  /**
   * Profile, including an uncommitted change: appends are normalized by it.
   */
  get profile(): ActiveProfile {
    return this.#cold?.profile ?? GENERIC_PROFILE;
  }
  set profile(profile: ActiveProfile) {
    if (profile !== GENERIC_PROFILE || this.#cold !== undefined) {
      this.#coldFields().profile = profile;
    }
  }

  /** Committed profile: what `GET .../_profile` and listings show. */
  get visibleProfile(): ActiveProfile {
    return this.#cold?.visibleProfile ?? GENERIC_PROFILE;
  }
  set visibleProfile(profile: ActiveProfile) {
    if (profile !== GENERIC_PROFILE || this.#cold !== undefined) {
      this.#coldFields().visibleProfile = profile;
    }
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
    const waiters = this.#cold?.waiters;
    if (waiters === undefined || waiters.size === 0) return;
    const wakes = [...waiters];
    this.#cold!.waiters = undefined;
    for (const wake of wakes) wake();
  }

  /** Adds a waiting reader. */
  addWaiter(wake: Wake): void {
    this.waiters.add(wake);
  }

  /** Removes a waiting reader; the set goes with the last one. */
  removeWaiter(wake: Wake): void {
    const waiters = this.#cold?.waiters;
    if (waiters === undefined) return;
    waiters.delete(wake);
    if (waiters.size === 0) this.#cold!.waiters = undefined;
  }

  /** Forgets every producer state; they are loaded from the WAL on next use. */
  unloadProducers(): void {
    if (this.#cold === undefined) return;
    this.#cold.producers = undefined;
    this.#cold.producersLoaded = false;
  }

  /** Takes the WAL's producer states (`rows` of this stream) as loaded. */
  loadProducers(rows: Iterable<ProducerRow>): void {
    this.#coldFields().producers = undefined;
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
