import assert from "node:assert/strict";
import { StreamError } from "../errors.ts";
import { openSqliteSubscriptionStore } from "../storage/subscription_store.ts";
import type { SubscriptionRow } from "../storage/subscription_store.ts";
import { FakeStreams, pullWake } from "./_testing.ts";
import { newSub, SubscriptionRegistry } from "./registry.ts";
import { canonicalConfig } from "./wire.ts";

function row(id: string, deleted = false): SubscriptionRow {
  return {
    id,
    config: canonicalConfig(pullWake(["a"], "g/*")),
    configHash: "h",
    createdAtMs: 1,
    deleted,
    status: "active",
    generation: 3,
    wakeId: null,
    wakeSnapshot: null,
    holder: null,
    leaseExpiresAtMs: null,
    retryCount: 0,
    nextAttemptAtMs: null,
  };
}

Deno.test("SubscriptionRegistry.load() rebuilds subscriptions, links, tombstones and the stream index", () => {
  const store = openSqliteSubscriptionStore(":memory:", "os");
  try {
    store.commit([
      { op: "put_subscription", row: row("live") },
      { op: "put_subscription", row: row("gone", true) },
      {
        op: "put_link",
        row: {
          subscriptionId: "live",
          path: "a",
          explicit: true,
          glob: false,
          ackedPos: 7,
        },
      },
    ]);
    const registry = new SubscriptionRegistry(store, new FakeStreams(), 10);
    registry.load();
    assert.equal(registry.size, 1);
    assert.equal(registry.get("live")?.links.get("a")?.ackedPos, 7);
    assert.equal(registry.get("live")?.glob?.literalPrefix, "g/");
    assert.deepEqual([...registry.subscribersOf("a")], ["live"]);
    assert.equal(registry.tombstone("gone")?.generation, 3);
    assert.equal(registry.get("gone"), undefined);
  } finally {
    store.close();
  }
});

Deno.test("SubscriptionRegistry indexes links of registered subscriptions only", () => {
  const store = openSqliteSubscriptionStore(":memory:", "os");
  try {
    const registry = new SubscriptionRegistry(store, new FakeStreams(), 10);
    const sub = newSub(row("s"), pullWake(["a"]));
    const link = { path: "a", explicit: true, glob: false, ackedPos: 0 };
    registry.setLink(sub, link);
    assert.equal(registry.subscribersOf("a").size, 0, "not registered yet");
    registry.add(sub);
    assert.deepEqual([...registry.subscribersOf("a")], ["s"]);
    registry.setLink(sub, { ...link, path: "b" });
    assert.deepEqual([...registry.subscribersOf("b")], ["s"]);
    registry.dropLink(sub, "b");
    assert.equal(registry.subscribersOf("b").size, 0);
    registry.remove("s", { ...sub.row, deleted: true }, []);
    assert.equal(registry.subscribersOf("a").size, 0);
    assert.deepEqual(registry.tombstoneIds(), ["s"]);
  } finally {
    store.close();
  }
});

Deno.test("SubscriptionRegistry.links() reports tails, from the wake's snapshot inside a wake", () => {
  const store = openSqliteSubscriptionStore(":memory:", "os");
  try {
    const streams = new FakeStreams();
    streams.create("b", 30);
    streams.create("a", 10);
    const registry = new SubscriptionRegistry(store, streams, 1);
    const sub = newSub(row("s"), pullWake(["a", "b"]));
    for (const path of ["b", "a"]) {
      sub.links.set(path, { path, explicit: true, glob: false, ackedPos: 5 });
    }
    assert.deepEqual(registry.links(sub).map((l) => [l.path, l.tailPos]), [
      ["a", 10],
      ["b", 30],
    ]);
    assert.equal(registry.firstPending(sub), "b");
    sub.row.wakeId = "w";
    sub.row.wakeSnapshot = JSON.stringify({ a: 8, b: 2 });
    assert.deepEqual(registry.links(sub).map((l) => [l.path, l.tailPos]), [
      ["a", 8],
      ["b", 5], // never below the cursor
    ]);
  } finally {
    store.close();
  }
});

Deno.test("SubscriptionRegistry.scanMatching() visits every match across pages", () => {
  const store = openSqliteSubscriptionStore(":memory:", "os");
  try {
    const streams = new FakeStreams();
    for (const name of ["g/1", "g/2", "g/3/x", "h/1", "g/4"]) {
      streams.create(name);
    }
    const registry = new SubscriptionRegistry(store, streams, 1);
    const sub = newSub(row("s"), pullWake([], "g/*"));
    const seen: string[] = [];
    registry.scanMatching(sub.glob!, (view) => seen.push(view.name));
    assert.deepEqual(seen, ["g/1", "g/2", "g/4"]);
  } finally {
    store.close();
  }
});

Deno.test("SubscriptionRegistry commits over a row changed elsewhere fail as fenced", async () => {
  const dir = await Deno.makeTempDir({ prefix: "streambed-reg-" });
  const a = openSqliteSubscriptionStore(`${dir}/wal.sqlite`, "os");
  const b = openSqliteSubscriptionStore(`${dir}/wal.sqlite`, "os");
  try {
    a.commit([{ op: "put_subscription", row: row("s") }]);
    const one = new SubscriptionRegistry(a, new FakeStreams(), 10);
    const two = new SubscriptionRegistry(b, new FakeStreams(), 10);
    one.load();
    two.load();
    const mine = one.get("s")!;
    mine.row = { ...mine.row, generation: 4, holder: "one" };
    one.persist(mine);
    mine.row = { ...mine.row, generation: 5 };
    one.persist(mine); // its own last write is what it expects
    const theirs = two.get("s")!;
    theirs.row = { ...theirs.row, generation: 4, holder: "two" };
    assert.throws(
      () => two.persist(theirs),
      (e: unknown) => e instanceof StreamError && e.kind === "fenced",
    );
    const stored = a.load().subscriptions[0];
    assert.equal(stored.generation, 5);
    assert.equal(stored.holder, "one");
  } finally {
    a.close();
    b.close();
    await Deno.remove(dir, { recursive: true });
  }
});
