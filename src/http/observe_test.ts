import assert from "node:assert/strict";
import { defaultConfig, type LogConfig } from "../config.ts";
import { HttpMeters } from "../metrics/http_meters.ts";
import type { RequestNote } from "./context.ts";
import {
  formatAccessLine,
  isSaneRequestId,
  observeRequests,
  routeMeters,
  uuidv7,
} from "./observe.ts";

/** An inner handler answering `status` for `route` ("" = no route). */
function fakeHandler(
  answers: Record<string, [route: string, status: number]>,
) {
  return (request: Request, note?: RequestNote) => {
    const path = new URL(request.url).pathname;
    const [route, status] = answers[path] ?? ["", 404];
    // As the real handler: a preflight names no route.
    if (note !== undefined && request.method !== "OPTIONS") note.route = route;
    return Promise.resolve(
      new Response(status === 204 ? null : "body", { status }),
    );
  };
}

const ANSWERS: Record<string, [string, number]> = {
  "/v1/stream/a": ["stream_append", 204],
  "/v1/stream/bad": ["stream_append", 400],
  "/v1/stream/new": ["stream_create", 201],
};

function observed(log: Partial<LogConfig>) {
  const lines: string[] = [];
  const meters = new HttpMeters([
    { name: "stream_append", method: "POST" },
    { name: "stream_create", method: "PUT" },
  ]);
  const handle = observeRequests(fakeHandler(ANSWERS), {
    meters,
    log: { ...defaultConfig().log, ...log },
    write: (line) => lines.push(line),
  });
  const call = (method: string, path: string, init: RequestInit = {}) =>
    handle(new Request(`http://h${path}?q=secret`, { method, ...init }));
  return { lines, meters, call };
}

Deno.test("observeRequests() counts each request under its route and status class", async () => {
  const { meters, call } = observed({ accessLog: "off" });
  const sized = (body: string) => ({
    body,
    headers: { "content-length": String(body.length) },
  });
  await call("POST", "/v1/stream/a", sized("12345"));
  await call("POST", "/v1/stream/a", sized("678"));
  await call("POST", "/v1/stream/bad");
  await call("GET", "/nowhere");
  await call("OPTIONS", "/v1/stream/a");
  const append = meters.route("stream_append")!;
  assert.deepEqual([...append.statuses], [0, 2, 0, 1, 0]);
  assert.equal(append.seconds.count, 3);
  assert.deepEqual([...meters.unmatched("GET").statuses], [0, 0, 0, 1, 0]);
  assert.equal(meters.preflight.seconds.count, 1);
  assert.equal(meters.unmatched("BREW").method, "other");
});

Deno.test("observeRequests() echoes a sane X-Request-Id and replaces others", async () => {
  const { call } = observed({ accessLog: "off" });
  const kept = await call("GET", "/nowhere", {
    headers: { "x-request-id": "abc-123" },
  });
  assert.equal(kept.headers.get("x-request-id"), "abc-123");
  const replaced = await call("POST", "/v1/stream/a", {
    headers: { "x-request-id": "no spaces" },
  });
  assert.notEqual(replaced.headers.get("x-request-id"), "no spaces");
  assert.ok(isSaneRequestId(replaced.headers.get("x-request-id")!));
});

Deno.test("access log off writes nothing; on writes one line per request", async () => {
  const off = observed({ accessLog: "off" });
  await off.call("POST", "/v1/stream/bad");
  assert.equal(off.lines.length, 0);
  const on = observed({ accessLog: "on" });
  for (let i = 0; i < 5; i++) await on.call("POST", "/v1/stream/a");
  assert.equal(on.lines.length, 5);
});

Deno.test("access log sampled: every error and cold route, one hot success in N", async () => {
  const { lines, call } = observed({
    accessLog: "sampled",
    accessLogSampleEvery: 4,
  });
  for (let i = 0; i < 8; i++) await call("POST", "/v1/stream/a");
  assert.equal(lines.length, 2); // the 1st and the 5th
  await call("POST", "/v1/stream/bad");
  await call("POST", "/v1/stream/bad");
  await call("PUT", "/v1/stream/new");
  await call("GET", "/nowhere");
  assert.equal(lines.length, 6);
  assert.match(lines[2], / stream_append status=400 /);
  assert.match(lines[4], / stream_create status=201 /);
});

Deno.test("access log JSON lines carry the fields, no path and no secret by default", async () => {
  const { lines, call } = observed({ accessLog: "on", format: "json" });
  await call("POST", "/v1/stream/a", {
    body: "hello",
    headers: {
      "x-request-id": "r-1",
      authorization: "Bearer s3cret",
      "content-length": "5",
    },
  });
  assert.equal(lines.length, 1);
  const line = JSON.parse(lines[0]);
  assert.equal(typeof line.ts, "string");
  assert.equal(typeof line.duration_ms, "number");
  delete line.ts;
  delete line.duration_ms;
  assert.deepEqual(line, {
    type: "access",
    request_id: "r-1",
    key_id: null,
    method: "POST",
    route: "stream_append",
    status: 204,
    bytes_in: 5,
    bytes_out: null,
  });
  assert.ok(!lines[0].includes("s3cret"));
  assert.ok(!lines[0].includes("/v1/stream"));
});

Deno.test("access log with paths adds the path without its query", async () => {
  const { lines, call } = observed({ accessLog: "on", accessLogPaths: true });
  await call("PUT", "/v1/stream/new");
  assert.match(lines[0], / stream_create path="\/v1\/stream\/new" status=201 /);
  assert.ok(!lines[0].includes("secret"));
});

Deno.test("formatAccessLine() text: route, status, sizes, time, id, key", () => {
  const line = formatAccessLine({
    ts: "2026-01-01T00:00:00.000Z",
    request_id: "r",
    key_id: "k1",
    method: "GET",
    route: "stream_get",
    status: 200,
    bytes_in: 0,
    bytes_out: 12,
    duration_ms: 1.5,
  }, "text");
  assert.equal(
    line,
    "2026-01-01T00:00:00.000Z ACCESS GET stream_get status=200 in=0 out=12 ms=1.5 id=r key=k1",
  );
});

Deno.test("isSaneRequestId() takes 1..128 of [A-Za-z0-9._:-]", () => {
  for (const ok of ["a", "A-z_0.9:x", "x".repeat(128)]) {
    assert.ok(isSaneRequestId(ok), ok);
  }
  for (const bad of ["", "x".repeat(129), "a b", "a/b", "a\nb", "ü", "a;b"]) {
    assert.ok(!isSaneRequestId(bad), JSON.stringify(bad));
  }
});

Deno.test("uuidv7() has version 7, the RFC variant, and sorts by time", () => {
  const form =
    /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
  const ids = [];
  for (let i = 0; i < 1000; i++) ids.push(uuidv7(1_700_000_000_000 + i));
  for (const id of ids) assert.match(id, form);
  assert.deepEqual([...ids].sort(), ids);
  assert.equal(new Set(ids).size, ids.length);
  assert.equal(uuidv7(0x0123456789ab).slice(0, 13), "01234567-89ab");
});

Deno.test("routeMeters() has a meter for every operation of both route tables", () => {
  const meters = routeMeters();
  for (const name of ["stream_append", "metrics_get", "subscription_ack"]) {
    assert.ok(meters.route(name) !== undefined, name);
  }
});
