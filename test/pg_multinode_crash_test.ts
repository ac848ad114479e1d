/**
 * `kill -9` of one of two nodes on one PostgreSQL schema mid-load: the
 * other node keeps serving; producers whose requests to the dead node had
 * no answer retry them through the survivor, which deduplicates them; in
 * the end every acknowledged record is there exactly once, in each
 * producer's order.
 */

import assert from "node:assert/strict";
import { freshSchema, sharedPgCluster } from "../src/storage/_pg_testing.ts";
import { killServer, type ServerProcess, spawnServer } from "./_server.ts";

Deno.test("kill -9 of one of two nodes mid-load: nothing acknowledged lost or duplicated, the other node serves on", async () => {
  const cluster = await sharedPgCluster();
  const args = [
    "--storage",
    "postgres",
    "--postgres-url",
    cluster.url,
    "--postgres-schema",
    freshSchema("crash_multi"),
    "--postgres-multi-node",
  ];
  const dirs = [
    await Deno.makeTempDir({ prefix: "streambed-node-" }),
    await Deno.makeTempDir({ prefix: "streambed-node-" }),
  ];
  const a: ServerProcess = await spawnServer(dirs[0], args);
  const b: ServerProcess = await spawnServer(dirs[1], args);
  let killed = false;
  try {
    const path = "/v1/stream/crash";
    const created = await fetch(a.url + path, {
      method: "PUT",
      headers: { "content-type": "application/json" },
    });
    await created.body?.cancel();
    assert.equal(created.status, 201);
    const producers = 6;
    const perProducer = 60;
    const acked = new Map<number, number[]>();
    const send = async (url: string, p: number, seq: number) => {
      const response = await fetch(url + path, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "producer-id": `p${p}`,
          "producer-epoch": "0",
          "producer-seq": String(seq),
        },
        body: JSON.stringify({ p, seq }),
      });
      await response.body?.cancel();
      return response.status;
    };
    const writers = Array.from({ length: producers }, async (_, p) => {
      acked.set(p, []);
      for (let seq = 0; seq < perProducer; seq++) {
        // Odd producers start on A; after A dies everyone uses B.
        let status: number | undefined;
        if (p % 2 === 1 && !killed) {
          status = await send(a.url, p, seq).catch(() => undefined);
        }
        if (status === undefined) status = await send(b.url, p, seq);
        assert.ok(status === 200 || status === 204, `p${p}/${seq}: ${status}`);
        acked.get(p)!.push(seq);
      }
    });
    const crash = (async () => {
      while ([...acked.values()].flat().length < producers * perProducer / 3) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      killed = true;
      await killServer(a);
    })();
    await Promise.all([...writers, crash]);
    const read = await fetch(`${b.url}${path}?offset=-1`);
    const records = await read.json() as { p: number; seq: number }[];
    for (let p = 0; p < producers; p++) {
      assert.deepEqual(
        records.filter((r) => r.p === p).map((r) => r.seq),
        acked.get(p),
        `producer ${p}: each acknowledged record once, in order`,
      );
    }
    assert.equal(records.length, producers * perProducer);
  } finally {
    if (!killed) await killServer(a);
    await killServer(b);
    for (const dir of dirs) await Deno.remove(dir, { recursive: true });
  }
});
