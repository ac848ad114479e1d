import assert from "node:assert/strict";
import { StreamError } from "../errors.ts";
import { freshSchema, sharedPgCluster } from "../storage/_pg_testing.ts";
import { openPgStore } from "../storage/pg_store.ts";
import { PgSyncClient } from "../storage/pg_sync.ts";
import {
  type MadeCatalog,
  run,
  runCatalogContract,
} from "./_catalog_contract.ts";
import { PgRunCatalog } from "./pg_catalog.ts";

/** A migrated schema and a way to open clients on it. */
async function database(): Promise<() => PgSyncClient> {
  const cluster = await sharedPgCluster();
  const schema = freshSchema("rk");
  await (await openPgStore({
    url: cluster.url,
    schema,
    poolSize: 1,
    statementTimeoutMs: 5000,
    connectTimeoutMs: 2000,
    durability: "fsync",
  })).close();
  return () =>
    new PgSyncClient({
      url: cluster.url,
      schema,
      statementTimeoutMs: 5000,
      connectTimeoutMs: 2000,
      durability: "fsync",
    });
}

runCatalogContract("postgres", async (): Promise<MadeCatalog> => {
  const connect = await database();
  const clients: PgSyncClient[] = [];
  const open = () => {
    const client = connect();
    clients.push(client);
    return new PgRunCatalog(client);
  };
  return {
    catalog: open(),
    reopen: open,
    [Symbol.dispose]() {
      for (const c of clients) c.close();
    },
  };
});

Deno.test("postgres catalog: a commit raced by another node's commit is fenced", async () => {
  const connect = await database();
  const mine = connect();
  const theirs = connect();
  try {
    const other = new PgRunCatalog(theirs);
    // Between this catalog's read and its write, the other node commits.
    const racing = {
      query: mine.query.bind(mine),
      transaction: mine.transaction.bind(mine),
      transactionIf: (...args: Parameters<PgSyncClient["transactionIf"]>) => {
        other.commit(1, {
          add: [run(0, 0, 1)],
          retire: [],
          indexedThrough: 2,
          nowMs: 2,
        });
        return mine.transactionIf(...args);
      },
    };
    const catalog = new PgRunCatalog(racing as unknown as PgSyncClient);
    catalog.init(1, 7n, 1);
    assert.throws(
      () =>
        catalog.commit(1, {
          add: [run(0, 0, 3)],
          retire: [],
          indexedThrough: 4,
          nowMs: 3,
        }),
      (e: unknown) => e instanceof StreamError && e.kind === "fenced",
    );
    assert.deepEqual(other.runs(1).map((r) => r.objectKey), ["L0-0"]);
    assert.equal(other.state(1)?.indexedThrough, 2);
  } finally {
    mine.close();
    theirs.close();
  }
});
