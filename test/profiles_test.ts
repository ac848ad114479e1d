/**
 * Stream profiles through the HTTP API (profiles.md §1, §10): the
 * `_profile` resource's validation and preconditions, canonical registries
 * installed with the profile, appends normalized and keyed by it, the
 * listing, and the profile surviving a restart.
 */

import { withBatched } from "../src/tier/bootstrap.ts";
import { newestEntries, readBatches } from "../src/tier/manifest_batch.ts";
import assert from "node:assert/strict";
import { decodeManifest } from "../src/objectstore/manifest.ts";
import { FsObjectStore } from "../src/objectstore/fs.ts";
import { killServer, spawnServer, startTestServer } from "./_server.ts";

const JSON_HEADERS = { "content-type": "application/json" };

async function send(
  url: string,
  method: string,
  body?: unknown,
  headers: Record<string, string> = JSON_HEADERS,
) {
  const response = await fetch(url, {
    method,
    headers,
    body: body === undefined
      ? undefined
      : typeof body === "string"
      ? body
      : JSON.stringify(body),
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = text;
  }
  // deno-lint-ignore no-explicit-any
  return { status: response.status, json: json as any };
}

type Server = Awaited<ReturnType<typeof startTestServer>>;

async function withServer(
  fn: (base: string, server: Server) => Promise<void>,
): Promise<void> {
  const server = await startTestServer();
  try {
    await fn(`${server.url}/v1/stream`, server);
  } finally {
    await server.close();
    await Deno.remove(server.dataDir, { recursive: true });
  }
}

Deno.test("_profile: generic by default, 404 for a missing stream", async () => {
  await withServer(async (base) => {
    assert.equal((await send(`${base}/x`, "PUT")).status, 201);
    assert.deepEqual((await send(`${base}/x/_profile`, "GET")).json, {
      apiVersion: "durable.streams/profile/v1",
      profile: { kind: "generic" },
    });
    assert.equal((await send(`${base}/nope/_profile`, "GET")).status, 404);
    const post = await send(`${base}/nope/_profile`, "POST", {
      profile: { kind: "generic" },
    });
    assert.equal(post.status, 404);
  });
});

Deno.test("_profile: request validation table (400s name the problem, nothing changes)", async () => {
  await withServer(async (base) => {
    assert.equal((await send(`${base}/x`, "PUT")).status, 201);
    const cases: [unknown, RegExp][] = [
      [{ profile: { kind: "nope" } }, /supported kinds: evlog, generic/],
      [{ profile: { kind: "generic", a: 1 } }, /profile\.a/],
      [{ apiVersion: "v0", profile: { kind: "generic" } }, /apiVersion/],
      [{ foo: 1 }, /foo/],
      [{}, /needs a .*profile/],
      [{ profile: "evlog" }, /profile.* must be an object/],
      [[1], /JSON object/],
      ["not json", /not JSON/],
      [{ profile: { kind: "evlog", redactKeys: "x" } }, /redactKeys/],
      [{ profile: { kind: "metrics", extra: true } }, /profile\.extra/],
    ];
    for (const [body, message] of cases) {
      const got = await send(`${base}/x/_profile`, "POST", body);
      assert.equal(got.status, 400, JSON.stringify(body));
      assert.match(JSON.stringify(got.json), message, JSON.stringify(body));
    }
    assert.deepEqual((await send(`${base}/x/_profile`, "GET")).json.profile, {
      kind: "generic",
    });
    assert.equal(
      (await send(`${base}/x/_schema`, "GET")).json.currentVersion,
      0,
    );
  });
});

Deno.test("_profile: content type and empty-stream preconditions (400, 409 profile_conflict)", async () => {
  await withServer(async (base) => {
    const octet = { "content-type": "application/octet-stream" };
    assert.equal(
      (await send(`${base}/bytes`, "PUT", undefined, octet)).status,
      201,
    );
    const onBytes = await send(`${base}/bytes/_profile`, "POST", {
      profile: { kind: "evlog" },
    });
    assert.equal(onBytes.status, 400);
    assert.match(onBytes.json.error.message, /application\/json/);
    // Generic is fine on any stream.
    assert.equal(
      (await send(`${base}/bytes/_profile`, "POST", {
        profile: { kind: "generic" },
      })).status,
      200,
    );
    assert.equal((await send(`${base}/full`, "PUT")).status, 201);
    assert.equal((await send(`${base}/full`, "POST", [{ a: 1 }])).status, 204);
    for (const kind of ["evlog", "metrics", "otel-traces"]) {
      const got = await send(`${base}/full/_profile`, "POST", {
        profile: { kind },
      });
      assert.equal(got.status, 409, kind);
      assert.equal(got.json.error.code, "profile_conflict");
    }
    // state-protocol installs no registry: no empty-stream precondition.
    assert.equal(
      (await send(`${base}/full/_profile`, "POST", {
        profile: { kind: "state-protocol" },
      })).status,
      200,
    );
  });
});

Deno.test("evlog: install shows the canonical registry and listing, appends are normalized, redacted and keyed", async () => {
  await withServer(async (base, server) => {
    assert.equal((await send(`${base}/ev`, "PUT")).status, 201);
    const installed = await send(`${base}/ev/_profile`, "POST", {
      apiVersion: "durable.streams/profile/v1",
      profile: {
        kind: "evlog",
        redactKeys: ["ssn"],
        observability: { request: { tracesStream: "tr" } },
      },
    });
    assert.equal(installed.status, 200);
    assert.equal(installed.json.profile.kind, "evlog");
    assert.deepEqual(installed.json.profile.redactKeys, ["ssn"]);
    assert.deepEqual(
      (await send(`${base}/ev/_profile`, "GET")).json,
      installed.json,
    );
    const schema = (await send(`${base}/ev/_schema`, "GET")).json;
    assert.equal(schema.currentVersion, 1);
    assert.deepEqual(schema.boundaries, [{
      offset: schema.boundaries[0].offset,
      version: 1,
    }]);
    assert.ok(schema.schemas["1"].required.includes("requestId"));
    assert.equal(schema.search.fields.requestId.kind, "keyword");
    assert.ok(schema.search.rollups.requests);
    const list = (await send(`${server.url}/v1/streams`, "GET")).json;
    assert.deepEqual(list.streams[0].profile, "evlog");
    assert.deepEqual(list.streams[0].observability, {
      request: { traces_stream: "tr" },
    });

    const appended = await send(`${base}/ev`, "POST", [{
      message: "hi",
      status: 503,
      requestId: "r1",
      password: "p",
      user: { token: "t", ssn: "1" },
    }, { message: "second", requestId: "r2" }]);
    assert.equal(appended.status, 204);
    const all = (await send(`${base}/ev?offset=-1`, "GET")).json;
    assert.equal(all.length, 2);
    const [first] = all;
    assert.equal(first.level, "error");
    assert.equal(first.requestId, "r1");
    assert.equal(first.context.password, "[REDACTED]");
    assert.equal(first.context.user.token, "[REDACTED]");
    assert.equal(first.context.user.ssn, "[REDACTED]");
    assert.deepEqual(
      [...first.redaction.keys].sort(),
      ["context.password", "context.user.ssn", "context.user.token"],
    );
    const keyed = (await send(`${base}/ev?offset=-1&key=r1`, "GET")).json;
    assert.deepEqual(keyed.map((r: { message: string }) => r.message), ["hi"]);

    // traceparent fills the ids; a bad timestamp fails the whole request
    // with the element's index, and nothing of it is written.
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const spanId = "00f067aa0ba902b7";
    assert.equal(
      (await send(`${base}/ev`, "POST", {
        message: "tp",
        traceparent: `00-${traceId}-${spanId}-01`,
      })).status,
      204,
    );
    const bad = await send(`${base}/ev`, "POST", [
      { message: "fine" },
      { message: "bad", timestamp: "yesterday" },
    ]);
    assert.equal(bad.status, 400);
    assert.match(bad.json.error.message, /^Element 1: /);
    const after = (await send(`${base}/ev?offset=-1`, "GET")).json;
    assert.equal(after.length, 3);
    assert.equal(after[2].traceId, traceId);
    assert.equal(after[2].spanId, spanId);
    const byTrace = (await send(`${base}/ev?offset=-1&key=${traceId}`, "GET"))
      .json;
    assert.equal(byTrace.length, 1);

    // Re-posting the same kind on the non-empty stream updates the options.
    const updated = await send(`${base}/ev/_profile`, "POST", {
      profile: { kind: "evlog", redactKeys: ["email"] },
    });
    assert.equal(updated.status, 200);
    assert.equal(
      (await send(`${base}/ev`, "POST", { message: "m", email: "a@b" }))
        .status,
      204,
    );
    const last = (await send(`${base}/ev?offset=-1`, "GET")).json.at(-1);
    assert.equal(last.context.email, "[REDACTED]");
  });
});

Deno.test("metrics: a record without unit is refused naming it; a valid one is keyed by its series key", async () => {
  await withServer(async (base) => {
    assert.equal((await send(`${base}/m`, "PUT")).status, 201);
    assert.equal(
      (await send(`${base}/m/_profile`, "POST", {
        profile: { kind: "metrics" },
      }))
        .status,
      200,
    );
    const record = {
      metric: "http.latency",
      unit: "ms",
      windowStart: 1_000,
      windowEnd: 11_000,
      count: 2,
      sum: 30,
      attributes: { route: "/a" },
    };
    const { unit: _unit, ...noUnit } = record;
    const refused = await send(`${base}/m`, "POST", [record, noUnit]);
    assert.equal(refused.status, 400);
    assert.match(refused.json.error.message, /Element 1: .*unit/);
    assert.deepEqual((await send(`${base}/m?offset=-1`, "GET")).json, []);
    assert.equal((await send(`${base}/m`, "POST", record)).status, 204);
    const [stored] = (await send(`${base}/m?offset=-1`, "GET")).json;
    assert.equal(stored.apiVersion, "durable.streams/metrics/v1");
    assert.equal(typeof stored.seriesKey, "string");
    const keyed = (await send(
      `${base}/m?offset=-1&key=${encodeURIComponent(stored.seriesKey)}`,
      "GET",
    )).json;
    assert.equal(keyed.length, 1);
  });
});

Deno.test("state-protocol: change records are validated, stored unchanged; switching back to generic stops it", async () => {
  await withServer(async (base) => {
    assert.equal((await send(`${base}/sp`, "PUT")).status, 201);
    assert.equal(
      (await send(`${base}/sp/_profile`, "POST", {
        profile: { kind: "state-protocol" },
      })).status,
      200,
    );
    const noValue = { type: "t", key: "1", headers: { operation: "insert" } };
    assert.equal((await send(`${base}/sp`, "POST", [noValue])).status, 400);
    const both = { headers: { control: "reset", operation: "insert" } };
    assert.equal((await send(`${base}/sp`, "POST", [both])).status, 400);
    const change = { ...noValue, value: { a: 1 } };
    assert.equal((await send(`${base}/sp`, "POST", [change])).status, 204);
    assert.deepEqual((await send(`${base}/sp?offset=-1`, "GET")).json, [
      change,
    ]);
    assert.equal(
      (await send(`${base}/sp/_profile`, "POST", {
        profile: { kind: "generic" },
      }))
        .status,
      200,
    );
    assert.equal((await send(`${base}/sp`, "POST", [noValue])).status, 204);
  });
});

Deno.test("profiles, options and canonical registries survive a restart; normalization still applies", async () => {
  const first = await startTestServer();
  const dir = first.dataDir;
  let second: Server | undefined;
  try {
    const base = `${first.url}/v1/stream`;
    assert.equal((await send(`${base}/ev`, "PUT")).status, 201);
    const installed = await send(`${base}/ev/_profile`, "POST", {
      profile: { kind: "evlog", redactKeys: ["ssn"] },
    });
    assert.equal(installed.status, 200);
    assert.equal((await send(`${base}/sp`, "PUT")).status, 201);
    assert.equal(
      (await send(`${base}/sp/_profile`, "POST", {
        profile: { kind: "state-protocol" },
      })).status,
      200,
    );
    const schema = (await send(`${base}/ev/_schema`, "GET")).json;
    await first.close();
    second = await startTestServer({}, dir);
    const again = `${second.url}/v1/stream`;
    assert.deepEqual(
      (await send(`${again}/ev/_profile`, "GET")).json,
      installed.json,
    );
    assert.deepEqual((await send(`${again}/ev/_schema`, "GET")).json, schema);
    assert.equal(
      (await send(`${again}/sp/_profile`, "GET")).json.profile.kind,
      "state-protocol",
    );
    assert.equal(
      (await send(`${again}/ev`, "POST", { message: "x", ssn: "1" })).status,
      204,
    );
    const [record] = (await send(`${again}/ev?offset=-1`, "GET")).json;
    assert.equal(record.context.ssn, "[REDACTED]");
    assert.equal(record.level, "info");
    assert.equal((await send(`${again}/sp`, "POST", [{}])).status, 400);
  } finally {
    await first.close().catch(() => {});
    await second?.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("kill -9 after a profile install: the acknowledged profile, registry and normalized records are there after a restart", async () => {
  const dir = await Deno.makeTempDir({ prefix: "streambed-profile-crash-" });
  let server = await spawnServer(dir);
  try {
    const base = `${server.url}/v1/stream`;
    assert.equal((await send(`${base}/ev`, "PUT")).status, 201);
    const installed = await send(`${base}/ev/_profile`, "POST", {
      profile: { kind: "evlog", redactKeys: ["pin"] },
    });
    assert.equal(installed.status, 200);
    assert.equal(
      (await send(`${base}/ev`, "POST", { requestId: "a", pin: "1" })).status,
      204,
    );
    const schema = (await send(`${base}/ev/_schema`, "GET")).json;
    await killServer(server);
    server = await spawnServer(dir);
    const again = `${server.url}/v1/stream`;
    assert.deepEqual(
      (await send(`${again}/ev/_profile`, "GET")).json,
      installed.json,
    );
    assert.deepEqual((await send(`${again}/ev/_schema`, "GET")).json, schema);
    assert.equal(
      (await send(`${again}/ev`, "POST", { requestId: "b", pin: "2" })).status,
      204,
    );
    const records = (await send(`${again}/ev?offset=-1`, "GET")).json;
    assert.deepEqual(
      records.map((r: { requestId: string; context: { pin: string } }) => [
        r.requestId,
        r.context.pin,
      ]),
      [["a", "[REDACTED]"], ["b", "[REDACTED]"]],
    );
    const keyed = (await send(`${again}/ev?offset=-1&key=a`, "GET")).json;
    assert.equal(keyed.length, 1);
  } finally {
    await killServer(server);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("profiles are published in the manifest and restored by --bootstrap", async () => {
  const objects = await Deno.makeTempDir({
    prefix: "streambed-profile-objects-",
  });
  const tiered = {
    objectStore: { kind: "fs" as const, dir: objects },
    segment: { segmentBytes: 4096, segmentAgeMs: 50, manifestBatchMs: 50 },
  };
  const first = await startTestServer(tiered);
  let second: Server | undefined;
  try {
    const base = `${first.url}/v1/stream`;
    assert.equal((await send(`${base}/ev`, "PUT")).status, 201);
    const installed = await send(`${base}/ev/_profile`, "POST", {
      profile: { kind: "evlog", redactKeys: ["pin"] },
    });
    assert.equal(installed.status, 200);
    assert.equal((await send(`${base}/sp`, "PUT")).status, 201);
    const sp = await send(`${base}/sp/_profile`, "POST", {
      profile: { kind: "state-protocol" },
    });
    assert.equal(sp.status, 200);
    for (let i = 0; i < 40; i++) {
      const batch = Array.from({ length: 10 }, (_, k) => ({
        requestId: `r${i * 10 + k}`,
        pad: "p".repeat(40),
      }));
      assert.equal((await send(`${base}/ev`, "POST", batch)).status, 204);
    }
    const all = (await send(`${base}/ev?offset=-1`, "GET")).json;
    const schema = (await send(`${base}/ev/_schema`, "GET")).json;
    // Wait until both manifests are published with everything.
    const store = new FsObjectStore({ root: objects });
    for (let i = 0;; i++) {
      const details = (await send(`${base}/ev/_details`, "GET")).json;
      const keys = (await store.list("streams/")).keys
        .filter((k) => k.endsWith("/manifest.json"));
      // "sp" has no segment: its manifest is in a batch object.
      const own = await Promise.all(
        keys.map(async (k) => decodeManifest((await store.get(k))!, k)),
      );
      const manifests = withBatched(
        new Map(own.map((m) => [m.id, m])),
        newestEntries(await readBatches(store)),
      );
      if (
        details.uploadedThroughOffset === details.tailOffset &&
        manifests.length === 2 &&
        manifests.every((m) => m.profile !== undefined)
      ) {
        const byName = new Map(manifests.map((m) => [m.name, m]));
        assert.deepEqual(byName.get("ev")!.profile, installed.json.profile);
        assert.deepEqual(byName.get("sp")!.profile, sp.json.profile);
        break;
      }
      assert.ok(i < 400, "never published");
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    await first.close();
    second = await startTestServer({
      ...tiered,
      objectStore: { ...tiered.objectStore, bootstrap: true },
    });
    const again = `${second.url}/v1/stream`;
    assert.deepEqual(
      (await send(`${again}/ev/_profile`, "GET")).json,
      installed.json,
    );
    assert.deepEqual((await send(`${again}/sp/_profile`, "GET")).json, sp.json);
    assert.deepEqual((await send(`${again}/ev/_schema`, "GET")).json, schema);
    assert.deepEqual((await send(`${again}/ev?offset=-1`, "GET")).json, all);
    assert.equal(
      (await send(`${again}/ev`, "POST", { requestId: "z", pin: "9" })).status,
      204,
    );
    const last = (await send(`${again}/ev?offset=-1&key=z`, "GET")).json;
    assert.equal(last[0].context.pin, "[REDACTED]");
    assert.equal((await send(`${again}/sp`, "POST", [{}])).status, 400);
  } finally {
    await first.close().catch(() => {});
    await second?.close();
    await Deno.remove(first.dataDir, { recursive: true });
    if (second) await Deno.remove(second.dataDir, { recursive: true });
    await Deno.remove(objects, { recursive: true });
  }
});

Deno.test("a fork keeps its source's profile: its initial body and later appends are normalized", async () => {
  await withServer(async (base) => {
    assert.equal((await send(`${base}/src`, "PUT")).status, 201);
    assert.equal(
      (await send(`${base}/src/_profile`, "POST", {
        profile: { kind: "evlog", redactKeys: ["pin"] },
      })).status,
      200,
    );
    assert.equal(
      (await send(`${base}/src`, "POST", { requestId: "a" })).status,
      204,
    );
    const forked = await send(
      `${base}/fork`,
      "PUT",
      [{ requestId: "b", pin: "1" }],
      { ...JSON_HEADERS, "stream-forked-from": "/v1/stream/src" },
    );
    assert.equal(forked.status, 201);
    assert.deepEqual(
      (await send(`${base}/fork/_profile`, "GET")).json,
      (await send(`${base}/src/_profile`, "GET")).json,
    );
    assert.equal(
      (await send(`${base}/fork`, "POST", { requestId: "c", pin: "2" }))
        .status,
      204,
    );
    const records = (await send(`${base}/fork?offset=-1`, "GET")).json;
    assert.deepEqual(
      records.map((r: { requestId: string; context: { pin?: string } }) => [
        r.requestId,
        r.context.pin ?? null,
      ]),
      [["a", null], ["b", "[REDACTED]"], ["c", "[REDACTED]"]],
    );
    assert.equal(
      (await send(`${base}/fork?offset=-1&key=b`, "GET")).json.length,
      1,
    );
  });
});

Deno.test("--metrics-stream: the server's request timings land as metrics-profile records, keyed by series", async () => {
  const server = await startTestServer({
    http: { metricsStream: "ops/metrics", metricsStreamIntervalMs: 100 },
  });
  try {
    const base = `${server.url}/v1/stream`;
    assert.equal(
      (await send(`${base}/ops/metrics/_profile`, "GET")).json.profile.kind,
      "metrics",
    );
    assert.equal((await send(`${base}/x`, "PUT")).status, 201);
    assert.equal((await send(`${base}/x`, "POST", { a: 1 })).status, 204);
    let created: Record<string, unknown> | undefined;
    for (let i = 0; created === undefined; i++) {
      assert.ok(i < 200, "no record for stream_create");
      await new Promise((resolve) => setTimeout(resolve, 25));
      const all = (await send(`${base}/ops/metrics?offset=-1`, "GET")).json;
      created = all.find((r: { attributes: { route?: string } }) =>
        r.attributes.route === "stream_create"
      );
    }
    assert.equal(created.apiVersion, "durable.streams/metrics/v1");
    assert.equal(created.metric, "http.server.duration");
    assert.equal(created.unit, "s");
    assert.equal(created.count, 1);
    assert.equal(created.instance, server.url);
    assert.equal(typeof created.p50, "number");
    const keyed = (await send(
      `${base}/ops/metrics?offset=-1&key=${
        encodeURIComponent(created.seriesKey as string)
      }`,
      "GET",
    )).json;
    assert.ok(keyed.length >= 1);
  } finally {
    await server.close();
    await Deno.remove(server.dataDir, { recursive: true });
  }
});

Deno.test("--metrics-stream on a stream that cannot take the profile: the server starts, the feed is off", async () => {
  const first = await startTestServer();
  const dir = first.dataDir;
  let second: Server | undefined;
  try {
    const octet = { "content-type": "application/octet-stream" };
    assert.equal(
      (await send(`${first.url}/v1/stream/m`, "PUT", undefined, octet)).status,
      201,
    );
    await first.close();
    second = await startTestServer(
      { http: { metricsStream: "m", metricsStreamIntervalMs: 100 } },
      dir,
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    const got = await fetch(`${second.url}/v1/stream/m?offset=-1`);
    assert.equal(got.status, 200);
    assert.equal((await got.arrayBuffer()).byteLength, 0);
    assert.equal(
      (await send(`${second.url}/v1/stream/m/_profile`, "GET")).json.profile
        .kind,
      "generic",
    );
  } finally {
    await first.close().catch(() => {});
    await second?.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("evlog canonical registry serves _search by request id and _aggregate over the requests rollup", async () => {
  await withServer(async (base) => {
    assert.equal((await send(`${base}/ev`, "PUT")).status, 201);
    assert.equal(
      (await send(`${base}/ev/_profile`, "POST", {
        profile: { kind: "evlog" },
      }))
        .status,
      200,
    );
    const now = Date.now();
    const at = (ms: number) => new Date(now - ms).toISOString();
    assert.equal(
      (await send(`${base}/ev`, "POST", [
        { requestId: "r1", service: "api", status: 500, timestamp: at(1000) },
        { requestId: "r2", service: "web", status: 200, timestamp: at(2000) },
        { requestId: "r3", service: "api", status: 200, timestamp: at(3000) },
      ])).status,
      204,
    );
    const found = await send(
      `${base}/ev/_search?q=${encodeURIComponent("req:r1")}`,
      "GET",
    );
    assert.equal(found.status, 200);
    assert.equal(found.json.total.value, 1);
    const aggregated = await send(`${base}/ev/_aggregate`, "POST", {
      rollup: "requests",
      from: new Date(now - 3_600_000).toISOString(),
      to: new Date(now + 60_000).toISOString(),
      interval: "1h",
      group_by: ["service"],
    });
    assert.equal(aggregated.status, 200, JSON.stringify(aggregated.json));
    // Sum the groups over the buckets (the window may straddle an hour).
    const totals: Record<string, { count: number; errors: number }> = {};
    for (const bucket of aggregated.json.buckets) {
      for (const group of bucket.groups) {
        const t = totals[group.key.service] ??= { count: 0, errors: 0 };
        t.count += group.measures.count.count;
        t.errors += group.measures.errors.count;
      }
    }
    assert.deepEqual(totals, {
      api: { count: 2, errors: 1 },
      web: { count: 1, errors: 0 },
    });
  });
});
