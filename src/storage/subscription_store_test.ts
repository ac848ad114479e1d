import assert from "node:assert/strict";
import { openSqliteStore } from "./sqlite_store.ts";
import { subscriptionStoreContract } from "./_subscription_contract.ts";
import { openSqliteSubscriptionStore } from "./subscription_store.ts";

subscriptionStoreContract(
  "SqliteSubscriptionStore",
  (dir) => openSqliteSubscriptionStore(`${dir}/wal.sqlite`, "os"),
);

Deno.test("SqliteSubscriptionStore shares the WAL's file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "streambed-subs-" });
  const path = `${dir}/wal.sqlite`;
  const wal = openSqliteStore(path, "os");
  try {
    const store = openSqliteSubscriptionStore(path, "os");
    store.commit([{ op: "put_secret", name: "t", value: new Uint8Array([1]) }]);
    // The WAL's own connection keeps working alongside.
    await wal.commit([], 1);
    assert.deepEqual([...store.load().secrets.get("t")!], [1]);
    store.close();
  } finally {
    await wal.close();
    await Deno.remove(dir, { recursive: true });
  }
});
