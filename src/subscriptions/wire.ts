/**
 * @module
 * The subscription protocol's JSON, both ways and pure: request bodies (PUT
 * config, POST streams, claim, callback/ack/release) parsed into typed
 * values with a 400 for the first problem, the canonical config that gets
 * hashed, and the per-stream object that claims, webhook payloads and
 * subscription views share (PROTOCOL.md §6-7).
 */

import { DESCRIPTION_CHARS_MAX, WORKER_CHARS_MAX } from "../limits.ts";
import { fail, ok, type Result } from "../errors.ts";
import { parseGlob } from "../glob.ts";
import { encodeOffset } from "../protocol/offset.ts";
import {
  type AckRequest,
  LEASE_TTL_DEFAULT_MS,
  LEASE_TTL_MAX_MS,
  LEASE_TTL_MIN_MS,
  type LinkInfo,
  type SubscriptionConfig,
} from "./types.ts";
import { validateWebhookUrl } from "./webhook_url.ts";

/** What parsing needs to know. */
export interface WireLimits {
  /** Longest stream path, bytes. */
  streamNameBytesMax: number;
  /** Most explicit streams in one request. */
  linksMax: number;
  /** Development exception for localhost webhooks. */
  webhookAllowLocalhost: boolean;
}

const encoder = new TextEncoder();

/** Parses JSON bytes into an object, or a 400. */
export function parseJsonObject(
  body: Uint8Array,
): Result<Record<string, unknown>> {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(body));
  } catch {
    return fail("bad_request", "Body must be JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return fail("bad_request", "Body must be a JSON object");
  }
  return ok(value as Record<string, unknown>);
}

/** Normalises a stream path (strips surrounding `/`) and checks it. */
export function parseStreamPath(
  raw: unknown,
  limits: WireLimits,
): Result<string> {
  if (typeof raw !== "string") {
    return fail("bad_request", "Stream paths must be strings");
  }
  const path = raw.replace(/^\/+/, "").replace(/\/+$/, "");
  if (path.length === 0) return fail("bad_request", "Stream path is empty");
  if (encoder.encode(path).length > limits.streamNameBytesMax) {
    return fail(
      "bad_request",
      `Stream path is longer than ${limits.streamNameBytesMax} bytes`,
    );
  }
  const segments = path.split("/");
  if (segments[0] === "__ds") {
    return fail("bad_request", `Stream path "${path}" is reserved`);
  }
  if (segments.some((s) => s === "." || s === "..")) {
    return fail("bad_request", `Stream path "${path}" has . or .. segments`);
  }
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(path)) {
    return fail("bad_request", "Stream path has control characters");
  }
  return ok(path);
}

/** Parses a `streams` array: unique, sorted, at most `linksMax`. */
export function parseStreamList(
  raw: unknown,
  limits: WireLimits,
): Result<string[]> {
  if (!Array.isArray(raw)) {
    return fail("bad_request", "streams must be an array");
  }
  if (raw.length > limits.linksMax) {
    return fail(
      "bad_request",
      `streams lists at most ${limits.linksMax} paths`,
    );
  }
  const out = new Set<string>();
  for (const item of raw) {
    const path = parseStreamPath(item, limits);
    if (!path.ok) return path;
    out.add(path.value);
  }
  return ok([...out].sort());
}

/** Parses and normalises a PUT body (PROTOCOL.md §6.2). */
export function parseSubscriptionConfig(
  body: Record<string, unknown>,
  limits: WireLimits,
): Result<SubscriptionConfig> {
  const type = body.type;
  if (type !== "webhook" && type !== "pull-wake") {
    return fail("bad_request", 'type must be "webhook" or "pull-wake"');
  }
  let pattern: string | null = null;
  if (body.pattern !== undefined && body.pattern !== null) {
    if (typeof body.pattern !== "string") {
      return fail("bad_request", "pattern must be a string");
    }
    const glob = parseGlob(body.pattern);
    if (!glob.ok) return glob;
    pattern = body.pattern;
  }
  let streams: string[] = [];
  if (body.streams !== undefined && body.streams !== null) {
    const list = parseStreamList(body.streams, limits);
    if (!list.ok) return list;
    streams = list.value;
  }
  if (pattern === null && streams.length === 0) {
    return fail("bad_request", "Give a pattern, streams, or both");
  }
  const delivery = parseDelivery(type, body, limits);
  if (!delivery.ok) return delivery;
  const lease = body.lease_ttl_ms ?? LEASE_TTL_DEFAULT_MS;
  if (
    typeof lease !== "number" || !Number.isInteger(lease) ||
    lease < LEASE_TTL_MIN_MS || lease > LEASE_TTL_MAX_MS
  ) {
    return fail(
      "bad_request",
      `lease_ttl_ms must be an integer from ${LEASE_TTL_MIN_MS} to ${LEASE_TTL_MAX_MS}`,
    );
  }
  const description = body.description ?? null;
  if (
    description !== null &&
    (typeof description !== "string" ||
      description.length > DESCRIPTION_CHARS_MAX)
  ) {
    return fail(
      "bad_request",
      `description must be a string of at most ${DESCRIPTION_CHARS_MAX} characters`,
    );
  }
  return ok({
    type,
    pattern,
    streams,
    webhookUrl: delivery.value.webhookUrl,
    wakeStream: delivery.value.wakeStream,
    leaseTtlMs: lease,
    description,
  });
}

function parseDelivery(
  type: "webhook" | "pull-wake",
  body: Record<string, unknown>,
  limits: WireLimits,
): Result<{ webhookUrl: string | null; wakeStream: string | null }> {
  if (type === "webhook") {
    if (body.wake_stream !== undefined && body.wake_stream !== null) {
      return fail(
        "bad_request",
        "wake_stream is only for pull-wake subscriptions",
      );
    }
    const webhook = body.webhook as Record<string, unknown> | undefined;
    if (
      typeof webhook !== "object" || webhook === null ||
      typeof webhook.url !== "string"
    ) {
      return fail("bad_request", "webhook subscriptions need webhook.url");
    }
    const url = validateWebhookUrl(webhook.url, limits.webhookAllowLocalhost);
    if (!url.ok) return url;
    return ok({ webhookUrl: url.value, wakeStream: null });
  }
  if (body.webhook !== undefined && body.webhook !== null) {
    return fail("bad_request", "webhook is only for webhook subscriptions");
  }
  if (body.wake_stream === undefined || body.wake_stream === null) {
    return fail("bad_request", "pull-wake subscriptions need wake_stream");
  }
  const wake = parseStreamPath(body.wake_stream, limits);
  if (!wake.ok) return wake;
  return ok({ webhookUrl: null, wakeStream: wake.value });
}

/** The canonical JSON of a config: fixed key order, so equal configs hash equal. */
export function canonicalConfig(config: SubscriptionConfig): string {
  return JSON.stringify({
    type: config.type,
    pattern: config.pattern,
    streams: config.streams,
    webhook: config.webhookUrl === null ? null : { url: config.webhookUrl },
    wake_stream: config.wakeStream,
    lease_ttl_ms: config.leaseTtlMs,
    description: config.description,
  });
}

/** SHA-256 of a canonical config, hex: equal configs have equal hashes. */
export async function configHash(canonical: string): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", encoder.encode(canonical)),
  );
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Reads a canonical config back from the store. */
export function configFromCanonical(json: string): SubscriptionConfig {
  const c = JSON.parse(json);
  return {
    type: c.type,
    pattern: c.pattern,
    streams: c.streams,
    webhookUrl: c.webhook === null ? null : c.webhook.url,
    wakeStream: c.wake_stream,
    leaseTtlMs: c.lease_ttl_ms,
    description: c.description,
  };
}

/** Parses a claim body: `{ worker }`. */
export function parseClaim(body: Record<string, unknown>): Result<string> {
  const worker = body.worker;
  if (
    typeof worker !== "string" || worker.length === 0 ||
    worker.length > WORKER_CHARS_MAX
  ) {
    return fail(
      "bad_request",
      `worker must be a non-empty string of at most ${WORKER_CHARS_MAX} characters`,
    );
  }
  return ok(worker);
}

/** Parses a callback, ack or release body. */
export function parseAck(
  body: Record<string, unknown>,
  limits: WireLimits,
): Result<AckRequest> {
  if (typeof body.wake_id !== "string") {
    return fail("bad_request", "wake_id must be a string");
  }
  if (
    typeof body.generation !== "number" ||
    !Number.isSafeInteger(body.generation)
  ) {
    return fail("bad_request", "generation must be an integer");
  }
  const acks: AckRequest["acks"] = [];
  if (body.acks !== undefined && body.acks !== null) {
    if (!Array.isArray(body.acks)) {
      return fail("bad_request", "acks must be an array");
    }
    if (body.acks.length > limits.linksMax) {
      return fail(
        "bad_request",
        `acks lists at most ${limits.linksMax} entries`,
      );
    }
    for (const raw of body.acks) {
      const ack = raw as Record<string, unknown> | null;
      if (
        typeof ack !== "object" || ack === null ||
        typeof ack.offset !== "string"
      ) {
        return fail("bad_request", "each ack needs stream and offset strings");
      }
      const stream = parseStreamPath(ack.stream ?? ack.path, limits);
      if (!stream.ok) return stream;
      acks.push({ stream: stream.value, offset: ack.offset });
    }
  }
  if (body.done !== undefined && typeof body.done !== "boolean") {
    return fail("bad_request", "done must be a boolean");
  }
  return ok({
    wakeId: body.wake_id,
    generation: body.generation,
    acks,
    done: body.done === true,
  });
}

/** One linked stream as the protocol shows it (PROTOCOL.md §6.3, §7). */
export interface StreamInfoJson {
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

/** The protocol's object for one linked stream. */
export function streamInfoJson(link: LinkInfo): StreamInfoJson {
  return {
    path: link.path,
    link_type: link.explicit ? "explicit" : "glob",
    acked_offset: encodeOffset(link.ackedPos),
    tail_offset: encodeOffset(link.tailPos),
    has_pending: link.tailPos > link.ackedPos,
  };
}
