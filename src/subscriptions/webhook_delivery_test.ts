import assert from "node:assert/strict";
import { backoff } from "../backoff.ts";
import { decodeOffset } from "../protocol/offset.ts";
import { flush, openTestManager, webhook } from "./_testing.ts";
import type { AttemptOutcome } from "./webhook_attempt.ts";

Deno.test("a failed webhook is retried after the shared backoff, then starts the lease", async () => {
  let answer: AttemptOutcome = { ok: false, reason: "down" };
  const t = await openTestManager({
    config: { retryDelayMinMs: 1000, retryDelayMaxMs: 3000 },
    answer: () => answer,
  });
  try {
    assert.ok((await t.manager.put("h", webhook(["a"]))).ok);
    t.streams.create("a", 10);
    const start = t.clock.now();
    t.clock.advance(0);
    await flush();
    assert.equal(t.attempts.length, 1);
    const row = () => t.store.load().subscriptions[0];
    assert.equal(row().status, "failed");
    assert.equal(row().retryCount, 1);
    assert.equal(
      row().nextAttemptAtMs,
      start + backoff(1, 1000, 3000, () => 0),
    );
    t.clock.advance(999);
    await flush();
    assert.equal(t.attempts.length, 1, "not before the delay");
    t.clock.advance(1);
    await flush();
    assert.equal(t.attempts.length, 2);
    assert.equal(row().nextAttemptAtMs, start + 1000 + 2000);
    t.clock.advance(2000);
    await flush();
    assert.equal(row().nextAttemptAtMs, start + 3000 + 3000, "capped");
    answer = { ok: true, done: false };
    t.clock.advance(3000);
    await flush();
    assert.equal(t.attempts.length, 4);
    assert.equal(row().status, "active");
    assert.equal(row().retryCount, 0);
    assert.equal(row().leaseExpiresAtMs, t.clock.now() + 10_000);
    const body = JSON.parse(t.attempts[3].body);
    assert.equal(body.subscription_id, "h");
    assert.equal(decodeOffset(body.streams[0].tail_offset), 10);
    assert.match(body.callback_url, /\/__ds\/subscriptions\/h\/callback$/);
  } finally {
    await t.close();
  }
});

Deno.test("a webhook answering {done:true} acks the wake's tails", async () => {
  const t = await openTestManager({ answer: () => ({ ok: true, done: true }) });
  try {
    assert.ok((await t.manager.put("h", webhook(["a", "b"]))).ok);
    t.streams.create("a", 10);
    t.clock.advance(0);
    await flush();
    const view = t.manager.get("h");
    assert.ok(view.ok);
    assert.deepEqual(view.value.links.map((l) => [l.path, l.ackedPos]), [
      ["a", 10],
      ["b", 0],
    ]);
    const stored = t.store.load().subscriptions[0];
    assert.equal(stored.wakeId, null);
    const sent = JSON.parse(t.attempts[0].body).streams;
    assert.deepEqual(
      sent.map((s: { tail_offset: string }) => decodeOffset(s.tail_offset)),
      [10, 0],
    );
  } finally {
    await t.close();
  }
});

Deno.test("webhook requests in flight are capped by deliveriesMax; the rest wait their turn", async () => {
  const gates: (() => void)[] = [];
  const t = await openTestManager({
    config: { deliveriesMax: 1 },
    answer: () =>
      new Promise<AttemptOutcome>((resolve) =>
        gates.push(() => resolve({ ok: true, done: true }))
      ),
  });
  try {
    for (const id of ["h1", "h2", "h3"]) {
      assert.ok((await t.manager.put(id, webhook(["a"]))).ok);
    }
    t.streams.create("a", 10);
    t.clock.advance(0);
    await flush();
    assert.equal(t.attempts.length, 1, "one in flight");
    gates.shift()!();
    await flush();
    assert.equal(t.attempts.length, 2, "the next one starts");
    gates.shift()!();
    await flush();
    gates.shift()!();
    await flush();
    assert.equal(t.attempts.length, 3);
    for (const row of t.store.load().subscriptions) {
      assert.equal(row.wakeId, null, row.id);
    }
  } finally {
    for (const open of gates) open();
    await t.close();
  }
});

Deno.test("a delivery finishing after its subscription was deleted changes nothing", async () => {
  let finish!: () => void;
  const t = await openTestManager({
    answer: () =>
      new Promise<AttemptOutcome>((resolve) =>
        finish = () => resolve({ ok: true, done: true })
      ),
  });
  try {
    assert.ok((await t.manager.put("h", webhook(["a"]))).ok);
    t.streams.create("a", 10);
    t.clock.advance(0);
    await flush();
    assert.ok(t.manager.delete("h").ok);
    finish();
    await flush();
    const rows = t.store.load();
    assert.equal(rows.subscriptions[0].deleted, true);
    assert.equal(rows.links.length, 0);
    assert.equal(t.clock.pending, 0, "no timer left for it");
  } finally {
    await t.close();
  }
});
