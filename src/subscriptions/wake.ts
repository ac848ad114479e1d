/**
 * @module
 * Wakes and lease expiry (PROTOCOL.md §7, §7.3). An idle subscription with
 * pending work gets a wake: a new generation and `wake_id`, persisted
 * before anyone sees them; a pull-wake subscription also gets an event on
 * its wake stream. One timer per subscription expires its lease, which
 * clears the wake and wakes again if work is still pending.
 */

import type { Logger } from "../log.ts";
import type { SubscriptionRow } from "../storage/subscription_store.ts";
import type { Clock } from "./clock.ts";
import type { Sub, SubscriptionRegistry } from "./registry.ts";
import type { WakeEvent } from "./wake_events.ts";

/** What the waker needs. */
export interface WakerOptions {
  /** The subscriptions. */
  registry: SubscriptionRegistry;
  /** Time and timers. */
  clock: Clock;
  /** Queues a pull-wake event for appending to `wakeStream`. */
  pushEvent: (wakeStream: string, event: WakeEvent) => void;
  /** A webhook subscription got a wake: schedule its delivery. */
  webhookWake: (sub: Sub) => void;
  /** Logger. */
  log: Logger;
}

/** Clears `row`'s wake and lease (a failed webhook keeps its retry time). */
export function clearWake(row: SubscriptionRow): void {
  row.wakeId = null;
  row.wakeSnapshot = null;
  row.holder = null;
  row.leaseExpiresAtMs = null;
  if (row.status === "active") row.nextAttemptAtMs = null;
}

/** Issues wakes and expires leases. */
export class Waker {
  #registry: SubscriptionRegistry;
  #clock: Clock;
  #pushEvent: WakerOptions["pushEvent"];
  #webhookWake: WakerOptions["webhookWake"];
  #log: Logger;
  #timers = new Map<string, () => void>();
  #closed = false;

  /** A waker over `options.registry`. */
  constructor(options: WakerOptions) {
    this.#registry = options.registry;
    this.#clock = options.clock;
    this.#pushEvent = options.pushEvent;
    this.#webhookWake = options.webhookWake;
    this.#log = options.log;
  }

  /**
   * Starts a wake if `sub` is idle and has pending work; `trigger` names
   * the stream that caused it (the pull-wake event's `stream`).
   */
  maybeWake(sub: Sub, trigger?: string): boolean {
    if (this.#closed || sub.row.wakeId !== null || sub.row.holder !== null) {
      return false;
    }
    const pending = this.#registry.firstPending(sub);
    if (pending === undefined) return false;
    this.issueWake(sub);
    if (sub.config.type === "pull-wake") this.#event(sub, trigger ?? pending);
    else this.#webhookWake(sub);
    this.arm(sub);
    return true;
  }

  /** Wakes every idle subscription linking stream `name` that has work. */
  wakeLinked(name: string): void {
    for (const id of this.#registry.subscribersOf(name)) {
      const sub = this.#registry.get(id);
      if (sub !== undefined) this.maybeWake(sub, name);
    }
  }

  /** New generation and wake id, and the tails it covers; persisted. */
  issueWake(sub: Sub): void {
    const row = sub.row;
    row.generation++;
    row.wakeId = "w_" + hex(crypto.getRandomValues(new Uint8Array(12)));
    row.wakeSnapshot = JSON.stringify(this.#registry.tails(sub));
    row.holder = null;
    row.leaseExpiresAtMs = null;
    if (sub.config.type === "webhook") {
      // Honour a retry schedule still running from a failed earlier wake.
      row.nextAttemptAtMs = Math.max(
        this.#clock.now(),
        row.nextAttemptAtMs ?? 0,
      );
    }
    this.#registry.persist(sub);
  }

  /** §7.3: an expired lease clears holder and wake; pending work wakes again. */
  expireIfDue(sub: Sub): void {
    const lease = sub.row.leaseExpiresAtMs;
    if (lease === null || lease > this.#clock.now()) return;
    this.#log.debug(
      `subscription "${sub.row.id}": lease of generation ${sub.row.generation} expired`,
    );
    clearWake(sub.row);
    this.#registry.persist(sub);
    this.maybeWake(sub);
  }

  /**
   * After a restart: re-sends an unclaimed pull wake's event, wakes pending
   * idle subscriptions, and re-arms the lease timer.
   */
  resume(sub: Sub): void {
    const row = sub.row;
    if (
      row.wakeId !== null && row.holder === null &&
      sub.config.type === "pull-wake"
    ) {
      this.#event(sub, this.#registry.firstPending(sub) ?? "");
    }
    this.maybeWake(sub);
    this.arm(sub);
  }

  /** Sets `sub`'s lease timer to its lease expiry (or clears it). */
  arm(sub: Sub): void {
    const id = sub.row.id;
    this.disarm(id);
    const at = sub.row.leaseExpiresAtMs;
    if (this.#closed || at === null || this.#registry.get(id) !== sub) return;
    const cancel = this.#clock.setTimer(() => {
      this.#timers.delete(id);
      if (this.#closed || this.#registry.get(id) !== sub) return;
      this.#guard(() => {
        this.expireIfDue(sub);
        this.arm(sub);
      });
    }, Math.max(0, at - this.#clock.now()));
    this.#timers.set(id, cancel);
  }

  /** Clears subscription `id`'s lease timer. */
  disarm(id: string): void {
    this.#timers.get(id)?.();
    this.#timers.delete(id);
  }

  /** Number of armed lease timers (for tests). */
  get timers(): number {
    return this.#timers.size;
  }

  /** Stops issuing wakes and clears every timer. */
  close(): void {
    this.#closed = true;
    for (const id of [...this.#timers.keys()]) this.disarm(id);
  }

  #event(sub: Sub, stream: string): void {
    this.#pushEvent(sub.config.wakeStream!, {
      type: "wake",
      subscription_id: sub.row.id,
      stream,
      generation: sub.row.generation,
      ts: this.#clock.now(),
    });
  }

  #guard(fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.#log.error("subscription lease update failed", error);
    }
  }
}

function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}
