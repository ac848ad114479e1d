import assert from "node:assert/strict";
import { encodeOffset } from "../protocol/offset.ts";
import { flush, openTestManager, pullWake, webhook } from "./_testing.ts";

Deno.test("claim takes the lease once; a second worker is refused until it expires", async () => {
  const t = await openTestManager();
  try {
    t.streams.create("wake");
    assert.ok((await t.manager.put("s", pullWake(["a"]))).ok);
    t.streams.create("a", 10);
    const first = t.manager.claim("s", "w1");
    assert.ok(first.ok);
    assert.deepEqual(
      first.value.links.map((l) => [l.path, l.ackedPos, l.tailPos]),
      [["a", 0, 10]],
    );
    const busy = t.manager.claim("s", "w2");
    assert.equal(!busy.ok && busy.error.kind, "already_claimed");
    assert.deepEqual(!busy.ok && busy.error.detail, {
      current_holder: "w1",
      generation: first.value.generation,
    });
    t.clock.advance(10_000); // the lease ends; the work is still pending
    const second = t.manager.claim("s", "w2");
    assert.ok(second.ok);
    assert.equal(second.value.generation, first.value.generation + 1);
    const stale = await t.manager.ack("s", first.value.token, {
      wakeId: first.value.wakeId,
      generation: first.value.generation,
      acks: [{ stream: "a", offset: encodeOffset(10) }],
      done: true,
    });
    assert.equal(!stale.ok && stale.error.kind, "fenced");
  } finally {
    await t.close();
  }
});

Deno.test("ack checks every offset before moving any cursor; done finishes the wake", async () => {
  const t = await openTestManager();
  try {
    t.streams.create("wake");
    assert.ok((await t.manager.put("s", pullWake(["a", "b"]))).ok);
    t.streams.create("a", 10);
    t.streams.create("b", 20);
    const claim = t.manager.claim("s", "w1");
    assert.ok(claim.ok);
    const request = {
      wakeId: claim.value.wakeId,
      generation: claim.value.generation,
      done: false,
    };
    const bad = await t.manager.ack("s", claim.value.token, {
      ...request,
      acks: [
        { stream: "a", offset: encodeOffset(10) },
        { stream: "b", offset: encodeOffset(21) }, // past the tail
      ],
    });
    assert.equal(!bad.ok && bad.error.kind, "invalid_offset");
    const view = t.manager.get("s");
    assert.ok(view.ok);
    assert.deepEqual(view.value.links.map((l) => l.ackedPos), [0, 0]);
    // A heartbeat extends the lease from now.
    t.clock.advance(9_000);
    const beat = await t.manager.ack("s", claim.value.token, {
      ...request,
      acks: [],
    });
    assert.ok(beat.ok && !beat.value.nextWake);
    t.clock.advance(9_000);
    assert.equal(t.manager.claim("s", "w2").ok, false, "still held");
    const done = await t.manager.ack("s", claim.value.token, {
      ...request,
      done: true,
      acks: [
        { stream: "a", offset: encodeOffset(10) },
        { stream: "b", offset: encodeOffset(20) },
      ],
    });
    assert.ok(done.ok);
    assert.equal(done.value.nextWake, false, "nothing left");
    const after = t.manager.claim("s", "w2");
    assert.equal(!after.ok && after.error.kind, "no_pending_work");
    const stored = t.store.load().links.map((l) => l.ackedPos).sort();
    assert.deepEqual(stored, [10, 20]);
  } finally {
    await t.close();
  }
});

Deno.test("release gives the wake back and wakes again", async () => {
  const t = await openTestManager();
  try {
    t.streams.create("wake");
    assert.ok((await t.manager.put("s", pullWake(["a"]))).ok);
    t.streams.create("a", 10);
    await flush();
    assert.equal(t.streams.appended.length, 1, "one wake event");
    const claim = t.manager.claim("s", "w1");
    assert.ok(claim.ok);
    const released = t.manager.release("s", claim.value.token, {
      wakeId: claim.value.wakeId,
      generation: claim.value.generation,
      acks: [],
      done: false,
    });
    assert.ok(released.ok);
    await flush();
    assert.equal(t.streams.appended.length, 2, "a new wake event");
    const next = t.manager.claim("s", "w2");
    assert.ok(next.ok);
    assert.equal(next.value.generation, claim.value.generation + 1);
  } finally {
    await t.close();
  }
});

Deno.test("tokens are checked: forged, for another subscription, or of the wrong type", async () => {
  const t = await openTestManager();
  try {
    t.streams.create("wake");
    assert.ok((await t.manager.put("s", pullWake(["a"]))).ok);
    assert.ok((await t.manager.put("h", webhook(["a"]))).ok);
    t.streams.create("a", 10);
    const claim = t.manager.claim("s", "w1");
    assert.ok(claim.ok);
    const request = {
      wakeId: claim.value.wakeId,
      generation: claim.value.generation,
      acks: [],
      done: false,
    };
    const forged = await t.manager.ack("s", claim.value.token + "x", request);
    assert.equal(!forged.ok && forged.error.kind, "token_invalid");
    const other = await t.manager.callback("h", claim.value.token, request);
    assert.equal(!other.ok && other.error.kind, "token_invalid");
    const webhookClaim = t.manager.claim("h", "w1");
    assert.equal(!webhookClaim.ok && webhookClaim.error.kind, "bad_request");
    t.clock.advance(2 * 24 * 3600 * 1000);
    const expired = await t.manager.ack("s", claim.value.token, request);
    assert.equal(!expired.ok && expired.error.kind, "token_expired");
  } finally {
    await t.close();
  }
});
