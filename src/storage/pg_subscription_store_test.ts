import { freshSchema, sharedPgCluster } from "./_pg_testing.ts";
import { subscriptionStoreContract } from "./_subscription_contract.ts";
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
