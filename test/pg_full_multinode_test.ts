/**
 * `--postgres-mode full` with `--postgres-multi-node`: three nodes on one
 * PostgreSQL schema and one shared fs object store. Appends through every
 * node are sealed, uploaded and published by the stream's lease holder only,
 * and every node reads every record back across the segment boundary.
 */

import assert from "node:assert/strict";
import { type ConfigOverrides, testConfig } from "../src/config.ts";
import { type ServerHandle, startServer } from "../src/server.ts";
import { keyPath } from "../src/objectstore/fs.ts";
import { spawnTcpProxy } from "./_tcp_proxy.ts";
import { deaf } from "./_pg_nodes.ts";
import type { WalStore } from "../src/storage/wal_store.ts";
import { preferredNode } from "../src/storage/manifest_generations.ts";
import {
  manifestGenerationKey,
  manifestKey,
} from "../src/objectstore/manifest.ts";
import {
  freshSchema,
  type PgTestCluster,
  sharedPgCluster,
} from "../src/storage/_pg_testing.ts";

const json = { "content-type": "application/json" };

interface Node extends ServerHandle {
  dataDir: string;
}

async function startNode(
  schema: string,
  objects: string,
  overrides: ConfigOverrides = {},
  wrapWal?: (store: WalStore) => WalStore,
): Promise<Node> {
  const cluster = await sharedPgCluster();
  const dataDir = await Deno.makeTempDir({ prefix: "streambed-fullnode-" });
  const server = await startServer(
    testConfig(dataDir, {
      ...overrides,
      storage: {
        backend: "postgres",
        postgresUrl: cluster.url,
        postgresSchema: schema,
        postgresMode: "full",
        postgresMultiNode: true,
        ...overrides.storage,
      },
      objectStore: { kind: "fs", dir: objects, ...overrides.objectStore },
      segment: { segmentBytes: 4096, segmentAgeMs: 50, ...overrides.segment },
    }),
    { wrapWal },
  );
  return { ...server, dataDir };
}

async function readAll(url: string): Promise<string[]> {
  const out: string[] = [];
  let offset = "-1";
  for (let guard = 0; guard < 10_000; guard++) {
    const response = await fetch(`${url}?offset=${offset}`);
    const text = await response.text();
    assert.equal(response.status, 200, text);
    out.push(...JSON.parse(text) as string[]);
    offset = response.headers.get("stream-next-offset")!;
    if (response.headers.get("stream-up-to-date") === "true") break;
  }
  return out;
}

/** Per stream: its tail and the end of its uploaded segments. */
async function published(
  cluster: PgTestCluster,
  schema: string,
): Promise<{ id: number; tail: number; uploadedThrough: number }[]> {
  const text = await cluster.psql(
    `SELECT s.id, s.tail_pos, coalesce(max(g.end_pos) FILTER (WHERE g.uploaded), 0)
      FROM ${schema}.streams s LEFT JOIN ${schema}.segments g ON g.stream_id = s.id
      GROUP BY s.id ORDER BY s.id`,
  );
  return text.trim().split("\n").filter((l) => l.includes("|")).map((l) => {
    const [id, tail, uploadedThrough] = l.split("|").map(Number);
    return { id, tail, uploadedThrough };
  });
}

async function waitFor(
  check: () => Promise<boolean>,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!await check()) {
    assert.ok(Date.now() < deadline, "timed out waiting");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

Deno.test("full mode on three nodes: appends through every node are published once and read back everywhere", async () => {
  const schema = freshSchema("fullmulti");
  const objects = await Deno.makeTempDir({
    prefix: "streambed-fullmulti-obj-",
  });
  const nodes: Node[] = [];
  try {
    for (let i = 0; i < 3; i++) nodes.push(await startNode(schema, objects));
    const streams = ["a", "b", "c", "d", "e", "f"];
    for (const name of streams) {
      const r = await fetch(`${nodes[0].url}/v1/stream/${name}`, {
        method: "PUT",
        headers: json,
      });
      await r.body?.cancel();
      assert.equal(r.status, 201);
    }
    const sent = new Map<string, string[]>(streams.map((s) => [s, []]));
    for (let i = 0; i < 60; i++) {
      for (const [k, name] of streams.entries()) {
        const node = nodes[(i + k) % 3];
        const batch = Array.from(
          { length: 5 },
          (_, j) => `${name}-${i}-${j}-${"x".repeat(60)}`,
        );
        const r = await fetch(`${node.url}/v1/stream/${name}`, {
          method: "POST",
          headers: json,
          body: JSON.stringify(batch),
        });
        const t = await r.text();
        assert.equal(r.status, 204, t);
        sent.get(name)!.push(...batch);
      }
    }
    // Every stream published through its tail by its lease holder.
    const cluster = await sharedPgCluster();
    await waitFor(async () => {
      const rows = await published(cluster, schema);
      return rows.length === streams.length &&
        rows.every((r) => r.uploadedThrough === r.tail && r.tail > 0);
    });
    const leases = await cluster.psql(
      `SELECT count(*), count(DISTINCT stream_id) FROM ${schema}.stream_leases`,
    );
    assert.equal(leases.trim(), `${streams.length}|${streams.length}`);
    const chunks = await cluster.psql(
      `SELECT count(*) FROM ${schema}.chunks c JOIN ${schema}.segments g
        ON g.stream_id = c.stream_id AND g.uploaded AND c.end_pos <= g.end_pos`,
    );
    assert.equal(
      chunks.trim(),
      "0",
      "WAL rows below a published segment are gone",
    );
    for (const node of nodes) {
      for (const name of streams) {
        assert.deepEqual(
          await readAll(`${node.url}/v1/stream/${name}`),
          sent.get(name),
          `${name} on ${node.url}`,
        );
      }
    }
    // A publisher fenced out after its compare-and-set may still write its
    // (older) manifest late: put an old generation over every manifest.json.
    // Bootstrap takes the highest complete generation and restores it all;
    // at most three generations stay.
    const generations = await cluster.psql(
      `SELECT stream_id, generation FROM ${schema}.manifests ORDER BY stream_id`,
    );
    const rows = generations.trim().split("\n").map((l) => l.split("|"));
    assert.equal(rows.length, streams.length);
    for (const [id, generation] of rows.map((r) => r.map(Number))) {
      assert.ok(generation >= 3, `stream id ${id}: generation ${generation}`);
      const file = (g: number) =>
        keyPath(objects, manifestGenerationKey(id, g));
      assert.ok(Deno.statSync(file(generation - 2)).isFile);
      if (generation > 3) {
        assert.throws(() => Deno.statSync(file(generation - 3)), "retired");
      }
      await Deno.copyFile(
        file(generation - 2),
        keyPath(objects, manifestKey(id)),
      );
    }
    const restored = await startNode(freshSchema("fullboot"), objects, {
      objectStore: { bootstrap: true },
    });
    nodes.push(restored);
    for (const name of streams) {
      assert.deepEqual(
        await readAll(`${restored.url}/v1/stream/${name}`),
        sent.get(name),
        `${name} restored`,
      );
    }
  } finally {
    for (const node of nodes) {
      await node.close();
      await Deno.remove(node.dataDir, { recursive: true });
    }
    await Deno.remove(objects, { recursive: true });
  }
});

Deno.test("full mode on two nodes: a node cut off from PostgreSQL answers 503 and stops acknowledging, the other takes its streams, and it recovers when the network heals", async () => {
  const cluster = await sharedPgCluster();
  const schema = freshSchema("fullpart");
  const objects = await Deno.makeTempDir({ prefix: "streambed-fullpart-obj-" });
  const proxy = await spawnTcpProxy(cluster.port);
  const nodes: Node[] = [];
  const storage = { postgresLeaseMs: 1000, postgresConnectTimeoutMs: 1000 };
  try {
    nodes.push(
      await startNode(schema, objects, {
        storage: {
          ...storage,
          postgresUrl: cluster.url.replace(
            `:${cluster.port}/`,
            `:${proxy.port}/`,
          ),
        },
      }),
    );
    nodes.push(await startNode(schema, objects, { storage }));
    const [a, b] = nodes;
    const streams = ["p0", "p1", "p2", "p3", "p4", "p5"];
    for (const name of streams) {
      const r = await fetch(`${b.url}/v1/stream/${name}`, {
        method: "PUT",
        headers: json,
      });
      await r.body?.cancel();
      assert.equal(r.status, 201);
    }
    const sent = new Map<string, string[]>(streams.map((s) => [s, []]));
    const append = async (node: Node, round: number) => {
      const statuses: number[] = [];
      for (const name of streams) {
        const batch = [`${name}-${round}-${"y".repeat(300)}`];
        const r = await fetch(`${node.url}/v1/stream/${name}`, {
          method: "POST",
          headers: json,
          body: JSON.stringify(batch),
        });
        await r.body?.cancel();
        if (r.status === 204) sent.get(name)!.push(...batch);
        else {
          assert.equal(r.status, 503);
          assert.ok(Number(r.headers.get("retry-after")) >= 1);
        }
        statuses.push(r.status);
      }
      return statuses;
    };
    for (let round = 0; round < 20; round++) {
      assert.ok(
        (await append(round % 2 === 0 ? a : b, round)).every((s) => s === 204),
      );
    }
    await waitFor(async () => {
      const rows = await published(cluster, schema);
      return rows.some((r) => r.uploadedThrough > 0);
    });
    await proxy.cut();
    // A acknowledges nothing while cut off; B goes on.
    for (let round = 20; round < 30; round++) {
      assert.ok((await append(a, round)).every((s) => s === 503));
      assert.ok((await append(b, round + 1000)).every((s) => s === 204));
    }
    // Its health turns 503 once the node has failed to reach the database
    // (a probe can land between two of its attempts; load balancers probe
    // again, and so does this).
    await waitFor(async () => {
      const health = await fetch(`${a.url}/health`);
      await health.body?.cancel();
      return health.status === 503;
    }, 10_000);
    // A's heartbeat goes stale: B holds every lease and publishes every
    // stream through its tail.
    await waitFor(async () => {
      const rows = await published(cluster, schema);
      const holders = await cluster.psql(
        `SELECT count(*) FROM ${schema}.stream_leases l JOIN ${schema}.nodes n
          ON n.node_id = l.node_id
          WHERE n.heartbeat_at_ms > (extract(epoch from now()) * 1000) - 15000`,
      );
      return Number(holders.trim()) === streams.length &&
        rows.every((r) => r.uploadedThrough === r.tail);
    }, 90_000);
    await proxy.heal();
    let statuses: number[] = [];
    for (let round = 2000; round < 2200; round++) {
      statuses = await append(a, round);
      if (statuses.every((s) => s === 204)) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.deepEqual(statuses, streams.map(() => 204), "A acknowledges again");
    for (const node of nodes) {
      for (const name of streams) {
        assert.deepEqual(
          await readAll(`${node.url}/v1/stream/${name}`),
          sent.get(name),
          `${name} on ${node.url}`,
        );
      }
    }
  } finally {
    for (const node of nodes) {
      await node.close();
      await Deno.remove(node.dataDir, { recursive: true });
    }
    await proxy.close();
    await Deno.remove(objects, { recursive: true });
  }
});

Deno.test("full mode: a node that hears no announcement still takes, seals and publishes the streams placement gives it", async () => {
  const cluster = await sharedPgCluster();
  const schema = freshSchema("fulldeaf");
  const objects = await Deno.makeTempDir({ prefix: "streambed-fdeaf-obj-" });
  const nodes: Node[] = [];
  try {
    nodes.push(await startNode(schema, objects, {}, deaf)); // a hears nothing
    nodes.push(await startNode(schema, objects));
    const [a, b] = (await cluster.psql(
      `SELECT node_id FROM ${schema}.nodes ORDER BY started_at_ms`,
    )).trim().split("\n");
    const names = Array.from({ length: 8 }, (_, i) => `deaf${i}`);
    const sent = new Map<string, string[]>(names.map((n) => [n, []]));
    for (const name of names) {
      const r = await fetch(`${nodes[1].url}/v1/stream/${name}`, {
        method: "PUT",
        headers: json,
      });
      await r.body?.cancel();
      assert.equal(r.status, 201);
    }
    // Everything goes through b: a learns of it only from the database.
    for (let round = 0; round < 20; round++) {
      for (const name of names) {
        const body = [`${name}-${round}-${"d".repeat(300)}`];
        const r = await fetch(`${nodes[1].url}/v1/stream/${name}`, {
          method: "POST",
          headers: json,
          body: JSON.stringify(body),
        });
        await r.body?.cancel();
        assert.equal(r.status, 204);
        sent.get(name)!.push(...body);
      }
    }
    const ids = (await published(cluster, schema)).map((p) => p.id);
    const deafs = ids.filter((id) => preferredNode([a, b], id) === a);
    assert.ok(deafs.length > 0, "some streams prefer the deaf node");
    const deadline = Date.now() + 60_000;
    for (;;) {
      const state = await published(cluster, schema);
      if (state.every((p) => p.uploadedThrough === p.tail)) break;
      assert.ok(Date.now() < deadline, JSON.stringify(state));
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const holders = await cluster.psql(
      `SELECT stream_id, node_id FROM ${schema}.stream_leases`,
    );
    for (const line of holders.trim().split("\n")) {
      const [id, node] = line.split("|");
      assert.equal(node, preferredNode([a, b], Number(id)), `stream ${id}`);
    }
    for (const name of names) {
      assert.deepEqual(
        await readAll(`${nodes[1].url}/v1/stream/${name}`),
        sent.get(name),
      );
    }
  } finally {
    for (const node of nodes) {
      await node.close();
      await Deno.remove(node.dataDir, { recursive: true });
    }
    await Deno.remove(objects, { recursive: true });
  }
});
