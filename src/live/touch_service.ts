/**
 * @module
 * The node's touch runtimes (touch-live.md): one `LiveStream` per stream
 * whose `state-protocol` profile enables touch, created on the first
 * `touch/*` request, rebuilt (new epoch) when the touch options change,
 * dropped when touch is switched off (its templates too) or the stream is
 * deleted. Committed appends reach the runtimes through an engine listener.
 * Waits take a slot of the node's `--waiters-max` budget for as long as
 * they wait; journals share a memory cap, over which the least recently
 * waited runtime is evicted (its cursors then answer `stale`).
 */

import type { Engine } from "../engine/engine.ts";
import type { StreamListener, StreamView } from "../engine/types.ts";
import { fail, ok, type Result } from "../errors.ts";
import {
  TOUCH_SETTLE_POLL_MS,
  TOUCH_SETTLE_TIMEOUT_DEFAULT_MS,
  TOUCH_SETTLE_TIMEOUT_MAX_MS,
} from "../limits.ts";
import type { Logger } from "../log.ts";
import type { JsonObject } from "../profiles/profile.ts";
import type { LiveTemplateStore } from "../storage/live_template_store.ts";
import { KeyHasher } from "../touch/keys.ts";
import { parseActivateBody } from "../touch/templates.ts";
import { parseWaitBody } from "../touch/wait.ts";
import {
  addTotals,
  LiveStream,
  type LiveTotals,
  touchNotEnabled,
  zeroTotals,
} from "./live_stream.ts";

/** What the HTTP routes call. */
export interface TouchApi {
  /** `GET touch/meta` with its query (`settle`, `timeoutMs`). */
  meta(
    name: string,
    query: URLSearchParams,
    signal: AbortSignal,
  ): Promise<Result<JsonObject>>;
  /** `POST touch/wait`; null when the client hung up. */
  wait(
    name: string,
    body: unknown,
    signal: AbortSignal,
  ): Promise<Result<JsonObject | null>>;
  /** `POST touch/templates/activate`. */
  activate(name: string, body: unknown): Result<JsonObject>;
}

/** The engine calls the service makes. */
export type TouchEngine = Pick<
  Engine,
  "view" | "read" | "reserveWaiter" | "streamInfo"
>;

/** How to build a `TouchService`. */
export interface TouchServiceOptions {
  /** The engine: views, reads, the waiter budget. */
  engine: TouchEngine;
  /**
   * The stream's validated `profile.touch` object when its profile is
   * `state-protocol` with `touch.enabled`, else null (default:
   * `touchOptionsOf`, from the stream's committed profile).
   */
  touchOptionsOf?(stream: StreamView): JsonObject | null;
  /** Where templates are kept. */
  store: LiveTemplateStore;
  /** Logger. */
  log: Logger;
  /** Bytes all journals may hold together. */
  memoryBytesMax: number;
  /** Epoch ms; `Date.now` by default. */
  clock?: () => number;
  /** Bytes the processor reads at a time (tests lower it to make lag). */
  batchBytesMax?: number;
}

/**
 * The `touch` options of a stream whose committed profile is
 * `state-protocol` with `touch.enabled: true`, else null.
 */
export function touchOptionsOf(stream: StreamView): JsonObject | null {
  const profile = stream.profile;
  if (profile === undefined || profile.kind !== "state-protocol") return null;
  const touch = profile.touch;
  if (touch === null || typeof touch !== "object" || Array.isArray(touch)) {
    return null;
  }
  return (touch as JsonObject).enabled === true ? touch as JsonObject : null;
}

/** Every touch runtime of the node. */
export class TouchService implements TouchApi {
  readonly #o: TouchServiceOptions;
  readonly #optionsOf: (stream: StreamView) => JsonObject | null;
  readonly #hasher: KeyHasher;
  readonly #clock: () => number;
  readonly #streams = new Map<string, LiveStream>();
  /** Counts of runtimes already dropped, so the node's totals never fall. */
  readonly #dropped: LiveTotals = zeroTotals();
  #closed = false;

  private constructor(o: TouchServiceOptions, hasher: KeyHasher) {
    this.#o = o;
    this.#hasher = hasher;
    this.#clock = o.clock ?? Date.now;
    this.#optionsOf = o.touchOptionsOf ?? touchOptionsOf;
  }

  /**
   * Loads the hash kernels and drops stored templates of streams that are
   * gone or no longer have touch enabled.
   */
  static async open(o: TouchServiceOptions): Promise<TouchService> {
    const service = new TouchService(o, await KeyHasher.create());
    // Only streams with stored templates are looked up, not every stream.
    for (const id of o.store.streamIds()) {
      const info = o.engine.streamInfo(id);
      if (
        info === undefined || info.softDeleted ||
        service.#optionsOf(info) === null
      ) o.store.deleteStream(id);
    }
    return service;
  }

  /** Runtimes now (for tests and metrics). */
  get size(): number {
    return this.#streams.size;
  }

  /** The listener the engine calls after commits. */
  listener(): StreamListener {
    return {
      appended: (view) => this.#changed(view, false),
      profileChanged: (view) => this.#changed(view, true),
      deleted: (name, ids) => {
        this.#drop(name, true);
        // Streams without a runtime may still have stored templates.
        for (const id of ids) this.#o.store.deleteStream(id);
      },
    };
  }

  /**
   * A stream committed something: feed its runtime, or drop a stale one.
   * A profile change without a runtime drops stored templates when touch
   * is off now (re-enabling it starts without templates).
   */
  #changed(view: StreamView, profileMayChange: boolean): void {
    const live = this.#streams.get(view.name);
    if (live === undefined) {
      if (profileMayChange && this.#optionsOf(view) === null) {
        this.#o.store.deleteStream(view.id);
      }
      return;
    }
    if (live.streamId !== view.id) {
      this.#drop(view.name, false);
      return;
    }
    const touch = this.#optionsOf(view);
    if (touch === null) this.#drop(view.name, true);
    else if (!sameOptions(touch, live.touch)) this.#drop(view.name, false);
    else live.kick();
  }

  #drop(name: string, forgetTemplates: boolean): void {
    const live = this.#streams.get(name);
    if (live === undefined) return;
    this.#streams.delete(name);
    live.close();
    addTotals(this.#dropped, live.totals());
    if (forgetTemplates) this.#o.store.deleteStream(live.streamId);
  }

  /** The runtime of `name`: 404 without the stream or without touch. */
  runtime(name: string): Result<LiveStream> {
    if (this.#closed) return fail("unavailable", "Server is shutting down");
    const view = this.#o.engine.view(name);
    if (view === undefined) {
      return fail("stream_not_found", `Stream "${name}" not found`);
    }
    const touch = this.#optionsOf(view);
    let live = this.#streams.get(name);
    if (touch === null) {
      if (live !== undefined) this.#drop(name, true);
      return touchNotEnabled(name);
    }
    if (
      live !== undefined &&
      (live.streamId !== view.id || !sameOptions(touch, live.touch))
    ) {
      this.#drop(name, live.streamId !== view.id);
      live = undefined;
    }
    if (live === undefined) {
      live = this.#create(view, touch);
      this.#streams.set(name, live);
      this.#evictOverCap(live);
    }
    return ok(live);
  }

  #create(view: StreamView, touch: JsonObject): LiveStream {
    const engine = this.#o.engine;
    return new LiveStream({
      hasher: this.#hasher,
      touch,
      streamId: view.id,
      name: view.name,
      startPos: view.tailPos,
      read: async (pos, bytesMax) => {
        const got = await engine.read(view.name, pos, bytesMax);
        return got.ok ? ok(got.value) : got;
      },
      tailPos: () => {
        const now = engine.view(view.name);
        return now === undefined || now.id !== view.id
          ? undefined
          : now.tailPos;
      },
      store: this.#o.store,
      log: this.#o.log,
      clock: this.#clock,
      batchBytesMax: this.#o.batchBytesMax,
    });
  }

  /** Evicts least recently waited runtimes (never `keep`) over the cap. */
  #evictOverCap(keep: LiveStream): void {
    let total = 0;
    for (const live of this.#streams.values()) total += live.memoryBytes;
    if (total <= this.#o.memoryBytesMax) return;
    const order = [...this.#streams.values()]
      .filter((l) => l !== keep && l.waiting === 0)
      .sort((a, b) => a.lastWaitMs - b.lastWaitMs);
    for (const live of order) {
      if (total <= this.#o.memoryBytesMax) break;
      total -= live.memoryBytes;
      this.#o.log.info(
        `touch journal of "${live.name}" evicted: journals over ${this.#o.memoryBytesMax} bytes`,
      );
      this.#drop(live.name, false);
    }
  }

  /** Gauges and monotonic counts over every runtime, for `/metrics`. */
  figures(): {
    journals: number;
    journalBytes: number;
    waiters: number;
    templatesActive: number;
    changes: number;
    touches: { table: number; template: number; fine: number };
    waits: { touched: number; timeout: number; stale: number; aborted: number };
    templates: { activated: number; retired: number };
  } {
    const t = zeroTotals();
    addTotals(t, this.#dropped);
    let journalBytes = 0;
    let waiters = 0;
    let templatesActive = 0;
    for (const live of this.#streams.values()) {
      addTotals(t, live.totals());
      journalBytes += live.memoryBytes;
      waiters += live.waiting;
      templatesActive += live.templates.activeCount;
    }
    return {
      journals: this.#streams.size,
      journalBytes,
      waiters,
      templatesActive,
      changes: t.changes,
      touches: { table: t.table, template: t.template, fine: t.fine },
      waits: {
        touched: t.touched,
        timeout: t.timeout,
        stale: t.stale,
        aborted: t.aborted,
      },
      templates: { activated: t.activated, retired: t.retired },
    };
  }

  /** `GET touch/meta`, waiting for `settle=flush` when asked. */
  async meta(
    name: string,
    query: URLSearchParams,
    signal: AbortSignal,
  ): Promise<Result<JsonObject>> {
    const settle = query.get("settle");
    if (settle !== null && settle !== "flush") {
      return fail("bad_request", '"settle" must be "flush"', {
        field: "settle",
      });
    }
    let timeoutMs = TOUCH_SETTLE_TIMEOUT_DEFAULT_MS;
    const raw = query.get("timeoutMs");
    if (raw !== null) {
      if (!/^\d{1,15}$/.test(raw)) {
        return fail("bad_request", '"timeoutMs" must be an integer', {
          field: "timeoutMs",
        });
      }
      timeoutMs = Math.min(Number(raw), TOUCH_SETTLE_TIMEOUT_MAX_MS);
    }
    const found = this.runtime(name);
    if (!found.ok) return found;
    const live = found.value;
    if (settle === "flush") {
      const deadline = this.#clock() + timeoutMs;
      live.kick();
      while (!live.settled && this.#clock() < deadline && !signal.aborted) {
        await sleep(TOUCH_SETTLE_POLL_MS);
      }
    }
    return ok(live.meta());
  }

  /** `POST touch/wait`. */
  async wait(
    name: string,
    body: unknown,
    signal: AbortSignal,
  ): Promise<Result<JsonObject | null>> {
    const req = parseWaitBody(body);
    if (!req.ok) return req;
    const found = this.runtime(name);
    if (!found.ok) return found;
    const live = found.value;
    if (req.value.declareTemplates !== undefined) {
      const declared = parseActivateBody(
        {
          templates: req.value.declareTemplates,
          inactivityTtlMs: req.value.inactivityTtlMs,
        },
        live.limits.defaultInactivityTtlMs,
      );
      if (!declared.ok) return declared;
      live.activate(declared.value);
    }
    const slot = this.#o.engine.reserveWaiter();
    if (!slot.ok) return slot;
    try {
      return await live.wait(req.value, signal);
    } finally {
      slot.value();
    }
  }

  /** `POST touch/templates/activate`. */
  activate(name: string, body: unknown): Result<JsonObject> {
    const found = this.runtime(name);
    if (!found.ok) return found;
    const live = found.value;
    const req = parseActivateBody(body, live.limits.defaultInactivityTtlMs);
    if (!req.ok) return req;
    const result = live.activate(req.value);
    return ok({
      activated: result.activated,
      denied: result.denied,
      limits: {
        maxActiveTemplatesPerStream: live.limits.maxActiveTemplatesPerStream,
        maxActiveTemplatesPerEntity: live.limits.maxActiveTemplatesPerEntity,
      },
    } as unknown as JsonObject);
  }

  /** Stops every runtime (their waits end as touched). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const name of [...this.#streams.keys()]) this.#drop(name, false);
  }
}

function sameOptions(a: JsonObject, b: JsonObject): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
