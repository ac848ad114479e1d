/**
 * @module
 * The response of `/v1/observe/request` assembled from the records a lookup
 * found (ops-security.md §6.2): the trace (spans de-duplicated, root, flat
 * tree, service map, critical path, errors), the evlog section, one
 * time-ordered timeline of events and spans, the summary and the coverage.
 * Pure functions over records; the body rules are `observe_request.ts`'s
 * and the searching `request_lookup.ts`'s.
 */

import { isObject, type JsonObject } from "./profile.ts";
import { nonEmptyString } from "./_json.ts";
import type { ObserveRequest } from "./observe_request.ts";
import type { LookupResult } from "./request_lookup.ts";

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
    nonEmptyString(s.requestId) !== null ? 1 : 0,
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
    const parent = nonEmptyString(s.parentSpanId);
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
    const parent = nonEmptyString(s.parentSpanId);
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
    const name = nonEmptyString(s.service) ?? "unknown";
    const entry = services.get(name) ?? { spans: 0, errors: 0 };
    entry.spans++;
    if (group(s, "error")?.isError === true) entry.errors++;
    services.set(name, entry);
    const parent = byId.get(String(s.parentSpanId));
    const from = parent === undefined
      ? null
      : nonEmptyString(parent.service) ?? "unknown";
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
