/**
 * @module
 * The WAL compaction loop: merges runs of small committed chunks into chunks
 * of about `chunkBytesTarget`, so catch-up reads fetch few rows even for
 * streams written one small append at a time. A budgeted tick on a timer,
 * never on the request path; bytes and record boundaries never change.
 */

import {
  COMPACTION_CHUNK_BYTES_DEFAULT,
  COMPACTION_INTERVAL_MS,
  COMPACTION_TICK_BYTES_MAX,
  COMPACTION_TICK_STREAMS_MAX,
} from "../limits.ts";
import type { Logger } from "../log.ts";
import type { WalStore } from "../storage/wal_store.ts";
import type { StreamState } from "./stream_state.ts";

/** Background merging of small WAL chunks. */
export interface CompactionOptions {
  /** Size merged chunks aim for, in bytes; 0 turns compaction off. */
  chunkBytesTarget: number;
  /** Bytes merged per tick at most (the loop's budget). */
  tickBytesMax: number;
  /** Time between ticks. */
  intervalMs: number;
  /**
   * Streams examined per tick at most: after a restart every stream is a
   * candidate, and each costs a WAL query even when nothing merges.
   */
  tickStreamsMax: number;
}

/** Compaction merging to `chunkBytesTarget`, with the fixed tick budgets. */
export function compactionOptions(chunkBytesTarget: number): CompactionOptions {
  return {
    chunkBytesTarget,
    tickBytesMax: COMPACTION_TICK_BYTES_MAX,
    intervalMs: COMPACTION_INTERVAL_MS,
    tickStreamsMax: COMPACTION_TICK_STREAMS_MAX,
  };
}

/** Compaction defaults: 64 KiB chunks, 8 MiB per 100 ms tick. */
export const DEFAULT_COMPACTION: CompactionOptions = compactionOptions(
  COMPACTION_CHUNK_BYTES_DEFAULT,
);

/** Runs WAL compaction over the streams offered to it. */
export class Compactor {
  #store: WalStore;
  #options: CompactionOptions;
  #log: Logger;
  #candidates = new Set<StreamState>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #running: Promise<void> | undefined;

  /** A stopped compactor; `start` begins ticking. */
  constructor(store: WalStore, options: CompactionOptions, log: Logger) {
    this.#store = store;
    this.#options = options;
    this.#log = log;
  }

  get #enabled(): boolean {
    return this.#options.chunkBytesTarget > 0;
  }

  /**
   * Starts ticking; after a restart a stream with enough bytes past its
   * fork position may hold small chunks (the rule `offer` applies).
   */
  start(states: Iterable<StreamState>): void {
    if (!this.#enabled) return;
    for (const state of states) this.offer(state);
    this.#timer = setInterval(() => {
      this.#running ??= this.#tick().finally(() => {
        this.#running = undefined;
      });
    }, this.#options.intervalMs);
    Deno.unrefTimer(this.#timer);
  }

  /** Notes a committed append: enough small data makes the stream a candidate. */
  offer(state: StreamState): void {
    if (!this.#enabled) return;
    const uncompacted = state.visibleTailPos - state.compactedPos;
    if (uncompacted >= this.#options.chunkBytesTarget) {
      this.#candidates.add(state);
    }
  }

  /** Stops ticking and waits for a running tick to finish. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  /** One budgeted pass over the candidates. */
  async #tick(): Promise<void> {
    const { chunkBytesTarget, tickBytesMax, tickStreamsMax } = this.#options;
    let budget = tickBytesMax;
    let streams = 0;
    try {
      for (const state of [...this.#candidates]) {
        if (budget <= 0 || streams++ >= tickStreamsMax) break;
        if (this.#timer === undefined) break; // stopped
        this.#candidates.delete(state);
        if (state.deleted || !state.visible) continue;
        const end = state.visibleTailPos;
        const before = state.compactedPos;
        state.compactedPos = await this.#store.compact(
          state.id,
          before,
          end,
          chunkBytesTarget,
          budget,
        );
        budget -= state.compactedPos - before;
        if (
          end - state.compactedPos >= chunkBytesTarget &&
          state.compactedPos > before
        ) {
          this.#candidates.add(state); // budget ran out: continue next tick
        }
      }
    } catch (error) {
      this.#log.error("WAL compaction failed; will retry", error);
    }
  }
}
