/**
 * @module
 * The engine: streams, creates, appends, closes, deletes, reads and live
 * waits, as a façade over the stream registry (`registry.ts`), create and
 * append planning (`plan_create.ts`, `plan_append.ts`), the sweeper
 * (`sweeper.ts`), the waiters (`waiters.ts`) and the group-commit writer
 * (`writer.ts`). It knows neither HTTP nor SQL nor tiering: `server.ts`
 * plugs tiering in through `wrapChunkReader`, `setAdmissionGate` and
 * `addListener`.
 *
 * The invariant everything rests on: a write checks the *assigned* state
 * (which includes appends still waiting for their commit) and assigns its
 * positions, producer step and registry change synchronously, with no
 * `await` between the check and the assignment; only then does it wait for
 * the writer. So concurrent requests see each other's effects in arrival
 * order (`engine_test.ts`: "Engine checks and assigns without an await
 * between"). Readers see committed (visible) state only. When a commit
 * fails for a passing reason (a full disk, a lost database connection), the
 * assigned state is reset to what the WAL holds and writes resume once the
 * WAL takes them again (`#rollBack`).
 *
 * With a store other nodes share (`WalStore.shared`), the assigned state
 * may be behind the store: the store's commit refuses a batch planned from
 * a stream another node changed (stale), and the engine reloads (`#resync`)
 * and plans those requests again (`#fresh`); other nodes' announcements
 * move committed tails and wake readers (`#announced`), a poll is the
 * safety net, and reads first bring the stream's tail up to date
 * (`#refresh`). About 1330 lines, most of them JSDoc: each method is the
 * few steps of orchestration that must stay together for that invariant to
 * be visible in one place.
 */

import { assert } from "../assert.ts";
import type { LimitsConfig } from "../config.ts";
import { fail, ok, type Result, StreamError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { backoff } from "../backoff.ts";
import {
  AGGREGATE_TIMEOUT_MS,
  FILTER_READ_TIME_BUDGET_MS,
  KEYED_READ_SLICE_BYTES,
  META_ANNOUNCE_POLL_MS,
  META_ANNOUNCE_WAIT_MS,
  ROLLBACK_RETRY_MAX_MS,
  ROLLBACK_RETRY_MIN_MS,
  SHARED_EXPIRY_GRACE_MS,
  STALE_BACKOFF_MS,
  STALE_RETRIES_MAX,
  STREAM_CACHE_LOAD_ATTEMPTS_MAX,
} from "../limits.ts";
import type { ActiveRegistry, Registry } from "../schema/registry.ts";
import {
  type AnnouncedTail,
  type Chunk,
  isRetryable,
  isStale,
  type PartialSnapshot,
  type ReloadScope,
  type SharedWal,
  staleError,
  type WalOp,
  type WalSnapshot,
  type WalStore,
} from "../storage/wal_store.ts";
import {
  type CompactionOptions,
  Compactor,
  DEFAULT_COMPACTION,
} from "./compactor.ts";
import { Listeners } from "./listeners.ts";
import { assign, checkAppend, planAppend } from "./plan_append.ts";
import { checkFork, configMismatch, planCreate } from "./plan_create.ts";
import { recordKeys } from "./ops.ts";
import { gatherShared } from "./read_memo.ts";
import {
  bytesFrom,
  type ChunkReader,
  seekChain,
  skipRecords,
  TierReadBytes,
} from "./reader.ts";
import { type KeyedChunkReader, readKeyedFrom } from "./keyed_reader.ts";
import type { SearchPruner } from "./record_scan.ts";
import { type KeyPage, listKeys } from "./key_listing.ts";
import {
  compileFilter,
  type FilteredReadOutcome,
  readFilteredFrom,
} from "./filtered_reader.ts";
import {
  type AggregateOutcome,
  runAggregate,
  runSearch,
  type SearchOutcome,
  type SearchPositions,
} from "./search_exec.ts";
import { StreamRegistry, viewOf } from "./registry.ts";
import {
  clampBoundaries,
  planSchemaChange,
  promoteStored,
  registryOf,
  restoredRegistries,
} from "./schemas.ts";
import type { StreamState } from "./stream_state.ts";
import { StreamCache, type StreamCacheStats } from "./stream_cache.ts";
import {
  GENERIC_PROFILE,
  planProfileChange,
  restoredProfiles,
} from "./stream_profiles.ts";
import type { ProfileOptions } from "../profiles/profile.ts";
import { Sweeper } from "./sweeper.ts";
import type {
  AdmissionGate,
  AppendOutcome,
  AppendRequest,
  CreateOutcome,
  CreateRequest,
  KeyedReadOutcome,
  KeyExtractor,
  KeyLexiconSource,
  ReadOutcome,
  StreamInfo,
  StreamListener,
  StreamView,
  TimeSeeker,
  WaitOutcome,
} from "./types.ts";
import { Waiters } from "./waiters.ts";
import { Writer, type WriterStats } from "./writer.ts";

export type { AdmissionGate, StreamListener, WaitOutcome } from "./types.ts";

/** Options for `Engine.open`. */
export interface EngineOptions {
  /** WAL compaction; `DEFAULT_COMPACTION` when absent. */
  compaction?: CompactionOptions;
  /** Limits from config. */
  limits: LimitsConfig;
  /** Logger. */
  log: Logger;
  /**
   * Called once if the WAL fails beyond a full disk; the process should
   * restart. (A full disk only refuses writes until space returns.)
   */
  onFatal: (error: StreamError) => void;
  /** Clock, for tests. */
  now?: () => number;
  /**
   * With a store shared by several nodes: how often, in ms, the node asks
   * the store for the tails of streams with waiting readers, in case an
   * announcement was lost. Default 2000.
   */
  wakePollMs?: number;
}

/** What `Engine.installProfile` installed. */
export interface ProfileInstalled {
  /** The stored options. */
  options: ProfileOptions;
  /** The canonical registry installed with them, if any. */
  registry: Registry | null;
  /** The options before. */
  previous: ProfileOptions;
}

/** Streams on a `WalStore`. Create with `Engine.open`. */
export class Engine {
  readonly #store: WalStore;
  readonly #writer: Writer;
  readonly #limits: LimitsConfig;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #registry: StreamRegistry;
  readonly #sweeper: Sweeper;
  readonly #waiters: Waiters;
  readonly #listeners: Listeners;
  readonly #compactor: Compactor;
  /** Which streams hold their producer states in memory. */
  readonly #cache: StreamCache;
  /** Producer states being loaded from the WAL, by stream (see `#loadProducers`). */
  readonly #loading = new Map<StreamState, Promise<unknown>>();
  /** Every load of `#loading`, settled (see `#loadsPending`). */
  #loadBarrier: Promise<unknown> | undefined;
  #gate: AdmissionGate | undefined;
  #keyExtractor: KeyExtractor | undefined;
  #closed = false;
  /** The store's multi-node surface, when other nodes share it. */
  readonly #shared: SharedWal | undefined;
  /** A reload from the shared store in progress: writes wait for it. */
  #syncing: Promise<void> | undefined;
  #pollTimer: ReturnType<typeof setInterval> | undefined;
  #polling = false;
  #staleRetries = 0;

  private constructor(
    store: WalStore,
    nextStreamId: number,
    options: EngineOptions,
  ) {
    this.#store = store;
    this.#shared = store.shared;
    this.#limits = options.limits;
    this.#log = options.log;
    this.#now = options.now ?? Date.now;
    this.#registry = new StreamRegistry(nextStreamId);
    this.#waiters = new Waiters(options.limits.waitersMax);
    this.#cache = new StreamCache(options.limits.streamCacheBytes);
    this.#listeners = new Listeners(options.log);
    this.#compactor = new Compactor(
      store,
      options.compaction ?? DEFAULT_COMPACTION,
      options.log,
    );
    this.#writer = new Writer(
      store,
      options.limits,
      () => this.#registry.nextStreamId,
      {
        onFatal: options.onFatal,
        onRolledBack: (cause) => void this.#rollBack(cause),
        onStale: (_cause, ops) => void this.#resync(this.#scopeOfOps(ops)),
      },
      this.#now,
    );
    this.#sweeper = new Sweeper(this.#registry, {
      now: this.#now,
      expire: (state) => this.#expire(state),
      write: (ops) => {
        if (this.#syncing !== undefined) return;
        if (this.#writer.admit(0) !== undefined) return;
        this.#writer.enqueue(ops, 0).catch(
          () => {/* fatal path already logged */},
        );
      },
    });
  }

  /** Loads every stream from `store` and starts the sweeper and compaction. */
  static async open(store: WalStore, options: EngineOptions): Promise<Engine> {
    // Listen before loading, so no other node's commit after the load goes
    // unheard; what is heard during the load is applied after it.
    const early: Array<(engine: Engine) => void> = [];
    let deliver = (apply: (engine: Engine) => void): void => {
      early.push(apply);
    };
    await store.shared?.watch({
      tails: (tails) => deliver((engine) => engine.#announced(tails)),
      changed: (scope) => deliver((engine) => void engine.#resync(scope)),
    });
    const snapshot = await store.load();
    const engine = new Engine(store, snapshot.nextStreamId, options);
    engine.#registry.restore(snapshot.streams);
    engine.#restoreSchemas(snapshot.schemaRegistries, true);
    engine.#restoreProfiles(snapshot.profiles, true);
    engine.#log.info(
      `recovered ${engine.#registry.size} streams from the WAL`,
    );
    engine.#sweeper.start();
    engine.#compactor.start(engine.#registry.all());
    engine.#startupSnapshot = snapshot;
    engine.#pollShared(options.wakePollMs ?? 2000);
    deliver = (apply) => apply(engine);
    for (const apply of early.splice(0)) apply(engine);
    return engine;
  }

  // ---- several nodes on one store ------------------------------------------

  /** Starts the safety-net poll when the store is shared. */
  #pollShared(pollMs: number): void {
    if (this.#shared === undefined) return;
    this.#pollTimer = setInterval(() => void this.#poll(), pollMs);
    Deno.unrefTimer(this.#pollTimer);
  }

  /** Another node committed these tails: readers here may go on. */
  #announced(tails: AnnouncedTail[]): void {
    for (const { streamId, tailPos, accessedAtMs } of tails) {
      const state = this.#registry.byId(streamId);
      if (state === undefined || !state.visible || state.deleted) {
        continue; // created elsewhere: the meta announcement reloads
      }
      if (accessedAtMs !== undefined && accessedAtMs > state.accessedAtMs) {
        // Read through another node: its sliding TTL moved there.
        state.accessedAtMs = accessedAtMs;
        state.persistedAccessMs = Math.max(
          state.persistedAccessMs,
          accessedAtMs,
        );
      }
      if (tailPos <= state.visibleTailPos) continue;
      state.visibleTailPos = tailPos;
      state.wakeAll();
      this.#listeners.emit("appended", () => viewOf(state));
    }
  }

  /**
   * The safety net for lost announcements: the committed tails of streams
   * with waiting readers, and a reload of those streams when one of them
   * was deleted or closed elsewhere (or an announced change is not
   * applied yet).
   */
  async #poll(): Promise<void> {
    const shared = this.#shared;
    if (shared === undefined || this.#polling || this.#closed) return;
    this.#polling = true;
    try {
      const ids: number[] = [];
      for (const state of this.#waiters.streams()) ids.push(state.id);
      const found = await shared.poll(ids);
      this.#announced(found.tails);
      if (found.full) await this.#resync();
      else if (found.changed) await this.#resync({ ids, names: [] });
    } catch (error) {
      this.#log.debug(`polling the shared WAL failed: ${error}`);
    } finally {
      this.#polling = false;
    }
  }

  /**
   * Reloads the streams of `scope` (every stream without one) from the
   * shared store once the writer is idle (writes wait meanwhile), waking
   * readers of streams that changed. Calls during a reload add their
   * streams to it and share it.
   *
   * A reload costs the streams it names: a stale commit reloads the
   * streams its rejected requests touched (`#scopeOfOps`), a meta
   * announcement the streams it names, the poll the streams with waiters,
   * a write refused from what this node knew its stream. Only a lost
   * database connection (`#rollBack`), a reconnected listener, a meta
   * announcement too long to name its streams and a poll finding a change
   * elsewhere unapplied for `PG_META_GAP_MS` (its announcement missed)
   * reload every stream.
   */
  #resync(scope?: ReloadScope): Promise<void> {
    const pending = this.#pending;
    if (scope === undefined) pending.full = true;
    else {
      for (const id of scope.ids) pending.ids.add(id);
      for (const name of scope.names) pending.names.add(name);
      pending.metaVersions.push(...scope.metaVersions ?? []);
    }
    if (this.#syncing !== undefined) return this.#syncing;
    const run = async () => {
      await this.#writer.drain();
      while (
        !this.#closed &&
        (pending.full || pending.ids.size > 0 || pending.names.size > 0)
      ) {
        const full = pending.full;
        const taken: ReloadScope = {
          ids: [...pending.ids],
          names: [...pending.names],
          metaVersions: pending.metaVersions.splice(0),
        };
        pending.full = false;
        pending.ids.clear();
        pending.names.clear();
        const loaded = await this.#loadRetrying(() =>
          full ? this.#store.load() : this.#shared!.loadSome(taken)
        );
        if (loaded === undefined) return;
        try {
          if (full) this.#applySnapshot(loaded as WalSnapshot);
          else this.#applyPart(loaded as PartialSnapshot, taken);
        } catch (error) {
          this.#writer.halt(error); // fatal: memory and WAL may disagree
          return;
        }
        this.#reloads.streams += loaded.streams.length;
        if (full) this.#reloads.full++;
        else this.#reloads.partial++;
      }
      this.#writer.resume();
    };
    this.#syncing = run().finally(() => this.#syncing = undefined);
    return this.#syncing;
  }

  /** Streams waiting for the reload in progress (or the next one). */
  readonly #pending = {
    full: false,
    ids: new Set<number>(),
    names: new Set<string>(),
    metaVersions: [] as string[],
  };
  readonly #reloads = { full: 0, partial: 0, streams: 0 };

  /** The streams a refused batch touched, with their fork sources. */
  #scopeOfOps(ops: WalOp[]): ReloadScope {
    const ids = new Set<number>();
    const names: string[] = [];
    for (const op of ops) {
      if (op.op === "create") {
        ids.add(op.stream.id);
        names.push(op.stream.name);
        if (op.stream.forkedFrom !== null) ids.add(op.stream.forkedFrom);
      } else ids.add(op.op === "producer" ? op.row.streamId : op.streamId);
    }
    for (const id of [...ids]) {
      const parent = this.#registry.byId(id)?.parent;
      if (parent !== undefined) ids.add(parent.id);
    }
    return { ids: [...ids], names };
  }

  /** The stream named `name` (known here or not) and its fork source. */
  #scopeOfName(name: string): ReloadScope {
    const state = this.#registry.named(name);
    const ids = state === undefined ? [] : [state.id];
    if (state?.parent !== undefined) ids.push(state.parent.id);
    return { ids, names: [name] };
  }

  /** `load` or `loadSome` of the store, retried while the store is away. */
  async #loadRetrying<T>(load: () => Promise<T>): Promise<T | undefined> {
    for (let attempt = 1;; attempt++) {
      try {
        const snapshot = await load();
        return this.#closed ? undefined : snapshot;
      } catch (error) {
        if (this.#closed) return undefined;
        if (!isRetryable(error)) {
          this.#writer.halt(error);
          return undefined;
        }
        await sleep(
          backoff(
            attempt,
            ROLLBACK_RETRY_MIN_MS,
            ROLLBACK_RETRY_MAX_MS,
            Math.random,
          ),
        );
      }
    }
  }

  #applySnapshot(snapshot: WalSnapshot): void {
    const { changed, gone, added } = this.#registry.syncTo(snapshot);
    this.#producersReset();
    this.#restoreSchemas(snapshot.schemaRegistries, true);
    this.#restoreProfiles(snapshot.profiles, true);
    this.#emitSynced(changed, gone, added);
  }

  #applyPart(part: PartialSnapshot, scope: ReloadScope): void {
    const { changed, gone, loaded, added } = this.#registry.syncSome(
      part,
      scope.ids,
      scope.names,
    );
    this.#producersReset();
    this.#restoreSchemas(part.schemaRegistries, true, loaded);
    this.#restoreProfiles(part.profiles, true, loaded);
    this.#emitSynced(changed, gone, added);
  }

  /**
   * After a reload: wakes readers of streams that changed, and tells the
   * listeners of streams other nodes deleted and created (subscriptions'
   * patterns link the new ones here too).
   */
  #emitSynced(
    changed: StreamState[],
    gone: { name: string; id: number }[],
    added: StreamState[],
  ): void {
    for (const state of changed) state.wakeAll();
    for (const { name, id } of gone) this.#listeners.emitDeleted(name, [id]);
    for (const state of added) {
      if (state.softDeleted || state.deleted) continue;
      this.#listeners.emit("created", () => viewOf(state));
    }
  }

  /**
   * Runs a write; with a shared store, plans it again after a reload when
   * its commit found its streams changed by another node, or when it
   * failed a check that state changed elsewhere might explain (bounded).
   */
  async #fresh<T>(
    name: string,
    work: () => Promise<Result<T>>,
  ): Promise<Result<T>> {
    if (this.#shared === undefined) return await work();
    for (let attempt = 1;; attempt++) {
      if (this.#syncing !== undefined) await this.#syncing;
      try {
        const result = await work();
        if (result.ok || attempt >= STALE_RETRIES_MAX) return result;
        if (attempt === 1) {
          // Refused from what this node knew (not found, expired, closed,
          // a producer's seq): look again with the stream's row at hand.
          await this.#refresh(name);
          continue;
        }
        // A reload in progress has read the store but maybe not applied it.
        if (
          this.#syncing === undefined && await this.#isCurrent(name) &&
          this.#syncing === undefined
        ) return result;
      } catch (error) {
        if (!isStale(error) || attempt >= STALE_RETRIES_MAX) throw error;
        this.#staleRetries++;
        // Nodes racing for one stream: they step back, further each time.
        await sleep(
          Math.random() * STALE_BACKOFF_MS * 2 ** Math.min(attempt - 1, 5),
        );
      }
      await this.#resync(this.#scopeOfName(name));
    }
  }

  /** Whether this node's view of `name` (and of the stream set) is current. */
  async #isCurrent(name: string): Promise<boolean> {
    return await this.#shared!.current(this.#scopeOfName(name).ids, [name]);
  }

  /**
   * With a shared store, writes a read's access time of a stream with a
   * sliding TTL before answering, so the other nodes (which judge its
   * expiry from the store) see the renewal as soon as the client does.
   */
  async #persistAccess(state: StreamState): Promise<void> {
    if (
      this.#shared === undefined || state.ttlSeconds === null ||
      state.accessedAtMs <= state.persistedAccessMs ||
      this.#writer.admit(0) !== undefined
    ) return;
    state.persistedAccessMs = state.accessedAtMs;
    await this.#writer.enqueue([{
      op: "touch",
      streamId: state.id,
      accessedAtMs: state.accessedAtMs,
    }], 0).catch(() => {/* the sweeper writes it later */});
  }

  /**
   * With a shared store, brings the committed tail of `name` up to date
   * before a read (so a read on this node sees what another node
   * acknowledged), reloading when the stream set changed elsewhere.
   */
  async #refresh(name: string): Promise<void> {
    const shared = this.#shared;
    if (shared === undefined) return;
    if (this.#syncing !== undefined) await this.#syncing;
    const scope = this.#scopeOfName(name);
    const found = await shared.poll(scope.ids, [name]);
    this.#announced(found.tails);
    if (found.full) await this.#resync();
    else if (found.changed || this.#syncing !== undefined) {
      await this.#resync(scope);
    }
  }

  #startupSnapshot: WalSnapshot | undefined;

  /**
   * The WAL snapshot the engine started from, once (then forgotten), so
   * tiering need not load every stream a second time at start-up.
   */
  takeStartupSnapshot(): WalSnapshot | undefined {
    const snapshot = this.#startupSnapshot;
    this.#startupSnapshot = undefined;
    return snapshot;
  }

  // ---- hooks (call before serving requests) --------------------------------

  /** Registers a listener for committed changes. */
  addListener(listener: StreamListener): void {
    this.#listeners.add(listener);
  }

  /**
   * Replaces how reads fetch chunks (tiered storage wraps the WAL's reader);
   * `wrap` receives the WAL reader.
   */
  wrapChunkReader(wrap: (wal: ChunkReader) => ChunkReader): void {
    this.#readChunks = wrap(this.#readChunks);
  }

  /**
   * Replaces how keyed reads fetch records (tiered storage skips segment
   * blocks whose bloom filter rules the key out); `make` receives the WAL's
   * plain reader.
   */
  wrapKeyedReader(make: (wal: ChunkReader) => KeyedChunkReader): void {
    this.#readKeyed = make(this.#walChunks);
  }

  /**
   * Sets where `filter=`, `_search` and `_aggregate` learn which ranges of
   * a stream cannot match (tiering: the uploaded segments' companions).
   */
  setSearchPruner(pruner: SearchPruner): void {
    this.#pruner = pruner;
  }

  /**
   * Replaces how `since=` finds a record by time (tiered storage searches
   * segments by their time bounds); `make` receives the WAL's seeker.
   */
  wrapTimeSeeker(make: (wal: TimeSeeker) => TimeSeeker): void {
    this.#seekTime = make(this.#walSeek);
  }

  /**
   * Lets key listings (`routingKeys`) take the keys of indexed ranges from
   * `source` instead of reading their records.
   */
  setKeyLexicon(source: KeyLexiconSource): void {
    this.#keyLexicon = source;
  }

  /**
   * Adds a check to creates with a body and appends with data (closes,
   * deletes and empty creates pass).
   */
  setAdmissionGate(gate: AdmissionGate): void {
    this.#gate = gate;
  }

  /**
   * Sets where JSON appends take their routing keys from when the stream's
   * schema registry has no pointer, before `Stream-Key` (say, a profile's
   * default key). Must not await: it runs between the checks and the
   * assignment of an append.
   */
  setKeyExtractor(extractor: KeyExtractor): void {
    this.#keyExtractor = extractor;
  }

  // ---- lookups and figures -------------------------------------------------

  /** The committed view of stream `name`, without touching its TTL. */
  view(name: string): StreamView | undefined {
    const state = this.#registry.live(name);
    return state !== undefined && state.visible ? viewOf(state) : undefined;
  }

  /** Metadata for HEAD; does not reset the TTL. */
  head(name: string): Result<StreamView> {
    const found = this.#lookup(name, "peek");
    return found.ok ? ok(viewOf(found.value)) : found;
  }

  /**
   * `head`, after bringing the stream up to date with other nodes' commits
   * when the store is shared.
   */
  async headFresh(name: string): Promise<Result<StreamView>> {
    if (this.#shared !== undefined) await this.#refresh(name);
    return this.head(name);
  }

  /**
   * Whether an append or create of `bytes` would be admitted to the write
   * queue now (checked from `Content-Length` before a body is read): an
   * `overloaded` error while the queue is full, `payload_too_large` when it
   * could never fit.
   */
  admitAppendBytes(bytes: number): StreamError | undefined {
    return this.#writer.admit(bytes);
  }

  /**
   * Writes planned again because another node had changed their streams
   * (multi-node only).
   */
  get staleRetries(): number {
    return this.#staleRetries;
  }

  /**
   * Reloads from the shared store (multi-node only): full ones, partial
   * ones, and stream rows loaded by both.
   */
  get reloadStats(): { full: number; partial: number; streams: number } {
    return { ...this.#reloads };
  }

  /** The stream cache's figures (`--stream-cache-bytes`). */
  streamCacheStats(): StreamCacheStats {
    return this.#cache.stats();
  }

  /** Group-commit counters. */
  writerStats(): WriterStats {
    return this.#writer.stats();
  }

  /** Number of live streams. */
  get streamCount(): number {
    return this.#registry.size;
  }

  /** Why writes are refused now (the WAL failed a commit), if they are. */
  get writesRefusedBecause(): string | undefined {
    return this.#writer.refusedBecause;
  }

  /** Number of readers waiting. */
  get waiting(): number {
    return this.#waiters.count;
  }

  /**
   * Takes one slot of the `--waiters-max` budget for a wait run outside the
   * engine (touch waits); call the returned function when the wait ends.
   */
  reserveWaiter(): Result<() => void> {
    return this.#waiters.reserve();
  }

  /** Committed state of every stream, for tiering (see `StreamRegistry.infos`). */
  streamInfos(): Generator<StreamInfo> {
    return this.#registry.infos();
  }

  /** Committed state of the stream with internal id `id`, if it exists. */
  streamInfo(id: number): StreamInfo | undefined {
    return this.#registry.info(id);
  }

  /**
   * With a shared store, reads the rows of the streams with ids `ids` again
   * (their commits through other nodes were not announced here, as far as
   * the caller can tell); resolves once applied.
   */
  reloadStreams(ids: number[]): Promise<void> {
    if (this.#shared === undefined || ids.length === 0) {
      return Promise.resolve();
    }
    return this.#resync({ ids, names: [] });
  }

  /** Live streams whose names start with `prefix`, after `after`, sorted. */
  list(
    prefix: string,
    after: string | undefined,
    limit: number,
  ): { streams: StreamView[]; more: boolean } {
    return this.#registry.list(prefix, after, limit, this.#now());
  }

  /**
   * With a shared store, applies every create, delete, close, schema and
   * profile change committed elsewhere before a listing: when the stored
   * `meta_version` is ahead of what this node applied, it waits up to
   * `META_ANNOUNCE_WAIT_MS` for the announcements (which name the streams
   * to reload) to be applied, then reloads every stream. A lost
   * announcement costs latency, never a listing without a stream another
   * node created.
   */
  async syncStreamSet(): Promise<void> {
    const shared = this.#shared;
    if (shared === undefined) return;
    if (this.#syncing !== undefined) await this.#syncing;
    const found = await shared.poll([]);
    if (found.full) return await this.#resync();
    if (!found.changed) return;
    // Only the changes committed before this listing matter: later ones
    // (another node creating all the while) need not hold it up.
    const target = found.meta;
    const deadline = Date.now() + META_ANNOUNCE_WAIT_MS;
    while (Date.now() < deadline) {
      await sleep(META_ANNOUNCE_POLL_MS);
      if (this.#syncing !== undefined) await this.#syncing;
      if (target !== undefined && shared.metaApplied?.(target)) return;
    }
    await this.#resync();
  }

  /**
   * The stream named `name` for a request: 404 when absent or expired, 410
   * when soft-deleted. `use` says what the request does with it:
   * - `peek`: metadata, waits, and changes that wait for the create (HEAD,
   *   `_schema`, `_profile`, DELETE): committed streams only, TTL untouched;
   * - `read`: reads: committed streams only, and the sliding TTL is reset;
   * - `write`: appends, checked against the assigned state (see the module
   *   header): a stream whose create is still waiting for its commit is
   *   found, and the sliding TTL is reset.
   * A stream whose create has not committed may still fail to commit (a
   * full disk rolls it back), and its initial body is not readable yet, so
   * for `peek` and `read` it does not exist yet: 404, as it was a moment
   * before the create.
   */
  #lookup(name: string, use: "peek" | "read" | "write"): Result<StreamState> {
    const state = this.#registry.named(name);
    const now = this.#now();
    if (state === undefined || !state.visible && use !== "write") {
      return fail("stream_not_found", `Stream "${name}" not found`);
    }
    if (state.softDeleted) {
      return fail(
        "stream_gone",
        `Stream "${name}" was deleted; its forks still read from it`,
      );
    }
    if (state.isExpired(now)) {
      this.#expire(state);
      return fail("stream_not_found", `Stream "${name}" not found (expired)`);
    }
    if (use !== "peek" && state.accessedAtMs !== now) {
      state.accessedAtMs = now;
      this.#sweeper.touched(state);
    }
    return ok(state);
  }

  // ---- create --------------------------------------------------------------

  /** Creates a stream, or confirms one with the same config (§5.1). */
  create(
    name: string,
    request: CreateRequest,
  ): Promise<Result<CreateOutcome>> {
    const source = request.fork?.source;
    return this.#fresh(name, async () => {
      if (this.#shared !== undefined) {
        // An expired name is taken again only by its stored access time; a
        // fork is checked against its source's committed tail.
        await this.#refresh(name);
        if (source !== undefined) await this.#refresh(source);
      }
      return await this.#createOnce(name, request);
    });
  }

  async #createOnce(
    name: string,
    request: CreateRequest,
  ): Promise<Result<CreateOutcome>> {
    this.#assertOpen();
    let loads = this.#loadsPending(); // see there
    while (loads !== undefined) {
      await loads;
      loads = this.#loadsPending();
    }
    const existing = this.#existingForCreate(name);
    if (existing !== undefined) {
      return await this.#confirmExisting(existing, request);
    }
    const now = this.#now();
    const source = request.fork && this.#registry.named(request.fork.source);
    const fork = checkFork(request, source, now);
    if (!fork.ok) return fork;
    const registry = this.#registry;
    const planned = planCreate(
      name,
      request,
      fork.value,
      registry.nextStreamId,
      now,
      (view, json, framed, schema) =>
        recordKeys(
          view,
          json,
          framed,
          request.routingKey,
          this.#keyExtractor,
          this.#limits.routingKeyBytesMax,
          schema,
        ),
    );
    if (!planned.ok) return planned;
    registry.nextStreamId++;
    const { state, ops, bytes } = planned.value;
    const refused = this.#admit(bytes);
    if (refused !== undefined) return { ok: false, error: refused };
    registry.adopt(state);
    // Assigned: nothing awaited since the checks above. This commit makes
    // the stream visible as created: its committed tail and closure come
    // from the create's row (`planCreate`). Appends or a close assigned
    // after it publish their own when they commit, maybe in a later batch,
    // so the assigned fields, which already include them, are not copied.
    const { schema, profile } = state;
    await this.#writer.enqueue(ops, bytes, () => {
      state.visibleSchema = schema;
      state.visibleProfile = profile;
      state.visible = true;
      this.#listeners.emit("created", () => viewOf(state));
    });
    return ok({ created: true, stream: viewOf(state) });
  }

  #existingForCreate(name: string): StreamState | undefined {
    const state = this.#registry.named(name);
    if (state === undefined) return undefined;
    if (!state.softDeleted && state.isExpired(this.#now())) {
      // (With a shared store, `create` refreshed the stream just before.)
      this.#expireNow(state);
      return this.#registry.softDeleted(name);
    }
    return state;
  }

  async #confirmExisting(
    state: StreamState,
    request: CreateRequest,
  ): Promise<Result<CreateOutcome>> {
    if (state.softDeleted) {
      return fail(
        "stream_exists",
        `Stream "${state.name}" was deleted and still has forks; its name cannot be reused yet`,
      );
    }
    const forkSource = request.fork === undefined
      ? undefined
      : this.#registry.live(request.fork.source);
    const mismatch = configMismatch(state, request, forkSource);
    if (mismatch !== undefined) {
      return fail(
        "config_mismatch",
        `Stream "${state.name}" already exists with a different ${mismatch}`,
      );
    }
    await this.#writer.barrier();
    if (
      this.#shared !== undefined && !await this.#shared.current([state.id])
    ) {
      throw staleError("Create", `stream "${state.name}" changed elsewhere`);
    }
    return ok({ created: false, stream: viewOf(state) });
  }

  /** Resolves a fork sub-offset into a position (needs a read of the source). */
  async resolveForkSubOffset(
    request: CreateRequest,
  ): Promise<Result<CreateRequest>> {
    const fork = request.fork;
    if (
      fork === undefined || fork.subOffset === undefined || fork.subOffset === 0
    ) return ok(request);
    if (this.#shared !== undefined) await this.#refresh(fork.source);
    const parent = this.#registry.live(fork.source);
    if (parent === undefined || !parent.visible) return ok(request); // checkFork reports it
    const base = fork.position ?? parent.visibleTailPos;
    if (base > parent.visibleTailPos) return ok(request);
    const position = parent.json
      ? await skipRecords(
        this.#readChunks,
        parent,
        base,
        () => parent.visibleTailPos,
        fork.subOffset,
      )
      : base + fork.subOffset;
    if (position === undefined || position > parent.visibleTailPos) {
      return fail(
        "bad_request",
        `Stream-Fork-Sub-Offset ${fork.subOffset} is beyond the source tail`,
      );
    }
    return ok({
      ...request,
      fork: { ...fork, position, subOffset: undefined },
    });
  }

  // ---- append and close ----------------------------------------------------

  /** Appends and/or closes (§5.2, §5.3), with producer and Stream-Seq checks. */
  append(
    name: string,
    request: AppendRequest,
  ): Promise<Result<AppendOutcome>> {
    return this.#fresh(name, () => this.#appendOnce(name, request));
  }

  /**
   * A producer request first pins its stream's producer states, loading
   * them from the WAL when they are not in memory (never used since
   * start-up, or dropped by the stream cache); when they are, nothing is
   * awaited before the check. A write that arrives while loads run waits
   * for them first (`#loadsPending`), so writes are still assigned in the
   * order they came.
   */
  async #appendOnce(
    name: string,
    request: AppendRequest,
  ): Promise<Result<AppendOutcome>> {
    this.#assertOpen();
    let loads = this.#loadsPending(); // see there
    while (loads !== undefined) {
      await loads;
      loads = this.#loadsPending();
    }
    if (request.producer === undefined) {
      return await this.#appendPinned(name, request);
    }
    // Refused now if the stream is missing, gone or expired, as it would be
    // without a load: a lookup may expire it, which later requests see.
    const found = this.#lookup(name, "write");
    if (!found.ok) return found;
    let pinned: StreamState | undefined;
    let hit = true;
    try {
      for (let attempt = 1;; attempt++) {
        const state = this.#registry.named(name);
        if (state === undefined) break; // the lookup answers
        this.#cache.pin(state);
        pinned = state;
        const loading = this.#loading.get(state) ??
          (state.producersLoaded ? undefined : this.#loadProducers(state));
        if (loading === undefined) break;
        hit = false;
        const error = await loading;
        if (error !== undefined) throw error;
        // A reload may have replaced the stream or reset its states meanwhile.
        if (state.producersLoaded && this.#registry.named(name) === state) {
          break;
        }
        this.#cache.unpin(state);
        pinned = undefined;
        if (attempt >= STREAM_CACHE_LOAD_ATTEMPTS_MAX) {
          throw new StreamError(
            "unavailable",
            `Cannot append to stream "${name}": its producer states kept changing while they loaded`,
            { retryAfterSeconds: 1 },
          );
        }
      }
      this.#cache.count(hit);
      return await this.#appendPinned(name, request);
    } finally {
      if (pinned !== undefined) this.#cache.unpin(pinned);
    }
  }

  /**
   * `#appendOnce` once a producer request's stream has its producer states
   * loaded and pinned: no await between here and the assignment.
   */
  async #appendPinned(
    name: string,
    request: AppendRequest,
  ): Promise<Result<AppendOutcome>> {
    const found = this.#lookup(name, "write");
    if (!found.ok) return found;
    const state = found.value;
    assert(
      request.producer === undefined || state.producersLoaded,
      `stream "${name}": producer states are not loaded`,
    );
    const checked = checkAppend(state, request, this.#now());
    if (!checked.ok) return checked;
    if (checked.value.kind === "echo") {
      const { answer } = checked.value;
      await this.#writer.barrier();
      if (
        this.#shared !== undefined && !await this.#shared.current([state.id])
      ) {
        // A duplicate answers with the producer's highest seq: take it
        // from the store, not from a copy another node has moved past.
        throw staleError("Append", `stream "${name}" changed elsewhere`);
      }
      return ok(answer());
    }
    const write = checked.value.write;
    const keys = recordKeys(
      viewOf(state),
      state.json,
      write.framed,
      request.routingKey,
      this.#keyExtractor,
      this.#limits.routingKeyBytesMax,
      state.schema,
    );
    if (!keys.ok) return keys;
    write.keys = keys.value;
    const plan = planAppend(state, request, write, this.#now());
    const refused = this.#admit(plan.bytes);
    if (refused !== undefined) return { ok: false, error: refused };
    assign(state, plan.assigned);
    if (plan.assigned.producer !== undefined) this.#cache.use(state);
    // Assigned: nothing awaited since the checks above.
    const { tailPos: endPos, closed } = plan.assigned;
    await this.#writer.enqueue(plan.ops, plan.bytes, () => {
      if (state.deleted) return;
      state.visibleTailPos = Math.max(state.visibleTailPos, endPos);
      state.visibleClosed ||= closed;
      state.wakeAll();
      this.#compactor.offer(state);
      this.#listeners.emit("appended", () => viewOf(state));
    });
    return ok(plan.outcome);
  }

  /**
   * The loads of producer states running now, or `undefined` when none
   * runs. A write that arrives while some run waits for them, and again
   * while others started meanwhile (checked in the turn it goes on in, with
   * no await between the check and the write), so it is assigned after every
   * producer append that came before it and waits for its load: arrival
   * order holds across streams (a fork reads its source, a create a name a
   * delete frees). When none runs the write goes on in the same turn, as
   * every write did before loads existed.
   */
  #loadsPending(): Promise<unknown> | undefined {
    if (this.#loading.size === 0) return undefined;
    return this.#loadBarrier ??= Promise.all(this.#loading.values());
  }

  /**
   * Loads `state`'s producer states from the WAL once, however many
   * requests wait for them; resolves with the error when the load failed
   * (never rejects: waiters that need no states go on regardless). A load
   * that a reload overtook (`#loading` cleared meanwhile) is not applied:
   * what it read may be older than the reloaded stream.
   */
  #loadProducers(state: StreamState): Promise<unknown> {
    const load: Promise<unknown> = this.#store.loadProducers(state.id).then(
      (rows) => {
        if (this.#loading.get(state) !== load) return undefined;
        this.#loadingDone(state);
        if (state.deleted || state.producersLoaded) return undefined;
        state.loadProducers(rows);
        if (state.producers.size > 0) this.#cache.use(state);
        return undefined;
      },
      (error) => {
        if (this.#loading.get(state) === load) this.#loadingDone(state);
        return error;
      },
    );
    this.#loading.set(state, load);
    this.#loadBarrier = undefined;
    return load;
  }

  #loadingDone(state: StreamState): void {
    this.#loading.delete(state);
    this.#loadBarrier = undefined;
  }

  /** A reload from the WAL unloaded producer states: forget their loads. */
  #producersReset(): void {
    this.#loading.clear();
    this.#loadBarrier = undefined;
    this.#cache.prune();
  }

  /** The writer's queue limits, then the gate for writes that add bytes. */
  #admit(bytes: number): StreamError | undefined {
    return this.#writer.admit(bytes) ??
      (bytes > 0 ? this.#gate?.admit(bytes) : undefined);
  }

  // ---- schema registry -----------------------------------------------------

  /** The committed schema registry of stream `name` (empty without one). */
  schemaRegistry(
    name: string,
  ): Result<{ stream: StreamView; registry: Registry }> {
    const found = this.#lookup(name, "peek");
    if (!found.ok) return found;
    const state = found.value;
    return ok({
      stream: viewOf(state),
      registry: registryOf(state, state.visibleSchema),
    });
  }

  /**
   * `schemaRegistry`, after bringing the stream up to date with other
   * nodes' commits when the store is shared (a schema change made
   * elsewhere is seen at once, even if its announcement is late or lost).
   */
  async schemaRegistryFresh(
    name: string,
  ): Promise<Result<{ stream: StreamView; registry: Registry }>> {
    if (this.#shared !== undefined) await this.#refresh(name);
    return this.schemaRegistry(name);
  }

  /**
   * Applies a `POST .../_schema` body. The change is planned against the
   * assigned state and assigned with no `await` between (like an append):
   * the new version starts at the assigned tail, appends assigned earlier
   * are older records, and appends after it validate against the new schema.
   * Resolves once the change has committed.
   */
  updateSchema(name: string, body: unknown): Promise<Result<Registry>> {
    return this.#fresh(name, () => this.#updateSchemaOnce(name, body));
  }

  async #updateSchemaOnce(
    name: string,
    body: unknown,
  ): Promise<Result<Registry>> {
    this.#assertOpen();
    let loads = this.#loadsPending(); // see there
    while (loads !== undefined) {
      await loads;
      loads = this.#loadsPending();
    }
    const found = this.#lookup(name, "peek");
    if (!found.ok) return found;
    const state = found.value;
    const planned = planSchemaChange(state, body);
    if (!planned.ok) return planned;
    const refused = this.#writer.admit(0);
    if (refused !== undefined) return { ok: false, error: refused };
    const { active, op } = planned.value;
    state.schema = active;
    // Assigned: nothing awaited since the checks above.
    await this.#writer.enqueue([op], 0, () => {
      if (state.deleted) return;
      state.visibleSchema = active;
      this.#listeners.emit("schemaChanged", () => viewOf(state));
    });
    return ok(active.registry);
  }

  /**
   * Puts stored registries on their streams: at startup (committed, so
   * visible too) and after a full disk (assigned only).
   */
  #restoreSchemas(
    rows: WalSnapshot["schemaRegistries"],
    visible: boolean,
    states: Iterable<StreamState> = this.#registry.all(),
  ): void {
    const restored = restoredRegistries(rows);
    if (!restored.ok) throw restored.error;
    for (const state of states) {
      const active: ActiveRegistry | null = restored.value.get(state.id) ??
        null;
      if (active !== null) clampBoundaries(active, state.tailPos);
      state.schema = active;
      if (visible) state.visibleSchema = active;
    }
  }

  // ---- profiles ------------------------------------------------------------

  /**
   * `profile`, after bringing the stream up to date with other nodes'
   * commits when the store is shared (a profile installed elsewhere is
   * seen at once, even if its announcement is late or lost).
   */
  async profileFresh(
    name: string,
  ): Promise<Result<{ stream: StreamView; options: ProfileOptions }>> {
    if (this.#shared !== undefined) await this.#refresh(name);
    return this.profile(name);
  }

  /** The committed profile of stream `name` (`generic` without one). */
  profile(
    name: string,
  ): Result<{ stream: StreamView; options: ProfileOptions }> {
    const found = this.#lookup(name, "peek");
    if (!found.ok) return found;
    const state = found.value;
    return ok({ stream: viewOf(state), options: state.visibleProfile.options });
  }

  /**
   * Applies a `POST .../_profile` with validated `options`. Planned against
   * the assigned state and assigned with no `await` between (like a schema
   * change): a profile whose canonical registry needs an empty stream sees
   * appends still waiting for their commit, and appends assigned after it
   * are normalized by it. The profile and the registry it installs commit in
   * one batch. Resolves once that commit is done, with the stored options
   * and the registry's revision when a registry was installed.
   */
  installProfile(
    name: string,
    options: ProfileOptions,
  ): Promise<Result<ProfileInstalled>> {
    return this.#fresh(name, () => this.#installProfileOnce(name, options));
  }

  async #installProfileOnce(
    name: string,
    options: ProfileOptions,
  ): Promise<Result<ProfileInstalled>> {
    this.#assertOpen();
    let loads = this.#loadsPending(); // see there
    while (loads !== undefined) {
      await loads;
      loads = this.#loadsPending();
    }
    const found = this.#lookup(name, "peek");
    if (!found.ok) return found;
    const state = found.value;
    const planned = planProfileChange(state, options);
    if (!planned.ok) return planned;
    const refused = this.#writer.admit(0);
    if (refused !== undefined) return { ok: false, error: refused };
    const { active, schema, ops } = planned.value;
    const previous = state.profile.options;
    state.profile = active;
    if (schema !== undefined) state.schema = schema;
    // Assigned: nothing awaited since the checks above.
    await this.#writer.enqueue(ops, 0, () => {
      if (state.deleted) return;
      const before = state.visibleProfile.options;
      state.visibleProfile = active;
      if (schema !== undefined) {
        state.visibleSchema = schema;
        this.#listeners.emit("schemaChanged", () => viewOf(state));
      }
      this.#listeners.emitProfileChanged(viewOf(state), before);
    });
    return ok({
      options: active.options,
      registry: schema?.registry ?? null,
      previous,
    });
  }

  /**
   * Puts stored profiles on their streams: at startup (committed, so
   * visible too) and after a full disk (assigned only).
   */
  #restoreProfiles(
    rows: WalSnapshot["profiles"],
    visible: boolean,
    states: Iterable<StreamState> = this.#registry.all(),
  ): void {
    const restored = restoredProfiles(rows);
    if (!restored.ok) throw restored.error;
    for (const state of states) {
      const active = restored.value.get(state.id) ?? GENERIC_PROFILE;
      state.profile = active;
      if (visible) state.visibleProfile = active;
    }
  }

  // ---- delete and expiry ---------------------------------------------------

  /** Deletes a stream; soft-deletes it while forks read from it (§5.4). */
  delete(name: string): Promise<Result<void>> {
    return this.#fresh(name, () => this.#deleteOnce(name));
  }

  async #deleteOnce(name: string): Promise<Result<void>> {
    this.#assertOpen();
    let loads = this.#loadsPending(); // see there
    while (loads !== undefined) {
      await loads;
      loads = this.#loadsPending();
    }
    const found = this.#lookup(name, "peek");
    if (!found.ok) return found;
    const refused = this.#writer.admit(0);
    if (refused !== undefined) return { ok: false, error: refused };
    const { ops, removed } = this.#registry.unlink(found.value);
    for (const state of removed) this.#cache.forget(state);
    await this.#writer.enqueue(
      ops,
      0,
      () => this.#registry.deleteCommitted(removed),
    );
    this.#listeners.emitDeleted(name, changedIds(found.value, removed));
    return ok(undefined);
  }

  // Expiry that cannot be written now (writes refused) waits for the next
  // sweep or lookup; the stream already answers 404 meanwhile.
  #expire(state: StreamState): void {
    if (this.#shared !== undefined) {
      void this.#expireShared(state);
      return;
    }
    this.#expireNow(state);
  }

  readonly #confirming = new Set<StreamState>();

  /**
   * With a shared store, another node may have kept the stream alive by
   * reading it: expire only once its access time in the store says so too.
   */
  async #expireShared(state: StreamState): Promise<void> {
    if (this.#confirming.has(state)) return;
    this.#confirming.add(state);
    try {
      const found = await this.#shared!.poll([state.id]);
      this.#announced(found.tails);
      if (found.full) await this.#resync();
      else if (found.changed) {
        await this.#resync(this.#scopeOfName(state.name));
      }
      // Other nodes write their readers' access times a sweep late.
      if (
        this.#registry.byId(state.id) === state && !state.deleted &&
        state.isExpired(this.#now() - SHARED_EXPIRY_GRACE_MS)
      ) this.#expireNow(state);
    } catch (error) {
      this.#log.debug(`expiry check of "${state.name}" failed: ${error}`);
    } finally {
      this.#confirming.delete(state);
    }
  }

  #expireNow(state: StreamState): void {
    if (this.#syncing !== undefined) return;
    if (this.#writer.admit(0) !== undefined) return;
    this.#log.debug(`stream "${state.name}" expired`);
    const { ops, removed } = this.#registry.unlink(state);
    for (const gone of removed) this.#cache.forget(gone);
    this.#writer.enqueue(ops, 0, () => this.#registry.deleteCommitted(removed))
      .then(
        () =>
          this.#listeners.emitDeleted(
            state.name,
            changedIds(state, removed),
          ),
        () => {/* refused: logged by the writer's owner */},
      );
  }

  // ---- reads and live waits --------------------------------------------------

  /** Bytes read for readers, by tier (the tier's reader adds its own). */
  readonly readBytes: TierReadBytes = new TierReadBytes();
  readonly #walChunks: ChunkReader = async (
    id: number,
    from: number,
    end: number,
    bytesMax: number,
  ): Promise<Chunk[]> => {
    const chunks = await this.#store.readChunks(id, from, end, bytesMax);
    this.readBytes.wal += bytesFrom(chunks, from);
    return chunks;
  };
  #readChunks: ChunkReader = this.#walChunks;
  #readKeyed: KeyedChunkReader = (id, from, end, bytesMax) =>
    this.#readChunks(id, from, end, bytesMax);
  // Every record, through whatever reader tiering installed.
  readonly #readAll: KeyedChunkReader = (id, from, end, bytesMax) =>
    this.#readChunks(id, from, end, bytesMax);
  readonly #walSeek: TimeSeeker = (id, from, end, timeMs) =>
    this.#store.seekTime(id, from, end, timeMs);
  #seekTime: TimeSeeker = this.#walSeek;
  #keyLexicon: KeyLexiconSource | undefined;
  #pruner: SearchPruner | undefined;

  /**
   * Reads the records of `name` from `position` whose routing key is `key`
   * (byte for byte), examining at most `scanBytesMax` stored bytes. The
   * next offset is the position after the last record examined, so a
   * client never rescans records that did not match.
   */
  async readKeyed(
    name: string,
    position: number | "start" | "now",
    key: Uint8Array,
    bytesMax: number = this.#limits.readBytesMax,
    scanBytesMax: number = this.#limits.keyedScanBytesMax,
  ): Promise<Result<KeyedReadOutcome>> {
    if (this.#shared !== undefined) await this.#refresh(name);
    const found = this.#lookup(name, "read");
    if (!found.ok) return found;
    return ok(
      await readKeyedFrom(this.#readKeyed, found.value, position, key, {
        bytesMax,
        scanBytesMax,
        sliceBytes: KEYED_READ_SLICE_BYTES,
      }),
    );
  }

  /**
   * Reads the records of `name` from `position` that match the `filter=`
   * expression `filterText` (and, with `key`, whose routing key is `key`),
   * examining at most `--filter-scan-bytes-max` stored bytes and scanning
   * for at most the filter time budget. The next offset is the position
   * after the last record examined.
   */
  async readFiltered(
    name: string,
    position: number | "start" | "now",
    filterText: string,
    key: Uint8Array | undefined,
    bytesMax: number = this.#limits.readBytesMax,
  ): Promise<Result<FilteredReadOutcome>> {
    const found = this.#lookup(name, "read");
    if (!found.ok) return found;
    const state = found.value;
    const filter = compileFilter(state, filterText);
    if (!filter.ok) return filter;
    const read = key === undefined ? this.#readAll : this.#readKeyed;
    return await readFilteredFrom(read, state, position, filter.value, key, {
      bytesMax,
      scanBytesMax: this.#limits.filterScanBytesMax,
      sliceBytes: KEYED_READ_SLICE_BYTES,
      timeBudgetMs: FILTER_READ_TIME_BUDGET_MS,
    }, this.#pruner);
  }

  /** Runs a `_search` body over the records of `name` (specs/search.md §3). */
  async search(
    name: string,
    body: Record<string, unknown>,
    positions: SearchPositions,
  ): Promise<Result<SearchOutcome>> {
    const found = this.#lookup(name, "read");
    if (!found.ok) return found;
    return await runSearch(this.#readAll, found.value, body, positions, {
      sliceBytes: KEYED_READ_SLICE_BYTES,
    }, this.#pruner);
  }

  /** Runs an `_aggregate` body over the records of `name` (specs/search.md §4). */
  async aggregate(
    name: string,
    body: Record<string, unknown>,
    positions: SearchPositions,
  ): Promise<Result<AggregateOutcome>> {
    const found = this.#lookup(name, "read");
    if (!found.ok) return found;
    return await runAggregate(this.#readAll, found.value, body, positions, {
      sliceBytes: KEYED_READ_SLICE_BYTES,
      timeoutMs: AGGREGATE_TIMEOUT_MS,
    }, this.#pruner);
  }

  /**
   * A page of the distinct routing keys of `name` after `after`, ascending
   * by bytes: the index's lexicons of indexed ranges, merged with a scan of
   * the rest from the stream's start for at most `scanBytesMax` stored
   * bytes (see `listKeys`). `splitPos` splits the
   * count of records examined (the WAL start, for coverage figures).
   */
  async routingKeys(
    name: string,
    options: {
      after: Uint8Array | undefined;
      limit: number;
      splitPos: number;
      scanBytesMax?: number;
    },
  ): Promise<Result<KeyPage>> {
    const found = this.#lookup(name, "read");
    if (!found.ok) return found;
    const state = found.value;
    return ok(
      await listKeys(this.#readChunks, state, state.visibleTailPos, {
        after: options.after,
        limit: options.limit,
        scanBytesMax: options.scanBytesMax ?? this.#limits.keyedScanBytesMax,
        sliceBytes: KEYED_READ_SLICE_BYTES,
        splitPos: options.splitPos,
        lexicon: this.#keyLexicon,
      }),
    );
  }

  /**
   * The position of the first record of `name` appended at or after
   * `timeMs` (its committed tail when there is none), across its fork
   * chain: times never decrease along a stream's records.
   */
  async positionAtTime(
    name: string,
    timeMs: number,
  ): Promise<Result<number>> {
    const found = this.#lookup(name, "read");
    if (!found.ok) return found;
    const state = found.value;
    return ok(
      await seekChain(this.#seekTime, state, state.visibleTailPos, timeMs),
    );
  }

  /**
   * Reads from `position` (`"start"`, `"now"` or a byte position) up to the
   * read cap. A position inside a record reads from that record's start; one
   * beyond the tail reads as the tail (nothing yet, next offset the tail).
   * `fresh`: this request's state was brought up to date a moment ago (a
   * wait that just returned "changed", a read just before a wait), so a
   * shared store's tail is not read again first: a live reader on several
   * nodes saves a round trip per wake.
   */
  async read(
    name: string,
    position: number | "start" | "now",
    bytesMax: number = this.#limits.readBytesMax,
    fresh = false,
  ): Promise<Result<ReadOutcome>> {
    if (this.#shared !== undefined && !fresh) await this.#refresh(name);
    const found = this.#lookup(name, "read");
    if (!found.ok) return found;
    const state = found.value;
    await this.#persistAccess(state);
    const tailPos = state.visibleTailPos;
    const fromPos = position === "start"
      ? 0
      : position === "now"
      ? tailPos
      : Math.min(position, tailPos);
    const got = await gatherShared(
      this.#readChunks,
      state,
      fromPos,
      tailPos,
      bytesMax,
    );
    const upToDate = got.endPos >= tailPos;
    const data = state.json
      ? promoteStored(state.visibleSchema, got.startPos, got.data)
      : { ok: true as const, value: got.data };
    if (!data.ok) {
      this.#log.error(`stream "${name}": ${data.error.message}`);
      return data;
    }
    return ok({
      stream: viewOf(state),
      startPos: got.startPos,
      nextPos: got.endPos,
      data: data.value,
      upToDate,
      closed: upToDate && state.visibleClosed &&
        tailPos === state.visibleTailPos,
    });
  }

  /**
   * Waits until stream `name` has committed data past `position`, is closed,
   * or is gone; or until `timeoutMs` passes or `signal` aborts. `fresh`:
   * as for `read` (the caller's read just brought the tail up to date).
   */
  waitForData(
    name: string,
    position: number,
    timeoutMs: number,
    signal?: AbortSignal,
    fresh = false,
  ): Promise<Result<WaitOutcome>> {
    if (this.#shared !== undefined && !fresh) {
      return this.#refresh(name).then(() =>
        this.#waitForData(name, position, timeoutMs, signal)
      );
    }
    return this.#waitForData(name, position, timeoutMs, signal);
  }

  #waitForData(
    name: string,
    position: number,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<Result<WaitOutcome>> {
    const found = this.#lookup(name, "peek");
    if (!found.ok) return Promise.resolve(found);
    const state = found.value;
    if (state.visibleTailPos > position || state.visibleClosed) {
      return Promise.resolve(ok("changed"));
    }
    return this.#waiters.wait(state, timeoutMs, signal);
  }

  // ---- rolling back after a failed commit -----------------------------------

  /**
   * A commit failed for a passing reason (a full disk, a lost database
   * connection): the WAL kept nothing of it, and the writer refused every
   * request still queued. Memory's assigned state (positions, producers,
   * Stream-Seq, closes, creates, deletes) ran ahead of the WAL, so it is
   * reset to what the WAL holds, then writes resume. Committed (visible)
   * state never moved, so readers notice nothing. While the WAL cannot be
   * read either (the database is still away), writes stay refused and the
   * load is retried.
   */
  async #rollBack(cause: StreamError): Promise<void> {
    for (let attempt = 1;; attempt++) {
      try {
        const snapshot = await this.#store.load();
        if (this.#closed) return;
        if (this.#shared !== undefined) {
          // Other nodes moved on too: take everything from the WAL.
          this.#applySnapshot(snapshot);
          this.#log.warn(`${cause.message}: reloaded the shared WAL`);
          this.#writer.resume();
          return;
        }
        const undone = this.#registry.resetTo(snapshot);
        this.#producersReset();
        this.#restoreSchemas(snapshot.schemaRegistries, false);
        this.#restoreProfiles(snapshot.profiles, false);
        this.#log.warn(
          `${cause.message}: ${undone} uncommitted stream changes undone; writes resume once the WAL takes them`,
        );
        this.#writer.resume();
        return;
      } catch (error) {
        if (this.#closed) return;
        if (!isRetryable(error)) {
          this.#writer.halt(error); // fatal: memory and WAL may disagree
          return;
        }
        if (attempt === 1) {
          this.#log.warn(
            `${cause.message}; writes are refused until the WAL can be read again`,
          );
        }
        await sleep(
          backoff(
            attempt,
            ROLLBACK_RETRY_MIN_MS,
            ROLLBACK_RETRY_MAX_MS,
            Math.random,
          ),
        );
      }
    }
  }

  // ---- lifecycle -----------------------------------------------------------

  #assertOpen(): void {
    if (this.#closed) {
      throw new StreamError("unavailable", "Server is shutting down");
    }
  }

  /** Stops taking writes, waits for queued ones to commit, wakes waiters. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#pollTimer);
    this.#sweeper.stop();
    await this.#compactor.stop();
    await this.#writer.drain();
    for (const state of this.#registry.all()) state.wakeAll();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Ids a delete of `state` changed: itself and the sources removed with it. */
function changedIds(state: StreamState, removed: StreamState[]): number[] {
  const ids = removed.map((s) => s.id);
  if (!ids.includes(state.id)) ids.push(state.id);
  return ids;
}
