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
 * WAL takes them again (`#rollBack`). About 780 lines, most
 * of them JSDoc: each method is the few steps of orchestration that must
 * stay together for that invariant to be visible in one place.
 */

import type { LimitsConfig } from "../config.ts";
import { fail, ok, type Result, StreamError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { backoff } from "../backoff.ts";
import {
  AGGREGATE_TIMEOUT_MS,
  FILTER_READ_TIME_BUDGET_MS,
  KEYED_READ_SLICE_BYTES,
  ROLLBACK_RETRY_MAX_MS,
  ROLLBACK_RETRY_MIN_MS,
} from "../limits.ts";
import type { ActiveRegistry, Registry } from "../schema/registry.ts";
import {
  type Chunk,
  isRetryable,
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
import { Sweeper } from "./sweeper.ts";
import type {
  AdmissionGate,
  AppendOutcome,
  AppendRequest,
  CreateOutcome,
  CreateRequest,
  KeyedReadOutcome,
  KeyExtractor,
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
  #gate: AdmissionGate | undefined;
  #keyExtractor: KeyExtractor | undefined;
  #closed = false;

  private constructor(
    store: WalStore,
    nextStreamId: number,
    options: EngineOptions,
  ) {
    this.#store = store;
    this.#limits = options.limits;
    this.#log = options.log;
    this.#now = options.now ?? Date.now;
    this.#registry = new StreamRegistry(nextStreamId);
    this.#waiters = new Waiters(options.limits.waitersMax);
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
      },
      this.#now,
    );
    this.#sweeper = new Sweeper(this.#registry, {
      now: this.#now,
      expire: (state) => this.#expire(state),
      write: (ops) => {
        if (this.#writer.admit(0) !== undefined) return;
        this.#writer.enqueue(ops, 0).catch(
          () => {/* fatal path already logged */},
        );
      },
    });
  }

  /** Loads every stream from `store` and starts the sweeper and compaction. */
  static async open(store: WalStore, options: EngineOptions): Promise<Engine> {
    const snapshot = await store.load();
    const engine = new Engine(store, snapshot.nextStreamId, options);
    engine.#registry.restore(snapshot.streams, snapshot.producers);
    engine.#restoreSchemas(snapshot.schemaRegistries, true);
    engine.#log.info(
      `recovered ${engine.#registry.size} streams from the WAL`,
    );
    engine.#sweeper.start();
    engine.#compactor.start(engine.#registry.all());
    return engine;
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
    const found = this.#lookup(name, false);
    return found.ok ? ok(viewOf(found.value)) : found;
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

  /** Group-commit counters. */
  writerStats(): WriterStats {
    return this.#writer.stats();
  }

  /** Number of live streams. */
  get streamCount(): number {
    return this.#registry.size;
  }

  /** Number of readers waiting. */
  get waiting(): number {
    return this.#waiters.count;
  }

  /** Committed state of every stream, for tiering (see `StreamRegistry.infos`). */
  streamInfos(): Generator<StreamInfo> {
    return this.#registry.infos();
  }

  /** Committed state of the stream with internal id `id`, if it exists. */
  streamInfo(id: number): StreamInfo | undefined {
    return this.#registry.info(id);
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
   * The stream named `name` for a request: 404 when absent or expired, 410
   * when soft-deleted. `touch` resets the sliding TTL.
   */
  #lookup(name: string, touch: boolean): Result<StreamState> {
    const state = this.#registry.named(name);
    const now = this.#now();
    if (state === undefined || !state.visible && !touch) {
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
    if (touch && state.accessedAtMs !== now) {
      state.accessedAtMs = now;
      this.#sweeper.touched(state);
    }
    return ok(state);
  }

  // ---- create --------------------------------------------------------------

  /** Creates a stream, or confirms one with the same config (§5.1). */
  async create(
    name: string,
    request: CreateRequest,
  ): Promise<Result<CreateOutcome>> {
    this.#assertOpen();
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
    // Assigned: nothing awaited since the checks above.
    await this.#writer.enqueue(ops, bytes, () => {
      state.visibleSchema = state.schema;
      state.visible = true;
      state.visibleTailPos = state.tailPos;
      state.visibleClosed = state.closed;
      this.#listeners.emit("created", () => viewOf(state));
    });
    return ok({ created: true, stream: viewOf(state) });
  }

  #existingForCreate(name: string): StreamState | undefined {
    const state = this.#registry.named(name);
    if (state === undefined) return undefined;
    if (!state.softDeleted && state.isExpired(this.#now())) {
      this.#expire(state);
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
  async append(
    name: string,
    request: AppendRequest,
  ): Promise<Result<AppendOutcome>> {
    this.#assertOpen();
    const found = this.#lookup(name, true);
    if (!found.ok) return found;
    const state = found.value;
    const checked = checkAppend(state, request);
    if (!checked.ok) return checked;
    if (checked.value.kind === "echo") {
      const { answer } = checked.value;
      await this.#writer.barrier();
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
    const found = this.#lookup(name, false);
    if (!found.ok) return found;
    const state = found.value;
    return ok({
      stream: viewOf(state),
      registry: registryOf(state, state.visibleSchema),
    });
  }

  /**
   * Applies a `POST .../_schema` body. The change is planned against the
   * assigned state and assigned with no `await` between (like an append):
   * the new version starts at the assigned tail, appends assigned earlier
   * are older records, and appends after it validate against the new schema.
   * Resolves once the change has committed.
   */
  async updateSchema(name: string, body: unknown): Promise<Result<Registry>> {
    this.#assertOpen();
    const found = this.#lookup(name, false);
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
  ): void {
    const restored = restoredRegistries(rows);
    if (!restored.ok) throw restored.error;
    for (const state of this.#registry.all()) {
      const active: ActiveRegistry | null = restored.value.get(state.id) ??
        null;
      if (active !== null) clampBoundaries(active, state.tailPos);
      state.schema = active;
      if (visible) state.visibleSchema = active;
    }
  }

  // ---- delete and expiry ---------------------------------------------------

  /** Deletes a stream; soft-deletes it while forks read from it (§5.4). */
  async delete(name: string): Promise<Result<void>> {
    this.#assertOpen();
    const found = this.#lookup(name, false);
    if (!found.ok) return found;
    const refused = this.#writer.admit(0);
    if (refused !== undefined) return { ok: false, error: refused };
    const { ops, removed } = this.#registry.unlink(found.value);
    await this.#writer.enqueue(
      ops,
      0,
      () => this.#registry.deleteCommitted(removed),
    );
    this.#listeners.emitDeleted(name);
    return ok(undefined);
  }

  // Expiry that cannot be written now (writes refused) waits for the next
  // sweep or lookup; the stream already answers 404 meanwhile.
  #expire(state: StreamState): void {
    if (this.#writer.admit(0) !== undefined) return;
    this.#log.debug(`stream "${state.name}" expired`);
    const { ops, removed } = this.#registry.unlink(state);
    this.#writer.enqueue(ops, 0, () => this.#registry.deleteCommitted(removed))
      .then(
        () => this.#listeners.emitDeleted(state.name),
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
    const found = this.#lookup(name, true);
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
    const found = this.#lookup(name, true);
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
    const found = this.#lookup(name, true);
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
    const found = this.#lookup(name, true);
    if (!found.ok) return found;
    return await runAggregate(this.#readAll, found.value, body, positions, {
      sliceBytes: KEYED_READ_SLICE_BYTES,
      timeoutMs: AGGREGATE_TIMEOUT_MS,
    }, this.#pruner);
  }

  /**
   * A page of the distinct routing keys of `name` after `after`, ascending
   * by bytes, found by scanning the stream from its start for at most
   * `scanBytesMax` stored bytes (see `listKeys`). `splitPos` splits the
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
    const found = this.#lookup(name, true);
    if (!found.ok) return found;
    const state = found.value;
    return ok(
      await listKeys(this.#readChunks, state, state.visibleTailPos, {
        after: options.after,
        limit: options.limit,
        scanBytesMax: options.scanBytesMax ?? this.#limits.keyedScanBytesMax,
        sliceBytes: KEYED_READ_SLICE_BYTES,
        splitPos: options.splitPos,
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
    const found = this.#lookup(name, true);
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
   */
  async read(
    name: string,
    position: number | "start" | "now",
    bytesMax: number = this.#limits.readBytesMax,
  ): Promise<Result<ReadOutcome>> {
    const found = this.#lookup(name, true);
    if (!found.ok) return found;
    const state = found.value;
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
   * or is gone; or until `timeoutMs` passes or `signal` aborts.
   */
  waitForData(
    name: string,
    position: number,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<Result<WaitOutcome>> {
    const found = this.#lookup(name, false);
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
        const undone = this.#registry.resetTo(snapshot);
        this.#restoreSchemas(snapshot.schemaRegistries, false);
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
    this.#sweeper.stop();
    await this.#compactor.stop();
    await this.#writer.drain();
    for (const state of this.#registry.all()) state.wakeAll();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
