/**
 * @module
 * The body of `/v1/observe/request` (ops-security.md §6.2) checked: the
 * evlog and otel-traces streams (one may be found through the other's
 * profile link), the id looked up (request, trace or span id), the time
 * window with its padding, the sections to return and their limits.
 */

import { fail, ok, type Result } from "../errors.ts";
import { isObject } from "./profile.ts";
import { isRfc3339 } from "./_json.ts";
import {
  OBSERVE_EVENTS_MAX,
  OBSERVE_ID_CHARS_MAX,
  OBSERVE_PADDING_MS_MAX,
  OBSERVE_SPANS_MAX,
} from "../limits.ts";

/** Which id the lookup starts from. */
export type LookupKind = "requestId" | "traceId" | "spanId";

/** A checked `/v1/observe/request` body. */
export interface ObserveRequest {
  /** The evlog stream, or null when events are not included. */
  eventsStream: string | null;
  /** The otel-traces stream, or null when the trace is not included. */
  tracesStream: string | null;
  /** The id looked up. */
  lookup: { kind: LookupKind; value: string };
  /** Time window (epoch ms, padding applied), or null for all time. */
  window: { fromMs: number | null; toMs: number | null } | null;
  /** Sections to return. */
  include: { events: boolean; trace: boolean; timeline: boolean; raw: boolean };
  /** Most events and spans returned. */
  limits: { events: number; spans: number };
}

const TOP_KEYS = ["streams", "lookup", "time", "include", "limits"];

/**
 * Checks a request body. `streams.events`/`streams.traces` may be left out
 * when the other stream's profile links them (`linked` gives the link).
 */
export function parseObserveRequest(
  body: unknown,
  linked: (stream: string, want: "events" | "traces") => string | null,
): Result<ObserveRequest> {
  if (!isObject(body)) return bad("the body must be a JSON object");
  const unknown = Object.keys(body).find((k) => !TOP_KEYS.includes(k));
  if (unknown !== undefined) return bad(`unknown key "${unknown}"`);
  const include = includeOf(body.include);
  if (!include.ok) return include;
  const lookup = lookupOf(body.lookup);
  if (!lookup.ok) return lookup;
  const streams = objectOf(body.streams, "streams", ["events", "traces"]);
  if (!streams.ok) return streams;
  let events = optionalName(streams.value.events, "streams.events");
  if (!events.ok) return events;
  let traces = optionalName(streams.value.traces, "streams.traces");
  if (!traces.ok) return traces;
  if (events.value === null && traces.value !== null) {
    events = ok(linked(traces.value, "events"));
  }
  if (traces.value === null && events.value !== null) {
    traces = ok(linked(events.value, "traces"));
  }
  if (include.value.events && events.value === null) {
    return bad('"streams.events" is required when include.events is true');
  }
  if (include.value.trace && traces.value === null) {
    return bad('"streams.traces" is required when include.trace is true');
  }
  const window = windowOf(body.time);
  if (!window.ok) return window;
  const limits = limitsOf(body.limits);
  if (!limits.ok) return limits;
  return ok({
    eventsStream: include.value.events ? events.value : null,
    tracesStream: include.value.trace ? traces.value : null,
    lookup: lookup.value,
    window: window.value,
    include: include.value,
    limits: limits.value,
  });
}

function bad(message: string): Result<never> {
  return fail("bad_request", `Invalid observe request: ${message}`);
}

function objectOf(
  raw: unknown,
  path: string,
  keys: string[],
): Result<Record<string, unknown>> {
  if (raw === undefined) return ok({});
  if (!isObject(raw)) return bad(`"${path}" must be an object`);
  const unknown = Object.keys(raw).find((k) => !keys.includes(k));
  if (unknown !== undefined) return bad(`unknown key "${path}.${unknown}"`);
  return ok(raw);
}

function optionalName(raw: unknown, path: string): Result<string | null> {
  if (raw === undefined || raw === null) return ok(null);
  if (typeof raw !== "string" || raw === "") {
    return bad(`"${path}" must be a non-empty stream name`);
  }
  return ok(raw);
}

function includeOf(raw: unknown): Result<ObserveRequest["include"]> {
  const keys = ["events", "trace", "timeline", "raw"];
  const found = objectOf(raw, "include", keys);
  if (!found.ok) return found;
  const out = { events: true, trace: true, timeline: true, raw: false };
  for (const key of keys) {
    const value = found.value[key];
    if (value === undefined) continue;
    if (typeof value !== "boolean") {
      return bad(`"include.${key}" must be a boolean`);
    }
    out[key as keyof typeof out] = value;
  }
  if (!out.events && !out.trace) {
    return bad("include.events and include.trace are both false");
  }
  return ok(out);
}

function lookupOf(raw: unknown): Result<ObserveRequest["lookup"]> {
  const kinds: LookupKind[] = ["requestId", "traceId", "spanId"];
  if (!isObject(raw)) return bad('"lookup" must be an object');
  const keys = Object.keys(raw);
  const unknown = keys.find((k) => !kinds.includes(k as LookupKind));
  if (unknown !== undefined) return bad(`unknown key "lookup.${unknown}"`);
  if (keys.length !== 1) {
    return bad('"lookup" must have exactly one of requestId, traceId, spanId');
  }
  const kind = keys[0] as LookupKind;
  const value = raw[kind];
  if (
    typeof value !== "string" || value.trim() === "" ||
    value.length > OBSERVE_ID_CHARS_MAX
  ) {
    return bad(
      `"lookup.${kind}" must be a non-empty string of at most ${OBSERVE_ID_CHARS_MAX} characters`,
    );
  }
  const id = value.trim();
  return ok({ kind, value: kind === "requestId" ? id : id.toLowerCase() });
}

function windowOf(raw: unknown): Result<ObserveRequest["window"]> {
  const found = objectOf(raw, "time", ["from", "to", "paddingMs"]);
  if (!found.ok) return found;
  if (raw === undefined) return ok(null);
  const { from, to, paddingMs } = found.value;
  const padding = paddingMs ?? 0;
  if (
    typeof padding !== "number" || !Number.isInteger(padding) || padding < 0 ||
    padding > OBSERVE_PADDING_MS_MAX
  ) {
    return bad(
      `"time.paddingMs" must be an integer 0..${OBSERVE_PADDING_MS_MAX}`,
    );
  }
  const edge = (value: unknown, path: string): Result<number | null> => {
    if (value === undefined || value === null) return ok(null);
    if (typeof value !== "string" || !isRfc3339(value)) {
      return bad(`"${path}" must be an RFC 3339 date-time`);
    }
    return ok(Date.parse(value));
  };
  const fromMs = edge(from, "time.from");
  if (!fromMs.ok) return fromMs;
  const toMs = edge(to, "time.to");
  if (!toMs.ok) return toMs;
  if (
    fromMs.value !== null && toMs.value !== null && fromMs.value > toMs.value
  ) {
    return bad('"time.from" is after "time.to"');
  }
  return ok({
    fromMs: fromMs.value === null ? null : fromMs.value - padding,
    toMs: toMs.value === null ? null : toMs.value + padding,
  });
}

function limitsOf(raw: unknown): Result<ObserveRequest["limits"]> {
  const found = objectOf(raw, "limits", ["events", "spans"]);
  if (!found.ok) return found;
  const limit = (
    value: unknown,
    path: string,
    max: number,
    fallback: number,
  ): Result<number> => {
    if (value === undefined) return ok(fallback);
    if (
      typeof value !== "number" || !Number.isInteger(value) || value < 1 ||
      value > max
    ) {
      return bad(`"${path}" must be an integer 1..${max}`);
    }
    return ok(value);
  };
  const events = limit(
    found.value.events,
    "limits.events",
    OBSERVE_EVENTS_MAX,
    100,
  );
  if (!events.ok) return events;
  const spans = limit(
    found.value.spans,
    "limits.spans",
    OBSERVE_SPANS_MAX,
    5000,
  );
  if (!spans.ok) return spans;
  return ok({ events: events.value, spans: spans.value });
}
