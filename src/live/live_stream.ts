/**
 * @module
 * The touch runtime of one stream (touch-live.md §4-§8): a processor loop
 * that reads the stream's committed records in order from where the runtime
 * started (through the engine's reader, so records the WAL already handed
 * to segments are read from there), turns them into touches, and feeds the
 * journal; a flush timer that turns pending touches into generations and
 * wakes the waits they match; the stream's templates, loaded from and
 * written back to the template store, with heartbeats and GC. Everything
 * but the templates lives in memory: a new runtime has a new epoch.
 */

import type { Result } from "../errors.ts";
import { fail, ok } from "../errors.ts";
import {
  TOUCH_BATCH_BYTES_MAX,
  TOUCH_BATCH_RECORDS_MAX,
  TOUCH_STATE_PERSIST_INTERVAL_MS,
} from "../limits.ts";
import type { Logger } from "../log.ts";
import type { JsonObject } from "../profiles/profile.ts";
import { encodeOffset } from "../protocol/offset.ts";
import { storedMessageEnds } from "../protocol/json.ts";
import type {
  LiveTemplateStore,
  TouchStateRow,
} from "../storage/live_template_store.ts";
import { TouchCoalescer } from "../touch/coalesce.ts";
import { TouchJournal, type WaitQuery } from "../touch/journal.ts";
import type { KeyHasher } from "../touch/keys.ts";
import {
  type Change,
  changeFromRecord,
  initialState,
  journalOptions,
  processBatch,
  type ProcessorOptions,
  processorOptions,
  type ProcessorState,
  releaseCoarse,
  type Touch,
} from "../touch/processor.ts";
import type {
  ActivateRequest,
  ActivateResult,
  TemplateLimits,
} from "../touch/templates.ts";
import { StoredTemplates } from "./stored_templates.ts";
import {
  planWait,
  startWait,
  type WaitKind,
  type WaitPlan,
  type WaitRequest,
} from "../touch/wait.ts";

/** A read of committed records: what `Engine.read` answers. */
export interface RecordChunk {
  /** Position of the first record. */
  startPos: number;
  /** Where the next read continues. */
  nextPos: number;
  /** Stored JSON messages, each followed by a comma. */
  data: Uint8Array;
}

/** What a runtime needs from the server. */
export interface LiveStreamDeps {
  /** The key hasher (one per node). */
  hasher: KeyHasher;
  /** The validated `profile.touch` object. */
  touch: JsonObject;
  /** Internal id of the stream. */
  streamId: number;
  /** Its name. */
  name: string;
  /** The committed tail when the runtime starts: processing begins there. */
  startPos: number;
  /** Reads committed records from `pos`. */
  read(pos: number, bytesMax: number): Promise<Result<RecordChunk>>;
  /** The committed tail now; undefined once the stream is gone. */
  tailPos(): number | undefined;
  /** Where templates are kept. */
  store: LiveTemplateStore;
  /** Logger. */
  log: Logger;
  /** Epoch ms. */
  clock: () => number;
  /** Bytes per read (`TOUCH_BATCH_BYTES_MAX`; tests read less to lag). */
  batchBytesMax?: number;
}

/** How a wait ended. */
export type WaitBody = JsonObject;

interface PendingWait {
  query: WaitQuery;
  kind: WaitKind;
  finish: (body: WaitBody) => void;
}

/** Monotonic counters `touch/meta` reports. */
interface LiveCounters {
  scans: number;
  flushes: number;
  waitsTouched: number;
  waitsTimeout: number;
  waitsStale: number;
  waitsAborted: number;
  recordsSkipped: number;
  restrictedBatches: number;
  coarseOnlyBatches: number;
}

/**
 * A runtime's monotonic counts (`LiveStream.totals`): changes read, touches
 * queued by kind, waits answered by outcome, template events.
 */
export interface LiveTotals {
  /** Change records read. */
  changes: number;
  /** Table-key touches. */
  table: number;
  /** Template-key touches. */
  template: number;
  /** Fine touches. */
  fine: number;
  /** Waits woken. */
  touched: number;
  /** Waits timed out. */
  timeout: number;
  /** Waits answered stale. */
  stale: number;
  /** Waits whose client hung up. */
  aborted: number;
  /** Template activations. */
  activated: number;
  /** Template retirements. */
  retired: number;
}

/** Zero counts. */
export function zeroTotals(): LiveTotals {
  return {
    changes: 0,
    table: 0,
    template: 0,
    fine: 0,
    touched: 0,
    timeout: 0,
    stale: 0,
    aborted: 0,
    activated: 0,
    retired: 0,
  };
}

/** Adds `b` into `a`. */
export function addTotals(a: LiveTotals, b: LiveTotals): void {
  for (const k of Object.keys(a) as (keyof LiveTotals)[]) a[k] += b[k];
}

/** One stream's touch runtime. */
export class LiveStream {
  /** Internal id of the stream. */
  readonly streamId: number;
  /** Its name. */
  readonly name: string;
  /** The profile's touch options this runtime was built for. */
  readonly touch: JsonObject;
  /** The journal: a new epoch per runtime. */
  readonly journal: TouchJournal;
  /** The stream's templates, in step with the store. */
  readonly templates: StoredTemplates;
  readonly #d: LiveStreamDeps;
  readonly #popts: ProcessorOptions;
  readonly #bucketMs: number;
  #state: ProcessorState;
  /** Next position the processor reads. */
  #processedPos: number;
  #lagRecords = 0;
  #bucketStartMs: number | null = null;
  /** When the last flush ran; buckets flush at most every `bucketMs`. */
  #lastFlushMs = -Infinity;
  #bucketMaxPos = -1;
  #flushMaxPos = -1;
  #running = false;
  #again = false;
  #closed = false;
  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  #lastError: string | null = null;
  /** The checkpoint an earlier runtime of this stream left, if any. */
  readonly #previous: TouchStateRow | null;
  /** The position last written to `touch_state`, and when. */
  #persistedPos = -1;
  #persistedAtMs = -Infinity;
  readonly #waits = new Set<PendingWait>();
  /**
   * Waits with at most `memory.keyIndexMaxKeys` key ids, by key id: a
   * flush asks only the waits of the key ids it wrote, and they match on
   * the key id itself, not on the generation table.
   */
  readonly #index = new Map<number, Set<PendingWait>>();
  /**
   * Broad waits (more key ids than the index takes): checked against the
   * generation table at every flush, so a collision there can wake them.
   */
  readonly #broad = new Set<PendingWait>();
  readonly #keyIndexMaxKeys: number;
  /** Repeat fine and template touches of a key within its window. */
  readonly #coalescer: TouchCoalescer;
  readonly #coalesceWindowMs: number;
  /**
   * Key ids of the waits registered now, counted: they stay hot for as long
   * as a wait listens on them, past the hot set's TTL.
   */
  readonly #waitingKeys = new Map<number, number>();
  readonly #counters: LiveCounters = {
    scans: 0,
    flushes: 0,
    waitsTouched: 0,
    waitsTimeout: 0,
    waitsStale: 0,
    waitsAborted: 0,
    recordsSkipped: 0,
    restrictedBatches: 0,
    coarseOnlyBatches: 0,
  };
  /** Epoch ms of the last wait, for eviction. */
  lastWaitMs: number;

  /** Loads the templates; processing starts at `deps.startPos`. */
  constructor(deps: LiveStreamDeps) {
    this.#d = deps;
    this.streamId = deps.streamId;
    this.name = deps.name;
    this.touch = deps.touch;
    const now = deps.clock();
    this.#popts = processorOptions(deps.touch);
    const jopts = journalOptions(deps.touch);
    this.#bucketMs = jopts.bucketMs;
    this.#keyIndexMaxKeys = keyIndexMaxKeysOf(deps.touch);
    this.#coalesceWindowMs = deps.touch.touchCoalesceWindowMs as number;
    this.#coalescer = new TouchCoalescer(
      this.#coalesceWindowMs,
      jopts.pendingMaxKeys,
    );
    this.journal = new TouchJournal(jopts, deps.clock);
    this.templates = new StoredTemplates(deps);
    this.#state = initialState(this.#popts, now);
    this.#processedPos = deps.startPos;
    this.lastWaitMs = now;
    // touch-live.md §4: the checkpoint is rebuilt from the tail. Records
    // between an earlier checkpoint and this tail need no touches: every
    // cursor of the earlier epoch answers stale, and a cursor of this one
    // is taken after them.
    this.#previous = deps.store.touchState(deps.streamId);
    this.#persistCheckpoint(true);
  }

  /**
   * Writes `touch_state` when the processor moved and, unless `force`,
   * the last write is `TOUCH_STATE_PERSIST_INTERVAL_MS` old. A failed
   * write is logged and tried again later: the checkpoint only informs.
   */
  #persistCheckpoint(force: boolean): void {
    if (this.#processedPos === this.#persistedPos) return;
    const now = this.#d.clock();
    if (!force && now - this.#persistedAtMs < TOUCH_STATE_PERSIST_INTERVAL_MS) {
      return;
    }
    try {
      this.#d.store.putTouchState({
        streamId: this.streamId,
        processedThroughPos: this.#processedPos,
        epoch: this.journal.epoch,
        updatedAtMs: now,
      });
      this.#persistedPos = this.#processedPos;
      this.#persistedAtMs = now;
    } catch (error) {
      this.#d.log.warn(
        `touch checkpoint of "${this.name}" not written: ${error}`,
      );
    }
  }

  /** The template limits of the profile. */
  get limits(): TemplateLimits {
    return this.templates.limits;
  }

  /** Bytes this runtime holds, roughly (the journal's table dominates). */
  get memoryBytes(): number {
    return this.journal.filterSlots * 4 + this.journal.pendingKeys * 64;
  }

  /** Waits registered now. */
  get waiting(): number {
    return this.#waits.size;
  }

  // ---- the processor loop --------------------------------------------------

  /** New records may be committed: process them (one loop at a time). */
  kick(): void {
    if (this.#closed) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = true;
    this.#loop().catch((error) => {
      this.#lastError = String(error);
      this.#d.log.error(`touch processor of "${this.name}" failed`, error);
    }).finally(() => {
      this.#running = false;
      this.#scheduleFlush();
      if (this.#again) {
        this.#again = false;
        this.kick();
      }
    });
  }

  async #loop(): Promise<void> {
    while (!this.#closed) {
      const tail = this.#d.tailPos();
      if (tail === undefined || this.#processedPos >= tail) return;
      const got = await this.#d.read(
        this.#processedPos,
        this.#d.batchBytesMax ?? TOUCH_BATCH_BYTES_MAX,
      );
      if (this.#closed) return;
      if (!got.ok) {
        this.#lastError = got.error.message;
        this.#d.log.warn(
          `touch processor of "${this.name}": ${got.error.message}`,
        );
        return;
      }
      const chunk = got.value;
      if (chunk.nextPos <= this.#processedPos) return; // nothing readable
      this.#counters.scans++;
      this.#processChunk(chunk, tail);
      this.#processedPos = chunk.nextPos;
      this.#flushIfDue();
      this.#persistCheckpoint(false);
    }
  }

  #processChunk(chunk: RecordChunk, tail: number): void {
    const records = recordsOf(chunk);
    const bytesPerRecord = records.length === 0
      ? 1
      : Math.max(1, (chunk.nextPos - chunk.startPos) / records.length);
    for (let i = 0; i < records.length; i += TOUCH_BATCH_RECORDS_MAX) {
      const slice = records.slice(i, i + TOUCH_BATCH_RECORDS_MAX);
      const changes: Change[] = [];
      for (const r of slice) {
        const change = changeFromRecord(r.value, r.pos);
        if (change === null) this.#counters.recordsSkipped++;
        else changes.push(change);
      }
      const lastPos = slice[slice.length - 1].pos;
      this.#lagRecords = Math.ceil(
        Math.max(0, tail - chunk.nextPos) / bytesPerRecord,
      ) + records.length - i - slice.length;
      const out = processBatch(this.#d.hasher, this.#popts, this.#state, {
        changes,
        nowMs: this.#d.clock(),
        lagRecords: this.#lagRecords,
        activeWaiters: this.#waits.size,
        templates: this.templates.activeByEntity(),
        isHotKey: (id) =>
          this.#waitingKeys.has(id) || this.journal.isHotKey(id),
      });
      this.#state = out.state;
      if (out.state.mode === "restricted") this.#counters.restrictedBatches++;
      if (out.state.mode === "coarseOnly") this.#counters.coarseOnlyBatches++;
      if (this.#state.lastError !== null) {
        this.#lastError = this.#state.lastError;
      }
      this.#queue(this.#coalescer.admit(out.touches, this.#d.clock()), lastPos);
    }
    this.#lagRecords = Math.ceil(
      Math.max(0, tail - chunk.nextPos) / bytesPerRecord,
    );
  }

  #queue(touches: Touch[], maxPos: number): void {
    if (touches.length === 0) return;
    if (this.#bucketStartMs === null) this.#bucketStartMs = this.#d.clock();
    for (const t of touches) this.journal.touch(t.keyId, t.key);
    this.#bucketMaxPos = Math.max(this.#bucketMaxPos, maxPos);
  }

  // ---- flushing and waking ---------------------------------------------------

  #flushIfDue(): void {
    const now = this.#d.clock();
    const coarse = releaseCoarse(
      this.#d.hasher,
      this.#popts,
      this.#state,
      now,
    );
    this.#queue(coarse, this.#bucketMaxPos);
    this.#queue(this.#coalescer.release(now), this.#bucketMaxPos);
    if (
      this.#bucketStartMs !== null &&
      now - this.#lastFlushMs >= this.#bucketMs
    ) {
      this.flushNow();
    }
  }

  /** Flushes the pending bucket now and wakes the waits it matches. */
  flushNow(): void {
    const info = this.journal.flush();
    this.#bucketStartMs = null;
    if (info === null) return;
    this.#lastFlushMs = info.flushAtMs;
    this.#counters.flushes++;
    this.#flushMaxPos = this.#bucketMaxPos;
    if (info.overflow) {
      // An overflowed bucket does not name its keys: it wakes every wait.
      for (const w of [...this.#waits]) w.finish(this.#woken(true, w.kind));
      return;
    }
    const woken = new Set<PendingWait>();
    for (const [keyId, key] of info.touched) {
      const waits = this.#index.get(keyId);
      if (waits === undefined) continue;
      for (const w of waits) {
        // An exact wait compares full keys where the touch carried one.
        const exact = w.query.exactKeys;
        if (exact !== undefined && key !== null && !exact.includes(key)) {
          continue;
        }
        woken.add(w);
      }
    }
    for (const w of this.#broad) {
      if (this.journal.matches(w.query)) woken.add(w);
    }
    for (const w of woken) w.finish(this.#woken(true, w.kind));
  }

  #scheduleFlush(): void {
    if (this.#closed || this.#flushTimer !== undefined) return;
    const now = this.#d.clock();
    const delays: number[] = [];
    if (this.#bucketStartMs !== null) {
      delays.push(this.#lastFlushMs + this.#bucketMs - now);
    }
    if (this.#state.coarsePending.size > 0) {
      delays.push(
        this.#state.coarseReleasedAtMs + this.#popts.coarseIntervalMs - now,
      );
    }
    const held = this.#coalescer.nextDueMs();
    if (held !== null) delays.push(held - now);
    if (delays.length === 0) return;
    const delay = Math.max(0, Math.min(...delays));
    this.#flushTimer = setTimeout(() => {
      this.#flushTimer = undefined;
      if (this.#running) return; // the loop reschedules when it ends
      this.#flushIfDue();
      this.#scheduleFlush();
    }, delay);
  }

  #woken(touched: boolean, kind: WaitKind): WaitBody {
    const last = this.journal.lastFlush;
    if (touched) this.#counters.waitsTouched++;
    else this.#counters.waitsTimeout++;
    return {
      touched,
      cursor: this.journal.cursor(),
      effectiveWaitKind: kind,
      bucketMaxSourceOffsetSeq: this.#flushMaxPos < 0
        ? "-1"
        : encodeOffset(this.#flushMaxPos),
      flushAtMs: last?.flushAtMs ?? null,
      bucketStartMs: last?.bucketStartMs ?? null,
    };
  }

  // ---- waits -----------------------------------------------------------------

  /**
   * Waits until a key of the wait is touched after its cursor, its timeout
   * passes or `signal` aborts (then resolves null). Inline template
   * declarations are the caller's (`activate` first).
   */
  wait(
    req: WaitRequest,
    signal: AbortSignal,
  ): Promise<Result<WaitBody | null>> {
    this.lastWaitMs = this.#d.clock();
    const plan = planWait(
      this.#d.hasher,
      req,
      this.#state.mode,
      (id) => this.templates.entityOf(id),
    );
    if (!plan.ok) return Promise.resolve(plan);
    this.templates.heartbeat(plan.value.templateIds);
    const start = startWait(this.journal, req, plan.value);
    if (start.kind === "stale") {
      this.#counters.waitsStale++;
      return Promise.resolve(ok({
        stale: true,
        cursor: start.cursor,
        epoch: start.epoch,
        generation: start.generation,
        error: {
          code: "stale",
          message:
            "The cursor is from another touch journal (the server restarted or the journal was rebuilt); re-run the query and wait from this cursor",
        },
      }));
    }
    const kind = plan.value.kind;
    if (this.journal.matches(start.query)) {
      return Promise.resolve(ok(this.#woken(true, kind)));
    }
    if (req.timeoutMs === 0 || signal.aborted || this.#closed) {
      if (signal.aborted) return Promise.resolve(ok(null));
      return Promise.resolve(ok(this.#woken(false, kind)));
    }
    return new Promise((resolve) => {
      const wait: PendingWait = {
        query: start.query,
        kind,
        finish: (body) => {
          clearTimeout(timer);
          signal.removeEventListener("abort", onAbort);
          this.#unregister(wait);
          resolve(ok(body));
        },
      };
      const onAbort = () => {
        clearTimeout(timer);
        this.#unregister(wait);
        this.#counters.waitsAborted++;
        resolve(ok(null));
      };
      const timer = setTimeout(
        () => wait.finish(this.#woken(false, kind)),
        req.timeoutMs,
      );
      signal.addEventListener("abort", onAbort, { once: true });
      this.#register(wait);
      // A wait can switch the mode from idle: let the processor see it.
      this.kick();
    });
  }

  #register(wait: PendingWait): void {
    this.#waits.add(wait);
    const ids = wait.query.keyIds;
    for (const id of ids) {
      this.#waitingKeys.set(id, (this.#waitingKeys.get(id) ?? 0) + 1);
    }
    if (ids.length > this.#keyIndexMaxKeys) {
      this.#broad.add(wait);
      return;
    }
    for (const id of ids) {
      let waits = this.#index.get(id);
      if (waits === undefined) this.#index.set(id, waits = new Set());
      waits.add(wait);
    }
  }

  #unregister(wait: PendingWait): void {
    if (!this.#waits.delete(wait)) return;
    for (const id of wait.query.keyIds) {
      const n = this.#waitingKeys.get(id) ?? 0;
      if (n <= 1) this.#waitingKeys.delete(id);
      else this.#waitingKeys.set(id, n - 1);
    }
    if (this.#broad.delete(wait)) return;
    for (const id of wait.query.keyIds) {
      const waits = this.#index.get(id);
      if (waits === undefined) continue;
      waits.delete(wait);
      if (waits.size === 0) this.#index.delete(id);
    }
  }

  /** The plan a wait would get now (for tests and diagnostics). */
  plan(req: WaitRequest): Result<WaitPlan> {
    return planWait(
      this.#d.hasher,
      req,
      this.#state.mode,
      (id) => this.templates.entityOf(id),
    );
  }

  // ---- templates -------------------------------------------------------------

  /**
   * Activates templates from the committed tail on (not retroactive) and
   * writes the changed rows to the store.
   */
  activate(req: ActivateRequest): ActivateResult {
    const tail = this.#d.tailPos() ?? this.#processedPos;
    return this.templates.activate(req, tail, this.journal.cursor());
  }

  // ---- meta and lifecycle ----------------------------------------------------

  /** Monotonic counts of this runtime, for the node's metrics. */
  totals(): LiveTotals {
    const c = this.#state.counters;
    return {
      changes: c.changes,
      table: c.tableTouches,
      template: c.templateTouches,
      fine: c.fineTouches,
      touched: this.#counters.waitsTouched,
      timeout: this.#counters.waitsTimeout,
      stale: this.#counters.waitsStale,
      aborted: this.#counters.waitsAborted,
      activated: this.templates.activatedTotal,
      retired: this.templates.retiredTotal,
    };
  }

  /** Nothing pending and the processor caught up with the tail. */
  get settled(): boolean {
    const tail = this.#d.tailPos() ?? this.#processedPos;
    return this.journal.pendingKeys === 0 && this.#bucketStartMs === null &&
      this.#coalescer.held === 0 &&
      this.#state.coarsePending.size === 0 && this.#processedPos >= tail &&
      !this.#running;
  }

  /** The `touch/meta` body. */
  meta(): JsonObject {
    const tail = this.#d.tailPos() ?? this.#processedPos;
    const hot = this.journal.hotCounts();
    const kinds = { fineKey: 0, templateKey: 0, tableKey: 0 };
    let broad = 0;
    for (const w of this.#waits) {
      kinds[w.kind]++;
      if (w.kind === "fineKey" && this.#broad.has(w)) broad++;
    }
    const c = this.#state.counters;
    return {
      cursor: this.journal.cursor(),
      epoch: this.journal.epoch,
      generation: this.journal.generation,
      settled: this.settled,
      bucketMs: this.#bucketMs,
      coalesceMs: this.#popts.coarseIntervalMs,
      touchCoalesceWindowMs: this.#coalesceWindowMs,
      heldTouches: this.#coalescer.held,
      keyIndexMaxKeys: this.#keyIndexMaxKeys,
      indexedKeyIds: this.#index.size,
      pendingKeys: this.journal.pendingKeys,
      overflowBuckets: this.journal.overflowBuckets,
      activeWaiters: this.#waits.size,
      activeTemplates: this.templates.activeCount,
      touchMode: this.#state.mode,
      lagSourceOffsets: tail > this.#processedPos ? this.#lagRecords : 0,
      bucketMaxSourceOffsetSeq: this.#flushMaxPos < 0
        ? "-1"
        : encodeOffset(this.#flushMaxPos),
      walScannedThrough: encodeOffset(this.#processedPos),
      checkpointThrough: this.#persistedPos < 0
        ? null
        : encodeOffset(this.#persistedPos),
      previousCheckpointThrough: this.#previous === null
        ? null
        : encodeOffset(this.#previous.processedThroughPos),
      previousCheckpointEpoch: this.#previous?.epoch ?? null,
      fineWaitersActive: kinds.fineKey,
      coarseWaitersActive: kinds.tableKey + kinds.templateKey,
      broadFineWaitersActive: broad,
      hotFineKeys: hot.keys,
      hotTemplates: hot.templates,
      lastError: this.#lastError,
      scansTotal: this.#counters.scans,
      changesTotal: c.changes,
      recordsSkippedTotal: this.#counters.recordsSkipped,
      tableTouchesTotal: c.tableTouches,
      templateTouchesTotal: c.templateTouches,
      fineTouchesTotal: c.fineTouches,
      fineTouchesDroppedBudgetTotal: c.fineDroppedBudget,
      fineTouchesDroppedColdTotal: c.fineDroppedCold,
      missingBeforeErrorsTotal: c.missingBeforeErrors,
      flushesTotal: this.#counters.flushes,
      coalescedTouchesTotal: this.#coalescer.coalescedTotal,
      restrictedBatchesTotal: this.#counters.restrictedBatches,
      coarseOnlyBatchesTotal: this.#counters.coarseOnlyBatches,
      waitsTouchedTotal: this.#counters.waitsTouched,
      waitsTimeoutTotal: this.#counters.waitsTimeout,
      waitsStaleTotal: this.#counters.waitsStale,
      waitsAbortedTotal: this.#counters.waitsAborted,
      templatesActivatedTotal: this.templates.activatedTotal,
      templatesRetiredTotal: this.templates.retiredTotal,
    };
  }

  /**
   * Stops the loop and timers, writes last-seen times, and ends every wait
   * as touched (a false positive: the client re-runs and waits again, and
   * gets `stale` from the next runtime).
   */
  close(): void {
    if (this.#closed) return;
    this.#persistCheckpoint(true);
    this.templates.close();
    this.#closed = true;
    if (this.#flushTimer !== undefined) clearTimeout(this.#flushTimer);
    for (const w of [...this.#waits]) w.finish(this.#woken(true, w.kind));
  }
}

/** One stored record of a chunk: its start position and parsed value. */
interface PositionedRecord {
  pos: number;
  value: unknown;
}

const decoder = new TextDecoder();

/**
 * The records of a chunk with their start positions. When the bytes served
 * differ from the bytes stored (a schema lens promoted them), positions
 * cannot be told apart and every record takes the chunk's end: that can
 * only make a template apply to a record from before its activation (a
 * false positive), never skip one after it.
 */
function recordsOf(chunk: RecordChunk): PositionedRecord[] {
  const ends = storedMessageEnds(chunk.data);
  const exact = chunk.data.length === chunk.nextPos - chunk.startPos;
  const out: PositionedRecord[] = [];
  let from = 0;
  for (const end of ends) {
    let value: unknown = null;
    try {
      value = JSON.parse(decoder.decode(chunk.data.subarray(from, end - 1)));
    } catch {
      value = null; // skipped as a bad record
    }
    out.push({ pos: exact ? chunk.startPos + from : chunk.nextPos, value });
    from = end;
  }
  return out;
}

function keyIndexMaxKeysOf(touch: JsonObject): number {
  return (touch.memory as Record<string, number>).keyIndexMaxKeys;
}

/** Re-exported for the service: a not-found answer. */
export function touchNotEnabled(name: string): Result<never> {
  return fail("not_found", `touch not enabled on stream "${name}"`);
}
