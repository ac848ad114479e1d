/**
 * Crash safety (the SIGKILL scenario is in `_crash.ts`, shared with the
 * PostgreSQL test): a real server process takes concurrent appends (half of the
 * writers use idempotent-producer headers), is killed with SIGKILL while
 * requests are in flight, and is restarted on the same data dir. Every
 * acknowledged append must be present exactly once, in order, at the offset
 * its acknowledgement named; offsets continue after restart; producer
 * dedupe survives.
 */

import assert from "node:assert/strict";
import { sigkillScenario } from "./_crash.ts";
import { killServer, spawnServer } from "./_server.ts";

Deno.test("SIGKILL mid-flight loses no acknowledged append and duplicates none", async () => {
  await sigkillScenario();
});

Deno.test("SIGTERM drains queued appends and exits 0", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "streambed-term-" });
  let server = await spawnServer(dataDir);
  try {
    await fetch(`${server.url}/v1/stream/term`, {
      method: "PUT",
      headers: { "content-type": "text/plain" },
    });
    const appends = Array.from(
      { length: 50 },
      (_, i) =>
        fetch(`${server.url}/v1/stream/term`, {
          method: "POST",
          headers: { "content-type": "text/plain" },
          body: `m${i};`,
        }).then(async (r) => {
          await r.body?.cancel();
          return r.status;
        }).catch(() => 0),
    );
    await new Promise((resolve) => setTimeout(resolve, 5));
    server.child.kill("SIGTERM");
    const statuses = await Promise.all(appends);
    const status = await server.child.status;
    assert.equal(status.code, 0);
    const acked = statuses.filter((s) => s === 204).length;
    server = await spawnServer(dataDir);
    const text = await (await fetch(`${server.url}/v1/stream/term`)).text();
    const stored = text.split(";").filter((m) => m.length > 0);
    assert.ok(
      stored.length >= acked,
      `stored ${stored.length} < acked ${acked}`,
    );
    assert.equal(new Set(stored).size, stored.length, "no duplicates");
  } finally {
    await killServer(server);
    await Deno.remove(dataDir, { recursive: true });
  }
});
