import assert from "node:assert/strict";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { LIVE_READER_BYTES_ESTIMATE } from "../src/limits.ts";
import { encodeOffset } from "../src/protocol/offset.ts";
import { startTestServer } from "./_server.ts";

/** A family as the parser returns it. */
interface Family {
  name: string;
  type: string;
  metrics: {
    value?: string;
    labels?: Record<string, string>;
    buckets?: Record<string, string>;
    count?: string;
    sum?: string;
  }[];
}

/**
 * Every family of `/metrics`, parsed. The parser folds a histogram's
 * series into one whatever their labels, so the text is parsed a second
 * time without the histograms' `# TYPE` lines: their `_bucket`, `_sum` and
 * `_count` series then come back one family each, labels kept.
 */
async function scrape(
  url: string,
  headers: Record<string, string> = {},
): Promise<Map<string, Family>> {
  const response = await fetch(`${url}/metrics`, { headers });
  assert.equal(response.status, 200);
  assert.equal(
    response.headers.get("content-type"),
    "text/plain; version=0.0.4; charset=utf-8",
  );
  const text = await response.text();
  const typed = parsePrometheusTextFormat(text) as Family[];
  const untyped = parsePrometheusTextFormat(
    text.replace(/^# TYPE \S+ histogram$/gm, ""),
  ) as Family[];
  // Untyped, one histogram's series come back as several families of one
  // name (one per run of lines): merge them.
  const byName = new Map<string, Family>();
  for (const f of untyped) {
    const seen = byName.get(f.name);
    if (seen === undefined) byName.set(f.name, { ...f });
    else seen.metrics = [...seen.metrics, ...f.metrics];
  }
  for (const f of typed) byName.set(f.name, f);
  return byName;
}

/** The value of the series of `name` whose labels include `labels`. */
function valueOf(
  families: Map<string, Family>,
  name: string,
  labels: Record<string, string> = {},
): number {
  const family = families.get(name);
  assert.ok(family !== undefined, `family ${name} missing`);
  const series = family.metrics.filter((m) =>
    Object.entries(labels).every(([k, v]) => m.labels?.[k] === v)
  );
  return series.reduce((sum, m) => sum + Number(m.value ?? m.count ?? 0), 0);
}

async function append(url: string, name: string, body: string) {
  const response = await fetch(`${url}/v1/stream/${name}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
  });
  await response.body?.cancel();
  assert.equal(response.status, 204);
}

Deno.test("/metrics parses as Prometheus text and its counters move with appends", async () => {
  const server = await startTestServer({
    objectStore: { kind: "fs" },
    segment: { segmentBytes: 1024, segmentAgeMs: 10 },
  });
  const name = "secret-tenant-stream";
  try {
    const created = await fetch(`${server.url}/v1/stream/${name}`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
    });
    assert.equal(created.status, 201);
    const before = await scrape(server.url);
    await append(server.url, name, '[{"a":1},{"b":2},{"c":3}]');
    await append(server.url, name, '{"d":4}');
    const after = await scrape(server.url);
    const delta = (metric: string, labels?: Record<string, string>) =>
      valueOf(after, metric, labels) - valueOf(before, metric, labels);
    assert.equal(delta("streambed_append_records_total"), 4);
    const appends = { route: "stream_append", method: "POST" };
    assert.equal(
      delta("streambed_http_requests_total", { ...appends, status: "2xx" }),
      2,
    );
    assert.equal(
      delta("streambed_http_request_duration_seconds_count", appends),
      2,
    );
    assert.equal(
      delta("streambed_http_request_duration_seconds_bucket", {
        ...appends,
        le: "+Inf",
      }),
      2,
    );
    // Bytes: on a binary stream, where a record is its bytes.
    const bin = await fetch(`${server.url}/v1/stream/bin`, {
      method: "PUT",
      headers: { "content-type": "application/octet-stream" },
    });
    await bin.body?.cancel();
    const bytesBefore = valueOf(after, "streambed_append_bytes_total");
    const put = await fetch(`${server.url}/v1/stream/bin`, {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body: new Uint8Array(1234),
    });
    await put.body?.cancel();
    const last = await scrape(server.url);
    assert.equal(
      valueOf(last, "streambed_append_bytes_total") - bytesBefore,
      1234,
    );
    assert.ok(delta("streambed_commits_total") >= 1);
    assert.equal(
      after.get("streambed_append_commit_duration_seconds")?.type,
      "HISTOGRAM",
    );
    assert.equal(valueOf(after, "streambed_streams"), 1);
    // The previous scrape itself is counted by now.
    assert.ok(
      valueOf(after, "streambed_http_requests_total", {
        route: "metrics_get",
        status: "2xx",
      }) >= 1,
    );
  } finally {
    await server.close();
    await Deno.remove(server.dataDir, { recursive: true });
  }
});

Deno.test("/metrics counts uploads and object store calls, and never names a stream", async () => {
  const server = await startTestServer({
    objectStore: { kind: "fs" },
    segment: { segmentBytes: 1024, segmentAgeMs: 10 },
  });
  const name = "secret-tenant-stream";
  try {
    await fetch(`${server.url}/v1/stream/${name}`, {
      method: "PUT",
      headers: { "content-type": "application/octet-stream" },
      body: new Uint8Array(3000),
    }).then((r) => r.body?.cancel());
    await fetch(`${server.url}/v1/stream/${name}/missing-sub`).then((r) =>
      r.body?.cancel()
    );
    let families = await scrape(server.url);
    // Sealing and upload run in the background: wait for them (bounded).
    for (let i = 0; i < 600; i++) {
      if (valueOf(families, "streambed_tier_segments_uploaded_total") > 0) {
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
      families = await scrape(server.url);
    }
    assert.ok(valueOf(families, "streambed_tier_segments_sealed_total") >= 1);
    assert.ok(valueOf(families, "streambed_tier_segments_uploaded_total") >= 1);
    assert.ok(
      valueOf(families, "streambed_objectstore_requests_total", {
        op: "put",
        artifact: "segment",
        outcome: "ok",
      }) >= 1,
    );
    assert.ok(
      valueOf(
        families,
        "streambed_objectstore_request_duration_seconds_count",
        { op: "put" },
      ) >= 1,
    );
    const text = await (await fetch(`${server.url}/metrics`)).text();
    assert.ok(!text.includes("secret-tenant"), "a stream name leaked");
    assert.ok(!text.includes("missing-sub"), "a path leaked");
  } finally {
    await server.close();
    await Deno.remove(server.dataDir, { recursive: true });
  }
});

Deno.test("index_lag_segments and index_builds_total move as uploads are indexed", async () => {
  const server = await startTestServer({
    objectStore: { kind: "fs" },
    segment: { segmentBytes: 1024, segmentAgeMs: 20 },
  });
  const base = `${server.url}/v1/stream/ix`;
  const family = { family: "routing_key" };
  try {
    let families = await scrape(server.url);
    assert.equal(families.get("streambed_index_lag_segments")?.type, "GAUGE");
    assert.equal(
      families.get("streambed_index_builds_total")?.type,
      "COUNTER",
    );
    assert.equal(valueOf(families, "streambed_index_lag_segments", family), 0);
    assert.equal(valueOf(families, "streambed_index_builds_total", family), 0);
    await fetch(base, {
      method: "PUT",
      headers: { "content-type": "text/plain" },
    }).then((r) => r.body?.cancel());
    // 20 records of ~1100 bytes: one segment each. The index covers whole
    // spans of 16 segments, so 4 uploaded segments stay unindexed.
    for (let i = 0; i < 20; i++) {
      const r = await fetch(base, {
        method: "POST",
        headers: { "content-type": "text/plain", "stream-key": `k${i % 3}` },
        body: `<${i}>` + "x".repeat(1100),
      });
      await r.body?.cancel();
      assert.equal(r.status, 204);
    }
    // Sealing, upload and indexing run in the background (bounded wait).
    for (let i = 0; i < 800; i++) {
      if (
        valueOf(families, "streambed_tier_segments_uploaded_total") >= 20 &&
        valueOf(families, "streambed_index_builds_total", family) >= 1
      ) break;
      await new Promise((resolve) => setTimeout(resolve, 25));
      families = await scrape(server.url);
    }
    assert.equal(
      valueOf(families, "streambed_tier_segments_uploaded_total"),
      20,
    );
    assert.ok(valueOf(families, "streambed_index_builds_total", family) >= 1);
    assert.equal(valueOf(families, "streambed_index_lag_segments", family), 4);
    const status = await (await fetch(`${base}/_index_status`)).json();
    assert.equal(status.routing_key_index.lag_segments, 4);
  } finally {
    await server.close();
    await Deno.remove(server.dataDir, { recursive: true });
  }
});

Deno.test("X-Request-Id: a sane one is echoed, others are replaced, on every response", async () => {
  const server = await startTestServer();
  const uuidv7 =
    /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
  try {
    const call = async (path: string, init: RequestInit = {}) => {
      const response = await fetch(`${server.url}${path}`, init);
      await response.body?.cancel();
      return response.headers.get("x-request-id");
    };
    const sane = "req_123:abc.DEF-9";
    assert.equal(
      await call("/health", { headers: { "x-request-id": sane } }),
      sane,
    );
    assert.equal(
      await call("/nowhere", { headers: { "x-request-id": sane } }),
      sane,
    );
    assert.equal(
      await call("/v1/stream/x", {
        method: "OPTIONS",
        headers: { "x-request-id": sane },
      }),
      sane,
    );
    for (const bad of ["a b", "x".repeat(129), "<script>", "é"]) {
      const id = await call("/health", { headers: { "x-request-id": bad } });
      assert.match(id ?? "", uuidv7, `replaced ${JSON.stringify(bad)}`);
    }
    assert.match(await call("/v1/stream/missing") ?? "", uuidv7);
  } finally {
    await server.close();
    await Deno.remove(server.dataDir, { recursive: true });
  }
});

Deno.test("GET /v1/server/_details: limits, memory, queues and the largest streams first", async () => {
  const server = await startTestServer({
    objectStore: { kind: "fs" },
    limits: { appendQueueMax: 77 },
  });
  try {
    for (const [name, size] of [["small", 10], ["large", 300], ["mid", 50]]) {
      const response = await fetch(`${server.url}/v1/stream/${name}`, {
        method: "PUT",
        headers: { "content-type": "application/octet-stream" },
        body: new Uint8Array(size as number),
      });
      await response.body?.cancel();
    }
    const response = await fetch(`${server.url}/v1/server/_details`);
    assert.equal(response.status, 200);
    const details = await response.json();
    assert.equal(details.limits.appendQueueMax, 77);
    assert.deepEqual(details.topStreams, [
      { name: "large", bytes: 300 },
      { name: "mid", bytes: 50 },
      { name: "small", bytes: 10 },
    ]);
    assert.equal(details.streams, 3);
    assert.ok(details.memory.process.rss > 0);
    const subsystems = details.memory.subsystems.map((
      s: { subsystem: string },
    ) => s.subsystem);
    assert.deepEqual(subsystems, [
      "append_queue",
      "request_bodies",
      "stream_cache",
      "live_readers",
      "segment_cache",
    ]);
    assert.deepEqual(details.appendQueue, {
      requests: 0,
      bytes: 0,
      rejections: 0,
    });
    assert.equal(details.writer.appendBytes, 360);
    assert.equal(typeof details.tier.backlogBytes, "number");
    // The ranking follows appends and deletes after the first request.
    const append = await fetch(`${server.url}/v1/stream/small`, {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body: new Uint8Array(500),
    });
    await append.body?.cancel();
    const deleted = await fetch(`${server.url}/v1/stream/large`, {
      method: "DELETE",
    });
    await deleted.body?.cancel();
    const after = await fetch(`${server.url}/v1/server/_details`);
    assert.deepEqual((await after.json()).topStreams, [
      { name: "small", bytes: 510 },
      { name: "mid", bytes: 50 },
    ]);
  } finally {
    await server.close();
    await Deno.remove(server.dataDir, { recursive: true });
  }
});

/** Reads stream `name` from `pos` to its tail; returns the bytes. */
async function readAll(url: string, name: string, pos = 0): Promise<number> {
  const offset = pos === 0 ? "-1" : encodeOffset(pos);
  const response = await fetch(`${url}/v1/stream/${name}?offset=${offset}`);
  assert.equal(response.status, 200);
  return (await response.arrayBuffer()).byteLength;
}

Deno.test("memory by subsystem counts open live readers at the per-connection estimate", async () => {
  const server = await startTestServer({ limits: { waitersMax: 40 } });
  const readers = new AbortController();
  try {
    const put = await fetch(`${server.url}/v1/stream/w`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
    });
    await put.body?.cancel();
    const liveRow = async () => {
      const response = await fetch(`${server.url}/v1/server/_details`);
      const { memory } = await response.json();
      return memory.subsystems.find((s: { subsystem: string }) =>
        s.subsystem === "live_readers"
      );
    };
    assert.deepEqual(await liveRow(), {
      subsystem: "live_readers",
      usedBytes: 0,
      budgetBytes: 40 * LIVE_READER_BYTES_ESTIMATE,
    });
    const polls = Array.from(
      { length: 3 },
      () =>
        fetch(`${server.url}/v1/stream/w?offset=now&live=long-poll`, {
          signal: readers.signal,
        }).then((r) => r.body?.cancel(), () => {}),
    );
    let row = await liveRow();
    for (
      let i = 0;
      i < 200 && row.usedBytes < 3 * LIVE_READER_BYTES_ESTIMATE;
      i++
    ) {
      await new Promise((r) => setTimeout(r, 25));
      row = await liveRow();
    }
    assert.equal(row.usedBytes, 3 * LIVE_READER_BYTES_ESTIMATE);
    readers.abort();
    await Promise.all(polls);
  } finally {
    readers.abort();
    await server.close();
    await Deno.remove(server.dataDir, { recursive: true });
  }
});

Deno.test("read_bytes_total counts WAL bytes, then object store and cache bytes once segments hold the data", async () => {
  const overrides = {
    objectStore: { kind: "fs" as const },
    segment: { segmentBytes: 1024, segmentAgeMs: 10 },
  };
  let server = await startTestServer(overrides);
  const dataDir = server.dataDir;
  const tier = (families: Map<string, Family>, t: string) =>
    valueOf(families, "streambed_read_bytes_total", { tier: t });
  try {
    const created = await fetch(`${server.url}/v1/stream/logs`, {
      method: "PUT",
      headers: { "content-type": "application/octet-stream" },
    });
    await created.body?.cancel();
    let families = await scrape(server.url);
    assert.deepEqual(
      ["wal", "cache", "object"].map((t) => tier(families, t)),
      [0, 0, 0],
    );
    const put = await fetch(`${server.url}/v1/stream/logs`, {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body: new Uint8Array(3000),
    });
    await put.body?.cancel();
    // Wait (bounded) for the data to be sealed and uploaded.
    for (let i = 0; i < 600; i++) {
      families = await scrape(server.url);
      if (valueOf(families, "streambed_tier_segments_uploaded_total") > 0) {
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    await server.close();
    // A restart: the cache is empty and the WAL holds only what was not
    // uploaded, so the first read loads segments from the object store.
    server = await startTestServer(overrides, dataDir);
    const before = await scrape(server.url);
    assert.equal(await readAll(server.url, "logs"), 3000);
    const first = await scrape(server.url);
    const fromObject = tier(first, "object") - tier(before, "object");
    const fromWal = tier(first, "wal") - tier(before, "wal");
    assert.ok(fromObject > 0, "no bytes from the object store");
    assert.equal(tier(first, "cache") - tier(before, "cache"), 0);
    assert.ok(fromObject + fromWal >= 3000);
    // Read again (from 1500: an identical small read would be shared with
    // the first, reading nothing): the segments are cached now.
    assert.ok(await readAll(server.url, "logs", 1500) >= 1500);
    const second = await scrape(server.url);
    assert.equal(tier(second, "object"), tier(first, "object"));
    const fromCache = tier(second, "cache") - tier(first, "cache");
    assert.ok(fromCache > 0, "no bytes from the cache");
    assert.ok(fromCache + tier(second, "wal") - tier(first, "wal") >= 1500);
  } finally {
    await server.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("read_bytes_total counts WAL reads without an object store", async () => {
  const server = await startTestServer();
  try {
    const created = await fetch(`${server.url}/v1/stream/w`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
    });
    await created.body?.cancel();
    await append(server.url, "w", '{"a":1}');
    const before = await scrape(server.url);
    const bytes = await readAll(server.url, "w");
    assert.ok(bytes > 0);
    const after = await scrape(server.url);
    const delta = valueOf(after, "streambed_read_bytes_total", {
      tier: "wal",
    }) - valueOf(before, "streambed_read_bytes_total", { tier: "wal" });
    assert.ok(delta > 0, "WAL bytes not counted");
  } finally {
    await server.close();
    await Deno.remove(server.dataDir, { recursive: true });
  }
});

Deno.test("overload_rejections_total counts refusals by reason; error bodies name the request", async () => {
  const server = await startTestServer({
    http: { longPollTimeoutMs: 60_000 },
    limits: { waitersMax: 1 },
  });
  const abort = new AbortController();
  try {
    const created = await fetch(`${server.url}/v1/stream/lp`, {
      method: "PUT",
      headers: { "content-type": "application/octet-stream" },
    });
    await created.body?.cancel();
    const live = `${server.url}/v1/stream/lp?offset=now&live=long-poll`;
    const first = fetch(live, { signal: abort.signal }).then(
      (r) => r.body?.cancel(),
      () => {}, // aborted
    );
    let families = await scrape(server.url);
    for (let i = 0; i < 400; i++) {
      if (valueOf(families, "streambed_live_waiters") === 1) break;
      await new Promise((resolve) => setTimeout(resolve, 25));
      families = await scrape(server.url);
    }
    const before = families;
    const reasons = (f: Map<string, Family>) =>
      f.get("streambed_overload_rejections_total")!.metrics.map((m) =>
        m.labels?.reason
      );
    assert.deepEqual(reasons(before), [
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
    ]);
    const refused = await fetch(live, { headers: { "x-request-id": "lp-2" } });
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get("x-request-id"), "lp-2");
    assert.ok(refused.headers.get("retry-after") !== null);
    const body = await refused.json();
    assert.equal(body.error.code, "overloaded");
    assert.equal(body.error.request_id, "lp-2");
    const after = await scrape(server.url);
    const delta = (reason: string) =>
      valueOf(after, "streambed_overload_rejections_total", { reason }) -
      valueOf(before, "streambed_overload_rejections_total", { reason });
    assert.equal(delta("waiters"), 1);
    assert.equal(delta("append_queue"), 0);
    abort.abort();
    await first;
    // Any error body carries the id, a generated one too.
    const missing = await fetch(`${server.url}/v1/stream/nope`);
    const error = (await missing.json()).error;
    assert.equal(missing.status, 404);
    assert.equal(error.code, "stream_not_found");
    assert.equal(error.request_id, missing.headers.get("x-request-id"));
    assert.ok(error.request_id.length > 0);
  } finally {
    abort.abort();
    await server.close();
    await Deno.remove(server.dataDir, { recursive: true });
  }
});

Deno.test("/metrics speaks OpenMetrics when Accept asks for it, Prometheus text otherwise", async () => {
  const server = await startTestServer();
  try {
    const get = (accept?: string) =>
      fetch(`${server.url}/metrics`, {
        headers: accept === undefined ? {} : { accept },
      });
    const open = await get(
      "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    );
    assert.equal(
      open.headers.get("content-type"),
      "application/openmetrics-text; version=1.0.0; charset=utf-8",
    );
    const text = await open.text();
    assert.ok(text.endsWith("# EOF\n"), "no # EOF line");
    // Counter families are named without _total; their samples have it.
    assert.match(text, /^# TYPE streambed_append_records counter$/m);
    assert.match(text, /^streambed_append_records_total 0$/m);
    assert.match(
      text,
      /^streambed_read_bytes_total\{tier="wal"\} \d+$/m,
    );
    assert.match(text, /^# TYPE streambed_append_queue_requests gauge$/m);
    // Every sample line belongs to a family declared before it.
    const declared = new Set<string>();
    for (const line of text.split("\n")) {
      const type = line.match(/^# TYPE (\S+) /);
      if (type !== null) declared.add(type[1]);
      else if (line !== "" && !line.startsWith("#")) {
        const name = line.match(/^[a-zA-Z_:][a-zA-Z0-9_:]*/)![0];
        const family = name.replace(/_(total|bucket|sum|count)$/, "");
        assert.ok(
          declared.has(family) || declared.has(name),
          `undeclared ${name}`,
        );
      }
    }
    // Refused or absent: Prometheus text, which the parser reads; the
    // counters keep their _total there (an OpenMetrics render renames
    // nothing for later ones).
    for (
      const accept of [
        undefined,
        "text/plain",
        "application/openmetrics-text;q=0",
      ]
    ) {
      const families = await scrape(
        server.url,
        accept === undefined ? {} : { accept },
      );
      assert.ok(families.has("streambed_append_records_total"));
      assert.ok(families.has("streambed_read_bytes_total"));
    }
  } finally {
    await server.close();
    await Deno.remove(server.dataDir, { recursive: true });
  }
});

Deno.test("The stream cache's figures: producer states loaded, evicted past --stream-cache-bytes and loaded again, in /v1/server/_details and /metrics", async () => {
  const server = await startTestServer({ limits: { streamCacheBytes: 1024 } });
  const append = async (name: string, seq: number): Promise<number> => {
    const response = await fetch(`${server.url}/v1/stream/${name}`, {
      method: "POST",
      headers: {
        "content-type": "text/plain",
        "producer-id": `writer-of-${name}`,
        "producer-epoch": "0",
        "producer-seq": String(seq),
      },
      body: `m${seq}`,
    });
    await response.body?.cancel();
    return response.status;
  };
  try {
    const names = ["a", "b", "c", "d", "e", "f", "g", "h"];
    for (const name of names) {
      const response = await fetch(`${server.url}/v1/stream/${name}`, {
        method: "PUT",
        headers: { "content-type": "text/plain" },
      });
      await response.body?.cancel();
      assert.equal(await append(name, 0), 200);
    }
    // "a" was evicted long ago: its producer state comes back from the WAL,
    // so seq 0 again is a duplicate and seq 2 a gap.
    assert.equal(await append("a", 0), 204);
    assert.equal(await append("a", 2), 409);
    assert.equal(await append("a", 1), 200);
    const response = await fetch(`${server.url}/v1/server/_details`);
    const { streamCache, memory } = await response.json();
    assert.equal(streamCache.bytesMax, 1024);
    assert.ok(streamCache.bytes <= 1024, `${streamCache.bytes} bytes`);
    assert.ok(streamCache.entries >= 1 && streamCache.entries < names.length);
    assert.equal(streamCache.pinned, 0);
    // New streams start loaded; "a" missed once, then hit twice.
    assert.equal(streamCache.misses, 1);
    assert.equal(streamCache.hits, names.length + 2);
    assert.ok(streamCache.evictions >= names.length - streamCache.entries);
    const row = memory.subsystems.find((
      s: { subsystem: string },
    ) => s.subsystem === "stream_cache");
    assert.deepEqual(row, {
      subsystem: "stream_cache",
      usedBytes: streamCache.bytes,
      budgetBytes: 1024,
    });
    const families = await scrape(server.url);
    assert.equal(valueOf(families, "streambed_stream_cache_misses_total"), 1);
    assert.equal(
      valueOf(families, "streambed_stream_cache_evictions_total"),
      streamCache.evictions,
    );
    assert.equal(
      valueOf(families, "streambed_stream_cache_entries"),
      streamCache.entries,
    );
    assert.ok(valueOf(families, "streambed_stream_cache_bytes") <= 1024);
  } finally {
    await server.close();
    await Deno.remove(server.dataDir, { recursive: true });
  }
});
