/**
 * @module
 * Shapes shared by the subscription manager, its wire parsing and its
 * routes: the normalised subscription config and the per-stream view the
 * protocol serialises (PROTOCOL.md §6.1-6.3, §7).
 */

/** Delivery mechanism. */
export type SubscriptionType = "webhook" | "pull-wake";

/** A normalised subscription config; its canonical JSON is what gets hashed. */
export interface SubscriptionConfig {
  /** Delivery mechanism. */
  type: SubscriptionType;
  /** Glob over stream paths, if any. */
  pattern: string | null;
  /** Explicit stream paths, sorted and unique. */
  streams: string[];
  /** Webhook URL (normalised), for `webhook`. */
  webhookUrl: string | null;
  /** Wake stream path, for `pull-wake`. */
  wakeStream: string | null;
  /** Lease duration, 1 s to 10 min. */
  leaseTtlMs: number;
  /** Free text. */
  description: string | null;
}

/** One linked stream as the protocol shows it. */
export interface StreamInfo {
  /** Stream path. */
  path: string;
  /** `explicit` wins over `glob` when both apply (§6.1). */
  link_type: "glob" | "explicit";
  /** Last processed offset, inclusive. */
  acked_offset: string;
  /** Tail offset (in a wake: captured when the wake was issued). */
  tail_offset: string;
  /** Whether `tail_offset` is past `acked_offset`. */
  has_pending: boolean;
}

/** A callback, ack or release request body. */
export interface AckRequest {
  /** Wake the caller works for. */
  wakeId: string;
  /** Generation the caller works for. */
  generation: number;
  /** Offsets to commit. */
  acks: { stream: string; offset: string }[];
  /** Finish the wake and release the lease. */
  done: boolean;
}

/** Lease bounds (PROTOCOL.md §6.2). */
export const LEASE_TTL_MIN_MS = 1000;
/** Lease bounds (PROTOCOL.md §6.2). */
export const LEASE_TTL_MAX_MS = 600_000;
/** Default lease (PROTOCOL.md §6.2). */
export const LEASE_TTL_DEFAULT_MS = 30_000;
