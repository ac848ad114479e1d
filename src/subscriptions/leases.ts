/**
 * @module
 * The delivery API (PROTOCOL.md §7): webhook callbacks, pull-wake claim,
 * ack and release, under leases and generation fencing (§7.3). A request
 * passes only with an authentic token for the subscription's current
 * generation and wake; its acks are all checked before any cursor moves,
 * and the whole change is committed in one transaction.
 */

import { TOKEN_TTL_S } from "../limits.ts";
import { fail, ok, type Result } from "../errors.ts";
import { decodeOffset } from "../protocol/offset.ts";
import type { SubscriptionRow } from "../storage/subscription_store.ts";
import type { Clock } from "./clock.ts";
import {
  type Link,
  type Sub,
  subscriptionNotFound,
  type SubscriptionRegistry,
} from "./registry.ts";
import type { TokenSigner } from "./signing.ts";
import type {
  AckOutcome,
  AckRequest,
  ClaimOutcome,
  SubscriptionType,
} from "./types.ts";
import { clearWake, type Waker } from "./wake.ts";

/** A token naming `row`'s subscription, generation and current wake. */
export function mintToken(
  tokens: TokenSigner,
  row: SubscriptionRow,
  nowMs: number,
): string {
  return tokens.mint({
    sub: row.id,
    gen: row.generation,
    wid: row.wakeId!,
    exp: Math.floor(nowMs / 1000) + TOKEN_TTL_S,
  });
}

/** What the lease API needs. */
export interface LeasesOptions {
  /** The subscriptions. */
  registry: SubscriptionRegistry;
  /** Wakes and lease timers. */
  waker: Waker;
  /** Mints and verifies tokens. */
  tokens: TokenSigner;
  /** Time. */
  clock: Clock;
}

/** Callback, claim, ack and release. */
export class Leases {
  #registry: SubscriptionRegistry;
  #waker: Waker;
  #tokens: TokenSigner;
  #clock: Clock;

  /** The lease API over `options.registry`. */
  constructor(options: LeasesOptions) {
    this.#registry = options.registry;
    this.#waker = options.waker;
    this.#tokens = options.tokens;
    this.#clock = options.clock;
  }

  /** Webhook callback (§7.1). */
  callback(id: string, token: string, request: AckRequest): Result<AckOutcome> {
    return this.#ack(id, token, request, "webhook");
  }

  /** Pull-wake ack; without `done` it is a heartbeat that extends the lease (§7.2). */
  ack(id: string, token: string, request: AckRequest): Result<AckOutcome> {
    return this.#ack(id, token, request, "pull-wake");
  }

  #ack(
    id: string,
    token: string,
    request: AckRequest,
    type: SubscriptionType,
  ): Result<AckOutcome> {
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
    if (request.done) clearWake(row);
    else row.leaseExpiresAtMs = this.#clock.now() + sub.config.leaseTtlMs;
    const ops = moves.value.map((link) => this.#registry.linkOp(sub, link));
    ops.push({ op: "put_subscription", row: { ...row } });
    this.#registry.commit(ops);
    for (const link of moves.value) this.#registry.setLink(sub, link);
    const nextWake = request.done && this.#waker.maybeWake(sub);
    this.#waker.arm(sub);
    return ok({ nextWake });
  }

  /** Pull-wake release without acking (§7.2). */
  release(id: string, token: string, request: AckRequest): Result<void> {
    const checked = this.#authorize(id, token, request, "pull-wake");
    if (!checked.ok) return checked;
    const sub = checked.value;
    clearWake(sub.row);
    this.#registry.persist(sub);
    this.#waker.maybeWake(sub);
    this.#waker.arm(sub);
    return ok(undefined);
  }

  /** Pull-wake claim (§7.2): takes the lease of the current or a new wake. */
  claim(id: string, worker: string): Result<ClaimOutcome> {
    const sub = this.#registry.get(id);
    if (sub === undefined) return subscriptionNotFound(id);
    if (sub.config.type !== "pull-wake") {
      return fail("bad_request", `Subscription "${id}" is not pull-wake`);
    }
    this.#waker.expireIfDue(sub);
    const row = sub.row;
    if (row.holder !== null) {
      return fail(
        "already_claimed",
        `Subscription "${id}" is claimed by ${row.holder}`,
        { current_holder: row.holder, generation: row.generation },
      );
    }
    if (row.wakeId === null) {
      if (this.#registry.firstPending(sub) === undefined) {
        return fail(
          "no_pending_work",
          `Subscription "${id}" has no pending work`,
        );
      }
      this.#waker.issueWake(sub);
    }
    const now = this.#clock.now();
    row.holder = worker;
    row.leaseExpiresAtMs = now + sub.config.leaseTtlMs;
    row.wakeSnapshot = JSON.stringify(this.#registry.tails(sub));
    this.#registry.persist(sub);
    this.#waker.arm(sub);
    return ok({
      wakeId: row.wakeId!,
      generation: row.generation,
      token: mintToken(this.#tokens, row, now),
      links: this.#registry.links(sub),
      leaseTtlMs: sub.config.leaseTtlMs,
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
    type: SubscriptionType,
  ): Result<Sub> {
    const verified = this.#tokens.verify(token, this.#clock.now());
    if (!verified.ok) {
      return verified.expired
        ? fail("token_expired", "Token expired")
        : fail("token_invalid", "Token is not valid");
    }
    const sub = this.#registry.get(id);
    if (sub === undefined) return subscriptionNotFound(id);
    const claims = verified.claims;
    if (claims.sub !== id) {
      return fail("token_invalid", "Token is for another subscription");
    }
    if (sub.config.type !== type) {
      return fail("bad_request", `Subscription "${id}" is not ${type}`);
    }
    this.#waker.expireIfDue(sub);
    const row = sub.row;
    const current = row.wakeId !== null && claims.gen === row.generation &&
      request.generation === row.generation && request.wakeId === row.wakeId &&
      claims.wid === row.wakeId && (type === "webhook" || row.holder !== null);
    if (!current) {
      return fail(
        "fenced",
        `Wake ${request.wakeId} (generation ${request.generation}) is stale`,
        { generation: row.generation },
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
      if (pos > this.#registry.tail(ack.stream)) {
        return fail(
          "invalid_offset",
          `Ack offset for "${ack.stream}" is beyond the tail`,
        );
      }
      moves.push({ ...link, ackedPos: pos });
    }
    return ok(moves);
  }
}
