/**
 * @module
 * Cross-layer subscription tests (PROTOCOL.md §6-7) for what the upstream
 * suite does not cover: restarts in the middle of a lease, a webhook
 * receiver that fails and then recovers, fencing after lease expiry,
 * deletion during a lease, SSRF rejections over HTTP, limits, and
 * signature verification by an independent Web Crypto verifier.
 * Nothing here asserts on timings; waits poll for observable state.
 */

import assert from "node:assert/strict";
import { parseConfig } from "../src/config.ts";
import { openSqliteSubscriptionStore } from "../src/storage/subscription_store.ts";
import { startTestServer } from "./_server.ts";
import { freshSchema, sharedPgCluster } from "../src/storage/_pg_testing.ts";
import { verifyWebhookSignature } from "../src/subscriptions/_testing.ts";

type Json = Record<string, unknown>;

async function call(
  url: string,
  method: string,
  body?: unknown,
  token?: string,
): Promise<{ status: number; json: Json }> {
  const headers: Record<string, string> = {
    "content-type": "application/json",
  };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  const res = await fetch(url, {
    method,
    headers,
    body: body === undefined
      ? undefined
      : typeof body === "string"
      ? body
      : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text === "" ? {} : JSON.parse(text) };
}

async function waitFor<T>(
  probe: () => Promise<T | undefined>,
  what: string,
): Promise<T> {
  for (let i = 0; i < 400; i++) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function urls(base: string) {
  return {
    stream: (p: string) => `${base}/v1/stream/${p}`,
    sub: (id: string) => `${base}/v1/stream/__ds/subscriptions/${id}`,
    jwks: `${base}/v1/stream/__ds/jwks.json`,
  };
}

async function wakeEvents(url: string): Promise<Json[]> {
  const res = await fetch(url);
  return await res.json() as Json[];
}

/** A webhook receiver on 127.0.0.1 whose answer the test controls. */
function receiver(answer: () => { status: number; body: Json }) {
  const received: { body: Json; raw: string; signature: string | null }[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (req) => {
      const raw = await req.text();
      received.push({
        body: JSON.parse(raw),
        raw,
        signature: req.headers.get("webhook-signature"),
      });
      const { status, body } = answer();
      return Response.json(body, { status });
    },
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}/hook`,
    received,
    close: () => server.shutdown(),
  };
}

/** Starts a server on a fresh data dir: SQLite, or PostgreSQL with `schema`. */
type Start = () => Promise<Awaited<ReturnType<typeof startTestServer>>>;

const onSqlite: Start = () => startTestServer();

/** Servers on one PostgreSQL schema, each with a fresh data dir. */
async function onPostgres(): Promise<Start> {
  const cluster = await sharedPgCluster();
  const schema = freshSchema("subs");
  return () =>
    startTestServer({
      storage: {
        backend: "postgres",
        postgresUrl: cluster.url,
        postgresSchema: schema,
      },
    });
}

Deno.test("pull-wake lease, cursors and keys survive a restart mid-lease", async () => {
  await restartMidLease(onSqlite, true);
});

Deno.test("PostgreSQL: pull-wake lease, cursors and keys survive a restart onto an empty data dir", async () => {
  await restartMidLease(await onPostgres(), false);
});

/** `sameDir`: restart on the first data dir, else on a fresh one. */
async function restartMidLease(start: Start, sameDir: boolean) {
  let server = await start();
  const dirs = [server.dataDir];
  try {
    let u = urls(server.url);
    await call(u.stream("wake/pool"), "PUT", "[]");
    const created = await call(u.sub("pull-restart"), "PUT", {
      type: "pull-wake",
      pattern: "jobs/*",
      wake_stream: "wake/pool",
      lease_ttl_ms: 600_000,
    });
    assert.equal(created.status, 201);
    await call(u.stream("jobs/a"), "PUT", { n: 1 });
    await waitFor(
      async () =>
        (await wakeEvents(u.stream("wake/pool"))).length > 0 || undefined,
      "wake event",
    );
    const claim = await call(`${u.sub("pull-restart")}/claim`, "POST", {
      worker: "w1",
    });
    assert.equal(claim.status, 200);
    const kid = ((await (await fetch(u.jwks)).json()).keys as Json[])[0].kid;
    const tail = (claim.json.streams as Json[])[0].tail_offset as string;

    await server.close();
    if (sameDir) server = await startTestServer({}, dirs[0]);
    else {
      // Nothing of subscriptions was written to the data dir.
      const files = [...Deno.readDirSync(dirs[0])].map((e) => e.name);
      assert.deepEqual(files.filter((f) => !f.startsWith("LOCK")), []);
      server = await start();
      dirs.push(server.dataDir);
    }
    u = urls(server.url);

    const jwks = await (await fetch(u.jwks)).json();
    assert.equal(jwks.keys[0].kid, kid, "the signing key persisted");
    const busy = await call(`${u.sub("pull-restart")}/claim`, "POST", {
      worker: "w2",
    });
    assert.equal(busy.status, 409);
    assert.equal((busy.json.error as Json).code, "ALREADY_CLAIMED");
    assert.equal((busy.json.error as Json).current_holder, "w1");
    const ack = await call(`${u.sub("pull-restart")}/ack`, "POST", {
      wake_id: claim.json.wake_id,
      generation: claim.json.generation,
      acks: [{ stream: "jobs/a", offset: tail }],
      done: true,
    }, claim.json.token as string);
    assert.equal(ack.status, 200);
    assert.deepEqual(ack.json, { ok: true, next_wake: false });
    const got = await call(u.sub("pull-restart"), "GET");
    assert.equal((got.json.streams as Json[])[0].acked_offset, tail);
  } finally {
    await server.close();
    for (const dir of dirs) await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a failing webhook is retried with status failed, then recovers and auto-acks", async () => {
  let healthy = false;
  const hook = receiver(() =>
    healthy ? { status: 200, body: { done: true } } : { status: 500, body: {} }
  );
  const server = await startTestServer({
    subscriptions: {
      webhookAllowLocalhost: true,
      retryDelayMinMs: 10,
      retryDelayMaxMs: 50,
    },
  });
  try {
    const u = urls(server.url);
    const put = await call(u.sub("flaky"), "PUT", {
      type: "webhook",
      pattern: "orders/*",
      webhook: { url: hook.url },
      lease_ttl_ms: 60_000,
    });
    assert.equal(put.status, 201);
    await call(u.stream("orders/1"), "PUT", { id: 1 });
    await waitFor(
      () => Promise.resolve(hook.received.length >= 3 || undefined),
      "three failed attempts",
    );
    const failing = await call(u.sub("flaky"), "GET");
    assert.equal(failing.json.status, "failed");
    assert.equal(
      (failing.json.streams as Json[])[0].acked_offset,
      "0000000000000000_0000000000000000",
    );
    // Retries resend the same wake: same wake_id and generation.
    const wakeIds = new Set(hook.received.map((r) => r.body.wake_id));
    assert.equal(wakeIds.size, 1);

    healthy = true;
    const tail = (hook.received[0].body.streams as Json[])[0].tail_offset;
    const done = await waitFor(async () => {
      const got = await call(u.sub("flaky"), "GET");
      return (got.json.streams as Json[])[0].acked_offset === tail
        ? got
        : undefined;
    }, "auto-ack after recovery");
    assert.equal(done.json.status, "active");

    const jwks = await (await fetch(u.jwks)).json();
    for (const r of hook.received) {
      assert.equal(
        await verifyWebhookSignature(r.raw, r.signature, jwks),
        true,
      );
      assert.equal(
        await verifyWebhookSignature(r.raw + " ", r.signature, jwks),
        false,
      );
    }
  } finally {
    await server.close();
    await hook.close();
    await Deno.remove(server.dataDir, { recursive: true });
  }
});

Deno.test("webhook retry metadata survives a restart", async () => {
  const hook = receiver(() => ({ status: 503, body: {} }));
  const overrides = {
    subscriptions: {
      webhookAllowLocalhost: true,
      retryDelayMinMs: 3_600_000, // one attempt, then a retry far away
      retryDelayMaxMs: 3_600_000,
    },
  };
  let server = await startTestServer(overrides);
  const dir = server.dataDir;
  try {
    let u = urls(server.url);
    await call(u.sub("later"), "PUT", {
      type: "webhook",
      streams: ["r/s"],
      webhook: { url: hook.url },
    });
    await call(u.stream("r/s"), "PUT", { n: 1 });
    await waitFor(async () => {
      const got = await call(u.sub("later"), "GET");
      return got.json.status === "failed" ? got : undefined;
    }, "failed status");
    await server.close();
    const store = openSqliteSubscriptionStore(`${dir}/wal.sqlite`, "os");
    const row = store.load().subscriptions.find((r) => r.id === "later")!;
    store.close();
    assert.equal(row.retryCount, 1);
    assert.ok(
      row.nextAttemptAtMs! > Date.now() + 60_000,
      "next attempt is far away",
    );
    assert.ok(row.wakeId !== null);
    server = await startTestServer(overrides, dir);
    u = urls(server.url);
    const got = await call(u.sub("later"), "GET");
    assert.equal(got.json.status, "failed");
    assert.equal(
      hook.received.length,
      1,
      "the restart honours the retry schedule",
    );
  } finally {
    await server.close();
    await hook.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("webhook deliveries in flight are capped by deliveriesMax", async () => {
  let inFlight = 0;
  let maxInFlight = 0;
  let arrivals = 0;
  let arrived: () => void = () => {};
  const server2 = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (req) => {
      await req.text();
      inFlight++;
      arrivals++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      arrived();
      // Hold the request until another arrives (a broken cap) or a pause passes.
      await Promise.race([
        new Promise<void>((r) => arrived = r),
        new Promise((r) => setTimeout(r, 200)),
      ]);
      inFlight--;
      return Response.json({ done: true });
    },
  );
  const hookUrl = `http://127.0.0.1:${server2.addr.port}/hook`;
  const server = await startTestServer({
    subscriptions: { webhookAllowLocalhost: true, deliveriesMax: 1 },
  });
  try {
    const u = urls(server.url);
    for (const id of ["c1", "c2", "c3"]) {
      await call(u.sub(id), "PUT", {
        type: "webhook",
        pattern: "cap/*",
        webhook: { url: hookUrl },
      });
    }
    await call(u.stream("cap/x"), "PUT", { n: 1 });
    await waitFor(
      () => Promise.resolve(arrivals >= 3 || undefined),
      "three deliveries",
    );
    assert.equal(maxInFlight, 1);
  } finally {
    await server.close();
    await server2.shutdown();
    await Deno.remove(server.dataDir, { recursive: true });
  }
});

Deno.test("a stale worker is fenced after its lease expires, and the work is re-woken", async () => {
  await staleWorkerFenced(onSqlite);
});

Deno.test("PostgreSQL: a stale worker is fenced after its lease expires, and the work is re-woken", async () => {
  await staleWorkerFenced(await onPostgres());
});

async function staleWorkerFenced(start: Start) {
  const server = await start();
  try {
    const u = urls(server.url);
    await call(u.stream("wake/q"), "PUT", "[]");
    await call(u.sub("lease"), "PUT", {
      type: "pull-wake",
      streams: ["tasks/t"],
      wake_stream: "wake/q",
      lease_ttl_ms: 1000,
    });
    await call(u.stream("tasks/t"), "PUT", { n: 1 });
    await waitFor(
      async () =>
        (await wakeEvents(u.stream("wake/q"))).length > 0 || undefined,
      "first wake",
    );
    const first = await call(`${u.sub("lease")}/claim`, "POST", {
      worker: "slow",
    });
    assert.equal(first.status, 200);
    const gen1 = first.json.generation as number;
    // Nobody acks: the lease expires and the pending work gets a new wake event.
    const event = await waitFor(async () => {
      const events = await wakeEvents(u.stream("wake/q"));
      return events.find((e) => (e.generation as number) > gen1);
    }, "re-wake after lease expiry");
    assert.equal(event.subscription_id, "lease");
    const tail = (first.json.streams as Json[])[0].tail_offset;
    const stale = await call(`${u.sub("lease")}/ack`, "POST", {
      wake_id: first.json.wake_id,
      generation: gen1,
      acks: [{ stream: "tasks/t", offset: tail }],
      done: true,
    }, first.json.token as string);
    assert.equal(stale.status, 409);
    assert.equal((stale.json.error as Json).code, "FENCED");
    const got = await call(u.sub("lease"), "GET");
    assert.equal(
      (got.json.streams as Json[])[0].acked_offset,
      "0000000000000000_0000000000000000",
    );
    const second = await call(`${u.sub("lease")}/claim`, "POST", {
      worker: "fresh",
    });
    assert.equal(second.status, 200);
    assert.ok((second.json.generation as number) > gen1);
    // A stale release is fenced too; a current release with pending work writes a wake.
    const staleRelease = await call(`${u.sub("lease")}/release`, "POST", {
      wake_id: first.json.wake_id,
      generation: gen1,
    }, first.json.token as string);
    assert.equal(staleRelease.status, 409);
    const before = (await wakeEvents(u.stream("wake/q"))).length;
    const release = await call(`${u.sub("lease")}/release`, "POST", {
      wake_id: second.json.wake_id,
      generation: second.json.generation,
    }, second.json.token as string);
    assert.equal(release.status, 204);
    await waitFor(
      async () =>
        (await wakeEvents(u.stream("wake/q"))).length > before || undefined,
      "wake after release",
    );
  } finally {
    await server.close();
    await Deno.remove(server.dataDir, { recursive: true });
  }
}

Deno.test("deleting a subscription fails in-flight acks without moving cursors", async () => {
  const server = await startTestServer();
  try {
    const u = urls(server.url);
    const config = {
      type: "pull-wake",
      streams: ["d/s"],
      wake_stream: "wake/d",
      lease_ttl_ms: 60_000,
    };
    await call(u.stream("wake/d"), "PUT", "[]");
    await call(u.sub("del"), "PUT", config);
    await call(u.stream("d/s"), "PUT", { n: 1 });
    const claim = await waitFor(async () => {
      const c = await call(`${u.sub("del")}/claim`, "POST", { worker: "w" });
      return c.status === 200 ? c : undefined;
    }, "claim");
    const ackBody = {
      wake_id: claim.json.wake_id,
      generation: claim.json.generation,
      acks: [{
        stream: "d/s",
        offset: (claim.json.streams as Json[])[0].tail_offset,
      }],
      done: true,
    };
    assert.equal((await call(u.sub("del"), "DELETE")).status, 204);
    assert.equal((await call(u.sub("del"), "GET")).status, 404);
    const gone = await call(
      `${u.sub("del")}/ack`,
      "POST",
      ackBody,
      claim.json.token as string,
    );
    assert.equal(gone.status, 404);
    // Recreated under the same id: the old token stays fenced, the cursor did not move.
    assert.equal((await call(u.sub("del"), "PUT", config)).status, 201);
    const fenced = await call(
      `${u.sub("del")}/ack`,
      "POST",
      ackBody,
      claim.json.token as string,
    );
    assert.equal(fenced.status, 409);
    assert.equal((fenced.json.error as Json).code, "FENCED");
    const got = await call(u.sub("del"), "GET");
    assert.equal(
      (got.json.streams as Json[])[0].acked_offset,
      (claim.json.streams as Json[])[0].tail_offset,
      "recreated subscriptions link at the current tail",
    );
  } finally {
    await server.close();
    await Deno.remove(server.dataDir, { recursive: true });
  }
});

Deno.test("webhook URLs are checked against SSRF rules over HTTP", async () => {
  const server = await startTestServer(); // no localhost exception
  try {
    const u = urls(server.url);
    const hosts = [
      "http://127.0.0.1:9/h",
      "http://localhost/h",
      "https://10.1.2.3/h",
      "https://192.168.0.1/h",
      "https://172.20.0.1/h",
      "https://169.254.169.254/latest/meta-data",
      "https://[::1]/h",
      "https://[fe80::1]/h",
      "https://[fd00::1]/h",
      "https://[::ffff:169.254.169.254]/h",
      "https://metadata.google.internal/h",
      "http://hooks.example.com/h",
    ];
    for (const url of hosts) {
      const res = await call(u.sub("ssrf"), "PUT", {
        type: "webhook",
        pattern: "x/*",
        webhook: { url },
      });
      assert.equal(res.status, 400, url);
      assert.equal((res.json.error as Json).code, "WEBHOOK_URL_REJECTED", url);
    }
    const okRes = await call(u.sub("ssrf"), "PUT", {
      type: "webhook",
      pattern: "x/*",
      webhook: { url: "https://hooks.example.com/h" },
    });
    assert.equal(okRes.status, 201);
    assert.equal(JSON.stringify(okRes.json).includes("secret"), false);
  } finally {
    await server.close();
    await Deno.remove(server.dataDir, { recursive: true });
  }
});

Deno.test("subscription config, glob links and limits over HTTP", async () => {
  const server = await startTestServer({
    subscriptions: { subscriptionsMax: 2, linksMax: 3 },
  });
  try {
    const u = urls(server.url);
    await call(u.stream("g/a"), "PUT", { n: 1 });
    await call(u.stream("g/a/deep"), "PUT", { n: 1 });
    await call(u.stream("h/a"), "PUT", { n: 1 });
    const config = {
      type: "pull-wake",
      pattern: "g/**",
      wake_stream: "w",
      description: "d",
    };
    const created = await call(u.sub("one"), "PUT", config);
    assert.equal(created.status, 201);
    const paths = (created.json.streams as Json[]).map((s) => s.path);
    assert.deepEqual(paths, ["g/a", "g/a/deep"], "backfilled at the tail");
    assert.ok(
      (created.json.streams as Json[]).every((s) =>
        s.acked_offset !== "0000000000000000_0000000000000000"
      ),
    );
    assert.equal((await call(u.sub("one"), "PUT", config)).status, 200);
    const differs = await call(u.sub("one"), "PUT", {
      ...config,
      description: "other",
    });
    assert.equal(differs.status, 409);
    assert.equal((differs.json.error as Json).code, "SUBSCRIPTION_EXISTS");
    // Linked before the append that creates it: its first data is pending.
    await call(u.stream("g/b"), "PUT", { n: 1 });
    const after = await call(u.sub("one"), "GET");
    const gb = (after.json.streams as Json[]).find((s) => s.path === "g/b");
    assert.equal(gb?.acked_offset, "0000000000000000_0000000000000000");
    // The fourth link exceeds linksMax = 3.
    const full = await call(`${u.sub("one")}/streams`, "POST", {
      streams: ["h/a"],
    });
    assert.equal(full.status, 429);
    // An explicit link on a glob-linked stream shows as explicit, and removing it keeps the glob link.
    await call(u.stream("g/a/deep"), "DELETE");
    assert.equal(
      (await call(`${u.sub("one")}/streams`, "POST", { streams: ["g/a"] }))
        .status,
      204,
    );
    const both = await call(u.sub("one"), "GET");
    assert.equal(
      (both.json.streams as Json[]).find((s) => s.path === "g/a")?.link_type,
      "explicit",
    );
    assert.equal(
      (await call(
        `${u.sub("one")}/streams/${encodeURIComponent("g/a")}`,
        "DELETE",
      )).status,
      204,
    );
    const glob = await call(u.sub("one"), "GET");
    assert.equal(
      (glob.json.streams as Json[]).find((s) => s.path === "g/a")?.link_type,
      "glob",
    );
    assert.equal(
      (glob.json.streams as Json[]).some((s) => s.path === "g/a/deep"),
      false,
      "deleted streams unlink",
    );

    const bad = [
      { type: "nope", pattern: "a" },
      { type: "pull-wake", wake_stream: "w" },
      { type: "pull-wake", pattern: "a/b*", wake_stream: "w" },
      { type: "pull-wake", pattern: "a", wake_stream: "w", lease_ttl_ms: 999 },
      {
        type: "pull-wake",
        pattern: "a",
        wake_stream: "w",
        lease_ttl_ms: 600_001,
      },
      { type: "pull-wake", pattern: "a" },
      { type: "webhook", pattern: "a" },
    ];
    for (const body of bad) {
      const res = await call(u.sub("bad"), "PUT", body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal((res.json.error as Json).code, "INVALID_REQUEST");
    }
    assert.equal((await call(u.sub("two"), "PUT", config)).status, 201);
    const over = await call(u.sub("three"), "PUT", config);
    assert.equal(over.status, 429);
    assert.equal((over.json.error as Json).code, "SUBSCRIPTION_LIMIT");
    const noToken = await call(`${u.sub("one")}/ack`, "POST", {
      wake_id: "w_x",
      generation: 1,
    });
    assert.equal(noToken.status, 401);
    const forged = await call(`${u.sub("one")}/ack`, "POST", {
      wake_id: "w_x",
      generation: 1,
    }, "a.b.c");
    assert.equal(forged.status, 401);
    assert.equal((await call(u.sub("missing"), "GET")).status, 404);
  } finally {
    await server.close();
    await Deno.remove(server.dataDir, { recursive: true });
  }
});

Deno.test("GET __ds/subscriptions pages subscriptions by id with their streams' state", async () => {
  const server = await startTestServer();
  try {
    const u = urls(server.url);
    const list = `${server.url}/v1/stream/__ds/subscriptions`;
    await call(u.stream("p/a"), "PUT", { n: 1 });
    await call(u.stream("p/b"), "PUT", { n: 1 });
    const empty = await call(list, "GET");
    assert.equal(empty.status, 200);
    assert.deepEqual(empty.json, { subscriptions: [], next: null });
    for (const id of ["c", "a", "b"]) {
      await call(u.stream(`w-${id}`), "PUT", { n: 1 });
      const put = await call(u.sub(id), "PUT", {
        type: "pull-wake",
        streams: ["p/a", "p/b"],
        wake_stream: `w-${id}`,
      });
      assert.equal(put.status, 201);
    }
    // An append after linking leaves p/a pending for every subscription.
    assert.equal((await call(u.stream("p/a"), "POST", { n: 2 })).status, 204);
    const first = await call(`${list}?limit=2`, "GET");
    assert.equal(first.status, 200);
    const subs = first.json.subscriptions as Json[];
    assert.deepEqual(subs.map((s) => s.id), ["a", "b"]);
    assert.equal(first.json.next, "b");
    assert.equal(subs[0].type, "pull-wake");
    assert.equal(subs[0].status, "active");
    assert.equal(subs[0].stream_count, 2);
    assert.equal(subs[0].pending_streams, 1);
    assert.equal(subs[0].streams, undefined, "counts, not every link");
    const sample = subs[0].pending_sample as Json[];
    assert.deepEqual(sample.map((s) => s.path), ["p/a"]);
    assert.notEqual(sample[0].tail_offset, sample[0].acked_offset);
    const second = await call(`${list}?limit=2&after=b`, "GET");
    assert.deepEqual(
      (second.json.subscriptions as Json[]).map((s) => s.id),
      ["c"],
    );
    assert.equal(second.json.next, null);
    // A deleted subscription leaves the list.
    assert.equal((await call(u.sub("a"), "DELETE")).status, 204);
    const after = await call(list, "GET");
    assert.deepEqual(
      (after.json.subscriptions as Json[]).map((s) => s.id),
      ["b", "c"],
    );
    for (const bad of ["0", "x", "-1", "1.5"]) {
      const res = await call(`${list}?limit=${bad}`, "GET");
      assert.equal(res.status, 400, `limit=${bad}`);
      assert.equal((res.json.error as Json).code, "INVALID_REQUEST");
    }
    assert.equal((await call(list, "POST", {})).status, 405);
  } finally {
    await server.close();
  }
});

Deno.test("--subscriptions=false leaves __ds unrouted; bool flags parse", async () => {
  const server = await startTestServer({ subscriptions: { enabled: false } });
  try {
    const res = await fetch(`${server.url}/v1/stream/__ds/jwks.json`);
    await res.body?.cancel();
    assert.equal(res.status, 404);
  } finally {
    await server.close();
    await Deno.remove(server.dataDir, { recursive: true });
  }
  const bare = parseConfig({
    env: {},
    args: ["--webhook-allow-localhost", "--port", "1"],
  });
  assert.ok(bare.ok);
  assert.equal(bare.value.subscriptions.webhookAllowLocalhost, true);
  assert.equal(bare.value.http.port, 1);
  const env = parseConfig({
    env: { DS_WEBHOOK_ALLOW_LOCALHOST: "true" },
    args: ["--subscriptions=false"],
  });
  assert.ok(env.ok);
  assert.equal(env.value.subscriptions.webhookAllowLocalhost, true);
  assert.equal(env.value.subscriptions.enabled, false);
  assert.equal(
    parseConfig({ env: { DS_SUBSCRIPTIONS: "maybe" }, args: [] }).ok,
    false,
  );
});
