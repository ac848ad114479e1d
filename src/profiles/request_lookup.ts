/**
 * @module
 * The lookup behind `/v1/observe/request` (ops-security.md §6.2): a request
 * id, trace id or span id searched across an evlog stream and an
 * otel-traces stream through their `_search`, in pages of 500, within the
 * limits and a deadline, with what the searches covered. Searching is a
 * function the caller passes in, so this stays free of I/O.
 */

import { ok, type Result } from "../errors.ts";
import type { JsonObject } from "./profile.ts";
import { nonEmptyString } from "./_json.ts";
import { OBSERVE_PAGE_SIZE, OBSERVE_TRACE_IDS_MAX } from "../limits.ts";
import type { ObserveRequest } from "./observe_request.ts";

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
      const id = nonEmptyString(e.traceId);
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
    const traceId = nonEmptyString(spans?.records[0]?.traceId);
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
