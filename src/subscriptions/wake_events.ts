/**
 * @module
 * The bounded queue of pull-wake events (PROTOCOL.md §7.2) waiting to be
 * appended to their wake streams. Events are queued from inside engine
 * listeners, which must not block, and appended one at a time afterwards.
 * A full queue drops new events with a warning: the wake itself is durable
 * state, so a worker can still claim it; only the hint is lost.
 */

import type { AppendOutcome, AppendRequest } from "../engine/types.ts";
import type { Result } from "../errors.ts";
import type { Logger } from "../log.ts";

/** Appends to a stream (the engine's `append`). */
export type AppendFn = (
  name: string,
  request: AppendRequest,
) => Promise<Result<AppendOutcome>>;

/** One wake event, as written to the wake stream. */
export interface WakeEvent {
  /** Always `wake`. */
  type: "wake";
  /** Subscription id. */
  subscription_id: string;
  /** A stream with pending work. */
  stream: string;
  /** The wake's generation. */
  generation: number;
  /** When the wake was issued, epoch ms. */
  ts: number;
}

/** A bounded FIFO of wake events with one appender. */
export class WakeEventQueue {
  #append: AppendFn;
  #max: number;
  #log: Logger;
  #queue: { wakeStream: string; event: WakeEvent }[] = [];
  #pump: Promise<void> | undefined;
  #closed = false;

  /** Appends through `append`; holds at most `max` events. */
  constructor(append: AppendFn, max: number, log: Logger) {
    this.#append = append;
    this.#max = max;
    this.#log = log;
  }

  /** Number of events waiting. */
  get size(): number {
    return this.#queue.length;
  }

  /** Queues `event` for `wakeStream`; false (and a warning) when full or closed. */
  push(wakeStream: string, event: WakeEvent): boolean {
    if (this.#closed) return false;
    if (this.#queue.length >= this.#max) {
      this.#log.warn(
        `wake queue full; dropped the wake event for "${event.subscription_id}"`,
      );
      return false;
    }
    this.#queue.push({ wakeStream, event });
    this.#pump ??= this.#run().finally(() => {
      this.#pump = undefined;
    });
    return true;
  }

  async #run(): Promise<void> {
    // Let the listener that queued the event return before appending.
    await Promise.resolve();
    while (this.#queue.length > 0 && !this.#closed) {
      const { wakeStream, event } = this.#queue.shift()!;
      try {
        const appended = await this.#append(wakeStream, {
          contentType: "application/json",
          body: new TextEncoder().encode(JSON.stringify(event)),
          close: false,
          streamSeq: undefined,
          producer: undefined,
          routingKey: undefined,
          timestampMs: undefined,
        });
        if (!appended.ok) {
          this.#log.warn(
            `subscription "${event.subscription_id}": cannot write a wake event to "${wakeStream}": ${appended.error.message}`,
          );
        }
      } catch (error) {
        this.#log.warn(`wake event append failed: ${(error as Error).message}`);
      }
    }
  }

  /** Drops queued events and waits for the append in progress. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#queue.length = 0;
    await this.#pump;
  }
}
