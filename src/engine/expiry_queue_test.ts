import assert from "node:assert/strict";
import { ExpiryQueue } from "./expiry_queue.ts";
import type { StreamState } from "./stream_state.ts";

function fakeState(atMs: number): StreamState {
  return { expiryAtMs: () => atMs } as unknown as StreamState;
}

Deno.test("ExpiryQueue.take() returns members in time order up to now, each once", () => {
  const q = new ExpiryQueue();
  const states = [50, 10, 40, 10, 30, 20].map(fakeState);
  for (const s of states) q.add(s);
  q.add(states[0]); // already queued: no second entry
  assert.equal(q.entries, 6);
  assert.deepEqual(q.take(25), [states[1], states[3], states[5]]);
  assert.equal(q.size, 3);
  q.delete(states[4]);
  assert.deepEqual(q.take(100), [states[2], states[0]]);
  assert.equal(q.size, 0);
  assert.equal(q.entries, 0);
});

Deno.test("ExpiryQueue: deleted members' entries do not pile up", () => {
  const q = new ExpiryQueue();
  const far = Array.from({ length: 5_000 }, () => fakeState(1e12));
  for (const s of far) q.add(s);
  for (const s of far) q.delete(s);
  assert.equal(q.size, 0);
  assert.ok(q.entries <= 1024, `${q.entries} stale entries kept`);
  const before = q.entries;
  q.add(fakeState(Infinity));
  assert.equal(q.entries, before, "a stream that cannot expire has no entry");
});
