/**
 * @module
 * The engine: streams, creates, appends, closes, deletes, reads and live
 * waits. It validates every request against the assigned (pending) state,
 * assigns positions synchronously, hands WAL operations to the group-commit
 * writer, and acknowledges only after the commit. Readers see committed
 * data only. The engine knows neither HTTP nor SQL. When a commit fails for
 * a full disk, the assigned state is rolled back to what the WAL holds and
 * writes resume once space returns (`#rollBack`).
 *
 * Past the usual size because every operation reads and changes the same
 * maps (live streams by name and id, soft-deleted names, fork counts) and
 * the same pending/visible pair of each stream, and must do so without an
 * `await` between check and assign. The pure parts live beside it: rules in
 * `protocol/`, group commit in `writer.ts`, reads in `reader.ts`, compaction
 * in `compactor.ts`; tiering lives in `src/tier/` and reaches the engine
 * only through the hooks `server.ts` wires.
 */

import type { LimitsConfig } from "../config.ts";
import { fail, ok, type Result, StreamError } from "../errors.ts";
import type { Logger } from "../log.ts";
import {
  compareStreamSeq,
  DEFAULT_CONTENT_TYPE,
  isJsonContentType,
  mediaType,
} from "../protocol/headers.ts";
import { frameJsonMessages } from "../protocol/json.ts";
import { decideProducer } from "../protocol/producer.ts";
import type {
  Chunk,
  ProducerRow,
  StreamRow,
  WalOp,
  WalSnapshot,
  WalStore,
} from "../storage/wal_store.ts";
import { assert } from "../assert.ts";
import { type ChunkReader, gather } from "./reader.ts";
import { StreamsByName, StreamState } from "./stream_state.ts";
import type {
  AppendOutcome,
  AppendRequest,
  CreateOutcome,
  CreateRequest,
  ReadOutcome,
  StreamInfo,
  StreamView,
} from "./types.ts";
import {
  type CompactionOptions,
  Compactor,
  DEFAULT_COMPACTION,
} from "./compactor.ts";
import { Writer, type WriterStats } from "./writer.ts";
import { concatBytes } from "../bytes.ts";

/**
 * Observes committed changes (subscriptions build on this). Called after the
 * commit, synchronously; listeners must not throw or block.
 */
export interface StreamListener {
  /** A stream was created (its creation committed). */
  created?(stream: StreamView): void;
  /** Data was appended and/or the stream closed; `stream` is the new state. */
  appended?(stream: StreamView): void;
  /** A stream was deleted, soft-deleted or expired. */
  deleted?(name: string): void;
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

/** How a live wait ended. */
export type WaitOutcome = "changed" | "timeout" | "aborted";

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

const SWEEP_INTERVAL_MS = 1000;
/** Reads up to this size are memoised per stream for fan-out to live readers. */
const READ_MEMO_BYTES_MAX = 64 * 1024;

/** Streams on a `WalStore`. Create with `Engine.open`. */
export class Engine {
  #store: WalStore;
  #writer: Writer;
  #limits: LimitsConfig;
  #log: Logger;
  #now: () => number;
  #streams = new StreamsByName();
  /** Streams with a TTL or an expiry time: the only ones the sweep checks. */
  #expiring = new Set<StreamState>();
  /** Streams read since their access time was last written. */
  #accessDirty = new Set<StreamState>();
  #byId = new Map<number, StreamState>();
  /** Soft-deleted streams by name: they still answer 410 and block re-creation. */
  #softDeletedByName = new Map<string, StreamState>();
  /**
   * Streams removed from memory whose delete has not committed yet: the WAL
   * still holds them, so tiering must keep their objects, and a failed
   * commit brings them back.
   */
  #uncommittedDeletes = new Map<number, StreamState>();
  #nextStreamId: number;
  #waiting = 0;
  #listeners: StreamListener[] = [];
  #sweepTimer: ReturnType<typeof setInterval> | undefined;
  #compactor: Compactor;
  #gate: AdmissionGate | undefined;
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
    this.#nextStreamId = nextStreamId;
    this.#compactor = new Compactor(
      store,
      options.compaction ?? DEFAULT_COMPACTION,
      options.log,
    );
    this.#writer = new Writer(
      store,
      options.limits,
      () => this.#nextStreamId,
      {
        onFatal: options.onFatal,
        onDiskFull: () => void this.#rollBack(),
      },
      this.#now,
    );
  }

  /** Loads every stream from `store` and starts the TTL sweeper. */
  static async open(store: WalStore, options: EngineOptions): Promise<Engine> {
    const snapshot = await store.load();
    const engine = new Engine(store, snapshot.nextStreamId, options);
    engine.#restore(snapshot.streams, snapshot.producers);
    const timer = setInterval(() => engine.#sweep(), SWEEP_INTERVAL_MS);
    Deno.unrefTimer(timer);
    engine.#sweepTimer = timer;
    engine.#compactor.start(engine.#byId.values());
    return engine;
  }

  #restore(rows: StreamRow[], producers: ProducerRow[]): void {
    // Rows come in id order and a fork's source always has a smaller id.
    for (const row of rows) {
      const parent = this.#parentOf(row);
      const state = new StreamState(
        row,
        parent,
        isJsonContentType(row.contentType),
      );
      state.visible = true;
      this.#adopt(state);
    }
    this.#setProducers(producers);
    this.#log.info(`recovered ${this.#streams.size} streams from the WAL`);
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

  /** Registers a committed stream in the maps. */
  #adopt(state: StreamState): void {
    if (state.parent !== undefined) state.parent.forkCount++;
    this.#byId.set(state.id, state);
    if (!state.softDeleted) this.#streams.set(state.name, state);
    else this.#softDeletedByName.set(state.name, state);
    if (canExpire(state)) this.#expiring.add(state);
  }

  #setProducers(producers: ProducerRow[]): void {
    for (const p of producers) {
      this.#byId.get(p.streamId)?.producers.set(p.producerId, {
        epoch: p.epoch,
        seq: p.seq,
      });
    }
  }

  /** Registers a listener for committed changes. */
  addListener(listener: StreamListener): void {
    this.#listeners.push(listener);
  }

  #emit(event: "created" | "appended", state: StreamState): void {
    if (this.#listeners.length === 0) return;
    const v = view(state);
    for (const listener of this.#listeners) {
      try {
        listener[event]?.(v);
      } catch (error) {
        this.#log.error(`stream listener failed on ${event}`, error);
      }
    }
  }

  #emitDeleted(name: string): void {
    for (const listener of this.#listeners) {
      try {
        listener.deleted?.(name);
      } catch (error) {
        this.#log.error("stream listener failed on deleted", error);
      }
    }
  }

  /** The committed view of stream `name`, without touching its TTL. */
  view(name: string): StreamView | undefined {
    const state = this.#streams.get(name);
    return state !== undefined && state.visible ? view(state) : undefined;
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
    return this.#streams.size;
  }

  // ---- lookups -------------------------------------------------------------

  /**
   * The stream named `name` for a request: 404 when absent or expired, 410
   * when soft-deleted. `touch` resets the sliding TTL.
   */
  #lookup(name: string, touch: boolean): Result<StreamState> {
    const state = this.#streams.get(name) ?? this.#softDeletedNamed(name);
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
      this.#accessDirty.add(state);
    }
    return ok(state);
  }

  #softDeletedNamed(name: string): StreamState | undefined {
    return this.#softDeletedByName.get(name);
  }

  /** Metadata for HEAD; does not reset the TTL. */
  head(name: string): Result<StreamView> {
    const found = this.#lookup(name, false);
    return found.ok ? ok(view(found.value)) : found;
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
    const planned = this.#planCreate(name, request);
    if (!planned.ok) return planned;
    const { state, ops, bytes } = planned.value;
    const refused = this.#admit(bytes);
    if (refused !== undefined) return { ok: false, error: refused };
    this.#register(state);
    await this.#writer.enqueue(ops, bytes, () => {
      state.visible = true;
      state.visibleTailPos = state.tailPos;
      state.visibleClosed = state.closed;
      this.#emit("created", state);
    });
    return ok({ created: true, stream: view(state) });
  }

  #existingForCreate(name: string): StreamState | undefined {
    const state = this.#streams.get(name) ?? this.#softDeletedNamed(name);
    if (state === undefined) return undefined;
    if (!state.softDeleted && state.isExpired(this.#now())) {
      this.#expire(state);
      return this.#softDeletedNamed(name);
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
    const mismatch = configMismatch(
      state,
      request,
      this.#resolveForkSource(request),
    );
    if (mismatch !== undefined) {
      return fail(
        "config_mismatch",
        `Stream "${state.name}" already exists with a different ${mismatch}`,
      );
    }
    await this.#writer.barrier();
    return ok({ created: false, stream: view(state) });
  }

  #resolveForkSource(request: CreateRequest): StreamState | undefined {
    return request.fork === undefined
      ? undefined
      : this.#streams.get(request.fork.source);
  }

  #planCreate(
    name: string,
    request: CreateRequest,
  ): Result<{ state: StreamState; ops: WalOp[]; bytes: number }> {
    const now = this.#now();
    const fork = this.#planFork(request);
    if (!fork.ok) return fork;
    const contentType = request.contentType ?? fork.value?.parent.contentType ??
      DEFAULT_CONTENT_TYPE;
    const json = isJsonContentType(contentType);
    const framed = frameBody(request.body, json, true);
    if (!framed.ok) return framed;
    const startPos = fork.value?.position ?? 0;
    const inherit = fork.value !== undefined &&
      request.ttlSeconds === undefined &&
      request.expiresAtMs === undefined;
    const row: StreamRow = {
      id: this.#nextStreamId++,
      name,
      contentType,
      createdAtMs: now,
      accessedAtMs: now,
      ttlSeconds:
        (inherit ? fork.value!.parent.ttlSeconds : request.ttlSeconds) ?? null,
      expiresAtMs:
        (inherit ? fork.value!.parent.expiresAtMs : request.expiresAtMs) ??
          null,
      tailPos: startPos + framed.value.bytes.length,
      closed: request.closed,
      closedBy: null,
      streamSeq: null,
      forkedFrom: fork.value?.parent.id ?? null,
      forkPos: fork.value === undefined ? null : startPos,
      softDeleted: false,
    };
    const state = new StreamState(row, fork.value?.parent, json);
    const ops: WalOp[] = [{ op: "create", stream: row }];
    if (framed.value.bytes.length > 0) {
      ops.push({
        op: "append",
        streamId: row.id,
        chunk: chunkAt(startPos, framed.value.bytes, framed.value.lengths),
        tail: tailOf(state, now),
      });
    }
    return ok({ state, ops, bytes: framed.value.bytes.length });
  }

  #planFork(
    request: CreateRequest,
  ): Result<{ parent: StreamState; position: number } | undefined> {
    const fork = request.fork;
    if (fork === undefined) return ok(undefined);
    const parent = this.#streams.get(fork.source) ??
      this.#softDeletedNamed(fork.source);
    if (
      parent === undefined || !parent.visible ||
      (!parent.softDeleted && parent.isExpired(this.#now()))
    ) {
      return fail(
        "stream_not_found",
        `Cannot fork: source stream "${fork.source}" not found`,
      );
    }
    if (parent.softDeleted) {
      return fail(
        "stream_exists",
        `Cannot fork: source stream "${fork.source}" was deleted`,
      );
    }
    if (
      request.contentType !== undefined &&
      mediaType(request.contentType) !== mediaType(parent.contentType)
    ) {
      return fail(
        "content_type_mismatch",
        `Cannot fork "${fork.source}": content type ${request.contentType} differs from the source's ${parent.contentType}`,
      );
    }
    const base = fork.position ?? parent.visibleTailPos;
    if (base > parent.visibleTailPos) {
      return fail(
        "bad_request",
        `Cannot fork "${fork.source}": Stream-Fork-Offset is beyond the source tail`,
      );
    }
    return ok({ parent, position: base });
  }

  /** Resolves a fork sub-offset into a position (needs a read of the source). */
  async resolveForkSubOffset(
    request: CreateRequest,
  ): Promise<Result<CreateRequest>> {
    const fork = request.fork;
    if (
      fork === undefined || fork.subOffset === undefined || fork.subOffset === 0
    ) return ok(request);
    const parent = this.#streams.get(fork.source);
    if (parent === undefined || !parent.visible) return ok(request); // planFork reports it
    const base = fork.position ?? parent.visibleTailPos;
    if (base > parent.visibleTailPos) return ok(request);
    let position: number;
    if (parent.json) {
      const found = await this.#skipMessages(parent, base, fork.subOffset);
      if (found === undefined) {
        return fail(
          "bad_request",
          `Stream-Fork-Sub-Offset ${fork.subOffset} is beyond the source tail`,
        );
      }
      position = found;
    } else {
      position = base + fork.subOffset;
      if (position > parent.visibleTailPos) {
        return fail(
          "bad_request",
          `Stream-Fork-Sub-Offset ${fork.subOffset} is beyond the source tail`,
        );
      }
    }
    return ok({
      ...request,
      fork: { ...fork, position, subOffset: undefined },
    });
  }

  async #skipMessages(
    state: StreamState,
    fromPos: number,
    count: number,
  ): Promise<number | undefined> {
    let pos = fromPos;
    let left = count;
    while (left > 0) {
      if (pos >= state.visibleTailPos) return undefined;
      const got = await gather(
        this.#readChunks,
        state,
        pos,
        state.visibleTailPos,
        1,
      );
      if (got.endPos <= pos) return undefined;
      pos = got.endPos;
      left--;
    }
    return pos;
  }

  #register(state: StreamState): void {
    this.#streams.set(state.name, state);
    this.#byId.set(state.id, state);
    if (canExpire(state)) this.#expiring.add(state);
    if (state.parent !== undefined) state.parent.forkCount++;
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
    if (state.closed) return await this.#appendToClosed(state, request);
    if (request.body.length === 0 && !request.close) {
      return fail(
        "bad_request",
        "Append body must not be empty unless Stream-Closed: true",
      );
    }
    if (request.body.length > 0 && request.contentType === undefined) {
      return fail("bad_request", "Append with a body needs a Content-Type");
    }
    if (
      request.body.length > 0 && request.contentType !== undefined &&
      mediaType(request.contentType) !== mediaType(state.contentType)
    ) {
      return fail(
        "content_type_mismatch",
        `Cannot append ${request.contentType} to stream "${name}" of type ${state.contentType}`,
      );
    }
    let producerNext: { epoch: number; seq: number } | undefined;
    let producerNew = false;
    if (request.producer !== undefined) {
      const p = request.producer;
      const current = state.producers.get(p.id);
      const decision = decideProducer(current, p.epoch, p.seq);
      switch (decision.kind) {
        case "stale_epoch":
          return fail(
            "producer_stale_epoch",
            `Producer "${p.id}" epoch ${p.epoch} is stale; current epoch is ${decision.currentEpoch}`,
            { currentEpoch: decision.currentEpoch },
          );
        case "new_epoch_seq_not_zero":
          return fail(
            "bad_request",
            `Producer "${p.id}" must start epoch ${p.epoch} at seq 0`,
          );
        case "gap":
          return fail(
            "producer_seq_gap",
            `Producer "${p.id}" sent seq ${p.seq}; expected ${decision.expectedSeq}`,
            {
              expectedSeq: decision.expectedSeq,
              receivedSeq: decision.receivedSeq,
            },
          );
        case "duplicate":
          await this.#writer.barrier();
          return ok({
            kind: "duplicate",
            nextPos: state.visibleTailPos,
            closed: state.visibleClosed,
            producer: { ...decision.state },
            producerNew: false,
          });
        case "accept":
          producerNext = decision.next;
          producerNew = current === undefined ||
            current.epoch !== decision.next.epoch;
      }
    }
    if (
      request.streamSeq !== undefined && state.streamSeq !== null &&
      compareStreamSeq(request.streamSeq, state.streamSeq) <= 0
    ) {
      return fail(
        "seq_conflict",
        `Stream-Seq "${request.streamSeq}" is not greater than the last one, "${state.streamSeq}"`,
      );
    }
    const framed = request.body.length === 0
      ? ok({ bytes: request.body, lengths: [] })
      : frameBody(request.body, state.json, false);
    if (!framed.ok) return framed;
    const refused = this.#admit(framed.value.bytes.length);
    if (refused !== undefined) return { ok: false, error: refused };
    return ok(
      await this.#commitAppend(
        state,
        request,
        framed.value,
        producerNext,
        producerNew,
      ),
    );
  }

  /** The writer's queue limits, then the gate for writes that add bytes. */
  #admit(bytes: number): StreamError | undefined {
    return this.#writer.admit(bytes) ??
      (bytes > 0 ? this.#gate?.admit(bytes) : undefined);
  }

  async #commitAppend(
    state: StreamState,
    request: AppendRequest,
    framed: { bytes: Uint8Array; lengths: number[] },
    producerNext: { epoch: number; seq: number } | undefined,
    producerNew: boolean,
  ): Promise<AppendOutcome> {
    const now = this.#now();
    const startPos = state.tailPos;
    state.tailPos += framed.bytes.length;
    if (request.close) {
      state.closed = true;
      if (request.producer !== undefined) {
        state.closedBy = {
          producerId: request.producer.id,
          epoch: request.producer.epoch,
          seq: request.producer.seq,
        };
      }
    }
    if (request.streamSeq !== undefined) state.streamSeq = request.streamSeq;
    const ops: WalOp[] = [{
      op: "append",
      streamId: state.id,
      chunk: framed.bytes.length === 0
        ? null
        : chunkAt(startPos, framed.bytes, framed.lengths),
      tail: tailOf(state, now),
    }];
    if (producerNext !== undefined) {
      state.producers.set(request.producer!.id, producerNext);
      ops.push({
        op: "producer",
        row: {
          streamId: state.id,
          producerId: request.producer!.id,
          ...producerNext,
          updatedAtMs: now,
        },
      });
    }
    state.persistedAccessMs = now;
    const endPos = state.tailPos;
    const closed = state.closed;
    await this.#writer.enqueue(ops, framed.bytes.length, () => {
      if (state.deleted) return;
      state.visibleTailPos = Math.max(state.visibleTailPos, endPos);
      state.visibleClosed ||= closed;
      state.wakeAll();
      this.#compactor.offer(state);
      this.#emit("appended", state);
    });
    return {
      kind: framed.bytes.length === 0 ? "close_only" : "accepted",
      nextPos: endPos,
      closed,
      producer: producerNext,
      producerNew,
    };
  }

  async #appendToClosed(
    state: StreamState,
    request: AppendRequest,
  ): Promise<Result<AppendOutcome>> {
    const p = request.producer;
    const by = state.closedBy;
    if (
      p !== undefined && by !== null && by.producerId === p.id &&
      by.epoch === p.epoch && by.seq === p.seq
    ) {
      await this.#writer.barrier();
      return ok({
        kind: "duplicate",
        nextPos: state.tailPos,
        closed: true,
        producer: { epoch: p.epoch, seq: p.seq },
        producerNew: false,
      });
    }
    if (request.body.length === 0 && request.close) {
      await this.#writer.barrier();
      return ok({
        kind: "close_only",
        nextPos: state.tailPos,
        closed: true,
        producer: undefined,
        producerNew: false,
      });
    }
    return fail(
      "stream_closed",
      `Cannot append to stream "${state.name}": stream is closed`,
      { nextPos: state.tailPos },
    );
  }

  // ---- delete and expiry ---------------------------------------------------

  /** Deletes a stream; soft-deletes it while forks read from it (§5.4). */
  async delete(name: string): Promise<Result<void>> {
    this.#assertOpen();
    const found = this.#lookup(name, false);
    if (!found.ok) return found;
    const refused = this.#writer.admit(0);
    if (refused !== undefined) return { ok: false, error: refused };
    const { ops, removed } = this.#deleteOps(found.value);
    await this.#writer.enqueue(ops, 0, () => this.#deleteCommitted(removed));
    this.#emitDeleted(name);
    return ok(undefined);
  }

  // Expiry that cannot be written now (writes refused) waits for the next
  // sweep or lookup; the stream already answers 404 meanwhile.
  #expire(state: StreamState): void {
    if (this.#writer.admit(0) !== undefined) return;
    this.#log.debug(`stream "${state.name}" expired`);
    const { ops, removed } = this.#deleteOps(state);
    this.#writer.enqueue(ops, 0, () => this.#deleteCommitted(removed)).then(
      () => this.#emitDeleted(state.name),
      () => {/* refused: logged by the writer's owner */},
    );
  }

  #deleteCommitted(removed: StreamState[]): void {
    for (const state of removed) this.#uncommittedDeletes.delete(state.id);
  }

  #deleteOps(state: StreamState): { ops: WalOp[]; removed: StreamState[] } {
    if (state.forkCount > 0) {
      state.softDeleted = true;
      this.#streams.delete(state.name);
      this.#softDeletedByName.set(state.name, state);
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
      if (this.#streams.get(current.name) === current) {
        this.#streams.delete(current.name);
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

  // Checks only the streams that can expire and the ones read since their
  // access time was written, not every stream.
  #sweep(): void {
    if (this.#closed) return;
    const now = this.#now();
    for (const state of this.#expiring) {
      if (this.#streams.get(state.name) !== state) {
        this.#expiring.delete(state); // deleted, soft-deleted or replaced
      } else if (state.visible && state.isExpired(now)) {
        this.#expiring.delete(state);
        this.#expire(state);
      }
    }
    const touches: WalOp[] = [];
    for (const state of this.#accessDirty) {
      if (!state.visible) continue; // its creation commits first
      this.#accessDirty.delete(state);
      if (this.#streams.get(state.name) !== state) continue;
      if (state.accessedAtMs === state.persistedAccessMs) continue;
      touches.push({
        op: "touch",
        streamId: state.id,
        accessedAtMs: state.accessedAtMs,
      });
      state.persistedAccessMs = state.accessedAtMs;
    }
    if (touches.length > 0 && this.#writer.admit(0) === undefined) {
      this.#writer.enqueue(touches, 0).catch(
        () => {/* fatal path already logged */},
      );
    }
  }

  // ---- reads ---------------------------------------------------------------

  #readChunks: ChunkReader = (
    id: number,
    from: number,
    end: number,
    bytesMax: number,
  ): Promise<Chunk[]> => this.#store.readChunks(id, from, end, bytesMax);

  /**
   * Replaces how reads fetch chunks (tiered storage wraps the WAL's reader);
   * `wrap` receives the WAL reader. Call before serving requests.
   */
  wrapChunkReader(wrap: (wal: ChunkReader) => ChunkReader): void {
    this.#readChunks = wrap(this.#readChunks);
  }

  /**
   * Adds a check to creates with a body and appends with data (closes,
   * deletes and empty creates pass). Call before serving requests.
   */
  setAdmissionGate(gate: AdmissionGate): void {
    this.#gate = gate;
  }

  /**
   * Committed state of every stream, soft-deleted ones included (for
   * tiering), and streams whose delete has not committed yet: until it
   * does, their objects must stay.
   */
  *streamInfos(): Generator<StreamInfo> {
    for (const state of this.#byId.values()) {
      if (state.visible) yield info(state);
    }
    for (const state of this.#uncommittedDeletes.values()) {
      if (state.visible) yield info(state);
    }
  }

  /** Committed state of the stream with internal id `id`, if it exists. */
  streamInfo(id: number): StreamInfo | undefined {
    const state = this.#byId.get(id) ?? this.#uncommittedDeletes.get(id);
    return state === undefined || !state.visible ? undefined : info(state);
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
    const got = await this.#gatherMemo(state, fromPos, tailPos, bytesMax);
    const data = got.data;
    const upToDate = got.endPos >= tailPos;
    return ok({
      stream: view(state),
      startPos: got.startPos,
      nextPos: got.endPos,
      data,
      upToDate,
      closed: upToDate && state.visibleClosed &&
        tailPos === state.visibleTailPos,
    });
  }

  /**
   * Gathers a read, reusing the stream's previous small read when position,
   * tail and cap match: when a commit wakes many live readers at one offset,
   * one WAL read serves them all. Bytes are immutable, so sharing is safe.
   */
  #gatherMemo(
    state: StreamState,
    fromPos: number,
    tailPos: number,
    bytesMax: number,
  ): Promise<{ startPos: number; endPos: number; data: Uint8Array }> {
    const memo = state.lastRead;
    if (
      memo !== undefined && memo.fromPos === fromPos &&
      memo.tailPos === tailPos && memo.bytesMax === bytesMax
    ) return memo.result;
    const result = gather(
      this.#readChunks,
      state,
      fromPos,
      tailPos,
      bytesMax,
    ).then((got) => ({
      startPos: got.startPos,
      endPos: got.endPos,
      data: concatBytes(got.pieces),
    }));
    // Memoised before it settles: live readers woken by one append all ask
    // at once, and must share one read, not start a hundred.
    const entry = { fromPos, tailPos, bytesMax, result };
    state.lastRead = entry;
    const forget = () => {
      if (state.lastRead === entry) state.lastRead = undefined;
    };
    result.then((got) => {
      if (got.data.length > READ_MEMO_BYTES_MAX) forget();
    }, forget);
    return result;
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
    if (this.#waiting >= this.#limits.waitersMax) {
      return Promise.resolve(
        fail("overloaded", "Too many live readers are waiting", {
          retryAfterSeconds: 1,
        }),
      );
    }
    this.#waiting++;
    return new Promise((resolve) => {
      const finish = (outcome: WaitOutcome) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        state.waiters.delete(wake);
        this.#waiting--;
        resolve(ok(outcome));
      };
      const wake = () => finish("changed");
      const onAbort = () => finish("aborted");
      const timer = setTimeout(() => finish("timeout"), timeoutMs);
      state.waiters.add(wake);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Live streams whose names start with `prefix`, after `after`, sorted. */
  list(
    prefix: string,
    after: string | undefined,
    limit: number,
  ): { streams: StreamView[]; more: boolean } {
    const now = this.#now();
    const streams: StreamView[] = [];
    for (const name of this.#streams.namesFrom(prefix, after)) {
      const state = this.#streams.get(name)!;
      if (!state.visible || state.isExpired(now)) continue;
      if (streams.length === limit) return { streams, more: true };
      streams.push(view(state));
    }
    return { streams, more: false };
  }

  // ---- rolling back after a full disk ---------------------------------------

  /**
   * A commit failed for a full disk: the WAL kept nothing of it, and the
   * writer refused every request still queued. Memory's assigned state
   * (positions, producers, Stream-Seq, closes, creates, deletes) ran ahead
   * of the WAL, so it is reset to what the WAL holds, then writes resume.
   * Committed (visible) state never moved, so readers notice nothing.
   */
  async #rollBack(): Promise<void> {
    try {
      const snapshot = await this.#store.load();
      if (this.#closed) return;
      const undone = this.#resetTo(snapshot);
      this.#log.warn(
        `disk full: a commit failed; ${undone} uncommitted stream changes undone, writes refused until space returns`,
      );
      this.#writer.resume();
    } catch (error) {
      this.#writer.halt(error); // fatal: memory and WAL may disagree
    }
  }

  /** Resets assigned state to `snapshot`; returns how many streams changed. */
  #resetTo(snapshot: WalSnapshot): number {
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
        this.#adopt(state);
        undone++;
      }
      undone += this.#resetStream(state, row);
      state.producers.clear();
    }
    this.#uncommittedDeletes.clear();
    this.#setProducers(snapshot.producers);
    this.#nextStreamId = Math.max(this.#nextStreamId, snapshot.nextStreamId);
    return undone;
  }

  /** Drops a stream whose creation never committed. */
  #forgetUncommitted(state: StreamState): number {
    assert(
      !state.visible,
      `committed stream "${state.name}" is not in the WAL`,
    );
    if (this.#streams.get(state.name) === state) {
      this.#streams.delete(state.name);
    }
    this.#byId.delete(state.id);
    this.#expiring.delete(state);
    this.#accessDirty.delete(state);
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
    state.persistedAccessMs = row.accessedAtMs;
    if (state.softDeleted && !row.softDeleted) {
      this.#softDeletedByName.delete(state.name);
      this.#streams.set(state.name, state);
      state.softDeleted = false;
    }
    if (canExpire(state)) this.#expiring.add(state);
    return changed ? 1 : 0;
  }

  // ---- lifecycle -----------------------------------------------------------

  #assertOpen(): void {
    if (this.#closed) {
      throw new StreamError("unavailable", "Server is shutting down");
    }
  }

  /** Number of readers waiting. */
  get waiting(): number {
    return this.#waiting;
  }

  /** Stops taking writes, waits for queued ones to commit, wakes waiters. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sweepTimer);
    await this.#compactor.stop();
    await this.#writer.drain();
    for (const state of this.#byId.values()) state.wakeAll();
  }
}

function canExpire(state: StreamState): boolean {
  return state.ttlSeconds !== null || state.expiresAtMs !== null;
}

function info(state: StreamState): StreamInfo {
  return {
    ...view(state),
    softDeleted: state.softDeleted,
    fork: state.parent === undefined ? null : {
      sourceId: state.parent.id,
      sourceName: state.parent.name,
      position: state.forkPos,
    },
  };
}

function view(state: StreamState): StreamView {
  return {
    id: state.id,
    name: state.name,
    contentType: state.contentType,
    tailPos: state.visibleTailPos,
    closed: state.visibleClosed,
    ttlSeconds: state.ttlSeconds,
    expiresAtMs: state.expiresAtMs,
    createdAtMs: state.createdAtMs,
  };
}

function tailOf(state: StreamState, now: number) {
  return {
    tailPos: state.tailPos,
    closed: state.closed,
    closedBy: state.closedBy,
    streamSeq: state.streamSeq,
    accessedAtMs: now,
  };
}

function chunkAt(
  startPos: number,
  bytes: Uint8Array,
  lengths: number[],
): Chunk {
  return {
    startPos,
    endPos: startPos + bytes.length,
    data: bytes,
    lengths: lengths.length > 1 ? Uint32Array.from(lengths) : null,
  };
}

function frameBody(
  body: Uint8Array,
  json: boolean,
  allowEmptyArray: boolean,
): Result<{ bytes: Uint8Array; lengths: number[] }> {
  if (!json) {
    return ok({ bytes: body, lengths: body.length === 0 ? [] : [body.length] });
  }
  if (body.length === 0) return ok({ bytes: body, lengths: [] });
  return frameJsonMessages(body, allowEmptyArray);
}

/** Names the first config field that differs, or `undefined` when all match. */
function configMismatch(
  state: StreamState,
  request: CreateRequest,
  forkSource: StreamState | undefined,
): string | undefined {
  const contentType = request.contentType ??
    (state.parent?.contentType ?? DEFAULT_CONTENT_TYPE);
  if (mediaType(contentType) !== mediaType(state.contentType)) {
    return "content type";
  }
  if (request.fork === undefined) {
    if ((request.ttlSeconds ?? null) !== state.ttlSeconds) return "Stream-TTL";
    if ((request.expiresAtMs ?? null) !== state.expiresAtMs) {
      return "Stream-Expires-At";
    }
  } else {
    if (
      request.ttlSeconds !== undefined &&
      request.ttlSeconds !== state.ttlSeconds
    ) return "Stream-TTL";
    if (
      request.expiresAtMs !== undefined &&
      request.expiresAtMs !== state.expiresAtMs
    ) return "Stream-Expires-At";
  }
  if (request.closed !== state.closed) return "closed state";
  if ((forkSource ?? undefined) !== state.parent) return "fork source";
  if (
    request.fork !== undefined && request.fork.position !== undefined &&
    request.fork.position !== state.forkPos
  ) {
    return "fork offset";
  }
  return undefined;
}
