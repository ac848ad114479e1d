import assert from "node:assert/strict";
import { envKey } from "./keys.ts";
import { RateLimiter } from "./rate_limit.ts";

Deno.test("RateLimiter lets a burst through, then answers when to retry", () => {
  let now = 1_000_000;
  const limiter = new RateLimiter(() => now);
  const key = { ...envKey("0123456789"), rate: { rps: 0.5, burst: 2 } };
  assert.equal(limiter.take(key), 0);
  assert.equal(limiter.take(key), 0);
  assert.equal(limiter.take(key), 2); // one token per 2 s
  now += 1000;
  assert.equal(limiter.take(key), 1);
  now += 1000;
  assert.equal(limiter.take(key), 0);
  now += 60_000; // refills to the burst, no further
  assert.equal(limiter.take(key), 0);
  assert.equal(limiter.take(key), 0);
  assert.ok(limiter.take(key) > 0);
});

Deno.test("RateLimiter passes keys without a rate, and resets a changed rate", () => {
  const limiter = new RateLimiter(() => 0);
  const free = envKey("0123456789");
  for (let i = 0; i < 100; i++) assert.equal(limiter.take(free), 0);
  const slow = { ...free, rate: { rps: 1, burst: 1 } };
  assert.equal(limiter.take(slow), 0);
  assert.equal(limiter.take(slow), 1);
  const faster = { ...free, rate: { rps: 1, burst: 5 } };
  assert.equal(limiter.take(faster), 0);
  limiter.retain(new Set());
  assert.equal(limiter.take(slow), 0);
});
