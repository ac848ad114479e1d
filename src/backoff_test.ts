import assert from "node:assert/strict";
import { backoff } from "./backoff.ts";
import { seededRandom } from "./objectstore/faulty.ts";

Deno.test("backoff() doubles from the minimum and caps at the maximum", () => {
  const none = () => 0;
  assert.equal(backoff(1, 100, 1000, none), 100);
  assert.equal(backoff(2, 100, 1000, none), 200);
  assert.equal(backoff(4, 100, 1000, none), 800);
  assert.equal(backoff(5, 100, 1000, none), 1000);
  assert.equal(backoff(10_000, 100, 1000, none), 1000);
});

Deno.test("backoff() jitter takes at most 20% off and never exceeds the cap", () => {
  const random = seededRandom(3);
  const seen = new Set<number>();
  for (let i = 0; i < 1000; i++) {
    const attempt = 1 + (i % 12);
    const cappedMs = Math.min(60_000, 1000 * 2 ** (attempt - 1));
    const ms = backoff(attempt, 1000, 60_000, random);
    assert.ok(ms <= cappedMs && ms >= cappedMs * 0.8, `${attempt}: ${ms}`);
    if (attempt === 1) seen.add(ms);
  }
  assert.ok(seen.size > 10, "first retries are spread out");
  assert.equal(backoff(3, 1000, 60_000, () => 0.5), 3600);
  assert.equal(backoff(1, 0, 0, () => 0.9), 0);
});

Deno.test("backoff() rejects bad arguments", () => {
  assert.throws(() => backoff(0, 1, 2, () => 0));
  assert.throws(() => backoff(1.5, 1, 2, () => 0));
  assert.throws(() => backoff(1, 3, 2, () => 0));
  assert.throws(() => backoff(1, 1, 2, () => 1));
});
