import assert from "node:assert/strict";
import { defaultConfig, type SubscriptionsConfig } from "../config.ts";
import { createLogger } from "../log.ts";
import { openSqliteSubscriptionStore } from "../storage/subscription_store.ts";
import { FakeStreams, ManualClock, pullWake } from "./_testing.ts";
import { Control } from "./control.ts";
import { StreamLinks } from "./links.ts";
import { SubscriptionRegistry } from "./registry.ts";

function parts(config: Partial<SubscriptionsConfig> = {}) {
  const store = openSqliteSubscriptionStore(":memory:", "os");
  const streams = new FakeStreams();
  const clock = new ManualClock();
  const registry = new SubscriptionRegistry(store, streams, 100);
  const sub = { ...defaultConfig().subscriptions, ...config };
  const links = new StreamLinks(registry, sub.linksMax, createLogger("error"));
  const deleted: string[] = [];
  const control = new Control({
    registry,
    links,
    config: sub,
    clock,
    signing: () => ({ kid: "k", jwksUrl: "http://x/jwks.json" }),
    deleted: (id) => deleted.push(id),
  });
  return { store, streams, clock, registry, control, deleted };
}

Deno.test("Control.put() refused for its wake stream leaves no link in the stream index", async () => {
  const { store, streams, registry, control } = parts();
  try {
    streams.create("a", 5);
    streams.create("wake");
    // Streams are sorted: "a" is checked (and was once linked) before "wake".
    const refused = await control.put("s", pullWake(["a", "wake"]));
    assert.equal(refused.ok, false);
    assert.equal(!refused.ok && refused.error.kind, "bad_request");
    assert.equal(registry.get("s"), undefined);
    assert.equal(registry.subscribersOf("a").size, 0);
    assert.equal(store.load().subscriptions.length, 0, "nothing stored");
  } finally {
    store.close();
  }
});

Deno.test("Control.put() creates at the tails, re-confirms the same config and refuses another", async () => {
  const { store, streams, registry, control, clock } = parts();
  try {
    streams.create("a", 5);
    streams.create("g/1", 9);
    const created = await control.put("s", pullWake(["a"], "g/*"));
    assert.ok(created.ok);
    assert.equal(created.value.created, true);
    assert.deepEqual(
      created.value.subscription.links.map((
        l,
      ) => [l.path, l.ackedPos, l.explicit]),
      [["a", 5, true], ["g/1", 9, false]],
    );
    assert.equal(created.value.subscription.createdAtMs, clock.now());
    assert.deepEqual([...registry.subscribersOf("g/1")], ["s"]);
    const again = await control.put("s", pullWake(["a"], "g/*"));
    assert.ok(again.ok && !again.value.created);
    const other = await control.put("s", pullWake(["a"]));
    assert.equal(!other.ok && other.error.kind, "subscription_exists");
  } finally {
    store.close();
  }
});

Deno.test("Control.put() enforces subscriptionsMax and linksMax", async () => {
  const { store, control } = parts({ subscriptionsMax: 1, linksMax: 2 });
  try {
    const tooMany = await control.put("s", pullWake(["a", "b", "c"]));
    assert.equal(!tooMany.ok && tooMany.error.kind, "subscription_limit");
    assert.ok((await control.put("s", pullWake(["a"]))).ok);
    const second = await control.put("t", pullWake(["a"]));
    assert.equal(!second.ok && second.error.kind, "subscription_limit");
  } finally {
    store.close();
  }
});

Deno.test("Control.delete() tombstones, keeps the generation for a recreated id, and purges the oldest tombstone", async () => {
  const { store, registry, control, deleted } = parts({ subscriptionsMax: 2 });
  try {
    assert.ok((await control.put("s", pullWake(["a"]))).ok);
    registry.get("s")!.row.generation = 4;
    assert.ok(control.delete("s").ok);
    assert.deepEqual(deleted, ["s"]);
    assert.equal(registry.subscribersOf("a").size, 0);
    assert.equal(control.get("s").ok, false);
    assert.ok((await control.put("s", pullWake(["a"]))).ok);
    assert.equal(
      registry.get("s")!.row.generation,
      4,
      "old tokens stay fenced",
    );
    assert.ok((await control.put("t", pullWake(["a"]))).ok);
    assert.ok(control.delete("t").ok);
    assert.ok(control.delete("s").ok);
    assert.deepEqual(registry.tombstoneIds(), ["t", "s"]);
    assert.ok((await control.put("u", pullWake(["a"]))).ok);
    assert.ok(control.delete("u").ok);
    assert.deepEqual(registry.tombstoneIds(), ["s", "u"], "t was purged");
    assert.deepEqual(
      store.load().subscriptions.filter((r) => r.deleted).map((r) => r.id)
        .sort(),
      ["s", "u"],
    );
  } finally {
    store.close();
  }
});

Deno.test("Control.addStreams() checks every path before linking any", () => {
  const { store, streams, registry, control } = parts();
  return (async () => {
    try {
      streams.create("b", 3);
      assert.ok((await control.put("s", pullWake(["a"]))).ok);
      const refused = control.addStreams("s", ["b", "wake"]);
      assert.equal(!refused.ok && refused.error.kind, "bad_request");
      assert.equal(registry.subscribersOf("b").size, 0);
      assert.ok(control.addStreams("s", ["b"]).ok);
      assert.equal(registry.get("s")!.links.get("b")!.ackedPos, 3);
      assert.deepEqual([...registry.subscribersOf("b")], ["s"]);
    } finally {
      store.close();
    }
  })();
});

Deno.test("Control.removeStream() keeps a link the pattern still makes", async () => {
  const { store, streams, registry, control } = parts();
  try {
    streams.create("g/1");
    assert.ok((await control.put("s", pullWake(["g/1", "x"], "g/*"))).ok);
    assert.ok(control.removeStream("s", "g/1").ok);
    const kept = registry.get("s")!.links.get("g/1")!;
    assert.deepEqual([kept.explicit, kept.glob], [false, true]);
    assert.ok(control.removeStream("s", "x").ok);
    assert.equal(registry.get("s")!.links.has("x"), false);
    assert.equal(registry.subscribersOf("x").size, 0);
  } finally {
    store.close();
  }
});
