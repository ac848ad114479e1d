/**
 * @module
 * Shapes shared by the subscription manager, its wire parsing and the HTTP
 * routes: the normalised subscription config, and the typed results the
 * manager returns (PROTOCOL.md §6.1-6.3, §7), which `http/` turns into JSON.
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

/** One linked stream: a cursor and the tail it is measured against. */
export interface LinkInfo {
  /** Stream path. */
  path: string;
  /** Linked through `streams` (wins over a glob link, PROTOCOL.md §6.1). */
  explicit: boolean;
  /** Last processed byte position, inclusive. */
  ackedPos: number;
  /** Tail position (in a wake: captured when the wake was issued). */
  tailPos: number;
}

/** A subscription as GET and PUT report it (PROTOCOL.md §6.3). */
export interface SubscriptionView {
  /** Subscription id. */
  id: string;
  /** Its normalised config. */
  config: SubscriptionConfig;
  /** Linked streams, sorted by path. */
  links: LinkInfo[];
  /** Creation time, epoch ms. */
  createdAtMs: number;
  /** `failed` while a webhook retry is scheduled. */
  status: "active" | "failed";
  /** The key webhook deliveries are signed with, and where it is published. */
  signing: { kid: string; jwksUrl: string };
}

/** A page of the subscription list, sorted by id. */
export interface SubscriptionPage {
  /** The subscriptions of the page. */
  subscriptions: SubscriptionView[];
  /** The `after` of the next page; null on the last one. */
  next: string | null;
}

/** A successful PUT (PROTOCOL.md §6.2). */
export interface PutOutcome {
  /** True when new (201), false when re-confirmed (200). */
  created: boolean;
  /** The subscription. */
  subscription: SubscriptionView;
}

/** A successful pull-wake claim (PROTOCOL.md §7.2). */
export interface ClaimOutcome {
  /** The wake claimed. */
  wakeId: string;
  /** Its generation. */
  generation: number;
  /** Token for ack and release. */
  token: string;
  /** Linked streams, tails as of the claim. */
  links: LinkInfo[];
  /** Lease duration. */
  leaseTtlMs: number;
}

/** A successful callback or ack (PROTOCOL.md §7.1-7.2). */
export interface AckOutcome {
  /** True when finishing the wake started another at once. */
  nextWake: boolean;
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
