/**
 * @module
 * The control API (PROTOCOL.md §6): create or re-confirm a subscription by
 * its config hash, read it, tombstone it, and add or remove explicit links.
 * Each change validates everything first, commits once, and only then
 * touches memory, so a refused request leaves no trace.
 */

import type { SubscriptionsConfig } from "../config.ts";
import { fail, ok, type Result, type StreamError } from "../errors.ts";
import type {
  SubscriptionOp,
  SubscriptionRow,
} from "../storage/subscription_store.ts";
import type { Clock } from "./clock.ts";
import { globMatch } from "../glob.ts";
import type { StreamLinks } from "./links.ts";
import {
  type Link,
  mayLink,
  newSub,
  type Sub,
  subscriptionNotFound,
  type SubscriptionRegistry,
} from "./registry.ts";
import type {
  PutOutcome,
  SubscriptionConfig,
  SubscriptionPage,
  SubscriptionView,
} from "./types.ts";
import { canonicalConfig, configHash } from "./wire.ts";

/** What the control API needs. */
export interface ControlOptions {
  /** The subscriptions. */
  registry: SubscriptionRegistry;
  /** Glob linking. */
  links: StreamLinks;
  /** Limits. */
  config: SubscriptionsConfig;
  /** Time. */
  clock: Clock;
  /** The signing key id and JWKS URL a view shows. */
  signing: () => { kid: string; jwksUrl: string };
  /** Subscription `id` was deleted: stop its timers and deliveries. */
  deleted: (id: string) => void;
}

/** PUT, GET, DELETE and explicit links. */
export class Control {
  #registry: SubscriptionRegistry;
  #links: StreamLinks;
  #config: SubscriptionsConfig;
  #clock: Clock;
  #signing: ControlOptions["signing"];
  #deleted: ControlOptions["deleted"];

  /** The control API over `options.registry`. */
  constructor(options: ControlOptions) {
    this.#registry = options.registry;
    this.#links = options.links;
    this.#config = options.config;
    this.#clock = options.clock;
    this.#signing = options.signing;
    this.#deleted = options.deleted;
  }

  /** Creates or re-confirms subscription `id` (§6.2). */
  async put(
    id: string,
    config: SubscriptionConfig,
  ): Promise<Result<PutOutcome>> {
    const canonical = canonicalConfig(config);
    const hash = await configHash(canonical);
    // From here to the commit nothing awaits: no request can interleave.
    const existing = this.#registry.get(id);
    if (existing !== undefined) {
      if (existing.row.configHash !== hash) {
        return fail(
          "subscription_exists",
          `Subscription "${id}" exists with a different configuration`,
        );
      }
      return ok({ created: false, subscription: this.view(existing) });
    }
    const full = this.#checkRoom(config);
    if (full !== undefined) return full;
    const sub = newSub(this.#newRow(id, canonical, hash), config);
    const refused = config.streams.find((path) => !mayLink(sub, path));
    if (refused !== undefined) return wakeStreamRefused(refused);
    for (const path of config.streams) {
      sub.links.set(path, {
        path,
        explicit: true,
        glob: false,
        ackedPos: this.#registry.tail(path),
      });
    }
    if (sub.glob !== undefined) this.#links.backfill(sub);
    const ops: SubscriptionOp[] = [{
      op: "put_subscription",
      row: { ...sub.row },
    }];
    for (const link of sub.links.values()) {
      ops.push(this.#registry.linkOp(sub, link));
    }
    this.#registry.commit(ops);
    this.#registry.add(sub);
    return ok({ created: true, subscription: this.view(sub) });
  }

  #checkRoom(config: SubscriptionConfig): Refusal | undefined {
    if (this.#registry.size >= this.#config.subscriptionsMax) {
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
    return undefined;
  }

  #newRow(id: string, canonical: string, hash: string): SubscriptionRow {
    return {
      id,
      config: canonical,
      configHash: hash,
      createdAtMs: this.#clock.now(),
      deleted: false,
      status: "active",
      // A recreated id continues the old generation, so old tokens stay fenced.
      generation: this.#registry.tombstone(id)?.generation ?? 0,
      wakeId: null,
      wakeSnapshot: null,
      holder: null,
      leaseExpiresAtMs: null,
      retryCount: 0,
      nextAttemptAtMs: null,
    };
  }

  /** Subscription `id` (§6.3). */
  get(id: string): Result<SubscriptionView> {
    const sub = this.#registry.get(id);
    if (sub === undefined) return subscriptionNotFound(id);
    return ok(this.view(sub));
  }

  /**
   * A page of live subscriptions sorted by id: those after `after` that
   * `visible` accepts, at most `limit`; `next` is the `after` of the next
   * page, or null on the last one.
   */
  list(
    after: string,
    limit: number,
    visible: (config: SubscriptionConfig) => boolean,
  ): SubscriptionPage {
    const ids = [...this.#registry.values()]
      .map((sub) => sub.row.id)
      .filter((id) => id > after)
      .sort();
    const subscriptions: SubscriptionView[] = [];
    for (const id of ids) {
      const sub = this.#registry.get(id)!;
      if (!visible(sub.config)) continue;
      if (subscriptions.length === limit) {
        return { subscriptions, next: subscriptions[limit - 1].id };
      }
      subscriptions.push(this.view(sub));
    }
    return { subscriptions, next: null };
  }

  /** What GET and PUT report of `sub`. */
  view(sub: Sub): SubscriptionView {
    return {
      id: sub.row.id,
      config: sub.config,
      links: this.#registry.links(sub),
      createdAtMs: sub.row.createdAtMs,
      status: sub.row.status,
      signing: this.#signing(),
    };
  }

  /** Tombstones subscription `id` (§6.3); its wake, lease and cursors go with it. */
  delete(id: string): Result<void> {
    const sub = this.#registry.get(id);
    if (sub === undefined) return subscriptionNotFound(id);
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
    const tombstones = this.#registry.tombstoneIds();
    const excess = tombstones.length + 1 - this.#config.subscriptionsMax;
    const purged = tombstones.slice(0, Math.max(0, excess));
    for (const old of purged) ops.push({ op: "purge_subscription", id: old });
    this.#registry.commit(ops);
    this.#registry.remove(id, row, purged);
    this.#deleted(id);
    return ok(undefined);
  }

  /** Adds explicit links at each stream's current tail (§6.4). */
  addStreams(id: string, paths: string[]): Result<void> {
    const sub = this.#registry.get(id);
    if (sub === undefined) return subscriptionNotFound(id);
    const fresh = paths.filter((p) => !sub.links.has(p));
    if (sub.links.size + fresh.length > this.#config.linksMax) {
      return fail(
        "subscription_limit",
        `At most ${this.#config.linksMax} streams per subscription`,
      );
    }
    const refused = paths.find((path) => !mayLink(sub, path));
    if (refused !== undefined) return wakeStreamRefused(refused);
    const next: Link[] = paths.map((path) => {
      const link = sub.links.get(path);
      return link === undefined
        ? {
          path,
          explicit: true,
          glob: false,
          ackedPos: this.#registry.tail(path),
        }
        : { ...link, explicit: true };
    });
    this.#registry.commit(next.map((link) => this.#registry.linkOp(sub, link)));
    for (const link of next) this.#registry.setLink(sub, link);
    return ok(undefined);
  }

  /** Removes an explicit link; a glob link to the same stream stays (§6.4). */
  removeStream(id: string, path: string): Result<void> {
    const sub = this.#registry.get(id);
    if (sub === undefined) return subscriptionNotFound(id);
    const link = sub.links.get(path);
    if (link === undefined || !link.explicit) return ok(undefined);
    const stillGlob = link.glob ||
      (sub.glob !== undefined && globMatch(sub.glob, path) &&
        this.#registry.exists(path));
    if (stillGlob) {
      const next = { ...link, explicit: false, glob: true };
      this.#registry.commit([this.#registry.linkOp(sub, next)]);
      this.#registry.setLink(sub, next);
    } else {
      this.#registry.commit([{ op: "delete_link", subscriptionId: id, path }]);
      this.#registry.dropLink(sub, path);
    }
    return ok(undefined);
  }
}

type Refusal = { ok: false; error: StreamError };

function wakeStreamRefused(path: string): Refusal {
  return fail(
    "bad_request",
    `Stream "${path}" is this subscription's wake stream`,
  );
}
