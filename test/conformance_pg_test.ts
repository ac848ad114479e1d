/**
 * The upstream conformance suite (core and subscriptions) against a server
 * whose WAL is in PostgreSQL (`--storage postgres --postgres-mode wal`),
 * on a throwaway cluster the test starts. Afterwards the rows are checked
 * to be in PostgreSQL, and no SQLite WAL file was created.
 */

import assert from "node:assert/strict";
import { freshSchema, sharedPgCluster } from "../src/storage/_pg_testing.ts";
import { runConformanceSuite } from "./_conformance.ts";
import { startTestServer } from "./_server.ts";

const CORE_TESTS = 332;
const SUBSCRIPTION_TESTS = 6;

Deno.test("upstream conformance suite passes against Streambed on PostgreSQL", async (t) => {
  const cluster = await sharedPgCluster();
  const schema = freshSchema("conformance");
  const server = await startTestServer({
    http: { longPollTimeoutMs: 500 },
    storage: {
      backend: "postgres",
      postgresUrl: cluster.url,
      postgresSchema: schema,
    },
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
    assert.equal(report.numFailedTests, 0, stderr.slice(-4000));
    assert.equal(
      report.numPassedTests,
      CORE_TESTS + SUBSCRIPTION_TESTS,
      "every core and subscription conformance test ran and passed",
    );
    const streams = Number(
      await cluster.psql(`SELECT count(*) FROM ${schema}.streams`),
    );
    const chunks = Number(
      await cluster.psql(`SELECT count(*) FROM ${schema}.chunks`),
    );
    assert.ok(
      streams > 100 && chunks > 100,
      `${streams} streams, ${chunks} chunks`,
    );
    await assert.rejects(Deno.stat(`${server.dataDir}/wal.sqlite`));
  } finally {
    await server.close();
    await Deno.remove(server.dataDir, { recursive: true });
  }
});
