import assert from "node:assert/strict";
import { parseObserveRequest } from "./observe_request.ts";
import { lookUp, type SearchFn } from "./request_lookup.ts";
import {
  observeBody,
  rootOf,
  timelineOf,
  traceSection,
} from "./request_timeline.ts";
import type { JsonObject } from "./profile.ts";

const none = () => null;

function span(
  spanId: string,
  parentSpanId: string | null,
  extra: JsonObject = {},
): JsonObject {
  return {
    traceId: "t".repeat(32),
    spanId,
    parentSpanId,
    name: spanId,
    kind: "internal",
    startUnixNano: "1000000000",
    endUnixNano: "2000000000",
    duration: 1000,
    service: "svc",
    error: { isError: false },
    status: { code: "unset" },
    ...extra,
  };
}

Deno.test("rootOf() prefers server kind, then HTTP fields, then a request id, then duration", () => {
  const long = span("a", null, { duration: 9000 });
  const withRequest = span("b", null, { requestId: "r" });
  const withHttp = span("c", null, { http: { method: "GET" } });
  const server = span("d", null, { kind: "server", duration: 1 });
  const child = span("e", "d", { kind: "server", duration: 99999 });
  assert.equal(
    rootOf([long, withRequest, withHttp, server, child])?.spanId,
    "d",
  );
  assert.equal(rootOf([long, withRequest, withHttp])?.spanId, "c");
  assert.equal(rootOf([long, withRequest])?.spanId, "b");
  assert.equal(rootOf([span("x", null), long])?.spanId, "a");
  // A span whose parent was not found counts as parentless.
  assert.equal(rootOf([span("orphan", "gone")])?.spanId, "orphan");
  assert.equal(rootOf([]), null);
});

Deno.test("traceSection() lists missing parents and marks the trace partial", () => {
  const section = traceSection(
    "traces",
    [span("a", null), span("b", "a"), span("c", "zz")],
    2,
    true,
    false,
  );
  assert.deepEqual(section.missingParents, ["zz"]);
  assert.equal(section.partial, true);
  assert.equal(section.duplicateSpans, 2);
  assert.deepEqual(
    (section.tree as JsonObject[]).map((n) => [n.spanId, n.depth]),
    [["a", 0], ["b", 1], ["c", 0]],
  );
});

Deno.test("traceSection() renders a 10,000-span chain without recursion", () => {
  const spans = Array.from(
    { length: 10_000 },
    (_, i) => span(`s${i}`, i === 0 ? null : `s${i - 1}`),
  );
  const section = traceSection("traces", spans, 0, true, false);
  assert.equal((section.tree as JsonObject[]).length, 10_000);
  assert.equal((section.criticalPath as JsonObject[]).length, 10_000);
  JSON.stringify(section);
});

Deno.test("timelineOf() sorts by time, span start before an event at the same time", () => {
  const items = timelineOf(
    [{ timestamp: "1970-01-01T00:00:01.000Z", message: "m" }],
    [span("a", null, {
      events: [{
        name: "exception",
        timeUnixNano: "1500000000",
        attributes: {},
      }],
    })],
  );
  assert.deepEqual(items.map((i) => i.type), [
    "otel.span.start",
    "evlog.event",
    "otel.exception",
    "otel.span.end",
  ]);
});

Deno.test("lookUp() quotes ids in queries, pages to the end and stops at the limit", async () => {
  const queries: string[] = [];
  const pages: Record<string, number> = {};
  const search: SearchFn = (stream, q, _size, after) => {
    queries.push(`${stream} ${q}`);
    const page = after === null ? 0 : Number(after[0]);
    pages[q] = page + 1;
    const records = [0, 1].map((i) => ({
      offset: `${stream}-${page}-${i}`,
      record: stream === "ev"
        ? { traceId: "abc", message: `${page}-${i}` }
        : span(`${page}-${i}`, null),
    }));
    return Promise.resolve({
      ok: true,
      value: { records, next: page < 2 ? [page + 1] : null, timedOut: false },
    });
  };
  const parsed = parseObserveRequest({
    streams: { events: "ev", traces: "tr" },
    lookup: { requestId: 'a"b\\c' },
    limits: { events: 5 },
  }, none);
  assert.ok(parsed.ok);
  const found = await lookUp(parsed.value, search, Date.now() + 5000);
  assert.ok(found.ok);
  assert.equal(queries[0], 'ev req:"a\\"b\\\\c"');
  assert.ok(queries.includes('tr trace:"abc"'));
  const body = observeBody(parsed.value, found.value);
  const coverage = body.coverage as Record<string, JsonObject>;
  assert.equal(coverage.events.unique_hits, 5);
  assert.equal(coverage.events.limit_reached, true);
  assert.equal(coverage.traces.unique_hits, 6);
  assert.equal(coverage.traces.batch_count, 3);
  assert.equal(coverage.traces.complete, true);
});

Deno.test("parseObserveRequest() takes the linked stream from the other stream's profile", () => {
  const parsed = parseObserveRequest(
    { streams: { events: "ev" }, lookup: { traceId: "ABC" } },
    (stream, want) => stream === "ev" && want === "traces" ? "tr" : null,
  );
  assert.ok(parsed.ok);
  assert.equal(parsed.value.tracesStream, "tr");
  assert.deepEqual(parsed.value.lookup, { kind: "traceId", value: "abc" });
  const unlinked = parseObserveRequest(
    { streams: { events: "ev" }, lookup: { traceId: "abc" } },
    none,
  );
  assert.ok(!unlinked.ok);
  assert.equal(unlinked.error.kind, "bad_request");
});
