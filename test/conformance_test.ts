/**
 * The upstream conformance suite (@durable-streams/server-conformance-tests,
 * pinned in deno.json) run with vitest under Deno against a real Streambed
 * server. Each upstream test is reported as a step of this test.
 */

import assert from "node:assert/strict";
import { runConformanceSuite } from "./_conformance.ts";
import { startTestServer } from "./_server.ts";

const CORE_TESTS = 332;
const SUBSCRIPTION_TESTS = 6;

Deno.test("upstream conformance suite passes against Streambed", async (t) => {
  // The suite's webhook receivers listen on 127.0.0.1: allow the
  // development localhost exception (PROTOCOL.md §6.2).
  const server = await startTestServer({
    http: { longPollTimeoutMs: 500 },
    subscriptions: { webhookAllowLocalhost: true },
  });
  try {
    const { report, stderr } = await runConformanceSuite(server.url, {
      subscriptions: true,
    });
    for (const file of report.testResults) {
      for (const result of file.assertionResults) {
        if (result.status === "skipped" || result.status === "pending") {
          continue;
        }
        await t.step(result.fullName, () => {
          assert.equal(
            result.status,
            "passed",
            result.failureMessages.join("\n").slice(0, 2000),
          );
        });
      }
    }
    assert.equal(
      report.numFailedTests,
      0,
      stderr.slice(-4000),
    );
    assert.equal(
      report.numPassedTests,
      CORE_TESTS + SUBSCRIPTION_TESTS,
      "every core and subscription conformance test ran and passed",
    );
  } finally {
    await server.close();
    await Deno.remove(server.dataDir, { recursive: true });
  }
});
