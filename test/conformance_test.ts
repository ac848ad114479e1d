/**
 * The upstream conformance suite (@durable-streams/server-conformance-tests,
 * pinned in deno.json) run with vitest under Deno against a real Streambed
 * server. Each upstream test is reported as a step of this test.
 */

import assert from "node:assert/strict";
import { startTestServer } from "./_server.ts";

interface VitestReport {
  numTotalTests: number;
  numPassedTests: number;
  numFailedTests: number;
  testResults: {
    assertionResults: {
      fullName: string;
      status: string;
      failureMessages: string[];
    }[];
  }[];
}

const CORE_TESTS = 332;
const SUBSCRIPTION_TESTS = 6;

Deno.test("upstream conformance suite passes against Streambed", async (t) => {
  // The suite's webhook receivers listen on 127.0.0.1: allow the
  // development localhost exception (PROTOCOL.md §6.2).
  const server = await startTestServer({
    http: { longPollTimeoutMs: 500 },
    subscriptions: { webhookAllowLocalhost: true },
  });
  const reportPath = await Deno.makeTempFile({ suffix: ".json" });
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "npm:vitest@4.1.12",
        "run",
        "--config",
        "test/conformance/vitest.config.ts",
        "--reporter=json",
        `--outputFile=${reportPath}`,
      ],
      cwd: new URL("..", import.meta.url).pathname,
      env: {
        DS_CONFORMANCE_URL: server.url,
        DS_CONFORMANCE_LONG_POLL_MS: "500",
        DS_CONFORMANCE_SUBSCRIPTIONS: "1",
      },
      stdout: "piped",
      stderr: "piped",
    });
    const output = await child.output();
    const report = JSON.parse(
      await Deno.readTextFile(reportPath),
    ) as VitestReport;
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
      new TextDecoder().decode(output.stderr).slice(-4000),
    );
    assert.equal(
      report.numPassedTests,
      CORE_TESTS + SUBSCRIPTION_TESTS,
      "every core and subscription conformance test ran and passed",
    );
  } finally {
    await Deno.remove(reportPath).catch(() => {});
    await server.close();
    await Deno.remove(server.dataDir, { recursive: true });
  }
});
