import assert from "node:assert/strict";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
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
async function scrape(url: string): Promise<Map<string, Family>> {
  const response = await fetch(`${url}/metrics`);
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
      "segment_cache",
    ]);
    assert.deepEqual(details.appendQueue, {
      requests: 0,
      bytes: 0,
      rejections: 0,
    });
    assert.equal(details.writer.appendBytes, 360);
    assert.equal(typeof details.tier.backlogBytes, "number");
  } finally {
    await server.close();
    await Deno.remove(server.dataDir, { recursive: true });
  }
});
