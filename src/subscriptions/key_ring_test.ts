import assert from "node:assert/strict";
import { openSqliteSubscriptionStore } from "../storage/subscription_store.ts";
import { KeyRing } from "./key_ring.ts";
import { KEY_PUBLISH_AFTER_RETIRE_MS } from "../limits.ts";

Deno.test("KeyRing persists its key and secret, and publishes retired keys for the replay window", async () => {
  const dir = await Deno.makeTempDir({ prefix: "streambed-keys-" });
  let now = 1_000_000;
  const clock = () => now;
  try {
    const store = openSqliteSubscriptionStore(`${dir}/wal.sqlite`, "os");
    const ring = await KeyRing.open(store, clock);
    const first = ring.signer.kid;
    const token = ring.tokens.mint({ sub: "s", gen: 1, wid: "w", exp: 9e9 });
    const again = await KeyRing.open(store, clock);
    assert.equal(again.signer.kid, first, "the same key after reopening");
    assert.ok(again.tokens.verify(token, now).ok, "the same token secret");

    const second = await again.rotate();
    assert.notEqual(second, first);
    assert.deepEqual(
      again.jwks().keys.map((k) => k.kid).sort(),
      [first, second].sort(),
    );
    assert.equal("retiredAtMs" in again.jwks().keys[0], false);
    assert.equal("d" in again.jwks().keys[0], false, "no private material");
    now += KEY_PUBLISH_AFTER_RETIRE_MS + 1;
    assert.deepEqual(again.jwks().keys.map((k) => k.kid), [second]);
    const reopened = await KeyRing.open(store, clock);
    assert.equal(reopened.signer.kid, second);
    store.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("KeyRing.open() signs with the secret stored first by another node", async () => {
  const dir = await Deno.makeTempDir({ prefix: "streambed-keys-" });
  try {
    const store = openSqliteSubscriptionStore(`${dir}/wal.sqlite`, "os");
    const first = await KeyRing.open(store, () => 1);
    // A second node read the store before the secret was there.
    let hidden = true;
    const racing = {
      load: () => {
        const snapshot = store.load();
        if (hidden) {
          hidden = false;
          return { ...snapshot, secrets: new Map() };
        }
        return snapshot;
      },
      commit: (ops: Parameters<typeof store.commit>[0]) => store.commit(ops),
      close: () => {},
    };
    const second = await KeyRing.open(racing, () => 1);
    const token = first.tokens.mint({ sub: "s", gen: 1, wid: "w", exp: 9e9 });
    assert.ok(second.tokens.verify(token, 1).ok);
    store.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
