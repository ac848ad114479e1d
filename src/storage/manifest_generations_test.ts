import assert from "node:assert/strict";
import { freshSchema, sharedPgCluster } from "./_pg_testing.ts";
import {
  PgManifestGenerations,
  PgStreamLeases,
} from "./manifest_generations.ts";
import { openPgStore } from "./pg_store.ts";
import { PgSyncClient } from "./pg_sync.ts";

Deno.test("PgManifestGenerations: of two publishers from one generation, one moves it", async () => {
  const cluster = await sharedPgCluster();
  const schema = freshSchema("gen");
  const options = {
    url: cluster.url,
    schema,
    poolSize: 1,
    statementTimeoutMs: 5000,
    connectTimeoutMs: 2000,
    durability: "fsync" as const,
  };
  const wal = await openPgStore(options);
  const clients = [0, 1].map(() => new PgSyncClient(options));
  try {
    const [a, b] = clients.map((c) => new PgManifestGenerations(c));
    assert.equal(a.current(1), 0);
    assert.ok(a.advance(1, 0, 10));
    assert.equal(b.advance(1, 0, 11), false);
    assert.equal(b.current(1), 1);
    assert.ok(b.advance(1, 1, 12));
    assert.equal(a.advance(1, 1, 13), false);
    assert.ok(a.advance(1, a.current(1), 14));
    assert.equal(b.current(1), 3);
  } finally {
    for (const c of clients) c.close();
    await wal.close();
  }
});

Deno.test("PgStreamLeases: one holder at a time; a new holder's token fences the old one's publications", async () => {
  const cluster = await sharedPgCluster();
  const options = {
    url: cluster.url,
    schema: freshSchema("lease"),
    poolSize: 1,
    statementTimeoutMs: 5000,
    connectTimeoutMs: 2000,
    durability: "fsync" as const,
  };
  await (await openPgStore(options)).close();
  const clients = [0, 1].map(() => new PgSyncClient(options));
  try {
    const [a, b] = clients.map((c, i) => new PgStreamLeases(c, `n${i}`, 900));
    const generations = new PgManifestGenerations(clients[0]);
    const tokenA = a.hold(7, 1000)!;
    assert.equal(typeof tokenA, "number");
    assert.equal(b.hold(7, 1500), undefined, "held by a");
    assert.equal(a.hold(7, 1100), tokenA, "a keeps it");
    assert.equal(a.hold(7, 1400), tokenA, "a renews it, same token");
    assert.equal(b.hold(7, 2200), undefined, "renewed until 2300");
    const tokenB = b.hold(7, 2400)!; // expired: b takes it
    assert.equal(tokenB, tokenA + 1);
    assert.ok(a.hold(7, 2401) === undefined, "a lost it");
    assert.equal(generations.advance(7, 0, 2500, tokenA), false);
    assert.ok(generations.advance(7, 0, 2500, tokenB));
    assert.equal(generations.advance(7, 1, 2600, tokenA), false);
    assert.ok(generations.advance(7, 1, 2600, tokenB));
    assert.equal(generations.current(7), 2);
  } finally {
    for (const c of clients) c.close();
  }
});
