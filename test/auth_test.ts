/**
 * Access control through HTTP: every route of the route table against
 * every kind of caller (the table below is the contract), nothing written
 * when a request is refused, subscriptions kept within their creator's
 * streams, key rotation without a restart, rate limits.
 */

import assert from "node:assert/strict";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import type { TestKey } from "../src/auth/_testing.ts";
import { keysFileText, recordingLogger } from "../src/auth/_testing.ts";
import { STREAM_ROUTES } from "../src/http/routes.ts";
import { SUBSCRIPTION_ROUTES } from "../src/http/subscription_routes.ts";
import { type KeyedServer, withKeyedServer } from "./_auth.ts";

const SECRETS = {
  read: "read-secret-0123456789",
  write: "write-secret-0123456789",
  delete: "delete-secret-0123456789",
  admin: "admin-secret-0123456789",
  other: "other-secret-0123456789",
} as const;
const WRONG = "wrong-secret-0123456789";

const KEYS: TestKey[] = [
  { id: "reader", secret: SECRETS.read, scopes: ["read"] },
  { id: "writer", secret: SECRETS.write, scopes: ["write"] },
  { id: "deleter", secret: SECRETS.delete, scopes: ["delete"] },
  { id: "admin", secret: SECRETS.admin, scopes: ["admin"] },
  {
    id: "other",
    secret: SECRETS.other,
    scopes: ["read", "write", "delete", "admin"],
    streams: ["other/**"],
  },
];

/** The callers, in the table's column order. */
const CALLERS = [
  "none",
  "wrong",
  "read",
  "write",
  "delete",
  "admin",
  "other",
] as const;
type Caller = typeof CALLERS[number];

function secretOf(caller: Caller): string | undefined {
  return caller === "none"
    ? undefined
    : caller === "wrong"
    ? WRONG
    : SECRETS[caller];
}

/**
 * Expected status per route operation and caller, in `CALLERS` order:
 * no key, a wrong key, a read key, a write key, a delete key, an admin
 * key (all on every stream), and a key with every scope on `other/**`
 * (the streams below live under `t/`).
 */
export const EXPECTED: Record<string, number[]> = {
  //                          none wrong read write del admin other
  stream_get: /*           */ [401, 401, 200, 403, 403, 200, 403],
  stream_head: /*          */ [401, 401, 200, 403, 403, 200, 403],
  stream_append: /*        */ [401, 401, 403, 204, 403, 204, 403],
  stream_create: /*        */ [401, 401, 403, 201, 403, 201, 403],
  stream_delete: /*        */ [401, 401, 403, 403, 204, 204, 403],
  stream_get_key: /*       */ [401, 401, 200, 403, 403, 200, 403],
  routing_keys_get: /*     */ [401, 401, 200, 403, 403, 200, 403],
  details_get: /*          */ [401, 401, 200, 403, 403, 200, 403],
  index_status_get: /*     */ [401, 401, 200, 403, 403, 200, 403],
  details_head: /*         */ [401, 401, 200, 403, 403, 200, 403],
  schema_get: /*           */ [401, 401, 200, 403, 403, 200, 403],
  schema_head: /*          */ [401, 401, 200, 403, 403, 200, 403],
  schema_update: /*        */ [401, 401, 403, 403, 403, 200, 403],
  profile_get: /*          */ [401, 401, 200, 403, 403, 200, 403],
  profile_head: /*         */ [401, 401, 200, 403, 403, 200, 403],
  profile_update: /*       */ [401, 401, 403, 403, 403, 200, 403],
  // The cell's stream has no otel-traces profile: 400 once admitted.
  otlp_traces_stream: /*   */ [401, 401, 403, 400, 403, 400, 403],
  // Any key passes the gate; without --otlp-traces-stream the path is 404.
  otlp_traces: /*          */ [401, 401, 404, 404, 404, 404, 404],
  // Read on both named streams; the cell's stream is no evlog stream: 400.
  observe_request_get: /*  */ [401, 401, 400, 403, 403, 400, 403],
  observe_request_post: /* */ [401, 401, 400, 403, 403, 400, 403],
  search_get: /*           */ [401, 401, 200, 403, 403, 200, 403],
  search_post: /*          */ [401, 401, 200, 403, 403, 200, 403],
  aggregate_post: /*       */ [401, 401, 200, 403, 403, 200, 403],
  streams_list: /*         */ [401, 401, 200, 403, 403, 200, 200],
  streams_head: /*         */ [401, 401, 200, 403, 403, 200, 200],
  health_get: /*           */ [401, 401, 200, 200, 200, 200, 200],
  health_head: /*          */ [401, 401, 200, 200, 200, 200, 200],
  access_get: /*           */ [401, 401, 200, 200, 200, 200, 200],
  // Admin on every stream: `other` is admin on other/** only.
  metrics_get: /*          */ [401, 401, 403, 403, 403, 200, 403],
  metrics_head: /*         */ [401, 401, 403, 403, 403, 200, 403],
  server_details_get: /*   */ [401, 401, 403, 403, 403, 200, 403],
  server_details_head: /*  */ [401, 401, 403, 403, 403, 200, 403],
  // The cell's stream has no state-protocol profile: 404 once admitted.
  touch_meta: /*           */ [401, 401, 404, 403, 403, 404, 403],
  touch_wait: /*           */ [401, 401, 404, 403, 403, 404, 403],
  touch_templates_activate: [401, 401, 404, 403, 403, 404, 403],
  jwks_get: /*             */ [200, 200, 200, 200, 200, 200, 200],
  jwks_head: /*            */ [200, 200, 200, 200, 200, 200, 200],
  // A key with admin on some streams lists the subscriptions it may steer.
  subscriptions_list: /*   */ [401, 401, 403, 403, 403, 200, 200],
  subscription_get: /*     */ [401, 401, 403, 403, 403, 200, 403],
  subscription_put: /*     */ [401, 401, 403, 403, 403, 201, 403],
  subscription_delete: /*  */ [401, 401, 403, 403, 403, 204, 403],
  subscription_streams_add: [401, 401, 403, 403, 403, 204, 403],
  subscription_stream_remove: [401, 401, 403, 403, 403, 204, 403],
  subscription_claim: /*   */ [401, 401, 403, 403, 403, 200, 403],
  // The subscription token is the credential; an API key is not one.
  subscription_callback: /**/ [401, 401, 401, 401, 401, 401, 401],
  subscription_ack: /*     */ [401, 401, 401, 401, 401, 401, 401],
  subscription_release: /* */ [401, 401, 401, 401, 401, 401, 401],
};

/** One cell's own stream and subscription, so cells never share state. */
interface Cell {
  stream: string;
  sub: string;
}

const SUBS = "/v1/stream/__ds/subscriptions/";
const JSON_TYPE = { "content-type": "application/json" };
const ACK_BODY = JSON.stringify({ wake_id: "w", generation: 1, acks: [] });

/** The request each operation's cell sends. */
function requestFor(
  operation: string,
  { stream, sub }: Cell,
): {
  method: string;
  path: string;
  body?: string;
  headers?: Record<string, string>;
} {
  const s = `/v1/stream/${stream}`;
  switch (operation) {
    case "stream_get":
      return { method: "GET", path: s };
    case "stream_head":
      return { method: "HEAD", path: s };
    case "stream_append":
      return { method: "POST", path: s, body: '{"n":2}', headers: JSON_TYPE };
    case "stream_create":
      return { method: "PUT", path: `${s}-new`, headers: JSON_TYPE };
    case "stream_delete":
      return { method: "DELETE", path: s };
    case "stream_get_key":
      return { method: "GET", path: `${s}/pk/k` };
    case "routing_keys_get":
      return { method: "GET", path: `${s}/_routing_keys` };
    case "index_status_get":
      return { method: "GET", path: `${s}/_index_status` };
    case "details_get":
      return { method: "GET", path: `${s}/_details` };
    case "details_head":
      return { method: "HEAD", path: `${s}/_details` };
    case "schema_get":
      return { method: "GET", path: `${s}/_schema` };
    case "schema_head":
      return { method: "HEAD", path: `${s}/_schema` };
    case "schema_update":
      return {
        method: "POST",
        path: `${s}/_schema`,
        body: JSON.stringify({ routingKey: { jsonPointer: "/n" } }),
        headers: JSON_TYPE,
      };
    case "profile_get":
      return { method: "GET", path: `${s}/_profile` };
    case "profile_head":
      return { method: "HEAD", path: `${s}/_profile` };
    case "profile_update":
      return {
        method: "POST",
        path: `${s}/_profile`,
        body: JSON.stringify({ profile: { kind: "generic" } }),
        headers: JSON_TYPE,
      };
    case "otlp_traces_stream":
      return {
        method: "POST",
        path: `${s}/_otlp/v1/traces`,
        body: JSON.stringify({ resourceSpans: [] }),
        headers: JSON_TYPE,
      };
    case "otlp_traces":
      return {
        method: "POST",
        path: "/v1/traces",
        body: JSON.stringify({ resourceSpans: [] }),
        headers: JSON_TYPE,
      };
    case "observe_request_get":
      return {
        method: "GET",
        path: `/v1/observe/request?requestId=r&events=${
          encodeURIComponent(stream)
        }&traces=${encodeURIComponent(stream)}`,
      };
    case "observe_request_post":
      return {
        method: "POST",
        path: "/v1/observe/request",
        body: JSON.stringify({
          streams: { events: stream, traces: stream },
          lookup: { requestId: "r" },
        }),
        headers: JSON_TYPE,
      };
    case "search_get":
      return { method: "GET", path: `${s}/_search?q=n:1` };
    case "search_post":
      return {
        method: "POST",
        path: `${s}/_search`,
        body: JSON.stringify({ q: "n:1" }),
        headers: JSON_TYPE,
      };
    case "aggregate_post":
      return {
        method: "POST",
        path: `${s}/_aggregate`,
        body: JSON.stringify({
          rollup: "r",
          from: 0,
          to: 3_600_000,
          interval: "1h",
        }),
        headers: JSON_TYPE,
      };
    case "streams_list":
      return { method: "GET", path: "/v1/streams" };
    case "streams_head":
      return { method: "HEAD", path: "/v1/streams" };
    case "health_get":
      return { method: "GET", path: "/health" };
    case "health_head":
      return { method: "HEAD", path: "/health" };
    case "access_get":
      return { method: "GET", path: "/v1/server/_access" };
    case "metrics_get":
      return { method: "GET", path: "/metrics" };
    case "metrics_head":
      return { method: "HEAD", path: "/metrics" };
    case "server_details_get":
      return { method: "GET", path: "/v1/server/_details" };
    case "server_details_head":
      return { method: "HEAD", path: "/v1/server/_details" };
    case "touch_meta":
      return { method: "GET", path: `${s}/touch/meta` };
    case "touch_wait":
      return {
        method: "POST",
        path: `${s}/touch/wait`,
        body: JSON.stringify({ cursor: "now", keys: ["k"], timeoutMs: 0 }),
        headers: JSON_TYPE,
      };
    case "touch_templates_activate":
      return {
        method: "POST",
        path: `${s}/touch/templates/activate`,
        body: JSON.stringify({ templates: [] }),
        headers: JSON_TYPE,
      };
    case "jwks_get":
      return { method: "GET", path: "/v1/stream/__ds/jwks.json" };
    case "jwks_head":
      return { method: "HEAD", path: "/v1/stream/__ds/jwks.json" };
    case "subscriptions_list":
      return { method: "GET", path: SUBS.slice(0, -1) };
    case "subscription_get":
      return { method: "GET", path: SUBS + sub };
    case "subscription_put":
      return {
        method: "PUT",
        path: `${SUBS}${sub}-new`,
        body: pullWake(stream),
        headers: JSON_TYPE,
      };
    case "subscription_delete":
      return { method: "DELETE", path: SUBS + sub };
    case "subscription_streams_add":
      return {
        method: "POST",
        path: `${SUBS}${sub}/streams`,
        body: JSON.stringify({ streams: [`${stream}-b`] }),
        headers: JSON_TYPE,
      };
    case "subscription_stream_remove":
      return {
        method: "DELETE",
        path: `${SUBS}${sub}/streams/${encodeURIComponent(stream)}`,
      };
    case "subscription_claim":
      return {
        method: "POST",
        path: `${SUBS}${sub}/claim`,
        body: JSON.stringify({ worker: "w1" }),
        headers: JSON_TYPE,
      };
    case "subscription_callback":
    case "subscription_ack":
    case "subscription_release":
      return {
        method: "POST",
        path: `${SUBS}${sub}/${operation.slice("subscription_".length)}`,
        body: ACK_BODY,
        headers: JSON_TYPE,
      };
  }
  throw new Error(`no request for ${operation}: add one to the table`);
}

function pullWake(stream: string): string {
  return JSON.stringify({
    type: "pull-wake",
    streams: [stream],
    wake_stream: "t/wake",
    lease_ttl_ms: 60_000,
  });
}

const SEARCH = {
  fields: {
    n: {
      kind: "integer",
      bindings: [{ version: 1, jsonPointer: "/n" }],
      exact: true,
    },
    ts: { kind: "date", bindings: [{ version: 1, jsonPointer: "/ts" }] },
  },
  rollups: {
    r: {
      timestampField: "ts",
      intervals: ["1h"],
      measures: { c: { kind: "count" } },
    },
  },
};

/** Creates the cell's stream (one record) and its subscription with work pending. */
async function setUp(server: KeyedServer, cell: Cell): Promise<void> {
  const admin = SECRETS.admin;
  const s = `/v1/stream/${cell.stream}`;
  const init = { body: '{"n":1}', headers: JSON_TYPE };
  if (/\/(search|aggregate)_/.test(s)) {
    // The search routes need a search section (set on an empty stream).
    const put = { headers: JSON_TYPE };
    assert.equal((await server.call("PUT", s, admin, put)).status, 201);
    const schema = await server.call("POST", `${s}/_schema`, admin, {
      body: JSON.stringify({ schema: { type: "object" }, search: SEARCH }),
      headers: JSON_TYPE,
    });
    assert.equal(schema.status, 200, await schema.text());
    assert.equal((await server.call("POST", s, admin, init)).status, 204);
  } else {
    assert.equal((await server.call("PUT", s, admin, init)).status, 201);
  }
  const sub = await server.call("PUT", SUBS + cell.sub, admin, {
    body: pullWake(cell.stream),
    headers: JSON_TYPE,
  });
  assert.equal(sub.status, 201, await sub.text());
  assert.equal((await server.call("POST", s, admin, init)).status, 204);
}

/** What a refused request must leave as it was, read with the admin key. */
async function snapshot(server: KeyedServer, cell: Cell): Promise<string> {
  const admin = SECRETS.admin;
  const s = `/v1/stream/${cell.stream}`;
  const parts: unknown[] = [];
  for (const path of [s, `${s}-new`, `${s}-b`]) {
    const head = await server.call("GET", path, admin);
    parts.push(head.status, withoutRequestId(await head.text()));
  }
  for (const path of [SUBS + cell.sub, `${SUBS}${cell.sub}-new`]) {
    const got = await server.call("GET", path, admin);
    parts.push(got.status, withoutRequestId(await got.text()));
  }
  return JSON.stringify(parts);
}

/** An error body without its `request_id` (new with each request). */
function withoutRequestId(body: string): string {
  return body.replace(/,"request_id":"[^"]*"/, "");
}

Deno.test("every route x every caller answers the status in the table, and a refusal writes nothing", async () => {
  const operations = [...STREAM_ROUTES, ...SUBSCRIPTION_ROUTES].flatMap((r) =>
    Object.values(r.methods).map((op) => op.name)
  );
  assert.deepEqual(
    [...operations].sort(),
    Object.keys(EXPECTED).sort(),
    "the table covers every operation of the route table",
  );
  await withKeyedServer(KEYS, {}, async (server) => {
    const wake = await server.call("PUT", "/v1/stream/t/wake", SECRETS.admin, {
      headers: JSON_TYPE,
    });
    assert.equal(wake.status, 201);
    const seen: string[] = [];
    for (const operation of operations) {
      for (const [i, caller] of CALLERS.entries()) {
        const cell = {
          stream: `t/${operation}-${caller}`,
          sub: `${operation}-${caller}`.replaceAll("_", "-"),
        };
        await setUp(server, cell);
        const before = await snapshot(server, cell);
        const req = requestFor(operation, cell);
        const response = await server.call(
          req.method,
          req.path,
          secretOf(caller),
          req,
        );
        const body = await response.text();
        const expected = EXPECTED[operation][i];
        seen.push(`${operation} ${caller} ${response.status}`);
        assert.equal(
          response.status,
          expected,
          `${operation} as ${caller}: ${body}`,
        );
        if (expected >= 400) {
          assert.equal(
            await snapshot(server, cell),
            before,
            `${operation} as ${caller} wrote`,
          );
        }
        if (operation === "subscription_claim" && expected >= 400) {
          // The lease was not taken: the admin can still claim it.
          const claim = await server.call(
            "POST",
            `${SUBS}${cell.sub}/claim`,
            SECRETS.admin,
            { body: '{"worker":"w2"}', headers: JSON_TYPE },
          );
          assert.equal(claim.status, 200, await claim.text());
        }
        if (
          response.status === 401 && !operation.startsWith("subscription_c") &&
          !operation.startsWith("subscription_a") &&
          !operation.startsWith("subscription_r")
        ) {
          assert.equal(response.headers.get("www-authenticate"), "Bearer");
        }
      }
    }
    assert.equal(seen.length, operations.length * CALLERS.length);
  });
});

Deno.test("401 says nothing about what was wrong; 403 names the key and the scope", async () => {
  await withKeyedServer(KEYS, {}, async (server) => {
    const s = "/v1/stream/eu/orders";
    assert.equal(
      (await server.call("PUT", s, SECRETS.admin)).status,
      201,
    );
    const bodies = new Set<string>();
    for (
      const authorization of [
        undefined,
        `Bearer ${WRONG}`,
        `Bearer  ${SECRETS.read}`,
        `Basic ${SECRETS.read}`,
        `Bearer ${SECRETS.read.slice(0, -1)}x`,
        "Bearer short",
      ]
    ) {
      const res = await fetch(server.url + s, {
        headers: authorization === undefined
          ? { "x-request-id": "probe" }
          : { authorization, "x-request-id": "probe" },
      });
      assert.equal(res.status, 401);
      assert.equal(res.headers.get("www-authenticate"), "Bearer");
      bodies.add(await res.text());
    }
    assert.deepEqual([...bodies], [
      '{"error":{"code":"unauthorized","message":"unauthorized","request_id":"probe"}}',
    ]);
    const lower = await fetch(server.url + s, {
      headers: { authorization: `bearer ${SECRETS.read}` },
    });
    assert.equal(lower.status, 200);
    await lower.body?.cancel();
    const denied = await server.call("POST", s, SECRETS.read, {
      body: "x",
      headers: { "content-type": "application/octet-stream" },
    });
    assert.equal(denied.status, 403);
    assert.deepEqual(await denied.json(), {
      error: {
        code: "forbidden",
        message: "key 'reader' lacks scope write for eu/orders",
        request_id: denied.headers.get("x-request-id"),
      },
    });
    // Unknown paths need a key too (no probing without one).
    assert.equal((await server.call("GET", "/nowhere")).status, 401);
    const missing = await server.call("GET", "/nowhere", SECRETS.read);
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
    // A preflight needs no key.
    const preflight = await server.call("OPTIONS", s);
    assert.equal(preflight.status, 204);
  });
});

Deno.test("GET /v1/streams lists only the streams the key may read", async () => {
  const keys: TestKey[] = [
    ...KEYS,
    {
      id: "eu",
      secret: "eu-reader-0123456789",
      scopes: ["read"],
      streams: ["eu/**"],
    },
  ];
  await withKeyedServer(
    keys,
    { limits: { listPageMax: 2 } },
    async (server) => {
      for (
        const name of ["a/1", "eu/1", "b/1", "eu/2", "c/1", "eu/3", "other/x"]
      ) {
        const put = await server.call(
          "PUT",
          `/v1/stream/${name}`,
          SECRETS.admin,
        );
        assert.equal(put.status, 201);
      }
      const names = async (secret: string) => {
        const all: string[] = [];
        let after = "";
        for (;;) {
          const res = await server.call(
            "GET",
            `/v1/streams?after=${encodeURIComponent(after)}`,
            secret,
          );
          const page = await res.json();
          all.push(...page.streams.map((s: { name: string }) => s.name));
          if (page.next === null) return all;
          after = page.next;
        }
      };
      assert.deepEqual(await names("eu-reader-0123456789"), [
        "eu/1",
        "eu/2",
        "eu/3",
      ]);
      assert.deepEqual(await names(SECRETS.other), ["other/x"]);
      assert.equal((await names(SECRETS.admin)).length, 7);
    },
  );
});

Deno.test("GET /v1/stream/__ds/subscriptions lists only the subscriptions the key may administer", async () => {
  await withKeyedServer(KEYS, {}, async (server) => {
    for (const name of ["t/s", "t/wake", "other/s", "other/wake"]) {
      const put = await server.call("PUT", `/v1/stream/${name}`, SECRETS.admin);
      assert.equal(put.status, 201);
    }
    const make = async (id: string, stream: string, wake: string) => {
      const res = await server.call("PUT", SUBS + id, SECRETS.admin, {
        body: JSON.stringify({
          type: "pull-wake",
          streams: [stream],
          wake_stream: wake,
        }),
        headers: JSON_TYPE,
      });
      assert.equal(res.status, 201, await res.text());
    };
    await make("mine", "other/s", "other/wake");
    await make("theirs", "t/s", "t/wake");
    // Reaches other/s but wakes on t/wake: not all within other/**.
    await make("mixed", "other/s", "t/wake");
    const ids = async (secret: string) => {
      const res = await server.call("GET", SUBS.slice(0, -1), secret);
      assert.equal(res.status, 200);
      const page = await res.json();
      assert.equal(page.next, null);
      return page.subscriptions.map((s: { id: string }) => s.id);
    };
    assert.deepEqual(await ids(SECRETS.admin), ["mine", "mixed", "theirs"]);
    assert.deepEqual(await ids(SECRETS.other), ["mine"]);
    const read = await server.call("GET", SUBS.slice(0, -1), SECRETS.read);
    assert.equal(read.status, 403);
    await read.body?.cancel();
  });
});

Deno.test("a subscription cannot reach streams beyond its creator's: the wake-stream injection is refused", async () => {
  const keys: TestKey[] = [
    {
      id: "tenant-a",
      secret: "tenant-a-secret-01",
      scopes: ["admin"],
      streams: ["a/**"],
    },
    {
      id: "tenant-b",
      secret: "tenant-b-secret-01",
      scopes: ["admin"],
      streams: ["b/**"],
    },
  ];
  await withKeyedServer(keys, {}, async (server) => {
    const a = "tenant-a-secret-01";
    const b = "tenant-b-secret-01";
    for (
      const [name, key] of [["a/events/1", a], ["a/wake", a], ["b/inbox", b]]
    ) {
      const put = await server.call("PUT", `/v1/stream/${name}`, key, {
        headers: JSON_TYPE,
      });
      assert.equal(put.status, 201);
    }
    const create = (id: string, config: Record<string, unknown>) =>
      server.call("PUT", SUBS + id, a, {
        body: JSON.stringify({
          type: "pull-wake",
          lease_ttl_ms: 1000,
          ...config,
        }),
        headers: JSON_TYPE,
      });
    const injected = await create("inject", {
      pattern: "a/events/*",
      wake_stream: "b/inbox",
    });
    assert.equal(injected.status, 403);
    assert.equal(
      (await injected.json()).error.message,
      `key 'tenant-a' lacks scope admin for wake stream "b/inbox"`,
    );
    assert.equal(
      (await create("wide", { pattern: "*/events/*", wake_stream: "a/wake" }))
        .status,
      403,
    );
    assert.equal(
      (await create("explicit", {
        streams: ["b/inbox"],
        wake_stream: "a/wake",
      }))
        .status,
      403,
    );
    const own = await create("own", {
      pattern: "a/events/*",
      wake_stream: "a/wake",
    });
    assert.equal(own.status, 201);
    await own.body?.cancel();
    // Tenant b's admin cannot see, steer or claim tenant a's subscription.
    const foreign = await server.call("GET", SUBS + "own", b);
    assert.equal(foreign.status, 403);
    await foreign.body?.cancel();
    const add = await server.call("POST", `${SUBS}own/streams`, a, {
      body: JSON.stringify({ streams: ["b/inbox"] }),
      headers: JSON_TYPE,
    });
    assert.equal(add.status, 403);
    await add.body?.cancel();
    // Appends to a/ wake a/wake; b/inbox never got a wake event.
    const post = await server.call("POST", "/v1/stream/a/events/1", a, {
      body: '{"x":1}',
      headers: JSON_TYPE,
    });
    assert.equal(post.status, 204);
    const inbox = await server.call("GET", "/v1/stream/b/inbox", b);
    assert.deepEqual(await inbox.json(), []);
  });
});

Deno.test("keys rotate without a restart; an invalid keys file keeps the old keys", async () => {
  const first = "first-secret-0123456";
  const second = "second-secret-0123456";
  const log = recordingLogger();
  await withKeyedServer(
    [{ id: "first", secret: first, scopes: ["read"] }],
    {},
    async (server) => {
      const status = async (secret: string) => {
        const res = await server.call("GET", "/v1/streams", secret);
        await res.body?.cancel();
        return res.status;
      };
      assert.equal(await status(first), 200);
      assert.equal(await status(second), 401);
      await Deno.writeTextFile(
        server.keysFile,
        keysFileText([{ id: "second", secret: second, scopes: ["read"] }]),
      );
      while (await status(second) !== 200) {
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(await status(first), 401);
      await Deno.writeTextFile(server.keysFile, '{"keys": [{"id": "broken"}]}');
      while (!log.lines.some((l) => l.startsWith("error keys file"))) {
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(await status(second), 200);
      assert.equal(await status(first), 401);
      assert.ok(!log.lines.join("\n").includes(second));
    },
    log,
  );
});

Deno.test("a key over its rate gets 429 rate_limited with Retry-After", async () => {
  const keys: TestKey[] = [
    {
      id: "slow",
      secret: "slow-secret-0123456",
      scopes: ["read"],
      rate: { rps: 0.01, burst: 2 },
    },
    ...KEYS,
  ];
  await withKeyedServer(keys, {}, async (server) => {
    const get = () => server.call("GET", "/v1/streams", "slow-secret-0123456");
    for (let i = 0; i < 2; i++) {
      const ok = await get();
      assert.equal(ok.status, 200);
      await ok.body?.cancel();
    }
    const limited = await get();
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get("retry-after"), "100");
    assert.equal((await limited.json()).error.code, "rate_limited");
    // Other keys are not limited by it.
    const other = await server.call("GET", "/v1/streams", SECRETS.read);
    assert.equal(other.status, 200);
    await other.body?.cancel();
  });
});

Deno.test("API_KEY alone is one admin key; --public-health opens /health with the status only", async () => {
  await withKeyedServer([], {
    auth: { apiKey: "env-key-0123456789", publicHealth: true },
  }, async (server) => {
    const open = await server.call("GET", "/health");
    assert.deepEqual(await open.json(), { status: "ok" });
    const full = await server.call("GET", "/health", "env-key-0123456789");
    assert.ok("writer" in await full.json());
    const put = await server.call("PUT", "/v1/stream/x", "env-key-0123456789");
    assert.equal(put.status, 201);
    assert.equal((await server.call("DELETE", "/v1/stream/x")).status, 401);
  });
});

Deno.test("--public-metrics opens /metrics to requests without a key, never /v1/server/_details", async () => {
  await withKeyedServer(KEYS, {
    auth: { publicMetrics: true },
  }, async (server) => {
    for (const caller of CALLERS) {
      for (const method of ["GET", "HEAD"]) {
        const metrics = await server.call(method, "/metrics", secretOf(caller));
        const body = await metrics.text();
        assert.equal(metrics.status, 200, `${method} /metrics as ${caller}`);
        if (method === "GET") assert.match(body, /streambed_streams /);
      }
    }
    const expected = [401, 401, 403, 403, 403, 200, 403];
    for (const [i, caller] of CALLERS.entries()) {
      const details = await server.call(
        "GET",
        "/v1/server/_details",
        secretOf(caller),
      );
      await details.body?.cancel();
      assert.equal(details.status, expected[i], `_details as ${caller}`);
    }
    const health = await server.call("GET", "/health");
    await health.body?.cancel();
    assert.equal(health.status, 401, "--public-metrics leaves /health closed");
  });
});

/** `streambed_auth_failures_total` by reason, parsed from `/metrics`. */
async function authFailures(
  server: KeyedServer,
): Promise<Record<string, number>> {
  const response = await server.call("GET", "/metrics", SECRETS.admin);
  assert.equal(response.status, 200);
  const families = parsePrometheusTextFormat(await response.text()) as {
    name: string;
    metrics: { value: string; labels?: Record<string, string> }[];
  }[];
  const family = families.find((f) =>
    f.name === "streambed_auth_failures_total"
  );
  assert.ok(family !== undefined, "streambed_auth_failures_total is served");
  const counts: Record<string, number> = {};
  for (const m of family.metrics) counts[m.labels!.reason] = Number(m.value);
  return counts;
}

Deno.test("/metrics counts the gate's refusals by reason in streambed_auth_failures_total", async () => {
  await withKeyedServer(KEYS, {}, async (server) => {
    const before = await authFailures(server);
    assert.deepEqual(Object.keys(before).sort(), [
      "browser",
      "forbidden",
      "invalid",
      "missing",
      "rate_limited",
    ]);
    const refusals: [string, string | undefined, number][] = [
      ["/v1/streams", undefined, 401], // missing
      ["/v1/streams", undefined, 401], // missing
      ["/v1/streams", WRONG, 401], // invalid
      ["/metrics", SECRETS.read, 403], // forbidden (the gate)
      ["/v1/server/_details", SECRETS.other, 403], // forbidden (every stream)
    ];
    for (const [path, secret, status] of refusals) {
      const response = await server.call("GET", path, secret);
      await response.body?.cancel();
      assert.equal(response.status, status, path);
    }
    const foreign = await server.call("PUT", "/v1/stream/t/x", SECRETS.admin, {
      headers: { origin: "https://evil.example" },
    });
    await foreign.body?.cancel();
    assert.equal(foreign.status, 403);
    const after = await authFailures(server);
    assert.deepEqual(
      Object.fromEntries(
        Object.keys(after).map((k) => [k, after[k] - before[k]]),
      ),
      { missing: 2, invalid: 1, forbidden: 2, rate_limited: 0, browser: 1 },
    );
  });
});

Deno.test("the access log names the key a request presented, refused or not, and never a secret", async () => {
  const lines: string[] = [];
  await withKeyedServer(
    KEYS,
    { log: { accessLog: "on", format: "json" } },
    async (server) => {
      const calls: [string, string, string | undefined, number][] = [
        ["PUT", "/v1/stream/t/log", SECRETS.write, 201],
        ["GET", "/v1/stream/t/log", SECRETS.read, 200],
        ["GET", "/metrics", SECRETS.read, 403], // refused by scope
        ["GET", "/v1/server/_details", SECRETS.other, 403], // refused in the route
        ["GET", "/v1/stream/t/log", WRONG, 401], // unknown key
        ["GET", "/v1/stream/t/log", undefined, 401], // no key
        ["GET", "/metrics", SECRETS.admin, 200],
        ["GET", "/no/such/path", SECRETS.read, 404], // no route
      ];
      for (const [method, path, secret, status] of calls) {
        const response = await server.call(method, path, secret);
        await response.body?.cancel();
        assert.equal(response.status, status, `${method} ${path}`);
      }
    },
    undefined,
    (line) => lines.push(line),
  );
  const access = lines.map((l) => JSON.parse(l)).filter((l) =>
    l.type === "access"
  );
  assert.deepEqual(
    access.map((l) => [l.route, l.status, l.key_id]),
    [
      ["stream_create", 201, "writer"],
      ["stream_get", 200, "reader"],
      ["metrics_get", 403, "reader"],
      ["server_details_get", 403, "other"],
      ["stream_get", 401, null],
      ["stream_get", 401, null],
      ["metrics_get", 200, "admin"],
      ["unmatched", 404, "reader"],
    ],
  );
  const text = lines.join("\n");
  for (const secret of [...Object.values(SECRETS), WRONG]) {
    assert.ok(!text.includes(secret), "no secret in the access log");
  }
});

Deno.test("GET /v1/server/_access tells a key its id, scopes and streams, never its secret", async () => {
  await withKeyedServer(KEYS, {}, async (server) => {
    const seen: Record<string, unknown> = {};
    for (const caller of ["read", "admin", "other"] as const) {
      const response = await server.call(
        "GET",
        "/v1/server/_access",
        SECRETS[caller],
      );
      assert.equal(response.status, 200);
      assert.equal(response.headers.get("cache-control"), "no-store");
      const body = await response.text();
      assert.ok(!body.includes(SECRETS[caller]), "no secret in the answer");
      seen[caller] = JSON.parse(body);
    }
    assert.deepEqual(seen, {
      read: { auth: true, key: "reader", scopes: ["read"], streams: ["**"] },
      admin: { auth: true, key: "admin", scopes: ["admin"], streams: ["**"] },
      other: {
        auth: true,
        key: "other",
        scopes: ["read", "write", "delete", "admin"],
        streams: ["other/**"],
      },
    });
    const none = await server.call("GET", "/v1/server/_access");
    await none.body?.cancel();
    assert.equal(none.status, 401);
  });
});
