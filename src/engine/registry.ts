/**
 * @module
 * The stream registry: live streams by name (sorted for listing) and every
 * stream by id, soft-deleted names (they answer 410 and block re-creation),
 * the streams that can expire (the only ones the sweep checks), and streams
 * whose delete has not committed yet (the WAL still holds them, so tiering
 * keeps their objects and a failed commit brings them back). Fork counts on
 * each state change with the maps. After a full-disk failure `resetTo` puts
 * the assigned state back to what the WAL holds.
 */

import { assert } from "../assert.ts";
import { StreamError } from "../errors.ts";
import { isJsonContentType } from "../protocol/headers.ts";
import type {
  PartialSnapshot,
  StreamRow,
  WalOp,
  WalSnapshot,
} from "../storage/wal_store.ts";
import { ExpiryQueue } from "./expiry_queue.ts";
import { StreamsByName, StreamState } from "./stream_state.ts";
import type { StreamInfo, StreamView } from "./types.ts";

/** Streams by name and id, with the sets that follow them. */
export class StreamRegistry {
  /** Live (not soft-deleted) streams by name. */
  readonly #live = new StreamsByName();
  readonly #byId = new Map<number, StreamState>();
  readonly #softDeletedByName = new Map<string, StreamState>();
  readonly #uncommittedDeletes = new Map<number, StreamState>();
  /** Streams with a TTL or an expiry time, by when they may expire. */
  readonly expiring: ExpiryQueue = new ExpiryQueue();
  /** The id the next create takes (persisted with every commit). */
  nextStreamId: number;

  /** An empty registry whose first new stream gets `nextStreamId`. */
  constructor(nextStreamId: number) {
    this.nextStreamId = nextStreamId;
  }

  /**
   * Committed streams, from the WAL. Their producer states are loaded on
   * first use (`StreamState.producersLoaded`).
   */
  restore(rows: StreamRow[]): void {
    // Rows come in id order and a fork's source always has a smaller id.
    for (const row of rows) {
      const state = new StreamState(
        row,
        this.#parentOf(row),
        isJsonContentType(row.contentType),
      );
      state.visible = true;
      this.adopt(state);
    }
  }

  #parentOf(row: StreamRow): StreamState | undefined {
    if (row.forkedFrom === null) return undefined;
    const parent = this.#byId.get(row.forkedFrom);
    if (parent === undefined) {
      throw new StreamError(
        "corrupt",
        `Stream "${row.name}" is forked from missing stream id ${row.forkedFrom}`,
      );
    }
    return parent;
  }

  /** Registers a stream: restored, re-adopted, or new (its create queued). */
  adopt(state: StreamState): void {
    if (state.parent !== undefined) state.parent.forkCount++;
    this.#byId.set(state.id, state);
    if (!state.softDeleted) this.#live.set(state.name, state);
    else this.#softDeletedByName.set(state.name, state);
    if (canExpire(state)) this.expiring.add(state);
  }

  /** Number of live streams. */
  get size(): number {
    return this.#live.size;
  }

  /** The live stream named `name`. */
  live(name: string): StreamState | undefined {
    return this.#live.get(name);
  }

  /** The stream named `name`, live or soft-deleted. */
  named(name: string): StreamState | undefined {
    return this.#live.get(name) ?? this.#softDeletedByName.get(name);
  }

  /** The soft-deleted stream named `name`. */
  softDeleted(name: string): StreamState | undefined {
    return this.#softDeletedByName.get(name);
  }

  /** Every registered stream (live and soft-deleted). */
  all(): IterableIterator<StreamState> {
    return this.#byId.values();
  }

  /**
   * Up to `limit` committed, unexpired live streams whose names start with
   * `prefix`, after `after`, sorted; `more` when others follow.
   */
  list(
    prefix: string,
    after: string | undefined,
    limit: number,
    now: number,
  ): { streams: StreamView[]; more: boolean } {
    const streams: StreamView[] = [];
    for (const name of this.#live.namesFrom(prefix, after)) {
      const state = this.#live.get(name)!;
      if (!state.visible || state.isExpired(now)) continue;
      if (streams.length === limit) return { streams, more: true };
      streams.push(viewOf(state));
    }
    return { streams, more: false };
  }

  /**
   * Takes `state` out for a delete and returns the WAL operations: a soft
   * delete while forks read from it; else a delete that cascades to a
   * soft-deleted source whose last fork this was. `removed` stay known as
   * uncommitted deletes until `deleteCommitted`.
   */
  unlink(state: StreamState): { ops: WalOp[]; removed: StreamState[] } {
    if (state.forkCount > 0) {
      state.softDeleted = true;
      this.#live.delete(state.name);
      this.#softDeletedByName.set(state.name, state);
      this.expiring.delete(state);
      state.wakeAll();
      return { ops: [{ op: "soft_delete", streamId: state.id }], removed: [] };
    }
    const ops: WalOp[] = [];
    const removed: StreamState[] = [];
    let current: StreamState | undefined = state;
    while (current !== undefined) {
      ops.push({ op: "delete", streamId: current.id });
      removed.push(current);
      this.#uncommittedDeletes.set(current.id, current);
      current.deleted = true;
      this.expiring.delete(current);
      if (this.#live.get(current.name) === current) {
        this.#live.delete(current.name);
      }
      if (this.#softDeletedByName.get(current.name) === current) {
        this.#softDeletedByName.delete(current.name);
      }
      this.#byId.delete(current.id);
      current.wakeAll();
      const parent: StreamState | undefined = current.parent;
      if (parent === undefined) break;
      parent.forkCount--;
      // GC cascades: a soft-deleted source goes once its last fork does.
      current = parent.softDeleted && parent.forkCount === 0
        ? parent
        : undefined;
    }
    return { ops, removed };
  }

  /** The deletes of `removed` committed: the WAL no longer holds them. */
  deleteCommitted(removed: StreamState[]): void {
    for (const state of removed) this.#uncommittedDeletes.delete(state.id);
  }

  /**
   * Committed state of every stream, soft-deleted ones included (for
   * tiering), and streams whose delete has not committed yet: until it
   * does, their objects must stay.
   */
  *infos(): Generator<StreamInfo> {
    for (const state of this.#byId.values()) {
      if (state.visible) yield infoOf(state);
    }
    for (const state of this.#uncommittedDeletes.values()) {
      if (state.visible) yield infoOf(state);
    }
  }

  /** Committed state of the stream with internal id `id`, if it exists. */
  info(id: number): StreamInfo | undefined {
    const state = this.#byId.get(id) ?? this.#uncommittedDeletes.get(id);
    return state === undefined || !state.visible ? undefined : infoOf(state);
  }

  /** The stream with internal id `id` (live or soft-deleted). */
  byId(id: number): StreamState | undefined {
    return this.#byId.get(id);
  }

  // ---- several nodes on one WAL ----------------------------------------------

  /**
   * Makes every stream what `snapshot` holds, assigned and committed state
   * alike: another node changed the shared WAL, and nothing of this node is
   * queued. Streams gone from it are dropped, new ones adopted as
   * committed. A committed tail announced after the snapshot was taken is
   * kept (readers never see a tail go back); the assigned one is the
   * snapshot's, so a write planned from it is found stale and planned
   * again. Returns the streams that changed, the ones that are gone and
   * the ones new here.
   */
  syncTo(
    snapshot: WalSnapshot,
  ): {
    changed: StreamState[];
    gone: { name: string; id: number }[];
    added: StreamState[];
  } {
    const rows = new Map(snapshot.streams.map((row) => [row.id, row]));
    const changed: StreamState[] = [];
    const added: StreamState[] = [];
    const gone: { name: string; id: number }[] = [];
    for (const state of [...this.#byId.values()]) {
      const row = rows.get(state.id);
      if (row !== undefined && row.name === state.name) continue;
      if (state.visible) gone.push({ name: state.name, id: state.id });
      this.#drop(state);
      changed.push(state);
    }
    for (const state of this.#uncommittedDeletes.values()) {
      if (!rows.has(state.id)) gone.push({ name: state.name, id: state.id });
    }
    this.#uncommittedDeletes.clear();
    for (const row of snapshot.streams) {
      const state = this.#byId.get(row.id);
      if (state === undefined) {
        const fresh = new StreamState(
          row,
          this.#parentOf(row),
          isJsonContentType(row.contentType),
        );
        fresh.visible = true;
        this.adopt(fresh);
        changed.push(fresh);
        added.push(fresh);
        continue;
      }
      if (this.#syncStream(state, row)) changed.push(state);
      state.unloadProducers();
    }
    this.nextStreamId = Math.max(this.nextStreamId, snapshot.nextStreamId);
    return { changed, gone, added };
  }

  /**
   * `syncTo` for only the streams of `scope` (ids, and the streams named
   * `names`), from `part`, which holds their rows that exist (with their
   * fork sources): nothing of this node touching them is queued, and every
   * other stream is left as it is. Streams of the scope missing from
   * `part` are gone. Returns the streams that changed, the ones gone, the
   * ones loaded and the ones new here.
   */
  syncSome(
    part: PartialSnapshot,
    ids: Iterable<number>,
    names: Iterable<string>,
  ): {
    changed: StreamState[];
    gone: { name: string; id: number }[];
    loaded: StreamState[];
    added: StreamState[];
  } {
    const rows = new Map(part.streams.map((row) => [row.id, row]));
    const changed: StreamState[] = [];
    const added: StreamState[] = [];
    const gone: { name: string; id: number }[] = [];
    const scope = new Set(ids);
    for (const name of names) {
      const live = this.#live.get(name);
      const soft = this.#softDeletedByName.get(name);
      if (live !== undefined) scope.add(live.id);
      if (soft !== undefined) scope.add(soft.id);
    }
    for (const id of scope) {
      const state = this.#byId.get(id);
      if (state !== undefined) {
        const row = rows.get(id);
        if (row !== undefined && row.name === state.name) continue;
        if (state.visible) gone.push({ name: state.name, id: state.id });
        this.#drop(state);
        changed.push(state);
      }
      const deleting = this.#uncommittedDeletes.get(id);
      if (deleting !== undefined) {
        if (!rows.has(id)) gone.push({ name: deleting.name, id });
        this.#uncommittedDeletes.delete(id);
      }
    }
    const loaded: StreamState[] = [];
    for (const row of part.streams) {
      let state = this.#byId.get(row.id);
      if (state === undefined) {
        // A name held here by a stream the scope did not name: its row
        // says it is gone (names of live streams are unique).
        const holder = row.softDeleted
          ? this.#softDeletedByName.get(row.name)
          : this.#live.get(row.name);
        if (holder !== undefined && !rows.has(holder.id)) {
          if (holder.visible) gone.push({ name: holder.name, id: holder.id });
          this.#drop(holder);
          changed.push(holder);
        }
        state = new StreamState(
          row,
          this.#parentOf(row),
          isJsonContentType(row.contentType),
        );
        state.visible = true;
        this.adopt(state);
        changed.push(state);
        added.push(state);
      } else if (this.#syncStream(state, row)) changed.push(state);
      state.unloadProducers();
      loaded.push(state);
    }
    this.nextStreamId = Math.max(this.nextStreamId, part.nextStreamId);
    return { changed, gone, loaded, added };
  }

  /** Forgets a stream another node removed (or whose create never committed). */
  #drop(state: StreamState): void {
    if (this.#live.get(state.name) === state) this.#live.delete(state.name);
    if (this.#softDeletedByName.get(state.name) === state) {
      this.#softDeletedByName.delete(state.name);
    }
    this.#byId.delete(state.id);
    this.expiring.delete(state);
    if (state.parent !== undefined) state.parent.forkCount--;
    state.deleted = true;
  }

  /** Puts both views of a stream to its row; true if readers see a change. */
  #syncStream(state: StreamState, row: StreamRow): boolean {
    const moved = state.visibleTailPos < row.tailPos ||
      state.visibleClosed !== row.closed || !state.visible ||
      state.softDeleted !== row.softDeleted;
    state.tailPos = row.tailPos;
    state.visibleTailPos = Math.max(state.visibleTailPos, row.tailPos);
    state.closed = row.closed;
    state.visibleClosed = row.closed;
    state.closedBy = row.closedBy;
    state.streamSeq = row.streamSeq;
    state.lastTimeMs = row.lastTimeMs;
    state.persistedAccessMs = row.accessedAtMs;
    state.accessedAtMs = Math.max(state.accessedAtMs, row.accessedAtMs);
    state.visible = true;
    if (row.softDeleted && !state.softDeleted) {
      this.#live.delete(state.name);
      this.#softDeletedByName.set(state.name, state);
      state.softDeleted = true;
    } else if (!row.softDeleted && state.softDeleted) {
      // This node's soft delete was refused (another node wrote first).
      this.#softDeletedByName.delete(state.name);
      this.#live.set(state.name, state);
      state.softDeleted = false;
    }
    return moved;
  }

  // ---- rolling back after a full disk ---------------------------------------

  /**
   * Resets assigned state to `snapshot` (what the WAL holds after a failed
   * commit); returns how many streams changed. Committed (visible) state
   * never ran ahead of the WAL, so readers notice nothing.
   */
  resetTo(snapshot: WalSnapshot): number {
    const rows = new Map(snapshot.streams.map((row) => [row.id, row]));
    let undone = 0;
    for (const state of [...this.#byId.values()]) {
      if (!rows.has(state.id)) undone += this.#forgetUncommitted(state);
    }
    for (const row of snapshot.streams) {
      let state = this.#byId.get(row.id);
      if (state === undefined) {
        state = this.#uncommittedDeletes.get(row.id);
        assert(state !== undefined, `stream id ${row.id} is in the WAL only`);
        state.deleted = false;
        this.adopt(state);
        undone++;
      }
      undone += this.#resetStream(state, row);
      state.unloadProducers();
    }
    this.#uncommittedDeletes.clear();
    this.nextStreamId = Math.max(this.nextStreamId, snapshot.nextStreamId);
    return undone;
  }

  /** Drops a stream whose creation never committed. */
  #forgetUncommitted(state: StreamState): number {
    assert(
      !state.visible,
      `committed stream "${state.name}" is not in the WAL`,
    );
    if (this.#live.get(state.name) === state) this.#live.delete(state.name);
    this.#byId.delete(state.id);
    this.expiring.delete(state);
    if (state.parent !== undefined) state.parent.forkCount--;
    state.deleted = true;
    state.wakeAll();
    return 1;
  }

  /** Puts a stream's assigned fields back to its row; 1 if any differed. */
  #resetStream(state: StreamState, row: StreamRow): number {
    assert(
      state.visibleTailPos === row.tailPos &&
        state.visibleClosed === row.closed,
      `stream "${state.name}": committed state differs from the WAL`,
    );
    const changed = state.tailPos !== row.tailPos ||
      state.closed !== row.closed || state.streamSeq !== row.streamSeq ||
      state.softDeleted !== row.softDeleted;
    state.tailPos = row.tailPos;
    state.closed = row.closed;
    state.closedBy = row.closedBy;
    state.streamSeq = row.streamSeq;
    state.lastTimeMs = row.lastTimeMs;
    state.persistedAccessMs = row.accessedAtMs;
    if (state.softDeleted && !row.softDeleted) {
      this.#softDeletedByName.delete(state.name);
      this.#live.set(state.name, state);
      state.softDeleted = false;
    }
    if (canExpire(state)) this.expiring.add(state);
    return changed ? 1 : 0;
  }
}

function canExpire(state: StreamState): boolean {
  return state.ttlSeconds !== null || state.expiresAtMs !== null;
}

/** What a client may see of `state`: its committed view. */
export function viewOf(state: StreamState): StreamView {
  return {
    id: state.id,
    name: state.name,
    contentType: state.contentType,
    tailPos: state.visibleTailPos,
    closed: state.visibleClosed,
    ttlSeconds: state.ttlSeconds,
    expiresAtMs: state.expiresAtMs,
    createdAtMs: state.createdAtMs,
    profile: state.visibleProfile.options,
  };
}

function infoOf(state: StreamState): StreamInfo {
  return {
    ...viewOf(state),
    softDeleted: state.softDeleted,
    fork: state.parent === undefined ? null : {
      sourceId: state.parent.id,
      sourceName: state.parent.name,
      position: state.forkPos,
    },
    schemaRegistry: state.visibleSchema?.registry ?? null,
    profile: state.visibleProfile.options,
  };
}
