/**
 * A server on the PostgreSQL WAL, as clients and operators see it: SIGKILL
 * mid-appends loses nothing acknowledged; PostgreSQL going away answers
 * 503 (the process stays up) and service resumes when it returns; start-up
 * failures are one line and never show the password.
 */

import assert from "node:assert/strict";
import { testConfig } from "../src/config.ts";
import { startServer } from "../src/server.ts";
import {
  freshSchema,
  PG_TEST_PASSWORD,
  sharedPgCluster,
} from "../src/storage/_pg_testing.ts";
import { sigkillScenario } from "./_crash.ts";

async function pgArgs(schema: string): Promise<string[]> {
  const cluster = await sharedPgCluster();
  return [
    "--storage",
    "postgres",
    "--postgres-url",
    cluster.url,
    "--postgres-schema",
    schema,
  ];
}

Deno.test("PostgreSQL WAL: SIGKILL mid-flight loses no acknowledged append and duplicates none", async () => {
  await sigkillScenario(await pgArgs(freshSchema("crash")));
});

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** Runs main.ts to its exit; returns the code and what it printed. */
async function runMain(
  args: string[],
): Promise<{ code: number; text: string }> {
  const dataDir = await Deno.makeTempDir({ prefix: "streambed-pg-start-" });
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN, "--port", "0", "--data-dir", dataDir, ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decode = (b: Uint8Array) => new TextDecoder().decode(b);
    return { code: out.code, text: decode(out.stdout) + decode(out.stderr) };
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
}

Deno.test("PostgreSQL WAL: a wrong password or a newer schema stops the start in one line, without the password", async () => {
  const cluster = await sharedPgCluster();
  const wrong = "n0t-the-Pw";
  const badPassword = await runMain([
    "--storage",
    "postgres",
    "--postgres-url",
    cluster.urlWithPassword(wrong),
    "--postgres-schema",
    freshSchema(),
  ]);
  assert.equal(badPassword.code, 1, badPassword.text);
  assert.match(
    badPassword.text,
    /^error: cannot use PostgreSQL at postgres:\/\/streambed:\*\*\*@127\.0\.0\.1:\d+\/postgres \(--postgres-url\): password authentication failed/,
  );
  assert.equal(badPassword.text.trim().split("\n").length, 1, badPassword.text);
  assert.ok(!badPassword.text.includes(wrong), badPassword.text);

  const schema = freshSchema();
  const args = await pgArgs(schema);
  const first = await runMain([...args, "--print-config"]);
  assert.equal(first.code, 0);
  assert.ok(!first.text.includes(PG_TEST_PASSWORD), first.text);
  await cluster.psql(`CREATE SCHEMA ${schema}`);
  await cluster.psql(
    `CREATE TABLE ${schema}.schema_version (version integer NOT NULL); INSERT INTO ${schema}.schema_version VALUES (1000)`,
  );
  const newer = await runMain(args);
  assert.equal(newer.code, 1, newer.text);
  assert.match(newer.text, /^error: .*version 1000, newer than this server's/);
  assert.equal(newer.text.trim().split("\n").length, 1, newer.text);
  assert.ok(!newer.text.includes(PG_TEST_PASSWORD), newer.text);
});

const json = { "content-type": "application/json" };

Deno.test("PostgreSQL WAL: while the database is down writes and reads get 503 with Retry-After; once it is back they succeed without a restart", async () => {
  const cluster = await sharedPgCluster();
  const dataDir = await Deno.makeTempDir({ prefix: "streambed-pg-down-" });
  const fatal: unknown[] = [];
  const server = await startServer(
    testConfig(dataDir, {
      storage: {
        backend: "postgres",
        postgresUrl: cluster.url,
        postgresSchema: freshSchema("down"),
        postgresConnectTimeoutMs: 1000,
      },
    }),
    { onFatal: (error) => fatal.push(error) },
  );
  const url = `${server.url}/v1/stream/down`;
  const append = async (message: string) => {
    const response = await fetch(url, {
      method: "POST",
      headers: json,
      body: JSON.stringify([message]),
    });
    await response.body?.cancel();
    return response;
  };
  try {
    assert.equal(
      (await fetch(url, { method: "PUT", headers: json })).status,
      201,
    );
    assert.equal((await append("before")).status, 204);
    await cluster.stop();
    let restarted = false;
    try {
      const refused = await append("while-down");
      assert.equal(refused.status, 503);
      assert.ok(Number(refused.headers.get("retry-after")) >= 1);
      const read = await fetch(`${url}?offset=-1`);
      assert.equal(read.status, 503);
      const body = await read.json();
      assert.equal(body.error.code, "unavailable");
      assert.ok(!JSON.stringify(body).includes(PG_TEST_PASSWORD));
      // Still refused a moment later: the writer is paused, not dead.
      assert.equal((await append("still-down")).status, 503);
      const health = await fetch(`${server.url}/health`);
      assert.equal(health.status, 503);
      const report = await health.json();
      assert.equal(report.status, "unavailable");
      assert.equal(report.database.reachable, false);
      await cluster.start();
      restarted = true;
    } finally {
      if (!restarted) await cluster.start();
    }
    // Writes resume once the engine has reloaded the WAL from PostgreSQL.
    let status = 0;
    for (let i = 0; i < 200 && status !== 204; i++) {
      status = (await append(`after-${i}`)).status;
      if (status !== 204) {
        assert.equal(status, 503);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    assert.equal(status, 204, "appends succeed again");
    const health = await fetch(`${server.url}/health`);
    assert.equal(health.status, 200);
    assert.equal((await health.json()).database.reachable, true);
    const read = await fetch(`${url}?offset=-1`);
    assert.equal(read.status, 200);
    const messages = await read.json() as string[];
    assert.equal(messages[0], "before");
    assert.ok(
      !messages.includes("while-down") && !messages.includes("still-down"),
    );
    assert.match(messages[messages.length - 1], /^after-\d+$/);
    assert.equal(messages.length, 2, "refused appends left nothing behind");
    assert.deepEqual(fatal, [], "the server never gave up");
  } finally {
    await server.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("PostgreSQL WAL: a schema registry and the keys its pointer gives survive a restart", async () => {
  const cluster = await sharedPgCluster();
  const schema = freshSchema("registry");
  const open = async (dataDir: string) =>
    await startServer(
      testConfig(dataDir, {
        storage: {
          backend: "postgres",
          postgresUrl: cluster.url,
          postgresSchema: schema,
        },
      }),
    );
  const send = async (url: string, method: string, body?: unknown) => {
    const response = await fetch(url, {
      method,
      headers: json,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, text: await response.text() };
  };
  let dataDir = await Deno.makeTempDir({ prefix: "streambed-pg-schema-" });
  let server = await open(dataDir);
  try {
    let url = `${server.url}/v1/stream/orders`;
    assert.equal((await send(url, "PUT")).status, 201);
    const set = await send(`${url}/_schema`, "POST", {
      schema: { type: "object", required: ["id"] },
      routingKey: { jsonPointer: "/id", required: true },
    });
    assert.equal(set.status, 200, set.text);
    const appended = await send(url, "POST", [{ id: "a" }, { id: "b" }]);
    assert.equal(appended.status, 204, appended.text);
    assert.equal((await send(url, "POST", [{ id: 1 }])).status, 400);
    const registry = (await send(`${url}/_schema`, "GET")).text;
    await server.close();
    await Deno.remove(dataDir, { recursive: true });
    // Everything lives in PostgreSQL: a fresh data dir sees it all.
    dataDir = await Deno.makeTempDir({ prefix: "streambed-pg-schema-" });
    server = await open(dataDir);
    url = `${server.url}/v1/stream/orders`;
    assert.equal((await send(`${url}/_schema`, "GET")).text, registry);
    const keyed = await send(`${url}/pk/b`, "GET");
    assert.equal(keyed.status, 200);
    assert.deepEqual(JSON.parse(keyed.text), [{ id: "b" }]);
    assert.equal((await send(url, "POST", [{ x: 1 }])).status, 400);
    assert.equal((await send(url, "POST", [{ id: "b", n: 2 }])).status, 204);
    assert.deepEqual(JSON.parse((await send(`${url}/pk/b`, "GET")).text), [
      { id: "b" },
      { id: "b", n: 2 },
    ]);
  } finally {
    await server.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});
