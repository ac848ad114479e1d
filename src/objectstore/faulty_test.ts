import assert from "node:assert/strict";
import { StreamError } from "../errors.ts";
import { AssertionError } from "../assert.ts";
import { objectStoreContract } from "./_contract.ts";
import { FaultyObjectStore, seededRandom } from "./faulty.ts";
import { MemoryObjectStore } from "./memory.ts";

const bytes = new Uint8Array([1, 2, 3]);

function isUnavailable(e: unknown): boolean {
  return e instanceof StreamError && e.kind === "unavailable";
}

// With no faults configured the wrapper must be invisible.
objectStoreContract(
  "FaultyObjectStore (no faults)",
  (listPageKeysMax) =>
    Promise.resolve({
      store: new FaultyObjectStore(new MemoryObjectStore({ listPageKeysMax })),
      close: () => Promise.resolve(),
    }),
);

Deno.test("FaultyObjectStore fails about the configured share of calls", async () => {
  const store = new FaultyObjectStore(new MemoryObjectStore(), {
    failureRate: 0.3,
    random: seededRandom(42),
  });
  let failed = 0;
  for (let i = 0; i < 1000; i++) {
    try {
      await store.put(`k/${i}`, bytes);
    } catch (e) {
      assert.ok(isUnavailable(e));
      failed++;
    }
  }
  assert.equal(store.injectedFailures, failed);
  assert.ok(failed > 240 && failed < 360, `${failed} of 1000 failed`);
  assert.equal(store.calls.put, 1000);
  assert.equal(store.puts, 1000 - failed);
});

Deno.test("FaultyObjectStore replays the same failures from the same seed", async () => {
  const run = async (): Promise<boolean[]> => {
    const store = new FaultyObjectStore(new MemoryObjectStore(), {
      failureRate: 0.5,
      random: seededRandom(7),
    });
    const out: boolean[] = [];
    for (let i = 0; i < 50; i++) {
      out.push(await store.get("x").then(() => true, () => false));
    }
    return out;
  };
  assert.deepEqual(await run(), await run());
});

Deno.test("FaultyObjectStore crashes after N puts and stays down", async () => {
  const inner = new MemoryObjectStore();
  const store = new FaultyObjectStore(inner, { crashAfterPuts: 2 });
  await store.put("segments/1", bytes);
  await store.put("segments/2", bytes);
  assert.equal(store.crashed, false);
  await assert.rejects(store.put("manifest", bytes), isUnavailable);
  assert.equal(store.crashed, true);
  await assert.rejects(store.get("segments/1"), isUnavailable);
  await assert.rejects(store.list(""), isUnavailable);
  // The writes before the crash are there; the one at the crash is not.
  assert.deepEqual((await inner.list("")).keys, ["segments/1", "segments/2"]);
});

Deno.test("FaultyObjectStore adds latency", async () => {
  const store = new FaultyObjectStore(new MemoryObjectStore(), {
    latencyMs: 30,
  });
  const t0 = performance.now();
  await store.head("x");
  assert.ok(performance.now() - t0 >= 25);
  store.setFaults({ latencyMs: 0, failureRate: 1 });
  await assert.rejects(store.head("x"), isUnavailable);
});

Deno.test("FaultyObjectStore asserts its settings", () => {
  assert.throws(
    () => new FaultyObjectStore(new MemoryObjectStore(), { failureRate: 2 }),
    AssertionError,
  );
});
