/**
 * @module
 * The subscription manager (PROTOCOL.md §6-7): wires the registry, the
 * control API, links that follow streams, wakes and leases, and webhook
 * delivery, and watches the engine for created, appended and deleted
 * streams. Every state change is written to the `SubscriptionStore`
 * synchronously before anyone can observe it, and each request's
 * check-then-apply runs without an `await` in between, so a concurrent
 * delete or a second claim cannot slip into the gap. It returns typed
 * results; `http/` turns them into the protocol's JSON.
 */

import type { LimitsConfig, SubscriptionsConfig } from "../config.ts";
import type { StreamView } from "../engine/types.ts";
import { type Result, StreamError } from "../errors.ts";
import { SUBSCRIPTION_FENCED_TRIES_MAX } from "../limits.ts";
import type { Logger } from "../log.ts";
import { decodeOffset } from "../protocol/offset.ts";
import type { SubscriptionStore } from "../storage/subscription_store.ts";
import type { SubscriptionChange } from "../storage/wal_store.ts";
import { type Clock, systemClock } from "./clock.ts";
import { Control } from "./control.ts";
import { KeyRing } from "./key_ring.ts";
import { Leases } from "./leases.ts";
import { StreamLinks } from "./links.ts";
import { type StreamSource, SubscriptionRegistry } from "./registry.ts";
import type { PublicJwk } from "./signing.ts";
import type {
  AckOutcome,
  AckRequest,
  ClaimOutcome,
  PutOutcome,
  SubscriptionConfig,
  SubscriptionPage,
  SubscriptionView,
} from "./types.ts";
import { Waker } from "./wake.ts";
import { WakeEventQueue } from "./wake_events.ts";
import type { AttemptOptions, AttemptOutcome } from "./webhook_attempt.ts";
import { WebhookDelivery } from "./webhook_delivery.ts";

export type { StreamSource } from "./registry.ts";

/** Options for `SubscriptionManager.open`. */
export interface ManagerOptions {
  /** Streams. */
  engine: StreamSource;
  /** Durable state. */
  store: SubscriptionStore;
  /** Subscription settings and limits. */
  config: SubscriptionsConfig;
  /** Server limits (stream name length, list page size). */
  limits: LimitsConfig;
  /** Logger. */
  log: Logger;
  /** Base URL for callback and JWKS URLs; `setBaseUrl` may set it later. */
  baseUrl?: string;
  /** Time and timers, for tests. */
  clock?: Clock;
  /** One webhook attempt, for tests. */
  attempt?: (options: AttemptOptions) => Promise<AttemptOutcome>;
  /** Retry jitter source, for tests. */
  random?: () => number;
  /**
   * With a store several nodes share: registers the listener told which
   * subscriptions another node changed (`undefined`: maybe all of them).
   */
  announcements?: (
    listener: (ids: string[] | undefined, change?: SubscriptionChange) => void,
  ) => void;
  /**
   * With a store several nodes share: how often, in ms, to check that no
   * change of another node was missed (a lost announcement), reloading
   * every subscription and the signing keys when one was.
   */
  freshnessCheckMs?: number;
}

/** Subscriptions over an engine. Create with `SubscriptionManager.open`. */
export class SubscriptionManager {
  #baseUrl: string;
  #keys: KeyRing;
  #registry: SubscriptionRegistry;
  #control: Control;
  #leases: Leases;
  #links: StreamLinks;
  #waker: Waker;
  #webhooks: WebhookDelivery;
  #wakeEvents: WakeEventQueue;
  #log: Logger;
  #streams: StreamSource;
  #store: SubscriptionStore;
  #clock: Clock;
  #stopFreshness: (() => void) | undefined;
  #closed = false;

  private constructor(options: ManagerOptions, keys: KeyRing) {
    const { config, log } = options;
    const clock = options.clock ?? systemClock;
    this.#baseUrl = options.baseUrl ?? "http://127.0.0.1";
    this.#keys = keys;
    this.#log = log;
    this.#streams = options.engine;
    this.#store = options.store;
    this.#clock = clock;
    const registry = new SubscriptionRegistry(
      options.store,
      options.engine,
      options.limits.listPageMax,
    );
    this.#registry = registry;
    this.#wakeEvents = new WakeEventQueue(
      (name, request) => options.engine.append(name, request),
      config.wakeQueueMax,
      log,
    );
    this.#links = new StreamLinks(registry, config.linksMax, log);
    this.#waker = new Waker({
      registry,
      clock,
      log,
      pushEvent: (stream, event) => this.#wakeEvents.push(stream, event),
      webhookWake: (sub) => this.#webhooks.schedule(sub),
    });
    this.#webhooks = new WebhookDelivery({
      registry,
      waker: this.#waker,
      keys,
      config,
      clock,
      log,
      callbackUrl: (id) =>
        this.#url(`subscriptions/${encodeURIComponent(id)}/callback`),
      attempt: options.attempt,
      random: options.random,
    });
    this.#control = new Control({
      registry,
      links: this.#links,
      config,
      clock,
      signing: () => ({
        kid: this.#keys.signer.kid,
        jwksUrl: this.#url("jwks.json"),
      }),
      deleted: (id) => {
        this.#waker.disarm(id);
        this.#webhooks.forget(id);
      },
    });
    this.#leases = new Leases({
      registry,
      waker: this.#waker,
      tokens: keys.tokens,
      clock,
    });
  }

  /** Loads state, keys and the token secret, then resumes leases and deliveries. */
  static async open(options: ManagerOptions): Promise<SubscriptionManager> {
    const clock = options.clock ?? systemClock;
    const keys = await KeyRing.open(options.store, () => clock.now());
    const manager = new SubscriptionManager(options, keys);
    manager.#registry.load();
    manager.#links.reconcile(manager.#registry.values());
    options.log.info(`recovered ${manager.#registry.size} subscriptions`);
    manager.#registry.onFenced((ids) => manager.#reloaded(ids));
    options.announcements?.((ids, change) =>
      manager.#guard(() => manager.#announced(ids, change))
    );
    options.engine.addListener({
      created: (view) => manager.#guard(() => manager.#created(view)),
      appended: (view) => manager.#guard(() => manager.#appended(view)),
      deleted: (name) => manager.#guard(() => manager.#deleted(name)),
    });
    for (const sub of manager.#registry.values()) {
      manager.#waker.resume(sub);
      manager.#webhooks.schedule(sub);
    }
    if (options.freshnessCheckMs !== undefined && options.store.behind) {
      manager.#checkFreshness(options.freshnessCheckMs);
    }
    return manager;
  }

  /** Live subscriptions now (for `/metrics`). */
  get size(): number {
    return this.#registry.size;
  }

  /** Sets the base URL (for example once the listener is bound). */
  setBaseUrl(url: string): void {
    this.#baseUrl = url.replace(/\/+$/, "");
  }

  /** Retires the signing key and signs with a new one; the old key stays published. */
  rotateSigningKey(): Promise<string> {
    return this.#keys.rotate();
  }

  // ---- control API (§6) ----------------------------------------------------

  /** Creates or re-confirms subscription `id` (§6.2). */
  put(id: string, config: SubscriptionConfig): Promise<Result<PutOutcome>> {
    this.#assertOpen();
    return this.#freshAsync(id, async () => {
      // A pattern's backfill and new links' tails need streams created
      // through other nodes.
      if (this.#registry.shared) await this.#streams.syncStreamSet?.();
      return await this.#control.put(id, config);
    });
  }

  /** Subscription `id` (§6.3). */
  get(id: string): Result<SubscriptionView> {
    return this.#fresh(id, () => this.#control.get(id));
  }

  /**
   * A page of live subscriptions sorted by id, after `after`, keeping the
   * ones `visible` accepts (the caller's key may administer them).
   */
  list(
    after: string,
    limit: number,
    visible: (config: SubscriptionConfig) => boolean,
  ): SubscriptionPage {
    return this.#control.list(after, limit, visible);
  }

  /** Tombstones subscription `id` (§6.3). */
  delete(id: string): Result<void> {
    this.#assertOpen();
    return this.#fresh(id, () => this.#control.delete(id));
  }

  /** Adds explicit links at each stream's current tail (§6.4). */
  addStreams(id: string, paths: string[]): Result<void> {
    this.#assertOpen();
    return this.#fresh(id, () => this.#control.addStreams(id, paths));
  }

  /** Removes an explicit link; a glob link to the same stream stays (§6.4). */
  removeStream(id: string, path: string): Result<void> {
    this.#assertOpen();
    return this.#fresh(id, () => this.#control.removeStream(id, path));
  }

  /** The public JWK Set (§6.5). */
  jwks(): { keys: PublicJwk[] } {
    return this.#keys.jwks();
  }

  // ---- delivery API (§7) ---------------------------------------------------

  /** Webhook callback (§7.1). */
  async callback(
    id: string,
    token: string,
    request: AckRequest,
  ): Promise<Result<AckOutcome>> {
    this.#assertOpen();
    await this.#ackedStreamsCurrent(request);
    this.#assertOpen();
    return this.#fresh(id, () => this.#leases.callback(id, token, request));
  }

  /** Pull-wake ack or heartbeat (§7.2). */
  async ack(
    id: string,
    token: string,
    request: AckRequest,
  ): Promise<Result<AckOutcome>> {
    this.#assertOpen();
    await this.#ackedStreamsCurrent(request);
    this.#assertOpen();
    return this.#fresh(id, () => this.#leases.ack(id, token, request));
  }

  /** Pull-wake release without acking (§7.2). */
  release(id: string, token: string, request: AckRequest): Result<void> {
    this.#assertOpen();
    return this.#fresh(id, () => this.#leases.release(id, token, request));
  }

  /** Pull-wake claim (§7.2). */
  claim(id: string, worker: string): Result<ClaimOutcome> {
    this.#assertOpen();
    return this.#fresh(id, () => this.#leases.claim(id, worker));
  }

  // ---- stream events -------------------------------------------------------

  #created(view: StreamView): void {
    if (this.#closed) return;
    const linked = this.#links.created(view);
    // A link stored elsewhere first (this node learnt of the stream late)
    // kept its cursor: plan the wake from the stored state, not this copy.
    if (this.#registry.shared && linked.length > 0) this.#reloaded(linked);
    this.#waker.wakeLinked(view.name);
  }

  #appended(view: StreamView): void {
    if (this.#closed) return;
    this.#waker.wakeLinked(view.name);
  }

  #deleted(name: string): void {
    if (this.#closed) return;
    this.#links.deleted(name);
  }

  // ---- several nodes -------------------------------------------------------

  /**
   * Takes another node's changes to subscriptions `ids` (every one without
   * `ids`) from the store, and resets their lease and delivery timers.
   */
  #reloaded(ids?: string[]): void {
    if (this.#closed) return;
    for (const id of this.#registry.reload(ids)) {
      this.#waker.disarm(id);
      this.#webhooks.forget(id);
      const sub = this.#registry.get(id);
      if (sub === undefined) continue;
      this.#waker.arm(sub);
      this.#webhooks.schedule(sub);
    }
  }

  /**
   * With a shared store, brings each stream `request` acks up to date when
   * its ack offset lies past the tail this node knows: the wake was issued
   * by a node that saw the stream created or appended, and this node may
   * not have applied that announcement yet, so its tail would refuse the
   * ack as "beyond the tail". Streams acked within the known tail cost
   * nothing; the ack list is bounded by the body limit.
   */
  async #ackedStreamsCurrent(request: AckRequest): Promise<void> {
    const fresh = this.#streams.headFresh?.bind(this.#streams);
    if (!this.#registry.shared || fresh === undefined) return;
    const done = new Set<string>();
    for (const ack of request.acks) {
      const pos = decodeOffset(ack.offset);
      if (pos === undefined || done.has(ack.stream)) continue;
      if (pos <= this.#registry.tail(ack.stream)) continue;
      done.add(ack.stream);
      await fresh(ack.stream);
    }
  }

  /**
   * Another node committed a change to subscriptions `ids` (every one
   * without `ids`), maybe to the signing keys, moving the shared version to
   * `change.version`: takes it, then notes the version as applied.
   */
  #announced(ids: string[] | undefined, change?: SubscriptionChange): void {
    if (this.#closed) return;
    if (ids === undefined || ids.length > 0) this.#reloaded(ids);
    if (ids === undefined || change?.keys) this.#reloadKeys();
    if (change?.version !== undefined) this.#store.applied?.(change.version);
  }

  /** Takes the signing keys as stored now (another node rotated them). */
  #reloadKeys(): void {
    const rows = this.#store.loadKeys?.() ?? this.#store.load().keys;
    this.#keys.reload(rows).catch((error) =>
      this.#log.error("cannot load the signing keys", error)
    );
  }

  /**
   * Every `intervalMs`: one small query for the shared subscription
   * version; when a change of another node was missed (its announcement
   * lost), reloads every subscription and the signing keys, so this
   * node's matching, wakes and signatures do not stay stale.
   */
  #checkFreshness(intervalMs: number): void {
    const tick = () => {
      if (this.#closed) return;
      this.#guard(() => {
        if (!this.#store.behind!()) return;
        this.#log.warn(
          "subscriptions: a change made on another node was not announced here; reloading them all",
        );
        this.#reloaded();
        this.#reloadKeys();
      });
      this.#stopFreshness = this.#clock.setTimer(tick, intervalMs);
    };
    this.#stopFreshness = this.#clock.setTimer(tick, intervalMs);
  }

  /**
   * Runs a request on subscription `id`; with a shared store, first brings
   * `id` up to date (another node may have created, changed or deleted it),
   * and runs it again when its commit was fenced by another node's change
   * (the fenced commit reloaded `id`), up to `SUBSCRIPTION_FENCED_TRIES_MAX`.
   */
  #fresh<T>(id: string, request: () => T): T {
    if (!this.#registry.shared) return request();
    this.#reloaded([id]);
    for (let attempt = 1;; attempt++) {
      try {
        return request();
      } catch (error) {
        if (!isFenced(error) || attempt >= SUBSCRIPTION_FENCED_TRIES_MAX) {
          throw error;
        }
      }
    }
  }

  /** `#fresh` for a request that resolves later (`put`). */
  async #freshAsync<T>(id: string, request: () => Promise<T>): Promise<T> {
    if (!this.#registry.shared) return await request();
    this.#reloaded([id]);
    for (let attempt = 1;; attempt++) {
      try {
        return await request();
      } catch (error) {
        if (!isFenced(error) || attempt >= SUBSCRIPTION_FENCED_TRIES_MAX) {
          throw error;
        }
      }
    }
  }

  // ---- helpers -------------------------------------------------------------

  #guard(fn: () => void): void {
    try {
      fn();
    } catch (error) {
      if (isFenced(error)) {
        // Another node got there first (say, both woke one subscription
        // on one append); the fenced commit reloaded its state.
        this.#log.debug(`subscription update lost to another node: ${error}`);
        return;
      }
      this.#log.error("subscription state update failed", error);
    }
  }

  #assertOpen(): void {
    if (this.#closed) {
      throw new StreamError("unavailable", "Server is shutting down");
    }
  }

  #url(rest: string): string {
    return `${this.#baseUrl}/v1/stream/__ds/${rest}`;
  }

  /** Stops timers and deliveries and waits for queued wake events; does not close the store. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopFreshness?.();
    this.#waker.close();
    await this.#webhooks.close();
    await this.#wakeEvents.close();
  }
}

function isFenced(error: unknown): boolean {
  return error instanceof StreamError && error.kind === "fenced";
}
