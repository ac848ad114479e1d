import assert from "node:assert/strict";
import fc from "fast-check";
import { isoTime } from "./_otel_span.ts";

Deno.test("isoTime() equals Date.toISOString() for any time, in and across seconds", () => {
  const ms = fc.integer({ min: -8.64e15, max: 8.64e15 });
  fc.assert(
    fc.property(fc.array(ms, { maxLength: 8 }), ms, (list, base) => {
      // Times near one another hit the cached second, far ones refill it.
      for (const t of [...list, base, base + 1, base + 999, base - 1]) {
        if (Math.abs(t) > 8.64e15) continue;
        assert.equal(isoTime(t), new Date(t).toISOString(), String(t));
      }
    }),
    { numRuns: 2000 },
  );
  for (const t of [0, 999, 1000, 1_700_000_000_000, 253402300799999]) {
    assert.equal(isoTime(t), new Date(t).toISOString());
  }
});
