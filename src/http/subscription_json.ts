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
import { encodeOffset } from "../protocol/offset.ts";
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
 * A subscription as the list shows it: what GET shows, but in place of its
 * streams (up to `--subscription-links-max` each) their count, how many
 * have records past their acked offset, and the first `sampleMax` of
 * those, so a page stays small.
 */
export function subscriptionListJson(
  view: SubscriptionView,
  sampleMax: number,
): Record<string, unknown> {
  const { streams: _, ...rest } = subscriptionJson(view);
  const pending = view.links.filter((link) => link.tailPos > link.ackedPos);
  return {
    ...rest,
    stream_count: view.links.length,
    pending_streams: pending.length,
    pending_sample: pending.slice(0, sampleMax).map((link) => ({
      path: link.path,
      acked_offset: encodeOffset(link.ackedPos),
      tail_offset: encodeOffset(link.tailPos),
    })),
  };
}
