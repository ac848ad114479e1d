import assert from "node:assert/strict";
// @ts-types="@types/pg"
import pg from "pg";
import { StartupError } from "../errors.ts";
import {
  appendRecord,
  streamRow,
  walStoreCompactionContract,
  walStoreContract,
  walStoreKeysContract,
  walStoreReleaseContract,
  walStoreSegmentContract,
} from "./_contract.ts";
import {
  freshSchema,
  PG_TEST_PASSWORD,
  sharedPgCluster,
} from "./_pg_testing.ts";
import { MIGRATIONS, PG_SCHEMA_VERSION } from "./_pg_schema.ts";
import { openPgStore, type PgStoreOptions } from "./pg_store.ts";
import { isRetryable, isStale } from "./wal_store.ts";

async function options(
  schema: string,
  extra: Partial<PgStoreOptions> = {},
): Promise<PgStoreOptions> {
  const cluster = await sharedPgCluster();
  return {
    url: cluster.url,
    schema,
    poolSize: 4,
    statementTimeoutMs: 5000,
    connectTimeoutMs: 2000,
    durability: "fsync",
    ...extra,
  };
}

// The contract reopens a store by directory: one schema per directory.
const schemaOfDir = new Map<string, string>();
const openPg = async (dir: string) => {
  if (!schemaOfDir.has(dir)) schemaOfDir.set(dir, freshSchema("contract"));
  return openPgStore(await options(schemaOfDir.get(dir)!));
};
walStoreContract("PgStore", openPg);
walStoreSegmentContract("PgStore", openPg);
walStoreCompactionContract("PgStore", openPg);
walStoreKeysContract("PgStore", openPg);
walStoreReleaseContract("PgStore", openPg);

const bytes = (s: string) => new TextEncoder().encode(s);

Deno.test("PgStore migrates once under concurrent opens and stamps the version", async () => {
  const schema = freshSchema();
  const stores = await Promise.all(
    [1, 2, 3].map(async () => openPgStore(await options(schema))),
  );
  for (const store of stores) await store.close();
  const cluster = await sharedPgCluster();
  assert.equal(
    (await cluster.psql(`SELECT version FROM ${schema}.schema_version`)).trim(),
    String(PG_SCHEMA_VERSION),
  );
});

Deno.test("PgStore refuses a schema stamped with a newer version, in one line", async () => {
  const schema = freshSchema();
  await (await openPgStore(await options(schema))).close();
  const cluster = await sharedPgCluster();
  await cluster.psql(`UPDATE ${schema}.schema_version SET version = 999`);
  await assert.rejects(
    async () => openPgStore(await options(schema)),
    (error: Error) => {
      assert.ok(error instanceof StartupError);
      assert.match(error.message, /version 999, newer than this server's/);
      assert.ok(!error.message.includes("\n"));
      return true;
    },
  );
});

Deno.test("PgStore upgrades a version-2 schema: streams kept, schema registries stored from then on", async () => {
  const schema = freshSchema();
  const cluster = await sharedPgCluster();
  await cluster.psql(
    `CREATE SCHEMA ${schema}; SET search_path TO ${schema};
     ${MIGRATIONS[0]}; ${MIGRATIONS[1]};
     CREATE TABLE schema_version (version integer NOT NULL);
     INSERT INTO schema_version VALUES (2);
     INSERT INTO streams (id, name, content_type, created_at_ms, accessed_at_ms,
       tail_pos, closed) VALUES (1, 'old', 'application/json', 1, 1, 0, false);`,
  );
  const store = await openPgStore(await options(schema));
  try {
    assert.equal(
      (await cluster.psql(`SELECT version FROM ${schema}.schema_version`))
        .trim(),
      String(PG_SCHEMA_VERSION),
    );
    let snapshot = await store.load();
    assert.deepEqual(snapshot.streams.map((s) => s.name), ["old"]);
    assert.deepEqual(snapshot.schemaRegistries, []);
    await store.commit([
      { op: "schema_registry", streamId: 1, registry: '{"v":1}' },
      // A registry for a stream the WAL does not hold stores nothing.
      { op: "schema_registry", streamId: 9, registry: '{"v":9}' },
    ], 2);
    snapshot = await store.load();
    assert.deepEqual(snapshot.schemaRegistries, [
      { streamId: 1, registry: '{"v":1}' },
    ]);
  } finally {
    await store.close();
  }
});

Deno.test("PgStore never puts the password in its errors", async () => {
  const cluster = await sharedPgCluster();
  const wrong = "wr0ng-Pass%word";
  const attempts = [
    cluster.urlWithPassword(wrong), // authentication fails
    `postgres://streambed:${wrong}@127.0.0.1:1/postgres`, // nothing listens
    `postgres://streambed:${wrong}@[not a host/postgres`, // malformed
  ];
  for (const url of attempts) {
    const error = await openPgStore(
      await options(freshSchema(), { url, connectTimeoutMs: 1000 }),
    ).then(() => undefined, (e: Error) => e);
    assert.ok(error instanceof StartupError, String(error));
    const text = `${error.message} ${error.stack} ${String(error.cause)}`;
    assert.ok(!text.includes(wrong), text);
    assert.ok(!text.includes(encodeURIComponent(wrong)), text);
    assert.ok(!text.includes(PG_TEST_PASSWORD), text);
    assert.match(error.message, /--postgres-url/);
  }
});

Deno.test("PgStore refuses synchronous_commit=off unless durability is os", async () => {
  const cluster = await sharedPgCluster();
  const schema = freshSchema();
  await cluster.psql(
    `ALTER ROLE streambed IN DATABASE postgres SET synchronous_commit = off`,
  );
  try {
    await assert.rejects(
      async () => openPgStore(await options(schema)),
      /synchronous_commit=off/,
    );
    const os = await openPgStore(await options(schema, { durability: "os" }));
    await os.close();
  } finally {
    await cluster.psql(
      `ALTER ROLE streambed IN DATABASE postgres RESET synchronous_commit`,
    );
  }
});

Deno.test("PgStore reports a chunk whose length disagrees with its positions as corrupt", async () => {
  const schema = freshSchema();
  const store = await openPgStore(await options(schema));
  try {
    await store.commit([{ op: "create", stream: streamRow(1, "s") }], 2);
    const cluster = await sharedPgCluster();
    await cluster.psql(
      `INSERT INTO ${schema}.chunks (stream_id, start_pos, end_pos, data) VALUES (1, 0, 10, '\\x0102')`,
    );
    await assert.rejects(
      store.readChunks(1, 0, 10, 100),
      (e: Error) => (e as { kind?: string }).kind === "corrupt",
    );
  } finally {
    await store.close();
  }
});

Deno.test("PgStore reads long streams in pages and stops at the byte cap", async () => {
  const store = await openPgStore(await options(freshSchema()));
  try {
    await store.commit([{ op: "create", stream: streamRow(1, "s") }], 2);
    const ops = [];
    for (let i = 0; i < 100; i++) {
      ops.push(appendRecord(1, i * 3, bytes(String(i).padStart(3, "0"))));
    }
    await store.commit(ops, 2);
    const all = await store.readChunks(1, 0, 300, 1 << 20);
    assert.equal(all.length, 100);
    assert.equal(
      all.map((c) => new TextDecoder().decode(c.data)).join(""),
      [
        ...Array(100).keys(),
      ].map((i) => String(i).padStart(3, "0")).join(""),
    );
    const capped = await store.readChunks(1, 31, 300, 90);
    assert.equal(capped[0].startPos, 30);
    assert.equal(capped.length, 30);
  } finally {
    await store.close();
  }
});

Deno.test("PgStore waits for the rows another transaction holds, locked in id order, without deadlock", async () => {
  const schema = freshSchema();
  const store = await openPgStore(await options(schema));
  const cluster = await sharedPgCluster();
  const other = new pg.Client({
    connectionString: cluster.url,
    options: `-c search_path=${schema}`,
  });
  await other.connect();
  try {
    await store.commit([
      { op: "create", stream: streamRow(1, "a") },
      { op: "create", stream: streamRow(2, "b") },
    ], 3);
    // Another writer holds stream 1's row; a batch touching 2 then 1 locks
    // 1 first (id order), so it waits holding nothing.
    await other.query("SET deadlock_timeout = '100ms'"); // it would detect first
    await other.query("BEGIN");
    await other.query("SELECT id FROM streams WHERE id = 1 FOR UPDATE");
    let done = false;
    const pending = store.commit([
      appendRecord(2, 0, bytes("bb")),
      appendRecord(1, 0, bytes("aa")),
    ], 3).then(() => done = true);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(done, false, "the commit waits for the row lock");
    // The holder now takes stream 2 too. Had the batch locked in arrival
    // order (2, then 1), this would deadlock and fail here with 40P01.
    await other.query("SELECT id FROM streams WHERE id = 2 FOR UPDATE");
    await other.query("COMMIT");
    await pending;
    const snapshot = await store.load();
    assert.deepEqual(snapshot.streams.map((s) => s.tailPos), [2, 2]);
  } finally {
    await other.end();
    await store.close();
  }
});

Deno.test("PgStore: a lost connection fails the commit as retryable, keeps none of it, and the next commit reconnects", async () => {
  const schema = freshSchema();
  const store = await openPgStore(await options(schema));
  const cluster = await sharedPgCluster();
  try {
    await store.commit([{ op: "create", stream: streamRow(1, "s") }], 2);
    await store.commit([appendRecord(1, 0, bytes("one"))], 2);
    // Cut every connection of the store (its pool's idle ones included).
    await cluster.psql(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'streambed'`,
    );
    // The pool may hand out a dead idle connection first: that commit fails
    // as retryable; the next one connects afresh.
    let failure: unknown;
    for (let i = 0; i < 5; i++) {
      try {
        await store.commit([appendRecord(1, 3, bytes("two"))], 2);
        failure = undefined;
        break;
      } catch (error) {
        failure = error;
        assert.ok(isRetryable(error), String(error));
        const snapshot = await store.load();
        assert.equal(snapshot.streams[0].tailPos, 3, "nothing kept");
      }
    }
    assert.equal(failure, undefined);
    const chunks = await store.readChunks(1, 0, 6, 100);
    assert.equal(
      chunks.map((c) => new TextDecoder().decode(c.data)).join(""),
      "onetwo",
    );
  } finally {
    await store.close();
  }
});

Deno.test("PgStore: while PostgreSQL is down reads and commits fail as retryable; after it returns they succeed", async () => {
  const schema = freshSchema();
  const store = await openPgStore(await options(schema));
  const cluster = await sharedPgCluster();
  try {
    await store.commit([{ op: "create", stream: streamRow(1, "s") }], 2);
    await cluster.stop();
    try {
      await assert.rejects(
        store.commit([appendRecord(1, 0, bytes("x"))], 2),
        (e) => isRetryable(e),
      );
      await assert.rejects(
        store.readChunks(1, 0, 1, 100),
        (e) => isRetryable(e),
      );
      await assert.rejects(store.load(), (e) => isRetryable(e));
    } finally {
      await cluster.start();
    }
    await store.commit([appendRecord(1, 0, bytes("x"))], 2);
    assert.equal((await store.load()).streams[0].tailPos, 1);
  } finally {
    await store.close();
  }
});

Deno.test("pg under Deno delivers NOTIFY to a LISTENing connection after COMMIT", async () => {
  const cluster = await sharedPgCluster();
  const listener = new pg.Client({ connectionString: cluster.url });
  const sender = new pg.Client({ connectionString: cluster.url });
  await listener.connect();
  await sender.connect();
  try {
    await listener.query("LISTEN streambed_check");
    const received = new Promise<string | undefined>((resolve) =>
      listener.on("notification", (m) => resolve(m.payload))
    );
    await sender.query("BEGIN");
    await sender.query("SELECT pg_notify('streambed_check', '7:42')");
    await sender.query("COMMIT");
    assert.equal(await received, "7:42");
  } finally {
    await listener.end();
    await sender.end();
  }
});

/**
 * A TCP proxy in front of the cluster that, once armed, cuts the next
 * connection that sends `COMMIT`: before passing it on (the database never
 * sees it), after (the database commits, the answer is lost), or by going
 * silent with both sockets open (a network partition). The store must then
 * learn the outcome and report it truly.
 */
function commitCutter(targetPort: number) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let armed: "before" | "after" | "hang" | undefined;
  const hung: Deno.Conn[] = [];
  const conns = new Set<Deno.Conn>();
  const pipe = async (
    from: Deno.Conn,
    to: Deno.Conn,
    inspect: boolean,
    cut: { now: boolean },
  ) => {
    const buffer = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        const n = await from.read(buffer);
        if (n === null || cut.now) break;
        const data = buffer.subarray(0, n);
        const commit = inspect && armed !== undefined &&
          new TextDecoder().decode(data).includes("COMMIT\0");
        if (commit && armed === "before") {
          armed = undefined;
          break;
        }
        if (commit && armed === "hang") {
          // Swallow it and everything after, keeping both sockets open: a
          // network that drops packets without resetting the connection.
          armed = undefined;
          cut.now = true;
          hung.push(from, to);
          return;
        }
        await to.write(data);
        if (commit && armed === "after") {
          armed = undefined;
          cut.now = true; // the reply is dropped
          await new Promise((r) => setTimeout(r, 300)); // let it commit
          break;
        }
      }
    } catch { /* closed */ }
    for (const c of [from, to]) {
      try {
        c.close();
      } catch { /* already */ }
      conns.delete(c);
    }
  };
  const accepting = (async () => {
    for await (const client of listener) {
      const server = await Deno.connect({
        hostname: "127.0.0.1",
        port: targetPort,
      });
      conns.add(client);
      conns.add(server);
      const cut = { now: false };
      pipe(client, server, true, cut);
      pipe(server, client, false, cut);
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    arm(when: "before" | "after" | "hang") {
      armed = when;
    },
    async close() {
      listener.close();
      for (const c of hung) conns.add(c);
      for (const c of conns) {
        try {
          c.close();
        } catch { /* already */ }
      }
      await accepting;
    },
  };
}

Deno.test("PgStore learns the outcome of a commit whose connection dropped during COMMIT", async () => {
  const cluster = await sharedPgCluster();
  const proxy = commitCutter(cluster.port);
  const url = cluster.url.replace(`:${cluster.port}/`, `:${proxy.port}/`);
  const store = await openPgStore(await options(freshSchema(), { url }));
  try {
    await store.commit([{ op: "create", stream: streamRow(1, "s") }], 2);
    // Cut after COMMIT reached the database: it committed, so the commit
    // resolves (the store asked txid_status on a new connection).
    proxy.arm("after");
    await store.commit([appendRecord(1, 0, bytes("kept"))], 2);
    assert.equal((await store.load()).streams[0].tailPos, 4);
    // Cut before COMMIT reached it: rolled back, reported as retryable.
    proxy.arm("before");
    await assert.rejects(
      store.commit([appendRecord(1, 4, bytes("lost"))], 2),
      (e) => isRetryable(e),
    );
    assert.equal((await store.load()).streams[0].tailPos, 4);
    const chunks = await store.readChunks(1, 0, 8, 100);
    assert.deepEqual(chunks.map((c) => new TextDecoder().decode(c.data)), [
      "kept",
    ]);
  } finally {
    await store.close();
    await proxy.close();
  }
});

Deno.test("PgStore keeps quotes, backslashes and non-ASCII in names, producers and Stream-Seq exactly", async () => {
  const schema = freshSchema();
  const store = await openPgStore(await options(schema));
  const odd = `it's a \\ "name"; DROP TABLE streams; -- é 🚀 \\x00`;
  try {
    const row = streamRow(1, odd, { contentType: `text/plain; q='\\'` });
    await store.commit([
      { op: "create", stream: row },
      {
        op: "append",
        streamId: 1,
        chunk: {
          startPos: 0,
          endPos: 3,
          data: bytes("a'b"),
          lengths: null,
          keys: null,
          times: null,
        },
        tail: {
          tailPos: 3,
          closed: false,
          closedBy: null,
          streamSeq: odd,
          accessedAtMs: 7,
          lastTimeMs: 0,
        },
      },
      {
        op: "producer",
        row: {
          streamId: 1,
          producerId: odd,
          epoch: 1,
          seq: 2,
          updatedAtMs: 7,
        },
      },
    ], 2);
    const snapshot = await store.load();
    assert.equal(snapshot.streams[0].name, odd);
    assert.equal(snapshot.streams[0].contentType, row.contentType);
    assert.equal(snapshot.streams[0].streamSeq, odd);
    assert.equal((await store.loadProducers(1))[0].producerId, odd);
    const [chunk] = await store.readChunks(1, 0, 3, 100);
    assert.equal(new TextDecoder().decode(chunk.data), "a'b");
  } finally {
    await store.close();
  }
});

Deno.test("PgStore settles a commit whose connection went silent during COMMIT: it ends that session and reports the rollback", async () => {
  const cluster = await sharedPgCluster();
  const proxy = commitCutter(cluster.port);
  const url = cluster.url.replace(`:${cluster.port}/`, `:${proxy.port}/`);
  const store = await openPgStore(
    await options(freshSchema(), { url, statementTimeoutMs: 300 }),
  );
  try {
    await store.commit([{ op: "create", stream: streamRow(1, "s") }], 2);
    proxy.arm("hang");
    await assert.rejects(
      store.commit([appendRecord(1, 0, bytes("lost"))], 2),
      (e) => isRetryable(e),
    );
    // The stuck session was ended, so its row lock is free again.
    await store.commit([appendRecord(1, 0, bytes("next"))], 2);
    const chunks = await store.readChunks(1, 0, 4, 100);
    assert.deepEqual(chunks.map((c) => new TextDecoder().decode(c.data)), [
      "next",
    ]);
  } finally {
    await store.close();
    await proxy.close();
  }
});

Deno.test("PgStore retries a commit chosen as a deadlock victim, and applies it once", async () => {
  const schema = freshSchema();
  const store = await openPgStore(await options(schema));
  const cluster = await sharedPgCluster();
  const other = new pg.Client({
    connectionString: cluster.url,
    options: `-c search_path=${schema}`,
  });
  await other.connect();
  try {
    await store.commit([
      { op: "create", stream: streamRow(1, "a") },
      { op: "create", stream: streamRow(2, "b") },
    ], 3);
    // The other session takes 2 then 1 (out of order) and waits longer
    // before checking for deadlock, so the store's transaction (holding 1,
    // waiting for 2) is the one PostgreSQL aborts.
    await other.query("SET deadlock_timeout = '20s'");
    await other.query("BEGIN");
    await other.query("SELECT id FROM streams WHERE id = 2 FOR UPDATE");
    const pending = store.commit([
      appendRecord(1, 0, bytes("aa")),
      appendRecord(2, 0, bytes("bb")),
    ], 3);
    // Wait until the store holds 1 and waits for 2 (an ungranted lock).
    for (let i = 0; i < 200; i++) {
      const waiting = await cluster.psql(
        "SELECT count(*) FROM pg_locks WHERE NOT granted",
      );
      if (Number(waiting) > 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    await other.query("SELECT id FROM streams WHERE id = 1 FOR UPDATE");
    await other.query("COMMIT");
    await pending; // retried after 40P01
    const snapshot = await store.load();
    assert.deepEqual(snapshot.streams.map((s) => s.tailPos), [2, 2]);
    assert.equal((await store.readChunks(1, 0, 2, 100)).length, 1);
    assert.equal((await store.readChunks(2, 0, 2, 100)).length, 1);
  } finally {
    await other.end();
    await store.close();
  }
});

Deno.test("PgStore takes creates of ids it reserved in an earlier commit (the engine hands ids out ahead of the flush), and refuses ids another store took", async () => {
  const schema = freshSchema();
  const store = await openPgStore(await options(schema));
  const other = await openPgStore(await options(schema));
  try {
    await store.load();
    // Ids 1..3 handed out; the first flush commits only id 1.
    await store.commit([{ op: "create", stream: streamRow(1, "a") }], 4);
    await store.commit([
      { op: "create", stream: streamRow(2, "b") },
      { op: "create", stream: streamRow(3, "c") },
    ], 4);
    // Another store that loaded now reserves 4 and 5.
    await other.load();
    await other.commit([{ op: "create", stream: streamRow(4, "d") }], 6);
    // The first store, not knowing, hands out 4 again: stale, nothing kept.
    await assert.rejects(
      store.commit([{ op: "create", stream: streamRow(4, "e") }], 5),
      (e: Error) => isStale(e),
    );
    const names = (await store.load()).streams.map((s) => s.name).sort();
    assert.deepEqual(names, ["a", "b", "c", "d"]);
  } finally {
    await store.close();
    await other.close();
  }
});
