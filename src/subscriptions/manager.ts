/**
 * @module
 * The subscription manager (PROTOCOL.md §6-7): durable cursors over linked
 * streams, wakes with a generation and `wake_id`, leases, fencing, webhook
 * delivery with retry, and pull-wake events. It watches the engine for
 * created, appended and deleted streams. Every state change is written to the
 * `SubscriptionStore` synchronously before anyone can observe it, and each
 * request's check-then-apply runs without an `await` in between, so a
 * concurrent delete or a second claim cannot slip into the gap.
 *
 * This file is long because it is one state machine; delivery I/O lives in
 * `delivery.ts`, signing in `signing.ts`, and parsing in `wire.ts`.
 */

import type { LimitsConfig, SubscriptionsConfig } from "../config.ts";
import type { StreamListener } from "../engine/engine.ts";
import type {
  AppendOutcome,
  AppendRequest,
  StreamView,
} from "../engine/types.ts";
import { fail, ok, type Result, StreamError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { decodeOffset, encodeOffset } from "../protocol/offset.ts";
import type {
  LinkRow,
  SubscriptionOp,
  SubscriptionRow,
  SubscriptionStore,
} from "../storage/subscription_store.ts";
import { attemptWebhook, retryDelayMs } from "./delivery.ts";
import { globMatch, type GlobPattern, parseGlob } from "./glob.ts";
import { KeyRing } from "./key_ring.ts";
import type { PublicJwk } from "./signing.ts";
import type { AckRequest, StreamInfo, SubscriptionConfig } from "./types.ts";
import { WakeEventQueue } from "./wake_events.ts";
import { canonicalConfig, configFromCanonical } from "./wire.ts";

/** The parts of the engine the manager uses. */
export interface StreamSource {
  /** Committed view of a stream. */
  view(name: string): StreamView | undefined;
  /** Sorted page of live streams. */
  list(
    prefix: string,
    after: string | undefined,
    limit: number,
  ): { streams: StreamView[]; more: boolean };
  /** Appends (pull-wake events). */
  append(name: string, request: AppendRequest): Promise<Result<AppendOutcome>>;
  /** Observes committed changes. */
  addListener(listener: StreamListener): void;
}

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
  /** Clock, for tests. */
  now?: () => number;
}

/** Callback and claim tokens expire after a day; fencing bounds them far sooner. */
const TOKEN_TTL_S = 24 * 3600;

interface Link {
  path: string;
  explicit: boolean;
  glob: boolean;
  ackedPos: number;
}

interface Sub {
  row: SubscriptionRow;
  config: SubscriptionConfig;
  glob: GlobPattern | undefined;
  links: Map<string, Link>;
}

/** Result of a successful PUT. */
export interface PutOutcome {
  /** 201 when new, 200 when re-confirmed. */
  created: boolean;
  /** The serialised subscription. */
  body: Record<string, unknown>;
}

/** Subscriptions over an engine. Create with `SubscriptionManager.open`. */
export class SubscriptionManager {
  #engine: StreamSource;
  #store: SubscriptionStore;
  #config: SubscriptionsConfig;
  #limits: LimitsConfig;
  #log: Logger;
  #now: () => number;
  #baseUrl: string;
  #subs = new Map<string, Sub>();
  #tombstones = new Map<string, SubscriptionRow>();
  #byStream = new Map<string, Set<string>>();
  #timers = new Map<string, ReturnType<typeof setTimeout>>();
  #delivering = new Map<string, Promise<void>>();
  #deliveryWaiting = new Set<string>();
  #wakeEvents: WakeEventQueue;
  #abort = new AbortController();
  #closed = false;
  #keys!: KeyRing;

  private constructor(options: ManagerOptions) {
    this.#engine = options.engine;
    this.#store = options.store;
    this.#config = options.config;
    this.#limits = options.limits;
    this.#log = options.log;
    this.#now = options.now ?? Date.now;
    this.#baseUrl = options.baseUrl ?? "http://127.0.0.1";
    this.#wakeEvents = new WakeEventQueue(
      (name, request) => this.#engine.append(name, request),
      options.config.wakeQueueMax,
      options.log,
    );
  }

  /** Loads state, keys and the token secret, then resumes leases and deliveries. */
  static async open(options: ManagerOptions): Promise<SubscriptionManager> {
    const manager = new SubscriptionManager(options);
    manager.#keys = await KeyRing.open(options.store, manager.#now);
    manager.#restore();
    options.engine.addListener({
      created: (view) => manager.#guard(() => manager.#onCreated(view)),
      appended: (view) => manager.#guard(() => manager.#onAppended(view)),
      deleted: (name) => manager.#guard(() => manager.#onDeleted(name)),
    });
    for (const sub of manager.#subs.values()) manager.#resume(sub);
    return manager;
  }

  /** Sets the base URL (for example once the listener is bound). */
  setBaseUrl(url: string): void {
    this.#baseUrl = url.replace(/\/+$/, "");
  }

  /** Retires the signing key and signs with a new one; the old key stays published. */
  rotateSigningKey(): Promise<string> {
    return this.#keys.rotate();
  }

  // ---- loading -------------------------------------------------------------

  #restore(): void {
    const snapshot = this.#store.load();
    const links = new Map<string, LinkRow[]>();
    for (const link of snapshot.links) {
      const list = links.get(link.subscriptionId) ?? [];
      list.push(link);
      links.set(link.subscriptionId, list);
    }
    for (const row of snapshot.subscriptions) {
      if (row.deleted) {
        this.#tombstones.set(row.id, row);
        continue;
      }
      const config = configFromCanonical(row.config);
      const sub = this.#newSub(row, config);
      for (const l of links.get(row.id) ?? []) {
        this.#setLink(sub, { ...l });
      }
      this.#subs.set(row.id, sub);
      this.#reconcile(sub);
    }
    this.#log.info(`recovered ${this.#subs.size} subscriptions`);
  }

  /**
   * After a restart: links to streams that shrank (deleted and recreated)
   * restart at 0, and matching streams a crash kept from being linked are
   * linked at 0 (delivered again rather than skipped).
   */
  #reconcile(sub: Sub): void {
    const ops: SubscriptionOp[] = [];
    for (const link of sub.links.values()) {
      if (link.ackedPos > this.#tail(link.path)) {
        link.ackedPos = 0;
        ops.push(this.#linkOp(sub, link));
      }
    }
    if (sub.glob !== undefined) {
      this.#scanMatching(sub.glob, (view) => {
        if (sub.links.has(view.name) || !this.#mayLink(sub, view.name)) return;
        const link = {
          path: view.name,
          explicit: false,
          glob: true,
          ackedPos: 0,
        };
        this.#setLink(sub, link);
        ops.push(this.#linkOp(sub, link));
      });
    }
    this.#store.commit(ops);
  }

  /** Re-arms timers, re-sends unclaimed pull wakes, and wakes pending idle subscriptions. */
  #resume(sub: Sub): void {
    const row = sub.row;
    if (
      row.wakeId !== null && row.holder === null &&
      sub.config.type === "pull-wake"
    ) {
      this.#enqueueWakeEvent(sub, this.#firstPending(sub) ?? "");
    }
    this.#maybeWake(sub);
    this.#arm(sub);
  }

  #newSub(row: SubscriptionRow, config: SubscriptionConfig): Sub {
    let glob: GlobPattern | undefined;
    if (config.pattern !== null) {
      const parsed = parseGlob(config.pattern);
      if (!parsed.ok) {
        throw new StreamError(
          "corrupt",
          `Subscription "${row.id}" has a bad pattern`,
        );
      }
      glob = parsed.value;
    }
    return { row, config, glob, links: new Map() };
  }

  // ---- control API (§6) ----------------------------------------------------

  /** Creates or re-confirms subscription `id` (§6.2). */
  async put(
    id: string,
    config: SubscriptionConfig,
  ): Promise<Result<PutOutcome>> {
    this.#assertOpen();
    const canonical = canonicalConfig(config);
    const hash = await sha256Hex(canonical);
    const existing = this.#subs.get(id);
    if (existing !== undefined) {
      if (existing.row.configHash !== hash) {
        return fail(
          "subscription_exists",
          `Subscription "${id}" exists with a different configuration`,
        );
      }
      return ok({ created: false, body: this.#serialize(existing) });
    }
    if (this.#subs.size >= this.#config.subscriptionsMax) {
      return fail(
        "subscription_limit",
        `At most ${this.#config.subscriptionsMax} subscriptions may exist`,
      );
    }
    if (config.streams.length > this.#config.linksMax) {
      return fail(
        "subscription_limit",
        `At most ${this.#config.linksMax} streams per subscription`,
      );
    }
    const tomb = this.#tombstones.get(id);
    const row: SubscriptionRow = {
      id,
      config: canonical,
      configHash: hash,
      createdAtMs: this.#now(),
      deleted: false,
      status: "active",
      // A recreated id continues the old generation, so old tokens stay fenced.
      generation: tomb?.generation ?? 0,
      wakeId: null,
      wakeSnapshot: null,
      holder: null,
      leaseExpiresAtMs: null,
      retryCount: 0,
      nextAttemptAtMs: null,
    };
    const sub = this.#newSub(row, config);
    for (const path of config.streams) {
      if (!this.#mayLink(sub, path)) {
        return fail(
          "bad_request",
          `Stream "${path}" is this subscription's wake stream`,
        );
      }
      this.#setLink(sub, {
        path,
        explicit: true,
        glob: false,
        ackedPos: this.#tail(path),
      });
    }
    if (sub.glob !== undefined) this.#backfill(sub);
    const ops: SubscriptionOp[] = [{ op: "put_subscription", row: { ...row } }];
    for (const link of sub.links.values()) ops.push(this.#linkOp(sub, link));
    this.#store.commit(ops);
    this.#tombstones.delete(id);
    this.#subs.set(id, sub);
    return ok({ created: true, body: this.#serialize(sub) });
  }

  /** §6.2: existing matching streams are linked at their current tail. */
  #backfill(sub: Sub): void {
    let truncated = false;
    this.#scanMatching(sub.glob!, (view) => {
      const link = sub.links.get(view.name);
      if (link !== undefined) {
        link.glob = true;
        return;
      }
      if (!this.#mayLink(sub, view.name)) return;
      if (sub.links.size >= this.#config.linksMax) {
        truncated = true;
        return;
      }
      this.#setLink(sub, {
        path: view.name,
        explicit: false,
        glob: true,
        ackedPos: view.tailPos,
      });
    });
    if (truncated) {
      this.#log.warn(
        `subscription "${sub.row.id}": pattern matches more than ${this.#config.linksMax} streams; the rest are not linked`,
      );
    }
  }

  #scanMatching(glob: GlobPattern, visit: (view: StreamView) => void): void {
    let after: string | undefined;
    const pageMax = this.#limits.listPageMax;
    while (true) {
      const page = this.#engine.list(glob.literalPrefix, after, pageMax);
      for (const view of page.streams) {
        if (globMatch(glob, view.name)) visit(view);
      }
      if (!page.more || page.streams.length === 0) return;
      after = page.streams[page.streams.length - 1].name;
    }
  }

  /** The serialised subscription (§6.3). */
  get(id: string): Result<Record<string, unknown>> {
    const sub = this.#subs.get(id);
    if (sub === undefined) return notFound(id);
    return ok(this.#serialize(sub));
  }

  /** Tombstones subscription `id` (§6.3); its wake, lease and cursors go with it. */
  delete(id: string): Result<void> {
    this.#assertOpen();
    const sub = this.#subs.get(id);
    if (sub === undefined) return notFound(id);
    const row: SubscriptionRow = {
      ...sub.row,
      deleted: true,
      wakeId: null,
      wakeSnapshot: null,
      holder: null,
      leaseExpiresAtMs: null,
      nextAttemptAtMs: null,
    };
    const ops: SubscriptionOp[] = [
      { op: "put_subscription", row },
      { op: "delete_links", subscriptionId: id },
    ];
    // Tombstones are bounded too: the oldest are purged first.
    const excess = this.#tombstones.size + 1 - this.#config.subscriptionsMax;
    const purged = [...this.#tombstones.keys()].slice(0, Math.max(0, excess));
    for (const old of purged) ops.push({ op: "purge_subscription", id: old });
    this.#store.commit(ops);
    for (const old of purged) this.#tombstones.delete(old);
    for (const path of sub.links.keys()) this.#unindex(id, path);
    this.#subs.delete(id);
    this.#tombstones.set(id, row);
    this.#disarm(id);
    this.#deliveryWaiting.delete(id);
    return ok(undefined);
  }

  /** Adds explicit links at each stream's current tail (§6.4). */
  addStreams(id: string, paths: string[]): Result<void> {
    this.#assertOpen();
    const sub = this.#subs.get(id);
    if (sub === undefined) return notFound(id);
    const fresh = paths.filter((p) => !sub.links.has(p));
    if (sub.links.size + fresh.length > this.#config.linksMax) {
      return fail(
        "subscription_limit",
        `At most ${this.#config.linksMax} streams per subscription`,
      );
    }
    for (const path of paths) {
      if (!this.#mayLink(sub, path)) {
        return fail(
          "bad_request",
          `Stream "${path}" is this subscription's wake stream`,
        );
      }
    }
    const next: Link[] = paths.map((path) => {
      const link = sub.links.get(path);
      return link === undefined
        ? { path, explicit: true, glob: false, ackedPos: this.#tail(path) }
        : { ...link, explicit: true };
    });
    this.#store.commit(next.map((link) => this.#linkOp(sub, link)));
    for (const link of next) this.#setLink(sub, link);
    return ok(undefined);
  }

  /** Removes an explicit link; a glob link to the same stream stays (§6.4). */
  removeStream(id: string, path: string): Result<void> {
    this.#assertOpen();
    const sub = this.#subs.get(id);
    if (sub === undefined) return notFound(id);
    const link = sub.links.get(path);
    if (link === undefined || !link.explicit) return ok(undefined);
    const stillGlob = link.glob ||
      (sub.glob !== undefined && globMatch(sub.glob, path) &&
        this.#engine.view(path) !== undefined);
    if (stillGlob) {
      const next = { ...link, explicit: false, glob: true };
      this.#store.commit([this.#linkOp(sub, next)]);
      this.#setLink(sub, next);
    } else {
      this.#store.commit([{ op: "delete_link", subscriptionId: id, path }]);
      sub.links.delete(path);
      this.#unindex(id, path);
    }
    return ok(undefined);
  }

  /** The public JWK Set (§6.5). */
  jwks(): { keys: PublicJwk[] } {
    return this.#keys.jwks();
  }

  // ---- delivery API (§7) ---------------------------------------------------

  /** Webhook callback (§7.1). */
  callback(
    id: string,
    token: string,
    request: AckRequest,
  ): Result<{ ok: true; next_wake: boolean }> {
    return this.#ackLike(id, token, request, "webhook");
  }

  /** Pull-wake ack; without `done` it is a heartbeat that extends the lease (§7.2). */
  ack(
    id: string,
    token: string,
    request: AckRequest,
  ): Result<{ ok: true; next_wake: boolean }> {
    return this.#ackLike(id, token, request, "pull-wake");
  }

  #ackLike(
    id: string,
    token: string,
    request: AckRequest,
    type: "webhook" | "pull-wake",
  ): Result<{ ok: true; next_wake: boolean }> {
    this.#assertOpen();
    const checked = this.#authorize(id, token, request, type);
    if (!checked.ok) return checked;
    const sub = checked.value;
    const moves = this.#checkAcks(sub, request.acks);
    if (!moves.ok) return moves;
    const row = sub.row;
    if (type === "webhook") {
      // A valid callback proves the receiver got the wake and is alive.
      row.status = "active";
      row.retryCount = 0;
      row.nextAttemptAtMs = null;
    }
    if (request.done) this.#clearWake(sub);
    else row.leaseExpiresAtMs = this.#now() + sub.config.leaseTtlMs;
    const ops = moves.value.map((link) => this.#linkOp(sub, link));
    ops.push({ op: "put_subscription", row: { ...row } });
    this.#store.commit(ops);
    for (const link of moves.value) this.#setLink(sub, link);
    const nextWake = request.done && this.#maybeWake(sub);
    this.#arm(sub);
    return ok({ ok: true, next_wake: nextWake });
  }

  /** Pull-wake release without acking (§7.2). */
  release(id: string, token: string, request: AckRequest): Result<void> {
    this.#assertOpen();
    const checked = this.#authorize(id, token, request, "pull-wake");
    if (!checked.ok) return checked;
    const sub = checked.value;
    this.#clearWake(sub);
    this.#persist(sub);
    this.#maybeWake(sub);
    this.#arm(sub);
    return ok(undefined);
  }

  /** Pull-wake claim (§7.2). */
  claim(id: string, worker: string): Result<Record<string, unknown>> {
    this.#assertOpen();
    const sub = this.#subs.get(id);
    if (sub === undefined) return notFound(id);
    if (sub.config.type !== "pull-wake") {
      return fail("bad_request", `Subscription "${id}" is not pull-wake`);
    }
    this.#expireIfDue(sub);
    const row = sub.row;
    if (row.holder !== null) {
      return fail(
        "already_claimed",
        `Subscription "${id}" is claimed by ${row.holder}`,
        {
          current_holder: row.holder,
          generation: row.generation,
        },
      );
    }
    if (row.wakeId === null) {
      if (this.#firstPending(sub) === undefined) {
        return fail(
          "no_pending_work",
          `Subscription "${id}" has no pending work`,
        );
      }
      this.#issueWake(sub);
    }
    row.holder = worker;
    row.leaseExpiresAtMs = this.#now() + sub.config.leaseTtlMs;
    row.wakeSnapshot = JSON.stringify(this.#tails(sub));
    this.#persist(sub);
    this.#arm(sub);
    return ok({
      wake_id: row.wakeId,
      generation: row.generation,
      token: this.#mint(sub),
      streams: this.#infos(sub),
      lease_ttl_ms: sub.config.leaseTtlMs,
    });
  }

  /**
   * §7.3: the token must be authentic and for this subscription, and its
   * generation, the request's generation and wake id must all be current.
   */
  #authorize(
    id: string,
    token: string,
    request: AckRequest,
    type: "webhook" | "pull-wake",
  ): Result<Sub> {
    const verified = this.#keys.tokens.verify(token, this.#now());
    if (!verified.ok) {
      return verified.expired
        ? fail("token_expired", "Token expired")
        : fail("token_invalid", "Token is not valid");
    }
    const sub = this.#subs.get(id);
    if (sub === undefined) return notFound(id);
    const claims = verified.claims;
    if (claims.sub !== id) {
      return fail("token_invalid", "Token is for another subscription");
    }
    if (sub.config.type !== type) {
      return fail("bad_request", `Subscription "${id}" is not ${type}`);
    }
    this.#expireIfDue(sub);
    const row = sub.row;
    const current = row.wakeId !== null && claims.gen === row.generation &&
      request.generation === row.generation && request.wakeId === row.wakeId &&
      claims.wid === row.wakeId && (type === "webhook" || row.holder !== null);
    if (!current) {
      return fail(
        "fenced",
        `Wake ${request.wakeId} (generation ${request.generation}) is stale`,
        {
          generation: row.generation,
        },
      );
    }
    return ok(sub);
  }

  /** Validates every ack and returns the moved links; nothing moves on any error. */
  #checkAcks(sub: Sub, acks: AckRequest["acks"]): Result<Link[]> {
    const moves: Link[] = [];
    for (const ack of acks) {
      const link = sub.links.get(ack.stream);
      if (link === undefined) {
        return fail(
          "invalid_offset",
          `Stream "${ack.stream}" is not linked to this subscription`,
        );
      }
      const pos = decodeOffset(ack.offset);
      if (pos === undefined) {
        return fail(
          "invalid_offset",
          `Ack offset "${ack.offset}" is not a valid offset`,
        );
      }
      if (pos < link.ackedPos) {
        return fail(
          "invalid_offset",
          `Ack offset for "${ack.stream}" regresses the cursor`,
        );
      }
      if (pos > this.#tail(ack.stream)) {
        return fail(
          "invalid_offset",
          `Ack offset for "${ack.stream}" is beyond the tail`,
        );
      }
      moves.push({ ...link, ackedPos: pos });
    }
    return ok(moves);
  }

  // ---- wakes, leases, timers -----------------------------------------------

  /** Starts a wake if the subscription is idle and has pending work (§7). */
  #maybeWake(sub: Sub, trigger?: string): boolean {
    if (this.#closed || sub.row.wakeId !== null || sub.row.holder !== null) {
      return false;
    }
    const pending = this.#firstPending(sub);
    if (pending === undefined) return false;
    this.#issueWake(sub);
    if (sub.config.type === "pull-wake") {
      this.#enqueueWakeEvent(sub, trigger ?? pending);
    }
    this.#arm(sub);
    return true;
  }

  /** New generation and wake id; persisted before anything sees them. */
  #issueWake(sub: Sub): void {
    const row = sub.row;
    row.generation++;
    row.wakeId = "w_" + hex(crypto.getRandomValues(new Uint8Array(12)));
    row.wakeSnapshot = JSON.stringify(this.#tails(sub));
    row.holder = null;
    row.leaseExpiresAtMs = null;
    if (sub.config.type === "webhook") {
      // Honour a retry schedule still running from a failed earlier wake.
      row.nextAttemptAtMs = Math.max(this.#now(), row.nextAttemptAtMs ?? 0);
    }
    this.#persist(sub);
  }

  #clearWake(sub: Sub): void {
    const row = sub.row;
    row.wakeId = null;
    row.wakeSnapshot = null;
    row.holder = null;
    row.leaseExpiresAtMs = null;
    if (row.status === "active") row.nextAttemptAtMs = null;
  }

  /** §7.3: an expired lease clears holder and wake; pending work wakes again. */
  #expireIfDue(sub: Sub): void {
    const lease = sub.row.leaseExpiresAtMs;
    if (lease === null || lease > this.#now()) return;
    this.#log.debug(
      `subscription "${sub.row.id}": lease of generation ${sub.row.generation} expired`,
    );
    this.#clearWake(sub);
    this.#persist(sub);
    this.#maybeWake(sub);
  }

  /** One timer per subscription, at its earliest due lease expiry or webhook attempt. */
  #arm(sub: Sub): void {
    const id = sub.row.id;
    this.#disarm(id);
    if (this.#closed || !this.#subs.has(id)) return;
    const row = sub.row;
    const due = [row.leaseExpiresAtMs];
    if (
      sub.config.type === "webhook" && row.wakeId !== null &&
      !this.#delivering.has(id)
    ) {
      due.push(row.nextAttemptAtMs);
    }
    const at = Math.min(...due.filter((d): d is number => d !== null));
    if (!Number.isFinite(at)) return;
    const timer = setTimeout(() => {
      this.#timers.delete(id);
      this.#guard(() => this.#tick(id));
    }, Math.max(0, at - this.#now()));
    Deno.unrefTimer(timer);
    this.#timers.set(id, timer);
  }

  #disarm(id: string): void {
    const timer = this.#timers.get(id);
    if (timer !== undefined) clearTimeout(timer);
    this.#timers.delete(id);
  }

  #tick(id: string): void {
    const sub = this.#subs.get(id);
    if (sub === undefined || this.#closed) return;
    this.#expireIfDue(sub);
    const row = sub.row;
    if (
      sub.config.type === "webhook" && row.wakeId !== null &&
      row.nextAttemptAtMs !== null && row.nextAttemptAtMs <= this.#now()
    ) {
      this.#startDelivery(sub);
    }
    this.#arm(sub);
  }

  // ---- webhook delivery (§7.1) ---------------------------------------------

  #startDelivery(sub: Sub): void {
    const id = sub.row.id;
    if (this.#delivering.has(id)) return;
    if (this.#delivering.size >= this.#config.deliveriesMax) {
      this.#deliveryWaiting.add(id); // at most one entry per subscription
      return;
    }
    this.#deliveryWaiting.delete(id);
    const run = this.#deliver(sub).catch((error) =>
      this.#log.error(`webhook delivery for "${id}" failed`, error)
    ).finally(() => {
      this.#delivering.delete(id);
      const live = this.#subs.get(id);
      if (live !== undefined) this.#arm(live);
      const next = this.#deliveryWaiting.values().next();
      if (!next.done) {
        const waiting = this.#subs.get(next.value);
        this.#deliveryWaiting.delete(next.value);
        if (waiting !== undefined && !this.#closed) {
          this.#startDelivery(waiting);
        }
      }
    });
    this.#delivering.set(id, run);
  }

  async #deliver(sub: Sub): Promise<void> {
    const row = sub.row;
    const wakeId = row.wakeId!;
    const body = JSON.stringify({
      subscription_id: row.id,
      wake_id: wakeId,
      generation: row.generation,
      streams: this.#infos(sub),
      callback_url: this.#url(
        `subscriptions/${encodeURIComponent(row.id)}/callback`,
      ),
      callback_token: this.#mint(sub),
    });
    const outcome = await attemptWebhook({
      url: sub.config.webhookUrl!,
      body,
      signer: this.#keys.signer,
      allowLocalhost: this.#config.webhookAllowLocalhost,
      timeoutMs: this.#config.deliveryTimeoutMs,
      signal: this.#abort.signal,
      nowMs: this.#now(),
    });
    if (this.#closed || this.#subs.get(row.id) !== sub) return; // deleted meanwhile
    const sameWake = row.wakeId === wakeId;
    if (!outcome.ok) {
      row.retryCount++;
      row.status = "failed";
      row.nextAttemptAtMs = this.#now() +
        retryDelayMs(
          row.retryCount,
          this.#config.retryDelayMinMs,
          this.#config.retryDelayMaxMs,
        );
      this.#log.warn(
        `subscription "${row.id}": webhook attempt ${row.retryCount} failed (${outcome.reason}); retrying`,
      );
      this.#persist(sub);
      return;
    }
    row.status = "active";
    row.retryCount = 0;
    if (!sameWake) {
      // A callback finished (or a lease expiry replaced) this wake first.
      if (row.wakeId === null) row.nextAttemptAtMs = null;
      this.#persist(sub);
      return;
    }
    row.nextAttemptAtMs = null;
    if (!outcome.done) {
      // §7.3: the webhook lease runs from delivery; callbacks extend it.
      row.leaseExpiresAtMs = this.#now() + sub.config.leaseTtlMs;
      this.#persist(sub);
      return;
    }
    // §7.1: {done:true} acks the snapshot tails and releases the lease.
    const ops: SubscriptionOp[] = [];
    for (const [path, pos] of Object.entries(snapshotOf(row))) {
      const link = sub.links.get(path);
      if (link !== undefined && pos > link.ackedPos) {
        const next = { ...link, ackedPos: pos };
        this.#setLink(sub, next);
        ops.push(this.#linkOp(sub, next));
      }
    }
    this.#clearWake(sub);
    ops.push({ op: "put_subscription", row: { ...row } });
    this.#store.commit(ops);
    this.#maybeWake(sub);
  }

  // ---- pull-wake events (§7.2) ---------------------------------------------

  #enqueueWakeEvent(sub: Sub, stream: string): void {
    this.#wakeEvents.push(sub.config.wakeStream!, {
      type: "wake",
      subscription_id: sub.row.id,
      stream,
      generation: sub.row.generation,
      ts: this.#now(),
    });
  }

  // ---- stream events -------------------------------------------------------

  #onCreated(view: StreamView): void {
    if (this.#closed) return;
    const name = view.name;
    const changes: [Sub, Link][] = [];
    for (const sub of this.#subs.values()) {
      const link = sub.links.get(name);
      if (link !== undefined) {
        // An explicit link that outlived an older stream of the same name.
        if (link.ackedPos > view.tailPos) {
          changes.push([sub, { ...link, ackedPos: 0 }]);
        }
        continue;
      }
      if (sub.glob === undefined || !globMatch(sub.glob, name)) continue;
      if (!this.#mayLink(sub, name)) continue;
      if (sub.links.size >= this.#config.linksMax) {
        this.#log.warn(
          `subscription "${sub.row.id}" is full; "${name}" not linked`,
        );
        continue;
      }
      // §6.2: linked before the append that created it, so its first data wakes.
      changes.push([sub, {
        path: name,
        explicit: false,
        glob: true,
        ackedPos: 0,
      }]);
    }
    // One transaction for every subscription the new stream touches.
    this.#store.commit(changes.map(([sub, link]) => this.#linkOp(sub, link)));
    for (const [sub, link] of changes) this.#setLink(sub, link);
    this.#wakeLinked(name);
  }

  #onAppended(view: StreamView): void {
    if (this.#closed) return;
    this.#wakeLinked(view.name);
  }

  #wakeLinked(name: string): void {
    for (const id of this.#byStream.get(name) ?? []) {
      const sub = this.#subs.get(id);
      if (sub !== undefined) this.#maybeWake(sub, name);
    }
  }

  #onDeleted(name: string): void {
    if (this.#closed) return;
    const ops: SubscriptionOp[] = [];
    const apply: (() => void)[] = [];
    for (const id of this.#byStream.get(name) ?? []) {
      const sub = this.#subs.get(id);
      const link = sub?.links.get(name);
      if (sub === undefined || link === undefined) continue;
      if (link.explicit) {
        // Explicit links stay, and restart from 0 if the name is reused.
        const next = { ...link, glob: false, ackedPos: 0 };
        ops.push(this.#linkOp(sub, next));
        apply.push(() => this.#setLink(sub, next));
      } else {
        ops.push({ op: "delete_link", subscriptionId: id, path: name });
        apply.push(() => {
          sub.links.delete(name);
          this.#unindex(id, name);
        });
      }
    }
    this.#store.commit(ops);
    for (const fn of apply) fn();
  }

  // ---- helpers -------------------------------------------------------------

  #guard(fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.#log.error("subscription state update failed", error);
    }
  }

  #assertOpen(): void {
    if (this.#closed) {
      throw new StreamError("unavailable", "Server is shutting down");
    }
  }

  #tail(path: string): number {
    return this.#engine.view(path)?.tailPos ?? 0;
  }

  #tails(sub: Sub): Record<string, number> {
    const out: Record<string, number> = {};
    for (const path of sub.links.keys()) out[path] = this.#tail(path);
    return out;
  }

  #firstPending(sub: Sub): string | undefined {
    for (const link of sub.links.values()) {
      if (this.#tail(link.path) > link.ackedPos) return link.path;
    }
    return undefined;
  }

  /** A subscription never links its own wake stream: its events would wake it forever. */
  #mayLink(sub: Sub, path: string): boolean {
    return path !== sub.config.wakeStream;
  }

  /** Stream info; inside a wake, tails come from the wake's snapshot. */
  #infos(sub: Sub): StreamInfo[] {
    const snapshot = sub.row.wakeId === null ? {} : snapshotOf(sub.row);
    return [...sub.links.values()]
      .sort((a, b) => a.path < b.path ? -1 : a.path > b.path ? 1 : 0)
      .map((link) => {
        const tail = Math.max(
          snapshot[link.path] ?? this.#tail(link.path),
          link.ackedPos,
        );
        return {
          path: link.path,
          link_type: link.explicit ? "explicit" : "glob",
          acked_offset: encodeOffset(link.ackedPos),
          tail_offset: encodeOffset(tail),
          has_pending: tail > link.ackedPos,
        };
      });
  }

  #serialize(sub: Sub): Record<string, unknown> {
    const c = sub.config;
    return {
      id: sub.row.id,
      subscription_id: sub.row.id,
      type: c.type,
      pattern: c.pattern,
      streams: this.#infos(sub).map((s) => ({
        path: s.path,
        link_type: s.link_type,
        acked_offset: s.acked_offset,
      })),
      webhook: c.webhookUrl === null ? null : {
        url: c.webhookUrl,
        signing: {
          alg: "ed25519",
          kid: this.#keys.signer.kid,
          jwks_url: this.#url("jwks.json"),
        },
      },
      wake_stream: c.wakeStream,
      lease_ttl_ms: c.leaseTtlMs,
      created_at: new Date(sub.row.createdAtMs).toISOString(),
      status: sub.row.status,
      description: c.description,
    };
  }

  #url(rest: string): string {
    return `${this.#baseUrl}/v1/stream/__ds/${rest}`;
  }

  #mint(sub: Sub): string {
    return this.#keys.tokens.mint({
      sub: sub.row.id,
      gen: sub.row.generation,
      wid: sub.row.wakeId!,
      exp: Math.floor(this.#now() / 1000) + TOKEN_TTL_S,
    });
  }

  #persist(sub: Sub): void {
    this.#store.commit([{ op: "put_subscription", row: { ...sub.row } }]);
  }

  #linkOp(sub: Sub, link: Link): SubscriptionOp {
    return { op: "put_link", row: { subscriptionId: sub.row.id, ...link } };
  }

  #setLink(sub: Sub, link: Link): void {
    sub.links.set(link.path, link);
    let ids = this.#byStream.get(link.path);
    if (ids === undefined) this.#byStream.set(link.path, ids = new Set());
    ids.add(sub.row.id);
  }

  #unindex(id: string, path: string): void {
    const ids = this.#byStream.get(path);
    ids?.delete(id);
    if (ids?.size === 0) this.#byStream.delete(path);
  }

  /** Stops timers and deliveries and waits for queued wake events; does not close the store. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const id of [...this.#timers.keys()]) this.#disarm(id);
    this.#deliveryWaiting.clear();
    this.#abort.abort();
    await Promise.allSettled([...this.#delivering.values()]);
    await this.#wakeEvents.close();
  }
}

function notFound(id: string): { ok: false; error: StreamError } {
  return fail("subscription_not_found", `Subscription "${id}" not found`);
}

function snapshotOf(row: SubscriptionRow): Record<string, number> {
  return row.wakeSnapshot === null ? {} : JSON.parse(row.wakeSnapshot);
}

function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(text),
  );
  return hex(new Uint8Array(digest));
}
