/**
 * @module
 * The subscription API's response bodies (PROTOCOL.md §6.3, §7), built
 * from the manager's typed results.
 */

import type {
  AckOutcome,
  ClaimOutcome,
  SubscriptionView,
} from "../subscriptions/types.ts";
import { streamInfoJson } from "../subscriptions/wire.ts";

/** A subscription as GET and PUT return it (§6.3). */
export function subscriptionJson(
  view: SubscriptionView,
): Record<string, unknown> {
  const c = view.config;
  return {
    id: view.id,
    subscription_id: view.id,
    type: c.type,
    pattern: c.pattern,
    streams: view.links.map((link) => {
      const { path, link_type, acked_offset } = streamInfoJson(link);
      return { path, link_type, acked_offset };
    }),
    webhook: c.webhookUrl === null ? null : {
      url: c.webhookUrl,
      signing: {
        alg: "ed25519",
        kid: view.signing.kid,
        jwks_url: view.signing.jwksUrl,
      },
    },
    wake_stream: c.wakeStream,
    lease_ttl_ms: c.leaseTtlMs,
    created_at: new Date(view.createdAtMs).toISOString(),
    status: view.status,
    description: c.description,
  };
}

/** A pull-wake claim (§7.2). */
export function claimJson(claim: ClaimOutcome): Record<string, unknown> {
  return {
    wake_id: claim.wakeId,
    generation: claim.generation,
    token: claim.token,
    streams: claim.links.map(streamInfoJson),
    lease_ttl_ms: claim.leaseTtlMs,
  };
}

/** A callback or ack (§7.1-7.2). */
export function ackJson(ack: AckOutcome): Record<string, unknown> {
  return { ok: true, next_wake: ack.nextWake };
}

/**
 * A subscription as the list shows it: what GET shows, each stream with
 * its tail and whether it has records past the acked offset, and how many
 * streams do (the subscription's backlog at a glance).
 */
export function subscriptionListJson(
  view: SubscriptionView,
): Record<string, unknown> {
  const streams = view.links.map(streamInfoJson);
  return {
    ...subscriptionJson(view),
    streams,
    pending_streams: streams.filter((s) => s.has_pending).length,
  };
}
