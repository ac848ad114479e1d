import assert from "node:assert/strict";
import { OVERLOAD_REASONS, overloadIndex, StreamError } from "./errors.ts";

Deno.test("overloadIndex() names 503/429 refusals by site, then by kind", () => {
  const reason = (e: StreamError) => {
    const i = overloadIndex(e);
    return i < 0 ? undefined : OVERLOAD_REASONS[i];
  };
  assert.equal(
    reason(new StreamError("overloaded", "m", { overload: "backlog" })),
    "backlog",
  );
  assert.equal(
    reason(new StreamError("unavailable", "m", { diskFull: true })),
    "disk_full",
  );
  assert.equal(reason(new StreamError("rate_limited", "m")), "rate_limited");
  assert.equal(
    reason(new StreamError("subscription_limit", "m")),
    "subscription_limit",
  );
  assert.equal(reason(new StreamError("unavailable", "m")), "unavailable");
  assert.equal(reason(new StreamError("overloaded", "m")), "other");
  assert.equal(
    reason(new StreamError("overloaded", "m", { overload: "made-up" })),
    "other",
  );
  assert.equal(reason(new StreamError("not_found", "m")), undefined);
  assert.equal(reason(new StreamError("payload_too_large", "m")), undefined);
});
