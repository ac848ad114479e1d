import assert from "node:assert/strict";
import { largest, LargestStreams } from "./largest_streams.ts";
import type { SizedStream } from "./server_details.ts";

/** A seeded PRNG (mulberry32). */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

Deno.test("LargestStreams walks every stream once, not on each request, while streams grow", () => {
  const streams = new Map<string, number>();
  for (let i = 0; i < 10_000; i++) streams.set(`s/${i}`, i % 97);
  const ranking = new LargestStreams(
    () => [...streams].map(([name, tailPos]) => ({ name, tailPos })),
    40,
  );
  const next = random(1);
  for (let round = 0; round < 200; round++) {
    for (let k = 0; k < 50; k++) {
      const name = `s/${Math.floor(next() * 10_000)}`;
      const tailPos = streams.get(name)! + Math.floor(next() * 200);
      streams.set(name, tailPos);
      ranking.noted(name, tailPos);
    }
    const want = largest(
      [...streams].map(([name, tailPos]) => ({ name, tailPos })),
      10,
    );
    assert.deepEqual(
      ranking.top(10).map((s) => s.tailPos),
      want.map((s) => s.tailPos),
    );
  }
  assert.equal(ranking.scans, 1, "only the first request walked them");
});

Deno.test("LargestStreams gives the same ranking as a full walk through creates, appends and deletes", () => {
  for (let seed = 1; seed <= 20; seed++) {
    const next = random(seed);
    const streams = new Map<string, number>();
    const all = (): SizedStream[] =>
      [...streams].map(([name, tailPos]) => ({ name, tailPos }));
    const ranking = new LargestStreams(all, 8);
    for (let step = 0; step < 2_000; step++) {
      const name = `s/${Math.floor(next() * 60)}`;
      const r = next();
      if (r < 0.2) {
        streams.delete(name);
        ranking.deleted(name);
      } else {
        const tailPos = (streams.get(name) ?? 0) +
          (r < 0.3 ? 0 : Math.floor(next() * 100));
        streams.set(name, tailPos);
        ranking.noted(name, tailPos);
      }
      if (step % 7 !== 0) continue;
      const max = 1 + Math.floor(next() * 6);
      assert.deepEqual(
        ranking.top(max).map((s) => s.tailPos),
        largest(all(), max).map((s) => s.tailPos),
        `seed ${seed}, step ${step}, max ${max}`,
      );
    }
    assert.ok(ranking.scans < 2_000 / 7, `seed ${seed}: ${ranking.scans}`);
  }
});
