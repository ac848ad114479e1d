/**
 * The touch API over HTTP on port 0 (touch-live.md §11): 404 until the
 * profile enables touch; a wait woken by an append of a matching change and
 * not by another; coarse waits and timeouts; settle=flush; the validation
 * table of each route; activation limits and the rate limit; the waiter
 * budget and hang-ups; switching the profile off and on; a restart that
 * answers `stale` and keeps the templates.
 */

import assert from "node:assert/strict";
import { KeyHasher } from "../src/touch/keys.ts";
import { startTestServer } from "./_server.ts";

const hasher = await KeyHasher.create();
const FIELDS = ["status", "tenantId", "userId"];
const ROW = { status: "open", tenantId: "t1", userId: "u1", title: "a" };
const TID = "ddd2330fdab379da";
const WATCH = "39accd125778dc36";
const TEMPLATE = {
  entity: "public.todos",
  fields: FIELDS.map((name) => ({ name, encoding: "string" })),
};

interface Reply {
  status: number;
  json: Record<string, unknown>;
}

async function send(
  url: string,
  method: string,
  body?: unknown,
  signal?: AbortSignal,
): Promise<Reply> {
  const res = await fetch(url, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined
      ? undefined
      : typeof body === "string"
      ? body
      : JSON.stringify(body),
    signal,
  });
  const text = await res.text();
  return { status: res.status, json: text === "" ? {} : JSON.parse(text) };
}

const insert = (type: string, value: unknown) => ({
  type,
  key: "k",
  value,
  headers: { operation: "insert" },
});

async function touchStream(base: string, name: string, touch = {}) {
  assert.equal((await send(`${base}/${name}`, "PUT")).status, 201);
  const installed = await send(`${base}/${name}/_profile`, "POST", {
    profile: { kind: "state-protocol", touch: { enabled: true, ...touch } },
  });
  assert.equal(installed.status, 200, JSON.stringify(installed.json));
}

async function settled(base: string, name: string): Promise<Reply> {
  const m = await send(
    `${base}/${name}/touch/meta?settle=flush&timeoutMs=10000`,
    "GET",
  );
  assert.equal(m.status, 200);
  assert.equal(m.json.settled, true);
  return m;
}

Deno.test("touch over HTTP: 404 until enabled; a wait wakes on a matching append only", async () => {
  const server = await startTestServer();
  const base = `${server.url}/v1/stream`;
  try {
    assert.equal((await send(`${base}/app/touch/meta`, "GET")).status, 404);
    assert.equal((await send(`${base}/app`, "PUT")).status, 201);
    const off = await send(`${base}/app/touch/meta`, "GET");
    assert.equal(off.status, 404);
    assert.equal((off.json.error as { code: string }).code, "not_found");
    assert.equal(
      (await send(`${base}/app/_profile`, "POST", {
        profile: { kind: "state-protocol", touch: { enabled: true } },
      })).status,
      200,
    );
    const meta = await send(`${base}/app/touch/meta`, "GET");
    assert.equal(meta.status, 200);
    assert.match(meta.json.cursor as string, /^[0-9a-f]{16}:\d+$/);
    const act = await send(`${base}/app/touch/templates/activate`, "POST", {
      templates: [TEMPLATE],
    });
    assert.equal(act.status, 200);
    assert.equal(
      (act.json.activated as { templateId: string }[])[0].templateId,
      TID,
    );
    const cursor = meta.json.cursor;
    let answered = false;
    const waiting = send(`${base}/app/touch/wait`, "POST", {
      cursor,
      keys: [WATCH],
      timeoutMs: 20_000,
    }).then((r) => {
      answered = true;
      return r;
    });
    // Another row of the same table and another table: no wake.
    assert.equal(
      (await send(`${base}/app`, "POST", [
        insert("public.todos", { ...ROW, userId: "u2" }),
        insert("public.other", ROW),
      ])).status,
      204,
    );
    await settled(base, "app");
    assert.equal(answered, false);
    assert.equal(
      (await send(`${base}/app`, "POST", [insert("public.todos", ROW)]))
        .status,
      204,
    );
    const woken = await waiting;
    assert.equal(woken.status, 200);
    assert.equal(woken.json.touched, true);
    assert.equal(woken.json.effectiveWaitKind, "fineKey");
    assert.match(woken.json.cursor as string, /^[0-9a-f]{16}:\d+$/);
    assert.match(woken.json.bucketMaxSourceOffsetSeq as string, /^\d+_\d+$/);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(metrics, /^streambed_touch_journals 1$/m);
    assert.match(metrics, /^streambed_touch_changes_total 3$/m);
    assert.match(
      metrics,
      /^streambed_touch_waits_total\{outcome="touched"\} 1$/m,
    );
    assert.match(
      metrics,
      /^streambed_touch_templates_total\{event="activated"\} 1$/m,
    );
  } finally {
    await server.close();
  }
});

Deno.test("touch over HTTP: coarse waits, timeouts, settle=flush after 1000 appends", async () => {
  const server = await startTestServer();
  const base = `${server.url}/v1/stream`;
  try {
    await touchStream(base, "app");
    const cursor = (await settled(base, "app")).json.cursor;
    const coarse = {
      cursor,
      interestMode: "coarse",
      keys: [hasher.tableKey("public.todos")],
      timeoutMs: 200,
    };
    await send(`${base}/app`, "POST", [insert("public.other", { a: 1 })]);
    await settled(base, "app");
    const quiet = await send(`${base}/app/touch/wait`, "POST", coarse);
    assert.equal(quiet.status, 200);
    assert.equal(quiet.json.touched, false);
    assert.notEqual(quiet.json.cursor, cursor);
    for (let i = 0; i < 10; i++) {
      const batch = Array.from(
        { length: 100 },
        (_, j) => insert("public.todos", { ...ROW, userId: `u${i}-${j}` }),
      );
      assert.equal((await send(`${base}/app`, "POST", batch)).status, 204);
    }
    const m = await settled(base, "app");
    assert.equal(m.json.changesTotal, 1001);
    const woken = await send(`${base}/app/touch/wait`, "POST", coarse);
    assert.equal(woken.json.touched, true);
    assert.equal(woken.json.effectiveWaitKind, "tableKey");
  } finally {
    await server.close();
  }
});

Deno.test("touch over HTTP: every route's validation table", async () => {
  const server = await startTestServer();
  const base = `${server.url}/v1/stream`;
  try {
    await touchStream(base, "app");
    const wait = `${base}/app/touch/wait`;
    const bad: unknown[] = [
      "{not json",
      [],
      { cursor: "now" },
      { cursor: "now", keys: [] },
      { cursor: "now", keys: Array(1025).fill("a") },
      { cursor: "now", keyIds: Array(1025).fill(1) },
      { cursor: "now", keyIds: [-1] },
      { cursor: "now", keys: Array(17).fill(WATCH), exact: true },
      { cursor: "now", keys: ["not-hex"], exact: true },
      { cursor: "now", keys: [WATCH], exact: true, interestMode: "coarse" },
      { cursor: "abc", keys: ["a"] },
      { keys: ["a"] },
      { cursor: "now", keys: ["a"], timeoutMs: "x" },
      { cursor: "now", keys: ["a"], interestMode: "medium" },
      { cursor: "now", keys: ["a"], templateIdsUsed: [""] },
      { cursor: "now", keys: ["a"], declareTemplates: "x" },
      { cursor: "now", keys: ["a"], declareTemplates: [], inactivityTtlMs: 0 },
      { cursor: "now", keys: ["a"], surprise: 1 },
    ];
    for (const body of bad) {
      const r = await send(wait, "POST", body);
      assert.equal(r.status, 400, JSON.stringify(body).slice(0, 80));
      assert.equal((r.json.error as { code: string }).code, "bad_request");
    }
    const ok = await send(wait, "POST", {
      cursor: "now",
      keyIds: [1, 2],
      timeoutMs: 0,
    });
    assert.deepEqual([ok.status, ok.json.touched], [200, false]);
    const meta = `${base}/app/touch/meta`;
    assert.equal((await send(`${meta}?settle=now`, "GET")).status, 400);
    assert.equal(
      (await send(`${meta}?settle=flush&timeoutMs=x`, "GET")).status,
      400,
    );
    assert.equal(
      (await send(`${meta}?settle=flush&timeoutMs=0`, "GET")).status,
      200,
    );
    const activate = `${base}/app/touch/templates/activate`;
    for (
      const body of [
        "[",
        {},
        { templates: "x" },
        { templates: Array(257).fill(TEMPLATE) },
        { templates: [TEMPLATE], inactivityTtlMs: -1 },
        { templates: [TEMPLATE], inactivityTtlMs: 1.5 },
      ]
    ) {
      assert.equal((await send(activate, "POST", body)).status, 400);
    }
    // Wrong methods: 405 (PUT would create a reserved name: 400).
    assert.equal((await send(meta, "POST", {})).status, 405);
    assert.equal((await send(wait, "GET")).status, 405);
    assert.equal((await send(wait, "PUT")).status, 400);
    assert.equal(
      (await send(`${base}/nope/touch/wait`, "POST", {
        cursor: "now",
        keys: ["a"],
      })).status,
      404,
    );
  } finally {
    await server.close();
  }
});

Deno.test("touch over HTTP: activation denies invalid items by index, rate-limits, re-activates freely", async () => {
  const server = await startTestServer();
  const base = `${server.url}/v1/stream`;
  try {
    await touchStream(base, "app");
    const activate = `${base}/app/touch/templates/activate`;
    const four = {
      entity: "public.todos",
      fields: ["a", "b", "c", "d"].map((name) => ({
        name,
        encoding: "string",
      })),
    };
    const mixed = await send(activate, "POST", {
      templates: [TEMPLATE, four],
    });
    assert.equal(mixed.status, 200);
    assert.equal((mixed.json.activated as unknown[]).length, 1);
    const denied = mixed.json.denied as { index: number; reason: string }[];
    assert.deepEqual([denied[0].index, denied[0].reason], [1, "invalid"]);
    assert.deepEqual(mixed.json.limits, {
      maxActiveTemplatesPerStream: 2048,
      maxActiveTemplatesPerEntity: 256,
    });
    // 100 tokens a minute: one went to TEMPLATE, 99 more new ones pass.
    const many = Array.from({ length: 100 }, (_, i) => ({
      entity: `t${i}`,
      fields: [{ name: "id", encoding: "int64" }],
    }));
    const r = await send(activate, "POST", { templates: many });
    assert.equal((r.json.activated as unknown[]).length, 99);
    const limited = r.json.denied as { reason: string }[];
    assert.deepEqual(limited.map((d) => d.reason), ["rate_limited"]);
    // Re-activating an active template takes no token.
    const again = await send(activate, "POST", { templates: [TEMPLATE] });
    assert.equal((again.json.activated as unknown[]).length, 1);
    assert.deepEqual(again.json.denied, []);
  } finally {
    await server.close();
  }
});

Deno.test("touch over HTTP: waits count against --waiters-max; a hang-up frees the slot", async () => {
  const server = await startTestServer({ limits: { waitersMax: 2 } });
  const base = `${server.url}/v1/stream`;
  try {
    await touchStream(base, "app");
    const wait = `${base}/app/touch/wait`;
    const body = { cursor: "now", keys: ["a"], timeoutMs: 60_000 };
    const hangUps = [new AbortController(), new AbortController()];
    const pending = hangUps.map((ac) =>
      send(wait, "POST", body, ac.signal).catch(() => "aborted")
    );
    const deadline = Date.now() + 10_000;
    let meta = await send(`${base}/app/touch/meta`, "GET");
    while (meta.json.activeWaiters !== 2 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      meta = await send(`${base}/app/touch/meta`, "GET");
    }
    assert.equal(meta.json.activeWaiters, 2);
    const refused = await send(wait, "POST", body);
    assert.equal(refused.status, 503);
    assert.equal((refused.json.error as { code: string }).code, "overloaded");
    for (const ac of hangUps) ac.abort();
    assert.deepEqual(await Promise.all(pending), ["aborted", "aborted"]);
    while (meta.json.activeWaiters !== 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      meta = await send(`${base}/app/touch/meta`, "GET");
    }
    assert.equal(meta.json.activeWaiters, 0);
    const after = await send(wait, "POST", { ...body, timeoutMs: 0 });
    assert.equal(after.status, 200);
  } finally {
    await server.close();
  }
});

Deno.test("touch over HTTP: many concurrent short waits all answer", async () => {
  const server = await startTestServer();
  const base = `${server.url}/v1/stream`;
  try {
    await touchStream(base, "app");
    const replies = await Promise.all(
      Array.from(
        { length: 200 },
        (_, i) =>
          send(`${base}/app/touch/wait`, "POST", {
            cursor: "now",
            keys: [`k${i}`],
            timeoutMs: 300,
          }),
      ),
    );
    assert.ok(
      replies.every((r) => r.status === 200 && r.json.touched === false),
    );
  } finally {
    await server.close();
  }
});

Deno.test("touch over HTTP: generic profile answers 404; back on, templates must be re-activated", async () => {
  const server = await startTestServer();
  const base = `${server.url}/v1/stream`;
  try {
    await touchStream(base, "app");
    await send(`${base}/app/touch/templates/activate`, "POST", {
      templates: [TEMPLATE],
    });
    assert.equal(
      (await send(`${base}/app/touch/meta`, "GET")).json.activeTemplates,
      1,
    );
    assert.equal(
      (await send(`${base}/app/_profile`, "POST", {
        profile: { kind: "generic" },
      })).status,
      200,
    );
    assert.equal((await send(`${base}/app/touch/meta`, "GET")).status, 404);
    assert.equal(
      (await send(`${base}/app/_profile`, "POST", {
        profile: { kind: "state-protocol", touch: { enabled: true } },
      })).status,
      200,
    );
    const meta = await send(`${base}/app/touch/meta`, "GET");
    assert.equal(meta.status, 200);
    assert.equal(meta.json.activeTemplates, 0);
  } finally {
    await server.close();
  }
});

Deno.test("touch over HTTP: a restart answers stale and keeps the templates", async () => {
  const first = await startTestServer();
  let base = `${first.url}/v1/stream`;
  await touchStream(base, "app");
  await send(`${base}/app/touch/templates/activate`, "POST", {
    templates: [TEMPLATE],
  });
  const cursor = (await send(`${base}/app/touch/meta`, "GET")).json.cursor;
  await first.close();
  const second = await startTestServer({}, first.dataDir);
  base = `${second.url}/v1/stream`;
  try {
    const stale = await send(`${base}/app/touch/wait`, "POST", {
      cursor,
      keys: [WATCH],
      timeoutMs: 5000,
    });
    assert.equal(stale.status, 200);
    assert.equal(stale.json.stale, true);
    assert.equal((stale.json.error as { code: string }).code, "stale");
    assert.notEqual(stale.json.cursor, cursor);
    const meta = await send(`${base}/app/touch/meta`, "GET");
    assert.equal(meta.json.activeTemplates, 1);
  } finally {
    await second.close();
  }
});

Deno.test("touch over HTTP: a wait longer than 5 s answers at its timeout, not 408", async () => {
  const server = await startTestServer();
  const base = `${server.url}/v1/stream`;
  try {
    await touchStream(base, "app");
    const r = await send(`${base}/app/touch/wait`, "POST", {
      cursor: "now",
      keys: ["a"],
      timeoutMs: 6000,
    });
    assert.equal(r.status, 200);
    assert.equal(r.json.touched, false);
  } finally {
    await server.close();
  }
});
