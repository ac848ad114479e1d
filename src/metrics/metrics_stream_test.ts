import assert from "node:assert/strict";
import { Histogram } from "../histogram.ts";
import { HttpMeters } from "./http_meters.ts";
import { MetricsStreamFeed } from "./metrics_stream.ts";

Deno.test("MetricsStreamFeed: one record per active route and for commits, deltas per window, idle meters silent", () => {
  const http = new HttpMeters([{ name: "stream_append", method: "POST" }]);
  const commits = new Histogram([0.001, 0.01, 0.1]);
  const append = http.route("stream_append")!;
  append.record(204, 0.5); // before the first window: not reported
  const feed = new MetricsStreamFeed(
    { http, commitSeconds: () => commits },
    "http://node",
    1_000,
  );
  append.record(204, 0.002);
  append.record(204, 0.002);
  append.record(503, 0.2);
  commits.observe(0.005);
  const first = feed.next(11_000);
  assert.equal(first.length, 2);
  const [req, wal] = first;
  assert.equal(req.metric, "http.server.duration");
  assert.deepEqual(req.attributes, { route: "stream_append", method: "POST" });
  assert.equal(req.count, 3);
  assert.ok(Math.abs(req.sum - 0.204) < 1e-9);
  assert.equal(req.windowStart, 1_000);
  assert.equal(req.windowEnd, 11_000);
  assert.equal(req.instance, "http://node");
  assert.equal(Object.values(req.buckets).reduce((a, b) => a + b, 0), 3);
  assert.equal(wal.metric, "wal.commit.duration");
  assert.deepEqual(wal.buckets, { "0.01": 1 });
  // Nothing happened since: no records; then only the new observation.
  assert.deepEqual(feed.next(21_000), []);
  append.record(204, 0.002);
  const third = feed.next(31_000);
  assert.equal(third.length, 1);
  assert.equal(third[0].count, 1);
  assert.equal(third[0].windowStart, 21_000);
});
