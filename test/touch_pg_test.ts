/**
 * End to end with a real database as the source of changes: a throwaway
 * PostgreSQL cluster with `wal_level=logical`, a table with rows, and a
 * small bridge that reads the `test_decoding` output of a logical slot and
 * appends State Protocol records to a touch-enabled stream. A waiter on a
 * query's keys wakes when a matching row changes, and not when an unrelated
 * one does. Without PostgreSQL's binaries the test is skipped, saying so.
 */

import assert from "node:assert/strict";
import { findPgBin, startPgCluster } from "../src/storage/_pg_testing.ts";
import { KeyHasher } from "../src/touch/keys.ts";
import { startTestServer } from "./_server.ts";

let pgMissing = "";
try {
  findPgBin();
} catch (error) {
  pgMissing = (error as Error).message;
  console.warn(
    `touch_pg_test skipped: PostgreSQL is not installed (${pgMissing})`,
  );
}

type Row = Record<string, string | null>;

/** One `test_decoding` line to a State Protocol record; null for BEGIN/COMMIT. */
function recordOf(line: string): Record<string, unknown> | null {
  const m = /^table ([^:]+): (INSERT|UPDATE|DELETE): (.*)$/.exec(line);
  if (m === null) return null;
  const [, table, op, rest] = m;
  let before: Row | null = null;
  let after: Row | null = null;
  if (op === "UPDATE" && rest.startsWith("old-key: ")) {
    const split = rest.indexOf(" new-tuple: ");
    before = columns(rest.slice("old-key: ".length, split));
    after = columns(rest.slice(split + " new-tuple: ".length));
  } else if (op === "DELETE") {
    before = columns(rest);
  } else {
    after = columns(rest);
  }
  const row = (after ?? before)!;
  const record: Record<string, unknown> = {
    type: table,
    key: String(row.id),
    headers: { operation: op.toLowerCase() },
  };
  if (after !== null) record.value = after;
  if (before !== null) record.old_value = before;
  return record;
}

function columns(text: string): Row {
  const row: Row = {};
  const re = /(\w+)\[[^\]]+\]:('(?:[^']|'')*'|\S+)/g;
  for (const [, name, raw] of text.matchAll(re)) {
    row[name] = raw === "null"
      ? null
      : raw.startsWith("'")
      ? raw.slice(1, -1).replaceAll("''", "'")
      : raw;
  }
  return row;
}

async function post(url: string, body: unknown): Promise<Response> {
  return await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

Deno.test({
  name:
    "touch end to end: PostgreSQL logical decoding drives waits on a query's keys",
  ignore: pgMissing !== "",
  fn: async () => {
    const pg = await startPgCluster();
    const server = await startTestServer();
    const stream = `${server.url}/v1/stream/app.wal`;
    try {
      await pg.psql("ALTER SYSTEM SET wal_level = 'logical'");
      await pg.stop();
      await pg.start();
      await pg.psql(`CREATE TABLE todos (id int PRIMARY KEY, status text,
        tenant_id text, user_id text, title text);
        ALTER TABLE todos REPLICA IDENTITY FULL;
        INSERT INTO todos VALUES (1, 'open', 't1', 'u1', 'a'),
          (2, 'open', 't2', 'u2', 'b'), (3, 'done', 't1', 'u1', 'c');`);
      await pg.psql(
        "SELECT pg_create_logical_replication_slot('touch', 'test_decoding')",
      );
      // The bridge: slot output to State Protocol appends.
      const pump = async () => {
        const out = await pg.psql(
          "SELECT data FROM pg_logical_slot_get_changes('touch', NULL, NULL)",
        );
        const records = out.split("\n").map(recordOf).filter((r) => r !== null);
        if (records.length === 0) return 0;
        const r = await post(stream, records);
        assert.equal(r.status, 204, await r.text());
        return records.length;
      };
      let r = await fetch(stream, {
        method: "PUT",
        headers: { "content-type": "application/json" },
      });
      assert.equal(r.status, 201);
      await r.body?.cancel();
      r = await post(`${stream}/_profile`, {
        profile: { kind: "state-protocol", touch: { enabled: true } },
      });
      assert.equal(r.status, 200);
      await r.body?.cancel();
      // The query: open todos of tenant t1. Its template and keys.
      const template = {
        entity: "public.todos",
        fields: [
          { name: "tenant_id", encoding: "string" },
          { name: "status", encoding: "string" },
        ],
      };
      r = await post(`${stream}/touch/templates/activate`, {
        templates: [template],
      });
      const activated = await r.json();
      const tid = activated.activated[0].templateId as string;
      const hasher = await KeyHasher.create();
      assert.equal(
        tid,
        hasher.templateId("public.todos", ["status", "tenant_id"]),
      );
      const watch = hasher.watchKey(tid, ["open", "t1"]);
      const meta = await (await fetch(`${stream}/touch/meta`)).json();
      const rows = await pg.psql(
        "SELECT id FROM todos WHERE tenant_id = 't1' AND status = 'open'",
      );
      assert.equal(rows.trim(), "1");
      let answered = false;
      const waiting = post(`${stream}/touch/wait`, {
        cursor: meta.cursor,
        keys: [watch],
        timeoutMs: 30_000,
      }).then(async (res) => {
        answered = true;
        return await res.json();
      });
      // An unrelated row (tenant t2) changes: no wake.
      await pg.psql("UPDATE todos SET title = 'z' WHERE id = 2");
      assert.equal(await pump(), 1);
      const settled = await (await fetch(
        `${stream}/touch/meta?settle=flush&timeoutMs=10000`,
      )).json();
      assert.equal(settled.settled, true);
      assert.equal(answered, false);
      // The matching row leaves the result: the wait wakes.
      await pg.psql("UPDATE todos SET status = 'done' WHERE id = 1");
      assert.equal(await pump(), 1);
      const woken = await waiting;
      assert.equal(woken.touched, true);
      assert.equal(woken.effectiveWaitKind, "fineKey");
      assert.equal(
        (await pg.psql(
          "SELECT count(*) FROM todos WHERE tenant_id = 't1' AND status = 'open'",
        )).trim(),
        "0",
        "re-running the query sees the change",
      );
    } finally {
      await server.close();
      await pg.destroy();
    }
  },
});
