/**
 * @module
 * The sweeper: once a second it expires streams whose TTL or expiry time
 * passed (checking only the streams the registry's expiry queue has due,
 * not every stream with a TTL),
 * and writes the access times of streams read since they were last written
 * (so a sliding TTL survives a restart) in one WAL operation batch.
 */

import { SWEEP_INTERVAL_MS } from "../limits.ts";
import type { WalOp } from "../storage/wal_store.ts";
import type { StreamRegistry } from "./registry.ts";
import type { StreamState } from "./stream_state.ts";

/** What the sweeper needs from the engine. */
export interface SweeperHooks {
  /** The clock. */
  now(): number;
  /** Deletes an expired stream (when writes are admitted). */
  expire(state: StreamState): void;
  /** Queues `ops` for commit if writes are admitted now; never throws. */
  write(ops: WalOp[]): void;
}

/** See the module doc. */
export class Sweeper {
  readonly #registry: StreamRegistry;
  readonly #hooks: SweeperHooks;
  /** Streams read since their access time was last written. */
  readonly #accessDirty = new Set<StreamState>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #checked = 0;

  /** A stopped sweeper over `registry`. */
  constructor(registry: StreamRegistry, hooks: SweeperHooks) {
    this.#registry = registry;
    this.#hooks = hooks;
  }

  /** Starts sweeping every `SWEEP_INTERVAL_MS` (an unref'd timer). */
  start(): void {
    this.#timer = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    Deno.unrefTimer(this.#timer);
  }

  /** Stops the timer. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Notes that `state`'s access time moved and must be written. */
  touched(state: StreamState): void {
    this.#accessDirty.add(state);
  }

  /** Streams whose expiry the last sweep checked (for tests and figures). */
  get checked(): number {
    return this.#checked;
  }

  /** One sweep: expiries, then access times. */
  sweep(): void {
    const now = this.#hooks.now();
    const expiring = this.#registry.expiring;
    const due = expiring.take(now);
    this.#checked = due.length;
    for (const state of due) {
      if (this.#registry.live(state.name) !== state) continue; // deleted, soft-deleted or replaced
      if (state.visible && state.isExpired(now)) {
        this.#hooks.expire(state);
        if (state.deleted || this.#registry.live(state.name) !== state) {
          continue;
        }
      }
      // Read since it was queued (a sliding TTL), its creation commits
      // first, or its deletion could not be written yet: checked again at
      // its expiry time, and not before the next sweep.
      expiring.requeue(state, now + SWEEP_INTERVAL_MS);
    }
    const touches: WalOp[] = [];
    for (const state of this.#accessDirty) {
      if (state.deleted) { // gone, or its creation was rolled back
        this.#accessDirty.delete(state);
        continue;
      }
      if (!state.visible) continue; // its creation commits first
      this.#accessDirty.delete(state);
      if (this.#registry.live(state.name) !== state) continue;
      if (state.accessedAtMs === state.persistedAccessMs) continue;
      touches.push({
        op: "touch",
        streamId: state.id,
        accessedAtMs: state.accessedAtMs,
      });
      state.persistedAccessMs = state.accessedAtMs;
    }
    if (touches.length > 0) this.#hooks.write(touches);
  }
}
