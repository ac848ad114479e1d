/**
 * The upstream conformance suite (core and subscriptions) against three
 * Streambed nodes on one PostgreSQL schema (`--postgres-multi-node`),
 * through a front that sends every request to a node picked at random: the
 * cluster must answer as one server would.
 */

import assert from "node:assert/strict";
import { testConfig } from "../src/config.ts";
import { type ServerHandle, startServer } from "../src/server.ts";
import { freshSchema, sharedPgCluster } from "../src/storage/_pg_testing.ts";
import { runConformanceSuite } from "./_conformance.ts";
import { randomFront } from "./_front.ts";

const CORE_TESTS = 332;
const SUBSCRIPTION_TESTS = 6;

Deno.test("upstream conformance suite passes against three nodes on one PostgreSQL, each request to a random node", async (t) => {
  const cluster = await sharedPgCluster();
  const schema = freshSchema("multiconf");
  const nodes: (ServerHandle & { dataDir: string })[] = [];
  // The front first: every node names it as its public URL (callback URLs
  // must be the cluster's, not one node's); the nodes' URLs fill in below.
  const targets = ["", "", ""];
  const front = randomFront(targets);
  try {
    for (let i = 0; i < targets.length; i++) {
      const dataDir = await Deno.makeTempDir({ prefix: "streambed-node-" });
      const server = await startServer(testConfig(dataDir, {
        http: { longPollTimeoutMs: 500 },
        subscriptions: { webhookAllowLocalhost: true, publicUrl: front.url },
        storage: {
          backend: "postgres",
          postgresUrl: cluster.url,
          postgresSchema: schema,
          postgresMultiNode: true,
        },
      }));
      nodes.push({ ...server, dataDir });
      targets[i] = server.url;
    }
    try {
      const { report, stderr } = await runConformanceSuite(front.url, {
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
      );
      for (const count of front.counts) {
        assert.ok(count > 100, `requests per node: ${front.counts}`);
      }
    } finally {
      await front.close();
    }
  } finally {
    await front.close(); // again if a node failed to start
    for (const node of nodes) {
      await node.close();
      await Deno.remove(node.dataDir, { recursive: true });
    }
  }
});
