import assert from "node:assert/strict";
import { startTestServer } from "../test/_server.ts";
import { makeTarget } from "./_load_client.ts";
import { type LiveMode, runLiveScenario } from "./_load_live.ts";

const cases: [LiveMode, number][] = [
  ["long-poll", 1],
  ["long-poll", 2],
  ["sse", 2],
];

for (const [mode, processes] of cases) {
  Deno.test(`live scenario: ${mode} readers in ${processes} process(es) see every measured message`, async () => {
    const server = await startTestServer();
    try {
      const target = makeTarget(server.url, "raw");
      const row = await runLiveScenario(target, mode, 5, {
        iterations: 2 + 6,
        warmup: 2,
        intervalMs: 20,
        drainMs: 5000,
        readyMs: 5000,
        readerProcesses: processes,
      });
      assert.equal(row.errors, 0, row.notes);
      assert.equal(row.samples, 5 * 6, "5 readers x 6 measured messages");
      assert.ok(row.p50Ms !== null && Number.isFinite(row.p50Ms));
      assert.ok(row.p99Ms !== null && row.p99Ms >= row.p50Ms);
      assert.equal(
        row.notes.includes(`readers in ${processes} processes`),
        processes > 1,
      );
    } finally {
      await server.close();
      await Deno.remove(server.dataDir, { recursive: true });
    }
  });
}
