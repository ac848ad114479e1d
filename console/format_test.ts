import assert from "node:assert/strict";
import {
  aggregateSeries,
  formatBytes,
  globMatches,
  hexDump,
  mayDo,
  messagesOf,
  parseMetrics,
  wordsOf,
} from "./format.js";

Deno.test("messagesOf() splits a JSON array, keeps text whole, decodes base64", () => {
  assert.deepEqual(messagesOf("application/json", '[{"a":1},2]', false), [
    { kind: "json", value: { a: 1 } },
    { kind: "json", value: 2 },
  ]);
  assert.deepEqual(
    messagesOf("application/vnd.x+json; charset=utf-8", '{"a":1}', false),
    [{ kind: "json", value: { a: 1 } }],
  );
  assert.deepEqual(messagesOf("text/plain", "a\nb", false), [
    { kind: "text", value: "a\nb" },
  ]);
  const [bytes] = messagesOf("application/octet-stream", "3q2+7w==", true);
  assert.equal(bytes.kind, "bytes");
  assert.deepEqual([...bytes.value], [0xde, 0xad, 0xbe, 0xef]);
});

Deno.test("hexDump() prints offsets, hex and printable ASCII, and caps its length", () => {
  const dump = hexDump(new TextEncoder().encode("Hello, world!\n\x00ABC"));
  assert.equal(
    dump,
    "00000000  48 65 6c 6c 6f 2c 20 77 6f 72 6c 64 21 0a 00 41  Hello, world!..A\n" +
      "00000010  42 43                                            BC",
  );
  const long = hexDump(new Uint8Array(5000));
  assert.equal(long.split("\n").length, 4096 / 16 + 1);
  assert.match(long, /… 904 more bytes$/);
});

Deno.test("parseMetrics() sums each family over its labels and skips comments", () => {
  const sums = parseMetrics(
    [
      "# HELP streambed_http_requests_total Requests.",
      "# TYPE streambed_http_requests_total counter",
      'streambed_http_requests_total{route="a",status="200"} 3',
      'streambed_http_requests_total{route="b",status="404"} 4',
      "process_resident_memory_bytes 1.5e3",
      "broken_line",
    ].join("\n"),
  );
  assert.equal(sums.get("streambed_http_requests_total"), 7);
  assert.equal(sums.get("process_resident_memory_bytes"), 1500);
  assert.equal(sums.has("broken_line"), false);
});

Deno.test("wordsOf() keeps the values of a query, not its fields or operators", () => {
  assert.deepEqual(wordsOf('status:500 AND "db timeout" NOT -level:debug'), [
    "500",
    "db",
    "timeout",
    "debug",
  ]);
  assert.deepEqual(wordsOf("serv*"), ["serv"]);
});

Deno.test("aggregateSeries() turns buckets into one column per group, gaps as null", () => {
  const body = {
    buckets: [
      {
        start: "2026-12-01T10:00:00.000Z",
        groups: [
          { key: { service: "api" }, measures: { n: { count: 42 } } },
          { key: { service: "web" }, measures: { n: { count: 1 } } },
        ],
      },
      {
        start: "2026-12-01T10:01:00.000Z",
        groups: [{
          key: { service: "api" },
          measures: { n: { count: 5, sum: 50, avg: 10 } },
        }],
      },
    ],
  };
  const { names, data } = aggregateSeries(body, "n");
  assert.deepEqual(names, ['{"service":"api"}', '{"service":"web"}']);
  const t0 = Date.parse("2026-12-01T10:00:00Z") / 1000;
  assert.deepEqual(data, [[t0, t0 + 60], [42, 10], [1, null]]);
});

Deno.test("globMatches() takes * as one segment and ** as any number", () => {
  assert.ok(globMatches("**", "a/b/c"));
  assert.ok(globMatches("eu/**", "eu"));
  assert.ok(globMatches("eu/**", "eu/orders/1"));
  assert.ok(!globMatches("eu/**", "us/orders"));
  assert.ok(globMatches("eu/*", "eu/orders"));
  assert.ok(!globMatches("eu/*", "eu/orders/1"));
  assert.ok(globMatches("a/**/z", "a/b/c/z"));
  assert.ok(!globMatches("a/**/z", "a/b/c"));
  assert.ok(globMatches("keep/me", "keep/me"));
  assert.ok(!globMatches("keep/me", "keep/me2"));
});

Deno.test("mayDo() reads the _access answer: no auth, scopes, admin, streams", () => {
  assert.ok(mayDo({ auth: false }, "delete", "a"));
  assert.ok(mayDo(null, "delete", "a"), "unknown: the server decides");
  const reader = { auth: true, key: "r", scopes: ["read"], streams: ["**"] };
  assert.ok(mayDo(reader, "read", "a/b"));
  assert.ok(!mayDo(reader, "delete", "a/b"));
  assert.ok(!mayDo(reader, "write"));
  const admin = { auth: true, key: "a", scopes: ["admin"], streams: ["eu/**"] };
  assert.ok(mayDo(admin, "delete", "eu/x"));
  assert.ok(!mayDo(admin, "delete", "us/x"), "outside the key's streams");
  assert.ok(mayDo(admin, "write"), "some stream");
});

Deno.test("formatBytes() uses binary units with one decimal below 10", () => {
  assert.equal(formatBytes(0), "0 B");
  assert.equal(formatBytes(1023), "1023 B");
  assert.equal(formatBytes(1024), "1.0 KiB");
  assert.equal(formatBytes(1536), "1.5 KiB");
  assert.equal(formatBytes(20 * 1024 * 1024), "20 MiB");
  assert.equal(formatBytes(undefined), "—");
  assert.equal(formatBytes(-1), "—");
});
