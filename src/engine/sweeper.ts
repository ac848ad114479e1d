/**
 * @module
 * The sweeper: once a second it expires streams whose TTL or expiry time
 * passed (checking only the registry's `expiring` set, not every stream),
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

  /** One sweep: expiries, then access times. */
  sweep(): void {
    const now = this.#hooks.now();
    for (const state of this.#registry.expiring) {
      if (this.#registry.live(state.name) !== state) {
        this.#registry.expiring.delete(state); // deleted, soft-deleted or replaced
      } else if (state.visible && state.isExpired(now)) {
        this.#registry.expiring.delete(state);
        this.#hooks.expire(state);
      }
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
