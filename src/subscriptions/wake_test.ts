import assert from "node:assert/strict";
import { createLogger } from "../log.ts";
import { openSqliteSubscriptionStore } from "../storage/subscription_store.ts";
import type { SubscriptionRow } from "../storage/subscription_store.ts";
import { FakeStreams, ManualClock, pullWake, webhook } from "./_testing.ts";
import { newSub, type Sub, SubscriptionRegistry } from "./registry.ts";
import type { SubscriptionConfig } from "./types.ts";
import { Waker } from "./wake.ts";
import type { WakeEvent } from "./wake_events.ts";
import { canonicalConfig } from "./wire.ts";

function parts() {
  const store = openSqliteSubscriptionStore(":memory:", "os");
  const streams = new FakeStreams();
  const clock = new ManualClock();
  const registry = new SubscriptionRegistry(store, streams, 100);
  const events: WakeEvent[] = [];
  const webhookWakes: string[] = [];
  const waker = new Waker({
    registry,
    clock,
    log: createLogger("error"),
    pushEvent: (_stream, event) => events.push(event),
    webhookWake: (sub) => webhookWakes.push(sub.row.id),
  });
  const add = (id: string, config: SubscriptionConfig): Sub => {
    const row: SubscriptionRow = {
      id,
      config: canonicalConfig(config),
      configHash: "h",
      createdAtMs: 0,
      deleted: false,
      status: "active",
      generation: 0,
      wakeId: null,
      wakeSnapshot: null,
      holder: null,
      leaseExpiresAtMs: null,
      retryCount: 0,
      nextAttemptAtMs: null,
    };
    const sub = newSub(row, config);
    for (const path of config.streams) {
      sub.links.set(path, { path, explicit: true, glob: false, ackedPos: 0 });
    }
    registry.add(sub);
    return sub;
  };
  return { store, streams, clock, registry, waker, events, webhookWakes, add };
}

Deno.test("Waker.wakeLinked() wakes an idle subscription with pending work once", () => {
  const { store, streams, waker, events, add } = parts();
  try {
    const sub = add("s", pullWake(["a", "b"]));
    streams.create("a");
    waker.wakeLinked("a");
    assert.equal(events.length, 0, "no data yet");
    streams.write("a", 10);
    waker.wakeLinked("a");
    waker.wakeLinked("a");
    assert.equal(events.length, 1, "one wake at a time");
    assert.deepEqual(
      [events[0].stream, events[0].generation, sub.row.generation],
      ["a", 1, 1],
    );
    assert.deepEqual(JSON.parse(sub.row.wakeSnapshot!), { a: 10, b: 0 });
    const stored = store.load().subscriptions[0];
    assert.equal(stored.wakeId, sub.row.wakeId, "persisted before it is seen");
  } finally {
    store.close();
  }
});

Deno.test("Waker hands webhook wakes to delivery with the retry time kept", () => {
  const { store, streams, clock, waker, webhookWakes, events, add } = parts();
  try {
    const sub = add("h", webhook(["a"]));
    sub.row.nextAttemptAtMs = clock.now() + 5000; // a failed earlier wake
    streams.create("a", 1);
    assert.equal(waker.maybeWake(sub), true);
    assert.deepEqual(webhookWakes, ["h"]);
    assert.equal(events.length, 0);
    assert.equal(sub.row.nextAttemptAtMs, clock.now() + 5000);
  } finally {
    store.close();
  }
});

Deno.test("Waker expires a lease when the clock reaches it, and wakes again", () => {
  const { store, streams, clock, waker, events, add } = parts();
  try {
    const sub = add("s", pullWake(["a"]));
    streams.create("a", 4);
    waker.maybeWake(sub);
    sub.row.holder = "w1";
    sub.row.leaseExpiresAtMs = clock.now() + 1000;
    waker.arm(sub);
    assert.equal(waker.timers, 1);
    clock.advance(999);
    assert.equal(sub.row.holder, "w1", "not yet");
    clock.advance(1);
    assert.equal(sub.row.holder, null);
    assert.equal(sub.row.generation, 2, "work still pending: woken again");
    assert.equal(events.length, 2);
    assert.equal(store.load().subscriptions[0].generation, 2);
  } finally {
    store.close();
  }
});

Deno.test("Waker.close() clears timers and issues no more wakes", () => {
  const { store, streams, clock, waker, events, add } = parts();
  try {
    const sub = add("s", pullWake(["a"]));
    streams.create("a", 4);
    sub.row.leaseExpiresAtMs = clock.now() + 10;
    waker.arm(sub);
    waker.close();
    assert.equal(waker.timers, 0);
    assert.equal(clock.pending, 0);
    assert.equal(waker.maybeWake(sub), false);
    assert.equal(events.length, 0);
  } finally {
    store.close();
  }
});
