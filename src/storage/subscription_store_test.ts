import assert from "node:assert/strict";
import { openSqliteStore } from "./sqlite_store.ts";
import {
  openSqliteSubscriptionStore,
  type SubscriptionRow,
} from "./subscription_store.ts";

function row(id: string, generation = 0): SubscriptionRow {
  return {
    id,
    config: "{}",
    configHash: "h",
    createdAtMs: 1,
    deleted: false,
    status: "active",
    generation,
    wakeId: null,
    wakeSnapshot: null,
    holder: null,
    leaseExpiresAtMs: null,
    retryCount: 0,
    nextAttemptAtMs: null,
  };
}

Deno.test("SqliteSubscriptionStore round-trips state beside the WAL tables", async () => {
  const dir = await Deno.makeTempDir({ prefix: "streambed-subs-" });
  const path = `${dir}/wal.sqlite`;
  const wal = openSqliteStore(path, "os");
  try {
    const store = openSqliteSubscriptionStore(path, "os");
    store.commit([
      {
        op: "put_subscription",
        row: {
          ...row("a", 4),
          wakeId: "w_1",
          holder: "me",
          leaseExpiresAtMs: 99,
          status: "failed",
          retryCount: 2,
          nextAttemptAtMs: 5,
        },
      },
      { op: "put_subscription", row: row("b") },
      {
        op: "put_link",
        row: {
          subscriptionId: "a",
          path: "x/y",
          explicit: true,
          glob: false,
          ackedPos: 7,
        },
      },
      {
        op: "put_link",
        row: {
          subscriptionId: "b",
          path: "x/z",
          explicit: false,
          glob: true,
          ackedPos: 0,
        },
      },
      {
        op: "put_key",
        row: {
          kid: "ds_k",
          privateJwk: "{}",
          createdAtMs: 3,
          retiredAtMs: null,
        },
      },
      { op: "put_secret", name: "token", value: new Uint8Array([1, 2, 3]) },
    ]);
    store.commit([{ op: "purge_subscription", id: "b" }]);
    store.close();
    // The WAL's own connection keeps working alongside.
    await wal.commit([], 1);
    const reopened = openSqliteSubscriptionStore(path, "os");
    const snap = reopened.load();
    assert.equal(snap.subscriptions.length, 1);
    assert.equal(snap.subscriptions[0].generation, 4);
    assert.equal(snap.subscriptions[0].status, "failed");
    assert.equal(snap.subscriptions[0].nextAttemptAtMs, 5);
    assert.deepEqual(snap.links, [{
      subscriptionId: "a",
      path: "x/y",
      explicit: true,
      glob: false,
      ackedPos: 7,
    }]);
    assert.equal(snap.keys[0].kid, "ds_k");
    assert.deepEqual([...snap.secrets.get("token")!], [1, 2, 3]);
    reopened.close();
    assert.throws(() =>
      reopened.commit([{ op: "delete_links", subscriptionId: "a" }])
    );
  } finally {
    await wal.close();
    await Deno.remove(dir, { recursive: true });
  }
});
