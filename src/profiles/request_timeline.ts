/**
 * @module
 * The request timeline behind `/v1/observe/request` (ops-security.md §6.2):
 * the request body checked, then a request id, trace id or span id looked up
 * across an evlog stream and an otel-traces stream through their `_search`
 * (pages of 500), and the records found assembled into the trace (spans
 * de-duplicated, root, tree, service map, critical path, errors) and one
 * time-ordered timeline. Searching is a function the caller passes in, so
 * this stays free of I/O.
 */

import { fail, ok, type Result } from "../errors.ts";
import { isObject, type JsonObject } from "./profile.ts";
import { isRfc3339 } from "./_json.ts";
import {
  OBSERVE_EVENTS_MAX,
  OBSERVE_ID_CHARS_MAX,
  OBSERVE_PADDING_MS_MAX,
  OBSERVE_PAGE_SIZE,
  OBSERVE_SPANS_MAX,
  OBSERVE_TRACE_IDS_MAX,
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

// ---- searching -----------------------------------------------------------

/** One `_search` page: the records (sources) and whether more follow. */
export interface SearchPage {
  /** The records with their offsets. */
  records: { offset: string; record: JsonObject }[];
  /** The `search_after` of the next page, or null at the end. */
  next: unknown[] | null;
  /** The search ran out of time. */
  timedOut: boolean;
}

/** Runs one `_search` page on `stream`. */
export type SearchFn = (
  stream: string,
  q: string,
  size: number,
  searchAfter: unknown[] | null,
) => Promise<Result<SearchPage>>;

/** What the searches on one stream covered (the `coverage` section). */
export type StreamCoverage = {
  /** Every query ran to its end within the limits and the budget. */
  complete: boolean;
  /** A search or the whole lookup ran out of time. */
  timed_out: boolean;
  /** A limit stopped the paging. */
  limit_reached: boolean;
  /** Records the searches returned. */
  hits: number;
  /** Distinct records kept. */
  unique_hits: number;
  /** Queries run. */
  query_count: number;
  /** Pages fetched. */
  batch_count: number;
  /** Records found: exact, or a lower bound. */
  total: { value: number; relation: "eq" | "gte" };
};

function emptyCoverage(): StreamCoverage {
  return {
    complete: true,
    timed_out: false,
    limit_reached: false,
    hits: 0,
    unique_hits: 0,
    query_count: 0,
    batch_count: 0,
    total: { value: 0, relation: "eq" },
  };
}

/** A quoted query value. */
function quote(value: string): string {
  return `"${value.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

function windowClause(window: ObserveRequest["window"]): string {
  if (window === null) return "";
  const parts: string[] = [];
  if (window.fromMs !== null) {
    parts.push(`timestamp:>=${quote(new Date(window.fromMs).toISOString())}`);
  }
  if (window.toMs !== null) {
    parts.push(`timestamp:<=${quote(new Date(window.toMs).toISOString())}`);
  }
  return parts.length === 0 ? "" : ` ${parts.join(" ")}`;
}

/** Collects records of one stream over several queries, de-duplicated. */
class Collector {
  readonly coverage = emptyCoverage();
  readonly records: JsonObject[] = [];
  readonly #seen = new Set<string>();

  constructor(
    readonly stream: string,
    readonly limit: number,
    readonly identity: (offset: string, record: JsonObject) => string,
    readonly search: SearchFn,
    readonly window: string,
    readonly deadlineMs: number,
  ) {}

  /** Pages through `q` until its end, the limit, or the deadline. */
  async run(q: string): Promise<Result<void>> {
    this.coverage.query_count++;
    let after: unknown[] | null = null;
    while (true) {
      if (this.records.length >= this.limit) {
        this.#stopped("limit");
        return ok(undefined);
      }
      if (Date.now() >= this.deadlineMs) {
        this.#stopped("time");
        return ok(undefined);
      }
      const page = await this.search(
        this.stream,
        q + this.window,
        OBSERVE_PAGE_SIZE,
        after,
      );
      if (!page.ok) return page;
      this.coverage.batch_count++;
      this.coverage.hits += page.value.records.length;
      for (const hit of page.value.records) this.#keep(hit.offset, hit.record);
      if (page.value.timedOut) {
        this.#stopped("time");
        return ok(undefined);
      }
      if (page.value.next === null) return ok(undefined);
      after = page.value.next;
    }
  }

  #keep(offset: string, record: JsonObject): void {
    const id = this.identity(offset, record);
    if (this.#seen.has(id)) {
      this.duplicates++;
      return;
    }
    if (this.records.length >= this.limit) {
      this.#stopped("limit");
      return;
    }
    this.#seen.add(id);
    this.records.push(record);
    this.coverage.unique_hits = this.records.length;
  }

  /** Records seen more than once. */
  duplicates = 0;

  #stopped(why: "limit" | "time"): void {
    this.coverage.complete = false;
    if (why === "limit") this.coverage.limit_reached = true;
    else this.coverage.timed_out = true;
  }

  /** Fills in `total` once the searches are done. */
  finish(): StreamCoverage {
    this.coverage.total = {
      value: this.records.length,
      relation: this.coverage.complete ? "eq" : "gte",
    };
    return this.coverage;
  }
}

/** What a lookup found, before rendering. */
export interface LookupResult {
  /** The events found, or null when not included. */
  events: Collector | null;
  /** The spans found, or null when not included. */
  spans: Collector | null;
  /** Notes on what could not be looked up. */
  warnings: string[];
}

const str = (v: unknown): string | null =>
  typeof v === "string" && v !== "" ? v : null;

/**
 * Runs the searches of a lookup (ops-security.md §6.2): by request id the
 * events, then the traces of their trace ids (or the spans carrying the
 * request id when they name none); by trace id both streams; by span id the
 * span, its trace, then the events of that trace (or of the span id).
 */
export async function lookUp(
  request: ObserveRequest,
  search: SearchFn,
  deadlineMs: number,
): Promise<Result<LookupResult>> {
  const window = windowClause(request.window);
  const events = request.eventsStream === null ? null : new Collector(
    request.eventsStream,
    request.limits.events,
    (offset) => offset,
    search,
    window,
    deadlineMs,
  );
  const spans = request.tracesStream === null ? null : new Collector(
    request.tracesStream,
    request.limits.spans,
    (_offset, r) => `${r.traceId}:${r.spanId}`,
    search,
    window,
    deadlineMs,
  );
  const warnings: string[] = [];
  const { kind, value } = request.lookup;
  const run = async (c: Collector | null, q: string): Promise<Result<void>> =>
    c === null ? ok(undefined) : await c.run(q);
  let done: Result<void> = ok(undefined);
  if (kind === "traceId") {
    done = await run(events, `trace:${quote(value)}`);
    if (done.ok) done = await run(spans, `trace:${quote(value)}`);
  } else if (kind === "requestId") {
    // The events name the request's traces even when they are not returned.
    const finder = events ?? null;
    done = await run(finder, `req:${quote(value)}`);
    const traceIds = new Set<string>();
    for (const e of finder?.records ?? []) {
      const id = str(e.traceId);
      if (id !== null && traceIds.size < OBSERVE_TRACE_IDS_MAX) {
        traceIds.add(id);
      }
    }
    if (done.ok && spans !== null) {
      if (traceIds.size === 0) done = await spans.run(`req:${quote(value)}`);
      for (const id of traceIds) {
        if (!done.ok) break;
        done = await spans.run(`trace:${quote(id)}`);
      }
    }
  } else {
    done = await run(spans, `span:${quote(value)}`);
    const traceId = str(spans?.records[0]?.traceId);
    if (done.ok && spans !== null && traceId !== null) {
      done = await spans.run(`trace:${quote(traceId)}`);
    }
    if (done.ok && events !== null) {
      done = await events.run(
        traceId !== null ? `trace:${quote(traceId)}` : `span:${quote(value)}`,
      );
    }
    if (spans === null) warnings.push("span lookup without a traces stream");
  }
  if (!done.ok) return done;
  return ok({ events, spans, warnings });
}

// ---- assembling ----------------------------------------------------------

type Span = JsonObject;

function nanosOf(span: Span, key: "startUnixNano" | "endUnixNano"): bigint {
  const raw = span[key];
  return typeof raw === "string" && /^\d{1,20}$/.test(raw) ? BigInt(raw) : 0n;
}

function group(span: Span, key: string): JsonObject | null {
  const value = span[key];
  return isObject(value) ? value as JsonObject : null;
}

/**
 * The root: among spans without a parent (or whose parent is missing),
 * prefer server kind, then HTTP fields, then a request id, then the
 * longest duration.
 */
export function rootOf(spans: readonly Span[]): Span | null {
  const ids = new Set(spans.map((s) => s.spanId));
  const parentless = spans.filter((s) =>
    s.parentSpanId === null || s.parentSpanId === undefined ||
    !ids.has(s.parentSpanId)
  );
  const score = (s: Span): number[] => [
    s.kind === "server" ? 1 : 0,
    group(s, "http") !== null ? 1 : 0,
    str(s.requestId) !== null ? 1 : 0,
    typeof s.duration === "number" ? s.duration : 0,
  ];
  let best: Span | null = null;
  let bestScore: number[] = [];
  for (const span of parentless) {
    const sc = score(span);
    if (best === null || compareScores(sc, bestScore) > 0) {
      best = span;
      bestScore = sc;
    }
  }
  return best;
}

function compareScores(a: number[], b: number[]): number {
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) return a[i] > b[i] ? 1 : -1;
  }
  return 0;
}

/** A span cut to what a timeline needs (no attributes, URLs, statements, stacks). */
export function compactSpan(span: Span): Span {
  const out: Span = { ...span };
  delete out.attributes;
  delete out.resource;
  delete out.links;
  if (Array.isArray(span.events)) {
    out.events = span.events.map((e) =>
      isObject(e)
        ? { name: e.name ?? null, timeUnixNano: e.timeUnixNano ?? null }
        : e
    );
  }
  const http = group(span, "http");
  if (http !== null) out.http = { ...http, url: null, target: null };
  const db = group(span, "db");
  if (db !== null) out.db = { ...db, statement: null };
  const error = group(span, "error");
  if (error !== null) out.error = { ...error, stacktrace: null };
  return out;
}

/** An evlog record cut the same way (no context). */
export function compactEvent(event: JsonObject): JsonObject {
  const out: JsonObject = { ...event };
  delete out.context;
  return out;
}

/** The trace section of a lookup. */
export function traceSection(
  stream: string,
  spans: readonly Span[],
  duplicates: number,
  complete: boolean,
  raw: boolean,
): JsonObject {
  const byId = new Map<string, Span>();
  for (const s of spans) byId.set(String(s.spanId), s);
  const root = rootOf(spans);
  const children = new Map<string, Span[]>();
  const missing = new Set<string>();
  for (const s of spans) {
    const parent = str(s.parentSpanId);
    if (parent === null) continue;
    if (!byId.has(parent)) missing.add(parent);
    const list = children.get(parent) ?? [];
    list.push(s);
    children.set(parent, list);
  }
  for (const list of children.values()) {
    list.sort((a, b) =>
      compareBig(nanosOf(a, "startUnixNano"), nanosOf(b, "startUnixNano"))
    );
  }
  return {
    stream,
    traceId: root?.traceId ?? spans[0]?.traceId ?? null,
    rootSpanId: root?.spanId ?? null,
    spans: spans.map((s) => raw ? s : compactSpan(s)),
    tree: treeOf(spans, byId, children),
    serviceMap: serviceMap(spans, byId),
    criticalPath: criticalPath(root, children),
    errors: spans.filter((s) => group(s, "error")?.isError === true).map((
      s,
    ) => ({
      spanId: s.spanId,
      name: s.name,
      service: s.service ?? null,
      type: group(s, "error")?.type ?? null,
      message: group(s, "error")?.message ?? null,
    })),
    partial: !complete || missing.size > 0,
    missingParents: [...missing].sort(),
    duplicateSpans: duplicates,
  };
}

function compareBig(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The span tree, flat in depth-first order (no nesting, so a deep chain
 * renders without recursion): each node names its parent, depth and children.
 */
function treeOf(
  spans: readonly Span[],
  byId: Map<string, Span>,
  children: Map<string, Span[]>,
): JsonObject[] {
  const tops = spans.filter((s) => {
    const parent = str(s.parentSpanId);
    return parent === null || !byId.has(parent);
  }).sort((a, b) =>
    compareBig(nanosOf(a, "startUnixNano"), nanosOf(b, "startUnixNano"))
  );
  const out: JsonObject[] = [];
  const seen = new Set<string>();
  const stack: { span: Span; depth: number }[] = tops.reverse().map((span) => ({
    span,
    depth: 0,
  }));
  while (stack.length > 0) {
    const { span, depth } = stack.pop()!;
    const id = String(span.spanId);
    if (seen.has(id)) continue;
    seen.add(id);
    const kids = children.get(id) ?? [];
    out.push({
      spanId: id,
      parentSpanId: span.parentSpanId ?? null,
      depth,
      name: span.name ?? null,
      service: span.service ?? null,
      children: kids.map((k) => k.spanId),
    });
    for (let i = kids.length - 1; i >= 0; i--) {
      stack.push({ span: kids[i], depth: depth + 1 });
    }
  }
  return out;
}

function serviceMap(
  spans: readonly Span[],
  byId: Map<string, Span>,
): JsonObject {
  const services = new Map<string, { spans: number; errors: number }>();
  const edges = new Map<string, number>();
  for (const s of spans) {
    const name = str(s.service) ?? "unknown";
    const entry = services.get(name) ?? { spans: 0, errors: 0 };
    entry.spans++;
    if (group(s, "error")?.isError === true) entry.errors++;
    services.set(name, entry);
    const parent = byId.get(String(s.parentSpanId));
    const from = parent === undefined ? null : str(parent.service) ?? "unknown";
    if (from !== null && from !== name) {
      const key = JSON.stringify([from, name]);
      edges.set(key, (edges.get(key) ?? 0) + 1);
    }
  }
  return {
    services: [...services].map(([service, v]) => ({ service, ...v })),
    edges: [...edges].map(([key, count]) => {
      const [from, to] = JSON.parse(key);
      return { from, to, count };
    }),
  };
}

/** From the root, each step to the child that ends last. */
function criticalPath(
  root: Span | null,
  children: Map<string, Span[]>,
): JsonObject[] {
  const path: JsonObject[] = [];
  const seen = new Set<string>();
  let at = root;
  while (at !== null && !seen.has(String(at.spanId))) {
    seen.add(String(at.spanId));
    path.push({
      spanId: at.spanId,
      name: at.name ?? null,
      service: at.service ?? null,
      duration: at.duration ?? null,
    });
    const kids = children.get(String(at.spanId)) ?? [];
    let next: Span | null = null;
    for (const k of kids) {
      if (
        next === null ||
        nanosOf(k, "endUnixNano") > nanosOf(next, "endUnixNano")
      ) next = k;
    }
    at = next;
  }
  return path;
}

/** One timeline item. */
interface Item {
  sortNs: bigint;
  order: number;
  item: JsonObject;
}

const TYPE_ORDER: Record<string, number> = {
  "otel.span.start": 0,
  "evlog.event": 1,
  "otel.span.event": 2,
  "otel.exception": 3,
  "otel.span.end": 4,
};

function isoOfNs(ns: bigint): string {
  const ms = Number(ns / 1_000_000n);
  return Number.isFinite(ms) && Math.abs(ms) <= 8.64e15
    ? new Date(ms).toISOString()
    : new Date(0).toISOString();
}

/** Events and spans as one timeline, sorted by time. */
export function timelineOf(
  events: readonly JsonObject[],
  spans: readonly Span[],
): JsonObject[] {
  const items: Item[] = [];
  const push = (ns: bigint, type: string, fields: JsonObject) =>
    items.push({
      sortNs: ns,
      order: TYPE_ORDER[type],
      item: { time: isoOfNs(ns), type, ...fields },
    });
  for (const e of events) {
    const ms = typeof e.timestamp === "string" ? Date.parse(e.timestamp) : NaN;
    const ns = Number.isFinite(ms) ? BigInt(ms) * 1_000_000n : 0n;
    push(ns, "evlog.event", {
      level: e.level ?? null,
      service: e.service ?? null,
      message: e.message ?? null,
      requestId: e.requestId ?? null,
      traceId: e.traceId ?? null,
      spanId: e.spanId ?? null,
      status: e.status ?? null,
    });
  }
  for (const s of spans) {
    const common = {
      spanId: s.spanId,
      name: s.name ?? null,
      service: s.service ?? null,
    };
    push(nanosOf(s, "startUnixNano"), "otel.span.start", {
      ...common,
      kind: s.kind ?? null,
    });
    push(nanosOf(s, "endUnixNano"), "otel.span.end", {
      ...common,
      duration: s.duration ?? null,
      status: group(s, "status")?.code ?? null,
    });
    for (const e of Array.isArray(s.events) ? s.events : []) {
      if (!isObject(e)) continue;
      const raw = e.timeUnixNano;
      const ns = typeof raw === "string" && /^\d{1,20}$/.test(raw)
        ? BigInt(raw)
        : nanosOf(s, "startUnixNano");
      const exception = e.name === "exception";
      const attrs = isObject(e.attributes) ? e.attributes : {};
      push(ns, exception ? "otel.exception" : "otel.span.event", {
        ...common,
        event: e.name ?? null,
        ...(exception
          ? {
            exceptionType: attrs["exception.type"] ?? null,
            exceptionMessage: attrs["exception.message"] ?? null,
          }
          : {}),
      });
    }
  }
  items.sort((a, b) => compareBig(a.sortNs, b.sortNs) || a.order - b.order);
  return items.map((i) => i.item);
}

/** The evlog section: the primary event (the request's own) and the matches. */
export function evlogSection(
  stream: string,
  events: readonly JsonObject[],
  request: ObserveRequest,
): JsonObject {
  const id = request.lookup.value;
  const own = events.filter((e) =>
    request.lookup.kind !== "requestId" || e.requestId === id
  );
  const primary = own.find((e) => typeof e.status === "number") ??
    own[0] ?? events[0] ?? null;
  const show = (e: JsonObject) => request.include.raw ? e : compactEvent(e);
  return {
    stream,
    primary: primary === null ? null : show(primary),
    matches: events.map(show),
  };
}

/** The `summary` section: who, what, when, how it went. */
export function summaryOf(
  events: readonly JsonObject[],
  spans: readonly Span[],
  root: Span | null,
  lookup: ObserveRequest["lookup"],
): JsonObject {
  const primary = events.find((e) => typeof e.status === "number") ?? events[0];
  const http = root === null ? null : group(root, "http");
  const starts = spans.map((s) => nanosOf(s, "startUnixNano"));
  const ends = spans.map((s) => nanosOf(s, "endUnixNano"));
  const first = starts.length === 0
    ? null
    : starts.reduce((a, b) => (a < b ? a : b));
  const last = ends.length === 0
    ? null
    : ends.reduce((a, b) => (a > b ? a : b));
  return {
    requestId: (lookup.kind === "requestId" ? lookup.value : null) ??
      primary?.requestId ?? root?.requestId ?? null,
    traceId: root?.traceId ?? primary?.traceId ??
      (lookup.kind === "traceId" ? lookup.value : null),
    service: root?.service ?? primary?.service ?? null,
    method: http?.method ?? primary?.method ?? null,
    path: http?.route ?? primary?.path ?? null,
    status: http?.statusCode ?? primary?.status ?? null,
    durationMs: root?.duration ?? primary?.duration ?? null,
    startedAt: first === null ? primary?.timestamp ?? null : isoOfNs(first),
    endedAt: last === null ? null : isoOfNs(last),
    events: events.length,
    spans: spans.length,
    errors: spans.filter((s) => group(s, "error")?.isError === true).length +
      events.filter((e) => e.level === "error").length,
  };
}

/** The whole response body of a lookup. */
export function observeBody(
  request: ObserveRequest,
  found: LookupResult,
): JsonObject {
  const events = found.events?.records ?? [];
  const spans = found.spans?.records ?? [];
  const eventsCoverage = found.events?.finish() ?? null;
  const spansCoverage = found.spans?.finish() ?? null;
  const trace = found.spans === null ? null : traceSection(
    found.spans.stream,
    spans,
    found.spans.duplicates,
    spansCoverage?.complete ?? true,
    request.include.raw,
  );
  const root = rootOf(spans);
  return {
    lookup: { [request.lookup.kind]: request.lookup.value },
    summary: summaryOf(events, spans, root, request.lookup),
    evlog: found.events === null
      ? null
      : evlogSection(found.events.stream, events, request),
    trace,
    timeline: request.include.timeline ? timelineOf(events, spans) : [],
    coverage: {
      events: eventsCoverage,
      traces: spansCoverage,
      warnings: found.warnings,
    },
  };
}
