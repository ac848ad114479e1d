import assert from "node:assert/strict";
import { StreamError } from "../errors.ts";
import { type Operation, type Route, Router } from "./router.ts";
import { CONSOLE_ROUTES, STREAM_ROUTES } from "./routes.ts";
import { SUBSCRIPTION_ROUTES } from "./subscription_routes.ts";

const op = (name: string): Operation => ({
  name,
  access: "public",
  handle: () => new Response(name),
});

/** The table with a new subresource and `/console`: one row each. */
const WITH_NEW_ROWS: Route[] = [
  ...STREAM_ROUTES,
  {
    shape: "stream_sub",
    sub: "_explain",
    methods: {
      GET: op("explain_get"),
      HEAD: op("explain_head"),
      POST: op("explain_post"),
    },
  },
  { shape: "path", path: "/console", methods: { GET: op("console_get") } },
];

function matchOf(router: Router, method: string, path: string) {
  const [bare, query = ""] = path.split("?");
  return router.match(
    new Request(`http://h${path}`, { method }),
    bare,
    query,
  );
}

Deno.test("Router: a new subresource or path is one row", () => {
  const router = new Router(WITH_NEW_ROWS, 1024);
  const explain = matchOf(router, "GET", "/v1/stream/x/_explain");
  assert.ok(!(explain instanceof StreamError));
  assert.equal(explain.route.methods.GET?.name, "explain_get");
  assert.equal(explain.name, "x");
  // A subresource that takes writes answers other methods with 405.
  const put = router.refuse(explain.route, "PUT");
  assert.equal(put.kind, "method_not_allowed");
  assert.equal(put.detail?.allow, "GET, HEAD, POST, OPTIONS");
  // A read-only one treats writes as a reserved stream name.
  const key = matchOf(router, "PUT", "/v1/stream/a/pk/b%2Fc");
  assert.ok(!(key instanceof StreamError));
  assert.deepEqual([key.name, key.key], ["a", "b/c"]);
  assert.equal(key.route.methods.GET?.name, "stream_get_key");
  assert.equal(router.refuse(key.route, "PUT").kind, "bad_request");
  const console = matchOf(router, "GET", "/console?x=1");
  assert.ok(!(console instanceof StreamError));
  assert.equal(console.query, "x=1");
});

Deno.test("Router refuses a shape listed twice", () => {
  assert.throws(() => new Router([...STREAM_ROUTES, STREAM_ROUTES[1]], 100));
  assert.throws(() => new Router([STREAM_ROUTES[0], STREAM_ROUTES[0]], 100));
});

Deno.test("Router: operation names are unique across the tables", () => {
  const router = new Router([...STREAM_ROUTES, ...SUBSCRIPTION_ROUTES], 100);
  const names = router.routes.flatMap((r) =>
    Object.values(r.methods).map((o) => o!.name)
  );
  assert.equal(new Set(names).size, names.length);
});

Deno.test("Router: subscription paths route only when their rows are there", () => {
  const off = new Router(STREAM_ROUTES, 100);
  const none = matchOf(off, "GET", "/v1/stream/__ds/subscriptions/s");
  assert.ok(none instanceof StreamError && none.kind === "not_found");
  assert.equal(off.dialect("/v1/stream/__ds/jwks.json"), "streams");
  const on = new Router([...STREAM_ROUTES, ...SUBSCRIPTION_ROUTES], 100);
  assert.equal(on.dialect("/v1/stream/__ds/x"), "subscriptions");
  const cases: [string, string, string, string][] = [
    ["/v1/stream/__ds/subscriptions/s", "", "s", ""],
    ["/v1/stream/__ds/subscriptions/s/claim", "claim", "s", ""],
    ["/v1/stream/__ds/subscriptions/s/streams", "streams", "s", ""],
    [
      "/v1/stream/__ds/subscriptions/s/streams/g%2Fa/b",
      "streams/*",
      "s",
      "g/a/b",
    ],
  ];
  for (const [path, sub, id, stream] of cases) {
    const m = matchOf(on, "GET", path);
    assert.ok(!(m instanceof StreamError), path);
    assert.deepEqual([m.route.sub, m.id, m.name], [sub, id, stream], path);
  }
  const bad = matchOf(on, "GET", "/v1/stream/__ds/subscriptions/a%20b");
  assert.ok(bad instanceof StreamError && bad.kind === "bad_request");
  for (const rest of ["s/nope", "s/", "s/claim/x", "", "x"]) {
    const path = rest === "x"
      ? "/v1/stream/__ds/x"
      : `/v1/stream/__ds/subscriptions/${rest}`;
    const unknown = matchOf(on, "POST", path);
    assert.ok(unknown instanceof StreamError, path);
    assert.equal(unknown.kind, rest === "" ? "bad_request" : "not_found", path);
  }
});

Deno.test("Router: a prefix route serves every path under it; exact paths win; a malformed prefix throws", () => {
  const router = new Router([
    ...STREAM_ROUTES,
    ...CONSOLE_ROUTES,
  ], 1024);
  const nameOf = (path: string) => {
    const m = matchOf(router, "GET", path);
    return m instanceof StreamError ? m.kind : m.route.methods.GET!.name;
  };
  assert.equal(nameOf("/console"), "console_page");
  assert.equal(nameOf("/console/server"), "console_page");
  assert.equal(nameOf("/console/stream/a/b%2Fc"), "console_page");
  assert.equal(nameOf("/console/assets/console.0123.js"), "console_asset");
  assert.equal(nameOf("/console/other"), "not_found");
  assert.equal(nameOf("/console/stream"), "not_found");
  assert.equal(nameOf("/health"), "health_get");
  const post = matchOf(router, "POST", "/console/stream/a");
  assert.ok(!(post instanceof StreamError));
  assert.equal(router.allow(post.route), "GET, HEAD, OPTIONS");
  const prefix = (path: string): Route => ({
    shape: "prefix",
    path,
    methods: { GET: op("p") },
  });
  assert.throws(() => new Router([prefix("/no-slash")], 1024));
  assert.throws(() => new Router([prefix("/a/"), prefix("/a/")], 1024));
});
