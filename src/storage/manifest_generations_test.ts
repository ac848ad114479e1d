import assert from "node:assert/strict";
import { freshSchema, sharedPgCluster } from "./_pg_testing.ts";
import { PgManifestGenerations } from "./manifest_generations.ts";
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
