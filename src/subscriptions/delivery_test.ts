import assert from "node:assert/strict";
import { retryDelayMs } from "./delivery.ts";

Deno.test("retryDelayMs() doubles from the minimum and caps at the maximum", () => {
  const mid = () => 0.5; // no jitter
  assert.equal(retryDelayMs(1, 1000, 60_000, mid), 1000);
  assert.equal(retryDelayMs(2, 1000, 60_000, mid), 2000);
  assert.equal(retryDelayMs(6, 1000, 60_000, mid), 32_000);
  assert.equal(retryDelayMs(7, 1000, 60_000, mid), 60_000);
  assert.equal(retryDelayMs(10_000, 1000, 60_000, mid), 60_000);
});

Deno.test("retryDelayMs() jitters by at most 20%", () => {
  assert.equal(retryDelayMs(1, 1000, 60_000, () => 0), 800);
  assert.equal(retryDelayMs(1, 1000, 60_000, () => 1), 1200);
  for (let i = 0; i < 100; i++) {
    const d = retryDelayMs(3, 1000, 60_000);
    assert.ok(d >= 3200 && d <= 4800, String(d));
  }
});
