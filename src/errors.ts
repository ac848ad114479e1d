/**
 * @module
 * Typed error kinds and the one table that maps them to HTTP statuses.
 * Expected failures travel as values (`Result`); only `http/respond.ts` turns
 * them into responses. Never branch on message text: branch on `kind`.
 */

/** Every expected failure the server can report. */
export type ErrorKind =
  | "bad_request"
  | "not_found"
  | "method_not_allowed"
  | "stream_not_found"
  | "stream_gone"
  | "stream_exists"
  | "config_mismatch"
  | "content_type_mismatch"
  | "seq_conflict"
  | "producer_stale_epoch"
  | "producer_seq_gap"
  | "stream_closed"
  | "offset_gone"
  | "payload_too_large"
  | "overloaded"
  | "unavailable"
  | "corrupt"
  | "internal"
  // Subscriptions (PROTOCOL.md §6-7); wire codes in `SUBSCRIPTION_CODE`.
  | "subscription_not_found"
  | "subscription_exists"
  | "subscription_limit"
  | "webhook_url_rejected"
  | "token_invalid"
  | "token_expired"
  | "fenced"
  | "already_claimed"
  | "no_pending_work"
  | "invalid_offset"
  // Access control (README, Security): no or bad credential, a key without
  // the scope or stream, a key over its rate, a Host the server refuses.
  | "unauthorized"
  | "forbidden"
  | "rate_limited"
  | "host_not_allowed"
  // Schema registry and lenses.
  | "schema_invalid"
  | "validation_failed"
  | "lens_version_mismatch"
  // Stream profiles: a profile that cannot replace the stream's current one,
  // and a body encoding a profile route does not speak.
  | "profile_conflict"
  | "unsupported_media_type";

/** HTTP status for each kind; the compiler flags a new kind with no status. */
export const STATUS: Record<ErrorKind, number> = {
  bad_request: 400,
  not_found: 404,
  method_not_allowed: 405,
  stream_not_found: 404,
  stream_gone: 410,
  stream_exists: 409,
  config_mismatch: 409,
  content_type_mismatch: 409,
  seq_conflict: 409,
  producer_stale_epoch: 403,
  producer_seq_gap: 409,
  stream_closed: 409,
  offset_gone: 410,
  payload_too_large: 413,
  overloaded: 503,
  unavailable: 503,
  corrupt: 500,
  internal: 500,
  subscription_not_found: 404,
  subscription_exists: 409,
  subscription_limit: 429,
  webhook_url_rejected: 400,
  token_invalid: 401,
  token_expired: 401,
  fenced: 409,
  already_claimed: 409,
  no_pending_work: 409,
  invalid_offset: 409,
  unauthorized: 401,
  forbidden: 403,
  rate_limited: 429,
  host_not_allowed: 421,
  schema_invalid: 400,
  validation_failed: 400,
  lens_version_mismatch: 409,
  profile_conflict: 409,
  unsupported_media_type: 415,
};

/**
 * The error `code` the subscription API sends for each kind (PROTOCOL.md
 * §6-7 spells codes upper-case, and a bad request is `INVALID_REQUEST`).
 * Stream routes send the kind itself. `http/respond.ts` picks the column.
 */
export const SUBSCRIPTION_CODE: Record<ErrorKind, string> = {
  bad_request: "INVALID_REQUEST",
  not_found: "NOT_FOUND",
  method_not_allowed: "METHOD_NOT_ALLOWED",
  stream_not_found: "STREAM_NOT_FOUND",
  stream_gone: "STREAM_GONE",
  stream_exists: "STREAM_EXISTS",
  config_mismatch: "CONFIG_MISMATCH",
  content_type_mismatch: "CONTENT_TYPE_MISMATCH",
  seq_conflict: "SEQ_CONFLICT",
  producer_stale_epoch: "PRODUCER_STALE_EPOCH",
  producer_seq_gap: "PRODUCER_SEQ_GAP",
  stream_closed: "STREAM_CLOSED",
  offset_gone: "OFFSET_GONE",
  payload_too_large: "PAYLOAD_TOO_LARGE",
  overloaded: "OVERLOADED",
  unavailable: "UNAVAILABLE",
  corrupt: "CORRUPT",
  internal: "INTERNAL",
  subscription_not_found: "SUBSCRIPTION_NOT_FOUND",
  subscription_exists: "SUBSCRIPTION_EXISTS",
  subscription_limit: "SUBSCRIPTION_LIMIT",
  webhook_url_rejected: "WEBHOOK_URL_REJECTED",
  token_invalid: "TOKEN_INVALID",
  token_expired: "TOKEN_EXPIRED",
  fenced: "FENCED",
  already_claimed: "ALREADY_CLAIMED",
  no_pending_work: "NO_PENDING_WORK",
  invalid_offset: "INVALID_OFFSET",
  unauthorized: "UNAUTHORIZED",
  forbidden: "FORBIDDEN",
  rate_limited: "RATE_LIMITED",
  host_not_allowed: "HOST_NOT_ALLOWED",
  schema_invalid: "SCHEMA_INVALID",
  validation_failed: "VALIDATION_FAILED",
  lens_version_mismatch: "LENS_VERSION_MISMATCH",
  profile_conflict: "PROFILE_CONFLICT",
  unsupported_media_type: "UNSUPPORTED_MEDIA_TYPE",
};

/**
 * Kinds that are temporary, with the `Retry-After` (seconds) a client gets
 * when the error's `detail.retryAfterSeconds` does not name its own (the
 * tier's backlog asks for 5).
 */
export const RETRY_AFTER_S: Partial<Record<ErrorKind, number>> = {
  overloaded: 1,
  unavailable: 1,
  subscription_limit: 1,
  rate_limited: 1,
};

/**
 * The `reason` label of `overload_rejections_total`: why a request was
 * refused with a 503 or 429. The refusing site names it in
 * `detail.overload`; the kind decides for the rest.
 */
export const OVERLOAD_REASONS = [
  "append_queue",
  "body_budget",
  "waiters",
  "backlog",
  "index_queue",
  "disk_full",
  "rate_limited",
  "subscription_limit",
  "unavailable",
  "other",
] as const;

/** One of `OVERLOAD_REASONS`. */
export type OverloadReason = typeof OVERLOAD_REASONS[number];

const OVERLOAD_INDEX: ReadonlyMap<string, number> = new Map(
  OVERLOAD_REASONS.map((reason, i) => [reason, i]),
);

/**
 * The index in `OVERLOAD_REASONS` of why `error` refused a request, or -1
 * when it is no 503/429 refusal.
 */
export function overloadIndex(error: StreamError): number {
  const status = STATUS[error.kind];
  if (status !== 503 && status !== 429) return -1;
  const named = error.detail?.overload;
  if (typeof named === "string") {
    const i = OVERLOAD_INDEX.get(named);
    if (i !== undefined) return i;
  }
  if (error.detail?.diskFull === true) return OVERLOAD_INDEX.get("disk_full")!;
  const byKind = OVERLOAD_INDEX.get(error.kind);
  return byKind ?? OVERLOAD_INDEX.get("other")!;
}

/** An expected failure with a kind, a message, and data the client needs. */
export class StreamError extends Error {
  /** Error kind; maps to a status through `STATUS`. */
  readonly kind: ErrorKind;
  /** Extra data for the client (for example `{ expectedSeq }`). */
  readonly detail: Record<string, unknown> | undefined;

  /** Creates an error of `kind`; `options.cause` chains the underlying error. */
  constructor(
    kind: ErrorKind,
    message: string,
    detail?: Record<string, unknown>,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "StreamError";
    this.kind = kind;
    this.detail = detail;
  }
}

/** Success or an expected failure. */
export type Result<T, E = StreamError> = { ok: true; value: T } | {
  ok: false;
  error: E;
};

/** Wraps a value as a successful `Result`. */
export function ok<T>(value: T): { ok: true; value: T } {
  return { ok: true, value };
}

/** Wraps a `StreamError` as a failed `Result`. */
export function fail(
  kind: ErrorKind,
  message: string,
  detail?: Record<string, unknown>,
): { ok: false; error: StreamError } {
  return { ok: false, error: new StreamError(kind, message, detail) };
}

/** Why the server could not start. */
export type StartupProblem =
  | "data_dir_unusable"
  | "data_dir_locked"
  | "listen_failed"
  | "auth_config"
  | "tls_config"
  | "database_unusable";

/**
 * A start-up failure the operator can fix (a taken port, a data dir another
 * server holds). Its message is one line naming the problem and the flag;
 * the command line prints it and exits 1, without a stack trace.
 */
export class StartupError extends Error {
  /** What went wrong. */
  readonly problem: StartupProblem;

  /** Creates an error for `problem`; `options.cause` chains the OS error. */
  constructor(
    problem: StartupProblem,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "StartupError";
    this.problem = problem;
  }
}
