/**
 * @module
 * Fan-out of committed changes to `StreamListener`s (subscriptions, the
 * tier's backlog figure). Runs right after a commit, synchronously; a
 * listener that throws is logged and the others still run.
 */

import type { Logger } from "../log.ts";
import type { ProfileOptions } from "../profiles/profile.ts";
import type { StreamListener, StreamView } from "./types.ts";

/** Registered listeners. */
export class Listeners {
  readonly #log: Logger;
  readonly #listeners: StreamListener[] = [];

  /** No listeners yet; failures go to `log`. */
  constructor(log: Logger) {
    this.#log = log;
  }

  /** Adds a listener. */
  add(listener: StreamListener): void {
    this.#listeners.push(listener);
  }

  /** Tells every listener; `view` is built only when someone listens. */
  emit(
    event: "created" | "appended" | "schemaChanged",
    view: () => StreamView,
  ): void {
    if (this.#listeners.length === 0) return;
    const v = view();
    for (const listener of this.#listeners) {
      try {
        listener[event]?.(v);
      } catch (error) {
        this.#log.error(`stream listener failed on ${event}`, error);
      }
    }
  }

  /** Tells every listener that a stream's profile replaced `previous`. */
  emitProfileChanged(view: StreamView, previous: ProfileOptions): void {
    for (const listener of this.#listeners) {
      try {
        listener.profileChanged?.(view, previous);
      } catch (error) {
        this.#log.error("stream listener failed on profileChanged", error);
      }
    }
  }

  /**
   * Tells every listener that stream `name` is gone; `ids` are the streams
   * whose state changed with it (itself, and sources deleted with it).
   */
  emitDeleted(name: string, ids: number[]): void {
    for (const listener of this.#listeners) {
      try {
        listener.deleted?.(name, ids);
      } catch (error) {
        this.#log.error("stream listener failed on deleted", error);
      }
    }
  }
}
