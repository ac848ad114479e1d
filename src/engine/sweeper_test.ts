import assert from "node:assert/strict";
import type { StreamRow } from "../storage/wal_store.ts";
import { StreamRegistry } from "./registry.ts";
import type { StreamState } from "./stream_state.ts";
import { Sweeper } from "./sweeper.ts";

function row(id: number, extra: Partial<StreamRow> = {}): StreamRow {
  return {
    id,
    name: `s/${id}`,
    contentType: "application/octet-stream",
    createdAtMs: 0,
    accessedAtMs: 0,
    ttlSeconds: null,
    expiresAtMs: null,
    tailPos: 0,
    closed: false,
    closedBy: null,
    streamSeq: null,
    forkedFrom: null,
    forkPos: null,
    softDeleted: false,
    lastTimeMs: 0,
    ...extra,
  };
}

function sweeperOver(registry: StreamRegistry, clock: { now: number }) {
  const expired: string[] = [];
  const sweeper = new Sweeper(registry, {
    now: () => clock.now,
    expire: (state: StreamState) => {
      expired.push(state.name);
      registry.expiring.delete(state);
      state.deleted = true;
    },
    write: () => {},
  });
  return { sweeper, expired };
}

Deno.test("Sweeper checks only the streams whose expiry time came, not every stream with a TTL", () => {
  const registry = new StreamRegistry(10_001);
  const rows: StreamRow[] = [];
  for (let id = 1; id <= 10_000; id++) {
    // Stream 7 expires at 5 s, the others in an hour.
    rows.push(row(id, { ttlSeconds: id === 7 ? 5 : 3600 }));
  }
  registry.restore(rows);
  const clock = { now: 1_000 };
  const { sweeper, expired } = sweeperOver(registry, clock);
  sweeper.sweep();
  assert.equal(sweeper.checked, 0, "nothing due: no stream visited");
  clock.now = 5_000;
  sweeper.sweep();
  assert.equal(sweeper.checked, 1);
  assert.deepEqual(expired, ["s/7"]);
  for (let i = 0; i < 100; i++) {
    clock.now += 1_000;
    sweeper.sweep();
    assert.equal(sweeper.checked, 0);
  }
  assert.equal(registry.expiring.size, 9_999);
});

Deno.test("Sweeper: a read moves a sliding TTL later and the stream is checked again then", () => {
  const registry = new StreamRegistry(3);
  registry.restore([
    row(1, { ttlSeconds: 10 }),
    row(2, { expiresAtMs: 15_000 }),
  ]);
  const clock = { now: 0 };
  const { sweeper, expired } = sweeperOver(registry, clock);
  registry.byId(1)!.accessedAtMs = 8_000; // read at 8 s: expires at 18 s
  clock.now = 10_000;
  sweeper.sweep();
  assert.equal(sweeper.checked, 1, "queued at 10 s, found read since");
  assert.deepEqual(expired, []);
  clock.now = 15_000;
  sweeper.sweep();
  assert.deepEqual(expired, ["s/2"], "an absolute expiry time");
  clock.now = 17_999;
  sweeper.sweep();
  assert.equal(sweeper.checked, 0);
  clock.now = 18_000;
  sweeper.sweep();
  assert.deepEqual(expired, ["s/2", "s/1"]);
  assert.equal(registry.expiring.size, 0);
});

Deno.test("Sweeper: a stream whose deletion could not be written is checked on the next sweep", () => {
  const registry = new StreamRegistry(2);
  registry.restore([row(1, { ttlSeconds: 1 })]);
  const clock = { now: 2_000 };
  let refused = true;
  let calls = 0;
  const sweeper = new Sweeper(registry, {
    now: () => clock.now,
    expire: (state) => {
      calls++;
      if (!refused) state.deleted = true;
    },
    write: () => {},
  });
  sweeper.sweep();
  assert.equal(calls, 1);
  sweeper.sweep();
  assert.equal(sweeper.checked, 0, "not before the next sweep's time");
  clock.now += 1_000;
  refused = false;
  sweeper.sweep();
  assert.equal(calls, 2);
  clock.now += 1_000;
  sweeper.sweep();
  assert.equal(calls, 2, "expired once");
});

Deno.test("StreamRegistry: a deleted stream leaves the expiry queue at once, not at its expiry time", () => {
  const registry = new StreamRegistry(4);
  registry.restore([
    row(1, { ttlSeconds: 86_400 }),
    row(2, { ttlSeconds: 86_400 }),
    row(3, { forkedFrom: 2, forkPos: 0, ttlSeconds: 86_400 }),
  ]);
  assert.equal(registry.expiring.size, 3);
  registry.unlink(registry.byId(1)!);
  assert.equal(registry.expiring.size, 2);
  registry.unlink(registry.byId(2)!); // a fork reads it: soft-deleted
  assert.equal(registry.expiring.size, 1);
  assert.ok(registry.expiring.has(registry.byId(3)!));
});
