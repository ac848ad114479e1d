import assert from "node:assert/strict";
import { freshSchema, sharedPgCluster } from "./_pg_testing.ts";
import { PgSyncClient } from "./pg_sync.ts";
import { QUERY_TIMEOUT_MARGIN_MS } from "../limits.ts";

Deno.test("PgSyncClient: a transaction left open by a stopped process cannot hold its locks past the statement timeout plus the margin", async () => {
  const cluster = await sharedPgCluster();
  const client = new PgSyncClient({
    url: cluster.url,
    schema: freshSchema("sync"),
    statementTimeoutMs: 3000,
    connectTimeoutMs: 2000,
    durability: "fsync",
  });
  try {
    const [row] = client.query(
      "SELECT setting FROM pg_settings WHERE name = $1",
      ["idle_in_transaction_session_timeout"],
      "test",
    );
    assert.equal(Number(row.setting), 3000 + QUERY_TIMEOUT_MARGIN_MS);
  } finally {
    client.close();
  }
});
