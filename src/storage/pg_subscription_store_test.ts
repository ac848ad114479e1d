import assert from "node:assert/strict";
// @ts-types="@types/pg"
import pg from "pg";
import { StreamError } from "../errors.ts";
import {
  parseSubsAnnouncement,
  parseSubsScope,
  SUBS_CHANNEL,
} from "./_pg_node.ts";
import { freshSchema, sharedPgCluster } from "./_pg_testing.ts";
import {
  subscriptionRow,
  subscriptionStoreContract,
} from "./_subscription_contract.ts";
import { openPgStore } from "./pg_store.ts";
import { PgSubscriptionStore } from "./pg_subscription_store.ts";
import { PgSyncClient } from "./pg_sync.ts";
import type { SubscriptionStore } from "./subscription_store.ts";

// One schema per directory, migrated by the WAL store as the server does.
const schemaOfDir = new Map<string, string>();

subscriptionStoreContract("PgSubscriptionStore", async (dir) => {
  const cluster = await sharedPgCluster();
  let schema = schemaOfDir.get(dir);
  if (schema === undefined) {
    schema = freshSchema("subs");
    schemaOfDir.set(dir, schema);
    const options = {
      url: cluster.url,
      schema,
      poolSize: 1,
      statementTimeoutMs: 5000,
      connectTimeoutMs: 2000,
      durability: "fsync" as const,
    };
    await (await openPgStore(options)).close();
  }
  const client = new PgSyncClient({
    url: cluster.url,
    schema,
    statementTimeoutMs: 5000,
    connectTimeoutMs: 2000,
    durability: "fsync",
  });
  const store = new PgSubscriptionStore(client);
  const owned: SubscriptionStore = {
    load: () => store.load(),
    commit: (ops) => store.commit(ops),
    close: () => {
      store.close();
      client.close();
    },
  };
  return owned;
});

Deno.test("PgSubscriptionStore shared by nodes: a new row never replaces another node's, commits announce their subscriptions, loadSome reads only those asked", async () => {
  const cluster = await sharedPgCluster();
  const schema = freshSchema("subshare");
  await (await openPgStore({
    url: cluster.url,
    schema,
    poolSize: 1,
    statementTimeoutMs: 5000,
    connectTimeoutMs: 2000,
    durability: "fsync",
  })).close();
  const clients = [0, 1].map(() =>
    new PgSyncClient({
      url: cluster.url,
      schema,
      statementTimeoutMs: 5000,
      connectTimeoutMs: 2000,
      durability: "fsync",
    })
  );
  const [one, two] = clients.map((client, i) =>
    new PgSubscriptionStore(client, { prefix: `${schema}/n${i}` })
  );
  const listener = new pg.Client({ connectionString: cluster.url });
  const heard: string[] = [];
  try {
    await listener.connect();
    listener.on("notification", (m) => heard.push(m.payload ?? ""));
    await listener.query(`LISTEN ${SUBS_CHANNEL}`);
    one.commit([
      {
        op: "put_subscription",
        row: subscriptionRow("a/b", 0, { config: "1" }),
      },
      {
        op: "put_link",
        row: {
          subscriptionId: "a/b",
          path: "s",
          explicit: true,
          glob: false,
          ackedPos: 0,
        },
      },
      { op: "put_subscription", row: subscriptionRow("other") },
    ]);
    assert.throws(
      () =>
        two.commit([{
          op: "put_subscription",
          row: subscriptionRow("a/b", 0, { config: "2" }),
        }]),
      (e) => e instanceof StreamError && e.kind === "fenced",
    );
    const some = two.loadSome!(["a/b", "missing"]);
    assert.deepEqual(some.subscriptions.map((r) => [r.id, r.config]), [[
      "a/b",
      "1",
    ]]);
    assert.deepEqual(some.links.map((l) => l.path), ["s"]);
    for (let i = 0; i < 100 && heard.length < 1; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    // One announcement (the fenced commit sent none), ids URL-encoded,
    // with the version the commit moved to.
    assert.deepEqual(heard, [`${schema}/n0|a%2Fb,other|1`]);
    assert.deepEqual(parseSubsScope("a%2Fb,other"), ["a/b", "other"]);
    assert.equal(parseSubsScope("*"), undefined);
    assert.deepEqual(parseSubsAnnouncement("a%2Fb|7|keys"), {
      ids: ["a/b"],
      change: { version: 7, keys: true },
    });
    assert.deepEqual(parseSubsAnnouncement("-|8"), {
      ids: [],
      change: { version: 8, keys: false },
    });
  } finally {
    await listener.end();
    for (const store of [one, two]) store.close();
    for (const client of clients) client.close();
  }
});

Deno.test("PgSubscriptionStore shared by nodes: a change whose announcement was lost is found by the second version check", async () => {
  const cluster = await sharedPgCluster();
  const schema = freshSchema("subver");
  await (await openPgStore({
    url: cluster.url,
    schema,
    poolSize: 1,
    statementTimeoutMs: 5000,
    connectTimeoutMs: 2000,
    durability: "fsync",
  })).close();
  const clients = [0, 1].map(() =>
    new PgSyncClient({
      url: cluster.url,
      schema,
      statementTimeoutMs: 5000,
      connectTimeoutMs: 2000,
      durability: "fsync",
    })
  );
  const [one, two] = clients.map((client, i) =>
    new PgSubscriptionStore(client, { prefix: `${schema}/n${i}` })
  );
  try {
    one.load();
    two.load();
    assert.equal(two.behind!(), false, "nothing changed");
    // Two's own commit (version 1) needs no reload.
    two.commit([{ op: "put_subscription", row: subscriptionRow("x") }]);
    assert.equal(two.behind!(), false);
    // One's commit (version 2) announced and applied on two: current.
    one.commit([{ op: "put_subscription", row: subscriptionRow("y") }]);
    assert.equal(two.behind!(), false, "maybe still on its way");
    two.applied!(2);
    assert.equal(two.behind!(), false);
    // One's next commits (versions 3, 4): 4 is heard, 3 never is.
    one.commit([{ op: "put_subscription", row: subscriptionRow("z") }]);
    one.commit([{ op: "put_key", row: keyRow("k1") }]);
    two.applied!(4);
    assert.equal(two.behind!(), false, "one check may precede the news");
    assert.equal(two.behind!(), true, "still missing at the next check");
    assert.equal(two.behind!(), true, "until it reloads");
    assert.deepEqual(two.loadKeys!().map((k) => k.kid), ["k1"]);
    two.load();
    assert.equal(two.behind!(), false);
  } finally {
    for (const store of [one, two]) store.close();
    for (const client of clients) client.close();
  }
});

function keyRow(kid: string) {
  return { kid, privateJwk: "{}", createdAtMs: 1, retiredAtMs: null };
}
