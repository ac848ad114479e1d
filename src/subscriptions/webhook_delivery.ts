/**
 * @module
 * Webhook delivery (PROTOCOL.md §7.1): each webhook wake is POSTed, signed,
 * to the subscription's URL, at most `deliveriesMax` at once (the rest
 * wait their turn, one entry per subscription). A failed attempt marks the
 * subscription `failed` and retries after the shared capped backoff; a
 * success starts the lease, and `{done:true}` acks the wake's tails at once.
 */

import { backoff } from "../backoff.ts";
import type { SubscriptionsConfig } from "../config.ts";
import { WEBHOOK_TAKEOVER_GRACE_MS } from "../limits.ts";
import type { Logger } from "../log.ts";
import type { SubscriptionOp } from "../storage/subscription_store.ts";
import type { Clock } from "./clock.ts";
import type { KeyRing } from "./key_ring.ts";
import { mintToken } from "./leases.ts";
import {
  type Link,
  snapshotOf,
  type Sub,
  type SubscriptionRegistry,
} from "./registry.ts";
import { clearWake, type Waker } from "./wake.ts";
import {
  type AttemptOptions,
  type AttemptOutcome,
  attemptWebhook,
} from "./webhook_attempt.ts";
import { streamInfoJson } from "./wire.ts";

/** What webhook delivery needs. */
export interface WebhookDeliveryOptions {
  /** The subscriptions. */
  registry: SubscriptionRegistry;
  /** Wakes and lease timers. */
  waker: Waker;
  /** Signing key and token signer. */
  keys: KeyRing;
  /** Limits, timeouts and the retry schedule. */
  config: SubscriptionsConfig;
  /** Time and timers. */
  clock: Clock;
  /** The callback URL of subscription `id`. */
  callbackUrl: (id: string) => string;
  /** Logger. */
  log: Logger;
  /** Makes one attempt (tests replace the network). */
  attempt?: (options: AttemptOptions) => Promise<AttemptOutcome>;
  /** Jitter source for the retry backoff, uniform in [0, 1). */
  random?: () => number;
}

/** Webhook deliveries in flight, waiting, and scheduled. */
export class WebhookDelivery {
  #o: WebhookDeliveryOptions;
  #attempt: (options: AttemptOptions) => Promise<AttemptOutcome>;
  #random: () => number;
  #delivering = new Map<string, Promise<void>>();
  #waiting = new Set<string>();
  #timers = new Map<string, () => void>();
  #abort = new AbortController();
  #closed = false;

  /** Delivery over `options.registry`. */
  constructor(options: WebhookDeliveryOptions) {
    this.#o = options;
    this.#attempt = options.attempt ?? attemptWebhook;
    this.#random = options.random ?? Math.random;
  }

  /** Number of requests in flight. */
  get inFlight(): number {
    return this.#delivering.size;
  }

  /** Number of subscriptions waiting for a free delivery slot. */
  get waiting(): number {
    return this.#waiting.size;
  }

  /**
   * Sets `sub`'s delivery timer to its next attempt, if it is a webhook
   * subscription with a wake and no request in flight.
   */
  schedule(sub: Sub): void {
    const id = sub.row.id;
    this.#cancelTimer(id);
    const row = sub.row;
    if (
      this.#closed || sub.config.type !== "webhook" || row.wakeId === null ||
      row.nextAttemptAtMs === null || this.#delivering.has(id)
    ) return;
    const cancel = this.#o.clock.setTimer(() => {
      this.#timers.delete(id);
      if (this.#closed || this.#o.registry.get(id) !== sub) return;
      if (row.wakeId === null || row.nextAttemptAtMs === null) return;
      if (this.#dueAtMs(sub) > this.#o.clock.now()) this.schedule(sub);
      else this.#start(sub);
    }, Math.max(0, this.#dueAtMs(sub) - this.#o.clock.now()));
    this.#timers.set(id, cancel);
  }

  /**
   * When `sub`'s wake is to be sent from this node: at its attempt time,
   * unless another node issued it (several nodes share the store): that
   * node sends it, and this one only once the attempt is overdue by the
   * delivery timeout and `WEBHOOK_TAKEOVER_GRACE_MS` (the issuer is gone),
   * so each wake is delivered by one node.
   */
  #dueAtMs(sub: Sub): number {
    const at = sub.row.nextAttemptAtMs!;
    return sub.foreignWakeId === undefined ||
        sub.foreignWakeId !== sub.row.wakeId
      ? at
      : at + this.#o.config.deliveryTimeoutMs + WEBHOOK_TAKEOVER_GRACE_MS;
  }

  /** Drops subscription `id`'s timer and waiting slot (it was deleted). */
  forget(id: string): void {
    this.#cancelTimer(id);
    this.#waiting.delete(id);
  }

  #cancelTimer(id: string): void {
    this.#timers.get(id)?.();
    this.#timers.delete(id);
  }

  #start(sub: Sub): void {
    const id = sub.row.id;
    if (this.#delivering.has(id)) return;
    if (this.#delivering.size >= this.#o.config.deliveriesMax) {
      this.#waiting.add(id); // at most one entry per subscription
      return;
    }
    this.#waiting.delete(id);
    const run = this.#deliver(sub).catch((error) =>
      this.#o.log.error(`webhook delivery for "${id}" failed`, error)
    ).finally(() => this.#finished(id));
    this.#delivering.set(id, run);
  }

  #finished(id: string): void {
    this.#delivering.delete(id);
    if (this.#closed) return;
    const live = this.#o.registry.get(id);
    if (live !== undefined) {
      this.schedule(live);
      this.#o.waker.arm(live);
    }
    const next = this.#waiting.values().next();
    if (next.done) return;
    this.#waiting.delete(next.value);
    const waiting = this.#o.registry.get(next.value);
    if (waiting !== undefined) this.#start(waiting);
  }

  async #deliver(sub: Sub): Promise<void> {
    const { registry, clock, keys, config } = this.#o;
    const row = sub.row;
    const wakeId = row.wakeId!;
    const body = JSON.stringify({
      subscription_id: row.id,
      wake_id: wakeId,
      generation: row.generation,
      streams: registry.links(sub).map(streamInfoJson),
      callback_url: this.#o.callbackUrl(row.id),
      callback_token: mintToken(keys.tokens, row, clock.now()),
    });
    const outcome = await this.#attempt({
      url: sub.config.webhookUrl!,
      body,
      signer: keys.signer,
      allowLocalhost: config.webhookAllowLocalhost,
      timeoutMs: config.deliveryTimeoutMs,
      signal: this.#abort.signal,
      nowMs: clock.now(),
    });
    if (this.#closed || registry.get(row.id) !== sub) return; // deleted meanwhile
    if (!outcome.ok) return this.#failed(sub, outcome.reason);
    row.status = "active";
    row.retryCount = 0;
    if (row.wakeId !== wakeId) {
      // A callback finished (or a lease expiry replaced) this wake first.
      if (row.wakeId === null) row.nextAttemptAtMs = null;
      registry.persist(sub);
      return;
    }
    row.nextAttemptAtMs = null;
    if (!outcome.done) {
      // §7.3: the webhook lease runs from delivery; callbacks extend it.
      row.leaseExpiresAtMs = clock.now() + sub.config.leaseTtlMs;
      registry.persist(sub);
      return;
    }
    this.#done(sub);
  }

  /** Marks `sub` failed and schedules the next attempt after the backoff. */
  #failed(sub: Sub, reason: string): void {
    const row = sub.row;
    const { retryDelayMinMs, retryDelayMaxMs } = this.#o.config;
    row.retryCount++;
    row.status = "failed";
    row.nextAttemptAtMs = this.#o.clock.now() +
      backoff(row.retryCount, retryDelayMinMs, retryDelayMaxMs, this.#random);
    this.#o.log.warn(
      `subscription "${row.id}": webhook attempt ${row.retryCount} failed (${reason}); retrying`,
    );
    this.#o.registry.persist(sub);
  }

  /** §7.1: `{done:true}` acks the wake's tails and releases the lease. */
  #done(sub: Sub): void {
    const registry = this.#o.registry;
    const row = sub.row;
    const ops: SubscriptionOp[] = [];
    const moves: Link[] = [];
    for (const [path, pos] of Object.entries(snapshotOf(row))) {
      const link = sub.links.get(path);
      if (link !== undefined && pos > link.ackedPos) {
        const next = { ...link, ackedPos: pos };
        moves.push(next);
        ops.push(registry.linkOp(sub, next));
      }
    }
    clearWake(row);
    ops.push({ op: "put_subscription", row: { ...row } });
    registry.commit(ops);
    for (const link of moves) registry.setLink(sub, link);
    this.#o.waker.maybeWake(sub);
  }

  /** Stops scheduling, aborts requests in flight and waits for them. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const id of [...this.#timers.keys()]) this.#cancelTimer(id);
    this.#waiting.clear();
    this.#abort.abort();
    await Promise.allSettled([...this.#delivering.values()]);
  }
}
