import assert from "node:assert/strict";
import fc from "fast-check";
import {
  currentInterval,
  CURSOR_EPOCH_MS,
  CURSOR_INTERVAL_MS,
  responseCursor,
} from "./cursor.ts";

const NOW_MS = CURSOR_EPOCH_MS + 1000 * CURSOR_INTERVAL_MS + 5;

Deno.test("responseCursor() returns the current interval without a client cursor", () => {
  assert.equal(responseCursor(null, NOW_MS), "1000");
  assert.equal(responseCursor("garbage", NOW_MS), "1000");
  assert.equal(responseCursor("10", NOW_MS), "1000");
});

Deno.test("responseCursor() is strictly greater than a current or future client cursor (property)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1000, max: 1_000_000_000 }),
      fc.double({ min: 0, max: 0.999999, noNaN: true }),
      (client, r) => {
        const next = Number(responseCursor(String(client), NOW_MS, () => r));
        return next > client && next <= client + 180;
      },
    ),
  );
});

Deno.test("currentInterval() counts 20 s intervals from the epoch", () => {
  assert.equal(currentInterval(CURSOR_EPOCH_MS), 0);
  assert.equal(currentInterval(CURSOR_EPOCH_MS + 19_999), 0);
  assert.equal(currentInterval(CURSOR_EPOCH_MS + 20_000), 1);
});
